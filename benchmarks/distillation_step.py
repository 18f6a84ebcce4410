"""Training throughput of one DeiT hard-distillation step: keras_deit against timm + torch.

    python benchmarks/distillation_step.py            # 10 timed steps each (run on a quiet machine)
    python benchmarks/distillation_step.py --quick    # 3 timed steps each, a smoke run

One step: the DeiT-Ti student (distilled, 224x224, stochastic depth 0.1) and a RegNetY-200MF
teacher (timm `regnety_002`; random weights, speed does not depend on them) see a batch
of 32 images; loss = the official hard-distillation loss, alpha 0.5; backward; AdamW update
(lr 5e-4, weight decay 0.05). keras_deit runs `DistillationModel.train_on_batch` on
TensorFlow, with XLA (`jit_compile=True`) and as a plain TF graph; timm runs the same step
written like the official `engine.py` / `losses.py` in stock PyTorch eager mode with the
same number of threads. `--bfloat16` adds both in bfloat16: keras_deit's `mixed_bfloat16`
policy as a TF graph (oneDNN's BF16 matmuls, which need AVX512-BF16 or AMX; XLA's CPU
backend does not use them) and timm under `torch.autocast("cpu", torch.bfloat16)`. The steps
of one precision take turns, one step each per round, so a change in the shared machine's
load slows them alike; images/s is the median over the timed rounds after warm-up, `vs timm`
relative to timm in the same precision. The step's FLOPs are counted once by torch's
`FlopCounterMode` on timm's step (attention as matmuls, so that it is counted), and each
row's rate is given as GFLOP/s and as a fraction of TensorFlow's float32 matmul rate
(2048x2048) measured at the start and end of the run, the better of the two: how much room
the machine leaves above each runtime.
"""

import argparse
import os

# timm (torchvision) before TensorFlow: the other order segfaults on import.
import timm
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_deit.distillation.model import DistillationModel  # noqa: E402
from keras_deit.models.deit_variants import DeiTSmall, DeiTTiny  # noqa: E402
from keras_deit.teachers import RegNetY002  # noqa: E402
from timing import time_in_turns  # noqa: E402  (benchmarks/ is on sys.path)

BATCH = 32
SIZE = 224
STUDENT = "deit_tiny_distilled_patch16_224"


def teacher():
    """The keras_deit RegNetY-200MF teacher, random weights."""
    return RegNetY002()


def keras_step(jit_compile, model_name=STUDENT, batch=BATCH, policy="float32"):
    """`DistillationModel.train_on_batch` of a fixed batch, on the current Keras backend."""
    keras.mixed_precision.set_global_policy(policy)  # the teacher is built in it too
    student = (DeiTTiny if "tiny" in model_name else DeiTSmall)(distill=True, drop_path_rate=0.1)
    model = DistillationModel(student=student, teacher=teacher(), distillation="hard", alpha=0.5)
    keras.mixed_precision.set_global_policy("float32")
    optimizer = keras.optimizers.AdamW(5e-4, weight_decay=0.05)
    model.compile(optimizer=optimizer, jit_compile=jit_compile)
    rng = np.random.default_rng(0)
    # Backend tensors, as torch's: no host conversion inside the timed step.
    images = keras.ops.convert_to_tensor(rng.uniform(0, 255, (batch, SIZE, SIZE, 3)).astype("float32"))
    labels = keras.ops.convert_to_tensor(rng.integers(0, 1000, (batch,)).astype("int32"))
    return lambda: model.train_on_batch(images, labels)


def timm_setup(model_name=STUDENT, batch=BATCH, fused_attention=True):
    """(student, teacher, AdamW, images, labels) of the official engine in torch eager
    (`fused_attention=False`: attention as two matmuls, which torch's FLOP counter sees)."""
    student = timm.create_model(model_name, drop_path_rate=0.1)
    for module in student.modules():
        if hasattr(module, "fused_attn"):
            module.fused_attn = module.fused_attn and fused_attention
    student.set_distilled_training(True)  # training forward returns (class, distillation) logits
    student.train()
    teacher = timm.create_model("regnety_002").eval()
    optimizer = torch.optim.AdamW(student.parameters(), lr=5e-4, weight_decay=0.05)
    images = torch.randn(batch, 3, SIZE, SIZE)
    labels = torch.randint(0, 1000, (batch,))
    return student, teacher, optimizer, images, labels


def timm_step(model_name=STUDENT, batch=BATCH, bfloat16=False, fused_attention=True):
    """The official engine's hard-distillation step in torch eager, on a fixed batch
    (`bfloat16`: forward under CPU autocast, as the official `--amp` does on GPUs)."""
    student, teacher, optimizer, images, labels = timm_setup(model_name, batch, fused_attention)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            outputs, outputs_kd = student(images)
            with torch.no_grad():
                teacher_outputs = teacher(images)
        outputs, outputs_kd = outputs.float(), outputs_kd.float()
        base = F.cross_entropy(outputs, labels)
        distill = F.cross_entropy(outputs_kd, teacher_outputs.argmax(dim=1))
        loss = 0.5 * base + 0.5 * distill
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    return step


def step_flops(model_name=STUDENT, batch=BATCH):
    """FLOPs of one step (student forward + backward, teacher forward), as torch's
    `FlopCounterMode` counts timm's: matmuls and convolutions, the attention's included."""
    step = timm_step(model_name, batch, fused_attention=False)
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer timed steps")
    parser.add_argument("--bfloat16", action="store_true", help="also both steps in bfloat16")
    arguments = parser.parse_args()
    repeats, warmup = (3, 1) if arguments.quick else (10, 3)
    threads = len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    print(f"threads: {threads}; batch {BATCH}, {SIZE}x{SIZE}, {repeats} timed steps")
    import tensorflow as tf

    from machine import machine_line  # benchmarks/ is on sys.path
    from matmul_peak import matmul_peak_flops

    print(f"torch {torch.__version__}, timm {timm.__version__}, tf {tf.__version__}, ", end="")
    print(f"keras {keras.__version__}; {machine_line()}")
    flops = step_flops()
    peaks = [matmul_peak_flops(repeats=repeats)]
    # (row, runner) per precision; each table's first row is its reference.
    tables = {"float32": [
        ("timm + torch (eager)", lambda: timm_step()),
        ("keras_deit (TF + XLA)", lambda: keras_step(True)),
        ("keras_deit (TF graph)", lambda: keras_step(False)),
    ]}
    if arguments.bfloat16:
        tables["bfloat16"] = [
            ("timm + torch (eager, autocast)", lambda: timm_step(bfloat16=True)),
            ("keras_deit (TF graph, mixed_bfloat16)", lambda: keras_step(False, policy="mixed_bfloat16")),
        ]
    rates = {}
    for precision, rows in tables.items():
        steps = {name: make_step() for name, make_step in rows}
        seconds = time_in_turns(steps, repeats, warmup)
        rates[precision] = {name: BATCH / seconds[name] for name, _ in rows}
        keras.backend.clear_session()
    # Measured at both ends of the run, the better of the two: a busy minute lowers one.
    peaks.append(matmul_peak_flops(repeats=repeats))
    peak = max(peaks)
    print(f"one step: {flops / 1e9:.0f} GFLOP ({flops / BATCH / 1e9:.2f} an image, torch's FlopCounterMode on "
          f"timm's step); TF float32 matmul peak (2048x2048, start / end of the run): "
          f"{peaks[0] / 1e9:.0f} / {peaks[1] / 1e9:.0f} GFLOP/s")
    print()
    print("| DeiT-Ti distillation step, teacher RegNetY-200MF | precision | images/s | vs timm "
          "| GFLOP/s | % of f32 matmul peak |")
    print("|---|---|---|---|---|---|")
    for precision, precision_rates in rates.items():
        reference = next(iter(precision_rates.values()))
        for name, rate in precision_rates.items():
            achieved = rate * flops / BATCH
            print(f"| {name} | {precision} | {rate:.1f} | {rate / reference:.2f}x "
                  f"| {achieved / 1e9:.0f} | {100 * achieved / peak:.0f}% |")

if __name__ == "__main__":
    main()
