"""Per-run seeds: an integer for every run, a function of the study's base seed and the run index only.

So a run's seed is the same whatever the backend, the batch size, the part
or a resume; runs' seeds are independent streams in the sense of
:class:`numpy.random.SeedSequence` (``spawn_key=(index,)``).
"""
from __future__ import annotations

import secrets

import numpy as np

from .errors import HpcpetError

#: base seeds are below this, so that an HDF5 int64 attribute holds them
MAX_BASE_SEED = 2 ** 63


def check_base_seed(seed: object) -> int:
    """``seed`` as an int in ``0 .. 2**63 - 1``, or a one-line error."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise HpcpetError(f"the seed must be an integer, got {seed!r}")
    if not 0 <= int(seed) < MAX_BASE_SEED:
        raise HpcpetError(f"the seed must be in 0 .. 2**63 - 1, got {seed}")
    return int(seed)


def new_base_seed() -> int:
    """A random base seed (recorded by the study so that its runs can be repeated)."""
    return secrets.randbits(63)


def seed_of_exploration(exploration) -> int:
    """A base seed that is a function of the exploration only (for parts run without a seed)."""
    return int(exploration.fingerprint(), 16) >> 1


def run_seed(base: int, index: int) -> int:
    """The seed of run ``index`` in a study of base seed ``base`` (a 64-bit unsigned int).

    >>> run_seed(1, 0) == run_seed(1, 0) != run_seed(1, 1)
    True
    """
    return int(np.random.SeedSequence(base, spawn_key=(index,)).generate_state(1, np.uint64)[0])
