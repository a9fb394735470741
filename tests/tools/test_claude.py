"""The real Claude Code CLI, offline, feeding an OTLP/HTTP JSON sink: what it sends, exactly.

These tests pin down the client side of the stack: metric names, attributes and temporality,
events, and the relation every totals test relies on: for each model and token type, the sum of
``claude_code.token.usage`` points equals the usage the (fake) API returned.

Run: ``python3 -m pytest tests/tools/test_claude.py -q`` (first run installs the CLI, ~20 s).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import pytest

from stackkit.versions import CLAUDE_CODE_VERSION
from tests.fixtures.anthropic_fake import Error, Text, Usage, edit_lines, write_file
from tests.fixtures.otlp_sink import OtlpSink

# Loaded here too so the module runs on its own; harmless when tests/conftest.py lists it.
# (Helpers from it are imported inside the tests, after pytest has loaded it as a plugin.)


METRIC_SCOPE = "com.anthropic.claude_code"
EVENT_SCOPE = "com.anthropic.claude_code.events"
COMMON_POINT_ATTRS = {"user.id", "session.id", "terminal.type", "anthropic.provider"}


@pytest.fixture
def sink():
    with OtlpSink() as s:
        yield s


def _by_model_type(points) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = defaultdict(float)
    for p in points:
        out[(p["attributes"]["model"], p["attributes"]["type"])] += p["value"]
    return dict(out)


def test_session_telemetry_equals_fake_usage(run_claude, sink: OtlpSink) -> None:
    # Several requests: a 529 (retried silently), a Write, an Edit, then a request failing for
    # good (500, retried once, 500 again) -> api_error, and the -p session ends with exit 1.
    script = [
        Error(529),
        write_file(
            "app.py",
            5,
            Usage(1200, 40, cache_read_input_tokens=300, cache_creation_input_tokens=700),
        ),
        edit_lines("app.py", 2, 2, ["changed = True"], Usage(1500, 60, 900, 50)),
        Error(500, message="scripted outage"),
        Error(500, message="scripted outage"),
    ]
    env = sink.otel_env(interval_ms=500) | {"CLAUDE_CODE_MAX_RETRIES": "1"}
    run = run_claude("create app.py, then change it", env, script, allowed_tools=["Write", "Edit"])

    assert run.returncode == 1, run.describe()
    assert "API Error: 500" in run.stdout, run.describe()
    assert run.fake.script_done and run.fake.overruns == 0, run.describe()
    assert (run.cwd / "app.py").read_text() == "line 1\nchanged = True\nline 4\nline 5"
    # Exactly one Messages request per script turn, no side requests, all with one model.
    msgs = run.message_requests
    assert [r.reply for r in msgs] == [
        "error:529",
        "tool_use:Write",
        "tool_use:Edit",
        "error:500",
        "error:500",
    ], run.describe()
    assert {r.kind for r in msgs} == {"main"}
    models = {r.model for r in msgs}
    assert len(models) == 1, models
    (model,) = models
    billed = run.billed_by_type()
    assert billed == {
        (model, "input"): 2700,
        (model, "output"): 100,
        (model, "cacheRead"): 1200,
        (model, "cacheCreation"): 750,
    }

    # Telemetry is flushed at exit; allow a little slack for the last POSTs.
    assert sink.wait_for(
        lambda s: s.events("claude_code.api_error") and s.points("claude_code.token.usage"),
        timeout=15,
    )
    assert not sink.refused()
    for post in sink.accepted():
        assert post.content_type.startswith("application/json")
        assert post.headers.get("user-agent", "").startswith("OTel-OTLP-Exporter-JavaScript")

    points = sink.points()
    assert {p["name"] for p in points} >= {
        "claude_code.session.count",
        "claude_code.token.usage",
        "claude_code.cost.usage",
        "claude_code.lines_of_code.count",
        "claude_code.code_edit_tool.decision",
        "claude_code.active_time.total",
    }
    for p in points:
        assert p["kind"] == "sum" and p["monotonic"] and p["temporality"] == "delta", p
        assert p["scope"] == METRIC_SCOPE
        assert p["resource"]["service.name"] == "claude-code"
        assert p["resource"]["service.version"] == CLAUDE_CODE_VERSION
        assert COMMON_POINT_ATTRS <= p["attributes"].keys(), p["attributes"]
    session_ids = {p["attributes"]["session.id"] for p in points}
    assert len(session_ids) == 1
    (session_id,) = session_ids

    # THE relation: token.usage per (model, type) == usage the API returned.
    tokens = sink.points("claude_code.token.usage")
    assert {p["unit"] for p in tokens} == {"tokens"}
    assert {p["attributes"]["query_source"] for p in tokens} == {"main"}
    assert _by_model_type(tokens) == billed

    # api_request events: one per billed reply, numbers as the fake returned them.
    reqs = sink.events("claude_code.api_request")
    assert len(reqs) == 2
    got = sorted(
        (
            int(e["attributes"]["input_tokens"]),
            int(e["attributes"]["output_tokens"]),
            int(e["attributes"]["cache_read_tokens"]),
            int(e["attributes"]["cache_creation_tokens"]),
        )
        for e in reqs
    )
    assert got == [(1200, 40, 300, 700), (1500, 60, 900, 50)]
    assert {e["attributes"]["request_id"] for e in reqs} == {
        r.request_id for r in msgs if r.status == 200
    }

    # cost.usage: an estimate by the CLI's price table; it equals the events' cost_usd.
    cost = sink.points("claude_code.cost.usage")
    assert {p["unit"] for p in cost} == {"USD"}
    cost_sum = sum(p["value"] for p in cost)
    assert cost_sum > 0
    assert math.isclose(
        cost_sum, sum(float(e["attributes"]["cost_usd"]) for e in reqs), rel_tol=1e-9
    )

    session = sink.points("claude_code.session.count")
    assert sum(p["value"] for p in session) == 1
    assert {p["attributes"]["start_type"] for p in session} == {"fresh"}

    # Write of 5 lines, then 2 lines replaced by 1.
    loc = sink.points("claude_code.lines_of_code.count")
    assert sink.sum_points("claude_code.lines_of_code.count", type="added") == 6
    assert sink.sum_points("claude_code.lines_of_code.count", type="removed") == 2
    assert {p["attributes"]["model"] for p in loc} == {model}

    decisions = sink.points("claude_code.code_edit_tool.decision")
    got_decisions = Counter()
    for p in decisions:
        a = p["attributes"]
        got_decisions[(a["tool_name"], a["decision"], a["source"], a["language"])] += p["value"]
    assert got_decisions == {
        ("Write", "accept", "config", "Python"): 1,
        ("Edit", "accept", "config", "Python"): 1,
    }

    # Events: api_error once (after the retry), tool decisions, all in this session.
    errors = sink.events("claude_code.api_error")
    assert len(errors) == 1
    ea = errors[0]["attributes"]
    assert int(ea["status_code"]) == 500 and int(ea["attempt"]) == 2
    assert ea["error"] == "scripted outage" and ea["model"] == model
    tool_decisions = sink.events("claude_code.tool_decision")
    assert sorted(
        (e["attributes"]["tool_name"], e["attributes"]["decision"], e["attributes"]["source"])
        for e in tool_decisions
    ) == [("Edit", "accept", "config"), ("Write", "accept", "config")]
    events = sink.events()
    assert {e["scope"] for e in events} == {EVENT_SCOPE}
    assert {e["attributes"]["session.id"] for e in events} == {session_id}
    assert {e["body"] for e in events} >= {
        "claude_code.user_prompt",
        "claude_code.api_request",
        "claude_code.api_error",
        "claude_code.tool_decision",
        "claude_code.tool_result",
    }
    prompt_ids = {
        e["attributes"].get("prompt.id")
        for e in events
        if e["body"]
        in (
            "claude_code.api_request",
            "claude_code.api_error",
            "claude_code.tool_decision",
            "claude_code.user_prompt",
        )
    }
    assert len(prompt_ids) == 1 and None not in prompt_ids
    # Numeric event attributes arrive as strings, except a few (see the reference notes).
    results = sink.events("claude_code.tool_result")
    assert {e["attributes"]["success"] for e in results} == {"true"}


def test_parallel_sessions_add_up(run_claude, sink: OtlpSink) -> None:
    from tests.fixtures.claude import overlapping, total_billed

    env = sink.otel_env(interval_ms=500)
    sessions = []
    for i in range(3):
        script = [
            write_file(f"f{i}.txt", 3 + i, Usage(1000 + i, 10 + i, 100 * i, 7 * i)),
            Text(f"done {i}", Usage(2000 + i, 20 + i, 0, 1)),
        ]
        sessions.append(
            dict(
                prompt=f"session {i}",
                env=env,
                script=script,
                allowed_tools=["Write"],
                fake_options={"latency": 0.3},
            )
        )
    runs = run_claude.parallel(sessions)
    for run in runs:
        assert run.returncode == 0, run.describe()
    assert overlapping(runs), [(r.started, r.ended) for r in runs]

    assert sink.wait_for(
        lambda s: (
            len({p["attributes"]["session.id"] for p in s.points("claude_code.token.usage")}) == 3
        ),
        timeout=15,
    )
    tokens = sink.points("claude_code.token.usage")
    assert _by_model_type(tokens) == total_billed(runs)
    # Per session: each session.id carries exactly one run's usage.
    per_session: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    for p in tokens:
        per_session[p["attributes"]["session.id"]][
            (p["attributes"]["model"], p["attributes"]["type"])
        ] += p["value"]
    assert sorted(sorted(d.items()) for d in per_session.values()) == sorted(
        sorted(r.billed_by_type().items()) for r in runs
    )
    assert sink.sum_points("claude_code.session.count") == 3
    assert sink.sum_points("claude_code.lines_of_code.count", type="added") == 3 + 4 + 5
    # One user.id per HOME (each run has its own install id).
    assert len({p["attributes"]["user.id"] for p in tokens}) == 3


def test_wrong_token_is_refused_and_the_data_is_lost(run_claude) -> None:
    with OtlpSink(token="right-token") as sink:
        script = [Text("hello", Usage(10, 2))]
        good = run_claude("hi", sink.otel_env(token="right-token", interval_ms=500), script)
        assert good.returncode == 0, good.describe()
        assert sink.wait_for(lambda s: s.points("claude_code.token.usage"), timeout=15)
        accepted_before = len(sink.accepted())
        assert accepted_before > 0 and not sink.refused()

    with OtlpSink(token="right-token") as sink:
        bad = run_claude(
            "hi", sink.otel_env(token="wrong-token", interval_ms=500), [Text("hello", Usage(10, 2))]
        )
        # The session itself is unaffected: exit 0, nothing on stderr about telemetry.
        assert bad.returncode == 0, bad.describe()
        assert bad.stdout.strip() == "hello"
        assert sink.wait_for(
            lambda s: {p.signal for p in s.refused()} >= {"metrics", "logs"}, timeout=15
        )
        assert all(p.status == 401 for p in sink.posts)
        # Each batch is sent once: no refused body is ever sent again (no retry).
        assert len({p.raw for p in sink.posts}) == len(sink.posts)
        assert all(p.headers.get("authorization") == "Bearer wrong-token" for p in sink.posts)
        assert sink.accepted() == []
        assert sink.points() == [] and sink.events() == []


def test_fake_and_sink_speak_the_protocols() -> None:
    """The fixtures themselves, without the CLI: non-streaming JSON, SSE, errors, 401s."""
    import json
    import urllib.error
    import urllib.request

    from tests.fixtures.anthropic_fake import AnthropicFake

    def post(url: str, body: dict, headers: dict | None = None) -> tuple[int, str, bytes]:
        req = urllib.request.Request(
            url,
            json.dumps(body).encode(),
            method="POST",
            headers={"content-type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.headers.get("content-type", ""), resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("content-type", ""), e.read()

    tools = [{"name": "Write", "input_schema": {}}, {"name": "Read", "input_schema": {}}]
    script = [Text("hi", Usage(5, 3, 2, 1)), write_file("x.txt", 2), Error(529)]
    with AnthropicFake(script, cwd="/w") as fake:
        base = {"model": "m1", "max_tokens": 10, "messages": [], "tools": tools}
        status, ctype, body = post(fake.url + "/v1/messages", base)
        msg = json.loads(body)
        assert status == 200 and ctype == "application/json"
        assert msg["content"] == [{"type": "text", "text": "hi"}]
        assert msg["usage"] == {
            "input_tokens": 5,
            "output_tokens": 3,
            "cache_read_input_tokens": 2,
            "cache_creation_input_tokens": 1,
        }
        status, ctype, body = post(fake.url + "/v1/messages?beta=true", base | {"stream": True})
        assert status == 200 and ctype == "text/event-stream"
        events = [
            json.loads(line[6:]) for line in body.decode().splitlines() if line.startswith("data: ")
        ]
        assert [e["type"] for e in events] == [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
        assert events[2]["content_block"]["name"] == "Write"
        assert json.loads(events[3]["delta"]["partial_json"]) == {
            "file_path": "/w/x.txt",
            "content": "line 1\nline 2",
        }
        status, _, body = post(fake.url + "/v1/messages", base)
        assert status == 529 and json.loads(body)["error"]["type"] == "overloaded_error"
        # A side request (no tool list) gets the fixed side reply and does not consume a turn.
        status, _, body = post(fake.url + "/v1/messages", {"model": "small", "messages": []})
        assert status == 200 and json.loads(body)["content"][0]["text"] == "Fake summary"
        status, _, body = post(fake.url + "/v1/messages/count_tokens", base)
        assert status == 200 and json.loads(body)["input_tokens"] > 0
        status, _, _ = post(fake.url + "/v1/nothing", {})
        assert status == 404
        assert fake.billed() == {"m1": Usage(105, 23, 2, 1), "small": Usage(50, 5)}
        assert [r.kind for r in fake.requests] == [
            "main",
            "main",
            "main",
            "side",
            "count_tokens",
            "other",
        ]

    with OtlpSink(token="t") as sink:
        doc = {
            "resourceMetrics": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": "x"}}]
                    },
                    "scopeMetrics": [
                        {
                            "scope": {"name": "s"},
                            "metrics": [
                                {
                                    "name": "c",
                                    "unit": "1",
                                    "sum": {
                                        "aggregationTemporality": 1,
                                        "isMonotonic": True,
                                        "dataPoints": [
                                            {
                                                "asInt": "7",
                                                "attributes": [
                                                    {"key": "k", "value": {"intValue": "3"}}
                                                ],
                                            }
                                        ],
                                    },
                                }
                            ],
                        }
                    ],
                }
            ]
        }
        assert post(sink.endpoint + "/v1/metrics", doc)[0] == 401
        assert post(sink.endpoint + "/v1/metrics", doc, {"authorization": "Bearer t"})[0] == 200
        (point,) = sink.points("c")
        assert point["value"] == 7 and point["attributes"] == {"k": 3}
        assert point["temporality"] == "delta" and point["resource"] == {"service.name": "x"}
        assert len(sink.refused("metrics")) == 1
