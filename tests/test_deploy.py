"""Deploy checks that must stop `up` before anything changes, with a message saying what to do."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stackkit import deploy
from stackkit.cli import app
from stackkit.config import StackConfig
from stackkit.docker_api import Engine
from stackkit.errors import DeployError
from tests.fixtures import free_port


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
        return [{"Ports": [{"PublicPort": p} for p in self.published]}]


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Any:
    def install(fake: FakeEngine) -> FakeEngine:
        monkeypatch.setattr(Engine, "from_env", classmethod(lambda cls: fake))
        return fake

    return install


def test_no_docker_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no.sock")
    result = CliRunner().invoke(app, ["up"])
    assert result.exit_code == 1
    assert f"no Docker engine answers at unix://{tmp_path}/no.sock" in result.stderr
    assert "point DOCKER_HOST at a running engine" in result.stderr


def test_missing_image_stops_before_any_change(engine: Any) -> None:
    cfg = StackConfig.model_validate({"images": {"registry": "mirror.example"}})
    fake = engine(FakeEngine(images=set(), pull_error="no route to host"))
    with pytest.raises(DeployError) as info:
        deploy.preflight(cfg)
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
        with pytest.raises(DeployError, match=f"port {port} on 127.0.0.1 \\(grafana http\\) is in use"):
            deploy.preflight(taken)


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
        deploy.preflight(cfg)


def test_kubernetes_target_is_not_deployed_yet() -> None:
    with pytest.raises(DeployError, match="render --target kubernetes"):
        deploy.preflight(StackConfig(target="kubernetes"))


def test_missing_pulumi_cli_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("STACKKIT_TOOLS", str(tmp_path))
    with pytest.raises(
        DeployError, match="the Pulumi CLI is not installed. Install version 3.260.0"
    ):
        deploy._pulumi_root()


def test_remote_write_secret_must_be_set(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = StackConfig.model_validate(
        {
            "prometheus": {
                "remote_write": [
                    {"name": "mimir", "url": "https://m/push", "bearer_token_env": "MIMIR_TOKEN"}
                ]
            }
        }
    )
    monkeypatch.delenv("MIMIR_TOKEN", raising=False)
    with pytest.raises(
        DeployError, match=r"remote_write\[0\] \(mimir\) needs its secret: set MIMIR_TOKEN"
    ):
        deploy.stack_args(cfg)
    monkeypatch.setenv("MIMIR_TOKEN", "s3cret")
    assert deploy.stack_args(cfg).secrets.values["stackkit-remote-write"] == {"mimir": "s3cret"}
