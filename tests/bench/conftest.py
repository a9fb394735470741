"""Fixtures and helpers for the load generator tests (bench/loadgen, built by
tools/build-loadgen.sh).

- ``loadgen_bin`` (session): the built ``loadgen`` executable.
- ``sinks`` (function): a factory ``sinks(token=None, partial=0) -> Sinks``: an OTLP/HTTP sink
  (tests/fixtures/otlp_sink.py, which keeps protobuf bodies raw) and an OTLP/gRPC sink (here),
  both on 127.0.0.1, stopped after the test. ``partial`` makes the gRPC sink answer every
  metrics request with an OTLP partial success rejecting that many points.
- ``run_loadgen(bin, args, ...)``: runs the generator to its end and returns its summary.

Decoding: :func:`payloads` turns what a sink accepted into OTLP/JSON-shaped dicts (protobuf
bodies through the official ``opentelemetry-proto`` messages and ``MessageToDict``), so the real
Claude Code CLI's http/json posts and the generator's protobuf posts are read by the same
:func:`points` / :func:`events` flatteners, which keep each value's OTLP kind (``stringValue``,
``intValue``, ``doubleValue``, ``asDouble`` ...).
"""

from __future__ import annotations

import json
import math
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from tests.fixtures.otlp_sink import OtlpSink
from tests.toolchain import ensure_binary

SERVICES = {
    "opentelemetry.proto.collector.metrics.v1.MetricsService": "metrics",
    "opentelemetry.proto.collector.logs.v1.LogsService": "logs",
}
REQUEST_TYPES = {"metrics": ExportMetricsServiceRequest, "logs": ExportLogsServiceRequest}
TEMPORALITY = {
    1: "delta",
    2: "cumulative",
    "AGGREGATION_TEMPORALITY_DELTA": "delta",
    "AGGREGATION_TEMPORALITY_CUMULATIVE": "cumulative",
}


@pytest.fixture(scope="session")
def loadgen_bin() -> Path:
    """The load generator, built from bench/loadgen on first use."""
    return ensure_binary("loadgen", "loadgen")


# --------------------------------------------------------------------------- gRPC sink


@dataclass
class GrpcPost:
    signal: str
    accepted: bool
    metadata: dict[str, str]
    raw: bytes


class GrpcSink:
    """An OTLP/gRPC sink recording raw requests; with ``token`` it answers UNAUTHENTICATED to
    any other ``authorization`` than ``Bearer <token>``."""

    def __init__(self, token: str | None = None, partial: int = 0) -> None:
        self.token = token
        self.partial = partial
        self.posts: list[GrpcPost] = []
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        handlers = [
            grpc.method_handlers_generic_handler(
                service,
                {
                    "Export": grpc.unary_unary_rpc_method_handler(
                        self._handler(signal),
                        request_deserializer=None,  # raw bytes in and out
                        response_serializer=None,
                    )
                },
            )
            for service, signal in SERVICES.items()
        ]
        self._server.add_generic_rpc_handlers(handlers)
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _handler(self, signal: str) -> Callable[[bytes, grpc.ServicerContext], bytes]:
        def export(raw: bytes, context: grpc.ServicerContext) -> bytes:
            md = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
            ok = self.token is None or md.get("authorization") == f"Bearer {self.token}"
            with self._lock:
                self.posts.append(GrpcPost(signal, ok, md, raw))
            if not ok:
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "sink: bad token")
            if signal == "metrics" and self.partial:
                return ExportMetricsServiceResponse(
                    partial_success=ExportMetricsPartialSuccess(
                        rejected_data_points=self.partial, error_message="sink: partial"
                    )
                ).SerializeToString()
            return b""

        return export

    def start(self) -> GrpcSink:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=None)


@dataclass
class Sinks:
    http: OtlpSink
    grpc: GrpcSink

    def args(self) -> list[str]:
        """Generator flags pointing at both sinks."""
        return ["-grpc-endpoint", self.grpc.endpoint, "-http-endpoint", self.http.endpoint]

    def received(self) -> dict[tuple[str, str], dict[str, int]]:
        """Request counts per (signal, protocol): accepted and refused."""
        out: dict[tuple[str, str], dict[str, int]] = defaultdict(
            lambda: {"accepted": 0, "refused": 0}
        )
        for p in self.http.posts:
            out[(p.signal, "http")]["accepted" if p.accepted else "refused"] += 1
        for g in self.grpc.posts:
            out[(g.signal, "grpc")]["accepted" if g.accepted else "refused"] += 1
        return dict(out)

    def accepted_payloads(self, signal: str) -> list[dict[str, Any]]:
        raws = [p.raw for p in self.http.posts if p.accepted and p.signal == signal]
        raws += [g.raw for g in self.grpc.posts if g.accepted and g.signal == signal]
        return [decode(signal, raw) for raw in raws]


@pytest.fixture
def sinks() -> Iterator[Callable[..., Sinks]]:
    started: list[Sinks] = []

    def start(token: str | None = None, partial: int = 0) -> Sinks:
        s = Sinks(OtlpSink(token=token).start(), GrpcSink(token=token, partial=partial).start())
        started.append(s)
        return s

    yield start
    for s in started:
        s.http.stop()
        s.grpc.stop()


# --------------------------------------------------------------------------- running


@dataclass
class LoadgenRun:
    argv: list[str]
    returncode: int
    stderr: str
    duration: float
    summary: dict[str, Any] | None = field(repr=False)

    def describe(self) -> str:
        return f"loadgen exit={self.returncode} in {self.duration:.1f}s\n{self.argv}\n{self.stderr[-3000:]}"


def run_loadgen(
    loadgen: Path, args: Sequence[str], tmp_path: Path, timeout: float = 60
) -> LoadgenRun:
    """Run the generator to its end (it always stops by itself) and read its summary."""
    summary = tmp_path / f"summary-{time.monotonic_ns()}.json"
    argv = [str(loadgen), *args, "-summary", str(summary)]
    t0 = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    data = json.loads(summary.read_text()) if summary.exists() else None
    return LoadgenRun(argv, proc.returncode, proc.stderr, time.monotonic() - t0, data)


# --------------------------------------------------------------------------- decoding


def decode(signal: str, raw: bytes) -> dict[str, Any]:
    """An OTLP protobuf request as the OTLP/JSON-shaped dict an http/json client would post."""
    msg = REQUEST_TYPES[signal]()
    msg.ParseFromString(raw)
    return MessageToDict(msg)


def value_of(v: dict[str, Any]) -> Any:
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        return int(v["intValue"])
    if "doubleValue" in v:
        return float(v["doubleValue"])
    if "boolValue" in v:
        return bool(v["boolValue"])
    if "arrayValue" in v:
        return [value_of(x) for x in v["arrayValue"].get("values", [])]
    return None


def kind_of(v: dict[str, Any]) -> str:
    """The AnyValue kind: stringValue, intValue, doubleValue, boolValue, arrayValue..."""
    return next(iter(v), "empty")


def _attrs(kvs: list[dict[str, Any]] | None) -> tuple[dict[str, Any], dict[str, str]]:
    values, kinds = {}, {}
    for kv in kvs or []:
        v = kv.get("value") or {}
        values[kv["key"]] = value_of(v)
        kinds[kv["key"]] = kind_of(v)
    return values, kinds


def points(payloads: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every metric data point, flattened, with value and attribute kinds."""
    out = []
    for n, payload in enumerate(payloads):
        for rm in payload.get("resourceMetrics", []):
            res, res_kinds = _attrs(rm.get("resource", {}).get("attributes"))
            for sm in rm.get("scopeMetrics", []):
                scope = sm.get("scope", {})
                for m in sm.get("metrics", []):
                    for kind in ("sum", "gauge", "histogram"):
                        data = m.get(kind)
                        if data is None:
                            continue
                        for dp in data.get("dataPoints", []):
                            attrs, kinds = _attrs(dp.get("attributes"))
                            vkind = "asDouble" if "asDouble" in dp else "asInt"
                            out.append(
                                {
                                    "name": m["name"],
                                    "unit": m.get("unit", ""),
                                    "description": m.get("description", ""),
                                    "kind": kind,
                                    "monotonic": bool(data.get("isMonotonic")),
                                    "temporality": TEMPORALITY.get(
                                        data.get("aggregationTemporality", 0), "?"
                                    ),
                                    "value_kind": vkind,
                                    "value": float(dp.get(vkind, 0)),
                                    "attributes": attrs,
                                    "kinds": kinds,
                                    "resource": res,
                                    "resource_kinds": res_kinds,
                                    "scope": scope.get("name"),
                                    "scope_version": scope.get("version"),
                                    "start": int(dp.get("startTimeUnixNano", 0)),
                                    "time": int(dp.get("timeUnixNano", 0)),
                                    "request": n,
                                }
                            )
    return out


def events(payloads: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every log record, flattened, with attribute kinds."""
    out = []
    for n, payload in enumerate(payloads):
        for rl in payload.get("resourceLogs", []):
            res, res_kinds = _attrs(rl.get("resource", {}).get("attributes"))
            for sl in rl.get("scopeLogs", []):
                scope = sl.get("scope", {})
                for lr in sl.get("logRecords", []):
                    attrs, kinds = _attrs(lr.get("attributes"))
                    out.append(
                        {
                            "body": value_of(lr.get("body") or {}),
                            "attributes": attrs,
                            "kinds": kinds,
                            "resource": res,
                            "resource_kinds": res_kinds,
                            "scope": scope.get("name"),
                            "scope_version": scope.get("version"),
                            "time": int(lr.get("timeUnixNano", 0)),
                            "observed": int(lr.get("observedTimeUnixNano", 0)),
                            "request": n,
                        }
                    )
    return out


# --------------------------------------------------------------------------- totals

# What the summary groups each metric by (bench/loadgen/README.md).
GROUP_BY = {
    "claude_code.session.count": ("start_type",),
    "claude_code.lines_of_code.count": ("type",),
    "claude_code.cost.usage": ("model",),
    "claude_code.token.usage": ("model", "type"),
    "claude_code.code_edit_tool.decision": ("decision", "tool_name"),
    "claude_code.active_time.total": ("type",),
}


def series_increments(pts: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], float]]:
    """What each series adds up to: delta points summed, cumulative series their last value
    (the running total a cumulative client reports since its process started). A resumed
    session (``-resume-share``) is a second process writing the same series, counting from zero
    with a later start time: running totals are told apart by their start time, as the stack's
    Collector does (``process.start``)."""
    out: list[tuple[dict[str, Any], float]] = []
    last: dict[tuple[Any, ...], dict[str, Any]] = {}
    for p in pts:
        if p["temporality"] == "delta":
            out.append((p, p["value"]))
        else:
            key = (p["name"], tuple(sorted(p["attributes"].items())), p["start"])
            if key not in last or p["time"] >= last[key]["time"]:
                last[key] = p
    out += [(p, p["value"]) for p in last.values()]
    return out


def totals(pts: Sequence[dict[str, Any]], evs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The summary's ``accepted`` section, recomputed from decoded data (zero totals left out)."""
    metrics: dict[str, dict[tuple[str, ...], float]] = defaultdict(lambda: defaultdict(float))
    team: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    user: dict[str, float] = defaultdict(float)
    for p, inc in series_increments(pts):
        a = p["attributes"]
        metrics[p["name"]][tuple(a[k] for k in GROUP_BY[p["name"]])] += inc
        if p["name"] == "claude_code.cost.usage":
            team[a["team.id"]]["cost_usd"] += inc
            user[a["user.id"]] += inc
        elif p["name"] == "claude_code.token.usage":
            team[a["team.id"]]["tokens"] += inc
        elif p["name"] == "claude_code.session.count":
            team[a["team.id"]]["sessions"] += inc
    by_body: dict[str, int] = defaultdict(int)
    by_status: dict[str, int] = defaultdict(int)
    tool_results: dict[tuple[str, str], int] = defaultdict(int)
    for e in evs:
        by_body[e["body"]] += 1
        a = e["attributes"]
        if e["body"] == "claude_code.api_error":
            by_status[str(a["status_code"])] += 1
        elif e["body"] == "claude_code.tool_result":
            tool_results[(a["tool_name"], a["success"])] += 1
    return {
        "metrics": {
            name: {k: v for k, v in groups.items() if v != 0} for name, groups in metrics.items()
        },
        "per_team": {t: {k: v for k, v in d.items() if v != 0} for t, d in team.items()},
        "per_user": {u: c for u, c in user.items() if c != 0},
        "events": {
            "by_body": dict(by_body),
            "api_error_by_status_code": dict(by_status),
            "tool_result_by_tool_and_success": dict(tool_results),
        },
    }


def assert_close(got: Any, want: Any, path: str = "") -> None:
    """Equal structures, floats equal to 1e-9 relative."""
    if isinstance(want, dict):
        assert isinstance(got, dict), (path, got)
        assert set(got) == set(want), (path, sorted(set(got) ^ set(want), key=str))
        for k in want:
            assert_close(got[k], want[k], f"{path}/{k}")
    elif isinstance(want, float) or isinstance(got, float):
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9), (path, got, want)
    else:
        assert got == want, (path, got, want)


def summary_totals(summary: dict[str, Any]) -> dict[str, Any]:
    """The generator summary's ``accepted`` section in the shape :func:`totals` returns."""
    acc = summary["accepted"]
    metrics = {}
    for name, m in acc["metrics"].items():
        groups = {tuple(g[k] for k in m["group_by"]): g["value"] for g in m["groups"]}
        if groups:
            metrics[name] = groups
    ev = acc["events"]
    return {
        "metrics": metrics,
        "per_team": {
            t: {k: d[k] for k in ("cost_usd", "tokens", "sessions") if d[k] != 0}
            for t, d in acc["per_team"].items()
        },
        "per_user": {u: d["cost_usd"] for u, d in acc["per_user"].items()},
        "events": {
            "by_body": ev["by_body"],
            "api_error_by_status_code": ev["api_error_by_status_code"],
            "tool_result_by_tool_and_success": {
                (r["tool_name"], r["success"]): r["count"]
                for r in ev["tool_result_by_tool_and_success"]
            },
        },
    }
