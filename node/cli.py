"""motcua-node: set up, run and look after a commune node."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from appshell import cli as shared
from appshell.cli import config_errors, read_password
from appshell.settings import ConfigError

from .clock import local_now
from .roles import ROLES, TOKEN_PREFIX

data_option = shared.data_option("MOTCUA_DATA", "The node's")


def open_db(data_dir: Path):
    """Connection to an existing, migrated node database (config checked first)."""
    from appshell.sqlite import connect

    from .db import migrate
    from .settings import DB_NAME, load_settings
    settings = load_settings(data_dir)
    path = data_dir / DB_NAME
    if not path.exists():
        raise ConfigError(f"no database at {path} (run motcua-node init first)")
    migrate(path, backup_dir=data_dir / "backups")
    return settings, connect(path)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="motcua")
def main():
    """Run the one-stop desk of a commune, online or not.

    Example:

        motcua-node init --data /srv/motcua --agency 000.00.06.H56 --name "UBND xã Hòa Bình" --admin admin
    """
    shared.private_files()


@main.command()
@data_option
@click.option("--agency", required=True, help="Receiving agency code, e.g. 000.00.06.H56.")
@click.option("--name", "agency_name", required=True, help='Agency name on forms, e.g. "UBND xã Hòa Bình".')
@click.option("--parent", "parent_name", default="", help='Upper level, e.g. "UBND tỉnh Quảng Ninh".')
@click.option("--admin", required=True, help="Username of the first administrator.")
@click.option("--public-url", default="http://127.0.0.1:8080", show_default=True,
              help="Address printed in receipts' QR codes for the citizen lookup page.")
@click.option("--password-stdin", is_flag=True, help="Read the admin password from standard input.")
@config_errors
def init(data_dir, agency, agency_name, parent_name, admin, public_url, password_stdin):
    """Create a node: folder, config, database, sample catalogue and calendar, admin account.

    Refuses a folder that already holds a node.

    Example:

        echo 'S3cret-pass-2026' | motcua-node init --data ./xa-hoabinh --agency 000.00.06.H56 \\
            --name "UBND xã Hòa Bình" --admin admin --password-stdin
    """
    from .provision import init_node
    password = read_password(password_stdin, "Admin password")
    init_node(data_dir, agency_code=agency, agency_name=agency_name, admin=admin, password=password,
              now=local_now(), parent_name=parent_name, public_url=public_url)
    click.echo(f"Node {agency} created in {data_dir}. Start it with: motcua-node run --data {data_dir}")


@main.command()
@data_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 32), help="Worker threads.")
@config_errors
def run(data_dir, host, port, threads):
    """Serve the node with waitress until stopped (Ctrl+C).

    Example:

        motcua-node run --data /srv/motcua --host 0.0.0.0 --port 8080
    """
    from appshell import logs
    from appshell.web import make_server

    from . import create_app
    from .backup import BackupScheduler
    from .blob_lane import BlobLane
    from .db import FolderLock
    from .settings import load_settings
    from .sync import SyncWorker
    settings = load_settings(data_dir)  # refuse a bad config before touching the folder
    lock = FolderLock(data_dir, "run").acquire()  # one node per folder; `restore` waits for it to stop
    try:
        logs.configure(data_dir, "node.log")
        app = create_app({"DATA_DIR": data_dir})  # migrates after a backup; a failed step exits 2
        server = make_server(app, host, port, threads, "motcua")  # a port in use: one line, exit 2
        worker = SyncWorker(data_dir, settings).start()
        lane = BlobLane(data_dir, settings).start()  # documents after the events, on their own schedule
        backups = BackupScheduler(data_dir, settings).start()
        app.extensions["motcua.sync"] = worker
        app.extensions["motcua.blob_lane"] = lane
        app.extensions["motcua.backup"] = backups
        click.echo(f"motcua node {settings['agency_code']} listening on http://{host}:{port}/")
        from .blob_restore import RestoreWorker
        restores = RestoreWorker(data_dir, settings).start()  # a rebuilt node's documents, slowly, from central
        try:
            server.run()
        finally:
            restores.stop()
            backups.stop()
            lane.stop()
            worker.stop()
    finally:
        lock.release()


main.add_command(shared.user_commands(data_option, open_db, local_now, program="motcua-node",
                                      roles=ROLES, default_role="clerk", example_data="/srv/motcua",
                                      role_help="clerk receives dossiers, leader resolves them, "
                                                "admin manages the node."))
main.add_command(shared.token_commands(data_option, open_db, local_now, program="motcua-node",
                                       token_prefix=TOKEN_PREFIX,
                                       example_data="/srv/motcua", example_url="http://127.0.0.1:8080/api/v1/procedures"))


@main.command("deploy-files")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def deploy_files(folder):
    """Copy the service files shipped with the node (systemd unit, Windows runner and its guide) to FOLDER.

    Example:

        motcua-node deploy-files /tmp/motcua-deploy && sudo install -m 644 /tmp/motcua-deploy/motcua-node.service \\
            /etc/systemd/system/
    """
    from importlib.resources import files
    folder.mkdir(parents=True, exist_ok=True)
    for item in sorted(files("node").joinpath("deploy").iterdir(), key=lambda i: i.name):
        if item.is_file() and not item.name.startswith(("_", ".")):
            (folder / item.name).write_bytes(item.read_bytes())
            click.echo(f"wrote {folder / item.name}")


@main.command("verify-qr")
@data_option
@click.argument("text")
@config_errors
def verify_qr(data_dir, text):
    """Check the QR printed on a paper this node issued: genuine, superseded or forged.

    TEXT is what a scanner reads from the QR (it starts with MC1:). Works offline. Exit code 0 when
    genuine, 2 when superseded by a correction, 1 when forged, altered, unreadable or from another node.

    Example:

        motcua-node verify-qr --data /srv/motcua "MC1:AEAQ..."
    """
    from protocol import paper_qr

    from .qr import node_key, node_verifier
    settings, conn = open_db(data_dir)
    try:
        keys_for, revision_for = node_verifier(conn, settings["agency_code"], node_key(data_dir))
        verdict = paper_qr.verify(text, keys_for, revision_for)
    finally:
        conn.close()
    click.echo(f"{verdict.outcome}: {verdict.detail}")
    if verdict.qr and verdict.outcome != paper_qr.INVALID:
        qr = verdict.qr
        click.echo(f"  document: form {qr.document:02d}; dossier {qr.dossier}; procedure {qr.procedure or '-'}")
        click.echo(f"  issued by {qr.issuer} at {qr.issued_at:%Y-%m-%d %H:%M}; revision {qr.revision}")
    sys.exit({paper_qr.GENUINE: 0, paper_qr.SUPERSEDED: 2}.get(verdict.outcome, 1))


@main.command()
@data_option
@click.argument("url")
@click.argument("code")
@config_errors
def enroll(data_dir, url, code):
    """Register this node with central using the one-time CODE the upper level gave you.

    Generates the node's key (readable only by its owner), pins central's key and prints both
    fingerprints: read them to the upper-level admin, whose screen shows the same. A recovery code
    (for a node whose disk died, freshly initialised) also pulls the node's whole history back.

    Example:

        motcua-node enroll --data /srv/motcua https://motcua.quangninh.gov.vn K7QF2-M4XPA
    """
    from .enrol import EnrolError, enrol
    _settings, conn = open_db(data_dir)
    try:
        result = enrol(conn, data_dir, url, code)
    except EnrolError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"Enrolled as node {result['node']}.")
    click.echo(f"  this node's key fingerprint: {result['node_fingerprint']}")
    click.echo(f"  central's key fingerprint:   {result['central_fingerprint']}")
    if result["recovery"]:
        click.echo(f"  restored {result['restored']} events from central; the node continues from there.")
        click.echo("  document files come back from central when first opened, or all at once with: "
                   f"motcua-node blobs restore --data {data_dir}")


@main.command()
@data_option
@click.option("--once", is_flag=True, required=True, help="Run one full cycle (push, then pull) and exit.")
@config_errors
def sync(data_dir, once):
    """Push pending events to central and pull its feed, once.

    Exit code 0 when caught up, 1 when the cycle failed (the reason is printed).

    Example:

        motcua-node sync --data /srv/motcua --once
    """
    from .sync import sync_once
    from .sync_client import SyncError
    settings, conn = open_db(data_dir)
    conn.close()
    try:
        outcome = sync_once(data_dir, settings)
    except SyncError as exc:
        click.echo(f"sync failed: {exc}", err=True)
        sys.exit(1)
    click.echo(f"sync ok: pushed {outcome.pushed} events ({outcome.duplicates} already at central), "
               f"applied {outcome.applied} feed entries")


@main.command()
@data_option
@config_errors
def status(data_dir):
    """Show sync status: pending events, last success, last error, clock offset, versions.

    Example:

        motcua-node status --data /srv/motcua
    """
    from . import sync_state
    _settings, conn = open_db(data_dir)
    st = sync_state.status(conn)
    error = sync_state.get(conn, "last_error_kind")
    rows = [
        ("enrolled", f"yes, with {st.central_url}" if st.enrolled else "no (motcua-node enroll)"),
        ("node key fingerprint", st.node_fingerprint or "-"),
        ("central key fingerprint", st.central_fingerprint or "-"),
        ("events in log", st.local_seq),
        ("acknowledged by central", st.acked_seq),
        ("pending", st.pending),
        ("last successful sync", st.last_success_at or "never"),
        ("last error", f"{error} at {st.last_error_at}" if error else "none"),
        ("clock offset to central", "unknown" if st.clock_offset_seconds is None
         else f"{st.clock_offset_seconds:+d} s"),
        ("catalogue version", st.catalogue_version),
        ("calendar version", st.calendar_version),
    ]
    for label, value in rows:
        click.echo(f"{label:>26}: {value}")


@main.command("export-bundle")
@data_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--max-size", default="100MB", show_default=True, metavar="SIZE",
              help="Largest blob file to write (e.g. 100MB, 1GB, 700KB); more files are written as needed.")
@click.option("--blobs/--no-blobs", "with_blobs", default=True, show_default=True,
              help="Also write the document files central does not hold yet.")
@config_errors
def export_bundle_cmd(data_dir, file, max_size, with_blobs):
    """Write every event central has not acknowledged into one signed FILE (for a USB stick), and the
    document files central does not hold yet beside it (FILE.blobs-01-of-NN..., each at most --max-size).

    Take the files to the upper level, where `motcua-central import-bundle FILE...` accepts them (all of
    them at once, in any order) through the same checks as a network push. The document files are
    encrypted to central's key: a lost stick shows no ID card. The next network sync learns central's
    head first, and asks which documents central already holds, so nothing is sent twice.

    Example:

        motcua-node export-bundle --data /srv/motcua /media/usb/xa-hoabinh-2026-03-02.motcua --max-size 1GB
    """
    from .bundle import export_blobs, export_bundle, parse_size
    try:
        cap = parse_size(max_size)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if cap < 1 << 20:
        raise ConfigError("--max-size must be at least 1MB")
    _settings, conn = open_db(data_dir)
    try:
        count = export_bundle(conn, data_dir, file)
        files, blobs, size = export_blobs(conn, data_dir, file, cap) if with_blobs else ([], 0, 0)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    finally:
        conn.close()
    click.echo(f"wrote {count} events to {file}")
    if files:
        click.echo(f"wrote {blobs} document files ({size / 2**20:.1f} MB) in {len(files)} file(s):")
        for path in files:
            click.echo(f"  {path}")
    elif with_blobs:
        click.echo("no document files waiting for central")


@main.command()
@data_option
@click.option("--to", "folder", type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write to (default: the backup_dir setting, else DIR/backups).")
@config_errors
def backup(data_dir, folder):
    """Copy the database now, verify the copy and prune old ones (safe while the node serves).

    The copy is made with SQLite's backup API, checked with integrity_check and named
    motcua-node-YYYYmmdd-HHMMSS.db. Old copies are pruned: the newest of each of the last
    backup_keep_daily days and backup_keep_weekly weeks are kept. The running node does this by
    itself every day. Exit code 1 when the backup failed (the reason is printed).

    Example:

        motcua-node backup --data /srv/motcua --to /media/usb/motcua-backups
    """
    from .backup import BackupError, make_backup
    from .settings import DB_NAME, load_settings
    settings = load_settings(data_dir)
    if not (data_dir / DB_NAME).exists():
        raise ConfigError(f"no database at {data_dir / DB_NAME} (run motcua-node init first)")
    try:
        result = make_backup(data_dir, settings, to=folder)
    except BackupError as exc:
        click.echo(f"backup failed: {exc}", err=True)
        sys.exit(1)
    click.echo(f"backup written to {result.path} ({result.size / 2**20:.1f} MB, integrity_check ok) "
               f"in {result.seconds:.1f} s")
    for path in result.pruned:
        click.echo(f"  pruned old backup {path.name}")


@main.command()
@data_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--blob-key", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The blob key saved with `motcua-node blobs export-key` (needed in a fresh folder).")
@config_errors
def restore(data_dir, file, blob_key):
    """Put a backup FILE in place of the database of a stopped node.

    Refuses while the node is running, and refuses a damaged, truncated or foreign file
    (quick_check, integrity_check, the expected tables, an intact event chain of this node).
    The current database is kept in backups/pre-restore-*.db first. If central already holds
    newer events from this node, the next sync stops with a fork message: then run
    `motcua-node recover`, which keeps what central has and re-applies newer local work.

    Example:

        motcua-node restore --data /srv/motcua /media/usb/motcua-backups/motcua-node-20260302-180000.db
    """
    from .backup import BackupError
    from .backup import restore as restore_file
    from .settings import load_settings
    settings = load_settings(data_dir)
    try:
        result = restore_file(data_dir, settings, file, blob_key=blob_key)
    except BackupError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"restored {file}: {result.dossiers} dossiers, {result.events} events, "
               f"{result.blobs} document blobs verified")
    if result.kept_copy:
        click.echo(f"  the previous database was kept as {result.kept_copy}")
    if result.migrated:
        click.echo(f"  upgraded its schema: {', '.join(result.migrated)}")
    if result.key_missing:
        click.echo("  warning: this database was enrolled with central but the folder has no node.key, so it "
                   "cannot sync; ask the upper level for a recovery code (README: the PC's disk died)", err=True)
    click.echo("  start the node again; if sync then reports a fork, run: "
               f"motcua-node recover --data {data_dir}")


@main.command()
@data_option
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON (as GET /healthz does).")
@config_errors
def doctor(data_dir, as_json):
    """Check the node and explain what to fix: database, disk, key, clock, central, sync, backup, events.

    Each check prints ok, WARN or FAIL with what was found and what to do. Exit code 0 when nothing
    failed (warnings allowed), 1 when a check failed, 2 when the settings are wrong. Safe to run
    while the node serves.

    Example:

        motcua-node doctor --data /srv/motcua || echo "the node needs a technician"
    """
    import json

    from .doctor import FAIL, overall, render, run_checks
    from .settings import load_settings
    settings = load_settings(data_dir)
    checks = run_checks(data_dir, settings)
    if as_json:
        click.echo(json.dumps({"status": overall(checks), "checks": [c.public() for c in checks]},
                              ensure_ascii=False, indent=2))
    else:
        click.echo(render(checks))
    sys.exit(1 if any(c.status == FAIL for c in checks) else 0)


@main.command()
@data_option
@config_errors
def recover(data_dir):
    """Bring a node restored from an old backup back in line with central.

    Keeps central's copy of every event it already holds, then re-applies the events this node wrote
    since the restore on top of them. A dossier code that was given out twice is renumbered and a
    change that no longer applies is set aside; both are listed here and in the recovery log, so
    nothing is lost silently. A copy of the database is saved in backups/ first.

    Example:

        motcua-node recover --data /srv/motcua
    """
    from .recovery import realign
    from .sync import make_client
    from .sync_client import SyncError
    settings, conn = open_db(data_dir)
    try:
        result = realign(conn, make_client(conn, data_dir, settings), data_dir)
    except SyncError as exc:
        click.echo(f"recover failed: {exc}", err=True)
        sys.exit(1)
    click.echo(f"adopted {result['adopted']} events from central, re-applied {result['reapplied']} local events")
    documents = result.get("documents")
    if documents:
        click.echo(f"  document files: {documents['rows']} rows rebuilt, {documents['queued']} queued for central, "
                   f"{documents['missing']} not on this disk"
                   + (f" (fetch them: motcua-node blobs restore --data {data_dir})" if documents["missing"] else ""))
    for old, new in result["renamed"].items():
        click.echo(f"  renumbered {old} -> {new}: tell the citizen the new code")
    for problem in result["skipped"]:
        click.echo(f"  set aside (see recovery_log): {problem}")


@main.command("resync-feed")
@data_option
@config_errors
def resync_feed_cmd(data_dir):
    """Bring node and central together after central was restored from an older backup.

    Run it when the status bar or `motcua-node doctor` says central's feed no longer matches what
    this node applied. It pushes this node's events first (central re-learns the dossiers and online
    codes it lost, and re-issues under a new code any online dossier it handed down under a code
    this node already holds), then re-reads central's whole feed and applies what is new here.
    Nothing on either side is removed; it is safe to run again.

    Example:

        motcua-node resync-feed --data /srv/motcua
    """
    from . import sync_state
    from .recovery import resync_feed
    from .sync import make_client
    from .sync_client import SyncError
    settings, conn = open_db(data_dir)
    try:
        result = resync_feed(conn, make_client(conn, data_dir, settings), sync_state.get(conn, "node_id"))
    except (SyncError, ValueError) as exc:
        click.echo(f"resync-feed failed: {exc}", err=True)
        sys.exit(1)
    click.echo(f"central's feed re-read: {result['entries']} entries, {result['applied']} applied here, "
               f"{result['skipped']} already here; pushed {result['pushed']} events")


from .blobs_cli import blobs_group  # noqa: E402 - document store commands (issue 10)

main.add_command(blobs_group)

if __name__ == "__main__":
    main()
