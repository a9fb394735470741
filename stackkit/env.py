"""What a developer's shell or Claude Code settings need to report to the stack. Pure.

Standard library only: `stackkit env` runs in shell start-up files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from .shells import FORMATS, format_env

__all__ = ["FORMATS", "PROTOCOLS", "ClientSettings", "Endpoint", "env_vars", "format_env"]

PROTOCOLS = ("grpc", "http/protobuf")


@dataclass(frozen=True)
class Endpoint:
    """Where Claude Code sends OTLP, and how."""

    url: str
    protocol: str
    token: str | None = None
    ca_file: str | None = None
    note: str | None = None
    """Why developers' machines may not reach ``url`` (said on stderr, never cached)."""


@dataclass(frozen=True)
class ClientSettings:
    """Client-side choices that do not depend on where the stack runs."""

    resource_attributes: Mapping[str, str] = field(default_factory=dict)
    metric_export_interval_ms: int = 60000
    logs_export_interval_ms: int = 5000
    temporality: str = "cumulative"
    """Cumulative points survive a lost export, so they are the choice, unless the stack merges
    processes' series (then deltas, which add up: running totals seen first after a Collector
    restart could not be told from ones already counted)."""


def encode_resource_attributes(attrs: Mapping[str, str]) -> str:
    """``k=v,k=v`` percent-encoded, as the OpenTelemetry spec requires.

    Keys are validated before they get here; encoding them too means a ``,`` or ``=`` can never
    smuggle in another attribute.
    """
    return ",".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(attrs.items()))


def env_vars(endpoint: Endpoint, client: ClientSettings) -> dict[str, str]:
    """The environment variables Claude Code reads, in a stable order."""
    env = {
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": endpoint.protocol,
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint.url,
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": client.temporality,
        "OTEL_METRIC_EXPORT_INTERVAL": str(client.metric_export_interval_ms),
        "OTEL_LOGS_EXPORT_INTERVAL": str(client.logs_export_interval_ms),
        # Keep each process's series apart: merged cumulative series corrupt totals. The
        # Collector drops or hashes session.id safely when the config asks for it.
        "OTEL_METRICS_INCLUDE_SESSION_ID": "true",
    }
    if endpoint.token:
        env["OTEL_EXPORTER_OTLP_HEADERS"] = f"Authorization=Bearer {endpoint.token}"
    if endpoint.ca_file:
        ca_var = (
            "OTEL_EXPORTER_OTLP_CERTIFICATE"
            if endpoint.protocol == "grpc"
            else "NODE_EXTRA_CA_CERTS"
        )
        env[ca_var] = endpoint.ca_file
    if client.resource_attributes:
        env["OTEL_RESOURCE_ATTRIBUTES"] = encode_resource_attributes(client.resource_attributes)
    return env
