"""The state folder: owner-only whatever the umask, and only trusted files are believed."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stackkit import state
from stackkit.cli import app
from stackkit.errors import StackkitWarning, StateError
from stackkit.state import OUTPUTS_FILE, TOKEN_FILE, read_outputs, secret, stack_dir, write_private

runner = CliRunner()


@pytest.fixture
def fresh_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "deep" / "state"
    monkeypatch.setenv("STACKKIT_STATE_DIR", str(root))
    state._warned.clear()
    return root


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_folders_are_owner_only_whatever_the_umask(fresh_root: Path) -> None:
    old = os.umask(0)
    try:
        secret("claude-code", TOKEN_FILE)
    finally:
        os.umask(old)
    assert mode(fresh_root.parent) == 0o700
    assert mode(fresh_root) == 0o700
    assert mode(fresh_root / "claude-code") == 0o700
    assert mode(fresh_root / "claude-code" / TOKEN_FILE) == 0o600


def test_a_folder_others_can_write_is_warned_about_once(fresh_root: Path) -> None:
    fresh_root.mkdir(parents=True)
    fresh_root.chmod(0o777)
    with pytest.warns(StackkitWarning, match="can be changed by other users") as seen:
        secret("claude-code", TOKEN_FILE)
        secret("claude-code", "another")
        read_outputs("claude-code")
    assert len([w for w in seen if str(fresh_root) in str(w.message)]) == 1
    assert f"chmod 700 {fresh_root}" in str(seen[0].message)


def test_the_warning_is_one_stderr_line_from_the_cli(fresh_root: Path) -> None:
    fresh_root.mkdir(parents=True)
    fresh_root.chmod(0o777)
    result = runner.invoke(app, ["env"])
    assert result.exit_code == 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(lines) == 1 and str(fresh_root) in lines[0]


def _untrusted(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``path`` owned by somebody else (or look so, when chown is not allowed)."""
    try:
        os.chown(path, 12345, -1)
    except PermissionError:
        uid = os.getuid()
        monkeypatch.setattr(state.os, "getuid", lambda: uid + 1)


@pytest.mark.parametrize("how", ["group-writable", "other-writable", "someone else's"])
def test_state_files_others_can_change_are_not_trusted(
    how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = stack_dir("claude-code") / OUTPUTS_FILE
    write_private(path, json.dumps({"prometheus_url": "http://evil.example.com"}))
    if how == "someone else's":
        _untrusted(path, monkeypatch)
    else:
        path.chmod(0o620 if how == "group-writable" else 0o602)
    with pytest.raises(StateError, match="stackkit does not trust it: delete it"):
        read_outputs("claude-code")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe binary", "not UTF-8|not what `stackkit up` writes"),
        (b"{not json", "not what `stackkit up` writes"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"otlp_endpoints": ["http://x"]}', "otlp_endpoints is not an object"),
        (b'{"otlp_endpoints": {"grpc": 4317}}', "otlp_endpoints.grpc is not a string"),
        (b'{"otlp_endpoints": {"grpc": "http://h:4317/\'$(id)\'"}}', "is not a URL"),
        (b'{"prometheus_url": "http://u:p@h:9090"}', "holds credentials"),
        (b"{" * 100_000, "not what `stackkit up` writes"),
    ],
)
def test_malformed_outputs_are_one_line_errors(content: bytes, message: str) -> None:
    write_private(stack_dir("claude-code") / OUTPUTS_FILE, content)
    result = runner.invoke(app, ["env"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1
    assert OUTPUTS_FILE in result.stderr
    import re

    assert re.search(message, result.stderr), result.stderr


@pytest.mark.parametrize("kind", ["binary", "directory", "empty", "spaces", "huge", "link"])
def test_unusable_token_files_are_one_line_errors(kind: str, tmp_path: Path) -> None:
    path = stack_dir("claude-code") / TOKEN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "directory":
        path.mkdir()
    elif kind == "link":
        (tmp_path / "elsewhere").write_text("token\n")
        path.symlink_to(tmp_path / "elsewhere")
    else:
        content = {
            "binary": b"\x00\xff\xfe",
            "empty": b"\n",
            "spaces": b"a b\x07c",
            "huge": b"x" * 5000,
        }[kind]
        write_private(path, content)
    for args in (["env"], ["secret", "otlp-token"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1
        assert str(path) in result.stderr


def test_a_token_variable_with_control_characters_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STACKKIT_OTLP_TOKEN", "tok\nen")
    result = runner.invoke(app, ["env"])
    assert result.exit_code == 1
    assert "STACKKIT_OTLP_TOKEN does not hold a usable token" in result.stderr


# Tokens Claude Code cannot send intact in OTEL_EXPORTER_OTLP_HEADERS (split at ',', decoded at
# '%', cut at ' '), hostile ones, and ones too short or plain to be secrets (issue 17, 6 and 11).
BAD_TOKENS = {
    "comma": ("abcdefgh,ijklmnop", "contains ','"),
    "percent": ("abcdefgh%41ijklmnop", "contains '%'"),
    "space": ("abcdefgh ijklmnop", "contains ' '"),
    "quotes": ("abcdefgh'ij\"klmnop", "contains '\"' \"'\""),
    "backtick": ("abcdefgh`id`klmnop", "contains '`'"),
    "short": ("short", "5 characters long; a token needs at least 16"),
    "plain": ("a" * 32, "fewer than 6 different characters"),
    "huge": ("abcdef0123" * 100_000, "1000000 characters long; a token may have at most 4096"),
}
ALLOWED_TEXT = "may hold only letters A-Z a-z, digits 0-9 and - . _ ~"


def _one_line_error(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert result.stdout == "", "nothing is printed for the shell"
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1
    return result.stderr


@pytest.mark.parametrize(("value", "problem"), BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_a_token_variable_that_cannot_be_a_token_is_refused(
    value: str, problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACKKIT_OTLP_TOKEN", value)
    for args in (["env", "--no-cache"], ["secret", "otlp-token"]):
        line = _one_line_error(args)
        assert "the environment variable STACKKIT_OTLP_TOKEN does not hold a usable token" in line
        assert problem in line
        assert "Set STACKKIT_OTLP_TOKEN to such a token" in line and "unset it" in line
        if problem.startswith("contains"):
            assert ALLOWED_TEXT in line
        assert value[:12] not in line, "the token itself is never shown"


@pytest.mark.parametrize(("value", "problem"), BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_a_token_file_that_cannot_be_a_token_is_refused(value: str, problem: str) -> None:
    if len(value) > 4096:
        problem = "larger than 4096 bytes: delete it"
    path = stack_dir("claude-code") / TOKEN_FILE
    write_private(path, value + "\n")
    for args in (["env", "--no-cache"], ["secret", "otlp-token"]):
        line = _one_line_error(args)
        assert str(path) in line and problem in line
        assert "delete it" in line


def test_up_refuses_a_token_that_cannot_be_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """`up` would give the Collector a token no client can send: refused before any change."""
    from stackkit import deploy, preflight

    monkeypatch.setattr(preflight, "require_engine", lambda: object())
    monkeypatch.setattr(deploy, "_image_ids", lambda *a: pytest.fail("went past the secrets"))
    monkeypatch.setenv("STACKKIT_OTLP_TOKEN", "abcdefgh,ijklmnop")
    result = runner.invoke(app, ["up"])
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[-1].startswith(
        "error: the environment variable STACKKIT_OTLP_TOKEN does not hold a usable token: it "
        "contains ','"
    )


def test_a_generated_token_is_usable_and_kept() -> None:
    from stackkit.tokens import token_problem

    token = secret("claude-code", TOKEN_FILE, "STACKKIT_OTLP_TOKEN", token=True)
    assert token_problem(token) is None
    assert (stack_dir("claude-code") / TOKEN_FILE).read_text() == token + "\n"


def test_a_symlinked_token_file_is_named_as_a_link(tmp_path: Path) -> None:
    path = stack_dir("claude-code") / TOKEN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "elsewhere").write_text("0123456789abcdefghij\n")
    path.symlink_to(tmp_path / "elsewhere")
    for args in (["env", "--no-cache"], ["secret", "otlp-token"]):
        line = _one_line_error(args)
        assert f"{path} is a symbolic link; stackkit refuses links for its secrets" in line
        assert "replace it with the file itself, or delete it" in line
        assert "Too many levels" not in line and "permissions" not in line


def test_an_unwritable_state_folder_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACKKIT_STATE_DIR", "/proc/stackkit-state")
    result = runner.invoke(app, ["env"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot write /proc/stackkit-state/")


def test_warnings_do_not_leak_out_of_the_state_module() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        secret("claude-code", TOKEN_FILE)  # a fresh, private folder: nothing to warn about


def test_the_deploy_backend_folder_is_owner_only_whatever_the_umask(
    fresh_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every secret in the environment, the Pulumi backend is the first thing created."""
    from stackkit import pulumi_stack
    from stackkit.config import StackConfig

    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "p")
    old = os.umask(0)
    try:
        pulumi_stack.workspace_env(StackConfig())
    finally:
        os.umask(old)
    assert mode(fresh_root) == 0o700
    assert mode(fresh_root / "claude-code") == 0o700
    assert mode(fresh_root / "claude-code" / "pulumi") == 0o700
