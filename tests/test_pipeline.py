"""The rendered configuration, run for real: Collector and Prometheus processes fed by real
Claude Code sessions. Totals in Prometheus must equal what the sessions produced, for delta and
cumulative clients over gRPC and HTTP, with sessions running at the same time; every dashboard
query and recording rule must return data; wrong tokens are refused and counted.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stackkit.config import StackConfig
from stackkit.env import ClientSettings, Endpoint, env_vars
from stackkit.model import OTELCOL_QUEUE_DIR, OTELCOL_TLS_DIR, prometheus_args
from stackkit.render import render
from stackkit.status import last_arrival
from stackkit.verify import VerifyError, verify
from tests.fixtures import free_port
from tests.fixtures.anthropic_fake import Error, Text
from tests.fixtures.claude import ClaudeRunner
from tests.pipeline import (
    add,
    assert_queries_return_data,
    dashboard_queries,
    recording_rules,
    run_sessions,
    wait_for_totals,
)

pytestmark = pytest.mark.integration


@dataclass
class LocalStack:
    cfg: StackConfig
    files: dict[str, str]
    token: str
    prometheus: Any

    def query(self, promql: str) -> list[dict[str, Any]]:
        return self.prometheus.query(promql)  # type: ignore[no-any-return]

    def client_env(
        self, protocol: str, team: str, temporality: str, token: str | None = None
    ) -> dict[str, str]:
        port = self.cfg.collector.grpc.port if protocol == "grpc" else self.cfg.collector.http.port
        tls = self.cfg.collector.tls
        scheme = "https" if tls.enabled else "http"
        ca = str(tls.ca_file) if tls.ca_file else None
        env = env_vars(
            Endpoint(f"{scheme}://localhost:{port}", protocol, token or self.token, ca),
            ClientSettings(
                {"team.id": team}, metric_export_interval_ms=1000, logs_export_interval_ms=1000
            ),
        )
        env["OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"] = temporality
        return env


@pytest.fixture
def local_stack(
    otelcol_process: Callable[..., Any], prometheus_server: Callable[..., Any], tmp_path: Path
) -> Callable[..., LocalStack]:
    def start(tls: dict[str, str] | None = None, **overrides: Any) -> LocalStack:
        ports = [free_port() for _ in range(5)]
        cfg = StackConfig.model_validate(
            {
                "collector": {
                    "grpc": {"port": ports[0]},
                    "http": {"port": ports[1]},
                    "health_port": ports[2],
                    "metrics_port": ports[3],
                    "telemetry_port": ports[4],
                    "tls": tls or {},
                },
                "prometheus": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                **overrides,
            }
        )
        files = {str(p): t for p, t in render(cfg).items()}
        token = secrets.token_urlsafe(24)
        rules = tmp_path / "rules"
        rules.mkdir(exist_ok=True)
        for name in ("recording.yml", "alerts.yml"):
            (rules / name).write_text(files[f"prometheus/rules/{name}"])
        config = (
            files["prometheus/prometheus.yml"]
            .replace("otelcol:", "127.0.0.1:")
            .replace(f"localhost:{cfg.prometheus.port}", "{listen}")
            .replace("- rules/", f"- {rules}/")
        )
        # The rendered flags but those naming the container's paths and address.
        flags = [
            a for a in prometheus_args(cfg) if a.startswith(("--enable-feature", "--web.enable"))
        ]
        prom = prometheus_server(config, flags=flags)
        # The rendered paths and names are the container's; here everything is local.
        queue = tmp_path / "queue"
        collector_config = (
            files["otelcol/config.yaml"]
            .replace(f"http://prometheus:{cfg.prometheus.port}", prom.url)
            .replace(OTELCOL_QUEUE_DIR, str(queue))
        )
        if tls:
            collector_config = collector_config.replace(
                f"{OTELCOL_TLS_DIR}/tls.crt", tls["cert_file"]
            ).replace(f"{OTELCOL_TLS_DIR}/tls.key", tls["key_file"])
        otelcol_process(
            collector_config,
            health_url=f"http://127.0.0.1:{ports[2]}/",
            env={cfg.collector.auth.token_env: token, "HOSTNAME": "test-collector"},
        )
        return LocalStack(cfg, files, token, prom)

    return start


def test_totals_delta_and_cumulative_grpc_and_http(
    local_stack: Callable[..., LocalStack], run_claude: ClaudeRunner
) -> None:
    stack = local_stack()
    _, delta = run_sessions(run_claude, stack.client_env("grpc", "team-delta", "delta"), 3)
    _, cumulative = run_sessions(
        run_claude, stack.client_env("http/protobuf", "team-cumulative", "cumulative"), 3, first=3
    )
    wait_for_totals(stack.query, '{team_id="team-delta"}', delta)
    wait_for_totals(stack.query, '{team_id="team-cumulative"}', cumulative)
    wait_for_totals(stack.query, "", add(delta, cumulative))

    # Created timestamps become zero samples, so increase() counts a new series from zero.
    started = stack.query(
        'sum(increase(claude_code_session_count_total{team_id="team-delta"}[10m]))'
    )
    assert float(started[0]["value"][1]) >= 2.7, started

    # A request that fails for good (after Claude Code's own retry) is counted from its event.
    failing = stack.client_env("grpc", "team-errors", "delta") | {"CLAUDE_CODE_MAX_RETRIES": "1"}
    run = run_claude("fail", failing, [Error(500), Error(500)])
    assert run.returncode == 1, run.describe()
    assert_queries_return_data(
        stack.query,
        ['claude_code_api_error_count_total{team_id="team-errors", status_code="500"} == 1'],
    )

    # Every dashboard panel and every recording rule has data behind it.
    assert_queries_return_data(stack.query, dashboard_queries(stack.files))
    assert_queries_return_data(stack.query, recording_rules(stack.files))


def test_wrong_token_is_refused_and_counted(
    local_stack: Callable[..., LocalStack], run_claude: ClaudeRunner
) -> None:
    stack = local_stack()
    for protocol in ("grpc", "http/protobuf"):
        run = run_claude(
            "hello",
            stack.client_env(protocol, "team-wrong-token", "delta", token="not-the-token"),
            [Text("hi")],
        )
        assert run.returncode == 0, run.describe()
    refused = (
        'sum(max_over_time(http_server_request_duration_count{http_response_status_code="401"}[5m]))'
        ' + sum(max_over_time(rpc_server_call_duration_count{rpc_response_status_code="UNAUTHENTICATED"}[5m]))'
    )
    assert_queries_return_data(stack.query, [f"({refused}) >= 2"])
    assert stack.query('claude_code_session_count_total{team_id="team-wrong-token"}') == []


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_verify_sees_its_point_arrive(
    local_stack: Callable[..., LocalStack], protocol: str
) -> None:
    stack = local_stack()
    environ = stack.client_env(protocol, "team-verify", "cumulative")
    steps: list[str] = []
    assert last_arrival(stack.prometheus.url) is None
    took = verify(environ, stack.prometheus.url, steps.append, timeout=30)
    assert took < 30 and len(steps) == 4, steps
    # The Collector's own counters are scraped on their own schedule: allow a few scrapes.
    deadline = time.monotonic() + 15
    while (arrived := last_arrival(stack.prometheus.url)) is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert arrived is not None and time.time() - arrived < 30


def test_dropping_session_id_keeps_totals_exact(
    local_stack: Callable[..., LocalStack], run_claude: ClaudeRunner
) -> None:
    """Merged series must add up for cumulative clients too (the reported USD 1.97M trap)."""
    stack = local_stack(attributes={"session_id": "drop"})
    # Six processes at once, two temporalities and protocols, all into the same merged series.
    with ThreadPoolExecutor(2) as pool:
        grpc = pool.submit(
            run_sessions, run_claude, stack.client_env("grpc", "team-merged", "cumulative"), 3
        )
        http = pool.submit(
            run_sessions,
            run_claude,
            stack.client_env("http/protobuf", "team-merged", "delta"),
            3,
            first=3,
        )
        (_, cumulative), (_, delta) = grpc.result(), http.result()
    wait_for_totals(stack.query, '{team_id="team-merged"}', add(cumulative, delta))
    assert stack.query('count(claude_code_session_count_total{session_id!=""})') == []


def test_tls_endpoints_with_a_private_ca(
    local_stack: Callable[..., LocalStack], run_claude: ClaudeRunner, tmp_path: Path
) -> None:
    """With collector.tls, the snippet's CA variable lets Claude Code and verify trust the stack."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    stack = local_stack(tls={"cert_file": str(cert), "key_file": str(key), "ca_file": str(cert)})
    for protocol in ("grpc", "http/protobuf"):
        steps: list[str] = []
        verify(
            stack.client_env(protocol, "team-tls", "cumulative"),
            stack.prometheus.url,
            steps.append,
            timeout=30,
        )
        assert steps[0].startswith(f"step 1/4 ok: telemetry on, {protocol} to https://")
    _, over_grpc = run_sessions(run_claude, stack.client_env("grpc", "team-tls-grpc", "delta"), 1)
    _, over_http = run_sessions(
        run_claude, stack.client_env("http/protobuf", "team-tls-http", "delta"), 1
    )
    wait_for_totals(stack.query, '{team_id="team-tls-grpc"}', over_grpc)
    wait_for_totals(stack.query, '{team_id="team-tls-http"}', over_http)
    plain = stack.client_env("http/protobuf", "team-tls", "cumulative")
    del plain["NODE_EXTRA_CA_CERTS"]
    with pytest.raises(VerifyError, match="TLS with https://localhost:.* failed"):
        verify(plain, stack.prometheus.url, lambda _: None, timeout=10)
