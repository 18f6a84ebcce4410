"""File-system utilities shared by training and export.

- `atomic`: writing a file so that neither a reader nor a crash sees half of it.
- `run_lock`: one process at a time in a run or export folder (`flock`).
- `litter`: removing the temporaries that killed processes leave behind.

Example:
```python
from keras_deit.files.atomic import atomic_write_text
from keras_deit.files.litter import clean_litter
from keras_deit.files.run_lock import RunLock
with RunLock("runs/digits"):
    clean_litter("runs/digits")
    atomic_write_text("runs/digits/notes.txt", "resumed\n")
```
"""
