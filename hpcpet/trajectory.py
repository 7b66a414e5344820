"""The trajectory: a tree of parameters, an exploration, and the current run's results."""
from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

from .errors import ExplorationError, HpcpetError
from .exploration import Exploration, zip_exploration
from .naming import RESERVED, check_name, plain_result_name
from .parameters import Parameter, check_value


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


class RunView(dict):
    """What the run function receives as ``traj``: the current run's parameter values.

    A dict of dotted name -> value (so ``traj["x"]`` is a plain dict lookup),
    with attribute access (``traj.neuron.tau``), the run's :attr:`index`, and
    :meth:`add_result`.
    """

    # ``__dict__`` mirrors the top-level parameters so that ``traj.x`` is as fast as ``traj["x"]``
    __slots__ = ("index", "trajectory", "columns", "comments", "added", "comm", "_start", "_by_raw",
                 "_plain", "__dict__")

    @staticmethod
    def mirrors(name: str) -> bool:
        """Whether parameter ``name`` is also kept as an attribute (top-level, no clash)."""
        return "." not in name and not hasattr(RunView, name)

    def __init__(self, trajectory: "Trajectory"):
        super().__init__((n, p.default) for n, p in trajectory.parameters.items())
        self.__dict__.update((n, v) for n, v in self.items() if RunView.mirrors(n))
        self.trajectory = trajectory
        self.index: int | None = None
        #: MPI backend: the communicator of the ranks executing this run together (``--ranks-per-run``;
        #: a 1-rank communicator otherwise); None outside MPI
        self.comm = None
        self._plain: dict[str, str] = {}  # raw name -> plain name, kept for the worker's life
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

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"trajectory has no parameter or group {name!r}") from None

    def add_result(self, name: str, value: Any, comment: str = "") -> None:
        """Store a result of this run; see :meth:`Trajectory.add_result`."""
        col = self._by_raw.get(name)
        if col is None:
            col = self._column(name, comment)
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
    """

    def __init__(self, name: str = "trajectory", comment: str = ""):
        self.name = name
        self.comment = comment
        self.parameters: dict[str, Parameter] = {}
        self.exploration: Exploration | None = None
        self.global_results: dict[str, tuple[Any, str]] = {}
        self.frozen = False
        self._values: dict[str, Any] = {}

    # ------------------------------------------------------------------ building
    def add_parameter(self, name: str, default: Any, comment: str = "") -> Parameter:
        """Declare a parameter with its default value.

        Dotted names make groups (``neuron.tau``). A name cannot be both a
        parameter and a group of parameters.
        """
        self._check_unfrozen("add_parameter")
        check_name(name)
        if name in self.parameters:
            raise HpcpetError(f"parameter {name!r} is already defined")
        for other in self.parameters:
            if other.startswith(name + ".") or name.startswith(other + "."):
                raise HpcpetError(f"parameter {name!r} clashes with {other!r}: a name is a group or a leaf")
        param = Parameter(name, default, comment)
        top = name.split(".")[0]
        if hasattr(RunView, top) or hasattr(Trajectory, top):
            import warnings

            warnings.warn(f"parameter {name!r}: {top!r} is also an attribute of the trajectory, so "
                          f"use traj[{name!r}] in runs (traj.{name} gives the attribute)", stacklevel=2)
        self.parameters[name] = param
        self._values[name] = param.default
        return param

    def explore(self, exploration: Exploration | Mapping[str, Sequence[Any]]) -> None:
        """Set the runs: an :class:`Exploration` or a dict of equal-length lists (zipped).

        Every explored name must be a declared parameter.
        """
        self._check_unfrozen("explore")
        if not isinstance(exploration, Exploration):
            exploration = zip_exploration(exploration)
        missing = [n for n in exploration.names if n not in self.parameters]
        if missing:
            raise ExplorationError(
                f"cannot explore undeclared parameter(s) {', '.join(map(repr, missing))}; "
                "call add_parameter first"
            )
        for n in exploration.names:
            for v in exploration.axes[n][:1]:
                check_value(n, v)
        self.exploration = exploration

    def freeze(self) -> None:
        """Forbid further changes to parameters and exploration."""
        if self.exploration is None:
            # a trajectory without exploration has exactly one run, with the defaults
            first = next(iter(self.parameters), None)
            if first is None:
                raise ExplorationError("the trajectory has no parameters; add_parameter first")
            self.exploration = zip_exploration({first: [self.parameters[first].default]})
        self.frozen = True

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
        name without wildcards (``some_group.z``).
        """
        plain = plain_result_name(name)
        if plain in RESERVED:
            raise HpcpetError(f"result name {plain!r} is reserved")
        self.global_results[plain] = (check_value(plain, value), comment)

    def __repr__(self) -> str:
        return f"Trajectory({self.name!r}, {len(self.parameters)} parameters, {len(self)} runs)"
