"""Checks that change nothing: Docker engine, images and ports; cluster, permissions, storage."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from stackkit import deploy, preflight
from stackkit.config import StackConfig
from stackkit.docker_api import ContainerState, Engine
from stackkit.errors import DeployError
from tests.fixtures import free_port


def _quiet(_: str) -> None:
    pass


class FakeEngine:
    """The Docker API answers preflight needs, without an engine."""

    def __init__(
        self, images: set[str], pull_error: str | None = None, published: list[int] = ()
    ) -> None:  # type: ignore[assignment]
        self.images, self.pull_error, self.published, self.pulled = (
            images,
            pull_error,
            list(published),
            [],
        )

    def ping(self) -> None:
        pass

    def has_image(self, ref: str) -> bool:
        return ref in self.images

    def pull(self, ref: str) -> str | None:
        self.pulled.append(ref)
        return self.pull_error

    def containers(self, label: str) -> list[dict[str, Any]]:
        return [{"Ports": [{"PublicPort": p} for p in self.published], "State": "running"}]


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Any:
    def install(fake: FakeEngine) -> FakeEngine:
        monkeypatch.setattr(Engine, "from_env", classmethod(lambda cls: fake))
        return fake

    return install


def test_missing_image_stops_before_any_change(engine: Any) -> None:
    cfg = StackConfig.model_validate({"images": {"registry": "mirror.example"}})
    fake = engine(FakeEngine(images=set(), pull_error="no route to host"))
    with pytest.raises(DeployError) as info:
        preflight.docker(cfg, deploy.build(cfg), _quiet)
    message = str(info.value)
    assert message.startswith("image mirror.example/otel/opentelemetry-collector-contrib:")
    assert "no route to host" in message and "nothing was changed" in message
    assert fake.pulled == [cfg.images.resolve("otelcol")]


def _on_free_ports(grafana_port: int) -> StackConfig:
    """A config whose every published port is free, but Grafana's: a user's own stack may hold
    the default ports while the tests run, and must neither break them nor be touched."""
    return StackConfig.model_validate(
        {
            "collector": {
                "grpc": {"port": free_port()},
                "http": {"port": free_port()},
                "health_port": free_port(),
            },
            "prometheus": {"port": free_port()},
            "alertmanager": {"port": free_port()},
            "grafana": {"port": grafana_port},
        }
    )


def test_port_in_use_by_another_program(engine: Any) -> None:
    cfg = StackConfig()
    engine(FakeEngine(images={cfg.images.resolve(c) for c in ("otelcol", "prometheus", "grafana")}))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = _on_free_ports(port)
        with pytest.raises(
            DeployError, match=f"port {port} on 127.0.0.1 \\(grafana http\\) is in use"
        ):
            preflight.docker(taken, deploy.build(taken), _quiet)


def test_ports_our_own_stack_holds_are_fine(engine: Any) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = _on_free_ports(port)
        engine(
            FakeEngine(
                {cfg.images.resolve(c) for c in ("otelcol", "prometheus", "grafana")},
                published=[port],
            )
        )
        preflight.docker(cfg, deploy.build(cfg), _quiet)


def test_ports_our_restarting_container_binds_are_fine(engine: Any) -> None:
    """A crash-looping container of the stack lists no ports, yet the engine holds them between
    tries: they are the stack's own, and the next `up` replaces that container."""

    class Restarting(FakeEngine):
        def containers(self, label: str) -> list[dict[str, Any]]:
            return [
                {"Id": "abc", "Name": "claude-code-otelcol", "Ports": [], "State": "restarting"}
            ]

        def state(self, name: str) -> ContainerState:
            assert name == "abc"
            return ContainerState("restarting", 1, 9, frozenset(self.published))

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = _on_free_ports(port)
        images = {cfg.images.resolve(c) for c in ("otelcol", "prometheus", "grafana")}
        engine(Restarting(images, published=[port]))
        preflight.docker(cfg, deploy.build(cfg), _quiet)
        engine(Restarting(images, published=[]))
        with pytest.raises(DeployError, match=f"port {port} on 127.0.0.1"):
            preflight.docker(cfg, deploy.build(cfg), _quiet)


class FakeApi:
    """A Kubernetes API that answers what preflight asks: version, namespace, access reviews,
    StorageClasses. ``denied`` resources fail the access review."""

    def __init__(self) -> None:
        self.denied: set[str] = set()
        self.classes: list[dict[str, Any]] = [
            {
                "metadata": {
                    "name": "local",
                    "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
                }
            }
        ]
        self.namespace_exists = True
        self.tokens: list[str] = []

    def answer(self, method: str, path: str, body: Any, auth: str) -> tuple[int, Any]:
        self.tokens.append(auth)
        if path == "/version":
            return 200, {"gitVersion": "v1.34.4"}
        if path.startswith("/api/v1/namespaces/"):
            return (200, {}) if self.namespace_exists else (404, {"message": "not found"})
        if path.endswith("/selfsubjectaccessreviews"):
            resource = body["spec"]["resourceAttributes"]["resource"]
            return 201, {"status": {"allowed": resource not in self.denied}}
        if path == "/apis/storage.k8s.io/v1/storageclasses":
            return 200, {"items": self.classes}
        return 404, {"message": f"no {path}"}


@pytest.fixture
def fake_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApi]:
    api = FakeApi()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, answer = api.answer(
                method, self.path, body, self.headers.get("Authorization", "")
            )
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "fake",
                "clusters": [
                    {"name": "c", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}
                ],
                "users": [{"name": "u", "user": {"token": "tok-k8s"}}],
                "contexts": [{"name": "fake", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    yield api
    server.shutdown()


K8S = StackConfig.model_validate({"target": "kubernetes"})


def test_cluster_context_and_namespace_are_named_first(fake_api: FakeApi) -> None:
    said: list[str] = []
    preflight.kubernetes(K8S, deploy.build(K8S), said.append)
    assert said[0].startswith("cluster http://127.0.0.1:") and "(context fake)" in said[0]
    assert said[0].endswith("namespace stackkit")
    assert set(fake_api.tokens) == {"Bearer tok-k8s"}


def test_a_missing_permission_stops_up(fake_api: FakeApi) -> None:
    fake_api.denied = {"networkpolicies", "secrets"}
    with pytest.raises(DeployError) as info:
        preflight.kubernetes(K8S, deploy.build(K8S), _quiet)
    message = str(info.value)
    assert "may not create secrets" in message and "create networkpolicies" in message
    assert "nothing was changed" in message


def test_a_missing_namespace_needs_the_right_to_create_it(fake_api: FakeApi) -> None:
    fake_api.namespace_exists = False
    fake_api.denied = {"namespaces"}
    with pytest.raises(DeployError, match="may not create the namespace stackkit"):
        preflight.kubernetes(K8S, deploy.build(K8S), _quiet)


def test_no_default_storage_class_names_the_ones_there(fake_api: FakeApi) -> None:
    fake_api.classes = [{"metadata": {"name": "slow"}}, {"metadata": {"name": "fast"}}]
    with pytest.raises(DeployError, match="set kubernetes.storage_class to one of: fast, slow"):
        preflight.kubernetes(K8S, deploy.build(K8S), _quiet)
    named = StackConfig.model_validate(
        {"target": "kubernetes", "kubernetes": {"storage_class": "fast"}}
    )
    preflight.kubernetes(named, deploy.build(named), _quiet)
    wrong = StackConfig.model_validate(
        {"target": "kubernetes", "kubernetes": {"storage_class": "ssd"}}
    )
    with pytest.raises(DeployError, match="'ssd' does not exist in the cluster"):
        preflight.kubernetes(wrong, deploy.build(wrong), _quiet)


def test_an_unreachable_cluster_says_what_to_do(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "current-context": "gone",
                "clusters": [
                    {"name": "c", "cluster": {"server": f"https://127.0.0.1:{free_port()}"}}
                ],
                "users": [{"name": "u", "user": {}}],
                "contexts": [{"name": "gone", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    cfg = StackConfig.model_validate(
        {"target": "kubernetes", "kubernetes": {"kubeconfig": str(kubeconfig)}}
    )
    with pytest.raises(DeployError, match="does not answer .* check the cluster is up"):
        preflight.kubernetes(cfg, deploy.build(cfg), _quiet)


def test_no_kubeconfig_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    with pytest.raises(DeployError, match="no kubeconfig at .*: set kubernetes.kubeconfig"):
        preflight.kubernetes(K8S, deploy.build(K8S), _quiet)


def test_storage_that_ignores_fsgroup_needs_volume_init(fake_api: FakeApi) -> None:
    fake_api.classes = [
        {
            "metadata": {
                "name": "standard",
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "kubernetes.io/host-path",
        },
        {"metadata": {"name": "csi"}, "provisioner": "ebs.csi.aws.com"},
    ]
    with pytest.raises(DeployError) as info:
        preflight.kubernetes(K8S, deploy.build(K8S), _quiet)
    message = str(info.value)
    assert message.startswith("StorageClass standard (kubernetes.io/host-path) gives volumes")
    assert (
        "prometheus, alertmanager and grafana" in message
        and "kubernetes.volume_init: true" in message
    )
    for fine in (
        {"kubernetes": {"volume_init": True}},
        {"kubernetes": {"storage_class": "csi"}},
        {
            "collector": {"export": "scrape"},
            "prometheus": {"mode": "existing"},
            "grafana": {"mode": "sidecar", "prometheus_url": "http://prometheus-operated:9090"},
        },
    ):
        cfg = StackConfig.model_validate({"target": "kubernetes", **fine})
        preflight.kubernetes(cfg, deploy.build(cfg), _quiet)


def test_a_bind_address_not_on_this_host_is_named_as_such(engine: Any) -> None:
    """Binding to an address the host does not have fails too, but not because a program holds
    the port: say what is wrong (192.0.2.1 is TEST-NET-1, on no host)."""
    cfg = StackConfig.model_validate({"docker": {"bind_address": "192.0.2.1"}})
    engine(FakeEngine(images={cfg.images.resolve(c) for c in ("otelcol", "prometheus", "grafana")}))
    with pytest.raises(DeployError) as info:
        preflight.docker(cfg, deploy.build(cfg), _quiet)
    message = str(info.value)
    assert message.startswith("docker.bind_address 192.0.2.1 is not an address of this host")
    assert "in use" not in message and "nothing was changed" in message
