"""The Docker program, on Pulumi mocks: what it asks the engine to create."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from stackkit.config import StackConfig
from stackkit.deploy import stack_args
from stackkit.model import VOLUME_INIT
from stackkit.paths import import_stacks

from .conftest import RecordingMocks

CONTAINER = "docker:index/container:Container"


# Image IDs as `up` passes them: each component's, and the volume init's (Prometheus' busybox).
IMAGES = {c: f"sha256:{c}" for c in ("otelcol", "prometheus", "alertmanager", "grafana")} | {
    VOLUME_INIT: "sha256:prometheus"
}


def _deploy(cfg: StackConfig, running: bool = True) -> Any:
    stacks = import_stacks()
    return stacks.DockerStack(cfg.name, stack_args(cfg, running, IMAGES if running else None))


SECRET_SIG = "4dabf18193072939515e22adb298388d"


def _plain(value: Any) -> Any:
    """Unwrap a value the engine marked secret (a list holding a secret becomes secret)."""
    if isinstance(value, dict) and SECRET_SIG in value:
        return value["value"]
    return value


def _settled(stack: Any) -> pulumi.Output[Any]:
    """Resolves once every child resource has been registered with the (mock) engine."""
    children = [*stack.volumes.values(), *stack.containers.values()]
    return pulumi.Output.all(stack.grafana_url, *[c.urn for c in children]).apply(lambda v: v[0])


@pulumi.runtime.test
def test_creates_network_volumes_and_four_containers(mocks: RecordingMocks) -> pulumi.Output[Any]:
    stack = _deploy(StackConfig())

    def check(_: Any) -> None:
        types = sorted(r.typ for r in mocks.resources)
        # Four components, and the one-shot container that gives the Collector its volume.
        assert types.count(CONTAINER) == 5
        assert types.count("docker:index/volume:Volume") == 4
        assert types.count("docker:index/network:Network") == 1
        containers = mocks.of_type(CONTAINER)
        init = containers.pop("claude-code-otelcol-volume-init")
        assert init["mustRun"] is False and init["user"] == "0:0"
        assert init["command"] == ["chown", "10001:10001", "/var/lib/otelcol"]
        assert set(containers) == {
            "claude-code-otelcol",
            "claude-code-prometheus",
            "claude-code-alertmanager",
            "claude-code-grafana",
        }
        for inputs in containers.values():
            assert inputs["restart"] == "unless-stopped"
            for port in inputs["ports"]:
                assert port["ip"] == "127.0.0.1", "ports must bind to localhost by default"
        # The Collector's own metrics (8888) never leave the Docker network.
        assert [v["containerPath"] for v in containers["claude-code-otelcol"]["volumes"]] == [
            "/var/lib/otelcol"
        ]
        assert {p["internal"] for p in containers["claude-code-otelcol"]["ports"]} == {
            4317,
            4318,
            13133,
        }
        # Prometheus checks a credential: its health check reads it from its file, by path.
        check = containers["claude-code-prometheus"]["healthcheck"]["tests"]
        assert check == [
            "CMD-SHELL",
            'wget -q -O /dev/null --header "Authorization: $(cat /etc/prometheus/secrets/'
            'authorization)" http://localhost:9090/-/ready',
        ]
        assert containers["claude-code-grafana"]["healthcheck"]["tests"][0] == "CMD"
        # Containers run the image IDs deploy resolved on the engine (a new image replaces its
        # container); the volume init borrows Prometheus' busybox.
        assert containers["claude-code-otelcol"]["image"] == "sha256:otelcol"
        assert containers["claude-code-grafana"]["image"] == "sha256:grafana"
        assert init["image"] == "sha256:prometheus"
        assert not mocks.of_type("docker:index/remoteImage:RemoteImage")

    return _settled(stack).apply(check)


@pulumi.runtime.test
def test_rendered_files_are_uploaded_where_the_images_read_them(
    mocks: RecordingMocks,
) -> pulumi.Output[Any]:
    cfg = StackConfig()
    stack = _deploy(cfg)

    def check(_: Any) -> None:
        containers = mocks.of_type(CONTAINER)
        files = {
            c: {u["file"] for u in _plain(i.get("uploads", []))} for c, i in containers.items()
        }
        assert files["claude-code-otelcol"] == {"/etc/otelcol-contrib/config.yaml"}
        assert "/etc/prometheus/prometheus.yml" in files["claude-code-prometheus"]
        assert "/etc/prometheus/rules/alerts.yml" in files["claude-code-prometheus"]
        assert not any("tests/" in f for f in files["claude-code-prometheus"])
        assert "/etc/grafana/dashboards/claude-code-overview.json" in files["claude-code-grafana"]
        assert "/etc/grafana/provisioning/datasources/stackkit.yaml" in files["claude-code-grafana"]
        assert "/etc/grafana/secrets/admin-password" in files["claude-code-grafana"]

    return _settled(stack).apply(check)


@pulumi.runtime.test
def test_down_keeps_only_the_data_volumes(mocks: RecordingMocks) -> pulumi.Output[Any]:
    stack = _deploy(StackConfig(), running=False)

    def check(_: Any) -> None:
        kinds = sorted(r.typ for r in mocks.resources if r.typ.startswith("docker:"))
        assert kinds == ["docker:index/volume:Volume"] * 4

    return _settled(stack).apply(check)


@pulumi.runtime.test
def test_bind_address_and_ports_follow_the_config(mocks: RecordingMocks) -> pulumi.Output[Any]:
    cfg = StackConfig.model_validate(
        {
            "docker": {"bind_address": "0.0.0.0"},
            "grafana": {"port": 13000},
            "collector": {"grpc": {"enabled": False}},
        }
    )
    stack = _deploy(cfg)

    def check(url: str) -> None:
        assert url == "http://localhost:13000"
        grafana = mocks.of_type(CONTAINER)["claude-code-grafana"]
        assert [(p["internal"], p["external"], p["ip"]) for p in grafana["ports"]] == [
            (13000, 13000, "0.0.0.0")
        ]
        otelcol = mocks.of_type(CONTAINER)["claude-code-otelcol"]
        assert 4317 not in {p["internal"] for p in otelcol["ports"]}

    return _settled(stack).apply(check)


@pulumi.runtime.test
def test_token_and_password_reach_the_engine_only_as_secrets(
    mocks: RecordingMocks, monkeypatch: pytest.MonkeyPatch
) -> pulumi.Output[Any]:
    monkeypatch.setenv("STACKKIT_OTLP_TOKEN", "tok-XYZ-0123456789")
    stack = _deploy(StackConfig())

    def check(_: Any) -> None:
        containers = mocks.of_type(CONTAINER)
        envs = containers["claude-code-otelcol"]["envs"]
        plain = _plain(envs)
        assert SECRET_SIG in envs and plain[0] == "STACKKIT_OTLP_TOKEN=tok-XYZ-0123456789"
        assert plain[1].startswith("STACKKIT_PROMETHEUS_AUTHORIZATION=Basic ") and len(plain) == 2
        assert SECRET_SIG in containers["claude-code-grafana"]["uploads"]
        assert SECRET_SIG in containers["claude-code-prometheus"]["uploads"]

    return _settled(stack).apply(check)


def test_secrets_are_not_in_the_args_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACKKIT_OTLP_TOKEN", "tok-XYZ-0123456789")
    monkeypatch.setenv("GF_PW", "pw-XYZ")
    args = stack_args(StackConfig.model_validate({"grafana": {"admin_password_env": "GF_PW"}}))
    assert args.secrets.values["stackkit-otlp-token"] == {"token": "tok-XYZ-0123456789"}
    assert "XYZ" not in repr(args)
    files = [t for c in args.stack.components for t in c.files.values()]
    assert "XYZ" not in "".join(files)


@pulumi.runtime.test
def test_tls_files_reach_the_collector_as_secrets(
    mocks: RecordingMocks, tmp_path: Any
) -> pulumi.Output[Any]:
    (tmp_path / "c.crt").write_text("CERT")
    (tmp_path / "c.key").write_text("KEY-SECRET")
    cfg = StackConfig.model_validate(
        {
            "collector": {
                "tls": {"cert_file": str(tmp_path / "c.crt"), "key_file": str(tmp_path / "c.key")}
            }
        }
    )
    stack = _deploy(cfg)

    def check(_: Any) -> None:
        uploads = mocks.of_type(CONTAINER)["claude-code-otelcol"]["uploads"]
        assert SECRET_SIG in uploads
        files = {u["file"]: u["content"] for u in _plain(uploads)}
        assert files["/etc/otelcol-contrib/tls/tls.key"] == "KEY-SECRET"
        assert files["/etc/otelcol-contrib/tls/tls.crt"] == "CERT"

    return pulumi.Output.all(_settled(stack), stack.otlp_endpoints).apply(
        lambda v: (check(v), _assert_https(v[1]))
    )


def _assert_https(endpoints: dict[str, str]) -> None:
    assert all(url.startswith("https://localhost:") for url in endpoints.values()), endpoints


def test_unreadable_tls_file_names_the_field(tmp_path: Any) -> None:
    from stackkit.errors import DeployError

    cfg = StackConfig.model_validate(
        {
            "collector": {
                "tls": {"cert_file": str(tmp_path / "no.crt"), "key_file": str(tmp_path / "no.key")}
            }
        }
    )
    with pytest.raises(DeployError, match="collector.tls.cert_file: cannot read"):
        stack_args(cfg)


@pulumi.runtime.test
def test_alertmanager_keeps_its_data_on_a_volume_and_its_secrets_in_files(
    mocks: RecordingMocks, monkeypatch: pytest.MonkeyPatch
) -> pulumi.Output[Any]:
    monkeypatch.setenv("ONCALL_KEY", "pd-key-XYZ")
    cfg = StackConfig.model_validate(
        {
            "alertmanager": {
                "receivers": [{"name": "oncall", "pagerduty": {"routing_key_env": "ONCALL_KEY"}}]
            }
        }
    )
    stack = _deploy(cfg)

    def check(_: Any) -> None:
        am = mocks.of_type(CONTAINER)["claude-code-alertmanager"]
        assert am["image"] == "sha256:alertmanager"
        assert [v["containerPath"] for v in am["volumes"]] == ["/alertmanager"]
        volume = mocks.of_type("docker:index/volume:Volume")["claude-code-alertmanager-data"]
        assert {x["label"] for x in volume["labels"]} == {"stackkit.stack", "stackkit.owner"}
        assert [(p["internal"], p["ip"]) for p in am["ports"]] == [(9093, "127.0.0.1")]
        assert "--web.config.file=/etc/alertmanager/secrets/web.yml" in am["command"]
        assert "--cluster.listen-address=" in am["command"]
        # The routing key travels only as a secret upload, read by routing_key_file.
        assert SECRET_SIG in am["uploads"]
        uploads = {u["file"]: u["content"] for u in _plain(am["uploads"])}
        assert uploads["/etc/alertmanager/secrets/oncall-routing-key"] == "pd-key-XYZ"
        config = uploads["/etc/alertmanager/alertmanager.yml"]
        assert "routing_key_file: /etc/alertmanager/secrets/oncall-routing-key" in config
        assert "XYZ" not in config
        check = am["healthcheck"]["tests"]
        assert check[0] == "CMD-SHELL" and "/etc/alertmanager/secrets/authorization" in check[1]

    return _settled(stack).apply(check)
