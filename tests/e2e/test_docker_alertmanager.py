"""The stack's Alertmanager on a real Docker engine, fed by the real Prometheus: an alert that
fires reaches a webhook receiver run by the test, with its labels; a silence survives the
Alertmanager's restarts; `down` keeps its volume and `down --purge` removes it.

One stack for the whole module: the steps build on each other, in order.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Deployed
from tests.e2e.test_docker_faults import healthy
from tests.fixtures.alertmanager import WebhookReceiver
from tests.fixtures.anthropic_fake import Error
from tests.fixtures.claude import ClaudeRunner

pytestmark = pytest.mark.integration

HOOK_ENV = "STACKKIT_TEST_HOOK_URL"
HOOK_TOKEN = "hook-token-Zq81x"


@pytest.fixture(scope="module")
def deployed(deploy_stack: Callable[..., Deployed]) -> Deployed:
    # Notify at once and again every minute: the test waits for one alert, not for hours.
    return deploy_stack(
        alertmanager={"group_wait": "1s", "group_interval": "1s", "repeat_interval": "1m"}
    )


def _api(d: Deployed, path: str, body: Any = None, auth: bool = True) -> Any:
    """Alertmanager's API, with the reading account's credential (as Prometheus sends it)."""
    request = urllib.request.Request(
        f"{d.outputs['alertmanager_url']}/api/v2/{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    if auth:
        request.add_header("Authorization", d.prometheus_authorization or "")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def _hook_env(d: Deployed, receiver: WebhookReceiver) -> dict[str, str]:
    """The webhook's URL as the Alertmanager container reaches the test: through its network's
    gateway. The token in it is a secret: it travels only in the variable."""
    net = d.engine.inspect(f"{d.name}-net", kind="network")[0]
    gateway = net["IPAM"]["Config"][0]["Gateway"]
    return {HOOK_ENV: f"http://{gateway}:{receiver.port}/hook?token={HOOK_TOKEN}"}


def test_up_runs_the_alertmanager_on_its_own_volume(deployed: Deployed) -> None:
    deployed.stackkit("up")
    assert f"{deployed.name}-alertmanager" in deployed.containers()
    volume = f"{deployed.name}-alertmanager-data"
    labels = deployed.engine.inspect(volume, kind="volume")[0]["Labels"] or {}
    assert labels.get("stackkit.stack") == deployed.name and labels.get("stackkit.owner"), labels
    status = healthy(deployed)
    row = next(line for line in status.splitlines() if line.startswith("alertmanager"))
    assert "running" in row and "answering" in row, status
    assert deployed.outputs["alertmanager_url"] in status, status
    # It checks the same credential as Prometheus: nobody else silences or reads alerts.
    with pytest.raises(urllib.error.HTTPError) as refused:
        _api(deployed, "status", auth=False)
    assert refused.value.code == 401
    assert _api(deployed, "status")["cluster"]["status"] == "disabled"


def test_a_receiver_secret_reaches_only_the_container(
    deployed: Deployed, webhook_receiver: WebhookReceiver
) -> None:
    deployed.config["alertmanager"]["receivers"] = [
        {"name": "test-hook", "webhook": {"url_env": HOOK_ENV}}
    ]
    deployed.write_config()
    missing = deployed.stackkit("up", check=False)
    assert missing.returncode == 1
    assert f"alertmanager.receivers[0] (test-hook) needs its secret: set {HOOK_ENV}" in (
        missing.stderr
    )
    result = deployed.stackkit("up", extra_env=_hook_env(deployed, webhook_receiver))
    assert f"replaced container {deployed.name}-alertmanager" in result.stderr, result.stderr
    assert HOOK_TOKEN not in result.stdout + result.stderr
    state = Path(deployed.env["STACKKIT_STATE_DIR"])
    for path in state.rglob("*"):
        if path.is_file():
            assert HOOK_TOKEN.encode() not in path.read_bytes(), path
    healthy(deployed)


def test_an_alert_that_fires_reaches_the_webhook_with_its_labels(
    deployed: Deployed, webhook_receiver: WebhookReceiver
) -> None:
    """The Collector stops: Prometheus' ClaudeCodeCollectorDown fires after its 2 minutes."""
    deployed.engine.docker("stop", f"{deployed.name}-otelcol", timeout=120)
    try:
        alert = webhook_receiver.wait_for("ClaudeCodeCollectorDown", timeout=400)
    finally:
        deployed.engine.docker("start", f"{deployed.name}-otelcol", timeout=120)
    labels = alert["labels"]
    assert labels["job"] == "otelcol" and labels["severity"] == "critical", labels
    assert labels["stackkit"] == deployed.name, labels  # Prometheus' external label
    assert alert["annotations"], alert
    notification = next(n for n in webhook_receiver.received if alert in n.get("alerts", []))
    assert notification["receiver"] == "test-hook"
    assert notification["groupLabels"] == {"alertname": "ClaudeCodeCollectorDown"}
    healthy(deployed)


def test_real_claude_code_failing_for_good_reaches_the_webhook(
    deployed: Deployed, webhook_receiver: WebhookReceiver, run_claude: ClaudeRunner
) -> None:
    """The real CLI gets 529s until it gives up: its api_retries_exhausted event is counted in
    the Collector, ClaudeCodeRetriesExhausted fires in Prometheus and reaches the webhook."""
    env = deployed.client_env("grpc", "e2e-overloaded", "delta")
    run = run_claude("overloaded", env | {"CLAUDE_CODE_MAX_RETRIES": "1"}, [Error(529), Error(529)])
    assert run.returncode == 1, run.describe()
    alert = webhook_receiver.wait_for("ClaudeCodeRetriesExhausted", timeout=300)
    assert alert["labels"]["model"] and alert["labels"]["severity"] == "warning", alert
    assert alert["labels"]["stackkit"] == deployed.name, alert
    overloaded = deployed.query(
        'sum(claude_code_api_error_count_total{team_id="e2e-overloaded", status_code="529"})'
    )
    assert overloaded and float(overloaded[0]["value"][1]) == 1, overloaded


def _silence(d: Deployed) -> str:
    now = datetime.now(UTC)
    body = {
        "matchers": [{"name": "alertname", "value": "ClaudeCodeNoTelemetry", "isRegex": False}],
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(hours=2)).isoformat(),
        "createdBy": "stackkit e2e",
        "comment": "a quiet test stack",
    }
    return str(_api(d, "silences", body)["silenceID"])


def _active(d: Deployed, silence_id: str, timeout: float = 90) -> dict[str, Any]:
    """The silence as the Alertmanager reports it, once it answers again."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found: dict[str, Any] = _api(d, f"silence/{silence_id}")
            assert found["status"]["state"] == "active", found
            return found
        except (urllib.error.URLError, ConnectionError, OSError) as e:
            assert time.monotonic() < deadline, f"Alertmanager does not answer: {e}"
            time.sleep(1)


def test_a_silence_survives_a_restart_a_config_change_and_down(
    deployed: Deployed, webhook_receiver: WebhookReceiver
) -> None:
    silence_id = _silence(deployed)
    assert _active(deployed, silence_id)["comment"] == "a quiet test stack"

    deployed.engine.docker("restart", f"{deployed.name}-alertmanager", timeout=120)
    _active(deployed, silence_id)

    deployed.config["alertmanager"]["repeat_interval"] = "2m"
    deployed.write_config()
    changed = deployed.stackkit("up", extra_env=_hook_env(deployed, webhook_receiver))
    assert f"replaced container {deployed.name}-alertmanager" in changed.stderr, changed.stderr
    _active(deployed, silence_id)

    hook = _hook_env(deployed, webhook_receiver)  # the network goes with `down`
    deployed.stackkit("down")
    assert f"{deployed.name}-alertmanager-data" in deployed.volumes()
    deployed.stackkit("up", extra_env=hook)
    _active(deployed, silence_id)


def test_down_purge_removes_its_volume(deployed: Deployed) -> None:
    purged = deployed.stackkit("down", "--purge")
    assert f"deleted volume {deployed.name}-alertmanager-data" in purged.stderr, purged.stderr
    assert deployed.containers() == [] and deployed.volumes() == []
