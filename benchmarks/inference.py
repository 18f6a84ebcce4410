"""Inference throughput of keras_deit against timm and keras-hub's DeiT, in one run.

    python benchmarks/inference.py            # full table (a few minutes on 2 cores)
    python benchmarks/inference.py --quick    # fewer repetitions

Needs the test extras plus keras-hub: `pip install --no-deps keras-hub==0.32.0 kagglehub
tokenizers sentencepiece` (keras-hub's own requirements would install the full
`tensorflow` wheel over `tensorflow-cpu`).

Float32, 224x224, random weights (speed does not depend on them), images/s as the median
over repetitions after warm-up. keras_deit and keras-hub run on TensorFlow compiled with
XLA (`jit_compile=True`), keras_deit in mixed_bfloat16 as a TF graph without XLA; timm runs in stock PyTorch eager mode with the same number of
threads (`torch.inference_mode`). The last column is the fraction of this machine's float32
matmul peak, measured in the same run with TensorFlow.
"""

import argparse
import os

# timm (torchvision) before TensorFlow: the other order segfaults on import.
import timm
import torch

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_deit  # noqa: E402
from timing import median_rate  # noqa: E402  (benchmarks/ is on sys.path)

SIZES = {
    "tiny": dict(factory=keras_deit.DeiTTiny, timm="deit_tiny_patch16_224", width=192, heads=3),
    "small": dict(factory=keras_deit.DeiTSmall, timm="deit_small_patch16_224", width=384, heads=6),
}


def deit_flops_per_image(width, depth=12, tokens=197, patches=196, patch=16, classes=1000):
    """Multiply-adds x 2 of a DeiT forward pass (matmuls only; softmax, norms ignored)."""
    embed = patches * (patch * patch * 3) * width
    per_block = tokens * (3 * width * width + width * width + 8 * width * width)
    attention = 2 * tokens * tokens * width
    return 2 * (embed + depth * (per_block + attention) + width * classes)


def matmul_peak_flops(size=2048, repeats=10):
    """Best float32 matmul rate TensorFlow reaches here (FLOP/s), with or without XLA."""
    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    rates = []
    for jit_compile in (False, True):
        matmul = tf.function(lambda x, y: tf.matmul(x, y), jit_compile=jit_compile)
        rates.append(median_rate(lambda: matmul(a, b).numpy(), 1, repeats, warmup=3))
    return max(rates) * 2 * size**3


def keras_deit_runner(size, batch, dtype):
    model = SIZES[size]["factory"](dtype=dtype)
    # bfloat16 without XLA: TF's oneDNN kernels use the CPU's AVX512-BF16 matmuls, which
    # XLA's CPU backend does not (measured DeiT-S batch 32: 24.9 against 16.1 images/s).
    jit_compile = dtype == "float32"
    forward = tf.function(lambda x: model(x, training=False), jit_compile=jit_compile)
    images = tf.random.uniform((batch, 224, 224, 3), 0, 255)
    return lambda: forward(images).numpy()


def keras_hub_runner(size, batch):
    import keras_hub

    width, heads = SIZES[size]["width"], SIZES[size]["heads"]
    backbone = keras_hub.models.DeiTBackbone(
        image_shape=(224, 224, 3), patch_size=16, num_layers=12, num_heads=heads,
        hidden_dim=width, intermediate_dim=4 * width,
    )
    classifier = keras_hub.models.DeiTImageClassifier(backbone=backbone, num_classes=1000)
    forward = tf.function(lambda x: classifier(x, training=False), jit_compile=True)
    images = tf.random.uniform((batch, 224, 224, 3), 0, 1)
    return lambda: forward(images).numpy()


def timm_runner(size, batch):
    model = timm.create_model(SIZES[size]["timm"], pretrained=False).eval()
    images = torch.rand(batch, 3, 224, 224)

    def run():
        with torch.inference_mode():
            model(images)

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--sizes", nargs="+", default=["tiny", "small"], choices=sorted(SIZES))
    parser.add_argument("--batches", nargs="+", type=int, default=[32, 1])
    arguments = parser.parse_args()
    threads = len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    peak = matmul_peak_flops()
    print(f"threads: {threads}; TF float32 matmul peak: {peak / 1e9:.0f} GFLOP/s")
    print(f"torch {torch.__version__}, timm {timm.__version__}, tf {tf.__version__}, keras {keras.__version__}")
    print()
    print("| model | batch | timm (torch eager) | keras-hub (TF+XLA) | keras_deit (TF+XLA) "
          "| keras_deit bf16 (TF graph, oneDNN) | keras_deit / timm | keras_deit / keras-hub | % of f32 peak |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in arguments.sizes:
        flops = deit_flops_per_image(SIZES[size]["width"])
        for batch in arguments.batches:
            repeats = (3 if arguments.quick else 10) * (8 if batch == 1 else 1)
            rates = {}
            for name, make in (
                ("timm", lambda: timm_runner(size, batch)),
                ("hub", lambda: keras_hub_runner(size, batch)),
                ("ours", lambda: keras_deit_runner(size, batch, "float32")),
                ("bf16", lambda: keras_deit_runner(size, batch, "mixed_bfloat16")),
            ):
                rates[name] = median_rate(make(), batch, repeats)
                keras.backend.clear_session()
            print(
                f"| DeiT-{size[0].upper()}{size[1:]} | {batch} | {rates['timm']:.1f} | {rates['hub']:.1f} "
                f"| {rates['ours']:.1f} | {rates['bf16']:.1f} | {rates['ours'] / rates['timm']:.2f}x "
                f"| {rates['ours'] / rates['hub']:.2f}x | {100 * rates['ours'] * flops / peak:.0f}% |",
                flush=True,
            )


if __name__ == "__main__":
    main()
