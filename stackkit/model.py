"""The stack as plain data: every fact about its components, written once.

:func:`build` turns a validated config and the rendered configuration files into a
:class:`Stack`: components with their image, arguments, files, ports, probes, data folder,
memory and the secrets they read. The Docker program (``stacks/docker.py``), the Kubernetes
objects (:mod:`stackkit.manifests`, which the Kubernetes program applies and ``render`` writes
for GitOps) only translate this model; none of them restates a port, a path or a probe.

Standard library and the config only, so the Pulumi programs import it as a plain module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from . import alertmanager as am
from .config import StackConfig
from .fields import volume_bytes

Audience = Literal["clients", "operators", "internal"]
"""Who reaches a port: developers' Claude Code (OTLP), the platform team (UIs, APIs, health),
or only the other components of the stack."""

# Where the upstream images read configuration and keep data.
OTELCOL_DIR = "/etc/otelcol-contrib"
OTELCOL_CONFIG = f"{OTELCOL_DIR}/config.yaml"
OTELCOL_TLS_DIR = f"{OTELCOL_DIR}/tls"
OTELCOL_DATA = "/var/lib/otelcol"
OTELCOL_QUEUE_DIR = f"{OTELCOL_DATA}/queue"

PROMETHEUS_DIR = "/etc/prometheus"
PROMETHEUS_SECRETS_DIR = f"{PROMETHEUS_DIR}/secrets"
PROMETHEUS_WEB_CONFIG = f"{PROMETHEUS_SECRETS_DIR}/web.yml"
PROMETHEUS_PASSWORD_FILE = f"{PROMETHEUS_SECRETS_DIR}/password"
PROMETHEUS_DATA = "/prometheus"

GRAFANA_DIR = "/etc/grafana"
# Outside /var/lib/grafana (a data volume), so a re-render replaces dashboards, never stacks them.
GRAFANA_DASHBOARDS_DIR = f"{GRAFANA_DIR}/dashboards"
GRAFANA_SECRETS_DIR = f"{GRAFANA_DIR}/secrets"
GRAFANA_PROMETHEUS_PASSWORD = f"{GRAFANA_SECRETS_DIR}/prometheus-password"
GRAFANA_DATA = "/var/lib/grafana"

# Names the components use to reach each other (Docker network aliases, Kubernetes Services).
OTELCOL_HOST = "otelcol"
PROMETHEUS_HOST = "prometheus"

# The secrets a stack reads, by name; their values never enter the model.
TOKEN_SECRET = "stackkit-otlp-token"
GRAFANA_SECRET = "stackkit-grafana-admin"
REMOTE_WRITE_SECRET = "stackkit-remote-write"
TLS_SECRET = "stackkit-otlp-tls"
PROMETHEUS_AUTH_SECRET = "stackkit-prometheus-auth"
"""Keys: ``web.yml`` (Prometheus' accounts, hashed), ``password`` and ``authorization`` (the
reading account's password and header), ``otelcol-authorization`` (the Collector's header)."""
PROMETHEUS_AUTH_ENV = "STACKKIT_PROMETHEUS_AUTHORIZATION"
"""The Collector's header for its pushes to Prometheus."""
PROMETHEUS_WRITER_USER = "otelcol"
PROMETHEUS_READER_USER = "stackkit"

ALERTMANAGER_WEB_CONFIG = f"{am.SECRETS_DIR}/web.yml"

VOLUME_INIT = "volume-init"
"""What gives a new data volume to its component's user (see ``Stack.chown_command``)."""

# Users the upstream images run as.
OTELCOL_UID = 10001
PROMETHEUS_UID = 65534
GRAFANA_UID = 472


@dataclass(frozen=True)
class Port:
    """A port a component listens on, named as Kubernetes names container ports."""

    name: str
    number: int
    audience: Audience


@dataclass(frozen=True)
class SecretRef:
    """One key of a named secret."""

    secret: str
    key: str


@dataclass(frozen=True)
class Probe:
    """An HTTP GET that answers 2xx when the component is ready (or alive)."""

    path: str
    port: int
    authorization: SecretRef | None = None
    """The ``Authorization`` header the GET must carry (the component checks credentials)."""


@dataclass(frozen=True)
class Component:
    """One program of the stack and everything a target needs to run it."""

    name: str
    image: str
    args: tuple[str, ...]
    config_dir: str
    files: Mapping[str, str]
    """Rendered files, by path relative to ``config_dir``."""
    ports: tuple[Port, ...]
    ready: Probe
    alive: Probe
    user: int
    memory_mib: int
    """Memory limit; the request is the same (memory is not overcommitted)."""
    cpu_millis: int
    """CPU request (no CPU limit: throttling a pipeline loses more than it saves)."""
    data_dir: str | None = None
    data_size: str | None = None
    secret_env: Mapping[str, SecretRef] = field(default_factory=dict)
    """Environment variables read from secrets, by variable name."""
    secret_files: Mapping[str, SecretRef] = field(default_factory=dict)
    """Files read from secrets, by absolute path in the container."""
    scratch_dirs: tuple[str, ...] = ("/tmp",)
    """Writable empty folders (the root filesystem is read-only where the target allows)."""
    replicas: int = 1
    shell_probe: bool = False
    """The image carries ``wget``, so a container runtime can run the readiness probe itself."""
    chown_data_dir: bool = False
    """A new volume at ``data_dir`` is root's and must be given to ``user`` before the component
    starts (see ``Stack.chown_command``): the image has no such folder for Docker to copy, or the
    cluster's storage ignores fsGroup."""

    def secret_path(self, ref: SecretRef) -> str:
        """Where ``ref`` is mounted in the container."""
        for path, mounted in self.secret_files.items():
            if mounted == ref:
                return path
        raise KeyError(f"{self.name} has no file from {ref}")

    def port(self, name: str) -> Port:
        """The port called ``name``."""
        for p in self.ports:
            if p.name == name:
                return p
        raise KeyError(f"{self.name} has no port {name!r}")


@dataclass(frozen=True)
class Stack:
    """The whole stack: its name and components, in start order."""

    name: str
    components: tuple[Component, ...]
    otlp_tls: bool = False
    """The OTLP endpoints serve TLS."""
    volume_init_image: str = ""
    """An image with busybox (Prometheus'): it gives a new data volume to its component's user."""
    alert_route_secrets: tuple[SecretRef, ...] = ()
    """Secrets the Operator's Alertmanager reads for this stack's receivers (prometheus.mode
    existing: its AlertmanagerConfig names them); no component of the stack mounts them."""

    def chown_command(self, c: Component) -> tuple[str, ...]:
        """The command, run as root with CAP_CHOWN only, that gives ``c``'s data folder to
        ``c``'s user."""
        if c.data_dir is None:
            raise KeyError(f"{c.name} has no data folder")
        return ("/bin/busybox", "chown", f"{c.user}:{c.user}", c.data_dir)

    def component(self, name: str) -> Component:
        """The component called ``name``."""
        for c in self.components:
            if c.name == name:
                return c
        raise KeyError(f"the stack has no component {name!r}")

    def secrets(self) -> dict[str, tuple[str, ...]]:
        """Every secret the components (or the Operator's Alertmanager) read, with its keys."""
        refs = [*self.alert_route_secrets]
        for c in self.components:
            refs += [*c.secret_env.values(), *c.secret_files.values()]
        keys: dict[str, set[str]] = {}
        for ref in refs:
            keys.setdefault(ref.secret, set()).add(ref.key)
        return {name: tuple(sorted(k)) for name, k in sorted(keys.items())}

    def probe_urls(self, bind_address: str) -> dict[str, str]:
        """Each component's readiness probe as the Docker host reaches it (its port published)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(bind_address, bind_address)
        host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        return {
            c.name: f"http://{host}:{c.ready.port}{c.ready.path}"
            for c in self.components
            if any(p.number == c.ready.port and p.audience != "internal" for p in c.ports)
        }

    def published_urls(self, bind_address: str) -> dict[str, Any]:
        """Where people on the Docker host reach the stack: Grafana, Prometheus, OTLP."""
        h = "localhost" if bind_address in ("127.0.0.1", "0.0.0.0", "::", "::1") else bind_address
        otel = self.component("otelcol")
        scheme = "https" if self.otlp_tls else "http"
        endpoints = {}
        for port_name, protocol in (("otlp-grpc", "grpc"), ("otlp-http", "http/protobuf")):
            if any(p.name == port_name for p in otel.ports):
                endpoints[protocol] = f"{scheme}://{h}:{otel.port(port_name).number}"
        urls = {
            "grafana_url": f"http://{h}:{self.component('grafana').port('http').number}",
            "prometheus_url": f"http://{h}:{self.component('prometheus').port('http').number}",
            "otlp_endpoints": endpoints,
        }
        if any(c.name == "alertmanager" for c in self.components):
            port = self.component("alertmanager").port("http").number
            urls["alertmanager_url"] = f"http://{h}:{port}"
        return urls


def _under(files: Mapping[str, str], prefix: str, skip: str = "") -> dict[str, str]:
    start = f"{prefix}/"
    return {
        p.removeprefix(start): t
        for p, t in sorted(files.items())
        if p.startswith(start) and not (skip and p.startswith(f"{start}{skip}"))
    }


def retention_size(cfg: StackConfig) -> str | None:
    """Prometheus' size limit: the config's, else on Kubernetes 80% of its volume (a full
    volume loses new data; at the limit Prometheus deletes the oldest instead, and an alert
    says so before). A Docker volume shares the host's disk, whose size stackkit cannot know."""
    prom = cfg.prometheus
    if prom.retention_size or cfg.target != "kubernetes":
        return prom.retention_size
    return f"{max(1, volume_bytes(cfg.kubernetes.prometheus_storage) * 8 // 10 >> 20)}MB"


def prometheus_protected(cfg: StackConfig) -> bool:
    """The stack runs its own Prometheus, which checks credentials (see prometheus_auth).

    On Docker, where its port is published on the host. Not yet on Kubernetes: `status` and
    `verify` reach Prometheus there through the API server's service proxy, which takes the
    Authorization header for itself and never passes it on."""
    return cfg.target == "docker" and cfg.prometheus.mode != "existing"


def grafana_uses_own_prometheus(cfg: StackConfig) -> bool:
    """Grafana's data source is the stack's own Prometheus (so it logs in to it)."""
    return prometheus_protected(cfg) and cfg.grafana.prometheus_url is None


PROMETHEUS_READER = SecretRef(PROMETHEUS_AUTH_SECRET, "authorization")


def prometheus_args(cfg: StackConfig) -> tuple[str, ...]:
    """Prometheus' command line (a server, or an agent that only forwards)."""
    prom = cfg.prometheus
    args = [f"--config.file={PROMETHEUS_DIR}/prometheus.yml"]
    if prom.mode == "agent":
        args += ["--agent", f"--storage.agent.path={PROMETHEUS_DATA}"]
    else:
        args += [
            f"--storage.tsdb.path={PROMETHEUS_DATA}",
            f"--storage.tsdb.retention.time={prom.retention_time}",
        ]
        if size := retention_size(cfg):
            args.append(f"--storage.tsdb.retention.size={size}")
    args += [
        f"--web.listen-address=:{prom.port}",
        # Start timestamps become a zero sample, so a counter that first appears inside a query
        # window (a new session, a Collector restart) is counted from zero by increase().
        "--enable-feature=created-timestamp-zero-ingestion",
    ]
    if cfg.collector.export == "otlp":
        args.append("--web.enable-otlp-receiver")
    if prometheus_protected(cfg):
        # Every request needs a credential: the Collector's to write, the reader's to query.
        args.append(f"--web.config.file={PROMETHEUS_WEB_CONFIG}")
    return tuple(args)


def receiver_secrets(cfg: StackConfig) -> tuple[SecretRef, ...]:
    """The keys of the receivers' secrets (from the variables the config names)."""
    return tuple(SecretRef(am.SECRET, key) for key in cfg.alertmanager.secrets())


def alertmanager(cfg: StackConfig, files: Mapping[str, str]) -> Component:
    """The stack's Alertmanager: it checks the same credentials as Prometheus (whose reading
    account sends it the alerts), and keeps silences and notification state on its volume."""
    port = cfg.alertmanager.port
    args = [
        f"--config.file={am.CONFIG_DIR}/alertmanager.yml",
        f"--storage.path={am.DATA_DIR}",
        f"--web.listen-address=:{port}",
        "--cluster.listen-address=",  # one instance: no gossip port
        # Silences reach the volume on shutdown, and every minute (not 15) in case of a crash.
        "--data.maintenance-interval=1m",
    ]
    secret_files = {f"{am.SECRETS_DIR}/{ref.key}": ref for ref in receiver_secrets(cfg)}
    reader = PROMETHEUS_READER if prometheus_protected(cfg) else None
    if reader:
        args.append(f"--web.config.file={ALERTMANAGER_WEB_CONFIG}")
        secret_files |= {
            ALERTMANAGER_WEB_CONFIG: SecretRef(PROMETHEUS_AUTH_SECRET, "web.yml"),
            f"{am.SECRETS_DIR}/authorization": reader,
        }
    return Component(
        name="alertmanager",
        image=cfg.images.resolve("alertmanager"),
        args=tuple(args),
        config_dir=am.CONFIG_DIR,
        files=_under(files, "alertmanager"),
        ports=(Port("http", port, "operators"),),
        ready=Probe("/-/ready", port, reader),
        alive=Probe("/-/healthy", port, reader),
        user=PROMETHEUS_UID,
        memory_mib=256,
        cpu_millis=100,
        data_dir=am.DATA_DIR,
        # A claim on storage that ignores fsGroup stays root's: given to the user first, if asked.
        chown_data_dir=cfg.target == "kubernetes" and cfg.kubernetes.volume_init,
        data_size="1Gi",
        secret_files=secret_files,
        shell_probe=True,
    )


def build(cfg: StackConfig, files: Mapping[str, str]) -> Stack:
    """The stack ``cfg`` describes; ``files`` are the rendered files by output path."""
    col, prom, graf = cfg.collector, cfg.prometheus, cfg.grafana
    otel_ports = []
    if col.grpc.enabled:
        otel_ports.append(Port("otlp-grpc", col.grpc.port, "clients"))
    if col.http.enabled:
        otel_ports.append(Port("otlp-http", col.http.port, "clients"))
    otel_ports.append(Port("health", col.health_port, "operators"))
    otel_ports.append(Port("telemetry", col.telemetry_port, "internal"))
    if col.export == "scrape":
        otel_ports.append(Port("metrics", col.metrics_port, "internal"))
    otel_env = {col.auth.token_env: SecretRef(TOKEN_SECRET, "token")} if col.auth.enabled else {}
    if col.export == "otlp" and prometheus_protected(cfg):
        otel_env[PROMETHEUS_AUTH_ENV] = SecretRef(PROMETHEUS_AUTH_SECRET, "otelcol-authorization")
    otel_files = (
        {f"{OTELCOL_TLS_DIR}/{k}": SecretRef(TLS_SECRET, k) for k in ("tls.crt", "tls.key")}
        if col.tls.enabled
        else {}
    )
    health = Probe("/", col.health_port)
    otelcol = Component(
        name="otelcol",
        image=cfg.images.resolve("otelcol"),
        args=("--config", OTELCOL_CONFIG),
        config_dir=OTELCOL_DIR,
        files=_under(files, "otelcol"),
        ports=tuple(otel_ports),
        ready=health,
        alive=health,
        user=OTELCOL_UID,
        # The memory limiter refuses data at its limit; the container needs headroom above it.
        memory_mib=col.memory_limit_mib + max(128, col.memory_limit_mib // 4),
        cpu_millis=250,
        data_dir=OTELCOL_DATA if cfg.target == "docker" else None,
        data_size="1Gi" if cfg.target == "docker" else None,
        secret_env=otel_env,
        secret_files=otel_files,
        replicas=cfg.kubernetes.collector_replicas if cfg.target == "kubernetes" else 1,
        # Upstream's image is FROM scratch: no /var/lib/otelcol for a new volume to copy.
        chown_data_dir=cfg.target == "docker",
    )
    prom_secrets = {
        f"{PROMETHEUS_SECRETS_DIR}/{t.name}": SecretRef(REMOTE_WRITE_SECRET, t.name)
        for t in prom.remote_write
        if t.basic_auth or t.bearer_token_env
    }
    reader = PROMETHEUS_READER if prometheus_protected(cfg) else None
    if reader:
        prom_secrets |= {
            PROMETHEUS_WEB_CONFIG: SecretRef(PROMETHEUS_AUTH_SECRET, "web.yml"),
            PROMETHEUS_PASSWORD_FILE: SecretRef(PROMETHEUS_AUTH_SECRET, "password"),
            f"{PROMETHEUS_SECRETS_DIR}/authorization": reader,
        }
    # An agent evaluates no rule: it gets its config file only.
    prom_files = _under(files, "prometheus", skip="tests/")
    if prom.mode == "agent":
        prom_files = {p: t for p, t in prom_files.items() if not p.startswith("rules/")}
    # Claims on storage that ignores fsGroup stay root's: given to the user first, if asked.
    chown_claims = cfg.target == "kubernetes" and cfg.kubernetes.volume_init
    prometheus = Component(
        name="prometheus",
        image=cfg.images.resolve("prometheus"),
        args=prometheus_args(cfg),
        config_dir=PROMETHEUS_DIR,
        files=prom_files,
        ports=(Port("http", prom.port, "operators"),),
        ready=Probe("/-/ready", prom.port, reader),
        alive=Probe("/-/healthy", prom.port, reader),
        user=PROMETHEUS_UID,
        memory_mib=prom.memory_limit_mib,
        cpu_millis=250,
        data_dir=PROMETHEUS_DATA,
        data_size=cfg.kubernetes.prometheus_storage,
        chown_data_dir=chown_claims,
        secret_files=prom_secrets,
        shell_probe=True,
    )
    grafana = Component(
        name="grafana",
        image=cfg.images.resolve("grafana"),
        args=(),
        config_dir=GRAFANA_DIR,
        files=_under(files, "grafana"),
        ports=(Port("http", graf.port, "operators"),),
        ready=Probe("/api/health", graf.port),
        alive=Probe("/api/health", graf.port),
        user=GRAFANA_UID,
        memory_mib=512,
        cpu_millis=100,
        data_dir=GRAFANA_DATA,
        data_size=cfg.kubernetes.grafana_storage,
        chown_data_dir=chown_claims,
        secret_files={
            f"{GRAFANA_SECRETS_DIR}/admin-password": SecretRef(GRAFANA_SECRET, "password"),
            **(
                {GRAFANA_PROMETHEUS_PASSWORD: SecretRef(PROMETHEUS_AUTH_SECRET, "password")}
                if grafana_uses_own_prometheus(cfg)
                else {}
            ),
        },
        shell_probe=True,
    )
    components = [otelcol]
    if prom.mode != "existing":
        components.append(prometheus)
    if cfg.runs_alertmanager:
        components.append(alertmanager(cfg, files))
    if graf.mode == "deploy":
        components.append(grafana)
    return Stack(
        cfg.name,
        tuple(components),
        otlp_tls=col.tls.enabled,
        volume_init_image=cfg.images.resolve("prometheus"),
        # The Operator's Alertmanager reads them from the stack's namespace.
        alert_route_secrets=(
            receiver_secrets(cfg) if cfg.routes_alerts and not cfg.runs_alertmanager else ()
        ),
    )
