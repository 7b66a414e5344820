"""Lazy loading of results files: hpcpet/storage/reader.py."""
import h5py
import numpy as np
import pytest

import hpcpet
from conftest import experiment, hpcpet_cli
from hpcpet.errors import FileFormatError, HpcpetError


@pytest.fixture(scope="module")
def kinds_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("load") / "kinds.h5"
    hpcpet_cli("run", experiment("kinds.py"), "-o", out, "--set-size", "4", "--quiet")
    return str(out)


def test_opening_reads_no_results(kinds_file, tmp_path):
    """Opening, metadata, explored values and other results never read a result's data.

    The column ``some_group/z`` is replaced by a dataset whose data lives in a
    file that does not exist: any read of it fails, so only asking for it may fail.
    """
    import shutil

    path = str(tmp_path / "lazy.h5")
    shutil.copy(kinds_file, path)
    with h5py.File(path, "r+") as f:
        g = f["results/some_group/z"]
        old = g["data"]
        shape, dtype = old.shape, old.dtype
        del g["data"]
        g.create_dataset("data", shape=shape, dtype=dtype,
                         external=[(str(tmp_path / "gone.bin"), 0, h5py.h5f.UNLIMITED)])
    with hpcpet.load(path) as t:
        assert len(t) == 35 and t.meta["n_runs"] == 35
        assert "some_group.z" in t.results
        assert t.explored["x"][0] == 1.0 and t.parameters["x"] == 1.0
        assert t.completed.sum() == 34
        assert t.get_from_runs("ints.n")[0] == 2  # another result of the same buckets
        with pytest.raises(Exception):
            t.get_from_runs("some_group.z")


def test_explored_and_parameters(kinds_file):
    with hpcpet.load(kinds_file) as t:
        assert len(t) == 35 and t.set_size == 4
        assert t.exploration_kind == "cartesian" and t.shape == (5, 7)
        assert list(t.explored) == ["x", "neuron.tau"] and len(t.explored) == 2
        x, tau = t.explored["x"], t.explored["neuron.tau"]
        assert x.tolist() == [v for v in [1.0, 2.0, 3.0, 4.0, 5.0] for _ in range(7)]
        assert tau[:7].tolist() == [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0]
        with pytest.raises(KeyError):
            t.explored["label"]
        assert t.axes["x"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
        p = t.parameters
        assert p == {"x": 1.0, "neuron.tau": 10.0, "label": "abc"}
        assert isinstance(p["label"], str)


def test_comments(kinds_file):
    with hpcpet.load(kinds_file) as t:
        c = t.comments
        assert c["x"] == "first factor"
        assert c["some_group.z"] == "product"
        assert "neuron.tau" not in c


def test_status_completed_errors(kinds_file):
    with hpcpet.load(kinds_file) as t:
        failed = (t.explored["x"] == 3.0) & (t.explored["neuron.tau"] == 20.0)
        assert np.array_equal(t.failed, failed)
        assert np.array_equal(t.completed, ~failed)
        assert t.status.dtype == np.uint8 and set(t.status.tolist()) == {1, 2}
        i = int(np.flatnonzero(failed)[0])
        assert list(t.errors) == [i]
        assert "ValueError: deliberate failure" in t.errors[i]
        assert "Traceback" in t.errors[i]


def test_run_access(kinds_file):
    with hpcpet.load(kinds_file) as t:
        r = t.run(0)
        assert r.status == "done" and r.error is None
        assert r["x"] == 1.0 and r["neuron.tau"] == 5.0 and r["label"] == "abc"
        assert r["some_group.z"] == 5.0
        assert r["text.msg"] == "x=1.0 tau=5.0"
        assert r["arrays.ragged"].tolist() == [0.0]
        assert "sometimes.big" not in r.results
        last = t.run(-1)
        assert last.index == 34 and last["x"] == 5.0 and last["neuron.tau"] == 320.0
        assert last["sometimes.big"] == 320.0
        assert t.run(-35).index == 0
        for bad in (35, 1000, -36):
            with pytest.raises(IndexError, match="out of range"):
                t.run(bad)
        i = int(np.flatnonzero(t.failed)[0])
        f = t.run(i)
        assert f.status == "failed" and "deliberate failure" in f.error and f.results == {}
        assert "Run(0" in repr(r)


def test_meta(kinds_file):
    with hpcpet.load(kinds_file) as t:
        m = t.meta
        for key in ("hpcpet_version", "numpy_version", "h5py_version", "hdf5_version", "python_version",
                    "created", "ended", "exploration_fingerprint"):
            assert m.get(key), key
        assert m["hpcpet_version"] == hpcpet.__version__
        assert m["h5py_version"] == h5py.__version__
        assert m["experiment_path"] == experiment("kinds.py")
        assert m["function"] == "run"
        assert bool(m["complete"]) is False  # one run failed
        src = t.source
        with open(experiment("kinds.py"), encoding="utf-8") as fh:
            assert src == fh.read()
        assert t.name == "kinds"
        assert "35 runs" in repr(t)
        assert t.file_size() > 0


def test_get_from_runs_unknown_lists_known(kinds_file):
    with hpcpet.load(kinds_file) as t:
        with pytest.raises(HpcpetError) as exc:
            t.get_from_runs("some_group.nope")
        msg = str(exc.value)
        assert "'some_group.nope'" in msg
        for known in ("some_group.z", "arrays.fixed", "arrays.ragged", "text.msg", "return"):
            assert known in msg
        # wildcard names work too
        assert np.array_equal(t.get_from_runs("some_group.$set.$.z"), t.get_from_runs("some_group.z"),
                              equal_nan=True)


def test_results_description(kinds_file):
    with hpcpet.load(kinds_file) as t:
        r = t.results
        assert r["some_group.z"]["kind"] == "fixed" and r["some_group.z"]["shape"] == []
        assert r["arrays.fixed"]["shape"] == [3]
        assert r["arrays.ragged"]["kind"] == "ragged"
        assert r["text.msg"]["kind"] == "string"
        assert r["ints.n"]["dtype"] == "int64"


def test_plain_h5py_reads_file(kinds_file):
    """No hpcpet needed: a subprocess with only h5py reads a result column in one line."""
    import subprocess
    import sys

    code = ("import sys, h5py\n"
            "assert 'hpcpet' not in sys.modules\n"
            "f = h5py.File(sys.argv[1], 'r')\n"
            "print(f['results/some_group/z/data'][:4].tolist())\n"
            "print(f['results/some_group/z/data'][4:8].tolist())\n"
            "print(f['runs/status'][:5].tolist())\n")
    out = subprocess.run([sys.executable, "-c", code, kinds_file], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[0] == "[5.0, 10.0, 20.0, 40.0]"
    assert out[1] == "[80.0, 160.0, 320.0, 10.0]"
    assert out[2] == "[1, 1, 1, 1, 1]"


def test_not_an_hpcpet_file(tmp_path):
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = 1
    with pytest.raises(FileFormatError, match="not an hpcpet"):
        hpcpet.load(str(plain))
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all" * 100)
    with pytest.raises(HpcpetError):
        hpcpet.load(str(junk))
    with pytest.raises(HpcpetError, match="not found"):
        hpcpet.load(str(tmp_path / "missing.h5"))


def test_status_reread_while_open(tmp_path):
    """A loaded file sees status as it is on disk at each access (status is re-read)."""
    from hpcpet.engine import FrozenInput, Worker
    from hpcpet.storage.writer import Writer

    traj = hpcpet.Trajectory()
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(6))})
    traj.freeze()
    path = str(tmp_path / "s.h5")
    w = Writer.create(path, traj, set_size=3)
    w.todo()
    worker = Worker(FrozenInput(traj, lambda t: t.add_result("y", t.x)))
    w.write(worker.run_batch(range(0, 3)))
    w.checkpoint()
    w.close()
    with hpcpet.load(path) as t:
        assert t.status.tolist() == [1, 1, 1, 0, 0, 0]
        assert t.run(4).status == "pending" and t.run(4).results == {}
        assert bool(t.meta["complete"]) is False
        y = t.get_from_runs("y")
        assert y[:3].tolist() == [0, 1, 2]


def test_explored_and_parameter_kinds_round_trip(tmp_path):
    traj = hpcpet.Trajectory()
    traj.add_parameter("s", "a")
    traj.add_parameter("b", False)
    traj.add_parameter("c", 0j)
    traj.add_parameter("v", np.zeros(2))
    traj.add_parameter("names", ["ä", "bb"], comment="unicode array default")
    traj.add_parameter("i8", np.int8(3))
    traj.explore(hpcpet.cartesian_product({"s": ["ä", "bb"], "b": [True, False], "c": [1 + 2j],
                                           "v": [[1.0, 2.0], [3.0, 4.0]]}))

    def run(t):
        t.add_result("y", f"{t.s}{t.b}{t.c}{t.v.tolist()}{t.names.tolist()}")

    out = str(tmp_path / "kinds.h5")
    s = hpcpet.Environment(traj, out, progress="quiet").run(run)
    assert s.done == 8
    with hpcpet.load(out) as t:
        e = t.explored
        assert e["s"].tolist() == ["ä"] * 4 + ["bb"] * 4
        assert e["b"].dtype == bool and e["b"].tolist() == [True, True, False, False] * 2
        assert e["c"].tolist() == [1 + 2j] * 8
        assert e["v"].shape == (8, 2) and e["v"][1].tolist() == [3.0, 4.0]
        p = t.parameters
        assert list(p["names"]) == ["ä", "bb"] and p["i8"] == 3 and p["s"] == "a"
        assert t.comments["names"] == "unicode array default"
        r = t.run(5)
        assert r["s"] == "bb" and r["b"] and r["c"] == 1 + 2j
        assert r["v"].tolist() == [3.0, 4.0]
        assert r["y"] == "bbTrue(1+2j)[3.0, 4.0]['ä', 'bb']"
        assert t.axes["s"].tolist() == ["ä", "bb"]


def test_post_processing_results_in_a_finished_file(kinds_file, tmp_path):
    """``load(path, mode="a")``: summaries stored after the runs (pypet's post-processing)."""
    import shutil

    path = str(tmp_path / "post.h5")
    shutil.copy(kinds_file, path)
    with hpcpet.load(path, mode="a") as t:
        z = t.get_from_runs("some_group.z")
        t.add_result("summary.mean_z", float(np.nanmean(z)), comment="mean over runs")
        t.add_result("summary.hist", np.histogram(z[~np.isnan(z)], bins=4)[0])
        t.add_result("summary.note", "post-processed")
        with pytest.raises(HpcpetError, match="cannot store"):
            t.add_result("summary.bad", {"a": 1})
    with hpcpet.load(path) as t:
        g = t.globals
        assert g["summary.mean_z"] == pytest.approx(np.nanmean(t.get_from_runs("some_group.z")))
        assert g["summary.hist"].sum() == 34 and g["summary.note"] == "post-processed"
        assert t.comments["summary.mean_z"] if "summary.mean_z" in t.comments else True
        with pytest.raises(HpcpetError, match='mode="a"'):
            t.add_result("x", 1)
    assert "summary.note = 'post-processed'" in hpcpet_cli("info", path).stdout
    assert not (tmp_path / "post.h5.segments").exists()


def test_pandas_global_result_keeps_its_labels(kinds_file, tmp_path):
    import shutil

    import pandas as pd

    path = str(tmp_path / "pd.h5")
    shutil.copy(kinds_file, path)
    df = pd.DataFrame({"a": [1, 2]}, index=["r", "s"])
    with hpcpet.load(path, mode="a") as t:
        t.add_result("table", df)
    with hpcpet.load(path) as t:
        got = t.globals["table"]
        assert isinstance(got, pd.DataFrame) and got.equals(df) and list(got.index) == ["r", "s"]
