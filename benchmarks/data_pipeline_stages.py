"""Where an image's time goes in DeiT's training transform: each stage alone, keras_deit vs timm.

    python benchmarks/data_pipeline_stages.py            # 3 windows of 128 images a stage
    python benchmarks/data_pipeline_stages.py --quick    # 1 window of 32, a smoke run

The stages of `benchmarks/data_pipeline.py`'s transform (same two 427x640 JPEG photos,
same settings), each timed alone on its predecessor's stored output, on one thread, as
CPU milliseconds per image (user + system of this process):

- keras_deit: each stage is `tf.data` map over a cached dataset of the stage before
  (one private thread, one intra-op thread), as `make_dataset` maps it: reading and
  decoding the crop (`decode_window`: libjpeg decodes the crop window only), the
  antialiased bicubic resize to 224 (`resize_bicubic`), RandAugment, random erasing,
  and Mixup / CutMix with label smoothing on batches of 32 (per image). The first row
  is `tf.data`'s own cost per element (an identity map over the cached images).
- timm: `create_transform`'s own transforms called in turn as its DataLoader workers
  call them (torch with one thread): PIL's open + RGB conversion (all of the image),
  `RandomResizedCropAndInterpolation` (PIL crop + bicubic resize), RandAugment on PIL,
  `ToTensor` + `Normalize` (keras_deit's models normalize inside, so it has no such
  stage), `RandomErasing`, and timm's `Mixup` on batches of 32. The flip is left out of
  both (a copy at most).

The two take turns window by window; each figure is the median over the windows.
"""

# timm (torchvision) before TensorFlow: torchvision segfaults on import otherwise.
import timm  # noqa: F401  isort: skip
import argparse
import os
import statistics
import tempfile
import time

from data_pipeline import _patch_timm_posterize, make_photo_folder  # benchmarks/ is on sys.path
from machine import machine_line

BATCH = 32
# The table's rows, in order; a side without the stage leaves its cell empty.
PER_ELEMENT = "tf.data + Python per element (identity map over cached images)"
DECODE = "read + decode (timm: the whole image; keras_deit: the crop)"
RESIZE = "crop + antialiased bicubic resize to 224"
RAND_AUGMENT = "RandAugment m9-mstd0.5"
NORMALIZE = "to tensor + normalize"
ERASING = "random erasing (p 0.25)"
MIX = "Mixup / CutMix + label smoothing (per image, batches of 32)"
STAGES = (PER_ELEMENT, DECODE, RESIZE, RAND_AUGMENT, NORMALIZE, ERASING, MIX)


def timm_stages(paths, images):
    """[(stage, transform, its inputs, images per input)] of timm's transform; inputs None:
    the previous stage's outputs, a function: made from them."""
    import torch
    from PIL import Image
    from timm.data import Mixup, create_transform

    torch.set_num_threads(1)
    _patch_timm_posterize()
    crop_resize, _, rand_augment, to_tensor, normalize, erasing = create_transform(
        224, is_training=True, auto_augment="rand-m9-mstd0.5-inc1", interpolation="bicubic",
        re_prob=0.25, re_mode="pixel", re_count=1,
    ).transforms
    mixup = Mixup(mixup_alpha=0.8, cutmix_alpha=1.0, label_smoothing=0.1, num_classes=2)

    def load(path):
        with open(path, "rb") as handle:
            return Image.open(handle).convert("RGB")

    def mix(batch):
        return mixup(batch, torch.arange(len(batch)) % 2)

    def stack(tensors):
        return [torch.stack(tensors[start:start + BATCH]) for start in range(0, len(tensors) - BATCH + 1, BATCH)]

    return [
        (DECODE, load, [paths[i % len(paths)] for i in range(images)], 1),
        (RESIZE, crop_resize, None, 1),
        (RAND_AUGMENT, rand_augment, None, 1),
        (NORMALIZE, lambda image: normalize(to_tensor(image)), None, 1),
        (ERASING, erasing, None, 1),
        (MIX, mix, stack, BATCH),
    ]


def keras_deit_stages(paths, images):
    """{stage: (dataset of the stage, images per element)} of keras_deit's transform, each
    stage mapped over the cached output of the stage before."""
    import tensorflow as tf

    from keras_deit.data.decoding import decode_window
    from keras_deit.data.mixup_cutmix import mix_batch
    from keras_deit.data.rand_augment import rand_augment
    from keras_deit.data.random_erasing import random_erasing
    from keras_deit.data.random_resized_crop import resize_bicubic, sample_crop_window

    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    options.threading.max_intra_op_parallelism = 1
    path_table = tf.constant(paths)

    def seeds(index):
        # The four per-image seeds `make_dataset` splits: crop, flip, augment, erase.
        return tf.unstack(tf.random.experimental.stateless_split(tf.stack([index, tf.constant(0, tf.int64)]), 4))

    def decode(index):
        crop_seed = seeds(index)[0]
        encoded = tf.io.read_file(path_table[index % len(paths)])
        return index, decode_window(encoded, lambda size: sample_crop_window(size, crop_seed))

    def resize(index, image):
        return index, resize_bicubic(image, (224, 224))

    def augment(index, image):
        return index, rand_augment(image, seeds(index)[2])

    def erase(index, image):
        return index, random_erasing(image, seeds(index)[3], probability=0.25)

    def mix(index, image):
        return mix_batch(image, tf.cast(index % 2, tf.int32), tf.stack([index[0], index[0]]), num_classes=2,
                         label_smoothing=0.1)

    def cached(dataset):
        dataset = dataset.with_options(options).cache()
        for _ in dataset:  # fills the cache: the next stage reads stored tensors
            pass
        return dataset

    indices = tf.data.Dataset.range(images)
    crops = cached(indices.map(decode))
    resized = cached(crops.map(resize))
    augmented = cached(resized.map(augment))
    erased = cached(augmented.map(erase))
    stages = {
        PER_ELEMENT: (resized.map(lambda index, image: (index, image)), 1),
        DECODE: (indices.map(decode), 1),
        RESIZE: (crops.map(resize), 1),
        RAND_AUGMENT: (resized.map(augment), 1),
        ERASING: (augmented.map(erase), 1),
        MIX: (erased.batch(BATCH, drop_remainder=True).map(mix), BATCH),
    }
    return {name: (dataset.with_options(options), per_element) for name, (dataset, per_element) in stages.items()}


def cpu_ms_per_image(run, images):
    start = time.process_time()
    run()
    return 1000 * (time.process_time() - start) / images


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 window of 32 images a stage")
    arguments = parser.parse_args()
    windows, images = (1, BATCH) if arguments.quick else (3, 4 * BATCH)
    folder = tempfile.mkdtemp()
    make_photo_folder(folder, 2)
    paths = sorted(os.path.join(root, name) for root, _, names in os.walk(folder) for name in names)

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    # One iterator a stage, repeating its inputs, kept across windows: a new iterator would
    # instantiate the stage's functions again each window.
    keras_deit = {name: (iter(dataset.repeat()), per_element)
                  for name, (dataset, per_element) in keras_deit_stages(paths, images).items()}
    for iterator, per_element in keras_deit.values():  # warm-up: traces, XLA compilations of the resize
        for _ in range(images // per_element):
            next(iterator)

    timm_inputs, timm_runs = None, {}
    for name, transform, inputs, per_input in timm_stages(paths, images):
        if callable(inputs):
            inputs = inputs(timm_inputs)
        elif inputs is None:
            inputs = timm_inputs
        outputs = [transform(item) for item in inputs]  # also the warm-up
        timm_runs[name] = (lambda transform=transform, inputs=inputs: [transform(item) for item in inputs],
                           len(inputs) * per_input)
        timm_inputs = outputs

    def keras_deit_run(iterator, elements):
        def run():
            for _ in range(elements):
                next(iterator)
        return run

    runs = {"timm": timm_runs, "keras_deit": {
        name: (keras_deit_run(iterator, images // per_element), images // per_element * per_element)
        for name, (iterator, per_element) in keras_deit.items()
    }}
    times = {name: {side: [] for side in runs} for name in STAGES}
    for _ in range(windows):
        for name in STAGES:
            for side, side_runs in runs.items():
                if name in side_runs:
                    times[name][side].append(cpu_ms_per_image(*side_runs[name]))

    print(machine_line())
    print(f"one thread each; {windows} window(s) of {images} images a stage; CPU ms per image (median)")
    print()
    print("| stage | timm | keras_deit | vs timm |")
    print("|---|---|---|---|")
    total = {"timm": 0.0, "keras_deit": 0.0}
    for name in STAGES:
        row = {side: statistics.median(values) if values else None for side, values in times[name].items()}
        for side, value in row.items():
            total[side] += value or 0.0
        cells = [f"{row[side]:.2f}" if row[side] is not None else "—" for side in ("timm", "keras_deit")]
        ratio = f"{row['timm'] / row['keras_deit']:.2f}x" if None not in row.values() else "—"
        print(f"| {name} | {cells[0]} | {cells[1]} | {ratio} |")
    print(f"| sum of the stages | {total['timm']:.2f} | {total['keras_deit']:.2f} "
          f"| {total['timm'] / total['keras_deit']:.2f}x |")


if __name__ == "__main__":
    main()
