"""The Kubernetes test cluster behaves like a real one for what stackkit's Pulumi program awaits.

A Deployment gets Ready Pods and reports them available, its Service gets ready endpoints, and a
deleted namespace finalizes and disappears. Each is what pulumi-kubernetes waits on.
"""

from __future__ import annotations

import json
import time

import pytest

from stackkit.versions import KUBERNETES_VERSION

# Also listed by tests/conftest.py; naming it here keeps this file runnable on its own.


NAMESPACE = "stackkit-kube-smoke"

MANIFEST = {
    "apiVersion": "v1",
    "kind": "List",
    "items": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": NAMESPACE, "labels": {"app": "web"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [
                            {
                                "name": "web",
                                # Never pulled: kwok plays the kubelet.
                                "image": "registry.invalid/web:1",
                                "ports": [{"containerPort": 8080, "name": "http"}],
                                "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
                            }
                        ]
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": NAMESPACE},
            "spec": {
                "selector": {"app": "web"},
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        },
    ],
}


def wait_for(what: str, predicate, timeout: float = 120.0, interval: float = 0.5):
    """Poll ``predicate`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last seen: {last!r}")


def test_deployment_becomes_available_and_namespace_deletes(kube_cluster):
    k = kube_cluster
    nodes = k.kubectl_json("get", "nodes")["items"]
    assert len(nodes) >= 2
    version = json.loads(k.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == f"v{KUBERNETES_VERSION}"

    k.kubectl("apply", "-f", "-", input=json.dumps(MANIFEST))
    try:
        # `kubectl wait` fails at once while no Pod exists yet: first wait for the ReplicaSet's Pods.
        def two_pods():
            items = k.kubectl_json("get", "pods", "-n", NAMESPACE, "-l", "app=web")["items"]
            return items if len(items) == 2 else None

        wait_for("the Deployment's 2 Pods to be created", two_pods)
        ready = ["--for=condition=Ready", "pod", "-l", "app=web", "--timeout=120s"]
        k.kubectl("wait", "-n", NAMESPACE, *ready, timeout=150)

        def available():
            status = k.kubectl_json("get", "deployment", "web", "-n", NAMESPACE).get("status", {})
            return (
                status
                if status.get("availableReplicas") == 2 and status.get("readyReplicas") == 2
                else None
            )

        wait_for("Deployment web to report availableReplicas=2", available)

        pods = k.kubectl_json("get", "pods", "-n", NAMESPACE, "-l", "app=web")["items"]
        assert len(pods) == 2
        for pod in pods:
            assert pod["spec"].get("nodeName"), "the scheduler bound the pod to a node"
            assert pod["status"]["phase"] == "Running"
            assert pod["status"].get("podIP"), "kwok assigned a pod IP"

        def ready_endpoints():
            slices = k.kubectl_json(
                "get", "endpointslices", "-n", NAMESPACE, "-l", "kubernetes.io/service-name=web"
            )["items"]
            ready = [
                ep
                for s in slices
                for ep in s.get("endpoints") or []
                if (ep.get("conditions") or {}).get("ready")
            ]
            return ready if len(ready) == 2 else None

        wait_for("Service web to have 2 ready endpoints", ready_endpoints)
    finally:
        k.kubectl("delete", "namespace", NAMESPACE, "--wait=false", "--ignore-not-found")

    def namespace_gone():
        proc = k.kubectl("get", "namespace", NAMESPACE, check=False)
        return proc.returncode != 0 and "NotFound" in proc.stderr

    wait_for(f"namespace {NAMESPACE} to finalize and disappear", namespace_gone, timeout=120)
