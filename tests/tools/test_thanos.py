"""Thanos as the horizontally scalable remote-write backend: what one Prometheus writes by remote
write comes back exactly through Thanos' Prometheus-compatible query API, sharded over 2 ingestors,
and PromQL (rate, increase, sum by, the rendered dashboards' queries) answers as Prometheus does.

The writer is the real Prometheus at PROMETHEUS_VERSION: it scrapes a small exporter in this
process whose counter values the test sets, and remote-writes every sample to the Thanos router.
"""

from __future__ import annotations

import math
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from stackkit.config import load_config
from stackkit.render import render
from stackkit.versions import THANOS_VERSION
from tests.fixtures import LOOPBACK
from tests.fixtures.prometheus import PrometheusServer
from tests.fixtures.thanos import REPLICA_LABEL, TENANT_LABEL, ThanosCluster
from tests.pipeline import dashboard_queries
from tests.toolchain import REPO

SCRAPE_INTERVAL_S = 1.0
# A series as the exporter serves it: (metric name, sorted label pairs).
Series = tuple[str, tuple[tuple[str, str], ...]]


def series(name: str, **labels: str) -> Series:
    return name, tuple(sorted(labels.items()))


class Exporter:
    """A /metrics endpoint serving the samples the test sets: ``{(name, labels): value}``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: dict[Series, float] = {}
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                body = exporter.exposition().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.target = f"{LOOPBACK}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def set(self, samples: Mapping[Series, float]) -> None:
        with self._lock:
            self._samples.update(samples)

    def exposition(self) -> str:
        with self._lock:
            items = sorted(self._samples.items())
        lines = []
        for name in sorted({n for (n, _), _ in items}):
            lines.append(f"# TYPE {name} {'counter' if name.endswith('_total') else 'gauge'}")
            for (n, labels), value in items:
                if n == name:
                    text = ",".join(f'{k}="{v}"' for k, v in labels)
                    lines.append(f"{name}{{{text}}} {value!r}")
        return "\n".join(lines) + "\n"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    exp = Exporter()
    yield exp
    exp.close()


def writer_config(target: str, remote_write_url: str) -> str:
    """Prometheus scraping ``target`` every second and remote-writing everything promptly."""
    return f"""\
global:
  scrape_interval: {SCRAPE_INTERVAL_S:g}s
  evaluation_interval: {SCRAPE_INTERVAL_S:g}s
scrape_configs:
  - job_name: exporter
    static_configs:
      - targets: ["{target}"]
remote_write:
  - url: {remote_write_url}
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
"""


def start_writer(
    prometheus_server: Any, exporter: Exporter, cluster: ThanosCluster
) -> PrometheusServer:
    return prometheus_server(writer_config(exporter.target, cluster.remote_write_url))


def _key(
    metric: Mapping[str, str], drop: tuple[str, ...] = (TENANT_LABEL,)
) -> tuple[tuple[str, str], ...]:
    """A series' labels without ``drop`` (by default the one only Thanos adds)."""
    return tuple(sorted((k, v) for k, v in metric.items() if k not in drop))


def _by_labels(result: list[dict[str, Any]]) -> dict[tuple[tuple[str, str], ...], str]:
    return {_key(r["metric"]): r["value"][1] for r in result}


def wait_caught_up(
    prom: PrometheusServer, cluster: ThanosCluster, selector: str, count: int, timeout: float = 60
) -> float:
    """A time ``t`` at which Thanos holds every sample Prometheus has for ``selector`` up to ``t``.

    Remote write keeps each series' samples in order, so once Thanos' newest sample of every series
    is at or after ``t``, everything up to ``t`` is there. (A range selector returns the raw
    samples with their own timestamps.)
    """
    t = round(time.time() - 0.5, 3)
    deadline = time.monotonic() + timeout
    while True:
        ts = cluster.query(f"{selector}[15s]")
        if len(ts) == count and all(float(r["values"][-1][0]) >= t for r in ts):
            local = prom.query(f"count({selector})", time_=t)
            assert local and int(float(local[0]["value"][1])) == count, local
            return t
        if time.monotonic() > deadline:
            raise AssertionError(
                f"Thanos did not catch up with Prometheus on {selector} (t={t}): {ts}\n"
                f"{cluster.log_tails(20)}\nprometheus log:\n{prom.process.log_tail(20)}"
            )
        time.sleep(0.5)


def assert_same_answers(
    prom: PrometheusServer, cluster: ThanosCluster, queries: Mapping[str, str], t: float
) -> dict[str, dict[tuple[tuple[str, str], ...], str]]:
    """Each query at time ``t`` gives Thanos exactly Prometheus' series and values."""
    answers = {}
    for name, expr in queries.items():
        local = _by_labels(prom.query(expr, time_=t))
        remote = _by_labels(cluster.query(expr, time_=t))
        assert remote.keys() == local.keys(), (name, expr, remote, local)
        for labels, value in local.items():
            a, b = float(remote[labels]), float(value)
            assert a == b or (math.isnan(a) and math.isnan(b)), (name, expr, labels, a, b)
        answers[name] = remote
    return answers


def test_thanos_version_is_the_pin(thanos_bin: Path) -> None:
    proc = subprocess.run(
        [str(thanos_bin), "--version"], capture_output=True, text=True, check=True, timeout=30
    )
    out = proc.stdout + proc.stderr
    assert f"thanos, version {THANOS_VERSION} " in out, out


def test_cluster_is_a_router_over_two_ingestors(thanos_cluster: ThanosCluster) -> None:
    cluster = thanos_cluster
    assert len(cluster.ingestors) == 2
    ports = {n.http for n in cluster.nodes} | {n.grpc for n in cluster.nodes}
    assert all(p.startswith(f"{LOOPBACK}:") for p in ports) and len(ports) == 2 * len(cluster.nodes)
    assert len({n.data_dir for n in cluster.ingestors}) == 2
    stores = {s["name"]: s for s in cluster.stores()}
    for node in cluster.ingestors:
        assert node.grpc in stores, stores
        assert not stores[node.grpc].get("lastError"), stores[node.grpc]
    # The router is in RouterOnly mode and each ingestor in IngestorOnly mode.
    assert "mode=RouterOnly" in cluster.router.process.log_tail(200)
    for node in cluster.ingestors:
        assert "mode=IngestorOnly" in node.process.log_tail(200)
    assert cluster.query_value("vector(1)") == 1.0


def test_remote_write_reads_back_exactly(
    thanos_cluster: ThanosCluster, prometheus_server: Any, exporter: Exporter
) -> None:
    cluster = thanos_cluster
    run = secrets.token_hex(4)
    metric = "stackkit_rw_tokens_total"
    models = ["model-a", "model-b", "model-c"]
    types = ["input", "output", "cacheRead", "cacheCreation"]
    before = {
        series(metric, run=run, model=m, type=t): float(100 * (i + 1) + 7 * j)
        for i, m in enumerate(models)
        for j, t in enumerate(types)
    }
    # A float that needs all 17 significant digits: any rounding on the way would show.
    gauge = series("stackkit_rw_cost_usd", run=run)
    before[gauge] = 0.1 + 0.2
    exporter.set(before)
    prom = start_writer(prometheus_server, exporter, cluster)
    selector = f'{{__name__=~"stackkit_rw_.*", run="{run}"}}'
    count = len(before)

    def holds(values: Mapping[Series, float]) -> Any:
        want = {_key({"__name__": n, **dict(labels)}): v for (n, labels), v in values.items()}

        def check(result: list[dict[str, Any]]) -> bool:
            drop = (TENANT_LABEL, "job", "instance")
            got = {_key(r["metric"], drop): float(r["value"][1]) for r in result}
            return got == want

        return check

    # Every series, with exactly the value served, and the labels Prometheus gave it.
    result = cluster.wait_for(selector, holds(before), timeout=60)
    for r in result:
        assert r["metric"]["job"] == "exporter" and r["metric"]["instance"] == exporter.target
        assert r["metric"][TENANT_LABEL] == "default-tenant"
        assert REPLICA_LABEL not in r["metric"]
    assert float(cluster.query(f"stackkit_rw_cost_usd{{run='{run}'}}")[0]["value"][1]) == 0.1 + 0.2

    # The counters grow; Thanos follows, exactly.
    time.sleep(3 * SCRAPE_INTERVAL_S)
    after = {k: (v + 1000 + 13 * i if k != gauge else v) for i, (k, v) in enumerate(before.items())}
    exporter.set(after)
    cluster.wait_for(selector, holds(after), timeout=60)
    time.sleep(5 * SCRAPE_INTERVAL_S)
    t = wait_caught_up(prom, cluster, selector, count)

    # Sharded: each ingestor holds some of the series, together all of them, none twice.
    per_node = cluster.query(f"count by ({REPLICA_LABEL}) ({selector})", time_=t, dedup=False)
    counts = {r["metric"][REPLICA_LABEL]: int(r["value"][1]) for r in per_node}
    assert set(counts) == {n.name for n in cluster.ingestors}, counts
    assert all(c > 0 for c in counts.values()) and sum(counts.values()) == count, counts

    # Totals, exactly: the newest value per series, summed by a label (as stackkit reads totals).
    totals = cluster.query(f'sum by (type) (max_over_time({metric}{{run="{run}"}}[10m]))', t)
    want_by_type = {
        t_: sum(v for (n, lab), v in after.items() if n == metric and dict(lab)["type"] == t_)
        for t_ in types
    }
    assert {r["metric"]["type"]: float(r["value"][1]) for r in totals} == want_by_type
    grand = cluster.query(f'sum(max_over_time({metric}{{run="{run}"}}[10m]))', t)
    assert float(grand[0]["value"][1]) == sum(want_by_type.values())

    # rate(), increase() and sum by answer exactly as the Prometheus that holds the same samples.
    sel = f'{metric}{{run="{run}"}}'
    queries = {
        "rate": f"rate({sel}[1m])",
        "increase": f"increase({sel}[5m])",
        "sum by model of increase": f"sum by (model) (increase({sel}[5m]))",
        "sum by type of rate": f"sum by (type) (rate({sel}[30s])) * 60",
        "irate": f"irate({sel}[1m])",
        "resets": f"resets({sel}[5m])",
        "gauge": f'stackkit_rw_cost_usd{{run="{run}"}}',
    }
    answers = assert_same_answers(prom, cluster, queries, t)
    assert len(answers["rate"]) == count - 1 and len(answers["sum by model of increase"]) == 3
    assert all(float(v) == 0 for v in answers["resets"].values())
    # increase() over the whole history is the growth, extrapolated by at most a few scrapes.
    growth = {
        m: sum(after[k] - before[k] for k in after if k[0] == metric and dict(k[1])["model"] == m)
        for m in models
    }
    for labels, value in answers["sum by model of increase"].items():
        model = dict(labels)["model"]
        assert growth[model] <= float(value) <= growth[model] * 1.5, (model, value, growth)

    # A range query (what a Grafana panel sends) matches too, point for point.
    expr = f"sum by (type) (rate({sel}[30s]))"
    start, end = t - 20, t
    local = prom.api("query_range", {"query": expr, "start": start, "end": end, "step": 1})
    remote = cluster.query_range(expr, start, end, 1)
    assert {_key(r["metric"]): r["values"] for r in remote} == {
        _key(r["metric"]): r["values"] for r in local["result"]
    }
    assert len(remote) == len(types)


def test_dashboard_queries_answer_as_prometheus(
    thanos_cluster: ThanosCluster, prometheus_server: Any, exporter: Exporter
) -> None:
    """Every panel query of the rendered dashboards, on series named and labelled like Claude
    Code's, gives Thanos' query API the same answer as the Prometheus that wrote them."""
    cluster = thanos_cluster
    team = f"team-{secrets.token_hex(3)}"  # this test's own series in the shared cluster
    users = ["alice", "bob"]
    base = {"team_id": team, "session_id": "s", "organization_id": "org"}

    def samples(step: int) -> dict[Series, float]:
        out: dict[Series, float] = {}
        for u, user in enumerate(users):
            who = {**base, "user_id": user}
            for model in ("claude-sonnet", "claude-haiku"):
                mw = {**who, "model": model}
                out[series("claude_code_cost_usage_USD_total", **mw)] = 0.0123 * (u + 1) * step
                for t_ in ("input", "output", "cacheRead", "cacheCreation"):
                    name = "claude_code_token_usage_tokens_total"
                    out[series(name, **mw, type=t_)] = float(100 * step + u)
                for t_ in ("added", "removed"):
                    out[series("claude_code_lines_of_code_count_total", **mw, type=t_)] = 3.0 * step
                name = "claude_code_api_error_count_total"
                out[series(name, **mw, status_code="529")] = float(step)
            out[series("claude_code_session_count_total", **who)] = float(step)
            out[series("claude_code_active_time_seconds_total", **who)] = 2.5 * step
            out[series("claude_code_commit_count_total", **who)] = float(step // 2)
            out[series("claude_code_pull_request_count_total", **who)] = float(step // 3)
            for decision in ("accept", "reject"):
                name = "claude_code_code_edit_tool_decision_total"
                out[series(name, **who, tool_name="Write", decision=decision)] = float(step)
        return out

    exporter.set(samples(1))
    prom = start_writer(prometheus_server, exporter, cluster)
    selector = f'{{__name__=~"claude_code_.*", team_id="{team}"}}'
    count = len(samples(1))
    for step in range(2, 6):
        time.sleep(2 * SCRAPE_INTERVAL_S)
        exporter.set(samples(step))
    time.sleep(3 * SCRAPE_INTERVAL_S)
    t = wait_caught_up(prom, cluster, selector, count)

    # The dashboards of a stack whose Grafana queries the backend (plain ranges: Thanos does not
    # parse anchored ones).
    cfg = load_config(REPO / "examples" / "minimal.yaml")
    cfg = cfg.model_copy(
        update={"grafana": cfg.grafana.model_copy(update={"prometheus_url": cluster.query_url})}
    )
    files = {str(k): v for k, v in render(cfg).items()}
    queries = dashboard_queries(files)
    assert len(queries) >= 10, queries
    # Scope every panel to this test's team, as the dashboard's team variable would.
    scoped = {name: q.replace('team_id=~".*"', f'team_id="{team}"') for name, q in queries.items()}
    # A query this test cannot scope would also see other tests' series in the shared cluster:
    # only the Collector's own metrics (no Collector here, so no answer on either side).
    unscoped = [name for name, q in scoped.items() if f'team_id="{team}"' not in q]
    assert all("Collector" in name for name in unscoped), unscoped
    answers = assert_same_answers(
        prom, cluster, {n: q for n, q in scoped.items() if n not in unscoped}, t
    )
    assert all(answers.values()), [name for name, a in answers.items() if not a]
    # Panels grouped by team see exactly this test's team, with data.
    by_team = [a for a in answers.values() if any(("team_id", team) in k for k in a)]
    assert by_team, answers
    assert all(float(v) > 0 for a in by_team for v in a.values()), by_team
