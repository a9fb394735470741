"""The Kubernetes objects of a stack, as plain data, translated from the model.

``render --target kubernetes`` writes these for a GitOps repository, and ``stackkit up`` on
Kubernetes applies exactly these (plus the Secrets it creates from generated values, which
:func:`secrets` builds and ``render`` only references by name). Standard library, config and
model only: the Pulumi program imports this module.

Every pod passes Pod Security "restricted": non-root, no privilege escalation, all capabilities
dropped, the runtime's seccomp profile, a read-only root filesystem with writable empty folders
only where the program needs them, and no service-account token.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from posixpath import basename, dirname
from typing import Any

from .config import StackConfig
from .model import OTELCOL_HOST, Component, Stack

PART_OF = "stackkit"
CHECKSUM = "stackkit/config-checksum"
PREFIX = "kubernetes"


def _key(path: str) -> str:
    """A ConfigMap key for a file path (keys cannot hold slashes)."""
    return path.replace("/", "__")


def labels(component: str, stack: str) -> dict[str, str]:
    """The labels of every object of ``component``."""
    return {
        "app.kubernetes.io/name": component,
        "app.kubernetes.io/instance": stack,
        "app.kubernetes.io/part-of": PART_OF,
    }


def _selector(component: str, stack: str) -> dict[str, str]:
    return {k: v for k, v in labels(component, stack).items() if k != "app.kubernetes.io/part-of"}


def checksum(component: Component) -> str:
    """A digest of a component's files: it changes, the pods roll."""
    digest = hashlib.sha256()
    for path, text in sorted(component.files.items()):
        digest.update(f"{path}\0{text}\0".encode())
    return digest.hexdigest()[:16]


class _Objects:
    def __init__(self, cfg: StackConfig, stack: Stack) -> None:
        self.cfg, self.stack = cfg, stack
        self.namespace = cfg.kubernetes.namespace

    def meta(self, name: str, component: str) -> dict[str, Any]:
        return {
            "name": name,
            "namespace": self.namespace,
            "labels": labels(component, self.stack.name),
        }

    def config_map(self, c: Component) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": self.meta(f"{c.name}-config", c.name),
            "data": {_key(p): text for p, text in sorted(c.files.items())},
        }

    def claim(self, c: Component) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": c.data_size}},
        }
        if self.cfg.kubernetes.storage_class:
            spec["storageClassName"] = self.cfg.kubernetes.storage_class
        return {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": self.meta(f"{c.name}-data", c.name),
            "spec": spec,
        }

    def pod(self, c: Component) -> dict[str, Any]:
        mounts: list[dict[str, Any]] = [{"name": "config", "mountPath": c.config_dir}]
        volumes: list[dict[str, Any]] = [
            {
                "name": "config",
                "configMap": {
                    "name": f"{c.name}-config",
                    "items": [{"key": _key(p), "path": p} for p in sorted(c.files)],
                },
            }
        ]
        by_volume: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for path, ref in sorted(c.secret_files.items()):
            by_volume.setdefault((ref.secret, dirname(path)), []).append((ref.key, basename(path)))
        for i, ((secret, folder), items) in enumerate(sorted(by_volume.items())):
            name = f"secret-{i}"
            mounts.append({"name": name, "mountPath": folder, "readOnly": True})
            volumes.append(
                {
                    "name": name,
                    "secret": {
                        "secretName": secret,
                        "items": [{"key": k, "path": p} for k, p in items],
                    },
                }
            )
        if c.data_dir:
            mounts.append({"name": "data", "mountPath": c.data_dir})
            volumes.append(
                {"name": "data", "persistentVolumeClaim": {"claimName": f"{c.name}-data"}}
            )
        for i, folder in enumerate(c.scratch_dirs):
            mounts.append({"name": f"scratch-{i}", "mountPath": folder})
            volumes.append({"name": f"scratch-{i}", "emptyDir": {}})

        def probe(path: str, port: int) -> dict[str, Any]:
            return {
                "httpGet": {"path": path, "port": port},
                "periodSeconds": 10,
                "failureThreshold": 6,
            }

        container: dict[str, Any] = {
            "name": c.name,
            "image": c.image,
            "imagePullPolicy": "IfNotPresent",
            "args": list(c.args),
            "ports": [{"name": p.name, "containerPort": p.number} for p in c.ports],
            "readinessProbe": probe(c.ready.path, c.ready.port),
            "livenessProbe": {**probe(c.alive.path, c.alive.port), "initialDelaySeconds": 30},
            "resources": {
                "requests": {"cpu": f"{c.cpu_millis}m", "memory": f"{c.memory_mib}Mi"},
                "limits": {"memory": f"{c.memory_mib}Mi"},
            },
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
                "readOnlyRootFilesystem": True,
                "runAsNonRoot": True,
            },
            "volumeMounts": mounts,
        }
        if not c.args:
            del container["args"]
        if c.secret_env:
            container["env"] = [
                {
                    "name": var,
                    "valueFrom": {"secretKeyRef": {"name": ref.secret, "key": ref.key}},
                }
                for var, ref in sorted(c.secret_env.items())
            ]
        return {
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": c.user,
                "runAsGroup": c.user,
                "fsGroup": c.user,
                "fsGroupChangePolicy": "OnRootMismatch",
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [container],
            "volumes": volumes,
        }

    def deployment(self, c: Component, rolling: bool) -> dict[str, Any]:
        pod = self.pod(c)
        if rolling:
            # A new pod is Ready before an old one stops; the old one keeps serving while the
            # Service forgets it, then drains its queue to Prometheus.
            strategy: dict[str, Any] = {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            }
            pod["terminationGracePeriodSeconds"] = 60
            pod["containers"][0]["lifecycle"] = {"preStop": {"sleep": {"seconds": 5}}}
        else:
            strategy = {"type": "Recreate"}  # one writer of its volume at a time
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": self.meta(c.name, c.name),
            "spec": {
                "replicas": c.replicas,
                "strategy": strategy,
                "selector": {"matchLabels": _selector(c.name, self.stack.name)},
                "template": {
                    "metadata": {
                        "labels": labels(c.name, self.stack.name),
                        "annotations": {CHECKSUM: checksum(c)},
                    },
                    "spec": pod,
                },
            },
        }

    def service(
        self,
        c: Component,
        name: str,
        audiences: tuple[str, ...],
        kind: str = "ClusterIP",
        headless: bool = False,
    ) -> dict[str, Any]:
        spec: dict[str, Any] = {"type": kind}
        if headless:
            spec["clusterIP"] = "None"
        spec["selector"] = _selector(c.name, self.stack.name)
        spec["ports"] = [
            {"name": p.name, "port": p.number, "targetPort": p.name, "protocol": "TCP"}
            for p in c.ports
            if p.audience in audiences
        ]
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": self.meta(name, c.name),
            "spec": spec,
        }

    def network_policy(self, c: Component, rules: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": self.meta(c.name, c.name),
            "spec": {
                "podSelector": {"matchLabels": _selector(c.name, self.stack.name)},
                "policyTypes": ["Ingress"],
                "ingress": rules,
            },
        }

    def from_pods(self, *components: str) -> list[dict[str, Any]]:
        return [
            {"podSelector": {"matchLabels": _selector(name, self.stack.name)}}
            for name in components
        ]

    @staticmethod
    def ports(c: Component, *audiences: str) -> list[dict[str, Any]]:
        return [{"port": p.number, "protocol": "TCP"} for p in c.ports if p.audience in audiences]


def manifests(cfg: StackConfig, stack: Stack) -> dict[str, list[dict[str, Any]]]:
    """Every object, grouped by the file ``render`` writes it to (paths under ``kubernetes/``)."""
    o = _Objects(cfg, stack)
    k8s = cfg.kubernetes
    out: dict[str, list[dict[str, Any]]] = {}

    otel = stack.component("otelcol")
    otel_docs = [
        o.config_map(otel),
        o.deployment(otel, rolling=True),
        # Only the OTLP ports take the exposure the config chooses; the Collector's own metrics
        # and health never leave the cluster.
        o.service(otel, OTELCOL_HOST, ("clients",), k8s.collector_service_type),
        # Every replica by its own address, for Prometheus to scrape each (DNS, no API access).
        o.service(otel, f"{OTELCOL_HOST}-pods", ("internal",), headless=True),
        o.network_policy(
            otel,
            [
                {"ports": o.ports(otel, "clients")},
                {"from": o.from_pods("prometheus"), "ports": o.ports(otel, "internal")},
                {"ports": o.ports(otel, "operators")},  # health: the kubelet probes it
            ],
        ),
    ]
    if otel.replicas > 1:
        otel_docs.append(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": o.meta(OTELCOL_HOST, otel.name),
                "spec": {
                    "minAvailable": 1,
                    "selector": {"matchLabels": _selector(otel.name, stack.name)},
                },
            }
        )
    out[f"{PREFIX}/otelcol.yaml"] = otel_docs

    prom = stack.component("prometheus")
    out[f"{PREFIX}/prometheus.yaml"] = [
        o.config_map(prom),
        o.claim(prom),
        o.deployment(prom, rolling=False),
        o.service(prom, prom.name, ("operators",)),
        o.network_policy(
            prom,
            [
                # The Collector pushes, Grafana queries; the kubelet probes.
                {"from": o.from_pods("otelcol", "grafana"), "ports": o.ports(prom, "operators")},
            ],
        ),
    ]

    graf = stack.component("grafana")
    out[f"{PREFIX}/grafana.yaml"] = [
        o.config_map(graf),
        o.claim(graf),
        o.deployment(graf, rolling=False),
        o.service(graf, graf.name, ("operators",)),
        o.network_policy(graf, [{"ports": o.ports(graf, "operators")}]),
    ]

    out[f"{PREFIX}/namespace.yaml"] = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": k8s.namespace,
                "labels": {
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/warn": "restricted",
                },
            },
        }
    ]
    resources = sorted(p.removeprefix(f"{PREFIX}/") for p in out)
    out[f"{PREFIX}/kustomization.yaml"] = [
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": resources,
        }
    ]
    return dict(sorted(out.items()))


def objects(cfg: StackConfig, stack: Stack) -> list[dict[str, Any]]:
    """The objects ``up`` applies: those ``render`` writes, without the kustomization."""
    return [
        doc
        for path, docs in manifests(cfg, stack).items()
        if not path.endswith("kustomization.yaml")
        for doc in docs
    ]


def secrets(
    cfg: StackConfig, stack: Stack, values: Mapping[str, Mapping[str, str]]
) -> list[dict[str, Any]]:
    """The Secrets ``up`` creates: every secret the model names, with ``values`` filled in."""
    out = []
    for name, keys in stack.secrets().items():
        have = values.get(name, {})
        missing = [k for k in keys if k not in have]
        if missing:
            raise KeyError(f"secret {name} lacks {', '.join(missing)}")
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": name,
                    "namespace": cfg.kubernetes.namespace,
                    "labels": {"app.kubernetes.io/part-of": PART_OF},
                },
                "type": "kubernetes.io/tls" if name.endswith("-tls") else "Opaque",
                "stringData": {k: have[k] for k in keys},
            }
        )
    return out
