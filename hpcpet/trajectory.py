"""The trajectory: a tree of parameters, an exploration, and the current run's results.

Invariants: every explored value has its parameter's type (checked, and
widened, by :meth:`Trajectory.explore` and :meth:`Trajectory.expand`); once
the trajectory is frozen its parameters never change and its exploration
only grows, by whole segments appended after the existing runs.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

from .errors import ExplorationError, HpcpetError
from .exploration import Exploration, Segment, zip_exploration
from .naming import RESERVED, check_name, plain_result_name
from .parameters import Parameter, check_value, flatten

#: attributes of a run's ``traj`` computed on first use (a parameter of that name wins)
RUN_FACTS = ("seed", "generation")


class Group:
    """Attribute access into a dotted namespace: ``traj.neuron.tau``."""

    def __init__(self, lookup, prefix: str):
        self._lookup = lookup
        self._prefix = prefix

    def __getattr__(self, part: str) -> Any:
        if part.startswith("_"):
            raise AttributeError(part)
        try:
            return self._lookup(f"{self._prefix}.{part}")
        except KeyError:  # so that hasattr/getattr with a default work
            raise AttributeError(f"no parameter or group {self._prefix}.{part!s}") from None

    def __repr__(self) -> str:
        return f"<group {self._prefix}>"


def _cast(name: str, value: Any, dtype: Any) -> Any:
    """``value`` as numeric ``dtype`` (``add_result(..., dtype="float32")``)."""
    import numpy as np

    try:
        dt = np.dtype(dtype)
        if dt.kind not in "biufc":
            raise TypeError
        arr = np.asarray(value, dt)
    except (TypeError, ValueError):
        raise HpcpetError(f"result {name!r}: cannot store {type(value).__name__} as dtype {dtype!r}") from None
    return arr[()] if arr.ndim == 0 else arr


class _RunFact:
    """A computed attribute of a run (``traj.seed``) that a parameter or group of that name hides.

    A non-data descriptor: the instance's ``__dict__``, where parameters are mirrored, wins.
    """

    def __init__(self, fact):
        self.fact = fact
        self.__doc__ = fact.__doc__

    def __get__(self, obj, cls=None):
        return self if obj is None else self.fact(obj)


class RunView(dict):
    """What the run function receives as ``traj``: the current run's parameter values.

    A dict of dotted name -> value (so ``traj["x"]`` is a plain dict lookup),
    with attribute access (``traj.neuron.tau``), the run's :attr:`index`, and
    :meth:`add_result`.
    """

    # ``__dict__`` mirrors the top-level parameters and groups so that ``traj.x`` is as fast as
    # ``traj["x"]``. There is no ``__getattr__``: a class with one looks up every attribute
    # (``traj.x``, ``traj.add_result``, the engine's ``traj.added``) through a slow hook, which
    # cost ~0.3 us per run of a microsecond (an unknown name is Python's plain AttributeError).
    __slots__ = ("index", "trajectory", "columns", "comments", "options", "added", "comm", "_start", "_by_raw",
                 "_plain", "__dict__")

    @staticmethod
    def mirrors(name: str) -> bool:
        """Whether parameter ``name`` is also kept as an attribute (top-level, no clash)."""
        return "." not in name and (name in RUN_FACTS or not hasattr(RunView, name))

    def __init__(self, trajectory: "Trajectory"):
        super().__init__((n, p.default) for n, p in trajectory.parameters.items())
        attrs = self.__dict__
        for name in self:  # top-level groups, so that traj.neuron.tau needs no __getattr__
            top, dot, _ = name.partition(".")
            if dot and top not in self and top not in attrs and RunView.mirrors(top):
                attrs[top] = Group(self.__getitem__, top)
        attrs.update((n, v) for n, v in self.items() if RunView.mirrors(n))
        self.trajectory = trajectory
        self.index: int | None = None
        #: MPI backend: the communicator of the ranks executing this run together (``--ranks-per-run``;
        #: a 1-rank communicator otherwise); None outside MPI
        self.comm = None
        self._plain: dict[str, str] = {}  # raw name -> plain name, kept for the worker's life
        #: plain result name -> storage options (compression), kept for the worker's life
        self.options: dict[str, dict] = {}
        self.start_batch(0)

    def start_batch(self, start: int) -> None:
        """Begin collecting a batch whose first run is ``start`` (engine use)."""
        self._start = start
        #: plain result name -> one value per run of the batch so far
        self.columns: dict[str, list] = {}
        self.comments: dict[str, str] = {}
        #: values added in the current run (the engine checks it after each run)
        self.added = 0
        self._by_raw: dict[str, list] = {}

    def __missing__(self, name: str) -> Any:
        prefix = name + "."
        if any(p.startswith(prefix) for p in self):
            return Group(self.__getitem__, name)
        raise KeyError(f"no parameter {name!r}")

    @_RunFact
    def seed(self) -> int:
        """This run's seed (:meth:`run_seed`), unless a parameter or group is named ``seed``."""
        return self.run_seed()

    @_RunFact
    def generation(self) -> int:
        """The generation this run belongs to, unless a parameter or group is named ``generation``."""
        return self.trajectory.exploration.generation_of(self.index)

    def run_seed(self) -> int:
        """This run's seed (``traj.seed``): from the study's base seed and the run index.

        See :func:`hpcpet.seeds.run_seed`; the same on every backend and in a resume.
        """
        from .seeds import run_seed

        base = self.trajectory.base_seed
        if base is None:
            raise HpcpetError("traj.seed: the study has no base seed (run it with an Environment)")
        return run_seed(base, self.index)

    def add_result(self, name: str, value: Any, comment: str = "", *, compression: str | None = None,
                   dtype: Any = None) -> None:
        """Store a result of this run; see :meth:`Trajectory.add_result`.

        A dict stores each item as a sub-result (``add_result("out", {"rate": r})``
        stores ``out.rate``; nested dicts nest), as pypet's multi-item results.
        ``compression``: this result's compression in the file (e.g. ``"zstd"``,
        see ``--compression``). ``dtype``: store the value converted to this
        numeric dtype (e.g. ``"float32"``: half the space, at float32 precision).
        """
        if type(value) is dict:
            for key, item in value.items():
                self.add_result(f"{name}.{key}", item, comment, compression=compression, dtype=dtype)
            return
        if dtype is not None:
            value = _cast(name, value, dtype)
        col = self._by_raw.get(name)
        if col is None:
            col = self._column(name, comment)
            if compression is not None:
                self.options[self._plain[name]] = {"compression": compression}
        col.append(value)
        self.added += 1

    def _column(self, name: str, comment: str, internal: bool = False) -> list:
        plain = self._plain.get(name)
        if plain is None:
            plain = name if internal else plain_result_name(name)
            if plain in RESERVED and not internal:
                raise HpcpetError(f"result name {plain!r} is reserved")
            self._plain[name] = plain
        col = self.columns.get(plain)
        if col is None:  # first value in this batch: earlier runs have none
            col = self.columns[plain] = [None] * (self.index - self._start)
        self._by_raw[name] = col
        if comment:
            self.comments.setdefault(plain, comment)
        return col

    def end_run(self, k: int, failed: bool = False) -> None:
        """Make every column hold exactly one value for runs ``0..k`` of the batch.

        A run that failed, or did not add a result, gets None in that column;
        a result added twice in one run keeps its last value.
        """
        for col in self.columns.values():
            if failed:
                del col[k:]
                col.append(None)
            elif len(col) == k:
                col.append(None)
            elif len(col) > k + 1:
                col[k:] = [col[-1]]
        self.added = 0

    def __reduce__(self):
        return (RunView, (self.trajectory,))

    def __repr__(self) -> str:
        return f"<run {self.index}: {dict(self)}>"


class Trajectory:
    """Parameters and their exploration, built once on the master and then frozen.

    Inside a run the same object gives the run's parameter values by dotted
    name (``traj["neuron.tau"]`` or ``traj.neuron.tau``) and collects results
    with :meth:`add_result`.

    Parameters
    ----------
    name : str
        A label stored in the file.
    comment : str
        Free text stored in the file.
    presets : mapping of str to value, optional
        Values that replace the defaults of the named parameters when they are
        declared (pypet's presetting); see :meth:`preset`.

    Attributes
    ----------
    base_seed : int or None
        The study's base seed, from which every run's ``traj.seed`` derives
        (set by :class:`~hpcpet.Environment`).
    presets : dict
        Parameter name -> preset value, as given (text from the command line stays text).
    """

    def __init__(self, name: str = "trajectory", comment: str = "",
                 presets: Mapping[str, Any] | None = None):
        self.name = name
        self.comment = comment
        self.parameters: dict[str, Parameter] = {}
        self.exploration: Exploration | None = None
        self.global_results: dict[str, tuple[Any, str]] = {}
        self.frozen = False
        self.base_seed: int | None = None
        self.presets: dict[str, Any] = {}
        self._values: dict[str, Any] = {}
        for n, v in (presets or {}).items():
            self.preset(n, v)

    # ------------------------------------------------------------------ building
    def add_parameter(self, name: str, default: Any, comment: str = "") -> Parameter | list[Parameter]:
        """Declare a parameter with its default value.

        Dotted names make groups (``neuron.tau``). A name cannot be both a
        parameter and a group of parameters. A (nested) dict declares one
        parameter per leaf under dotted names (``add_parameter("neuron",
        {"tau": 10.0})`` declares ``neuron.tau``) and returns them as a list.
        A default of None declares a parameter of any type.
        A preset of the name (see :meth:`preset`) replaces ``default``.
        """
        self._check_unfrozen("add_parameter")
        check_name(name)
        if isinstance(default, dict):
            if not default:
                raise HpcpetError(f"parameter {name!r}: an empty dict declares no parameter")
            leaves = flatten(name, default)
            for leaf, value in leaves.items():  # all or nothing
                Parameter(leaf, value)
                self._check_free(leaf)
            return [self.add_parameter(leaf, value, comment) for leaf, value in leaves.items()]
        self._check_free(name)
        param = Parameter(name, default, comment)
        if name in self.presets:
            param.default = param.parse(self.presets[name])
        top = name.split(".")[0]
        if top in RUN_FACTS or hasattr(RunView, top) or hasattr(Trajectory, top):
            import warnings

            warnings.warn(f"parameter {name!r}: {top!r} is also an attribute of the trajectory, so "
                          f"use traj[{name!r}] in runs (traj.{name} gives the attribute)"
                          if top not in RUN_FACTS else
                          f"parameter {name!r}: in runs traj.{top} gives this parameter, not the run's "
                          f"{top}", stacklevel=2)
        self.parameters[name] = param
        self._values[name] = param.default
        return param

    def _check_free(self, name: str) -> None:
        if name in self.parameters:
            raise HpcpetError(f"parameter {name!r} is already defined")
        for other in self.parameters:
            if other.startswith(name + ".") or name.startswith(other + "."):
                raise HpcpetError(f"parameter {name!r} clashes with {other!r}: a name is a group or a leaf")

    def preset(self, name: str, value: Any) -> None:
        """Replace the default of parameter ``name`` by ``value`` (pypet's ``f_preset_parameter``).

        Call it before or after the parameter is declared, but before runs
        start; text (``"0.05"``) is read as the parameter's type. A preset of a
        name that is never declared is an error when the trajectory freezes.
        """
        self._check_unfrozen("preset")
        check_name(name)
        param = self.parameters.get(name)
        if param is not None:
            param.default = param.parse(value)
            self._values[name] = param.default
        self.presets[name] = value

    def explore(self, exploration: Exploration | Mapping[str, Sequence[Any]]) -> None:
        """Set the runs: an :class:`Exploration` or a dict of equal-length lists (zipped).

        Every explored name must be a declared parameter and every value of
        the parameter's type (ints widen to float where it is declared float).
        Once only: add runs to an explored trajectory with :meth:`expand`.
        """
        self._check_unfrozen("explore")
        if self.exploration is not None:
            raise ExplorationError("the trajectory is already explored; add runs with "
                                   "traj.expand(points) instead of a second explore")
        self.exploration = self._checked(exploration)

    def expand(self, points: Exploration | Mapping[str, Sequence[Any]]) -> range:
        """Add runs after the existing ones, as the next generation; return their indices.

        ``points`` is an :class:`Exploration` or a dict of equal-length lists
        (zipped) over exactly the explored parameters. Without an exploration
        yet, this is :meth:`explore`. Allowed on a frozen trajectory (a study
        being extended): the parameters stay as they are.
        """
        points = self._checked(points)
        if self.exploration is None:
            self.exploration = points
            return range(0, len(points))
        old = len(self.exploration)
        self.exploration = self.exploration.expanded(points)
        return range(old, len(self.exploration))

    def append_segments(self, segments: Sequence[Segment]) -> range:
        """Add segments made by :meth:`expand` elsewhere (on the master) to the exploration.

        What a worker does with a new generation: only the new segments
        travel. The values were checked by the master's :meth:`expand`.
        Returns the new runs' indices.
        """
        old = len(self.exploration)
        self.exploration = Exploration.from_segments([*self.exploration.segments, *segments])
        return range(old, len(self.exploration))

    def _checked(self, exploration: Exploration | Mapping[str, Sequence[Any]]) -> Exploration:
        """``exploration`` with every value checked against (and widened to) its parameter's type."""
        if not isinstance(exploration, Exploration):
            exploration = zip_exploration(exploration)
        missing = [n for n in exploration.names if n not in self.parameters]
        if missing:
            raise ExplorationError(
                f"cannot explore undeclared parameter(s) {', '.join(map(repr, missing))}; "
                "call add_parameter first"
            )
        segments = []
        for seg in exploration.segments:
            axes = {n: self.parameters[n].check_values(a) for n, a in seg.axes.items()}
            if all(axes[n] is seg.axes[n] for n in axes):
                segments.append(seg)
            else:
                segments.append(Segment(seg.kind, axes, seg.groups, seg.generation, seg.origin))
        if all(a is b for a, b in zip(segments, exploration.segments)):
            return exploration
        return Exploration.from_segments(segments)

    def freeze(self) -> None:
        """Forbid further changes to parameters (the exploration may still :meth:`expand`)."""
        unknown = [n for n in self.presets if n not in self.parameters]
        if unknown:
            raise HpcpetError(f"preset of undeclared parameter(s) {', '.join(map(repr, unknown))}; "
                              f"declared: {', '.join(self.parameters) or 'none'}")
        if self.exploration is None:
            # a trajectory without exploration has exactly one run, with the defaults
            if not self.parameters:
                raise ExplorationError("the trajectory has no parameters; add_parameter first")
            first = next((n for n, p in self.parameters.items() if p.default is not None), None)
            if first is None:
                raise ExplorationError("every parameter's default is None: explore at least one of them")
            self.exploration = zip_exploration({first: [self.parameters[first].default]})
        self.frozen = True

    def restore(self, seed: int | None, presets: Mapping[str, Any]) -> None:
        """Take a study's recorded base seed and presets back (resume; allowed when frozen).

        The base seed is taken if none is set; a recorded preset not given
        again replaces the parameter's default, as it did in the first session.
        """
        if self.base_seed is None and seed is not None:
            self.base_seed = int(seed)
        for name, value in presets.items():
            if name not in self.presets and name in self.parameters:
                param = self.parameters[name]
                param.default = param.parse(value)
                self._values[name] = param.default
                self.presets[name] = value

    def _check_unfrozen(self, what: str) -> None:
        if self.frozen:
            raise HpcpetError(f"{what}: the trajectory is frozen once runs start")

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.exploration) if self.exploration is not None else 1

    def __getitem__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            return self._lookup(name)

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def _lookup(self, name: str) -> Any:
        if name in self._values:
            return self._values[name]
        prefix = name + "."
        if any(p.startswith(prefix) for p in self._values):
            return Group(self._lookup, name)
        raise KeyError(f"no parameter {name!r}")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._lookup(name)
        except KeyError:
            raise AttributeError(f"trajectory has no parameter or group {name!r}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.parameters)

    @property
    def explored(self) -> dict[str, Any]:
        """Explored parameter name -> its values in run order (numpy arrays)."""
        return self.exploration.columns() if self.exploration else {}

    # ------------------------------------------------------------------ results
    def add_result(self, name: str, value: Any, comment: str = "") -> None:
        """Store a result: inside ``run(traj)`` one per run, outside runs a global result.

        ``name`` may contain ``$`` (the run) and ``$set`` (its bucket), as in
        ``"some_group.$set.$.z"``; results are stored and loaded under the
        name without wildcards (``some_group.z``). Global results are added
        before the runs start (in ``build``); to add one to a finished file use
        ``with hpcpet.load(path, mode="a") as t: t.add_result(name, value)``.
        """
        plain = plain_result_name(name)
        if plain in RESERVED:
            raise HpcpetError(f"result name {plain!r} is reserved")
        if self.frozen:
            raise HpcpetError(
                f"add_result({name!r}) on the master after the runs started would never be stored; "
                f"add results to a finished file with: with hpcpet.load(path, mode=\"a\") as t: "
                f"t.add_result({name!r}, value)")
        self.global_results[plain] = (check_value(plain, value), comment)

    def __repr__(self) -> str:
        return f"Trajectory({self.name!r}, {len(self.parameters)} parameters, {len(self)} runs)"
