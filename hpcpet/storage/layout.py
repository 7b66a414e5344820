"""Where things live in an hpcpet results file, format 2 (docs/format.md is the full text).

Shared by the writer, the segments and the reader; nothing else knows HDF5 paths.

A results file ``OUT`` is immutable once it has its name. While a study is
written, the runs committed since ``OUT`` was published live in the folder
``OUT.segments/``: one immutable HDF5 file per checkpoint (or per compaction of
several), plus the writer's guard file and status file. At close everything is
consolidated into a new ``OUT``, and the folder is removed.
"""
from __future__ import annotations

import os
import re

FORMAT_VERSION = 2
FORMAT_ATTR = "hpcpet_format"
SEGMENT_ATTR = "hpcpet_segment"
#: root attribute: the last segment number whose runs the file already contains
SEGMENTS_ATTR = "segments"

PARAMETERS = "parameters"
EXPLORATION = "exploration"
EXPLORED = "explored"
GENERATION = "runs/generation"
STATUS = "runs/status"
RUN_INDEX = "runs/index"          # in segments: which runs the rows are
ERROR_INDEX = "runs/errors/index"
ERROR_TEXT = "runs/errors/text"
RESULTS = "results"
INFO = "run_info"
GLOBALS = "globals"
EXPERIMENT_SOURCE = "experiment/source"

# datasets inside a result's group
DATA = "data"          # fixed: dtype[n, *shape]
VALUES = "values"      # ragged / string / bytes / pickled: the rows one after another
OFFSETS = "offsets"    # int64[n + 1]: row k is values[offsets[k]:offsets[k + 1]]
SHAPES = "shapes"      # ragged rows that are not 1-D: int64[n, ndim], padded with -1
PRESENT = "present"    # bool[n]: which done runs added the result (absent: all of them)

FOLDER_SUFFIX = ".segments"
GUARD = "writer.json"
STATUS_FILE = "status.json"
_SEGMENT_RE = re.compile(r"^seg-(\d{8})-(\d{8})\.h5$")


def name_to_path(name: str) -> str:
    """A dotted name as an HDF5 path (``neuron.tau`` -> ``neuron/tau``)."""
    return name.replace(".", "/")


def result_path(name: str) -> str:
    """The group of result ``name``: ``results/<path>``."""
    return RESULTS + "/" + name_to_path(name)


def folder(path: str) -> str:
    """The segment folder of results file ``path``."""
    return os.fspath(path) + FOLDER_SUFFIX


def segment_name(first: int, last: int) -> str:
    """File name of the segment holding checkpoints ``first .. last``."""
    return f"seg-{first:08d}-{last:08d}.h5"


def parse_segment_name(name: str) -> tuple[int, int] | None:
    """``(first, last)`` of a segment file name, None for any other name."""
    m = _SEGMENT_RE.match(name)
    return (int(m.group(1)), int(m.group(2))) if m else None


def is_temporary(name: str) -> bool:
    """Whether a name in the segment folder (or next to a results file) is an unfinished file."""
    return name.endswith(".tmp")


def temporary(path: str, what: str) -> str:
    """A temporary name in the segment folder of ``path`` for the file ``what`` being built."""
    return os.path.join(folder(path), f"{what}.{os.getpid()}.tmp")


def row_shape(stored) -> tuple[int, ...]:
    """Shape of one ragged row from its ``shapes`` entry (padded with -1)."""
    return tuple(int(s) for s in stored if s >= 0)
