"""Peak memory of the DeiT-Ti hard-distillation training step: keras_deit against timm + torch.

    python benchmarks/training_memory.py            # 3 steps in each of 3 processes, ~2 min

The step is `distillation_step.py`'s (DeiT-Ti distilled student, RegNetY-200MF teacher,
batch 32 at 224x224, AdamW). Each variant runs in a fresh process: the peak resident set
size (`ru_maxrss`) is read after the imports and again after the steps; the table gives
the peak and its growth over the imports (the model, optimizer state, activations and
compiled code), which is what the step itself costs.
"""

import argparse
import json
import os
import resource
import subprocess
import sys

VARIANTS = {
    "timm": "timm + torch (eager)",
    "keras_xla": "keras_deit (TF + XLA)",
    "keras_graph": "keras_deit (TF graph)",
}
STEPS = 3


def _peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def measure(variant):
    """(peak MiB after the imports, peak MiB after `STEPS` steps) of one variant."""
    import distillation_step  # timm, torch and TensorFlow, in the order they need

    after_imports = _peak_mib()
    step = distillation_step.timm_step() if variant == "timm" else distillation_step.keras_step(variant == "keras_xla")
    for _ in range(STEPS):
        step()
    return after_imports, _peak_mib()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        print(json.dumps(measure(arguments.child)))
        return
    results = {}
    for variant in VARIANTS:
        output = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--child", variant],
            capture_output=True, text=True, check=True,
        ).stdout
        results[variant] = json.loads(output.strip().splitlines()[-1])
    timm_growth = results["timm"][1] - results["timm"][0]
    print(f"DeiT-Ti distillation step, RegNetY-200MF teacher, batch 32, 224x224, {STEPS} steps, float32\n")
    print("| step | peak RSS (GiB) | growth over imports (GiB) | growth vs timm |")
    print("|---|---|---|---|")
    for variant, (after_imports, peak) in results.items():
        growth = peak - after_imports
        print(f"| {VARIANTS[variant]} | {peak / 1024:.2f} | {growth / 1024:.2f} | {growth / timm_growth:.2f}x |")


if __name__ == "__main__":
    main()
