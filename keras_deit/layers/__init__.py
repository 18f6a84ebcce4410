"""The building blocks of DeiT, one concept per module, on `keras.ops` only."""

from keras_deit.layers.attention import MultiHeadSelfAttention
from keras_deit.layers.drop_path import DropPath
from keras_deit.layers.encoder_block import EncoderBlock
from keras_deit.layers.image_normalization import ImageNormalization
from keras_deit.layers.layer_norm import LayerNorm
from keras_deit.layers.mlp import Mlp
from keras_deit.layers.patch_embedding import PatchEmbedding
from keras_deit.layers.position_embedding import PositionEmbedding
from keras_deit.layers.tokens import PrefixTokens
from keras_deit.layers.token_merging import bipartite_soft_matching, merge_weighted_average, token_merging_block

__all__ = [
    "DropPath",
    "EncoderBlock",
    "ImageNormalization",
    "LayerNorm",
    "Mlp",
    "MultiHeadSelfAttention",
    "PatchEmbedding",
    "PositionEmbedding",
    "PrefixTokens",
    "bipartite_soft_matching",
    "merge_weighted_average",
    "token_merging_block",
]
