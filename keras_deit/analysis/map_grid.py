"""Attention maps of several images in one figure: a row per image, a column per map, one colour bar."""

import numpy as np


def draw_map_grid(images, maps, captions, path):
    """Saves a grid of attention maps over their images, on one shared colour scale.

    Each map is shown as its share of the attention over the patches (divided by its
    sum), one square per patch (no smoothing, so the patch grid stays visible), drawn
    over its image; a single colour bar, from the lowest to the highest share drawn,
    gives the scale of every panel.

    Args:
        images: list of arrays (H, W, 3), RGB in [0, 255].
        maps: list (one per image) of dicts title -> 2-D array (the patch grid), the
            same titles for every image (e.g. from `keras_deit.analysis.token_maps`).
        captions: list of str, one per image (e.g. "true 7, predicted 7").
        path: str. The figure file (.png).

    Returns:
        list (one per image) of dicts title -> the normalized map drawn.

    Example:
    ```python
    import numpy as np
    draw_map_grid([np.zeros((28, 28, 3))], [{"class token": np.ones((7, 7))}], ["a digit"], "/tmp/grid.png")
    ```
    """
    if not (len(images) == len(maps) == len(captions)) or not images:
        raise ValueError(
            f"draw_map_grid needs as many images, maps and captions (at least one), got "
            f"{len(images)}, {len(maps)}, {len(captions)}."
        )
    titles = list(maps[0])
    if any(list(image_maps) != titles for image_maps in maps):
        raise ValueError(f"Every image needs the same maps {titles}.")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shares = [{title: np.asarray(grid, "float64") / np.sum(grid) for title, grid in image_maps.items()}
              for image_maps in maps]
    # One scale from the lowest to the highest share of all panels: a near-uniform map
    # (an untrained student's) still shows its contrast.
    low = min(float(np.min(grid)) for image_maps in shares for grid in image_maps.values())
    high = max(float(np.max(grid)) for image_maps in shares for grid in image_maps.values())
    columns = len(titles) + 1
    figure, axes = plt.subplots(
        len(images), columns, figsize=(2.2 * columns + 0.8, 2.2 * len(images)), squeeze=False
    )
    drawn = None
    for row, (image, image_maps, caption) in enumerate(zip(images, shares, captions)):
        height, width = image.shape[:2]
        axes[row, 0].imshow(image.astype("uint8"))
        axes[row, 0].set_title(caption, fontsize=9)
        for column, title in enumerate(titles, start=1):
            axis = axes[row, column]
            axis.imshow(image.astype("uint8"))
            # imshow centers pixel i at i: the map spans the image's outer edges, -0.5 .. size - 0.5.
            drawn = axis.imshow(
                image_maps[title], cmap="inferno", alpha=0.75, vmin=low, vmax=high, interpolation="nearest",
                extent=(-0.5, width - 0.5, height - 0.5, -0.5),
            )
            if row == 0:
                axis.set_title(title, fontsize=9)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    figure.tight_layout(rect=(0, 0, 0.8, 1))
    bar = figure.colorbar(drawn, cax=figure.add_axes((0.83, 0.1, 0.025, 0.8)))
    bar.set_label("share of the token's attention over the patches")
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return shares
