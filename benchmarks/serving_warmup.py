"""First-request latency of the TF Serving SavedModel with and without its warm-up file.

    python benchmarks/serving_warmup.py           # 5 fresh processes per case (~4 minutes on 2 cores)
    python benchmarks/serving_warmup.py --quick   # 2 per case: a smoke run, noisy

TF Serving's own binary is not installable here (no pip wheel), so this measures what
its warm-up addresses: the first call of a freshly loaded SavedModel, which pays for
instantiating the signature's graph, optimizing it and creating its kernels. A DeiT-Ti
(random weights, 224 px) is exported once with `keras_deit.export_saved_model`, which
writes `assets.extra/tf_serving_warmup_requests` (see `keras_deit.export.warmup`). Each
measurement is a fresh Python process that loads the version with `tf.saved_model.load`
and then, in the warm-up case, replays every record of that file through its signature
as TF Serving does before it marks the version available. It then times the first
client request to `serving_default` (one real JPEG photo, scikit-learn's sample
`china.jpg`, 427x640, as TF Serving would receive it) and a second one (the steady
state). The table gives the median over the processes of each case.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def photo_path():
    """scikit-learn's sample photo `china.jpg` (427x640 JPEG), shipped with the package."""
    import sklearn

    return os.path.join(os.path.dirname(sklearn.__file__), "datasets", "images", "china.jpg")


def replay_warmup_file(loaded, version_folder):
    """Runs every PredictionLog request of the version's warm-up file through its signature, as TF Serving does."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    from keras_deit.export.warmup import WARMUP_FILE

    for record in tf.data.TFRecordDataset(os.path.join(version_folder, WARMUP_FILE)).as_numpy_iterator():
        request = prediction_log_pb2.PredictionLog.FromString(record).predict_log.request
        inputs = {name: tf.constant(tf.make_ndarray(proto)) for name, proto in request.inputs.items()}
        for output in loaded.signatures[request.model_spec.signature_name](**inputs).values():
            output.numpy()


def measure_in_this_process(version_folder, photo, warmup):
    """{load_s, warmup_s, first_ms, second_ms} of this (fresh) process."""
    import tensorflow as tf

    start = time.perf_counter()
    loaded = tf.saved_model.load(version_folder)
    serving = loaded.signatures["serving_default"]
    load_s = time.perf_counter() - start
    warmup_s = None
    if warmup:
        start = time.perf_counter()
        replay_warmup_file(loaded, version_folder)
        warmup_s = time.perf_counter() - start
    with open(photo, "rb") as file:
        image_bytes = tf.constant([file.read()])
    request_ms = []
    for _ in range(2):
        start = time.perf_counter()
        serving(image_bytes=image_bytes)["probabilities"].numpy()
        request_ms.append(1000 * (time.perf_counter() - start))
    return dict(load_s=load_s, warmup_s=warmup_s, first_ms=request_ms[0], second_ms=request_ms[1])


def measure_in_fresh_process(version_folder, photo, warmup):
    command = [sys.executable, os.path.abspath(__file__), "--child", version_folder, "--photo", photo]
    if warmup:
        command.append("--warmup")
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"measuring process failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 processes per case instead of 5")
    parser.add_argument("--child", metavar="VERSION_FOLDER", help=argparse.SUPPRESS)
    parser.add_argument("--photo", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        print(json.dumps(measure_in_this_process(arguments.child, arguments.photo, arguments.warmup)))
        return

    import keras
    import tensorflow as tf

    import keras_deit
    from machine import machine_line  # benchmarks/ is on sys.path

    photo = photo_path()
    if not os.path.isfile(photo):
        raise FileNotFoundError(f"The request photo {photo} is missing (it ships with scikit-learn).")
    runs = 2 if arguments.quick else 5
    print(machine_line())
    print(f"tf {tf.__version__}, keras {keras.__version__}; {runs} fresh processes per case; request: {photo}")
    if arguments.quick:
        print("QUICK RUN: few processes, numbers are noisy")
    with tempfile.TemporaryDirectory() as folder:
        keras.utils.set_random_seed(0)
        version_folder = keras_deit.export_saved_model(keras_deit.DeiTTiny(), os.path.join(folder, "deit_tiny"))
        results = {False: [], True: []}
        for _ in range(runs):  # the cases alternate, so a noisy minute hits both
            for warmup in (False, True):
                results[warmup].append(measure_in_fresh_process(version_folder, photo, warmup))

    def median(warmup, key, digits):
        values = [result[key] for result in results[warmup]]
        return "—" if values[0] is None else f"{statistics.median(values):.{digits}f}"

    print()
    print("| DeiT-Ti SavedModel, fresh process | load (s) | warm-up replay (s) | first request (ms) "
          "| second request (ms) |")
    print("|---|---|---|---|---|")
    for warmup, label in ((False, "without warm-up"), (True, "after replaying tf_serving_warmup_requests")):
        print(f"| {label} | {median(warmup, 'load_s', 1)} | {median(warmup, 'warmup_s', 1)} "
              f"| {median(warmup, 'first_ms', 0)} | {median(warmup, 'second_ms', 0)} |")


if __name__ == "__main__":
    main()
