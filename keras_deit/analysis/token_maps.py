"""Per-token attention maps of a DeiT: where the class and distillation tokens look."""

import numpy as np

from keras_deit.analysis.rollout import attention_rollout


def token_maps(model, image):
    """`{title: (grid_h, grid_w) map}`: rollout and last-block heads of each prefix token.

    The class token's (and a distilled model's distillation token's) attention
    rollout over the patches, then the last block's attention of each head.

    Args:
        model: a `DeiT`.
        image: float array (image_size..., 3), RGB in [0, 255], at the model's input
            size (e.g. from `keras_deit.analysis.load_eval_image`).

    Example:
    ```python
    import numpy as np, keras_deit
    model = keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=32, depth=2,
                            num_heads=2, num_classes=10)
    maps = token_maps(model, np.zeros((32, 32, 3)))  # 1 rollout + 2 heads, each (4, 4)
    ```
    """
    if tuple(image.shape) != (*model.image_size, 3):
        raise ValueError(f"token_maps needs an image of the model's size {(*model.image_size, 3)}, got {image.shape}.")
    scores = [np.asarray(layer) for layer in model.attention_scores(np.asarray(image, "float32")[None])]
    prefix, grid = model.num_prefix_tokens, model.grid_size
    rollout = attention_rollout(scores)[0]
    tokens = [("class token", 0)] + ([("distillation token", 1)] if model.distill else [])
    maps = {}
    for name, index in tokens:
        maps[f"{name}: rollout"] = rollout[index, prefix:].reshape(grid)
    for name, index in tokens:
        for head in range(scores[-1].shape[1]):
            maps[f"{name}: last block, head {head}"] = scores[-1][0, head, index, prefix:].reshape(grid)
    return maps
