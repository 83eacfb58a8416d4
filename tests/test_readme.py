"""Every `zcbench` command shown in the README and docs/ names a real verb with options it accepts.

The commands are parsed by the CLI itself (click builds each command's context without running it), so a
renamed flag or verb in the code fails here instead of in a newcomer's terminal.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from zcbench.cli import cli

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
ENV_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


def shell_commands(page: Path) -> list[str]:
    """The commands of a page's ```bash blocks, continuation lines joined, `&&` chains split."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", page.read_text(), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            commands += [part.strip() for part in line.split("&&") if part.strip()]
    return commands


def zcbench_invocations(page: Path) -> list[list[str]]:
    out = []
    for command in shell_commands(page):
        words = shlex.split(command, comments=True)
        while words and ENV_ASSIGNMENT.match(words[0]):
            words = words[1:]
        if words and words[0] == "zcbench":
            out.append(words[1:])
    return out


CASES = [(page.relative_to(REPO).as_posix(), args) for page in PAGES for args in zcbench_invocations(page)]


def test_the_readme_shows_the_main_commands():
    verbs = {args[0] for page, args in CASES if page == "README.md"}
    assert {"score", "gt", "evaluate", "figures", "report", "info", "search"} <= verbs


@pytest.mark.parametrize("page, args", CASES, ids=[f"{p}:{' '.join(a)[:60]}" for p, a in CASES])
def test_every_documented_command_parses(page, args):
    command: click.Command = cli
    name = "zcbench"
    rest = list(args)
    while isinstance(command, click.Group):
        assert rest, f"{page}: `zcbench {' '.join(args)}` names no verb"
        sub = command.get_command(click.Context(command), rest[0])
        assert sub is not None, f"{page}: unknown verb {rest[0]!r} in `zcbench {' '.join(args)}`"
        name, command, rest = f"{name} {rest[0]}", sub, rest[1:]
    command.make_context(name, rest)  # raises click.UsageError for an unknown or malformed option
