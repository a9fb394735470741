"""The Kubernetes program, on Pulumi mocks: it applies exactly what `render --target kubernetes`
writes (plus the Secrets), in order, for every option that changes the set of objects."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pulumi
import pytest
import yaml

from stackkit.config import StackConfig
from stackkit.deploy import kubernetes_args
from stackkit.paths import import_stacks
from stackkit.render import render

from .conftest import RecordingMocks
from .test_docker import SECRET_SIG, _plain

GROUP = "kubernetes:yaml/v2:ConfigGroup"

CASES = {
    "defaults": {},
    "nodeport, one replica": {
        "kubernetes": {"collector_service_type": "NodePort", "collector_replicas": 1}
    },
    "load balancer, ingress, sources": {
        "kubernetes": {
            "collector_service_type": "LoadBalancer",
            "collector_replicas": 3,
            "otlp_sources": ["10.0.0.0/8"],
            "ingress": {"otlp_host": "otel.example.com", "grafana_host": "g.example.com"},
        }
    },
    "existing prometheus, grafana sidecar, the operator's alertmanager": {
        "collector": {"export": "scrape"},
        "prometheus": {"mode": "existing"},
        "grafana": {"mode": "sidecar", "prometheus_url": "http://prom.monitoring:9090"},
        "alertmanager": {"receivers": [{"name": "hook", "webhook": {"url_env": "HOOK"}}]},
    },
    "agent and remote write": {
        "prometheus": {
            "mode": "agent",
            "remote_write": [
                {"name": "thanos", "url": "http://t:19291/api/v1/receive", "bearer_token_env": "T"}
            ],
        },
        "grafana": {"prometheus_url": "http://thanos-query:9090"},
    },
    "tls": "tls",
}


def _config(case: Any, tmp: Path) -> StackConfig:
    data: dict[str, Any] = {"target": "kubernetes"}
    if case == "tls":
        (tmp / "c.crt").write_text("CERT")
        (tmp / "c.key").write_text("KEY-SECRET")
        data["collector"] = {
            "tls": {"cert_file": str(tmp / "c.crt"), "key_file": str(tmp / "c.key")}
        }
    else:
        data.update(case)
    return StackConfig.model_validate(data)


def _rendered_objects(cfg: StackConfig) -> list[dict[str, Any]]:
    out = []
    for path, text in render(cfg).items():
        if path.parent == PurePosixPath("kubernetes") and path.name != "kustomization.yaml":
            out += [d for d in yaml.safe_load_all(text) if d]
    return out


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
@pulumi.runtime.test
def test_up_applies_exactly_what_render_writes(
    case: str, mocks: RecordingMocks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> pulumi.Output[Any]:
    monkeypatch.setenv("STACKKIT_OTLP_TOKEN", "tok-XYZ-0123456789")
    monkeypatch.setenv("T", "rw-XYZ")
    monkeypatch.setenv("HOOK", "https://hooks.example.com/XYZ")
    cfg = _config(CASES[case], tmp_path)
    stacks = import_stacks()
    deployed = stacks.KubernetesStack(cfg.name, kubernetes_args(cfg))

    def check(_: Any) -> None:
        groups = {r.name: r.inputs.get("objs", []) for r in mocks.resources if r.typ == GROUP}
        secrets = _plain(groups.pop(f"{cfg.name}-secrets", []))
        applied = [o for objs in groups.values() for o in objs]
        assert sorted(map(_key, applied)) == sorted(map(_key, _rendered_objects(cfg)))
        by_key = {_key(o): o for o in _rendered_objects(cfg)}
        for obj in applied:
            assert obj == by_key[_key(obj)], _key(obj)
        # The claims keep their own group (what `down` keeps); the Collector comes last.
        assert all(o["kind"] == "PersistentVolumeClaim" for o in groups.get(f"{cfg.name}-data", []))
        wanted = (
            {"stackkit-otlp-token", "stackkit-grafana-admin"}
            if cfg.grafana.mode == "deploy"
            else {"stackkit-otlp-token"}
        )
        if cfg.alertmanager.receivers:  # read by the Operator's Alertmanager
            wanted.add("stackkit-alertmanager")
        assert wanted <= {s["metadata"]["name"] for s in secrets}
        assert "XYZ" not in repr(kubernetes_args(cfg))

    children = [g.urn for g in deployed.groups.values()]
    return pulumi.Output.all(*children).apply(check)


@pulumi.runtime.test
def test_secret_values_reach_the_engine_only_as_secrets(
    mocks: RecordingMocks, monkeypatch: pytest.MonkeyPatch
) -> pulumi.Output[Any]:
    monkeypatch.setenv("STACKKIT_OTLP_TOKEN", "tok-XYZ-0123456789")
    cfg = StackConfig.model_validate({"target": "kubernetes"})
    deployed = import_stacks().KubernetesStack(cfg.name, kubernetes_args(cfg))

    def check(_: Any) -> None:
        (group,) = [r for r in mocks.resources if r.name == f"{cfg.name}-secrets"]
        # A secret value makes the whole input secret: no Secret object shows in plain text.
        assert SECRET_SIG in group.inputs["objs"]
        token = next(
            _plain(s["stringData"])
            for s in _plain(group.inputs["objs"])
            if s["metadata"]["name"] == "stackkit-otlp-token"
        )
        assert token == {"token": "tok-XYZ-0123456789"}

    return pulumi.Output.all(*[g.urn for g in deployed.groups.values()]).apply(check)


@pulumi.runtime.test
def test_down_keeps_the_namespace_and_the_claims(mocks: RecordingMocks) -> pulumi.Output[Any]:
    cfg = StackConfig.model_validate({"target": "kubernetes"})
    deployed = import_stacks().KubernetesStack(cfg.name, kubernetes_args(cfg, running=False))

    def check(_: Any) -> None:
        groups = {r.name: r.inputs["objs"] for r in mocks.resources if r.typ == GROUP}
        assert set(groups) == {f"{cfg.name}-namespace", f"{cfg.name}-data"}
        assert {o["metadata"]["name"] for o in groups[f"{cfg.name}-data"]} == {
            "prometheus-data",
            "alertmanager-data",
            "grafana-data",
        }

    assert deployed.data is not None
    return deployed.data.urn.apply(check)
