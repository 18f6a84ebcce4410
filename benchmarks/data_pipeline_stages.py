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


def timm_stages(paths, images):
    """[(stage, run over `images` inputs, inputs of the next stage)] of timm's transform."""
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
        ("read + decode (timm: the whole image; keras_deit: the crop)", load, [paths[i % len(paths)] for i in range(images)]),
        ("crop + antialiased bicubic resize to 224", crop_resize, None),
        ("RandAugment m9-mstd0.5", rand_augment, None),
        ("to tensor + normalize", lambda image: normalize(to_tensor(image)), None),
        ("random erasing (p 0.25)", erasing, None),
        ("Mixup / CutMix + label smoothing (per image, batches of 32)", mix, stack),
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

    def cached(dataset):
        dataset = dataset.with_options(options).cache()
        for _ in dataset:  # fills the cache: the next stage reads stored tensors
            pass
        return dataset

    indices = tf.data.Dataset.range(images)
    crops = cached(indices.map(decode))
    resized = cached(crops.map(lambda index, image: (index, resize_bicubic(image, (224, 224)))))
    augmented = cached(resized.map(lambda index, image: (index, rand_augment(image, seeds(index)[2]))))
    erased = cached(augmented.map(
        lambda index, image: (index, random_erasing(image, seeds(index)[3], probability=0.25))))
    batches = erased.batch(BATCH, drop_remainder=True).map(
        lambda index, image: mix_batch(image, tf.cast(index % 2, tf.int32), tf.stack([index[0], index[0]]), num_classes=2,
                                       label_smoothing=0.1))
    stages = {
        "tf.data + Python per element (identity map over cached images)": (resized.map(lambda index, image: image), 1),
        "read + decode (timm: the whole image; keras_deit: the crop)": (indices.map(decode), 1),
        "crop + antialiased bicubic resize to 224": (crops.map(lambda i, image: resize_bicubic(image, (224, 224))), 1),
        "RandAugment m9-mstd0.5": (resized.map(lambda index, image: rand_augment(image, seeds(index)[2])), 1),
        "random erasing (p 0.25)": (
            augmented.map(lambda index, image: random_erasing(image, seeds(index)[3], probability=0.25)), 1),
        "Mixup / CutMix + label smoothing (per image, batches of 32)": (batches, BATCH),
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

    timm_rows = timm_stages(paths, images)
    timm_inputs, timm_runs = None, {}
    for name, transform, inputs in timm_rows:
        if callable(inputs):
            inputs = inputs(timm_inputs)
        elif inputs is None:
            inputs = timm_inputs
        outputs = [transform(item) for item in inputs]  # also the warm-up
        timm_runs[name] = (lambda transform=transform, inputs=inputs: [transform(item) for item in inputs],
                           len(inputs) * (BATCH if name.startswith("Mixup") else 1))
        timm_inputs = outputs

    def keras_deit_run(iterator, elements):
        def run():
            for _ in range(elements):
                next(iterator)
        return run

    times = {name: {"timm": [], "keras_deit": []} for name in keras_deit}
    for _ in range(windows):
        for name, (iterator, per_element) in keras_deit.items():
            elements = images // per_element
            times[name]["keras_deit"].append(cpu_ms_per_image(keras_deit_run(iterator, elements), elements * per_element))
            if name in timm_runs:
                run, count = timm_runs[name]
                times[name]["timm"].append(cpu_ms_per_image(run, count))
        run, count = timm_runs["to tensor + normalize"]
        times.setdefault("to tensor + normalize", {"timm": [], "keras_deit": []})["timm"].append(
            cpu_ms_per_image(run, count))

    print(machine_line())
    print(f"one thread each; {windows} window(s) of {images} images a stage; CPU ms per image (median)")
    print()
    print("| stage | timm | keras_deit | vs timm |")
    print("|---|---|---|---|")
    order = ["tf.data + Python per element (identity map over cached images)"] + [name for name, _, _ in timm_rows]
    total = {"timm": 0.0, "keras_deit": 0.0}
    for name in order:
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
