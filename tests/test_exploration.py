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
