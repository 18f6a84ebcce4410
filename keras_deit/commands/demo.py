"""`keras-deit demo`: the offline main job, a small distilled DeiT trained on digits.

Trains a small DeiT with a distillation token on scikit-learn's bundled digits (8x8
grayscale, shipped with scikit-learn, so nothing is downloaded), reports the held-out
accuracy of the class head, the distillation head and their mean, and saves the model as
a `.keras` file that is reloaded in safe mode and checked to give the same logits.
"""

import os
import tempfile
import time

import numpy as np

DEMO_IMAGE_SIZE = 32


def digits_images(seed=0, test_fraction=0.25):
    """scikit-learn's digits as [0, 255] RGB 32x32 images: (x_train, y_train, x_test, y_test)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    # 8x8 values 0..16 -> 0..255, nearest upsampling to 32x32, gray -> RGB.
    images = digits.images.astype("float32") * (255.0 / 16.0)
    images = images.repeat(DEMO_IMAGE_SIZE // 8, axis=1).repeat(DEMO_IMAGE_SIZE // 8, axis=2)
    images = np.repeat(images[..., None], 3, axis=-1)
    return train_test_split(
        images, digits.target, test_size=test_fraction, random_state=seed, stratify=digits.target
    )


def head_accuracies(model, images, labels):
    """Top-1 accuracy of the class head, the distillation head and their mean."""
    cls_logits, dist_logits = (np.asarray(t) for t in model.heads(images))
    return {
        "class head": float(np.mean(cls_logits.argmax(-1) == labels)),
        "distillation head": float(np.mean(dist_logits.argmax(-1) == labels)),
        "mean of heads": float(np.mean((cls_logits + dist_logits).argmax(-1) == labels)),
    }


def run_demo(output_dir, epochs=30, seed=0, verbose=1):
    """Trains the demo student with `model.fit` and saves it; returns its accuracies.

    Example:
    ```python
    accuracies = run_demo("runs/demo", epochs=2)
    ```
    """
    import keras

    import keras_deit

    keras.utils.set_random_seed(seed)
    x_train, x_test, y_train, y_test = digits_images(seed)
    model = keras_deit.DeiT(
        image_size=DEMO_IMAGE_SIZE, patch_size=8, embed_dim=64, depth=4, num_heads=4,
        distill=True, num_classes=10, drop_path_rate=0.1, seed=seed, name="deit_digits",
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=2e-3, weight_decay=0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=32, epochs=epochs, verbose=verbose)
    seconds = time.perf_counter() - start
    accuracies = head_accuracies(model, x_test, y_test)

    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, "deit_digits.keras")
    # Written beside the target and renamed: an interrupted save never truncates a model.
    handle, partial = tempfile.mkstemp(suffix=".keras", dir=output_dir)
    os.close(handle)
    try:
        model.save(partial)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    if not np.array_equal(np.asarray(reloaded(x_test[:8])), np.asarray(model(x_test[:8]))):
        raise RuntimeError(f"{path} reloaded with different outputs")
    return dict(accuracies=accuracies, train_seconds=seconds, path=path, epochs=epochs)


def register(subparsers):
    parser = subparsers.add_parser("demo", help="Offline demo: train a small DeiT on digits.")
    parser.add_argument("--output", default="runs/demo", help="folder for the saved model")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(handler=_run)


def _run(arguments):
    result = run_demo(arguments.output, epochs=arguments.epochs, seed=arguments.seed, verbose=2)
    print(f"\nDeiT student on digits ({result['epochs']} epochs, {result['train_seconds']:.0f} s), "
          "held-out top-1:")
    print("| head | top-1 |\n|---|---|")
    for head, accuracy in result["accuracies"].items():
        print(f"| {head} | {100 * accuracy:.1f}% |")
    print(f"\nsaved {result['path']} (reloads in safe mode with identical outputs)")
    return 0
