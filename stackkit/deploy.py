"""Deploying with Pulumi: the only module that imports the Automation API.

Inline programs, a local file backend under stackkit's state folder (no Pulumi account), and a
passphrase generated once and kept with owner-only permissions (or taken from the environment).
Checks that can fail without changing anything run first (`preflight`).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import versions
from .config import StackConfig
from .docker_api import DockerUnavailable, Engine
from .endpoint import otlp_token
from .errors import DeployError
from .paths import import_stacks
from .render import prometheus_args, render
from .state import OUTPUTS_FILE, private_folder, secret, stack_dir, write_private

PROJECT = "stackkit"
PASSPHRASE_FILE = "pulumi-passphrase"
GRAFANA_PASSWORD_FILE = "grafana-admin-password"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Result:
    """What a deploy command did."""

    changes: dict[str, int]
    outputs: dict[str, Any] = field(default_factory=dict)


def _quiet(_: str) -> None:
    pass


def ports(cfg: StackConfig) -> dict[str, int]:
    """Host ports the stack publishes, by role."""
    col = cfg.collector
    result = {"otelcol_health": col.health_port, "prometheus": cfg.prometheus.port}
    result["grafana"] = cfg.grafana.port
    if col.grpc.enabled:
        result["grpc"] = col.grpc.port
    if col.http.enabled:
        result["http"] = col.http.port
    return result


def grafana_password(cfg: StackConfig) -> str:
    """The Grafana admin password: from its variable, else generated once and kept."""
    return secret(cfg.name, GRAFANA_PASSWORD_FILE, cfg.grafana.admin_password_env)


def _remote_write_secrets(cfg: StackConfig) -> dict[str, str]:
    found = {}
    for i, target in enumerate(cfg.prometheus.remote_write):
        var = target.basic_auth.password_env if target.basic_auth else target.bearer_token_env
        if var is None:
            continue
        value = os.environ.get(var)
        if not value:
            raise DeployError(
                f"prometheus.remote_write[{i}] ({target.name}) needs its secret: set {var}"
            )
        found[target.name] = value
    return found


def _tls_files(cfg: StackConfig) -> dict[str, str]:
    tls = cfg.collector.tls
    files = {}
    for name, field_name, path in (
        ("tls.crt", "cert_file", tls.cert_file),
        ("tls.key", "key_file", tls.key_file),
    ):
        if path is None:
            continue
        try:
            files[name] = path.read_text(encoding="utf-8")
        except OSError as e:
            raise DeployError(
                f"collector.tls.{field_name}: cannot read {path} ({e.strerror or e}); "
                "paths are relative to the directory you run stackkit in"
            ) from None
    return files


def stack_args(cfg: StackConfig, running: bool = True) -> Any:
    """The plain data the Pulumi program receives."""
    stacks = import_stacks()
    return stacks.StackArgs(
        name=cfg.name,
        files={str(p): text for p, text in render(cfg).items()},
        images={c: cfg.images.resolve(c) for c in versions.IMAGES},
        ports=ports(cfg),
        prometheus_args=prometheus_args(cfg),
        grafana_admin_password=grafana_password(cfg),
        otlp_token=otlp_token(cfg),
        token_env=cfg.collector.auth.token_env,
        remote_write_secrets=_remote_write_secrets(cfg) if running else {},
        tls_files=_tls_files(cfg) if running else {},
        bind_address=cfg.docker.bind_address,
        running=running,
    )


# --- checks that change nothing -------------------------------------------------------------


def preflight(cfg: StackConfig, progress: Progress = _quiet) -> None:
    """Fail before any change when Docker, an image or a host port is not usable."""
    if cfg.target != "docker":
        raise DeployError(
            "only the docker target deploys today; for Kubernetes, commit the output of "
            "`stackkit render --target kubernetes` to your GitOps repository"
        )
    _require_engine()
    engine = Engine.from_env()
    for component in versions.IMAGES:
        ref = cfg.images.resolve(component)
        if engine.has_image(ref):
            continue
        progress(f"pulling {ref}")
        reason = engine.pull(ref)
        if reason is not None:
            raise DeployError(
                f"image {ref} ({component}) is not on this machine and cannot be pulled "
                f"({reason}). Load it with `docker load`, mirror it and set images.registry, or "
                f"set images.{component} to an image you have; nothing was changed"
            )
    ours = _published_by_stack(engine, cfg.name)
    for role, port in sorted(ports(cfg).items()):
        if port not in ours and not _port_free(cfg.docker.bind_address, port):
            raise DeployError(
                f"port {port} on {cfg.docker.bind_address} ({role}) is in use by another "
                f"program: stop it or choose another port in the config; nothing was changed"
            )


def _published_by_stack(engine: Engine, name: str) -> set[int]:
    ports_in_use = set()
    for c in engine.containers(f"stackkit.stack={name}"):
        for p in c.get("Ports") or []:
            if p.get("PublicPort"):
                ports_in_use.add(int(p["PublicPort"]))
    return ports_in_use


def _port_free(address: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # As Docker's own listener does: connections in TIME_WAIT do not make a port busy.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


# --- Pulumi ---------------------------------------------------------------------------------


def _tool_cache() -> list[Path]:
    """The Pulumi CLI and Docker provider `make up` builds offline, when they are there."""
    root = Path(os.environ.get("STACKKIT_TOOLS") or Path.home() / ".cache" / "stackkit-tools")
    built = [
        root / f"pulumi-{versions.PULUMI_VERSION}" / "bin",
        root / f"pulumi-docker-{versions.PULUMI_DOCKER_VERSION}" / "bin",
    ]
    return [d for d in built if (d.parent / ".complete").exists()]


def _pulumi_root() -> str:
    search = os.pathsep.join(
        [os.environ.get("PATH", ""), str(Path.home() / ".pulumi" / "bin"), *map(str, _tool_cache())]
    )
    exe = shutil.which("pulumi", path=search)
    if exe is None:
        raise DeployError(
            f"the Pulumi CLI is not installed. Install version {versions.PULUMI_VERSION}: "
            f"`curl -fsSL https://get.pulumi.com | sh -s -- --version {versions.PULUMI_VERSION}` "
            "(or your package manager), then make sure `pulumi` is on PATH"
        )
    return str(Path(exe).resolve().parent.parent)


def _workspace_env(cfg: StackConfig) -> dict[str, str]:
    backend = stack_dir(cfg.name) / "pulumi"
    private_folder(backend)  # and the stack's folder above it: 0700 whatever the umask
    env = {
        "PULUMI_BACKEND_URL": backend.resolve().as_uri(),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    if cached := _tool_cache():  # providers built offline are found on PATH by the engine
        env["PATH"] = os.pathsep.join([*map(str, cached), os.environ.get("PATH", "")])
    if not ({"PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"} & os.environ.keys()):
        secret(cfg.name, PASSPHRASE_FILE)  # generated once, owner-only
        env["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(stack_dir(cfg.name) / PASSPHRASE_FILE)
    return env


def _stack(cfg: StackConfig, running: bool) -> Any:
    from pulumi import automation as auto

    args = stack_args(cfg, running)

    def program() -> None:
        import pulumi

        stacks = import_stacks()
        deployed = stacks.DockerStack(cfg.name, args)
        pulumi.export("grafana_url", deployed.grafana_url)
        pulumi.export("prometheus_url", deployed.prometheus_url)
        pulumi.export("otlp_endpoints", deployed.otlp_endpoints)

    opts = auto.LocalWorkspaceOptions(
        pulumi_command=auto.PulumiCommand(root=_pulumi_root(), skip_version_check=True),
        env_vars=_workspace_env(cfg),
        project_settings=auto.ProjectSettings(name=PROJECT, runtime="python"),
        secrets_provider="passphrase",
    )
    try:
        return auto.create_or_select_stack(
            stack_name=cfg.name, project_name=PROJECT, program=program, opts=opts
        )
    except auto.CommandError as e:
        raise DeployError(f"cannot open the Pulumi stack {cfg.name}: {_tail(e)}") from e


def _tail(e: Exception, lines: int = 8) -> str:
    text = getattr(e, "stderr", "") or str(e)
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return "\n  ".join(kept)


_PAST = {
    "create": "created",
    "update": "updated",
    "delete": "deleted",
    "replace": "replaced",
    "create-replacement": "created replacement",
    "delete-replaced": "deleted old",
    "read": "read",
    "refresh": "refreshed",
}


def _events(progress: Progress) -> Callable[[Any], None]:
    started: dict[str, float] = {}

    def on_event(event: Any) -> None:
        pre = getattr(event, "resource_pre_event", None)
        if pre is not None and pre.metadata.op != "same":
            started[pre.metadata.urn] = time.monotonic()
            return
        done = getattr(event, "res_outputs_event", None)
        # Providers and the stack itself are bookkeeping; people want the containers and volumes.
        if (
            done is not None
            and done.metadata.op != "same"
            and not done.metadata.type.startswith("pulumi:")
        ):
            meta = done.metadata
            kind = meta.type.rsplit(":", 1)[-1].lower()
            name = meta.urn.rsplit("::", 1)[-1]
            took = time.monotonic() - started.get(meta.urn, time.monotonic())
            progress(f"  {_PAST.get(meta.op, meta.op)} {kind} {name} ({took:.1f}s)")
        diag = getattr(event, "diagnostic_event", None)
        if diag is not None and diag.severity == "error" and diag.message.strip():
            progress(f"  error: {diag.message.strip()}")

    return on_event


def _changes(summary: dict[str, int] | None) -> dict[str, int]:
    return {str(k): int(v) for k, v in (summary or {}).items()}


def _run(cfg: StackConfig, operation: str, progress: Progress, running: bool = True) -> Any:
    """Run one Pulumi operation (up, preview, destroy) on the stack; CommandError -> DeployError."""
    from pulumi import automation as auto

    stack = _stack(cfg, running=running)
    try:
        return getattr(stack, operation)(on_event=_events(progress), color="never")
    except auto.CommandError as e:
        hint = (
            "; the stack may be partly changed: fix the cause and run it again"
            if operation != "preview"
            else ""
        )
        raise DeployError(f"{operation} failed{hint}:\n  {_tail(e)}") from e


def _require_engine() -> None:
    try:
        Engine.from_env().ping()
    except DockerUnavailable as e:
        raise DeployError(f"{e}: start Docker, or point DOCKER_HOST at a running engine") from None


def up(cfg: StackConfig, progress: Progress = _quiet) -> Result:
    """Create or update the stack; returns what changed and the stack's outputs."""
    preflight(cfg, progress)
    result = _run(cfg, "up", progress)
    outputs = {k: v.value for k, v in result.outputs.items()}
    write_private(stack_dir(cfg.name) / OUTPUTS_FILE, json.dumps(outputs, indent=2, sort_keys=True))
    return Result(_changes(result.summary.resource_changes), outputs)


def preview(cfg: StackConfig, progress: Progress = _quiet) -> Result:
    """What `up` would change, without changing anything."""
    preflight(cfg, progress)
    return Result(_changes(_run(cfg, "preview", progress).change_summary))


def down(cfg: StackConfig, purge: bool = False, progress: Progress = _quiet) -> Result:
    """Remove containers and network; data volumes stay unless ``purge``."""
    _require_engine()
    # Without purge, `down` is an update to a program that keeps only the data volumes.
    result = _run(cfg, "destroy" if purge else "up", progress, running=False)
    (stack_dir(cfg.name) / OUTPUTS_FILE).unlink(missing_ok=True)
    return Result(_changes(result.summary.resource_changes))
