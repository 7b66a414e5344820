"""Per-run control on every backend: --run-timeout, --retries, run info, --capture, worker deaths.

Real backends only: the pool, ``python -m scoop``, ``mpiexec -n 3`` (MPICH from the venv).
Run info is checked on the BatchResults each backend hands to the master
(tests/experiments/run_info.py drives the backend directly).
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import hpcpet
from conftest import assert_only_failed, bin_path, experiment, hpcpet_cli

HOSTILE = experiment("hostile.py")
MPIEXEC = bin_path("mpiexec")


def _have(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


needs_mpi = pytest.mark.skipif(not (_have("mpi4py") and os.path.exists(MPIEXEC)), reason="no MPI")
needs_scoop = pytest.mark.skipif(not (_have("scoop") and _have("psutil")), reason="no SCOOP")
BACKENDS = ["serial", "pool", pytest.param("scoop", marks=needs_scoop), pytest.param("mpi", marks=needs_mpi)]


def run_hostile(backend, out, *extra, check=True, timeout=120, **env):
    """Run tests/experiments/hostile.py into ``out`` with ``backend`` (mpi: mpiexec -n 3)."""
    env = {"HOSTILE_N": "40", "HOSTILE_SLEEP": "0.02", **env}
    args = ["run", HOSTILE, "-o", out, "--backend", backend, "--quiet", *extra]
    if backend == "mpi":
        return hpcpet_cli(*args, prefix=(MPIEXEC, "-n", "3"), env=env, check=check, timeout=timeout)
    if backend in ("pool", "scoop"):
        args += ["--ncores", "2"]
    return hpcpet_cli(*args, env=env, check=check, timeout=timeout)


# ------------------------------------------------------------------ --run-timeout


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_sleeping_60_s_times_out_and_the_rest_finish(tmp_path, backend):
    out = tmp_path / "out.h5"
    t = time.monotonic()
    run_hostile(backend, out, "--run-timeout", "2", HOSTILE_MODE="sleep", HOSTILE_AT="7")
    assert time.monotonic() - t < 45  # not the 60 s of the run
    assert_only_failed(out, {7: "timeout after 2 s"})


@pytest.mark.parametrize("backend", ["pool", pytest.param("scoop", marks=needs_scoop)])
def test_run_stuck_in_c_code_loses_its_worker(tmp_path, backend):
    """os.system("sleep 60") waits through SIGALRM: the worker process is replaced (pool) or killed (SCOOP)."""
    out = tmp_path / "out.h5"
    t = time.monotonic()
    run_hostile(backend, out, "--run-timeout", "1", HOSTILE_MODE="csleep", HOSTILE_AT="7")
    assert time.monotonic() - t < 45
    assert_only_failed(out, {7: "timeout after 1 s"})
    with hpcpet.load(str(out)) as t:
        assert "stuck in C code" in t.errors[7]


@needs_mpi
def test_mpi_run_stuck_in_c_code_ends_the_job_cleanly_then_resume(tmp_path):
    out = tmp_path / "out.h5"
    t = time.monotonic()
    proc = run_hostile("mpi", out, "--run-timeout", "1", check=False, HOSTILE_MODE="csleep", HOSTILE_AT="7",
                       HOSTILE_SLEEP="0.05")
    assert time.monotonic() - t < 45
    assert proc.returncode != 0
    assert "stuck past --run-timeout 1 s" in proc.stderr and f"python -m hpcpet resume {out}" in proc.stderr
    with hpcpet.load(str(out)) as t:  # closed cleanly: every run handed back is there
        assert t.meta.get("ended")
        assert "timeout after 1 s" in t.errors[7] and t.failed.sum() == 1
        done = np.flatnonzero(t.completed)
        assert np.array_equal(t.get_from_runs("z")[done], 2 * done)
    hpcpet_cli("resume", out, "--backend", "serial", "--quiet", env={"HOSTILE_N": "40"})
    assert_only_failed(out, {7: "timeout after 1 s"})  # the stuck run stays failed (--retry-failed reruns it)


# ------------------------------------------------------------------ --retries


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_failing_its_first_attempt_succeeds_with_one_retry(tmp_path, backend):
    out = tmp_path / "out.h5"
    run_hostile(backend, out, "--retries", "1", HOSTILE_MODE="fail", HOSTILE_AT="7",
                HOSTILE_MARKER=str(tmp_path / "once"))
    assert (tmp_path / "once").exists()  # it did fail once
    assert_only_failed(out, {})


def test_without_retries_the_failure_stands_and_retries_are_not_endless(tmp_path):
    out = tmp_path / "out.h5"
    run_hostile("serial", out, HOSTILE_MODE="fail", HOSTILE_AT="7", HOSTILE_MARKER=str(tmp_path / "once"))
    assert_only_failed(out, {7: "failed on its first attempt"})
    out2 = tmp_path / "out2.h5"
    run_hostile("pool", out2, "--retries", "3", HOSTILE_MODE="fail", HOSTILE_AT="7")  # fails every time
    assert_only_failed(out2, {7: "failed on its first attempt"})


def test_a_run_that_kills_its_worker_is_retried_in_a_new_worker(tmp_path):
    out = tmp_path / "out.h5"
    run_hostile("pool", out, "--retries", "1", HOSTILE_MODE="exit", HOSTILE_AT="7",
                HOSTILE_MARKER=str(tmp_path / "once"))
    assert_only_failed(out, {})


# ------------------------------------------------------------------ run info and --capture


def run_info(backend: str, capture: bool) -> dict:
    cmd = [experiment("run_info.py"), backend, "2"] + (["capture"] if capture else [])
    if backend == "mpi":
        cmd = [MPIEXEC, "-n", "3", sys.executable, *cmd]
    elif backend == "scoop":
        cmd = [sys.executable, "-m", "scoop", "--quiet", "-n", "3", *cmd]
    else:
        cmd = [sys.executable, *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0 and len(lines) == 1, proc.stderr
    return json.loads(lines[0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_info_and_captured_output_reach_the_master(backend):
    got = run_info(backend, capture=True)
    info = {int(i): v for i, v in got["info"].items()}
    assert sorted(info) == list(range(30))
    for i, v in info.items():
        assert 0.015 < v["duration"] < 5, v  # each run sleeps 20 ms
        assert got["t0"] - 1 < v["start"] < got["t1"], v
        assert v["host"] == socket.gethostname() and v["attempts"] == 1
        assert sorted(v["output"].splitlines()) == [f"C says {i}", f"python says {i}"]
    workers = {v["worker"] for v in info.values()}
    expected = {"serial": 1, "pool": 2, "scoop": 2, "mpi": 2}[backend]
    assert len(workers) == expected, workers
    if backend == "mpi":
        assert workers == {1, 2}  # the ranks
    # runs of one worker do not overlap in time
    for w in workers:
        mine = sorted((v["start"], v["duration"]) for v in info.values() if v["worker"] == w)
        assert all(s0 + d0 <= s1 + 1e-3 for (s0, d0), (s1, _) in zip(mine, mine[1:]))


def test_no_output_without_capture():
    info = run_info("pool", capture=False)["info"]
    assert all("output" not in v for v in info.values())


# ------------------------------------------------------------------ worker deaths, sys.exit


@pytest.mark.parametrize("backend", BACKENDS)
def test_sys_exit_in_a_run_fails_only_that_run(tmp_path, backend):
    out = tmp_path / "out.h5"
    run_hostile(backend, out, HOSTILE_MODE="sysexit", HOSTILE_AT="7")
    assert_only_failed(out, {7: "SystemExit: 5"})


@pytest.mark.parametrize("backend", BACKENDS)
def test_ragged_list_result_fails_only_that_run(tmp_path, backend):
    out = tmp_path / "out.h5"
    run_hostile(backend, out, HOSTILE_MODE="ragged", HOSTILE_AT="7")
    assert_only_failed(out, {7: "result 'a'"})


@needs_scoop
@pytest.mark.parametrize("mode,text", [("exit", "worker died (pid"), ("segv", "worker died (signal 11")])
def test_scoop_run_that_kills_its_worker_fails_alone(tmp_path, mode, text):
    out = tmp_path / "out.h5"
    proc = run_hostile("scoop", out, HOSTILE_MODE=mode, HOSTILE_AT="7")
    assert_only_failed(out, {7: text})
    assert "submitting the other runs of its batch again" in proc.stderr


@needs_scoop
def test_scoop_worker_killed_from_outside(tmp_path):
    out, pidfile = tmp_path / "out.h5", tmp_path / "pid"
    env = dict(os.environ, HOSTILE_MODE="wait", HOSTILE_AT="7", HOSTILE_N="40", HOSTILE_SLEEP="0.02",
               HOSTILE_PIDFILE=str(pidfile))
    p = subprocess.Popen([sys.executable, "-m", "hpcpet", "run", HOSTILE, "-o", str(out), "--backend", "scoop",
                          "--ncores", "2", "--quiet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        deadline = time.monotonic() + 60
        while not pidfile.exists():
            assert time.monotonic() < deadline and p.poll() is None
            time.sleep(0.05)
        os.kill(int(pidfile.read_text()), signal.SIGKILL)
        _, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 0, err
    assert_only_failed(out, {7: "worker died"})


@needs_mpi
@pytest.mark.parametrize("mode", ["exit", "segv"])
def test_mpi_dead_rank_ends_the_job_soon_and_resume_completes(tmp_path, mode):
    out = tmp_path / "out.h5"
    env = {"HOSTILE_MODE": mode, "HOSTILE_AT": "25", "HOSTILE_SLEEP": "0.05", "HOSTILE_N": "40",
           "HOSTILE_MARKER": str(tmp_path / "once"), "HPCPET_CHECKPOINT_SECONDS": "0.05"}
    t = time.monotonic()
    proc = run_hostile("mpi", out, check=False, timeout=60, **env)
    assert time.monotonic() - t < 10 + 5  # within 10 s of the death (plus start-up)
    assert proc.returncode != 0
    assert f"Complete with: python -m hpcpet resume {out}" in proc.stderr, proc.stderr
    with hpcpet.load(str(out)) as t:  # every committed run kept and right
        done = np.flatnonzero(t.completed)
        assert 0 < len(done) < 40 and not t.completed[25]
        assert np.array_equal(t.get_from_runs("z")[done], 2 * done)
    hpcpet_cli("resume", out, "--quiet", prefix=(MPIEXEC, "-n", "3"), env=env, timeout=120)
    assert_only_failed(out, {})


def test_serial_os_exit_ends_the_process_and_resume_completes(tmp_path):
    """Serial runs in the master: os._exit ends it at once; runs saved at checkpoints stay."""
    out = tmp_path / "out.h5"
    env = {"HOSTILE_MODE": "exit", "HOSTILE_AT": "25", "HOSTILE_SLEEP": "0.05",
           "HOSTILE_MARKER": str(tmp_path / "once"), "HPCPET_CHECKPOINT_SECONDS": "0.05"}
    proc = run_hostile("serial", out, check=False, **env)
    assert proc.returncode == 3  # the run's own exit code: nothing of hpcpet runs after os._exit
    with hpcpet.load(str(out)) as t:
        done = np.flatnonzero(t.completed)
        assert 0 < len(done) <= 25 and not t.completed[25:].any()
        assert np.array_equal(t.get_from_runs("z")[done], 2 * done)
    hpcpet_cli("resume", out, "--backend", "serial", "--quiet", env=env)
    assert_only_failed(out, {})


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("option,value,text", [("--run-timeout", "0", "--run-timeout must be > 0 seconds"),
                                               ("--run-timeout", "-3", "--run-timeout must be > 0 seconds"),
                                               ("--retries", "-1", "--retries must be >= 0")])
def test_bad_run_control_option_is_a_one_line_error(tmp_path, option, value, text):
    proc = hpcpet_cli("run", HOSTILE, "-o", tmp_path / "out.h5", option, value, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"hpcpet: error: {text}, got {value}"]
    assert not (tmp_path / "out.h5").exists()


def test_environment_refuses_bad_run_control():
    traj = hpcpet.Trajectory()
    traj.add_parameter("x", 0)
    with pytest.raises(hpcpet.HpcpetError, match="run timeout must be > 0"):
        hpcpet.Environment(traj, "x.h5", run_timeout=0)
    with pytest.raises(hpcpet.HpcpetError, match="retries must be >= 0"):
        hpcpet.Environment(traj, "x.h5", retries=-2)


@needs_scoop
def test_scoop_stopped_worker_then_sigterm_to_the_origin_ends_and_resume_completes(tmp_path):
    import psutil

    out, pidfile = tmp_path / "out.h5", tmp_path / "pid"
    env = dict(os.environ, HOSTILE_MODE="wait", HOSTILE_AT="7", HOSTILE_N="40", HOSTILE_SLEEP="0.05",
               HOSTILE_PIDFILE=str(pidfile), HOSTILE_MARKER=str(tmp_path / "once"), HPCPET_STOP_GRACE="1")
    p = subprocess.Popen([sys.executable, "-m", "hpcpet", "run", HOSTILE, "-o", str(out), "--backend", "scoop",
                          "--ncores", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not pidfile.exists():
            assert time.monotonic() < deadline and p.poll() is None
            time.sleep(0.05)
        worker = int(pidfile.read_text())
        os.kill(worker, signal.SIGSTOP)
        origin = [c for c in psutil.Process(p.pid).children(recursive=True)
                  if "--origin" in c.cmdline() and "scoop.bootstrap.__main__" in c.cmdline()]
        assert len(origin) == 1
        origin[0].send_signal(signal.SIGTERM)
        t = time.monotonic()
        _, err = p.communicate(timeout=30)
        assert time.monotonic() - t < 10, err
    finally:
        p.kill()
    assert p.returncode == 3 and "Complete with: python -m hpcpet resume" in err, err
    assert not psutil.pid_exists(worker) or psutil.Process(worker).status() == psutil.STATUS_ZOMBIE
    hpcpet_cli("resume", out, "--backend", "scoop", "--ncores", "2", "--quiet", env=env)
    assert_only_failed(out, {})


@pytest.mark.parametrize("backend", ["serial", "pool"])
def test_run_info_and_output_reach_the_file(tmp_path, backend):
    out = tmp_path / "out.h5"
    run_hostile(backend, out, "--capture", "--retries", "1", HOSTILE_PRINT="1", HOSTILE_N="6",
                HOSTILE_MODE="fail", HOSTILE_AT="4", HOSTILE_MARKER=str(tmp_path / "once"))
    with hpcpet.load(str(out)) as t:
        info = t.run_info
        assert {"duration", "start", "host", "worker", "attempts"} <= set(info)
        assert info["attempts"].tolist() == [1, 1, 1, 1, 2, 1]  # run 4 failed once, then succeeded
        assert (info["duration"] >= 0.02).all() and set(info["host"].tolist()) == {socket.gethostname()}
        for i in range(6):
            assert sorted(t.run(i).output.splitlines()) == [f"C says {i}", f"python says {i}"]


def test_resume_takes_the_run_control_options(tmp_path):
    """resume --retries / --run-timeout / --capture reach the runs like run's do."""
    from conftest import experiment as _exp

    out = tmp_path / "r.h5"
    proc = hpcpet_cli("resume", out, "--run-timeout", "0", check=False)
    assert proc.returncode == 2 and "--run-timeout must be > 0" in proc.stderr
    proc = hpcpet_cli("resume", out, "--retries", "-1", check=False)
    assert proc.returncode == 2 and "--retries must be >= 0" in proc.stderr
    hpcpet_cli("run", _exp("product.py"), "-o", out, "--quiet")
    proc = hpcpet_cli("resume", out, "--quiet", "--retries", "1", "--run-timeout", "5", "--capture")
    assert proc.returncode == 0
