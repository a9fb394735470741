"""`render --target kubernetes`: manifests the real Kubernetes API accepts and runs."""

from __future__ import annotations

import json
import time
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from stackkit.config import StackConfig
from stackkit.output import write
from stackkit.render import render
from stackkit.versions import IMAGES
from tests.fixtures.docker import DockerEngine
from tests.fixtures.kube import KubeCluster

K8S = {"target": "kubernetes"}


def _docs(cfg: StackConfig, name: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(render(cfg)[PurePosixPath(f"kubernetes/{name}.yaml")]))


def test_config_maps_carry_the_rendered_files_and_no_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STACKKIT_OTLP_TOKEN", "tok-SECRET")
    cfg = StackConfig.model_validate(K8S)
    files = render(cfg)
    config_map = _docs(cfg, "otelcol")[0]
    assert config_map["data"]["config.yaml"] == files[PurePosixPath("otelcol/config.yaml")]
    prom = _docs(cfg, "prometheus")[0]["data"]
    assert prom["rules__alerts.yml"] == files[PurePosixPath("prometheus/rules/alerts.yml")]
    assert "tests__alerts_test.yml" not in prom
    assert "SECRET" not in "".join(files.values())


def test_a_config_change_rolls_only_its_deployment() -> None:
    before = StackConfig.model_validate(K8S)
    after = StackConfig.model_validate({**K8S, "alerts": {"user_spend_usd_per_hour": 99}})

    def checksum(cfg: StackConfig, name: str) -> str:
        (deployment,) = [d for d in _docs(cfg, name) if d["kind"] == "Deployment"]
        return deployment["spec"]["template"]["metadata"]["annotations"]["stackkit/config-checksum"]  # type: ignore[no-any-return]

    assert checksum(before, "prometheus") != checksum(after, "prometheus")
    assert checksum(before, "otelcol") == checksum(after, "otelcol")
    assert checksum(before, "grafana") == checksum(after, "grafana")


def test_the_operators_rule_object_names_each_group_once() -> None:
    # The API server refuses a PrometheusRule whose groups repeat a name (recording and alert
    # rules are merged into one object).
    cfg = StackConfig.model_validate(
        {
            **K8S,
            "collector": {"export": "scrape"},
            "prometheus": {"mode": "existing"},
            "grafana": {"prometheus_url": "http://prometheus-operated.monitoring:9090"},
        }
    )
    (rule,) = [d for d in _docs(cfg, "prometheus-operator") if d["kind"] == "PrometheusRule"]
    names = [g["name"] for g in rule["spec"]["groups"]]
    assert len(names) == len(set(names)) > 1, names


EXISTING = {
    **K8S,
    "collector": {"export": "scrape"},
    "prometheus": {"mode": "existing"},
    "grafana": {"prometheus_url": "http://prometheus-operated.monitoring:9090"},
    "kubernetes": {"namespace": "cc-team", "monitor_labels": {"release": "kps"}},
}


def test_the_operators_alert_rules_carry_the_namespace_its_alertmanager_routes_by() -> None:
    # The Operator's Alertmanager gives this namespace's AlertmanagerConfig only alerts labelled
    # namespace=cc-team; the rules' sums drop every target label.
    cfg = StackConfig.model_validate(EXISTING)
    (rule,) = [d for d in _docs(cfg, "prometheus-operator") if d["kind"] == "PrometheusRule"]
    rules = [r for g in rule["spec"]["groups"] for r in g["rules"]]
    alerts = [r for r in rules if "alert" in r]
    records = [r for r in rules if "record" in r]
    assert alerts and records
    assert all(r["labels"]["namespace"] == "cc-team" for r in alerts)
    assert all(r["labels"]["severity"] for r in alerts)  # their own labels stay
    assert not any("namespace" in r.get("labels", {}) for r in records)
    # The rule files (promtool's, and a stack's own Prometheus') are left as they were.
    files = render(cfg)
    assert "namespace:" not in files[PurePosixPath("prometheus/rules/alerts.yml")]


def test_the_alertmanager_config_goes_with_the_operators_objects() -> None:
    receiver = {"name": "hook", "webhook": {"url_env": "HOOK_URL"}}
    cfg = StackConfig.model_validate({**EXISTING, "alertmanager": {"receivers": [receiver]}})
    docs = _docs(cfg, "prometheus-operator")
    assert [d["kind"] for d in docs] == ["ServiceMonitor", "PrometheusRule", "AlertmanagerConfig"]
    found = docs[-1]
    assert found["metadata"]["labels"] == {
        "app.kubernetes.io/name": "alertmanager",
        "app.kubernetes.io/instance": "claude-code",
        "app.kubernetes.io/part-of": "stackkit",
        "release": "kps",
    }
    (kustomization,) = _docs(cfg, "kustomization")
    assert "prometheus-operator.yaml" in kustomization["resources"]
    # A stack that runs its own Alertmanager routes there: no AlertmanagerConfig anywhere.
    own = StackConfig.model_validate({**K8S, "alertmanager": {"receivers": [receiver]}})
    assert "AlertmanagerConfig" not in "".join(render(own).values())


def _pod(cfg: StackConfig, name: str) -> dict[str, Any]:
    (deployment,) = [d for d in _docs(cfg, name) if d["kind"] == "Deployment"]
    return deployment["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def test_volume_init_gives_each_claim_to_its_user_and_lowers_the_namespace_to_baseline() -> None:
    plain = StackConfig.model_validate(K8S)
    components = ("otelcol", "prometheus", "alertmanager", "grafana")
    assert all("initContainers" not in _pod(plain, n) for n in components)
    (ns,) = _docs(plain, "namespace")
    assert set(ns["metadata"]["labels"].values()) == {"restricted"}

    cfg = StackConfig.model_validate({**K8S, "kubernetes": {"volume_init": True}})
    assert "initContainers" not in _pod(cfg, "otelcol")  # no volume on Kubernetes
    for name, uid, folder in (
        ("prometheus", 65534, "/prometheus"),
        ("alertmanager", 65534, "/alertmanager"),
        ("grafana", 472, "/var/lib/grafana"),
    ):
        pod = _pod(cfg, name)
        (init,) = pod["initContainers"]
        assert init["image"] == IMAGES["prometheus"]
        assert init["command"] == ["/bin/busybox", "chown", f"{uid}:{uid}", folder]
        assert init["volumeMounts"] == [{"name": "data", "mountPath": folder}]
        ctx = init["securityContext"]
        assert ctx["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN"]}
        assert ctx["runAsUser"] == 0 and ctx["allowPrivilegeEscalation"] is False
        # The component itself still runs as its own user.
        assert pod["securityContext"]["runAsUser"] == uid
        assert pod["containers"][0]["securityContext"]["runAsNonRoot"] is True
    (ns,) = _docs(cfg, "namespace")
    assert set(ns["metadata"]["labels"].values()) == {"baseline"}


def test_docker_target_renders_no_manifests() -> None:
    assert not [p for p in render(StackConfig()) if str(p).startswith("kubernetes/")]


@pytest.mark.integration
def test_the_real_api_accepts_and_runs_them(
    kube_cluster: KubeCluster, docker_engine: DockerEngine, tmp_path: Path
) -> None:
    # The node runs real containers and can pull nothing: the stack's images (under their real
    # names) come from the tests' Docker engine.
    kube_cluster.import_images(docker_engine, *IMAGES.values())
    namespace = f"stackkit-{int(time.time())}"
    cfg = StackConfig.model_validate(
        {
            **K8S,
            "kubernetes": {"namespace": namespace},
            "prometheus": {
                "remote_write": [
                    {
                        "name": "mimir",
                        "url": "https://m/push",
                        "basic_auth": {"username": "u", "password_env": "P"},
                    }
                ]
            },
        }
    )
    out = tmp_path / "out"
    write(render(cfg), out)
    manifests = out / "kubernetes"
    kube_cluster.kubectl("apply", "-f", str(manifests / "namespace.yaml"))
    # The API server validates every object (schemas, names, references) without creating it.
    kube_cluster.kubectl("apply", "--dry-run=server", "-k", str(manifests))
    for secret, literal in (
        ("stackkit-otlp-token", "token=t0k"),
        ("stackkit-grafana-admin", "password=pw"),
        ("stackkit-remote-write", "mimir=pw"),
    ):
        kube_cluster.kubectl(
            "create", "secret", "generic", secret, f"--from-literal={literal}", "-n", namespace
        )
    kube_cluster.kubectl("apply", "-k", str(manifests))
    kube_cluster.kubectl(
        "rollout", "status", "deployment/otelcol", "-n", namespace, "--timeout=120s", timeout=150
    )
    objects = json.loads(
        kube_cluster.kubectl("get", "deploy,svc,cm,pvc", "-n", namespace, "-o", "json").stdout
    )
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects["items"]}
    for component in ("otelcol", "prometheus", "grafana"):
        assert ("Deployment", component) in kinds and ("Service", component) in kinds
        assert ("ConfigMap", f"{component}-config") in kinds
    assert {
        ("PersistentVolumeClaim", "prometheus-data"),
        ("PersistentVolumeClaim", "grafana-data"),
    } <= kinds
    kube_cluster.kubectl("delete", "namespace", namespace, "--wait=false")
