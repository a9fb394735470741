"""Deploy checks that must stop `up` before anything changes, with a message saying what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from stackkit import deploy, pulumi_stack
from stackkit.cli import app
from stackkit.config import StackConfig
from stackkit.errors import DeployError


def test_no_docker_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no.sock")
    result = CliRunner().invoke(app, ["up"])
    assert result.exit_code == 1
    assert f"no Docker engine answers at unix://{tmp_path}/no.sock" in result.stderr
    assert "point DOCKER_HOST at a running engine" in result.stderr


def test_missing_pulumi_cli_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("STACKKIT_TOOLS", str(tmp_path))
    with pytest.raises(
        DeployError, match="the Pulumi CLI is not installed. Install version 3.260.0"
    ):
        pulumi_stack.pulumi_root()


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
