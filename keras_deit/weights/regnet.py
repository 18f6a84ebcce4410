"""Loading timm / official RegNet checkpoints into the Keras RegNetY models, by tensor name.

The Keras layer names are timm's module paths with "." replaced by "_" (timm's module names
hold no "_"), so each variable's checkpoint name follows from its layer's name:
`s1_b1_conv1_conv.kernel` <-> `s1.b1.conv1.conv.weight`, `stem_bn.moving_variance` <->
`stem.bn.running_var`, `head_fc.kernel` <-> `head.fc.weight`.
"""

import keras

from keras_deit.weights.assignment import assign_state_dict, torch_conv_kernel, torch_dense_kernel
from keras_deit.weights.checkpoint_files import read_state_dict

HEAD_PREFIX = "head."


def timm_regnet_assignments(model):
    """Pairs every variable of a Keras RegNetY with its timm tensor name.

    Args:
        model: keras.Model. Built by `RegNetY002` ... `RegNetY320` (or a functional sub-model
            of one: only the layers present are paired).

    Returns:
        list of `(tensor_name, variable, transform)` for `keras_deit.weights.assignment.assign_state_dict`.

    Example:
    ```python
    from keras_deit.teachers import RegNetY002
    from keras_deit.weights.regnet import timm_regnet_assignments
    assignments = timm_regnet_assignments(RegNetY002())
    assignments[0][0]  # 'stem.conv.weight'
    ```
    """
    assignments = []
    for layer in model.layers:
        if not layer.weights:
            continue
        prefix = layer.name.replace("_", ".")
        if isinstance(layer, keras.layers.Conv2D):
            assignments.append((f"{prefix}.weight", layer.kernel, torch_conv_kernel))
            if layer.use_bias:
                assignments.append((f"{prefix}.bias", layer.bias, None))
        elif isinstance(layer, keras.layers.BatchNormalization):
            assignments += [
                (f"{prefix}.weight", layer.gamma, None),
                (f"{prefix}.bias", layer.beta, None),
                (f"{prefix}.running_mean", layer.moving_mean, None),
                (f"{prefix}.running_var", layer.moving_variance, None),
            ]
        elif isinstance(layer, keras.layers.Dense):
            assignments += [
                (f"{prefix}.weight", layer.kernel, torch_dense_kernel),
                (f"{prefix}.bias", layer.bias, None),
            ]
        else:
            raise TypeError(
                f"No timm name mapping for layer {layer.name!r} ({type(layer).__name__})."
            )
    return assignments


def load_timm_regnet_weights(model, path):
    """Loads a timm / official RegNetY checkpoint into a Keras RegNetY, checking every tensor.

    Missing, unexpected or mis-shaped tensors raise a ValueError naming them (nothing is
    assigned then). A model without a classifier (`include_top=False`) ignores `head.*`.

    Args:
        model: keras.Model. Built by `RegNetY002` ... `RegNetY320` of the checkpoint's variant.
        path: str. A timm state dict as `.pth` / `.pt` / `.bin` / `.safetensors`, e.g. the DeiT
            teacher `keras_deit.weights.official.REGNETY_160_FILE`.

    Example:
    ```python
    from keras_deit.teachers import RegNetY160
    from keras_deit.weights.regnet import load_timm_regnet_weights
    teacher = RegNetY160()
    load_timm_regnet_weights(teacher, "regnety_160-a5fe301d.pth")
    ```
    """
    state = {
        # BatchNorm's step counter only matters to torch's momentum=None mode, unused here.
        name: value
        for name, value in read_state_dict(path).items()
        if not name.endswith(".num_batches_tracked")
    }
    has_head = any(
        layer.name.startswith(HEAD_PREFIX.replace(".", "_")) and layer.weights
        for layer in model.layers
    )
    assign_state_dict(
        timm_regnet_assignments(model),
        state,
        source=str(path),
        ignore=() if has_head else (HEAD_PREFIX,),
    )
