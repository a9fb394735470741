"""The test cluster is a real single-node Kubernetes: what the end-to-end tests rely on works.

Real containers run from an image imported from the tests' Docker engine (the Grafana
placeholder: an HTTP server on :3000 plus busybox ``sh``/``wget``), under its real name with
``imagePullPolicy: IfNotPresent``; ``kubectl exec`` and ``logs`` work; a ClusterIP Service is
reached from another pod by its DNS name (CoreDNS, kube-proxy); a NodePort answers on 127.0.0.1
and only there; a claim of the default (writable) class binds and a non-root pod writes it, while
the controller-manager's host-path class reproduces the root-owned folder defect; a deleted
namespace finalizes and its volumes go.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stackkit.versions import IMAGES, KUBERNETES_VERSION
from tests.fixtures.docker import DockerEngine
from tests.fixtures.kube import KubeCluster

pytestmark = pytest.mark.integration

IMAGE = IMAGES["grafana"]  # the test placeholder: HTTP on :3000, busybox sh and wget
NAMESPACE = "stackkit-kube-smoke"
WEB_LABELS = {"app": "web"}


def wait_for(what: str, predicate: Callable[[], Any], timeout: float = 120.0) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last seen: {last!r}")


def apply(k: KubeCluster, *objects: dict[str, Any]) -> None:
    k.kubectl(
        "apply",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}),
    )


def pod(name: str, namespace: str, command: str, **spec: Any) -> dict[str, Any]:
    """A one-shot pod running ``sh -c COMMAND`` in the imported image (busybox applets other than
    sh and wget are called as ``busybox APPLET``: the image links only those two)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "main",
                    "image": IMAGE,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["/bin/sh", "-c", command],
                    **spec.pop("container", {}),
                }
            ],
            **spec,
        },
    }


def finished_logs(k: KubeCluster, namespace: str, name: str, timeout: float = 120) -> str:
    """Wait for a one-shot pod to succeed; return its ``kubectl logs``."""

    def phase() -> str | None:
        p = k.kubectl_json("get", "pod", name, "-n", namespace)["status"].get("phase")
        return p if p in ("Succeeded", "Failed") else None

    result = wait_for(f"pod {name} to finish", phase, timeout)
    logs = k.kubectl("logs", "-n", namespace, name).stdout
    assert result == "Succeeded", f"pod {name} {result}; logs:\n{logs}\n{k.diagnose(namespace)}"
    return logs


def http_get(url: str, timeout: float = 5) -> tuple[int, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as resp:
        return resp.status, resp.read().decode()


@pytest.fixture(scope="module")
def node(kube_cluster: KubeCluster, docker_engine: DockerEngine) -> KubeCluster:
    """The cluster, with the test image imported from the Docker engine."""
    kube_cluster.import_images(docker_engine, IMAGE)
    assert kube_cluster.has_image(IMAGE)
    return kube_cluster


@pytest.fixture(scope="module")
def web(node: KubeCluster) -> Iterator[KubeCluster]:
    """A namespace with a 2-replica Deployment and its ClusterIP and NodePort Services."""
    k = node
    container = {
        "name": "web",
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"containerPort": 3000, "name": "http"}],
        "readinessProbe": {"httpGet": {"path": "/api/health", "port": "http"}, "periodSeconds": 2},
    }
    apply(
        k,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": NAMESPACE},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": WEB_LABELS},
                "template": {
                    "metadata": {"labels": WEB_LABELS},
                    "spec": {"containers": [container]},
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": NAMESPACE},
            "spec": {
                "selector": WEB_LABELS,
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web-nodeport", "namespace": NAMESPACE},
            "spec": {
                "type": "NodePort",
                "selector": WEB_LABELS,
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        },
    )
    try:
        k.wait_ready(NAMESPACE, timeout=180)
        yield k
    finally:
        k.kubectl("delete", "namespace", NAMESPACE, "--wait=false", "--ignore-not-found")


def test_the_node_is_real(kube_cluster: KubeCluster) -> None:
    k = kube_cluster
    (node,) = k.kubectl_json("get", "nodes")["items"]
    info = node["status"]["nodeInfo"]
    assert info["kubeletVersion"] == f"v{KUBERNETES_VERSION}"
    assert info["containerRuntimeVersion"].startswith("containerd://")
    assert {"type": "InternalIP", "address": k.node_ip} in node["status"]["addresses"]
    assert node["spec"]["podCIDR"].startswith("10.244.")
    version = json.loads(k.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == f"v{KUBERNETES_VERSION}"
    assert (
        k.kubectl_json("get", "service", "kube-dns", "-n", "kube-system")["spec"]["clusterIP"]
        == k.dns_service_ip
    )
    k.wait_ready("kube-system", timeout=60)  # CoreDNS
    classes = {c["metadata"]["name"]: c for c in k.kubectl_json("get", "storageclass")["items"]}
    assert set(k.storage_classes.values()) <= set(classes)
    default = classes[k.default_storage_class]["metadata"]["annotations"]
    assert default["storageclass.kubernetes.io/is-default-class"] == "true"
    assert "containerd" in k.logs("containerd") and k.logs("kubelet")  # daemons' logs are there


def test_deployment_runs_real_containers(web: KubeCluster) -> None:
    k = web
    pods = k.kubectl_json("get", "pods", "-n", NAMESPACE, "-l", "app=web")["items"]
    assert len(pods) == 2
    for p in pods:
        assert p["spec"]["nodeName"] == k.name
        assert p["status"]["phase"] == "Running"
        assert p["status"]["podIP"].startswith("10.244.")
        (status,) = p["status"]["containerStatuses"]
        assert status["ready"] and "running" in status["state"]
        assert status["image"].endswith(IMAGE)
    name = pods[0]["metadata"]["name"]
    # exec: a real process in the container answers on its own port.
    out = k.kubectl(
        "exec", "-n", NAMESPACE, name, "--", "wget", "-qO-", "http://127.0.0.1:3000/api/health"
    ).stdout
    assert json.loads(out)["database"] == "ok"
    # logs: what the container wrote (its start line and the readiness probes' requests).
    logs = k.kubectl("logs", "-n", NAMESPACE, name).stdout
    assert "PLACEHOLDER for Grafana" in logs and "GET /api/health" in logs

    def ready_endpoints() -> list[Any] | None:
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


def test_cluster_ip_service_is_reached_from_another_pod_by_dns_name(web: KubeCluster) -> None:
    k = web
    apply(
        k,
        pod(
            "client",
            NAMESPACE,
            "busybox nslookup web.stackkit-kube-smoke.svc.cluster.local 2>&1 || true; "
            "wget -qO- http://web.stackkit-kube-smoke.svc.cluster.local/api/health && echo && "
            "wget -qO- http://web/api/health",
        ),
    )
    logs = finished_logs(k, NAMESPACE, "client")
    cluster_ip = k.kubectl_json("get", "service", "web", "-n", NAMESPACE)["spec"]["clusterIP"]
    assert cluster_ip in logs, logs  # CoreDNS answered with the Service's ClusterIP
    answers = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert len(answers) == 2 and all(a["database"] == "ok" for a in answers), logs


def test_node_port_answers_on_loopback_only(web: KubeCluster) -> None:
    k = web
    port = k.kubectl_json("get", "service", "web-nodeport", "-n", NAMESPACE)["spec"]["ports"][0][
        "nodePort"
    ]

    def answer() -> str | None:
        try:
            status, body = http_get(f"http://127.0.0.1:{port}/api/health")
        except OSError:
            return None
        return body if status == 200 else None

    body = wait_for(f"NodePort {port} to answer on 127.0.0.1", answer, 60)
    assert json.loads(body)["database"] == "ok"
    # Nothing is published on the host's network interface.
    with socket.socket() as s:
        s.settimeout(3)
        assert s.connect_ex((k.node_ip, port)) != 0


def test_writable_class_binds_and_a_non_root_pod_writes_it(web: KubeCluster) -> None:
    k = web
    claims = [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "64Mi"}},
                **({"storageClassName": cls} if cls else {}),
            },
        }
        for name, cls in (("data", None), ("hostpath", k.hostpath_storage_class))
    ]
    writer = pod(
        "writer",
        NAMESPACE,
        "echo hello > /w/probe && busybox cat /w/probe && busybox id -u; "
        "if { echo x > /h/probe; } 2>/dev/null; then echo hostpath-writable; else echo hostpath-denied; fi",
        securityContext={
            "runAsUser": 65534,
            "runAsGroup": 65534,
            "runAsNonRoot": True,
            "fsGroup": 65534,
        },
        volumes=[
            {"name": "w", "persistentVolumeClaim": {"claimName": "data"}},
            {"name": "h", "persistentVolumeClaim": {"claimName": "hostpath"}},
        ],
        container={
            "volumeMounts": [{"name": "w", "mountPath": "/w"}, {"name": "h", "mountPath": "/h"}]
        },
    )
    apply(k, *claims, writer)
    logs = finished_logs(k, NAMESPACE, "writer").split()
    assert logs == ["hello", "65534", "hostpath-denied"], logs

    data = k.kubectl_json("get", "pvc", "data", "-n", NAMESPACE)
    assert data["status"]["phase"] == "Bound"
    assert data["spec"]["storageClassName"] == k.writable_storage_class  # the default class
    pv = k.kubectl_json("get", "pv", data["spec"]["volumeName"])
    folder = Path(pv["spec"]["hostPath"]["path"])
    assert folder.is_relative_to(k.workdir)
    assert (folder.stat().st_mode & 0o777) == 0o777
    assert (folder / "probe").read_text() == "hello\n" and (folder / "probe").stat().st_uid == 65534
    hostpath = k.kubectl_json("get", "pvc", "hostpath", "-n", NAMESPACE)
    assert hostpath["status"]["phase"] == "Bound"


def test_a_deleted_namespace_finalizes_with_its_pods_and_volumes(node: KubeCluster) -> None:
    k = node
    ns = "stackkit-kube-finalize"
    apply(
        k,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": ns},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "8Mi"}},
            },
        },
        pod(
            "sleeper",
            ns,
            "echo started; exec busybox sleep 3600",
            terminationGracePeriodSeconds=1,
            volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}],
            container={"volumeMounts": [{"name": "d", "mountPath": "/d"}]},
        ),
    )
    k.wait_ready(ns, timeout=120)
    volume = k.kubectl_json("get", "pvc", "data", "-n", ns)["spec"]["volumeName"]
    folder = Path(k.kubectl_json("get", "pv", volume)["spec"]["hostPath"]["path"])
    assert folder.is_dir()
    assert "started" in k.kubectl("logs", "-n", ns, "sleeper").stdout
    k.kubectl("delete", "namespace", ns, "--wait=false")

    def namespace_gone() -> bool:
        proc = k.kubectl("get", "namespace", ns, check=False)
        return proc.returncode != 0 and "NotFound" in proc.stderr

    wait_for(f"namespace {ns} to finalize and disappear", namespace_gone, timeout=120)

    def volume_gone() -> bool:
        proc = k.kubectl("get", "pv", volume, check=False)
        return proc.returncode != 0 and "NotFound" in proc.stderr and not folder.exists()

    wait_for(f"{volume} and its folder to be deleted", volume_gone, timeout=60)
