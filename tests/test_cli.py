"""The command line: ``python -m hpcpet run|info`` and ``python experiment.py`` (subprocesses)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import hpcpet
from conftest import experiment, hpcpet_cli


def test_run_then_info(tmp_path):
    out = tmp_path / "k.h5"
    proc = hpcpet_cli("run", experiment("kinds.py"), "-o", out, "--set-size", "5", "--progress", "log")
    assert proc.returncode == 0
    assert "34/35 runs done, 1 failed, 0 pending" in proc.stderr
    with hpcpet.load(str(out)) as t:
        assert len(t) == 35 and t.set_size == 5 and t.meta["backend"] == "serial"
    info = hpcpet_cli("info", out)
    text = info.stdout
    assert "runs:        35 total, 34 completed, 1 failed, 0 pending" in text
    assert "set size:    5" in text
    assert f"experiment:  {experiment('kinds.py')}" in text
    assert "x = 1.0  explored: 1.0, 2.0, 3.0, 4.0, 5.0  # first factor" in text
    assert "neuron.tau = 10.0  explored: 7 values in [5.0, 320.0]" in text
    assert "label = 'abc'" in text
    assert "exploration: cartesian 5 x 7" in text
    for line in ("some_group.z: fixed float64  # product", "arrays.fixed: fixed float64 shape (3,)",
                 "arrays.ragged: ragged float64", "text.msg: string str", "ints.n: fixed int64",
                 "sometimes.big: fixed float64", "return: fixed float64"):
        assert f"  {line}" in text, line
    assert "hpcpet " + hpcpet.__version__ in text


def test_experiment_file_runs_itself(tmp_path):
    out = tmp_path / "self.h5"
    proc = subprocess.run([sys.executable, experiment("product.py"), "-o", str(out), "--quiet",
                           "--set-size", "700"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # --quiet
    with hpcpet.load(str(out)) as t:
        assert len(t) == 5000 and t.completed.all() and t.set_size == 700
        assert np.array_equal(t.get_from_runs("some_group.z"), t.explored["x"] * t.explored["neuron.tau"])
        assert t.meta["experiment_path"] == experiment("product.py")


def test_overwrite(tmp_path):
    out = tmp_path / "o.h5"
    hpcpet_cli("run", experiment("kinds.py"), "-o", out, "--quiet")
    again = hpcpet_cli("run", experiment("kinds.py"), "-o", out, "--quiet", check=False)
    assert again.returncode == 2
    assert again.stderr.startswith("hpcpet: error: ") and "--overwrite" in again.stderr
    assert "Traceback" not in again.stderr
    with hpcpet.load(str(out)) as t:  # untouched
        assert t.completed.sum() == 34
    hpcpet_cli("run", experiment("kinds.py"), "-o", out, "--quiet", "--overwrite", "--set-size", "2")
    with hpcpet.load(str(out)) as t:
        assert t.set_size == 2 and t.completed.sum() == 34


@pytest.mark.parametrize("args,needle", [
    (["run", "{tmp}/missing.py", "-o", "{tmp}/x.h5"], "experiment file not found"),
    (["run", "{kinds}", "-o", "{tmp}/no/such/dir/x.h5"], "output folder does not exist"),
    (["run", "{kinds}", "-o", "{tmp}/x.h5", "--set-size", "0"], "set size must be >= 1"),
    (["run", "{kinds}", "-o", "{tmp}/x.h5", "--ncores", "0"], "--ncores must be >= 1"),
    (["run", "{bad}", "-o", "{tmp}/x.h5"], "has no run() function"),
    (["run", "{broken}", "-o", "{tmp}/x.h5"], "failed to import: ZeroDivisionError"),
    (["info", "{tmp}/missing.h5"], "file not found"),
    (["info", "{plain}"], "not an hpcpet results file"),
])
def test_user_errors_are_one_line_exit_2(tmp_path, args, needle):
    import h5py

    (tmp_path / "bad.py").write_text("def build(traj):\n    pass\n")
    (tmp_path / "broken.py").write_text("1 / 0\n")
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["x"] = 1
    subs = {"tmp": str(tmp_path), "kinds": experiment("kinds.py"), "bad": str(tmp_path / "bad.py"),
            "broken": str(tmp_path / "broken.py"), "plain": str(tmp_path / "plain.h5")}
    quiet = ["--quiet"] if args[0] == "run" else []
    proc = hpcpet_cli(*[a.format(**subs) for a in args], *quiet, check=False)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hpcpet: error: "), proc.stderr
    assert needle in lines[0]
    assert not (tmp_path / "x.h5").exists()


def test_usage_errors_exit_2():
    proc = hpcpet_cli("run", check=False)
    assert proc.returncode == 2 and "usage:" in proc.stderr
    proc = hpcpet_cli("nosuchverb", check=False)
    assert proc.returncode == 2
    proc = hpcpet_cli(check=False)
    assert proc.returncode == 2


def test_version_and_help():
    proc = hpcpet_cli("--version")
    assert proc.stdout.strip() == f"hpcpet {hpcpet.__version__}"
    proc = hpcpet_cli("run", "--help")
    for opt in ("--set-size", "--overwrite", "--backend", "--batch-size", "--fail-fast"):
        assert opt in proc.stdout


def test_fail_fast_exit_code(tmp_path):
    out = tmp_path / "ff.h5"
    proc = hpcpet_cli("run", experiment("kinds.py"), "-o", out, "--quiet", "--fail-fast",
                      "--batch-size", "1", check=False)
    assert proc.returncode == 2 and "a run failed (--fail-fast)" in proc.stderr
    with hpcpet.load(str(out)) as t:
        i = int(np.flatnonzero(t.failed)[0])
        assert t.failed.sum() == 1 and not t.status[i + 1:].any()


def test_pool_backend_via_cli(tmp_path, reference):
    from filecompare import assert_same_content

    out = tmp_path / "pool.h5"
    hpcpet_cli("run", experiment("kinds.py"), "-o", out, "--backend", "pool", "--ncores", "2", "--quiet")
    assert_same_content(reference, str(out))


@pytest.mark.skipif(not __import__("shutil").which("git"), reason="no git")
def test_file_records_the_git_commit_of_the_experiment(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    exp = repo / "product.py"
    exp.write_text(open(experiment("product.py")).read())
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "product.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "experiment"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()

    def recorded(name: str) -> str:
        hpcpet_cli("run", exp, "-o", tmp_path / name, "--quiet")
        with hpcpet.load(str(tmp_path / name)) as t:
            return t.meta["git_commit"]

    assert recorded("clean.h5") == head
    exp.write_text(exp.read_text() + "\n# changed\n")
    assert recorded("dirty.h5") == head + "+dirty"
    outside = tmp_path / "outside.py"
    outside.write_text(exp.read_text())
    hpcpet_cli("run", outside, "-o", tmp_path / "none.h5", "--quiet")
    with hpcpet.load(str(tmp_path / "none.h5")) as t:
        assert t.meta["git_commit"] == ""
