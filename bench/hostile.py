"""Benchmark: hostile OTLP against the default stack while well-behaved developers report.

Usage: uv run python bench/hostile.py [--developers 500] [--sessions 1000000]
                                      [--write bench/results-hostile.md]

One stack (`stackkit up` with the defaults, on the tests' Docker engine) takes a fleet of
simulated developers (bench/loadgen, the CLI's real export interval) for the whole run, while
one sender that holds the token tries, one after another:

* malformed protobuf: random bytes as metrics and logs, over HTTP and gRPC;
* oversized requests: 8 MiB bodies over HTTP and gRPC, and gzip bombs (1 MiB that inflates to
  1 GiB);
* points and events with thousands of attributes;
* attribute values of 1 MiB;
* a flood of distinct ``session.id`` values (a million by default) on ``claude_code.cost.usage``
  with the CLI's delta temporality, under a model no developer uses.

Reported: requests tried and how they were answered, the Collector's and Prometheus' peak memory,
whether the Collector stayed up, the largest label value and attribute count that reached
Prometheus, how many flood series reached Prometheus, which alerts were pending or firing at the
end, and the developers' own data: totals in Prometheus against what the Collector accepted from
them (goal: exact).
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from bench.load import (
    Load,
    Target,
    Watcher,
    _value,
    dropped,
    fidelity,
    run_loadgen,
    stackkit_stack,
)
from stackkit.prom_client import Fetch, query
from tests.fixtures.docker import docker_engine_session

FLOOD_MODEL = "hostile-flood"
METRICS_PATH = "/v1/metrics"
LOGS_PATH = "/v1/logs"
GRPC_METRICS = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"


@dataclass
class Attack:
    name: str
    tried: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


class Sender:
    """One token holder: a kept-alive HTTP connection and a gRPC channel."""

    def __init__(self, target: Target) -> None:
        parsed = urllib.parse.urlsplit(target.http)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 4318
        self.token = target.token or ""
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        import grpc

        self.grpc = grpc
        self.channel = grpc.insecure_channel(
            target.grpc,
            options=[("grpc.max_send_message_length", 64 << 20)],
        )
        self.export = self.channel.unary_unary(
            GRPC_METRICS, request_serializer=None, response_deserializer=None
        )

    def post(self, path: str, body: bytes, gzipped: bool = False) -> str:
        headers = {
            "Content-Type": "application/x-protobuf",
            "Authorization": f"Bearer {self.token}",
        }
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        for attempt in range(2):
            try:
                self.conn.request("POST", path, body=body, headers=headers)
                resp = self.conn.getresponse()
                resp.read()
                return f"HTTP {resp.status}"
            except (OSError, http.client.HTTPException) as e:
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                if attempt:
                    return f"HTTP connection: {type(e).__name__}"
        return "unreachable"

    def grpc_call(self, body: bytes) -> str:
        try:
            self.export(body, metadata=[("authorization", f"Bearer {self.token}")], timeout=60)
            return "gRPC OK"
        except self.grpc.RpcError as e:
            return f"gRPC {e.code().name}"  # type: ignore[attr-defined]

    def close(self) -> None:
        self.conn.close()
        self.channel.close()


def run(attack: Attack, calls: Iterator[Callable[[], str]]) -> Attack:
    start = time.monotonic()
    for call in calls:
        attack.tried += 1
        attack.answers[call()] += 1
    attack.seconds = time.monotonic() - start
    print(f"[hostile] {attack.name}: {attack.tried} tried, {dict(attack.answers)}", file=sys.stderr)
    return attack


def _points_request(
    count: int,
    sessions: Iterator[str] | None = None,
    attributes: int = 0,
    value_chars: int = 0,
) -> ExportMetricsServiceRequest:
    """``claude_code.cost.usage`` delta points under the flood model."""
    now = time.time_ns()
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.add(key="service.name").value.string_value = "claude-code"
    rm.resource.attributes.add(key="team.id").value.string_value = "hostile"
    metric = rm.scope_metrics.add().metrics.add()
    metric.name = "claude_code.cost.usage"
    metric.unit = "USD"
    metric.sum.is_monotonic = True
    metric.sum.aggregation_temporality = 1  # delta, the CLI's default
    long_value = "x" * value_chars
    for i in range(count):
        point = metric.sum.data_points.add()
        point.start_time_unix_nano = now - 60_000_000_000
        point.time_unix_nano = now
        point.as_double = 0.01
        attrs = point.attributes
        attrs.add(key="model").value.string_value = FLOOD_MODEL
        attrs.add(key="user.id").value.string_value = "hostile"
        attrs.add(key="session.id").value.string_value = (
            next(sessions) if sessions else f"hostile-{i}"
        )
        # Keys the Collector does not know are dropped whole; a known key carries the long value.
        for a in range(attributes):
            attrs.add(key=f"attr.{a}").value.string_value = f"v{a}"
        if value_chars:
            attrs.add(key="terminal.type").value.string_value = long_value
    return req


def _events_request(attributes: int, value_chars: int) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.add(key="service.name").value.string_value = "claude-code"
    record = rl.scope_logs.add().log_records.add()
    record.time_unix_nano = time.time_ns()
    # Not an event the stack counts: the developers' event counts stay theirs.
    record.body.string_value = "claude_code.hostile"
    record.attributes.add(key="model").value.string_value = FLOOD_MODEL
    for a in range(attributes):
        record.attributes.add(key=f"attr.{a}").value.string_value = f"v{a}"
    if value_chars:
        record.attributes.add(key="long").value.string_value = "y" * value_chars
    return req


def attacks(sender: Sender, flood_sessions: int) -> list[Attack]:
    done = []
    rand = os.urandom
    done.append(
        run(
            Attack("malformed protobuf, HTTP (metrics and logs)"),
            (
                (lambda i=i: sender.post(METRICS_PATH if i % 2 else LOGS_PATH, rand(2048)))
                for i in range(2000)
            ),
        )
    )
    done.append(
        run(
            Attack("malformed protobuf, gRPC"),
            ((lambda: sender.grpc_call(rand(2048))) for _ in range(500)),
        )
    )
    big = _points_request(1, value_chars=8 << 20).SerializeToString()
    done.append(
        run(
            Attack("8 MiB requests, HTTP and gRPC"),
            (
                (lambda i=i: sender.post(METRICS_PATH, big) if i % 2 else sender.grpc_call(big))
                for i in range(100)
            ),
        )
    )
    bomb = gzip.compress(b"\0" * (1 << 30), compresslevel=9)
    done.append(
        run(
            Attack(f"gzip bombs ({len(bomb) >> 10} KiB inflating to 1 GiB), HTTP"),
            ((lambda: sender.post(METRICS_PATH, bomb, gzipped=True)) for _ in range(20)),
        )
    )
    wide = _points_request(10, attributes=5000).SerializeToString()
    wide_events = _events_request(attributes=5000, value_chars=0).SerializeToString()
    done.append(
        run(
            Attack("5,000 attributes per point and per event"),
            (
                (
                    lambda i=i: (
                        sender.post(METRICS_PATH, wide)
                        if i % 2
                        else sender.post(LOGS_PATH, wide_events)
                    )
                )
                for i in range(400)
            ),
        )
    )
    long_points = _points_request(2, value_chars=1 << 20).SerializeToString()
    done.append(
        run(
            Attack("1 MiB attribute values"),
            ((lambda: sender.post(METRICS_PATH, long_points)) for _ in range(200)),
        )
    )
    ids = (str(uuid.uuid4()) for _ in range(flood_sessions))
    per_request = 2000

    def flood_calls() -> Iterator[Callable[[], str]]:
        for _ in range(0, flood_sessions, per_request):
            body = _points_request(per_request, sessions=ids).SerializeToString()
            yield lambda body=body: sender.post(METRICS_PATH, body)

    done.append(
        run(Attack(f"{flood_sessions:,} distinct session.id values (delta points)"), flood_calls())
    )
    return done


def prometheus_checks(url: str | Fetch) -> dict[str, Any]:
    flood_series = _value(url, f'count(claude_code_cost_usage_USD_total{{model="{FLOOD_MODEL}"}})')
    wide = query(url, f'{{model="{FLOOD_MODEL}", attr_0!=""}}', timeout=60)
    widest = max((len(r["metric"]) for r in wide), default=0)
    long_values = query(url, f'{{model="{FLOOD_MODEL}", long!=""}}', timeout=60)
    longest_value = max((len(r["metric"]["long"]) for r in long_values), default=0)
    alerts = query(url, "ALERTS", timeout=30)
    states = sorted(f"{a['metric']['alertname']} ({a['metric']['alertstate']})" for a in alerts)
    return {
        "flood_series": flood_series or 0.0,
        "widest_labels": widest,
        "longest_value": longest_value,
        "alerts": states,
        "d2c_limit_drops": _value(url, 'sum(otelcol_deltatocumulative_datapoints{error="limit"})')
        or 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--developers", type=int, default=500)
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--duration", type=float, default=600.0)
    parser.add_argument(
        "--max-series", type=int, default=0, help="collector.max_series (0: default)"
    )
    parser.add_argument(
        "--cumulative-share",
        type=float,
        default=0.2,
        help="share of the developers' sessions sending running totals: 1 is every developer "
        "set up with `stackkit env`, 0 every one on the CLI's default (delta)",
    )
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    overrides: dict[str, Any] = {}
    if args.max_series:
        overrides["collector"] = {"max_series": args.max_series}
    with docker_engine_session() as engine, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with (
            stackkit_stack(engine, work, **overrides) as target,
            Watcher(engine, target) as watcher,
        ):
            load = Load(args.developers, 60.0, args.duration, args.cumulative_share)
            summary: dict[str, Any] = {}
            fleet = threading.Thread(
                target=lambda: summary.update(run_loadgen(target, load, work)), daemon=True
            )
            started = time.time()
            fleet.start()
            time.sleep(60)  # the fleet is reporting before the first attack
            sender = Sender(target)
            try:
                done = attacks(sender, args.sessions)
            finally:
                sender.close()
            fleet.join()
            time.sleep(15)
            window = time.time() - started + 60
            fid = fidelity(target, summary, window)
            lost = dropped(target)
            checks = prometheus_checks(target.prometheus_url)
            alive = _value(target.prometheus_url, 'up{job="otelcol"}')
            collector_restarts = engine.docker(
                "inspect", "--format", "{{.RestartCount}}", target.containers["otelcol"]
            ).stdout.strip()
        samples = watcher.samples
    text = report(args, done, summary, fid, lost, checks, samples, alive, collector_restarts)
    print(text)
    if args.write:
        args.write.write_text(text)


def report(
    args: argparse.Namespace,
    done: list[Attack],
    summary: dict[str, Any],
    fid: dict[str, Any],
    lost: float | None,
    checks: dict[str, Any],
    samples: Any,
    alive: float | None,
    restarts: str,
) -> str:
    metrics = summary["requests"]["metrics"]["all"]
    logs = summary["requests"]["logs"]["all"]
    exact = "exact" if fid["worst_error"] < 1e-6 else f"off by {100 * fid['worst_error']:.3f}%"
    events = fid["events_worst_error"]
    events_text = "exact" if events is not None and events < 1e-6 else f"{events}"
    lines = [
        f"Hostile OTLP against the default stack while {args.developers:,} simulated developers "
        f"report for {args.duration:.0f} s (the CLI's 60 s interval; "
        f"{100 * args.cumulative_share:.0f}% of sessions send running totals, as `stackkit env` "
        "sets them up, the rest the CLI's default deltas); one token holder attacks in turn.",
        "",
        "| attack | requests | answers | seconds |",
        "|---|---|---|---|",
    ]
    for a in done:
        answers = ", ".join(f"{k}: {v:,}" for k, v in a.answers.most_common())
        lines.append(f"| {a.name} | {a.tried:,} | {answers} | {a.seconds:.1f} |")
    lines += [
        "",
        "| outcome | value |",
        "|---|---|",
        f"| Collector peak memory (MiB) | {samples.rss_peak.get('otelcol', 0):.0f} |",
        f"| Prometheus peak memory (MiB) | {samples.rss_peak.get('prometheus', 0):.0f} |",
        f"| Collector up at the end / restarts | {alive} / {restarts} |",
        f"| head series (peak) | {samples.head_series_peak:,.0f} |",
        f"| flood series that reached Prometheus | {checks['flood_series']:,.0f} |",
        f"| flood points dropped at the stream limit | {checks['d2c_limit_drops']:,.0f} |",
        f"| most labels on a flood series | {checks['widest_labels']} |",
        f"| longest label value that reached Prometheus | {checks['longest_value']} |",
        f"| developers' points sent / accepted / refused | {metrics['items']:,} / "
        f"{metrics['items_accepted']:,} / {metrics['items_refused']:,} |",
        f"| developers' events sent / accepted / refused | {logs['items']:,} / "
        f"{logs['items_accepted']:,} / {logs['items_refused']:,} |",
        f"| developers' totals in Prometheus ({fid['groups']} groups) | {exact} |",
        f"| developers' event counts | {events_text} |",
        f"| points lost inside the Collector (all senders) | {lost} |",
        f"| freshness median / max (s) | "
        f"{statistics.median(samples.freshness_s or [0]):.1f} / "
        f"{max(samples.freshness_s, default=0):.1f} |",
        f"| alerts at the end | {', '.join(checks['alerts']) or 'none'} |",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
