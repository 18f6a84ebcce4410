"""keras_deit: DeiT (data-efficient image Transformers) for Keras 3 and TensorFlow.

Example:
```python
import keras_deit
model = keras_deit.DeiTSmall(distill=True)
```
"""

from keras_deit import layers
from keras_deit.models import DeiT, DeiTBase, DeiTSmall, DeiTTiny, load_deit_weights

__version__ = "0.1.0"

__all__ = ["DeiT", "DeiTBase", "DeiTSmall", "DeiTTiny", "layers", "load_deit_weights"]
