"""``info``: summarise a results file."""
from __future__ import annotations

import numpy as np


def add_parser(sub) -> None:
    p = sub.add_parser("info", help="summarise a results file")
    p.add_argument("file", help="results file")
    p.set_defaults(func=main)


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return str(n)


def _range(col: np.ndarray) -> str:
    vals = np.unique(col) if col.ndim == 1 else None
    if vals is None:
        return f"{len(col)} values of shape {col.shape[1:]}"
    if len(vals) <= 6:
        return ", ".join(map(str, vals.tolist()))
    if vals.dtype.kind in "iuf":
        return f"{len(vals)} values in [{vals.min()}, {vals.max()}]"
    return f"{len(vals)} distinct values"


def main(args) -> int:
    from ..storage.reader import load

    with load(args.file) as traj:
        status = traj.status
        done, failed = int((status == 1).sum()), int((status == 2).sum())
        m = traj.meta
        print(f"file:        {traj.path} ({_human(traj.file_size())})")
        print(f"trajectory:  {traj.name}" + (f" - {traj.comment}" if traj.comment else ""))
        print(f"runs:        {len(traj)} total, {done} completed, {failed} failed, "
              f"{len(traj) - done - failed} pending")
        print(f"set size:    {traj.set_size}")
        _print_writer(traj)
        if m.get("part"):
            print(f"part:        {m['part']} of the exploration: runs {m.get('part_start')}.."
                  f"{int(m.get('part_stop', 0)) - 1} (merge the parts with 'python -m hpcpet merge')")
        if m.get("experiment_path"):
            print(f"experiment:  {m['experiment_path']}" +
                  (f" (git {m['git_commit']})" if m.get("git_commit") else ""))
        if m.get("backend"):
            resumed = f" (resumed {m['resume_count']}x)" if m.get("resume_count") else ""
            print(f"backend:     {m['backend']}{resumed}")
        print(f"created:     {m.get('created', '?')}   ended: {m.get('ended', '-')}")
        print(f"versions:    hpcpet {m.get('hpcpet_version')}, numpy {m.get('numpy_version')}, "
              f"h5py {m.get('h5py_version')}, HDF5 {m.get('hdf5_version')}")
        print("parameters:")
        explored = traj.explored
        comments = traj.comments
        for name, value in traj.parameters.items():
            line = f"  {name} = {value.tolist() if hasattr(value, 'tolist') else value!r}"
            if name in explored:
                line += f"  explored: {_range(explored[name])}"
            if comments.get(name):
                line += f"  # {comments[name]}"
            print(line)
        print(f"exploration: {traj.exploration_kind} {' x '.join(map(str, traj.shape))}")
        _print_study(traj, m)
        print("results:")
        results = traj.results
        if not results:
            print("  (none)")
        for name, d in results.items():
            shape = "" if d.get("shape") in (None, []) else f" shape {tuple(d['shape'])}"
            comment = f"  # {d['comment']}" if d.get("comment") else ""
            print(f"  {name}: {d['kind']} {d['dtype']}{shape}{comment}")
        if hasattr(traj, "run_info"):
            _print_run_info(traj)
        glob = traj.globals
        if glob:
            print("global results:")
            for name, value in glob.items():
                text = repr(value.tolist() if hasattr(value, "tolist") else value)
                print(f"  {name} = {text if len(text) <= 60 else text[:57] + '...'}")
    return 0


def _print_run_info(traj) -> None:
    """Slowest runs, failures by error type, runs per host (from the per-run info)."""
    from collections import Counter

    info = traj.run_info
    status = traj.status
    errors = traj.errors
    if errors:
        kinds = Counter((text.strip().splitlines() or ["?"])[-1].split(":")[0] for text in errors.values())
        print("failures:    " + ", ".join(f"{k} x{v}" for k, v in kinds.most_common(5)))
    if "duration" in info:
        d = np.asarray(info["duration"], float)
        d = np.where(status != 0, d, np.nan)
        if np.isfinite(d).any():
            slow = np.argsort(np.nan_to_num(d, nan=-1.0))[::-1][:3]
            print(f"run time:    median {np.nanmedian(d):.3g} s, slowest: "
                  + ", ".join(f"run {i} {d[i]:.3g} s" for i in slow if np.isfinite(d[i])))
    if "host" in info:
        hosts = Counter(h for h, s in zip(info["host"], status) if s != 0 and h)
        if hosts:
            print("hosts:       " + ", ".join(f"{h} {n} runs" for h, n in hosts.most_common(6)))


def _print_study(traj, m: dict) -> None:
    """Seed, presets, generations and where each exploration segment came from."""
    import json

    if m.get("seed") is not None:
        print(f"seed:        {m['seed']}")
    presets = json.loads(m["presets"]) if m.get("presets") else {}
    if presets:
        print("presets:     " + ", ".join(f"{k}={v!r}" for k, v in presets.items()))
    if not hasattr(traj, "generations"):
        return  # a format 1 file
    pieces = traj._snap.pieces()
    if len(pieces) > 1 or any(p.get("origin") for p in pieces):
        print(f"generations: {traj.generations} ({len(pieces)} exploration segments)")
        for p in pieces[:8]:
            origin = p.get("origin") or {}
            made = (f"  {origin.get('sampler')} seed {origin.get('seed')} bounds {origin.get('bounds')}"
                    if origin else "")
            print(f"  generation {p['generation']}: {p['kind']} {p['runs']} runs{made}")
        if len(pieces) > 8:
            print(f"  ... {len(pieces) - 8} more segments")


def _print_writer(traj) -> None:
    """Who writes the study now, and files left behind by a writer that was killed."""
    from ..storage.files_report import leftovers, writer_line

    line = writer_line(traj.path)
    if line:
        print(f"writing:     {line}")
    for text in leftovers(traj.path):
        print(f"note:        {text}")
