from backend_contract import BackendContract


class TestPool(BackendContract):
    backend = "pool"

    def execute(self, exp, out, *extra):
        return super().execute(exp, out, "--ncores", "2", *extra)
