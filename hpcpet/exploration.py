"""Explorations: which parameter values each run sees.

An exploration is a sequence of *segments*, each a cartesian product (kept as
its axes) or zipped columns, with the generation it belongs to. The runs of
segment ``k`` follow those of segment ``k - 1``; every segment explores the
same parameter names. An exploration is never modified: :meth:`Exploration.expanded`
returns a new one that shares the old segments, so only the new segment needs
to travel to workers. Columns for any slice of runs are computed on demand,
so workers receive kilobytes, not the expanded product.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .errors import ExplorationError
from .naming import check_name

KINDS = ("cartesian", "zip")


def _cartesian_column(axis: np.ndarray, inner: int, start: int, stop: int) -> np.ndarray:
    """``axis[(k // inner) % len(axis)]`` for runs ``k = start .. stop-1``, without per-run arithmetic.

    Each value of the axis repeats for ``inner`` consecutive runs, and the
    whole pattern every ``inner * len(axis)`` runs: a range longer than that
    pattern is the pattern tiled; a shorter one repeats each step it touches
    as often as it overlaps it (~15x faster than indexing run by run).
    """
    n = max(stop - start, 0)
    period = inner * len(axis)
    if n == 0:
        return axis[:0]
    if period <= n:
        pattern = np.repeat(axis, inner, axis=0)
        first = start % period
        tiled = np.tile(pattern, (-(-(first + n) // period),) + (1,) * (axis.ndim - 1))
        return tiled[first:first + n]
    first, last = start // inner, (stop - 1) // inner
    counts = np.full(last - first + 1, inner, np.int64)
    counts[0] -= start - first * inner
    counts[-1] -= (last + 1) * inner - stop
    return np.repeat(axis[np.arange(first, last + 1) % len(axis)], counts, axis=0)


def _as_column(name: str, values: Any) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.ndim >= 1:
        col = values
    else:
        if isinstance(values, (str, bytes)):
            raise ExplorationError(f"explored values of {name!r} must be a sequence of values, got a string")
        try:
            values = list(values)
        except TypeError:
            raise ExplorationError(f"explored values of {name!r} must be a sequence") from None
        if not values:
            raise ExplorationError(f"explored values of {name!r} are empty")
        try:
            col = np.asarray(values)
        except ValueError:  # inhomogeneous shapes
            col = np.empty(0, object)
        if col.dtype.kind in "US" and not all(isinstance(v, (str, bytes, np.str_, np.bytes_))
                                              for v in np.ravel(np.asarray(values, object))):
            col = np.empty(0, object)  # numpy turned mixed numbers and text into text
    if col.dtype.kind == "O":
        raise ExplorationError(
            f"explored values of {name!r} mix types or shapes; use one type per parameter"
        )
    if col.dtype.kind not in "biufcUS":
        raise ExplorationError(f"explored values of {name!r} have unsupported dtype {col.dtype}")
    if len(col) == 0:
        raise ExplorationError(f"explored values of {name!r} are empty")
    if col.dtype.kind in "US" and col.ndim == 1:
        _check_trailing_nul(name, col, values)
    return col


def _check_trailing_nul(name: str, col: np.ndarray, values: Any) -> None:
    """Numpy strings drop trailing NUL characters: refuse values that would not come back equal."""
    nul = "\x00" if col.dtype.kind == "U" else b"\x00"
    source = values if not isinstance(values, np.ndarray) else None
    if source is None:
        return  # a numpy array already holds what numpy can hold
    for v in source:
        if isinstance(v, (str, bytes)) and v.endswith(nul):
            raise ExplorationError(f"explored value {v!r} of {name!r} ends with a NUL character, "
                                   "which numpy strings drop; remove it")


class Segment:
    """One piece of an exploration: a cartesian product or zipped columns of one generation.

    Attributes
    ----------
    kind : str
        ``"cartesian"`` or ``"zip"``.
    axes : dict[str, numpy.ndarray]
        For ``cartesian``: each parameter's own values, first axis slowest.
        For ``zip``: each parameter's column in run order.
    groups : list[tuple[str, ...]]
        For ``cartesian``: the names of each axis (more than one name for
        parameters combined into one axis, which then have equal lengths).
        For ``zip``: one group holding every name.
    generation : int
        The generation the segment's runs belong to.
    origin : dict or None
        A JSON-able description of how the values were made (e.g. a sampler,
        its seed and bounds), or None.
    """

    __slots__ = ("kind", "axes", "groups", "generation", "origin", "shape", "_len", "_inner")

    def __init__(self, kind: str, axes: Mapping[str, Any], groups: Sequence[Sequence[str]] | None = None,
                 generation: int = 0, origin: dict | None = None):
        if kind not in KINDS:
            raise ExplorationError(f"unknown exploration kind {kind!r}")
        if not isinstance(axes, Mapping):
            raise ExplorationError("an exploration takes a dict of name -> values")
        self.kind = kind
        self.axes = {check_name(n): _as_column(n, v) for n, v in axes.items()}
        if not self.axes:
            raise ExplorationError("an exploration needs at least one parameter")
        if int(generation) < 0:
            raise ExplorationError(f"generation must be >= 0, got {generation}")
        self.generation = int(generation)
        self.origin = origin
        if kind == "zip":
            self.groups = [tuple(self.axes)]
        elif groups is None:
            self.groups = [(n,) for n in self.axes]
        else:
            self.groups = [tuple(g) for g in groups]
            flat = [n for g in self.groups for n in g]
            if sorted(flat) != sorted(self.axes) or len(set(flat)) != len(flat):
                raise ExplorationError(f"axis groups {self.groups} do not name every parameter "
                                       f"{list(self.axes)} exactly once")
        for group in self.groups:
            lengths = {n: len(self.axes[n]) for n in group}
            if len(set(lengths.values())) > 1:
                detail = ", ".join(f"{n}: {k}" for n, k in lengths.items())
                what = "explored lists" if kind == "zip" else "combined parameters"
                raise ExplorationError(f"{what} have different lengths ({detail})")
        self.shape = tuple(len(self.axes[g[0]]) for g in self.groups)
        self._len = int(np.prod(self.shape, dtype=np.int64))
        #: name -> (runs per step of its axis, axis length), for cartesian columns
        self._inner: dict[str, tuple[int, int]] = {}
        for pos, group in enumerate(self.groups):
            inner = int(np.prod(self.shape[pos + 1:], dtype=np.int64))
            for n in group:
                self._inner[n] = (inner, self.shape[pos])

    @property
    def names(self) -> list[str]:
        """Explored parameter names, in order."""
        return list(self.axes)

    @property
    def combined(self) -> bool:
        """Whether some cartesian axis holds more than one parameter."""
        return self.kind == "cartesian" and any(len(g) > 1 for g in self.groups)

    def __len__(self) -> int:
        return self._len

    def column(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Values of ``name`` for this segment's runs ``start .. stop-1`` (segment-local indices)."""
        stop = self._len if stop is None else min(stop, self._len)
        axis = self.axes[name]
        if self.kind == "zip":
            return axis[start:stop]
        inner, length = self._inner[name]
        return _cartesian_column(axis, inner, start, stop)

    def fingerprint_into(self, h) -> None:
        """Feed the segment's kind, names and values (and axis groups if combined) to hash ``h``."""
        h.update(self.kind.encode())
        for n, c in self.axes.items():
            h.update(n.encode())
            h.update(str(c.dtype).encode())
            h.update(np.ascontiguousarray(c).tobytes())
        if self.combined:
            h.update(repr(self.groups).encode())

    def with_generation(self, generation: int) -> "Segment":
        """The same segment in another generation."""
        seg = object.__new__(Segment)
        for slot in Segment.__slots__:
            setattr(seg, slot, getattr(self, slot))
        seg.generation = int(generation)
        return seg

    def describe(self) -> dict:
        """A JSON-able summary: kind, names, shape, groups, generation, origin."""
        return {"kind": self.kind, "names": self.names, "shape": list(self.shape),
                "groups": [list(g) for g in self.groups], "generation": self.generation,
                "runs": len(self), "origin": self.origin}

    def __repr__(self) -> str:
        return f"Segment({self.kind}, {len(self)} runs, {self.names}, generation {self.generation})"


class Exploration:
    """Values of the explored parameters for every run: one or more segments.

    Build one with :func:`cartesian_product`, :func:`zip_exploration` or a
    sampler of :mod:`hpcpet.sample` (``Trajectory.explore`` accepts a plain
    dict of equal-length sequences and zips it); :meth:`expanded` adds runs.

    Parameters
    ----------
    kind : str
        ``"cartesian"`` or ``"zip"``: an exploration of one segment.
    axes : mapping of str to sequence
        See :class:`Segment`.
    groups, generation, origin
        See :class:`Segment`.

    Attributes
    ----------
    segments : tuple[Segment, ...]
        The pieces, in run order.
    starts : numpy.ndarray
        int64, ``len(segments) + 1`` entries: the first run of each segment, then the number of runs.
    """

    def __init__(self, kind: str, axes: Mapping[str, Any], groups: Sequence[Sequence[str]] | None = None,
                 generation: int = 0, origin: dict | None = None):
        self._set_segments([Segment(kind, axes, groups, generation, origin)])

    @classmethod
    def from_segments(cls, segments: Iterable[Segment]) -> "Exploration":
        """An exploration made of ``segments`` in this order (they must explore the same names)."""
        expl = object.__new__(cls)
        expl._set_segments(list(segments))
        return expl

    def _set_segments(self, segments: list[Segment]) -> None:
        if not segments:
            raise ExplorationError("an exploration needs at least one segment")
        first = segments[0]
        self._dtypes: dict[str, np.dtype] = {}
        for seg in segments[1:]:
            if set(seg.names) != set(first.names):
                raise ExplorationError(
                    f"every piece of an exploration explores the same parameters: "
                    f"{', '.join(first.names)} != {', '.join(seg.names)}")
        for n in first.names:
            axes = [seg.axes[n] for seg in segments]
            kinds = {_KIND_OF.get(a.dtype.kind, a.dtype.kind) for a in axes}
            if len(kinds) > 1 and kinds != {"int", "float"}:
                raise ExplorationError(f"the pieces of the exploration give {n!r} values of different "
                                       f"types ({', '.join(sorted(kinds))})")
            if len({a.shape[1:] for a in axes}) > 1:
                raise ExplorationError(f"the pieces of the exploration give {n!r} values of different "
                                       f"shapes ({', '.join(str(a.shape[1:]) for a in axes)})")
            self._dtypes[n] = np.result_type(*axes)
        self.segments = tuple(segments)
        lengths = [len(s) for s in segments]
        self.starts = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64)
        self._len = int(self.starts[-1])
        self._one = segments[0] if len(segments) == 1 else None

    # ------------------------------------------------------------------ one segment (as before)
    def _only(self, what: str) -> Segment:
        if self._one is None:
            raise ExplorationError(f"this exploration has {len(self.segments)} segments; {what} is defined "
                                   "per segment (see Exploration.segments)")
        return self._one

    @property
    def kind(self) -> str:
        """``"cartesian"`` or ``"zip"`` for one segment, ``"segments"`` for several."""
        return self._one.kind if self._one is not None else "segments"

    @property
    def axes(self) -> dict[str, np.ndarray]:
        """The only segment's axes (see :class:`Segment`); an error for several segments."""
        return self._only("axes").axes

    @property
    def shape(self) -> tuple[int, ...]:
        """Grid shape of the only segment: one length per axis (cartesian) or ``(n_runs,)`` (zip).

        ``(n_runs,)`` for several segments.
        """
        return self._one.shape if self._one is not None else (self._len,)

    @property
    def groups(self) -> list[tuple[str, ...]]:
        """The only segment's axis groups (see :class:`Segment`)."""
        return self._only("groups").groups

    @property
    def origin(self) -> dict | None:
        """How the only segment's values were made (a sampler's description), or None."""
        return self._only("origin").origin

    # ------------------------------------------------------------------ every segment
    @property
    def names(self) -> list[str]:
        """Explored parameter names, in order."""
        return self.segments[0].names

    def __len__(self) -> int:
        return self._len

    @property
    def generations(self) -> int:
        """Number of generations: the highest generation number plus one."""
        return max(s.generation for s in self.segments) + 1

    def generation_column(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Generation of runs ``start .. stop-1`` (int64)."""
        stop = self._len if stop is None else min(stop, self._len)
        start = min(max(start, 0), stop)
        if self._one is not None:
            return np.full(stop - start, self._one.generation, np.int64)
        first = max(int(np.searchsorted(self.starts, start, "right")) - 1, 0)
        last = int(np.searchsorted(self.starts, stop, "left"))  # segments first .. last-1 hold the runs
        gens = np.array([s.generation for s in self.segments[first:last]], np.int64)
        lengths = np.diff(np.clip(self.starts[first:last + 1], start, stop))
        return np.repeat(gens, lengths)

    @property
    def generation(self) -> np.ndarray:
        """Generation of every run (int64, one per run)."""
        return self.generation_column()

    def generation_of(self, index: int) -> int:
        """Generation of run ``index``."""
        if self._one is not None:
            return self._one.generation
        return self.segments[self.segment_of(index)].generation

    def segment_of(self, index: int) -> int:
        """Position in :attr:`segments` of the segment holding run ``index``."""
        if not 0 <= index < self._len:
            raise IndexError(f"run {index} out of range 0..{self._len - 1}")
        return int(np.searchsorted(self.starts, index, "right")) - 1

    def column(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Values of parameter ``name`` for runs ``start .. stop-1``, in run order."""
        if self._one is not None:
            return self._one.column(name, start, stop)
        stop = self._len if stop is None else min(stop, self._len)
        start = min(max(start, 0), stop)
        dtype = self._dtypes[name]
        first = int(np.searchsorted(self.starts, start, "right")) - 1
        pieces = []
        for k in range(max(first, 0), len(self.segments)):
            lo = int(self.starts[k])
            if lo >= stop:
                break
            seg = self.segments[k]
            pieces.append(seg.column(name, max(start - lo, 0), stop - lo).astype(dtype, copy=False))
        if not pieces:
            return np.empty((0,) + self.segments[0].axes[name].shape[1:], dtype)
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    def columns(self, start: int = 0, stop: int | None = None) -> dict[str, np.ndarray]:
        """All explored columns for runs ``start .. stop-1``."""
        return {n: self.column(n, start, stop) for n in self.names}

    def point(self, index: int) -> dict[str, Any]:
        """Explored values of run ``index`` as Python/numpy scalars."""
        if not 0 <= index < self._len:
            raise IndexError(f"run {index} out of range 0..{self._len - 1}")
        return {n: c[0] for n, c in self.columns(index, index + 1).items()}

    def fingerprint(self) -> str:
        """A hash that identifies this exploration (its segments' kinds, names, values, generations).

        One segment of generation 0 hashes as explorations always did.
        """
        import hashlib

        if self._one is not None and self._one.generation == 0:
            h = hashlib.sha256()
            self._one.fingerprint_into(h)
            return h.hexdigest()[:16]
        return self._hash().hexdigest()[:16]

    def _hash(self):
        """The hash of every segment in order, computed once; :meth:`expanded` continues its parent's."""
        h = self.__dict__.get("_segments_hash")
        if h is None:
            import hashlib

            done, parent = self.__dict__.pop("_parent_hash", (0, None))
            h = hashlib.sha256() if parent is None else parent.copy()
            for seg in self.segments[done:]:
                h.update(b"segment %d" % seg.generation)
                seg.fingerprint_into(h)
            self._segments_hash = h
        return h

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)  # hash objects do not pickle; a copy computes its own when asked
        state.pop("_segments_hash", None)
        state.pop("_parent_hash", None)
        return state

    def expanded(self, more: "Exploration | Mapping[str, Sequence[Any]]",
                 generation: int | None = None) -> "Exploration":
        """This exploration followed by the runs of ``more`` (a dict of equal-length lists is zipped).

        Every segment of ``more`` joins generation ``generation`` (default: the
        next one, :attr:`generations`). ``more`` must explore the same names.
        """
        if not isinstance(more, Exploration):
            more = zip_exploration(more)
        if set(more.names) != set(self.names):
            raise ExplorationError(
                f"expand needs values for exactly the explored parameters ({', '.join(self.names)}); "
                f"got {', '.join(more.names)}")
        gen = self.generations if generation is None else int(generation)
        grown = Exploration.from_segments([*self.segments, *(s.with_generation(gen) for s in more.segments)])
        if "_segments_hash" in self.__dict__:  # its fingerprint hashes only the new segments
            grown._parent_hash = (len(self.segments), self._segments_hash)
        return grown

    def describe(self) -> list[dict]:
        """A JSON-able description of every segment (see :meth:`Segment.describe`)."""
        return [s.describe() for s in self.segments]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Exploration) and self.fingerprint() == other.fingerprint()

    def __hash__(self) -> int:
        return hash(self.fingerprint())

    def __repr__(self) -> str:
        if self._one is not None:
            return f"Exploration({self.kind}, {len(self)} runs, {self.names})"
        return f"Exploration({len(self.segments)} segments, {len(self)} runs, {self.names})"


#: numpy dtype kind -> the type name used in messages
_KIND_OF = {"b": "bool", "i": "int", "u": "int", "f": "float", "c": "complex", "U": "str", "S": "bytes"}


def cartesian_product(axes: Mapping[str, Sequence[Any]],
                      combined: Sequence[Sequence[str]] = ()) -> Exploration:
    """All combinations of the given values; the first name varies slowest.

    Parameters
    ----------
    axes : mapping of str to sequence
        Parameter name -> the values it takes.
    combined : sequence of tuples of names
        Parameters that vary together as one axis (pypet's
        ``combined_parameters``): the names of one tuple take their ``i``-th
        values in the same run, so they need equal lengths. The axis sits
        where its first-listed name sits in ``axes``.

    Returns
    -------
    Exploration
        ``prod(len(axis))`` runs.
    """
    if not isinstance(axes, Mapping):
        raise ExplorationError("cartesian_product takes a dict of name -> values")
    if isinstance(combined, (str, bytes)) or not isinstance(combined, (list, tuple)):
        raise ExplorationError("combined takes a list of tuples of parameter names, e.g. [('a', 'b')]")
    if not combined:
        return Exploration("cartesian", dict(axes))
    member: dict[str, int] = {}
    for k, group in enumerate(combined):
        if isinstance(group, str) or not isinstance(group, (list, tuple)) or not group:
            raise ExplorationError(f"combined takes tuples of parameter names, got {group!r}")
        for n in group:
            if n not in axes:
                raise ExplorationError(f"combined parameter {n!r} is not among the explored names "
                                       f"({', '.join(map(str, axes))})")
            if n in member:
                raise ExplorationError(f"parameter {n!r} is in more than one combined tuple")
            member[n] = k
    groups: list[tuple[str, ...]] = []
    placed: set[int] = set()
    for n in axes:
        k = member.get(n)
        if k is None:
            groups.append((n,))
        elif k not in placed:
            placed.add(k)
            groups.append(tuple(combined[k]))
    order = [n for g in groups for n in g]
    return Exploration("cartesian", {n: axes[n] for n in order}, groups=groups)


def zip_exploration(columns: Mapping[str, Sequence[Any]]) -> Exploration:
    """Run ``i`` takes the ``i``-th value of every list; all lists have equal length."""
    if not isinstance(columns, Mapping):
        raise ExplorationError("explore takes a dict of name -> values")
    return Exploration("zip", dict(columns))
