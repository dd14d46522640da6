"""The fork server the harness starts this checkout's programs from (tests/e2e/forkserver.py) gives what a
fresh ``python -m node.cli ...`` gives: the same output and exit code, the environment and stdin it is
handed, a process of its own that a signal kills."""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys

import pytest

from tests.e2e import forkserver
from tests.e2e.harness import ROOT

PASSWORD = "Admin-pass-2026\n"


def fresh(module: str, *args, input: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], input=input, capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=60)


@pytest.mark.parametrize("args", [["--version"], ["user", "add"], ["status", "--data", "/nonexistent/node"],
                                  ["init", "--help"]])
def test_a_command_prints_and_exits_as_in_a_fresh_interpreter(args):
    forked = forkserver.run("node.cli", args, input=None, timeout=60)
    expected = fresh("node.cli", *args)
    assert (forked.returncode, forked.stdout, forked.stderr) == (expected.returncode, expected.stdout, expected.stderr)


def test_a_command_gets_the_environment_and_stdin_it_is_handed(tmp_path):
    data = tmp_path / "node"
    env = {**os.environ, "MOTCUA_DATA": str(data)}  # --data's environment variable
    made = forkserver.run("node.cli", ["init", "--agency", "000.00.06.H56", "--name", "UBND xã Hòa Bình",
                                       "--admin", "admin", "--password-stdin"], input=PASSWORD, timeout=60,
                          env=env, umask=0o022)
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(data.stat().st_mode) == 0o700  # under umask 022, as test_operations runs it
    status = forkserver.run("node.cli", ["status"], input=None, timeout=60, env=env)
    assert status.returncode == 0 and status.stdout == fresh("node.cli", "status", env=env).stdout
    assert forkserver.run("node.cli", ["status"], input=None, timeout=60,
                          env={k: v for k, v in os.environ.items() if k != "MOTCUA_DATA"}).returncode == 2


def test_a_server_from_the_fork_server_is_its_own_process_and_dies_of_a_signal(tmp_path):
    data = tmp_path / "node"
    assert forkserver.run("node.cli", ["init", "--data", str(data), "--agency", "000.00.06.H56", "--name", "X",
                                       "--admin", "admin", "--password-stdin"], input=PASSWORD,
                          timeout=60).returncode == 0
    import requests

    from tests.conftest import free_port, wait_until
    log, port = tmp_path / "node.log", free_port()
    proc = forkserver.ForkServer.get().spawn("node.cli", ["run", "--data", str(data), "--port", str(port)],
                                             env=dict(os.environ), cwd=ROOT, stdin=None, stdout=str(log),
                                             stderr=str(log))

    def answers() -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/dang-nhap", timeout=2).status_code == 200
        except requests.RequestException:
            return False
    try:
        wait_until(answers, 30, message="the node answers")
        assert proc.pid not in (os.getpid(), forkserver.ForkServer.get().proc.pid) and proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        proc.kill()
