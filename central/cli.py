"""motcua-central: set up and run the upper-level server, enrol nodes, import bundles."""
from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import click

from appshell import cli as shared
from appshell.cli import config_errors, read_password
from appshell.settings import ConfigError
from domain.clock import local_now

from .roles import ROLES, TOKEN_PREFIX

data_option = shared.data_option("MOTCUA_CENTRAL_DATA", "Central's")


def open_db(data_dir: Path):
    """Settings and a connection to an existing, migrated central database (config checked first)."""
    from .db import connect, is_postgres, migrate, target
    from .settings import load_settings
    settings = load_settings(data_dir)
    path = target(data_dir, settings)
    if not is_postgres(path) and not path.exists():
        raise ConfigError(f"no database at {path} (run motcua-central init first)")
    migrate(path)
    return settings, connect(path)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="motcua")
def main():
    """Run central: receive the communes' signed logs and send them reference data.

    Example:

        motcua-central init --data /srv/central --name "UBND tỉnh Quảng Ninh" --admin admin
    """
    shared.private_files()


@main.command()
@data_option
@click.option("--name", required=True, help='Name of the upper level, e.g. "UBND tỉnh Quảng Ninh".')
@click.option("--admin", required=True, help="Username of the first administrator.")
@click.option("--password-stdin", is_flag=True, help="Read the admin password from standard input.")
@click.option("--database", default="", metavar="URL",
              help="PostgreSQL database (postgresql://user:password@host/db) instead of the SQLite file in the "
                   "data folder; it must exist, empty, owned by central's role (docs/DBA.md).")
@config_errors
def init(data_dir, name, admin, password_stdin, database):
    """Create central: folder, config, signing key, database, catalogue and calendar v1, admin.

    Refuses a folder that already exists and is not empty.

    Example:

        echo 'S3cret-pass-2026' | motcua-central init --data ./central --name "UBND tỉnh Quảng Ninh" \\
            --admin admin --password-stdin

        ... --database postgresql://motcua:secret@db.example:5432/motcua   # central on PostgreSQL
    """
    from . import keys
    from .provision import init_central
    password = read_password(password_stdin, "Admin password")
    init_central(data_dir, name=name, admin=admin, password=password, now=local_now(), database=database)
    click.echo(f"Central created in {data_dir}. Key fingerprint: {keys.fingerprint(keys.load(data_dir))}")
    click.echo(f"Start it with: motcua-central run --data {data_dir}")


@main.command()
@data_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8090, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64), help="Worker threads.")
@config_errors
def run(data_dir, host, port, threads):
    """Serve central with waitress until stopped (Ctrl+C).

    Example:

        motcua-central run --data /srv/central --host 0.0.0.0 --port 8090
    """
    from appshell import logs
    from appshell.web import make_server

    from . import ingest
    from .app import create_app
    from .settings import load_settings
    load_settings(data_dir)
    logs.configure(data_dir, "central.log")  # personal data redacted, as on the node
    app = create_app({"DATA_DIR": data_dir})  # migrates after a copy; a failed step exits 2
    # no "Server:" header (ident ""): 24 B on every reply a node pays for on a metered link, and it tells
    # a stranger nothing; a port in use: one line, exit 2
    server = make_server(app, host, port, threads, "")
    workers = ingest.resolve_workers(app.config["MOTCUA"]["ingest_workers"])
    if workers:  # the processes that check pushed batches (setting ingest_workers), started beside
        # the server rather than before it: a push that comes first simply waits for them
        threading.Thread(target=ingest.warm_or_log, args=(workers,), name="ingest-warm", daemon=True).start()
    click.echo(f"motcua central listening on http://{host}:{port}/")
    server.run()


@main.group()
def node():
    """Register, list and revoke commune nodes.

    Example:

        motcua-central node add --data /srv/central --agency 000.00.06.H56 --name "UBND xã Hòa Bình"
    """


def _print_code(code, expires, data_dir):
    from . import keys
    click.echo(f"code: {code}")
    click.echo(f"expires: {expires.isoformat(sep=' ')}")
    click.echo(f"central key fingerprint: {keys.fingerprint(keys.load(data_dir))}")


@node.command("add")
@data_option
@click.option("--agency", required=True, help="The commune's agency code, e.g. 000.00.06.H56.")
@click.option("--name", required=True, help='The commune, e.g. "UBND xã Hòa Bình".')
@config_errors
def node_add(data_dir, agency, name):
    """Register a commune and print its one-time enrolment code.

    The technician then runs: motcua-node enroll <central-url> <code>

    Example:

        motcua-central node add --data /srv/central --agency 000.00.06.H56 --name "UBND xã Hòa Bình"
    """
    from .store import nodes
    settings, conn = open_db(data_dir)
    try:
        code, expires = nodes.add_node(conn, agency, name, now=local_now(), minutes=settings["enrol_code_minutes"])
    except nodes.RegistryError as exc:
        raise ConfigError(str(exc)) from None
    _print_code(code, expires, data_dir)


@node.command("list")
@data_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@config_errors
def node_list(data_dir, as_json):
    """List nodes: status, key fingerprint, head, last contact, pending, clock offset, forks, anomalies.

    Example:

        motcua-central node list --data /srv/central
    """
    from .store import nodes
    settings, conn = open_db(data_dir)
    rows = nodes.listing(conn, local_now(), settings["silent_after_hours"])
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        click.echo(f"{r['id']:<16} {r['status']:<8} head={r['head_seq']:<6} "
                   f"last={r['last_contact_at'] or '-':<19} "
                   f"pending={r['pending_reported'] if r['pending_reported'] is not None else '-'} "
                   f"offset={r['clock_offset_seconds'] if r['clock_offset_seconds'] is not None else '-'}s "
                   f"forks={r['forks']} anomalies={r['anomalies']} key={r['fingerprint'] or '-'}"
                   f"{' SILENT' if r['silent'] else ''}  {r['name']}")


@node.command("revoke")
@data_option
@click.argument("agency")
@config_errors
def node_revoke(data_dir, agency):
    """Revoke a node's key: its pushes are refused until it recovers with a new code.

    Example:

        motcua-central node revoke --data /srv/central 000.00.06.H56
    """
    from .store import nodes
    _settings, conn = open_db(data_dir)
    try:
        nodes.revoke(conn, agency, now=local_now())
    except nodes.RegistryError as exc:
        raise ConfigError(str(exc)) from None
    click.echo(f"Node {agency} revoked.")


@node.command("recovery-code")
@data_option
@click.argument("agency")
@config_errors
def node_recovery_code(data_dir, agency):
    """Print a one-time code that registers a new key for an existing node (lost disk or PC).

    Example:

        motcua-central node recovery-code --data /srv/central 000.00.06.H56
    """
    from .store import nodes
    settings, conn = open_db(data_dir)
    try:
        code, expires = nodes.recovery_code(conn, agency, now=local_now(), minutes=settings["enrol_code_minutes"])
    except nodes.RegistryError as exc:
        raise ConfigError(str(exc)) from None
    _print_code(code, expires, data_dir)


main.add_command(shared.user_commands(data_option, open_db, local_now, program="motcua-central",
                                      roles=ROLES, default_role="viewer", example_data="/srv/central",
                                      role_help="viewer reads, admin also hands dossiers back and manages nodes."))
main.add_command(shared.token_commands(data_option, open_db, local_now, program="motcua-central",
                                       token_prefix=TOKEN_PREFIX,
                                       example_data="/srv/central", example_url="http://127.0.0.1:8090/api/v1/nodes"))


@main.command()
@data_option
@click.argument("kind", type=click.Choice(["catalogue", "calendar"]))
@click.option("--file", "file_", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Publish this JSON file (a whole document or just its list) instead of the draft edited on "
                   "central's pages.")
@click.option("--actor", default="admin", show_default=True, help="Who publishes (recorded in the feed).")
@config_errors
def publish(data_dir, kind, file_, actor):
    """Publish the next catalogue or calendar version (latest + 1) to every active node's feed.

    Example:

        motcua-central publish --data /srv/central calendar --file lich-2027.json
    """
    from .store import publishing
    _settings, conn = open_db(data_dir)
    try:
        if file_ is None:
            version, reached = publishing.publish(conn, kind, actor=actor, now=local_now())
        else:
            version, reached = publishing.publish_body(conn, kind, publishing.load_file(kind, file_),
                                                       actor=actor, now=local_now())
    except publishing.DraftError as exc:
        raise ConfigError(exc.detail or exc.message) from None
    click.echo(f"Published {kind} version {version} to {reached} node(s).")


@main.command("import-bundle")
@data_option
@click.argument("bundle_files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@config_errors
def import_bundle(data_dir, bundle_files):
    """Import a node's USB bundle files (events and document files) through the same checks as the network.

    Give every file of the stick at once, in any order: the event files first go through the checks
    of a push; then each document file's signature is checked against the node's key, each document
    must be named by one of that node's dossiers, and each is verified against its hash before it is
    stored. A document split across files is put together from all of them. Prints one line per
    file and per refused document; the rest still imports. Importing the same files again is
    harmless. Exit code 1 when anything was refused or incomplete.

    Example:

        motcua-central import-bundle --data /srv/central /media/usb/xa-hoabinh-2026-03-02*.motcua
    """
    from . import keys
    from .blobstore import storage_for
    from .bundle import import_blob_files, is_blob_bundle
    from .bundle import import_bundle as run_import
    from .ingest import Caps
    settings, conn = open_db(data_dir)
    central_key = keys.load(data_dir)
    blob_files = [f for f in bundle_files if is_blob_bundle(f)]
    waiting = [f for f in bundle_files if f not in blob_files]
    failed = False
    while waiting:  # event files of one node in any order: a gap is retried after the others
        refused_now, progressed = [], False
        for bundle_file in waiting:
            status, reply = run_import(conn, bundle_file, now=local_now(), caps=Caps.from_settings(settings),
                                       central_key=central_key)
            if status == 200:
                progressed = True
                click.echo(f"node {reply['node']}: accepted {reply['accepted']}, duplicates {reply['duplicates']}, "
                           f"head {reply['head']['seq']}")
            else:
                refused_now.append((bundle_file, reply))
        if not refused_now or not progressed:
            for _bundle_file, reply in refused_now:
                error = reply["error"]
                head = reply.get("head")
                suffix = f" (central holds up to seq {head['seq']})" if head else ""
                click.echo(f"refused: {error['code']}: {error['message']}{suffix}", err=True)
                failed = True
            break
        waiting = [f for f, _ in refused_now]
    if blob_files:
        result = import_blob_files(conn, storage_for(data_dir, settings), central_key, blob_files, now=local_now())
        for line in result.problems:
            click.echo(line, err=True)
        click.echo(f"document files: {result.imported} stored, {result.duplicates} already held, "
                   f"{len(result.problems)} problem(s), from {result.files} of {len(blob_files)} file(s)")
        failed = failed or bool(result.problems)
    if failed:
        sys.exit(1)


@main.group()
def dossier():
    """Look after dossiers that nodes handed up to central.

    Example:

        motcua-central dossier hand-back --data /srv/central 000.00.06.H56-260105-0001 --outcome resolve
    """


@dossier.command("hand-back")
@data_option
@click.argument("code")
@click.option("--outcome", required=True, type=click.Choice(["resolve", "return"]),
              help="resolve: central resolved it; return: the desk continues processing.")
@click.option("--result-note", default="", help="The result, for outcome resolve.")
@click.option("--note", default="", help="A note for the desk.")
@click.option("--actor", default="admin", show_default=True, help="Who decides (recorded in the feed).")
@config_errors
def dossier_hand_back(data_dir, code, outcome, result_note, note, actor):
    """Hand a dossier back to the node that handed it up (queued in that node's feed).

    Example:

        motcua-central dossier hand-back --data /srv/central 000.00.06.H56-260105-0001 \\
            --outcome resolve --result-note "Đã cấp giấy phép"
    """
    from domain.workflow import WorkflowError

    from . import handback
    _settings, conn = open_db(data_dir)
    try:
        entry = handback.hand_back(conn, code, {"outcome": outcome, "result_note": result_note, "note": note},
                                   actor, local_now())
    except handback.NotFound:
        raise ConfigError(f"no dossier {code}") from None
    except (handback.NotHeld, WorkflowError) as exc:
        raise ConfigError(str(exc)) from None
    click.echo(f"Dossier {code} handed back to node {_node_of(conn, code)} (feed entry {entry['seq']}).")


def _node_of(conn, code):
    row = conn.execute("SELECT node FROM dossiers WHERE code = ?", (code,)).fetchone()
    return row["node"] if row else "?"


@main.command()
@data_option
@click.option("--to", "out", required=True, type=click.Path(path_type=Path),
              help="File to write: a SQLite copy (SQLite) or a pg_dump custom-format archive (PostgreSQL).")
@config_errors
def backup(data_dir, out):
    """Copy central's database to a file, and its document files beside it, while central keeps running.

    SQLite: the backup API gives a consistent copy of the live file. PostgreSQL: pg_dump (custom
    format, one consistent snapshot); restore it with pg_restore (docs/DBA.md). For point-in-time
    recovery on PostgreSQL use WAL archiving or pgBackRest as docs/DBA.md describes. The document
    files (encrypted to central's key, copied as they are) go to the folder FILE.blobs next to it.

    Example:

        motcua-central backup --data /srv/central --to /backup/central-2026-01-05.dump
    """
    from .backup import backup_blobs, backup_database, blobs_folder
    from .db import target
    from .settings import load_settings
    settings = load_settings(data_dir)
    if blobs_folder(out).exists():
        raise ConfigError(f"{blobs_folder(out)} already exists; choose a new file name")
    written = backup_database(target(data_dir, settings), out)
    count, size = backup_blobs(data_dir, written)
    click.echo(f"Backup written to {written} ({written.stat().st_size} bytes)")
    click.echo(f"Document files: {count} ({size} bytes) copied to {blobs_folder(written)}")


@main.command()
@data_option
@click.option("--from", "source", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A file written by 'motcua-central backup'.")
@click.option("--force", is_flag=True, help="Replace a database that already holds data.")
@config_errors
def restore(data_dir, source, force):
    """Put a backup back as central's database (central must be stopped).

    SQLite: the file replaces motcua-central.db (the old one is kept as .before-restore).
    PostgreSQL: pg_restore into the configured database, which must be empty unless --force.
    The document files saved beside it (FILE.blobs) are put back too; then run
    `motcua-central blobs check` to verify them.

    Example:

        motcua-central restore --data /srv/central --from /backup/central-2026-01-05.dump
    """
    from .backup import blobs_folder, restore_blobs, restore_database
    from .db import target
    from .settings import load_settings
    settings = load_settings(data_dir)
    restore_database(source, target(data_dir, settings), force=force)
    click.echo(f"Restored {source}")
    copied = restore_blobs(source, data_dir)
    if copied is None:
        click.echo(f"warning: no document files beside the backup ({blobs_folder(source)}); run "
                   "`motcua-central blobs check` and see docs/OPERATIONS.md (central lost its blobs)", err=True)
    else:
        click.echo(f"Document files: {copied} put back; verify them with: motcua-central blobs check --data {data_dir}")


@main.group()
def blobs():
    """Document files central holds: verify them against their hashes.

    Example:

        motcua-central blobs check --data /srv/central
    """


@blobs.command("check")
@data_option
@click.option("--forget-damaged", is_flag=True,
              help="Stop claiming to hold missing or damaged files (a damaged file is deleted), so they can be "
                   "sent again; then run `motcua-node blobs requeue` on each node named.")
@config_errors
def blobs_check(data_dir, forget_damaged):
    """Verify every document file central holds: present, opens with central's key, matches its hash.

    Prints one line per problem (missing, damaged, unreferenced, named by no dossier, stale upload),
    naming the hash and the node, never the document's content. Exit code 1 when a file is missing
    or damaged (also when --forget-damaged then forgot it), else 0. Needs central's key file. Safe while
    central runs.

    Example:

        motcua-central blobs check --data /srv/central

        motcua-central blobs check --data /srv/central --forget-damaged   # then requeue on the nodes
    """
    from . import keys
    from .blob_check import check
    from .blobstore import storage_for
    settings, conn = open_db(data_dir)
    try:
        report = check(conn, storage_for(data_dir, settings), keys.load(data_dir), now=local_now(),
                       forget=forget_damaged)
    finally:
        conn.close()
    for line in report.lines():
        click.echo(line, err=True)
    total = report.verified + len(report.missing) + len(report.damaged)
    click.echo(f"{report.verified} of {total} held document files verified; {len(report.missing)} missing, "
               f"{len(report.damaged)} damaged, {len(report.unreferenced)} unreferenced, "
               f"{len(report.stale_staging) + len(report.stray_staging)} stale uploads")
    sys.exit(1 if report.failed else 0)


if __name__ == "__main__":
    main()
