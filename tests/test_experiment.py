"""Experiment files (hpcpet/experiment.py): build, run and the optional next_runs."""
import pytest

from hpcpet.errors import HpcpetError
from hpcpet.experiment import load_experiment

from conftest import experiment


def test_next_runs_is_optional(tmp_path):
    assert load_experiment(experiment("seeded.py")).next_runs is None
    path = tmp_path / "gen.py"
    path.write_text("def build(traj):\n    pass\ndef run(traj):\n    pass\n"
                    "def next_runs(study):\n    return None\n")
    exp = load_experiment(str(path))
    assert callable(exp.next_runs) and exp.next_runs(None) is None


def test_next_runs_that_is_not_a_function(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text("def build(traj):\n    pass\ndef run(traj):\n    pass\nnext_runs = 3\n")
    with pytest.raises(HpcpetError, match="next_runs must be a function"):
        load_experiment(str(path))
