"""The machine line every benchmark prints: CPU model, cores used, the instruction sets that decide speed."""

import os

# AVX512 and AMX run float32 / bfloat16 matmuls wider; VNNI (AVX512 or AVX) is what makes
# int8 matmuls faster than float32 ones; without it int8 mostly saves memory.
FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8")


def machine_line():
    """One line: CPU model, cores this process may use, and which of `FLAGS` the CPU has.

    Example:
    ```python
    print(machine_line())  # "AMD EPYC 7B13, 2 cores; avx2 fma: yes; avx512f ...: no"
    ```
    """
    model, flags = "unknown CPU", set()
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    present = [flag for flag in FLAGS if flag in flags]
    absent = [flag for flag in FLAGS if flag not in flags]
    return (
        f"{model}, {len(os.sched_getaffinity(0))} cores; "
        f"present: {' '.join(present) or 'none'}; absent: {' '.join(absent) or 'none'}"
    )
