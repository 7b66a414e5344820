"""Resume: complete a study by running exactly the runs that are not done.

The file says which runs are done; the experiment file it records (attrs
``experiment_path`` and ``experiment_hash``) gives the run function and,
through its ``build()``, the trajectory, whose exploration must have the
file's fingerprint. A file written from Python (no experiment file) is
resumed with the function passed in, using the parameters and exploration
stored in the file (:func:`resume`), or the caller's own trajectory
(:meth:`hpcpet.Environment.resume`).
"""
from __future__ import annotations

import os
from typing import Any, Callable

from .backends import Backend, get_backend
from .environment import Environment
from .errors import HpcpetError
from .experiment import Experiment, load_experiment
from .trajectory import Trajectory


def read_header(path: str) -> dict[str, Any]:
    """The root attributes of the study ``path`` (read-only, works while it is written)."""
    from .storage.snapshot import Snapshot

    snap = Snapshot(path)
    try:
        return dict(snap.attrs) if snap.format == 2 else {k: snap.h5.attrs[k] for k in snap.h5.attrs}
    finally:
        snap.close()


def trajectory_from_file(path: str) -> Trajectory:
    """A frozen trajectory with the parameters and exploration stored in ``path``."""
    from .storage.header import read_trajectory
    from .storage.snapshot import Snapshot

    snap = Snapshot(path)
    try:
        return read_trajectory(snap.h5, snap.exploration())
    finally:
        snap.close()


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
            f"if it moved (its text is stored in {path}, dataset experiment/source)")
    exp = load_experiment(exp_path)
    want = header.get("experiment_hash", "")
    if want and exp.source_hash != want and not force:
        raise HpcpetError(
            f"experiment file {exp.path} changed since {path} was written (hash {exp.source_hash}, "
            f"file has {want}); restore it, or pass --force to resume with the changed file")
    return exp


def resume(path: str, function: Callable | None = None, *args: Any, backend: str | Backend = "auto",
           ncores: int | None = None, retry_failed: bool = False, force: bool = False,
           experiment: str | None = None, progress: str = "auto", fail_fast: bool = False,
           batch_size: int | None = None, next_runs: Callable | None = None,
           max_generations: int | None = None, run_timeout: float | None = None, retries: int = 0,
           capture: bool = False, **kwargs: Any):
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
    run_timeout, retries, capture
        Per-run control, as for :class:`hpcpet.Environment`.
    next_runs, max_generations
        As for :meth:`hpcpet.Environment.run` (default: the experiment file's
        ``next_runs`` and the recorded limit): a study killed in generation k
        completes it, then goes on growing.

    Returns
    -------
    Summary or None
        None on MPI worker ranks, which only serve batches.
    """
    be = backend if isinstance(backend, Backend) else get_backend(backend, ncores)
    if not be.is_master:
        be.serve()
        return None
    if not os.path.exists(path):
        raise HpcpetError(f"file not found: {path}")
    header = read_header(path)
    exp = None
    if function is None:
        exp = check_experiment(path, header, experiment, force)
        traj = Trajectory(name=str(header.get("name", "trajectory")))
        exp.build(traj)
        function = exp.run
        next_runs = next_runs or exp.next_runs
    else:
        traj = trajectory_from_file(path)
    env = Environment(traj, path, backend=be, progress=progress, fail_fast=fail_fast,
                      batch_size=batch_size, experiment=exp, run_timeout=run_timeout, retries=retries,
                      capture=capture)
    return env.resume(function, *args, retry_failed=retry_failed, next_runs=next_runs,
                      max_generations=max_generations, **kwargs)
