"""Epoch orders: shuffled indices, repeated augmentation, sharding (timm's RASampler).

With `repeats` = 3, an epoch shuffles the data set, repeats each index 3 times in a row,
pads by wrapping to a multiple of the shard count and gives shard k every
`num_shards`-th index from k; each shard keeps `num_examples // num_shards` of them, so
the epoch length stays the data set's size and the copies of one image land on
different replicas. (timm also rounds the kept count down to a multiple of 256; not
done here, so small data sets keep their length.)

Example:
```python
import tensorflow as tf
from keras_deit.data.repeated_augmentation import epoch_indices
epoch_indices(10, seed=tf.constant([0, 0]), repeats=3)  # 10 indices, each image 3 times
```
"""

import tensorflow as tf


def epoch_indices(num_examples, *, seed, repeats=3, num_shards=1, shard_index=0):
    """The example indices of one epoch for one shard, int64 (num_examples // num_shards,).

    Args:
        num_examples: int. Size of the data set.
        seed: int tensor (2,). Stateless seed of this epoch.
        repeats: int. Copies of each image per epoch (1: plain shuffling).
        num_shards: int. Replicas / input workers sharing the epoch.
        shard_index: int. This shard, 0 <= shard_index < num_shards.
    """
    if not 0 <= shard_index < num_shards:
        raise ValueError(f"shard_index {shard_index} is not in [0, {num_shards}).")
    if num_examples < num_shards:
        raise ValueError(f"{num_examples} examples cannot feed {num_shards} shards.")
    order = tf.argsort(tf.random.stateless_uniform((num_examples,), seed))
    order = tf.repeat(tf.cast(order, "int64"), repeats)
    total = -(-num_examples * repeats // num_shards) * num_shards
    order = tf.concat([order, order[: total - num_examples * repeats]], axis=0)
    return order[shard_index::num_shards][: num_examples // num_shards]
