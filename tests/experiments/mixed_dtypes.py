"""A result that is an int in the first buckets and a float later (the column becomes float64)."""
import hpcpet


def build(traj):
    traj.add_parameter("i", 0)
    traj.explore({"i": list(range(40))})


def run(traj):
    i = traj["i"]
    traj.add_result("v", i * 3 if i < 20 else i * 0.5)
    if i % 7:
        traj.add_result("sparse", i)
