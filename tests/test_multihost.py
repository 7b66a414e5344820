"""One MPI job over three "hosts": network namespaces joined by veth pairs, ranks talking TCP.

The namespaces, a bridge namespace and a private /24 that exists only inside them are made by
the test and removed afterwards (docs/mpi.md, "Testing several hosts on one machine"). hydra
starts its proxies through ``-launcher ssh -launcher-exec`` with a script that does
``ip netns exec``; ``MPIR_CVAR_CH4_NETMOD=ofi FI_PROVIDER=tcp`` forces TCP (the wheel's default
UCX would use shared memory between namespaces). Skipped only where namespaces cannot be made.
"""
import os
import shutil
import subprocess

import pytest

import hpcpet
from conftest import bin_path, experiment, hpcpet_cli
from filecompare import assert_same_content

MPIEXEC = bin_path("mpiexec")
HOSTS = 3
PREFIX = f"hpt{os.getpid() % 100000}"
LAUNCH = '''#!/bin/sh
# hydra's ssh launcher calls: [ssh options] HOST command...; run the command in HOST's namespace
while [ $# -gt 0 ]; do case "$1" in -*) shift ;; *) break ;; esac; done
host=$1; shift
exec ip netns exec {prefix}h${{host##*.}} /bin/sh -c "$*"
'''


def ip(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)


def _problem() -> str | None:
    if not os.path.exists(MPIEXEC):
        return "no mpiexec next to python"
    if shutil.which("ip") is None:
        return "the ip command is missing (apt-get install iproute2; .ci/run does)"
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = ip("netns", "add", PREFIX + "probe")
    if probe.returncode != 0:
        return f"the kernel forbids network namespaces here: {probe.stderr.strip()}"
    ip("netns", "del", PREFIX + "probe")
    return None


@pytest.fixture
def hosts(tmp_path):
    """Three namespaces with 10.77.0.1-3/24 on veths into a bridge namespace; the launcher script."""
    problem = _problem()
    if problem:
        pytest.skip(problem)
    made = []
    try:
        bridge = PREFIX + "br"
        for cmd in (("netns", "add", bridge), ("-n", bridge, "link", "add", "br0", "type", "bridge"),
                    ("-n", bridge, "link", "set", "br0", "up")):
            assert ip(*cmd).returncode == 0
        made.append(bridge)
        for k in range(1, HOSTS + 1):
            ns = f"{PREFIX}h{k}"
            steps = [("netns", "add", ns),
                     ("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", f"p{k}", "netns", bridge),
                     ("-n", bridge, "link", "set", f"p{k}", "master", "br0"),
                     ("-n", bridge, "link", "set", f"p{k}", "up"),
                     ("-n", ns, "addr", "add", f"10.77.0.{k}/24", "dev", "eth0"),
                     ("-n", ns, "link", "set", "eth0", "up"), ("-n", ns, "link", "set", "lo", "up")]
            for i, cmd in enumerate(steps):
                proc = ip(*cmd)
                assert proc.returncode == 0, (cmd, proc.stderr)
                if i == 0:
                    made.append(ns)
        script = tmp_path / "ns-launch.sh"
        script.write_text(LAUNCH.format(prefix=PREFIX))
        script.chmod(0o755)
        yield str(script)
    finally:
        for ns in reversed(made):
            ip("netns", "del", ns)
        left = ip("netns", "list").stdout
        assert PREFIX not in left, left


def bytes_through(host: int) -> int:
    """Bytes received plus sent by host's veth (seen from the bridge namespace)."""
    total = 0
    for what in ("rx_bytes", "tx_bytes"):
        proc = subprocess.run(["ip", "netns", "exec", PREFIX + "br", "cat",
                               f"/sys/class/net/p{host}/statistics/{what}"], capture_output=True, text=True)
        total += int(proc.stdout.strip() or 0)
    return total


@pytest.mark.parametrize("ranks", [6])
def test_ranks_on_three_hosts_over_tcp_give_the_serial_file(hosts, tmp_path, reference, ranks):
    out = tmp_path / "multi.h5"
    before = [bytes_through(k) for k in range(1, HOSTS + 1)]
    prefix = ("ip", "netns", "exec", f"{PREFIX}h1", "env", "MPIR_CVAR_CH4_NETMOD=ofi", "FI_PROVIDER=tcp",
              MPIEXEC, "-launcher", "ssh", "-launcher-exec", hosts, "-iface", "eth0",
              "-hosts", ",".join(f"10.77.0.{k}" for k in range(1, HOSTS + 1)), "-n", str(ranks))
    hpcpet_cli("run", experiment("kinds.py"), "-o", out, "--quiet", prefix=prefix, timeout=180)
    assert_same_content(reference, str(out))
    with hpcpet.load(out) as t:
        assert t.meta["backend"] == "mpi"
    crossed = [bytes_through(k) - b for k, b in zip(range(1, HOSTS + 1), before)]
    assert all(c > 10_000 for c in crossed), crossed  # every host's link really carried the job
