"""A stack in a Kubernetes cluster, looked at: where developers reach it, and how it is doing.

Read-only, through :mod:`stackkit.kube_api`. Prometheus is reached through the API server's
service proxy, so `status` and `verify` need no port-forward.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from . import alertmanager, kube_api
from .config import StackConfig
from .manifests import PART_OF
from .model import OTELCOL_HOST, PROMETHEUS_HOST
from .prom_client import Fetch, PrometheusError
from .state import read_outputs
from .status import Component, Report, last_arrival

PROTOCOL_PORTS = {"grpc": "otlp-grpc", "http/protobuf": "otlp-http"}


def _node_address(cluster: kube_api.Cluster) -> str:
    nodes = cluster.get("/api/v1/nodes").get("items", [])
    for wanted in ("ExternalIP", "InternalIP", "Hostname"):
        for node in nodes:
            for a in node.get("status", {}).get("addresses", []):
                if a.get("type") == wanted and a.get("address"):
                    return str(a["address"])
    raise kube_api.KubeError("the cluster lists no node address for a NodePort")


def endpoints(cfg: StackConfig, cluster: kube_api.Cluster) -> dict[str, Any]:
    """Where developers' Claude Code and the platform team reach the stack, from the cluster."""
    ns = cfg.kubernetes.namespace
    scheme = "https" if cfg.collector.tls.enabled else "http"
    svc = cluster.get(f"/api/v1/namespaces/{ns}/services/{OTELCOL_HOST}")
    kind = svc["spec"].get("type", "ClusterIP")
    ports = {p["name"]: p for p in svc["spec"].get("ports", [])}
    host = f"{OTELCOL_HOST}.{ns}.svc"
    if kind == "NodePort":
        host = _node_address(cluster)
    elif kind == "LoadBalancer":
        ingress = svc.get("status", {}).get("loadBalancer", {}).get("ingress") or [{}]
        host = ingress[0].get("hostname") or ingress[0].get("ip") or host
    otlp = {}
    for protocol, name in PROTOCOL_PORTS.items():
        if name in ports:
            port = ports[name]["nodePort"] if kind == "NodePort" else ports[name]["port"]
            otlp[protocol] = f"{scheme}://{host}:{port}"
    grafana_url = f"http://grafana.{ns}.svc:{cfg.grafana.port}"
    ingressed: list[str] = []
    if ing := cfg.kubernetes.ingress:
        web = "https" if ing.tls_secret else "http"
        if ing.otlp_host and "http/protobuf" in otlp:
            otlp["http/protobuf"] = f"{web}://{ing.otlp_host}"
            ingressed.append("http/protobuf")
        if ing.grafana_host and cfg.grafana.mode == "deploy":
            grafana_url = f"{web}://{ing.grafana_host}"
    out = {
        "otlp_endpoints": otlp,
        "exposure": kind,
        "ingress_protocols": ingressed,
        "grafana_url": grafana_url,
        "prometheus_url": f"http://{PROMETHEUS_HOST}.{ns}.svc:{cfg.prometheus.port}",
        "namespace": ns,
        "context": cluster.context,
    }
    if cfg.runs_alertmanager:
        out["alertmanager_url"] = f"http://{alertmanager.HOST}.{ns}.svc:{cfg.alertmanager.port}"
    return out


def prometheus_fetch(cfg: StackConfig, cluster: kube_api.Cluster) -> str | Fetch:
    """Where to ask the Prometheus that holds the stack's data: through the API server's service
    proxy for one inside the cluster (stackkit's, or the one grafana.prometheus_url names by its
    Service name), else at its URL."""
    ns, service, port = cfg.kubernetes.namespace, PROMETHEUS_HOST, cfg.prometheus.port
    if cfg.prometheus.mode != "deploy" and cfg.grafana.prometheus_url:
        url = urllib.parse.urlsplit(cfg.grafana.prometheus_url)
        parts = (url.hostname or "").split(".")
        if len(parts) < 3 or parts[2] != "svc":
            return cfg.grafana.prometheus_url
        service, ns = parts[0], parts[1]
        port = url.port or (443 if url.scheme == "https" else 80)
        prefix = url.path.rstrip("/")
    else:
        prefix = ""

    def fetch(path: str, timeout: float) -> bytes:
        try:
            status, body = cluster.request(
                "GET", cluster.service_proxy(ns, service, port, prefix + path), timeout=timeout
            )
        except kube_api.KubeError as e:
            raise PrometheusError(str(e)) from None
        if status != 200:
            raise PrometheusError(f"rejected: {status} {body}")
        return json.dumps(body).encode() if not isinstance(body, str) else body.encode()

    return fetch


def report(cfg: StackConfig) -> Report:
    """`stackkit status` for a stack in a cluster: rollouts, Ready pods, restarts, the URLs and
    when telemetry last arrived."""
    outputs = read_outputs(cfg.name) or {}
    urls = {k: v for k, v in outputs.items() if isinstance(v, str) and k.endswith("_url")}
    for protocol, url in (outputs.get("otlp_endpoints") or {}).items():
        urls[f"otlp {protocol}"] = url
    try:
        cluster = kube_api.load(cfg.kubernetes.kubeconfig, cfg.kubernetes.context)
        found = workloads(cfg, cluster)
    except kube_api.KubeError as e:
        return Report(False, (), urls, None, problem=str(e))
    components = tuple(
        Component(
            w.name,
            "running" if w.rolled_out and w.ready == w.desired else (w.problem or "rolling"),
            f"{w.ready}/{w.desired} ready, {w.restarts} restarts",
            w.ready > 0,
        )
        for w in found
    )
    age, unknown = None, None
    try:
        last = last_arrival(prometheus_fetch(cfg, cluster))
        age = None if last is None else max(0.0, time.time() - last)
    except PrometheusError as e:
        unknown = str(e)
    return Report(bool(found), components, urls, age, telemetry_unknown=unknown)


@dataclass(frozen=True)
class Workload:
    """One Deployment: its rollout and its pods."""

    name: str
    desired: int
    ready: int
    updated: int
    restarts: int
    rolled_out: bool
    problem: str | None = None


def workloads(cfg: StackConfig, cluster: kube_api.Cluster) -> list[Workload]:
    """Every Deployment of the stack, with its pods' readiness and restarts."""
    ns = cfg.kubernetes.namespace
    selector = urllib.parse.quote(
        f"app.kubernetes.io/part-of={PART_OF},app.kubernetes.io/instance={cfg.name}"
    )
    deployments = cluster.get(f"/apis/apps/v1/namespaces/{ns}/deployments?labelSelector={selector}")
    pods = cluster.get(f"/api/v1/namespaces/{ns}/pods?labelSelector={selector}").get("items", [])
    out = []
    for d in sorted(deployments.get("items", []), key=lambda d: d["metadata"]["name"]):
        name = d["metadata"]["name"]
        spec, st = d.get("spec", {}), d.get("status", {})
        desired = int(spec.get("replicas", 1))
        mine = [
            p for p in pods if p["metadata"].get("labels", {}).get("app.kubernetes.io/name") == name
        ]
        restarts, problem = 0, None
        for p in mine:
            for cs in p.get("status", {}).get("containerStatuses", []) or []:
                restarts += int(cs.get("restartCount", 0))
                waiting = cs.get("state", {}).get("waiting") or {}
                if waiting.get("reason") in (
                    "CrashLoopBackOff",
                    "ImagePullBackOff",
                    "ErrImagePull",
                ):
                    last = cs.get("lastState", {}).get("terminated", {}) or {}
                    detail = last.get("message") or waiting.get("message") or ""
                    problem = f"{waiting['reason']}: {detail}".strip()
        rolled = (
            st.get("observedGeneration", 0) >= d["metadata"].get("generation", 0)
            and int(st.get("updatedReplicas", 0)) == desired
            and int(st.get("availableReplicas", 0)) == desired
        )
        out.append(
            Workload(
                name,
                desired,
                int(st.get("readyReplicas", 0)),
                int(st.get("updatedReplicas", 0)),
                restarts,
                rolled,
                problem,
            )
        )
    return out


def diagnose(cfg: StackConfig, cluster: kube_api.Cluster) -> str:
    """What keeps the stack's workloads from being Ready, and what to do about it ("" if
    nothing is known)."""
    try:
        found = workloads(cfg, cluster)
    except kube_api.KubeError:
        return ""
    lines = []
    for w in found:
        if w.problem:
            lines.append(f"\n  {w.name}: {w.problem}")
            if "permission denied" in w.problem.lower():
                lines.append(
                    f"\n  {w.name} runs as a non-root user and cannot write its volume: the "
                    "StorageClass gives volumes that root owns and ignores fsGroup (host-path "
                    "and several local provisioners do). Set kubernetes.volume_init: true (an "
                    "init container gives the volume to its user), or choose a StorageClass "
                    "that applies fsGroup (kubernetes.storage_class; most CSI drivers do)"
                )
        elif not w.rolled_out:
            lines.append(f"\n  {w.name}: {w.ready}/{w.desired} pods Ready")
    return "".join(lines)
