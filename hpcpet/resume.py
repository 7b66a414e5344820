"""Resume: complete a results file by running exactly the runs that are not done.

The file says which runs are done (``runs/status``); the experiment file it
records (attrs ``experiment_path`` and ``experiment_hash``) gives the run
function and, through its ``build()``, the trajectory, whose exploration
must have the file's fingerprint. A file written from Python (no experiment
file) is resumed with the function passed in, using the parameters and
exploration stored in the file, or the caller's own trajectory
(:meth:`hpcpet.Environment.resume`).
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable

import h5py
import numpy as np

from . import layout as L
from .backends import Backend, get_backend
from .engine import FrozenInput
from .errors import FileFormatError, HpcpetError
from .experiment import Experiment, load_experiment
from .exploration import Exploration
from .trajectory import Trajectory
from .writer import Writer, now, open_h5


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_header(path: str) -> dict[str, Any]:
    """The file attributes resume needs, read without opening the file for writing."""
    if not os.path.exists(path):
        raise HpcpetError(f"file not found: {path}")
    h5 = open_h5(path, "r")
    try:
        if L.FORMAT_ATTR not in h5.attrs:
            raise FileFormatError(f"{path} is not an hpcpet results file")
        a = h5.attrs
        return {k: _text(a[k]) if isinstance(a[k], (bytes, str)) else a[k] for k in a}
    except (KeyError, OSError, RuntimeError) as exc:
        raise FileFormatError(f"{path} is damaged: {exc}") from None
    finally:
        h5.close()


def check_experiment(path: str, header: dict[str, Any], experiment: str | None = None,
                     force: bool = False) -> Experiment:
    """Load the experiment file recorded in ``header`` (or ``experiment``) and check its hash.

    Raises :class:`HpcpetError` if it changed since the file was written,
    unless ``force``.
    """
    recorded = header.get("experiment_path", "")
    exp_path = experiment or recorded
    if not exp_path:
        raise HpcpetError(
            f"{path} was written from Python, not from an experiment file, so resume needs the run "
            "function: call hpcpet.resume(path, function) or Environment(traj, path).resume(function)")
    if not os.path.isfile(exp_path):
        raise HpcpetError(
            f"experiment file {exp_path} (recorded in {path}) not found; pass --experiment PATH "
            f"if it moved (its text is stored in {path}, dataset {L.EXPERIMENT_SOURCE})")
    exp = load_experiment(exp_path)
    want = header.get("experiment_hash", "")
    if want and exp.source_hash != want and not force:
        raise HpcpetError(
            f"experiment file {exp.path} changed since {path} was written (hash {exp.source_hash}, "
            f"file has {want}); restore it, or pass --force to resume with the changed file")
    return exp


def trajectory_from_file(path: str) -> Trajectory:
    """A frozen trajectory with the parameters and exploration stored in ``path``."""
    h5 = open_h5(path, "r")
    try:
        traj = Trajectory(name=_text(h5.attrs.get("name", "trajectory")),
                          comment=_text(h5.attrs.get("comment", "")))
        params: dict[str, Any] = {}

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                params[name.replace("/", ".")] = (_value(obj[()]), _text(obj.attrs.get("comment", "")))
        h5[L.PARAMETERS].visititems(visit)
        for name, (value, comment) in params.items():
            traj.add_parameter(name, value, comment)
        g = h5[L.EXPLORATION]
        names = json.loads(g.attrs["names"])
        axes = {n: _column(g["axes/" + L.name_to_path(n)][()]) for n in names}
        traj.explore(Exploration(_text(g.attrs["kind"]), axes))
    finally:
        h5.close()
    traj.freeze()
    return traj


def _value(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray) and v.ndim == 0:
        return v[()]
    return v


def _column(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind == "O":  # strings come back as bytes objects
        return np.array([_text(v) for v in arr.ravel()]).reshape(arr.shape)
    return arr


def check_fingerprint(path: str, header: dict[str, Any], traj: Trajectory) -> None:
    """Refuse when ``traj``'s exploration is not the one the file was written with."""
    want = _text(header.get("exploration_fingerprint", ""))
    got = traj.exploration.fingerprint()
    if got != want:
        raise HpcpetError(
            f"the exploration built now (fingerprint {got}) differs from the one in {path} ({want}); "
            "resume needs exactly the same parameters and explored values")
    if len(traj.exploration) != int(header["n_runs"]):
        raise HpcpetError(f"the exploration has {len(traj.exploration)} runs, {path} has {header['n_runs']}")


def resume_with(backend: Backend, path: str, traj: Trajectory, function: Callable, args: tuple = (),
                kwargs: dict | None = None, *, experiment: Experiment | None = None,
                retry_failed: bool = False, progress: str = "auto", fail_fast: bool = False,
                batch_size: int | None = None):
    """Run the missing runs of ``path`` with ``traj`` and ``function`` (master side)."""
    from .environment import Environment

    header = read_header(path)
    traj.freeze()
    check_fingerprint(path, header, traj)
    env = Environment(traj, path, backend=backend, progress=progress, fail_fast=fail_fast,
                      batch_size=batch_size, experiment=experiment)
    writer = Writer.reopen(path)
    try:
        todo = writer.todo_mask(retry_failed)
        c = writer.counts()
        if writer.damaged:
            print(f"[hpcpet] warning: {writer.damaged} runs marked done were damaged by the crash "
                  "and will be re-run", file=sys.stderr, flush=True)
        env.log(f"resuming {path}: {c['done']} done, {c['failed']} failed, {c['pending']} pending; "
                f"running {int(todo.sum())}")
        writer.h5.attrs["resumed"] = now()
        writer.h5.attrs["resume_count"] = int(writer.h5.attrs.get("resume_count", 0)) + 1
        frozen = FrozenInput(traj, function, args, kwargs or {},
                             experiment=experiment.path if experiment else None, fail_fast=fail_fast)
    except BaseException:
        writer.close()
        raise
    return env.execute(writer, frozen, todo)


def resume(path: str, function: Callable | None = None, *args: Any, backend: str | Backend = "auto",
           ncores: int | None = None, retry_failed: bool = False, force: bool = False,
           experiment: str | None = None, progress: str = "auto", fail_fast: bool = False,
           batch_size: int | None = None, **kwargs: Any):
    """Complete the results file ``path``: run exactly the runs that are not done yet.

    Parameters
    ----------
    path : str
        A results file written by hpcpet (possibly interrupted).
    function : callable, optional
        The run function, for files written from Python. Default: ``run``
        of the experiment file recorded in ``path`` (whose ``build`` must
        give the same exploration).
    backend, ncores, progress, fail_fast, batch_size
        As for :class:`hpcpet.Environment`.
    retry_failed : bool
        Also re-run runs that raised.
    force : bool
        Resume even if the experiment file changed (the exploration must
        still be identical).
    experiment : str, optional
        The experiment file, if it moved since ``path`` was written.

    Returns
    -------
    Summary or None
        None on MPI worker ranks, which only serve batches.
    """
    be = backend if isinstance(backend, Backend) else get_backend(backend, ncores)
    if not be.is_master:
        be.serve()
        return None
    header = read_header(path)
    exp = None
    if function is None:
        exp = check_experiment(path, header, experiment, force)
        traj = Trajectory(name=_text(header.get("name", "trajectory")))
        exp.build(traj)
        function = exp.run
    else:
        traj = trajectory_from_file(path)
    return resume_with(be, path, traj, function, args, kwargs, experiment=exp,
                       retry_failed=retry_failed, progress=progress, fail_fast=fail_fast,
                       batch_size=batch_size)
