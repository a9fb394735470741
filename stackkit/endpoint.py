"""Where a developer's Claude Code should send telemetry: the deployed stack, else the config."""

from __future__ import annotations

from .config import StackConfig
from .env import PROTOCOLS, ClientSettings, Endpoint
from .errors import StackkitError
from .state import TOKEN_FILE, read_outputs, secret


def otlp_token(cfg: StackConfig) -> str | None:
    """The bearer token clients send, or None when authentication is off."""
    auth = cfg.collector.auth
    return secret(cfg.name, TOKEN_FILE, auth.token_env) if auth.enabled else None


def default_protocol(cfg: StackConfig) -> str:
    """The configured client protocol, else gRPC when the Collector listens for it."""
    if cfg.client.protocol:
        return cfg.client.protocol
    return "grpc" if cfg.collector.grpc.enabled else "http/protobuf"


def resolve_endpoint(
    cfg: StackConfig, protocol: str | None = None, url: str | None = None
) -> Endpoint:
    """The endpoint for ``protocol``: flag, then the deployed stack's outputs, then the config."""
    protocol = protocol or default_protocol(cfg)
    if protocol not in PROTOCOLS:
        raise StackkitError(f"--protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    listener = cfg.collector.grpc if protocol == "grpc" else cfg.collector.http
    if not listener.enabled:
        raise StackkitError(
            f"the Collector does not listen for {protocol}: enable collector."
            f"{'grpc' if protocol == 'grpc' else 'http'} in the config or choose the other protocol"
        )
    if url is None:
        outputs = read_outputs(cfg.name) or {}
        url = outputs.get("otlp_endpoints", {}).get(protocol)
    if url is None:
        url = cfg.client.grpc_endpoint if protocol == "grpc" else cfg.client.http_endpoint
    if url is None:
        scheme = "https" if cfg.collector.tls.enabled else "http"
        url = f"{scheme}://localhost:{listener.port}"
    ca = str(cfg.collector.tls.ca_file) if cfg.collector.tls.ca_file else None
    return Endpoint(url=url.rstrip("/"), protocol=protocol, token=otlp_token(cfg), ca_file=ca)


def client_settings(cfg: StackConfig, attributes: dict[str, str] | None = None) -> ClientSettings:
    """Client settings from the config, with ``--attr`` flags layered on top."""
    return ClientSettings(
        resource_attributes={**cfg.client.resource_attributes, **(attributes or {})},
        metric_export_interval_ms=cfg.client.metric_export_interval_ms,
        logs_export_interval_ms=cfg.client.logs_export_interval_ms,
    )
