"""The DeiT training step's matrix products one by one: torch's kernels against TensorFlow's, with and without XLA.

    python benchmarks/step_matmuls.py                 # DeiT-Ti, batch 32, 10 timed calls each
    python benchmarks/step_matmuls.py --model small   # DeiT-S
    python benchmarks/step_matmuls.py --quick         # 2 timed calls each: a smoke run

Every matrix product of one encoder block's forward and backward pass, at the shapes of a
training step (batch 32, 198 tokens: class, distillation and 196 patch tokens): for each of
the four Dense layers (qkv, proj, fc1, fc2) the forward product, the input gradient
`dy @ W^T` and the weight gradient `x^T @ dy`; for the attention core the two forward
batched products (`q k^T`, `p v`) and their four gradients, one per batch and head. Each
product runs alone on random float32 operands, in the layout autograd gives it (transposed
operands as views in torch, `transpose_a` / `transpose_b` in TensorFlow): torch's
`matmul` (what timm's step calls), TensorFlow compiled by XLA (`jit_compile=True`, what
keras_deit's training step runs) and as a plain TF graph (oneDNN's kernels). The runtimes
take turns, one call each per round; a figure is the median. The last row adds up every
product of the student's blocks in one step at each runtime's measured rate: the time the
step's matrix products alone take, before any other work. For DeiT-Ti they are 236 of the
253 GFLOP of `distillation_step.py`'s step (the rest: the patch embedding, the heads and
the teacher's convolutions).
"""

import argparse
import os

from machine import machine_line  # benchmarks/ is on sys.path
from timing import time_in_turns

# torch before TensorFlow: the other order segfaults on import (torchvision's libraries).
import torch

import numpy as np  # noqa: E402

BATCH = 32
TOKENS = 198
MODELS = {"tiny": (192, 3, 12), "small": (384, 6, 12)}  # width, heads, depth
RUNTIMES = ("torch", "TF + XLA", "TF graph")  # the table's columns; torch is the reference


def block_products(width, heads, batch=BATCH, tokens=TOKENS):
    """[(name, batch count, m, k, n, transpose_a, transpose_b)] of one block's forward and backward.

    Example:
    ```python
    block_products(192, 3)[0]  # ("qkv: forward x W", 1, 6336, 192, 576, False, False)
    ```
    """
    rows = batch * tokens
    products = []
    for layer, inputs, outputs in (("qkv", width, 3 * width), ("proj", width, width),
                                   ("fc1", width, 4 * width), ("fc2", 4 * width, width)):
        products += [
            (f"{layer}: forward x W", 1, rows, inputs, outputs, False, False),
            (f"{layer}: input gradient dy W^T", 1, rows, outputs, inputs, False, True),
            (f"{layer}: weight gradient x^T dy", 1, inputs, rows, outputs, True, False),
        ]
    head_dim, pairs = width // heads, batch * heads
    products += [
        ("attention: q k^T", pairs, tokens, head_dim, tokens, False, True),
        ("attention: p v", pairs, tokens, tokens, head_dim, False, False),
        ("attention: gradient of p, dc v^T", pairs, tokens, head_dim, tokens, False, True),
        ("attention: gradient of v, p^T dc", pairs, tokens, tokens, head_dim, True, False),
        ("attention: gradient of q, ds k", pairs, tokens, tokens, head_dim, False, False),
        ("attention: gradient of k, ds^T q", pairs, tokens, tokens, head_dim, True, False),
    ]
    return products


def operands(count, m, k, n, transpose_a, transpose_b, rng):
    """Random float32 operands of one product, stored as autograd holds them (transposed or not)."""
    a_shape = (k, m) if transpose_a else (m, k)
    b_shape = (n, k) if transpose_b else (k, n)
    batch = (count,) if count > 1 else ()
    return (rng.standard_normal(batch + a_shape).astype("float32"),
            rng.standard_normal(batch + b_shape).astype("float32"))


def runtimes(a, b, transpose_a, transpose_b):
    """{runtime: call} of one product, for each of `RUNTIMES`."""
    import tensorflow as tf

    torch_a, torch_b = torch.from_numpy(a), torch.from_numpy(b)
    tf_a, tf_b = tf.constant(a), tf.constant(b)

    def torch_matmul():
        # Transposes as strided views, as autograd passes them to the kernel.
        left = torch_a.transpose(-1, -2) if transpose_a else torch_a
        right = torch_b.transpose(-1, -2) if transpose_b else torch_b
        torch.matmul(left, right)

    def tensorflow(jit_compile):
        product = tf.function(
            lambda x, y: tf.matmul(x, y, transpose_a=transpose_a, transpose_b=transpose_b),
            jit_compile=jit_compile)
        # No host copy of the result (torch's call makes none): TensorFlow runs a CPU
        # function synchronously, so the call returns with the product computed.
        return lambda: product(tf_a, tf_b)

    return dict(zip(RUNTIMES, (torch_matmul, tensorflow(True), tensorflow(False))))


def table_cells(seconds, show):
    """One row's cells: `show(time)` of each runtime's time, and each TensorFlow runtime's speed relative to torch.

    Example:
    ```python
    table_cells({"torch": 1.0, "TF + XLA": 2.0, "TF graph": 1.0}, lambda time: f"{time:.1f} s")
    # "1.0 s | 2.0 s | 0.50x | 1.0 s | 1.00x"
    ```
    """
    cells = []
    for runtime, time in seconds.items():
        cells.append(show(time))
        if runtime != "torch":
            cells.append(f"{seconds['torch'] / time:.2f}x")
    return " | ".join(cells)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="tiny", help="student size")
    parser.add_argument("--quick", action="store_true", help="2 timed calls of each product")
    arguments = parser.parse_args()
    repeats, warmup = (2, 1) if arguments.quick else (10, 3)
    threads = len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    import tensorflow as tf

    width, heads, depth = MODELS[arguments.model]
    print(machine_line())
    print(f"threads {threads}; DeiT-{arguments.model} blocks (width {width}, {heads} heads, depth {depth}), "
          f"batch {BATCH}, {TOKENS} tokens, float32, median of {repeats}; "
          f"torch {torch.__version__}, tf {tf.__version__}\n")
    print("| product (one block) | batch x m x k x n | GFLOP | " + " | ".join(
        f"{name}: GFLOP/s" + ("" if name == "torch" else f" | {name} vs torch") for name in RUNTIMES) + " |")
    print("|---|---|---|" + "---|" * (2 * len(RUNTIMES) - 1))
    rng = np.random.default_rng(0)
    step_seconds = dict.fromkeys(RUNTIMES, 0.0)
    step_flops = 0
    for name, count, m, k, n, transpose_a, transpose_b in block_products(width, heads):
        a, b = operands(count, m, k, n, transpose_a, transpose_b, rng)
        seconds = time_in_turns(runtimes(a, b, transpose_a, transpose_b), repeats, warmup)
        flops = 2 * count * m * k * n
        step_flops += depth * flops
        for runtime in RUNTIMES:
            step_seconds[runtime] += depth * seconds[runtime]
        cells = table_cells(seconds, lambda time: f"{flops / time / 1e9:.0f}")
        print(f"| {name} | {count} x {m} x {k} x {n} | {flops / 1e9:.2f} | {cells} |", flush=True)
    cells = table_cells(step_seconds, lambda time: f"{time * 1e3:.0f} ms")
    print(f"| all {depth} blocks' products in one step | | {step_flops / 1e9:.0f} | {cells} |")


if __name__ == "__main__":
    main()
