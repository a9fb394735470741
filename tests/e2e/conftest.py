"""The end-to-end tests' stack: `stackkit` run as a user runs it, on the tests' Docker engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from stackkit.prom_client import Fetch, at, query
from stackkit.prometheus_auth import READER, READER_PASSWORD_FILE, basic_authorization
from tests.fixtures import free_port
from tests.fixtures.docker import DockerEngine
from tests.fixtures.pulumi import PulumiEnv
from tests.pipeline import Expected


@dataclass
class CliStack:
    """A stack config in a folder, and the real CLI run on it as a user runs it."""

    workdir: Path
    env: dict[str, str]
    config: dict[str, Any]
    totals: list[Expected] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def config_path(self) -> Path:
        return self.workdir / "stackkit.yaml"

    def write_config(self) -> None:
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))

    def stackkit(
        self, *args: str, check: bool = True, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "stackkit", *args],
            cwd=self.workdir,
            capture_output=True,
            text=True,
            env={**self.env, **(extra_env or {})},
            timeout=1200,
        )
        if transcript := os.environ.get("STACKKIT_TEST_TRANSCRIPT"):
            # What the README shows comes from here: a real run, not typed by hand.
            with open(transcript, "a") as f:
                f.write(f"$ stackkit {' '.join(args)}\n{result.stderr}{result.stdout}\n")
        if check:
            assert result.returncode == 0, (
                f"stackkit {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def timed(self, label: str, *args: str) -> subprocess.CompletedProcess[str]:
        start = time.monotonic()
        result = self.stackkit(*args)
        self.timings[label] = round(time.monotonic() - start, 1)
        return result


@dataclass
class Deployed(CliStack):
    name: str = field(kw_only=True)
    engine: DockerEngine = field(kw_only=True)

    @property
    def outputs(self) -> dict[str, Any]:
        state = Path(self.env["STACKKIT_STATE_DIR"]) / self.name / "outputs.json"
        return json.loads(state.read_text())  # type: ignore[no-any-return]

    @property
    def prometheus_authorization(self) -> str | None:
        """The reading account's header, from the stack's state folder (as `status` reads it);
        None for a stack an earlier release deployed, whose Prometheus asks for none."""
        path = Path(self.env["STACKKIT_STATE_DIR"]) / self.name / READER_PASSWORD_FILE
        if not path.exists():
            return None
        return basic_authorization(READER, path.read_text().strip())

    @property
    def prometheus(self) -> Fetch:
        """The stack's Prometheus, asked with the reading account's credential."""
        return at(self.outputs["prometheus_url"], self.prometheus_authorization)

    def query(self, promql: str) -> list[dict[str, Any]]:
        return query(self.prometheus, promql)

    def client_env(self, protocol: str, team: str, temporality: str) -> dict[str, str]:
        out = self.stackkit(
            "env", "--format", "json", "--protocol", protocol, "--attr", f"team.id={team}"
        )
        env: dict[str, str] = json.loads(out.stdout)["env"]
        env |= {
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": temporality,
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
            "OTEL_LOGS_EXPORT_INTERVAL": "1000",
        }
        return env

    def containers(self) -> list[str]:
        out = self.engine.docker(
            "ps", "-a", "--filter", f"label=stackkit.stack={self.name}", "--format", "{{.Names}}"
        )
        return sorted(out.stdout.split())

    def volumes(self) -> list[str]:
        out = self.engine.docker(
            "volume", "ls", "--filter", f"label=stackkit.stack={self.name}", "--format", "{{.Name}}"
        )
        return sorted(out.stdout.split())


def start_deployed(
    docker_engine: DockerEngine, pulumi_env: PulumiEnv, work: Path, **overrides: Any
) -> Deployed:
    """A stack config on free ports (a user's own stack may hold the defaults), not yet up."""
    env = {
        **os.environ,
        **docker_engine.env,
        **pulumi_env.env,
        "DOCKER_HOST": docker_engine.host,
        "STACKKIT_STATE_DIR": str(work / "state"),
    }
    # stackkit keeps its own backend and passphrase under its state folder, as for users.
    for var in ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE"):
        env.pop(var)
    env.pop("STACKKIT_OTLP_TOKEN", None)
    name = docker_engine.unique("sk")
    config: dict[str, Any] = {
        "name": name,
        "collector": {
            "grpc": {"port": free_port()},
            "http": {"port": free_port()},
            "health_port": free_port(),
        },
        "prometheus": {"port": free_port(), "scrape_interval": "2s", "evaluation_interval": "2s"},
        "grafana": {"port": free_port()},
        "alertmanager": {"port": free_port()},
    }
    for key, value in overrides.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    d = Deployed(work, env, config, name=name, engine=docker_engine)
    d.write_config()
    return d


@pytest.fixture(scope="module")
def deploy_stack(
    docker_engine: DockerEngine, pulumi_env: PulumiEnv, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Deployed]]:
    """Factory: a stack config on free ports; every stack made is purged at the module's end."""
    made: list[Deployed] = []

    def make(**overrides: Any) -> Deployed:
        d = start_deployed(docker_engine, pulumi_env, tmp_path_factory.mktemp("e2e"), **overrides)
        made.append(d)
        return d

    yield make
    for d in made:
        d.stackkit("down", "--purge", check=False)
