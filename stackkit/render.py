"""Pure rendering: a validated config in, a mapping of relative paths to file text out.

`render` never touches the filesystem beyond reading templates; `write` is the only I/O and
replaces the output directory's stackkit files atomically enough that a failure leaves the old
files in place. Output is deterministic: same config, same bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import jinja2
import yaml

from . import __version__, collector, versions
from .config import StackConfig
from .errors import RenderError
from .model import (
    GRAFANA_DASHBOARDS_DIR,
    GRAFANA_SECRETS_DIR,
    OTELCOL_HOST,
    PROMETHEUS_HOST,
    PROMETHEUS_SECRETS_DIR,
)
from .paths import TEMPLATES_DIR
from .promql import prom_label

Files = dict[PurePosixPath, str]

DATASOURCE_UID = "stackkit-prometheus"
HEADER = "# {what}, rendered by stackkit {version}.\n# Do not edit: change stackkit.yaml and run `stackkit render` again.\n"


class _Dumper(yaml.SafeDumper):
    """Plain YAML: no anchors or aliases, whatever objects repeat; files as literal blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(value: Any, indent: int = 0) -> str:
    """YAML for ``value`` (keys in the given order), every line indented by ``indent``."""
    text = yaml.dump(value, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000)
    pad = " " * indent
    return "\n".join(pad + line if line else line for line in text.rstrip("\n").split("\n"))


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
    return env


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
    return f"{value:.6g}"


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

    stack = build(cfg, {str(p): t for p, t in files.items()})
    out: Files = {}
    for path, docs in manifests(cfg, stack).items():
        header = f"# Rendered by stackkit {__version__}; do not edit: change stackkit.yaml instead.\n"
        body = yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, width=1000)
        out[PurePosixPath(path)] = header + body
    return out


MANIFEST = ".stackkit-files"


@dataclass(frozen=True)
class Changes:
    """What `write` did to the output directory, by relative path."""

    created: tuple[str, ...]
    updated: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: int


def write(files: Mapping[PurePosixPath, str], out: Path) -> Changes:
    """Write ``files`` under ``out``; stale files from an earlier render are removed.

    Everything is first written to a sibling temporary directory, then moved into place, so a
    failure part-way leaves the previous output untouched. Files stackkit did not write (listed
    in ``.stackkit-files`` from the last run) are left alone.
    """
    out = out.resolve()
    if out.exists() and not out.is_dir():
        raise RenderError(f"{out} exists and is not a directory; choose another -o")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".stackkit-render-", dir=out.parent))
    except OSError as e:
        raise RenderError(f"cannot write to {out.parent}: {e.strerror or e}") from None
    created, updated = [], []
    try:
        for rel, text in files.items():
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8", newline="\n")
            old = out / rel
            if not old.is_file():
                created.append(str(rel))
            elif old.read_text(encoding="utf-8") != text:
                updated.append(str(rel))
        (staging / MANIFEST).write_text("".join(f"{p}\n" for p in files), encoding="utf-8")
        stale = sorted(_previous_files(out) - set(files))
        out.mkdir(exist_ok=True)
        for rel in stale:
            (out / rel).unlink(missing_ok=True)
        for rel in [*files, PurePosixPath(MANIFEST)]:
            dest = out / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / rel, dest)
    except OSError as e:
        raise RenderError(f"cannot write to {out}: {e.strerror or e}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    unchanged = len(files) - len(created) - len(updated)
    return Changes(tuple(created), tuple(updated), tuple(map(str, stale)), unchanged)


def _previous_files(out: Path) -> set[PurePosixPath]:
    try:
        lines = (out / MANIFEST).read_text(encoding="utf-8").splitlines()
    except OSError:
        return set()
    return {PurePosixPath(line) for line in lines if line and ".." not in line}
