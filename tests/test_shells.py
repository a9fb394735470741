"""Quoting for each shell: any string reads back exactly, and nothing in it runs.

bash, zsh, fish and POSIX sh (for dotenv) are the real shells (tools/install-shells.sh installs
zsh and fish); PowerShell is not installed here, so its output is read by a reference parser
written from PowerShell's tokenizer (ScanStringLiteral), and dotenv's by one for POSIX sh quoting.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackkit.shells import CLAUDE_FUNCTION_FORMATS, format_env
from tests.fixtures.claude import run_claude_session
from tests.fixtures.otlp_sink import OtlpSink
from tests.toolchain import require_shell, shell_params

# Quotes of every kind (PowerShell reads ‘ ’ ‚ ‛ as '), expansions, escapes, globs, separators.
SPECIAL = list("'\"`$\\!*?[]{}()<>|&;#~%^=, \t\n\r") + ["\u2018", "\u2019", "\u201a", "\u201b"]
SPECIAL += ["\u201c", "\u201d", "$(id)", "`id`", "${HOME}", "'\\''", "\\n", "\x7f", "\x1b"]
text = st.lists(
    st.one_of(
        st.sampled_from(SPECIAL),
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    ),
    max_size=24,
).map("".join)
values = st.lists(text, min_size=1, max_size=8)

SHELLS = {
    "bash": ["bash", "--norc", "--noprofile", "-c"],
    "zsh": ["zsh", "-f", "-c"],
    "fish": ["fish", "--no-config", "-c"],
    "dotenv": ["sh", "-c"],  # what `set -a; . ./.env` does
}


def _names(vals: list[str]) -> dict[str, str]:
    return {f"STACKKIT_T{i}": v for i, v in enumerate(vals)}


def evaluate(shell: str, env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """Run the snippet in the real shell; the variables it exported, as the shell holds them."""
    require_shell(SHELLS[shell][0])
    snippet = format_env(env, shell)
    if shell == "dotenv":
        (tmp_path / ".env").write_text(snippet, encoding="utf-8")
        script = "set -a; . ./.env; set +a; env -0"
    else:
        script = snippet + "env -0"
    canary = tmp_path / "ran"
    out = subprocess.run(
        [*SHELLS[shell], script],
        capture_output=True,
        check=True,
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "CANARY": str(canary)},
    ).stdout
    assert not canary.exists()
    seen = dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)
    return {k: seen.get(k, "<unset>") for k in env}


@pytest.mark.parametrize("shell", shell_params(SHELLS))
@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(vals=values)
def test_any_value_round_trips_through_the_real_shell(
    shell: str, vals: list[str], tmp_path: Path
) -> None:
    env = _names(vals)
    assert evaluate(shell, env, tmp_path) == env


HOSTILE = {
    "STACKKIT_A": "`touch $CANARY`",
    "STACKKIT_B": "$(touch $CANARY)",
    "STACKKIT_C": "'; touch $CANARY; '",
    "STACKKIT_D": '"; touch $CANARY; "',
    "STACKKIT_E": "\\'; touch $CANARY #",
    "STACKKIT_F": "a\ntouch $CANARY\n",
    "STACKKIT_G": "(touch $CANARY)",
    "STACKKIT_H": "it's ‘quoted’ ‚twice‛ and “double”",
}


@pytest.mark.parametrize("shell", shell_params(SHELLS))
def test_hostile_values_run_nothing(shell: str, tmp_path: Path) -> None:
    assert evaluate(shell, HOSTILE, tmp_path) == HOSTILE


# --- reference parsers for what no real shell here reads -----------------------------------


def parse_powershell(snippet: str) -> dict[str, str]:
    """`$env:NAME = '...'` lines, read as PowerShell's tokenizer reads single-quoted strings:
    any of ' ‘ ’ ‚ ‛ opens and closes one; two of them in a row stand for the second."""
    quotes = "'\u2018\u2019\u201a\u201b"
    env, i = {}, 0
    while i < len(snippet):
        assert snippet.startswith("$env:", i), snippet[i:]
        i += 5
        j = i
        while snippet[j].isalnum() or snippet[j] == "_":
            j += 1
        name = snippet[i:j]
        assert snippet.startswith(" = ", j) and snippet[j + 3] in quotes
        i, value = j + 4, []
        while True:
            c = snippet[i]
            if c in quotes:
                if i + 1 < len(snippet) and snippet[i + 1] in quotes:
                    value.append(snippet[i + 1])
                    i += 2
                    continue
                i += 1
                break
            value.append(c)
            i += 1
        assert snippet[i] == "\n"
        i += 1
        env[name] = "".join(value)
    return env


def parse_dotenv(snippet: str) -> dict[str, str]:
    """`NAME='...'` or `NAME="..."` with POSIX sh quoting (backslash escapes \\ " $ ` only)."""
    env, i = {}, 0
    while i < len(snippet):
        j = snippet.index("=", i)
        name, quote = snippet[i:j], snippet[j + 1]
        i, value = j + 2, []
        if quote == "'":
            end = snippet.index("'", i)
            value.append(snippet[i:end])
            i = end + 1
        else:
            assert quote == '"'
            while snippet[i] != '"':
                if snippet[i] == "\\" and snippet[i + 1] in '\\"$`':
                    i += 1
                else:
                    assert snippet[i] not in "$`", "an unescaped expansion"
                value.append(snippet[i])
                i += 1
            i += 1
        assert snippet[i] == "\n"
        i += 1
        env[name] = "".join(value)
    return env


@settings(max_examples=300, deadline=None, database=None)
@given(vals=values)
def test_powershell_quoting_round_trips(vals: list[str]) -> None:
    env = _names(vals)
    assert parse_powershell(format_env(env, "powershell")) == env


@settings(max_examples=300, deadline=None, database=None)
@given(vals=values)
def test_dotenv_quoting_round_trips(vals: list[str]) -> None:
    env = _names(vals)
    assert parse_dotenv(format_env(env, "dotenv")) == env


def test_typographic_quotes_are_doubled_for_powershell() -> None:
    assert format_env({"A": "a‘b’c‚d‛e'f"}, "powershell") == "$env:A = 'a‘‘b’’c‚‚d‛‛e''f'\n"


def test_dotenv_escapes_backticks_and_dollars() -> None:
    assert format_env({"A": "it's `id` $HOME"}, "dotenv") == 'A="it\'s \\`id\\` \\$HOME"\n'
    assert format_env({"A": "`id` $HOME"}, "dotenv") == "A='`id` $HOME'\n"


@pytest.mark.parametrize("name", ["X;touch /tmp/x;Y", "1A", "A-B", "", "A B", "Ä", "A\nB"])
@pytest.mark.parametrize("fmt", ["bash", "zsh", "fish", "powershell", "dotenv", "json"])
def test_names_that_are_not_variable_names_are_never_printed(name: str, fmt: str) -> None:
    with pytest.raises(ValueError, match="not a valid environment variable name"):
        format_env({name: "v"}, fmt)


# --- the claude function of `stackkit env --repo` ----------------------------------------------

FAKE_CLAUDE = """#!/bin/sh
printf '%s' "${OTEL_RESOURCE_ATTRIBUTES-<unset>}" > "$SEEN"
printf '%s\\n' "$@" > "$SEEN.args"
"""
ORIGIN = "https://alice:s3cr3t@git.example.com:8443/org/$(touch $CANARY)`id`.git"


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.mark.parametrize("shell", shell_params(CLAUDE_FUNCTION_FORMATS))
@pytest.mark.parametrize(
    ("where", "before", "stamped"),
    [
        ("origin", "team.id=platform", "team.id=platform,git.repo=git.example.com/org/__touch__CANARY__id_"),
        ("origin", None, "git.repo=git.example.com/org/__touch__CANARY__id_"),
        ("no-origin", "team.id=platform", "team.id=platform,git.repo=my_app_2"),
        ("no-repo", "team.id=platform", "team.id=platform"),
        ("no-repo", None, "<unset>"),
    ],
)  # fmt: skip
def test_the_claude_function_stamps_the_repository_for_that_launch_only(
    shell: str, where: str, before: str | None, stamped: str, tmp_path: Path
) -> None:
    """In the real shell: the repository the launch starts in (credentials and anything a
    shell could run taken out) joins that launch's OTEL_RESOURCE_ATTRIBUTES; the shell's own
    variable and claude's arguments stay as they were."""
    require_shell(shell)
    bindir, work, canary = tmp_path / "bin", tmp_path / "my app 2", tmp_path / "ran"
    bindir.mkdir()
    work.mkdir()
    (bindir / "claude").write_text(FAKE_CLAUDE)
    (bindir / "claude").chmod(0o755)
    if where != "no-repo":
        _git("init", "-q", cwd=work)
    if where == "origin":
        _git("config", "remote.origin.url", ORIGIN, cwd=work)
    env = {"OTEL_RESOURCE_ATTRIBUTES": before} if before is not None else {}
    snippet = format_env(env, shell, repo_function=True)
    show = 'echo "after=$OTEL_RESOURCE_ATTRIBUTES"'
    out = subprocess.run(
        [*SHELLS[shell], snippet + f"claude -p 'it''s \"$x\"' --model m\n{show}\n"],
        capture_output=True,
        check=True,
        cwd=work,
        env={
            "PATH": f"{bindir}:{os.environ['PATH']}",
            "HOME": str(tmp_path),
            "SEEN": str(tmp_path / "seen"),
            "CANARY": str(canary),
            "GIT_CEILING_DIRECTORIES": str(tmp_path),
        },
    ).stdout.decode()
    assert (tmp_path / "seen").read_text() == stamped
    said = (tmp_path / "seen.args").read_text().splitlines()
    assert said[0] == "-p" and said[2:] == ["--model", "m"]
    assert f"after={before or ''}" in out
    assert not canary.exists()


@pytest.mark.parametrize("shell", shell_params(CLAUDE_FUNCTION_FORMATS))
def test_real_claude_code_reports_the_repository_through_the_function(
    shell: str, claude_bin: Path, tmp_path: Path
) -> None:
    """The real CLI, started by the function in the real shell inside a clone whose origin
    holds a credential: its metrics carry git.repo, cleaned; the credential goes nowhere."""
    path = require_shell(shell)
    bindir, work = tmp_path / "bin", tmp_path / "app"
    bindir.mkdir()
    work.mkdir()
    (bindir / "claude").symlink_to(claude_bin)
    _git("init", "-q", cwd=work)
    _git("config", "remote.origin.url", "https://bob:s3cr3t@git.example.com/org/app.git", cwd=work)
    flag = {"bash": "--norc", "zsh": "-f", "fish": "--no-config"}[shell]
    launch = "claude $argv" if shell == "fish" else 'claude "$@"'
    wrapper = tmp_path / f"claude-in-{shell}"
    wrapper.write_text(f"#!{path} {flag}\n{format_env({}, shell, repo_function=True)}{launch}\n")
    wrapper.chmod(0o755)
    with OtlpSink() as sink:
        env = sink.otel_env() | {
            "OTEL_RESOURCE_ATTRIBUTES": "team.id=t-repo",
            "PATH": f"{bindir}:{os.environ['PATH']}",
        }
        run = run_claude_session(wrapper, "say hi", env, cwd=work)
        assert run.returncode == 0, run.describe()
        assert sink.wait_for(lambda s: bool(s.points("claude_code.cost.usage")), timeout=30)
        cost = sink.points("claude_code.cost.usage")
        assert {p["resource"].get("git.repo") for p in cost} == {"git.example.com/org/app"}
        assert {p["resource"].get("team.id") for p in cost} == {"t-repo"}
        assert not any(b"s3cr3t" in post.raw for post in sink.posts)
