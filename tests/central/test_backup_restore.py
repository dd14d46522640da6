"""motcua-central backup / restore on both engines: SQLite's backup API, pg_dump and pg_restore."""
from __future__ import annotations

from click.testing import CliRunner

from central.cli import main
from tests.central.conftest import add_node, central_target


def _dossier_codes(conn) -> list[str]:
    return [r["code"] for r in conn.execute("SELECT code FROM dossiers ORDER BY code")]


def test_a_backup_restores_centrals_data_as_it_was_on_either_engine(central_dir, central, conn, clock, tmp_path,
                                                                  central_backend):
    from tests.central.conftest import FakeNode
    node = FakeNode(clock)
    assert node.enrol(central, add_node(conn, clock)).status_code == 200
    first = [node.receive() for _ in range(3)]
    assert node.push(central).status_code == 200
    out = tmp_path / "backups" / ("central.dump" if central_backend == "postgresql" else "central.db")
    result = CliRunner().invoke(main, ["backup", "--data", str(central_dir), "--to", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0 and "Backup written" in result.output
    again = CliRunner().invoke(main, ["backup", "--data", str(central_dir), "--to", str(out)])
    assert again.exit_code == 2 and "already exists" in again.output  # never over an older backup

    later = [node.receive() for _ in range(2)]  # written after the backup: gone after the restore
    assert node.push(central).status_code == 200
    assert _dossier_codes(conn) == sorted(first + later)
    conn.close()
    from central.db import close_pools
    close_pools(central.application)  # central is stopped for a restore

    refused = CliRunner().invoke(main, ["restore", "--data", str(central_dir), "--from", str(out)])
    if central_backend == "postgresql":  # the configured database still holds central: only with --force
        assert refused.exit_code == 2 and "--force" in refused.output
        result = CliRunner().invoke(main, ["restore", "--data", str(central_dir), "--from", str(out), "--force"])
    else:
        result = refused
    assert result.exit_code == 0, result.output
    from central.db import connect
    restored = connect(central_target(central_dir))
    try:
        assert _dossier_codes(restored) == sorted(first)
        assert restored.execute("SELECT head_seq FROM nodes WHERE id = ?", (node.agency,)).fetchone()[0] == 3
    finally:
        restored.close()


def test_restore_refuses_a_file_that_is_not_a_backup_and_changes_nothing(central_dir, tmp_path, central_backend):
    junk = tmp_path / "junk.dump"
    junk.write_bytes(b"not a backup at all")
    before = central_target(central_dir)
    result = CliRunner().invoke(main, ["restore", "--data", str(central_dir), "--from", str(junk), "--force"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    from central.db import connect
    conn = connect(before)
    try:
        assert conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 1  # the admin init made
    finally:
        conn.close()
