"""The real prometheus and promtool at PROMETHEUS_VERSION."""

from __future__ import annotations

import subprocess
import urllib.request
from pathlib import Path

from stackkit.versions import PROMETHEUS_VERSION


def test_promtool_version_is_the_pin(promtool_bin: Path) -> None:
    out = subprocess.run(
        [str(promtool_bin), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert f"promtool, version {PROMETHEUS_VERSION} " in out, out


def test_prometheus_version_is_the_pin(prometheus_bin: Path) -> None:
    out = subprocess.run(
        [str(prometheus_bin), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert f"prometheus, version {PROMETHEUS_VERSION} " in out, out


def test_promtool_checks_configs(promtool_bin: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.yml"
    good.write_text("global:\n  scrape_interval: 15s\n")
    bad = tmp_path / "bad.yml"
    bad.write_text("global:\n  scrape_interval: often\n")
    ok = subprocess.run([str(promtool_bin), "check", "config", str(good)], capture_output=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    no = subprocess.run([str(promtool_bin), "check", "config", str(bad)], capture_output=True)
    assert no.returncode != 0


def test_server_answers_queries(prometheus_server) -> None:
    prom = prometheus_server()
    assert prom.query_value("vector(1)") == 1.0
    up = prom.wait_for('up{job="prometheus"}', timeout=30)
    assert up[0]["value"][1] == "1"
    assert prom.query("absent_metric_that_does_not_exist") == []


def test_server_with_otlp_and_remote_write_receivers(prometheus_server) -> None:
    prom = prometheus_server(
        "global:\n  scrape_interval: 15s\notlp:\n  promote_resource_attributes: [service.name]\n",
        flags=[
            "--web.enable-otlp-receiver",
            "--web.enable-remote-write-receiver",
            "--enable-feature=otlp-deltatocumulative",
        ],
    )
    # An empty OTLP/protobuf request is a valid (empty) export: the endpoint exists and accepts it.
    req = urllib.request.Request(
        f"{prom.url}/api/v1/otlp/v1/metrics",
        data=b"",
        headers={"Content-Type": "application/x-protobuf"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
    flags = prom.api("status/flags")
    assert flags["web.enable-otlp-receiver"] == "true"
    assert flags["web.enable-remote-write-receiver"] == "true"
