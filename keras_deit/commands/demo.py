"""`keras-deit demo`: the offline main job, distillation through attention on digits.

On scikit-learn's bundled digits (nothing is downloaded): trains a small convnet
teacher, then the same small DeiT student without distillation and with hard
distillation through the distillation token, prints a table like the paper's ablation
(Table 3: teacher, student, distilled student per head), exports the distilled student
for TF Serving, and draws its attention maps.
"""

import os
import time

DEMO_IMAGE_SIZE = 16
# Four 8x8 patches of 16x16 digits: a student that learns in a minute on 2 cores.
STUDENT = dict(image_size=DEMO_IMAGE_SIZE, patch_size=8, embed_dim=128, depth=2, num_heads=4)


def run_demo(output_dir, *, epochs=60, teacher_epochs=30, train_size=600, seed=0):
    """Trains teacher, student and distilled student; exports and draws the distilled one.

    Returns:
        dict with `rows` (ablation table: name -> accuracy or None), `export` (the
        SavedModel version folder), `attention` (PNG path), `model` (.keras path),
        `seconds`.

    Example:
    ```python
    result = run_demo("runs/demo", epochs=5, teacher_epochs=5)
    ```
    """
    from keras_deit.atomic_files import write_atomically
    from keras_deit.analysis import draw_maps, token_maps
    from keras_deit.digits import accuracy, digits_rgb, train_student, train_teacher
    from keras_deit.export import export_saved_model
    from keras_deit.training.evaluation import head_metrics

    start = time.perf_counter()
    os.makedirs(output_dir, exist_ok=True)
    x_train, y_train, x_test, y_test = digits_rgb(
        image_size=DEMO_IMAGE_SIZE, train_size=train_size, seed=seed
    )
    teacher = train_teacher(x_train, y_train, epochs=teacher_epochs, seed=seed)
    student = train_student(
        "none", teacher, x_train, y_train, epochs=epochs, seed=seed, student_config=STUDENT
    )
    distilled = train_student(
        "hard", teacher, x_train, y_train, epochs=epochs, seed=seed, student_config=STUDENT
    )
    heads = head_metrics(distilled, [(x_test, y_test)])
    rows = {
        f"teacher: convnet ({teacher.count_params():,} parameters)": accuracy(teacher, x_test, y_test),
        f"DeiT student, no distillation ({student.count_params():,} parameters)": accuracy(
            student, x_test, y_test
        ),
    }
    for head, key in (("class head", "cls_top1"), ("distillation head", "dist_top1"),
                      ("class + distillation", "top1")):
        rows[f"DeiT student, hard distillation: {head}"] = heads[key]

    model_path = os.path.join(output_dir, "deit_digits_distilled.keras")
    write_atomically(model_path, distilled.save)
    # The digits already have the model's size: crop_ratio 1 keeps them whole.
    export = export_saved_model(
        distilled,
        os.path.join(output_dir, "saved_models", "deit_digits"),
        class_names=[str(digit) for digit in range(10)],
        crop_ratio=1.0,
    )
    attention = os.path.join(output_dir, "attention.png")
    image = x_test[0]
    draw_maps(image, token_maps(distilled, image), attention)
    return dict(
        rows=rows, export=export, attention=attention, model=model_path,
        train_images=len(x_train), test_images=len(x_test), seconds=time.perf_counter() - start,
    )


def register(subparsers):
    parser = subparsers.add_parser(
        "demo", help="Offline demo: distillation through attention on digits, exported."
    )
    parser.add_argument("--output", default="runs/demo", help="folder for the outputs")
    parser.add_argument("--epochs", type=int, default=60, help="student epochs")
    parser.add_argument("--teacher-epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(handler=_run)


def _run(arguments):
    result = run_demo(
        arguments.output, epochs=arguments.epochs, teacher_epochs=arguments.teacher_epochs,
        seed=arguments.seed,
    )
    print(
        f"\nDigits: {result['train_images']} training / {result['test_images']} held-out images, "
        f"{arguments.epochs} student epochs, {result['seconds']:.0f} s. Held-out top-1:\n"
    )
    print("| model | top-1 |\n|---|---|")
    for name, value in result["rows"].items():
        print(f"| {name} | {100 * value:.1f}% |")
    print(f"\nexported for TF Serving: {result['export']}")
    print(f"attention maps: {result['attention']}")
    print(f"distilled student: {result['model']}")
    return 0
