"""Benchmark: how many developers one stack holds, and how the pipelines compare.

Usage:
    uv run python bench/load.py --short                      # `make bench`: 100 and 1,000
    uv run python bench/load.py --full --write bench/results-load.md   # the whole sweep
    uv run python bench/load.py --developers 10000 --compare 0 \
        --cumulative-share 0.3 --resume-share 0.2             # one size, other client mixes

Each case brings a stack up on the tests' Docker engine (Debian's dockerd on its own socket, the
stack's images built locally under their upstream names) on free ports, drives it with
bench/loadgen (simulated developers whose OTLP is shaped like the real Claude Code CLI's), and
measures while the load runs:

* what was sent, accepted, refused (the generator's own account) and dropped inside the
  Collector (its exporter, queue, delta-to-cumulative and memory-limiter counters);
* fidelity: every total in Prometheus against the totals of accepted data, per metric and group;
* the Collector's and Prometheus' CPU (cores, from /proc) and peak RSS; Prometheus' head series,
  scrape duration and rule evaluation time;
* freshness: a probe point sent every few seconds, timed until Prometheus answers with it.

The fleet's mix: ``--cumulative-share`` of sessions export cumulative sums (the CLI's default is
delta); ``--resume-share`` of the sessions that end are resumed at once (``claude --resume``: a
new process sending under the same session.id, counting from zero); both are printed under the
table. ``--interval`` compresses time (60 s is the CLI's own export interval).

Cases: stackkit's stack with each export (otlp, the default; scrape), each
session.id policy (keep, drop, hash), and the two public peer setups (the Collector config
published with Grafana dashboard 25255, and the one in Anthropic's Claude Code monitoring
guide) run with their own Collector and Prometheus settings. Everything listens on loopback;
every run is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import peers
from stackkit import promql
from stackkit.prom_client import Fetch, PrometheusError, at, query
from stackkit.prometheus_auth import READER, READER_PASSWORD_FILE, basic_authorization
from tests.fixtures import (
    free_port,
    many_open_files,
)
from tests.fixtures.docker import DockerEngine, docker_engine_session
from tests.toolchain import ensure

SAMPLE_S = 2.0
PROBE_S = 5.0


@dataclass
class Target:
    """A stack under load: where to send, where to read, which processes to watch."""

    label: str
    grpc: str
    http: str
    token: str | None
    prometheus_url: str | Fetch
    """Where to query: a URL, or for stackkit's stack its URL with the reading credential."""
    containers: dict[str, str]
    """Component -> container name."""
    counts_events: bool = True
    own_metrics: bool = True
    """The Collector's own counters are in Prometheus (job otelcol)."""


# --- stacks -------------------------------------------------------------------------------


@contextmanager
def stackkit_stack(engine: DockerEngine, work: Path, **overrides: Any) -> Iterator[Target]:
    """`stackkit up` with the defaults (but free ports and ``overrides``); purged afterwards."""
    env = {
        **os.environ,
        **engine.env,
        "DOCKER_HOST": engine.host,
        "PATH": os.pathsep.join(
            [str(ensure("pulumi")), str(ensure("pulumi-docker")), os.environ["PATH"]]
        ),
        "PULUMI_HOME": str(work / "pulumi-home"),
        "STACKKIT_STATE_DIR": str(work / "state"),
        "STACKKIT_OTLP_TOKEN": secrets.token_urlsafe(24),
    }
    name = engine.unique("load")
    ports = {
        k: free_port() for k in ("grpc", "http", "health", "prometheus", "grafana", "alertmanager")
    }
    config: dict[str, Any] = {
        "name": name,
        "collector": {
            "grpc": {"port": ports["grpc"]},
            "http": {"port": ports["http"]},
            "health_port": ports["health"],
        },
        "prometheus": {"port": ports["prometheus"]},
        "grafana": {"port": ports["grafana"]},
        "alertmanager": {"port": ports["alertmanager"]},
    }
    for key, value in overrides.items():
        config[key] = {**config.get(key, {}), **value}
    (work / "stackkit.yaml").write_text(yaml.safe_dump(config))

    def stackkit(*args: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "stackkit", *args],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0:
            out = (done.stdout + done.stderr).strip()[-3000:]
            raise RuntimeError(f"stackkit {' '.join(args)} failed ({done.returncode}):\n{out}")

    stackkit("up")
    try:
        yield Target(
            label="stackkit",
            grpc=f"127.0.0.1:{ports['grpc']}",
            http=f"http://127.0.0.1:{ports['http']}",
            token=env["STACKKIT_OTLP_TOKEN"],
            prometheus_url=at(
                f"http://127.0.0.1:{ports['prometheus']}",
                basic_authorization(
                    READER, (work / "state" / name / READER_PASSWORD_FILE).read_text().strip()
                ),
            ),
            containers={c: f"{name}-{c}" for c in ("otelcol", "prometheus")},
        )
    finally:
        stackkit("down", "--purge")


@contextmanager
def peer_stack(engine: DockerEngine, work: Path, peer: peers.Peer) -> Iterator[Target]:
    """A public peer setup: its Collector config and its Prometheus scrape settings, run with
    the same images stackkit uses."""
    name = engine.unique("peer")
    ports = {k: free_port() for k in ("grpc", "http", "prometheus")}
    (work / "otelcol.yaml").write_text(peer.collector_config)
    prom = {
        "global": {"scrape_interval": peer.scrape_interval},
        "scrape_configs": [
            # Prometheus' own metrics, for the head-series column only (not in the peer's setup).
            {"job_name": "prometheus", "static_configs": [{"targets": ["localhost:9090"]}]},
            {
                "job_name": "claude-code",
                "scrape_interval": peer.scrape_interval,
                "static_configs": [{"targets": [f"{name}-otelcol:{peer.exporter_port}"]}],
            },
        ],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(prom))
    images = engine.images
    net = f"{name}-net"
    engine.docker("network", "create", net)
    try:
        engine.docker(
            "run", "-d", "--name", f"{name}-otelcol", "--network", net,
            "-p", f"127.0.0.1:{ports['grpc']}:4317", "-p", f"127.0.0.1:{ports['http']}:4318",
            "-v", f"{work / 'otelcol.yaml'}:/etc/peer.yaml:ro",
            images["otelcol"], "--config", "/etc/peer.yaml",
        )  # fmt: skip
        engine.docker(
            "run", "-d", "--name", f"{name}-prometheus", "--network", net,
            "-p", f"127.0.0.1:{ports['prometheus']}:9090",
            "-v", f"{work / 'prometheus.yml'}:/etc/prometheus/prometheus.yml:ro",
            images["prometheus"], "--config.file=/etc/prometheus/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
        )  # fmt: skip
        url = f"http://127.0.0.1:{ports['prometheus']}"
        _wait_http(f"{url}/-/ready")
        yield Target(
            label=peer.label,
            grpc=f"127.0.0.1:{ports['grpc']}",
            http=f"http://127.0.0.1:{ports['http']}",
            token=None,
            prometheus_url=url,
            containers={"otelcol": f"{name}-otelcol", "prometheus": f"{name}-prometheus"},
            counts_events=False,
            own_metrics=False,
        )
    finally:
        engine.docker("rm", "-f", f"{name}-otelcol", f"{name}-prometheus", check=False)
        engine.docker("network", "rm", net, check=False)


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


# --- measuring ------------------------------------------------------------------------------


def _pid(engine: DockerEngine, container: str) -> int:
    out = engine.docker("inspect", "--format", "{{.State.Pid}}", container).stdout
    return int(out.strip())


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _value(url: str | Fetch, promql: str) -> float | None:
    try:
        result = query(url, promql, timeout=20)
    except PrometheusError:
        return None
    return float(result[0]["value"][1]) if result else None


@dataclass
class Samples:
    cpu: dict[str, float] = field(default_factory=dict)
    rss_peak: dict[str, float] = field(default_factory=dict)
    head_series_peak: float = 0.0
    scrape_s: list[float] = field(default_factory=list)
    rules_s: list[float] = field(default_factory=list)
    freshness_s: list[float] = field(default_factory=list)
    probes_lost: int = 0


class Watcher:
    """Samples CPU, memory and Prometheus' own numbers, and times probe points end to end."""

    def __init__(self, engine: DockerEngine, target: Target) -> None:
        self.target = target
        self.pids = {c: _pid(engine, name) for c, name in target.containers.items()}
        self.samples = Samples()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._sample, daemon=True),
            threading.Thread(target=self._probe, daemon=True),
        ]

    def __enter__(self) -> Watcher:
        self._cpu0 = {c: _cpu_seconds(p) for c, p in self.pids.items()}
        self._t0 = time.monotonic()
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()
        wall = time.monotonic() - self._t0
        self.samples.cpu = {
            c: (_cpu_seconds(p) - self._cpu0[c]) / wall for c, p in self.pids.items()
        }

    def _sample(self) -> None:
        url = self.target.prometheus_url
        while not self._stop.wait(SAMPLE_S):
            for c, p in self.pids.items():
                self.samples.rss_peak[c] = max(self.samples.rss_peak.get(c, 0.0), _rss_mib(p))
            head = _value(url, "max(prometheus_tsdb_head_series)")
            if head is not None:
                self.samples.head_series_peak = max(self.samples.head_series_peak, head)
            scrape = _value(url, 'max(scrape_duration_seconds{job!="prometheus"})')
            if scrape is not None:
                self.samples.scrape_s.append(scrape)
            rules = _value(url, "sum(prometheus_rule_group_last_duration_seconds)")
            if rules is not None:
                self.samples.rules_s.append(rules)

    def _probe(self) -> None:
        seq = 0
        while not self._stop.wait(PROBE_S):
            seq += 1
            sent = time.time()
            if not send_probe(self.target, seq):
                self.samples.probes_lost += 1
                continue
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not self._stop.is_set():
                if _value(
                    self.target.prometheus_url, f'stackkit_bench_probe_total{{verify_id="{seq}"}}'
                ):
                    self.samples.freshness_s.append(time.time() - sent)
                    break
                time.sleep(0.25)
            else:
                if not self._stop.is_set():  # still on its way when the run ended: not lost
                    self.samples.probes_lost += 1


def send_probe(target: Target, seq: int) -> bool:
    """One cumulative counter point over OTLP/HTTP, labelled with its sequence number (as
    `verify.id`: a key the Collector lets through)."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )

    now = time.time_ns()
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.add(key="service.name").value.string_value = "stackkit-bench"
    metric = rm.scope_metrics.add().metrics.add()
    metric.name = "stackkit.bench.probe"
    metric.sum.is_monotonic = True
    metric.sum.aggregation_temporality = 2  # cumulative
    point = metric.sum.data_points.add()
    point.attributes.add(key="verify.id").value.string_value = str(seq)
    point.start_time_unix_nano = now - 1_000_000
    point.time_unix_nano = now
    point.as_double = 1.0
    headers = {"Content-Type": "application/x-protobuf"}
    if target.token:
        headers["Authorization"] = f"Bearer {target.token}"
    request = urllib.request.Request(
        f"{target.http}/v1/metrics", data=req.SerializeToString(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return 200 <= resp.status < 300
    except OSError:
        return False


# --- load and fidelity ----------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    developers: int
    interval_s: float
    duration_s: float
    cumulative_share: float = 0.2
    resume_share: float = 0.0
    """Ended sessions resumed at once: a new process under the same session.id (issue 23)."""
    conns: int = 0
    """0: a connection per session, as real processes hold; else that many shared ones."""

    def args(self) -> list[str]:
        return [
            "-developers", str(self.developers),
            "-interval", f"{self.interval_s}s",
            "-duration", f"{self.duration_s}s",
            "-ramp", f"{min(self.duration_s / 3, 60)}s",
            "-cumulative-share", str(self.cumulative_share),
            "-resume-share", str(self.resume_share),
            "-conns", str(self.conns),
        ]  # fmt: skip


def run_loadgen(target: Target, load: Load, work: Path) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    summary = work / "loadgen.json"
    summary.unlink(missing_ok=True)
    env = {**os.environ, "BENCH_TOKEN": target.token or ""}
    cmd = [
        str(ensure("loadgen") / "loadgen"),
        *load.args(),
        "-grpc-endpoint", target.grpc,
        "-http-endpoint", target.http,
        "-summary", str(summary),
    ]  # fmt: skip
    if target.token:
        cmd += ["-token-env", "BENCH_TOKEN"]
    done = subprocess.run(
        cmd,
        env=env,
        capture_output=True,
        text=True,
        timeout=load.duration_s + 300,
        preexec_fn=many_open_files,  # a connection per session, as real processes have
    )
    # Exit 1 with a summary: sessions were abandoned at the end (an overloaded stack did not
    # take their last exports in time); they are booked as refused, which is what happened.
    if done.returncode not in (0, 1) or not summary.is_file():
        raise RuntimeError(f"loadgen failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return json.loads(summary.read_text())  # type: ignore[no-any-return]


PROM_NAMES = {
    "claude_code.token.usage": "claude_code_token_usage_tokens_total",
    "claude_code.cost.usage": "claude_code_cost_usage_USD_total",
    "claude_code.lines_of_code.count": "claude_code_lines_of_code_count_total",
    "claude_code.code_edit_tool.decision": "claude_code_code_edit_tool_decision_total",
    "claude_code.session.count": "claude_code_session_count_total",
    "claude_code.active_time.total": "claude_code_active_time_seconds_total",
}
EVENT_COUNTS = {
    "claude_code.api_request": "claude_code_api_request_count_total",
    "claude_code.tool_result": "claude_code_tool_result_count_total",
    "claude_code.api_error": "claude_code_api_error_count_total",
}
# Durations become histograms: each counts one observation per event that carries one (the
# load generator's always do).
EVENT_HISTOGRAMS = {
    f"{promql.API_LATENCY}_count": "claude_code.api_request",
    f"{promql.API_TTFT}_count": "claude_code.api_request",
    f"{promql.TOOL_DURATION}_count": "claude_code.tool_result",
}


def fidelity(target: Target, summary: dict[str, Any], window_s: float) -> dict[str, Any]:
    """Prometheus' totals (anchored increase over the whole run) against the accepted data."""
    window = f"{int(window_s)}s"
    worst, overall, stored, compared, missing = 0.0, 0.0, 0.0, 0, []
    for name, spec in summary["accepted"]["metrics"].items():
        prom = PROM_NAMES.get(name)
        if prom is None:
            continue
        # The metric's whole total, whatever labels the pipeline kept or lost: as increase()
        # counts it (what dashboards show), and as stored (each series' highest value: a series
        # born inside the window counts from zero, reset or not).
        total = sum(float(g["value"]) for g in spec.get("groups", []))
        if total:
            url = target.prometheus_url
            counted = _value(url, f"sum(increase({prom}[{window}] anchored))") or 0.0
            kept = _value(url, f"sum(max_over_time({prom}[{window}]))") or 0.0
            overall = max(overall, abs(counted - total) / total)
            stored = max(stored, abs(kept - total) / total)
        by = spec.get("group_by", [])
        labels = [b.replace(".", "_") for b in by]
        grouping = f" by ({', '.join(labels)})" if labels else ""
        seen = {
            tuple(r["metric"].get(label, "") for label in labels): float(r["value"][1])
            for r in query(
                target.prometheus_url,
                f"sum{grouping} (increase({prom}[{window}] anchored))",
                timeout=120,
            )
        }
        for group in spec.get("groups", []):
            key = tuple(str(group[b]) for b in by)
            want, got = float(group["value"]), seen.get(key, 0.0)
            compared += 1
            if want:
                err = abs(got - want) / want
                worst = max(worst, err)
                if err > 1e-6:
                    missing.append(f"{prom}{dict(zip(labels, key, strict=True))}: {got} != {want}")
    events_worst = None
    if target.counts_events:
        events_worst = 0.0
        pairs = [*EVENT_COUNTS.items(), *((b, p) for p, b in EVENT_HISTOGRAMS.items())]
        for body, prom in pairs:
            want = float(summary["accepted"]["events"]["by_body"].get(body, 0))
            got = _value(target.prometheus_url, f"sum(increase({prom}[{window}] anchored))") or 0
            if want:
                events_worst = max(events_worst, abs(got - want) / want)
    return {
        "groups": compared,
        "worst_error": worst,
        "overall_error": overall,
        "stored_error": stored,
        "events_worst_error": events_worst,
        "off": missing[:5],
    }


def dropped(target: Target) -> float | None:
    """Points the Collector took and then lost: failed sends and enqueues, delta-to-cumulative
    rejects, memory-limiter refusals after the door."""
    if not target.own_metrics:
        return None
    url = target.prometheus_url
    exprs = [
        "sum(otelcol_exporter_send_failed_metric_points)",
        "sum(otelcol_exporter_enqueue_failed_metric_points)",
        'sum(otelcol_deltatocumulative_datapoints{error!=""})',
    ]
    return sum(_value(url, e) or 0.0 for e in exprs)


# --- cases -----------------------------------------------------------------------------------


@dataclass
class Row:
    case: str
    load: Load
    summary: dict[str, Any]
    samples: Samples
    fidelity: dict[str, Any]
    dropped: float | None


def measure(
    engine: DockerEngine, stack: Callable[[Path], Any], case: str, load: Load, tmp: Path
) -> Row:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", case)
    work = tmp / f"{slug}-{load.developers}"
    work.mkdir(parents=True)
    print(f"[load] {case}, {load.developers} developers ...", file=sys.stderr, flush=True)
    with stack(work) as target, Watcher(engine, target) as watcher:
        started = time.time()
        summary = run_loadgen(target, load, work)
        time.sleep(15)  # the last batch, interval flush and queue reach Prometheus
        window = time.time() - started + 60
        fid = fidelity(target, summary, window)
        lost = dropped(target)
    row = Row(case, load, summary, watcher.samples, fid, lost)
    print(f"[load]   {format_row(row)}", file=sys.stderr, flush=True)
    for signal in ("metrics", "logs"):
        if reasons := summary["requests"][signal]["all"].get("refused_by_reason"):
            print(f"[load]   {signal} refused: {reasons}", file=sys.stderr, flush=True)
    return row


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "n/a" if value is None else format(value, spec)


def format_row(r: Row) -> str:
    metrics = r.summary["requests"]["metrics"]["all"]
    logs = r.summary["requests"]["logs"]["all"]
    s = r.samples

    def pct(error: float) -> str:
        return "exact" if error < 1e-6 else f"{100 * error:.2f}%"

    worst = r.fidelity["worst_error"]
    exact = (
        "exact"
        if worst < 1e-6
        else f"{pct(worst)}; whole totals: increase() {pct(r.fidelity['overall_error'])}, "
        f"stored {pct(r.fidelity['stored_error'])}"
    )
    events = r.fidelity["events_worst_error"]
    events_text = (
        "not counted" if events is None else ("exact" if events < 1e-6 else f"{100 * events:.2f}%")
    )
    fresh = s.freshness_s
    sessions = f"{r.summary['sessions']['started']:,}"
    if resumed := r.summary["sessions"].get("resumed"):
        sessions += f" ({resumed:,} resumed)"
    return (
        f"| {r.case} | {r.load.developers:,} | {sessions} | "
        f"{metrics['items']:,} / {metrics['items_accepted']:,} / {metrics['items_refused']:,} | "
        f"{logs['items']:,} / {logs['items_accepted']:,} / {logs['items_refused']:,} | "
        f"{_fmt(r.dropped, '.0f')} | {exact} | {events_text} | "
        f"{s.cpu.get('otelcol', 0):.2f} | {s.rss_peak.get('otelcol', 0):.0f} | "
        f"{s.cpu.get('prometheus', 0):.2f} | {s.rss_peak.get('prometheus', 0):.0f} | "
        f"{s.head_series_peak:,.0f} | {_fmt(_median(s.scrape_s), '.3f')} | "
        f"{_fmt(_median(s.rules_s), '.3f')} | "
        f"{_fmt(_median(fresh))} / {_fmt(max(fresh) if fresh else None)} ({s.probes_lost} lost) |"
    )


HEADER = (
    "| case | developers | sessions | points sent / accepted / refused | events sent / accepted / "
    "refused | dropped inside | totals | event counts | Collector cores | Collector peak MiB | "
    "Prometheus cores | Prometheus peak MiB | head series (peak) | scrape s (median) | rules s "
    "(median) | freshness s median / max |\n" + "|---" * 16 + "|"
)


def load_notes(rows: list[Row]) -> str:
    """What the fleet was, under the table: the shares and the time scale of each case."""
    mixes: dict[str, list[str]] = {}
    for r in rows:
        ld = r.load
        mix = (
            f"{ld.interval_s:g} s export interval, {ld.duration_s:g} s of load; "
            f"{ld.cumulative_share:.0%} of sessions cumulative (`-cumulative-share "
            f"{ld.cumulative_share:g}`), {ld.resume_share:.0%} of ended sessions resumed "
            f"(`-resume-share {ld.resume_share:g}`)"
        )
        mixes.setdefault(mix, []).append(f"{r.case} ({ld.developers:,})")
    if len(mixes) == 1:
        return f"Load: {next(iter(mixes))}.\n"
    return "".join(f"Load: {mix}: {', '.join(cs)}.\n" for mix, cs in mixes.items())


PER_SESSION_MAX = 8000
SHARED_CONNS = 2048
Case = tuple[str, Callable[[DockerEngine], Callable[[Path], Any]], Load]


def cases(args: argparse.Namespace) -> list[Case]:
    interval = args.interval  # 60 s: the CLI's own export interval, no time compression
    duration = args.duration
    mix = {"cumulative_share": args.cumulative_share, "resume_share": args.resume_share}
    sizes = [int(s) for s in args.developers.split(",") if s.strip()]
    out: list[Case] = []

    def ours(**overrides: Any) -> Callable[[DockerEngine], Callable[[Path], Any]]:
        if args.collector_memory:
            memory = {"memory_limit_mib": args.collector_memory}
            overrides = {**overrides, "collector": {**overrides.get("collector", {}), **memory}}
        return lambda engine: lambda work: stackkit_stack(engine, work, **overrides)

    for n in sizes:
        # A session holds its own connections (gRPC: one; HTTP: one per signal). Docker's port
        # proxy takes two open files per connection and this machine allows 20,000 per process,
        # so above PER_SESSION_MAX developers the fleet shares SHARED_CONNS connections.
        shared = n > PER_SESSION_MAX
        label = "stackkit default (otlp push)" + (", shared connections" if shared else "")
        conns = SHARED_CONNS if shared else 0
        out.append((label, ours(), Load(n, interval, duration, conns=conns, **mix)))
    if args.compare:
        n = args.compare
        out.append(
            (
                "stackkit default, shared connections",
                ours(),
                Load(n, interval, duration, conns=SHARED_CONNS, **mix),
            )
        )
        out.append(
            (
                "stackkit, export scrape",
                ours(collector={"export": "scrape"}),
                Load(n, interval, duration, **mix),
            )
        )
        out.append(
            (
                "stackkit, session.id dropped",
                ours(attributes={"session_id": "drop"}),
                Load(n, interval, duration, **mix),
            )
        )
        out.append(
            (
                "stackkit, session.id hashed",
                ours(attributes={"session_id": "hash"}),
                Load(n, interval, duration, **mix),
            )
        )
        for peer in peers.PEERS:
            out.append(
                (
                    peer.label,
                    lambda engine, p=peer: lambda work: peer_stack(engine, work, p),
                    Load(
                        n,
                        interval,
                        duration,
                        cumulative_share=peer.cumulative_share,
                        resume_share=args.resume_share,
                    ),
                )
            )
    if args.day:
        # A working day, compressed: 8 hours of the CLI's 60 s intervals at 0.5 s each. Prometheus
        # compacts its head every 2 real hours, so the head holds the whole day's series.
        for policy in ("keep", "drop", "hash"):
            out.append(
                (
                    f"working day (8 h in 4 min), session.id {policy}",
                    ours(attributes={"session_id": policy}, collector={"max_stale": "1m"}),
                    Load(args.day, 0.5, 240.0, **mix),
                )
            )
    return out  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--developers", default="100,1000,5000,10000,20000")
    parser.add_argument("--duration", type=float, default=360.0, help="seconds of load per case")
    parser.add_argument(
        "--compare", type=int, default=5000, help="developers for the pipeline comparison (0: none)"
    )
    parser.add_argument(
        "--short", action="store_true", help="100 and 1,000 developers, 3 minutes, no comparison"
    )
    parser.add_argument("--full", action="store_true", help="the whole sweep (the defaults)")
    parser.add_argument(
        "--day", type=int, default=0, help="developers for the compressed working day (0: none)"
    )
    parser.add_argument("--only", default="", help="only the cases whose label matches")
    parser.add_argument(
        "--collector-memory", type=int, default=0, help="collector.memory_limit_mib for our cases"
    )
    parser.add_argument(
        "--interval", type=float, default=60.0, help="export interval, s (60: the CLI's own)"
    )
    parser.add_argument(
        "--cumulative-share",
        type=float,
        default=0.2,
        help="sessions exporting cumulative sums (peers: their own setting)",
    )
    parser.add_argument(
        "--resume-share",
        type=float,
        default=0.0,
        help="ended sessions resumed at once (claude --resume: same session.id, new process)",
    )
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    for share in ("cumulative_share", "resume_share"):
        if not 0 <= getattr(args, share) <= 1:
            parser.error(f"--{share.replace('_', '-')} must be between 0 and 1")
    if args.short:
        args.developers, args.duration, args.compare = "100,1000", 180.0, 0
    rows = []
    with docker_engine_session() as engine, tempfile.TemporaryDirectory() as tmp:
        for case, make, load in cases(args):
            if args.only and not re.search(args.only, case):
                continue
            rows.append(measure(engine, make(engine), case, load, Path(tmp)))
    text = "\n".join([HEADER, *map(format_row, rows)]) + "\n\n" + load_notes(rows)
    print(text)
    if args.write:
        args.write.write_text(text)


if __name__ == "__main__":
    main()
