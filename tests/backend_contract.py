"""The conformance suite every backend passes: subclass BackendContract.

A subclass says how to run an experiment file with its backend
(:meth:`execute`); the tests compare the file with the serial backend's.
"""
import numpy as np
import pytest

import hpcpet
from conftest import experiment, hpcpet_cli
from filecompare import assert_same_content


class BackendContract:
    backend = "serial"

    def execute(self, exp: str, out: str, *extra: str):
        """Run ``exp`` into ``out`` with this backend (subclasses may override)."""
        return hpcpet_cli("run", exp, "-o", out, "--backend", self.backend, "--quiet", *extra)

    def test_same_content_as_serial(self, reference, tmp_path):
        out = str(tmp_path / "out.h5")
        self.execute(experiment("kinds.py"), out)
        assert_same_content(reference, out)

    def test_all_result_kinds(self, tmp_path):
        out = str(tmp_path / "out.h5")
        self.execute(experiment("kinds.py"), out)
        with hpcpet.load(out) as t:
            assert len(t) == 35
            assert t.completed.sum() == 34 and t.failed.sum() == 1
            i = int(np.flatnonzero(t.failed)[0])
            assert "deliberate failure" in t.errors[i]
            x, tau = t.explored["x"], t.explored["neuron.tau"]
            z = t.get_from_runs("some_group.z")
            ok = t.completed
            assert np.array_equal(z[ok], (x * tau)[ok]) and np.isnan(z[i])
            fixed = t.get_from_runs("arrays.fixed")
            assert fixed.shape == (35, 3)
            ragged = t.get_from_runs("arrays.ragged")
            assert ragged[i] is None
            assert all(len(ragged[k]) == int(x[k]) for k in np.flatnonzero(ok))
            msg = t.get_from_runs("text.msg")
            assert msg[0] == f"x={x[0]} tau={tau[0]}"
            ret = t.get_from_runs("return")
            assert np.allclose(ret[ok], (x + tau)[ok])
            big = t.get_from_runs("sometimes.big")
            assert np.isnan(big[tau <= 100]).all() and np.array_equal(big[(tau > 100) & ok], tau[(tau > 100) & ok])

    def test_heavy_arrays_same_as_serial(self, tmp_path):
        # big arrays travel as raw buffers (pool: backends/wire.py, MPI: pkl5): nothing may change
        ref = str(tmp_path / "serial.h5")
        hpcpet_cli("run", experiment("heavy.py"), "-o", ref, "--backend", "serial", "--quiet")
        out = str(tmp_path / "out.h5")
        self.execute(experiment("heavy.py"), out)
        assert_same_content(ref, out)
        with hpcpet.load(out) as t:
            assert t.completed.sum() == 47 and t.failed.sum() == 1
            m = t.get_from_runs("matrix")
            assert m.shape == (48, 200, 100) and m[7, 3, 2] == 3 * 100 + 2 + 7
            assert len(t.get_from_runs("spikes")[47]) == 9_000 + 200 * 47

    def test_small_sets_and_batches(self, reference, tmp_path):
        out = str(tmp_path / "out.h5")
        self.execute(experiment("kinds.py"), out, "--set-size", "4", "--batch-size", "3")
        assert_same_content(reference, out)

    def test_many_runs(self, tmp_path):
        out = str(tmp_path / "out.h5")
        self.execute(experiment("product.py"), out, "--set-size", "100")
        with hpcpet.load(out) as t:
            assert t.completed.all()
            z = t.get_from_runs("some_group.z")
            assert np.array_equal(z, t.explored["x"] * t.explored["neuron.tau"])

    def test_frozen_input_reaches_each_worker_once(self, tmp_path):
        out = str(tmp_path / "once.h5")
        self.execute(experiment("frozen_once.py"), out, "--batch-size", "10")  # 300 batches
        with hpcpet.load(out) as t:
            assert t.completed.all()
            assert t.get_from_runs("received").max() <= 1  # never sent again, whatever the batches
