"""What a technician gets from the package: the deploy files out of an installed node, and a demo
that runs on the ports given to make."""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_deploy_files_copies_the_systemd_unit_and_the_windows_runner_out_of_the_package(tmp_path):
    result = subprocess.run([sys.executable, "-m", "node.cli", "deploy-files", str(tmp_path / "deploy")],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)  # not run from the repo
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "deploy").iterdir())
    assert names == ["motcua-node.bat", "motcua-node.service", "windows-service.md"]
    unit = (tmp_path / "deploy" / "motcua-node.service").read_text(encoding="utf-8")
    assert "motcua-node run" in unit


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_demo_listens_on_the_ports_it_is_given_and_says_so_when_one_is_taken(tmp_path):
    with socket.socket() as central_probe:
        central_probe.bind(("127.0.0.1", 0))
        central_port = central_probe.getsockname()[1]
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        result = subprocess.run(["make", "--no-print-directory", "demo", f"PORT={port}",
                                 f"CENTRAL_PORT={central_port}", f"DEMO_DIR={tmp_path / 'demo'}",
                                 f"BIN={Path(sys.executable).parent}", "STAMP=pyproject.toml"],
                                capture_output=True, text=True, cwd=ROOT, timeout=240)
    finally:
        busy.close()
    assert result.returncode != 0
    assert f"demo: port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr
    # the demo central came up on CENTRAL_PORT before the node's port was refused
    assert f"http://127.0.0.1:{central_port}/" in result.stdout + result.stderr
