"""`keras-deit export MODEL --output saved_models/NAME`: a trained model to a serving export."""

import sys

FORMATS = ("savedmodel", "onnx", "litert", "openvino")


def read_class_names(path):
    """Class names from a text file, one per line in class-index order (blank lines refused)."""
    with open(path, encoding="utf-8") as file:
        names = file.read().splitlines()
    if names and names[-1] == "":
        names.pop()
    if not names or any(not name.strip() for name in names):
        raise ValueError(f"{path}: expected one non-empty class name per line.")
    return names


def register(subparsers):
    parser = subparsers.add_parser(
        "export",
        help="Export a trained .keras model for TF Serving (SavedModel), ONNX, LiteRT or OpenVINO.",
        description=(
            "Writes DIR/<version>/ atomically (TF Serving's layout). The SavedModel "
            "takes encoded images (signature serving_default, input image_bytes) or float "
            "pixels of any size (predict_images) and applies DeiT's evaluation resize and "
            "crop inside; ONNX / LiteRT / OpenVINO files take resized, cropped [0, 255] "
            "RGB pixels."
        ),
    )
    parser.add_argument("model", metavar="MODEL", help="trained model, a .keras file")
    parser.add_argument(
        "--output", required=True, metavar="DIR", help="the model's base folder, e.g. saved_models/deit_small"
    )
    parser.add_argument(
        "--version", type=int, default=None, metavar="N", help="version number (default: the next free one)"
    )
    parser.add_argument("--class-names", default=None, metavar="FILE", help="text file, one class name per line")
    parser.add_argument("--format", choices=FORMATS, default="savedmodel", help="default: savedmodel")
    parser.add_argument(
        "--top-k", type=int, default=None, metavar="K", help="classes listed per image, 5 by default (savedmodel)"
    )
    parser.add_argument(
        "--crop-ratio", type=float, default=None, metavar="R",
        help="center crop over resized side, 0.875 (DeiT's) by default (savedmodel)",
    )
    parser.add_argument(
        "--max-pixels", type=int, default=None, metavar="N",
        help="largest height x width an encoded request may decode to, 89478485 (Pillow's) by default (savedmodel)",
    )
    parser.set_defaults(handler=_run)


def _run(arguments):
    import keras

    import keras_deit.models  # noqa: F401  registers the classes .keras files name
    from keras_deit.data.decoding import MAX_PIXELS
    from keras_deit.export import EXPORTERS
    from keras_deit.export.serving_preprocessing import DEFAULT_CROP_RATIO

    if not arguments.model.endswith(".keras"):
        raise ValueError(f"MODEL must be a .keras file, got {arguments.model!r}.")
    savedmodel_options = (arguments.crop_ratio, arguments.top_k, arguments.max_pixels)
    if arguments.format != "savedmodel" and any(option is not None for option in savedmodel_options):
        raise ValueError("--top-k, --crop-ratio and --max-pixels apply to --format savedmodel only.")
    options = dict(version=arguments.version)
    if arguments.class_names is not None:
        options["class_names"] = read_class_names(arguments.class_names)
    if arguments.format == "savedmodel":
        options.update(
            top_k=5 if arguments.top_k is None else arguments.top_k,
            crop_ratio=DEFAULT_CROP_RATIO if arguments.crop_ratio is None else arguments.crop_ratio,
            max_pixels=MAX_PIXELS if arguments.max_pixels is None else arguments.max_pixels,
        )
    model = keras.saving.load_model(arguments.model)
    try:
        path = EXPORTERS[arguments.format](model, arguments.output, **options)
    except FileExistsError as error:
        print(f"keras-deit: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {path} ({arguments.format})")
    return 0
