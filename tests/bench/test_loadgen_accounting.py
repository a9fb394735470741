"""The load generator's accounting: what it says it sent and what was accepted must be what the
sinks saw, to the request, the point and the event, and its totals of accepted data must equal
the totals recomputed from the decoded requests. It stops by itself and only loads loopback.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.bench.conftest import (
    Sinks,
    assert_close,
    events,
    points,
    run_loadgen,
    summary_totals,
    totals,
)

# Fast sessions: 300 ms stands for one minute; lots of everything.
FAST = [
    "-interval", "300ms", "-logs-interval", "50ms", "-ramp", "300ms",
    "-session-min", "2", "-session-max", "4", "-think-min", "0", "-think-max", "0.5",
    "-prompts", "3", "-api-error-rate", "0.1", "-tool-fail-share", "0.2", "-reject-share", "0.2",
    "-teams", "3", "-workers", "4",
]  # fmt: skip


def requests(summary: dict[str, Any], signal_: str, proto: str) -> dict[str, Any]:
    return summary["requests"][signal_][proto]  # type: ignore[no-any-return]


@pytest.mark.parametrize("conns", ["2", "0"], ids=["shared-connections", "per-session"])
def test_healthy_sink_everything_accepted_and_totals_match(
    loadgen_bin: Path, sinks: Any, tmp_path: Path, conns: str
) -> None:
    s: Sinks = sinks(token="t0ken")
    run = run_loadgen(
        loadgen_bin,
        [*s.args(), "-token", "t0ken", "-developers", "12", "-duration", "3s",
         "-cumulative-share", "0.4", "-http-share", "0.5", "-conns", conns, *FAST],
        tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.describe()
    summary = run.summary
    assert summary is not None

    got = s.received()
    for sig in ("metrics", "logs"):
        for proto in ("grpc", "http"):
            r = requests(summary, sig, proto)
            assert r["requests"] > 0, (sig, proto, r)
            assert r["requests"] == r["accepted"] and r["refused"] == 0 and r["partial"] == 0
            assert r["items"] == r["items_accepted"] > 0
            assert got[(sig, proto)] == {"accepted": r["requests"], "refused": 0}, (sig, proto)

    pts = points(s.accepted_payloads("metrics"))
    evs = events(s.accepted_payloads("logs"))
    assert len(pts) == summary["requests"]["metrics"]["all"]["items_accepted"]
    assert len(evs) == summary["requests"]["logs"]["all"]["items_accepted"]
    assert summary["accepted"]["exact"] is True
    assert_close(summary_totals(summary), totals(pts, evs))

    # Every session started was finished (its exit flush sent), each with its own session.id.
    sessions = summary["sessions"]
    assert sessions["started"] == sessions["finished"] > 12
    assert sessions["abandoned"] == 0
    assert 0 < sessions["cumulative"] < sessions["started"]
    assert len({p["attributes"]["session.id"] for p in pts}) == sessions["started"]
    assert (
        summary["accepted"]["metrics"]["claude_code.session.count"]["total"] == sessions["started"]
    )
    # The bearer token went with every request, on both protocols.
    assert {p.headers.get("authorization") for p in s.http.posts} == {"Bearer t0ken"}
    assert {g.metadata.get("authorization") for g in s.grpc.posts} == {"Bearer t0ken"}
    assert summary["cpu"]["user_seconds"] + summary["cpu"]["system_seconds"] > 0


def test_wrong_token_everything_refused(loadgen_bin: Path, sinks: Any, tmp_path: Path) -> None:
    s: Sinks = sinks(token="right")
    run = run_loadgen(
        loadgen_bin,
        [*s.args(), "-token", "wrong", "-developers", "6", "-max-sessions", "8", "-duration",
         "10s", "-cumulative-share", "0.5", *FAST],
        tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.describe()
    summary = run.summary
    assert summary is not None
    got = s.received()
    for sig in ("metrics", "logs"):
        for proto, reason in (("grpc", "grpc_Unauthenticated"), ("http", "http_401")):
            r = requests(summary, sig, proto)
            assert r["requests"] > 0 and r["accepted"] == 0, (sig, proto, r)
            assert r["refused"] == r["requests"] and r["items_refused"] == r["items"]
            assert r["refused_by_reason"] == {reason: r["requests"]}
            assert got[(sig, proto)] == {"accepted": 0, "refused": r["requests"]}
    acc = summary["accepted"]
    assert all(m["groups"] == [] and m["total"] == 0 for m in acc["metrics"].values())
    assert acc["per_team"] == {} and acc["per_user"] == {}
    assert acc["events"]["total"] == 0 and acc["events"]["by_body"] == {}
    # Refused data is lost, but the sessions still ran and ended.
    assert summary["sessions"]["started"] == summary["sessions"]["finished"] == 8


def test_partial_success_is_booked_as_rejected(
    loadgen_bin: Path, sinks: Any, tmp_path: Path
) -> None:
    s: Sinks = sinks(partial=2)
    run = run_loadgen(
        loadgen_bin,
        [*s.args(), "-http-share", "0", "-developers", "3", "-max-sessions", "3", "-duration",
         "10s", *FAST],
        tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.describe()
    summary = run.summary
    assert summary is not None
    r = requests(summary, "metrics", "grpc")
    assert r["requests"] == r["accepted"] == r["partial"] > 0
    assert r["items_rejected"] == 2 * r["requests"]
    assert r["items_accepted"] == r["items"] - r["items_rejected"]
    assert summary["accepted"]["exact"] is False  # which points were rejected is unknown


def test_bounded_by_duration_flushes_open_sessions(
    loadgen_bin: Path, sinks: Any, tmp_path: Path
) -> None:
    s: Sinks = sinks()
    # Sessions far longer than the run: all are cut short by the stop and flushed.
    run = run_loadgen(
        loadgen_bin,
        [*s.args(), "-developers", "20", "-duration", "1500ms", "-interval", "400ms",
         "-session-min", "50", "-session-max", "60"],
        tmp_path,
        timeout=30,
    )  # fmt: skip
    assert run.returncode == 0, run.describe()
    summary = run.summary
    assert summary is not None
    assert run.duration < 1.5 + 3, run.describe()
    assert summary["run"]["stop_reason"] == "duration"
    sessions = summary["sessions"]
    assert sessions["started"] == sessions["finished"] == sessions["cut_short"] == 20
    # The exit flush delivered every session's session.count.
    pts = points(s.accepted_payloads("metrics"))
    assert len({p["attributes"]["session.id"] for p in pts}) == 20


def test_bounded_by_max_sessions(loadgen_bin: Path, sinks: Any, tmp_path: Path) -> None:
    s: Sinks = sinks()
    run = run_loadgen(
        loadgen_bin,
        [*s.args(), "-developers", "3", "-max-sessions", "5", "-interval", "100ms",
         "-session-min", "1", "-session-max", "2", "-think-min", "0", "-think-max", "0.2"],
        tmp_path,
        timeout=30,
    )  # fmt: skip
    assert run.returncode == 0, run.describe()
    summary = run.summary
    assert summary is not None
    assert summary["run"]["stop_reason"] == "max-sessions"
    assert summary["sessions"]["started"] == summary["sessions"]["finished"] == 5
    assert summary["sessions"]["cut_short"] == 0
    assert run.duration < 10, run.describe()


def test_sigterm_flushes_and_exits(loadgen_bin: Path, sinks: Any, tmp_path: Path) -> None:
    s: Sinks = sinks()
    summary_path = tmp_path / "summary.json"
    proc = subprocess.Popen(
        [str(loadgen_bin), *s.args(), "-developers", "10", "-duration", "5m", "-interval",
         "300ms", "-ramp", "100ms", "-summary", str(summary_path)],
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert s.http.wait_for(lambda _: len(s.received()) > 0, timeout=15)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert time.monotonic() - t0 < 5
    import json

    summary = json.loads(summary_path.read_text())
    assert summary["run"]["stop_reason"] == "terminated"
    assert summary["sessions"]["started"] == summary["sessions"]["finished"] >= 10


@pytest.mark.parametrize(
    "flags",
    [
        ["-grpc-endpoint", "10.1.2.3:4317"],
        ["-http-endpoint", "http://example.com:4318"],
        ["-grpc-endpoint", "0.0.0.0:4317"],
    ],
    ids=["grpc-private-ip", "http-hostname", "grpc-any"],
)
def test_non_loopback_endpoint_is_refused(
    loadgen_bin: Path, tmp_path: Path, flags: list[str]
) -> None:
    run = run_loadgen(loadgen_bin, [*flags, "-developers", "1", "-duration", "1s"], tmp_path)
    assert run.returncode == 2, run.describe()
    assert "not a loopback address" in run.stderr
    assert run.summary is None


def test_unbounded_run_is_refused(loadgen_bin: Path, tmp_path: Path) -> None:
    run = run_loadgen(loadgen_bin, ["-developers", "1"], tmp_path)
    assert run.returncode == 2 and "must be bounded" in run.stderr, run.describe()
