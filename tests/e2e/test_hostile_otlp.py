"""Hostile OTLP against a stack deployed with `stackkit up`: a sender holding the token sends
malformed, oversized, compressed-bomb, attribute-heavy and series-flooding requests. The
Collector stays up, refuses what it must with the right answer, cuts what reaches Prometheus to
its bounds, counts the points it drops at the stream limit (which the loss alert sees), and a
well-behaved stream keeps arriving. The figures at scale are bench/hostile.py's."""

from __future__ import annotations

import gzip
import os
import time
import urllib.request
from collections.abc import Callable

import pytest

from bench.hostile import FLOOD_MODEL, LOGS_PATH, METRICS_PATH, Sender, _points_request
from bench.load import Target
from stackkit.collector import MAX_ATTRIBUTES, MAX_VALUE_CHARS, POINT_ATTRIBUTES
from stackkit.promql import prom_label
from tests.e2e.conftest import Deployed

pytestmark = pytest.mark.integration

MAX_SERIES = 1_000


@pytest.fixture(scope="module")
def stack(deploy_stack: Callable[..., Deployed]) -> Deployed:
    d = deploy_stack(collector={"max_series": MAX_SERIES})
    d.stackkit("up")
    return d


@pytest.fixture(scope="module")
def sender(stack: Deployed) -> Sender:
    out = stack.outputs
    token = stack.stackkit("secret", "otlp-token").stdout.strip()
    target = Target(
        label="hostile",
        grpc=out["otlp_endpoints"]["grpc"].removeprefix("http://"),
        http=out["otlp_endpoints"]["http/protobuf"],
        token=token,
        prometheus_url=stack.prometheus,
        containers={},
    )
    return Sender(target)


def healthy(stack: Deployed) -> bool:
    port = stack.config["collector"]["health_port"]
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


def eventually(stack: Deployed, promql: str, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        found = stack.query(promql)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(1)


def test_malformed_requests_are_refused_as_bad(stack: Deployed, sender: Sender) -> None:
    answers = {sender.post(path, os.urandom(512)) for path in (METRICS_PATH, LOGS_PATH) * 20}
    answers |= {sender.grpc_call(os.urandom(512)) for _ in range(20)}
    assert answers <= {"HTTP 400", "gRPC INVALID_ARGUMENT", "gRPC INTERNAL"}, answers
    assert "HTTP 400" in answers
    assert healthy(stack)


def test_oversized_and_bomb_requests_are_refused(stack: Deployed, sender: Sender) -> None:
    big = _points_request(1, value_chars=5 << 20).SerializeToString()
    # Refused at the door, before it is decoded: the Collector's HTTP server answers a body past
    # max_request_body_size with 400 (its body reader fails), gRPC with RESOURCE_EXHAUSTED.
    assert sender.post(METRICS_PATH, big) in {"HTTP 400", "HTTP 413"}
    assert sender.grpc_call(big) == "gRPC RESOURCE_EXHAUSTED"
    bomb = gzip.compress(b"\0" * (256 << 20))
    assert len(bomb) < 1 << 20
    assert sender.post(METRICS_PATH, bomb, gzipped=True) in {"HTTP 400", "HTTP 413"}
    assert healthy(stack)


def test_wide_and_long_attributes_reach_prometheus_cut_to_bounds(
    stack: Deployed, sender: Sender
) -> None:
    wide = _points_request(1, attributes=2000).SerializeToString()
    assert sender.post(METRICS_PATH, wide) == "HTTP 200"
    long_point = _points_request(1, value_chars=1 << 20)
    long_point.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points[0].attributes[
        2
    ].value.string_value = "long-session"
    assert sender.post(METRICS_PATH, long_point.SerializeToString()) == "HTTP 200"
    found = eventually(stack, f'claude_code_cost_usage_USD_total{{model="{FLOOD_MODEL}"}}')
    assert found, "the hostile points never reached Prometheus"
    # Labels: what the stack adds (job, team, the Collector instance, __name__) on top of the
    # point's keys Claude Code documents; made-up keys are dropped whole, long values cut.
    known = {prom_label(k) for k in POINT_ATTRIBUTES} | {"__name__", "job", "team_id"}
    for r in found:
        assert set(r["metric"]) <= known | {"otelcol_instance"}, set(r["metric"]) - known
        assert len(r["metric"]) <= MAX_ATTRIBUTES + 8
    longest = max(len(v) for r in found for v in r["metric"].values())
    assert longest == MAX_VALUE_CHARS


def test_a_series_flood_stops_at_the_stream_limit_and_is_counted(
    stack: Deployed, sender: Sender
) -> None:
    steady = _points_request(1)
    steady_point = steady.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points[0]
    steady_point.attributes[2].value.string_value = "steady-session"
    assert sender.post(METRICS_PATH, steady.SerializeToString()) == "HTTP 200"
    ids = iter(f"flood-{i}" for i in range(5 * MAX_SERIES))
    for _ in range(5):
        body = _points_request(MAX_SERIES, sessions=ids).SerializeToString()
        assert sender.post(METRICS_PATH, body) == "HTTP 200"
    # The stream that existed before the flood keeps being summed.
    for _ in range(3):
        assert sender.post(METRICS_PATH, steady.SerializeToString()) == "HTTP 200"
    steady_total = 'sum(claude_code_cost_usage_USD_total{session_id="steady-session"})'
    deadline = time.monotonic() + 60
    while True:
        got = stack.query(steady_total)
        if got and abs(float(got[0]["value"][1]) - 0.04) < 1e-9:
            break
        assert time.monotonic() < deadline, f"the steady stream stopped: {got}"
        time.sleep(1)
    flood = stack.query('count(claude_code_cost_usage_USD_total{session_id=~"flood-.*"})')
    assert flood and float(flood[0]["value"][1]) <= MAX_SERIES
    dropped = eventually(stack, 'otelcol_deltatocumulative_datapoints{error="limit"} > 0')
    assert dropped, "points dropped at the stream limit are not counted"
    assert sum(float(r["value"][1]) for r in dropped) >= 4 * MAX_SERIES - 10
    # The loss alert fires, though the counter was born with the whole burst in it.
    firing = 'ALERTS{alertname="ClaudeCodeTelemetryDropped", alertstate="firing"}'
    assert eventually(stack, firing, timeout=120), "no alert for the dropped points"
    assert healthy(stack)


@pytest.mark.xfail(
    strict=True,
    reason="open defect (README, Known limits): running totals pass the stream limit untouched; "
    "no upstream Collector component bounds them without losing totals across a restart",
)
def test_a_flood_of_running_totals_stops_at_the_stream_limit_too(
    stack: Deployed, sender: Sender
) -> None:
    """The same flood as above, sent as running totals (cumulative), must meet the same bound
    before it reaches Prometheus. Today all of it does: when this passes, drop the mark."""
    ids = iter(f"cumulative-flood-{i}" for i in range(5 * MAX_SERIES))
    now = time.time_ns()
    for _ in range(5):
        req = _points_request(MAX_SERIES, sessions=ids)
        metric = req.resource_metrics[0].scope_metrics[0].metrics[0]
        metric.sum.aggregation_temporality = 2  # cumulative
        for point in metric.sum.data_points:
            point.start_time_unix_nano = now - 60_000_000_000
        assert sender.post(METRICS_PATH, req.SerializeToString()) == "HTTP 200"
    flood = 'count(claude_code_cost_usage_USD_total{session_id=~"cumulative-flood-.*"})'
    found = eventually(stack, flood)
    time.sleep(10)  # the Collector pushes every 5 s: let every batch land
    found = stack.query(flood)
    assert found, "no flood series reached Prometheus at all"
    assert float(found[0]["value"][1]) <= MAX_SERIES


def _cumulative(session: str, start_ns: int, time_ns: int, value: float) -> bytes:
    req = _points_request(1)
    metric = req.resource_metrics[0].scope_metrics[0].metrics[0]
    metric.sum.aggregation_temporality = 2  # cumulative: a running total since start
    point = metric.sum.data_points[0]
    point.attributes[2].value.string_value = session
    point.start_time_unix_nano, point.time_unix_nano, point.as_double = start_ns, time_ns, value
    return req.SerializeToString()


def _counted(stack: Deployed, session: str) -> float:
    """What Prometheus counts for a series from its raw samples (its start's zero included): the
    sum of its rises, a fall being a reset from zero, as increase() reads it."""
    found = stack.query(f'claude_code_cost_usage_USD_total{{session_id="{session}"}}[15m]')
    assert len(found) == 1, found
    values = [float(v) for _, v in found[0]["values"]]
    return sum(b - a if b >= a else b for a, b in zip(values, values[1:], strict=False))


@pytest.mark.parametrize(
    ("case", "offset_s", "second_late_s"),
    [("on-time", 0, 30), ("3h-ahead", 3 * 3600, 0), ("3h-behind", -3 * 3600, 0)],
)
def test_a_running_total_counts_once_whatever_the_clients_clock(
    stack: Deployed, sender: Sender, case: str, offset_s: int, second_late_s: int
) -> None:
    """A cumulative client: its second export's timestamp lags by ``second_late_s`` (a slow
    request, a clock stepped back a little); its clock is off by ``offset_s``. Prometheus counts
    its running total once: 1 then 3 is 3, never 1 + 3."""
    session = f"clock-{case}"
    base = time.time_ns() + offset_s * 1_000_000_000
    start = base - 1_000_000_000
    assert sender.post(METRICS_PATH, _cumulative(session, start, base, 1.0)) == "HTTP 200"
    time.sleep(7)  # pushed on (push_interval 5 s) before the next export arrives
    late = time.time_ns() + (offset_s - second_late_s) * 1_000_000_000
    assert sender.post(METRICS_PATH, _cumulative(session, start, late, 3.0)) == "HTTP 200"
    deadline = time.monotonic() + 60
    while (got := _counted_or_none(stack, session)) != 3.0:
        assert time.monotonic() < deadline, f"{case}: Prometheus counts {got}, the client sent 3"
        time.sleep(2)


def _counted_or_none(stack: Deployed, session: str) -> float | None:
    found = stack.query(f'count(claude_code_cost_usage_USD_total{{session_id="{session}"}})')
    return _counted(stack, session) if found else None
