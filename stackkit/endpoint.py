"""Where a developer's Claude Code should send telemetry: the deployed stack, else the config.

Flags (``--protocol``, ``--endpoint``, ``--attr``) are checked with the config's own types, so a
flag can carry nothing the config file could not.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .config import (
    AttributeValue,
    GrpcEndpoint,
    HttpEndpoint,
    StackConfig,
    check_attribute_count,
    check_flag,
)
from .env import PROTOCOLS, ClientSettings, Endpoint
from .errors import ConfigError
from .fields import AttributeKey
from .state import TOKEN_FILE, read_outputs, secret


def otlp_token(cfg: StackConfig) -> str | None:
    """The bearer token clients send, or None when authentication is off.

    Every way a token enters (the variable, the state file, generation) passes
    :func:`stackkit.tokens.token_problem`: `up`, `env` and `secret` refuse one that could not
    travel in OTEL_EXPORTER_OTLP_HEADERS.
    """
    auth = cfg.collector.auth
    return secret(cfg.name, TOKEN_FILE, auth.token_env, token=True) if auth.enabled else None


def default_protocol(cfg: StackConfig) -> str:
    """The configured client protocol, else gRPC when the Collector listens for it."""
    if cfg.client.protocol:
        return cfg.client.protocol
    return "grpc" if cfg.collector.grpc.enabled else "http/protobuf"


def resolve_endpoint(
    cfg: StackConfig, protocol: str | None = None, url: str | None = None
) -> Endpoint:
    """The endpoint for ``protocol``: the flag, else the config's client endpoint (the address
    developers reach a shared stack by), else the deployed stack's outputs, else localhost.
    ``Endpoint.note`` says when developers' machines likely cannot reach what is printed."""
    protocol = protocol or default_protocol(cfg)
    if protocol not in PROTOCOLS:
        raise ConfigError("--protocol", [f"{protocol!r} is not one of {', '.join(PROTOCOLS)}"])
    listener = cfg.collector.grpc if protocol == "grpc" else cfg.collector.http
    if not listener.enabled:
        raise ConfigError(
            "--protocol",
            [
                f"the Collector does not listen for {protocol}: enable collector."
                f"{'grpc' if protocol == 'grpc' else 'http'} in the config or choose the "
                "other protocol"
            ],
        )
    note = None
    if url is not None:
        url = check_flag("--endpoint", url, GrpcEndpoint if protocol == "grpc" else HttpEndpoint)
    if url is None:
        url = cfg.client.grpc_endpoint if protocol == "grpc" else cfg.client.http_endpoint
    if url is None:
        outputs = read_outputs(cfg.name) or {}
        url = (outputs.get("otlp_endpoints") or {}).get(protocol)
        through_ingress = protocol in (outputs.get("ingress_protocols") or [])
        if url is not None and outputs.get("exposure") == "ClusterIP" and not through_ingress:
            note = (
                f"{url} answers only inside the cluster (the Collector's Service is "
                "ClusterIP): for developers' machines set kubernetes.collector_service_type "
                "(NodePort, LoadBalancer), kubernetes.ingress.otlp_host, or client."
                f"{'grpc' if protocol == 'grpc' else 'http'}_endpoint"
            )
    if url is None:
        scheme = "https" if cfg.collector.tls.enabled else "http"
        if cfg.target == "kubernetes":
            url = f"{scheme}://otelcol.{cfg.kubernetes.namespace}.svc:{listener.port}"
            note = (
                f"the stack is not deployed from here (no `stackkit up`) and the config names no "
                f"client endpoint: {url} is the in-cluster address. Set client."
                f"{'grpc' if protocol == 'grpc' else 'http'}_endpoint to the address developers "
                "reach"
            )
        else:
            url = f"{scheme}://localhost:{listener.port}"
    ca = cfg.collector.tls.ca_file
    if ca is not None:
        check_ca_file(ca)
    return Endpoint(
        url=url.rstrip("/"),
        protocol=protocol,
        token=otlp_token(cfg),
        ca_file=str(ca) if ca else None,
        note=note,
    )


def check_ca_file(path: Path) -> None:
    """ConfigError unless ``path`` is a readable regular file."""
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            problem = "is not a file"
        elif not os.access(path, os.R_OK):
            problem = "is not readable"
        else:
            return
    except FileNotFoundError:
        problem = "does not exist"
    except OSError as e:
        problem = f"cannot be read ({e.strerror or e})"
    raise ConfigError(
        "collector.tls.ca_file",
        [f"{path} {problem} (a relative path is relative to the config file's folder)"],
    )


def client_settings(cfg: StackConfig, attributes: dict[str, str] | None = None) -> ClientSettings:
    """Client settings from the config, with ``--attr`` flags layered on top."""
    flags = {
        check_flag("--attr", key, AttributeKey): check_flag("--attr", value, AttributeValue)
        for key, value in (attributes or {}).items()
    }
    merged = {**cfg.client.resource_attributes, **flags}
    try:
        check_attribute_count(len(merged))
    except ValueError as e:
        raise ConfigError("--attr", [str(e)]) from None
    return ClientSettings(
        resource_attributes=merged,
        metric_export_interval_ms=cfg.client.metric_export_interval_ms,
        logs_export_interval_ms=cfg.client.logs_export_interval_ms,
        temporality="delta" if cfg.attributes.merges_streams else "cumulative",
    )
