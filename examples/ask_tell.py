"""Any optimiser plugs in through next_runs: an ask/tell loop with Optuna.

Each generation is a batch of points that Optuna's TPE sampler asks for; after the batch
ran, next_runs tells Optuna every stored result and asks for the next batch. Optuna's state
is rebuilt from the results file each time (``add_trial`` of every finished run), so nothing
lives only in memory: a resumed study asks for the same points (the sampler is seeded by
the generation number).

    pip install optuna
    python examples/ask_tell.py -o tpe.h5 [--backend pool]
"""
import numpy as np

import hpcpet

BATCH = 16
GENERATIONS = 8
BOUNDS = {"x": (-5.0, 5.0), "y": (-5.0, 5.0)}


def build(traj):
    traj.add_parameter("x", 0.0)
    traj.add_parameter("y", 0.0)
    traj.explore(hpcpet.sample.sobol(BOUNDS, n=BATCH, seed=0))  # generation 0: a space-filling start


def run(traj):
    traj.add_result("loss", (traj.x - 1.0) ** 2 + (traj.y + 2.0) ** 2)


def next_runs(study):
    """Tell Optuna every result so far, ask it for the next batch (None: stop)."""
    if study.generations >= GENERATIONS:
        return None
    import optuna  # only the master needs it

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = {name: optuna.distributions.FloatDistribution(lo, hi) for name, (lo, hi) in BOUNDS.items()}
    opt = optuna.create_study(direction="minimize",
                              sampler=optuna.samplers.TPESampler(seed=study.generations))
    loss = np.asarray(study.get_from_runs("loss"), float)
    for i in np.flatnonzero(study.completed):  # tell: every finished run
        opt.add_trial(optuna.trial.create_trial(
            params={name: float(study.explored[name][i]) for name in BOUNDS},
            distributions=space, value=float(loss[i])))
    asked = [opt.ask(space) for _ in range(BATCH)]  # ask: the next generation
    return {name: [trial.params[name] for trial in asked] for name in BOUNDS}


if __name__ == "__main__":
    hpcpet.main()
