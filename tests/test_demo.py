"""The offline demo (the README's first command), reduced to a few epochs."""

import numpy as np
import tensorflow as tf

import keras
from keras_deit.cli import main as cli_main
from keras_deit.digits import digits_rgb


def test_digits_are_rgb_pixels_in_0_255_with_all_classes():
    x_train, y_train, x_test, y_test = digits_rgb(image_size=16, train_size=600)
    assert x_train.shape == (600, 16, 16, 3) and x_train.dtype == np.float32
    assert x_train.min() == 0.0 and x_train.max() == 255.0
    assert len(x_train) + len(x_test) == 1797  # scikit-learn's digits
    assert set(y_test) == set(range(10)) and set(y_train) == set(range(10))
    # Nearest upsampling: every 2x2 block is one original pixel.
    np.testing.assert_array_equal(x_train[:, ::2, ::2], x_train[:, 1::2, 1::2])


def test_demo_trains_exports_and_draws(tmp_path, capsys):
    assert cli_main(
        ["demo", "--epochs", "6", "--teacher-epochs", "10", "--output", str(tmp_path)]
    ) == 0
    output = capsys.readouterr().out
    rows = {
        line.split(" | ")[0].strip("| "): float(line.split(" | ")[1].rstrip("%| "))
        for line in output.splitlines()
        if line.startswith("| ") and "%" in line
    }
    teacher = next(value for name, value in rows.items() if name.startswith("teacher"))
    # Measured 81% after 10 epochs (seed 0); chance is 10%.
    assert teacher >= 60.0
    assert len(rows) == 5 and all(value > 10.0 for value in rows.values())

    # The export serves the distilled student's probabilities for its pixels.
    student = keras.saving.load_model(tmp_path / "deit_digits_distilled.keras", safe_mode=True)
    served = tf.saved_model.load(str(tmp_path / "saved_models" / "deit_digits" / "1"))
    # Whole pixel values: the serving transform delivers 8-bit pixels, as a decoded photo.
    images = np.round(digits_rgb(image_size=16, train_size=600)[2][:8])
    probabilities = served.signatures["predict_images"](images=tf.constant(images))["probabilities"]
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(student(images)))
    assert np.max(np.abs(probabilities.numpy() - expected)) <= 1e-5
    assert (tmp_path / "attention.png").stat().st_size > 10_000
