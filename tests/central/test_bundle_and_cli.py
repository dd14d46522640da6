import re

import click
import pytest
from click.testing import CliRunner

from central.cli import main
from tests.central.conftest import AGENCY, CENTRAL_ADMIN_PASSWORD, open_reply


def run(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)


def all_commands(group, prefix=()):
    yield prefix, group
    if isinstance(group, click.Group):
        for name, command in group.commands.items():
            yield from all_commands(command, prefix + (name,))


@pytest.mark.parametrize("path,command", list(all_commands(main)),
                         ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_every_command_s_help_has_an_example(path, command):
    result = run(*path, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.output


def test_init_creates_a_working_central_and_refuses_an_existing_folder(tmp_path):
    data = tmp_path / "c"
    result = run("init", "--data", data, "--name", "UBND tỉnh Quảng Ninh", "--admin", "admin", "--password-stdin",
                 input=CENTRAL_ADMIN_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "Key fingerprint:" in result.output
    assert (data / "central.key").stat().st_mode & 0o077 == 0
    again = run("init", "--data", data, "--name", "X", "--admin", "admin", "--password-stdin",
                input=CENTRAL_ADMIN_PASSWORD + "\n")
    assert again.exit_code == 2 and again.output.startswith("error: ")


def test_a_config_error_is_one_line_and_exit_code_2(tmp_path):
    result = run("node", "list", "--data", tmp_path / "missing")
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "does not exist" in result.output


def test_node_add_prints_the_code_its_expiry_and_the_central_fingerprint(central_dir):
    result = run("node", "add", "--data", central_dir, "--agency", AGENCY, "--name", "UBND xã Hòa Bình")
    assert result.exit_code == 0, result.output
    assert re.search(r"^code: [A-Z2-7]{5}-[A-Z2-7]{5}$", result.output, re.M)
    assert "expires: " in result.output and "central key fingerprint: " in result.output
    assert run("node", "add", "--data", central_dir, "--agency", AGENCY, "--name", "x").exit_code == 2
    listing = run("node", "list", "--data", central_dir)
    assert AGENCY in listing.output and "pending" in listing.output


def test_a_bundle_goes_through_the_same_checks_and_a_later_push_sends_nothing_new(
        central, central_app, central_dir, conn, node, tmp_path):
    node.receive()
    node.receive()
    bundle = node.bundle(tmp_path / "usb.motcua")
    result = run("import-bundle", "--data", central_dir, bundle)
    assert result.exit_code == 0, result.output
    assert "accepted 2, duplicates 0" in result.output
    assert conn.execute("SELECT source FROM batches").fetchone()[0] == "bundle"
    # Back online: the heartbeat tells the node central already holds everything.
    reply = open_reply(central_app, node.push(central, events=[]))
    assert reply["head"] == {"seq": 2, "hash": node.head_hash}
    again = run("import-bundle", "--data", central_dir, bundle)
    assert "accepted 0, duplicates 2" in again.output
    assert open_reply(central_app, node.push(central))["duplicates"] == 2
    assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 2


def test_a_tampered_bundle_is_refused_with_one_line_and_exit_code_1(central_dir, node, tmp_path):
    import base64
    import json
    node.receive()
    path = node.bundle(tmp_path / "usb.motcua")
    doc = json.loads(path.read_text())
    signature = bytearray(base64.b64decode(doc["signature"]))
    signature[0] ^= 0x01
    doc["signature"] = base64.b64encode(bytes(signature)).decode()
    path.write_text(json.dumps(doc))
    result = CliRunner().invoke(main, ["import-bundle", "--data", str(central_dir), str(path)])
    assert result.exit_code == 1
    assert result.stderr.startswith("refused: bad_signature") and result.stderr.count("\n") == 1
    not_bundle = tmp_path / "x.json"
    not_bundle.write_text("{}")
    assert run("import-bundle", "--data", central_dir, not_bundle).exit_code == 1


def test_hand_back_from_the_command_line(central, central_dir, conn, node):
    from domain import workflow
    code = node.receive()
    node.act(code, workflow.start_processing, {})
    node.act(code, workflow.hand_up, {})
    node.push(central)
    result = run("dossier", "hand-back", "--data", central_dir, code, "--outcome", "return", "--note", "Thiếu giấy")
    assert result.exit_code == 0, result.output
    assert conn.execute("SELECT outcome FROM handbacks").fetchone()[0] == "return"
    refused = run("dossier", "hand-back", "--data", central_dir, code, "--outcome", "return")
    assert refused.exit_code == 2


def test_revoke_and_recovery_code_from_the_command_line(central, central_app, central_dir, node):
    assert run("node", "revoke", "--data", central_dir, AGENCY).exit_code == 0
    assert open_reply(central_app, node.push(central))["error"]["code"] == "revoked"
    result = run("node", "recovery-code", "--data", central_dir, AGENCY)
    code = re.search(r"^code: (\S+)$", result.output, re.M).group(1)
    assert open_reply(central_app, node.enrol(central, code))["recovery"] is True
    token = run("token", "create", "--data", central_dir, "admin").output.strip()
    assert central.get("/api/v1/nodes", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_a_bad_setting_in_the_config_file_is_refused_with_exit_code_2(central_dir):
    path = central_dir / "motcua-central.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("max_body_bytes = 4194304", "max_body_bytes = 0"),
                    encoding="utf-8")
    result = run("node", "list", "--data", central_dir)
    assert result.exit_code == 2
    assert result.output == "error: setting 'max_body_bytes': must be a whole number of at least 1\n"
