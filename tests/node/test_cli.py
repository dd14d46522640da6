"""motcua-node CLI: help with examples everywhere, strict config, init refuses to overwrite."""
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from node.cli import main


def all_commands(group, prefix=()):
    for name, command in group.commands.items():
        yield prefix + (name,), command
        if isinstance(command, click.Group):
            yield from all_commands(command, prefix + (name,))


@pytest.mark.parametrize("path,command", list(all_commands(main)),
                         ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_every_command_has_help_with_an_example(path, command):
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0
    assert command.help and "Example:" in command.help, path


def test_init_creates_a_node_and_refuses_to_overwrite_it(tmp_path):
    runner = CliRunner()
    args = ["init", "--data", str(tmp_path / "n"), "--agency", "000.00.06.H56", "--name", "UBND xã Hòa Bình",
            "--admin", "admin", "--password-stdin"]
    first = runner.invoke(main, args, input="Admin-pass-2026\n")
    assert first.exit_code == 0, first.output
    assert (tmp_path / "n" / "motcua.toml").exists()
    again = runner.invoke(main, args, input="Admin-pass-2026\n")
    assert again.exit_code == 2 and "refusing to overwrite" in again.output


def test_init_with_a_bad_agency_code_stops_with_one_line_and_creates_nothing(tmp_path):
    result = CliRunner().invoke(main, ["init", "--data", str(tmp_path / "n"), "--agency", "bad code", "--name", "X",
                                       "--admin", "admin", "--password-stdin"], input="Admin-pass-2026\n")
    assert result.exit_code == 2
    assert result.output.startswith("error: setting 'agency_code'") and result.output.count("\n") == 1
    assert not (tmp_path / "n").exists()


def test_run_with_a_bad_config_value_exits_2_with_a_clear_error(node_dir):
    config = node_dir / "motcua.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('"07:00-11:30,13:30-17:00"', '"7-11"'),
                      encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "node.cli", "run", "--data", str(node_dir)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: setting 'working_hours'")
    assert "Traceback" not in result.stderr


def test_run_without_a_node_folder_exits_2(tmp_path):
    result = CliRunner().invoke(main, ["run", "--data", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_unknown_setting_is_refused(node_dir):
    config = node_dir / "motcua.toml"
    config.write_text(config.read_text(encoding="utf-8") + '\nworkng_hours = "x"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["user", "add", "--data", str(node_dir), "x", "--password-stdin"],
                                input="Xpass-2026-long\n")
    assert result.exit_code == 2 and "unknown setting 'workng_hours'" in result.output


def test_user_add_and_token_create(node_dir):
    runner = CliRunner()
    added = runner.invoke(main, ["user", "add", "--data", str(node_dir), "mai", "--role", "leader",
                                 "--password-stdin"], input="Mai-pass-2026\n")
    assert added.exit_code == 0 and "mai (leader)" in added.output
    weak = runner.invoke(main, ["user", "add", "--data", str(node_dir), "bao", "--password-stdin"], input="123\n")
    assert weak.exit_code == 2 and "at least 10" in weak.output
    token = runner.invoke(main, ["token", "create", "--data", str(node_dir), "mai"])
    assert token.exit_code == 0 and token.output.startswith("mc_")
    assert runner.invoke(main, ["token", "create", "--data", str(node_dir), "nobody"]).exit_code == 2
