"""A stack in a Kubernetes cluster, looked at: where developers reach it, and how it is doing.

Read-only, through :mod:`stackkit.kube_api`. Prometheus is reached through the API server's
service proxy, so `status` and `verify` need no port-forward.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

from . import kube_api
from .config import StackConfig
from .manifests import PART_OF
from .model import OTELCOL_HOST, PROMETHEUS_HOST

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
    return {
        "otlp_endpoints": otlp,
        "exposure": kind,
        "grafana_url": f"http://grafana.{ns}.svc:{cfg.grafana.port}",
        "prometheus_url": f"http://{PROMETHEUS_HOST}.{ns}.svc:{cfg.prometheus.port}",
        "namespace": ns,
        "context": cluster.context,
    }


def prometheus_query(
    cfg: StackConfig, cluster: kube_api.Cluster, promql: str, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """An instant query to the stack's Prometheus through the API server's service proxy."""
    path = cluster.service_proxy(
        cfg.kubernetes.namespace,
        PROMETHEUS_HOST,
        cfg.prometheus.port,
        "/api/v1/query?" + urllib.parse.urlencode({"query": promql}),
    )
    status, body = cluster.request("GET", path, timeout=timeout)
    if status != 200 or not isinstance(body, dict) or body.get("status") != "success":
        raise kube_api.KubeError(f"Prometheus (through the API server) answered {status}: {body}")
    result = body["data"]["result"]
    if body["data"]["resultType"] == "scalar":
        return [{"metric": {}, "value": result}]
    return list(result)


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
