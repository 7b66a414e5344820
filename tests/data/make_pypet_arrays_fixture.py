"""Write tests/data/pypet_arrays.hdf5 and pypet_unsupported.hdf5 with the real pypet 0.7.

Run in benchmarks/.venv-pypet:

    benchmarks/.venv-pypet/bin/python tests/data/make_pypet_arrays_fixture.py

``pypet_arrays.hdf5`` follows pypet's example_05 (Lorenz attractor, Euler scheme):
an ``ArrayParameter`` ``initial_conditions`` explored with three arrays (the first one
twice, so pypet stores it once and refers to it twice; three runs), zipped with an explored float
``func_params.sigma``; plain parameters of several types (int, float, str, bool, a tuple
and an array in ``ArrayParameter``\\ s, an array in a ``SparseParameter``); per run:

- ``euler_evolution`` (``f_add_result("euler_evolution", ...)``, pypet's
  ``results.runs.run_XXXXXXXX.euler_evolution``): a (steps, 3) array;
- ``stats`` : a multi-item result (``f_add_result("stats", mean=..., n=..., label=...)``);
- ``lorenz.$.frame`` : a pandas DataFrame (``results.lorenz.run_XXXXXXXX.frame``);
- ``$set.$.series`` : a pandas Series with a named index;
- ``$set.$.norm`` : a float;
- ``$set.$.info`` : a dict (pypet stores it as a DICT table);

and a global result ``summary`` (two items) added after the runs.

``pypet_unsupported.hdf5``: the same kinds of things plus what hpcpet cannot hold:
a ``PickleResult``, a derived parameter, a ``SparseParameter`` holding a
scipy sparse matrix and a pandas DataFrame as a global result (and, to stay small, no
``series`` result).

``pypet_arrays_expected.json``: every value as pypet itself loads it back
(``f_load(load_all=2)``), for tests/test_import_pypet.py.
"""
import json
import os
import sys

import numpy as np
import pandas as pd
import tables
import scipy.sparse as sps
from pypet import ArrayParameter, Environment, PickleResult, SparseParameter, Trajectory

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "pypet_arrays.hdf5")
BAD = os.path.join(HERE, "pypet_unsupported.hdf5")
EXPECTED = os.path.join(HERE, "pypet_arrays_expected.json")
STEPS = 20
WITH_UNSUPPORTED = False  # set while pypet_unsupported.hdf5 is written


def diff_lorenz(value, sigma, beta, rho):
    x, y, z = value
    return np.array([sigma * (y - x), x * (rho - z) - y, x * y - beta * z])


def euler_scheme(traj):
    steps, dt = traj.steps, traj.dt
    p = traj.func_params
    result = np.zeros((steps, 3))
    result[0] = traj.initial_conditions
    for i in range(1, steps):
        result[i] = result[i - 1] + dt * diff_lorenz(result[i - 1], p.sigma, p.beta, p.rho)
    traj.f_add_result("euler_evolution", data=result, comment="Our time series data!")
    traj.f_add_result("stats", mean=float(result[:, 0].mean()), n=int(traj.v_idx * 10),
                      label=f"run {traj.v_idx}", comment="several items")
    frame = pd.DataFrame({"x": result[:4, 0], "step": np.arange(4, dtype=np.int64),
                          "tag": [f"t{traj.v_idx}{k}" for k in range(4)]},
                         index=pd.Index([10, 20, 30, 40], name="t"))
    traj.f_add_result("lorenz.$.frame", frame, comment="a DataFrame")
    if not WITH_UNSUPPORTED:  # pypet_unsupported.hdf5: no series (keeps it < 300 kB)
        traj.f_add_result("$set.$.series", pd.Series(result[-1], index=["x", "y", "z"], name="last"))
    traj.f_add_result("$set.$.norm", float(np.linalg.norm(result[-1])))
    traj.f_add_result("$set.$.info", {"k": traj.v_idx, "scale": 0.5 * traj.v_idx})
    return float(result[-1, 0])


def build(traj, unsupported=False):
    traj.f_add_parameter("steps", STEPS, comment="Number of time steps to simulate")
    traj.f_add_parameter("dt", 0.01, comment="Step size")
    traj.f_add_parameter(ArrayParameter, "initial_conditions", np.array([0.0, 0.0, 0.0]),
                         comment="Our initial conditions, as default we will start from origin!")
    traj.f_add_parameter("diff_name", "diff_lorenz", comment="Name of our differential equation")
    traj.f_add_parameter("func_params.sigma", 10.0)
    traj.f_add_parameter("func_params.beta", 8.0 / 3.0)
    traj.f_add_parameter("func_params.rho", 28.0)
    traj.f_add_parameter("flags.verbose", True)
    traj.f_add_parameter(ArrayParameter, "flags.window", (1, 2, 3), comment="a tuple")
    traj.f_add_parameter(SparseParameter, "weights", np.array([0.5, 1.5]), comment="dense data")
    a, b = np.array([0.01, 0.01, 0.01]), np.array([2.02, 0.02, 0.02])
    traj.f_explore({"initial_conditions": [a, b, a], "func_params.sigma": [10.0, 10.0, 11.0]})
    if unsupported:
        traj.f_add_derived_parameter("scaled_dt", 0.02, comment="derived")
        traj.f_add_parameter(SparseParameter, "coupling", sps.csr_matrix(np.eye(3)))


def write(path, unsupported=False):
    global WITH_UNSUPPORTED
    WITH_UNSUPPORTED = unsupported
    if os.path.exists(path):
        os.remove(path)
    env = Environment(trajectory="example_05", filename=path, comment="pypet example_05 for hpcpet",
                      multiproc=False, log_config=None, add_time=False, overwrite_file=True,
                      automatic_storing=True, git_repository=None,
                      large_overview_tables=False, summary_tables=False, purge_duplicate_comments=False,
                      complevel=9)
    traj = env.trajectory
    build(traj, unsupported)
    env.run(euler_scheme)
    traj.f_add_result("summary", final=np.array([r for r in range(4)], dtype=np.float64),
                      note="after the runs", comment="post-processing")
    if unsupported:
        traj.f_add_result(PickleResult, "obj", {"a": {1, 2}}, comment="a set in a pickle")
        traj.f_add_result("table", pd.DataFrame({"a": [1.0, 2.0]}), comment="a pandas global")
    traj.f_store()
    env.disable_logging()
    shrink(path)
    print(path, os.path.getsize(path), file=sys.stderr)


def shrink(path):
    """Drop pypet's ``config`` group (environment settings, >100 nodes, not imported) and
    repack, so that the fixture stays small (a pypet file is ~0.4 MB of metadata before any run)."""
    with tables.open_file(path, "a") as h5:
        h5.remove_node("/example_05/config", recursive=True)
    tmp = path + ".tmp"
    tables.copy_file(path, tmp, overwrite=True)
    os.replace(tmp, path)


def plain(v):
    """A JSON form of one value as pypet loaded it, with its type."""
    if isinstance(v, pd.DataFrame):
        return {"type": "DataFrame", "columns": [str(c) for c in v.columns],
                "data": {str(c): v[c].tolist() for c in v.columns}, "index": v.index.tolist(),
                "dtypes": {str(k): str(t) for k, t in v.dtypes.items()}, "index_name": v.index.name,
                "index_dtype": str(v.index.dtype)}
    if isinstance(v, pd.Series):
        return {"type": "Series", "values": v.tolist(), "index": v.index.tolist(), "name": v.name,
                "dtype": str(v.dtype)}
    if isinstance(v, np.ndarray):
        return {"type": "ndarray", "values": v.tolist(), "dtype": str(v.dtype)}
    if isinstance(v, tuple):
        return {"type": "tuple", "values": list(v)}
    if isinstance(v, np.generic):
        return {"type": type(v).__name__, "value": v.item()}
    return {"type": type(v).__name__, "value": v}


def expected():
    traj = Trajectory(filename=OUT)
    traj.f_load(index=-1, load_parameters=2, load_results=2, load_derived_parameters=2)
    traj.v_auto_load = True
    out = {"parameters": {}, "explored": {}, "runs": {}, "globals": {}}
    for name, par in traj.f_get_parameters().items():
        out["parameters"][name[len("parameters."):]] = plain(par.f_get_default())
        if par.f_has_range():
            out["explored"][name[len("parameters."):]] = [plain(v) for v in par.f_get_range()]
    for name, res in traj.f_get_results().items():
        items = {k: plain(v) for k, v in res.f_to_dict().items()}
        if ".run_" in name:
            parts = name.split(".")
            run = next(int(p[4:]) for p in parts if p.startswith("run_") and not p.startswith("run_set"))
            out["runs"].setdefault(name.replace(f"run_{run:08d}", "run_XXXXXXXX"), {})[run] = items
        else:
            out["globals"][name] = items
    with open(EXPECTED, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
    print(EXPECTED, file=sys.stderr)


if __name__ == "__main__":
    write(OUT)
    write(BAD, unsupported=True)
    expected()
