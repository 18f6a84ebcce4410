"""The DeiT paper's distillation claim in miniature, on scikit-learn's digits.

    python benchmarks/distillation_experiment.py                 # 5 seeds, about 8 min on 2 cores
    python benchmarks/distillation_experiment.py --seeds 3 --epochs 30

Few training images (300 of 1797, the rest held out), where a convnet's inductive bias
should matter most. A small convnet teacher is trained once; then a tiny DeiT student
(16x16 images, four 8x8 patches, width 128, depth 2) is trained from scratch per seed
without distillation (no distillation token, cross-entropy only), with soft and with hard
distillation (distillation token, the official alpha = 0.5 and tau = 1), all with the same
augmentation (random shifts of up to 2 pixels), AdamW + cosine schedule and epochs. The
table gives the students' held-out top-1 (the mean of both heads) as mean and standard
deviation over seeds, in Markdown. The paper (Table 3, ImageNet) finds hard distillation
with the distillation token best, then soft, then none.
"""

import argparse
import statistics
import time

from keras_deit.digits import accuracy, digits_rgb, train_student, train_teacher

IMAGE_SIZE = 16
STUDENT = dict(image_size=IMAGE_SIZE, patch_size=8, embed_dim=128, depth=2, num_heads=4)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--train-size", type=int, default=300, help="training images (of 1797)")
    parser.add_argument("--epochs", type=int, default=60, help="student epochs")
    parser.add_argument("--teacher-epochs", type=int, default=60)
    args = parser.parse_args()

    start = time.perf_counter()
    x_train, y_train, x_test, y_test = digits_rgb(image_size=IMAGE_SIZE, train_size=args.train_size)
    teacher = train_teacher(x_train, y_train, epochs=args.teacher_epochs)
    teacher_accuracy = accuracy(teacher, x_test, y_test)
    results = {}
    for kind in ("none", "soft", "hard"):
        students = (
            train_student(
                kind, teacher, x_train, y_train, epochs=args.epochs, seed=seed, student_config=STUDENT
            )
            for seed in range(args.seeds)
        )
        results[kind] = [accuracy(student, x_test, y_test) for student in students]
        print(f"{kind}: {results[kind]}", flush=True)

    print(
        f"\nDigits, {len(x_train)} train / {len(x_test)} held-out images, {args.seeds} seeds, "
        f"{args.epochs} student epochs, {time.perf_counter() - start:.0f} s\n"
    )
    print("| student | held-out top-1 (%) mean | std |")
    print("|---|---|---|")
    names = {"none": "no distillation", "soft": "soft distillation", "hard": "hard distillation"}
    for kind, values in results.items():
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"| DeiT, {names[kind]} | {100 * statistics.mean(values):.1f} | {100 * std:.1f} |")
    teacher_name = f"teacher (convnet, {teacher.count_params():,} parameters)"
    print(f"| {teacher_name} | {100 * teacher_accuracy:.1f} | - |")


if __name__ == "__main__":
    main()
