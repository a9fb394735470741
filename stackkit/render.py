"""Pure rendering: a validated config in, a mapping of relative paths to file text out.

`render` never touches the filesystem beyond reading templates; writing the files is
:mod:`stackkit.output`'s job. Output is deterministic: same config, same bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import jinja2
import yaml

from . import __version__, versions
from .config import StackConfig
from .errors import RenderError
from .layout import (
    GRAFANA_DASHBOARDS_DIR,
    GRAFANA_SECRETS_DIR,
    OTELCOL_TLS_DIR,
    PROMETHEUS_DATA,
    PROMETHEUS_DIR,
    PROMETHEUS_SECRETS_DIR,
)
from .paths import TEMPLATES_DIR
from .promql import prom_label

Files = dict[PurePosixPath, str]

# Hostnames the components use to reach each other (Docker network aliases, Kubernetes Services).
OTELCOL_HOST = "otelcol"
PROMETHEUS_HOST = "prometheus"

DATASOURCE_UID = "stackkit-prometheus"


class _Dumper(yaml.SafeDumper):
    """Plain YAML: no anchors or aliases, whatever objects repeat; files as literal blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


# Plain scalars a YAML 1.2 reader (the Go components) takes for a number, bool or null although
# PyYAML (YAML 1.1) does not: such strings are quoted.
_YAML12_NOT_STR = re.compile(
    r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|0o[0-7]+|0x[0-9a-fA-F]+"
    r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)|~|null|Null|NULL|true|True|TRUE|false|False|FALSE"
)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else ("'" if _YAML12_NOT_STR.fullmatch(value) else None)
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _to_yaml(value: Any, indent: int = 0) -> str:
    text = yaml.dump(value, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000)
    pad = " " * indent
    return "\n".join(pad + line if line else line for line in text.rstrip("\n").split("\n"))


_INI_UNSAFE = set("\r\n;#$\"'`{}\\")


def _ini(value: object) -> str:
    """A value for grafana.ini: refuses anything INI or Grafana's $__file{} would read as syntax.

    The config's types already keep such text out; this is the last line of defence.
    """
    text = str(value)
    if text != text.strip() or _INI_UNSAFE & set(text) or not text.isprintable():
        raise RenderError(f"{text!r} cannot be written to grafana.ini safely")
    return text


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["to_yaml"] = _to_yaml
    env.filters["ini"] = _ini
    return env


def _policy_statements(key: str, policy: str, prefix: str = "") -> list[str]:
    attr = f'{prefix}attributes["{key}"]'
    if policy == "drop":
        return [f'delete_key({prefix}attributes, "{key}")']
    if policy == "hash":
        return [f"set({attr}, SHA256({attr})) where {attr} != nil"]
    return []


def _promote_statements(labels: tuple[str, ...]) -> list[str]:
    # Claude Code copies OTEL_RESOURCE_ATTRIBUTES onto points itself; other senders may not.
    return [
        f'set(attributes["{k}"], resource.attributes["{k}"])'
        f' where attributes["{k}"] == nil and resource.attributes["{k}"] != nil'
        for k in labels
    ]


def _event_counts(cfg: StackConfig) -> dict[str, Any]:
    """Counts derived from Claude Code's events (log records), grouped by useful attributes."""
    common = [{"key": k, "default_value": ""} for k in cfg.attributes.labels]
    if cfg.attributes.user_id != "drop":
        common.append({"key": "user.id", "default_value": ""})

    def count(event: str, description: str, *keys: str) -> dict[str, Any]:
        own = [{"key": k, "default_value": ""} for k in keys]
        return {
            "description": description,
            "conditions": [f'body == "claude_code.{event}"'],
            "attributes": own + common,
        }

    return {
        "claude_code.api_request.count": count(
            "api_request", "Requests to the model API (from api_request events).", "model"
        ),
        "claude_code.api_error.count": count(
            "api_error",
            "Failed model API requests (from api_error events).",
            "model",
            "status_code",
        ),
        "claude_code.tool_result.count": count(
            "tool_result", "Tool runs (from tool_result events).", "tool_name", "success"
        ),
    }


def collector_context(cfg: StackConfig) -> dict[str, Any]:
    """Everything the Collector template needs, derived in Python, not in Jinja."""
    col = cfg.collector
    attrs = cfg.attributes
    merge_series = "drop" in (attrs.session_id, attrs.user_id)
    metric_statements = (
        _promote_statements(attrs.labels)
        + _policy_statements("session.id", attrs.session_id)
        + _policy_statements("user.id", attrs.user_id)
    )
    log_statements = _promote_statements(attrs.labels) + _policy_statements(
        "user.id", attrs.user_id
    )
    if merge_series:
        # Deltas from different processes now share one stream; delta-to-cumulative drops any
        # point older than the stream's last one, and independent clients interleave. The batch
        # processor hands points on one batch at a time, so stamping them on arrival keeps every
        # merged stream in order and none is lost.
        metric_statements = [
            "set(time_unix_nano, UnixNano(Now()))",
            "set(start_time_unix_nano, time_unix_nano - 1)",
            *metric_statements,
        ]
        processors = ["memory_limiter", "batch", "cumulative_to_delta", "transform/metrics"]
        processors.append("delta_to_cumulative")
    else:
        processors = ["memory_limiter"]
        if metric_statements:
            processors.append("transform/metrics")
        processors += ["delta_to_cumulative", "batch"]
    log_processors = ["memory_limiter", *(["transform/events"] if log_statements else []), "batch"]
    listeners = [(n, lc.port) for n, lc in (("grpc", col.grpc), ("http", col.http)) if lc.enabled]
    extensions = ["health_check"] + (["bearertokenauth"] if col.auth.enabled else [])
    tls = (
        {"cert_file": f"{OTELCOL_TLS_DIR}/tls.crt", "key_file": f"{OTELCOL_TLS_DIR}/tls.key"}
        if col.tls.enabled
        else None
    )
    return {
        "auth": col.auth.enabled,
        "tls": tls,
        "listeners": listeners,
        "spike_limit_mib": max(col.memory_limit_mib // 5, 16),
        "merge_series": merge_series,
        "metric_statements": metric_statements,
        "log_statements": log_statements,
        "event_counts": _event_counts(cfg),
        "metric_processors": processors,
        "log_processors": log_processors,
        "extensions": extensions,
        "telemetry_port": col.telemetry_port,
    }


def _alerting(alertmanager_url: str | None) -> dict[str, Any] | None:
    """Prometheus' alerting block for an Alertmanager URL (its path becomes path_prefix)."""
    if alertmanager_url is None:
        return None
    url = urlsplit(alertmanager_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    host = f"[{url.hostname}]" if ":" in (url.hostname or "") else url.hostname
    manager: dict[str, Any] = {
        "static_configs": [{"targets": [f"{host}:{port}"]}],
        "scheme": url.scheme,
    }
    if url.path.strip("/"):
        manager["path_prefix"] = "/" + url.path.strip("/")
    return {"alertmanagers": [manager]}


def prometheus_context(cfg: StackConfig) -> dict[str, Any]:
    """Everything the Prometheus templates need: scrape targets, labels and thresholds."""
    team = [prom_label(k) for k in cfg.attributes.labels]
    person = team + (["user_id"] if cfg.attributes.user_id != "drop" else [])
    remote_write = []
    for t in cfg.prometheus.remote_write:
        entry: dict[str, Any] = {"name": t.name, "url": t.url}
        if t.basic_auth:
            entry["basic_auth"] = {
                "username": t.basic_auth.username,
                "password_file": f"{PROMETHEUS_SECRETS_DIR}/{t.name}",
            }
        if t.bearer_token_env:
            entry["authorization"] = {"credentials_file": f"{PROMETHEUS_SECRETS_DIR}/{t.name}"}
        if t.headers:
            entry["headers"] = dict(sorted(t.headers.items()))
        remote_write.append(entry)
    alerts = cfg.alerts

    def series_labels(who: str) -> str:
        values = {**{label: f"{label}-a" for label in team}, "user_id": who}
        values |= {"model": "claude-sonnet", "session_id": f"{who}-session"}
        return ", ".join(f'{k}="{v}"' for k, v in values.items())

    def alert_labels(who: str) -> dict[str, str]:
        labels = {label: f"{label}-a" for label in team}
        if "user_id" in person:
            labels["user_id"] = who
        return {"severity": "warning", **labels}

    per_minute = {
        "spike_step": _num(alerts.user_spend_usd_per_hour / 60 * 2),
        "quiet_step": _num(alerts.user_spend_usd_per_hour / 60 / 2),
        "spike_jump": _num(alerts.user_spend_usd_per_hour * 2),
        "team_step": _num(alerts.team_spend_usd_per_hour / 60 * 2),
    }
    if alerts.monthly_budget_usd:
        per_minute["burn_step"] = f"{alerts.monthly_budget_usd / (30 * 1440) * 2:.12g}"
        per_minute["over_budget"] = _num(alerts.monthly_budget_usd * 2)
    return {
        "test_series_labels": series_labels,
        "test_alert_labels": alert_labels,
        "test_team_alert_labels": {"severity": "warning", **{k: f"{k}-a" for k in team}},
        **per_minute,
        "team_labels": ", ".join(team),
        "first_team_label": team[0] if team else "",
        "person_labels": ", ".join(person),
        "has_team": bool(team),
        "remote_write": remote_write,
        "alerting": _alerting(cfg.prometheus.alertmanager_url),
        "global": {
            "scrape_interval": cfg.prometheus.scrape_interval,
            "evaluation_interval": cfg.prometheus.evaluation_interval,
            "external_labels": {"stackkit": cfg.name},
        },
        "otelcol_exporter": f"{OTELCOL_HOST}:{cfg.collector.metrics_port}",
        "otelcol_telemetry": f"{OTELCOL_HOST}:{cfg.collector.telemetry_port}",
    }


def _num(value: float) -> str:
    # Enough digits that the alert tests' expected cents survive the largest allowed threshold.
    return f"{value:.12g}"


def prometheus_args(cfg: StackConfig) -> list[str]:
    """Command-line flags for Prometheus (shared by every target)."""
    args = [
        f"--config.file={PROMETHEUS_DIR}/prometheus.yml",
        f"--storage.tsdb.path={PROMETHEUS_DATA}",
        f"--storage.tsdb.retention.time={cfg.prometheus.retention_time}",
        f"--web.listen-address=:{cfg.prometheus.port}",
        # Series that start inside a query window count from zero (the exporter sends
        # OpenMetrics created timestamps), so increase() over a new session is exact.
        f"--enable-feature={versions.PROMETHEUS_CT_FEATURE}",
    ]
    if cfg.prometheus.retention_size:
        args.append(f"--storage.tsdb.retention.size={cfg.prometheus.retention_size}")
    return args


def render(cfg: StackConfig) -> Files:
    """Render every configuration file for ``cfg``; keys are paths relative to the output."""
    env = _environment()
    ctx: dict[str, Any] = {
        "cfg": cfg,
        "stackkit_version": __version__,
        "datasource_uid": DATASOURCE_UID,
        "prometheus_url": f"http://{PROMETHEUS_HOST}:{cfg.prometheus.port}",
        "prometheus_version": versions.PROMETHEUS_VERSION,
        "dashboards_dir": GRAFANA_DASHBOARDS_DIR,
        "grafana_secrets_dir": GRAFANA_SECRETS_DIR,
        **collector_context(cfg),
        **prometheus_context(cfg),
    }
    files: Files = {}
    try:
        for name in sorted(env.list_templates()):
            path = PurePosixPath(name)
            if path.suffix == ".j2":
                files[path.with_suffix("")] = env.get_template(name).render(ctx)
            else:
                files[path] = (TEMPLATES_DIR / name).read_text(encoding="utf-8")
    except jinja2.TemplateError as e:
        raise RenderError(f"template {getattr(e, 'name', '') or ''} failed: {e}") from e
    from .dashboards import dashboards  # the SDK import is heavy; keep it off other paths

    for name, model in dashboards(cfg).items():
        files[PurePosixPath("grafana/dashboards") / f"{name}.json"] = (
            json.dumps(model, indent=2, sort_keys=True) + "\n"
        )
    if cfg.target == "kubernetes":
        files.update(_kubernetes(cfg, files))
    return dict(sorted(files.items()))


def _kubernetes(cfg: StackConfig, files: Files) -> Files:
    from .manifests import manifests

    by_path = {str(p): t for p, t in files.items()}
    checksums = {
        component: hashlib.sha256(
            "".join(t for p, t in sorted(by_path.items()) if p.startswith(f"{component}/")).encode()
        ).hexdigest()[:16]
        for component in ("otelcol", "prometheus", "grafana")
    }
    out: Files = {}
    for path, docs in manifests(cfg, by_path, prometheus_args(cfg), checksums).items():
        header = (
            f"# Rendered by stackkit {__version__}; do not edit: change stackkit.yaml instead.\n"
        )
        if isinstance(docs, list):
            body = yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, width=1000)
        else:
            body = yaml.dump(docs, Dumper=_Dumper, sort_keys=False, width=1000)
        out[path] = header + body
    return out
