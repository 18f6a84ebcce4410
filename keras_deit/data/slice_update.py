"""Writing a box into a tensor without a full-size mask."""

import tensorflow as tf


def update_slice(tensor, begin, end, value):
    """`tensor` with `tensor[begin:end] = value` (one copy, no mask over the whole).

    Example:
    ```python
    update_slice(tf.zeros((4, 4)), [1, 1], [3, 3], tf.ones((2, 2)))  # a centered 2x2 box of ones
    ```
    """
    return tf.raw_ops.TensorStridedSliceUpdate(
        input=tensor, begin=tf.stack(begin), end=tf.stack(end), strides=tf.ones_like(tf.stack(begin)), value=value
    )
