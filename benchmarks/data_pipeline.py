"""Images/s of DeiT's full training transform at 224: keras_deit's tf.data vs timm.

Both read the same folder of JPEG photos (scikit-learn's two 427x640 sample images,
copied into a temporary folder), both do RandomResizedCrop + flip + RandAugment
rand-m9-mstd0.5-inc1 + random erasing (p 0.25, pixel) + Mixup/CutMix with label
smoothing, both with `--workers` processes/threads. timm runs `create_transform` +
`Mixup` in a torch DataLoader with that many worker processes; keras_deit runs
`make_dataset` with a tf.data private thread pool of that size. Each number is the
median of several timed runs after a warm-up.

Run: `python benchmarks/data_pipeline.py [--quick]`
"""

# timm (torchvision) before TensorFlow: torchvision segfaults on import otherwise.
import timm  # noqa: F401  isort: skip
import argparse
import os
import statistics
import tempfile
import time


def make_photo_folder(root, count):
    from sklearn.datasets import load_sample_images
    from PIL import Image

    photos = load_sample_images().images
    for class_index in range(2):
        os.makedirs(os.path.join(root, f"class_{class_index}"), exist_ok=True)
    for index in range(count):
        path = os.path.join(root, f"class_{index % 2}", f"{index:05d}.jpg")
        Image.fromarray(photos[index % len(photos)]).save(path, quality=90)


def time_batches(iterator, batches):
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return time.perf_counter() - start


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


def bench_timm(root, *, batch_size, workers, batches, repeats):
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

    iterator = forever()
    time_batches(iterator, batches)  # warm-up: workers start, files cached
    return [batch_size * batches / time_batches(iterator, batches) for _ in range(repeats)]


def bench_keras_deit(root, *, batch_size, workers, batches, repeats):
    import tensorflow as tf

    from keras_deit.data import make_dataset

    dataset = make_dataset(root, training=True, image_size=224, batch_size=batch_size, seed=0)
    options = tf.data.Options()
    options.threading.private_threadpool_size = workers
    iterator = iter(dataset.with_options(options))
    time_batches(iterator, batches)  # warm-up: tracing, autotuning
    return [batch_size * batches / time_batches(iterator, batches) for _ in range(repeats)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer and shorter runs")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--images", type=int, default=300)
    arguments = parser.parse_args()
    batches, repeats = (4, 3) if arguments.quick else (10, 5)
    with tempfile.TemporaryDirectory() as root:
        make_photo_folder(root, arguments.images)
        settings = dict(batch_size=arguments.batch_size, workers=arguments.workers, batches=batches, repeats=repeats)
        results = {
            "timm create_transform + Mixup, torch DataLoader": bench_timm(root, **settings),
            "keras_deit make_dataset (tf.data)": bench_keras_deit(root, **settings),
        }
    baseline = statistics.median(next(iter(results.values())))
    print(f"\nDeiT training transform at 224, {arguments.workers} workers, batch {arguments.batch_size}, "
          f"median of {repeats} x {batches} batches\n")
    print("| pipeline | images/s (median) | runs | vs timm |")
    print("|---|---|---|---|")
    for name, rates in results.items():
        median = statistics.median(rates)
        runs = ", ".join(f"{rate:.0f}" for rate in rates)
        print(f"| {name} | {median:.0f} | {runs} | {median / baseline:.2f}x |")


if __name__ == "__main__":
    main()
