"""Growing studies (issue 12, storage side): generations with next_runs, hpcpet.expand + resume,
resume in the middle of a generation loop, union merge, select and get_from_runs(runs=...)."""
import os

import h5py
import numpy as np
import pytest

import hpcpet
from conftest import ROOT, bin_path, hpcpet_cli
from filecompare import assert_same_content

GA = os.path.join(ROOT, "examples", "genetic.py")


def _study(tmp_path, name="s.h5", n=6):
    traj = hpcpet.Trajectory()
    traj.add_parameter("x", 0.0)
    traj.add_parameter("y", 0.0)
    traj.explore(hpcpet.cartesian_product({"x": np.arange(n // 2, dtype=float), "y": [0.0, 1.0]}))
    return traj, str(tmp_path / name)


def _run(t):
    t.add_result("f", t.x * 10 + t.y)
    t.add_result("g", int(t.generation))


def test_generations_grow_one_file(tmp_path):
    traj, path = _study(tmp_path)

    def next_runs(study):
        if study.generations >= 4:
            return None
        last = study.select(f"generation == {study.generations - 1}")
        best = last[np.argsort(study.get_from_runs("f", runs=last))[-2:]]
        return {"x": (study.explored["x"][best] + 100).tolist(), "y": study.explored["y"][best].tolist()}

    for backend in ("serial", "pool"):
        s = hpcpet.Environment(traj if backend == "serial" else _study(tmp_path)[0], path, backend=backend,
                               ncores=2, progress="quiet", overwrite=True).run(_run, next_runs=next_runs)
        assert (s.n_runs, s.done) == (6 + 3 * 2, 12)
        with hpcpet.load(path) as t:
            assert t.generations == 4 and t.generation.tolist() == [0] * 6 + [1, 1, 2, 2, 3, 3]
            assert t.get_from_runs("g").tolist() == t.generation.tolist()  # traj.generation in runs
            assert t.explored["x"][-2:].tolist() == [302.0, 302.0]
            assert np.array_equal(t.get_from_runs("f"), t.explored["x"] * 10 + t.explored["y"])
            assert t.select("generation == 2 and y > 0.5").tolist() == [9]
            assert t.get_from_runs("f", runs=[7, 1]).tolist() == [t.get_from_runs("f")[7], 1.0]


def _failing_run(t):
    if t.x == 1.0:
        raise ValueError("x is one")
    t.add_result("f", t.x * 10 + t.y)
    t.add_result("label", f"run {t.index}")


@pytest.mark.parametrize("every", ["0", "3600"])
def test_next_runs_sees_every_run_written_so_far(tmp_path, monkeypatch, every):
    """The study view shows committed runs (every=0: a checkpoint per batch, compactions included)
    and runs not committed yet (every=3600: none is committed before the end)."""
    monkeypatch.setenv("HPCPET_CHECKPOINT_SECONDS", every)
    traj, path = _study(tmp_path)
    folder = path + ".segments"
    seen = []

    def next_runs(study):
        n = len(study)
        assert study.completed.sum() + study.failed.sum() == n  # every run of the generation just done
        x, y = study.explored["x"], study.explored["y"]
        ok = x != 1.0
        assert study.failed.tolist() == (~ok).tolist() and sorted(study.errors) == np.flatnonzero(~ok).tolist()
        assert "x is one" in study.run(int(np.flatnonzero(~ok)[0])).error
        f = study.get_from_runs("f")
        assert np.array_equal(f[ok], (x * 10 + y)[ok]) and np.isnan(f[~ok]).all()
        assert study.get_from_runs("label") == [f"run {i}" if ok[i] else None for i in range(n)]
        assert study.get_from_runs("label", runs=[n - 2]) == [f"run {n - 2}"]
        assert study.run(n - 2).results["label"] == f"run {n - 2}"
        assert study.select(f"generation == {study.generations - 1}").tolist() == list(range(n - 2, n)) \
            if study.generations > 1 else True
        assert len(study.run_info["worker"]) == n and study.file_size() > 0
        seen.append(sorted(name for name in os.listdir(folder) if name.startswith("seg-")))
        if study.generations >= 12:
            return None
        return {"x": [float(n), 1.0], "y": [0.5, 0.5]}

    s = hpcpet.Environment(traj, path, progress="quiet", overwrite=True, batch_size=1).run(
        _failing_run, next_runs=next_runs)
    assert (s.n_runs, s.done, s.failed) == (6 + 11 * 2, 4 + 11, 2 + 11)
    if every == "3600":  # a generation boundary commits nothing by itself
        assert seen == [[]] * 12
    else:
        assert len(seen[-1]) < 6 + 11 * 2  # segments were compacted while the views read them
    with hpcpet.load(path) as t:
        assert t.generations == 12 and t.get_from_runs("label")[-2:] == [f"run {len(t) - 2}", None]


@pytest.mark.parametrize("backend", ["serial", "pool"])
def test_a_boundary_commit_waits_for_the_next_generations_first_batches(tmp_path, monkeypatch, backend):
    """The commit between generations is off the turnaround: it runs once the next generation's
    first batch is out (serial: after it ran; pool: in the writer thread), and next_runs still
    sees every run, the uncommitted ones from memory."""
    import threading

    from hpcpet.storage import writer as writer_module

    monkeypatch.setenv("HPCPET_CHECKPOINT_SECONDS", "3600")  # no regular checkpoint
    for bound in ("GENERATION_CHECKPOINT_BYTES", "GENERATION_CHECKPOINT_MAX_BYTES"):  # a commit at every boundary
        monkeypatch.setattr(writer_module, bound, 1)
    events = []
    between = writer_module.Writer.between_generations

    def recorded(self, wait=False):
        events.append(("commit", self.n_runs, threading.current_thread().name))
        return between(self, wait)

    monkeypatch.setattr(writer_module.Writer, "between_generations", recorded)
    traj, path = _study(tmp_path)
    folder = path + ".segments"
    committed = []

    def run(t):
        events.append(("run", t.index))
        _run(t)

    def next_runs(study):
        n = len(study)
        assert study.completed.sum() == n and study.generation.tolist() == traj.exploration.generation.tolist()
        assert np.array_equal(study.get_from_runs("f"), study.explored["x"] * 10 + study.explored["y"])
        runs = set()
        for name in os.listdir(folder):
            if name.startswith("seg-"):
                with h5py.File(os.path.join(folder, name), "r", locking=False) as seg:
                    runs |= set(seg["runs/index"][()].tolist())
        committed.append(sorted(runs))
        return None if study.generations >= 4 else {"x": [float(n), 1.0], "y": [0.5, 0.5]}

    s = hpcpet.Environment(traj, path, backend=backend, ncores=2, progress="quiet", overwrite=True).run(
        run, next_runs=next_runs)
    assert (s.n_runs, s.done) == (12, 12)
    commits = [e for e in events if e[0] == "commit"]
    assert [c[1] for c in commits] == [8, 10, 12]  # after the next generation was added
    # a generation's runs are committed during the next one (the last one by the close)
    assert committed == [[], list(range(6)), list(range(8)), list(range(10))]
    if backend == "serial":  # after the next generation's first batch ran
        for c in commits:
            assert events.index(("run", c[1] - 2)) < events.index(c)
    else:
        assert {c[2] for c in commits} == {"hpcpet-writer"}
    with hpcpet.load(path) as t:
        assert t.generations == 4 and np.array_equal(t.get_from_runs("f"), t.explored["x"] * 10 + t.explored["y"])


def test_explored_values_of_grown_points_are_not_compressed_twice(tmp_path):
    """Zipped generations: explored/ is stored as it is (exploration/pieces holds the same values);
    an exploration with a cartesian segment keeps its compressed explored/."""
    for first, compression in (({"x": [0.0, 1.0, 2.0], "y": [0.0, 0.0, 1.0]}, None),
                               (hpcpet.cartesian_product({"x": [0.0, 1.0], "y": [0.0, 1.0]}), "gzip")):
        traj, path = hpcpet.Trajectory(), str(tmp_path / "p.h5")
        traj.add_parameter("x", 0.0)
        traj.add_parameter("y", 0.0)
        traj.explore(first)

        def next_runs(study):
            return None if study.generations >= 3 else {"x": [9.0, 8.0], "y": [1.0, 2.0]}

        hpcpet.Environment(traj, path, progress="quiet", overwrite=True).run(_run, next_runs=next_runs)
        with h5py.File(path, "r") as h5:
            assert h5["explored/x"].compression == compression
        with hpcpet.load(path) as t:
            assert t.explored["x"].tolist() == list(traj.exploration.column("x")) and t.generations == 3


MIDWAY = """
import os
import signal

import numpy as np

import hpcpet


def build(traj):
    traj.add_parameter("x", 0.0)
    traj.explore({"x": [float(i) for i in range(20)]})


def run(traj):
    if traj.index == int(os.environ.get("STOP_AT", "-1")):
        os.kill(os.getpid(), signal.SIGINT)  # serial: the master stops handing out batches and saves
    traj.add_result("f", traj.x * 2 + traj.generation)
    traj.add_result("trace", np.full(8, traj.x))


def next_runs(study):
    last = study.select(f"generation == {study.generations - 1}")
    assert study.completed[last].all(), "next_runs must see every run of the generation"
    if study.generations >= 5:
        return None
    f = study.get_from_runs("f", runs=last)
    return {"x": (np.sort(f)[::-1][:20] + 0.5).tolist()}
"""


def test_resume_in_the_middle_of_a_generation_equals_uninterrupted(tmp_path):
    exp = tmp_path / "midway.py"
    exp.write_text(MIDWAY)
    whole, cut = tmp_path / "whole.h5", tmp_path / "cut.h5"
    hpcpet_cli("run", exp, "-o", whole, "--quiet", "--seed", "2", "--backend", "pool", "--ncores", "2")
    proc = hpcpet_cli("run", exp, "-o", cut, "--quiet", "--seed", "2", "--backend", "serial",
                      "--batch-size", "1", env={"STOP_AT": "47"}, check=False)
    assert proc.returncode == 3, proc.stderr
    with hpcpet.load(str(cut)) as t:  # stopped in generation 2 (runs 40..59)
        assert t.generations == 3 and t.completed.sum() == 48 and not t.completed[48:].any()
    hpcpet_cli("resume", cut, "--quiet", "--backend", "pool", "--ncores", "2")
    assert_same_content(str(whole), str(cut))
    with hpcpet.load(str(whole)) as a, hpcpet.load(str(cut)) as b:
        assert a.generations == b.generations == 5 and a.generation.tolist() == b.generation.tolist()


def test_bad_next_runs_is_one_line_and_keeps_the_runs(tmp_path):
    for bad, word in (({"x": [1.0], "y": [1.0, 2.0]}, "different lengths"), ({"x": ["a"], "y": [1.0]}, "x"),
                      ({"z": [1.0]}, "z"), (ZeroDivisionError, "ZeroDivisionError")):
        traj, path = _study(tmp_path)

        def next_runs(study, bad=bad):
            if bad is ZeroDivisionError:
                return 1 / 0
            return bad

        with pytest.raises(hpcpet.HpcpetError, match="generation") as err:
            hpcpet.Environment(traj, path, progress="quiet", overwrite=True).run(_run, next_runs=next_runs)
        assert word in str(err.value) and "\n" not in str(err.value)
        with hpcpet.load(path) as t:
            assert t.completed.sum() == 6 and len(t) == 6


def test_expand_then_resume(tmp_path):
    traj, path = _study(tmp_path)
    hpcpet.Environment(traj, path, progress="quiet").run(_run)
    new = hpcpet.expand(path, {"x": [7.0, 8.0], "y": [1.0, 0.0]})
    assert new == range(6, 8)
    with hpcpet.load(path) as t:
        assert len(t) == 8 and t.status[6:].tolist() == [0, 0] and t.generations == 2
    s = hpcpet.resume(path, _run, backend="serial", progress="quiet")
    assert s.done == 8
    with hpcpet.load(path) as t:
        assert t.get_from_runs("f")[6:].tolist() == [71.0, 80.0] and t.get_from_runs("g")[6:].tolist() == [1, 1]
    with pytest.raises(hpcpet.HpcpetError, match="cannot expand"):
        hpcpet.expand(path, {"x": [1.0], "q": [1.0]})
    with pytest.raises(hpcpet.HpcpetError, match="cannot expand"):
        hpcpet.expand(path, {"x": ["text"], "y": [1.0]})
    with hpcpet.load(path) as t:
        assert len(t) == 8  # untouched


def test_ga_example_resumed_mid_loop_equals_uninterrupted(tmp_path):
    whole = tmp_path / "whole.h5"
    hpcpet_cli("run", GA, "-o", whole, "--quiet", "--seed", "5")
    cut = tmp_path / "cut.h5"
    hpcpet_cli("run", GA, "-o", cut, "--quiet", "--seed", "5", "--max-generations", "6")
    with hpcpet.load(str(cut)) as t:
        assert t.generations == 6
    # the recorded limit holds on resume unless a new one is given
    hpcpet_cli("resume", cut, "--quiet", "--backend", "pool", "--ncores", "2")
    with hpcpet.load(str(cut)) as t:
        assert t.generations == 6
    hpcpet_cli("resume", cut, "--quiet", "--backend", "pool", "--ncores", "2", "--max-generations", "15")
    assert_same_content(str(whole), str(cut))
    with hpcpet.load(str(cut)) as t:
        assert t.generations == 15
    proc = hpcpet_cli("run", GA, "-o", tmp_path / "x.h5", "--max-generations", "0", check=False)
    assert proc.returncode == 2 and "--max-generations must be >= 1" in proc.stderr


def test_union_merge_and_drop_duplicates(tmp_path):
    a_traj, a = _study(tmp_path, "a.h5", 6)
    hpcpet.Environment(a_traj, a, progress="quiet").run(_run)
    b_traj = hpcpet.Trajectory()
    b_traj.add_parameter("x", 0.0)
    b_traj.add_parameter("y", 0.0)
    b_traj.explore({"x": [2.0, 9.0, 1.0], "y": [1.0, 9.0, 0.0]})  # runs 0 and 2 repeat runs of a
    b = str(tmp_path / "b.h5")
    hpcpet.Environment(b_traj, b, progress="quiet").run(_run)
    out = tmp_path / "u.h5"
    hpcpet_cli("merge", a, b, "-o", out)
    with hpcpet.load(str(out)) as t:
        assert len(t) == 9 and t.completed.all() and t.generation.tolist() == [0] * 6 + [1] * 3
        assert t.get_from_runs("f").tolist() == [0.0, 1.0, 10.0, 11.0, 20.0, 21.0, 21.0, 99.0, 10.0]
    hpcpet_cli("merge", a, b, "-o", tmp_path / "d.h5", "--drop-duplicates")
    with hpcpet.load(str(tmp_path / "d.h5")) as t:
        assert len(t) == 7 and t.explored["x"][-1] == 9.0 and t.get_from_runs("f")[-1] == 99.0
    other = hpcpet.Trajectory()
    other.add_parameter("q", 0.0)
    other.explore({"q": [1.0]})
    c = str(tmp_path / "c.h5")
    hpcpet.Environment(other, c, progress="quiet").run(lambda t: None)
    proc = hpcpet_cli("merge", a, c, "-o", tmp_path / "bad.h5", check=False)
    assert proc.returncode == 2 and "same parameters" in proc.stderr and not (tmp_path / "bad.h5").exists()


def test_select_errors_are_one_line(tmp_path):
    traj, path = _study(tmp_path)
    hpcpet.Environment(traj, path, progress="quiet").run(_run)
    with hpcpet.load(path) as t:
        assert t.select("f > 15").tolist() == [4, 5]
        with pytest.raises(hpcpet.HpcpetError, match="nope"):
            t.select("nope > 1")
        with pytest.raises(hpcpet.HpcpetError):
            t.select("x >")


MB = 1 << 20


def check_memory_flat(out, master_rss, generations):
    """Master and every worker grow < 10 MB from generation 10 to the last."""
    master = np.array([int(x) for x in open(master_rss).read().split()]) / MB
    assert len(master) == generations, len(master)
    assert master[-1] - master[9] < 10, master[[9, -1]]
    with hpcpet.load(str(out)) as t:
        assert t.generations == generations and t.completed.all()
        gen, pid, rss = t.generation, t.get_from_runs("pid"), t.get_from_runs("rss") / MB
    for p in np.unique(pid):
        mine = (pid == p)
        late = mine & (gen >= 10)
        if late.sum() < 2:
            continue
        first, last = rss[late][0], rss[late][-1]
        assert last - first < 10, (p, first, last)


LAUNCH = {"serial": ((), ("--backend", "serial")), "pool": ((), ("--backend", "pool", "--ncores", "2")),
          "scoop": ((), ("--backend", "scoop", "--ncores", "2")),
          "mpi": ((bin_path("mpiexec"), "-n", "3"), ())}


@pytest.mark.slow
@pytest.mark.parametrize("backend", sorted(LAUNCH))
def test_memory_is_flat_over_200_generations(tmp_path, backend):
    out, master = tmp_path / "m.h5", tmp_path / "master.txt"
    prefix, opts = LAUNCH[backend]
    hpcpet_cli("run", os.path.join(ROOT, "tests", "experiments", "generations_memory.py"), "-o", out, "--quiet",
               *opts, env={"HPCPET_MASTER_RSS": str(master)}, timeout=600, prefix=prefix)
    check_memory_flat(out, master, 200)


@pytest.mark.parametrize("backend", ["mpi", "scoop"])
def test_generations_on_mpi_and_scoop_equal_serial(tmp_path, backend):
    serial = tmp_path / "serial.h5"
    hpcpet_cli("run", GA, "-o", serial, "--quiet", "--seed", "3", "--backend", "serial")
    out = tmp_path / f"{backend}.h5"
    prefix, opts = LAUNCH[backend]
    hpcpet_cli("run", GA, "-o", out, "--quiet", "--seed", "3", *opts, prefix=prefix)
    assert_same_content(str(serial), str(out))
    with hpcpet.load(str(out)) as t:
        assert t.generations == 15 and t.meta["backend"] == backend
