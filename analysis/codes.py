"""The split and label codes stored in ``dataset.h5``: a row's code is the position of its name here.

A module of its own so that the config schema reads the labels without loading the dataset code.
"""

SPLITS = ("train", "val", "test")
LABELS = ("background", "signal", "data")
