"""Rendering: deterministic, parseable, secret-free, and safe to write."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import jinja2
import pytest
import yaml

from stackkit import render as rendering
from stackkit.config import StackConfig
from stackkit.errors import RenderError
from stackkit.render import Files, render


def test_same_input_same_bytes(example_config: StackConfig) -> None:
    assert render(example_config) == render(example_config)


def test_every_file_parses_and_ends_with_one_newline(rendered: Files) -> None:
    for path, text in rendered.items():
        assert text.endswith("\n") and not text.endswith("\n\n"), path
        assert "\r" not in text and "\t" not in text, path
        if path.suffix in (".yaml", ".yml"):
            docs = list(yaml.safe_load_all(text))
            assert docs and all(isinstance(d, dict) for d in docs), path
        elif path.suffix == ".json":
            assert isinstance(json.loads(text), dict), path


def test_no_yaml_anchors(rendered: Files) -> None:
    for path, text in rendered.items():
        assert "&id0" not in text and "*id0" not in text, path


def test_secrets_never_rendered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACKKIT_OTLP_TOKEN", "tok-SECRET-1")
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", "pw-SECRET-2")
    monkeypatch.setenv("MIMIR_PASSWORD", "pw-SECRET-3")
    cfg = StackConfig.model_validate(
        {
            "grafana": {"admin_password_env": "GRAFANA_ADMIN_PASSWORD"},
            "prometheus": {
                "remote_write": [
                    {
                        "name": "mimir",
                        "url": "https://m.example/push",
                        "basic_auth": {"username": "u", "password_env": "MIMIR_PASSWORD"},
                    }
                ]
            },
        }
    )
    text = "".join(render(cfg).values())
    assert "SECRET" not in text
    assert "${env:STACKKIT_OTLP_TOKEN}" in text
    assert "password_file: /etc/prometheus/secrets/mimir" in text


def _collector(cfg: StackConfig) -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(render(cfg)[PurePosixPath("otelcol/config.yaml")])


def test_attribute_policies_shape_the_pipeline() -> None:
    keep = _collector(StackConfig())
    # The limiter first (refusals reach the client), the batch before anything that needs a
    # stream's points in order, delta-to-cumulative last.
    assert keep["service"]["pipelines"]["metrics"]["processors"] == [
        "memory_limiter",
        "filter/accepted",
        "transform/labels",
        "batch",
        "transform/streams",
        "delta_to_cumulative",
        "interval",
        "transform/departure",
    ]
    # Event counts and durations keep their totals in a table of their own, in the same order
    # of steps.
    assert keep["service"]["pipelines"]["metrics"]["receivers"] == ["otlp"]
    assert keep["service"]["pipelines"]["metrics/events"] == {
        "receivers": ["count", "signal_to_metrics"],
        "processors": [
            "batch",
            "transform/streams",
            "delta_to_cumulative/events",
            "interval",
            "transform/departure",
        ],
        "exporters": ["otlp_http/prometheus"],
    }
    assert (
        keep["processors"]["delta_to_cumulative/events"]
        == keep["processors"]["delta_to_cumulative"]
    )
    # Nothing asynchronous sits between the logs receiver and the count connector.
    assert keep["service"]["pipelines"]["logs"]["processors"] == [
        "memory_limiter",
        "transform/events",
    ]
    dropped = _collector(StackConfig.model_validate({"attributes": {"session_id": "drop"}}))
    procs = dropped["service"]["pipelines"]["metrics"]["processors"]
    # Cumulative points must become deltas before session.id goes, or totals corrupt.
    assert procs.index("batch") < procs.index("cumulative_to_delta")
    assert procs.index("cumulative_to_delta") < procs.index("transform/streams")
    assert procs.index("transform/streams") < procs.index("delta_to_cumulative")
    statements = dropped["processors"]["transform/streams"]["metric_statements"][0]["statements"]
    assert 'delete_key(datapoint.attributes, "session.id")' in statements
    hashed = _collector(StackConfig.model_validate({"attributes": {"user_id": "hash"}}))
    assert "cumulative_to_delta" not in hashed["processors"]
    assert any(
        "SHA256" in s
        for s in hashed["processors"]["transform/streams"]["metric_statements"][0]["statements"]
    )


def test_delta_streams_are_stamped_and_carry_the_collector_instance() -> None:
    statements = _collector(StackConfig())["processors"]["transform/streams"]["metric_statements"][
        0
    ]["statements"]
    assert "set(datapoint.time_unix_nano, UnixNano(Now()))" in statements
    tagged = [s for s in statements if "otelcol.instance" in s]
    assert tagged and all("AGGREGATION_TEMPORALITY_DELTA" in s for s in tagged)


@pytest.mark.parametrize(
    ("export", "exporter"),
    [
        ("otlp", "otlp_http/prometheus"),
        ("scrape", "prometheus"),
    ],
)
def test_export_chooses_the_exporter(export: str, exporter: str) -> None:
    cfg = StackConfig.model_validate({"collector": {"export": export}})
    col = _collector(cfg)
    assert list(col["exporters"]) == [exporter]
    assert col["service"]["pipelines"]["metrics"]["exporters"] == [exporter]
    queued = "file_storage/queue" in col["extensions"]
    assert queued == (export != "scrape"), "pushes queue on disk with the docker target"
    kube = _collector(
        StackConfig.model_validate({"target": "kubernetes", "collector": {"export": export}})
    )
    assert "file_storage/queue" not in kube["extensions"], "kubernetes drains a memory queue"


def test_the_collector_does_not_remote_write() -> None:
    # Measured (bench/results-load.md): slower and lossier than the OTLP push; a backend that
    # takes only remote write gets it from Prometheus.
    with pytest.raises(ValueError, match="collector.export"):
        StackConfig.model_validate({"collector": {"export": "remote_write"}})


def test_auth_and_listeners_follow_the_config() -> None:
    cfg = StackConfig.model_validate(
        {"collector": {"grpc": {"enabled": False}, "auth": {"enabled": False}}}
    )
    col = _collector(cfg)
    assert list(col["receivers"]["otlp"]["protocols"]) == ["http"]
    assert "bearertokenauth" not in col["extensions"]
    assert "auth" not in col["receivers"]["otlp"]["protocols"]["http"]


def test_templates_fail_on_undefined_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken.yaml.j2").write_text("value: {{ no_such_name }}\n")
    monkeypatch.setattr(rendering, "TEMPLATES_DIR", tmp_path)
    with pytest.raises(RenderError, match="no_such_name"):
        render(StackConfig())


def test_non_template_files_are_copied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "static.txt").write_text("{{ kept as is }}\n")
    monkeypatch.setattr(rendering, "TEMPLATES_DIR", tmp_path)
    assert render(StackConfig())[PurePosixPath("static.txt")] == "{{ kept as is }}\n"


def test_jinja_environment_is_strict() -> None:
    env = rendering._environment()
    assert env.undefined is jinja2.StrictUndefined


def _prometheus(cfg: StackConfig) -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(render(cfg)[PurePosixPath("prometheus/prometheus.yml")])


@pytest.mark.parametrize("name", ["null", "true", "no", "123", "1e5", "0x1f", "claude-code"])
def test_stack_names_stay_strings_in_yaml(name: str) -> None:
    text = render(StackConfig(name=name))[PurePosixPath("prometheus/prometheus.yml")]
    assert yaml.safe_load(text)["global"]["external_labels"] == {"stackkit": name}
    if name != "claude-code":  # YAML 1.2 readers (Go) take 1e5 and 0x1f for numbers
        assert f"stackkit: '{name}'" in text


@pytest.mark.parametrize(
    ("url", "alerting"),
    [
        ("http://am:9093", {"targets": ["am:9093"], "scheme": "http"}),
        ("https://am.example.com", {"targets": ["am.example.com:443"], "scheme": "https"}),
        ("http://am", {"targets": ["am:80"], "scheme": "http"}),
        ("http://[::1]:9093/", {"targets": ["[::1]:9093"], "scheme": "http"}),
        (
            "https://am:9093/alertmanager/",
            {"targets": ["am:9093"], "scheme": "https", "path_prefix": "/alertmanager"},
        ),
    ],
)
def test_alertmanager_url_becomes_data(url: str, alerting: dict) -> None:  # type: ignore[type-arg]
    cfg = StackConfig.model_validate({"prometheus": {"alertmanager_url": url}})
    (manager,) = _prometheus(cfg)["alerting"]["alertmanagers"]
    assert {"targets": manager.pop("static_configs")[0]["targets"], **manager} == alerting


def test_grafana_ini_refuses_syntax_that_slipped_past_the_config() -> None:
    """Defence in depth: a config built without validation still cannot inject settings."""
    grafana = StackConfig().grafana.model_copy(update={"admin_user": "x\n[security]\na = b"})
    cfg = StackConfig().model_copy(update={"grafana": grafana})
    with pytest.raises(RenderError, match="cannot be written to grafana.ini safely"):
        render(cfg)


def test_grafana_ini_holds_the_user_and_url_on_their_lines() -> None:
    cfg = StackConfig.model_validate(
        {"grafana": {"admin_user": "ops@example.com", "root_url": "https://g.example.com/x/"}}
    )
    ini = render(cfg)[PurePosixPath("grafana/grafana.ini")]
    assert "\nadmin_user = ops@example.com\n" in ini
    assert "\nroot_url = https://g.example.com/x/\n" in ini
    assert "\nadmin_password = $__file{/etc/grafana/secrets/admin-password}\n" in ini


def test_content_and_unknown_keys_go_first_thing_on_every_signal() -> None:
    """Prompt text, responses, tool parameters and content, raw bodies, workspace paths: no
    key that carries them is kept, and the keeping comes before anything reads an attribute."""
    from stackkit.collector import EVENT_ATTRIBUTES, POINT_ATTRIBUTES, RESOURCE_ATTRIBUTES

    content = {
        "prompt",
        "tool_parameters",
        "tool_input",
        "tool_output",
        "response",
        "content",
        "body",
        "workspace.host_paths",
        "error",
    }
    kept = set(EVENT_ATTRIBUTES) | set(POINT_ATTRIBUTES) | set(RESOURCE_ATTRIBUTES)
    assert not content & kept
    col = _collector(StackConfig())
    for processor, context, kind in (
        ("transform/events", "log", "log_statements"),
        ("transform/labels", "datapoint", "metric_statements"),
    ):
        resource, own = col["processors"][processor][kind]
        assert resource["context"] == "resource"
        assert resource["statements"][0].startswith("keep_keys(resource.attributes, [")
        assert own["context"] == context
        assert own["statements"][0].startswith(f"keep_keys({context}.attributes, [")
    assert col["service"]["pipelines"]["logs"]["processors"][1] == "transform/events"
    # No pipeline takes traces: the beta spans, which can carry content, are refused.
    assert {p.split("/")[0] for p in col["service"]["pipelines"]} == {"metrics", "logs"}
