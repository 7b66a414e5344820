import os
import signal
import subprocess
import sys
import time

import pytest

import hpcpet
from backend_contract import BackendContract
from conftest import assert_only_failed, experiment, hpcpet_cli


class TestPool(BackendContract):
    backend = "pool"

    def execute(self, exp, out, *extra):
        return super().execute(exp, out, "--ncores", "2", *extra)


def test_file_that_cannot_be_created_after_workers_started(tmp_path):
    # the pool starts (and gets its first batches) before the file is created; it must not linger
    import subprocess
    import sys

    from conftest import experiment

    out = tmp_path / "out.h5"
    proc = subprocess.run([sys.executable, experiment("create_fails.py"), str(out), "pool"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "cannot write the file (simulated)" in proc.stderr
    assert not out.exists()
    # runs of 60 s: the pool must not wait for the batches its workers already have
    proc = subprocess.run([sys.executable, experiment("create_fails.py"), str(out), "pool", "60"],
                          capture_output=True, text=True, timeout=50)
    assert proc.returncode == 2 and "cannot write the file (simulated)" in proc.stderr


# ------------------------------------------------- runs that kill or stop their worker (issue 13)

HOSTILE = experiment("hostile.py")


def hostile(tmp_path, mode, at=7, n=40, pause=0.02, extra=(), check=True, **env):
    """Run tests/experiments/hostile.py with the pool; return (process, file)."""
    out = tmp_path / "out.h5"
    proc = hpcpet_cli("run", HOSTILE, "-o", out, "--backend", "pool", "--ncores", "2", "--quiet", *extra,
                      env={"HOSTILE_MODE": mode, "HOSTILE_AT": str(at), "HOSTILE_N": str(n),
                           "HOSTILE_SLEEP": str(pause), **env}, timeout=120, check=check)
    return proc, str(out)


@pytest.mark.parametrize("mode,text", [("exit", "worker died (exit code 3) in run 7"),
                                       ("segv", "worker died (signal 11, SIGSEGV) in run 7")])
def test_a_run_that_kills_its_worker_fails_alone(tmp_path, mode, text):
    _, out = hostile(tmp_path, mode)
    pids = assert_only_failed(out, {7: text})
    assert len(pids) == 3  # the two first workers and the replacement


def test_a_dying_run_among_short_untimed_runs_is_found(tmp_path):
    # runs of microseconds are not timed one by one: the batch is run again, noting each run
    _, out = hostile(tmp_path, "exit", at=3000, n=20000, pause=0)
    assert_only_failed(out, {3000: "worker died (exit code 3) in run 3000"})


def test_sys_exit_is_a_run_failure(tmp_path):
    _, out = hostile(tmp_path, "sysexit")
    pids = assert_only_failed(out, {7: "SystemExit: 5"})
    assert len(pids) == 2  # no worker was lost


def test_ragged_list_result_fails_only_its_run(tmp_path):
    _, out = hostile(tmp_path, "ragged")
    assert_only_failed(out, {7: "result 'a'"})


def wait_for(path, limit=60.0):
    deadline = time.monotonic() + limit
    while not os.path.exists(path):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)
    return int(open(path).read())


def open_files(pid: int | str) -> list[str]:
    """What the descriptors of process ``pid`` (or ``"self"``) point to."""
    fds = f"/proc/{pid}/fd"
    out = []
    for fd in os.listdir(fds):
        try:
            out.append(os.readlink(os.path.join(fds, fd)))
        except OSError:
            pass
    return out


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_sigkill_of_a_worker_during_resume(tmp_path):
    _, out = hostile(tmp_path, "fail")  # run 7 fails; resume --retry-failed then runs it alone
    pidfile = tmp_path / "pid"
    env = dict(os.environ, HOSTILE_MODE="wait", HOSTILE_AT="7", HOSTILE_N="40", HOSTILE_PIDFILE=str(pidfile))
    p = subprocess.Popen([sys.executable, "-m", "hpcpet", "resume", out, "--retry-failed", "--backend", "pool",
                          "--ncores", "2", "--quiet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        pid = wait_for(pidfile)
        assert not [f for f in open_files(pid) if ".h5" in f], open_files(pid)  # nor any storage file
        os.kill(pid, signal.SIGKILL)
        _, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 0, err
    assert_only_failed(out, {7: "worker died (signal 9, SIGKILL) in run 7"})


def test_stopped_worker_then_sigterm_ends_and_resume_completes(tmp_path):
    out = tmp_path / "out.h5"
    pidfile = tmp_path / "pid"
    env = dict(os.environ, HOSTILE_MODE="wait", HOSTILE_AT="7", HOSTILE_N="40", HOSTILE_SLEEP="0.05",
               HOSTILE_PIDFILE=str(pidfile), HOSTILE_MARKER=str(tmp_path / "once"), HPCPET_STOP_GRACE="1",
               HPCPET_CHECKPOINT_SECONDS="0.05")
    p = subprocess.Popen([sys.executable, "-m", "hpcpet", "run", HOSTILE, "-o", str(out), "--backend", "pool",
                          "--ncores", "2", "--quiet"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        pid = wait_for(pidfile)
        os.kill(pid, signal.SIGSTOP)
        time.sleep(0.5)
        p.send_signal(signal.SIGTERM)
        t = time.monotonic()
        _, err = p.communicate(timeout=30)
        assert time.monotonic() - t < 10, err
    finally:
        p.kill()
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, UnboundLocalError):
            pass
    assert p.returncode == 3 and "Traceback" not in err, err
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    hpcpet_cli("resume", out, "--backend", "pool", "--ncores", "2", "--quiet", env=env)
    assert_only_failed(str(out), {})


def _h5_descriptors(traj):
    """In a run: how many of this worker's descriptors point to the file the master holds open."""
    traj.add_result("held", sum(link == traj.held_path for link in open_files("self")))
    traj.add_result("pid", os.getpid())


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_forked_workers_never_inherit_an_open_hdf5_file(tmp_path):
    """The master holds an HDF5 file open (h5py) when the pool forks: no worker keeps it."""
    import h5py

    held = tmp_path / "held.h5"
    with h5py.File(held, "w") as h5:
        h5["x"] = 1
        traj = hpcpet.Trajectory()
        traj.add_parameter("x", 0)
        traj.add_parameter("held_path", os.path.realpath(held))
        traj.explore({"x": list(range(20))})
        own = [f for f in open_files(os.getpid()) if f == os.path.realpath(held)]
        assert own  # the master does hold it
        hpcpet.Environment(traj, str(tmp_path / "out.h5"), backend="pool", ncores=2, progress="quiet",
                           batch_size=2).run(_h5_descriptors)
        h5["y"] = 2  # the master's handle still works
    with hpcpet.load(str(tmp_path / "out.h5")) as t:
        assert t.completed.all() and len(set(t.get_from_runs("pid").tolist())) == 2
        assert t.get_from_runs("held").tolist() == [0] * 20
    with h5py.File(held, "r") as h5:
        assert h5["x"][()] == 1 and h5["y"][()] == 2
