"""Human behavioural data (targets for the real-time benchmark), shipped as one verified HDF5 file.

>>> import human_data
>>> data = human_data.load("jia2021")
>>> data.effect_mean("build")  # (5,) mean delta-d' (exposed - control) at 0, 400, ..., 1600 exposures

Self-contained: imports nothing from ``streams``, ``algorithms`` or ``lifelong``.
"""

from .convert import convert_jia2021
from .jia2021 import CONDITIONS, KNOWN_DATASETS, TEST_POINTS, HumanData, HumanDataError, load

__all__ = ["load", "HumanData", "HumanDataError", "convert_jia2021", "CONDITIONS", "TEST_POINTS", "KNOWN_DATASETS"]
