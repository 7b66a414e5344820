"""The sdist and wheel: LICENSE in both, templates in the wheel, a test suite that runs from the sdist."""
import os
import subprocess
import sys
import tarfile
import zipfile

import pytest

from conftest import ROOT, bin_path

#: set in the test run inside the unpacked sdist, so that it does not build itself again
INSIDE = "HPCPET_TESTING_SDIST"
pytestmark = pytest.mark.skipif(os.environ.get(INSIDE) == "1", reason="already testing the unpacked sdist")


def build(kind: str, source: str, out: str) -> str:
    code = f"from setuptools import build_meta as b; print(b.build_{kind}({out!r}))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=source, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return os.path.join(out, proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    """(path of the sdist, folder it was unpacked into)."""
    out = tmp_path_factory.mktemp("dist")
    path = build("sdist", ROOT, str(out))
    with tarfile.open(path) as tar:
        tar.extractall(out)
    return path, os.path.join(out, os.path.basename(path)[:-len(".tar.gz")])


def test_sdist_holds_license_tests_and_templates(sdist):
    with tarfile.open(sdist[0]) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for needed in ("LICENSE", "tests/conftest.py", "tests/filecompare.py", "tests/experiments/kinds.py",
                   "tests/data/pypet_small.hdf5", "tests/data/slow.py", "examples/product.py",
                   "hpcpet/jobscripts/run-mpi.sbatch", "hpcpet/jobscripts/submit-array.sh", "docs/mpi.md"):
        assert needed in names, needed
    assert not any("__pycache__" in n for n in names)
    git = subprocess.run(["git", "ls-files", "tests", "examples", "docs", "hpcpet"], cwd=ROOT,
                         capture_output=True, text=True)
    if git.returncode == 0:  # a checkout: every tracked file of these folders is in the sdist
        missing = sorted(set(git.stdout.split()) - names)
        assert not missing, missing


def test_wheel_from_the_sdist_holds_license_and_templates(sdist, tmp_path):
    wheel = build("wheel", sdist[1], str(tmp_path))
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        license_files = [n for n in names if n.endswith("LICENSE") and ".dist-info/" in n]
        assert license_files and "BSD 3-Clause" in z.read(license_files[0]).decode()
        assert "the hpcpet developers" in z.read(license_files[0]).decode()
        for name in ("run-mpi.sbatch", "run-part.sbatch", "merge.sbatch", "submit-array.sh"):
            assert f"hpcpet/jobscripts/{name}" in names
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "Provides-Extra: mpich" in meta and "Provides-Extra: mpi" in meta
    assert "threadpoolctl" in meta


def test_test_suite_runs_from_the_unpacked_sdist(sdist):
    folder = sdist[1]
    env = dict(os.environ, **{INSIDE: "1"})
    where = subprocess.run([sys.executable, "-c", "import hpcpet; print(hpcpet.__file__)"], cwd=folder,
                           capture_output=True, text=True, env=env).stdout
    assert where.startswith(folder), where  # the unpacked package, not this checkout's
    collect = subprocess.run([sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider",
                              "tests"], cwd=folder, capture_output=True, text=True, env=env, timeout=300)
    assert collect.returncode == 0, collect.stdout[-3000:] + collect.stderr[-2000:]
    quick = ["tests/test_naming.py", "tests/test_jobscript.py", "tests/test_launch.py", "tests/test_examples.py",
             "tests/test_import_pypet.py"]
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *quick],
                          cwd=folder, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert " passed" in proc.stdout.splitlines()[-1]


def test_console_script_usage_names_itself():
    script = bin_path("hpcpet")
    if not os.path.exists(script):
        pytest.skip("hpcpet console script not installed")
    proc = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.stdout.startswith("usage: hpcpet "), proc.stdout[:200]
    proc = subprocess.run([sys.executable, "-m", "hpcpet", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.stdout.startswith("usage: python -m hpcpet "), proc.stdout[:200]
