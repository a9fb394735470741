"""`stackkit status`: each component's state and health, the URLs, when telemetry last arrived."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .config import StackConfig
from .docker_api import DockerUnavailable, Engine
from .prom_client import Fetch, PrometheusError, at, http_ok, query_range
from .prometheus_auth import reader_authorization
from .state import read_outputs

COMPONENTS = ("otelcol", "prometheus", "grafana")
ACCEPTED = (
    "(sum(otelcol_receiver_accepted_metric_points) or vector(0))"
    " + (sum(otelcol_receiver_accepted_log_records) or vector(0))"
)
LOOKBACK_S = 86400.0
STEP_S = 15.0


@dataclass(frozen=True)
class Component:
    """One container: its state, its health, and whether its endpoint answers."""

    name: str
    state: str
    health: str
    answering: bool


@dataclass(frozen=True)
class Report:
    """Everything `stackkit status` prints."""

    deployed: bool
    components: tuple[Component, ...]
    urls: dict[str, str]
    last_telemetry_age_s: float | None
    problem: str | None = None
    telemetry_unknown: str | None = None
    """Why the last arrival could not be read (Prometheus not answering yet, say)."""

    @property
    def healthy(self) -> bool:
        """True when every component runs and answers."""
        return self.deployed and all(c.state == "running" and c.answering for c in self.components)


def status(cfg: StackConfig) -> Report:
    """Look at the deployed stack without changing it."""
    if cfg.target == "kubernetes":
        from .kube_status import report

        return report(cfg)
    outputs = read_outputs(cfg.name) or {}
    urls = {k: v for k, v in outputs.items() if isinstance(v, str) and k.endswith("_url")}
    try:
        containers = Engine.from_env().containers(f"stackkit.stack={cfg.name}")
    except DockerUnavailable as e:
        return Report(False, (), urls, None, problem=str(e))
    by_component = {c.get("Labels", {}).get("stackkit.component"): c for c in containers}
    probes: dict[str, str] = outputs.get("probe_urls") or _probe_urls(cfg)
    # Only the stack's Prometheus and Alertmanager check credentials (a stack up before they
    # did answers anyway).
    reader = reader_authorization(cfg.name)
    auth = {"prometheus": reader, "alertmanager": reader}
    names: tuple[str, ...] = COMPONENTS
    if cfg.runs_alertmanager:
        names = (*COMPONENTS[:2], "alertmanager", *COMPONENTS[2:])
    components = []
    for name in names:
        c = by_component.get(name)
        if c is None:
            components.append(Component(name, "missing", "-", False))
            continue
        status_text = c.get("Status", "")
        health = (
            "healthy"
            if "(healthy)" in status_text
            else ("unhealthy" if "(unhealthy)" in status_text else "no check")
        )
        state = c.get("State", "?")
        answering = (
            http_ok(probes[name], authorization=auth.get(name))
            if name in probes
            else state == "running"
        )
        components.append(Component(name, state, health, answering))
    age, unknown = None, None
    if "prometheus_url" in urls:
        try:
            last = last_arrival(at(urls["prometheus_url"], auth["prometheus"]))
            age = None if last is None else max(0.0, time.time() - last)
        except PrometheusError as e:
            unknown = str(e)
    return Report(
        bool(outputs) or bool(containers), tuple(components), urls, age, telemetry_unknown=unknown
    )


def _probe_urls(cfg: StackConfig) -> dict[str, str]:
    """The probes of a stack deployed by a release that did not record them: from the model."""
    from .deploy import build

    return build(cfg).probe_urls(cfg.docker.bind_address)


def last_arrival(prometheus_url: str | Fetch, now: float | None = None) -> float | None:
    """When the Collector last accepted data (within a day): the last step its counters grew.

    A counter that first appears counts as growth, so the very first data point is seen too.
    """
    end = now if now is not None else time.time()
    result = query_range(prometheus_url, ACCEPTED, end - LOOKBACK_S, end, STEP_S)
    if not result:
        return None
    try:
        values = [(float(t), float(v)) for t, v in result[0]["values"]]
    except (KeyError, TypeError, ValueError, IndexError):
        raise PrometheusError("Prometheus answered a range query in an unknown shape") from None
    if not values:
        return None
    last = None
    previous = 0.0 if values[0][0] > end - LOOKBACK_S + STEP_S else values[0][1]
    for t, v in values:
        if v != previous:
            last = t
        previous = v
    return last
