"""Progress output: log lines every ~5 %, a final line, nothing when quiet, a tqdm bar on a TTY."""
import fcntl
import io
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios

import pytest

from hpcpet.progress import Progress

from conftest import ROOT, experiment

LINE = re.compile(r"^\[hpcpet\] (\d+)/(\d+) runs \((\d+)%.*runs/s, elapsed \S+, eta \S+$")


def _lines(stream):
    return [l for l in stream.getvalue().splitlines() if l]


def test_log_mode_one_line_per_five_percent_and_a_final_line():
    out = io.StringIO()
    p = Progress(1000, "log", stream=out, min_seconds=0)
    for _ in range(1000):
        p.update(1)
    p.close()
    lines = _lines(out)
    assert len(lines) == 20
    assert all(LINE.match(l) for l in lines), lines[:3]
    done = [int(LINE.match(l).group(1)) for l in lines]
    assert done == list(range(50, 1001, 50))
    assert lines[-1].startswith("[hpcpet] 1000/1000 runs (100%")


def test_log_mode_final_line_when_total_is_not_a_multiple():
    out = io.StringIO()
    p = Progress(1010, "log", stream=out, min_seconds=0)
    for _ in range(101):
        p.update(10)
    p.close()
    done = [int(LINE.match(l).group(1)) for l in _lines(out)]
    # one line per 50 runs crossed (5 % of 1010 = 50), then the final count once
    assert done[:-1] == list(range(50, 1001, 50)) and done[-1] == 1010


def test_log_mode_big_batches_give_one_line_each_and_no_duplicate_final():
    out = io.StringIO()
    p = Progress(100, "log", stream=out, min_seconds=0)
    p.update(40)
    p.update(60, failed=3)
    p.close()
    lines = _lines(out)
    assert [int(LINE.match(l).group(1)) for l in lines] == [40, 100]
    assert "3 failed" in lines[-1]


def test_log_mode_interrupted_prints_where_it_stopped():
    out = io.StringIO()
    p = Progress(100, "log", stream=out, every_seconds=0.0)  # a line at every update
    for _ in range(7):
        p.update(1)
    p.close()
    done = [int(LINE.match(l).group(1)) for l in _lines(out)]
    assert done == [1, 2, 3, 4, 5, 6, 7]  # the final state is printed once, not twice


def test_quiet_prints_nothing():
    out = io.StringIO()
    p = Progress(100, "quiet", stream=out)
    for _ in range(100):
        p.update(1)
    p.close()
    assert out.getvalue() == ""


def test_auto_without_tty_is_log():
    p = Progress(10, "auto", stream=io.StringIO())
    assert p.mode == "log"


def _run_in_pty(args, timeout=120, set_size=True):
    """Run a command with stdout/stderr on a pseudo-terminal; return everything it wrote."""
    master, slave = pty.openpty()
    if set_size:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    env = dict(os.environ, COLUMNS="100")
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT)
    os.close(slave)
    chunks = []
    while True:
        r, _, _ = select.select([master], [], [], timeout)
        if not r:
            proc.kill()
            raise AssertionError("no output from the command in time")
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=timeout)
    os.close(master)
    return proc.returncode, b"".join(chunks).decode(errors="replace")


def test_bar_on_a_real_terminal(tmp_path):
    out = tmp_path / "o.h5"
    code, text = _run_in_pty([sys.executable, "-m", "hpcpet", "run", experiment("product.py"),
                              "-o", str(out), "--backend", "serial"])
    assert code == 0, text
    assert "\r" in text  # the bar redraws in place
    assert re.search(r"100%\|", text), text[-500:]
    assert re.search(r"5\.00k/5\.00k", text), text[-500:]  # 50 x 100 runs
    assert "runs/s" in text
    assert "[hpcpet] 5000/5000" not in text  # no log lines on a terminal


def test_bar_on_a_terminal_that_reports_no_size(tmp_path):
    out = tmp_path / "o.h5"
    code, text = _run_in_pty([sys.executable, "-m", "hpcpet", "run", experiment("product.py"),
                              "-o", str(out), "--backend", "serial"], set_size=False)
    assert code == 0, text
    assert re.search(r"100%\|", text), text[-500:]


def test_quiet_on_a_real_terminal_prints_no_progress(tmp_path):
    out = tmp_path / "o.h5"
    code, text = _run_in_pty([sys.executable, "-m", "hpcpet", "run", experiment("product.py"),
                              "-o", str(out), "--backend", "serial", "--quiet"])
    assert code == 0, text
    assert text.strip() == ""


def test_log_lines_without_a_terminal(tmp_path):
    out = tmp_path / "o.h5"
    proc = subprocess.run([sys.executable, "-m", "hpcpet", "run", experiment("product.py"), "-o", str(out),
                           "--backend", "serial", "--batch-size", "50"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    lines = [l for l in proc.stderr.splitlines() if LINE.match(l)]
    done = [int(LINE.match(l).group(1)) for l in lines]
    # a line at most every 5 % (and at most one a second): this short job prints its last one
    assert done and done[-1] == 5000 and all(d % 250 == 0 for d in done), proc.stderr
    assert done == sorted(set(done)) and len(done) <= 20


def test_a_short_job_prints_only_its_last_line():
    out = io.StringIO()
    p = Progress(1000, "log", stream=out)  # default: log lines at least 1 s apart
    for _ in range(100):
        p.update(10)
    p.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("[hpcpet] 1000/1000 runs (100%)")
