"""Pieces both command-line tools share: the data-folder option, config errors, passwords, accounts."""
from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Callable

import click

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


def add_user(open_db: Callable, users, now, data_dir: Path, username: str, role: str, full_name: str,
             password_stdin: bool) -> None:
    _settings, conn = open_db(data_dir)
    password = read_password(password_stdin, f"Password for {username}")
    try:
        created = users.create(conn, username, password, role, full_name, now)
    except users.UserError as exc:
        raise ConfigError(str(exc)) from None
    click.echo(f"User {created.username} ({created.role}) created.")


def create_token(open_db: Callable, users, now, data_dir: Path, username: str, label: str) -> None:
    _settings, conn = open_db(data_dir)
    account = users.by_name(conn, username)
    if account is None or not account.active:
        raise ConfigError(f"no active user {username!r}")
    click.echo(users.create_token(conn, account, label, now))
