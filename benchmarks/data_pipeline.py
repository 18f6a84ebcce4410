"""Images/s of DeiT's full training transform at 224: keras_deit's tf.data vs timm.

Both read the same folder of JPEG photos (scikit-learn's two 427x640 sample images,
copied into a temporary folder), both do RandomResizedCrop + flip + RandAugment
rand-m9-mstd0.5-inc1 + random erasing (p 0.25, pixel) + Mixup/CutMix with label
smoothing, both with `--workers` processes/threads. timm runs `create_transform` +
`Mixup` in a torch DataLoader with that many worker processes; keras_deit runs
`make_dataset` with a tf.data private thread pool of that size. Each pipeline runs in
its own process, the two alternating over several rounds so that both see the same
load of this shared machine; each run times a few windows after a warm-up, and the
ratio is the median of the per-round ratios. Beside images/s, each window's CPU time
(the process and its DataLoader workers, user + system) per image: on a loaded machine
images/s follows the other jobs, CPU time per image much less.

Run: `python benchmarks/data_pipeline.py [--quick]`
"""

# timm (torchvision) before TensorFlow: torchvision segfaults on import otherwise.
import timm  # noqa: F401  isort: skip
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from machine import machine_line  # benchmarks/ is on sys.path


def make_photo_folder(root, count):
    from sklearn.datasets import load_sample_images
    from PIL import Image

    photos = load_sample_images().images
    for class_index in range(2):
        os.makedirs(os.path.join(root, f"class_{class_index}"), exist_ok=True)
    for index in range(count):
        path = os.path.join(root, f"class_{index % 2}", f"{index:05d}.jpg")
        Image.fromarray(photos[index % len(photos)]).save(path, quality=90)


def cpu_seconds():
    """User + system CPU seconds of this process and its children (DataLoader workers)."""
    import psutil

    process = psutil.Process()
    total = sum(process.cpu_times()[:2])
    for child in process.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.NoSuchProcess:
            pass
    return total


def time_batches(iterator, batches):
    """(wall seconds, CPU seconds) of `batches` batches."""
    start, start_cpu = time.perf_counter(), cpu_seconds()
    for _ in range(batches):
        next(iterator)
    return time.perf_counter() - start, cpu_seconds() - start_cpu


def _patch_timm_posterize():
    """Pillow 10+ refuses 0 bits, which timm's PosterizeIncreasing asks for at magnitude
    10 (about 2% of its draws under mstd 0.5): the DataLoader would crash. Give it the
    older Pillow's answer, a black image, as keras_deit does."""
    from PIL import Image
    from timm.data import auto_augment

    original = auto_augment.posterize

    def posterize(image, bits_to_keep, **kwargs):
        if bits_to_keep <= 0:
            return Image.new(image.mode, image.size)
        return original(image, bits_to_keep, **kwargs)

    auto_augment.NAME_TO_OP["PosterizeIncreasing"] = posterize


def timm_batches(root, *, batch_size, workers):
    import torch
    from timm.data import Mixup, create_transform
    from torchvision.datasets import ImageFolder

    torch.set_num_threads(1)
    _patch_timm_posterize()
    transform = create_transform(
        224, is_training=True, auto_augment="rand-m9-mstd0.5-inc1", interpolation="bicubic",
        re_prob=0.25, re_mode="pixel", re_count=1,
    )
    loader = torch.utils.data.DataLoader(
        ImageFolder(root, transform=transform), batch_size=batch_size, shuffle=True,
        num_workers=workers, drop_last=True, persistent_workers=True,
    )
    mixup = Mixup(mixup_alpha=0.8, cutmix_alpha=1.0, label_smoothing=0.1, num_classes=2)

    def forever():
        while True:
            for images, labels in loader:
                yield mixup(images, labels)

    return forever()


def keras_deit_batches(root, *, batch_size, workers):
    import tensorflow as tf

    from keras_deit.data import make_dataset

    dataset = make_dataset(root, training=True, image_size=224, batch_size=batch_size, seed=0)
    options = tf.data.Options()
    options.threading.private_threadpool_size = workers
    return iter(dataset.with_options(options))


PIPELINES = {
    "timm": ("timm create_transform + Mixup, torch DataLoader", timm_batches),
    "keras_deit": ("keras_deit make_dataset (tf.data)", keras_deit_batches),
}


def measure(pipeline, root, *, batch_size, workers, batches, windows):
    """Images/s and CPU ms per image of `windows` timed windows of one pipeline, after a warm-up."""
    iterator = PIPELINES[pipeline][1](root, batch_size=batch_size, workers=workers)
    # Warm-up: tracing, XLA compilations (one per padded crop width), autotuning, workers, file cache.
    for _ in range(3):
        time_batches(iterator, batches)
    images = batch_size * batches
    timings = [time_batches(iterator, batches) for _ in range(windows)]
    return {"rates": [images / wall for wall, _ in timings], "cpu_ms": [1e3 * cpu / images for _, cpu in timings]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer and shorter runs")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=None, help="alternating runs of each pipeline")
    parser.add_argument("--child", choices=sorted(PIPELINES), help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    batches, windows, rounds = (4, 2, 2) if arguments.quick else (10, 3, 4)
    rounds = arguments.rounds or rounds
    settings = dict(batch_size=arguments.batch_size, workers=arguments.workers, batches=batches, windows=windows)
    if arguments.child:
        print(json.dumps(measure(arguments.child, arguments.root, **settings)))
        return
    # One process per run, the two pipelines alternating: an idle pipeline kept alive
    # in the same process would prefetch in the background and steal the other's time.
    rates = {name: [] for name in PIPELINES}
    round_medians = {name: [] for name in PIPELINES}
    cpu_ms = {name: [] for name in PIPELINES}
    with tempfile.TemporaryDirectory() as root:
        make_photo_folder(root, arguments.images)
        for _ in range(rounds):
            for name in PIPELINES:
                command = [
                    sys.executable, os.path.abspath(__file__), "--child", name, "--root", root,
                    "--workers", str(arguments.workers), "--batch-size", str(arguments.batch_size),
                ] + (["--quick"] if arguments.quick else [])
                output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
                run = json.loads(output.strip().splitlines()[-1])
                rates[name] += run["rates"]
                cpu_ms[name] += run["cpu_ms"]
                round_medians[name].append(statistics.median(run["rates"]))
    print(f"\nDeiT training transform at 224, {arguments.workers} workers, batch {arguments.batch_size}: "
          f"{rounds} alternating runs of each, {windows} windows of {batches} batches per run; "
          f"{machine_line()}\n")
    print("| pipeline | images/s (median) | runs (median of each) | vs timm (median of per-round ratios) "
          "| CPU ms / image (median) | CPU vs timm |")
    print("|---|---|---|---|---|---|")
    timm_cpu = statistics.median(cpu_ms["timm"])
    for name, (label, _) in PIPELINES.items():
        ratio = statistics.median(m / t for m, t in zip(round_medians[name], round_medians["timm"]))
        runs = ", ".join(f"{rate:.0f}" for rate in round_medians[name])
        cpu = statistics.median(cpu_ms[name])
        print(f"| {label} | {statistics.median(rates[name]):.0f} | {runs} | {ratio:.2f}x | {cpu:.1f} "
              f"| {timm_cpu / cpu:.2f}x |")


if __name__ == "__main__":
    main()
