"""Compact explorations: hpcpet/exploration.py."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hpcpet.errors import ExplorationError, HpcpetError
from hpcpet.exploration import Exploration, cartesian_product, zip_exploration

axis_lengths = st.lists(st.integers(1, 5), min_size=1, max_size=4)


def _grid(lengths):
    names = [f"p{i}" for i in range(len(lengths))]
    return {n: np.arange(k) * 10.0 + i for i, (n, k) in enumerate(zip(names, lengths))}


@settings(max_examples=60, deadline=None)
@given(axis_lengths)
def test_cartesian_order_matches_itertools_product(lengths):
    axes = _grid(lengths)
    ex = cartesian_product(axes)
    expected = list(itertools.product(*axes.values()))
    assert len(ex) == len(expected) == int(np.prod(lengths))
    assert ex.shape == tuple(lengths)
    cols = ex.columns()
    got = list(zip(*(cols[n].tolist() for n in axes)))
    assert got == [tuple(float(v) for v in row) for row in expected]
    for i in (0, len(ex) - 1):
        assert tuple(ex.point(i).values()) == expected[i]


@settings(max_examples=80, deadline=None)
@given(axis_lengths, st.data())
def test_column_slice_equals_slice_of_full_column(lengths, data):
    ex = cartesian_product(_grid(lengths))
    n = len(ex)
    a = data.draw(st.integers(0, n))
    b = data.draw(st.integers(a, n + 3))
    for name in ex.names:
        full = ex.column(name)
        assert np.array_equal(ex.column(name, a, b), full[a:b])
    z = zip_exploration({"u": np.arange(n), "v": np.arange(n) * 2.5})
    assert np.array_equal(z.column("v", a, b), (np.arange(n) * 2.5)[a:b])



@settings(max_examples=150, deadline=None)
@given(axis_lengths, st.data())
def test_column_slices_match_itertools_product(lengths, data):
    """Any slice of any column is that slice of the product, whichever way it is computed
    (a slice longer than a column's repeating pattern tiles it, a shorter one does not)."""
    axes = _grid(lengths)
    axes["word"] = np.array(["a", "bb", "ccc"][:data.draw(st.integers(1, 3))])
    axes["vec"] = np.arange(2 * data.draw(st.integers(1, 3)), dtype=float).reshape(-1, 2)
    ex = cartesian_product(axes)
    rows = list(itertools.product(*(list(v) for v in axes.values())))
    a = data.draw(st.integers(0, len(ex)))
    b = data.draw(st.integers(a, len(ex) + 3))
    for k, name in enumerate(axes):
        got = ex.column(name, a, b)
        want = [row[k] for row in rows[a:b]]
        assert got.dtype == axes[name].dtype and len(got) == len(want)
        assert all(np.array_equal(g, w) for g, w in zip(got, want))

def test_first_name_varies_slowest():
    ex = cartesian_product({"a": [1, 2], "b": [10, 20, 30]})
    assert ex.column("a").tolist() == [1, 1, 1, 2, 2, 2]
    assert ex.column("b").tolist() == [10, 20, 30, 10, 20, 30]


def test_zip_length_mismatch_names_lengths():
    with pytest.raises(ExplorationError) as exc:
        zip_exploration({"a": [1, 2, 3], "b": [1, 2]})
    assert isinstance(exc.value, HpcpetError)
    msg = str(exc.value)
    assert "a: 3" in msg and "b: 2" in msg


def test_zip_keeps_run_order():
    ex = zip_exploration({"a": [3, 1, 2], "b": ["x", "y", "z"]})
    assert len(ex) == 3 and ex.shape == (3,)
    assert ex.column("a").tolist() == [3, 1, 2]
    assert ex.point(1) == {"a": 1, "b": "y"}


def test_point_out_of_range():
    ex = cartesian_product({"a": [1, 2]})
    with pytest.raises(IndexError):
        ex.point(2)
    with pytest.raises(IndexError):
        ex.point(-1)


def test_fingerprint_stable_and_sensitive():
    def make(v=3.0, kind="cartesian", name="b"):
        return Exploration(kind, {"a": [1.0, 2.0, v], name: [4.0, 5.0, 6.0]})

    assert make().fingerprint() == make().fingerprint()
    assert make() == make()
    assert make(3.5).fingerprint() != make().fingerprint()
    assert make(kind="zip").fingerprint() != make().fingerprint()
    assert make(name="c").fingerprint() != make().fingerprint()
    # same numbers, different dtype
    assert (cartesian_product({"a": np.array([1, 2], np.int64)}).fingerprint()
            != cartesian_product({"a": np.array([1, 2], np.float64)}).fingerprint())


def test_fingerprint_differs_when_axis_order_differs():
    a = cartesian_product({"a": [1, 2], "b": [3, 4]})
    b = cartesian_product({"b": [3, 4], "a": [1, 2]})
    assert a.fingerprint() != b.fingerprint()


@pytest.mark.parametrize("values", [[], (), np.array([])])
def test_empty_values_rejected(values):
    with pytest.raises(ExplorationError, match="empty"):
        cartesian_product({"a": values})
    with pytest.raises(ExplorationError, match="empty"):
        zip_exploration({"a": values})


@pytest.mark.parametrize("values", [[1, "a"], [1.0, [1, 2]], [[1, 2], [1]], [None, 1], [{"a": 1}],
                                    np.array([object(), object()])])
def test_object_and_mixed_dtypes_rejected(values):
    with pytest.raises(ExplorationError) as exc:
        cartesian_product({"a": values})
    assert "'a'" in str(exc.value)


def test_non_sequence_rejected():
    with pytest.raises(ExplorationError, match="sequence"):
        cartesian_product({"a": 3})
    with pytest.raises(ExplorationError):
        cartesian_product([("a", [1])])
    with pytest.raises(ExplorationError):
        zip_exploration([("a", [1])])
    with pytest.raises(ExplorationError, match="at least one"):
        cartesian_product({})
    with pytest.raises(ExplorationError, match="kind"):
        Exploration("grid", {"a": [1]})


def test_invalid_name_rejected():
    with pytest.raises(HpcpetError, match="1a"):
        cartesian_product({"1a": [1]})


def test_array_valued_axis():
    ex = cartesian_product({"v": np.arange(6.0).reshape(3, 2), "k": [0, 1]})
    assert len(ex) == 6
    assert ex.column("v").shape == (6, 2)
    assert np.array_equal(ex.column("v", 2, 4), [[2.0, 3.0], [2.0, 3.0]])


def test_strings_and_bools_and_complex():
    ex = cartesian_product({"s": ["ä", "bb"], "b": [True, False], "c": [1 + 2j]})
    assert len(ex) == 4
    assert ex.column("s").tolist() == ["ä", "ä", "bb", "bb"]
    assert ex.column("b").tolist() == [True, False, True, False]
    assert ex.column("c").dtype.kind == "c"


def test_huge_product_is_compact():
    ex = cartesian_product({"a": np.arange(1000), "b": np.arange(1000), "c": np.arange(10)})
    assert len(ex) == 10_000_000
    assert np.array_equal(ex.column("c", 9_999_995), [5, 6, 7, 8, 9])
    assert ex.column("a", 9_999_999).tolist() == [999]


# ---------------------------------------------------------------- combined axes (pypet's combined_parameters)
def test_combined_parameters_vary_together():
    ex = cartesian_product({"a": [1, 2, 3], "c": [10, 20], "b": [4.0, 5.0, 6.0]}, combined=[("a", "b")])
    assert len(ex) == 6 and ex.shape == (3, 2)
    assert ex.groups == [("a", "b"), ("c",)]
    assert ex.names == ["a", "b", "c"]  # a combined axis sits where its first name sits
    cols = ex.columns()
    assert cols["a"].tolist() == [1, 1, 2, 2, 3, 3]
    assert cols["b"].tolist() == [4.0, 4.0, 5.0, 5.0, 6.0, 6.0]
    assert cols["c"].tolist() == [10, 20] * 3
    expected = [(a, b, c) for (a, b) in zip([1, 2, 3], [4.0, 5.0, 6.0]) for c in [10, 20]]
    assert list(zip(cols["a"].tolist(), cols["b"].tolist(), cols["c"].tolist())) == expected


def test_combined_fingerprint_differs_from_full_product():
    combined = cartesian_product({"a": [1, 2], "b": [3, 4]}, combined=[("a", "b")])
    full = cartesian_product({"a": [1, 2], "b": [3, 4]})
    assert len(combined) == 2 and len(full) == 4
    assert combined.fingerprint() != full.fingerprint()
    # no combined tuple: the same exploration (and fingerprint) as before combined existed
    assert cartesian_product({"a": [1, 2], "b": [3, 4]}, combined=[]).fingerprint() == full.fingerprint()
    assert cartesian_product({"a": [1, 2], "b": [3, 4]}, combined=[("a",)]).fingerprint() == full.fingerprint()


@pytest.mark.parametrize("combined,match", [
    ([("a", "b")], "different lengths.*a: 2.*b: 3"),
    ([("a", "nope")], "'nope' is not among"),
    ([("a",), ("a", "c")], "more than one"),
    ("ab", "list of tuples"),
    ([()], "tuples of parameter names"),
    (["ab"], "tuples of parameter names"),
])
def test_combined_errors(combined, match):
    with pytest.raises(ExplorationError, match=match):
        cartesian_product({"a": [1, 2], "b": [1, 2, 3], "c": [1, 2]}, combined=combined)


# ---------------------------------------------------------------- segments and generations
def test_expanded_appends_runs_as_next_generation():
    base = cartesian_product({"x": [0.0, 1.0], "y": [0.0, 10.0]})
    ex = base.expanded({"x": [5.0, 6.0, 7.0], "y": [1.0, 2.0, 3.0]})
    ex2 = ex.expanded(cartesian_product({"y": [9.0], "x": [8.0, 9.0]}))
    assert len(base) == 4 and len(ex) == 7 and len(ex2) == 9
    assert ex2.kind == "segments" and len(ex2.segments) == 3 and ex2.generations == 3
    assert ex2.starts.tolist() == [0, 4, 7, 9]
    assert ex2.generation.tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2]
    assert ex2.column("x").tolist() == [0, 0, 1, 1, 5, 6, 7, 8, 9]
    assert ex2.column("y").tolist() == [0, 10, 0, 10, 1, 2, 3, 9, 9]
    assert ex2.point(7) == {"x": 8.0, "y": 9.0}
    assert [ex2.generation_of(i) for i in range(9)] == ex2.generation.tolist()
    # the old explorations are unchanged and share their segments
    assert len(base.segments) == 1 and ex2.segments[0] is base.segments[0]
    with pytest.raises(ExplorationError, match="segments"):
        ex2.axes
    assert base.axes["x"].tolist() == [0.0, 1.0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(1, 3), st.booleans()), min_size=1, max_size=5),
       st.data())
def test_segment_slices_equal_slices_of_the_whole(pieces, data):
    """Columns and generations of any slice across segments equal the slice of the concatenation."""
    ex = None
    full_x, full_y, full_g = [], [], []
    for k, (na, nb, cart) in enumerate(pieces):
        xs = np.arange(na) + 100.0 * k
        ys = np.arange(nb) * 1.0 + 1000.0 * k
        if cart:
            piece = cartesian_product({"x": xs, "y": ys})
            px, py = [a for a in xs for _ in ys], [b for _ in xs for b in ys]
        else:
            ys = np.arange(na) * 1.0 + 1000.0 * k
            piece = zip_exploration({"y": ys, "x": xs})  # another name order
            px, py = list(xs), list(ys)
        ex = piece if ex is None else ex.expanded(piece)
        full_x += px
        full_y += py
        full_g += [k] * len(px)
    n = len(ex)
    assert n == len(full_x)
    a = data.draw(st.integers(0, n))
    b = data.draw(st.integers(a, n + 2))
    assert ex.column("x", a, b).tolist() == full_x[a:b]
    assert ex.column("y", a, b).tolist() == full_y[a:b]
    assert ex.generation_column(a, b).tolist() == full_g[a:b]


def test_expanded_checks_names_types_and_shapes():
    base = zip_exploration({"x": [1.0, 2.0], "s": ["a", "b"]})
    with pytest.raises(ExplorationError, match=r"exactly the explored parameters \(x, s\); got x"):
        base.expanded({"x": [3.0]})
    with pytest.raises(ExplorationError, match="'s' values of different types"):
        base.expanded({"x": [3.0], "s": [1]})
    arr = zip_exploration({"v": np.zeros((2, 3))})
    with pytest.raises(ExplorationError, match="different shapes"):
        arr.expanded({"v": np.zeros((1, 4))})
    # ints after floats: one float column
    mixed = zip_exploration({"x": [0.5]}).expanded({"x": [2]})
    assert mixed.column("x").dtype == np.float64 and mixed.column("x", 1).dtype == np.float64
    # longer strings later: one string column that holds both
    s = zip_exploration({"s": ["a"]}).expanded({"s": ["longer"]})
    assert s.column("s").tolist() == ["a", "longer"]


def test_fingerprint_of_segments():
    one = zip_exploration({"x": [1, 2]})
    assert Exploration.from_segments(one.segments).fingerprint() == one.fingerprint()
    a = one.expanded({"x": [3]})
    b = one.expanded({"x": [3]})
    assert a.fingerprint() == b.fingerprint() and a == b
    assert a.fingerprint() != zip_exploration({"x": [1, 2, 3]}).fingerprint()
    assert one.expanded({"x": [3]}, generation=5).fingerprint() != a.fingerprint()
    assert one.expanded({"x": [4]}).fingerprint() != a.fingerprint()
    assert Exploration("zip", {"x": [1, 2]}, generation=2).fingerprint() != one.fingerprint()


def test_several_segments_share_a_generation():
    pieces = cartesian_product({"x": [1, 2]}).expanded({"x": [3]})
    ex = zip_exploration({"x": [0]}).expanded(pieces)
    assert ex.generation.tolist() == [0, 1, 1, 1] and ex.generations == 2


def test_describe_is_json():
    import json

    ex = cartesian_product({"a": [1, 2], "b": [3, 4]}, combined=[("a", "b")]).expanded({"a": [5], "b": [6]})
    d = json.loads(json.dumps(ex.describe()))
    assert d[0]["groups"] == [["a", "b"]] and d[0]["kind"] == "cartesian" and d[0]["runs"] == 2
    assert d[1] == {"kind": "zip", "names": ["a", "b"], "shape": [1], "groups": [["a", "b"]],
                    "generation": 1, "runs": 1, "origin": None}


def test_huge_expanded_exploration_is_compact():
    ex = cartesian_product({"a": np.arange(1000), "b": np.arange(1000), "c": np.arange(10)})
    ex = ex.expanded(cartesian_product({"a": np.arange(1000), "b": np.arange(1000), "c": [-1]}))
    assert len(ex) == 11_000_000
    assert ex.column("c", 9_999_998, 10_000_002).tolist() == [8, 9, -1, -1]
    assert ex.generation_column(9_999_999, 10_000_001).tolist() == [0, 1]
    assert ex.column("a", 10_999_999).tolist() == [999]


def test_trailing_nul_in_text_refused_inner_nul_kept():
    with pytest.raises(ExplorationError, match="NUL"):
        zip_exploration({"s": ["ok", "bad\x00"]})
    with pytest.raises(ExplorationError, match="NUL"):
        zip_exploration({"s": [b"bad\x00"]})
    ex = zip_exploration({"s": ["a\x00b", "c"]})
    assert ex.column("s").tolist() == ["a\x00b", "c"]


def test_a_string_is_not_a_sequence_of_values():
    with pytest.raises(ExplorationError, match="string"):
        zip_exploration({"s": "abc"})
