"""The machine's float32 matmul rate, the yardstick of the benchmarks' "% of peak" columns."""

import tensorflow as tf

from timing import median_rate


def matmul_peak_flops(size=2048, repeats=10):
    """Best float32 matmul rate TensorFlow reaches here (FLOP/s), with or without XLA.

    Example:
    ```python
    print(f"{matmul_peak_flops(repeats=3) / 1e9:.0f} GFLOP/s")
    ```
    """
    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    rates = []
    for jit_compile in (False, True):
        matmul = tf.function(lambda x, y: tf.matmul(x, y), jit_compile=jit_compile)
        rates.append(median_rate(lambda: matmul(a, b).numpy(), 1, repeats, warmup=3))
    return max(rates) * 2 * size**3
