"""Looking inside a trained DeiT: attention rollout and per-token attention maps.

Example:
```python
import keras, keras_deit
from keras_deit.analysis import draw_maps, load_eval_image, token_maps
model = keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=32, depth=2,
                        num_heads=2, num_classes=10)
image = load_eval_image("cat.jpg", model.image_size)
draw_maps(image, token_maps(model, image), "attention.png")
```
"""

from keras_deit.analysis.drawing import draw_maps
from keras_deit.analysis.eval_image import load_eval_image
from keras_deit.analysis.map_grid import draw_map_grid
from keras_deit.analysis.rollout import attention_rollout
from keras_deit.analysis.token_maps import token_maps

__all__ = ["attention_rollout", "draw_map_grid", "draw_maps", "load_eval_image", "token_maps"]
