"""Stage files (hpcpet/storage/stage.py): heavy per-run arrays are written once, in place.

Every test compares what ``hpcpet.load`` gives back with what the runs stored,
through the paths a stage takes: batches in any order over many checkpoints
and compactions, a reader while the study runs, a writer that dies and one
that resumes, a result whose type changes, a study that grows, part files,
and every backend.
"""
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

import hpcpet
from hpcpet.batch import DONE, FAILED, BatchResult
from hpcpet.columns import Column
from hpcpet.storage import stage as stage_mod
from hpcpet.storage.writer import Writer
from hpcpet.trajectory import Trajectory

WIDTH = 600  # float64 values per run: 4.8 kB, above STAGE_MIN_ROW_BYTES
HERE = os.path.dirname(os.path.abspath(__file__))


def value(i: int, dtype=np.float64) -> np.ndarray:
    return (np.arange(WIDTH) * 0.25 + i).astype(dtype)


def _traj(n: int) -> Trajectory:
    traj = Trajectory("stage")
    traj.add_parameter("i", 0)
    traj.explore({"i": list(range(n))})
    traj.freeze()
    return traj


def _batch(lo: int, hi: int, fail=(), skip=(), dtype=np.float64) -> BatchResult:
    status = np.array([FAILED if i in fail else DONE for i in range(lo, hi)], np.uint8)
    present = np.array([i not in skip for i in range(lo, hi)])
    data = np.stack([value(i, dtype) for i in range(lo, hi)])
    cols = {"v": Column("fixed", data, None if present.all() else present),
            "s": Column("fixed", np.arange(lo, hi, dtype=np.float64))}
    return BatchResult(lo, hi, status, cols, {i: "boom" for i in fail if lo <= i < hi}, {}, 0.0)


def _check(path: str, n: int, fail=(), skip=(), dtype=np.float64) -> None:
    with hpcpet.load(path) as t:
        v = t.get_from_runs("v")
        assert v.shape == (n, WIDTH)
        for i in range(n):
            if i in fail or i in skip:
                assert np.isnan(v[i]).all(), i
            else:
                assert np.array_equal(v[i], value(i, dtype)), i
        assert t.get_from_runs("s")[[i for i in range(n) if i not in fail]].tolist() == \
            [float(i) for i in range(n) if i not in fail]
    with h5py.File(path, "r") as h5:  # the documented layout: one contiguous dataset, no stage traces
        assert h5["results/v/data"].chunks is None and "stage" not in str(dict(h5["results/v"].attrs))
    assert not os.path.exists(path + ".segments")


def _stage_files(path: str) -> list:
    folder = path + ".segments"
    return sorted(n for n in os.listdir(folder) if stage_mod.is_stage_name(n)) if os.path.isdir(folder) else []


def test_heavy_rows_go_to_the_stage_and_the_stage_becomes_the_file(tmp_path):
    path = str(tmp_path / "h.h5")
    w = Writer.create(path, _traj(40), set_size=8)
    w.checkpoint_seconds = 0.0  # a segment per batch: compactions of staged segments too
    order = [3, 0, 7, 1, 6, 2, 5, 4]
    for b in order:
        w.write(_batch(5 * b, 5 * b + 5, fail={11, 23}, skip={2, 30, 31}))
        if b == 6:  # a reader while the study runs sees the committed rows
            with hpcpet.load(path) as t:
                v = t.get_from_runs("v")
                assert np.array_equal(v[15], value(15)) and np.isnan(v[22]).all()  # batch 4 comes last
    assert _stage_files(path) == [stage_mod.stage_name(1)]
    stage_inode = os.stat(os.path.join(path + ".segments", stage_mod.stage_name(1))).st_ino
    w.close()
    assert os.stat(path).st_ino == stage_inode  # completed in place and renamed: written once
    _check(path, 40, fail={11, 23}, skip={2, 30, 31})


def test_a_killed_writer_leaves_its_stage_for_resume(tmp_path):
    path = str(tmp_path / "k.h5")
    w = Writer.create(path, _traj(30), set_size=8)
    w.write(_batch(10, 20))
    w.checkpoint()
    w.write(_batch(0, 10))  # taken, not committed: lost with the writer
    w.abandon()
    with hpcpet.load(path) as t:  # committed rows readable without the writer
        assert t.completed.tolist() == [False] * 10 + [True] * 10 + [False] * 10
        assert np.array_equal(t.get_from_runs("v")[12], value(12))
    w = Writer.reopen(path)  # the stage is referenced by a live segment: kept
    assert _stage_files(path) == [stage_mod.stage_name(1)]
    assert w.todo().tolist() == list(range(10)) + list(range(20, 30))
    w.write(_batch(0, 10))
    w.write(_batch(20, 30))
    w.close()
    _check(path, 30)


def test_a_failed_in_place_close_keeps_every_committed_row(tmp_path, monkeypatch):
    """The close completes the stage file in place; if it dies half way the next writer recovers."""
    import hpcpet.storage.consolidation as consolidation

    path = str(tmp_path / "c.h5")
    w = Writer.create(path, _traj(20), set_size=8)
    w.write(_batch(0, 20, fail={4}))
    real = consolidation.write_fixed

    def dies(parent, where, *a, **k):
        if where == "v":
            parent.create_group("half-done")  # the stage file's HDF5 structure changes, then the end
            raise RuntimeError("killed")
        return real(parent, where, *a, **k)
    monkeypatch.setattr(consolidation, "write_fixed", dies)
    with pytest.raises(RuntimeError):
        w.close()
    monkeypatch.setattr(consolidation, "write_fixed", real)
    with hpcpet.load(path) as t:
        assert t.completed.sum() == 19 and np.array_equal(t.get_from_runs("v")[7], value(7))
    w = Writer.reopen(path)
    w.close()
    _check(path, 20, fail={4})


def test_a_type_change_leaves_the_stage(tmp_path):
    path = str(tmp_path / "t.h5")
    w = Writer.create(path, _traj(20), set_size=8)
    w.write(_batch(0, 10, dtype=np.float32))
    w.write(_batch(10, 20, dtype=np.float64))  # float32 rows widen to float64: a new file at close
    w.close()
    with hpcpet.load(path) as t:
        v = t.get_from_runs("v")
        assert v.dtype == np.float64
        assert all(np.array_equal(v[i], value(i, np.float32).astype(np.float64)) for i in range(10))
        assert all(np.array_equal(v[i], value(i)) for i in range(10, 20))
    assert not os.path.exists(path + ".segments")


def test_a_study_that_grows_keeps_its_staged_rows(tmp_path):
    path = str(tmp_path / "g.h5")
    traj = _traj(10)
    w = Writer.create(path, traj, set_size=8)
    w.write(_batch(0, 10, skip={3}))
    grown = traj.exploration.expanded({"i": list(range(10, 16))})
    assert w.extend(grown) == range(10, 16)
    w.write(_batch(10, 16))
    w.close()
    _check(path, 16, skip={3})


def test_part_files_do_not_stage(tmp_path):
    path = str(tmp_path / "p.h5")
    traj = _traj(20)
    w = Writer.create(path, traj, set_size=8, metadata={"part_start": 0, "part_stop": 10})
    w.part = (0, 10)
    w.write(_batch(0, 10))
    w.checkpoint()
    assert _stage_files(path) == []
    w.close()
    with hpcpet.load(path) as t:
        assert np.array_equal(t.get_from_runs("v")[9], value(9))


EXPERIMENT = '''
import numpy as np
import hpcpet

def build(traj):
    traj.add_parameter("i", 0)
    traj.explore({"i": list(range(300))})

def run(traj):
    i = traj.i
    if i % 17 == 5:
        raise ValueError("planned")
    if i % 13 != 0:
        traj.add_result("v", np.arange(WIDTH) * 0.25 + i)
    traj.add_result("s", float(i))

if __name__ == "__main__":
    hpcpet.main()
'''.replace("WIDTH", str(WIDTH))


@pytest.mark.parametrize("backend", ["serial", "pool", "mpi"])
def test_heavy_study_on_every_backend(tmp_path, backend):
    exp = tmp_path / "heavy.py"
    exp.write_text(EXPERIMENT)
    out = str(tmp_path / "out.h5")
    cmd = [sys.executable, "-m", "hpcpet", "run", str(exp), "-o", out, "--quiet", "--batch-size", "7"]
    if backend == "mpi":
        cmd = [os.path.join(os.path.dirname(sys.executable), "mpiexec"), "-n", "3", *cmd]
    else:
        cmd += ["--backend", backend, "--ncores", "2"] if backend == "pool" else ["--backend", backend]
    env = dict(os.environ, HPCPET_CHECKPOINT_SECONDS="0")  # many segments, compactions
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 1 and "failed" in p.stdout + p.stderr or p.returncode == 0, p.stderr
    fail = {i for i in range(300) if i % 17 == 5}
    skip = {i for i in range(300) if i % 13 == 0}
    _check(out, 300, fail=fail, skip=skip)


def test_a_shape_change_leaves_the_stage_and_keeps_the_staged_rows(tmp_path):
    path = str(tmp_path / "r.h5")
    w = Writer.create(path, _traj(20), set_size=8)
    w.write(_batch(0, 10))  # staged
    w.checkpoint()
    longer = BatchResult(10, 20, np.full(10, DONE, np.uint8),
                         {"v": Column("fixed", np.stack([np.arange(WIDTH + 1.0) + i for i in range(10, 20)])),
                          "s": Column("fixed", np.arange(10, 20, dtype=np.float64))}, {}, {}, 0.0)
    w.write(longer)  # rows of another length: the result becomes ragged, rows leave the stage
    w.close()
    with hpcpet.load(path) as t:
        v = t.get_from_runs("v")
        assert isinstance(v, list) and len(v) == 20
        assert all(np.array_equal(v[i], value(i)) for i in range(10))
        assert all(np.array_equal(v[i], np.arange(WIDTH + 1.0) + i) for i in range(10, 20))
    assert not os.path.exists(path + ".segments")


def test_next_runs_sees_staged_rows_not_yet_committed(tmp_path):
    """A growing study's view (hpcpet.storage.writer.Writer.view) reads heavy rows back from the stage."""
    traj = hpcpet.Trajectory("grow")
    traj.add_parameter("i", 0)
    traj.explore({"i": list(range(6))})
    seen = []

    def run(t):
        t.add_result("v", value(t.i))
        t.add_result("s", float(t.i))

    def next_runs(study):
        v = study.get_from_runs("v")
        seen.append(all(np.array_equal(v[i], value(i)) for i in range(len(study))))
        if study.generations >= 3:
            return None
        n = len(study)
        return {"i": list(range(n, n + 6))}

    path = str(tmp_path / "n.h5")
    hpcpet.Environment(traj, path, progress="quiet").run(run, next_runs=next_runs)  # small: nothing committed
    assert seen == [True, True, True]
    _check(path, 18)


def test_writeback_starts_on_exactly_the_rows_written(tmp_path, monkeypatch):
    """Each staged span is handed to the disk at once: the ranges named are the rows' bytes."""
    from hpcpet.storage import files

    ranges = []
    real = files.start_writeback
    monkeypatch.setattr(stage_mod, "start_writeback",
                        lambda fd, off, n: (ranges.append((off, n)), real(fd, off, n)))
    path = str(tmp_path / "w.h5")
    w = Writer.create(path, _traj(20), set_size=8)
    w.write(_batch(10, 20, skip={13}))
    w.write(_batch(0, 10))
    stage_path = os.path.join(path + ".segments", stage_mod.stage_name(1))
    w.checkpoint()
    row = WIDTH * 8
    with open(stage_path, "rb") as fh:
        raw = fh.read()
    seen = []
    for off, n in ranges:
        assert n % row == 0
        for k in range(n // row):
            rowbytes = raw[off + k * row:off + (k + 1) * row]
            seen.append(int(np.frombuffer(rowbytes, np.float64)[0]))  # value(i) starts with i
    assert sorted(seen) == [i for i in range(20) if i != 13]
    w.close()
    _check(path, 20, skip={13})
    files.start_writeback(-1, 0, 4096)  # a bad descriptor: no head start, no error
