"""Stochastic depth: drop a residual branch per sample while training."""

import keras
from keras import ops

# Key of the random generator's position in a weights file (`model.save_weights`, `.keras`).
SEED_STATE_KEY = "seed_generator_state"


@keras.saving.register_keras_serializable(package="keras_deit")
class DropPath(keras.layers.Layer):
    """Zeroes the whole input of a sample with probability `rate` and rescales the rest.

    timm's `drop_path`: in training, `x * bernoulli(1 - rate) / (1 - rate)` with one draw
    per sample; identity at inference. Wrapped around each residual branch.

    Args:
        rate: float in [0, 1). Probability of dropping the branch.
        seed: int or None. Seed of the layer's random generator.

    Example:
    ```python
    import numpy as np
    layer = DropPath(rate=0.5, seed=0)
    layer(np.ones((4, 3, 2), "float32"), training=True)  # each sample all 0 or all 2
    ```

    The generator's position is saved with the weights (`save_weights`, `.keras`), so a
    run resumed from a checkpoint draws the masks the uninterrupted run would have.
    """

    def __init__(self, *, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"DropPath rate must be in [0, 1), got {rate}.")
        self.rate = rate
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed) if rate > 0 else None

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        keep = 1.0 - self.rate
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        mask = ops.floor(keep + keras.random.uniform(shape, seed=self.seed_generator))
        return inputs * ops.cast(mask / keep, inputs.dtype)

    def save_own_variables(self, store):
        # Keras leaves random-generator state out of weight files, so a run resumed from a
        # checkpoint would draw other masks than the uninterrupted run: keep it with the weights.
        super().save_own_variables(store)
        if self.seed_generator is not None:
            store[SEED_STATE_KEY] = ops.convert_to_numpy(self.seed_generator.state)

    def load_own_variables(self, store):
        # Files written without the state (converted official weights) leave the generator as is.
        if self.seed_generator is not None and SEED_STATE_KEY in store:
            self.seed_generator.state.assign(store[SEED_STATE_KEY])

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config
