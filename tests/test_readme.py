"""The README is a contract: every `stackkit …` command it shows parses as shown, and those that
need no deployed stack run as shown.

Commands are read out of the README itself: inline code, `$ ` lines of code blocks (inside
`eval "$(…)"` and before a pipe too) and the synopses in headings (`stackkit render [-c FILE]
[--target T] -o DIR`, `stackkit up | preview | down`), so a command or flag the CLI lacks
cannot be written there again.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer
from typer._click.exceptions import UsageError  # typer 0.29 carries its own click
from typer.core import TyperGroup
from typer.testing import CliRunner

from stackkit.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"
CLI = typer.main.get_command(app)
assert isinstance(CLI, TyperGroup)
# What runs without a deployed stack, a cluster or Docker: pure rendering and printing.
RUNS_ALONE = {"render", "env", "init", "schema"}
SHELL_OPERATORS = {"|", "||", "&&", ";", ">", "2>", "<"}


def _stackkit_argvs(shell_text: str) -> list[list[str]]:
    """Each `stackkit …` command in a piece of shell, as its argument list."""
    text = re.sub(r"\s#\s.*$", "", shell_text)  # a trailing comment
    found: list[list[str]] = []
    for inner in re.findall(r"\$\(([^)]*)\)", text):  # eval "$(stackkit env …)"
        found += _stackkit_argvs(inner)
    text = re.sub(r"\$\([^)]*\)", "", text)
    try:
        words = shlex.split(text)
    except ValueError:
        return found
    for i, word in enumerate(words):
        if word in ("stackkit", ".venv/bin/stackkit"):
            argv: list[str] = []
            for w in words[i + 1 :]:
                if w in SHELL_OPERATORS:
                    break
                argv.append(w)
            found.append(argv)
            break
    return found


def readme_commands() -> list[tuple[int, list[str]]]:
    """(line number, argv) of each concrete `stackkit` command the README shows."""
    commands: list[tuple[int, list[str]]] = []
    fenced = False
    for number, line in enumerate(README.read_text().splitlines(), 1):
        if line.startswith("```"):
            fenced = not fenced
            continue
        if line.startswith("#"):
            continue  # headings hold synopses: see readme_synopses
        if fenced:
            if line.startswith("$ "):
                commands += [(number, argv) for argv in _stackkit_argvs(line[2:])]
            elif line.startswith("next: "):
                commands += [(number, argv) for argv in _stackkit_argvs(line[6:])]
            continue
        for span in re.findall(r"`([^`]+)`", line):
            if re.match(r"(eval \"\$\()?stackkit [a-z]", span):
                commands += [(number, argv) for argv in _stackkit_argvs(span)]
    return commands


def readme_synopses() -> list[tuple[int, str, list[str]]]:
    """(line, command, its option names) for each `stackkit …` synopsis in a heading."""
    found: list[tuple[int, str, list[str]]] = []
    for number, line in enumerate(README.read_text().splitlines(), 1):
        if not line.startswith("#"):
            continue
        for span in re.findall(r"`stackkit ([^`]+)`", line):
            if "|" in span and "[" not in span:  # `stackkit up | preview | down`
                found += [(number, name.strip(), []) for name in span.split("|")]
                continue
            name, *rest = span.split()
            found.append(
                (number, name, re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", " ".join(rest)))
            )
    return found


COMMANDS = readme_commands()
SYNOPSES = readme_synopses()


def test_the_readme_shows_commands() -> None:
    names = {argv[0] for _, argv in COMMANDS if argv}
    # The commands the README is about: if extraction broke, these would go missing.
    assert {"render", "env", "up", "status", "secret", "init", "schema"} <= names
    assert any(argv[:3] == ["up", "--target", "kubernetes"] for _, argv in COMMANDS)
    assert any(name == "verify" for _, name, _ in SYNOPSES)


@pytest.mark.parametrize(
    ("line", "argv"), COMMANDS, ids=[f"L{n}:{' '.join(a)}" for n, a in COMMANDS]
)
def test_every_command_in_the_readme_parses(line: int, argv: list[str]) -> None:
    assert argv, f"README line {line}: `stackkit` with no command"
    ctx = typer.Context(CLI, info_name="stackkit")
    command = CLI.get_command(ctx, argv[0])
    assert command is not None, f"README line {line}: no command {argv[0]!r}"
    try:
        command.make_context(argv[0], list(argv[1:]), parent=ctx)
    except UsageError as e:
        pytest.fail(f"README line {line}: `stackkit {' '.join(argv)}` does not parse: {e}")


@pytest.mark.parametrize(
    ("line", "name", "options"), SYNOPSES, ids=[f"L{n}:{c}" for n, c, _ in SYNOPSES]
)
def test_every_synopsis_names_real_options(line: int, name: str, options: list[str]) -> None:
    ctx = typer.Context(CLI, info_name="stackkit")
    command = CLI.get_command(ctx, name)
    assert command is not None, f"README line {line}: no command {name!r}"
    known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
    assert not set(options) - known, f"README line {line}: {name} has no {set(options) - known}"


RUNNABLE = [(n, a) for n, a in COMMANDS if a and a[0] in RUNS_ALONE and "-c" not in a]


@pytest.mark.parametrize(
    ("line", "argv"), RUNNABLE, ids=[f"L{n}:{' '.join(a)}" for n, a in RUNNABLE]
)
def test_commands_that_need_no_stack_run_as_shown(
    line: int, argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, (
        f"README line {line}: `stackkit {' '.join(argv)}`: {result.output}"
    )
