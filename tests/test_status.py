"""`hpcpet status` from another process while a real run writes the file, and after."""
import json
import os
import subprocess
import sys
import time

import numpy as np

import hpcpet
from hpcpet.storage.status import read_status, sidecar_path

from conftest import HERE, hpcpet_cli

SLOW = os.path.join(HERE, "data", "slow.py")


def _status(path):
    proc = hpcpet_cli("status", path, "--json")
    return json.loads(proc.stdout)


def _start(out, **env):
    e = dict(os.environ, **{k: str(v) for k, v in env.items()})
    return subprocess.Popen([sys.executable, "-m", "hpcpet", "run", SLOW, "-o", str(out), "--backend", "serial",
                             "--quiet"], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(cond, timeout=60.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_status_while_running_and_after(tmp_path):
    out = tmp_path / "slow.h5"
    writer = _start(out, HPCPET_SLOW_N=300, HPCPET_SLOW_SECONDS=0.02)
    try:
        assert _wait_for(lambda: os.path.exists(sidecar_path(str(out))))
        seen = []
        while writer.poll() is None and len(seen) < 30:
            st = _status(out)
            if st["state"] != "running":
                break
            seen.append(st)
            time.sleep(0.3)
        stdout, stderr = writer.communicate(timeout=120)
    finally:
        if writer.poll() is None:
            writer.kill()
    assert writer.returncode == 0, stderr
    running = [s for s in seen if s["state"] == "running"]
    assert len(running) >= 3, seen
    done = [s["done"] for s in running]
    assert done == sorted(done) and done[0] < done[-1], done  # progress is visible as it happens
    assert all(s["done"] + s["failed"] + s["remaining"] == 300 for s in running)
    assert any(0 < s["done"] < 300 for s in running)
    with_rate = [s for s in running if s["rate"]]
    assert with_rate, running
    assert all(s["rate"] > 0 and s["eta_seconds"] is not None for s in with_rate)
    # the writer was not disturbed: every run done, file complete and readable
    with hpcpet.load(str(out)) as t:
        assert t.completed.all()
        assert np.array_equal(t.get_from_runs("z"), t.explored["x"] * t.explored["y"])
        assert bool(t.meta["complete"])
    final = _status(out)
    assert final["state"] == "complete" and final["done"] == 300 and final["remaining"] == 0
    assert final["ended"]
    text = hpcpet_cli("status", out).stdout
    assert "state:      complete" in text and "completed:  300 (100.0%)" in text


def test_status_before_the_first_checkpoint(tmp_path):
    out = tmp_path / "slow.h5"
    writer = _start(out, HPCPET_SLOW_N=20, HPCPET_SLOW_SECONDS=0.0, HPCPET_SLOW_FIRST=4)
    try:
        assert _wait_for(lambda: os.path.exists(out) and os.path.getsize(out) > 0)
        time.sleep(0.5)
        # nothing committed yet, and nothing locked: info and status both read the file
        proc = hpcpet_cli("info", out)
        assert "0 completed" in proc.stdout and "writing:" in proc.stdout
        st = read_status(str(out))
        assert not os.path.exists(sidecar_path(str(out)))
        assert (st.state, st.n_runs, st.done) == ("running", 20, 0)
        assert str(os.getpid()) not in str(st.extra) and st.extra["pid"] == writer.pid
        _, stderr = writer.communicate(timeout=120)
    finally:
        if writer.poll() is None:
            writer.kill()
    assert writer.returncode == 0, stderr
    st = read_status(str(out))
    assert (st.state, st.done) == ("complete", 20)


def test_status_of_an_interrupted_file_is_incomplete(tmp_path):
    out = tmp_path / "slow.h5"
    writer = _start(out, HPCPET_SLOW_N=2000, HPCPET_SLOW_SECONDS=0.01)
    try:
        assert _wait_for(lambda: os.path.exists(sidecar_path(str(out))))
        writer.send_signal(2)  # SIGINT: finish running batches, save, exit
        writer.communicate(timeout=120)
    finally:
        if writer.poll() is None:
            writer.kill()
    st = _status(out)
    assert st["state"] == "incomplete"
    assert 0 < st["done"] < 2000 and st["remaining"] == 2000 - st["done"] - st["failed"]
    assert st["eta_seconds"] is None


def test_status_errors(tmp_path):
    proc = hpcpet_cli("status", tmp_path / "nope.h5", check=False)
    assert proc.returncode == 2 and "file not found" in proc.stderr
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    proc = hpcpet_cli("status", bad, check=False)
    assert proc.returncode == 2 and "hpcpet: error:" in proc.stderr
