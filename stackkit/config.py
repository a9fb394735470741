"""The typed configuration (`stackkit.yaml`) and the one place that resolves it.

Precedence is CLI flag > file > default, resolved only in :func:`load_config`. Unknown keys are
errors, and every validation problem becomes one ``field.path: message`` line naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from . import versions
from .alertmanager import AlertmanagerConfig
from .configfile import read_config_file
from .errors import ConfigError
from .fields import (
    DAY,
    HOUR,
    MINUTE,
    Amount,
    AttributeKey,
    BaseUrl,
    Cidr,
    DnsLabel,
    DnsSubdomain,
    EnvName,
    FilePath,
    HeaderName,
    HeaderValue,
    ImageRef,
    IpAddress,
    KubeLabelKey,
    KubeLabelValue,
    LoginName,
    Port,
    Registry,
    StackName,
    StorageSize,
    Text,
    Url,
    UrlWithQuery,
    UserName,
    VolumeSize,
    go_duration,
    image_reference,
    one_line,
    prom_duration,
    shorten,
    storage_bytes,
    volume_bytes,
)
from .promql import RESERVED_LABELS, prom_label

DEFAULT_CONFIG_FILE = "stackkit.yaml"
AttributePolicy = Literal["keep", "drop", "hash"]
MAX_RESOURCE_ATTRIBUTES = 8


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GrpcListener(_Model):
    """The OTLP/gRPC listener."""

    enabled: StrictBool = True
    port: Port = 4317


class HttpListener(_Model):
    """The OTLP/HTTP listener."""

    enabled: StrictBool = True
    port: Port = 4318


class AuthConfig(_Model):
    """Bearer-token authentication on the OTLP endpoints."""

    enabled: StrictBool = True
    token_env: EnvName = Field(
        "STACKKIT_OTLP_TOKEN",
        description="Environment variable holding the token; if unset, one is generated and "
        "kept in stackkit's state directory with owner-only permissions.",
    )


class TLSConfig(_Model):
    """Server TLS for the OTLP endpoints (both files, or neither)."""

    cert_file: FilePath | None = None
    key_file: FilePath | None = None
    ca_file: FilePath | None = Field(
        None,
        description="CA bundle clients need to trust the certificate (self-signed CAs); a "
        "relative path is relative to the folder of the config file. `stackkit env` checks "
        "that it is a readable file and passes its absolute path to Claude Code.",
    )

    @field_validator("ca_file")
    @classmethod
    def _relative_to_the_config(cls, path: Path | None, info: ValidationInfo) -> Path | None:
        if path is None:
            return None
        base = Path((info.context or {}).get("base_dir") or os.getcwd())
        return Path(os.path.normpath(base / path.expanduser()))

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

    timeout: Annotated[StrictStr, go_duration(1, 10 * MINUTE)] = "1s"
    send_batch_size: StrictInt = Field(2048, ge=1, le=1_000_000)
    send_batch_max_size: StrictInt = Field(4096, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _max_not_below_size(self) -> BatchConfig:
        if self.send_batch_max_size < self.send_batch_size:
            raise ValueError("send_batch_max_size must be >= send_batch_size")
        return self


# Delta streams the Collector holds per MiB of its memory limit, with room for the requests in
# flight and the queue (bench/results-hostile.md).
SERIES_PER_MIB = 400


class CollectorConfig(_Model):
    """The OpenTelemetry Collector that receives Claude Code's OTLP."""

    grpc: GrpcListener = GrpcListener()
    http: HttpListener = HttpListener()
    auth: AuthConfig = AuthConfig()
    tls: TLSConfig = TLSConfig()
    memory_limit_mib: StrictInt = Field(
        1024,
        ge=64,
        le=262_144,
        description="The Collector's memory limiter: past it, clients are refused at the door. "
        "1024 holds 10,000 developers (bench/results-load.md); it also sets max_series' default "
        "and the container's memory limit (a quarter more).",
    )
    batch: BatchConfig = BatchConfig()
    health_port: Port = 13133
    metrics_port: Port = Field(
        8889, description="Port of the Prometheus exporter Prometheus scrapes."
    )
    telemetry_port: Port = Field(8888, description="Port of the Collector's own metrics.")
    export: Literal["otlp", "scrape"] = Field(
        "otlp",
        description="How data reaches Prometheus: otlp (pushed to Prometheus' OTLP receiver "
        "through a queue that survives restarts), or scrape (Prometheus scrapes the Collector's "
        "exporter: for a Prometheus that only scrapes, such as one run by the Prometheus "
        "Operator). A backend that takes only remote write gets it from Prometheus "
        "(prometheus.remote_write).",
    )
    max_stale: Annotated[StrictStr, go_duration(MINUTE, 365 * DAY)] = Field(
        "5m",
        description="How long the Collector keeps the running total of a stream that receives "
        "nothing (delta-to-cumulative). A stream that comes back later starts from zero again, "
        "which Prometheus counts as a counter reset: totals stay exact. A Go duration.",
    )
    max_series: StrictInt | None = Field(
        None,
        ge=1_000,
        le=100_000_000,
        description="Most delta streams the Collector keeps running totals for at once "
        "(delta-to-cumulative); default: what memory_limit_mib holds. Points of further new "
        "streams are dropped and counted, and an alert fires: a sender flooding new attribute "
        "values meets this bound instead of the memory limit, which would refuse everybody. "
        "Streams idle for max_stale free their place.",
    )

    @property
    def series_limit(self) -> int:
        """max_series, or the streams memory_limit_mib holds (measured: bench/hostile.py)."""
        return self.max_series or self.memory_limit_mib * SERIES_PER_MIB

    push_interval: Annotated[StrictStr, go_duration(1000, 10 * MINUTE)] = Field(
        "5s",
        description="With a push export, how often each stream's latest running total is sent.",
    )
    queue_size: StrictInt = Field(
        5000,
        ge=10,
        le=1_000_000,
        description="Batches the Collector holds (on disk with the docker target) while "
        "Prometheus cannot take them; when full, clients are refused.",
    )
    metric_expiration: Annotated[StrictStr, go_duration(MINUTE, 365 * DAY)] = Field(
        "24h",
        description="With export: scrape, how long the exporter keeps a series without updates "
        "(short values make one-shot counters vanish from Prometheus). A Go duration: h, m, s "
        "(720h, not 30d).",
    )

    @model_validator(mode="after")
    def _one_protocol(self) -> CollectorConfig:
        if not (self.grpc.enabled or self.http.enabled):
            raise ValueError("enable at least one of grpc and http")
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
    repo: Literal["keep", "drop"] = Field(
        "keep",
        description="git.repo (sent by the claude function of `stackkit env --repo`) on the "
        "cost and token metrics: keep (cost by repository) or drop.",
    )
    labels: tuple[AttributeKey, ...] = Field(
        ("team.id", "department", "cost_center"),
        max_length=16,
        description="Resource attributes (from OTEL_RESOURCE_ATTRIBUTES) promoted to labels. "
        "Each becomes a Prometheus label (dots and dashes turn into _), so two may not map to "
        "one label, and labels the stack already uses (model, type, user_id, job, …) are taken.",
    )

    @field_validator("labels")
    @classmethod
    def _distinct_free_labels(cls, labels: tuple[str, ...]) -> tuple[str, ...]:
        seen: dict[str, str] = {}
        for key in labels:
            label = prom_label(key)
            if label.startswith("__") or label in RESERVED_LABELS:
                raise ValueError(
                    f"{key!r} would become the label {label!r}, which the stack already uses "
                    "(or Prometheus reserves): choose another attribute"
                )
            if label in seen:
                raise ValueError(
                    f"{seen[label]!r} and {key!r} both become the label {label!r}: keep one"
                )
            seen[label] = key
        return labels

    @property
    def merges_streams(self) -> bool:
        """Attributes that tell processes apart are removed before delta-to-cumulative."""
        return "drop" in (self.session_id, self.user_id)


class BasicAuth(_Model):
    """HTTP basic auth; the password comes from an environment variable."""

    username: UserName
    password_env: EnvName


class RemoteWriteTarget(_Model):
    """A remote-write destination (Mimir, Thanos, a managed Prometheus)."""

    name: DnsLabel
    url: UrlWithQuery
    basic_auth: BasicAuth | None = None
    bearer_token_env: EnvName | None = None
    headers: dict[HeaderName, HeaderValue] = Field({}, max_length=32)

    @model_validator(mode="after")
    def _one_auth(self) -> RemoteWriteTarget:
        if self.basic_auth and self.bearer_token_env:
            raise ValueError("use basic_auth or bearer_token_env, not both")
        if len({h.lower() for h in self.headers}) != len(self.headers):
            raise ValueError("headers: a header is given twice (names ignore case)")
        return self


class PrometheusConfig(_Model):
    """Prometheus: storage, intervals, and optional remote-write targets."""

    anchored_ranges: StrictBool | None = Field(
        None,
        description="Whether rules and dashboards use anchored ranges (exact increase() of "
        "sparse pushed series; Prometheus 3.16+). Default: yes for stackkit's own Prometheus, "
        "no when another Prometheus or a backend answers the queries.",
    )
    mode: Literal["deploy", "existing", "agent"] = Field(
        "deploy",
        description="deploy: stackkit runs Prometheus. existing (kubernetes): a Prometheus run "
        "by the Prometheus Operator scrapes the Collector (a ServiceMonitor) and evaluates the "
        "rules (a PrometheusRule); nothing else is deployed for it. agent: Prometheus in agent "
        "mode only forwards to remote_write (stores nothing, evaluates no rule).",
    )

    retention_time: Annotated[StrictStr, prom_duration(HOUR, 100 * 365 * DAY)] = "30d"
    retention_size: StorageSize | None = None
    scrape_interval: Annotated[StrictStr, prom_duration(1000, 2 * MINUTE)] = Field(
        "15s", description="At most 2m: the rules' rate() over 5m needs two samples."
    )
    evaluation_interval: Annotated[StrictStr, prom_duration(1000, 2 * MINUTE)] = "15s"
    port: Port = 9090
    alertmanager_url: Url | None = Field(
        None, description="http(s)://host[:port][/path prefix]; no credentials."
    )
    memory_limit_mib: StrictInt = Field(
        2048, ge=256, le=1_048_576, description="Memory limit (Kubernetes)."
    )
    remote_write: tuple[RemoteWriteTarget, ...] = Field((), max_length=16)

    @field_validator("remote_write")
    @classmethod
    def _unique_names(cls, targets: tuple[RemoteWriteTarget, ...]) -> tuple[RemoteWriteTarget, ...]:
        names = [t.name for t in targets]
        if len(set(names)) != len(names):
            raise ValueError("remote_write names must be unique")
        return targets


class GrafanaConfig(_Model):
    """Grafana: admin account, access and URL; or the dashboards for a Grafana you run."""

    mode: Literal["deploy", "sidecar"] = Field(
        "deploy",
        description="deploy: stackkit runs Grafana. sidecar (kubernetes): no Grafana is "
        "deployed; the dashboards and data source go into ConfigMaps labelled for the Grafana "
        "sidecar (kube-prometheus-stack's Grafana picks them up).",
    )
    sidecar_labels: dict[KubeLabelKey, KubeLabelValue] = Field(
        {"grafana_dashboard": "1"},
        max_length=8,
        description="Labels the Grafana sidecar looks for on dashboard ConfigMaps.",
    )
    datasource_sidecar_labels: dict[KubeLabelKey, KubeLabelValue] = Field(
        {"grafana_datasource": "1"},
        max_length=8,
        description="Labels the Grafana sidecar looks for on data source ConfigMaps.",
    )
    prometheus_url: Url | None = Field(
        None,
        description="The Prometheus Grafana queries, when it is not stackkit's (prometheus.mode "
        "existing or agent: your Prometheus or the remote-write backend's query API).",
    )

    admin_user: LoginName = "admin"
    admin_password_env: EnvName | None = Field(
        None, description="Environment variable with the admin password; generated if unset."
    )
    anonymous_access: StrictBool = False
    root_url: Url | None = None
    port: Port = 3000


class AlertsConfig(_Model):
    """Thresholds for the alert rules."""

    monthly_budget_usd: Amount | None = Field(
        None, description="Alert when the last 30 days, or the current pace, exceed it."
    )
    user_spend_usd_per_hour: Amount = Field(
        20.0, description="Alert when one person spends more than this in an hour."
    )
    team_spend_usd_per_hour: Amount = Field(
        100.0, description="Alert when one team spends more than this in an hour."
    )
    no_telemetry_minutes: StrictInt = Field(30, ge=5, le=10_080)
    api_error_ratio: float = Field(
        0.1,
        strict=True,
        ge=0.001,
        le=1,
        allow_inf_nan=False,
        description="Alert when more than this share of model API requests fails for good "
        "over 10 minutes (at least 5 failures).",
    )
    api_overload_errors: StrictInt = Field(
        10,
        ge=1,
        le=1_000_000,
        description="Alert when more requests than this fail with 429 (rate limit) or 529 "
        "(overloaded) in 10 minutes.",
    )
    new_series_per_hour: StrictInt = Field(
        1_000_000,
        ge=1000,
        le=1_000_000_000,
        description="Alert when Prometheus creates more series than this in an hour (about 20 "
        "per Claude Code session: a made-up flood of session ids shows here first).",
    )


class ImagesConfig(_Model):
    """Image overrides per component, and a registry prefix for mirrored images."""

    registry: Registry | None = None
    otelcol: ImageRef | None = None
    prometheus: ImageRef | None = None
    alertmanager: ImageRef | None = None
    grafana: ImageRef | None = None

    @model_validator(mode="after")
    def _references_stay_valid_with_the_prefix(self) -> ImagesConfig:
        for component in versions.IMAGES:
            try:
                image_reference(self.resolve(component))
            except ValueError as e:
                raise ValueError(f"{component} with the registry prefix: {e}") from None
        return self

    def resolve(self, component: str) -> str:
        """The image reference for one component: override, else pin, with the prefix."""
        image = getattr(self, component) or versions.IMAGES[component]
        return f"{self.registry}/{image}" if self.registry else image


class DockerConfig(_Model):
    """The local Docker target."""

    bind_address: IpAddress = "127.0.0.1"


class IngressConfig(_Model):
    """An Ingress in front of OTLP/HTTP and Grafana (gRPC goes through the Service)."""

    class_name: DnsSubdomain | None = None
    otlp_host: DnsSubdomain | None = Field(None, description="Host for OTLP/HTTP.")
    grafana_host: DnsSubdomain | None = Field(None, description="Host for Grafana.")
    tls_secret: DnsSubdomain | None = Field(
        None, description="A kubernetes.io/tls Secret (in the namespace) for both hosts."
    )

    @model_validator(mode="after")
    def _a_host(self) -> IngressConfig:
        if not (self.otlp_host or self.grafana_host):
            raise ValueError("set otlp_host, grafana_host or both")
        return self


class KubernetesConfig(_Model):
    """The Kubernetes target."""

    namespace: DnsLabel = "stackkit"
    kubeconfig: FilePath | None = None
    context: Text | None = None
    storage_class: DnsSubdomain | None = None
    volume_init: StrictBool = Field(
        False,
        description="Give each new data volume to its component's non-root user with an init "
        "container (root, CAP_CHOWN only, a few seconds per start) before the component starts. "
        "Needed on storage that ignores fsGroup (the host-path provisioner and some local ones); "
        "the namespace's Pod Security level is then baseline instead of restricted.",
    )
    prometheus_storage: VolumeSize = "20Gi"
    grafana_storage: VolumeSize = "2Gi"
    collector_service_type: Literal["ClusterIP", "LoadBalancer", "NodePort"] = Field(
        "ClusterIP",
        description="How developers' machines reach OTLP: ClusterIP (in the cluster only, or "
        "through ingress), NodePort or LoadBalancer. Only the OTLP ports are exposed.",
    )
    collector_replicas: StrictInt = Field(
        2, ge=1, le=20, description="Collector pods; with 2 or more a rollout never stops intake."
    )
    otlp_sources: tuple[Cidr, ...] = Field(
        (),
        max_length=64,
        description="Networks allowed to send OTLP (NetworkPolicy); empty: any.",
    )
    monitor_labels: dict[KubeLabelKey, KubeLabelValue] = Field(
        {},
        max_length=8,
        description="With prometheus.mode existing: labels the Prometheus Operator selects "
        "ServiceMonitors and PrometheusRules by (kube-prometheus-stack: release: <its name>).",
    )
    ingress: IngressConfig | None = Field(
        None, description="An Ingress for OTLP/HTTP and for Grafana."
    )


GrpcEndpoint = BaseUrl
HttpEndpoint = Url
AttributeValue = Annotated[StrictStr, Field(max_length=255), AfterValidator(one_line)]


def check_attribute_count(count: int) -> None:
    """Claude Code stops exporting with about a dozen resource attributes."""
    if count > MAX_RESOURCE_ATTRIBUTES:
        raise ValueError(
            f"{count} resource attributes: at most {MAX_RESOURCE_ATTRIBUTES} (config and --attr "
            "together); Claude Code stops exporting with about a dozen"
        )


class ClientConfig(_Model):
    """What `stackkit env` tells Claude Code on developers' machines."""

    grpc_endpoint: GrpcEndpoint | None = Field(
        None,
        description="OTLP/gRPC URL clients use for a shared stack, e.g. "
        "https://otel.example.com:4317; "
        "default: localhost and the Collector's gRPC port.",
    )
    http_endpoint: HttpEndpoint | None = Field(
        None,
        description="OTLP/HTTP base URL clients use for a shared stack; default: localhost and "
        "the Collector's HTTP port.",
    )
    protocol: Literal["grpc", "http/protobuf"] | None = Field(
        None, description="Default: grpc when enabled, else http/protobuf."
    )
    resource_attributes: dict[AttributeKey, AttributeValue] = Field(
        {},
        description="Added to every data point, e.g. team.id: platform. At most "
        f"{MAX_RESOURCE_ATTRIBUTES}, counting `stackkit env --attr` flags.",
    )
    metric_export_interval_ms: StrictInt = Field(60000, ge=1000, le=3_600_000)
    logs_export_interval_ms: StrictInt = Field(5000, ge=1000, le=3_600_000)

    @field_validator("resource_attributes")
    @classmethod
    def _few(cls, attrs: dict[str, str]) -> dict[str, str]:
        check_attribute_count(len(attrs))
        return attrs


class StackConfig(_Model):
    """The whole stack."""

    name: StackName = "claude-code"
    target: Literal["docker", "kubernetes"] = "docker"
    collector: CollectorConfig = CollectorConfig()
    attributes: AttributesConfig = AttributesConfig()
    prometheus: PrometheusConfig = PrometheusConfig()
    grafana: GrafanaConfig = GrafanaConfig()
    alerts: AlertsConfig = AlertsConfig()
    alertmanager: AlertmanagerConfig = AlertmanagerConfig()
    images: ImagesConfig = ImagesConfig()
    docker: DockerConfig = DockerConfig()
    kubernetes: KubernetesConfig = KubernetesConfig()
    client: ClientConfig = ClientConfig()

    @model_validator(mode="after")
    def _modes_fit(self) -> StackConfig:
        prom, graf = self.prometheus, self.grafana
        if self.target == "docker" and (prom.mode == "existing" or graf.mode == "sidecar"):
            raise ValueError(
                "prometheus.mode existing and grafana.mode sidecar are for target kubernetes"
            )
        if prom.mode == "existing" and self.collector.export != "scrape":
            raise ValueError(
                "prometheus.mode existing: the Operator's Prometheus scrapes the Collector, so "
                "set collector.export: scrape"
            )
        if prom.mode == "agent" and not prom.remote_write:
            raise ValueError("prometheus.mode agent forwards only: add a prometheus.remote_write")
        if prom.mode == "agent" and self.collector.export == "scrape":
            raise ValueError("prometheus.mode agent takes pushes: collector.export otlp")
        if prom.mode != "deploy" and not graf.prometheus_url:
            raise ValueError(
                f"prometheus.mode {prom.mode}: set grafana.prometheus_url to the Prometheus "
                "Grafana should query"
            )
        return self

    @property
    def runs_alertmanager(self) -> bool:
        """The stack runs its own Alertmanager (and Prometheus sends it the alerts)."""
        am, prom = self.alertmanager, self.prometheus
        if am.enabled is not None:
            return am.enabled
        return prom.mode == "deploy" and not prom.alertmanager_url

    @property
    def routes_alerts(self) -> bool:
        """``alertmanager.receivers`` get the alerts: from the stack's own Alertmanager, or with
        prometheus.mode existing from the Operator's, through an AlertmanagerConfig."""
        am, prom = self.alertmanager, self.prometheus
        operator = prom.mode == "existing" and am.enabled is None and not prom.alertmanager_url
        return self.runs_alertmanager or operator

    @model_validator(mode="after")
    def _alertmanager_fits(self) -> StackConfig:
        am, prom = self.alertmanager, self.prometheus
        if am.enabled and prom.mode == "existing":
            raise ValueError(
                "alertmanager.enabled: with prometheus.mode existing the Operator's Prometheus "
                "sends alerts to its own Alertmanager; remove alertmanager.enabled (the "
                "receivers become an AlertmanagerConfig for that Alertmanager)"
            )
        if am.enabled and prom.mode != "deploy":
            raise ValueError(
                f"alertmanager.enabled: prometheus.mode {prom.mode} evaluates no alert here; "
                "route alerts in the Alertmanager of the Prometheus that evaluates them"
            )
        if am.enabled and prom.alertmanager_url:
            raise ValueError(
                "alertmanager.enabled and prometheus.alertmanager_url: alerts go to one "
                "Alertmanager; remove one of them"
            )
        if am.receivers and not self.routes_alerts:
            raise ValueError(f"alertmanager.receivers: {self._unrouted()}")
        return self

    def _unrouted(self) -> str:
        """Why no alert would reach the receivers, and what to do."""
        prom = self.prometheus
        if prom.mode == "agent":
            return (
                "prometheus.mode agent evaluates no alert rule, so no alert would reach them; "
                "route alerts in the Alertmanager of the Prometheus that evaluates the rules"
            )
        if prom.alertmanager_url:
            return (
                "alerts go to prometheus.alertmanager_url, whose Alertmanager routes them: set "
                "the receivers there, or remove prometheus.alertmanager_url"
            )
        return (
            "alertmanager.enabled is false, so nothing routes alerts to them: remove "
            "enabled: false, or the receivers"
        )

    @model_validator(mode="after")
    def _retention_fits_the_volume(self) -> StackConfig:
        size, volume = self.prometheus.retention_size, self.kubernetes.prometheus_storage
        if self.target != "kubernetes" or size is None or self.prometheus.mode != "deploy":
            return self
        if storage_bytes(size) > volume_bytes(volume) * 9 // 10:
            raise ValueError(
                f"prometheus.retention_size {size} does not fit kubernetes.prometheus_storage "
                f"{volume}: Prometheus needs room beyond its limit (WAL, compaction). Grow the "
                "volume or keep the limit at most 90% of it"
            )
        return self

    @model_validator(mode="after")
    def _distinct_ports(self) -> StackConfig:
        col = self.collector
        ports = {
            "collector.grpc.port": col.grpc.port,
            "collector.http.port": col.http.port,
            "collector.health_port": col.health_port,
            "collector.metrics_port": col.metrics_port,
            "collector.telemetry_port": col.telemetry_port,
            "prometheus.port": self.prometheus.port,
            "grafana.port": self.grafana.port,
        }
        if self.runs_alertmanager:
            ports["alertmanager.port"] = self.alertmanager.port
        by_port: dict[int, list[str]] = {}
        for field, port in ports.items():
            by_port.setdefault(port, []).append(field)
        clashes = [
            f"{' and '.join(fields)} are {'both' if len(fields) == 2 else 'all'} {port}"
            for port, fields in by_port.items()
            if len(fields) > 1
        ]
        if clashes:
            raise ValueError(f"{'; '.join(clashes)}: every port must differ")
        return self


def _message(e: Any) -> str:
    if e["type"] == "extra_forbidden":
        return "unknown key (check the spelling; `stackkit schema` lists every key)"
    message = str(e["msg"]).removeprefix("Value error, ")
    if e["type"].endswith(("_type", "_parsing")) and isinstance(e["input"], str | int | float):
        message += f" (got {shorten(e['input'])})"
    return message


def problem_lines(err: ValidationError) -> list[str]:
    """One ``field.path: message`` line per problem (model-wide problems name their fields)."""
    lines = []
    for e in err.errors():
        path = ".".join(str(p) for p in e["loc"])
        lines.append(f"{path}: {_message(e)}" if path else _message(e))
    return lines


def check_flag(flag: str, value: Any, kind: Any) -> Any:
    """Validate a flag's value with a config type; ConfigError naming the flag otherwise."""
    try:
        return TypeAdapter(kind).validate_python(value)
    except ValidationError as e:
        raise ConfigError(flag, [_message(x) for x in e.errors()]) from None


def load_config(path: Path | None = None, **overrides: Any) -> StackConfig:
    """Load and validate the configuration.

    ``path`` None means ``./stackkit.yaml`` if it exists, else the defaults. Overrides are
    top-level keys from CLI flags; None values are ignored (flag not given). Relative paths in
    the file are relative to the file's folder.
    """
    source = "(defaults)"
    data: dict[str, Any] = {}
    if path is None and os.path.lexists(DEFAULT_CONFIG_FILE):
        path = Path(DEFAULT_CONFIG_FILE)
    if path is not None:
        source = str(path)
        data = read_config_file(path)
    for key, value in overrides.items():
        if value is not None:
            data[key] = value
    base_dir = path.absolute().parent if path is not None else Path.cwd()
    try:
        return StackConfig.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as e:
        raise ConfigError(source, problem_lines(e)) from None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of stackkit.yaml, for editors."""
    schema = StackConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "stackkit.yaml"
    return schema
