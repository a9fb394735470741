"""Kubernetes manifests for the stack, built as data (rendered for `--target kubernetes`).

The rendered configuration files go into ConfigMaps; secrets are referenced by name and never
written: the token, the Grafana password, remote-write credentials and TLS files live in Secrets
the platform team creates (the README of the output says how). A GitOps repository can commit the
folder and apply it with `kubectl apply -k`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from . import layout
from .config import StackConfig

TOKEN_SECRET = "stackkit-otlp-token"
GRAFANA_SECRET = "stackkit-grafana-admin"
REMOTE_WRITE_SECRET = "stackkit-remote-write"
TLS_SECRET = "stackkit-otlp-tls"


def _labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": component, "app.kubernetes.io/part-of": "stackkit"}


def _key(path: str) -> str:
    """A ConfigMap key for a file path (keys cannot hold slashes)."""
    return path.replace("/", "__")


def _config_map(name: str, files: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": _labels(name.rsplit("-", 1)[0])},
        "data": {_key(p): text for p, text in sorted(files.items())},
    }


def _files_volume(name: str, files: Mapping[str, str]) -> dict[str, Any]:
    return {
        "name": "config",
        "configMap": {
            "name": name,
            "items": [{"key": _key(p), "path": p} for p in sorted(files)],
        },
    }


def _deployment(
    component: str, pod: dict[str, Any], annotations: Mapping[str, str] | None = None
) -> dict[str, Any]:
    template_meta: dict[str, Any] = {"labels": _labels(component)}
    if annotations:
        template_meta["annotations"] = dict(annotations)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": component, "labels": _labels(component)},
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": _labels(component)},
            "template": {"metadata": template_meta, "spec": pod},
        },
    }


def _service(component: str, ports: Mapping[str, int], kind: str = "ClusterIP") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": component, "labels": _labels(component)},
        "spec": {
            "type": kind,
            "selector": _labels(component),
            "ports": [
                {"name": name, "port": port, "targetPort": port, "protocol": "TCP"}
                for name, port in ports.items()
            ],
        },
    }


def _claim(component: str, size: str, storage_class: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
    }
    if storage_class:
        spec["storageClassName"] = storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": f"{component}-data", "labels": _labels(component)},
        "spec": spec,
    }


def _http_probe(path: str, port: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": 10, "failureThreshold": 6}


def manifests(
    cfg: StackConfig,
    files: Mapping[str, str],
    prometheus_args: list[str],
    checksums: Mapping[str, str],
) -> dict[PurePosixPath, Any]:
    """Every manifest, by output path; ``checksums`` roll a Deployment when its files change."""
    col, prom, graf, k8s = cfg.collector, cfg.prometheus, cfg.grafana, cfg.kubernetes
    out: dict[PurePosixPath, Any] = {}

    otel_files = {"config.yaml": files["otelcol/config.yaml"]}
    otel_ports = {
        **({"otlp-grpc": col.grpc.port} if col.grpc.enabled else {}),
        **({"otlp-http": col.http.port} if col.http.enabled else {}),
    }
    container: dict[str, Any] = {
        "name": "otelcol",
        "image": cfg.images.resolve("otelcol"),
        "args": ["--config", layout.OTELCOL_CONFIG],
        "ports": [{"name": n, "containerPort": p} for n, p in otel_ports.items()]
        + [
            {"name": "metrics", "containerPort": col.metrics_port},
            {"name": "telemetry", "containerPort": col.telemetry_port},
        ],
        "readinessProbe": _http_probe("/", col.health_port),
        "livenessProbe": _http_probe("/", col.health_port),
        "resources": {"limits": {"memory": f"{col.memory_limit_mib + 128}Mi"}},
        "volumeMounts": [{"name": "config", "mountPath": layout.OTELCOL_DIR}],
    }
    volumes = [_files_volume("otelcol-config", otel_files)]
    if col.auth.enabled:
        container["env"] = [
            {
                "name": col.auth.token_env,
                "valueFrom": {"secretKeyRef": {"name": TOKEN_SECRET, "key": "token"}},
            }
        ]
    if col.tls.enabled:
        container["volumeMounts"].append(
            {"name": "tls", "mountPath": layout.OTELCOL_TLS_DIR, "readOnly": True}
        )
        volumes.append({"name": "tls", "secret": {"secretName": TLS_SECRET}})
    out[PurePosixPath("kubernetes/otelcol.yaml")] = [
        _config_map("otelcol-config", otel_files),
        _deployment(
            "otelcol",
            {"containers": [container], "volumes": volumes},
            {"stackkit/config-checksum": checksums["otelcol"]},
        ),
        _service(
            "otelcol",
            {**otel_ports, "metrics": col.metrics_port, "telemetry": col.telemetry_port},
            k8s.collector_service_type,
        ),
    ]

    prom_files = {
        p.removeprefix("prometheus/"): t
        for p, t in files.items()
        if p.startswith("prometheus/") and not p.startswith("prometheus/tests/")
    }
    prom_mounts = [
        {"name": "config", "mountPath": layout.PROMETHEUS_DIR},
        {"name": "data", "mountPath": layout.PROMETHEUS_DATA},
    ]
    prom_volumes = [
        _files_volume("prometheus-config", prom_files),
        {"name": "data", "persistentVolumeClaim": {"claimName": "prometheus-data"}},
    ]
    if any(t.basic_auth or t.bearer_token_env for t in prom.remote_write):
        prom_mounts.append(
            {"name": "secrets", "mountPath": layout.PROMETHEUS_SECRETS_DIR, "readOnly": True}
        )
        prom_volumes.append({"name": "secrets", "secret": {"secretName": REMOTE_WRITE_SECRET}})
    out[PurePosixPath("kubernetes/prometheus.yaml")] = [
        _config_map("prometheus-config", prom_files),
        _claim("prometheus", k8s.prometheus_storage, k8s.storage_class),
        _deployment(
            "prometheus",
            {
                "securityContext": {"runAsUser": 65534, "runAsNonRoot": True, "fsGroup": 65534},
                "containers": [
                    {
                        "name": "prometheus",
                        "image": cfg.images.resolve("prometheus"),
                        "args": prometheus_args,
                        "ports": [{"name": "http", "containerPort": prom.port}],
                        "readinessProbe": _http_probe("/-/ready", prom.port),
                        "livenessProbe": _http_probe("/-/healthy", prom.port),
                        "volumeMounts": prom_mounts,
                    }
                ],
                "volumes": prom_volumes,
            },
            {"stackkit/config-checksum": checksums["prometheus"]},
        ),
        _service("prometheus", {"http": prom.port}),
    ]

    graf_files = {
        p.removeprefix("grafana/"): t for p, t in files.items() if p.startswith("grafana/")
    }
    out[PurePosixPath("kubernetes/grafana.yaml")] = [
        _config_map("grafana-config", graf_files),
        _claim("grafana", k8s.grafana_storage, k8s.storage_class),
        _deployment(
            "grafana",
            {
                "securityContext": {"runAsUser": 472, "runAsNonRoot": True, "fsGroup": 472},
                "containers": [
                    {
                        "name": "grafana",
                        "image": cfg.images.resolve("grafana"),
                        "ports": [{"name": "http", "containerPort": graf.port}],
                        "readinessProbe": _http_probe("/api/health", graf.port),
                        "volumeMounts": [
                            {"name": "config", "mountPath": layout.GRAFANA_DIR},
                            {
                                "name": "admin",
                                "mountPath": layout.GRAFANA_SECRETS_DIR,
                                "readOnly": True,
                            },
                            {"name": "data", "mountPath": layout.GRAFANA_DATA},
                        ],
                    }
                ],
                "volumes": [
                    _files_volume("grafana-config", graf_files),
                    {
                        "name": "admin",
                        "secret": {
                            "secretName": GRAFANA_SECRET,
                            "items": [{"key": "password", "path": "admin-password"}],
                        },
                    },
                    {"name": "data", "persistentVolumeClaim": {"claimName": "grafana-data"}},
                ],
            },
            {"stackkit/config-checksum": checksums["grafana"]},
        ),
        _service("grafana", {"http": graf.port}),
    ]

    out[PurePosixPath("kubernetes/kustomization.yaml")] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": k8s.namespace,
        "labels": [{"pairs": {"stackkit/stack": cfg.name}}],
        "resources": ["namespace.yaml", "otelcol.yaml", "prometheus.yaml", "grafana.yaml"],
    }
    out[PurePosixPath("kubernetes/namespace.yaml")] = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": k8s.namespace},
    }
    return out
