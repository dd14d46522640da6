"""Pieces both command-line tools share: the data-folder option, config errors, passwords, accounts."""
from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path

import click

from .files import PRIVATE_UMASK
from .settings import ConfigError

EXIT_CONFIG = 2


def data_option(envvar: str, what: str):
    def decorate(fn):
        return click.option("--data", "data_dir", envvar=envvar, required=True,
                            type=click.Path(file_okay=False, path_type=Path),
                            help=f"{what} data folder (or set {envvar}).")(fn)
    return decorate


def config_errors(fn):
    """Turn a configuration or operator problem into one English line on stderr and exit code 2."""
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


def private_files() -> None:
    """Every file this process creates is owner-only (databases, settings, keys, backups, logs)."""
    os.umask(PRIVATE_UMASK)


def user_commands(data_option, open_db: Callable, now: Callable, *, program: str, roles: dict[str, str],
                  default_role: str, role_help: str, example_data: str) -> click.Group:
    """The ``user`` group both CLIs mount: add, reset-password, disable, enable (``roles``: the app's ROLES)."""

    @click.group("user")
    def group():
        pass
    group.help = (f"Manage staff accounts.\n\nExample:\n\n    {program} user add --data {example_data} lan "
                  f"--role {default_role} --full-name \"Nguyễn Thị Lan\"")

    @group.command("add")
    @data_option
    @click.argument("username")
    @click.option("--role", type=click.Choice(tuple(roles)), default=default_role, show_default=True,
                  help=role_help)
    @click.option("--full-name", default="", help="Name shown on forms and in logs.")
    @click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
    @config_errors
    def add(data_dir, username, role, full_name, password_stdin):
        from . import accounts
        _settings, conn = open_db(data_dir)
        password = read_password(password_stdin, f"Password for {username}")
        try:
            created = accounts.create(conn, username, password, role, full_name, now(), roles=roles)
        except accounts.UserError as exc:
            raise ConfigError(str(exc)) from None
        click.echo(f"User {created.username} ({created.role}) created.")
    add.help = (f"Add a staff account.\n\nExample:\n\n    echo 'Lan-pass-2026' | {program} user add "
                f"--data {example_data} lan --role {default_role} --password-stdin")

    @group.command("reset-password")
    @data_option
    @click.argument("username")
    @click.option("--password-stdin", is_flag=True, help="Read the temporary password from standard input.")
    @config_errors
    def reset(data_dir, username, password_stdin):
        from . import accounts
        _settings, conn = open_db(data_dir)
        account = _existing(conn, username)
        password = read_password(password_stdin, f"Temporary password for {username}")
        try:
            accounts.reset_password(conn, account.id, password)
        except accounts.UserError as exc:
            raise ConfigError(str(exc)) from None
        click.echo(f"Password of {account.username} reset; their sessions ended and they choose a new one "
                   f"at the next login.")
    reset.help = (f"Set a temporary password: the user's sessions end and the next login must change it."
                  f"\n\nExample:\n\n    echo 'Temp-pass-2026' | {program} user reset-password "
                  f"--data {example_data} lan --password-stdin")

    for name, active in (("disable", False), ("enable", True)):
        group.add_command(_toggle(name, active, data_option, open_db, program, example_data))
    return group


def _existing(conn, username: str):
    from . import accounts
    account = accounts.by_name(conn, username)
    if account is None:
        raise ConfigError(f"no user {username!r}")
    return account


def _toggle(name: str, active: bool, data_option, open_db, program: str, example_data: str):
    @click.command(name)
    @data_option
    @click.argument("username")
    @config_errors
    def toggle(data_dir, username):
        from . import accounts
        _settings, conn = open_db(data_dir)
        account = _existing(conn, username)
        accounts.set_active(conn, account.id, active)
        click.echo(f"User {account.username} {name}d" + ("" if active else "; their sessions ended."))
    toggle.help = (("Disable an account: it can log in nowhere and its open sessions end at once."
                    if not active else "Enable a disabled account again.")
                   + f"\n\nExample:\n\n    {program} user {name} --data {example_data} lan")
    return toggle


def token_commands(data_option, open_db: Callable, now: Callable, *, program: str, token_prefix: str,
                   example_data: str, example_url: str) -> click.Group:
    """The ``token`` group both CLIs mount: create (tokens start with the app's ``token_prefix``)."""

    @click.group("token")
    def group():
        pass
    group.help = f"Manage API tokens.\n\nExample:\n\n    {program} token create --data {example_data} admin"

    @group.command("create")
    @data_option
    @click.argument("username")
    @click.option("--label", default="", help="What the token is for.")
    @config_errors
    def create(data_dir, username, label):
        from . import accounts
        _settings, conn = open_db(data_dir)
        account = accounts.by_name(conn, username)
        if account is None or not account.active:
            raise ConfigError(f"no active user {username!r}")
        click.echo(accounts.create_token(conn, account, label, now(), prefix=token_prefix))
    create.help = (f"Print a new API token for USERNAME (shown once; store it safely).\n\nExample:\n\n"
                   f"    curl -H \"Authorization: Bearer $({program} token create --data {example_data} admin)\" "
                   f"{example_url}")
    return group
