"""keras_deit: DeiT (distillation through attention) for Keras 3 and TensorFlow."""

from setuptools import find_packages, setup

setup(
    name="keras_deit",
    version="0.1.0",
    description="DeiT for Keras 3 / TensorFlow: official architecture and weights, "
    "distillation training, TF Serving export.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    # The top-level recipes/ folder is installed as keras_deit.recipes: `keras-deit train
    # deit_small` then finds it in an installed package as in a checkout.
    packages=find_packages(include=["keras_deit", "keras_deit.*"]) + ["keras_deit.recipes"],
    package_dir={"keras_deit.recipes": "recipes"},
    python_requires=">=3.10",
    install_requires=[
        # TensorFlow comes from an extra because pip cannot say "one of": the GPU/TPU
        # `tensorflow` wheel ([tf]) or the CPU-only `tensorflow-cpu` ([tf-cpu], what CI
        # uses). Models and losses run on any Keras backend; tf.data input,
        # tf.distribute and SavedModel export need TensorFlow.
        "keras>=3.10",
        "matplotlib",
        "mlxtend",
        "numpy",
        "pillow",
        "safetensors",
        "scikit-learn",
        "tensorboard",
        "tensorflow-datasets",
    ],
    extras_require={
        "tf": ["tensorflow>=2.21"],
        "tf-cpu": ["tensorflow-cpu>=2.21"],
        # timm is the numerical reference of the tests and benchmarks only.
        # torch/torchvision pinned: the pair that installs from this machine's disk.
        "test": [
            "pytest",
            # Two test processes (`-n 2`): tracing and XLA compiling run on one core each.
            "pytest-xdist",
            "torch==2.14.1",
            "torchvision==0.29.1",
            "timm",
            "jax",
            "tf2onnx",
            "onnxruntime",
            "openvino",
        ],
        # `keras-deit export --format onnx`.
        "onnx": ["tf2onnx", "onnxruntime"],
        # `keras-deit export --format openvino` (converted from the ONNX export).
        "openvino": ["tf2onnx", "openvino"],
        # Peers measured beside keras_deit in benchmarks/.
        "bench": ["keras-hub"],
    },
    entry_points={"console_scripts": ["keras-deit=keras_deit.cli:main"]},
)
