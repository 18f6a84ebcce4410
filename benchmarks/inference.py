"""CPU inference throughput: timm, keras-hub and keras_deit under each serving runtime, in one run.

    python benchmarks/inference.py                              # full table (5 minutes on a 2-core Zen 5)
    python benchmarks/inference.py --quick                      # smoke run: noisy, fewer repetitions
    python benchmarks/inference.py --models small --batches 32  # one cell of the table

keras-hub's rows need `pip install --no-deps keras-hub==0.32.0 kagglehub kagglesdk tokenizers
sentencepiece` (its own requirements would install `tensorflow` over `tensorflow-cpu`);
without it they are left out with the reason printed. OpenVINO int8 needs `pip install
nncf` (likewise).

DeiT-Ti and DeiT-S, float32, 224x224, random weights (speed does not depend on them),
images/s as the median over repetitions after warm-up, every runtime with this process's
cores as threads. One keras_deit model per size is exported with keras_deit's own
exporters (`keras_deit.export`) into a temporary folder, and each runtime runs that file:

- timm: stock PyTorch eager, `torch.inference_mode`; keras-hub's DeiT: TF + XLA.
- keras_deit: TF + XLA (`jit_compile=True`); mixed_bfloat16 as a TF graph without XLA
  (oneDNN's BF16 matmuls need AVX512-BF16 or AMX, which XLA's CPU backend does not use).
- SavedModel: `tf.saved_model.load` of the TF Serving export, its `serving_default`
  signature fed JPEG bytes (random 256x341 images), so decoding, resizing and cropping
  are in its time, as in TF Serving.
- ONNX Runtime on the ONNX export; int8: `onnxruntime.quantization.quantize_dynamic`
  (int8 weights, activations quantized per call).
- OpenVINO on the OpenVINO export (`INFERENCE_PRECISION_HINT=f32`: OpenVINO would run
  bfloat16 on a CPU with BF16); int8: NNCF post-training quantization calibrated on
  random images.
- LiteRT (`tf.lite.Interpreter`, XNNPACK) on the LiteRT export; int8: dynamic-range
  quantization (`tf.lite.Optimize.DEFAULT`, no representative data set).

The error columns compare each keras_deit runtime's logits with the Keras float32 model's
on the same random images (top-1 agreement, largest absolute logit difference), so no
int8 or bfloat16 speed-up is read without its error; with random weights the logits are
close together (their spread is printed), which makes top-1 a harsh test. The
SavedModel returns probabilities of decoded JPEGs, so it has no error columns here
(`tests/test_export.py` checks it). The last speed column is the fraction of this
machine's float32 matmul peak measured in the same run (int8 rows counted with the same
FLOPs).
"""

import argparse
import gc
import importlib
import os
import tempfile
import time

import numpy as np

# timm (torchvision) before TensorFlow: the other order segfaults on import.
import timm
import torch

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_deit  # noqa: E402
from keras_deit.export.litert import write_litert  # noqa: E402
from machine import machine_line  # noqa: E402  (benchmarks/ is on sys.path)
from matmul_peak import matmul_peak_flops  # noqa: E402
from timing import median_rate  # noqa: E402

SIZES = {
    "tiny": dict(factory=keras_deit.DeiTTiny, timm="deit_tiny_patch16_224", width=192, heads=3),
    "small": dict(factory=keras_deit.DeiTSmall, timm="deit_small_patch16_224", width=384, heads=6),
}
THREADS = len(os.sched_getaffinity(0))


def deit_flops_per_image(width, depth=12, tokens=197, patches=196, patch=16, classes=1000):
    """Multiply-adds x 2 of a DeiT forward pass (matmuls only; softmax, norms ignored)."""
    embed = patches * (patch * patch * 3) * width
    per_block = tokens * (3 * width * width + width * width + 8 * width * width)
    attention = 2 * tokens * tokens * width
    return 2 * (embed + depth * (per_block + attention) + width * classes)


def random_images(count, seed):
    """float32 (count, 224, 224, 3) RGB in [0, 255]."""
    return np.random.default_rng(seed).uniform(0, 255, (count, 224, 224, 3)).astype("float32")


def onnx_int8(onnx_path, path):
    """ONNX Runtime's dynamic quantization of the ONNX file `onnx_path`, written to `path`."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(onnx_path, path, weight_type=QuantType.QInt8)
    return path


def litert_int8(model, path):
    """LiteRT's dynamic-range quantization of `model`, written to `path`."""
    write_litert(model, path, optimizations=[tf.lite.Optimize.DEFAULT])
    return path


def openvino_int8(xml_path, calibration_images):
    """NNCF's post-training int8 quantization of the OpenVINO model (an `openvino.Model`)."""
    import nncf
    import openvino

    network = openvino.Core().read_model(xml_path)
    dataset = nncf.Dataset(list(calibration_images[:, None]))
    return nncf.quantize(
        network, dataset, model_type=nncf.ModelType.TRANSFORMER, subset_size=len(calibration_images)
    )


def missing(module, install):
    """Why the rows that need `module` are left out (with the `install` command), or None when it imports."""
    try:
        importlib.import_module(module)
    except ImportError as error:
        return f"{error}; install: {install}"
    return None


NNCF_INSTALL = "pip install nncf"
KERAS_HUB_INSTALL = "pip install --no-deps keras-hub==0.32.0 kagglehub kagglesdk tokenizers sentencepiece"


def export_all(model, folder, calibration_images):
    """Every file the runtimes read, exported by keras_deit into `folder`: {name: path or model}."""
    exports, seconds = {}, {}

    def timed(name, make):
        start, cpu_start = time.perf_counter(), time.process_time()
        exports[name] = make()
        seconds[name] = (time.perf_counter() - start, time.process_time() - cpu_start)

    timed("savedmodel", lambda: keras_deit.export_saved_model(model, os.path.join(folder, "savedmodel")))
    timed("onnx", lambda: os.path.join(keras_deit.export_onnx(model, os.path.join(folder, "onnx")), "model.onnx"))
    timed("onnx_int8", lambda: onnx_int8(exports["onnx"], os.path.join(folder, "model_int8.onnx")))
    timed("openvino", lambda: os.path.join(
        keras_deit.export_openvino(model, os.path.join(folder, "openvino")), "model.xml"))
    if not missing("nncf", NNCF_INSTALL):
        timed("openvino_int8", lambda: openvino_int8(exports["openvino"], calibration_images))
    timed("litert", lambda: os.path.join(
        keras_deit.export_litert(model, os.path.join(folder, "litert")), "model.tflite"))
    timed("litert_int8", lambda: litert_int8(model, os.path.join(folder, "model_int8.tflite")))
    print("export seconds (wall / CPU): "
          + ", ".join(f"{name} {wall:.0f} / {cpu:.0f}" for name, (wall, cpu) in seconds.items()), flush=True)
    return exports


# Each runner: (setup, batch) -> (timed call on `batch` fixed inputs, logits function or None).
# setup: dict with the size, the float32 Keras model, the exports and the timed images.


def timm_runner(setup, batch):
    model = timm.create_model(SIZES[setup["size"]]["timm"], pretrained=False).eval()
    images = torch.rand(batch, 3, 224, 224)

    def run():
        with torch.inference_mode():
            model(images)

    return run, None


def keras_hub_runner(setup, batch):
    import keras_hub

    width, heads = SIZES[setup["size"]]["width"], SIZES[setup["size"]]["heads"]
    backbone = keras_hub.models.DeiTBackbone(
        image_shape=(224, 224, 3), patch_size=16, num_layers=12, num_heads=heads,
        hidden_dim=width, intermediate_dim=4 * width,
    )
    classifier = keras_hub.models.DeiTImageClassifier(backbone=backbone, num_classes=1000)
    forward = tf.function(lambda x: classifier(x, training=False), jit_compile=True)
    images = tf.random.uniform((batch, 224, 224, 3), 0, 1)
    return lambda: forward(images).numpy(), None


def _logits_runner(forward, images):
    """The runner pair for a `forward(float32 NHWC numpy) -> logits numpy` function."""
    return lambda: forward(images), forward


def keras_deit_xla_runner(setup, batch):
    compiled = tf.function(lambda x: setup["model"](x, training=False), jit_compile=True)
    return _logits_runner(lambda images: compiled(tf.constant(images)).numpy(), setup["images"][batch])


def keras_deit_bf16_runner(setup, batch):
    model = SIZES[setup["size"]]["factory"](dtype="mixed_bfloat16")
    model.set_weights(setup["model"].get_weights())  # variables stay float32 under mixed_bfloat16
    # A TF graph without XLA: TF's oneDNN kernels use the CPU's AVX512-BF16 / AMX matmuls,
    # XLA's CPU backend does not (measured DeiT-S batch 32 on such a CPU: 24.9 against 16.1
    # images/s).
    graph = tf.function(lambda x: model(x, training=False))
    return _logits_runner(
        lambda images: tf.cast(graph(tf.constant(images)), tf.float32).numpy(), setup["images"][batch]
    )


def saved_model_runner(setup, batch):
    serving = tf.saved_model.load(setup["exports"]["savedmodel"]).signatures["serving_default"]
    rng = np.random.default_rng(batch)
    photos = rng.integers(0, 256, (batch, 256, 341, 3), dtype=np.uint8)
    image_bytes = tf.constant([tf.io.encode_jpeg(photo, quality=90).numpy() for photo in photos])
    return lambda: serving(image_bytes=image_bytes)["probabilities"].numpy(), None


def onnxruntime_runner(export_name):
    def runner(setup, batch):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = THREADS
        session = onnxruntime.InferenceSession(
            setup["exports"][export_name], options, providers=["CPUExecutionProvider"]
        )
        return _logits_runner(lambda images: session.run(None, {"images": images})[0], setup["images"][batch])

    return runner


def openvino_runner(export_name):
    def runner(setup, batch):
        import openvino

        network = setup["exports"][export_name]
        compiled = openvino.Core().compile_model(
            network, "CPU",
            {"INFERENCE_NUM_THREADS": THREADS, "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"},
        )
        request = compiled.create_infer_request()

        def forward(images):
            request.infer([images])
            return request.get_output_tensor(0).data.copy()

        return _logits_runner(forward, setup["images"][batch])

    return runner


def litert_runner(export_name):
    def runner(setup, batch):
        interpreter = tf.lite.Interpreter(model_path=setup["exports"][export_name], num_threads=THREADS)
        (image_input,) = interpreter.get_input_details()
        interpreter.resize_tensor_input(image_input["index"], (batch, 224, 224, 3))
        interpreter.allocate_tensors()
        output_index = interpreter.get_output_details()[0]["index"]

        def forward(images):
            interpreter.set_tensor(image_input["index"], images)
            interpreter.invoke()
            return interpreter.get_tensor(output_index).copy()

        return _logits_runner(forward, setup["images"][batch])

    return runner


RUNTIMES = (
    # (row label, runner)
    ("timm (torch eager)", timm_runner),
    ("keras-hub (TF+XLA)", keras_hub_runner),
    ("keras_deit (TF+XLA)", keras_deit_xla_runner),
    ("keras_deit bf16 (TF graph, oneDNN)", keras_deit_bf16_runner),
    ("SavedModel serving_default (JPEG in)", saved_model_runner),
    ("ONNX Runtime", onnxruntime_runner("onnx")),
    ("ONNX Runtime int8 (dynamic)", onnxruntime_runner("onnx_int8")),
    ("OpenVINO", openvino_runner("openvino")),
    ("OpenVINO int8 (NNCF)", openvino_runner("openvino_int8")),
    ("LiteRT (XNNPACK)", litert_runner("litert")),
    ("LiteRT int8 (dynamic range)", litert_runner("litert_int8")),
)


def chunked_logits(logits_of, images, batch):
    """`logits_of` over `images` in calls of `batch` images (the runner's fixed input size)."""
    return np.concatenate([logits_of(images[start : start + batch]) for start in range(0, len(images), batch)])


def measure_size(size, batches, *, quick, error_images, left_out):
    """Yields one dict per (batch, runtime) row for one model size, its exports in a temporary folder."""
    keras.utils.set_random_seed(0)
    model = SIZES[size]["factory"]()
    reference = chunked_logits(lambda x: np.asarray(model(x, training=False)), error_images, 8)
    print(f"{size}: float32 logits' std over images and classes {reference.std():.2g}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        exports = export_all(model, folder, random_images(4 if quick else 16, seed=2))
        setup = dict(size=size, model=model, exports=exports,
                     images={batch: random_images(batch, seed=batch) for batch in batches})
        for batch in batches:
            # Batch-1 calls are short: more of them for a stable median.
            repeats = (1 if quick else 3) * (8 if batch == 1 else 1)
            for label, runner in RUNTIMES:
                if left_out.get(label):
                    continue
                run, logits_of = runner(setup, batch)
                row = dict(size=size, batch=batch, label=label, agreement="—", difference="—")
                if logits_of is not None:
                    logits = chunked_logits(logits_of, error_images, batch)  # the warm-up calls too
                    row["agreement"] = f"{100 * np.mean(logits.argmax(-1) == reference.argmax(-1)):.0f}%"
                    row["difference"] = f"{np.abs(logits - reference).max():.2g}"
                row["rate"] = median_rate(run, batch, repeats, warmup=1 if logits_of is None else 0)
                print(f"{size} batch {batch} {label}: {row['rate']:.1f} images/s", flush=True)
                yield row
                del run, logits_of
                gc.collect()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: fewer repetitions and images")
    parser.add_argument("--models", nargs="+", default=["tiny", "small"], choices=sorted(SIZES))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    arguments = parser.parse_args()
    if any(batch < 1 for batch in arguments.batches):
        parser.error(f"--batches must be positive, got {arguments.batches}")
    start, cpu_start = time.perf_counter(), time.process_time()
    torch.set_num_threads(THREADS)
    # Error images: a multiple of every batch, so each runner sees only its own batch size.
    error_images = random_images(np.lcm.reduce([8 if arguments.quick else 32, *arguments.batches]), seed=1)
    peak_repeats = 3 if arguments.quick else 10
    peaks = [matmul_peak_flops(repeats=peak_repeats)]
    print(machine_line())
    print(f"torch {torch.__version__}, timm {timm.__version__}, tf {tf.__version__}, keras {keras.__version__}")
    # Rows whose package is missing: left out, the reason printed.
    left_out = {
        "keras-hub (TF+XLA)": missing("keras_hub", KERAS_HUB_INSTALL),
        "OpenVINO int8 (NNCF)": missing("nncf", NNCF_INSTALL),
    }
    for label, reason in left_out.items():
        if reason:
            print(f"{label} rows left out: {reason}")
    rows = []
    for size in arguments.models:
        rows.extend(measure_size(size, arguments.batches, quick=arguments.quick, error_images=error_images,
                                 left_out=left_out))
        keras.backend.clear_session()
        gc.collect()
    # Measured at both ends of the run, the better of the two: a busy minute lowers one.
    peaks.append(matmul_peak_flops(repeats=peak_repeats))
    peak = max(peaks)

    print()
    if arguments.quick:
        print("QUICK RUN: few repetitions, numbers are noisy")
    print(machine_line())
    print(f"threads: {THREADS}; TF float32 matmul peak (2048x2048, start / end of the run): "
          f"{peaks[0] / 1e9:.0f} / {peaks[1] / 1e9:.0f} GFLOP/s; error columns against the Keras float32 "
          f"model on {len(error_images)} random images")
    print()
    print("| model | batch | runtime | images/s | vs timm eager | % of f32 matmul peak "
          "| top-1 agreement | max abs logit diff |")
    print("|---|---|---|---|---|---|---|---|")
    timm_rates = {(row["size"], row["batch"]): row["rate"] for row in rows if row["label"] == RUNTIMES[0][0]}
    for row in rows:
        flops = deit_flops_per_image(SIZES[row["size"]]["width"])
        print(f"| DeiT-{row['size'][0].upper()}{row['size'][1:]} | {row['batch']} | {row['label']} "
              f"| {row['rate']:.1f} | {row['rate'] / timm_rates[row['size'], row['batch']]:.2f}x "
              f"| {100 * row['rate'] * flops / peak:.0f}% | {row['agreement']} | {row['difference']} |")
    print()
    print(f"run: {time.perf_counter() - start:.0f} s wall, {time.process_time() - cpu_start:.0f} s CPU")


if __name__ == "__main__":
    main()
