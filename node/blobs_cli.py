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
