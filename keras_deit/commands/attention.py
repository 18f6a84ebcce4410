"""`keras-deit attention --model M IMAGE -o maps.png`: where the class and distillation tokens look.

Draws, over the image, the attention rollout (Abnar & Zuidema 2020) of the class token
and of the distillation token, and the last block's per-head attention of each.
"""


def attention_rollout(scores):
    """Attention rollout: heads averaged, identity added, rows renormalized, layers multiplied.

    Args:
        scores: list (one per block, first to last) of arrays (batch, heads, T, T), as
            `DeiT.attention_scores` returns.

    Returns:
        float64 array (batch, T, T): row i is how much token i's final representation
        draws on each input token.

    Example:
    ```python
    rollout = attention_rollout(model.attention_scores(images))
    cls_map = rollout[:, 0, model.num_prefix_tokens:]
    ```
    """
    import numpy as np

    rollout = None
    for layer in scores:
        attention = np.asarray(layer, np.float64).mean(axis=1)
        # The residual connection carries each token to itself: the identity.
        attention = attention + np.eye(attention.shape[-1])
        attention = attention / attention.sum(axis=-1, keepdims=True)
        rollout = attention if rollout is None else attention @ rollout
    return rollout


def token_maps(model, image):
    """`{title: (grid_h, grid_w) map}` for one image (H, W, 3) in [0, 255] at the model's size."""
    import numpy as np

    scores = [np.asarray(layer) for layer in model.attention_scores(image[None].astype("float32"))]
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


def load_image(path, size):
    """An image file as float32 RGB (size[0], size[1], 3) in [0, 255] (bicubic resize)."""
    import numpy as np
    import tensorflow as tf

    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    image = tf.image.resize(tf.cast(image, "float32"), size, method="bicubic")
    return np.clip(image.numpy(), 0.0, 255.0)


def draw_maps(image, maps, path):
    """Saves the maps drawn over `image` as a figure (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = 4
    rows = -(-(len(maps) + 1) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    axes.flat[0].imshow(image.astype("uint8"))
    axes.flat[0].set_title("image", fontsize=8)
    height, width = image.shape[:2]
    for axis, (title, grid) in zip(axes.flat[1:], maps.items()):
        axis.imshow(image.astype("uint8"))
        # imshow centers pixel i at i: the map spans the image's outer edges, -0.5 .. size - 0.5.
        axis.imshow(grid, cmap="inferno", alpha=0.6, extent=(-0.5, width - 0.5, height - 0.5, -0.5), interpolation="bilinear")
        axis.set_title(title, fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def register(subparsers):
    parser = subparsers.add_parser("attention", help="Draw a DeiT's class / distillation token attention maps.")
    parser.add_argument("--model", required=True, help="a DeiT .keras file")
    parser.add_argument("image", help="an image file")
    parser.add_argument("-o", "--output", default="attention.png", help="figure to write (.png)")
    parser.set_defaults(handler=_run)


def _run(arguments):
    import keras

    import keras_deit.models  # noqa: F401  registers the classes .keras files name

    model = keras.saving.load_model(arguments.model, safe_mode=True)
    model = getattr(model, "student", model)
    image = load_image(arguments.image, model.image_size)
    maps = token_maps(model, image)
    draw_maps(image, maps, arguments.output)
    print(f"wrote {arguments.output} ({len(maps)} maps)")
    return 0
