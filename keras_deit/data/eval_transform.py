"""The DeiT evaluation transform: resize the shorter side to size / crop_ratio, centre crop.

torchvision's Resize(int(size / crop_ratio), bicubic) then CenterCrop(size), as the
official code evaluates (224 / 0.875 = 256, then 224).

Example:
```python
import tensorflow as tf
from keras_deit.data.eval_transform import resize_and_center_crop
image = tf.zeros((427, 640, 3), "uint8")
resize_and_center_crop(image, image_size=224).shape  # (224, 224, 3)
```
"""

import tensorflow as tf

from keras_deit.data.random_resized_crop import resize_bicubic


def resize_and_center_crop(image, *, image_size, crop_ratio=0.875):
    """Evaluation transform of one image; float32 (image_size, image_size, 3), 0..255.

    Args:
        image: uint8 or float tensor (H, W, 3).
        image_size: int. Side of the square output.
        crop_ratio: float. Fraction of the resized shorter side kept by the crop.
    """
    scale_size = int(image_size / crop_ratio)
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    shorter = tf.minimum(height, width)
    longer = tf.maximum(height, width)
    # torchvision: the longer side becomes int(size * long / short), truncated.
    new_longer = (scale_size * longer) // shorter
    new_height = tf.where(height <= width, scale_size, new_longer)
    new_width = tf.where(height <= width, new_longer, scale_size)
    resized = resize_bicubic(image, tf.stack([new_height, new_width]))
    # torchvision's CenterCrop: int(round((h - size) / 2)), round half to even.
    top = tf.cast(tf.round(tf.cast(new_height - image_size, "float32") / 2), "int32")
    left = tf.cast(tf.round(tf.cast(new_width - image_size, "float32") / 2), "int32")
    cropped = resized[top:top + image_size, left:left + image_size]
    return tf.ensure_shape(cropped, (image_size, image_size, 3))
