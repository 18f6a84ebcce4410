"""Attention maps drawn over their image, one panel each, as a figure file."""


def draw_maps(image, maps, path):
    """Saves the maps drawn over `image` as a figure (matplotlib, Agg backend).

    Args:
        image: array (H, W, 3), RGB in [0, 255].
        maps: dict title -> 2-D array, each stretched over the whole image.
        path: str. The figure file (.png).

    Example:
    ```python
    import numpy as np
    draw_maps(np.zeros((32, 32, 3)), {"uniform": np.ones((4, 4))}, "/tmp/maps.png")
    ```
    """
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
