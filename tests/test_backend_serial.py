from backend_contract import BackendContract


class TestSerial(BackendContract):
    backend = "serial"
