"""run --part K/N: a contiguous slice of the exploration into its own file."""
import h5py
import numpy as np
import pytest

import hpcpet
from hpcpet.errors import HpcpetError
from hpcpet.parts import compact_ranges, parse_part, part_range
from hpcpet.storage.writer import Writer

from conftest import experiment, hpcpet_cli


def test_parse_part_is_one_based():
    assert parse_part("1/4") == (1, 4)
    assert parse_part("4/4") == (4, 4)
    for bad in ("0/4", "5/4", "1/0", "x", "1/2/3", ""):
        with pytest.raises(HpcpetError):
            parse_part(bad)


@pytest.mark.parametrize("n_runs,n", [(35, 3), (10, 10), (3, 5), (10**7, 8), (1001, 7)])
def test_part_ranges_tile_the_exploration(n_runs, n):
    ranges = [part_range(k, n, n_runs) for k in range(1, n + 1)]
    assert ranges[0][0] == 0 and ranges[-1][1] == n_runs
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    sizes = [hi - lo for lo, hi in ranges]
    assert max(sizes) - min(sizes) <= 1


def test_compact_ranges():
    assert compact_ranges(np.array([0, 1, 2, 5, 7, 8])) == "0-2, 5, 7-8"
    assert compact_ranges(np.array([], int)) == ""
    assert compact_ranges(np.arange(0, 100, 2), limit=2) == "0, 2, ... (48 more ranges)"


def test_part_file_has_global_indices_and_only_its_slice(tmp_path):
    out = tmp_path / "p2.h5"
    hpcpet_cli("run", experiment("kinds.py"), "-o", out, "--part", "2/3", "--set-size", "4", "--quiet")
    lo, hi = part_range(2, 3, 35)
    with h5py.File(out) as f:
        assert f.attrs["part"] == "2/3"
        assert (f.attrs["part_start"], f.attrs["part_stop"]) == (lo, hi)
        assert f.attrs["n_runs"] == 35
    with hpcpet.load(out) as t:
        assert len(t) == 35
        status = t.status
        assert (status[:lo] == 0).all() and (status[hi:] == 0).all()
        assert (status[lo:hi] != 0).all()
        z = t.get_from_runs("some_group.z")
        x, tau = t.explored["x"], t.explored["neuron.tau"]
        done = t.completed
        assert done[lo:hi].sum() >= hi - lo - 1
        assert np.allclose(z[done], (x * tau)[done])
        assert np.isnan(z[:lo]).all()


def test_writer_todo_of_a_part_file_is_its_slice(tmp_path):
    """resume uses Writer.todo(): a reopened part file only hands out its own runs."""
    out = tmp_path / "p.h5"
    hpcpet_cli("run", experiment("kinds.py"), "-o", out, "--part", "3/4", "--quiet")
    lo, hi = part_range(3, 4, 35)
    with h5py.File(out, "r+") as f:  # forget that the part ran, as after a crash
        f["runs/status"][...] = 0
    w = Writer.reopen(str(out))
    try:
        assert w.part == (lo, hi)
        assert list(w.todo()) == list(range(lo, hi))
        assert list(w.todo(retry_failed=True)) == list(range(lo, hi))
    finally:
        w.abandon()


def test_part_out_of_range_is_a_one_line_error(tmp_path):
    proc = hpcpet_cli("run", experiment("kinds.py"), "-o", tmp_path / "x.h5", "--part", "0/3",
                      check=False)
    assert proc.returncode == 2
    assert "hpcpet: error: --part 0/3" in proc.stderr and "Traceback" not in proc.stderr
