"""How OpenTelemetry names become Prometheus names in this stack.

The Collector's Prometheus exporter (with its default suffixes) turns dots into underscores,
appends the unit and `_total` for monotonic sums. These names were checked against the real
Collector and Claude Code client by tests/e2e; dashboards and rules use only these constants.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .config import StackConfig

COST = "claude_code_cost_usage_USD_total"
TOKENS = "claude_code_token_usage_tokens_total"
SESSIONS = "claude_code_session_count_total"
ACTIVE_TIME = "claude_code_active_time_seconds_total"
LINES = "claude_code_lines_of_code_count_total"
EDIT_DECISIONS = "claude_code_code_edit_tool_decision_total"
COMMITS = "claude_code_commit_count_total"
PULL_REQUESTS = "claude_code_pull_request_count_total"


def event_count(event: str) -> str:
    """The Prometheus name of the Collector's count of one Claude Code event."""
    return f"claude_code_{event}_count_total"


API_REQUESTS = event_count("api_request")
API_ERRORS = event_count("api_error")
TOOL_RESULTS = event_count("tool_result")
RETRIES_EXHAUSTED = event_count("api_retries_exhausted")
REFUSALS = event_count("api_refusal")
TOOL_DECISIONS = event_count("tool_decision")
PROMPTS = event_count("user_prompt")
PERMISSION_MODE_CHANGES = event_count("permission_mode_changed")
MCP_CONNECTIONS = event_count("mcp_server_connection")


def event_duration(name: str) -> str:
    """The Prometheus name of the Collector's histogram of one event duration (in ms)."""
    return f"claude_code_{name.replace('.', '_')}_milliseconds"


# Histograms (classic buckets) of durations from events.
API_LATENCY = event_duration("api_request.duration")
API_TTFT = event_duration("api_request.ttft")
TOOL_DURATION = event_duration("tool_result.duration")


# Labels that already mean something in this stack: Prometheus' own, those Claude Code's points
# carry and the rules and dashboards group by, and those alerts and external labels set. A
# resource attribute promoted to one of them would merge or shadow series.
RESERVED_LABELS = frozenset(
    {
        "job",
        "instance",
        "le",
        "quantile",
        "model",
        "type",
        "session_id",
        "user_id",
        "tool",
        "tool_name",
        "decision",
        "language",
        "status_code",
        "success",
        "severity",
        "alertname",
        "stackkit",
        "otelcol_instance",  # the Collector that sums a delta stream
        "process_start",  # the process a running total comes from
        "git_repo",  # attributes.repo's, on the cost and token metrics only
        "otel_scope_name",
        "otel_scope_version",
        "otel_scope_schema_url",
    }
)


def anchor(cfg: StackConfig) -> str:
    """The range-selector modifier for Claude Code's counters: `` anchored`` or nothing.

    The Collector pushes a sample only when a total changed; plain increase() extrapolates such
    sparse series past their last sample (up to half of the average gap between samples), while
    an anchored range is the exact difference. Anchored ranges need Prometheus 3.16 or newer
    (or its experimental flag); stackkit's own Prometheus has it, a Prometheus run by the
    Operator or a remote-write backend (Thanos, Mimir) may not, so there the queries stay plain
    unless prometheus.anchored_ranges says otherwise.
    """
    anchored = cfg.prometheus.anchored_ranges
    if anchored is None:
        anchored = cfg.prometheus.mode == "deploy" and cfg.grafana.prometheus_url is None
    return " anchored" if anchored else ""


def prom_label(attribute: str) -> str:
    """The Prometheus label for an OpenTelemetry attribute key (``team.id`` -> ``team_id``)."""
    label = re.sub(r"[^A-Za-z0-9_]", "_", attribute)
    return f"key_{label}" if label[0].isdigit() else label
