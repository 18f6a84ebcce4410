"""DeiT models."""

from keras_deit.models.deit import DeiT
from keras_deit.models.deit_variants import DeiTBase, DeiTSmall, DeiTTiny

__all__ = ["DeiT", "DeiTBase", "DeiTSmall", "DeiTTiny"]
