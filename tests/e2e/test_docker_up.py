"""`stackkit up` on a real Docker engine through the real Pulumi engine and Docker provider, fed
by real Claude Code sessions; then a config change, `down`, and `up` again with the data intact.

One stack for the whole module: the steps build on each other, in order.
"""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from stackkit.prometheus_auth import basic_authorization
from tests.e2e.conftest import Deployed
from tests.fixtures.anthropic_fake import Error
from tests.fixtures.claude import ClaudeRunner
from tests.pipeline import (
    Expected,
    add,
    assert_queries_return_data,
    check_resumed_sessions,
    dashboard_queries,
    recording_rules,
    run_sessions,
    wait_for_totals,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def deployed(deploy_stack: Callable[..., Deployed]) -> Deployed:
    return deploy_stack()


def test_an_image_that_cannot_be_had_stops_up_before_any_change(deployed: Deployed) -> None:
    deployed.config["images"] = {"grafana": "stackkit.invalid/not-there:1"}
    deployed.write_config()
    try:
        result = deployed.stackkit("up", check=False)
    finally:
        del deployed.config["images"]
        deployed.write_config()
    assert result.returncode == 1
    assert (
        "image stackkit.invalid/not-there:1 (grafana) is not on this machine and cannot be pulled"
        in result.stderr
    )
    assert "nothing was changed" in result.stderr
    assert deployed.containers() == [] and deployed.volumes() == []


def test_preview_then_up_then_nothing_to_do(deployed: Deployed) -> None:
    preview = deployed.stackkit("preview")
    assert "up would make:" in preview.stderr and "create" in preview.stderr, preview.stderr
    assert deployed.containers() == [], "preview must not change anything"

    first = deployed.timed("up_cold_s", "up")
    assert f"http://localhost:{deployed.config['grafana']['port']}" in first.stderr
    assert 'next: eval "$(stackkit env)"' in first.stderr
    assert "created container" in first.stderr, "up must show progress resource by resource"
    # The four components, and the one-shot container that gave the Collector its volume.
    assert deployed.containers() == sorted(
        f"{deployed.name}-{c}"
        for c in ("alertmanager", "grafana", "otelcol", "otelcol-volume-init", "prometheus")
    )

    second = deployed.timed("up_noop_s", "up")
    assert "done: no changes" in second.stderr, second.stderr


def test_a_no_op_up_still_notices_what_changed_behind_its_back(deployed: Deployed) -> None:
    """The quick no-op path (no Pulumi) only answers when the containers are all still there
    and running; a container removed by hand is put back by Pulumi."""
    deployed.engine.docker("rm", "-f", f"{deployed.name}-grafana")
    result = deployed.stackkit("up")
    assert f"created container {deployed.name}-grafana" in result.stderr, result.stderr
    assert "done: no changes" in deployed.stackkit("up").stderr


def test_status_reports_every_component(deployed: Deployed) -> None:
    deadline = time.monotonic() + 90
    while True:
        status = deployed.stackkit("status", check=False)
        if status.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert status.returncode == 0, status.stdout + status.stderr
    for component in ("otelcol", "prometheus", "alertmanager", "grafana"):
        assert f"{component}" in status.stdout and "NOT answering" not in status.stdout


def test_grafana_gets_its_provisioning_and_dashboards(deployed: Deployed) -> None:
    password = deployed.stackkit("secret", "grafana-password").stdout.strip()
    assert password and password not in deployed.stackkit("up").stderr
    auth = base64.b64encode(f"admin:{password}".encode()).decode()
    rendered = deployed.workdir / "rendered"
    deployed.stackkit("render", "-o", str(rendered))
    for rel in (
        "dashboards/claude-code-overview.json",
        "provisioning/datasources/stackkit.yaml",
        "provisioning/dashboards/stackkit.yaml",
        "grafana.ini",
    ):
        req = urllib.request.Request(
            f"{deployed.outputs['grafana_url']}/stackkit/files/etc/grafana/{rel}",
            headers={"Authorization": f"Basic {auth}"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.read().decode() == (rendered / "grafana" / rel).read_text(), rel


def test_totals_from_real_claude_code_sessions(
    deployed: Deployed, run_claude: ClaudeRunner
) -> None:
    _, delta = run_sessions(run_claude, deployed.client_env("grpc", "e2e-delta", "delta"), 3)
    _, cumulative = run_sessions(
        run_claude, deployed.client_env("http/protobuf", "e2e-cumulative", "cumulative"), 3, first=3
    )
    wait_for_totals(deployed.query, '{team_id="e2e-delta"}', delta)
    wait_for_totals(deployed.query, '{team_id="e2e-cumulative"}', cumulative)
    # A request that fails for good becomes an api_error event, counted by the Collector.
    failing = deployed.client_env("grpc", "e2e-errors", "delta") | {"CLAUDE_CODE_MAX_RETRIES": "1"}
    run = run_claude("fail", failing, [Error(500), Error(500)])
    assert run.returncode == 1, run.describe()
    assert_queries_return_data(
        deployed.query,
        ['claude_code_api_error_count_total{team_id="e2e-errors", status_code="500"} == 1'],
    )
    sessions = deployed.query(
        'sum(max_over_time(claude_code_session_count_total{team_id="e2e-errors"}[1h]))'
    )
    failed = Expected({}, 0.0, int(float(sessions[0]["value"][1])), 0, 0, 0)
    deployed.totals = [delta, cumulative, failed]


def test_resumed_sessions_add_up(deployed: Deployed, run_claude: ClaudeRunner) -> None:
    """`claude -c` and `claude --resume` right after a session, on the deployed stack."""
    resumed = check_resumed_sessions(run_claude, deployed.client_env, deployed.query, "e2e-resume")
    deployed.totals.append(resumed)


def test_prometheus_refuses_requests_without_its_password(deployed: Deployed) -> None:
    """Its port is published on the host: writing a forged total or reading anyone's spend
    needs a password (the Collector's or the reader's), which `stackkit secret` gives."""
    url = deployed.outputs["prometheus_url"]
    password = deployed.stackkit("secret", "prometheus-password").stdout.strip()
    wrong = basic_authorization("stackkit", "not-" + password)
    for headers in ({}, {"Authorization": wrong}):
        for req in (
            urllib.request.Request(f"{url}/api/v1/query?query=up", headers=headers),
            urllib.request.Request(
                f"{url}/api/v1/otlp/v1/metrics",
                data=b"",
                method="POST",
                headers={"Content-Type": "application/x-protobuf", **headers},
            ),
        ):
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(req, timeout=10)
            assert info.value.code == 401, req.full_url
    good = urllib.request.Request(
        f"{url}/api/v1/query?query=up",
        headers={"Authorization": basic_authorization("stackkit", password)},
    )
    with urllib.request.urlopen(good, timeout=10) as resp:
        assert resp.status == 200
    # Prometheus' own health check in the container carries the password from its file.
    assert deployed.engine.docker(
        "inspect", "--format", "{{.State.Health.Status}}", f"{deployed.name}-prometheus"
    ).stdout.strip() in ("healthy", "starting")
    assert password not in deployed.engine.docker("inspect", f"{deployed.name}-prometheus").stdout


def test_data_without_the_token_is_refused(deployed: Deployed) -> None:
    for token in (None, "wrong"):
        req = urllib.request.Request(
            f"{deployed.outputs['otlp_endpoints']['http/protobuf']}/v1/metrics",
            data=b"",
            method="POST",
            headers={
                "Content-Type": "application/x-protobuf",
                **({"Authorization": f"Bearer {token}"} if token else {}),
            },
        )
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=10)
        assert info.value.code == 401


def test_verify_with_the_snippet(deployed: Deployed) -> None:
    env = deployed.client_env("grpc", "e2e-verify", "cumulative")
    result = deployed.stackkit("verify", "--timeout", "60", extra_env=env)
    assert "step 4/4 ok" in result.stderr
    deadline = time.monotonic() + 30  # the Collector's own counters are scraped separately
    while True:
        status = deployed.stackkit("status", check=False)
        if (
            re.search(r"telemetry +last arrived \d+s ago", status.stdout)
            or time.monotonic() > deadline
        ):
            break
        time.sleep(2)
    assert re.search(r"telemetry +last arrived \d+s ago", status.stdout), status.stdout


def test_every_dashboard_query_and_recording_rule_has_data(deployed: Deployed) -> None:
    files = {
        str(p.relative_to(deployed.workdir / "rendered")): p.read_text()
        for p in (deployed.workdir / "rendered").rglob("*")
        if p.is_file()
    }
    assert_queries_return_data(deployed.query, dashboard_queries(files))
    assert_queries_return_data(deployed.query, recording_rules(files))


def test_config_change_replaces_only_what_it_affects(deployed: Deployed) -> None:
    deployed.config["alerts"] = {"user_spend_usd_per_hour": 55}
    deployed.write_config()
    result = deployed.timed("up_rules_change_s", "up")
    changed = [
        line
        for line in result.stderr.splitlines()
        if re.match(r"  (created|deleted|replaced|updated)", line)
    ]
    assert changed and all(f"{deployed.name}-prometheus" in line for line in changed), result.stderr
    wait_for_totals(deployed.query, "", add(*deployed.totals))


def test_data_survives_a_container_restart(deployed: Deployed) -> None:
    deployed.engine.docker(
        "restart", f"{deployed.name}-prometheus", f"{deployed.name}-grafana", timeout=120
    )
    wait_for_totals(deployed.query, "", add(*deployed.totals), timeout=90)


def test_down_keeps_data_and_up_brings_it_back(deployed: Deployed) -> None:
    down = deployed.timed("down_s", "down")
    assert "data volumes kept" in down.stderr
    assert deployed.containers() == []
    assert deployed.volumes() == sorted(
        f"{deployed.name}-{v}-data" for v in ("alertmanager", "grafana", "otelcol", "prometheus")
    )
    deployed.timed("up_after_down_s", "up")
    wait_for_totals(deployed.query, "", add(*deployed.totals), timeout=90)


def test_pulumi_leaves_nothing_behind(
    deploy_stack: Callable[..., Deployed], tmp_path: Path
) -> None:
    """Only the stack's state remains: no /tmp/automation-* folder, nothing in ~/.pulumi, no
    logs (Pulumi's home is inside stackkit's state folder)."""
    d = deploy_stack()
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    env = {k: v for k, v in d.env.items() if k != "PULUMI_HOME"}
    env |= {"HOME": str(home), "TMPDIR": str(tmp)}
    for args in (["up"], ["preview"], ["down"], ["up"], ["down", "--purge"]):
        result = subprocess.run(
            [sys.executable, "-m", "stackkit", *args],
            cwd=d.workdir, env=env, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp.iterdir()) == []
    assert sorted(p.name for p in home.iterdir()) == []
    pulumi_home = Path(d.env["STACKKIT_STATE_DIR"]) / "pulumi-home"
    assert pulumi_home.is_dir()
    assert not (pulumi_home / "logs").exists()
