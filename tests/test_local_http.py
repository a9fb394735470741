"""Requests to the stack on this machine bypass a proxy from the environment; others keep it."""

from __future__ import annotations

import http.server
import threading
import urllib.request
from collections.abc import Iterator

import pytest

from stackkit import local_http
from stackkit.prom_client import http_ok, query
from tests.fixtures import free_port


@pytest.fixture
def server() -> Iterator[tuple[int, list[str]]]:
    """A server that answers every GET with a Prometheus result, recording the request line."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            body = b'{"status": "success", "data": {"resultType": "vector", "result": []}}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1], seen
    srv.shutdown()


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://localhost:9090", True),
        ("http://LOCALHOST.:9090/x", True),
        ("http://127.0.0.1:9090", True),
        ("http://127.1.2.3", True),
        ("http://[::1]:4318/v1/metrics", True),
        ("http://127.0.0.1.evil.example:9090", False),
        ("http://localhost@evil.example/", False),
        ("http://10.0.0.5:9090", False),
        ("http://prometheus.monitoring.svc:9090", False),
        ("not a url", False),
    ],
)
def test_what_counts_as_this_machine(url: str, loopback: bool) -> None:
    assert local_http.is_loopback(url) is loopback


def test_a_proxy_in_the_environment_does_not_stand_between_stackkit_and_its_stack(
    monkeypatch: pytest.MonkeyPatch, server: tuple[int, list[str]]
) -> None:
    port, seen = server
    dead = f"http://127.0.0.1:{free_port()}"  # a corporate proxy that cannot reach loopback
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(var, dead)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert http_ok(f"http://127.0.0.1:{port}/-/ready")
    assert query(f"http://localhost:{port}", "up") == []
    assert seen == ["/-/ready", "/api/v1/query?query=up"]


def test_other_hosts_still_go_through_the_proxy(
    monkeypatch: pytest.MonkeyPatch, server: tuple[int, list[str]]
) -> None:
    port, seen = server
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert http_ok("http://prometheus.example.invalid:9090/-/ready")
    assert seen == ["http://prometheus.example.invalid:9090/-/ready"]


def test_proxy_settings_are_read_for_each_request(
    monkeypatch: pytest.MonkeyPatch, server: tuple[int, list[str]]
) -> None:
    """Nothing caches the proxy of one moment: a later request sees today's environment.

    ``urllib.request.urlopen`` keeps the proxies of its first call for the whole process; a
    proxy set (and gone) once must not stand in front of every later request.
    """
    port, seen = server
    monkeypatch.setattr(urllib.request, "_opener", None)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{port}")
    assert http_ok("http://prometheus.example.invalid:9090/-/ready")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{free_port()}")
    assert not http_ok("http://prometheus.example.invalid:9090/-/ready")
    assert seen == ["http://prometheus.example.invalid:9090/-/ready"]
    assert urllib.request._opener is None  # the process-wide opener was never installed
