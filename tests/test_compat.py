"""Python 3.9 (setup.cfg's python_requires) compatibility of calls whose 3.10 forms are shorter."""
import ast
import os

from conftest import ROOT


def _calls(name):
    for folder, _, files in os.walk(os.path.join(ROOT, "hpcpet")):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                with open(path, encoding="utf-8") as fh:
                    tree = ast.parse(fh.read(), path)
                for node in ast.walk(tree):
                    if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == name:
                        yield path, node


def test_format_exception_uses_the_three_argument_form():
    """``traceback.format_exception(exc)`` (one argument) needs Python 3.10."""
    calls = list(_calls("format_exception"))
    assert calls, "expected the engine to format tracebacks"
    for path, node in calls:
        assert len(node.args) + len(node.keywords) >= 3, f"{path}:{node.lineno}"


def test_python_requires_is_3_9():
    with open(os.path.join(ROOT, "setup.cfg")) as fh:
        assert "python_requires = >=3.9" in fh.read()
