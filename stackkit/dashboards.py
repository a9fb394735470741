"""Grafana dashboards, built as data with grafana-foundation-sdk (no hand-kept JSON).

Every query uses only the metric names in :mod:`stackkit.promql`, and every query aggregates
``session_id`` away, because each Claude Code process writes its own series. Ranges over Claude
Code's counters are ``anchored`` where the Prometheus that answers supports it (see
:func:`stackkit.promql.anchor`).
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import bargauge, common, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as dbm
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from . import promql, repo
from .config import StackConfig
from .promql import prom_label

DATASOURCE = dbm.DataSourceRef(type_val="prometheus", uid="stackkit-prometheus")
OVERVIEW_UID = "stackkit-claude-code"
RELIABILITY_UID = "stackkit-claude-code-reliability"


class _Filters:
    """Label matchers for the dashboard's template variables, per metric."""

    def __init__(self, cfg: StackConfig) -> None:
        self.team = prom_label(cfg.attributes.labels[0]) if cfg.attributes.labels else None
        self.user = "user_id" if cfg.attributes.user_id != "drop" else None

    def __call__(self, *extra: str, model: bool = False) -> str:
        matchers = list(extra)
        if self.team:
            matchers.append(f'{self.team}=~"$team"')
        if self.user:
            matchers.append('user_id=~"$user"')
        if model:
            matchers.append('model=~"$model"')
        return "{" + ", ".join(matchers) + "}"

    @property
    def person(self) -> str:
        """The labels that name a person: the first team label and user_id, where kept."""
        return ", ".join(label for label in (self.team, self.user) if label)


def _query(expr: str, legend: str = "", *, instant: bool = False, ref: str = "A") -> prom.Dataquery:
    q = prom.Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE)
    if legend:
        q = q.legend_format(legend)
    if instant:
        q = q.instant().format(PromQueryFormat.TABLE)
    return q


def _stat(
    title: str, expr: str, unit: str, description: str, *, zero_when_empty: bool = True
) -> stat.Panel:
    # Zero when nothing happened reads better than "No data", but hides a misspelled metric:
    # the newer panels leave it out, so their tests fail on one.
    target = f"{expr} or vector(0)" if zero_when_empty else expr
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(_query(target, instant=False))
        .unit(unit)
        .decimals(2 if unit.startswith("currency") else 0)
        .graph_mode(common_models.BigValueGraphMode.NONE)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]))
        .height(4)
        .span(4)
    )


def _series(title: str, expr: str, legend: str, unit: str, description: str) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(_query(expr, legend))
        .unit(unit)
        .height(8)
        .span(12)
    )


def _bars(title: str, expr: str, legend: str, unit: str, description: str) -> bargauge.Panel:
    return (
        bargauge.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(_query(expr, legend, instant=True))
        .unit(unit)
        .orientation(common_models.VizOrientation.HORIZONTAL)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(True))
        .height(8)
        .span(8)
    )


def _dashboard(f: _Filters, title: str, uid: str, description: str) -> db.Dashboard:
    """A dashboard with the team, person and model variables every query filters by."""
    d = (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["claude-code", "stackkit"])
        .refresh("1m")
        .time("now-7d", "now")
        .timezone("browser")
        .tooltip(dbm.DashboardCursorSync.CROSSHAIR)
    )
    if f.team:
        d = d.with_variable(_variable("team", "Team", promql.COST, f.team))
    if f.user:
        d = d.with_variable(_variable("user", "User", promql.COST, "user_id"))
    return d.with_variable(_variable("model", "Model", promql.COST, "model"))


def overview(cfg: StackConfig) -> dict[str, Any]:
    """The overview a platform team opens first: spend, usage, adoption and pipeline health."""
    f = _Filters(cfg)
    who = f()
    whom = f(model=True)
    person = f.person
    cost = promql.COST
    tokens = promql.TOKENS
    a = promql.anchor(cfg)

    d = _dashboard(
        f,
        "Claude Code: overview",
        OVERVIEW_UID,
        "Cost, tokens, sessions, code changes and errors from Claude Code.",
    )

    d = d.with_row(db.Row("Spend"))
    for title, window in (("last 24 hours", "24h"), ("last 7 days", "7d"), ("last 30 days", "30d")):
        d = d.with_panel(
            _stat(
                f"Spend, {title}",
                f"sum(increase({cost}{whom}[{window}]{a}))",
                "currency:USD",
                f"Estimated cost over the {title} (Claude Code's estimate, not the bill).",
            )
        )
    d = d.with_panel(
        _stat(
            "Spend in range",
            f"sum(increase({cost}{whom}[$__range]{a}))",
            "currency:USD",
            "Estimated cost in the selected time range.",
        )
    )
    d = d.with_panel(
        _bars(
            "Spend by model",
            f"sort_desc(sum by (model) (increase({cost}{whom}[$__range]{a})))",
            "{{model}}",
            "currency:USD",
            "Estimated cost in the selected time range, per model.",
        )
    )
    if f.team:
        d = d.with_panel(
            _bars(
                "Spend by team",
                f"sort_desc(sum by ({f.team}) (increase({cost}{whom}[$__range]{a})))",
                "{{" + f.team + "}}",
                "currency:USD",
                "Estimated cost in the selected time range, per team.",
            )
        )
    if f.user:
        d = d.with_panel(
            _bars(
                "Spend by person",
                f"topk(20, sum by ({person}) (increase({cost}{whom}[$__range]{a})))",
                "{{user_id}}",
                "currency:USD",
                "The 20 people with the highest estimated cost in the selected range.",
            )
        )
    if f.user:
        d = d.with_panel(
            _series(
                "Spend rate by person",
                f"topk(10, sum by ({person}) (rate({cost}{whom}[$__rate_interval]{a}))) * 3600",
                "{{user_id}}",
                "currency:USD",
                "USD per hour, for the ten people spending fastest.",
            )
        )
    d = d.with_panel(
        _series(
            "Spend rate by model",
            f"sum by (model) (rate({cost}{whom}[$__rate_interval]{a})) * 3600",
            "{{model}}",
            "currency:USD",
            "USD per hour.",
        )
    )

    d = d.with_row(db.Row("Tokens"))
    d = d.with_panel(
        _series(
            "Tokens by type",
            f"sum by (type) (rate({tokens}{whom}[$__rate_interval]{a})) * 60",
            "{{type}}",
            "short",
            "Tokens per minute: input, output, cache read and cache creation.",
        )
    )
    d = d.with_panel(
        _series(
            "Tokens by model",
            f"sum by (model) (rate({tokens}{whom}[$__rate_interval]{a})) * 60",
            "{{model}}",
            "short",
            "Tokens per minute, all types, per model.",
        )
    )
    input_types = 'type=~"input|cacheRead|cacheCreation"'
    cache_read = f('type="cacheRead"', model=True)
    cached = f"sum(increase({tokens}{cache_read}[$__range]{a}))"
    all_input = f"sum(increase({tokens}{f(input_types, model=True)}[$__range]{a}))"
    d = d.with_panel(
        _stat(
            "Cache hit ratio",
            f"{cached} / {all_input}",
            "percentunit",
            "Share of input tokens read from the prompt cache in the selected range.",
        ).span(6)
    )
    d = d.with_panel(
        _stat(
            "Tokens in range",
            f"sum(increase({tokens}{whom}[$__range]{a}))",
            "short",
            "All tokens of every type in the selected range.",
        ).span(6)
    )

    d = d.with_row(db.Row("Adoption"))
    d = d.with_panel(
        _stat(
            "Sessions",
            f"sum(increase({promql.SESSIONS}{who}[$__range]{a}))",
            "short",
            "Claude Code sessions started in the selected range.",
        ).span(6)
    )
    d = d.with_panel(
        _stat(
            "Active users",
            f"count(sum by (user_id) (increase({promql.SESSIONS}{who}[$__range]{a})) > 0)",
            "short",
            "People who started at least one session in the selected range.",
        ).span(6)
    )
    d = d.with_panel(
        _stat(
            "Active time",
            f"sum(increase({promql.ACTIVE_TIME}{who}[$__range]{a}))",
            "s",
            "Time people actively used Claude Code in the selected range.",
        ).span(6)
    )
    d = d.with_panel(
        _stat(
            "Commits and pull requests",
            # Each side may have no series yet (nobody committed, or opened a PR): a plain
            # sum of the two would then show nothing at all.
            f"(sum(increase({promql.COMMITS}{who}[$__range]{a})) or vector(0))"
            f" + (sum(increase({promql.PULL_REQUESTS}{who}[$__range]{a})) or vector(0))",
            "short",
            "Commits and pull requests Claude Code created in the selected range.",
        ).span(6)
    )

    d = d.with_panel(
        _series(
            "Active time per hour",
            f"sum by (type) (rate({promql.ACTIVE_TIME}{who}[$__rate_interval]{a})) * 3600",
            "{{type}}",
            "s",
            "Seconds of active use per hour: the person typing (user) and Claude Code working "
            "(cli).",
        )
    )

    d = d.with_row(db.Row("Code changes"))
    d = d.with_panel(
        _series(
            "Lines added and removed",
            f"sum by (type) (increase({promql.LINES}{whom}[$__interval]{a}))",
            "{{type}}",
            "short",
            "Lines changed by Claude Code's edit tools.",
        )
    )
    d = d.with_panel(
        _bars(
            "Lines in range",
            f"sum by (type) (increase({promql.LINES}{whom}[$__range]{a}))",
            "{{type}}",
            "short",
            "Lines added and removed in the selected range.",
        )
    )
    d = d.with_panel(
        _series(
            "Edit decisions over time",
            f"sum by (decision) (increase({promql.EDIT_DECISIONS}{who}[$__interval]{a}))",
            "{{decision}}",
            "short",
            "Edit-tool permission decisions, accepted and rejected.",
        )
    )
    d = d.with_panel(
        _table(
            "Edit decisions by tool",
            f"sum by (tool_name, decision) (increase({promql.EDIT_DECISIONS}{who}[$__range]{a}))",
            "Accepted and rejected edits per tool in the selected range.",
        )
    )
    accepted = f('decision="accept"')
    d = d.with_panel(
        _stat(
            "Edit accept rate",
            f"sum(increase({promql.EDIT_DECISIONS}{accepted}[$__range]{a}))"
            f" / sum(increase({promql.EDIT_DECISIONS}{who}[$__range]{a}))",
            "percentunit",
            "Share of edit-tool permission decisions that were accepted.",
        )
    )

    d = d.with_row(db.Row("Errors and pipeline"))
    d = d.with_panel(
        _series(
            "API errors by status",
            f"sum by (status_code) (increase({promql.API_ERRORS}{whom}[$__interval]{a}))",
            "{{status_code}}",
            "short",
            "Failed model API requests (from Claude Code's api_error events).",
        )
    )
    d = d.with_panel(
        _series(
            "Telemetry accepted and refused by the Collector",
            "sum by (transport) (rate(otelcol_receiver_accepted_metric_points[$__rate_interval]))"
            " or label_replace(sum(rate(otelcol_receiver_refused_metric_points"
            '[$__rate_interval])), "transport", "refused", "", "")',
            "{{transport}}",
            "short",
            "Metric points per second. Refused data is lost: Claude Code does not retry.",
        )
    )
    return _to_dict(d)


def reliability(cfg: StackConfig) -> dict[str, Any]:
    """Is Claude Code slow or failing, which tools fail, who uses it how, and did anyone switch
    the safety rails off: the questions after cost, from Claude Code's events and labels."""
    f = _Filters(cfg)
    who, whom = f(), f(model=True)
    by_person = f.person
    person = f"{by_person}, " if by_person else ""
    a = promql.anchor(cfg)

    def total(metric: str, matchers: str, by: str = "", window: str = "$__range") -> str:
        grouping = f" by ({by})" if by else ""
        return f"sum{grouping} (increase({metric}{matchers}[{window}]{a}))"

    def per(title: str, metric: str, matchers: str, key: str, unit: str, about: str) -> Any:
        """Bars of one counter's increase in the range, one per value of ``key``."""
        return _bars(title, total(metric, matchers, key), "{{" + key + "}}", unit, about)

    errors, requests = total(promql.API_ERRORS, whom), total(promql.API_REQUESTS, whom)
    d = _dashboard(
        f,
        "Claude Code: reliability, tools and security",
        RELIABILITY_UID,
        "API errors and refusals, tool results and decisions, adoption, attribution and "
        "permission changes, from Claude Code's events and labels.",
    )

    d = d.with_row(db.Row("Reliability"))
    d = d.with_panel(
        _stat(
            "API error ratio",
            f"{errors} / (({requests} or vector(0)) + {errors})",
            "percentunit",
            "Share of model API requests that failed after Claude Code's own retries.",
            zero_when_empty=False,
        )
    )

    def quantile(q: float, metric: str, by: str, matchers: str, window: str) -> str:
        buckets = f"{metric}_bucket{matchers}"
        return f"histogram_quantile({q}, sum by (le, {by}) (rate({buckets}[{window}]{a})))"

    for q, name in ((0.5, "p50"), (0.95, "p95")):
        d = d.with_panel(
            _series(
                f"API latency {name} by model",
                quantile(q, promql.API_LATENCY, "model", whom, "$__rate_interval"),
                "{{model}}",
                "ms",
                f"Model API request time, request to last token ({name}).",
            )
        )
    d = d.with_panel(
        _series(
            "Time to first token p95 by model",
            quantile(0.95, promql.API_TTFT, "model", whom, "$__rate_interval"),
            "{{model}}",
            "ms",
            "How long developers wait for the model to start answering (p95).",
        )
    )
    d = d.with_panel(
        _series(
            "API errors by status code",
            total(promql.API_ERRORS, whom, "status_code", "$__interval"),
            "{{status_code}}",
            "short",
            "Requests that failed for good: 429 is the rate limit, 529 an overloaded API.",
        )
    )
    d = d.with_panel(
        per(
            "Rate limited (429) and overloaded (529)",
            promql.API_ERRORS,
            f('status_code=~"429|529"', model=True),
            "status_code",
            "short",
            "Requests that failed with 429 or 529 in the selected range.",
        )
    )
    d = d.with_panel(
        _bars(
            "Retries exhausted by model",
            f"sort_desc({total(promql.RETRIES_EXHAUSTED, whom, 'model')})",
            "{{model}}",
            "short",
            "Requests Claude Code stopped retrying: what developers saw fail.",
        )
    )
    d = d.with_panel(
        _stat(
            "Refusals",
            total(promql.REFUSALS, whom),
            "short",
            "Requests the model refused in the selected range.",
            zero_when_empty=False,
        )
    )

    d = d.with_panel(
        per(
            "API requests by model",
            promql.API_REQUESTS,
            whom,
            "model",
            "short",
            "Model API requests that succeeded in the selected range.",
        )
    )
    d = d.with_panel(
        _bars(
            "Cost per API request by model",
            f"{total(promql.COST, whom, 'model')} / {total(promql.API_REQUESTS, whom, 'model')}",
            "{{model}}",
            "currency:USD",
            "Average estimated cost of one successful request in the selected range.",
        )
    )
    d = d.with_panel(
        _bars(
            "Tokens per API request by type",
            f"{total(promql.TOKENS, whom, 'type')} / scalar({total(promql.API_REQUESTS, whom)})",
            "{{type}}",
            "short",
            "Average tokens of each type per successful request in the selected range.",
        )
    )

    d = d.with_row(db.Row("Tools"))
    succeeded = total(promql.TOOL_RESULTS, f('success="true"'), "tool_name")
    runs = total(promql.TOOL_RESULTS, who, "tool_name")
    failed = f('success="false"')
    d = d.with_panel(
        _bars(
            "Tool success rate by tool",
            f"sort(({succeeded} or {runs} * 0) / {runs})",
            "{{tool_name}}",
            "percentunit",
            "Share of runs of each tool that succeeded in the selected range.",
        )
    )
    d = d.with_panel(
        _bars(
            "Tool duration p95 by tool",
            f"sort_desc({quantile(0.95, promql.TOOL_DURATION, 'tool_name', f(), '$__range')})",
            "{{tool_name}}",
            "ms",
            "How long each tool ran (p95) in the selected range.",
        )
    )
    d = d.with_panel(
        _bars(
            "Tool failures by error type",
            f"sort_desc({total(promql.TOOL_RESULTS, failed, 'error_type')})",
            "{{error_type}}",
            "short",
            "Failed tool runs in the selected range, by the error type Claude Code reports.",
        )
    )
    d = d.with_panel(
        _table(
            "Tool decisions by source",
            total(promql.TOOL_DECISIONS, who, "tool_name, decision, source"),
            "Permission decisions on tool calls: accepted or rejected, by config, hook or user.",
        )
    )

    d = d.with_row(db.Row("Adoption"))
    prompts = total(promql.PROMPTS, who)
    d = d.with_panel(
        _stat(
            "Prompts per active person",
            f"{prompts} / count({total(promql.PROMPTS, who, 'user_id')} > 0)",
            "short",
            "Prompts in the selected range (a count, never their text) per person who sent one.",
            zero_when_empty=False,
        )
    )
    d = d.with_panel(
        per(
            "Sessions by start type",
            promql.SESSIONS,
            f('start_type!="agents_view"'),
            "start_type",
            "short",
            "Fresh, resumed and continued sessions; opening the agents view is not a session.",
        )
    )
    d = d.with_panel(
        per(
            "Active time, user and CLI",
            promql.ACTIVE_TIME,
            who,
            "type",
            "s",
            "Time people spent typing and reading (user) and Claude Code spent working (cli).",
        )
    )
    d = d.with_panel(
        per(
            "CLI and desktop app",
            promql.SESSIONS,
            who,
            "job",
            "short",
            "Sessions by the application that reported them (its service.name).",
        )
    )
    d = d.with_panel(
        _table(
            "Versions in use",
            'count by (service_version) (target_info{job=~"claude-code.*"})',
            "Claude Code versions that reported in the selected range.",
        )
    )

    d = d.with_panel(
        _table(
            "Platforms in use",
            'count by (os_type, host_arch) (target_info{job=~"claude-code.*"})',
            "Operating systems and architectures Claude Code reported from.",
        )
    )

    d = d.with_row(db.Row("Attribution"))
    for key, title in (("query_source", "query source"), ("effort", "effort")):
        d = d.with_panel(
            _bars(
                f"Spend by {title}",
                f"sort_desc({total(promql.COST, whom, key)})",
                "{{" + key + "}}",
                "currency:USD",
                f"Estimated cost in the selected range, by {title}.",
            )
        )
    if by_person:
        d = d.with_panel(
            _table(
                "Edit decisions by person",
                total(promql.EDIT_DECISIONS, who, f"{person}decision"),
                "Accepted and rejected edits per person in the selected range.",
            )
        )
    d = d.with_panel(
        _table(
            "Edit decisions by language",
            total(promql.EDIT_DECISIONS, who, "language, decision"),
            "Accepted and rejected edits per programming language.",
        )
    )

    d = d.with_row(db.Row("Leaderboards"))
    if by_person:
        d = d.with_panel(
            _table(
                "Top people by tokens",
                f"topk(10, {total(promql.TOKENS, whom, by_person)})",
                "The ten people who used the most tokens (all types) in the selected range.",
            )
        )
    if cfg.attributes.session_id != "drop":
        d = d.with_panel(
            _table(
                "Top sessions by cost",
                f"topk(10, {total(promql.COST, whom, person + 'session_id')})",
                "The ten costliest sessions; a resumed session is one session here.",
            )
        )
    if cfg.attributes.repo == "keep":
        some_repo = f(f'{repo.LABEL}!=""')
        d = d.with_panel(
            _table(
                "Top repositories by cost",
                f"topk(10, {total(promql.COST, some_repo, repo.LABEL)})",
                "The ten costliest git repositories (host/org/repo, from the claude function "
                "of `stackkit env --repo`; launches without it are not counted here).",
            )
        )
    d = d.with_panel(
        per(
            "Sessions by terminal",
            promql.SESSIONS,
            who,
            "terminal_type",
            "short",
            "Where developers run Claude Code: their terminal or editor.",
        )
    )

    d = d.with_row(db.Row("Security"))
    d = d.with_panel(
        _table(
            "Permission-mode changes",
            total(promql.PERMISSION_MODE_CHANGES, who, f"{person}from_mode, to_mode"),
            "Who changed Claude Code's permission mode, from what to what. bypassPermissions "
            "runs tools without asking (the ClaudeCodePermissionsBypassed alert fires).",
        )
    )
    d = d.with_panel(
        _table(
            "Tool rejects by source",
            total(promql.TOOL_DECISIONS, f('decision="reject"'), f"{person}tool_name, source"),
            "Tool calls that were refused, by whom or what refused them.",
        )
    )
    d = d.with_panel(
        _table(
            "MCP server connection failures",
            total(promql.MCP_CONNECTIONS, f('status="failed"'), f"{person}status, transport_type"),
            "MCP servers Claude Code could not start or reach.",
        )
    )
    return _to_dict(d)


def _table(title: str, expr: str, description: str) -> table.Panel:
    return (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(_query(expr, instant=True))
        .height(8)
        .span(8)
    )


def _variable(name: str, label: str, metric: str, key: str) -> db.QueryVariable:
    return (
        db.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(f"label_values({metric}, {key})")
        .refresh(dbm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dbm.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )


def _to_dict(builder: db.Dashboard) -> dict[str, Any]:
    model: dict[str, Any] = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    return model


def dashboards(cfg: StackConfig) -> dict[str, dict[str, Any]]:
    """Every dashboard stackkit ships, by file stem."""
    return {"claude-code-overview": overview(cfg), "claude-code-reliability": reliability(cfg)}
