"""Selecting runs with a boolean expression over named per-run arrays.

``select("x > 0.5 and generation == 3", arrays)`` evaluates the expression
element-wise over numpy arrays (one entry per run) and returns the indices
of the runs where it holds. Only a small, safe part of Python is accepted:
numbers, strings, names of the given arrays (dotted names such as
``neuron.tau`` too: they are looked up whole, never as attributes), arithmetic (``+ - * / // % **``,
unary ``-``/``+``), comparisons (chained too, ``0 < x <= 1``), ``and``,
``or``, ``not`` and parentheses. Nothing is called, imported or looked up
as an attribute; anything else is a one-line :class:`SelectionError`.
"""
from __future__ import annotations

import ast
import operator
from typing import Any, Callable, Mapping

import numpy as np

from .errors import HpcpetError


class SelectionError(HpcpetError):
    """An expression that cannot select runs: a syntax error, an unknown name, a forbidden construct."""


_BINARY: dict[type, Callable] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_COMPARE: dict[type, Callable] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}
#: most characters of an expression quoted in an error
_SHOWN = 80


def parse(expr: str) -> ast.Expression:
    """The checked syntax tree of ``expr``; raises :class:`SelectionError` for what :func:`select` refuses."""
    if not isinstance(expr, str) or not expr.strip():
        raise SelectionError(f"select takes a non-empty expression, got {expr!r}")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as exc:
        raise SelectionError(f"syntax error in selection {_quote(expr)}: {exc.msg}"
                             + (f" at column {exc.offset}" if exc.offset else "")) from None
    dotted = {id(n) for n in ast.walk(tree) if _dotted_name(n)}
    inner = {id(n.value) for n in ast.walk(tree) if id(n) in dotted and isinstance(n, ast.Attribute)}
    for node in ast.walk(tree):
        if id(node) in dotted or id(node) in inner:
            continue
        if isinstance(node, (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.Not, ast.Compare,
                             ast.BinOp, ast.UnaryOp, ast.Name, ast.Load)):
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, complex, str, bool)):
            continue
        if type(node) in _BINARY or type(node) in _UNARY or type(node) in _COMPARE:
            continue
        raise SelectionError(f"selection {_quote(expr)}: {_what(node)} is not allowed (use names, numbers, "
                             "comparisons, arithmetic, and/or/not)")
    return tree


def _dotted_name(node: ast.AST) -> str | None:
    """``a.b.c`` of an Attribute chain ending in a Name (or a Name's id), else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def _names(tree: ast.AST) -> list[str]:
    """The (dotted) names used, outermost first, each once."""
    found: dict[str, None] = {}
    skip: set[int] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        name = _dotted_name(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
        if name is not None:
            found.setdefault(name)
            skip.update(id(n) for n in ast.walk(node))
    return list(found)


def names_in(expr: str) -> set[str]:
    """The names an expression uses (so a caller can load only those arrays)."""
    return set(_names(parse(expr)))


def select(expr: str, arrays: Mapping[str, Any], n_runs: int | None = None) -> np.ndarray:
    """Indices (int64, ascending) of the runs where boolean expression ``expr`` holds.

    Parameters
    ----------
    expr : str
        E.g. ``"x > 0.5 and generation == 3"``.
    arrays : mapping of str to array-like
        Name -> one value per run (e.g. explored parameters, scalar results,
        ``generation``, ``index``). A value may also be a function of no
        arguments returning the array: it is called only if the expression uses
        the name.
    n_runs : int, optional
        Number of runs (default: the length of the first array used), so that
        an expression using no array (``"1 == 1"``) selects all runs.

    Raises
    ------
    SelectionError
        The expression has a syntax error, uses a name not in ``arrays`` (the
        error names it and the known names) or a construct not allowed, or its
        arrays do not have one entry per run.
    """
    tree = parse(expr)
    used: dict[str, np.ndarray] = {}
    for name in _names(tree):
        if name not in arrays:
            known = ", ".join(sorted(arrays)) or "none"
            raise SelectionError(f"selection {_quote(expr)}: unknown name {name!r} (known: {known})")
        value = arrays[name]
        used[name] = np.asarray(value() if callable(value) else value)
    lengths = {k: len(v) for k, v in used.items() if v.ndim >= 1}
    if n_runs is None:
        n_runs = next(iter(lengths.values()), None)
    bad = {k: n for k, n in lengths.items() if n != n_runs or used[k].ndim != 1}
    if bad:
        raise SelectionError(f"selection {_quote(expr)}: " + ", ".join(
            f"{k!r} is not one scalar per run (shape {used[k].shape})" for k in bad))
    with np.errstate(all="ignore"):
        result = _eval(tree.body, used, expr)
    result = np.asarray(result)
    if result.dtype != bool:
        raise SelectionError(f"selection {_quote(expr)} gives {result.dtype} values, not true/false; "
                             "use a comparison")
    if result.ndim == 0:
        if n_runs is None:
            raise SelectionError(f"selection {_quote(expr)} uses no per-run name; the number of runs is unknown")
        result = np.full(n_runs, bool(result))
    return np.flatnonzero(result).astype(np.int64)


def _eval(node: ast.AST, used: Mapping[str, np.ndarray], expr: str) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.Name, ast.Attribute)) and _dotted_name(node) is not None:
        return used[_dotted_name(node)]
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, used, expr)
        if isinstance(node.op, ast.Not):
            return np.logical_not(_truth(value, expr, "not"))
        return _UNARY[type(node.op)](value)
    if isinstance(node, ast.BinOp):
        return _apply(_BINARY[type(node.op)], _eval(node.left, used, expr), _eval(node.right, used, expr), expr)
    if isinstance(node, ast.BoolOp):
        values = [_truth(_eval(v, used, expr), expr, "and/or") for v in node.values]
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        out = values[0]
        for v in values[1:]:
            out = combine(out, v)
        return out
    if isinstance(node, ast.Compare):  # a < b <= c  ->  (a < b) & (b <= c)
        left = _eval(node.left, used, expr)
        out = None
        for op, right_node in zip(node.ops, node.comparators):
            right = _eval(right_node, used, expr)
            part = np.asarray(_apply(_COMPARE[type(op)], left, right, expr))
            out = part if out is None else np.logical_and(out, part)
            left = right
        return out
    raise SelectionError(f"selection {_quote(expr)}: {_what(node)} is not allowed")  # parse() refused it


def _apply(fn: Callable, a: Any, b: Any, expr: str) -> Any:
    if fn is operator.pow and _is_int(a) and _is_int(b) and (b < 0 or abs(a).bit_length() * b > 1024):
        try:  # 9 ** 9 ** 9 ** 9: a float (inf) at once, not a Python int of a billion digits
            return float(a) ** float(b)
        except OverflowError:
            return float("inf") if a > 0 or b % 2 == 0 else float("-inf")
        except ZeroDivisionError:
            return float("inf")
    try:
        return fn(a, b)
    except (TypeError, ValueError, ArithmeticError) as exc:  # numpy's no-loop errors are TypeErrors
        raise SelectionError(f"selection {_quote(expr)}: cannot combine "
                             f"{_kind(a)} and {_kind(b)} ({str(exc).splitlines()[0]})") from None


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _truth(value: Any, expr: str, where: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype != bool:
        raise SelectionError(f"selection {_quote(expr)}: {where} needs true/false operands (comparisons), "
                             f"got {arr.dtype} values")
    return arr


def _kind(value: Any) -> str:
    return f"{np.asarray(value).dtype} values"


def _what(node: ast.AST) -> str:
    names = {ast.Call: "a function call", ast.Attribute: "attribute access", ast.Subscript: "indexing",
             ast.Lambda: "lambda", ast.IfExp: "if/else", ast.In: "'in'", ast.NotIn: "'not in'",
             ast.Is: "'is'", ast.IsNot: "'is not'"}
    for cls, text in names.items():
        if isinstance(node, cls):
            return text
    if isinstance(node, ast.Constant):
        return f"the constant {node.value!r}"
    return type(node).__name__


def _quote(expr: Any) -> str:
    text = repr(expr)
    return text if len(text) <= _SHOWN else text[:_SHOWN - 3] + "..."
