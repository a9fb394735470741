"""Shared by the pipeline tests (local processes) and the Docker end-to-end test.

Scripted Claude Code sessions with known totals, the PromQL that reads those totals back, and
every query the rendered dashboards and recording rules contain.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import yaml

from stackkit import promql
from tests.fixtures.anthropic_fake import Error, Text, Usage, edit_lines, read_file, write_file
from tests.fixtures.claude import ClaudeRun, ClaudeRunner, overlapping, total_billed

Query = Callable[[str], list[dict[str, Any]]]


def session_script(i: int) -> tuple[list[Any], int, int, int]:
    """A session that writes a file and edits it: (script, lines added, lines removed, edits)."""
    usage = Usage(
        input_tokens=100 + i,
        output_tokens=40 + i,
        cache_read_input_tokens=1000 + 10 * i,
        cache_creation_input_tokens=50 + i,
    )
    lines = 3 + i
    script = [
        write_file(f"file{i}.py", lines, usage=usage),
        edit_lines(f"file{i}.py", 1, 2, ["changed"], usage=usage),
        Text("Done.", usage=usage),
    ]
    return script, lines + 1, 2, 2


@dataclass(frozen=True)
class Expected:
    """What a group of sessions must add up to in Prometheus."""

    tokens: dict[tuple[str, str], int]
    cost_usd: float
    sessions: int
    lines_added: int
    lines_removed: int
    edits_accepted: int


def session_expected(run: ClaudeRun, i: int) -> Expected:
    """What one session of :func:`session_script` ``i`` must add up to."""
    _, added, removed, edits = session_script(i)
    return Expected(
        tokens=total_billed([run]),
        cost_usd=float(run.json()["total_cost_usd"]),
        sessions=1,
        lines_added=added,
        lines_removed=removed,
        edits_accepted=edits,
    )


def run_sessions(
    run_claude: ClaudeRunner, env: Mapping[str, str], count: int, first: int = 0
) -> tuple[list[ClaudeRun], Expected]:
    """Run ``count`` sessions at once with ``env``; return them and their expected totals."""
    plans = [session_script(first + i) for i in range(count)]
    runs = run_claude.parallel(
        [
            {
                "prompt": "write and edit a file",
                "env": env,
                "script": script,
                "allowed_tools": ["Write", "Edit"],
                "args": ["--output-format", "json"],
            }
            for script, *_ in plans
        ]
    )
    for run in runs:
        assert run.returncode == 0, run.describe()
    if count > 1:
        assert overlapping(runs), "sessions must really run at the same time"
    expected = Expected(
        tokens=total_billed(runs),
        cost_usd=sum(float(r.json()["total_cost_usd"]) for r in runs),
        sessions=count,
        lines_added=sum(p[1] for p in plans),
        lines_removed=sum(p[2] for p in plans),
        edits_accepted=sum(p[3] for p in plans),
    )
    return runs, expected


def _by(result: list[dict[str, Any]], *labels: str) -> dict[Any, float]:
    out = {}
    for r in result:
        key = tuple(r["metric"].get(k, "") for k in labels)
        out[key if len(key) > 1 else key[0]] = float(r["value"][1])
    return out


def counted(values: Sequence[float]) -> float:
    """What a counter's raw samples add up to, through resets: a drop means it started again
    from zero (a new process, a restarted Collector), so the new value is all new."""
    total, previous = 0.0, 0.0
    for v in values:
        total += v - previous if v >= previous else v
        previous = v
    return total


def raw_totals(query: Query, selector: str, window: str = "2h") -> Expected:
    """Totals counted from every raw sample in ``window`` (no PromQL function between us and the
    stored data), per series through counter resets, then summed."""

    def total(metric: str, *by: str) -> dict[Any, float]:
        out: dict[Any, float] = {}
        for series in query(f"{metric}{selector}[{window}]"):
            key = tuple(series["metric"].get(b, "") for b in by)
            key = key if len(key) != 1 else key[0]
            out[key] = out.get(key, 0.0) + counted([float(v) for _, v in series["values"]])
        return out

    lines = total(promql.LINES, "type")
    decisions = total(promql.EDIT_DECISIONS, "decision")
    return Expected(
        tokens={k: int(round(v)) for k, v in total(promql.TOKENS, "model", "type").items()},
        cost_usd=sum(total(promql.COST).values()),
        sessions=int(round(sum(total(promql.SESSIONS).values()))),
        lines_added=int(round(lines.get("added", 0))),
        lines_removed=int(round(lines.get("removed", 0))),
        edits_accepted=int(round(decisions.get("accept", 0))),
    )


def raw_tokens_by_session(query: Query, selector: str, window: str = "2h") -> dict[str, int]:
    """Input tokens per session.id, counted from raw samples through resets."""
    out: dict[str, int] = {}
    for series in query(f'{promql.TOKENS}{{type="input"}}[{window}]'):
        sid = series["metric"].get("session_id", "")
        if selector and not all(
            series["metric"].get(k) == v for k, v in re.findall(r'(\w+)="([^"]*)"', selector)
        ):
            continue
        out[sid] = out.get(sid, 0) + int(round(counted([float(v) for _, v in series["values"]])))
    return out


def dashboard_totals(query: Query, selector: str, window: str = "2h") -> Expected:
    """Totals as the dashboards and recording rules compute them: anchored increase()."""

    def total(metric: str, by: str = "") -> list[dict[str, Any]]:
        grouping = f" by ({by})" if by else ""
        return query(f"sum{grouping} (increase({metric}{selector}[{window}] anchored))")

    tokens = {
        k: int(round(v))
        for k, v in _by(total(promql.TOKENS, "model, type"), "model", "type").items()
    }
    lines = _by(total(promql.LINES, "type"), "type")
    decisions = _by(total(promql.EDIT_DECISIONS, "decision"), "decision")
    return Expected(
        tokens=tokens,
        cost_usd=_by(total(promql.COST), "x").get("", 0.0),
        sessions=int(round(_by(total(promql.SESSIONS), "x").get("", 0.0))),
        lines_added=int(round(lines.get("added", 0))),
        lines_removed=int(round(lines.get("removed", 0))),
        edits_accepted=int(round(decisions.get("accept", 0))),
    )


def wait_for_totals(
    query: Query,
    selector: str,
    expected: Expected,
    timeout: float = 60,
    read: Callable[[Query, str], Expected] | None = None,
) -> Expected:
    """Poll until Prometheus holds exactly ``expected`` (or fail showing the difference).
    ``read`` is how the totals are read back (default: :func:`raw_totals`)."""
    read = read or raw_totals
    deadline = time.monotonic() + timeout
    while True:
        seen = read(query, selector)
        if _same(seen, expected) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert seen.tokens == expected.tokens, f"tokens: {seen.tokens} != {expected.tokens}"
    assert abs(seen.cost_usd - expected.cost_usd) < 1e-9 + 1e-6 * expected.cost_usd, (
        seen,
        expected,
    )
    assert (seen.sessions, seen.lines_added, seen.lines_removed, seen.edits_accepted) == (
        expected.sessions,
        expected.lines_added,
        expected.lines_removed,
        expected.edits_accepted,
    ), (seen, expected)
    return seen


def _same(a: Expected, b: Expected) -> bool:
    return (
        a.tokens == b.tokens
        and abs(a.cost_usd - b.cost_usd) < 1e-9 + 1e-6 * b.cost_usd
        and (a.sessions, a.lines_added, a.lines_removed, a.edits_accepted)
        == (b.sessions, b.lines_added, b.lines_removed, b.edits_accepted)
    )


def add(*groups: Expected) -> Expected:
    """The sum of several groups' totals."""
    tokens: dict[tuple[str, str], int] = {}
    for g in groups:
        for k, v in g.tokens.items():
            tokens[k] = tokens.get(k, 0) + v
    return Expected(
        tokens,
        sum(g.cost_usd for g in groups),
        sum(g.sessions for g in groups),
        sum(g.lines_added for g in groups),
        sum(g.lines_removed for g in groups),
        sum(g.edits_accepted for g in groups),
    )


# --- queries the rendered files contain --------------------------------------------------------

_GRAFANA_VARS = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}


def dashboard_queries(
    files: Mapping[str, str], dashboard: str = "claude-code-overview"
) -> dict[str, str]:
    """``{"dashboard / panel": PromQL}`` for every panel target of one dashboard (by file stem),
    with Grafana's variables filled."""
    found = {}
    for path, text in files.items():
        if path != f"grafana/dashboards/{dashboard}.json":
            continue
        model = json.loads(text)
        for panel in _panels(model.get("panels", [])):
            for target in panel.get("targets") or []:
                expr = target.get("expr")
                if not expr:
                    continue
                for var, value in _GRAFANA_VARS.items():
                    expr = expr.replace(var, value)
                expr = re.sub(r'=~"\$\w+"', '=~".*"', expr)
                found[f"{model['title']} / {panel['title']}"] = expr
    assert found, f"no dashboard {dashboard!r} among the rendered files"
    return found


def _panels(panels: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    for p in panels:
        yield p
        yield from _panels(p.get("panels") or [])


def recording_rules(files: Mapping[str, str]) -> list[str]:
    """Every recorded series name in the rendered recording rules."""
    groups = yaml.safe_load(files["prometheus/rules/recording.yml"])["groups"]
    return [rule["record"] for g in groups for rule in g["rules"]]


def assert_queries_return_data(
    query: Query, queries: Mapping[str, str] | Sequence[str], timeout: float = 60
) -> None:
    """Each query must return at least one sample (polling while rules catch up)."""
    items = queries.items() if isinstance(queries, Mapping) else [(q, q) for q in queries]
    pending = dict(items)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for name, expr in list(pending.items()):
            if query(expr):
                del pending[name]
        if pending:
            time.sleep(1)
    assert not pending, f"these queries returned no data: {json.dumps(pending, indent=2)}"


# --- resumed sessions -------------------------------------------------------------------------


def resume_chain(
    run_claude: ClaudeRunner, env: Mapping[str, str], i: int
) -> tuple[list[ClaudeRun], Expected]:
    """A session, then `claude -c` at once, then `claude --resume <id>` at once, in one folder:
    three processes, the later two sending their totals under the first one's session.id.
    Returns the runs and what they add up to."""
    script, added, removed, edits = session_script(i)
    first = run_claude(
        "write and edit a file",
        env,
        script,
        allowed_tools=["Write", "Edit"],
        args=["--output-format", "json"],
    )
    assert first.returncode == 0, first.describe()
    session_id = first.json()["session_id"]
    later = [
        run_claude(
            prompt,
            env,
            [Text("Continued.", usage=Usage(input_tokens=1000 + 7 * i, output_tokens=30 + i))],
            cwd=first.cwd,
            home=first.home,
            args=[*flags, "--output-format", "json"],
        )
        for prompt, flags in (("go on", ["-c"]), ("and more", ["--resume", session_id]))
    ]
    for run in later:
        assert run.returncode == 0, run.describe()
        assert run.json()["session_id"] == session_id, "a resumed run must keep the session"
    runs = [first, *later]
    return runs, Expected(
        tokens=total_billed(runs),
        # A resumed process's JSON gives the session's cost so far, all its processes together
        # (its `usage` is its own): the last one's is what the three spent.
        cost_usd=float(later[-1].json()["total_cost_usd"]),
        sessions=3,
        lines_added=added,
        lines_removed=removed,
        edits_accepted=edits,
    )


RESUME_CLIENTS = [
    (protocol, temporality)
    for protocol in ("grpc", "http/protobuf")
    for temporality in ("cumulative", "delta")
]


def check_resumed_sessions(
    run_claude: ClaudeRunner,
    client_env: Callable[[str, str, str], dict[str, str]],
    query: Query,
    prefix: str,
    per_session: bool = True,
    timeout: float = 60,
) -> Expected:
    """A session, `claude -c` at once, `claude --resume` at once, for each protocol and
    temporality at the same time: every token and cent of all three processes arrives (raw and
    as the dashboards count), the per-session view (``per_session``) holds one session with all
    its cost, and the starts are counted by kind. ``client_env(protocol, team, temporality)``.
    Returns what they all add up to."""

    def chain(i: int) -> tuple[list[ClaudeRun], Expected]:
        protocol, temporality = RESUME_CLIENTS[i]
        return resume_chain(run_claude, client_env(protocol, f"{prefix}-{i}", temporality), i)

    with ThreadPoolExecutor(len(RESUME_CLIENTS)) as pool:
        chains = list(pool.map(chain, range(len(RESUME_CLIENTS))))
    for i, (runs, expected) in enumerate(chains):
        team = f'{{team_id="{prefix}-{i}"}}'
        wait_for_totals(query, team, expected, timeout=timeout)
        wait_for_totals(query, team, expected, timeout=timeout, read=dashboard_totals)
        if per_session:
            # The per-session view (a leaderboard's query): one session holds all the cost.
            by_session = query(
                f"sum by (session_id) (increase({promql.COST}{team}[2h] anchored)) > 0"
            )
            assert [s["metric"]["session_id"] for s in by_session] == [
                runs[0].json()["session_id"]
            ], by_session
    starts = query(
        f'sum by (start_type) (increase({promql.SESSIONS}{{team_id=~"{prefix}-.*"}}[2h] anchored))'
    )
    assert {s["metric"].get("start_type"): round(float(s["value"][1])) for s in starts} == {
        "fresh": len(RESUME_CLIENTS),
        "continue": len(RESUME_CLIENTS),
        "resume": len(RESUME_CLIENTS),
    }, starts
    return add(*(expected for _, expected in chains))


def wait_for_value(query: Query, promql: str, want: float, timeout: float = 60) -> None:
    """Wait until ``promql``'s first result is ``want``; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    got: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        got = query(promql)
        if got and float(got[0]["value"][1]) == want:
            return
        time.sleep(1)
    raise AssertionError(f"{promql} is {got}, not {want}")


def event_request(body: str, attributes: dict[str, str | int], resource: dict[str, str]) -> bytes:
    """One event (log record) from Claude Code's service, with the resource attributes given."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    for key, value in {"service.name": "claude-code", **resource}.items():
        rl.resource.attributes.add(key=key).value.string_value = value
    record = rl.scope_logs.add().log_records.add()
    record.time_unix_nano = time.time_ns()
    record.body.string_value = body
    for key, value in attributes.items():
        if isinstance(value, int):
            record.attributes.add(key=key).value.int_value = value
        else:
            record.attributes.add(key=key).value.string_value = value
    return req.SerializeToString()


# An MCP server that cannot start: Claude Code reports a failed connection.
MISSING_MCP_SERVER = '{"mcpServers": {"gone": {"command": "/nonexistent/mcp-server"}}}'
ONE_RETRY = {"CLAUDE_CODE_MAX_RETRIES": "1"}
# What the reliability dashboard shows, each from a real session against the scripted API:
# (the session's arguments, its exit code).
RELIABILITY_SCENARIOS: list[tuple[dict[str, Any], int]] = [
    ({"prompt": "overloaded", "script": [Error(529), Error(529)], "extra": ONE_RETRY}, 1),
    ({"prompt": "rate limited", "script": [Error(429), Error(429)], "extra": ONE_RETRY}, 1),
    ({"prompt": "refuse", "script": [Text("No.", stop_reason="refusal"), Text("Ok.")]}, 0),
    (
        {
            "prompt": "tools",
            "script": [read_file("/nonexistent/x.txt"), write_file("x.txt", 2), Text("Ok.")],
            "allowed_tools": ["Read"],
        },
        0,
    ),
    ({"prompt": "mcp", "script": [Text("Ok.")], "args": ["--mcp-config", MISSING_MCP_SERVER]}, 0),
]
RELIABILITY_COUNTS = {
    'claude_code_api_error_count_total{status_code="529"}': 1,
    'claude_code_api_error_count_total{status_code="429"}': 1,
    'claude_code_api_retries_exhausted_count_total{status_code="529"}': 1,
    "claude_code_api_refusal_count_total": 1,
    'claude_code_tool_result_count_total{tool_name="Read", success="false"}': 1,
    'claude_code_tool_decision_count_total{tool_name="Write", decision="reject"}': 1,
    'claude_code_mcp_server_connection_count_total{status="failed"}': 1,
    "claude_code_user_prompt_count_total": 6,
}


def run_reliability_sessions(run_claude: ClaudeRunner, env: Mapping[str, str]) -> None:
    """The scenarios in parallel, then a session that writes and edits a file (edit decisions
    by language), started in a repository as `stackkit env --repo`'s function starts it."""
    runs = run_claude.parallel(
        [
            {k: v for k, v in plan.items() if k != "extra"}
            | {"env": {**env, **plan.get("extra", {})}}
            for plan, _ in RELIABILITY_SCENARIOS
        ]
    )
    for run, (_, code) in zip(runs, RELIABILITY_SCENARIOS, strict=True):
        assert run.returncode == code, run.describe()
    in_repo = f"{env['OTEL_RESOURCE_ATTRIBUTES']},git.repo=git.example.com/org/app"
    run_sessions(run_claude, {**env, "OTEL_RESOURCE_ATTRIBUTES": in_repo}, 1)


def check_reliability_counts(query: Query, team: str, timeout: float = 60) -> None:
    """Each scenario counted exactly once for ``team``, and the duration histograms count as
    many requests and tool runs as the counters, by model or tool and team only."""
    for selector, want in RELIABILITY_COUNTS.items():
        matcher = f'team_id="{team}"'
        if "{" in selector:
            selector = selector.replace("{", "{" + matcher + ", ", 1)
        else:
            selector = f"{selector}{{{matcher}}}"
        wait_for_value(query, f"sum({selector})", want, timeout)
    for histogram, count in (
        ("claude_code_api_request_duration_milliseconds", "claude_code_api_request_count_total"),
        ("claude_code_api_request_ttft_milliseconds", "claude_code_api_request_count_total"),
        ("claude_code_tool_result_duration_milliseconds", "claude_code_tool_result_count_total"),
    ):
        [requests] = query(f'sum({count}{{team_id="{team}"}})')
        wait_for_value(
            query,
            f'sum({histogram}_count{{team_id="{team}"}})',
            float(requests["value"][1]),
            timeout,
        )
        slowest = query(f'max({histogram}_sum{{team_id="{team}"}})')
        assert slowest and float(slowest[0]["value"][1]) > 0
        labels = set(query(f'{histogram}_count{{team_id="{team}"}}')[0]["metric"])
        assert not labels & {"user_id", "session_id"}, labels


def escalation_request(team: str) -> bytes:
    """A switch to bypassPermissions by ``escalating-user`` of ``team``, as Claude Code 2.1.332
    sends one (from its source: keys from_mode, to_mode, trigger), which `claude -p` cannot be
    made to send."""
    escalation: dict[str, str | int] = {
        "user.id": "escalating-user",
        "session.id": "escalating-session",
        "event.name": "permission_mode_changed",
        "from_mode": "default",
        "to_mode": "bypassPermissions",
        "trigger": "user",
    }
    return event_request("claude_code.permission_mode_changed", escalation, {"team.id": team})
