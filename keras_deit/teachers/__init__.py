"""Teacher networks for DeiT distillation: RegNetY (timm-compatible) in Keras 3, a small convnet."""

from keras_deit.teachers.convnet import ConvNet
from keras_deit.teachers.regnet import (
    RegNetY,
    RegNetY002,
    RegNetY004,
    RegNetY006,
    RegNetY008,
    RegNetY016,
    RegNetY032,
    RegNetY040,
    RegNetY064,
    RegNetY080,
    RegNetY120,
    RegNetY160,
    RegNetY320,
)
from keras_deit.teachers.regnet_config import REGNETY_CONFIGS, regnet_stages

__all__ = [
    "ConvNet",
    "REGNETY_CONFIGS",
    "RegNetY",
    "RegNetY002",
    "RegNetY004",
    "RegNetY006",
    "RegNetY008",
    "RegNetY016",
    "RegNetY032",
    "RegNetY040",
    "RegNetY064",
    "RegNetY080",
    "RegNetY120",
    "RegNetY160",
    "RegNetY320",
    "regnet_stages",
]
