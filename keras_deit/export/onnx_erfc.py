"""A tf2onnx handler for TensorFlow's Erfc op, which exact GELU uses in recent TensorFlow.

`tf.nn.gelu(approximate=False)` computes (TF 2.21) `0.5 * x * erfc(-x / sqrt(2))`; tf2onnx
1.17 has no Erfc handler and ONNX no Erfc op, so `model.export(format="onnx")` of any
model with exact GELU fails ("Tensorflow op ... Erfc is not supported", tracked in
onnx/tensorflow-onnx PR 2463). This registers `erfc(x) = 1 - erf(x)` through tf2onnx's
own handler registry. For the large |x| where 1 - erf(x) loses erfc's relative
precision, GELU multiplies it by a factor that is 0 or x, so the absolute error of
GELU stays at float32 rounding.

Importing this module registers the handler (once per process).

Example:
```python
import keras_deit.export.onnx_erfc  # noqa: F401  before model.export(..., format="onnx")
```
"""

import numpy as np
from tf2onnx import utils
from tf2onnx.handler import tf_op


@tf_op("Erfc")
class Erfc:
    """Rewrites TF's Erfc node into ONNX `Sub(1, Erf(x))` (Erf exists from opset 9)."""

    @classmethod
    def version_9(cls, ctx, node, **kwargs):
        node.type = "Erf"
        dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.output[0]))
        one = ctx.make_const(utils.make_name(f"{node.name}_one"), np.array(1, dtype))
        complement = ctx.insert_new_node_on_output(
            "Sub",
            node.output[0],
            name=utils.make_name(f"{node.name}_complement"),
            inputs=[one.output[0], node.output[0]],
        )
        ctx.copy_shape(node.output[0], complement.output[0])
