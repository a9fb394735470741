"""Past one Prometheus: the stack remote-writes to a horizontally scalable backend (Thanos:
a router spreading series over two ingestors, and a querier). Real Claude Code totals come back
exactly from the backend's query API, and the dashboards rendered for a Grafana that queries the
backend (plain ranges: Thanos 0.42 does not parse anchored ones) answer with data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from stackkit.config import StackConfig
from stackkit.render import render
from tests.fixtures.anthropic_fake import Error
from tests.fixtures.claude import ClaudeRunner
from tests.fixtures.thanos import ThanosCluster
from tests.pipeline import (
    add,
    assert_queries_return_data,
    dashboard_queries,
    run_sessions,
    wait_for_totals,
)
from tests.test_pipeline import LocalStack, local_stack  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration


def test_totals_come_back_exactly_from_thanos(
    local_stack: Callable[..., LocalStack],  # noqa: F811
    thanos_cluster: ThanosCluster,
    run_claude: ClaudeRunner,
) -> None:
    stack = local_stack(
        prometheus={
            "scrape_interval": "1s",
            "evaluation_interval": "1s",
            "remote_write": [{"name": "thanos", "url": thanos_cluster.remote_write_url}],
        }
    )
    _, delta = run_sessions(run_claude, stack.client_env("grpc", "rw-delta", "delta"), 3)
    _, cumulative = run_sessions(
        run_claude, stack.client_env("http/protobuf", "rw-cumulative", "cumulative"), 3, first=3
    )
    expected = add(delta, cumulative)
    failing = stack.client_env("grpc", "rw-errors", "delta") | {"CLAUDE_CODE_MAX_RETRIES": "1"}
    assert run_claude("fail", failing, [Error(500), Error(500)]).returncode == 1

    def thanos(promql: str) -> list[dict[str, Any]]:
        return thanos_cluster.query(promql)

    selector = '{team_id=~"rw-(delta|cumulative)"}'
    wait_for_totals(stack.query, selector, expected)
    wait_for_totals(thanos, selector, expected, timeout=120)
    # The series really are spread over both ingestors (nothing stored twice).
    spread = thanos_cluster.query(
        f"count by (receive_replica) (claude_code_token_usage_tokens_total{selector})",
        dedup=False,
    )
    assert len(spread) == 2, spread
    backend = StackConfig.model_validate({"grafana": {"prometheus_url": thanos_cluster.query_url}})
    files = {str(p): t for p, t in render(backend).items()}
    assert " anchored" not in "".join(dashboard_queries(files).values())
    assert_queries_return_data(thanos, dashboard_queries(files), timeout=60)
