"""Where things live in an hpcpet HDF5 file (see docs/format.md).

Shared by the writer and the loader; nothing else knows HDF5 paths.
"""
from __future__ import annotations

from .naming import block_name, set_name

FORMAT_VERSION = 1
FORMAT_ATTR = "hpcpet_format"

PARAMETERS = "parameters"
EXPLORATION = "exploration"
EXPLORED = "explored"
RUNS = "runs"
STATUS = "runs/status"
ERROR_INDEX = "runs/errors/index"
ERROR_TEXT = "runs/errors/text"
RESULTS = "results"
RESULT_INFO = "result_info"
GLOBALS = "globals"
EXPERIMENT_SOURCE = "experiment/source"
PRESENT_SUFFIX = ".present"
SHAPE_SUFFIX = ".shape"


def name_to_path(name: str) -> str:
    """A dotted name as an HDF5 path (``neuron.tau`` -> ``neuron/tau``)."""
    return name.replace(".", "/")


def bucket_path(bucket: int, set_size: int) -> str:
    """Group of bucket ``bucket``: ``results/block_BBBBB/run_set_SSSSS``.

    A block holds ``set_size`` buckets, so no group has more than
    ``set_size`` children at any number of runs.
    """
    return f"{RESULTS}/{block_name(bucket // set_size)}/{set_name(bucket)}"


def bucket_range(bucket: int, set_size: int, n_runs: int) -> tuple[int, int]:
    """First and one-past-last run index of ``bucket``."""
    start = bucket * set_size
    return start, min(start + set_size, n_runs)


def row_shape(stored) -> tuple[int, ...]:
    """Shape of one ragged row from its ``.shape`` entry (padded with -1)."""
    return tuple(int(s) for s in stored if s >= 0)
