"""`motcua-node blobs ...`: the document store's maintenance commands (registered in node/cli.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from appshell.settings import ConfigError


@click.group("blobs")
def blobs_group():
    """Document blobs: check, clean up after a crash, save the data key.

    Blobs live encrypted in DIR/blobs/ under the key DIR/blobs.key. Backups carry the blobs but
    never the key: save the key once with `export-key` (to a USB stick kept apart from the backup
    disk); a restore into a fresh folder needs it (`motcua-node restore --blob-key FILE`).

    Example:

        motcua-node blobs check --data /srv/motcua
    """


def _data(data_dir: Path):
    from .cli import open_db
    settings, conn = open_db(data_dir)
    return settings, conn


@blobs_group.command("clean")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), envvar="MOTCUA_DATA",
              required=True, help="The node's data folder.")
@click.option("--min-age", default=3600, show_default=True, type=click.IntRange(0),
              help="Only remove files older than this many seconds (0 needs the node stopped).")
def clean(data_dir, min_age):
    """Remove blob files no database row names (left by a crash between the file and its commit).

    While the node runs, a file younger than --min-age may belong to an upload still committing, so
    it is kept; with the node stopped, --min-age 0 removes every orphan.

    Example:

        motcua-node blobs clean --data /srv/motcua --min-age 0
    """
    from .blobs import BlobStore, known_hashes
    from .db import is_locked
    if min_age < 60 and is_locked(data_dir):
        raise click.ClickException("the node is running; stop it before cleaning with --min-age under 60")
    try:
        _settings, conn = _data(data_dir)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        removed = BlobStore(data_dir, create_key=False).clean(known_hashes(conn), min_age)
    finally:
        conn.close()
    click.echo(f"removed {len(removed)} orphan blob files")


@blobs_group.command("check")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), envvar="MOTCUA_DATA",
              required=True, help="The node's data folder.")
def check(data_dir):
    """Decrypt every blob the database names and compare it with its SHA-256 (exit code 1 on a problem).

    Example:

        motcua-node blobs check --data /srv/motcua
    """
    from .blobs import BlobStore, known_hashes
    try:
        _settings, conn = _data(data_dir)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        digests = sorted(known_hashes(conn))
    finally:
        conn.close()
    store = BlobStore(data_dir, create_key=False)
    problems = [p for p in (store.verify(d) for d in digests) if p]
    for p in problems:
        click.echo(p, err=True)
    click.echo(f"{len(digests) - len(problems)} of {len(digests)} blobs verified")
    sys.exit(1 if problems else 0)


@blobs_group.command("export-key")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), envvar="MOTCUA_DATA",
              required=True, help="The node's data folder.")
@click.option("--to", "target", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="New file to write the key to (never overwritten), e.g. on a USB stick kept apart.")
def export_key(data_dir, target):
    """Write the blob data key to a new owner-only file, for a restore into a fresh folder.

    Example:

        motcua-node blobs export-key --data /srv/motcua --to /media/key-stick/motcua-blob.key
    """
    from .blobs import BlobStore, write_key_file
    try:
        write_key_file(target, BlobStore(data_dir).key())
    except FileExistsError:
        raise click.ClickException(f"{target} exists; choose a new file") from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {target}: {exc.strerror or exc}") from None
    click.echo(f"wrote the blob key to {target}; keep it apart from the backups")


@blobs_group.command("restore")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), envvar="MOTCUA_DATA",
              required=True, help="The node's data folder.")
@click.option("--limit", default=0, type=click.IntRange(0), help="Fetch at most this many files (0: all).")
@click.option("--loop", "loop_seconds", default=0, type=click.IntRange(0), metavar="SECONDS",
              help="Keep going: one round every SECONDS until every file is back (0: one round).")
def restore(data_dir, limit, loop_seconds):
    """Fetch back from central every document file this node's dossiers name but its disk lacks.

    For a node rebuilt after its disk died (`motcua-node enroll` with a recovery code brought the
    dossiers back): central sends each file sealed to this node's key, and each is checked against
    its hash before it is stored. A file is also fetched when a clerk first opens it. Stops a round
    early when central cannot be reached. Exit code 1 when files are still missing.

    Example:

        motcua-node blobs restore --data /srv/motcua --loop 600
    """
    import time

    from .blob_restore import missing, restore_missing
    from .blobs import BlobStore
    from .sync import make_client
    from .sync_client import SyncError
    try:
        settings, conn = _data(data_dir)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        store = BlobStore(data_dir)
        while True:
            try:
                outcome = restore_missing(conn, make_client(conn, data_dir, settings), store, limit or None)
            except SyncError as exc:
                raise click.ClickException(str(exc)) from None
            for line in outcome.problems:
                click.echo(line, err=True)
            click.echo(f"restored {outcome.restored} document files; {outcome.left} still missing")
            if not loop_seconds or not outcome.left:
                break
            time.sleep(loop_seconds)
        left = len(missing(conn, store))
    finally:
        conn.close()
    sys.exit(1 if left else 0)


@blobs_group.command("requeue")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), envvar="MOTCUA_DATA",
              required=True, help="The node's data folder.")
@click.option("--all", "everything", is_flag=True, help="Every document file central was said to hold.")
@click.argument("hashes", nargs=-1)
def requeue(data_dir, everything, hashes):
    """Send document files to central again, after central lost them (restored from an old backup, or
    `motcua-central blobs check --forget-damaged` forgot damaged ones).

    HASHES are hashes or their first 16 digits as central's check prints them; --all requeues every
    file. Cheap even with --all: the node first asks central which files it still holds and sends
    only the others.

    Example:

        motcua-node blobs requeue --data /srv/motcua 3f2a9c0d11e4b7a8 9b1c44d0e2f3a5b6
    """
    from .blob_restore import requeue as run_requeue
    from .blobs import BlobStore
    if not everything and not hashes:
        raise click.ClickException("name the hashes to send again, or pass --all")
    bad = [h for h in hashes if len(h) < 8 or any(c not in "0123456789abcdefABCDEF" for c in h)]
    if bad:
        raise click.ClickException(f"not a hash or hash prefix (8 hex digits or more): {bad[0][:70]}")
    try:
        _settings, conn = _data(data_dir)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        count = run_requeue(conn, BlobStore(data_dir, create_key=False), None if everything else list(hashes))
    finally:
        conn.close()
    click.echo(f"requeued {count} document files for central")
