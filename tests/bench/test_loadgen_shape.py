"""The load generator speaks like the real Claude Code CLI.

Two real sessions run at once (the pinned CLI against the scripted Anthropic fake, telemetry to
http/json sinks): one delta session that writes and edits a file, runs a failing Bash command
and ends on an API error; one cumulative session whose Write is rejected and that ends on a
text reply. The generator then runs into an OTLP/HTTP and an OTLP/gRPC sink. Every shape is
taken from the real run and the generator's must equal it: resource attribute keys, scopes,
metric names, descriptions, units, types, monotonicity, temporality, data-point attribute keys
and value kinds per metric, event bodies and their attribute keys and value kinds, and how
points repeat (delta: once per counted interval; cumulative: every export). A new key, metric
or event in either side fails here.
"""

from __future__ import annotations

import itertools
import os
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stackkit.versions import CLAUDE_CODE_VERSION
from tests.bench.conftest import (
    GrpcSink,
    Sinks,
    assert_close,
    events,
    points,
    run_loadgen,
    summary_totals,
    totals,
)
from tests.fixtures.anthropic_fake import Error, Text, ToolUse, Usage, edit_lines, write_file
from tests.fixtures.claude import ClaudeRunner
from tests.fixtures.otlp_sink import OtlpSink

# Bodies the real run shows that the generator deliberately leaves out, and why.
NOT_SIMULATED = {
    # An opaque internal error report (error_name only), seen when a -p session ends on an API
    # error; not part of normal interactive use.
    "claude_code.internal_error",
}
# What the real run must show for the comparison to mean anything.
REQUIRED_METRICS = {
    "claude_code.session.count",
    "claude_code.cost.usage",
    "claude_code.token.usage",
    "claude_code.lines_of_code.count",
    "claude_code.code_edit_tool.decision",
    "claude_code.active_time.total",
}
REQUIRED_EVENTS = {
    "claude_code.user_prompt",
    "claude_code.api_request",
    "claude_code.api_error",
    "claude_code.tool_decision",
    "claude_code.tool_result",
    "claude_code.assistant_response",
}


@dataclass
class Observed:
    """Flattened points and events of one side, with the HTTP headers it sent."""

    points: list[dict[str, Any]]
    events: list[dict[str, Any]]
    user_agents: set[str]


def _payloads(sink: OtlpSink, signal: str) -> list[dict[str, Any]]:
    return [p.payload for p in sink.accepted(signal) if p.payload is not None]


@pytest.fixture(scope="module")
def real(claude_bin: Path) -> Iterator[dict[str, Observed]]:
    """The real CLI: a delta session and a cumulative session, at once (about 6 s)."""
    runner = ClaudeRunner(claude_bin)
    with OtlpSink() as delta_sink, OtlpSink() as cum_sink:
        resource = {"OTEL_RESOURCE_ATTRIBUTES": "team.id=team-real,department=eng"}
        delta_env = (
            delta_sink.otel_env(interval_ms=500) | resource | {"CLAUDE_CODE_MAX_RETRIES": "1"}
        )
        cum_env = (
            cum_sink.otel_env(interval_ms=500)
            | resource
            | {"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "cumulative"}
        )
        usage = Usage(1200, 40, cache_read_input_tokens=300, cache_creation_input_tokens=700)
        runs = runner.parallel(
            [
                {  # accepted Write and Edit, a failing Bash, then an API error for good
                    "prompt": "create app.py, change it, run it",
                    "env": delta_env,
                    "script": [
                        write_file("app.py", 5, usage),
                        edit_lines("app.py", 2, 2, ["changed = True"], Usage(1500, 60, 900, 50)),
                        ToolUse("Bash", {"command": "exit 3"}, usage=Usage(300, 20)),
                        Error(500, message="scripted outage"),
                        Error(500, message="scripted outage"),
                    ],
                    "allowed_tools": ["Write", "Edit", "Bash"],
                },
                {  # a Write the configuration rejects, then a text reply
                    "prompt": "create notes.md",
                    "env": cum_env,
                    "script": [write_file("notes.md", 3, usage), Text("ok", Usage(10, 2))],
                    "fake_options": {"latency": 0.6},  # a few cumulative exports
                },
            ]
        )
        try:
            assert runs[0].returncode == 1, runs[0].describe()  # ended on the API error
            assert runs[1].returncode == 0, runs[1].describe()
            for sink in (delta_sink, cum_sink):  # flushed at exit; allow for the last POSTs
                assert sink.wait_for(
                    lambda s: s.points("claude_code.active_time.total"), timeout=15
                )
            time.sleep(1)
            yield {
                name: Observed(
                    points(_payloads(sink, "metrics")),
                    events(_payloads(sink, "logs")),
                    {p.headers.get("user-agent", "") for p in sink.accepted()},
                )
                for name, sink in (("delta", delta_sink), ("cumulative", cum_sink))
            }
        finally:
            runner.cleanup()


@pytest.fixture(scope="module")
def generated(loadgen_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The generator: half the sessions cumulative, half the clients on each protocol, every
    kind of event frequent enough to show up in a couple of seconds."""
    tmp = tmp_path_factory.mktemp("loadgen-shape")
    sinks = Sinks(OtlpSink().start(), GrpcSink().start())
    try:
        run = run_loadgen(
            loadgen_bin,
            [*sinks.args(), "-developers", "8", "-duration", "3s", "-interval", "400ms",
             "-logs-interval", "100ms", "-ramp", "200ms", "-session-min", "2", "-session-max",
             "4", "-think-min", "0", "-think-max", "0.3", "-prompts", "4", "-api-error-rate",
             "0.25", "-tool-share", "0.8", "-edit-share", "0.5", "-reject-share", "0.25",
             "-tool-fail-share", "0.25", "-cumulative-share", "0.5", "-http-share", "0.5"],
            tmp,
        )  # fmt: skip
        assert run.returncode == 0, run.describe()
        assert run.summary is not None
        for sig in ("metrics", "logs"):
            for proto in ("grpc", "http"):
                assert run.summary["requests"][sig][proto]["accepted"] > 0, (sig, proto)
        return {
            "observed": Observed(
                points(sinks.accepted_payloads("metrics")),
                events(sinks.accepted_payloads("logs")),
                {p.headers.get("user-agent", "") for p in sinks.http.posts},
            ),
            "http_content_types": {p.content_type for p in sinks.http.posts},
            "summary": run.summary,
        }
    finally:
        sinks.http.stop()
        sinks.grpc.stop()


# --------------------------------------------------------------------------- shapes


def keyset(attrs_kinds: dict[str, str]) -> frozenset[tuple[str, str]]:
    """Attribute keys with their OTLP value kind."""
    return frozenset(attrs_kinds.items())


def metric_shapes(pts: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for p in pts:
        s = out.setdefault(
            p["name"],
            {"unit": set(), "description": set(), "kind": set(), "monotonic": set(),
             "value_kind": set(), "attributes": set()},
        )  # fmt: skip
        for k in ("unit", "description", "kind", "monotonic", "value_kind"):
            s[k].add(p[k])
        s["attributes"].add(keyset(p["kinds"]))
    return out


def event_shapes(evs: Sequence[dict[str, Any]]) -> dict[str, set[frozenset[tuple[str, str]]]]:
    out: dict[str, set[frozenset[tuple[str, str]]]] = defaultdict(set)
    for e in evs:
        out[e["body"]].add(keyset(e["kinds"]))
    return dict(out)


def by_temporality(obs: Observed) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in obs.points:
        out[p["temporality"]].append(p)
    return out


@pytest.fixture(scope="module")
def real_all(real: dict[str, Observed]) -> Observed:
    return Observed(
        real["delta"].points + real["cumulative"].points,
        real["delta"].events + real["cumulative"].events,
        real["delta"].user_agents | real["cumulative"].user_agents,
    )


def test_the_real_run_covers_what_is_compared(
    real: dict[str, Observed], real_all: Observed
) -> None:
    assert {p["name"] for p in real_all.points} >= REQUIRED_METRICS
    assert {e["body"] for e in real_all.events} >= REQUIRED_EVENTS
    assert {p["temporality"] for p in real["delta"].points} == {"delta"}
    assert {p["temporality"] for p in real["cumulative"].points} == {"cumulative"}
    results = [e for e in real_all.events if e["body"] == "claude_code.tool_result"]
    assert {e["attributes"]["success"] for e in results} == {"true", "false"}
    decisions = [e for e in real_all.events if e["body"] == "claude_code.tool_decision"]
    assert {e["attributes"]["decision"] for e in decisions} == {"accept", "reject"}


def test_resource_and_scopes(real_all: Observed, generated: dict[str, Any]) -> None:
    gen: Observed = generated["observed"]
    for side in (real_all, gen):
        for item in side.points + side.events:
            assert item["resource"]["service.name"] == "claude-code"
            assert item["resource"]["service.version"] == CLAUDE_CODE_VERSION
            assert item["scope_version"] == CLAUDE_CODE_VERSION

    def res_keys(obs: Observed) -> set[frozenset[tuple[str, str]]]:
        return {keyset(x["resource_kinds"]) for x in obs.points + obs.events}

    def scopes(items: list[dict[str, Any]]) -> set[str]:
        return {x["scope"] for x in items}

    assert res_keys(gen) == res_keys(real_all)
    assert scopes(gen.points) == scopes(real_all.points) == {"com.anthropic.claude_code"}
    assert scopes(gen.events) == scopes(real_all.events) == {"com.anthropic.claude_code.events"}
    # Metrics and events of one session carry the same resource.
    res_by_session = defaultdict(set)
    for x in gen.points + gen.events:
        res_by_session[x["attributes"]["session.id"]].add(tuple(sorted(x["resource"].items())))
    assert all(len(r) == 1 for r in res_by_session.values())
    # The exporter's user agent; protobuf over HTTP.
    assert gen.user_agents == real_all.user_agents
    assert generated["http_content_types"] == {"application/x-protobuf"}


def test_metrics_have_the_real_shapes(real_all: Observed, generated: dict[str, Any]) -> None:
    gen: Observed = generated["observed"]
    want, got = metric_shapes(real_all.points), metric_shapes(gen.points)
    assert set(got) == set(want), "metric names differ"
    for name in want:
        for k in ("unit", "description", "kind", "monotonic", "value_kind"):
            assert got[name][k] == want[name][k], (name, k)
        assert got[name]["attributes"] == want[name]["attributes"], (
            name,
            "only generated:",
            [sorted(s) for s in got[name]["attributes"] - want[name]["attributes"]],
            "only real:",
            [sorted(s) for s in want[name]["attributes"] - got[name]["attributes"]],
        )


def test_temporality_delta_by_default_cumulative_when_asked(
    real: dict[str, Observed], generated: dict[str, Any]
) -> None:
    gen = by_temporality(generated["observed"])
    assert set(gen) == {"delta", "cumulative"}
    for temporality in ("delta", "cumulative"):
        want = metric_shapes(by_temporality(real[temporality])[temporality])
        got = metric_shapes(gen[temporality])
        assert set(want) <= set(got), temporality
    # One temporality per session, sessions split as asked.
    per_session = defaultdict(set)
    for p in generated["observed"].points:
        per_session[p["attributes"]["session.id"]].add(p["temporality"])
    assert all(len(t) == 1 for t in per_session.values())
    sessions = generated["summary"]["sessions"]
    assert sum(t == {"cumulative"} for t in per_session.values()) == sessions["cumulative"]


def _repetition(pts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """How points repeat within sessions: session.count points per session, whether every
    cumulative export repeats session.count, whether a cumulative series keeps its start time
    and never decreases, whether delta points start no earlier than the previous export."""
    by_session: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in pts:
        by_session[p["attributes"]["session.id"]].append(p)
    out: dict[str, Any] = {"session_count_points": set(), "repeats_session_count": set(),
                           "stable_start": set(), "non_decreasing": set()}  # fmt: skip
    for sess in by_session.values():
        out["session_count_points"].add(
            sum(p["name"] == "claude_code.session.count" for p in sess) == 1
        )
        exports = defaultdict(set)
        series: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        for p in sorted(sess, key=lambda p: p["time"]):
            exports[p["time"]].add(p["name"])
            series[(p["name"], tuple(sorted(p["attributes"].items())))].append(p)
        if sess[0]["temporality"] == "cumulative":
            out["repeats_session_count"].add(
                all("claude_code.session.count" in names for names in exports.values())
            )
            for s in series.values():
                out["stable_start"].add(len({p["start"] for p in s}) == 1)
                out["non_decreasing"].add(
                    all(a["value"] <= b["value"] for a, b in itertools.pairwise(s))
                )
        for p in sess:
            assert p["start"] <= p["time"], p
    return out


def test_points_repeat_like_the_cli(real: dict[str, Observed], generated: dict[str, Any]) -> None:
    gen = by_temporality(generated["observed"])
    delta_want, delta_got = _repetition(real["delta"].points), _repetition(gen["delta"])
    assert delta_want["session_count_points"] == delta_got["session_count_points"] == {True}
    cum_want, cum_got = _repetition(real["cumulative"].points), _repetition(gen["cumulative"])
    for k in ("repeats_session_count", "stable_start", "non_decreasing"):
        assert cum_want[k] == cum_got[k] == {True}, k


def test_events_have_the_real_shapes(real_all: Observed, generated: dict[str, Any]) -> None:
    gen: Observed = generated["observed"]
    want, got = event_shapes(real_all.events), event_shapes(gen.events)
    assert set(got) == set(want) - NOT_SIMULATED, (
        "only generated:",
        set(got) - set(want),
        "only real:",
        set(want) - set(got) - NOT_SIMULATED,
    )
    for body in got:
        assert got[body] == want[body], (
            body,
            "only generated:",
            [sorted(s) for s in got[body] - want[body]],
            "only real:",
            [sorted(s) for s in want[body] - got[body]],
        )
    # The body is the event name; event.sequence counts from 0 in each session.
    for side in (real_all, gen):
        seqs = defaultdict(list)
        for e in side.events:
            assert e["body"] == "claude_code." + e["attributes"]["event.name"]
            seqs[e["attributes"]["session.id"]].append(e["attributes"]["event.sequence"])
        for s in seqs.values():
            assert sorted(s) == list(range(len(s)))


def test_resumed_sessions_continue_the_session_id_as_a_new_process(
    loadgen_bin: Path, sinks: Any, tmp_path: Path
) -> None:
    """``claude --resume`` / ``claude -c`` (issue 23): with -resume-share 1 every session after
    a developer's first is a new process under the first one's session.id, started at once: its
    series start after the previous process's last point (cumulative: a new start time, counting
    from zero), its session.count says ``resume``; the summary's totals by start_type are exact."""
    s: Sinks = sinks()
    run = run_loadgen(
        loadgen_bin,
        [*s.args(), "-developers", "6", "-duration", "3s", "-interval", "300ms",
         "-logs-interval", "50ms", "-ramp", "200ms", "-session-min", "2", "-session-max", "3",
         "-prompts", "3", "-cumulative-share", "0.5", "-http-share", "0.5",
         "-resume-share", "1"],
        tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.describe()
    summary = run.summary
    assert summary is not None
    sessions = summary["sessions"]
    pts = points(s.accepted_payloads("metrics"))
    evs = events(s.accepted_payloads("logs"))
    assert len(pts) == summary["requests"]["metrics"]["all"]["items_accepted"]
    # Every developer ran one fresh session, then resumed it again and again.
    assert sessions["resumed"] == sessions["started"] - 6 >= 6, sessions
    assert sessions["started"] == sessions["finished"]
    assert summary["config"]["resume_share"] == 1

    by_user: dict[str, set[str]] = defaultdict(set)
    for p in pts:
        by_user[p["attributes"]["user.id"]].add(p["attributes"]["session.id"])
    assert len(by_user) == 6 and all(len(ids) == 1 for ids in by_user.values()), by_user

    # Processes by their session.count point: start time and start_type.
    procs: dict[str, dict[int, str]] = defaultdict(dict)
    for p in pts:
        if p["name"] == "claude_code.session.count":
            procs[p["attributes"]["session.id"]][p["start"]] = p["attributes"]["start_type"]
    resumed = 0
    for sid, starts in procs.items():
        kinds = [starts[t] for t in sorted(starts)]
        assert kinds[0] == "fresh" and set(kinds[1:]) == {"resume"}, (sid, kinds)
        resumed += len(kinds) - 1
    assert resumed == sessions["resumed"]

    # A series written by several processes: one after the other, never overlapping; a
    # cumulative one restarts with a later start time. A point belongs to the last process
    # started before its time (an exit flush and the next start share one instant).
    def process_of(p: dict[str, Any]) -> int:
        return sum(t < p["time"] for t in sorted(procs[p["attributes"]["session.id"]])[1:])

    series: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for p in pts:
        series[(p["name"], tuple(sorted(p["attributes"].items())))].append(p)
    continued = {"delta": 0, "cumulative": 0}
    for key, sp in series.items():
        sp.sort(key=lambda p: p["time"])
        temporality = sp[0]["temporality"]
        if temporality == "cumulative":
            runs: dict[int, list[dict[str, Any]]] = defaultdict(list)
            for p in sp:
                runs[p["start"]].append(p)
            # One start time per process: the process's first count of the series.
            assert {len({process_of(p) for p in r}) for r in runs.values()} == {1}, key
            for earlier, later in itertools.pairwise(sorted(runs)):
                assert max(p["time"] for p in runs[earlier]) <= later, key  # a later start
        else:
            for a, b in itertools.pairwise(sp):
                assert a["time"] <= b["start"], key
        continued[temporality] += len({process_of(p) for p in sp}) > 1
    assert continued["delta"] > 0 and continued["cumulative"] > 0, continued

    # The summary's totals: session.count by start_type, and every other total, equal what the
    # decoded points add up to (running totals kept apart per process).
    groups = summary["accepted"]["metrics"]["claude_code.session.count"]["groups"]
    by_type = {g["start_type"]: g["value"] for g in groups}
    assert by_type == {"fresh": 6, "resume": sessions["resumed"]}, by_type
    assert sum(by_type.values()) == sessions["started"]
    assert_close(summary_totals(summary), totals(pts, evs))


def test_loadgen_defaults_to_the_pinned_cli_version(loadgen_bin: Path) -> None:
    import subprocess

    out = subprocess.run(
        [str(loadgen_bin), "-help"], capture_output=True, text=True, timeout=30, env=os.environ
    )
    assert f'(default "{CLAUDE_CODE_VERSION}")' in out.stderr
