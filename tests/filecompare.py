"""Compare two hpcpet result files by content (not by bytes or timestamps)."""
import numpy as np

import hpcpet


def _same(a, b) -> bool:
    if isinstance(a, np.ma.MaskedArray) or isinstance(b, np.ma.MaskedArray):
        ma, mb = np.ma.getmaskarray(a), np.ma.getmaskarray(b)
        return np.array_equal(ma, mb) and _same(np.ma.getdata(a)[~ma], np.ma.getdata(b)[~mb])
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype.kind in "fc" and b.dtype.kind in "fc":
            return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
        return a.shape == b.shape and np.array_equal(a, b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def assert_same_content(path_a: str, path_b: str) -> None:
    """Same runs, status, parameters, explored values, results and error types."""
    with hpcpet.load(path_a) as a, hpcpet.load(path_b) as b:
        assert len(a) == len(b)
        assert np.array_equal(a.status, b.status), "run status differs"
        assert a.parameters.keys() == b.parameters.keys()
        for k in a.parameters:
            assert _same(a.parameters[k], b.parameters[k]), k
        assert list(a.explored) == list(b.explored)
        for k in a.explored:
            assert np.array_equal(a.explored[k], b.explored[k]), k
        ra, rb = a.results, b.results
        assert ra.keys() == rb.keys(), (sorted(ra), sorted(rb))
        for k in ra:
            assert ra[k]["kind"] == rb[k]["kind"], k
            assert _same(a.get_from_runs(k), b.get_from_runs(k)), k
        ea, eb = a.errors, b.errors
        assert ea.keys() == eb.keys()
        for k in ea:
            assert ea[k].strip().splitlines()[-1] == eb[k].strip().splitlines()[-1]
