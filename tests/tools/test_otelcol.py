"""The real collector built from tools/otelcol/manifest.yaml: its components and config checks.

The manifest is the list of components stackkit relies on; these tests hold the binary to it
(exactly those components, at the pinned version) and check that ``validate`` accepts a config
using every one of them and rejects broken ones. A component added to the manifest needs a
snippet in ``SNIPPETS`` below, or the tests say so.
"""

from __future__ import annotations

import subprocess
import urllib.request
from pathlib import Path

import pytest
import yaml

from stackkit.versions import OTELCOL_VERSION
from tests.fixtures import free_port
from tests.fixtures.otelcol import (
    KINDS,
    installed_components,
    installed_modules,
    manifest_components,
    manifest_modules,
    validate,
)

# A minimal valid configuration per component type. Since 0.161 some types are snake_case
# (delta_to_cumulative, cumulative_to_delta); the old names are deprecated aliases.
SNIPPETS: dict[str, dict] = {
    # receivers (otlp gets its endpoints in _config)
    "otlp": {},
    # processors, in the order a pipeline runs them
    "memory_limiter": {
        "check_interval": "1s",
        "limit_percentage": 80,
        "spike_limit_percentage": 20,
    },
    "filter": {"error_mode": "ignore", "metrics": {"metric": ['name == "unwanted"']}},
    "delta_to_cumulative": {},
    "cumulative_to_delta": {},
    "transform": {
        "metric_statements": [
            {"context": "datapoint", "statements": ['set(attributes["stackkit"], "yes")']}
        ]
    },
    "attributes": {"actions": [{"key": "user.email", "action": "delete"}]},
    "resource": {
        "attributes": [{"key": "deployment.environment", "value": "test", "action": "upsert"}]
    },
    "batch": {},
    "interval": {"interval": "5s"},
    # exporters (prometheus gets its endpoint in _config)
    "prometheus": {},
    "otlp_http": {"endpoint": "http://127.0.0.1:9"},
    "debug": {"verbosity": "basic"},
    # extensions (health_check gets its endpoint in _config)
    "health_check": {},
    "bearertokenauth": {"token": "test-token"},
    "file_storage": {"directory": "/tmp"},
    # connectors
    "count": {},
    "signal_to_metrics": {
        "logs": [{"name": "log.duration", "histogram": {"value": 'Double(log.attributes["ms"])'}}]
    },
}
# Processors that handle logs too (the rest are metrics-only or need signal-specific settings).
LOG_PROCESSORS = ("memory_limiter", "batch")
# What the tests below need to exist in any case.
REQUIRED = {
    "receivers": {"otlp"},
    "processors": {"memory_limiter"},
    "exporters": {"prometheus"},
    "extensions": {"health_check"},
}


def _config(health_port: int, prom_port: int) -> str:
    """A config that uses every component in the manifest, listening on loopback only."""
    have = manifest_components()
    missing = {t for kind in KINDS for t in have[kind] if t not in SNIPPETS}
    assert not missing, f"add a config snippet for {sorted(missing)} to SNIPPETS"
    for kind, types in REQUIRED.items():
        assert types <= have[kind], f"these tests need {sorted(types)} among the {kind}"

    def section(kind: str) -> dict:
        return {t: dict(SNIPPETS[t]) for t in sorted(have[kind])}

    receivers = section("receivers")
    http: dict = {"endpoint": f"127.0.0.1:{free_port()}"}
    if "bearertokenauth" in have["extensions"]:
        http["auth"] = {"authenticator": "bearertokenauth"}
    receivers["otlp"] = {
        "protocols": {"grpc": {"endpoint": f"127.0.0.1:{free_port()}"}, "http": http}
    }
    exporters = section("exporters")
    exporters["prometheus"] = {"endpoint": f"127.0.0.1:{prom_port}"}
    extensions = section("extensions")
    extensions["health_check"] = {"endpoint": f"127.0.0.1:{health_port}"}

    order = list(SNIPPETS)
    processors = sorted(have["processors"], key=order.index)
    metrics = {
        "receivers": ["otlp", *sorted(have["connectors"])],
        "processors": processors,
        "exporters": sorted(have["exporters"]),
    }
    pipelines: dict = {"metrics": metrics}
    # Connectors that turn events into metrics take the logs pipeline.
    from_logs = sorted(have["connectors"] & {"count", "signal_to_metrics"})
    if from_logs:
        pipelines["logs"] = {
            "receivers": ["otlp"],
            "processors": [p for p in processors if p in LOG_PROCESSORS],
            "exporters": from_logs + (["debug"] if "debug" in have["exporters"] else []),
        }
    config = {
        "extensions": extensions,
        "receivers": receivers,
        "processors": section("processors"),
        "exporters": exporters,
        "connectors": section("connectors"),
        "service": {
            "extensions": sorted(have["extensions"]),
            "telemetry": {"metrics": {"level": "none"}},
            "pipelines": pipelines,
        },
    }
    return yaml.safe_dump(config, sort_keys=False)


def test_manifest_components_are_named_and_required() -> None:
    have = manifest_components()
    assert set(have) == set(KINDS)
    for kind, types in REQUIRED.items():
        assert types <= have[kind]


def test_binary_has_exactly_the_manifest_components(otelcol_bin: Path) -> None:
    assert installed_components(otelcol_bin) == manifest_components()
    modules = {
        kind: set(by_name.values()) for kind, by_name in installed_modules(otelcol_bin).items()
    }
    assert modules == manifest_modules()
    for kind in KINDS:
        for module in modules[kind]:
            assert module.endswith(f" v{OTELCOL_VERSION}"), module


def test_version_is_the_pin(otelcol_bin: Path) -> None:
    out = subprocess.run(
        [str(otelcol_bin), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == f"otelcol-stackkit version {OTELCOL_VERSION}", out


def test_validate_accepts_a_config_using_every_component(otelcol_bin: Path, tmp_path: Path) -> None:
    result = validate(otelcol_bin, _config(free_port(), free_port()), tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ("- prometheus\n", "- otlphttp\n", "otlphttp"),  # a component not compiled in
        ("limit_percentage: 80", "limit_percentage: eighty", "limit_percentage"),  # bad value
        ("    processors:\n", "    processorz:\n", "processorz"),  # unknown key
    ],
    ids=["unknown-component", "bad-setting", "unknown-key"],
)
def test_validate_rejects_a_broken_config(
    otelcol_bin: Path, tmp_path: Path, old: str, new: str, named: str
) -> None:
    config = _config(free_port(), free_port())
    assert old in config
    result = validate(otelcol_bin, config.replace(old, new, 1), tmp_path)
    assert result.returncode != 0, result.stdout
    assert named in result.stderr + result.stdout


def test_collector_runs_and_reports_healthy(otelcol_process) -> None:
    health, prom = free_port(), free_port()
    col = otelcol_process(_config(health, prom), health_url=f"http://127.0.0.1:{health}/")
    assert col.alive()
    with urllib.request.urlopen(f"http://127.0.0.1:{prom}/metrics", timeout=5) as resp:
        assert resp.status == 200
    log = col.log_tail(500)
    assert "deprecated" not in log, log
