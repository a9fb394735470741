"""The OpenTelemetry Collector's configuration, built as data.

The pipeline, and why each step is where it is:

* ``memory_limiter`` first, in both pipelines, and nothing asynchronous before the batch
  processor: a refusal reaches the client that sent the data (the door), never data it was
  told was accepted. Events are counted synchronously (the count connector), so a refusal of
  their counts reaches the client too.
* ``batch`` puts every point in one line: delta-to-cumulative needs each stream's points in
  order, and a stream can have several writers (the counts of one person's concurrent sessions,
  clients that leave ``session.id`` out).
* Points are stamped with the time they arrived: a client's clock can be hours off, and one bad
  timestamp would make Prometheus reject a whole batch. Delta points start one millisecond
  before their stamp, so a stream that delta-to-cumulative starts again (idle past
  ``max_stale``, or a Collector restart) begins after the last sample Prometheus has of it, and
  Prometheus records the reset (a zero at the start time): totals stay exact.
* Delta streams carry the Collector instance (``otelcol.instance``): two Collectors summing the
  same stream must never write one series. Cumulative points are already running totals, each
  from one process; they carry that process's start (``process.start``), because a resumed
  session (``claude -c``, ``claude --resume``) sends its totals under the earlier process's
  ``session.id``: without it two processes, each counting from zero, would write one stream, and
  ``interval`` (which keeps one point a stream) would drop one process's last total. Keyed apart,
  each stays a whole counter that a Collector restart does not touch (turning them into deltas
  would lose what arrived between a restart and each stream's next point). Where ``session.id``
  or ``user.id`` is dropped, they become deltas anyway, and the key goes once they are.
* ``delta_to_cumulative`` keeps a stream's total for ``max_stale`` only, so memory follows the
  active streams, not the day's sessions. Event counts have a table of their own (their own
  pipeline, from the count connector), so a flood of made-up metric streams cannot take their
  places.
* With a push exporter, ``interval`` passes on only each stream's latest running total once per
  ``push_interval``, stamped when it leaves: Prometheus keeps one sample per series and
  millisecond, and two totals of one stream within a millisecond would keep the smaller.
* The exporter pushes through a queue: on disk with the Docker target (a restart or replacement
  resumes it), in memory and drained on shutdown on Kubernetes (a rolling update stops a pod
  only after a new one is ready). It retries for as long as Prometheus is away.
"""

from __future__ import annotations

from typing import Any

from . import repo
from .config import StackConfig
from .model import (
    OTELCOL_QUEUE_DIR,
    OTELCOL_TLS_DIR,
    PROMETHEUS_AUTH_ENV,
    PROMETHEUS_HOST,
    prometheus_protected,
)

INSTANCE_ATTRIBUTE = "otelcol.instance"
# The process a running total comes from, by its start time (milliseconds). `claude -c` and
# `claude --resume` send their totals under the earlier process's session.id, so two processes
# write one stream, each counting from zero: keyed apart, each total stays a counter of its own.
PROCESS_ATTRIBUTE = "process.start"
# Hostile or broken senders: no request over 4 MiB (Claude Code's are a few KiB), no attribute
# value over 256 characters, no point or event with more than 32 attributes. Real Claude Code
# data stays far inside these; labels that could hurt Prometheus do not get through.
MAX_REQUEST_MIB = 4
MAX_VALUE_CHARS = 256
MAX_ATTRIBUTES = 32
_KEEP = ["session.id", "user.id", "model", "type", "decision", "tool_name", "status_code"]

# The door: what a client holding the token may write. Only monotonic sums named like Claude
# Code's (or stackkit's own probes) get through, and only under the keys Claude Code documents
# for its points (plus attributes.labels): a client cannot write `up`, `job`, `le`, the stack's
# own keys, or a name or label Prometheus would choke on. What the filter drops is counted
# (otelcol_processor_filter_datapoints_filtered) and alerted on.
ACCEPTED_METRIC_NAME = r"^(claude_code|stackkit)[.][a-z][a-z0-9_.]{0,63}$"
POINT_ATTRIBUTES = (
    # on every point
    "user.id",
    "session.id",
    "terminal.type",
    "anthropic.provider",
    "anthropic.custom_base_url",
    "organization.id",
    "user.account_uuid",
    "user.account_id",
    "user.email",
    "user.groups",
    "identity.source",
    "app.version",
    "app.entrypoint",
    # each metric's own
    "start_type",
    "model",
    "query_source",
    "effort",
    "speed",
    "type",
    "decision",
    "source",
    "tool_name",
    "language",
    "agent.name",
    "skill.name",
    "plugin.name",
    "marketplace.name",
    "mcp_server.name",
    "mcp_tool.name",
    # `stackkit verify` tells its own point apart by this
    "verify.id",
)
# Claude Code's events the stack counts (claude_code.<event>.count), each by its own keys, the
# person and attributes.labels. Only these keys are ever read from an event.
EVENT_COUNTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "api_request": ("Model API requests that succeeded.", ("model",)),
    "api_error": (
        "Model API requests that failed for good (after Claude Code's own retries).",
        ("model", "status_code"),
    ),
    "api_retries_exhausted": (
        "Model API requests Claude Code stopped retrying.",
        ("model", "status_code"),
    ),
    "api_refusal": ("Requests the model refused.", ("model",)),
    "tool_result": ("Tool runs.", ("tool_name", "success", "error_type")),
    "tool_decision": ("Permission decisions on tool calls.", ("tool_name", "decision", "source")),
    "user_prompt": ("Prompts (a count, never their text).", ()),
    "subagent_completed": ("Subagents that finished.", ("agent_type",)),
    "compaction": ("Conversation compactions.", ("trigger", "success")),
    "permission_mode_changed": ("Permission-mode changes.", ("from_mode", "to_mode")),
    "mcp_server_connection": ("MCP server connection attempts.", ("status", "transport_type")),
    "auth": ("Sign-ins and sign-outs.", ("action", "success")),
}
_COUNTED_KEYS = tuple(sorted({k for _, keys in EVENT_COUNTS.values() for k in keys}))
# Durations from events become histograms (claude_code.<name>, in ms), by one key and the team
# labels only: never by person or session, so their series stay few. Values arrive as numbers
# or as strings ("20"); both are read as numbers.
EVENT_DURATIONS: dict[str, tuple[str, str, str, str]] = {
    # name: (event, value key, by key, description)
    "api_request.duration": (
        "api_request",
        "duration_ms",
        "model",
        "Model API request latency, from request to the last token.",
    ),
    "api_request.ttft": (
        "api_request",
        "ttft_ms",
        "model",
        "Model API time to first token.",
    ),
    "tool_result.duration": ("tool_result", "duration_ms", "tool_name", "Tool run time."),
}
# Tens of milliseconds to minutes.
DURATION_BUCKETS_MS = (
    25,
    50,
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    20_000,
    30_000,
    60_000,
    120_000,
    300_000,
)
_DURATION_KEYS = tuple(sorted({spec[1] for spec in EVENT_DURATIONS.values()}))
DURATIONS = "signal_to_metrics"
# Events keep only these keys. Everything else an event carries goes first thing, whatever a
# developer switched on: prompt text, assistant responses, tool parameters and content, raw API
# bodies, workspace paths never pass the Collector's door.
EVENT_ATTRIBUTES = (
    "user.id",
    "session.id",
    "terminal.type",
    "event.name",
    *_COUNTED_KEYS,
    *_DURATION_KEYS,
)
# An event's body is its name (claude_code.<event>); any other body is emptied.
EVENT_BODY = r"^claude_code[.][a-z_]{1,64}$"
# The resource becomes Prometheus' target_info and job: Claude Code's own keys only.
RESOURCE_ATTRIBUTES = ("service.name", "service.version", "os.type", "os.version", "host.arch")
# `job` comes from service.name: Claude Code's (claude-code, claude-code-desktop) or stackkit's
# own senders; anything else is written as "unknown", never as the stack's own jobs.
SERVICE_NAME = r"^(claude-code|stackkit)(-[a-z]{1,32})?$"
ACCEPTED = "filter/accepted"
QUEUE_STORAGE = "file_storage/queue"
EVENT_STREAMS = "delta_to_cumulative/events"

_DELTA = "metric.aggregation_temporality == AGGREGATION_TEMPORALITY_DELTA"
_CUMULATIVE = "metric.aggregation_temporality == AGGREGATION_TEMPORALITY_CUMULATIVE"

# A client clock off by more than this has its running totals' start times moved with their
# timestamps. Within it they are kept exactly: a start moved by each request's own transit time
# would shift a little with every point, and a start after a sample Prometheus already holds
# reads as a counter reset (the stream's total counted twice).
CLOCK_SKEW_NS = 60 * 1_000_000_000
_SKEWED = (
    f"(UnixNano(Now()) - datapoint.time_unix_nano > {CLOCK_SKEW_NS} or "
    f"datapoint.time_unix_nano - UnixNano(Now()) > {CLOCK_SKEW_NS})"
)

ARRIVAL_STATEMENTS = (
    # A running total from a skewed clock keeps its own start, moved as its timestamp is.
    "set(datapoint.start_time_unix_nano, datapoint.start_time_unix_nano + UnixNano(Now()) - "
    f"datapoint.time_unix_nano) where {_CUMULATIVE} and datapoint.start_time_unix_nano > 0 "
    f"and {_SKEWED}",
    "set(datapoint.time_unix_nano, UnixNano(Now()))",
    f"set(datapoint.start_time_unix_nano, datapoint.time_unix_nano - 1000000) where {_DELTA}",
    f'set(datapoint.attributes["{INSTANCE_ATTRIBUTE}"], "${{env:HOSTNAME}}") where {_DELTA}',
)


# Running totals are told apart by the process that counts them. Only the stack sets this key:
# a client's own value is removed first (on deltas too, where it would only add series).
PROCESS_STATEMENTS = (
    f'delete_key(datapoint.attributes, "{PROCESS_ATTRIBUTE}")',
    f'set(datapoint.attributes["{PROCESS_ATTRIBUTE}"], datapoint.start_time_unix_nano / 1000000)'
    f" where {_CUMULATIVE} and datapoint.start_time_unix_nano > 0",
)


def _policy(key: str, policy: str) -> list[str]:
    attr = f'datapoint.attributes["{key}"]'
    if policy == "drop":
        return [f'delete_key(datapoint.attributes, "{key}")']
    if policy == "hash":
        return [f"set({attr}, SHA256({attr})) where {attr} != nil"]
    return []


def _promote(context: str, labels: tuple[str, ...]) -> list[str]:
    # Claude Code copies OTEL_RESOURCE_ATTRIBUTES onto points itself; other senders may not.
    return [
        f'set({context}.attributes["{k}"], resource.attributes["{k}"])'
        f' where {context}.attributes["{k}"] == nil and resource.attributes["{k}"] != nil'
        for k in labels
    ]


def _event_counts(cfg: StackConfig) -> dict[str, Any]:
    """The count connector's metrics: one per counted event (see EVENT_COUNTS)."""
    common = [{"key": k, "default_value": ""} for k in cfg.attributes.labels]
    if cfg.attributes.user_id != "drop":
        common.append({"key": "user.id", "default_value": ""})
    return {
        f"claude_code.{event}.count": {
            "description": f"{description} (from {event} events)",
            "conditions": [f'log.body == "claude_code.{event}"'],
            "attributes": [{"key": k, "default_value": ""} for k in keys] + common,
        }
        for event, (description, keys) in EVENT_COUNTS.items()
    }


def _event_durations(cfg: StackConfig) -> dict[str, Any]:
    """The signal-to-metrics connector's histograms (see EVENT_DURATIONS)."""
    team = [{"key": k, "default_value": ""} for k in cfg.attributes.labels]
    return {
        "logs": [
            {
                "name": f"claude_code.{name}",
                "description": description,
                "unit": "ms",
                "conditions": [
                    f'log.body == "claude_code.{event}" and log.attributes["{key}"] != nil'
                ],
                "attributes": [{"key": by, "default_value": ""}, *team],
                "include_resource_attributes": [
                    {"key": k} for k in ("service.name", *cfg.attributes.labels)
                ],
                "histogram": {
                    "buckets": list(DURATION_BUCKETS_MS),
                    "count": "1",
                    "value": f'Double(log.attributes["{key}"])',
                },
            }
            for name, (event, key, by, description) in EVENT_DURATIONS.items()
        ]
    }


def _ottl_list(keys: tuple[str, ...]) -> str:
    return "[" + ", ".join(f'"{k}"' for k in keys) + "]"


def _resource_door(cfg: StackConfig, keys: tuple[str, ...]) -> list[str]:
    """Keep only ``keys`` and attributes.labels of a resource, bounded; `job` (service.name) is
    Claude Code's or stackkit's own, else "unknown"."""
    return [
        f"keep_keys(resource.attributes, {_ottl_list(keys + tuple(cfg.attributes.labels))})",
        f"truncate_all(resource.attributes, {MAX_VALUE_CHARS})",
        'set(resource.attributes["service.name"], "unknown")'
        f' where not IsMatch(resource.attributes["service.name"], "{SERVICE_NAME}")',
    ]


_REPO_METRICS = "^(" + "|".join(m.replace(".", "[.]") for m in repo.METRICS) + ")$"


def _door(cfg: StackConfig) -> tuple[dict[str, Any], list[str], list[str]]:
    """The filter that drops foreign metrics, and the resource and point statements that keep
    only known keys (each list runs before the bounds)."""
    labels = tuple(cfg.attributes.labels)
    accepted = {
        "error_mode": "ignore",
        "metrics": {
            "metric": [
                f'not IsMatch(metric.name, "{ACCEPTED_METRIC_NAME}")',
                "metric.type != METRIC_DATA_TYPE_SUM",
                "metric.is_monotonic == false",
            ]
        },
    }
    # Merged streams (session.id or user.id dropped) are one series per person or team across
    # machines: their resource keeps only what names the series, as events' do.
    merged = cfg.attributes.merges_streams
    resource = _resource_door(cfg, ("service.name",) if merged else RESOURCE_ATTRIBUTES)
    if cfg.attributes.repo == "drop":
        return (
            accepted,
            resource,
            [f"keep_keys(datapoint.attributes, {_ottl_list(POINT_ATTRIBUTES + labels)})"],
        )
    # git.repo on the cost and token points only (the leaderboard's), cleaned as the shell
    # function cleans it: whatever a client sends, no credential or odd character stays.
    keep = POINT_ATTRIBUTES + labels + (repo.ATTRIBUTE,)
    points = [
        f"keep_keys(datapoint.attributes, {_ottl_list(keep)})",
        f'delete_key(datapoint.attributes, "{repo.ATTRIBUTE}")'
        f' where not IsMatch(metric.name, "{_REPO_METRICS}")',
        *repo.ottl_statements("datapoint"),
    ]
    return accepted, resource, points


def _event_door(cfg: StackConfig) -> tuple[list[str], list[str]]:
    """The resource and event statements that delete everything but the keys events are
    counted by: content never passes, whatever the client's switches say."""
    labels = tuple(cfg.attributes.labels)
    # A value may arrive as a number or a string (status_code 529 or "529", success true or
    # "true"): either lands in one series.
    as_strings = [
        f'set(log.attributes["{k}"], String(log.attributes["{k}"]))'
        f' where log.attributes["{k}"] != nil and not IsString(log.attributes["{k}"])'
        for k in _COUNTED_KEYS
    ]
    # A duration that is not a plain number of milliseconds is dropped, not measured.
    numbers = [
        f'delete_key(log.attributes, "{k}") where log.attributes["{k}"] != nil and'
        f' not IsMatch(String(log.attributes["{k}"]), "^[0-9]{{1,10}}([.][0-9]{{1,6}})?$")'
        for k in _DURATION_KEYS
    ]
    events = [
        f"keep_keys(log.attributes, {_ottl_list(EVENT_ATTRIBUTES + labels)})",
        *numbers,
        *as_strings,
        'set(log.body, "") where not IsString(log.body)',
        f'set(log.body, "") where IsString(log.body) and not IsMatch(log.body, "{EVENT_BODY}")',
    ]
    # Counts and durations are by person or team, never by machine: developers' resources
    # (OS, version) differ, and streams of one series from several resources would each keep
    # a running total of their own, written to that one series in turn. So an event's resource
    # keeps only what names the series (service.name and the labels).
    return _resource_door(cfg, ("service.name",)), events


def _transform(context: str, statements: list[str], *before: dict[str, Any]) -> dict[str, Any]:
    key = "metric_statements" if context == "datapoint" else "log_statements"
    groups = [*before, {"context": context, "statements": statements}]
    return {"error_mode": "ignore", key: groups}


def persistent_queue(cfg: StackConfig) -> bool:
    """The export queue lives on disk (the Docker target keeps a volume for it)."""
    return cfg.target == "docker" and cfg.collector.export != "scrape"


def _exporter(cfg: StackConfig) -> tuple[str, dict[str, Any]]:
    col = cfg.collector
    base = f"http://{PROMETHEUS_HOST}:{cfg.prometheus.port}"
    retry = {
        "enabled": True,
        "initial_interval": "1s",
        "max_interval": "30s",
        "max_elapsed_time": "0s",  # retry for as long as Prometheus is away
    }
    if col.export == "scrape":
        return "prometheus", {
            "endpoint": f"0.0.0.0:{col.metrics_port}",
            "metric_expiration": col.metric_expiration,
            "enable_open_metrics": True,
            # Each sample keeps its arrival stamp: two Collectors showing one client's running
            # total (its connection moved) then add one sample each to one series.
            "send_timestamps": True,
            "resource_to_telemetry_conversion": {"enabled": False},
        }
    queue: dict[str, Any] = {
        "enabled": True,
        "sizer": "requests",
        "queue_size": col.queue_size,
        # One consumer keeps every series' points in order (Prometheus rejects a whole request
        # for one out-of-order sample).
        "num_consumers": 1,
        "block_on_overflow": True,
    }
    if persistent_queue(cfg):
        queue["storage"] = QUEUE_STORAGE
    exporter: dict[str, Any] = {
        "endpoint": f"{base}/api/v1/otlp",
        "compression": "none",
        "timeout": "30s",
        "sending_queue": queue,
        "retry_on_failure": retry,
    }
    if prometheus_protected(cfg):
        # Prometheus takes writes from the Collector only (see stackkit.prometheus_auth).
        exporter["headers"] = {"Authorization": f"${{env:{PROMETHEUS_AUTH_ENV}}}"}
    return "otlp_http/prometheus", exporter


def config(cfg: StackConfig) -> dict[str, Any]:
    """The Collector configuration for ``cfg``."""
    col, attrs = cfg.collector, cfg.attributes
    extensions: dict[str, Any] = {"health_check": {"endpoint": f"0.0.0.0:{col.health_port}"}}
    if col.auth.enabled:
        extensions["bearertokenauth"] = {
            "scheme": "Bearer",
            "token": f"${{env:{col.auth.token_env}}}",
        }
    if persistent_queue(cfg):
        extensions[QUEUE_STORAGE] = {
            "directory": OTELCOL_QUEUE_DIR,
            "create_directory": True,
            "compaction": {
                "on_start": True,
                "on_rebound": True,
                "directory": OTELCOL_QUEUE_DIR,
            },
        }

    protocols: dict[str, Any] = {}
    for name, listener in (("grpc", col.grpc), ("http", col.http)):
        if not listener.enabled:
            continue
        proto: dict[str, Any] = {"endpoint": f"0.0.0.0:{listener.port}"}
        if name == "grpc":
            proto["max_recv_msg_size_mib"] = MAX_REQUEST_MIB
        else:
            proto["max_request_body_size"] = MAX_REQUEST_MIB << 20
        if col.auth.enabled:
            proto["auth"] = {"authenticator": "bearertokenauth"}
        if col.tls.enabled:
            proto["tls"] = {
                "cert_file": f"{OTELCOL_TLS_DIR}/tls.crt",
                "key_file": f"{OTELCOL_TLS_DIR}/tls.key",
            }
        protocols[name] = proto

    merge = attrs.merges_streams
    stream_statements = [
        # Merged streams are deltas by now, and deltas of several processes add up.
        *([f'delete_key(datapoint.attributes, "{PROCESS_ATTRIBUTE}")'] if merge else []),
        *_policy("session.id", attrs.session_id),
        *_policy("user.id", attrs.user_id),
        *ARRIVAL_STATEMENTS,
    ]
    processors: dict[str, Any] = {
        "memory_limiter": {
            "check_interval": "1s",
            "limit_mib": col.memory_limit_mib,
            "spike_limit_mib": max(col.memory_limit_mib // 5, 16),
        },
        "batch": {
            "timeout": col.batch.timeout,
            "send_batch_size": col.batch.send_batch_size,
            "send_batch_max_size": col.batch.send_batch_max_size,
        },
    }
    bounds = {
        context: [
            f"limit({context}.attributes, {MAX_ATTRIBUTES}, {_KEEP})".replace("'", '"'),
            f"truncate_all({context}.attributes, {MAX_VALUE_CHARS})",
        ]
        for context in ("datapoint", "log")
    }
    accepted, resource_door, point_door = _door(cfg)
    processors[ACCEPTED] = accepted
    processors["transform/labels"] = _transform(
        "datapoint",
        point_door
        + bounds["datapoint"]
        + [*PROCESS_STATEMENTS]
        + _promote("datapoint", attrs.labels),
        {"context": "resource", "statements": resource_door},
    )
    resource_events, event_door = _event_door(cfg)
    processors["transform/events"] = _transform(
        "log",
        event_door + bounds["log"] + _promote("log", attrs.labels),
        {"context": "resource", "statements": resource_events},
    )
    metric_chain = ["memory_limiter", ACCEPTED, "transform/labels"]
    log_chain = ["memory_limiter", "transform/events"]
    metric_chain.append("batch")
    if merge:
        # Attributes that tell processes apart are removed below, so running totals are turned
        # into deltas first: merged deltas add up, merged running totals would not.
        processors["cumulative_to_delta"] = {}
        metric_chain.append("cumulative_to_delta")
    processors["transform/streams"] = _transform("datapoint", stream_statements)
    streams = {"max_stale": col.max_stale, "max_streams": col.series_limit}
    processors["delta_to_cumulative"] = streams
    processors[EVENT_STREAMS] = dict(streams)
    metric_chain += ["transform/streams", "delta_to_cumulative"]
    # Event counts keep their running totals in a table of their own: a sender flooding the
    # metrics with made-up streams cannot take their places (their keys hold no session.id).
    event_chain = ["batch", "transform/streams", EVENT_STREAMS]
    if col.export != "scrape":
        processors["interval"] = {"interval": col.push_interval}
        processors["transform/departure"] = _transform(
            "datapoint", ["set(datapoint.time_unix_nano, UnixNano(Now()))"]
        )
        metric_chain += ["interval", "transform/departure"]
        event_chain += ["interval", "transform/departure"]

    exporter, exporter_config = _exporter(cfg)
    return {
        "extensions": extensions,
        "receivers": {"otlp": {"protocols": protocols}},
        "processors": processors,
        "connectors": {
            "count": {"logs": _event_counts(cfg)},
            DURATIONS: _event_durations(cfg),
        },
        "exporters": {exporter: exporter_config},
        "service": {
            "extensions": list(extensions),
            "telemetry": {
                "logs": {"level": "info"},
                "metrics": {
                    "level": "detailed",
                    "readers": [
                        {
                            "pull": {
                                "exporter": {
                                    "prometheus": {
                                        "host": "0.0.0.0",
                                        "port": col.telemetry_port,
                                    }
                                }
                            }
                        }
                    ],
                },
            },
            "pipelines": {
                "metrics": {
                    "receivers": ["otlp"],
                    "processors": metric_chain,
                    "exporters": [exporter],
                },
                "metrics/events": {
                    "receivers": ["count", DURATIONS],
                    "processors": event_chain,
                    "exporters": [exporter],
                },
                "logs": {
                    "receivers": ["otlp"],
                    "processors": log_chain,
                    "exporters": ["count", DURATIONS],
                },
            },
        },
    }
