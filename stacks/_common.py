"""What every target's program receives: plain, resolved data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class StackArgs:
    """Everything a stack program needs; secrets are plain here and become Pulumi secrets."""

    name: str
    files: Mapping[str, str]
    images: Mapping[str, str]
    ports: Mapping[str, int]
    prometheus_args: Sequence[str]
    grafana_admin_password: str
    otlp_token: str | None = None
    token_env: str = "STACKKIT_OTLP_TOKEN"
    remote_write_secrets: Mapping[str, str] = field(default_factory=dict)
    tls_files: Mapping[str, str] = field(default_factory=dict)
    """The Collector's certificate and key (``tls.crt``, ``tls.key``); empty without TLS."""
    bind_address: str = "127.0.0.1"
    running: bool = True
    """False keeps only the data volumes: what `stackkit down` leaves behind."""

    def files_under(self, prefix: str) -> dict[str, str]:
        """Rendered files below ``prefix/``, keyed by their path relative to it."""
        start = prefix.rstrip("/") + "/"
        return {p[len(start) :]: t for p, t in sorted(self.files.items()) if p.startswith(start)}
