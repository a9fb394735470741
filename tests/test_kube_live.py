"""Reading back what a Kubernetes `up` applied: which API path each object has, and which live
changes count (a fake API holding the objects; the real cluster is tests/e2e/test_kube_up.py)."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from stackkit import deploy, kube_live
from stackkit.config import StackConfig
from stackkit.kube_api import KubeError


class FakeCluster:
    """An API that stores what it was given, as a server would: with a uid, defaults and a
    status stackkit never sets."""

    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.live: dict[str, Any] = {}
        for n, obj in enumerate(objects):
            stored = copy.deepcopy(obj)
            if "stringData" in stored:
                plain = stored.pop("stringData")
                stored["data"] = {
                    k: base64.b64encode(v.encode()).decode() for k, v in plain.items()
                }
            stored["metadata"] |= {"uid": f"uid-{n}", "resourceVersion": str(n)}
            stored["status"] = {"phase": "Active"}
            self.live[kube_live.api_path(obj)] = stored
        self.answers: dict[str, tuple[int, Any]] = {}
        self.calls = 0

    def get_many(self, paths: list[str]) -> list[tuple[int, Any]]:
        self.calls += 1
        out: list[tuple[int, Any]] = []
        for path in paths:
            if path in self.answers:
                out.append(self.answers[path])
            elif path in self.live:
                out.append((200, copy.deepcopy(self.live[path])))
            else:
                out.append((404, {"message": "not found"}))
        return out


def kube_objects(**kube: Any) -> list[dict[str, Any]]:
    cfg = StackConfig.model_validate(
        {"target": "kubernetes", "kubernetes": {"namespace": "cc", **kube}}
    )
    return deploy._kube_objects(deploy.kubernetes_args(cfg))


@pytest.mark.parametrize(
    ("obj", "path"),
    [
        ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cc"}}, "/api/v1/namespaces/cc"),
        (
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cc", "namespace": "x"}},
            "/api/v1/namespaces/cc",
        ),
        (
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "cc"}},
            "/api/v1/namespaces/cc/configmaps/a",
        ),
        (
            {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": "cc"}},
            "/apis/networking.k8s.io/v1/namespaces/cc/networkpolicies/p",
        ),
        (
            {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i", "namespace": "cc"}},
            "/apis/networking.k8s.io/v1/namespaces/cc/ingresses/i",
        ),
        (
            {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {"name": "r", "namespace": "cc"}},
            "/apis/monitoring.coreos.com/v1/namespaces/cc/prometheusrules/r",
        ),
        (
            {"apiVersion": "monitoring.coreos.com/v1alpha1", "kind": "AlertmanagerConfig", "metadata": {"name": "a", "namespace": "cc"}},
            "/apis/monitoring.coreos.com/v1alpha1/namespaces/cc/alertmanagerconfigs/a",
        ),
        (
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "c"}},
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/c",
        ),
    ],
)  # fmt: skip
def test_each_object_has_its_api_path(obj: dict[str, Any], path: str) -> None:
    assert kube_live.api_path(obj) == path


def test_every_object_the_stack_applies_is_read_back() -> None:
    objects = kube_objects(ingress={"otlp_host": "otlp.example.com"})
    paths = [kube_live.api_path(o) for o in objects]
    assert len(set(paths)) == len(objects)
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "Deployment", "Secret", "ConfigMap", "Ingress", "NetworkPolicy"} <= kinds
    cluster = FakeCluster(objects)
    seen = kube_live.snapshot(cluster, objects)  # type: ignore[arg-type]
    assert set(seen) == set(paths) and kube_live.ABSENT not in seen.values()
    assert cluster.calls == 1, "one round of reads, not one call per object"


def _deployment(objects: list[dict[str, Any]]) -> str:
    return next(kube_live.api_path(o) for o in objects if o["kind"] == "Deployment")


def _secret(objects: list[dict[str, Any]]) -> str:
    return next(kube_live.api_path(o) for o in objects if o["kind"] == "Secret")


def test_what_the_server_and_controllers_add_is_no_change() -> None:
    objects = kube_objects()
    cluster = FakeCluster(objects)
    before = kube_live.snapshot(cluster, objects)  # type: ignore[arg-type]
    live = cluster.live[_deployment(objects)]
    live["status"] = {"readyReplicas": 1, "observedGeneration": 7}
    live["metadata"]["resourceVersion"] = "999"
    live["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = "3"
    live["spec"]["progressDeadlineSeconds"] = 600
    live["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] = "/dev/x"
    assert kube_live.snapshot(cluster, objects) == before  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "edit",
    [
        "scaled",
        "image",
        "container-added",
        "label",
        "recreated",
        "deleted",
        "secret-value",
    ],
)
def test_what_stackkit_set_changed_by_hand_is_seen(edit: str) -> None:
    objects = kube_objects()
    cluster = FakeCluster(objects)
    before = kube_live.snapshot(cluster, objects)  # type: ignore[arg-type]
    path = _secret(objects) if edit == "secret-value" else _deployment(objects)
    live = cluster.live[path]
    pod = live.get("spec", {}).get("template", {}).get("spec", {})
    if edit == "scaled":
        live["spec"]["replicas"] = 0
    elif edit == "image":
        pod["containers"][0]["image"] = "evil.example.com/otelcol:latest"
    elif edit == "container-added":
        pod["containers"].append({"name": "sidecar", "image": "busybox"})
    elif edit == "label":
        live["metadata"]["labels"]["app.kubernetes.io/name"] = "other"
    elif edit == "recreated":
        live["metadata"]["uid"] = "uid-new"
    elif edit == "deleted":
        del cluster.live[path]
    elif edit == "secret-value":
        key = next(iter(live["data"]))
        live["data"][key] = "aGFja2Vk"
    after = kube_live.snapshot(cluster, objects)  # type: ignore[arg-type]
    changed = [p for p in after if after[p] != before[p]]
    assert changed == [path]
    assert (after[path] == kube_live.ABSENT) == (edit == "deleted")


def test_a_refused_read_is_an_error_naming_the_object() -> None:
    objects = kube_objects()
    cluster = FakeCluster(objects)
    path = _secret(objects)
    cluster.answers[path] = (403, {"message": "secrets is forbidden"})
    with pytest.raises(KubeError, match=f"GET {path}: 403 secrets is forbidden"):
        kube_live.snapshot(cluster, objects)  # type: ignore[arg-type]
