"""`stackkit env`: what Claude Code needs, surviving quoting in the real shells."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stackkit.config import StackConfig
from stackkit.endpoint import resolve_endpoint
from stackkit.env import ClientSettings, Endpoint, encode_resource_attributes, env_vars, format_env
from stackkit.errors import StackkitError
from stackkit.state import OUTPUTS_FILE, stack_dir, write_private
from tests.toolchain import require_shell, shell_params

ROOT = Path(__file__).resolve().parent.parent
# Everything a shell could mangle: quotes of both kinds, $, backticks, backslashes, spaces,
# globs, a newline-free unicode string.
NASTY = 'it\'s "quoted" $HOME `id` \\n \\ * ? [x] ünï €'


def test_variables_for_grpc_with_token() -> None:
    env = env_vars(
        Endpoint("http://localhost:4317", "grpc", token="t0k"),
        ClientSettings({"team.id": "platform", "department": "R&D east"}, 1000, 2000),
    )
    assert env == {
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4317",
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "cumulative",
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        "OTEL_LOGS_EXPORT_INTERVAL": "2000",
        "OTEL_METRICS_INCLUDE_SESSION_ID": "true",
        "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer t0k",
        "OTEL_RESOURCE_ATTRIBUTES": "department=R%26D%20east,team.id=platform",
    }


def test_no_token_no_header() -> None:
    env = env_vars(Endpoint("http://h:4318", "http/protobuf"), ClientSettings())
    assert "OTEL_EXPORTER_OTLP_HEADERS" not in env
    assert "OTEL_RESOURCE_ATTRIBUTES" not in env


def test_ca_file_variable_depends_on_protocol() -> None:
    grpc = env_vars(Endpoint("https://h:4317", "grpc", ca_file="/ca.pem"), ClientSettings())
    http = env_vars(
        Endpoint("https://h:4318", "http/protobuf", ca_file="/ca.pem"), ClientSettings()
    )
    assert grpc["OTEL_EXPORTER_OTLP_CERTIFICATE"] == "/ca.pem"
    assert http["NODE_EXTRA_CA_CERTS"] == "/ca.pem"


def test_resource_attribute_values_are_percent_encoded() -> None:
    assert encode_resource_attributes({"a": "x,y=z w"}) == "a=x%2Cy%3Dz%20w"


def test_json_formats_are_claude_code_settings() -> None:
    env = {"A": "1"}
    assert json.loads(format_env(env, "json")) == {"env": {"A": "1"}}
    managed = json.loads(format_env(env, "managed-settings"))
    assert managed["env"] == {"A": "1"} and managed["$schema"].endswith("claude-code-settings.json")


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        format_env({}, "tcsh")


SHELLS = {
    "bash": ["bash", "--norc", "--noprofile", "-c"],
    "zsh": ["zsh", "-f", "-c"],
    "fish": ["fish", "--no-config", "-c"],
}


@pytest.mark.parametrize("shell", shell_params(SHELLS))
def test_values_survive_the_real_shell(shell: str) -> None:
    require_shell(shell)
    env = {"STACKKIT_T1": NASTY, "STACKKIT_T2": "Authorization=Bearer a'b\"c$d", "STACKKIT_T3": ""}
    script = format_env(env, shell) + "env -0"
    out = subprocess.run(
        [*SHELLS[shell], script], capture_output=True, check=True, env={"PATH": os.environ["PATH"]}
    ).stdout
    seen = dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)
    assert {k: seen.get(k) for k in env} == env


def test_dotenv_round_trips_through_its_own_rules() -> None:
    text = format_env({"A": "plain", "B": "it's $x"}, "dotenv")
    assert text == "A='plain'\nB=\"it's \\$x\"\n"


def test_endpoint_defaults_to_localhost_and_the_configured_port() -> None:
    cfg = StackConfig.model_validate({"collector": {"grpc": {"port": 14317}}})
    ep = resolve_endpoint(cfg)
    assert (ep.url, ep.protocol) == ("http://localhost:14317", "grpc")
    assert ep.token and len(ep.token) >= 40
    # The generated token is kept with owner-only permissions and reused.
    token_file = stack_dir(cfg.name) / "otlp-token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert resolve_endpoint(cfg).token == ep.token


def test_token_from_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACKKIT_OTLP_TOKEN", "from-env-0123456789")
    assert resolve_endpoint(StackConfig()).token == "from-env-0123456789"
    assert not (stack_dir("claude-code") / "otlp-token").exists()


def test_deployed_outputs_win_over_the_config() -> None:
    outputs = {"otlp_endpoints": {"grpc": "http://127.0.0.1:24317", "http/protobuf": "http://x"}}
    write_private(stack_dir("claude-code") / OUTPUTS_FILE, json.dumps(outputs))
    assert resolve_endpoint(StackConfig()).url == "http://127.0.0.1:24317"
    assert resolve_endpoint(StackConfig(), url="http://flag:1").url == "http://flag:1"


def test_disabled_protocol_is_an_error() -> None:
    cfg = StackConfig.model_validate({"collector": {"grpc": {"enabled": False}}})
    assert resolve_endpoint(cfg).protocol == "http/protobuf"
    with pytest.raises(StackkitError, match="does not listen for grpc"):
        resolve_endpoint(cfg, "grpc")


EVAL = {
    "bash": 'eval "$(stackkit env)"',
    "zsh": 'eval "$(stackkit env --format zsh)"',
    "fish": "stackkit env --format fish | source",
}


@pytest.mark.parametrize("shell", shell_params(EVAL))
def test_readme_line_works_in_the_real_shell(shell: str, tmp_path: Path) -> None:
    """What the README tells people to put in their start-up file, run by the real shell."""
    require_shell(shell)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "stackkit").write_text(f'#!/bin/sh\nexec {sys.executable} -m stackkit "$@"\n')
    (bindir / "stackkit").chmod(0o755)
    env = {
        "PATH": f"{bindir}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "STACKKIT_STATE_DIR": str(tmp_path / "state"),
        "STACKKIT_OTLP_TOKEN": "tok-en_0123.456~789",
        "PYTHONPATH": str(ROOT),
    }
    out = subprocess.run(
        [*SHELLS[shell], f"{EVAL[shell]}; env -0"],
        capture_output=True,
        check=True,
        env=env,
        cwd=tmp_path,
    ).stdout
    seen = dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)
    assert seen["CLAUDE_CODE_ENABLE_TELEMETRY"] == "1"
    assert seen["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://localhost:4317"
    assert seen["OTEL_EXPORTER_OTLP_HEADERS"] == "Authorization=Bearer tok-en_0123.456~789"


# --- the cache is printed into shells: only a trusted, well-formed one is used ---------------


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stackkit", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
    )


def _cache() -> Path:
    (path,) = Path(os.environ["STACKKIT_STATE_DIR"]).glob("env-cache-*.bin")
    return path


def _plant(entry_update: dict[str, object]) -> None:
    import marshal

    path = _cache()
    cache = marshal.loads(path.read_bytes())
    for entry in cache.values():
        entry.update(entry_update)
    path.write_bytes(marshal.dumps(cache))


def test_a_planted_variable_name_is_never_printed(tmp_path: Path) -> None:
    assert _run(["env"], tmp_path).returncode == 0
    canary = tmp_path / "ran"
    _plant({"env": {f"X=1; touch {canary}; Y": "v", "OTEL_X": "1"}})
    out = _run(["env"], tmp_path)
    assert out.returncode == 0 and "touch" not in out.stdout
    assert "export CLAUDE_CODE_ENABLE_TELEMETRY='1'" in out.stdout  # the full path answered
    subprocess.run(["bash", "-c", out.stdout], check=True)
    assert not canary.exists()


@pytest.mark.parametrize("how", ["mode", "owner", "folder"])
def test_a_cache_others_could_write_is_ignored(
    tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _run(["env"], tmp_path).returncode == 0
    _plant({"env": {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://evil.example.com:4317"}})
    assert "evil" in _run(["env"], tmp_path).stdout  # the planted entry is served while trusted
    if how == "mode":
        _cache().chmod(0o666)
    elif how == "folder":
        _cache().parent.chmod(0o777)
    else:
        try:
            os.chown(_cache(), 12345, -1)
        except PermissionError:
            pytest.skip("changing a file's owner needs root")
    out = _run(["env"], tmp_path)
    assert out.returncode == 0 and "evil" not in out.stdout
    if how == "folder":
        assert out.stderr.count("can be changed by other users") == 1, out.stderr


def test_a_planted_token_file_path_is_not_read(tmp_path: Path) -> None:
    secret_file = tmp_path / "not-a-token"
    secret_file.write_text("private\n")
    os.chmod(secret_file, 0o666)
    assert _run(["env"], tmp_path).returncode == 0
    _plant({"token_file": str(secret_file)})
    assert "private" not in _run(["env"], tmp_path).stdout


@pytest.mark.parametrize(
    "token", ["abcdefgh,ijklmnop", "abcdefgh%41ijklmnop", "abcdefgh ijklmnop", "short"]
)
def test_the_cache_never_prints_a_token_that_cannot_travel(tmp_path: Path, token: str) -> None:
    """A token changed after the cache was filled is checked too: the full command refuses it."""
    assert _run(["env"], tmp_path, STACKKIT_OTLP_TOKEN="a-usable-token-0123456789").returncode == 0
    assert (
        "a-usable-token"
        in _run(["env"], tmp_path, STACKKIT_OTLP_TOKEN="a-usable-token-0123456789").stdout
    )
    out = _run(["env"], tmp_path, STACKKIT_OTLP_TOKEN=token)
    assert out.returncode == 1 and out.stdout == "", out.stdout
    assert out.stderr.startswith(
        "error: the environment variable STACKKIT_OTLP_TOKEN does not hold a usable token"
    )


def test_no_cache_neither_reads_nor_writes_it(tmp_path: Path) -> None:
    assert runner_env(["--no-cache"]).exit_code == 0
    out = _run(["env", "--no-cache"], tmp_path)
    assert out.returncode == 0 and "CLAUDE_CODE_ENABLE_TELEMETRY" in out.stdout
    assert not list(Path(os.environ["STACKKIT_STATE_DIR"]).glob("env-cache-*"))


def test_no_cache_skips_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from stackkit import envcache

    monkeypatch.setattr(envcache, "lookup", lambda argv: "export FROM_CACHE='1'\n")
    assert envcache.fast_env([]) is True
    assert envcache.fast_env(["--no-cache"]) is False


def runner_env(args: list[str]) -> Any:
    from typer.testing import CliRunner

    from stackkit.cli import app

    return CliRunner().invoke(app, ["env", *args])


# --- collector.tls.ca_file ------------------------------------------------------------------


def test_a_relative_ca_file_is_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf" / "certs").mkdir(parents=True)
    (tmp_path / "conf" / "certs" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "conf" / "stackkit.yaml").write_text(
        "collector: {tls: {cert_file: s.crt, key_file: s.key, ca_file: certs/ca.pem}}\n"
    )
    monkeypatch.chdir(tmp_path)
    result = runner_env(["-c", "conf/stackkit.yaml"])
    assert result.exit_code == 0, result.output
    expected = tmp_path / "conf" / "certs" / "ca.pem"
    assert f"export OTEL_EXPORTER_OTLP_CERTIFICATE='{expected}'" in result.stdout


@pytest.mark.parametrize(
    ("setup", "message"),
    [("missing", "does not exist"), ("folder", "is not a file")],
)
def test_an_unusable_ca_file_is_a_config_error(tmp_path: Path, setup: str, message: str) -> None:
    if setup == "folder":
        (tmp_path / "ca.pem").mkdir()
    config = tmp_path / "stackkit.yaml"
    config.write_text("collector: {tls: {cert_file: s.crt, key_file: s.key, ca_file: ca.pem}}\n")
    result = runner_env(["-c", str(config)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: invalid configuration: collector.tls.ca_file: {tmp_path / 'ca.pem'} {message} "
        "(a relative path is relative to the config file's folder)\n"
    )


def test_the_cache_follows_the_ca_file(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("one\n")
    (tmp_path / "stackkit.yaml").write_text(
        "collector: {tls: {cert_file: s.crt, key_file: s.key, ca_file: ca.pem}}\n"
    )
    assert _run(["env"], tmp_path).returncode == 0
    (tmp_path / "ca.pem").unlink()
    out = _run(["env"], tmp_path)
    assert out.returncode == 2 and "ca.pem does not exist" in out.stderr


def test_clients_send_deltas_to_a_stack_that_merges_series() -> None:
    """Running totals from a process the Collector first sees after a restart cannot be told
    from ones it already counted once session.id is gone; deltas add up either way."""
    from stackkit.endpoint import client_settings

    assert client_settings(StackConfig()).temporality == "cumulative"
    merged = StackConfig.model_validate({"attributes": {"session_id": "drop"}})
    env = env_vars(Endpoint("http://h:4317", "grpc"), client_settings(merged))
    assert env["OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"] == "delta"


def test_kubernetes_endpoints_say_when_developers_cannot_reach_them(
    _isolated_state: Path,
) -> None:
    from stackkit.endpoint import resolve_endpoint

    cfg = StackConfig.model_validate({"target": "kubernetes", "kubernetes": {"namespace": "cc"}})
    # Not deployed from here, no client endpoint: the in-cluster name, and a warning.
    ep = resolve_endpoint(cfg)
    assert ep.url == "http://otelcol.cc.svc:4317" and "client.grpc_endpoint" in (ep.note or "")
    # Deployed with a ClusterIP Service: still in-cluster only, and said so.
    folder = _isolated_state / cfg.name
    folder.mkdir(mode=0o700, exist_ok=True)
    (folder / "outputs.json").write_text(
        json.dumps(
            {"otlp_endpoints": {"grpc": "http://otelcol.cc.svc:4317"}, "exposure": "ClusterIP"}
        )
    )
    (folder / "outputs.json").chmod(0o600)
    assert "only inside the cluster" in (resolve_endpoint(cfg).note or "")
    # A NodePort reaches the node: no warning; a configured client endpoint wins over outputs.
    (folder / "outputs.json").write_text(
        json.dumps({"otlp_endpoints": {"grpc": "http://10.0.0.5:31317"}, "exposure": "NodePort"})
    )
    ep = resolve_endpoint(cfg)
    assert (ep.url, ep.note) == ("http://10.0.0.5:31317", None)
    shared = StackConfig.model_validate(
        {"target": "kubernetes", "client": {"grpc_endpoint": "https://otel.example.com:4317"}}
    )
    assert resolve_endpoint(shared).url == "https://otel.example.com:4317"


def test_an_ingress_host_is_the_http_endpoint_developers_get(_isolated_state: Path) -> None:
    from stackkit.endpoint import resolve_endpoint

    cfg = StackConfig.model_validate({"target": "kubernetes", "kubernetes": {"namespace": "cc"}})
    folder = _isolated_state / cfg.name
    folder.mkdir(mode=0o700, exist_ok=True)
    (folder / "outputs.json").write_text(
        json.dumps(
            {
                "otlp_endpoints": {
                    "grpc": "http://otelcol.cc.svc:4317",
                    "http/protobuf": "https://otel.example.com",
                },
                "exposure": "ClusterIP",
                "ingress_protocols": ["http/protobuf"],
            }
        )
    )
    (folder / "outputs.json").chmod(0o600)
    http = resolve_endpoint(cfg, "http/protobuf")
    assert (http.url, http.note) == ("https://otel.example.com", None)
    assert "only inside the cluster" in (resolve_endpoint(cfg, "grpc").note or "")


def test_repo_adds_the_claude_function_and_the_cache_keeps_it(tmp_path: Path) -> None:
    first = _run(["env", "--repo"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert (
        "claude() {" in first.stdout and "export CLAUDE_CODE_ENABLE_TELEMETRY='1'" in first.stdout
    )
    _plant({"format": "bash"})  # an entry exists: the second answer comes from it
    assert _run(["env", "--repo"], tmp_path).stdout == first.stdout
    assert "claude()" not in _run(["env"], tmp_path).stdout
    fish = _run(["env", "--repo", "--format", "fish"], tmp_path)
    assert "function claude --wraps claude" in fish.stdout


@pytest.mark.parametrize("fmt", ["powershell", "dotenv", "json", "managed-settings"])
def test_repo_needs_a_shell_with_functions(tmp_path: Path, fmt: str) -> None:
    out = _run(["env", "--repo", "--format", fmt], tmp_path)
    assert out.returncode == 2
    assert "--repo" in out.stderr and "needs --format bash, zsh or fish" in out.stderr
    assert "--attr git.repo=" in out.stderr and out.stdout == ""
