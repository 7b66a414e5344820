"""The column index (hpcpet/column_index.py): an accelerator that must never give other values."""
import os
import shutil

import h5py
import numpy as np

import hpcpet
from conftest import experiment, hpcpet_cli


def _columns(path):
    with hpcpet.load(path) as t:
        return {name: t.get_from_runs(name) for name, d in t.results.items() if d["kind"] == "fixed"}


def _without_index(path, tmp_path):
    copy = str(tmp_path / "noindex.h5")
    shutil.copy(path, copy)
    with h5py.File(copy, "r+") as f:
        del f["column_index"]
    return copy


def test_index_gives_the_same_columns_as_hdf5(tmp_path):
    out = str(tmp_path / "k.h5")
    hpcpet_cli("run", experiment("kinds.py"), "-o", out, "--set-size", "4", "--quiet")
    with h5py.File(out, "r") as f:
        assert "column_index/some_group/z" in f
        offsets = f["column_index/some_group/z"][()]
        assert (offsets >= 0).sum() >= 7  # most buckets are indexed
        assert f["column_index"].attrs["file_size"] == os.path.getsize(out)
    a, b = _columns(out), _columns(_without_index(out, tmp_path))
    assert a.keys() == b.keys() and "sometimes.big" in a
    for name in a:
        assert np.array_equal(a[name], b[name], equal_nan=True), name


def test_index_is_ignored_once_another_program_changed_the_file(tmp_path):
    out = str(tmp_path / "p.h5")
    hpcpet_cli("run", experiment("product.py"), "-o", out, "--set-size", "100", "--quiet")
    with h5py.File(out, "r+") as f:  # replace one bucket's data with other values
        ds = f["results/block_00000/run_set_00003/some_group/z"]
        new = -np.arange(len(ds), dtype=float)
        del f["results/block_00000/run_set_00003/some_group/z"]
        f["results/block_00000/run_set_00003/some_group/z"] = new
    with hpcpet.load(out) as t:
        z = t.get_from_runs("some_group.z")
    assert np.array_equal(z[300:400], -np.arange(100.0))


def test_resume_rebuilds_the_index(tmp_path):
    out = str(tmp_path / "r.h5")
    hpcpet_cli("run", experiment("kinds.py"), "-o", out, "--quiet")
    size_before = os.path.getsize(out)
    hpcpet_cli("resume", out, "--retry-failed", "--quiet")  # the failing run fails again
    assert os.path.getsize(out) > size_before
    with h5py.File(out, "r") as f:
        assert f["column_index"].attrs["file_size"] == os.path.getsize(out)
    a, b = _columns(out), _columns(_without_index(out, tmp_path))
    for name in a:
        assert np.array_equal(a[name], b[name], equal_nan=True), name


def test_a_crashed_file_has_no_index(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "c.h5"
    p = subprocess.Popen([sys.executable, "-m", "hpcpet", "run", experiment("product.py"), "-o", str(out),
                          "--quiet", "--set-size", "10", "--batch-size", "1"],
                         env=dict(os.environ, HPCPET_CHECKPOINT_SECONDS="0.01"))
    deadline = time.monotonic() + 30
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.05)
    assert p.poll() is None, "the job ended before the kill"
    p.send_signal(signal.SIGKILL)
    p.wait()
    with h5py.File(out, "r") as f:
        assert "column_index" not in f


def test_merged_file_has_an_index(tmp_path):
    parts = []
    for k in (1, 2, 3):
        out = str(tmp_path / f"p{k}.h5")
        hpcpet_cli("run", experiment("kinds.py"), "-o", out, "--set-size", "4", "--part", f"{k}/3", "--quiet")
        parts.append(out)
    merged = str(tmp_path / "all.h5")
    hpcpet_cli("merge", *parts, "-o", merged)
    with h5py.File(merged, "r") as f:
        assert f["column_index"].attrs["file_size"] == os.path.getsize(merged)
    a, b = _columns(merged), _columns(_without_index(merged, tmp_path))
    for name in a:
        assert np.array_equal(a[name], b[name], equal_nan=True), name


def test_index_with_a_dtype_that_changes_between_buckets(tmp_path):
    out = str(tmp_path / "m.h5")
    hpcpet_cli("run", experiment("mixed_dtypes.py"), "-o", out, "--set-size", "8", "--batch-size", "8",
               "--quiet")
    a, b = _columns(out), _columns(_without_index(out, tmp_path))
    assert a["v"].dtype == np.float64
    assert np.array_equal(a["v"], [i * 3 if i < 20 else i * 0.5 for i in range(40)])
    for name in a:
        assert np.array_equal(a[name], b[name], equal_nan=True), name
    assert np.isnan(a["sparse"][::7]).all() and a["sparse"][1] == 1
