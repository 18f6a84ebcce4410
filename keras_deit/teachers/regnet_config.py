"""The RegNetY design space: per-model parameters and the stage widths they quantize to.

A RegNet is described by a linear width ramp `w_j = w0 + wa * j` over `depth` blocks,
quantized to powers of `wm` (Radosavovic et al. 2020, "Designing Network Design Spaces",
https://arxiv.org/abs/2003.13678, Table 4 / Appendix). Blocks of equal width form a stage.
"""

import math

import numpy as np

# RegNetY-200MF ... RegNetY-32GF, copied from timm's `model_cfgs` (timm/models/regnet.py), which
# copies pycls' published configs. The name's digits are the FLOPs in units of 100M.
REGNETY_CONFIGS = {
    "002": dict(w0=24, wa=36.44, wm=2.49, depth=13, group_size=8, se_ratio=0.25),
    "004": dict(w0=48, wa=27.89, wm=2.09, depth=16, group_size=8, se_ratio=0.25),
    "006": dict(w0=48, wa=32.54, wm=2.32, depth=15, group_size=16, se_ratio=0.25),
    "008": dict(w0=56, wa=38.84, wm=2.4, depth=14, group_size=16, se_ratio=0.25),
    "016": dict(w0=48, wa=20.71, wm=2.65, depth=27, group_size=24, se_ratio=0.25),
    "032": dict(w0=80, wa=42.63, wm=2.66, depth=21, group_size=24, se_ratio=0.25),
    "040": dict(w0=96, wa=31.41, wm=2.24, depth=22, group_size=64, se_ratio=0.25),
    "064": dict(w0=112, wa=33.22, wm=2.27, depth=25, group_size=72, se_ratio=0.25),
    "080": dict(w0=192, wa=76.82, wm=2.19, depth=17, group_size=56, se_ratio=0.25),
    "120": dict(w0=168, wa=73.36, wm=2.37, depth=19, group_size=112, se_ratio=0.25),
    "160": dict(w0=200, wa=106.23, wm=2.48, depth=18, group_size=112, se_ratio=0.25),
    "320": dict(w0=232, wa=115.89, wm=2.53, depth=20, group_size=232, se_ratio=0.25),
}


def regnet_stages(*, w0, wa, wm, depth, group_size, quant=8):
    """Turns RegNet design parameters into per-stage widths, depths and group sizes.

    Follows timm's `generate_regnet` + `adjust_widths_groups_comp` (bottleneck ratio 1, no
    `group_min_ratio`), so every RegNetY variant gets exactly timm's channel counts.

    Args:
        w0: int. Initial width (divisible by `quant`).
        wa: float. Width slope per block.
        wm: float. Width multiplier between stages (> 1).
        depth: int. Total number of blocks.
        group_size: int. Channels per group of the 3x3 convolutions.
        quant: int. Widths are rounded to multiples of this before group adjustment.

    Returns:
        list of dicts `{"width", "depth", "group_size"}`, one per stage, widths ascending.

    Example:
    ```python
    regnet_stages(w0=24, wa=36.44, wm=2.49, depth=13, group_size=8)
    # [{'width': 24, 'depth': 1, 'group_size': 8}, {'width': 56, 'depth': 1, ...}, ...]
    ```
    """
    if not (wa >= 0 and w0 > 0 and wm > 1 and w0 % quant == 0):
        raise ValueError(f"Invalid RegNet parameters: w0={w0}, wa={wa}, wm={wm}, quant={quant}.")
    # float32 like timm's torch code: rounding halves could otherwise fall differently.
    widths_cont = np.arange(depth, dtype=np.float32) * np.float32(wa) + np.float32(w0)
    exponents = np.round(np.log(widths_cont / np.float32(w0)) / np.float32(math.log(wm)))
    widths = np.round(np.float32(w0) * np.power(np.float32(wm), exponents) / quant) * quant
    stage_widths, stage_depths = np.unique(widths.astype(np.int64), return_counts=True)
    stages = []
    for width, stage_depth in zip(stage_widths.tolist(), stage_depths.tolist()):
        # A group can't be wider than the stage; the stage width then rounds to whole groups.
        stage_group = min(group_size, width)
        stages.append(
            dict(
                width=int(round(width / stage_group) * stage_group),
                depth=stage_depth,
                group_size=stage_group,
            )
        )
    return stages
