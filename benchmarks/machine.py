"""The machine line every benchmark prints: CPU model, cores used, the instruction sets that decide speed."""

import os

# AVX512 and AMX run float32 / bfloat16 matmuls wider; VNNI (AVX512 or AVX) is what makes
# int8 matmuls faster than float32 ones; without it int8 mostly saves memory.
FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8")


def machine_line():
    """One line: CPU model, cores this process may use, and which of `FLAGS` the CPU has.

    Example:
    ```python
    print(machine_line())  # "AMD EPYC 7B13 (family 25, model 1), 2 cores; present: avx2 fma; absent: ..."
    ```
    """
    fields, flags = {}, set()
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "cpu family", "model"):
                fields.setdefault(key, value.strip())
            elif key == "flags":
                flags = set(value.split())
                break
    # A cloud CPU's name may be just "AMD EPYC": family and model tell the generation.
    model = fields.get("model name", "unknown CPU")
    if "cpu family" in fields:
        model += f" (family {fields['cpu family']}, model {fields.get('model', '?')})"
    present = [flag for flag in FLAGS if flag in flags]
    absent = [flag for flag in FLAGS if flag not in flags]
    return (
        f"{model}, {len(os.sched_getaffinity(0))} cores; "
        f"present: {' '.join(present) or 'none'}; absent: {' '.join(absent) or 'none'}"
    )
