"""Experiment files: a Python file with ``build(traj)`` and ``run(traj)``."""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Callable, Optional

from .errors import HpcpetError


@dataclass
class Experiment:
    """A loaded experiment file.

    Attributes
    ----------
    path : str
        Absolute path of the file.
    source : str
        Its text, stored in the results file so that ``resume`` can check it.
    build, run : callable
        ``build(traj)`` declares parameters and the exploration;
        ``run(traj)`` is called once per run.
    next_runs : callable or None
        The file's optional ``next_runs(study)``: called on the master after
        each generation, it returns the next generation's points (or None to stop).
    """

    path: str
    source: str
    build: Callable
    run: Callable
    module: ModuleType
    next_runs: Optional[Callable] = None

    @property
    def source_hash(self) -> str:
        """SHA-256 (first 16 hex digits) of the source text."""
        return hashlib.sha256(self.source.encode()).hexdigest()[:16]


_LOADED: dict[str, Experiment] = {}


def module_name(path: str) -> str:
    """The name under which the experiment file at ``path`` is imported."""
    return "hpcpet_experiment_" + hashlib.sha256(path.encode()).hexdigest()[:12]


def load_experiment(path: str) -> Experiment:
    """Import an experiment file (once per process) and check it has ``build`` and ``run``."""
    path = os.path.abspath(path)
    if path in _LOADED:
        return _LOADED[path]
    if not os.path.isfile(path):
        raise HpcpetError(f"experiment file not found: {path}")
    with open(path, encoding="utf-8") as fh:
        source = fh.read()
    name = module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # so that pickled functions find their module
    sys.path.insert(0, os.path.dirname(path))
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise HpcpetError(f"experiment file {path} failed to import: {type(exc).__name__}: {exc}") from exc
    finally:
        sys.path.remove(os.path.dirname(path)) if os.path.dirname(path) in sys.path else None
    missing = [f for f in ("build", "run") if not callable(getattr(module, f, None))]
    if missing:
        raise HpcpetError(f"experiment file {path} has no {' and no '.join(f'{m}()' for m in missing)} function")
    next_runs = getattr(module, "next_runs", None)
    if next_runs is not None and not callable(next_runs):
        raise HpcpetError(f"experiment file {path}: next_runs must be a function, got {type(next_runs).__name__}")
    exp = Experiment(path, source, module.build, module.run, module, next_runs)
    _LOADED[path] = exp
    return exp


def git_commit(path: str) -> Callable[[], str]:
    """Start looking up the git commit of the repository containing ``path``.

    Returns a function that waits for the answer: the commit (``+dirty`` if
    tracked files are modified), or '' outside a repository. git runs in the
    background meanwhile (``git status`` can take seconds in a large repository).
    """
    import subprocess  # only the master needs it

    folder = os.path.dirname(os.path.abspath(path))
    try:
        head = subprocess.Popen(["git", "-C", folder, "rev-parse", "HEAD"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)
    except OSError:  # no git
        return lambda: ""
    status = subprocess.Popen(["git", "-C", folder, "status", "--porcelain", "--untracked-files=no"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                              text=True)

    def answer(timeout: float = 10.0) -> str:
        import time

        deadline = time.monotonic() + timeout
        outs = []
        try:
            for proc in (head, status):
                out, _ = proc.communicate(timeout=max(0.0, deadline - time.monotonic()))
                outs.append(out.strip() if proc.returncode == 0 else None)
        except subprocess.TimeoutExpired:
            return ""
        finally:
            for proc in (head, status):  # never leave a git process behind
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
        if not outs[0]:
            return ""
        return outs[0] + ("+dirty" if outs[1] else "")
    return answer
