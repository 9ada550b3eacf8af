"""The docs cannot drift from the code.

Every ``scaling ...`` line in a code block of README.md or docs/ must name real commands and options (it is
parsed by click, not run). Every ``console`` block is run: each ``$ scaling ...`` line goes through the CLI in
this process, and what it prints must be the lines that follow it, to the character. The API page must list
every public name.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import isoflop
from isoflop.cli import main

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)")


def _blocks(text: str) -> list[tuple[str, list[str]]]:
    """(info string, lines) of every fenced code block."""
    out, cur, kind = [], None, ""
    for line in text.splitlines():
        m = FENCE.match(line)
        if cur is None and m:
            cur, kind = [], m.group(1)
        elif cur is not None and line.startswith("```"):
            out.append((kind, cur))
            cur = None
        elif cur is not None:
            cur.append(line)
    return out


def _command_lines() -> list[tuple[str, str]]:
    """(page, command) for every ``scaling`` command in a non-Python code block, shell plumbing cut off."""
    found = []
    for page in PAGES:
        for kind, lines in _blocks(page.read_text()):
            if kind == "python":
                continue
            for line in lines:
                for part in line.removeprefix("$ ").split("&&"):
                    part = re.split(r"\s[>|]\s", part.strip())[0]
                    if part.startswith("scaling "):
                        found.append((page.name, part))
    return found


def _console_examples() -> list[tuple[str, str, list[str]]]:
    """(page, command, expected output lines) for every ``$`` line of every ``console`` block."""
    found = []
    for page in PAGES:
        for kind, lines in _blocks(page.read_text()):
            if kind != "console":
                continue
            for line in lines:
                if line.startswith("$ "):
                    found.append((page.name, line[2:], []))
                elif found:
                    found[-1][2].append(line)
    return found


def _parse(command: str) -> click.Command:
    """Parse ``command`` down to its leaf command without running it; raise click's error on a bad name or option."""
    args = shlex.split(command, comments=True)[1:]
    cmd: click.Command = main
    name = "scaling"
    while True:
        ctx = cmd.make_context(name, list(args), resilient_parsing=False)
        if not isinstance(cmd, click.Group):
            return cmd
        rest = [*ctx._protected_args, *ctx.args]
        if not rest:
            return cmd
        sub_name, sub, args = cmd.resolve_command(ctx, rest)
        assert sub is not None and sub_name is not None
        cmd, name = sub, sub_name


def test_the_docs_hold_commands_and_console_examples():
    # The scans below must find something, or the tests that use them are empty.
    assert len(_command_lines()) >= 40
    assert len(_console_examples()) >= 5


@pytest.mark.parametrize("page,command", _command_lines())
def test_every_command_in_the_docs_parses(page, command):
    try:
        _parse(command)
    except click.ClickException as e:
        pytest.fail(f"{page}: {command!r}: {e.format_message()}")


def test_a_wrong_option_in_the_docs_would_be_caught():
    with pytest.raises(click.NoSuchOption):
        _parse("scaling fit runs.csv --no-such-option 3")
    with pytest.raises(click.UsageError):
        _parse("scaling fitt runs.csv")


@pytest.mark.parametrize("page,command,expected", _console_examples())
def test_console_examples_print_what_the_docs_show(page, command, expected, monkeypatch):
    monkeypatch.chdir(ROOT)
    r = CliRunner().invoke(main, shlex.split(command)[1:])
    want_code = 2 if expected and expected[-1].startswith("Error:") else 0
    assert r.exit_code == want_code, f"{page}: {command}\n{r.output}"
    got = [line.rstrip() for line in r.output.rstrip("\n").splitlines()]
    assert got == [line.rstrip() for line in expected], f"{page}: {command}"


def test_the_api_page_lists_every_public_name():
    text = (ROOT / "docs" / "api.md").read_text()
    listed = set(re.findall(r"^::: ([\w.]+)$", text, flags=re.M))
    exports = {f"{module}.{name}" for name, module in isoflop._EXPORTS.items()}
    assert exports - listed == set(), "docs/api.md lacks these public names"
    assert listed - exports == set(), "docs/api.md lists names the package does not export"


def test_every_docs_page_is_in_the_site_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert pages and all(f" {p}" in nav for p in pages), sorted(p for p in pages if f" {p}" not in nav)
