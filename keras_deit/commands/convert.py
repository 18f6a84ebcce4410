"""`keras-deit convert IN OUT`: an official / timm DeiT checkpoint to a Keras weights file."""


def register(subparsers):
    parser = subparsers.add_parser(
        "convert", help="Convert an official / timm DeiT checkpoint to a Keras weights file."
    )
    parser.add_argument("source", help="checkpoint: .pth / .pt / .bin / .safetensors")
    parser.add_argument("target", help="output Keras weights file (*.weights.h5)")
    parser.add_argument(
        "--image-size", type=int, default=None,
        help="resolution of the Keras model (position embedding interpolated)",
    )
    parser.set_defaults(handler=_run)


def _run(arguments):
    from keras_deit.weights.convert import convert_checkpoint

    model = convert_checkpoint(arguments.source, arguments.target, arguments.image_size)
    print(
        f"wrote {arguments.target}: {model.name}, {model.count_params():,} parameters, "
        f"image_size {model.image_size[0]}x{model.image_size[1]}"
    )
    return 0
