"""Storage v2 promises (docs/format.md, docs/reliability.md): readers never conflict with the
writer, one writer per file without HDF5 locks, stale guards and temporary files, damaged files,
the module layering, and format 1 files."""
import ast
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

import hpcpet
from conftest import HERE, ROOT, experiment, hpcpet_cli

SLOW = os.path.join(HERE, "data", "slow.py")
NOLOCK = {"HDF5_USE_FILE_LOCKING": "FALSE"}


def _start(out, env=None, **slow):
    e = dict(os.environ, **(env or {}), **{k: str(v) for k, v in slow.items()})
    return subprocess.Popen([sys.executable, "-m", "hpcpet", "run", SLOW, "-o", str(out), "--backend", "serial",
                             "--quiet"], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _segments(out):
    try:
        return [n for n in os.listdir(str(out) + ".segments") if n.startswith("seg-")]
    except FileNotFoundError:
        return []


def _committed(out):
    """Runs committed so far (0 before the file exists)."""
    try:
        with hpcpet.load(str(out)) as t:
            return int(t.completed.sum())
    except hpcpet.HpcpetError:
        return 0


def _wait_for(cond, timeout=60.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return True
        time.sleep(0.02)
    return False


def _one_line_error(proc, *words):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    for w in words:
        assert w in proc.stderr, (w, proc.stderr)


def test_load_info_status_while_the_study_is_written(tmp_path):
    out = tmp_path / "slow.h5"
    writer = _start(out, HPCPET_SLOW_N=400, HPCPET_SLOW_SECONDS=0.01)
    try:
        assert _wait_for(lambda: _committed(out) > 0)
        with hpcpet.load(str(out)) as t:  # from another process, no HDF5_USE_FILE_LOCKING needed
            assert t.running
            done = t.completed
            assert 0 < done.sum() < 400
            z = t.get_from_runs("z")
            assert np.array_equal(z[done], (t.explored["x"] * t.explored["y"])[done])
            assert np.isnan(z[~done]).all()
            assert t.run(int(np.flatnonzero(done)[0])).status == "done"
            before = int(done.sum())
            assert _wait_for(lambda: t.refresh().completed.sum() > before or writer.poll() is not None)
        info = hpcpet_cli("info", out)
        assert "writing:" in info.stdout or writer.poll() is not None
        assert hpcpet_cli("status", out).returncode == 0
        plot = hpcpet_cli("plot", out, "z", "-o", tmp_path / "z.png")
        assert plot.returncode == 0 and (tmp_path / "z.png").exists()
        _, err = writer.communicate(timeout=120)
    finally:
        if writer.poll() is None:
            writer.kill()
    assert writer.returncode == 0, err
    assert not os.path.exists(str(out) + ".segments")  # consolidated: one file
    with hpcpet.load(str(out)) as t:
        assert t.completed.all() and not t.running


def test_second_writer_is_refused_without_hdf5_locking(tmp_path):
    out = tmp_path / "slow.h5"
    writer = _start(out, env=NOLOCK, HPCPET_SLOW_N=300, HPCPET_SLOW_SECONDS=0.01)
    try:
        assert _wait_for(lambda: _committed(out) > 0)
        again = hpcpet_cli("run", SLOW, "-o", out, "--overwrite", check=False, env=NOLOCK)
        _one_line_error(again, "is being written by pid", str(writer.pid))
        res = hpcpet_cli("resume", out, check=False, env={**NOLOCK, "HPCPET_SLOW_N": "300"})
        _one_line_error(res, "is being written by pid")
        _, err = writer.communicate(timeout=120)
    finally:
        if writer.poll() is None:
            writer.kill()
    assert writer.returncode == 0, err
    with hpcpet.load(str(out)) as t:
        assert t.completed.sum() == 300  # the first job's runs, all of them


def test_killed_writer_leaves_a_stale_guard_that_is_detected(tmp_path):
    out = tmp_path / "slow.h5"
    writer = _start(out, HPCPET_SLOW_N=300, HPCPET_SLOW_SECONDS=0.01)
    assert _wait_for(lambda: _committed(out) > 0)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    with hpcpet.load(str(out)) as t:
        assert not t.running
        committed = int(t.completed.sum())
    assert committed > 0
    info = hpcpet_cli("info", out)
    assert "was killed" in info.stdout and f"{committed} completed" in info.stdout
    hpcpet_cli("resume", out, "--quiet", env={"HPCPET_SLOW_N": "300", "HPCPET_SLOW_SECONDS": "0"})
    assert not os.path.exists(str(out) + ".segments")
    with hpcpet.load(str(out)) as t:
        assert t.completed.all()
        assert np.array_equal(t.get_from_runs("z"), t.explored["x"] * t.explored["y"])


def test_temporary_files_are_named_then_removed(tmp_path):
    out = tmp_path / "p.h5"
    hpcpet_cli("run", experiment("product.py"), "-o", out, "--quiet")
    folder = tmp_path / "p.h5.segments"
    folder.mkdir()
    (folder / "seg-00000009-00000009.h5.4242.tmp").write_bytes(b"\0" * 1000)  # a kill mid-segment
    (folder / "writer.json").write_text('{"pid": 999999999, "host": "%s", "start": "", "since": 0}'
                                        % os.uname().nodename)
    info = hpcpet_cli("info", out).stdout
    assert "1 unfinished temporary file(s)" in info and "was killed" in info
    hpcpet_cli("resume", out, "--quiet")
    assert not folder.exists()


def test_kill_while_the_header_is_created_leaves_nothing_that_blocks(tmp_path):
    out = tmp_path / "p.h5"
    folder = tmp_path / "p.h5.segments"
    folder.mkdir()
    (folder / "header.4242.tmp").write_bytes(b"\0" * 1000)
    assert not out.exists()
    hpcpet_cli("run", experiment("product.py"), "-o", out, "--quiet")  # no --overwrite needed
    assert out.exists() and not folder.exists()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_damaged_file_is_a_one_line_error_for_every_verb(reference, tmp_path, damage):
    out = tmp_path / "o.h5"
    data = open(reference, "rb").read()
    out.write_bytes({"truncated": data[: len(data) // 2], "garbage": data[:64] + os.urandom(len(data) - 64),
                     "empty": b""}[damage])
    for args in (["info", out], ["resume", out], ["status", out], ["plot", out, "z"],
                 ["merge", out, "-o", tmp_path / "m.h5"]):
        proc = hpcpet_cli(*args, check=False)
        _one_line_error(proc, "o.h5")
        assert "damaged" in proc.stderr or "not an hpcpet" in proc.stderr, proc.stderr
        assert "lock" not in proc.stderr.lower(), proc.stderr
    with pytest.raises(hpcpet.HpcpetError):
        hpcpet.load(str(out))


def _imports(path):
    tree = ast.parse(open(path).read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            names.add(("." * node.level) + mod)
            names.update(("." * node.level) + (mod + "." if mod else "") + a.name for a in node.names)
    return names


def test_layering():
    pkg = os.path.join(ROOT, "hpcpet")
    engine_side = [os.path.join(pkg, "engine.py"), os.path.join(pkg, "batch.py")]
    engine_side += [os.path.join(pkg, "backends", f) for f in os.listdir(os.path.join(pkg, "backends"))
                    if f.endswith(".py")]
    for path in engine_side:
        assert not any(n == "h5py" or n.startswith("h5py.") for n in _imports(path)), path
        assert not any("storage" in n for n in _imports(path)), path
    storage = os.path.join(pkg, "storage")
    forbidden = ("backends", "cli", "commands", "environment", "engine", "resuming")
    for f in os.listdir(storage):
        if f.endswith(".py"):
            for n in _imports(os.path.join(storage, f)):
                assert not any(n.lstrip(".").split(".")[0] == bad for bad in forbidden), (f, n)


def test_format1_files_still_load(tmp_path):
    """tests/data/format1_kinds.h5: kinds.py with --set-size 4, written by hpcpet 0.1 (round 1)."""
    old = os.path.join(HERE, "data", "format1_kinds.h5")
    new = tmp_path / "v2.h5"
    hpcpet_cli("run", experiment("kinds.py"), "-o", new, "--set-size", "4", "--quiet")
    with hpcpet.load(old) as a, hpcpet.load(str(new)) as b:
        assert a.meta["hpcpet_format"] == 1 and b.meta["hpcpet_format"] == 2
        assert np.array_equal(a.status, b.status)
        assert sorted(a.results) == sorted(b.results)
        done = b.completed
        for name in b.results:
            va, vb = a.get_from_runs(name), b.get_from_runs(name)
            if isinstance(vb, list):
                assert all(np.array_equal(va[i], vb[i]) for i in np.flatnonzero(done) if vb[i] is not None)
            else:
                vb = np.ma.filled(vb.astype(float), np.nan) if np.ma.isMaskedArray(vb) else vb
                assert np.allclose(np.asarray(va, float)[done], np.asarray(vb, float)[done], equal_nan=True), name
        assert a.run(3)["text.msg"] == b.run(3)["text.msg"]
    assert "runs:        35 total, 34 completed" in hpcpet_cli("info", old).stdout
    proc = hpcpet_cli("resume", old, check=False)
    _one_line_error(proc, "format 1")


def test_many_checkpoints_are_compacted(tmp_path):
    """Checkpoint after every batch of one run: segments merge 8 at a time, readers see every run."""
    from hpcpet.engine import FrozenInput, Worker
    from hpcpet.storage.writer import Writer

    traj = hpcpet.Trajectory()
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(150))})
    traj.freeze()
    path = str(tmp_path / "c.h5")
    w = Writer.create(path, traj, set_size=7)
    w.checkpoint_seconds = 0.0

    def run(t):
        t.add_result("y", t.x * 2 if t.x < 100 else t.x * 0.5)  # ints, then floats: widened once
        t.add_result("s", "v" * (t.x % 5))
        if t.x % 3 == 0:
            t.add_result("a", np.arange(t.x % 4))

    worker = Worker(FrozenInput(traj, run))
    most = 0
    for i in range(149):  # run 149 is left pending
        w.write(worker.run_batch(range(i, i + 1)))
        most = max(most, len(_segments(path)))
    assert most <= 8 * 3  # 149 checkpoints: levels 0..2 hold at most 8 segments each
    with hpcpet.load(path) as t:  # before close: the segments
        assert t.completed.sum() == 149 and t.status[149] == 0
        y = t.get_from_runs("y")
        assert y.dtype == np.float64 and y[:100].tolist() == [2.0 * k for k in range(100)]
        assert t.get_from_runs("s")[7] == "vv" and t.get_from_runs("a")[3].tolist() == [0, 1, 2]
    w.close()
    with hpcpet.load(path) as t:
        assert t.completed.sum() == 149
        assert t.get_from_runs("y")[120] == 60.0 and t.get_from_runs("a")[4] is None
