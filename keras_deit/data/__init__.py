"""DeiT's data pipeline: sources, the training and evaluation transforms, `make_dataset`.

Example:
```python
from keras_deit.data import load_source, make_dataset
source = load_source("digits", split="train")
train = make_dataset(source, training=True, image_size=32, batch_size=16, seed=0)
print(source.class_names, source.num_classes)
```
"""

from keras_deit.data.pipeline import make_dataset
from keras_deit.data.sources import Source, check_class_names_match, load_source

__all__ = ["Source", "check_class_names_match", "load_source", "make_dataset"]
