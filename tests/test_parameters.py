"""Parameter types (hpcpet/parameters.py): explored values and presets must have the declared type."""
import numpy as np
import pytest

import hpcpet
from hpcpet.errors import HpcpetError
from hpcpet.parameters import Parameter, flatten
from hpcpet.trajectory import Trajectory

from conftest import hpcpet_cli


def _explore(default, values):
    traj = Trajectory()
    traj.add_parameter("p", default)
    traj.explore({"p": values})
    return traj.exploration.column("p")


@pytest.mark.parametrize("default,values,words", [
    (1, [0.5, 1.0], ["'p' is int", "0.5", "float"]),
    (1, [1.0, 2.5], ["'p' is int", "2.5"]),  # the value that is not whole is named
    (1, [True, False], ["'p' is int", "True", "bool"]),
    (0.5, ["a", "b"], ["'p' is float", "'a'", "str"]),
    (0.5, [True], ["'p' is float", "bool"]),
    (True, [0, 1], ["'p' is bool", "int"]),
    ("s", [1, 2], ["'p' is str", "1", "int"]),
    ("s", [b"x"], ["'p' is str", "bytes"]),
    (1 + 0j, ["a"], ["'p' is complex", "str"]),
    (0.5, [[1.0, 2.0]], ["'p' is float", "an array of 1 dims"]),
    (np.zeros(2), [1.0, 2.0], ["'p' is float array of 1 dims", "a scalar"]),
    (np.zeros(2, int), [[0.5, 1.0]], ["'p' is int array", "0.5"]),
    (np.float32(1), ["x"], ["'p' is float", "str"]),
])
def test_explored_values_of_another_type_are_refused(default, values, words):
    with pytest.raises(HpcpetError) as exc:
        _explore(default, values)
    for w in words:
        assert w in str(exc.value), (w, str(exc.value))


@pytest.mark.parametrize("default,values,dtype", [
    (0.5, [1, 2], np.float64),                 # ints widen to a declared float
    (np.float32(0.5), [1, 2], np.float32),     # ... of the declared precision
    (1 + 0j, [1, 2.5], np.complex128),
    (np.zeros(2), [[1, 2], [3, 4]], np.float64),
    (1, np.array([1, 2], np.uint8), np.uint8),  # any integer type is an int
    (1, [2 ** 63 + 1], np.uint64),
    (0.5, np.array([1.5], np.float32), np.float32),
    ("s", ["ab", "ä"], None),
    (True, [np.bool_(True), False], np.bool_),
    (None, ["anything", "goes"], None),
    (None, [1.5, 2.5], np.float64),
])
def test_explored_values_of_the_declared_type_are_kept_or_widened(default, values, dtype):
    col = _explore(default, values)
    if dtype is not None:
        assert col.dtype == dtype
    assert np.array_equal(col.astype(object) if col.dtype.kind == "U" else col,
                          np.asarray(values).astype(col.dtype) if col.dtype.kind != "U" else np.asarray(values, object))


def test_widening_applies_to_expand_and_every_segment():
    traj = Trajectory()
    traj.add_parameter("x", 0.5)
    traj.explore(hpcpet.cartesian_product({"x": [1, 2]}))
    new = traj.expand({"x": [3, 4, 5]})
    assert new == range(2, 5)
    col = traj.exploration.column("x")
    assert col.dtype == np.float64 and col.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert traj.exploration.generation.tolist() == [0, 0, 1, 1, 1]
    with pytest.raises(HpcpetError, match="'x' is float"):
        traj.expand({"x": ["a"]})
    assert len(traj) == 5  # a refused expansion changes nothing


def test_a_second_explore_names_expand():
    traj = Trajectory()
    traj.add_parameter("x", 0.5)
    traj.explore({"x": [1.0]})
    with pytest.raises(HpcpetError, match=r"expand"):
        traj.explore({"x": [2.0]})
    assert traj.exploration.column("x").tolist() == [1.0]


def test_expand_without_exploration_explores_and_works_when_frozen():
    traj = Trajectory()
    traj.add_parameter("x", 0.5)
    assert traj.expand({"x": [1.0, 2.0]}) == range(0, 2)
    traj.freeze()
    assert traj.expand({"x": [3.0]}) == range(2, 3)
    assert traj.exploration.generations == 2
    with pytest.raises(HpcpetError, match="undeclared"):
        traj.expand({"y": [1.0]})


def test_dict_parameters_become_dotted_names():
    traj = Trajectory()
    params = traj.add_parameter("model", {"tau": 10.0, "syn": {"w": 1, "kind": "ampa"}}, comment="c")
    assert [p.name for p in params] == ["model.tau", "model.syn.w", "model.syn.kind"]
    assert traj.model.syn.w == 1 and traj["model.syn.kind"] == "ampa"
    assert all(p.comment == "c" for p in params)
    assert flatten("a", {"b": {"c": 1}, "d": 2}) == {"a.b.c": 1, "a.d": 2}
    with pytest.raises(HpcpetError, match="clashes|already"):
        traj.add_parameter("model", {"tau": 1.0})
    with pytest.raises(HpcpetError, match="'bad.1x'"):
        traj.add_parameter("bad", {"1x": 1})
    assert not any(n.startswith("bad") for n in traj.parameters)


def test_none_parameter_is_any_type_and_seen_as_none(tmp_path):
    traj = Trajectory()
    traj.add_parameter("maybe", None)
    traj.add_parameter("x", 1.0)
    assert traj["maybe"] is None and traj.parameters["maybe"].type == "none"
    traj.freeze()
    from hpcpet.engine import FrozenInput, Worker

    result = Worker(FrozenInput(traj, lambda t: t.add_result("is_none", t.maybe is None))).run_batch(range(0, 1))
    assert result.columns["is_none"].data.tolist() == [True]


def test_only_none_defaults_need_an_exploration():
    traj = Trajectory()
    traj.add_parameter("maybe", None)
    with pytest.raises(HpcpetError, match="None"):
        traj.freeze()


@pytest.mark.parametrize("default,text,value", [
    (1, "7", 7), (1, "-3", -3), (0.5, "2", 2.0), (0.5, "1e-3", 1e-3), (0.5, "nan", None),
    (True, "false", False), (True, "YES", True), (False, "1", True), ("s", "7", "7"), ("s", "", ""),
    (1j, "1+2j", 1 + 2j), (np.zeros(2), "[1, 2]", [1.0, 2.0]), (None, "word", "word"), (None, "3", 3),
])
def test_parse_preset_text(default, text, value):
    got = Parameter("p", default).parse(text)
    if value is None:
        assert np.isnan(got)
    elif isinstance(value, list):
        assert got.dtype == np.float64 and got.tolist() == value
    else:
        assert got == value and type(got) is type(value)


def test_explored_text_with_nul():
    ex = _explore("s", ["a\x00b", "c"])
    assert ex.tolist() == ["a\x00b", "c"]
    with pytest.raises(HpcpetError, match="NUL"):
        _explore("s", ["c\x00"])



def test_explored_text_with_nul_through_the_cli(tmp_path):
    exp = tmp_path / "nul.py"
    exp.write_text("def build(traj):\n    traj.add_parameter('s', 'a')\n"
                   "    traj.explore({'s': ['a\\x00b', 'c']})\n"
                   "def run(traj):\n    traj.add_result('n', len(traj.s))\n")
    proc = hpcpet_cli("run", exp, "-o", tmp_path / "o.h5", check=False)
    assert "Traceback" not in proc.stderr and proc.returncode == 0, proc.stderr
    with hpcpet.load(str(tmp_path / "o.h5")) as t:
        assert list(t.explored["s"]) == ["a\x00b", "c"]


def test_add_result_on_the_master_after_the_runs_names_load_append(tmp_path):
    traj = Trajectory()
    traj.add_parameter("x", 1.0)
    traj.add_result("before", 1)  # in build: a global result
    hpcpet.Environment(traj, str(tmp_path / "a.h5"), progress="quiet").run(lambda t: None)
    with pytest.raises(HpcpetError, match=r'hpcpet.load\(path, mode="a"\)'):
        traj.add_result("after", 2)
    assert "after" not in traj.global_results


@pytest.mark.parametrize("default,values,words", [
    ("1", "[0.5, 1.5]", ["'p' is int", "0.5", "float"]),
    ("0.5", "['a', 'b']", ["'p' is float", "'a'", "str"]),
])
def test_wrong_explored_type_through_the_cli_is_one_line(tmp_path, default, values, words):
    exp = tmp_path / "exp.py"
    exp.write_text(f"def build(traj):\n    traj.add_parameter('p', {default})\n"
                   f"    traj.explore({{'p': {values}}})\n"
                   "def run(traj):\n    pass\n")
    out = tmp_path / "o.h5"
    proc = hpcpet_cli("run", exp, "-o", out, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("hpcpet: error:")]
    assert len(errors) == 1 and all(w in errors[0] for w in words), proc.stderr
    assert not out.exists()
