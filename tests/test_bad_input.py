"""Bad input through the real CLI: one line naming the problem, exit != 0, no traceback, nothing lost."""
import os
import shutil
import subprocess
import sys
import time

import h5py
import pytest

import hpcpet
from conftest import experiment, hpcpet_cli
from filecompare import assert_same_content

GOOD = experiment("kinds.py")


def assert_error(proc, *words):
    """Exit != 0, exactly one ``hpcpet: error:`` line naming the problem, no traceback."""
    assert proc.returncode != 0, proc
    err = proc.stderr
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("hpcpet: error:")]
    assert len(errors) == 1, err
    for w in words:
        assert w.lower() in errors[0].lower(), (w, errors[0])
    return errors[0]


def write_exp(tmp_path, body: str, name="exp.py"):
    path = tmp_path / name
    path.write_text("import hpcpet\n" + body)
    return path


def test_mismatched_explore_lengths(tmp_path):
    exp = write_exp(tmp_path, "def build(traj):\n    traj.add_parameter('a', 1)\n    traj.add_parameter('b', 1)\n"
                              "    traj.explore({'a': [1, 2, 3], 'b': [1, 2]})\n"
                              "def run(traj):\n    pass\n")
    out = tmp_path / "o.h5"
    assert_error(hpcpet_cli("run", exp, "-o", out, check=False), "different lengths", "a: 3", "b: 2")
    assert not out.exists()


def test_exploring_an_undeclared_parameter(tmp_path):
    exp = write_exp(tmp_path, "def build(traj):\n    traj.add_parameter('a', 1)\n"
                              "    traj.explore({'nope': [1, 2]})\n"
                              "def run(traj):\n    pass\n")
    assert_error(hpcpet_cli("run", exp, "-o", tmp_path / "o.h5", check=False), "undeclared", "nope")


@pytest.mark.parametrize("name", ["1abc", "a..b", "with space", "a-b"])
def test_invalid_parameter_name(tmp_path, name):
    exp = write_exp(tmp_path, f"def build(traj):\n    traj.add_parameter({name!r}, 1)\n"
                              "def run(traj):\n    pass\n")
    assert_error(hpcpet_cli("run", exp, "-o", tmp_path / "o.h5", check=False), name)


@pytest.mark.parametrize("missing", ["build", "run"])
def test_experiment_without_build_or_run(tmp_path, missing):
    body = {"build": "def run(traj):\n    pass\n",
            "run": "def build(traj):\n    traj.add_parameter('a', 1)\n"}[missing]
    exp = write_exp(tmp_path, body)
    assert_error(hpcpet_cli("run", exp, "-o", tmp_path / "o.h5", check=False), f"no {missing}()")


def test_experiment_that_fails_to_import(tmp_path):
    exp = write_exp(tmp_path, "import not_a_module_anywhere\n")
    assert_error(hpcpet_cli("run", exp, "-o", tmp_path / "o.h5", check=False),
                 "failed to import", "not_a_module_anywhere")


def test_missing_files(tmp_path):
    assert_error(hpcpet_cli("run", tmp_path / "none.py", "-o", tmp_path / "o.h5", check=False),
                 "not found", "none.py")
    assert_error(hpcpet_cli("resume", tmp_path / "none.h5", check=False), "not found", "none.h5")
    assert_error(hpcpet_cli("info", tmp_path / "none.h5", check=False), "not found", "none.h5")


def test_existing_output_without_overwrite_is_unchanged(reference, tmp_path):
    out = tmp_path / "o.h5"
    shutil.copy(reference, out)
    before, mtime = out.read_bytes(), os.stat(out).st_mtime_ns
    assert_error(hpcpet_cli("run", GOOD, "-o", out, check=False), "exists", "--overwrite", "resume")
    assert out.read_bytes() == before and os.stat(out).st_mtime_ns == mtime


def test_not_an_hpcpet_file(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("just some text\n" * 100)
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as h5:
        h5["x"] = [1, 2, 3]
    for verb in ("resume", "info"):
        assert_error(hpcpet_cli(verb, text, check=False), "notes.h5", "not")
        assert_error(hpcpet_cli(verb, plain, check=False), "plain.h5", "not an hpcpet")


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_or_truncated_file(reference, tmp_path, damage):
    out = tmp_path / "o.h5"
    data = open(reference, "rb").read()
    if damage == "truncated":
        out.write_bytes(data[: len(data) // 2])
    else:
        out.write_bytes(data[:64] + os.urandom(len(data) - 64))
    for verb in ("resume", "info"):
        assert_error(hpcpet_cli(verb, out, check=False), "o.h5")


def test_locking_can_be_switched_off(reference, tmp_path):
    """The hint for NFS/Lustre (errno 37/524) names HDF5_USE_FILE_LOCKING=FALSE; that setting works."""
    from hpcpet.storage.files import open_h5

    out = tmp_path / "o.h5"
    shutil.copy(reference, out)
    hpcpet_cli("resume", out, "--quiet", env={"HDF5_USE_FILE_LOCKING": "FALSE"})
    assert_same_content(str(out), reference)
    with pytest.raises(hpcpet.HpcpetError, match="not found"):
        open_h5(str(tmp_path / "none.h5"), "r")


def _mount_tmpfs(path, options):
    path.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    return r.returncode == 0


def _umount(path):
    subprocess.run(["umount", str(path)], capture_output=True)


def test_read_only_directory(tmp_path):
    ro = tmp_path / "ro"
    mounted = _mount_tmpfs(ro, "ro,size=64k")
    if not mounted:
        if os.geteuid() == 0:
            pytest.skip("root ignores permissions and tmpfs cannot be mounted here")
        os.chmod(ro, 0o555)
    try:
        assert_error(hpcpet_cli("run", GOOD, "-o", ro / "o.h5", check=False), "not writable", str(ro))
        assert_error(hpcpet_cli("run", GOOD, "-o", tmp_path / "nodir" / "o.h5", check=False),
                     "does not exist")
    finally:
        if mounted:
            _umount(ro)
        else:
            os.chmod(ro, 0o755)


def test_full_disk(tmp_path):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "size=40m"):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        # a disk that is already (nearly) full: refused before anything is written
        (disk / "fill").write_bytes(b"\0" * (30 << 20))
        out = disk / "o.h5"
        assert_error(hpcpet_cli("run", GOOD, "-o", out, check=False), "disk nearly full")
        assert not out.exists()
        # a disk that fills up during the run: it stops, the saved runs are intact, resume completes
        (disk / "fill").unlink()
        (disk / "fill").write_bytes(b"\0" * (7 << 20))
        env = {"FAULTS_N": "16000", "HPCPET_MIN_FREE_MB": "32.3", "HPCPET_CHECKPOINT_SECONDS": "0.05"}
        proc = hpcpet_cli("run", experiment("faults.py"), "-o", out, "--set-size", 100, "--quiet",
                          env=env, check=False)
        assert_error(proc, "disk nearly full", "resume")
        with hpcpet.load(str(out)) as a:
            done = int(a.completed.sum())
            assert 0 < done < 16000
            z = a.get_from_runs("z")
            explored = a.explored
            ok = a.completed
            assert (z[ok] == (explored["i"] * explored["phase"])[ok]).all()
        (disk / "fill").unlink()
        hpcpet_cli("resume", out, "--quiet", "--backend", "pool", "--ncores", 2,
                   env={**env, "HPCPET_MIN_FREE_MB": "1"}, timeout=300)
        with hpcpet.load(str(out)) as a:
            assert int(a.completed.sum()) == 16000 - 160
    finally:
        _umount(disk)


def test_nearly_full_disk_is_refused_on_any_machine(tmp_path):
    # without a small tmpfs: ask for more free space than any disk has
    out = tmp_path / "o.h5"
    proc = hpcpet_cli("run", GOOD, "-o", out, check=False, env={"HPCPET_MIN_FREE_MB": str(1 << 40)})
    assert_error(proc, "disk nearly full", "HPCPET_MIN_FREE_MB")
    assert not out.exists()


@pytest.mark.parametrize("option,value", [("--batch-size", "0"), ("--batch-size", "-1"), ("--ncores", "0")])
def test_batch_size_and_ncores_below_one(tmp_path, option, value):
    out = tmp_path / "o.h5"
    assert_error(hpcpet_cli("run", GOOD, "-o", out, option, value, check=False), option, value)
    assert not out.exists()
    hpcpet_cli("run", GOOD, "-o", out, "--quiet")
    before = out.read_bytes()
    assert_error(hpcpet_cli("resume", out, option, value, check=False), option, value)
    assert out.read_bytes() == before
