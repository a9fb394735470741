"""`stackkit status` without a live stack: what it says when parts are missing or silent."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from stackkit import status as status_module
from stackkit.alertmanager import AlertmanagerConfig
from stackkit.config import StackConfig
from stackkit.docker_api import Engine
from stackkit.state import OUTPUTS_FILE, StateError, read_outputs, stack_dir, write_private
from tests.fixtures import free_port


class Containers:
    def __init__(self, containers: list[dict[str, Any]]) -> None:
        self._containers = containers

    def containers(self, label: str) -> list[dict[str, Any]]:
        return self._containers


def test_silent_prometheus_is_unknown_not_none(monkeypatch: pytest.MonkeyPatch) -> None:
    closed = free_port()
    outputs = {
        "prometheus_url": f"http://127.0.0.1:{closed}",
        "grafana_url": "http://127.0.0.1:1",
        "probe_urls": {"prometheus": f"http://127.0.0.1:{closed}/-/ready"},
    }
    write_private(stack_dir("claude-code") / OUTPUTS_FILE, json.dumps(outputs))
    running = [
        {
            "Labels": {"stackkit.component": "prometheus"},
            "State": "running",
            "Status": "Up (healthy)",
        }
    ]
    monkeypatch.setattr(Engine, "from_env", classmethod(lambda cls: Containers(running)))
    report = status_module.status(StackConfig())
    assert report.last_telemetry_age_s is None
    assert report.telemetry_unknown and "did not answer" in report.telemetry_unknown
    by_name = {c.name: c for c in report.components}
    assert by_name["prometheus"].health == "healthy" and not by_name["prometheus"].answering
    assert by_name["otelcol"].state == "missing"
    assert not report.healthy


@pytest.fixture
def answering_url() -> Iterator[str]:
    """A local HTTP endpoint that answers 200, as a component's readiness probe does."""

    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


RUNNING = [
    {"Labels": {"stackkit.component": name}, "State": "running", "Status": "Up (healthy)"}
    for name in ("otelcol", "prometheus", "alertmanager", "grafana")
]


def test_probes_are_the_ones_up_recorded(
    monkeypatch: pytest.MonkeyPatch, answering_url: str
) -> None:
    """`up` records where each component answers (on the bind address it published it on);
    `status` asks exactly there, not at a localhost port of its own."""
    cfg = StackConfig.model_validate({"collector": {"health_port": free_port()}})
    components = ("otelcol", "prometheus", "alertmanager", "grafana")
    outputs = {"probe_urls": dict.fromkeys(components, answering_url)}
    write_private(stack_dir(cfg.name) / OUTPUTS_FILE, json.dumps(outputs))
    monkeypatch.setattr(Engine, "from_env", classmethod(lambda cls: Containers(RUNNING)))
    report = status_module.status(cfg)
    assert [c.name for c in report.components] == list(components)
    assert [c.answering for c in report.components] == [True, True, True, True]
    assert report.healthy


def test_a_stack_without_its_alertmanager_running_is_not_healthy(
    monkeypatch: pytest.MonkeyPatch, answering_url: str
) -> None:
    """A stack an earlier release deployed has no Alertmanager yet: `status` names it missing
    (the next `up` adds it); with alertmanager.enabled false it is not asked for."""
    cfg = StackConfig.model_validate({"collector": {"health_port": free_port()}})
    outputs = {"probe_urls": dict.fromkeys(("otelcol", "prometheus", "grafana"), answering_url)}
    write_private(stack_dir(cfg.name) / OUTPUTS_FILE, json.dumps(outputs))
    before = [c for c in RUNNING if c["Labels"]["stackkit.component"] != "alertmanager"]
    monkeypatch.setattr(Engine, "from_env", classmethod(lambda cls: Containers(before)))
    report = status_module.status(cfg)
    assert [(c.name, c.state) for c in report.components][2] == ("alertmanager", "missing")
    assert not report.healthy
    off = cfg.model_copy(update={"alertmanager": AlertmanagerConfig(enabled=False)})
    assert status_module.status(off).healthy


def test_a_stack_up_before_probes_were_recorded_is_probed_from_the_model(
    monkeypatch: pytest.MonkeyPatch, answering_url: str
) -> None:
    port = int(answering_url.rsplit(":", 1)[1].strip("/"))
    cfg = StackConfig.model_validate({"collector": {"health_port": port}})
    write_private(stack_dir(cfg.name) / OUTPUTS_FILE, json.dumps({"target": "docker"}))
    monkeypatch.setattr(Engine, "from_env", classmethod(lambda cls: Containers(RUNNING)))
    by_name = {c.name: c for c in status_module.status(cfg).components}
    assert by_name["otelcol"].answering  # the Collector's health port, on the bind address


@pytest.mark.parametrize(
    "probes",
    [["http://127.0.0.1:1/"], {"otelcol": 13133}, {"otelcol": "file:///etc/passwd"}],
    ids=["a list", "a number", "not http"],
)
def test_recorded_probes_that_up_never_writes_are_refused(probes: object) -> None:
    write_private(stack_dir("claude-code") / OUTPUTS_FILE, json.dumps({"probe_urls": probes}))
    with pytest.raises(StateError, match="probe_urls|outputs.json"):
        read_outputs("claude-code")


def test_status_keeps_long_names_in_their_column(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cluster's report names `otlp http/protobuf`: every value still starts in one column."""
    from typer.testing import CliRunner

    from stackkit.cli import app

    report = status_module.Report(
        True,
        (status_module.Component("otelcol", "running", "healthy", True),),
        {
            "prometheus_url": "http://prometheus.ns.svc:9090",
            "otlp http/protobuf": "http://otelcol.ns.svc:4318",
            "otlp grpc": "http://otelcol.ns.svc:4317",
        },
        3.0,
    )
    monkeypatch.setattr(status_module, "status", lambda cfg: report)
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    starts = {
        line.index(value)
        for line, value in zip(
            lines,
            [
                "running",
                "http://otelcol.ns.svc:4317",
                "http://otelcol.ns.svc:4318",
                "http://prometheus.ns.svc:9090",
                "last arrived",
            ],
            strict=True,
        )
    }
    assert len(starts) == 1, result.stdout
