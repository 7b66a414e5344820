"""merge: part files of one exploration -> one file equal to an unsplit run."""
import h5py
import pytest

import hpcpet
from hpcpet.storage.merge import merge

from conftest import experiment, hpcpet_cli
from filecompare import assert_same_content


def run_parts(tmp_path, n, set_size, exp="kinds.py", ks=None):
    paths = []
    for k in ks or range(1, n + 1):
        p = tmp_path / f"part{k}of{n}.h5"
        hpcpet_cli("run", experiment(exp), "-o", p, "--part", f"{k}/{n}", "--set-size", set_size,
                   "--quiet")
        paths.append(str(p))
    return paths


@pytest.mark.parametrize("set_size", [4, 2])
def test_merge_with_straddling_buckets_equals_serial(tmp_path, reference, set_size):
    # 35 runs, 3 parts of 11/12/12 runs: boundaries fall inside buckets of 4 (and of 2,
    # where 18 buckets need nested blocks)
    paths = run_parts(tmp_path, 3, set_size)
    out = tmp_path / "all.h5"
    proc = hpcpet_cli("merge", *reversed(paths), "-o", out)
    assert "merged from 3 files" in proc.stderr
    assert_same_content(reference, str(out))
    with h5py.File(out) as f:
        assert "part" not in f.attrs and "part_start" not in f.attrs
        assert bool(f.attrs["complete"]) is False  # one run fails by design, as in serial
    with hpcpet.load(out) as t:
        assert len(t.errors) == 1 and "deliberate failure" in list(t.errors.values())[0]
        assert t.run(34)["sometimes.big"] == 320.0


def test_merge_of_bucket_aligned_parts(tmp_path, reference):
    # default set size 1000: 1 bucket of 35 runs; parts of 7 runs each straddle it
    paths = run_parts(tmp_path, 5, 1000)
    out = tmp_path / "all.h5"
    merge(paths, str(out))
    assert_same_content(reference, str(out))
    # set size 5 and 7 parts of 5 runs: every bucket lies in one part
    paths = run_parts(tmp_path, 7, 5)
    s = merge(paths, str(tmp_path / "all5.h5"))
    assert (s.parts, s.done, s.failed) == (7, 34, 1)
    assert_same_content(reference, str(tmp_path / "all5.h5"))


def test_missing_parts_are_named_as_ranges(tmp_path):
    paths = run_parts(tmp_path, 4, 4, ks=[1, 3])  # parts: 0-7, 8-16, 17-25, 26-34
    out = tmp_path / "all.h5"
    proc = hpcpet_cli("merge", *paths, "-o", out, check=False)
    assert proc.returncode == 2
    assert "18 of 35 runs are missing" in proc.stderr
    assert "in no part: 8-16, 26-34" in proc.stderr
    assert not out.exists()
    hpcpet_cli("merge", *paths, "-o", out, "--allow-missing")
    with hpcpet.load(out) as t:
        st = t.status
        assert (st[8:17] == 0).all() and (st[26:] == 0).all() and (st[:8] != 0).all()


def test_overlap_and_foreign_parts_are_refused(tmp_path):
    a = run_parts(tmp_path, 2, 4)
    b = run_parts(tmp_path, 3, 4, ks=[2])
    proc = hpcpet_cli("merge", *a, *b, "-o", tmp_path / "x.h5", check=False)
    assert proc.returncode == 2 and "overlap" in proc.stderr
    other = tmp_path / "product.h5"
    hpcpet_cli("run", experiment("product.py"), "-o", other, "--part", "2/2", "--quiet")
    proc = hpcpet_cli("merge", a[0], other, "-o", tmp_path / "y.h5", check=False)
    assert proc.returncode == 2 and "not a part of the same exploration" in proc.stderr
    assert not (tmp_path / "x.h5").exists() and not (tmp_path / "y.h5").exists()


def test_existing_output_needs_overwrite(tmp_path, reference):
    paths = run_parts(tmp_path, 2, 1000)
    out = tmp_path / "all.h5"
    out.write_text("not hdf5")
    proc = hpcpet_cli("merge", *paths, "-o", out, check=False)
    assert proc.returncode == 2 and "--overwrite" in proc.stderr
    hpcpet_cli("merge", *paths, "-o", out, "--overwrite")
    assert_same_content(reference, str(out))
