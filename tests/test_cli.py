"""The command line: exit codes, stdout for data, stderr for people, nothing half-written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stackkit.cli import app

runner = CliRunner()


def test_init_writes_a_starter_and_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "stackkit.yaml"
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 0, result.output
    assert "target: docker" in target.read_text()
    again = runner.invoke(app, ["init", str(target)])
    assert again.exit_code == 1
    assert "already exists; use --force" in again.stderr


def test_schema_is_json_on_stdout() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["title"] == "stackkit.yaml"


def test_render_reports_what_changed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = runner.invoke(app, ["render", "-o", str(out)])
    assert first.exit_code == 0, first.output
    assert first.stdout == ""
    assert "rendered 11 files" in first.stderr and "created otelcol/config.yaml" in first.stderr
    assert "created grafana/dashboards/claude-code-reliability.json" in first.stderr
    second = runner.invoke(app, ["render", "-o", str(out)])
    assert "(0 changed)" in second.stderr
    third = runner.invoke(app, ["render", "-o", str(out), "--target", "kubernetes"])
    assert third.exit_code == 0


def test_bad_config_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("collector: {grpc: {port: 0}}\nbogus: true\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["render", "-c", str(bad), "-o", str(out)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0] == "error: invalid configuration (2 problems):"
    assert any(f"{bad}: collector.grpc.port:" in line for line in lines)
    assert any(f"{bad}: bogus: unknown key" in line for line in lines)
    assert not out.exists()


def test_bad_target_flag_is_a_config_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["render", "-o", str(tmp_path / "o"), "--target", "aws"])
    assert result.exit_code == 2
    assert "(flag or defaults)" in result.stderr or "target:" in result.stderr


def test_env_prints_only_the_snippet_on_stdout() -> None:
    result = runner.invoke(app, ["env", "--format", "fish", "--attr", "team.id=core"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert all(line.startswith("set -gx ") for line in lines)
    assert "set -gx OTEL_RESOURCE_ATTRIBUTES 'team.id=core'" in lines


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "tcsh"], "--format: 'tcsh' is not one of bash, zsh, fish"),
        (["--attr", "novalue"], "--attr: 'novalue': expected KEY=VALUE"),
        (
            ["--attr", "service.name,team.id=spoofed"],
            "--attr: 'service.name,team.id' is not an attribute key",
        ),
        (["--attr", "team id=x"], "is not an attribute key"),
        (["--attr", "=x"], "expected KEY=VALUE"),
        (["--attr", "team.id=a\nb"], "--attr: must not contain control characters"),
        ([f"--attr=k{i}=v" for i in range(9)], "--attr: 9 resource attributes: at most 8"),
        (["--protocol", "udp"], "--protocol: 'udp' is not one of grpc, http/protobuf"),
        (["--endpoint", "localhost:4317"], "--endpoint: 'localhost:4317' must start with http"),
        (["--endpoint", "http://u:p@h:4317"], "--endpoint: 'http://u:p@h:4317' holds credentials"),
        (["--endpoint", "http://h:4317/v1"], "no path"),
        (["--endpoint", "http://h:4317'$(id)'"], "is not a URL"),
        (["--protocol", "http/protobuf", "--endpoint", "http://h:4318/x y"], "is not a URL"),
    ],
)
def test_env_rejects_bad_flags(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["env", *args])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: invalid configuration: ")
    assert message in result.stderr and len(result.stderr.splitlines()) == 1
    assert result.stdout == ""


def test_config_and_flag_attributes_share_the_limit(tmp_path: Path) -> None:
    attrs = "\n".join(f"    a{i}: v" for i in range(6))
    (tmp_path / "c.yaml").write_text(f"client:\n  resource_attributes:\n{attrs}\n")
    args = ["env", "-c", str(tmp_path / "c.yaml"), "--attr", "b1=x", "--attr", "b2=y"]
    assert runner.invoke(app, args).exit_code == 0
    result = runner.invoke(app, [*args, "--attr", "b3=z"])
    assert result.exit_code == 2 and "9 resource attributes" in result.stderr


def test_attribute_values_are_percent_encoded() -> None:
    result = runner.invoke(app, ["env", "--attr", "team.id=a,b=c d"])
    assert "export OTEL_RESOURCE_ATTRIBUTES='team.id=a%2Cb%3Dc%20d'" in result.stdout


def _stackkit(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stackkit", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )


def test_env_cache_follows_config_and_token_changes(tmp_path: Path) -> None:
    """The fast path must never serve a stale endpoint or token."""
    first = _stackkit(["env"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert "http://localhost:4317" in first.stdout
    assert _stackkit(["env"], tmp_path).stdout == first.stdout  # served from the cache
    (tmp_path / "stackkit.yaml").write_text("collector: {grpc: {port: 14317}}\n")
    assert "http://localhost:14317" in _stackkit(["env"], tmp_path).stdout
    rotated = _stackkit(["env"], tmp_path, STACKKIT_OTLP_TOKEN="rotated-token-0123456789")
    assert "Authorization=Bearer rotated-token-0123456789" in rotated.stdout
    (tmp_path / "stackkit.yaml").write_text("collector: {grpc: {port: 99999}}\n")
    broken = _stackkit(["env"], tmp_path)
    assert broken.returncode == 2 and broken.stdout == ""
    (cache,) = Path(os.environ["STACKKIT_STATE_DIR"]).glob("env-cache-*.bin")
    assert b"rotated-token-0123456789" not in cache.read_bytes()
    assert cache.stat().st_mode & 0o777 == 0o600


def test_env_cache_sees_an_edit_that_keeps_size_and_mtime(tmp_path: Path) -> None:
    config = tmp_path / "stackkit.yaml"
    config.write_text("collector: {grpc: {port: 14317}}\n")
    assert "localhost:14317" in _stackkit(["env"], tmp_path).stdout
    stat = config.stat()
    config.write_text("collector: {grpc: {port: 24317}}\n")
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert "localhost:24317" in _stackkit(["env"], tmp_path).stdout


@pytest.mark.parametrize("command", ["up", "preview", "down", "status", "verify", "secret"])
def test_deploy_commands_take_the_target_as_render_does(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "--target" in result.stdout


@pytest.mark.parametrize("command", ["init", "render", "env", "up", "down", "status"])
def test_help_shows_no_type_beside_a_flag(command: str) -> None:
    result = runner.invoke(app, [command, "--help"], terminal_width=100)
    assert result.exit_code == 0
    assert "<bool>" not in result.stdout
    assert "<path>" in result.stdout  # options that take a value still show its type
