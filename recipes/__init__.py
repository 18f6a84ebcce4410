"""The DeiT recipes: one `get_config()` per file, loaded by name with `load_recipe`.

`setup.py` installs this folder as `keras_deit.recipes`, so `keras-deit train deit_small`
finds the recipes in an installed package as in a source checkout.
"""
