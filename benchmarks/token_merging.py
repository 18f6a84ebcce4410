"""Token merging (ToMe): DeiT images/s with and without merging, or its accuracy effect.

    python benchmarks/token_merging.py                      # DeiT-S, batch 32, r = 0, 8, 16
    python benchmarks/token_merging.py --quick              # a tiny DeiT, 2 rounds (a smoke test)
    python benchmarks/token_merging.py --model runs/demo/distilled --data mnist --r 2 4 8

Speed: float32, 224x224, random weights (speed does not depend on them), TF with XLA
(`jit_compile=True`) as benchmarks/inference.py. The settings run alternately in the same
process, round after round, so a slow spell of this shared machine hits them alike; each
round's rate is the median of a few calls after warm-up, the table the median over rounds
and the ratio to the unmerged model.

Accuracy: a trained DeiT (a `.keras` file or a run folder of `keras-deit train`, e.g. the
demo's distilled student) evaluated on a data source's split with the evaluation transform of
`keras-deit evaluate`, for each r: the top-1 and the fraction of predictions unchanged from
r = 0.
"""

import argparse
import os
import statistics

import keras
import numpy as np
import tensorflow as tf

import keras_deit
from keras_deit.models.token_merging import TokenMergingDeiT, merge_tokens
from timing import median_rate  # benchmarks/ is on sys.path

QUICK_DEIT = dict(image_size=32, patch_size=4, embed_dim=64, depth=4, num_heads=2, num_classes=10)


def speed(deit, rs, batch, rounds, calls_per_round):
    """{r: median images/s over rounds} for `deit` merged with each r, run alternately."""
    size = deit.image_size
    images = tf.random.uniform((batch, size[0], size[1], 3), 0, 255)
    runners = {}
    for r in rs:
        forward = tf.function(merge_tokens(deit, r).__call__, jit_compile=True)
        runners[r] = lambda forward=forward: forward(images).numpy()
        for _ in range(2):  # compile and warm up
            runners[r]()
    rates = {r: [] for r in rs}
    for _ in range(rounds):
        for r in rs:
            rates[r].append(median_rate(runners[r], batch, calls_per_round, warmup=0))
    return {r: statistics.median(values) for r, values in rates.items()}


def print_speed(arguments):
    if arguments.quick:
        deit, name, batch, rounds, calls = keras_deit.DeiT(**QUICK_DEIT), "tiny DeiT (32 px)", 8, 2, 2
        rs = [0, 4, 8]
    else:
        deit, name = keras_deit.DeiTSmall(), "DeiT-S"
        batch, rounds, calls, rs = arguments.batch, arguments.rounds, 3, arguments.r
    rs = sorted(set([0] + rs))
    rates = speed(deit, rs, batch, rounds, calls)
    print(f"threads: {len(os.sched_getaffinity(0))}; tf {tf.__version__}, keras {keras.__version__}; "
          f"{name}, batch {batch}, float32, TF+XLA, median of {rounds} alternating rounds\n")
    print("| r | tokens after the last block | images/s | speed-up |")
    print("|---|---|---|---|")
    for r in rs:
        tokens = merge_tokens(deit, r).token_counts[-1]
        print(f"| {r} | {tokens} | {rates[r]:.1f} | {rates[r] / rates[0]:.2f}x |", flush=True)


def print_accuracy(arguments):
    from keras_deit.commands.evaluate import load_models
    from keras_deit.data import load_source, make_dataset

    model = load_models(arguments.model)["weights"]
    if isinstance(model, TokenMergingDeiT):
        model = model.deit
    if not isinstance(model, keras_deit.DeiT):
        raise ValueError(f"{arguments.model} holds a {type(model).__name__}, not a keras_deit.DeiT.")
    source = load_source(arguments.data, arguments.split)
    dataset = make_dataset(
        source, training=False, image_size=model.image_size[0], batch_size=256, crop_ratio=arguments.crop_ratio
    )
    images, labels = zip(*((x, y) for x, y in dataset.as_numpy_iterator()))
    labels = np.concatenate(labels)
    rs = sorted(set([0] + arguments.r))
    predictions = {}
    for r in rs:
        merged = merge_tokens(model, r)
        logits = np.concatenate([keras.ops.convert_to_numpy(merged(batch)) for batch in images])
        predictions[r] = (np.argmax(logits, axis=-1), merged.token_counts[-1])
    print(f"{arguments.model}: {len(labels)} images of {arguments.data} ({arguments.split})\n")
    print("| r | tokens after the last block | top-1 (%) | predictions unchanged (%) |")
    print("|---|---|---|---|")
    for r, (predicted, tokens) in predictions.items():
        top1 = 100 * np.mean(predicted == labels)
        unchanged = 100 * np.mean(predicted == predictions[0][0])
        print(f"| {r} | {tokens} | {top1:.1f} | {unchanged:.1f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny DeiT, 2 rounds")
    parser.add_argument("--r", nargs="+", type=int, default=[8, 16], help="tokens merged per block")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=10, help="alternating timing rounds")
    parser.add_argument(
        "--model", help="a trained DeiT (.keras file or run folder): measure accuracy instead of speed"
    )
    parser.add_argument("--data", default="mnist", help="accuracy data source (as keras-deit evaluate)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--crop-ratio", type=float, default=1.0, help="evaluation crop (as in training)")
    arguments = parser.parse_args()
    if any(r < 0 for r in arguments.r):
        parser.error(f"--r values must be non-negative, got {arguments.r}.")
    if arguments.model is not None:
        print_accuracy(arguments)
    else:
        print_speed(arguments)


if __name__ == "__main__":
    main()
