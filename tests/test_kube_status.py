"""Where developers reach a Kubernetes stack, read from the cluster's objects (a fake API)."""

from __future__ import annotations

from typing import Any

import pytest

from stackkit.config import StackConfig
from stackkit.kube_status import endpoints

PORTS = [
    {"name": "otlp-grpc", "port": 4317, "nodePort": 31317},
    {"name": "otlp-http", "port": 4318, "nodePort": 31318},
]


class FakeCluster:
    context = "test"

    def __init__(self, service: dict[str, Any]) -> None:
        self.service = service

    def get(self, path: str) -> dict[str, Any]:
        if path == "/api/v1/nodes":
            addresses = [{"type": "InternalIP", "address": "10.1.2.3"}]
            return {"items": [{"status": {"addresses": addresses}}]}
        assert path == "/api/v1/namespaces/cc/services/otelcol", path
        return self.service


def cfg(**kube: Any) -> StackConfig:
    return StackConfig.model_validate(
        {"target": "kubernetes", "kubernetes": {"namespace": "cc", **kube}}
    )


@pytest.mark.parametrize(
    ("service", "grpc", "http"),
    [
        ({"type": "ClusterIP"}, "http://otelcol.cc.svc:4317", "http://otelcol.cc.svc:4318"),
        ({"type": "NodePort"}, "http://10.1.2.3:31317", "http://10.1.2.3:31318"),
        (
            {"type": "LoadBalancer", "lb": "203.0.113.9"},
            "http://203.0.113.9:4317",
            "http://203.0.113.9:4318",
        ),
    ],
)
def test_each_exposure_gives_the_address_developers_reach(
    service: dict[str, str], grpc: str, http: str
) -> None:
    obj: dict[str, Any] = {"spec": {"type": service["type"], "ports": PORTS}}
    if "lb" in service:
        obj["status"] = {"loadBalancer": {"ingress": [{"ip": service["lb"]}]}}
    found = endpoints(cfg(), FakeCluster(obj))  # type: ignore[arg-type]
    assert found["otlp_endpoints"] == {"grpc": grpc, "http/protobuf": http}
    assert found["exposure"] == service["type"] and found["ingress_protocols"] == []


def test_an_ingress_serves_otlp_http_and_grafana_by_host() -> None:
    ingress = {"class_name": "nginx", "otlp_host": "otel.example.com", "tls_secret": "tls"}
    ingress["grafana_host"] = "grafana.example.com"
    obj = {"spec": {"type": "ClusterIP", "ports": PORTS}}
    found = endpoints(cfg(ingress=ingress), FakeCluster(obj))  # type: ignore[arg-type]
    assert found["otlp_endpoints"]["http/protobuf"] == "https://otel.example.com"
    assert found["otlp_endpoints"]["grpc"] == "http://otelcol.cc.svc:4317"
    assert found["ingress_protocols"] == ["http/protobuf"]
    assert found["grafana_url"] == "https://grafana.example.com"
