"""Names and wildcards: hpcpet/naming.py."""
import keyword

import pytest
from hypothesis import given, settings, strategies as st

from hpcpet.errors import HpcpetError, InvalidNameError
from hpcpet.naming import (block_name, check_name, plain_result_name, run_name, set_name)

FIRST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
REST = FIRST + "0123456789"

part = st.builds(lambda a, b: a + b, st.sampled_from(FIRST), st.text(REST, max_size=8)).filter(
    lambda p: not keyword.iskeyword(p) and not p.startswith("__"))
dotted = st.lists(part, min_size=1, max_size=5).map(".".join)
wildcard = st.sampled_from(["$", "$set"])
# a result name: valid parts with wildcards sprinkled between them
result_name = st.lists(st.one_of(part, wildcard), min_size=1, max_size=7).filter(
    lambda ps: any(p not in ("$", "$set") for p in ps)).map(".".join)


@settings(max_examples=200, deadline=None)
@given(dotted)
def test_valid_names_round_trip(name):
    assert check_name(name) == name
    assert plain_result_name(name) == name


@settings(max_examples=200, deadline=None)
@given(result_name)
def test_plain_name_idempotent_and_without_dollar(name):
    plain = plain_result_name(name)
    assert "$" not in plain
    assert plain_result_name(plain) == plain
    assert check_name(plain) == plain
    assert plain == ".".join(p for p in name.split(".") if p not in ("$", "$set"))


def test_example_from_docs():
    assert plain_result_name("some_group.$set.$.z") == "some_group.z"
    assert plain_result_name("$.z") == "z"


BAD_NAMES = ["1abc", "a.1b", "class", "a.for", "__x", "a.__dunder", "", "a..b", ".a", "a.",
             "a b", "a-b", "é", "a.$x", "a.$sets", "a.$$", "x$", "a.b$set"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_names_raise_with_name(name):
    with pytest.raises(InvalidNameError) as exc:
        check_name(name)
    assert isinstance(exc.value, HpcpetError)
    assert repr(name) in str(exc.value)


@pytest.mark.parametrize("name", [n for n in BAD_NAMES if n != "é"] + ["$", "$.$set", "$set"])
def test_invalid_result_names_raise_with_name(name):
    with pytest.raises(InvalidNameError) as exc:
        plain_result_name(name)
    assert repr(name) in str(exc.value)


def test_wildcards_rejected_in_parameter_names():
    with pytest.raises(InvalidNameError):
        check_name("a.$.b")


@pytest.mark.parametrize("value", [None, 3, b"abc"])
def test_non_string_names_rejected(value):
    with pytest.raises(InvalidNameError):
        check_name(value)
    with pytest.raises(InvalidNameError):
        plain_result_name(value)


@settings(max_examples=50, deadline=None)
@given(part, st.sampled_from(list(keyword.kwlist)))
def test_keyword_anywhere_rejected(ok, kw):
    for name in (kw, f"{ok}.{kw}", f"{kw}.{ok}"):
        with pytest.raises(InvalidNameError, match="invalid"):
            check_name(name)


def test_bucket_names_sort_in_order():
    assert set_name(3) == "run_set_00003"
    assert block_name(12) == "block_00012"
    assert run_name(42) == "run_00000042"
    names = [set_name(i) for i in range(0, 12000, 7)]
    assert names == sorted(names)
