"""The trajectory: hpcpet/trajectory.py and hpcpet/parameters.py."""
import numpy as np
import pytest

import hpcpet
from hpcpet.errors import ExplorationError, HpcpetError, InvalidNameError
from hpcpet.trajectory import Group, Trajectory


@pytest.mark.parametrize("value", [True, 3, 2.5, 1 + 2j, "text", "ünïcode", np.float32(1.5), np.int8(3),
                                   np.bool_(True), np.complex64(1j), np.arange(3), np.zeros((2, 2)),
                                   np.array(["a", "b"])])
def test_supported_parameter_types(value):
    traj = Trajectory()
    p = traj.add_parameter("p", value, comment="c")
    assert p.comment == "c"
    got = traj["p"]
    if isinstance(value, np.ndarray):
        assert np.array_equal(got, value)
    else:
        assert got == value and type(got) is type(value)


def test_lists_and_tuples_become_arrays():
    traj = Trajectory()
    traj.add_parameter("l", [1, 2, 3])
    traj.add_parameter("t", (1.0, 2.0))
    assert isinstance(traj["l"], np.ndarray) and traj["l"].tolist() == [1, 2, 3]
    assert isinstance(traj["t"], np.ndarray) and traj["t"].dtype == float


@pytest.mark.parametrize("value", [object(), [1, "a", None], {1, 2}, {}, {"a": {}}, {1: 2},
                                   np.array([object()]), {"a": object()}])
def test_unsupported_parameter_types(value):
    traj = Trajectory()
    with pytest.raises(HpcpetError) as exc:
        traj.add_parameter("p", value)
    assert "'p" in str(exc.value)
    assert not traj.parameters


@pytest.mark.parametrize("value", [[[1, 2], [3]], [1, "a"], ("x", 2.0)])
def test_ragged_or_mixed_list_rejected(value):
    traj = Trajectory()
    with pytest.raises(HpcpetError, match="'p'"):
        traj.add_parameter("p", value)


def test_invalid_parameter_name():
    with pytest.raises(InvalidNameError):
        Trajectory().add_parameter("1x", 1)


@pytest.mark.parametrize("first,second", [("a", "a.b"), ("a.b", "a"), ("a.b.c", "a.b"), ("a.b", "a.b.c.d")])
def test_group_leaf_clash(first, second):
    traj = Trajectory()
    traj.add_parameter(first, 1)
    with pytest.raises(HpcpetError, match="clashes"):
        traj.add_parameter(second, 2)
    assert list(traj.parameters) == [first]


def test_similar_prefix_is_not_a_clash():
    traj = Trajectory()
    traj.add_parameter("a", 1)
    traj.add_parameter("ab.c", 2)
    traj.add_parameter("a_b", 3)
    assert len(traj.parameters) == 3


def test_duplicate_name():
    traj = Trajectory()
    traj.add_parameter("a.b", 1)
    with pytest.raises(HpcpetError, match="already defined"):
        traj.add_parameter("a.b", 2)
    assert traj["a.b"] == 1


def test_explore_undeclared():
    traj = Trajectory()
    traj.add_parameter("x", 1.0)
    with pytest.raises(ExplorationError, match="'y'"):
        traj.explore(hpcpet.cartesian_product({"x": [1.0], "y": [2.0]}))
    with pytest.raises(ExplorationError, match="'y'"):
        traj.explore({"y": [1, 2]})
    assert traj.exploration is None


def test_explore_dict_is_zipped():
    traj = Trajectory()
    traj.add_parameter("x", 1.0)
    traj.add_parameter("y", 1)
    traj.explore({"x": [1.0, 2.0, 3.0], "y": [4, 5, 6]})
    assert traj.exploration.kind == "zip" and len(traj) == 3
    assert traj.explored["y"].tolist() == [4, 5, 6]


def test_frozen_rejects_changes():
    traj = Trajectory()
    traj.add_parameter("x", 1.0)
    traj.explore({"x": [1.0, 2.0]})
    traj.freeze()
    with pytest.raises(HpcpetError, match="frozen"):
        traj.add_parameter("y", 1)
    with pytest.raises(HpcpetError, match="frozen"):
        traj.explore({"x": [3.0]})
    assert list(traj.parameters) == ["x"] and len(traj) == 2


def test_freeze_without_exploration_gives_one_run():
    traj = Trajectory()
    traj.add_parameter("x", 4.0)
    traj.freeze()
    assert len(traj) == 1 and traj.explored["x"].tolist() == [4.0]


def test_freeze_without_parameters():
    with pytest.raises(ExplorationError, match="no parameters"):
        Trajectory().freeze()


def test_item_and_attribute_access():
    traj = Trajectory()
    traj.add_parameter("neuron.tau", 10.0)
    traj.add_parameter("neuron.syn.weight", 0.5)
    traj.add_parameter("x", 1)
    assert traj.neuron.tau == 10.0 and traj["neuron.tau"] == 10.0
    assert traj.neuron.syn.weight == 0.5 and traj["neuron.syn.weight"] == 0.5
    assert isinstance(traj.neuron, Group) and isinstance(traj["neuron.syn"], Group)
    assert traj.x == 1
    assert "neuron.tau" in traj and "neuron" not in traj
    assert list(traj) == ["neuron.tau", "neuron.syn.weight", "x"]
    with pytest.raises(AttributeError):
        traj.missing
    with pytest.raises(KeyError):
        traj["neuron.nope"]
    with pytest.raises(AttributeError, match="neuron.nope"):
        traj.neuron.nope
    assert not hasattr(traj.neuron, "nope") and getattr(traj.neuron, "nope", 3) == 3

def test_run_sees_explored_values_by_item_and_attribute(tmp_path):
    traj = Trajectory()
    traj.add_parameter("neuron.tau", 10.0)
    traj.add_parameter("neuron.syn.weight", 0.5)
    traj.add_parameter("x", 1)
    traj.explore({"neuron.tau": [7.0, 8.0]})
    seen = []

    def run(t):
        seen.append((t.index, t.neuron.tau, t["neuron.tau"], t.neuron.syn.weight, t["neuron.syn.weight"], t.x))
        with pytest.raises(AttributeError):
            t.neuron.nope
        with pytest.raises(KeyError):
            t["nope"]

    s = hpcpet.Environment(traj, str(tmp_path / "v.h5"), progress="quiet").run(run)
    assert s.done == 2
    assert seen == [(0, 7.0, 7.0, 0.5, 0.5, 1), (1, 8.0, 8.0, 0.5, 0.5, 1)]


def test_results_with_wildcards_and_reserved(tmp_path):
    traj = Trajectory()
    traj.add_parameter("x", 1)
    traj.explore({"x": [1, 2]})

    def run(t):
        t.add_result("g.$set.$.z", 5, comment="zed")
        t.add_result("g.$.z", 6 * t.x)  # same plain name: the last value wins
        if t.x == 2:
            t.add_result("$.return", 1)

    out = str(tmp_path / "r.h5")
    s = hpcpet.Environment(traj, out, progress="quiet").run(run)
    assert (s.done, s.failed) == (1, 1)
    with hpcpet.load(out) as t:
        assert t.get_from_runs("g.z").tolist()[0] == 6
        assert t.comments["g.z"] == "zed"
        assert "return" in t.errors[1]
    with pytest.raises(HpcpetError, match="return"):
        traj.add_result("$.return", 1)
    with pytest.raises(InvalidNameError):
        traj.add_result("g.$x", 1)


@pytest.mark.parametrize("value", [{"a": 1}, None, [1, "a"], np.array([object()])])
def test_unstorable_global_result_rejected_at_once(value):
    traj = Trajectory()
    with pytest.raises(HpcpetError, match="'g.v'"):
        traj.add_result("g.v", value)


def test_global_results_outside_runs(tmp_path):
    traj = Trajectory("tr", comment="about")
    traj.add_parameter("x", 1.0)
    traj.explore({"x": [1.0, 2.0]})
    traj.add_result("summary.note", "hello", comment="a global")
    traj.add_result("summary.$.arr", np.arange(4))
    traj.add_result("summary.names", ["ä", "b"])
    assert traj.global_results["summary.note"] == ("hello", "a global")

    def run(t):
        t.add_result("$.y", t.x * 2)

    out = str(tmp_path / "g.h5")
    hpcpet.Environment(traj, out, progress="quiet").run(run)
    assert traj.global_results.keys() == {"summary.note", "summary.arr", "summary.names"}
    with hpcpet.load(out) as t:
        g = t.globals
        assert g["summary.note"] == "hello"
        assert np.array_equal(g["summary.arr"], np.arange(4))
        assert list(g["summary.names"]) == ["ä", "b"]
        assert t.name == "tr" and t.comment == "about"
        assert t.get_from_runs("y").tolist() == [2.0, 4.0]
        assert "summary.note" not in t.results
        assert t.h5["globals/summary/note"].attrs["comment"] == "a global"


def test_repr_and_len():
    traj = Trajectory("name")
    traj.add_parameter("x", 1)
    assert len(traj) == 1
    traj.explore(hpcpet.cartesian_product({"x": [1, 2, 3]}))
    assert "3 runs" in repr(traj)


def test_generation_and_seed_in_runs_across_segments():
    """A batch that spans generations: each run sees its own values, generation and seed."""
    from hpcpet.engine import FrozenInput, Worker
    from hpcpet.seeds import run_seed

    traj = Trajectory()
    traj.add_parameter("x", 0.0)
    traj.explore(hpcpet.cartesian_product({"x": [0.0, 1.0]}))
    traj.expand({"x": [2, 3, 4]})  # ints widen to the declared float
    traj.freeze()
    traj.expand(hpcpet.cartesian_product({"x": [5.0]}))  # a study being extended
    traj.base_seed = 99

    def run(t):
        t.add_result("x", t.x)
        t.add_result("gen", t.generation)
        t.add_result("seed", t.seed & 0xFFFFFFFF)
    worker = Worker(FrozenInput(traj, run))
    result = worker.run_batch(range(1, 6))
    assert list(result.status) == [1] * 5, result.errors
    assert result.columns["x"].data.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert result.columns["gen"].data.tolist() == [0, 1, 1, 1, 2]
    assert result.columns["seed"].data.tolist() == [run_seed(99, i) & 0xFFFFFFFF for i in range(1, 6)]


def test_append_segments_is_what_a_worker_does_with_a_new_generation():
    master = Trajectory()
    master.add_parameter("x", 0.0)
    master.explore({"x": [1.0, 2.0]})
    master.freeze()
    import pickle

    worker_side = pickle.loads(pickle.dumps(master))
    old = len(master.exploration.segments)
    master.expand({"x": [3, 4]})
    new_segments = master.exploration.segments[old:]  # only these travel
    assert worker_side.append_segments(pickle.loads(pickle.dumps(new_segments))) == range(2, 4)
    assert worker_side.exploration == master.exploration
    assert worker_side.exploration.column("x").tolist() == [1.0, 2.0, 3.0, 4.0]


def test_run_facts_are_hidden_by_explored_parameters_and_groups():
    """``traj.seed`` / ``traj.generation`` give a parameter or group of that name, run by run."""
    from hpcpet.engine import FrozenInput, Worker

    traj = Trajectory()
    with pytest.warns(UserWarning, match="traj.seed gives this parameter"):
        traj.add_parameter("seed", 0)
    with pytest.warns(UserWarning, match="traj.generation gives this parameter"):
        traj.add_parameter("generation.size", 5)
    traj.add_parameter("neuron.tau", 1.0)
    traj.explore({"seed": [3, 4, 5], "neuron.tau": [0.5, 0.25, 0.125]})
    traj.freeze()

    def run(t):
        assert isinstance(t.generation, Group) and t.generation.size == 5
        t.add_result("seed", t.seed)
        t.add_result("tau", t.neuron.tau)
        with pytest.raises(AttributeError):
            t.neuron_tau
        assert not hasattr(t, "_private") and getattr(t, "nope", 7) == 7

    result = Worker(FrozenInput(traj, run)).run_batch(range(0, 3))
    assert list(result.status) == [1] * 3, result.errors
    assert result.columns["seed"].data.tolist() == [3, 4, 5]
    assert result.columns["tau"].data.tolist() == [0.5, 0.25, 0.125]


def test_extra_run_arguments_reach_every_run():
    from hpcpet.engine import FrozenInput, Worker

    traj = Trajectory()
    traj.add_parameter("x", 0.0)
    traj.explore({"x": [1.0, 2.0]})
    traj.freeze()

    def run(t, scale, offset=0.0):
        t.add_result("y", t.x * scale + offset)

    result = Worker(FrozenInput(traj, run, (10.0,), {"offset": 1.0})).run_batch(range(0, 2))
    assert result.columns["y"].data.tolist() == [11.0, 21.0]
    bare = Worker(FrozenInput(traj, lambda t: t.add_result("y", t.x))).run_batch(range(0, 2))
    assert bare.columns["y"].data.tolist() == [1.0, 2.0]
