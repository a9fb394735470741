"""Real Claude Code sessions in waves around a disruption, and the check that every session that
could deliver arrived whole, with exact totals (raw samples and the dashboards' queries)."""

from __future__ import annotations

import http.client
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tests.e2e.conftest import Deployed
from tests.fixtures.claude import ClaudeRun, ClaudeRunner
from tests.pipeline import (
    Expected,
    add,
    dashboard_totals,
    raw_tokens_by_session,
    raw_totals,
    run_sessions,
    session_expected,
    wait_for_totals,
)

WAVES = 4
WAVE_GAP_S = 3.0
RECONNECT_S = 3.2


@dataclass
class Outcome:
    runs: list[ClaudeRun]
    plans: list[Expected]
    """What each session must add up to."""
    disrupted_at: float
    recovered_at: float
    refused: tuple[float, float]
    """First and last moment the OTLP port refused a connection (0, 0: never)."""

    def exported_while_refused(self, run: ClaudeRun) -> bool:
        """The session ran while the port refused, or in the reconnect backoff after it (a gRPC
        client that found the port closed tries again only after 1 s, then 1.6 s, each ±20%, so
        its exports fail for up to about 3 s after the port is back). It exports every second,
        so one of its exports was refused: its session count (sent at start), a delta or its
        last export (at exit). The client saw that refusal; Claude Code does not retry it."""
        first, last = self.refused
        return first > 0 and run.started <= last + RECONNECT_S and run.ended >= first


def waves(
    deployed: Deployed,
    run_claude: ClaudeRunner,
    team: str,
    disrupt: Callable[[], None],
    disrupt_after_s: float,
    temporality: str | None = None,
) -> Outcome:
    """Start a wave of three sessions every WAVE_GAP_S; disrupt the Collector meanwhile."""
    envs = [
        deployed.client_env(
            "grpc" if i % 2 == 0 else "http/protobuf",
            team,
            temporality or ("delta" if i % 2 == 0 else "cumulative"),
        )
        for i in range(WAVES)
    ]
    times: dict[str, float] = {}

    port = deployed.config["collector"]["http"]["port"]
    refused: list[float] = []
    probing = threading.Event()

    def probe() -> None:
        """When the OTLP receiver did not answer, to the tenth of a second. A request, not a
        connection: Docker's port proxy accepts connections while the Collector behind it is
        stopping; any HTTP answer (405, 401) means the receiver is there."""
        url = f"http://127.0.0.1:{port}/v1/metrics"
        while not probing.is_set():
            try:
                urllib.request.urlopen(url, timeout=0.5).close()
            except urllib.error.HTTPError:
                pass
            except (OSError, http.client.HTTPException):
                refused.append(time.time())
            time.sleep(0.05)

    def disruption() -> None:
        time.sleep(disrupt_after_s)
        times["disrupted"] = time.time()
        disrupt()
        times["recovered"] = time.time()

    with ThreadPoolExecutor(WAVES + 2) as pool:
        prober = pool.submit(probe)
        stopper = pool.submit(disruption)
        futures = []
        for i in range(WAVES):
            futures.append(pool.submit(run_sessions, run_claude, envs[i], 3, 3 * i))
            time.sleep(WAVE_GAP_S)
        results = [f.result() for f in futures]
        stopper.result()
        probing.set()
        prober.result()
    runs = [r for rs, _ in results for r in rs]
    plans = [session_expected(run, i) for i, run in enumerate(runs)]
    window = (min(refused), max(refused)) if refused else (0.0, 0.0)
    return Outcome(runs, plans, times["disrupted"], times["recovered"], window)


def settled(deployed: Deployed, selector: str, outcome: Outcome) -> dict[str, int]:
    """Input tokens per session once every session arrived, or nothing changed for 20s."""
    want = {
        run.json()["session_id"]: sum(
            v for (_, kind), v in run.billed_by_type().items() if kind == "input"
        )
        for run in outcome.runs
    }
    deadline = time.monotonic() + 180
    last, stable_since = None, time.monotonic()
    while True:
        arrived = raw_tokens_by_session(deployed.query, selector)
        if all(arrived.get(sid) == n for sid, n in want.items()):
            return arrived
        if arrived != last:
            last, stable_since = arrived, time.monotonic()
        elif time.monotonic() - stable_since > 20 or time.monotonic() > deadline:
            return arrived
        time.sleep(2)


def check(case: str, deployed: Deployed, team: str, outcome: Outcome, per_session: bool) -> None:
    """Every session that could deliver arrived whole; the totals of those sessions are exact,
    from the raw samples and from the dashboards' anchored increase()."""
    selector = f'team_id="{team}"'
    arrived = settled(deployed, f"{{{selector}}}", outcome) if per_session else {}
    unreachable, lost, expected = [], [], []
    for run, plan in zip(outcome.runs, outcome.plans, strict=True):
        sid = run.json()["session_id"]
        want = sum(v for (_, kind), v in run.billed_by_type().items() if kind == "input")
        # Merged series cannot say which session arrived: when it ran has to.
        whole = arrived.get(sid, 0) == want if per_session else True
        if (not whole or not per_session) and outcome.exported_while_refused(run):
            unreachable.append(sid)
        elif not whole:
            when = f"ended {run.ended - outcome.refused[1]:+.1f}s after the port was back"
            lost.append(f"{sid}: {arrived.get(sid, 0)} of {want} input tokens ({when})")
        else:
            expected.append(plan)
    first, last = outcome.refused
    print(
        f"\n{case}: {len(outcome.runs)} sessions run, {len(expected)} arrived whole; the OTLP "
        f"port refused connections for {last - first:.1f}s ({len(unreachable)} session(s) "
        "ran in that moment and may not have delivered all: their clients were refused)"
    )
    assert not lost, f"{case}: sessions whose data did not all arrive: {lost}"
    if unreachable and not per_session:
        # Merged series cannot tell which of those sessions delivered: bound the totals.
        seen = raw_totals(deployed.query, f"{{{selector}}}")
        assert add(*expected).sessions <= seen.sessions <= len(outcome.runs), seen
        return
    if unreachable:  # what part of theirs arrived is not known: leave them out of the sums
        selector += f', session_id!~"{"|".join(unreachable)}"'
    wait_for_totals(deployed.query, f"{{{selector}}}", add(*expected), timeout=120)
    wait_for_totals(
        deployed.query, f"{{{selector}}}", add(*expected), timeout=30, read=dashboard_totals
    )
