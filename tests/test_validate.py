"""Every rendered file passes the real tool that will read it (built by tools/, never skipped)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from stackkit.output import write
from stackkit.render import Files
from tests.fixtures.otelcol import manifest_components, validate

from .conftest import EXAMPLES, ROOT

KINDS = ("receivers", "processors", "exporters", "extensions", "connectors")
# Configs at the config's bounds: whatever validates must be accepted by the real tools too.
LIMITS = sorted((ROOT / "tests" / "limits").glob("*.yaml"))


@pytest.fixture(params=EXAMPLES + LIMITS, ids=[p.stem for p in EXAMPLES + LIMITS])
def example(request: pytest.FixtureRequest) -> Path:
    """The examples, and the limit configs, for every check in this file."""
    return request.param  # type: ignore[no-any-return]


def _out(rendered: Files, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    write(rendered, out)
    return out


def _run(cmd: list[str], cwd: Path) -> str:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def test_collector_validates_the_config(rendered: Files, otelcol_bin: Path, tmp_path: Path) -> None:
    out = _out(rendered, tmp_path)
    result = validate(
        otelcol_bin,
        (out / "otelcol/config.yaml").read_text(),
        tmp_path,
        env={"STACKKIT_OTLP_TOKEN": "validate-token"},
    )
    assert result.returncode == 0, result.stderr
    assert "deprecated" not in result.stderr.lower(), result.stderr


def test_collector_rejects_a_broken_config(otelcol_bin: Path, tmp_path: Path) -> None:
    broken = "receivers: {otlp: {protocols: {grpc: {}}}}\nservice: {pipelines: {metrics: {receivers: [otlp], exporters: [nope]}}}\n"
    assert validate(otelcol_bin, broken, tmp_path).returncode != 0


def test_promtool_checks_config_and_rules(
    rendered: Files, promtool_bin: Path, tmp_path: Path
) -> None:
    out = _out(rendered, tmp_path) / "prometheus"
    # The scrape targets are Docker/Kubernetes names; syntax and rules are what is checked here.
    text = _run([str(promtool_bin), "check", "config", "--syntax-only", "prometheus.yml"], out)
    assert "SUCCESS" in text
    text = _run(
        [str(promtool_bin), "check", "rules", "rules/recording.yml", "rules/alerts.yml"], out
    )
    assert text.count("SUCCESS") == 2


def test_promtool_runs_the_alert_unit_tests(
    rendered: Files, promtool_bin: Path, tmp_path: Path
) -> None:
    out = _out(rendered, tmp_path) / "prometheus"
    text = _run([str(promtool_bin), "test", "rules", "tests/alerts_test.yml"], out)
    assert "SUCCESS" in text


def test_promtool_catches_a_broken_alert(
    rendered: Files, promtool_bin: Path, tmp_path: Path
) -> None:
    """The unit tests can fail: break one threshold and promtool must say so."""
    out = _out(rendered, tmp_path) / "prometheus"
    alerts = out / "rules" / "alerts.yml"
    alerts.write_text(
        alerts.read_text().replace(
            "claude_code:cost_usd:increase1h >", "claude_code:cost_usd:increase1h > 1e9 *"
        )
    )
    result = subprocess.run(
        [str(promtool_bin), "test", "rules", "tests/alerts_test.yml"],
        cwd=out,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "ClaudeCodeUserSpendSpike" in result.stdout + result.stderr


def _used_components(config: dict) -> dict[str, set[str]]:  # type: ignore[type-arg]
    used = {kind: {name.split("/")[0] for name in config.get(kind) or {}} for kind in KINDS}
    used["extensions"] = {n.split("/")[0] for n in config["service"].get("extensions", [])}
    return used


def test_manifest_holds_exactly_the_components_the_configs_use() -> None:
    from stackkit.config import load_config
    from stackkit.render import render

    union: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for example in EXAMPLES:
        config = yaml.safe_load(render(load_config(example))[Path("otelcol/config.yaml")])  # type: ignore[index]
        for kind, names in _used_components(config).items():
            union[kind] |= names
    manifest = manifest_components()
    for kind in KINDS:
        assert union[kind] == manifest[kind], (
            f"{kind}: configs use {union[kind]}, manifest has {manifest[kind]}"
        )


@pytest.mark.parametrize("kind", KINDS)
def test_every_component_is_in_the_built_collector(kind: str, otelcol_bin: Path) -> None:
    from tests.fixtures.otelcol import installed_components

    assert manifest_components()[kind] <= installed_components(otelcol_bin)[kind]
