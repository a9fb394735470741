"""`stackkit status` without a live stack: what it says when parts are missing or silent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stackkit import status as status_module
from stackkit.config import StackConfig
from stackkit.docker_api import Engine
from stackkit.state import OUTPUTS_FILE, stack_dir, write_private
from tests.fixtures import free_port


class Containers:
    def __init__(self, containers: list[dict[str, Any]]) -> None:
        self._containers = containers

    def containers(self, label: str) -> list[dict[str, Any]]:
        return self._containers


def test_silent_prometheus_is_unknown_not_none(monkeypatch: pytest.MonkeyPatch) -> None:
    closed = free_port()
    outputs = {"prometheus_url": f"http://127.0.0.1:{closed}", "grafana_url": "http://127.0.0.1:1"}
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
