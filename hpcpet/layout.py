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
#: attribute of a bucket group: JSON list of the result names stored in it
BUCKET_RESULTS_ATTR = "results"


def name_to_path(name: str) -> str:
    """A dotted name as an HDF5 path (``neuron.tau`` -> ``neuron/tau``)."""
    return name.replace(".", "/")


def block_depth(n_runs: int, set_size: int) -> int:
    """Levels of blocks above the buckets: 1 up to ``set_size**3`` runs, more beyond.

    Enough levels that no group holds more than ``set_size`` children
    (except with ``set_size == 1``, where one level is used).
    """
    n_buckets = max(1, -(-n_runs // set_size))
    depth = 1
    if set_size > 1:
        while -(-n_buckets // set_size ** depth) > set_size:
            depth += 1
    return depth


def bucket_path(bucket: int, set_size: int, n_runs: int) -> str:
    """Group of bucket ``bucket``: ``results/block_BBBBB/run_set_SSSSS``.

    A block holds ``set_size`` buckets (or blocks); with more than
    ``set_size**3`` runs blocks nest (``results/block_00001/block_00012/run_set_00123``),
    so no group has more than ``set_size`` children at any number of runs.
    A block's number is that of its first bucket divided by ``set_size**level``.
    """
    depth = block_depth(n_runs, set_size)
    blocks = [block_name(bucket // set_size ** k) for k in range(depth, 0, -1)]
    return "/".join([RESULTS, *blocks, set_name(bucket)])


def bucket_range(bucket: int, set_size: int, n_runs: int) -> tuple[int, int]:
    """First and one-past-last run index of ``bucket``."""
    start = bucket * set_size
    return start, min(start + set_size, n_runs)


def row_shape(stored) -> tuple[int, ...]:
    """Shape of one ragged row from its ``.shape`` entry (padded with -1)."""
    return tuple(int(s) for s in stored if s >= 0)
