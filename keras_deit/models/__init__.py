"""DeiT models and their weights."""

from keras_deit.models.deit import DeiT
from keras_deit.models.deit_variants import DeiTBase, DeiTSmall, DeiTTiny
from keras_deit.models.deit_weights import load_deit_weights
from keras_deit.models.token_merging import TokenMergingDeiT, merge_tokens

__all__ = ["DeiT", "DeiTBase", "DeiTSmall", "DeiTTiny", "TokenMergingDeiT", "load_deit_weights", "merge_tokens"]
