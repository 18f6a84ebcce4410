"""`keras-deit augment-preview` writes a PNG grid."""

from PIL import Image

from keras_deit.commands import augment_preview
from tests.conftest import command_parser


def test_augment_preview_writes_a_grid(tmp_path):
    output = str(tmp_path / "grid.png")
    arguments = command_parser(augment_preview).parse_args(["augment-preview", "digits", "-o", output, "--image-size", "32", "--count", "4"])
    assert arguments.handler(arguments) == 0
    with Image.open(output) as grid:
        assert grid.format == "PNG" and grid.size[0] > 100 and grid.size[1] > 100


def test_augment_preview_takes_a_recipes_data_options(tmp_path):
    from keras_deit.training.build_data import dataset_options
    from keras_deit.training.overrides import apply_overrides
    from keras_deit.training.recipes import load_recipe

    calls, original = [], augment_preview.write_preview

    def record(source, output, **kwargs):
        calls.append(kwargs)
        original(source, output, **kwargs)

    output = str(tmp_path / "grid.png")
    arguments = command_parser(augment_preview).parse_args(
        ["augment-preview", "digits", "-o", output, "--count", "4", "--recipe", "digits",
         "--set", "data.three_augment=True"]
    )
    augment_preview.write_preview = record
    try:
        assert arguments.handler(arguments) == 0
    finally:
        augment_preview.write_preview = original
    config = apply_overrides(load_recipe("digits"), ["data.three_augment=True"])
    assert calls[0]["image_size"] == 32 and calls[0]["options"] == dataset_options(config.data)
    assert calls[0]["options"]["three_augment"] is True
    with Image.open(output) as grid:
        assert grid.format == "PNG"
