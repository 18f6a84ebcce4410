"""DeiT models."""

from keras_deit.models.deit import DeiT
from keras_deit.models.deit_variants import DeiTBase, DeiTSmall, DeiTTiny
from keras_deit.models.token_merging import TokenMergingDeiT, merge_tokens

__all__ = ["DeiT", "DeiTBase", "DeiTSmall", "DeiTTiny", "TokenMergingDeiT", "merge_tokens"]
