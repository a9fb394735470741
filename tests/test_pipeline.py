"""The rendered configuration, run for real: Collector and Prometheus processes fed by real
Claude Code sessions. Totals in Prometheus must equal what the sessions produced, for delta and
cumulative clients over gRPC and HTTP, with sessions running at the same time; every dashboard
query and recording rule must return data; wrong tokens are refused and counted.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from stackkit import local_http, prometheus_auth, repo
from stackkit.collector import MAX_VALUE_CHARS, POINT_ATTRIBUTES, RESOURCE_ATTRIBUTES
from stackkit.config import StackConfig
from stackkit.env import ClientSettings, Endpoint, env_vars
from stackkit.model import (
    OTELCOL_QUEUE_DIR,
    OTELCOL_TLS_DIR,
    PROMETHEUS_AUTH_ENV,
    PROMETHEUS_SECRETS_DIR,
    prometheus_args,
)
from stackkit.prom_client import Fetch, at, query
from stackkit.render import render
from stackkit.status import last_arrival
from stackkit.verify import VerifyError, verify
from tests.fixtures import free_port
from tests.fixtures.anthropic_fake import Error, Text, write_file
from tests.fixtures.claude import ClaudeRunner
from tests.fixtures.otlp_sink import OtlpSink
from tests.pipeline import (
    add,
    assert_queries_return_data,
    check_reliability_counts,
    check_resumed_sessions,
    dashboard_queries,
    escalation_request,
    event_request,
    recording_rules,
    run_reliability_sessions,
    run_sessions,
    wait_for_totals,
    wait_for_value,
)

pytestmark = pytest.mark.integration


@dataclass
class LocalStack:
    cfg: StackConfig
    files: dict[str, str]
    token: str
    prometheus: Any
    auth: dict[str, str]
    """Prometheus' credentials (the keys of its secret): its web config, the reader's header."""
    workdirs: tuple[Path, ...] = ()
    """Where the Collector and Prometheus keep their config, log, queue and data."""

    def query(self, promql: str) -> list[dict[str, Any]]:
        return self.prometheus.query(promql)  # type: ignore[no-any-return]

    def reader_query(self, promql: str) -> list[dict[str, Any]]:
        return query(self.reader, promql)

    def post(self, signal: str, body: bytes) -> int:
        """One OTLP/HTTP protobuf request (``signal``: metrics or logs) to the Collector, with
        the token: its HTTP status."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.cfg.collector.http.port}/v1/{signal}",
            data=body,
            headers={
                "Content-Type": "application/x-protobuf",
                "Authorization": f"Bearer {self.token}",
            },
        )
        with local_http.urlopen(request, timeout=10) as resp:
            return int(resp.status)

    @property
    def reader(self) -> Fetch:
        """Prometheus as `status` and `verify` ask it: with the reading account's header."""
        return at(self.prometheus.url, self.auth["authorization"])

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
    def start(
        tls: dict[str, str] | None = None,
        prometheus_wrapper: Sequence[str] = (),
        **overrides: Any,
    ) -> LocalStack:
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
        # Prometheus' credentials as `up` makes them, in the files its flags and config name.
        auth = prometheus_auth.secrets(cfg.name)
        secrets_dir = tmp_path / "prometheus-secrets"
        secrets_dir.mkdir(exist_ok=True)
        for key in ("web.yml", "password", "authorization"):
            (secrets_dir / key).write_text(auth[key])
        config = (
            files["prometheus/prometheus.yml"]
            .replace("otelcol:", "127.0.0.1:")
            .replace(f"localhost:{cfg.prometheus.port}", "{listen}")
            .replace("- rules/", f"- {rules}/")
            .replace(PROMETHEUS_SECRETS_DIR, str(secrets_dir))
        )
        # The rendered flags but those naming the container's paths and address.
        flags = [
            a.replace(PROMETHEUS_SECRETS_DIR, str(secrets_dir))
            for a in prometheus_args(cfg)
            if a.startswith(("--enable-feature", "--web.enable", "--web.config.file"))
        ]
        assert any(a.startswith("--web.config.file") for a in flags)
        prom = prometheus_server(
            config, flags=flags, wrapper=prometheus_wrapper, authorization=auth["authorization"]
        )
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
        collector = otelcol_process(
            collector_config,
            health_url=f"http://127.0.0.1:{ports[2]}/",
            env={
                cfg.collector.auth.token_env: token,
                PROMETHEUS_AUTH_ENV: auth["otelcol-authorization"],
                "HOSTNAME": "test-collector",
            },
        )
        workdirs = (collector.config_path.parent, queue, prom.data_dir.parent)
        return LocalStack(cfg, files, token, prom, auth, workdirs)

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
    assert last_arrival(stack.reader) is None
    took = verify(environ, stack.reader, steps.append, timeout=30)
    assert took < 30 and len(steps) == 4, steps
    # The Collector's own counters are scraped on their own schedule: allow a few scrapes.
    deadline = time.monotonic() + 15
    while (arrived := last_arrival(stack.reader)) is None and time.monotonic() < deadline:
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
            stack.reader,
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
        verify(plain, stack.reader, lambda _: None, timeout=10)


# Prometheus' data folder becomes a small tmpfs of its own (a private mount namespace, so no
# root is needed and nothing outlives the process). Control files outside it fill the volume
# and free it again.
_SMALL_VOLUME = r"""
data=
for arg in "$@"; do case "$arg" in --storage.tsdb.path=*) data="${arg#*=}" ;; esac; done
mount -t tmpfs -o size=32m tmpfs "$data"
ctl="$1"; shift
(
  while :; do
    if [ -e "$ctl/fill" ] && [ ! -e "$ctl/filled" ]; then
      dd if=/dev/zero of="$data/filler" bs=64k 2>/dev/null; touch "$ctl/filled"
    fi
    if [ -e "$ctl/free" ] && [ -e "$ctl/filled" ] && [ ! -e "$ctl/freed" ]; then
      rm -f "$data/filler"; touch "$ctl/freed"
    fi
    sleep 0.1
  done
) &
exec "$@"
"""


def _alert_states(prometheus: Any, name: str) -> list[str]:
    body = json.dumps({"data": prometheus.api("alerts")})
    return [
        a["state"] for a in json.loads(body)["data"]["alerts"] if a["labels"]["alertname"] == name
    ]


def _wait(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f}s"
        time.sleep(0.5)


def test_a_full_volume_fires_its_alert_and_the_stack_recovers(
    local_stack: Callable[..., LocalStack], run_claude: ClaudeRunner, tmp_path: Path
) -> None:
    """Prometheus' volume fills up: the storage alert fires while nothing can be written (it
    never did before it watched for silence), and once there is room again the sessions that
    follow arrive exactly, beside those before.

    What is written in the full spell is lost, and no part of the stack can hold it: Prometheus'
    OTLP receiver (3.16) answers 200 to a push it could not commit (its deferred Commit error is
    dropped), so the Collector never retries it. The test pins that upstream defect: when a
    Prometheus upgrade fixes it, the Collector's queue covers a full volume too, and this test
    fails to say so."""
    ctl = tmp_path / "volume"
    ctl.mkdir()
    script = tmp_path / "small-volume.sh"
    script.write_text(_SMALL_VOLUME)
    wrapper = ["unshare", "--user", "--map-root-user", "--mount", "sh", str(script), str(ctl)]
    stack = local_stack(prometheus_wrapper=wrapper)
    env = stack.client_env("grpc", "team-full", "delta")
    _, before = run_sessions(run_claude, env, 2)
    wait_for_totals(stack.query, '{team_id="team-full"}', before)
    # (Pending is fine: a Prometheus that has just started has stored no scrape yet.)
    assert "firing" not in _alert_states(stack.prometheus, "ClaudeCodeStorageFailing")

    (ctl / "fill").touch()
    _wait("the volume filled", (ctl / "filled").exists, 30)
    _wait(
        "ClaudeCodeStorageFailing firing",  # 30 s of silence (the floor), then its `for`
        lambda: _alert_states(stack.prometheus, "ClaudeCodeStorageFailing") == ["firing"],
        120,
    )
    assert "no space left on device" in stack.prometheus.process.log_tail(200)
    assert _push_one_point(stack, "lost-while-full") == 200
    time.sleep(2)
    assert stack.query('probe_points_total{probe="lost-while-full"}') == []

    (ctl / "free").touch()
    _wait("the volume freed", (ctl / "freed").exists, 30)
    _, after = run_sessions(run_claude, env, 2, first=2)
    wait_for_totals(stack.query, '{team_id="team-full"}', add(before, after), timeout=90)
    # The same push, once there is room, is stored under the name queried above.
    assert _push_one_point(stack, "stored-after-free") == 200
    assert stack.prometheus.wait_for('probe_points_total{probe="stored-after-free"}')
    # Writes flow again, and the failed ones are now on record: the alert keeps saying what
    # happened for the five minutes of its counter window, then resolves.
    assert stack.query("absent_over_time(up[30s])") == []
    assert stack.query("increase(prometheus_tsdb_wal_writes_failed_total[5m]) > 0")


def _push_one_point(stack: LocalStack, probe: str, authorization: str | None = "otelcol") -> int:
    """One running total pushed straight to Prometheus' OTLP receiver, as the Collector pushes
    (with its credential; ``authorization`` may name another header or none); its HTTP status."""
    req = ExportMetricsServiceRequest()
    metric = req.resource_metrics.add().scope_metrics.add().metrics.add()
    metric.name = "probe.points"
    metric.sum.is_monotonic = True
    metric.sum.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    point = metric.sum.data_points.add()
    point.time_unix_nano = time.time_ns()
    point.start_time_unix_nano = point.time_unix_nano - 1_000_000_000
    point.as_double = 1.0
    point.attributes.add(key="probe").value.string_value = probe
    headers = {"Content-Type": "application/x-protobuf"}
    if authorization == "otelcol":
        headers["Authorization"] = stack.auth["otelcol-authorization"]
    elif authorization is not None:
        headers["Authorization"] = authorization
    request = urllib.request.Request(
        f"{stack.prometheus.url}/api/v1/otlp/v1/metrics",
        data=req.SerializeToString(),
        headers=headers,
    )
    try:
        with local_http.urlopen(request, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as e:
        return e.code


@pytest.mark.parametrize(
    ("session_id", "interval_ms"), [("keep", 1000), ("keep", 60000), ("drop", 1000)]
)
def test_resumed_sessions_add_up(
    local_stack: Callable[..., LocalStack],
    run_claude: ClaudeRunner,
    session_id: str,
    interval_ms: int,
) -> None:
    """`claude -c` and `claude --resume` right after a session send their totals under its
    session.id, each process counting from zero: all three processes' totals arrive exactly,
    under both temporalities and protocols, at 1 s and at the CLI's own 60 s export interval
    (where a short process exports once, as it exits), and with session.id dropped (merged)."""
    stack = local_stack(attributes={"session_id": session_id})

    def client_env(protocol: str, team: str, temporality: str) -> dict[str, str]:
        env = stack.client_env(protocol, team, temporality)
        return env | {"OTEL_METRIC_EXPORT_INTERVAL": str(interval_ms)}

    check_resumed_sessions(
        run_claude, client_env, stack.query, "team-resume", per_session=session_id == "keep"
    )


def test_prometheus_takes_writes_and_queries_only_with_a_credential(
    local_stack: Callable[..., LocalStack], run_claude: ClaudeRunner
) -> None:
    """Prometheus' own OTLP receiver and query API sit on the port the Collector pushes to: a
    forged running total under someone else's name, or everyone's spend read out, needs the
    Collector's or the reader's password, never nothing (the rendered web config, for real)."""
    stack = local_stack()
    url = stack.prometheus.url
    for header in (None, "Basic " + "b3RoZXI6cGFzc3dvcmQ=", stack.token):  # none, wrong, OTLP's
        assert _push_one_point(stack, "forged", authorization=header) == 401
        request = urllib.request.Request(
            f"{url}/api/v1/query?query=up", headers={"Authorization": header} if header else {}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            local_http.urlopen(request, timeout=5)
        assert refused.value.code == 401
    # The Collector's pushes and the reader's queries are taken: real sessions arrive.
    _, sent = run_sessions(run_claude, stack.client_env("grpc", "team-door", "delta"), 1)
    wait_for_totals(stack.reader_query, '{team_id="team-door"}', sent)
    assert _push_one_point(stack, "from-the-collector") == 200
    assert stack.prometheus.wait_for('probe_points_total{probe="from-the-collector"}')
    assert stack.query('probe_points_total{probe="forged"}') == []
    # Prometheus' scrape of itself carries the reader's password too.
    assert stack.prometheus.wait_for('up{job="prometheus"} == 1')


def _foreign_request(team: str) -> ExportMetricsServiceRequest:
    """What a token holder could try: the stack's own series, its labels, huge names and values,
    a resource of 500 attributes; and one real cost point among them."""
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    for key, value in (("service.name", "otelcol"), ("service.instance.id", "forged:1")):
        rm.resource.attributes.add(key=key).value.string_value = value
    rm.resource.attributes.add(key="team.id").value.string_value = team
    for i in range(500):
        rm.resource.attributes.add(key=f"r.{i}").value.string_value = "x"
    metrics = rm.scope_metrics.add().metrics
    now = time.time_ns()

    def counter(name: str, monotonic: bool = True) -> Any:
        metric = metrics.add()
        metric.name = name
        metric.sum.is_monotonic = monotonic
        metric.sum.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
        point = metric.sum.data_points.add()
        point.time_unix_nano, point.start_time_unix_nano, point.as_double = now, now - 10**9, 1.0
        return metric, point

    up = metrics.add()
    up.name = "up"
    gauge = up.gauge.data_points.add()
    gauge.time_unix_nano, gauge.as_double = now, 0.0
    gauge.attributes.add(key="job").value.string_value = "otelcol"
    counter("claude_code." + "a" * 200_000)
    counter("claude_code.cost.balance", monotonic=False)
    counter("other.cost.usage")
    cost, point = counter("claude_code.cost.usage")
    cost.unit = "USD"
    point.as_double = 2.5
    forged = {"job": "prometheus", "le": "1", "otelcol.instance": "forged", "x" * 60_000: "y"}
    for key, value in {**forged, "model": "m" * 100_000, "type": "input"}.items():
        point.attributes.add(key=key).value.string_value = value
    return req


def test_a_token_holder_writes_only_claude_codes_counters_under_known_labels(
    local_stack: Callable[..., LocalStack],
) -> None:
    """The Collector's token lets a client write Claude Code's counters, nothing else: not the
    stack's own series (a forged `up` would fire the Collector-down alert), not its labels
    (job, le, otelcol_instance), not huge names, keys or values, nor a target_info of 500
    labels. What is dropped is counted, and the alert on it fires."""
    stack = local_stack()
    assert stack.post("metrics", _foreign_request("team-foreign").SerializeToString()) == 200
    [cost] = stack.prometheus.wait_for('claude_code_cost_usage_USD_total{team_id="team-foreign"}')
    labels = cost["metric"]
    assert float(cost["value"][1]) == 2.5
    assert labels["model"] == "m" * MAX_VALUE_CHARS
    assert labels["job"] == "unknown" and "instance" not in labels
    assert labels["otelcol_instance"] == "test-collector"  # the stack's, not the client's
    known = {k.replace(".", "_") for k in POINT_ATTRIBUTES} | {"__name__", "job", "team_id"}
    assert set(labels) <= known | {"otelcol_instance"}, set(labels) - known
    [info] = stack.prometheus.wait_for('target_info{team_id="team-foreign"}')
    assert set(info["metric"]) <= {k.replace(".", "_") for k in RESOURCE_ATTRIBUTES} | {
        "__name__",
        "job",
        "team_id",
    }
    # Nothing else of that request reached Prometheus; the Collector counted what it dropped.
    assert stack.query('up{job="otelcol"} == 0') == []
    assert stack.query('{__name__=~"claude_code_a+.*|claude_code_cost_balance.*|other_.*"}') == []
    stack.prometheus.wait_for(
        'otelcol_processor_filter_datapoints_filtered{filter="filter/accepted"} >= 4'
    )
    stack.prometheus.wait_for('ALERTS{alertname="ClaudeCodeForeignTelemetry"}', timeout=60)


# Every switch that makes Claude Code send content, and its beta traces.
CONTENT_SWITCHES = {
    "OTEL_LOG_USER_PROMPTS": "1",
    "OTEL_LOG_TOOL_DETAILS": "1",
    "OTEL_LOG_TOOL_CONTENT": "1",
    "OTEL_LOG_ASSISTANT_RESPONSES": "1",
    "OTEL_LOG_RAW_API_BODIES": "1",
    "CLAUDE_CODE_ENHANCED_TELEMETRY_BETA": "1",
    "OTEL_TRACES_EXPORTER": "otlp",
}


def test_no_prompt_response_or_tool_content_passes_the_collector(
    local_stack: Callable[..., LocalStack], run_claude: ClaudeRunner
) -> None:
    """With every content switch on, the real CLI sends its prompt, the answer and the file it
    wrote (shown against a plain OTLP sink); through the stack none of it reaches Prometheus
    (any label of any series), the Collector's log, its queue or Prometheus' files, while the
    session's counts still arrive."""
    secret = f"private{secrets.token_hex(8)}"
    script = [write_file("notes.txt", 3), Text(f"the answer is {secret}")]

    def session(env: dict[str, str]) -> None:
        run = run_claude(
            f"remember {secret}", env | CONTENT_SWITCHES, script, allowed_tools=["Write"]
        )
        assert run.returncode == 0, run.describe()

    with OtlpSink() as sink:
        session(sink.otel_env())
        assert sink.wait_for(lambda s: any(secret.encode() in p.raw for p in s.posts))
    stack = local_stack()
    session(stack.client_env("http/protobuf", "team-private", "delta"))
    stack.prometheus.wait_for('claude_code_session_count_total{team_id="team-private"}')
    [writes] = stack.prometheus.wait_for(
        'sum(claude_code_tool_result_count_total{team_id="team-private", tool_name="Write"})'
    )
    assert float(writes["value"][1]) == 1
    series = stack.reader_query("{__name__=~'.+'}")
    assert series and not [r["metric"] for r in series if secret in json.dumps(r["metric"])]
    for workdir in stack.workdirs:
        for path in workdir.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path


def _sum(
    name: str,
    value: float,
    attributes: dict[str, str],
    resource: dict[str, str],
    *,
    unit: str = "",
    cumulative_since: int | None = None,
) -> bytes:
    """One monotonic sum point from Claude Code's service: a delta, or a running total since
    ``cumulative_since`` (ns)."""
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    for key, val in {"service.name": "claude-code", **resource}.items():
        rm.resource.attributes.add(key=key).value.string_value = val
    metric = rm.scope_metrics.add().metrics.add()
    metric.name, metric.unit = name, unit
    metric.sum.is_monotonic = True
    metric.sum.aggregation_temporality = (
        AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
        if cumulative_since is None
        else AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    )
    point = metric.sum.data_points.add()
    point.time_unix_nano = time.time_ns()
    point.start_time_unix_nano = (
        point.time_unix_nano - 10**6 if cumulative_since is None else cumulative_since
    )
    if isinstance(value, int):
        point.as_int = value
    else:
        point.as_double = value
    for key, val in attributes.items():
        point.attributes.add(key=key).value.string_value = val
    return req.SerializeToString()


def test_errors_refusals_tools_and_mcp_failures_are_counted_from_real_sessions(
    local_stack: Callable[..., LocalStack], run_claude: ClaudeRunner
) -> None:
    """The real CLI against the scripted API: 529s and 429s that exhaust the retries, a refusal,
    a failing tool, a rejected one, an MCP server that cannot start; in parallel, under delta
    over gRPC and cumulative over HTTP. Each is counted exactly from its event, request and tool
    durations become histograms that count as many, the alerts on them fire, and every panel
    of the reliability dashboard shows data."""
    stack = local_stack(alerts={"api_overload_errors": 1})
    teams = (("grpc", "rel-delta", "delta"), ("http/protobuf", "rel-cumulative", "cumulative"))
    for protocol, team, temporality in teams:
        run_reliability_sessions(run_claude, stack.client_env(protocol, team, temporality))
    for _, team, _ in teams:
        check_reliability_counts(stack.query, team)
    assert stack.post("logs", escalation_request("rel-delta")) == 200
    for alert in (
        'ALERTS{alertname="ClaudeCodeApiOverloaded", status_code="529", alertstate="firing"}',
        'ALERTS{alertname="ClaudeCodeRetriesExhausted", alertstate="firing"}',
        'ALERTS{alertname="ClaudeCodePermissionsBypassed", user_id="escalating-user"}',
    ):
        stack.prometheus.wait_for(alert, timeout=60)
    assert_queries_return_data(
        stack.query, dashboard_queries(stack.files, "claude-code-reliability")
    )


def test_durations_that_are_not_numbers_are_dropped_and_events_of_many_machines_add_up(
    local_stack: Callable[..., LocalStack],
) -> None:
    """A duration of "abc", "-5", "1e308" or 10^15 ms is not measured; the request is still
    taken and the event counted, and a number sent as a string or as an int lands in one series.
    The senders' machines differ (their OS version): the team's counts still add up in one."""
    stack = local_stack()
    bad: list[str | int] = ["abc", "-5", "1e308", "12`rm`", "1" * 16, 10**15]
    good: list[str | int] = ["250", 250]
    for i, duration in enumerate(bad + good):
        attributes = {"model": "m", "duration_ms": duration, "ttft_ms": duration}
        assert (
            stack.post(
                "logs",
                event_request(
                    "claude_code.api_request",
                    attributes,
                    {"team.id": "rel-hostile", "os.type": "linux", "os.version": f"6.{i % 2}"},
                ),
            )
            == 200
        ), duration
    team = 'team_id="rel-hostile"'
    wait_for_value(
        stack.query, f"sum(claude_code_api_request_count_total{{{team}}})", len(bad + good)
    )
    wait_for_value(
        stack.query, f"sum(claude_code_api_request_duration_milliseconds_count{{{team}}})", 2
    )
    wait_for_value(
        stack.query, f"sum(claude_code_api_request_duration_milliseconds_sum{{{team}}})", 500
    )
    assert len(stack.query(f"claude_code_api_request_duration_milliseconds_count{{{team}}}")) == 1


def test_commits_and_pull_requests_shows_commits_while_no_pull_request_was_opened(
    local_stack: Callable[..., LocalStack],
) -> None:
    """The panel adds two counters: with only commits counted it shows them, not nothing."""
    stack = local_stack()
    commits = _sum("claude_code.commit.count", 2, {"user.id": "committer"}, {})
    assert stack.post("metrics", commits) == 200
    stack.prometheus.wait_for("claude_code_commit_count_total")
    panel = dashboard_queries(stack.files)["Claude Code: overview / Commits and pull requests"]
    wait_for_value(stack.query, panel, 2)


@pytest.mark.parametrize("temporality", ["delta", "cumulative"])
def test_merged_series_from_many_machines_add_up(
    local_stack: Callable[..., LocalStack], temporality: str
) -> None:
    """With session.id dropped, one person's points from two machines (their OS versions
    differ, so do their resources) and two sessions are one merged series: it adds up."""
    stack = local_stack(attributes={"session_id": "drop"})
    cumulative = temporality == "cumulative"
    # The sessions start after the Collector did (as real ones do: a running total that began
    # before it is counted from its next point on).
    start = time.time_ns()
    time.sleep(0.1)
    for step in range(1, 4):
        for i, os_version in enumerate(("6.0", "6.1")):
            cost = _sum(
                "claude_code.cost.usage",
                0.25 * step if cumulative else 0.25,
                {"user.id": "u", "session.id": f"s{i}", "model": "m"},
                {"os.version": os_version, "team.id": "team-machines"},
                unit="USD",
                cumulative_since=start + i if cumulative else None,
            )
            assert stack.post("metrics", cost) == 200
        time.sleep(1.2)
    team = '{team_id="team-machines"}'
    wait_for_value(stack.query, f"sum(claude_code_cost_usage_USD_total{team})", 1.5)
    wait_for_value(stack.query, f"count(claude_code_cost_usage_USD_total{team})", 1)


def test_cost_by_repository_keeps_no_credential_and_no_other_metric_carries_it(
    local_stack: Callable[..., LocalStack],
) -> None:
    """git.repo as any client may send it (a URL with a credential, shell syntax, a huge
    value): the Collector cleans it by the shell function's rules and keeps it on the cost and
    token metrics only, where the per-repository leaderboard finds it."""
    stack = local_stack()
    sent = {
        "https://alice:s3cr3t@git.example.com:8443/org/app.git": 1.0,
        "git@github.com:org/lib.git": 2.0,
        "git.example.com/org/$(touch x)`id`": 4.0,
        "r" * 1000: 8.0,
    }
    resource = {"team.id": "team-repo"}
    for url, usd in sent.items():
        attrs = {"user.id": "u", "session.id": "s", "model": "m", "git.repo": url}
        assert (
            stack.post("metrics", _sum("claude_code.cost.usage", usd, attrs, resource, unit="USD"))
            == 200
        )
        tokens = _sum(
            "claude_code.token.usage", 10, attrs | {"type": "input"}, resource, unit="tokens"
        )
        assert stack.post("metrics", tokens) == 200
        lines = _sum("claude_code.lines_of_code.count", 3, attrs | {"type": "added"}, resource)
        assert stack.post("metrics", lines) == 200
    want = {repo.clean(url): usd for url, usd in sent.items()}
    assert set(want) == {"git.example.com/org/app", "github.com/org/lib",
                         "git.example.com/org/__touch_x__id_", "r" * repo.MAX_CHARS}  # fmt: skip
    team = '{team_id="team-repo"}'
    wait_for_value(stack.query, f"count(claude_code_token_usage_tokens_total{team})", len(sent))
    by_repo = stack.query(f"sum by (git_repo) (claude_code_cost_usage_USD_total{team})")
    assert {r["metric"].get("git_repo"): float(r["value"][1]) for r in by_repo} == want
    wait_for_value(stack.query, f"sum(claude_code_lines_of_code_count_total{team})", 3 * len(sent))
    assert (
        stack.query('claude_code_lines_of_code_count_total{team_id="team-repo", git_repo!=""}')
        == []
    )
    assert "s3cr3t" not in json.dumps(stack.query('{team_id="team-repo"}'))
    panels = dashboard_queries(stack.files, "claude-code-reliability")
    [leaderboard] = [q for title, q in panels.items() if title.endswith("Top repositories by cost")]
    top = stack.query(leaderboard)
    assert [r["metric"]["git_repo"] for r in top][:1] == ["r" * repo.MAX_CHARS], top
