"""Weights: reading checkpoint files, the official table, loading into DeiT / RegNetY, fine-tuning.

One module per concept, imported by path (nothing is imported here, so reading a checkpoint
never pulls in Keras or a model): `checkpoint_files`, `torch_pickle`, `assignment`,
`official`, `position_embedding`, `deit`, `regnet`, `transfer`, `convert`.
"""
