"""Hostile inputs through the CLI: one `error:` line, exit 2 (config) or 1 (environment), no
traceback, nothing half-written. The config's own problems are in test_config*.py, state files
in test_state.py, the output folder in test_output.py; this file covers what reaches the CLI from
elsewhere (files given as flags, DOCKER_HOST, a Docker engine or Prometheus that answers
nonsense, the shell's OTEL_* variables, a vanished working folder)."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from stackkit.cli import app
from stackkit.state import OUTPUTS_FILE, stack_dir, write_private

from .conftest import ROOT

runner = CliRunner()


def one_error(result: Result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and result.stderr.splitlines()[-1] == errors[0], result.stderr
    assert "Traceback" not in result.output
    return errors[0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x01\x02\xff" * 100, "binary data, not YAML text"),
        (b"[" * 50_000, "nested too deeply"),
        (b"name: a\nname: b\n", "line 2: duplicate key 'name' (first on line 1)"),
        (b"name: caf\xe9\n", "not UTF-8 text"),
    ],
)
@pytest.mark.parametrize("command", [["render", "-o", "out"], ["env"], ["up"], ["status"]])
def test_bad_config_files(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    content: bytes,
    message: str,
    command: list[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_bytes(content)
    line = one_error(runner.invoke(app, [*command, "-c", "bad.yaml"]), 2)
    assert line.startswith("error: invalid configuration: bad.yaml: ") and message in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("config", ["/dev/zero", "/etc", "/nonexistent/stackkit.yaml"])
def test_config_paths_that_are_no_config(tmp_path: Path, config: str) -> None:
    line = one_error(runner.invoke(app, ["render", "-c", config, "-o", str(tmp_path / "o")]), 2)
    assert f": {config}: " in line
    assert not (tmp_path / "o").exists()


def test_a_directory_where_render_writes_a_file(tmp_path: Path) -> None:
    (tmp_path / "out" / "otelcol" / "config.yaml").mkdir(parents=True)
    line = one_error(runner.invoke(app, ["render", "-o", str(tmp_path / "out")]), 1)
    assert "otelcol/config.yaml is a folder where stackkit writes a file; move it away" in line
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["otelcol"]


def test_a_binary_file_where_render_writes_is_replaced_only_if_stackkit_wrote_it(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    (out / "otelcol").mkdir(parents=True)
    (out / "otelcol" / "config.yaml").write_bytes(b"\xff\xfe\x00\x01")
    line = one_error(runner.invoke(app, ["render", "-o", str(out)]), 1)
    assert "already holds otelcol/config.yaml, which stackkit did not write" in line
    assert (out / "otelcol" / "config.yaml").read_bytes() == b"\xff\xfe\x00\x01"
    (out / "otelcol" / "config.yaml").unlink()
    assert runner.invoke(app, ["render", "-o", str(out)]).exit_code == 0
    (out / "otelcol" / "config.yaml").write_bytes(b"\xff\xfe\x00\x01")
    result = runner.invoke(app, ["render", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "updated otelcol/config.yaml" in result.stderr


# --- DOCKER_HOST and what answers there -----------------------------------------------------


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("tcp://localhost:abc", "DOCKER_HOST=tcp://localhost:abc is not an address"),
        ("tcp://localhost:99999", "is not an address"),
        ("tcp://[::1", "is not an address"),
        ("ssh://builder", "unsupported DOCKER_HOST scheme 'ssh'"),
        ("unix://", "names no socket path"),
        ("tcp://", "names no host"),
        ("unix:///nonexistent/docker.sock", "no Docker engine answers"),
    ],
)
@pytest.mark.parametrize("command", ["status", "up", "preview", "down"])
def test_docker_host_that_is_no_engine(
    monkeypatch: pytest.MonkeyPatch, host: str, message: str, command: str
) -> None:
    monkeypatch.setenv("DOCKER_HOST", host)
    assert message in one_error(runner.invoke(app, [command]), 1)


@pytest.fixture
def fake_server() -> Iterator[list[tuple[int, str, bytes]]]:
    """An HTTP server answering every request with the (status, content type, body) given."""
    answer: list[tuple[int, str, bytes]] = [(200, "text/plain", b"OK")]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, content_type, body = answer[0]
            if status == 0:
                self.wfile.write(body)  # not even HTTP
                return
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    answer.append((server.server_address[1], "", b""))
    yield answer
    server.shutdown()


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (0, b"garbage\r\n\r\n", "no Docker engine answers"),
        (200, b"not json!", "is not a Docker engine"),
        (200, b'{"a": 1,', "is not a Docker engine"),
    ],
)
@pytest.mark.parametrize("command", ["status", "up", "preview"])
def test_an_engine_answering_nonsense(
    monkeypatch: pytest.MonkeyPatch,
    fake_server: list[tuple[int, str, bytes]],
    status: int,
    body: bytes,
    message: str,
    command: str,
) -> None:
    fake_server[0] = (status, "application/json", body)
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{fake_server[1][0]}")
    assert message in one_error(runner.invoke(app, [command]), 1)


@pytest.mark.parametrize(
    "body",
    [
        b"[1, 2]",
        b'[{"Labels": null, "Ports": "x", "State": 3}]',
        b'[{"Ports": [{"PublicPort": "80"}]}]',
    ],
)
def test_containers_in_a_strange_shape_are_read_safely(
    monkeypatch: pytest.MonkeyPatch, fake_server: list[tuple[int, str, bytes]], body: bytes
) -> None:
    fake_server[0] = (200, "application/json", body)
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{fake_server[1][0]}")
    result = runner.invoke(app, ["status"])
    assert (
        result.exit_code == 1
        and result.exception is None
        or isinstance(result.exception, SystemExit)
    )
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"status": "success", "data": 5}', b'{"status": "success"}']
)
def test_a_prometheus_answering_nonsense(
    monkeypatch: pytest.MonkeyPatch, fake_server: list[tuple[int, str, bytes]], body: bytes
) -> None:
    from stackkit.prom_client import PrometheusError, query, query_range
    from stackkit.status import last_arrival

    fake_server[0] = (200, "application/json", body)
    url = f"http://127.0.0.1:{fake_server[1][0]}"
    for call in (lambda: query(url, "up"), lambda: query_range(url, "up", 0, 1, 1)):
        with pytest.raises(PrometheusError):
            call()
    fake_server[0] = (200, "application/json", b'{"status":"success","data":{"result":[{"x":1}]}}')
    with pytest.raises(PrometheusError, match="unknown shape"):
        last_arrival(url)


# --- the shell's OTEL_* variables, for `stackkit verify` ---------------------------------------

BASE = {"CLAUDE_CODE_ENABLE_TELEMETRY": "1", "OTEL_METRICS_EXPORTER": "otlp"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://h:abc"},
            "is not a URL",
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "notaurl",
            },
            "is not a URL",
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://[::1",
            },
            "is not a URL",
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1",
                "OTEL_EXPORTER_OTLP_HEADERS": "a=b\nc",
            },
            "control characters",
        ),
        # a token that cannot travel in the header: split at ',', decoded at '%', cut at ' '
        # (issue 17): the Collector refuses what is left, so say so before sending anything
        (
            {
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1",
                "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer abcdefgh,ijklmnop",
            },
            "OTEL_EXPORTER_OTLP_HEADERS cannot carry the token: it holds an item with no '='",
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1",
                "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer abcdefgh%41ijklmnop",
            },
            "its bearer token contains '%', which the client changes or cuts; a token may hold "
            "only letters A-Z a-z, digits 0-9 and - . _ ~",
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1",
                "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer abcdefgh ijklmnop",
            },
            "its bearer token contains ' '",
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "https://127.0.0.1:1",
                "OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/ca.pem",
            },
            "OTEL_EXPORTER_OTLP_CERTIFICATE=/nonexistent/ca.pem is not a readable file",
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "https://127.0.0.1:1",
                "NODE_EXTRA_CA_CERTS": "/nonexistent/ca.pem",
            },
            "NODE_EXTRA_CA_CERTS=/nonexistent/ca.pem is not a readable file",
        ),
    ],
)
def test_verify_with_hostile_variables(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for key, value in {**BASE, **env}.items():
        monkeypatch.setenv(key, value)
    line = one_error(runner.invoke(app, ["verify", "--timeout", "1"]), 1)
    assert line.startswith("error: step 1/4 (environment): ") and message in line


# --- what the state folder says about the deployed stack ------------------------------------


def test_a_planted_prometheus_url_with_credentials_is_refused() -> None:
    write_private(
        stack_dir("claude-code") / OUTPUTS_FILE,
        json.dumps({"prometheus_url": "http://user:pass@evil.example.com:9090"}),
    )
    assert "holds credentials" in one_error(runner.invoke(app, ["verify"]), 1)


# --- a working folder that no longer exists (a real process: CliRunner keeps its own cwd) ---


@pytest.mark.parametrize("command", [["env"], ["render", "-o", "out"], ["status"]])
def test_a_vanished_working_folder(tmp_path: Path, command: list[str]) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    script = f"import os, runpy, sys; os.chdir({str(gone)!r}); os.rmdir({str(gone)!r}); "
    script += (
        f"sys.argv = ['stackkit', *{command!r}]; runpy.run_module('stackkit', run_name='__main__')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == (
        "error: the current folder no longer exists: cd to an existing folder and run again\n"
    )
