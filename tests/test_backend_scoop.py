"""The SCOOP backend, for real: ``python -m scoop`` pools started by hpcpet and by the user."""
import os
import subprocess
import sys

import numpy as np
import pytest

import hpcpet
from backend_contract import BackendContract
from conftest import experiment, hpcpet_cli
from hpcpet.backends import resolve_name
from hpcpet.backends.scoop import ENTRY, scoop_command

pytest.importorskip("scoop")
psutil = pytest.importorskip("psutil")

MB = 2 ** 20


def scoop(*args, timeout=300, env=None):
    """Run ``python -m scoop ARGS``; SCOOP's launcher always exits 0, so return the process."""
    e = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "scoop", "--quiet", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=e)


class TestScoopLaunchedByHpcpet(BackendContract):
    """``python -m hpcpet run ... --backend scoop --ncores 2``: hpcpet starts SCOOP itself."""

    backend = "scoop"

    def execute(self, exp, out, *extra):
        return super().execute(exp, out, "--ncores", "2", *extra)


class TestScoopStartedByUser(BackendContract):
    """``python -m scoop -n 3 experiment.py -o out.h5``: backend auto picks scoop."""

    def execute(self, exp, out, *extra):
        proc = scoop("-n", 3, exp, "-o", out, "--quiet", *extra)
        assert os.path.exists(out), proc.stderr
        with hpcpet.load(out) as t:
            assert t.meta["backend"] == "scoop"
        return proc


def test_exit_code_comes_back(tmp_path):
    out = tmp_path / "out.h5"
    out.write_bytes(b"")
    proc = hpcpet_cli("run", experiment("product.py"), "-o", out, "--backend", "scoop",
                      "--ncores", "1", check=False)
    assert proc.returncode == 2 and "exists" in proc.stderr


def test_command_and_auto_outside_scoop():
    assert resolve_name("auto") == "serial"
    cmd, reports = scoop_command(2, ["/x/hpcpet/__main__.py", "run", "e.py", "-o", "o.h5"])
    assert cmd[1:] == ["-m", "scoop", "--quiet", "-n", "3", ENTRY, "run", "e.py", "-o", "o.h5"]
    assert reports
    cmd, reports = scoop_command(1, ["/x/script.py", "a"])  # not an experiment file: itself
    assert cmd[-2:] == ["/x/script.py", "a"] and not reports


def test_dead_worker_loses_no_run(tmp_path):
    """A run kills its worker (os._exit) once: its batch is submitted again and the file completes.

    Its runs are microseconds, not followed one by one: the batch is run again
    noting each run, and since the death does not recur no run fails.
    """
    out, marker = tmp_path / "out.h5", tmp_path / "marker"
    proc = hpcpet_cli("run", experiment("scoop_dies.py"), "-o", out, "--backend", "scoop",
                      "--ncores", "2", "--batch-size", "50", "--progress", "quiet",
                      env={"HPCPET_TEST_MARKER": str(marker)})
    assert marker.exists()  # a worker did die
    assert "worker died during runs 750..799: submitting them again" in proc.stderr
    with hpcpet.load(out) as t:
        assert t.completed.all()
        assert np.array_equal(t.get_from_runs("some_group.z"), t.explored["x"] * t.explored["neuron.tau"])


def test_late_batch_is_resubmitted_and_written_once(tmp_path):
    """A batch with no result before the timeout goes out again; the first copy back wins."""
    out, marker = tmp_path / "out.h5", tmp_path / "marker"
    proc = hpcpet_cli("run", experiment("scoop_dies.py"), "-o", out, "--backend", "scoop",
                      "--ncores", "2", "--batch-size", "50", "--progress", "quiet",
                      env={"HPCPET_TEST_MARKER": str(marker), "HPCPET_TEST_SLEEP": "4",
                           "HPCPET_SCOOP_TIMEOUT": "1"})
    assert marker.exists()
    assert "no result after" in proc.stderr
    with hpcpet.load(out) as t:
        assert t.completed.all()
        assert np.array_equal(t.get_from_runs("some_group.z"), t.explored["x"] * t.explored["neuron.tau"])


def test_memory_stays_flat(tmp_path):
    """Three explorations of 24 batches (1.6 MB of results each) in one SCOOP origin.

    Bounds: a worker grows < 10 MB from its 5th batch to the end of the last
    exploration; the origin, measured during every batch, grows < 25 MB from the
    13th batch on, and < 25 MB from the end of the first exploration to the end
    of the third. Keeping every batch's results would add 38 MB per
    exploration.
    """
    n = 3
    proc = scoop("-n", 3, experiment("scoop_memory.py"), tmp_path, n)
    origin = [int(line) / MB for line in (tmp_path / "origin_rss.txt").read_text().split()]
    assert len(origin) == n, proc.stderr
    pids, rss, during = [], [], []
    for k in range(n):
        with hpcpet.load(str(tmp_path / f"memory{k}.h5")) as t:
            assert t.completed.all()
            pids.append(t.get_from_runs("pid"))
            rss.append(t.get_from_runs("rss") / MB)
            o = np.asarray(t.get_from_runs("origin_rss"), float)  # once per batch, while running
            during.append(o[np.isfinite(o) & (o > 0)] / MB)
    during = np.concatenate(during)
    assert len(during) >= n * 20, during  # the origin was seen during (nearly) every batch
    assert during.max() - during[12] < 25, during  # from the 13th batch (h5py imported) to the end
    pids, rss = np.concatenate(pids), np.concatenate(rss)
    batch = 100
    for pid in np.unique(pids):
        mine = rss[pids == pid]
        fifth = mine[min(5 * batch, len(mine) - 1)]
        assert mine[-1] - fifth < 10, (pid, fifth, mine[-1])
    assert origin[-1] - origin[0] < 25, origin
