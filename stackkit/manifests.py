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

import yaml

from . import alertmanager
from .config import StackConfig
from .model import OTELCOL_HOST, VOLUME_INIT, Component, Stack

PART_OF = "stackkit"
OPERATOR_NAME = "claude-code"
"""The name of the objects the Prometheus Operator reads (rules, routes)."""
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
            # A crash shows its last log lines in the pod's status (`stackkit up` and `status`
            # quote them: a volume the user cannot write, say).
            "terminationMessagePolicy": "FallbackToLogsOnError",
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
        pod: dict[str, Any] = {
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
        if c.data_dir and c.chown_data_dir:
            pod["initContainers"] = [self.volume_init(c)]
        return pod

    def volume_init(self, c: Component) -> dict[str, Any]:
        """Gives a claim that the storage left root's (fsGroup ignored) to ``c``'s user: root,
        with CAP_CHOWN and nothing else, for the one command."""
        return {
            "name": VOLUME_INIT,
            "image": self.stack.volume_init_image,
            "imagePullPolicy": "IfNotPresent",
            "command": list(self.stack.chown_command(c)),
            "resources": {
                "requests": {"cpu": "10m", "memory": "16Mi"},
                "limits": {"memory": "32Mi"},
            },
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"], "add": ["CHOWN"]},
                "readOnlyRootFilesystem": True,
                "runAsNonRoot": False,
                "runAsUser": 0,
                "runAsGroup": 0,
            },
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "volumeMounts": [{"name": "data", "mountPath": c.data_dir}],
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
        meta = self.meta(c.name, c.name)
        # How long `stackkit up` (Pulumi) waits for the rollout before it says what is wrong.
        meta["annotations"] = {"pulumi.com/timeoutSeconds": "300"}
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
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


def _has(stack: Stack, name: str) -> bool:
    return any(c.name == name for c in stack.components)


def _collector(o: _Objects, cfg: StackConfig, stack: Stack) -> list[dict[str, Any]]:
    otel = stack.component("otelcol")
    k8s = cfg.kubernetes
    sources = [{"ipBlock": {"cidr": c}} for c in k8s.otlp_sources]
    clients: dict[str, Any] = {"ports": o.ports(otel, "clients")}
    if sources:
        clients["from"] = sources
    # Stackkit's Prometheus, else the Operator's in whatever namespace it runs.
    scrapers = (
        o.from_pods("prometheus") if _has(stack, "prometheus") else [{"namespaceSelector": {}}]
    )
    docs = [
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
                clients,
                {"from": scrapers, "ports": o.ports(otel, "internal")},
                {"ports": o.ports(otel, "operators")},  # health: the kubelet probes it
            ],
        ),
    ]
    if otel.replicas > 1:
        docs.append(
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
    return docs


def _operator(
    o: _Objects, cfg: StackConfig, stack: Stack, files: Mapping[str, str]
) -> list[dict[str, Any]]:
    """For a Prometheus run by the Prometheus Operator: what it scrapes and what it evaluates."""
    otel = stack.component("otelcol")
    selected = {**labels("otelcol", stack.name), **cfg.kubernetes.monitor_labels}
    endpoints = []
    for port in ("metrics", "telemetry"):
        endpoint: dict[str, Any] = {"port": port, "interval": cfg.prometheus.scrape_interval}
        if port == "metrics":
            # One client's series is one series whichever Collector shows it: the target's
            # labels go.
            endpoint["metricRelabelings"] = [
                {"action": "labeldrop", "regex": "instance|pod|container|endpoint"}
            ]
        endpoints.append(endpoint)
    groups = [
        g
        for name in ("recording", "alerts")
        for g in yaml.safe_load(files[f"prometheus/rules/{name}.yml"])["groups"]
    ]
    # The rules aggregate every target label away, `namespace` too; the Operator's Alertmanager
    # gives an AlertmanagerConfig only alerts labelled with its namespace (its default matcher
    # strategy, OnNamespace). Recording rules keep their series as they are.
    for rule in (r for g in groups for r in g["rules"] if "alert" in r):
        rule["labels"] = {**rule.get("labels", {}), "namespace": o.namespace}
    docs = [
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": {**o.meta(OTELCOL_HOST, otel.name), "labels": selected},
            "spec": {
                "selector": {"matchLabels": labels("otelcol", stack.name)},
                # Created timestamps travel in the protobuf format (with the Operator's Prometheus
                # running created-timestamp-zero-ingestion, new series count from zero). The
                # field is the ServiceMonitor's, not an endpoint's, in the Operator's schema.
                "scrapeProtocols": [
                    "PrometheusProto",
                    "OpenMetricsText1.0.0",
                    "PrometheusText0.0.4",
                ],
                "endpoints": endpoints,
            },
        },
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": {
                **o.meta(OPERATOR_NAME, "prometheus"),
                "labels": {**labels("prometheus", stack.name), **cfg.kubernetes.monitor_labels},
            },
            "spec": {"groups": groups},
        },
    ]
    if cfg.routes_alerts and cfg.alertmanager.receivers:
        docs.append(_alertmanager_config(o, cfg, stack))
    return docs


def _alertmanager_config(o: _Objects, cfg: StackConfig, stack: Stack) -> dict[str, Any]:
    """The receivers and routes, for the Alertmanager the Operator runs beside its Prometheus
    (it selects the object by ``kubernetes.monitor_labels``)."""
    return {
        "apiVersion": "monitoring.coreos.com/v1alpha1",
        "kind": "AlertmanagerConfig",
        "metadata": {
            **o.meta(OPERATOR_NAME, "alertmanager"),
            "labels": {**labels("alertmanager", stack.name), **cfg.kubernetes.monitor_labels},
        },
        "spec": alertmanager.operator_config(cfg.alertmanager),
    }


def _grafana_sidecar(
    o: _Objects, cfg: StackConfig, files: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Dashboards and the data source in ConfigMaps the Grafana sidecar picks up."""
    dashboards = {
        p.rsplit("/", 1)[1]: t
        for p, t in sorted(files.items())
        if p.startswith("grafana/dashboards/")
    }
    datasource = files["grafana/provisioning/datasources/stackkit.yaml"]

    def config_map(name: str, data: dict[str, str], extra: Mapping[str, str]) -> dict[str, Any]:
        meta = o.meta(name, "grafana")
        meta["labels"] = {**meta["labels"], **extra}
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}

    return [
        config_map("grafana-dashboards", dashboards, cfg.grafana.sidecar_labels),
        config_map(
            "grafana-datasource",
            {"stackkit.yaml": datasource},
            cfg.grafana.datasource_sidecar_labels,
        ),
    ]


def _ingress(o: _Objects, cfg: StackConfig, stack: Stack) -> dict[str, Any] | None:
    ing = cfg.kubernetes.ingress
    if ing is None:
        return None
    rules = []
    hosts = []
    if ing.otlp_host and any(p.name == "otlp-http" for p in stack.component("otelcol").ports):
        hosts.append(ing.otlp_host)
        rules.append(
            {
                "host": ing.otlp_host,
                "http": {
                    "paths": [
                        {
                            "path": "/v1/",
                            "pathType": "Prefix",
                            "backend": {
                                "service": {"name": OTELCOL_HOST, "port": {"name": "otlp-http"}}
                            },
                        }
                    ]
                },
            }
        )
    if ing.grafana_host and _has(stack, "grafana"):
        hosts.append(ing.grafana_host)
        rules.append(
            {
                "host": ing.grafana_host,
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "grafana", "port": {"name": "http"}}},
                        }
                    ]
                },
            }
        )
    spec: dict[str, Any] = {"rules": rules}
    if ing.class_name:
        spec["ingressClassName"] = ing.class_name
    if ing.tls_secret:
        spec["tls"] = [{"hosts": hosts, "secretName": ing.tls_secret}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": o.meta("stackkit", "ingress"),
        "spec": spec,
    }


def manifests(
    cfg: StackConfig, stack: Stack, files: Mapping[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """Every object, grouped by the file ``render`` writes it to (paths under ``kubernetes/``).
    ``files`` are the rendered files (rules and dashboards for the Operator and the sidecar)."""
    o = _Objects(cfg, stack)
    k8s = cfg.kubernetes
    out: dict[str, list[dict[str, Any]]] = {f"{PREFIX}/otelcol.yaml": _collector(o, cfg, stack)}
    if _has(stack, "prometheus"):
        prom = stack.component("prometheus")
        readers = ["otelcol"] + (["grafana"] if _has(stack, "grafana") else [])
        out[f"{PREFIX}/prometheus.yaml"] = [
            o.config_map(prom),
            o.claim(prom),
            o.deployment(prom, rolling=False),
            o.service(prom, prom.name, ("operators",)),
            o.network_policy(
                prom,
                # The Collector pushes, Grafana queries (a sidecar's Grafana lives elsewhere).
                [{"from": o.from_pods(*readers), "ports": o.ports(prom, "operators")}]
                if cfg.grafana.mode == "deploy"
                else [{"ports": o.ports(prom, "operators")}],
            ),
        ]
    else:
        out[f"{PREFIX}/prometheus-operator.yaml"] = _operator(o, cfg, stack, files)
    if _has(stack, "alertmanager"):
        am = stack.component("alertmanager")
        out[f"{PREFIX}/alertmanager.yaml"] = [
            o.config_map(am),
            o.claim(am),
            # One instance (no gossip): a new pod after the old one, with its silences.
            o.deployment(am, rolling=False),
            o.service(am, am.name, ("operators",)),
            # Only Prometheus sends it alerts.
            o.network_policy(
                am, [{"from": o.from_pods("prometheus"), "ports": o.ports(am, "operators")}]
            ),
        ]
    if _has(stack, "grafana"):
        graf = stack.component("grafana")
        out[f"{PREFIX}/grafana.yaml"] = [
            o.config_map(graf),
            o.claim(graf),
            o.deployment(graf, rolling=False),
            o.service(graf, graf.name, ("operators",)),
            o.network_policy(graf, [{"ports": o.ports(graf, "operators")}]),
        ]
    else:
        out[f"{PREFIX}/grafana-sidecar.yaml"] = _grafana_sidecar(o, cfg, files)
    if (ingress := _ingress(o, cfg, stack)) is not None:
        out[f"{PREFIX}/ingress.yaml"] = [ingress]
    level = "baseline" if any(c.chown_data_dir for c in stack.components) else "restricted"
    out[f"{PREFIX}/namespace.yaml"] = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": k8s.namespace,
                # A root init container (kubernetes.volume_init) is baseline, not restricted.
                "labels": {
                    "pod-security.kubernetes.io/enforce": level,
                    "pod-security.kubernetes.io/warn": level,
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


def objects(cfg: StackConfig, stack: Stack, files: Mapping[str, str]) -> list[dict[str, Any]]:
    """The objects ``up`` applies: those ``render`` writes, without the kustomization."""
    return [
        doc
        for path, docs in manifests(cfg, stack, files).items()
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
