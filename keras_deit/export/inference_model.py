"""The network every export deploys: the float32 student, its class names checked."""

import keras


def inference_model(model):
    """The network to deploy: the student of a distillation model, in float32.

    A mixed-precision model is rebuilt from its config with `dtype="float32"` and its
    variables copied by path, so serving runs, and clients see, float32 only.

    Args:
        model: a `DeiT`, or an object with a `.student` `DeiT` (a distillation model:
            its teacher is left out).

    Example:
    ```python
    import keras_deit
    from keras_deit.export import inference_model
    student = keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=64, depth=2,
                              num_heads=2, num_classes=5, dtype="mixed_bfloat16")
    inference_model(student).dtype_policy.name  # "float32"
    ```
    """
    if keras.backend.backend() != "tensorflow":
        raise ValueError(f"Exports need Keras' TensorFlow backend, this process uses {keras.backend.backend()!r}.")
    model = getattr(model, "student", model)
    if not isinstance(model, keras.Model) or not hasattr(model, "heads"):
        raise ValueError(f"Expected a keras_deit DeiT (or a model with a .student DeiT), got {type(model).__name__}.")
    if not model.include_top:
        raise ValueError("Only a classifier can be exported: this DeiT has include_top=False.")
    if model.dtype_policy.name == "float32":
        return model
    float32_model = model.__class__.from_config({**model.get_config(), "dtype": "float32"})
    sources = {variable.path: variable for variable in model.weights}
    targets = {variable.path: variable for variable in float32_model.weights}
    if sources.keys() != targets.keys():
        raise ValueError(f"The float32 rebuild of {model.name} does not have the same variables.")
    for path, target in targets.items():
        target.assign(keras.ops.cast(sources[path], target.dtype))
    return float32_model


def checked_class_names(class_names, num_classes):
    """`class_names` as a list of `num_classes` str, or None; another count is refused.

    Args:
        class_names: sequence of names in class-index order, or None.
        num_classes: int. The model's number of classes.

    Example:
    ```python
    checked_class_names(("cat", "dog"), 2)  # ["cat", "dog"]
    ```
    """
    if class_names is None:
        return None
    class_names = [str(name) for name in class_names]
    if len(class_names) != num_classes:
        raise ValueError(f"{len(class_names)} class names given for a model of {num_classes} classes.")
    return class_names
