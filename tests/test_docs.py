"""The documentation keeps up with the code: every setting and every CLI command is in docs/OPERATIONS.md,
and the README points only inside the repository (as Datasette's tests do for its settings)."""
from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parents[1]
OPERATIONS = ROOT / "docs" / "OPERATIONS.md"


def operations() -> str:
    return OPERATIONS.read_text(encoding="utf-8")


def documented_settings(program: str) -> set[str]:
    """Setting names listed as `name` in the first column of the program's settings table."""
    text = operations()
    section = text.split(f"<!-- settings: {program} -->", 1)[1].split("<!-- /settings -->", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M))


def commands(group: click.Group, prefix: str) -> list[str]:
    found = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            found += commands(command, path)
        else:
            found.append(path)
    return found


def all_commands() -> list[str]:
    from central.cli import main as central_main
    from node.cli import main as node_main
    return commands(node_main, "motcua-node") + commands(central_main, "motcua-central")


@pytest.mark.parametrize("program, module", [("motcua-node", "node.settings"), ("motcua-central", "central.settings")])
def test_every_setting_is_documented(program, module):
    import importlib
    declared = {s.name for s in importlib.import_module(module).SETTINGS}
    documented = documented_settings(program)
    assert declared - documented == set(), f"settings of {program} missing from docs/OPERATIONS.md"
    assert documented - declared == set(), f"docs/OPERATIONS.md lists {program} settings that do not exist"


def test_every_cli_command_is_documented():
    found = all_commands()
    assert len(found) > 10  # the walk reached the subcommands
    text = operations()
    missing = [c for c in found if f"`{c}" not in text]
    assert missing == [], "CLI commands missing from docs/OPERATIONS.md"


def test_the_readme_and_the_docs_link_nowhere_outside_the_repository():
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        assert "../shared" not in text, path.name
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
            if not re.match(r"https?://", target):
                assert (path.parent / target).exists(), f"{path.name} links to missing {target}"
