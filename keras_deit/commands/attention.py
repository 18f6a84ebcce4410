"""`keras-deit attention --model M IMAGE -o maps.png`: where the class and distillation tokens look.

Draws, over the image as the model evaluates it (resize + centre crop), the attention
rollout of the class token and of the distillation token, and the last block's
per-head attention of each (see `keras_deit.analysis`).
"""

import json
import os

DEFAULT_CROP_RATIO = 0.875  # DeiT's evaluation crop, 224 / 256


def resolve_model(path):
    """`(model file, crop ratio)` for a `.keras` file or a run folder of `keras-deit train`.

    A run folder gives its `model.keras` and the crop ratio of its `config.json`
    (`data.crop_ratio`); a file, or a run without one, DeiT's 0.875.

    Args:
        path: str. A `.keras` file or a run folder.

    Example:
    ```python
    resolve_model("runs/deit_small")  # ("runs/deit_small/model.keras", 0.875)
    ```
    """
    if os.path.isdir(path):
        model_file = os.path.join(path, "model.keras")
        if not os.path.isfile(model_file):
            raise FileNotFoundError(f"{path} holds no model.keras (a run folder of keras-deit train).")
        crop_ratio = DEFAULT_CROP_RATIO
        config_file = os.path.join(path, "config.json")
        if os.path.isfile(config_file):
            with open(config_file, encoding="utf-8") as file:
                crop_ratio = json.load(file).get("data", {}).get("crop_ratio", DEFAULT_CROP_RATIO)
        return model_file, crop_ratio
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No model at {path!r} (a .keras file or a run folder).")
    if not path.endswith(".keras"):
        raise ValueError(f"--model must be a .keras file or a run folder, got {path!r}.")
    return path, DEFAULT_CROP_RATIO


def register(subparsers):
    parser = subparsers.add_parser("attention", help="Draw a DeiT's class / distillation token attention maps.")
    parser.add_argument("--model", required=True, help="a DeiT .keras file or a run folder of keras-deit train")
    parser.add_argument("image", help="an image file (JPEG, PNG, GIF, BMP, WebP)")
    parser.add_argument("-o", "--output", default="attention.png", help="figure to write (.png)")
    parser.add_argument(
        "--crop-ratio", type=float, default=None, metavar="R",
        help="evaluation centre crop; default: the run's config.json, else 0.875",
    )
    parser.set_defaults(handler=_run)


def _run(arguments):
    model_file, crop_ratio = resolve_model(arguments.model)
    if not os.path.isfile(arguments.image):
        raise FileNotFoundError(f"No image file at {arguments.image!r}.")
    if arguments.crop_ratio is not None:
        crop_ratio = arguments.crop_ratio

    import keras

    import keras_deit.models  # noqa: F401  registers the classes .keras files name
    from keras_deit.analysis import draw_maps, load_eval_image, token_maps

    model = keras.saving.load_model(model_file, safe_mode=True)
    model = getattr(model, "student", model)
    image = load_eval_image(arguments.image, model.image_size, crop_ratio)
    maps = token_maps(model, image)
    draw_maps(image, maps, arguments.output)
    print(f"wrote {arguments.output} ({len(maps)} maps)")
    return 0
