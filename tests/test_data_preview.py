"""`keras-deit augment-preview` writes a PNG grid."""

import argparse

from PIL import Image

from keras_deit.commands import augment_preview


def test_augment_preview_writes_a_grid(tmp_path):
    parser = argparse.ArgumentParser()
    augment_preview.register(parser.add_subparsers(dest="command"))
    output = str(tmp_path / "grid.png")
    arguments = parser.parse_args(["augment-preview", "digits", "-o", output, "--image-size", "32", "--count", "4"])
    assert arguments.handler(arguments) == 0
    with Image.open(output) as grid:
        assert grid.format == "PNG" and grid.size[0] > 100 and grid.size[1] > 100
