"""Samplers: explorations of ``n`` points drawn in a box of bounds (``scipy.stats.qmc``, the ``sample`` extra).

Every sampler returns a zipped :class:`~hpcpet.exploration.Exploration` whose
``origin`` is a JSON-able description (sampler, seed, n, bounds, integer and
log options, scipy version) that, given to the same sampler again, gives the
same points. A sampler called without a seed draws one and records it.

>>> import hpcpet
>>> ex = hpcpet.sample.latin_hypercube({"x": (-5, 5), "k": (1, 10)}, n=8, seed=1, integer=["k"])
>>> len(ex), ex.origin["sampler"], ex.column("k").dtype.kind
(8, 'latin_hypercube', 'i')
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .errors import ExplorationError
from .exploration import Exploration
from .naming import check_name
from .seeds import new_base_seed

__all__ = ["uniform", "latin_hypercube", "sobol", "from_origin"]


def _qmc():
    try:
        from scipy.stats import qmc
    except ImportError:  # pragma: no cover - depends on the installation
        raise ExplorationError("hpcpet.sample needs scipy: pip install 'hpcpet[sample]'") from None
    return qmc


def _engine(cls, d: int, seed: int, **options):
    try:
        return cls(d, rng=np.random.default_rng(seed), **options)
    except TypeError:  # scipy < 1.15 names it seed
        return cls(d, seed=np.random.default_rng(seed), **options)


def _check(bounds: Mapping[str, Sequence[float]], n: int, seed: int | None,
           integer: Iterable[str], log: Iterable[str]) -> tuple[dict, int, int, list, list]:
    if not isinstance(bounds, Mapping) or not bounds:
        raise ExplorationError("a sampler takes a non-empty dict of name -> (low, high)")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ExplorationError(f"the number of points n must be an integer >= 1, got {n!r}")
    if seed is None:
        seed = new_base_seed()
    elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ExplorationError(f"the seed must be an integer >= 0, got {seed!r}")
    box: dict[str, tuple[float, float]] = {}
    for name, pair in bounds.items():
        check_name(name)
        try:
            lo, hi = pair
            lo, hi = float(lo), float(hi)
        except (TypeError, ValueError):
            raise ExplorationError(f"bounds of {name!r} must be a pair (low, high), got {pair!r}") from None
        if not (math.isfinite(lo) and math.isfinite(hi)) or not lo < hi:
            raise ExplorationError(f"bounds of {name!r} must be finite with low < high, got {pair!r}")
        box[name] = (lo, hi)
    options = []
    for what, names in (("integer", integer), ("log", log)):
        if isinstance(names, str):
            names = [names]
        names = list(names)
        unknown = [x for x in names if x not in box]
        if unknown:
            raise ExplorationError(f"{what}= names {', '.join(map(repr, unknown))} have no bounds "
                                   f"(bounds: {', '.join(box)})")
        options.append(names)
    integer, log = options
    for name in log:
        if box[name][0] <= 0:
            raise ExplorationError(f"log-scale bounds of {name!r} must be > 0, got {bounds[name]!r}")
    for name in integer:
        lo, hi = box[name]
        if lo != math.ceil(lo) or hi != math.floor(hi):
            raise ExplorationError(f"integer bounds of {name!r} must be whole numbers, got {bounds[name]!r}")
    return box, int(n), int(seed), integer, log


def _scale(unit: np.ndarray, box: dict, integer: list, log: list) -> dict[str, np.ndarray]:
    """Points of the unit cube mapped to the bounds: linear or log-scale; integers fill [low, high]."""
    columns = {}
    for j, (name, (lo, hi)) in enumerate(box.items()):
        u = unit[:, j]
        top = hi + 1 if name in integer else hi  # integers: each of low..high gets an equal share
        if name in log:
            values = np.exp(np.log(lo) + u * (np.log(top) - np.log(lo)))
        else:
            values = lo + u * (top - lo)
        if name in integer:
            values = np.clip(np.floor(values), lo, hi).astype(np.int64)
        columns[name] = values
    return columns


def _sample(sampler: str, draw: Callable[[int, int, int], np.ndarray], bounds, n, seed, integer, log,
            extra: dict | None = None) -> Exploration:
    box, n, seed, integer, log = _check(bounds, n, seed, integer, log)
    unit = draw(len(box), n, seed)
    try:
        import scipy

        version = scipy.__version__
    except ImportError:  # pragma: no cover
        version = ""
    origin = {"sampler": sampler, "seed": seed, "n": n,
              "bounds": {k: [int(v[0]), int(v[1])] if k in integer else [v[0], v[1]] for k, v in box.items()},
              "integer": integer, "log": log, "scipy": version, **(extra or {})}
    return Exploration("zip", _scale(unit, box, integer, log), origin=origin)


def uniform(bounds: Mapping[str, Sequence[float]], n: int, seed: int | None = None, *,
            integer: Iterable[str] = (), log: Iterable[str] = ()) -> Exploration:
    """``n`` independent uniform random points in the box ``bounds``.

    Parameters
    ----------
    bounds : mapping of str to (low, high)
        Parameter name -> its interval.
    n : int
        Number of runs.
    seed : int, optional
        Seed of :func:`numpy.random.default_rng`; drawn (and recorded in ``origin``) if None.
    integer : iterable of str
        Names whose values are integers in ``low .. high`` (both included, equally likely).
    log : iterable of str
        Names sampled uniformly in log scale (``low > 0``).

    Returns
    -------
    Exploration
        Zipped, ``n`` runs, with ``origin`` describing the sample.
    """
    return _sample("uniform", lambda d, k, s: np.random.default_rng(s).random((k, d)),
                   bounds, n, seed, integer, log)


def latin_hypercube(bounds: Mapping[str, Sequence[float]], n: int, seed: int | None = None, *,
                    integer: Iterable[str] = (), log: Iterable[str] = ()) -> Exploration:
    """``n`` points of a Latin hypercube (:class:`scipy.stats.qmc.LatinHypercube`) in ``bounds``.

    Each parameter's interval is cut into ``n`` equal strata with one point
    each. Parameters as for :func:`uniform`.
    """
    def draw(d: int, k: int, s: int) -> np.ndarray:
        return _engine(_qmc().LatinHypercube, d, s).random(k)

    return _sample("latin_hypercube", draw, bounds, n, seed, integer, log)


def sobol(bounds: Mapping[str, Sequence[float]], n: int, seed: int | None = None, *,
          integer: Iterable[str] = (), log: Iterable[str] = ()) -> Exploration:
    """The first ``n`` points of a scrambled Sobol' sequence (:class:`scipy.stats.qmc.Sobol`) in ``bounds``.

    Its balance properties need ``n`` to be a power of 2 (scipy warns
    otherwise). Parameters as for :func:`uniform`.
    """
    def draw(d: int, k: int, s: int) -> np.ndarray:
        return _engine(_qmc().Sobol, d, s, scramble=True).random(k)

    return _sample("sobol", draw, bounds, n, seed, integer, log)


def from_origin(origin: Mapping[str, Any]) -> Exploration:
    """The exploration a sampler's ``origin`` describes, drawn again (same scipy version: same points)."""
    samplers = {"uniform": uniform, "latin_hypercube": latin_hypercube, "sobol": sobol}
    name = origin.get("sampler") if isinstance(origin, Mapping) else None
    if name not in samplers:
        raise ExplorationError(f"not a sampler's description: {origin!r}")
    bounds = {k: tuple(v) for k, v in origin["bounds"].items()}
    return samplers[name](bounds, origin["n"], origin["seed"], integer=origin.get("integer", ()),
                          log=origin.get("log", ()))
