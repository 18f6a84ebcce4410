"""torchvision's ColorJitter(b, c, s) on uint8 images: Pillow enhancers in random order.

Brightness, contrast and saturation factors are uniform in [1 - x, 1 + x] and applied
in a random order, each with Pillow's ImageEnhance (what torchvision calls on PIL images).

Example:
```python
import tensorflow as tf
from keras_deit.data.color_jitter import color_jitter
image = tf.fill((32, 32, 3), 100.0)
color_jitter(image, seed=tf.constant([0, 7]), strength=0.3)
```
"""

import tensorflow as tf

from keras_deit.data import pil_ops

_ENHANCERS = (pil_ops.brightness, pil_ops.contrast, pil_ops.color)


def color_jitter(image, seed, *, strength=0.3):
    """Jitters brightness, contrast and saturation by up to `strength`, random order.

    Args:
        image: float32 tensor (H, W, 3). Integer pixel values 0..255.
        seed: int tensor (2,). Stateless seed.
        strength: float. Maximum relative change of each property.
    """
    order_seed, factor_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    order = tf.argsort(tf.random.stateless_uniform((3,), order_seed))
    low = max(0.0, 1.0 - strength)
    factors = tf.random.stateless_uniform((3,), factor_seed, low, 1.0 + strength)
    for step in range(3):
        index = order[step]
        image = tf.switch_case(
            index,
            [
                lambda enhance=enhance, source=image, k=k: enhance(source, factors[k])
                for k, enhance in enumerate(_ENHANCERS)
            ],
        )
    return image
