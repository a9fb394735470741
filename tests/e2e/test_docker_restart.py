"""Nothing the Collector accepted is lost when it restarts or `up` replaces it (real Docker).

Real Claude Code sessions in waves (three at a time; delta over gRPC and cumulative over HTTP
alternating), finishing before, during and after the disruption. Totals are counted from the raw
samples through counter resets and through the dashboards' own anchored increase(). Each case
prints its report: sessions run, sessions whose data arrived, how long the OTLP port refused
connections.

The Docker target has one Collector: while it restarts (about a second), its port refuses
connections, and a session that exports in exactly that moment cannot deliver (Claude Code does
not retry long enough at exit). Such a session is reported; every other session must arrive
whole, and the totals must equal what arrived. The Kubernetes target keeps two Collectors behind
a rolling update, so there the port never refuses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from tests.e2e.conftest import Deployed
from tests.e2e.waves import check, waves
from tests.fixtures.claude import ClaudeRunner

pytestmark = pytest.mark.integration


def _restart(deployed: Deployed) -> Callable[[], None]:
    def restart() -> None:
        deployed.engine.docker("restart", f"{deployed.name}-otelcol", timeout=120)

    return restart


@pytest.fixture(scope="module")
def kept(deploy_stack: Callable[..., Deployed]) -> Deployed:
    deployed = deploy_stack()
    deployed.stackkit("up")
    return deployed


def test_a_collector_restart_loses_nothing(kept: Deployed, run_claude: ClaudeRunner) -> None:
    outcome = waves(kept, run_claude, "restart", _restart(kept), disrupt_after_s=4.0)
    check("collector restart", kept, "restart", outcome, per_session=True)


def test_a_collector_replaced_by_up_loses_nothing(kept: Deployed, run_claude: ClaudeRunner) -> None:
    lock = threading.Lock()

    def replace() -> None:
        with lock:
            kept.config["collector"]["max_stale"] = "10m"  # any Collector setting replaces it
            kept.write_config()
            result = kept.stackkit("up")
        assert "otelcol" in result.stderr and "replaced" in result.stderr, result.stderr

    outcome = waves(kept, run_claude, "replaced", replace, disrupt_after_s=4.0)
    check("collector replaced by up", kept, "replaced", outcome, per_session=True)


def test_a_restart_with_session_id_dropped_loses_nothing(
    deploy_stack: Callable[..., Deployed], run_claude: ClaudeRunner
) -> None:
    """Merged series: the clients send deltas, as `stackkit env` tells them to for such a stack
    (a running total seen first after a restart cannot be told from one already counted)."""
    merged = deploy_stack(attributes={"session_id": "drop"})
    merged.stackkit("up")
    outcome = waves(
        merged, run_claude, "merged", _restart(merged), disrupt_after_s=4.0, temporality="delta"
    )
    check("restart, session.id dropped", merged, "merged", outcome, per_session=False)
