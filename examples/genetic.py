"""A genetic algorithm with numpy only: one generation of runs per call of next_runs.

The shape of pypet's DEAP example (``f_expand`` per generation) in one results file:
generation 0 is a Latin hypercube over the box; each following generation is bred from the
previous one (tournament selection, blend crossover, Gaussian mutation). The breeding draws
from a generator seeded by the generation number, so a resumed study breeds the same runs.

    python examples/genetic.py -o ga.h5 [--backend pool]      # or: mpiexec -n 4 python ...

Then ``hpcpet.load("ga.h5").select("generation == 14")`` gives the last generation's runs.
"""
import numpy as np

import hpcpet

POPULATION = 40
GENERATIONS = 15
BOUNDS = {"x": (-5.0, 5.0), "y": (-5.0, 5.0)}
SEED = 1


def build(traj):
    traj.add_parameter("x", 0.0, comment="first gene")
    traj.add_parameter("y", 0.0, comment="second gene")
    traj.explore(hpcpet.sample.latin_hypercube(BOUNDS, n=POPULATION, seed=SEED))


def run(traj):
    # a bowl with its best at (1, -2) and a little evaluation noise, reproducible per run
    noise = 0.01 * np.random.default_rng(traj.seed).normal()
    traj.add_result("fitness", -((traj.x - 1.0) ** 2 + (traj.y + 2.0) ** 2) + noise)


def breed(genes: np.ndarray, fitness: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The next population from this one: tournaments of 3, blend crossover, Gaussian mutation."""
    n, d = genes.shape
    contenders = rng.integers(0, n, size=(n, 3))
    parents = genes[contenders[np.arange(n), np.argmax(fitness[contenders], axis=1)]]
    mates = parents[rng.permutation(n)]
    alpha = rng.uniform(-0.5, 1.5, size=(n, 1))  # BLX-0.5
    children = alpha * parents + (1 - alpha) * mates
    mutate = rng.random((n, d)) < 0.2
    children = children + mutate * rng.normal(0.0, 0.3, size=(n, d))
    lo = np.array([b[0] for b in BOUNDS.values()])
    hi = np.array([b[1] for b in BOUNDS.values()])
    return np.clip(children, lo, hi)


def next_runs(study):
    """Called on the master after each generation; None stops."""
    if study.generations >= GENERATIONS:
        return None
    last = study.select(f"generation == {study.generations - 1}")
    genes = np.column_stack([study.explored[name][last] for name in BOUNDS])
    fitness = np.asarray(study.get_from_runs("fitness", runs=last), float)
    fitness = np.where(np.isfinite(fitness), fitness, -np.inf)  # a failed run never wins
    children = breed(genes, fitness, np.random.default_rng([SEED, study.generations]))
    return {name: children[:, j].tolist() for j, name in enumerate(BOUNDS)}


if __name__ == "__main__":
    hpcpet.main()
