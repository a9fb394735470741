"""Pure rendering: a validated config in, a mapping of relative paths to file text out.

`render` never touches the filesystem beyond reading templates; writing the files is
:mod:`stackkit.output`'s job. Output is deterministic: same config, same bytes.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import jinja2
import yaml

from . import __version__, alertmanager, collector, versions
from .config import StackConfig
from .errors import RenderError
from .fields import prometheus_ms
from .model import (
    GRAFANA_DASHBOARDS_DIR,
    GRAFANA_PROMETHEUS_PASSWORD,
    GRAFANA_SECRETS_DIR,
    OTELCOL_HOST,
    PROMETHEUS_HOST,
    PROMETHEUS_PASSWORD_FILE,
    PROMETHEUS_READER_USER,
    PROMETHEUS_SECRETS_DIR,
    grafana_uses_own_prometheus,
    prometheus_protected,
)
from .paths import TEMPLATES_DIR
from .promql import anchor, prom_label

Files = dict[PurePosixPath, str]

DATASOURCE_UID = "stackkit-prometheus"
HEADER = (
    "# {what}, rendered by stackkit {version}.\n"
    "# Do not edit: change stackkit.yaml and run `stackkit render` again.\n"
)


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


def to_yaml(value: Any, indent: int = 0) -> str:
    """YAML for ``value`` (keys in the given order), every line indented by ``indent``."""
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
    env.filters["to_yaml"] = to_yaml
    env.filters["ini"] = _ini
    return env


def _alerting(cfg: StackConfig) -> dict[str, Any] | None:
    """Prometheus' alerting block: the stack's Alertmanager (with the reading account's
    password where it checks one), else the configured URL (its path becomes path_prefix)."""
    if cfg.runs_alertmanager:
        own: dict[str, Any] = {
            "static_configs": [{"targets": [f"{alertmanager.HOST}:{cfg.alertmanager.port}"]}]
        }
        if prometheus_protected(cfg):
            own["basic_auth"] = {
                "username": PROMETHEUS_READER_USER,
                "password_file": PROMETHEUS_PASSWORD_FILE,
            }
        return {"alertmanagers": [own]}
    alertmanager_url = cfg.prometheus.alertmanager_url
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


def storage_silence(cfg: StackConfig) -> float:
    """How long Prometheus may store no scrape at all before it counts as unable to write.

    Five scrape intervals, and at least 30 s: a target missing a scrape or two, or a busy
    machine delaying them, is not a full volume. A full or failing volume rolls back every
    write, the failure counters' own samples included, so the silence is the only sign of it a
    rule can see.
    """
    return max(prometheus_ms(cfg.prometheus.scrape_interval) * 5 / 1000, 30.0)


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
    silence = storage_silence(cfg)

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
        "anchored": anchor(cfg),
        "storage_silence": f"{silence:g}s",
        # promtool tests run minute by minute: the silence plus its `for`, in whole minutes.
        "storage_silence_fires_after_m": math.ceil(2 * silence / 60) + 1,
        "alerting": _alerting(cfg),
        "global": {
            "scrape_interval": cfg.prometheus.scrape_interval,
            "evaluation_interval": cfg.prometheus.evaluation_interval,
            "external_labels": {"stackkit": cfg.name},
        },
        **_scrape_targets(cfg),
    }


def _scrape_targets(cfg: StackConfig) -> dict[str, Any]:
    """How Prometheus finds every Collector: by name on Docker; on Kubernetes each replica,
    through the headless Service's DNS records (no API access, so no service-account token)."""
    col = cfg.collector
    if cfg.target == "kubernetes":
        name = f"{OTELCOL_HOST}-pods.{cfg.kubernetes.namespace}.svc"
        return {
            "otelcol_dns_name": name,
            "otelcol_telemetry_port": col.telemetry_port,
            "otelcol_metrics_port": col.metrics_port,
        }
    return {
        "otelcol_dns_name": None,
        "otelcol_telemetry": f"{OTELCOL_HOST}:{col.telemetry_port}",
        "otelcol_exporter": f"{OTELCOL_HOST}:{col.metrics_port}",
    }


def _num(value: float) -> str:
    # Enough digits that the alert tests' expected cents survive the largest allowed threshold.
    return f"{value:.12g}"


def grafana_datasource_url(cfg: StackConfig) -> str:
    """The Prometheus Grafana queries: the configured one, else the stack's own (by a name that
    resolves anywhere in the cluster on Kubernetes, where Grafana may run in another namespace)."""
    if cfg.grafana.prometheus_url:
        return cfg.grafana.prometheus_url
    host = PROMETHEUS_HOST
    if cfg.target == "kubernetes":
        host = f"{PROMETHEUS_HOST}.{cfg.kubernetes.namespace}.svc"
    return f"http://{host}:{cfg.prometheus.port}"


def render(cfg: StackConfig) -> Files:
    """Render every configuration file for ``cfg``; keys are paths relative to the output."""
    env = _environment()
    ctx: dict[str, Any] = {
        "cfg": cfg,
        "stackkit_version": __version__,
        "datasource_uid": DATASOURCE_UID,
        "prometheus_url": grafana_datasource_url(cfg),
        "prometheus_version": versions.PROMETHEUS_VERSION,
        "dashboards_dir": GRAFANA_DASHBOARDS_DIR,
        "grafana_secrets_dir": GRAFANA_SECRETS_DIR,
        "prometheus_reader": PROMETHEUS_READER_USER,
        "prometheus_password_file": (
            PROMETHEUS_PASSWORD_FILE if prometheus_protected(cfg) else None
        ),
        "grafana_prometheus_password_file": (
            GRAFANA_PROMETHEUS_PASSWORD if grafana_uses_own_prometheus(cfg) else None
        ),
        "alertmanager": alertmanager.config(cfg.alertmanager),
        **prometheus_context(cfg),
    }
    files: Files = {}
    try:
        for name in sorted(env.list_templates()):
            path = PurePosixPath(name)
            if path.parts[0] == "alertmanager" and not cfg.runs_alertmanager:
                continue
            if path.suffix == ".j2":
                files[path.with_suffix("")] = env.get_template(name).render(ctx)
            else:
                files[path] = (TEMPLATES_DIR / name).read_text(encoding="utf-8")
    except jinja2.TemplateError as e:
        raise RenderError(f"template {getattr(e, 'name', '') or ''} failed: {e}") from e
    files[PurePosixPath("otelcol/config.yaml")] = (
        HEADER.format(what="OpenTelemetry Collector for Claude Code telemetry", version=__version__)
        + to_yaml(collector.config(cfg))
        + "\n"
    )
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
    from .model import build

    by_path = {str(p): t for p, t in files.items()}
    stack = build(cfg, by_path)
    out: Files = {}
    for path, docs in manifests(cfg, stack, by_path).items():
        header = (
            f"# Rendered by stackkit {__version__}; do not edit: change stackkit.yaml instead.\n"
        )
        body = yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, width=1000)
        out[PurePosixPath(path)] = header + body
    return out
