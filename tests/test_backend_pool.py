from backend_contract import BackendContract


class TestPool(BackendContract):
    backend = "pool"

    def execute(self, exp, out, *extra):
        return super().execute(exp, out, "--ncores", "2", *extra)


def test_file_that_cannot_be_created_after_workers_started(tmp_path):
    # the pool starts (and gets its first batches) before the file is created; it must not linger
    import subprocess
    import sys

    from conftest import experiment

    out = tmp_path / "out.h5"
    proc = subprocess.run([sys.executable, experiment("create_fails.py"), str(out), "pool"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "cannot write the file (simulated)" in proc.stderr
    assert not out.exists()
    # runs of 60 s: the pool must not wait for the batches its workers already have
    proc = subprocess.run([sys.executable, experiment("create_fails.py"), str(out), "pool", "60"],
                          capture_output=True, text=True, timeout=50)
    assert proc.returncode == 2 and "cannot write the file (simulated)" in proc.stderr
