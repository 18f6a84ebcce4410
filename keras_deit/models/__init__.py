"""DeiT models and their weights."""

from keras_deit.models.deit import DeiT
from keras_deit.models.deit_variants import DeiTBase, DeiTSmall, DeiTTiny
from keras_deit.models.deit_weights import load_deit_weights

__all__ = ["DeiT", "DeiTBase", "DeiTSmall", "DeiTTiny", "load_deit_weights"]
