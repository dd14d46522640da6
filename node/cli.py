"""motcua-node: set up, run and look after a commune node."""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from .clock import local_now
from .settings import ConfigError

EXIT_CONFIG = 2


def data_option(fn):
    return click.option("--data", "data_dir", envvar="MOTCUA_DATA", required=True,
                        type=click.Path(file_okay=False, path_type=Path),
                        help="The node's data folder (or set MOTCUA_DATA).")(fn)


def config_errors(fn):
    """Turn a configuration problem into one English line on stderr and exit code 2."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_CONFIG)
    return wrapped


def read_password(password_stdin: bool, prompt: str) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt(prompt, hide_input=True, confirmation_prompt=True)


def open_db(data_dir: Path):
    """Connection to an existing, migrated node database (config checked first)."""
    from .database import migrate
    from .db import connect
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
    import waitress

    from . import create_app, logs
    from .settings import load_settings
    load_settings(data_dir)  # refuse a bad config before touching the folder
    logs.configure(data_dir)
    app = create_app({"DATA_DIR": data_dir})
    click.echo(f"motcua node {app.config['MOTCUA']['agency_code']} listening on http://{host}:{port}/")
    waitress.serve(app, host=host, port=port, threads=threads, ident="motcua")


@main.group()
def user():
    """Manage staff accounts.

    Example:

        motcua-node user add --data /srv/motcua lan --role clerk --full-name "Nguyễn Thị Lan"
    """


@user.command("add")
@data_option
@click.argument("username")
@click.option("--role", type=click.Choice(["clerk", "leader", "admin"]), default="clerk", show_default=True,
              help="clerk receives dossiers, leader resolves them, admin manages the node.")
@click.option("--full-name", default="", help="Name shown on forms.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@config_errors
def user_add(data_dir, username, role, full_name, password_stdin):
    """Add a staff account.

    Example:

        echo 'Lan-pass-2026' | motcua-node user add --data /srv/motcua lan --role clerk --password-stdin
    """
    from . import users
    _settings, conn = open_db(data_dir)
    password = read_password(password_stdin, f"Password for {username}")
    try:
        created = users.create(conn, username, password, role, full_name, local_now())
    except users.UserError as exc:
        raise ConfigError(str(exc)) from None
    click.echo(f"User {created.username} ({created.role}) created.")


@main.group()
def token():
    """Manage API tokens.

    Example:

        motcua-node token create --data /srv/motcua lan
    """


@token.command("create")
@data_option
@click.argument("username")
@click.option("--label", default="", help="What the token is for.")
@config_errors
def token_create(data_dir, username, label):
    """Print a new API token for USERNAME (shown once; store it safely).

    Example:

        curl -H "Authorization: Bearer $(motcua-node token create --data /srv/motcua lan)" \\
            http://127.0.0.1:8080/api/v1/procedures
    """
    from . import users
    _settings, conn = open_db(data_dir)
    account = users.by_name(conn, username)
    if account is None or not account.active:
        raise ConfigError(f"no active user {username!r}")
    click.echo(users.create_token(conn, account, label, local_now()))


if __name__ == "__main__":
    main()
