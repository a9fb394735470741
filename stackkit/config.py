"""The typed configuration (`stackkit.yaml`) and the one place that resolves it.

Precedence is CLI flag > file > default, resolved only in :func:`load_config`. Unknown keys are
errors, and every validation problem becomes one ``field.path: message`` line naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import versions
from .errors import ConfigError

DEFAULT_CONFIG_FILE = "stackkit.yaml"

# Prometheus-style durations (also accepted by the Collector): 30s, 5m, 1h30m, 15d, 1y.
Duration = Annotated[str, Field(pattern=r"^([0-9]+(ms|s|m|h|d|w|y))+$")]
Port = Annotated[int, Field(ge=1, le=65535)]
# Environment variable names hold secrets; the secrets themselves never live in the file.
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
# An OpenTelemetry attribute key such as team.id or cost_center.
AttributeKey = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]*$", max_length=128)]
AttributePolicy = Literal["keep", "drop", "hash"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GrpcListener(_Model):
    """The OTLP/gRPC listener."""

    enabled: bool = True
    port: Port = 4317


class HttpListener(_Model):
    """The OTLP/HTTP listener."""

    enabled: bool = True
    port: Port = 4318


class AuthConfig(_Model):
    """Bearer-token authentication on the OTLP endpoints."""

    enabled: bool = True
    token_env: EnvName = Field(
        "STACKKIT_OTLP_TOKEN",
        description="Environment variable holding the token; if unset, one is generated and "
        "kept in stackkit's state directory with owner-only permissions.",
    )


class TLSConfig(_Model):
    """Server TLS for the OTLP endpoints (both files, or neither)."""

    cert_file: Path | None = None
    key_file: Path | None = None
    ca_file: Path | None = Field(
        None, description="CA bundle clients need to trust the certificate (self-signed CAs)."
    )

    @model_validator(mode="after")
    def _both_or_neither(self) -> TLSConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("set both cert_file and key_file, or neither")
        return self

    @property
    def enabled(self) -> bool:
        """True when the endpoints serve TLS."""
        return self.cert_file is not None


class BatchConfig(_Model):
    """The Collector's batch processor: it also puts points in order before delta-to-cumulative."""

    timeout: Duration = "1s"
    send_batch_size: int = Field(2048, ge=1)
    send_batch_max_size: int = Field(4096, ge=1)

    @model_validator(mode="after")
    def _max_not_below_size(self) -> BatchConfig:
        if self.send_batch_max_size < self.send_batch_size:
            raise ValueError("send_batch_max_size must be >= send_batch_size")
        return self


class CollectorConfig(_Model):
    """The OpenTelemetry Collector that receives Claude Code's OTLP."""

    grpc: GrpcListener = GrpcListener()
    http: HttpListener = HttpListener()
    auth: AuthConfig = AuthConfig()
    tls: TLSConfig = TLSConfig()
    memory_limit_mib: int = Field(512, ge=64)
    batch: BatchConfig = BatchConfig()
    health_port: Port = 13133
    metrics_port: Port = Field(
        8889, description="Port of the Prometheus exporter Prometheus scrapes."
    )
    telemetry_port: Port = Field(8888, description="Port of the Collector's own metrics.")
    export: Literal["otlp", "remote_write", "scrape"] = Field(
        "otlp",
        description="How data reaches Prometheus: otlp (pushed to Prometheus' OTLP receiver "
        "through a queue that survives restarts), remote_write (pushed with the remote-write "
        "protocol), or scrape (Prometheus scrapes the Collector's exporter: for a Prometheus "
        "that only scrapes, such as one run by the Prometheus Operator).",
    )
    max_stale: Duration = Field(
        "5m",
        description="How long the Collector keeps the running total of a stream that receives "
        "nothing (delta-to-cumulative). A stream that comes back later starts from zero again, "
        "which Prometheus counts as a counter reset: totals stay exact.",
    )
    push_interval: Duration = Field(
        "5s",
        description="With a push export, how often each stream's latest running total is sent.",
    )
    queue_size: int = Field(
        5000,
        ge=10,
        description="Batches the Collector holds (on disk with the docker target) while "
        "Prometheus cannot take them; when full, clients are refused.",
    )
    metric_expiration: Duration = Field(
        "24h",
        description="With export: scrape, how long the exporter keeps a series without updates "
        "(short values make one-shot counters vanish from Prometheus).",
    )

    @model_validator(mode="after")
    def _one_protocol_and_distinct_ports(self) -> CollectorConfig:
        if not (self.grpc.enabled or self.http.enabled):
            raise ValueError("enable at least one of grpc and http")
        ports = [
            self.grpc.port,
            self.http.port,
            self.health_port,
            self.metrics_port,
            self.telemetry_port,
        ]
        if len(set(ports)) != len(ports):
            raise ValueError(
                f"grpc, http, health, metrics and telemetry ports must differ: {ports}"
            )
        return self


class AttributesConfig(_Model):
    """What happens to high-cardinality attributes, and which resource attributes become labels."""

    session_id: AttributePolicy = Field(
        "keep",
        description="session.id on metric points: keep (queries aggregate it away), drop "
        "(merged before delta-to-cumulative), or hash.",
    )
    user_id: AttributePolicy = Field(
        "keep", description="user.id on metric points and event counts: keep, drop or hash."
    )
    labels: tuple[AttributeKey, ...] = Field(
        ("team.id", "department", "cost_center"),
        description="Resource attributes (from OTEL_RESOURCE_ATTRIBUTES) promoted to labels.",
    )

    @field_validator("labels")
    @classmethod
    def _unique(cls, labels: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(labels)) != len(labels):
            raise ValueError("labels must not repeat")
        return labels


class BasicAuth(_Model):
    """HTTP basic auth; the password comes from an environment variable."""

    username: str
    password_env: EnvName


class RemoteWriteTarget(_Model):
    """A remote-write destination (Mimir, Thanos, a managed Prometheus)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    url: str = Field(pattern=r"^https?://\S+$")
    basic_auth: BasicAuth | None = None
    bearer_token_env: EnvName | None = None
    headers: dict[str, str] = {}

    @model_validator(mode="after")
    def _one_auth(self) -> RemoteWriteTarget:
        if self.basic_auth and self.bearer_token_env:
            raise ValueError("use basic_auth or bearer_token_env, not both")
        if any(h.lower() == "authorization" for h in self.headers):
            raise ValueError("put credentials in basic_auth or bearer_token_env, not headers")
        return self


class PrometheusConfig(_Model):
    """Prometheus: storage, intervals, and optional remote-write targets."""

    retention_time: Duration = "30d"
    retention_size: str | None = Field(None, pattern=r"^[0-9]+(B|KB|MB|GB|TB|PB|EB)$")
    scrape_interval: Duration = "15s"
    evaluation_interval: Duration = "15s"
    port: Port = 9090
    alertmanager_url: str | None = Field(None, pattern=r"^https?://\S+$")
    memory_limit_mib: int = Field(2048, ge=256, description="Memory limit (Kubernetes).")
    remote_write: tuple[RemoteWriteTarget, ...] = ()

    @field_validator("remote_write")
    @classmethod
    def _unique_names(cls, targets: tuple[RemoteWriteTarget, ...]) -> tuple[RemoteWriteTarget, ...]:
        names = [t.name for t in targets]
        if len(set(names)) != len(names):
            raise ValueError("remote_write names must be unique")
        return targets


class GrafanaConfig(_Model):
    """Grafana: admin account, access and URL."""

    admin_user: str = Field("admin", min_length=1)
    admin_password_env: EnvName | None = Field(
        None, description="Environment variable with the admin password; generated if unset."
    )
    anonymous_access: bool = False
    root_url: str | None = Field(None, pattern=r"^https?://\S+$")
    port: Port = 3000


class AlertsConfig(_Model):
    """Thresholds for the alert rules."""

    monthly_budget_usd: float | None = Field(
        None, gt=0, description="Alert when the last 30 days, or the current pace, exceed it."
    )
    user_spend_usd_per_hour: float = Field(
        20.0, gt=0, description="Alert when one person spends more than this in an hour."
    )
    team_spend_usd_per_hour: float = Field(
        100.0, gt=0, description="Alert when one team spends more than this in an hour."
    )
    no_telemetry_minutes: int = Field(30, ge=5)


class ImagesConfig(_Model):
    """Image overrides per component, and a registry prefix for mirrored images."""

    registry: str | None = Field(None, pattern=r"^[A-Za-z0-9.\-:]+(/[A-Za-z0-9._\-]+)*$")
    otelcol: str | None = None
    prometheus: str | None = None
    grafana: str | None = None

    def resolve(self, component: str) -> str:
        """The image reference for one component: override, else pin, with the prefix."""
        image = getattr(self, component) or versions.IMAGES[component]
        return f"{self.registry}/{image}" if self.registry else image


class DockerConfig(_Model):
    """The local Docker target."""

    bind_address: str = Field("127.0.0.1", pattern=r"^[0-9.]+$|^::1?$")


class KubernetesConfig(_Model):
    """The Kubernetes target."""

    namespace: str = Field("stackkit", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)
    kubeconfig: Path | None = None
    context: str | None = None
    storage_class: str | None = None
    prometheus_storage: str = Field("20Gi", pattern=r"^[0-9]+(Mi|Gi|Ti)$")
    grafana_storage: str = Field("2Gi", pattern=r"^[0-9]+(Mi|Gi|Ti)$")
    collector_service_type: Literal["ClusterIP", "LoadBalancer", "NodePort"] = "ClusterIP"
    collector_replicas: int = Field(
        2, ge=1, le=20, description="Collector pods; with 2 or more a rollout never stops intake."
    )


class ClientConfig(_Model):
    """What `stackkit env` tells Claude Code on developers' machines."""

    grpc_endpoint: str | None = Field(
        None,
        pattern=r"^https?://[^\s/]+/?$",
        description="OTLP/gRPC URL clients use for a shared stack, e.g. "
        "https://otel.example.com:4317; "
        "default: localhost and the Collector's gRPC port.",
    )
    http_endpoint: str | None = Field(
        None,
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        description="OTLP/HTTP base URL clients use for a shared stack; default: localhost and "
        "the Collector's HTTP port.",
    )
    protocol: Literal["grpc", "http/protobuf"] | None = Field(
        None, description="Default: grpc when enabled, else http/protobuf."
    )
    resource_attributes: dict[AttributeKey, str] = Field(
        {}, description="Added to every data point, e.g. team.id: platform. Keep them few."
    )
    metric_export_interval_ms: int = Field(60000, ge=1000)
    logs_export_interval_ms: int = Field(5000, ge=1000)

    @field_validator("resource_attributes")
    @classmethod
    def _few(cls, attrs: dict[str, str]) -> dict[str, str]:
        if len(attrs) > 8:
            raise ValueError("at most 8: Claude Code stops exporting with about a dozen")
        return attrs


class StackConfig(_Model):
    """The whole stack."""

    name: str = Field("claude-code", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=40)
    target: Literal["docker", "kubernetes"] = "docker"
    collector: CollectorConfig = CollectorConfig()
    attributes: AttributesConfig = AttributesConfig()
    prometheus: PrometheusConfig = PrometheusConfig()
    grafana: GrafanaConfig = GrafanaConfig()
    alerts: AlertsConfig = AlertsConfig()
    images: ImagesConfig = ImagesConfig()
    docker: DockerConfig = DockerConfig()
    kubernetes: KubernetesConfig = KubernetesConfig()
    client: ClientConfig = ClientConfig()


def _problem_lines(err: ValidationError) -> list[str]:
    lines = []
    for e in err.errors():
        path = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; `stackkit schema` lists every key)"
        elif e["type"] == "string_pattern_mismatch":
            msg = f"{e['input']!r} is not valid here (expected {e['ctx']['pattern']})"
        lines.append(f"{path}: {msg}")
    return lines


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(str(path), [f"cannot read file: {e.strerror or e}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise ConfigError(
            str(path), [f"{where}not valid YAML ({getattr(e, 'problem', e)})"]
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), ["top level must be a mapping of keys to values"])
    return data


def load_config(path: Path | None = None, **overrides: Any) -> StackConfig:
    """Load and validate the configuration.

    ``path`` None means ``./stackkit.yaml`` if it exists, else the defaults. Overrides are
    top-level keys from CLI flags; None values are ignored (flag not given).
    """
    source = "(defaults)"
    data: dict[str, Any] = {}
    if path is not None:
        source = str(path)
        data = _read(path)
    elif Path(DEFAULT_CONFIG_FILE).is_file():
        source = DEFAULT_CONFIG_FILE
        data = _read(Path(DEFAULT_CONFIG_FILE))
    for key, value in overrides.items():
        if value is not None:
            data[key] = value
    try:
        return StackConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(source, _problem_lines(e)) from None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of stackkit.yaml, for editors."""
    schema = StackConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "stackkit.yaml"
    return schema
