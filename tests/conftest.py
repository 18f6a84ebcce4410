"""Shared test helpers: timm reference models with random weights, random images, CLI parsers."""

# timm (torchvision) before TensorFlow: torchvision 0.29 segfaults on import when
# TensorFlow 2.21 is already loaded in the process; the other order works.
import timm  # noqa: F401  isort: skip
import argparse

import numpy as np
import pytest

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], "float32")
IMAGENET_STD = np.array([0.229, 0.224, 0.225], "float32")


def command_parser(module):
    """A `keras-deit` parser with the one sub-command of `module` (a `keras_deit.commands` module)."""
    parser = argparse.ArgumentParser(prog="keras-deit")
    module.register(parser.add_subparsers(dest="command", required=True))
    return parser


def random_images(batch, size, seed=0):
    """RGB float32 images with values in [0, 255], NHWC."""
    height, width = (size, size) if isinstance(size, int) else size
    return np.random.default_rng(seed).uniform(0, 255, (batch, height, width, 3)).astype("float32")


def timm_input(images):
    """What timm is fed for `images`: torchvision's ToTensor + Normalize, NCHW."""
    import torch

    normalized = (images / np.float32(255.0) - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(np.ascontiguousarray(normalized.transpose(0, 3, 1, 2)))


def randomize_(module, seed=0):
    """Overwrites every parameter and buffer of a torch module with random values.

    timm's own init leaves biases at 0, LayerNorm at (1, 0) and tokens near 0, which
    would hide a transposed or swapped tensor; random values test every one.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in list(module.named_parameters()) + list(module.named_buffers()):
            if not tensor.is_floating_point():
                continue
            noise = torch.randn(tensor.shape, generator=generator)
            if name.endswith("running_var"):
                tensor.copy_(noise.abs() * 0.5 + 0.5)
            elif tensor.ndim == 1 and name.endswith(("norm.weight", "norm1.weight", "norm2.weight", "bn.weight")):
                tensor.copy_(1.0 + 0.1 * noise)  # normalization scales near 1
            else:
                tensor.copy_(0.02 * noise)
    return module.eval()


@pytest.fixture(scope="session")
def timm_models():
    """Factory of randomized timm models: `timm_models(name, seed=0, **kwargs)`."""
    import timm
    import torch

    torch.manual_seed(0)

    def make(name, seed=0, **kwargs):
        model = timm.create_model(name, pretrained=False, **kwargs)
        return randomize_(model, seed)

    return make
