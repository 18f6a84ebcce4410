"""The official DeiT checkpoints and the paper's teacher: the one table of files, URLs and configs.

Files and top-1 from the facebookresearch/deit README model zoo;
URLs, mean and std equal timm's `pretrained_cfg` for the same names. crop_pct is the official
evaluation's: 0.875 at 224 (official `main.py`; timm's config says 0.9), 1.0 at 384 (as timm).
"""

import dataclasses

OFFICIAL_URL = "https://dl.fbaipublicfiles.com/deit/"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclasses.dataclass(frozen=True)
class OfficialDeiT:
    """One official DeiT checkpoint: its timm name, file, architecture and evaluation.

    Args:
        name: str. timm's model name, e.g. "deit_small_distilled_patch16_224".
        file: str. The checkpoint's file name under `OFFICIAL_URL`.
        embed_dim, depth, num_heads, patch_size, image_size: int. Architecture.
        distill: bool. Distillation token and head.
        top1: float. ImageNet-1k top-1 (%) of the official evaluation.
        mlp_ratio: float. MLP width over embed_dim.
        crop_pct: float. Evaluation center-crop fraction (resize to image_size / crop_pct).

    Example:
    ```python
    from keras_deit.weights.official import OFFICIAL_DEIT
    OFFICIAL_DEIT["deit_tiny_patch16_224"].url
    ```
    """

    name: str
    file: str
    embed_dim: int
    depth: int
    num_heads: int
    patch_size: int
    image_size: int
    distill: bool
    top1: float
    mlp_ratio: float = 4.0
    crop_pct: float = 0.875
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD

    @property
    def url(self):
        """Where the official file is downloaded from."""
        return OFFICIAL_URL + self.file

    @property
    def architecture(self):
        """The `keras_deit.DeiT` arguments of this checkpoint."""
        return dict(
            embed_dim=self.embed_dim, depth=self.depth, num_heads=self.num_heads,
            patch_size=self.patch_size, image_size=self.image_size, mlp_ratio=self.mlp_ratio,
            distill=self.distill,
        )


def _deit(size, embed_dim, num_heads, distill, image_size, file, top1):
    name = f"deit_{size}{'_distilled' if distill else ''}_patch16_{image_size}"
    return OfficialDeiT(
        name=name, file=file, embed_dim=embed_dim, depth=12, num_heads=num_heads, patch_size=16,
        image_size=image_size, distill=distill, top1=top1,
        # timm's 384 configs evaluate on the full image.
        crop_pct=1.0 if image_size == 384 else 0.875,
    )


OFFICIAL_DEIT = {
    entry.name: entry
    for entry in (
        _deit("tiny", 192, 3, False, 224, "deit_tiny_patch16_224-a1311bcf.pth", 72.2),
        _deit("small", 384, 6, False, 224, "deit_small_patch16_224-cd65a155.pth", 79.9),
        _deit("base", 768, 12, False, 224, "deit_base_patch16_224-b5f2ef4d.pth", 81.8),
        _deit("tiny", 192, 3, True, 224, "deit_tiny_distilled_patch16_224-b40b3cf7.pth", 74.5),
        _deit("small", 384, 6, True, 224, "deit_small_distilled_patch16_224-649709d9.pth", 81.2),
        _deit("base", 768, 12, True, 224, "deit_base_distilled_patch16_224-df68dfff.pth", 83.4),
        _deit("base", 768, 12, False, 384, "deit_base_patch16_384-8de9b5d1.pth", 82.9),
        _deit("base", 768, 12, True, 384, "deit_base_distilled_patch16_384-d0272ac0.pth", 85.2),
    )
}

# The paper's teacher, RegNetY-16GF (timm `regnety_160`, 82.9% top-1), as the official repo ships it.
REGNETY_160_FILE = "regnety_160-a5fe301d.pth"
REGNETY_160_URL = OFFICIAL_URL + REGNETY_160_FILE

_ARCHITECTURE_FIELDS = ("embed_dim", "depth", "num_heads", "patch_size", "mlp_ratio", "distill")


def official_deit_for(*, embed_dim, depth, num_heads, patch_size, mlp_ratio, distill, image_size,
                      include_top, num_classes):
    """The official checkpoint for a DeiT architecture, or a ValueError naming the nearest one.

    The architecture must be an official one exactly. The resolution picks the file: 384
    where an official 384 file exists and the image is at least 384 on its shorter side,
    else 224 (the position embedding is interpolated on load either way).

    Args:
        embed_dim, depth, num_heads, patch_size: int. The model's architecture.
        mlp_ratio: float. The model's MLP ratio.
        distill: bool. Distillation token.
        image_size: (int, int). The model's input size.
        include_top: bool. With heads, the model needs the official 1000 classes.
        num_classes: int. The model's classes.

    Returns:
        `OfficialDeiT`.

    Example:
    ```python
    official_deit_for(embed_dim=192, depth=12, num_heads=3, patch_size=16, mlp_ratio=4.0,
                      distill=True, image_size=(224, 224), include_top=True,
                      num_classes=1000).file  # 'deit_tiny_distilled_patch16_224-b40b3cf7.pth'
    ```
    """
    wanted = dict(embed_dim=embed_dim, depth=depth, num_heads=num_heads, patch_size=patch_size,
                  mlp_ratio=float(mlp_ratio), distill=bool(distill))
    matches = [entry for entry in OFFICIAL_DEIT.values()
               if all(getattr(entry, field) == wanted[field] for field in _ARCHITECTURE_FIELDS)]
    if not matches:
        def distance(entry):
            differing = [field for field in _ARCHITECTURE_FIELDS if getattr(entry, field) != wanted[field]]
            return len(differing), abs(entry.embed_dim - embed_dim), entry.image_size

        nearest = min(OFFICIAL_DEIT.values(), key=distance)
        differences = ", ".join(
            f"{field} {getattr(nearest, field)} (this model: {wanted[field]})"
            for field in _ARCHITECTURE_FIELDS if getattr(nearest, field) != wanted[field]
        )
        raise ValueError(
            f'weights="imagenet": no official DeiT checkpoint has this architecture; the nearest '
            f"official model is {nearest.name}, which differs in {differences}."
        )
    if include_top and num_classes != 1000:
        raise ValueError(
            'weights="imagenet" with include_top=True needs num_classes=1000, got '
            f"{num_classes}; use include_top=False to fine-tune on other classes."
        )
    resolution = 384 if min(image_size) >= 384 else 224
    by_resolution = {entry.image_size: entry for entry in matches}
    return by_resolution.get(resolution, by_resolution[224])
