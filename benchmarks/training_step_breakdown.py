"""Where the DeiT training step's time goes: keras_deit against timm, part by part, in one run.

    python benchmarks/training_step_breakdown.py                # DeiT-Ti, batch 32, 5 timed repetitions
    python benchmarks/training_step_breakdown.py --model small  # DeiT-S
    python benchmarks/training_step_breakdown.py --quick        # batch 2, 1 repetition: a smoke run

Each part is timed for timm (torch eager, the same number of threads) and keras_deit on
TensorFlow with XLA and as a plain TF graph, then, in a subprocess (Keras fixes its backend
per process), on the Keras JAX backend beside a second timm measured in that process. The
runtimes take turns within each repetition, so a busy machine slows them alike; a figure is
the median milliseconds per batch and `vs timm` is timm's time over keras_deit's (above 1:
keras_deit is faster), always against the timm of the same process.

Parts (distilled student, 224x224, float32, stochastic depth 0.1, random weights):
- forward: the student's two heads in training mode, no gradient;
- forward + backward: the gradients of 0.5 CE(class head) + 0.5 CE(distillation head);
- AdamW update: one optimizer update from fixed gradients;
- student step: the three above in one compiled function (torch: one eager step);
- teacher forward: RegNetY-200MF in inference mode;
- distillation step: `benchmarks/distillation_step.py`'s step (`train_on_batch`), teacher included;
- one layer of one block, forward + backward with its weight gradients, on (batch, tokens,
  width): LayerNorm, attention (qkv, softmax attention, proj), MLP (fc1, exact GELU, fc2),
  and the whole encoder block;
- the attention core alone, `softmax(q k^T / sqrt(d)) v` forward + backward on one block's
  (batch, heads, tokens, head_dim) queries, keys and values: timm's call of torch's
  `F.scaled_dot_product_attention` (a fused kernel), keras_deit's
  `keras_deit.layers.scaled_dot_product` (two matrix products and a float32 softmax).
"""

import argparse
import json
import os
import subprocess
import sys

from machine import machine_line  # benchmarks/ is on sys.path
from timing import time_in_turns

# timm (torchvision) before TensorFlow / JAX: the other order segfaults on import.
import timm
import torch
import torch.nn.functional as F

SIZE = 224
MODELS = {"tiny": "deit_tiny_distilled_patch16_224", "small": "deit_small_distilled_patch16_224"}
LAYERS = ("LayerNorm", "attention", "MLP (GELU)", "encoder block")


# ---------------------------------------------------------------- timm (torch eager)


def timm_parts(model_name, batch):
    """{part: callable} of timm's student, teacher and one block's layers."""
    import distillation_step

    student, teacher, optimizer, images, labels = distillation_step.timm_setup(model_name, batch)

    def forward():
        with torch.no_grad():
            student(images)

    def forward_backward():
        outputs, outputs_kd = student(images)
        loss = 0.5 * F.cross_entropy(outputs, labels) + 0.5 * F.cross_entropy(outputs_kd, labels)
        optimizer.zero_grad()
        loss.backward()

    def student_step():
        forward_backward()
        optimizer.step()

    def teacher_forward():
        with torch.no_grad():
            teacher(images)

    forward_backward()  # gradients for the update alone
    parts = {
        "forward": forward, "forward + backward": forward_backward, "AdamW update": optimizer.step,
        "student step": student_step, "teacher forward": teacher_forward,
        "distillation step": distillation_step.timm_step(model_name, batch),
    }
    block = student.blocks[0]
    tokens = torch.randn(batch, student.patch_embed.num_patches + 2, student.embed_dim, requires_grad=True)
    for name, layer in zip(LAYERS, (block.norm1, block.attn, block.mlp, block)):
        def layer_step(layer=layer):
            layer.zero_grad()
            output = layer(tokens)
            output.backward(torch.ones_like(output))
        parts[name] = layer_step
    heads, head_dim = block.attn.num_heads, student.embed_dim // block.attn.num_heads
    # timm's layout after its qkv permute: (batch, heads, tokens, head_dim).
    qkv = [torch.randn(batch, heads, tokens.shape[1], head_dim, requires_grad=True) for _ in range(3)]

    def attention_core():
        for tensor in qkv:
            tensor.grad = None
        output = F.scaled_dot_product_attention(*qkv)
        output.backward(torch.ones_like(output))
    parts["attention core"] = attention_core
    return parts


def _core_inputs(student, batch, rng):
    """keras_deit's attention-core inputs: (batch, tokens, heads, head_dim) queries, keys, values."""
    attention = student.blocks[0].attn
    shape = (batch, student.pos_embed.sequence_length, attention.num_heads, attention.head_dim)
    return [rng.standard_normal(shape).astype("float32") for _ in range(3)], attention.scale


# ---------------------------------------------------------------- keras_deit


def _cross_entropy(labels, logits):
    import keras

    return keras.ops.mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))


def _student(model_name):
    from keras_deit.models.deit_variants import DeiTSmall, DeiTTiny

    return (DeiTTiny if "tiny" in model_name else DeiTSmall)(distill=True, drop_path_rate=0.1)


def tensorflow_parts(model_name, batch, jit_compile):
    """{part: callable} of keras_deit on TensorFlow, with XLA or as a plain graph."""
    import distillation_step
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_deit.layers.scaled_dot_product import scaled_dot_product_attention

    student = _student(model_name)
    teacher = distillation_step.teacher()
    optimizer = keras.optimizers.AdamW(5e-4, weight_decay=0.05)
    optimizer.build(student.trainable_variables)
    images = tf.random.uniform((batch, SIZE, SIZE, 3), 0, 255)
    labels = tf.random.uniform((batch,), 0, 1000, dtype="int32")
    compiled = tf.function(jit_compile=jit_compile)

    def loss_of(images, labels):
        cls_logits, dist_logits = student.heads(images, training=True)
        return 0.5 * _cross_entropy(labels, cls_logits) + 0.5 * _cross_entropy(labels, dist_logits)

    @compiled
    def forward(images):
        return student.heads(images, training=True)[0]

    @compiled
    def gradients(images, labels):
        with tf.GradientTape() as tape:
            loss = loss_of(images, labels)
        return tape.gradient(loss, student.trainable_variables)

    fixed_gradients = gradients(images, labels)

    @compiled
    def update(gradients):
        optimizer.apply(gradients, student.trainable_variables)
        return optimizer.iterations

    @compiled
    def student_step(images, labels):
        with tf.GradientTape() as tape:
            loss = loss_of(images, labels)
        optimizer.apply(tape.gradient(loss, student.trainable_variables), student.trainable_variables)
        return loss

    @compiled
    def teacher_forward(images):
        return teacher(images, training=False)

    parts = {
        "forward": lambda: forward(images).numpy(),
        "forward + backward": lambda: gradients(images, labels)[0].numpy(),
        "AdamW update": lambda: update(fixed_gradients).numpy(),
        "student step": lambda: student_step(images, labels).numpy(),
        "teacher forward": lambda: teacher_forward(images).numpy(),
        "distillation step": distillation_step.keras_step(jit_compile, model_name, batch),
    }
    block = student.blocks[0]
    tokens = tf.random.normal((batch, student.pos_embed.sequence_length, student.embed_dim))
    for name, layer in zip(LAYERS, (block.norm1, block.attn, block.mlp, block)):
        @compiled
        def layer_gradients(tokens, layer=layer):
            with tf.GradientTape() as tape:
                tape.watch(tokens)
                output = layer(tokens)
            # Every gradient is returned, as timm's backward fills every .grad: a function
            # returning only the tokens' gradient lets TensorFlow prune the weights' ones.
            return tape.gradient(output, [tokens] + layer.trainable_variables)
        parts[name] = lambda step=layer_gradients: step(tokens)[0].numpy()
    arrays, scale = _core_inputs(student, batch, np.random.default_rng(0))
    qkv = [tf.constant(array) for array in arrays]

    @compiled
    def core_gradients(query, key, value):
        with tf.GradientTape() as tape:
            tape.watch([query, key, value])
            context, _ = scaled_dot_product_attention(query, key, value, scale=scale)
        return tape.gradient(context, [query, key, value])
    parts["attention core"] = lambda: core_gradients(*qkv)[0].numpy()
    return parts


def jax_parts(model_name, batch):
    """{part: callable} of keras_deit on the Keras JAX backend (this process must run it)."""
    import distillation_step
    import jax
    import keras
    import numpy as np

    from keras_deit.layers.scaled_dot_product import scaled_dot_product_attention

    student = _student(model_name)
    teacher = distillation_step.teacher()
    optimizer = keras.optimizers.AdamW(5e-4, weight_decay=0.05)
    optimizer.build(student.trainable_variables)
    rng = np.random.default_rng(0)
    images = jax.numpy.asarray(rng.uniform(0, 255, (batch, SIZE, SIZE, 3)).astype("float32"))
    labels = jax.numpy.asarray(rng.integers(0, 1000, (batch,)).astype("int32"))
    trainable = [v.value for v in student.trainable_variables]
    non_trainable = [v.value for v in student.non_trainable_variables]
    optimizer_state = [v.value for v in optimizer.variables]

    def heads(trainable, non_trainable, images):
        mapping = list(zip(student.trainable_variables + student.non_trainable_variables,
                           trainable + non_trainable))
        with keras.StatelessScope(state_mapping=mapping):
            return student.heads(images, training=True)

    def loss_of(trainable, non_trainable, images, labels):
        cls_logits, dist_logits = heads(trainable, non_trainable, images)
        return 0.5 * _cross_entropy(labels, cls_logits) + 0.5 * _cross_entropy(labels, dist_logits)

    forward = jax.jit(lambda t, n, x: heads(t, n, x)[0])
    gradients = jax.jit(jax.grad(loss_of))
    update = jax.jit(optimizer.stateless_apply)

    @jax.jit
    def student_step(trainable, non_trainable, optimizer_state, images, labels):
        grads = jax.grad(loss_of)(trainable, non_trainable, images, labels)
        return update(optimizer_state, grads, trainable)

    teacher_forward = jax.jit(
        lambda t, n, x: teacher.stateless_call(t, n, x, training=False)[0])
    teacher_state = ([v.value for v in teacher.trainable_variables],
                     [v.value for v in teacher.non_trainable_variables])
    fixed_gradients = gradients(trainable, non_trainable, images, labels)
    parts = {
        "forward": lambda: forward(trainable, non_trainable, images).block_until_ready(),
        "forward + backward": lambda: jax.block_until_ready(gradients(trainable, non_trainable, images, labels)),
        "AdamW update": lambda: jax.block_until_ready(update(optimizer_state, fixed_gradients, trainable)),
        "student step": lambda: jax.block_until_ready(
            student_step(trainable, non_trainable, optimizer_state, images, labels)),
        "teacher forward": lambda: teacher_forward(*teacher_state, images).block_until_ready(),
        "distillation step": distillation_step.keras_step(True, model_name, batch),
    }
    block = student.blocks[0]
    tokens = jax.numpy.asarray(
        rng.standard_normal((batch, student.pos_embed.sequence_length, student.embed_dim)).astype("float32"))
    for name, layer in zip(LAYERS, (block.norm1, block.attn, block.mlp, block)):
        layer_trainable = [v.value for v in layer.trainable_variables]
        layer_non_trainable = [v.value for v in layer.non_trainable_variables]

        def layer_sum(trainable, tokens, layer=layer, non_trainable=layer_non_trainable):
            return layer.stateless_call(trainable, non_trainable, tokens)[0].sum()

        layer_gradients = jax.jit(jax.grad(layer_sum, argnums=(0, 1)))
        parts[name] = lambda step=layer_gradients, t=layer_trainable: jax.block_until_ready(step(t, tokens))
    arrays, scale = _core_inputs(student, batch, rng)
    qkv = [jax.numpy.asarray(array) for array in arrays]

    def core_sum(query, key, value):
        return scaled_dot_product_attention(query, key, value, scale=scale)[0].sum()

    core_gradients = jax.jit(jax.grad(core_sum, argnums=(0, 1, 2)))
    parts["attention core"] = lambda: jax.block_until_ready(core_gradients(*qkv))
    return parts


# ---------------------------------------------------------------- runs and table


def measure(model_name, batch, repeats, warmup, backend):
    """{part: {runtime: seconds}}, timm and keras_deit on `backend` timed in turns."""
    runtimes = {"timm": timm_parts(model_name, batch)}
    if backend == "jax":
        runtimes["keras_deit (JAX)"] = jax_parts(model_name, batch)
    else:
        runtimes["keras_deit (TF + XLA)"] = tensorflow_parts(model_name, batch, jit_compile=True)
        runtimes["keras_deit (TF graph)"] = tensorflow_parts(model_name, batch, jit_compile=False)
    results = {}
    for part in runtimes["timm"]:
        print(f"{backend}: {part}", file=sys.stderr, flush=True)  # progress: compiling takes minutes
        results[part] = time_in_turns({name: runs[part] for name, runs in runtimes.items()}, repeats, warmup)
    return results


def jax_results(arguments):
    """`measure(..., "jax")` in a subprocess with KERAS_BACKEND=jax."""
    command = [sys.executable, os.path.abspath(__file__), "--child-jax", "--model", arguments.model,
               "--batch", str(arguments.batch), "--repeats", str(arguments.repeats),
               "--warmup", str(arguments.warmup)]
    environment = dict(os.environ, KERAS_BACKEND="jax")
    output = subprocess.run(command, env=environment, stdout=subprocess.PIPE, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="tiny", help="student size")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions of each part")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls of each part first")
    parser.add_argument("--quick", action="store_true", help="batch 2, one warm-up, one repetition: a smoke run")
    parser.add_argument("--child-jax", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.batch, arguments.repeats, arguments.warmup = 2, 1, 1
    threads = len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    model_name = MODELS[arguments.model]
    if arguments.child_jax:
        print(json.dumps(measure(model_name, arguments.batch, arguments.repeats, arguments.warmup, "jax")))
        return
    import keras
    import tensorflow as tf

    results = measure(model_name, arguments.batch, arguments.repeats, arguments.warmup, "tensorflow")
    jax_times = jax_results(arguments)
    print(machine_line())
    print(f"threads {threads}; {model_name}, batch {arguments.batch}, {SIZE}x{SIZE}, float32, "
          f"median of {arguments.repeats}; torch {torch.__version__}, timm {timm.__version__}, "
          f"tf {tf.__version__}, keras {keras.__version__}\n")
    columns = ("keras_deit (TF + XLA)", "keras_deit (TF graph)", "keras_deit (JAX)")
    print("| part (ms per batch) | timm | " + " | ".join(f"{name} | vs timm" for name in columns) + " |")
    print("|---|---|" + "---|---|" * len(columns))
    for part, times in results.items():
        cells = [f"{times['timm'] * 1e3:.0f}"]
        for name in columns[:2]:
            cells += [f"{times[name] * 1e3:.0f}", f"{times['timm'] / times[name]:.2f}x"]
        jax_time = jax_times[part]
        cells += [f"{jax_time['keras_deit (JAX)'] * 1e3:.0f}",
                  f"{jax_time['timm'] / jax_time['keras_deit (JAX)']:.2f}x"]
        print(f"| {part} | " + " | ".join(cells) + " |")
    step = results["distillation step"]
    print(f"\ndistillation step, images/s: timm {arguments.batch / step['timm']:.1f}, " + ", ".join(
        f"{name} {arguments.batch / step[name]:.1f}" for name in columns[:2])
        + f", keras_deit (JAX) {arguments.batch / jax_times['distillation step']['keras_deit (JAX)']:.1f}")


if __name__ == "__main__":
    main()
