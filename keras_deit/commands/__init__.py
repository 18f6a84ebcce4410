"""Sub-commands of the `keras-deit` console script (see keras_deit/cli.py)."""
