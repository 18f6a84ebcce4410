"""The DeiT paper's distillation claim in miniature, on scikit-learn's digits, through the recipes.

    python benchmarks/distillation_experiment.py                 # 5 seeds
    python benchmarks/distillation_experiment.py --seeds 3 --epochs 30

Every run is `keras_deit.train` of a digits recipe (the DeiT data pipeline, AdamW with
the warmup-cosine schedule and decay exclusions): the convnet teacher
(`recipes/digits_teacher.py`) is trained once; then the DeiT student of
`recipes/digits.py` is trained from scratch per seed without distillation (no
distillation token, cross-entropy only) and, as `recipes/digits_distilled.py`, with
soft and with hard distillation (distillation token, the official alpha = 0.5 and
tau = 1), with the same augmentation, optimizer and epochs. The table gives the
students' held-out top-1 (the mean of both heads) as mean and standard deviation over
seeds, in Markdown. The paper (Table 3, ImageNet) finds hard distillation with the
distillation token best, then soft, then none.
"""

import argparse
import os
import statistics
import tempfile
import time

import timm  # noqa: F401  torch before TensorFlow (the other order segfaults)

from keras_deit.training.overrides import apply_overrides
from keras_deit.training.recipes import load_recipe
from keras_deit.training.train import train


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=30, help="student epochs")
    parser.add_argument("--teacher-epochs", type=int, default=20)
    parser.add_argument("--output", default=None, help="folder of the runs (default: a temporary one)")
    args = parser.parse_args()

    start = time.perf_counter()
    output = args.output or tempfile.mkdtemp(prefix="distillation_experiment_")
    teacher_config = apply_overrides(load_recipe("digits_teacher"), [f"training.epochs={args.teacher_epochs}"])
    teacher = train(teacher_config, os.path.join(output, "teacher"), verbose=0)
    teacher_model = os.path.join(output, "teacher", "model.keras")
    results = {}
    for kind in ("none", "soft", "hard"):
        recipe = "digits" if kind == "none" else "digits_distilled"
        overrides = [f"training.epochs={args.epochs}"]
        if kind != "none":
            overrides += [f"distillation.kind={kind}", f"teacher.model={teacher_model}"]
        results[kind] = []
        for seed in range(args.seeds):
            config = apply_overrides(load_recipe(recipe), overrides + [f"training.seed={seed}"])
            run = train(config, os.path.join(output, f"{kind}_seed{seed}"), verbose=0)
            results[kind].append(run["results"]["weights"]["top1"])
        print(f"{kind}: {results[kind]}", flush=True)

    print(
        f"\nDigits, {args.seeds} seeds, {args.epochs} student epochs, "
        f"{time.perf_counter() - start:.0f} s (runs in {output})\n"
    )
    print("| student | held-out top-1 (%) mean | std |")
    print("|---|---|---|")
    names = {"none": "no distillation", "soft": "soft distillation", "hard": "hard distillation"}
    for kind, values in results.items():
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"| DeiT, {names[kind]} | {100 * statistics.mean(values):.1f} | {100 * std:.1f} |")
    teacher_name = f"teacher (convnet, {teacher['student'].count_params():,} parameters)"
    print(f"| {teacher_name} | {100 * teacher['results']['weights']['top1']:.1f} | - |")


if __name__ == "__main__":
    main()
