"""Each run records how its worker process was placed: BLAS threads, thread variables, GPUs, pid."""
import os

import numpy as np
from threadpoolctl import threadpool_info

import hpcpet


def build(traj):
    traj.add_parameter("i", 0)
    traj.explore(hpcpet.cartesian_product({"i": np.arange(int(os.environ.get("PROBE_RUNS", "60")))}))


def run(traj):
    blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    traj.add_result("blas_threads", min(blas))
    traj.add_result("env_threads", os.environ.get("OPENBLAS_NUM_THREADS", "unset"))
    traj.add_result("gpus", os.environ.get("CUDA_VISIBLE_DEVICES", "unset"))
    traj.add_result("pid", os.getpid())
    traj.add_result("rank", int(os.environ.get("PMI_RANK", "-1")))
