"""Deploying with Pulumi: the only module that imports the Automation API.

Inline programs, a local file backend under stackkit's state folder (no Pulumi account), and a
passphrase generated once and kept with owner-only permissions (or taken from the environment).
One Pulumi stack per stackkit stack and target. Checks that can fail without changing anything
run first (:mod:`stackkit.preflight`).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import manifests, model, preflight, versions
from .config import StackConfig
from .endpoint import otlp_token
from .errors import DeployError
from .paths import import_stacks
from .render import render
from .state import (
    OUTPUTS_FILE,
    private_folder,
    read_outputs,
    secret,
    stack_dir,
    state_root,
    write_private,
)

PROJECT = "stackkit"
PASSPHRASE_FILE = "pulumi-passphrase"
GRAFANA_PASSWORD_FILE = "grafana-admin-password"

Progress = Callable[[str], None]
LOCK_WAIT_S = 600.0
CONTAINER_TYPE = "docker:index/container:Container"


@dataclass(frozen=True)
class Result:
    """What a deploy command did."""

    changes: dict[str, int]
    outputs: dict[str, Any] = field(default_factory=dict)


def _quiet(_: str) -> None:
    pass


def rendered(cfg: StackConfig) -> dict[str, str]:
    """Every rendered file, by its path in `render`'s output."""
    return {str(p): text for p, text in render(cfg).items()}


def build(cfg: StackConfig) -> model.Stack:
    """The model of the stack ``cfg`` describes, with its rendered files."""
    return model.build(cfg, rendered(cfg))


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
    files: dict[str, str] = {}
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


def secret_values(cfg: StackConfig) -> dict[str, dict[str, str]]:
    """The value of every secret the stack reads, by secret name and key."""
    values = {model.GRAFANA_SECRET: {"password": grafana_password(cfg)}}
    token = otlp_token(cfg)
    if token is not None:
        values[model.TOKEN_SECRET] = {"token": token}
    if written := _remote_write_secrets(cfg):
        values[model.REMOTE_WRITE_SECRET] = written
    if tls := _tls_files(cfg):
        values[model.TLS_SECRET] = tls
    return values


def stack_args(cfg: StackConfig, running: bool = True) -> Any:
    """The plain data the Docker program receives."""
    stacks = import_stacks()
    return stacks.StackArgs(
        stack=build(cfg),
        secrets=stacks.Secrets(secret_values(cfg) if running else {}),
        bind_address=cfg.docker.bind_address,
        running=running,
    )


def kubernetes_args(cfg: StackConfig, running: bool = True) -> Any:
    """The plain data the Kubernetes program receives: the objects `render` writes, by
    component, and the Secrets (from generated values) that `render` only names."""
    files = rendered(cfg)
    stack = model.build(cfg, files)
    by_component: dict[str, list[dict[str, Any]]] = {}
    namespace: dict[str, Any] = {}
    for obj in manifests.objects(cfg, stack, files):
        if obj["kind"] == "Namespace":
            namespace = obj
            continue
        component = obj["metadata"]["labels"]["app.kubernetes.io/name"]
        by_component.setdefault(component, []).append(obj)
    k8s = cfg.kubernetes
    return import_stacks().KubernetesArgs(
        namespace=namespace,
        objects=by_component,
        secrets=manifests.secrets(cfg, stack, secret_values(cfg)) if running else (),
        kubeconfig=str(k8s.kubeconfig.expanduser()) if k8s.kubeconfig else None,
        context=k8s.context,
        running=running,
    )


# --- Pulumi ---------------------------------------------------------------------------------


def _tool_cache() -> list[Path]:
    """The Pulumi CLI and providers `make up` builds offline, when they are there."""
    root = Path(os.environ.get("STACKKIT_TOOLS") or Path.home() / ".cache" / "stackkit-tools")
    built = [
        root / f"pulumi-{versions.PULUMI_VERSION}" / "bin",
        root / f"pulumi-docker-{versions.PULUMI_DOCKER_VERSION}" / "bin",
        root / f"pulumi-kubernetes-{versions.PULUMI_KUBERNETES_VERSION}" / "bin",
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
        # Pulumi's own files (plugins, workspace settings, logs) stay in stackkit's state.
        "PULUMI_HOME": os.environ.get("PULUMI_HOME") or str(pulumi_home()),
    }
    if cached := _tool_cache():  # providers built offline are found on PATH by the engine
        env["PATH"] = os.pathsep.join([*map(str, cached), os.environ.get("PATH", "")])
    if not ({"PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"} & os.environ.keys()):
        secret(cfg.name, PASSPHRASE_FILE)  # generated once, owner-only
        env["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(stack_dir(cfg.name) / PASSPHRASE_FILE)
    return env


def pulumi_home() -> Path:
    """Pulumi's home (plugins, workspace settings, logs) inside stackkit's state folder."""
    home = state_root() / "pulumi-home"
    private_folder(home)
    return home


def _work_dir(cfg: StackConfig) -> Path:
    """The workspace of the inline program (instead of a temporary folder left behind)."""
    folder = stack_dir(cfg.name) / f"pulumi-workspace-{cfg.target}"
    private_folder(folder)
    return folder


def pulumi_stack_name(cfg: StackConfig) -> str:
    """One Pulumi stack per stackkit stack and target (Docker keeps the stack's own name)."""
    return cfg.name if cfg.target == "docker" else f"{cfg.name}.{cfg.target}"


def _program(cfg: StackConfig, running: bool) -> Callable[[], None]:
    if cfg.target == "kubernetes":
        kube_args = kubernetes_args(cfg, running)

        def kube_program() -> None:
            import_stacks().KubernetesStack(cfg.name, kube_args)

        return kube_program
    docker_args = stack_args(cfg, running)

    def docker_program() -> None:
        import pulumi

        deployed = import_stacks().DockerStack(cfg.name, docker_args)
        pulumi.export("grafana_url", deployed.grafana_url)
        pulumi.export("prometheus_url", deployed.prometheus_url)
        pulumi.export("otlp_endpoints", deployed.otlp_endpoints)

    return docker_program


def _stack(cfg: StackConfig, running: bool) -> Any:
    from pulumi import automation as auto

    program = _program(cfg, running)
    name = pulumi_stack_name(cfg)
    opts = auto.LocalWorkspaceOptions(
        work_dir=str(_work_dir(cfg)),
        pulumi_command=auto.PulumiCommand(root=_pulumi_root(), skip_version_check=True),
        env_vars=_workspace_env(cfg),
        project_settings=auto.ProjectSettings(name=PROJECT, runtime="python"),
        secrets_provider="passphrase",
    )
    try:
        return auto.create_or_select_stack(
            stack_name=name, project_name=PROJECT, program=program, opts=opts
        )
    except auto.CommandError as e:
        raise DeployError(f"cannot open the Pulumi stack {name}: {_tail(e)}") from e


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


@contextmanager
def _exclusive(cfg: StackConfig, progress: Progress) -> Iterator[None]:
    """One deploy command per stack at a time: a second one waits for the first (up to
    LOCK_WAIT_S), saying so, then stops with a clear message."""
    import fcntl

    path = stack_dir(cfg.name) / "deploy.lock"
    private_folder(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            progress(
                f"another stackkit command is changing stack {cfg.name} (pid {holder}); waiting"
            )
            deadline = time.monotonic() + LOCK_WAIT_S
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise DeployError(
                            f"stack {cfg.name} is still being changed by pid {holder} after "
                            f"{LOCK_WAIT_S:.0f}s: let it finish (or stop it), then run this again"
                        ) from None
                    time.sleep(0.5)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _repair(cfg: StackConfig, stack: Any, progress: Progress) -> None:
    """Finish what an interrupted run left half-done (pending operations), so no one has to
    edit Pulumi's state by hand."""
    pending = stack.export_stack().deployment.get("pending_operations") or []
    if not pending:
        return
    names = sorted(
        str(op.get("resource", {}).get("urn", "?")).rsplit("::", 1)[-1] for op in pending
    )
    progress(f"an earlier run stopped part way ({', '.join(names)}): reconciling with what exists")
    if cfg.target == "docker":
        # A container created but not recorded would clash by name with its re-creation.
        engine = preflight.require_engine()
        for op in pending:
            resource = op.get("resource", {})
            if op.get("type") == "creating" and resource.get("type") == CONTAINER_TYPE:
                name = (resource.get("inputs") or {}).get("name")
                if isinstance(name, str):
                    engine.remove_stack_container(name, cfg.name)
    stack.refresh(clear_pending_creates=True, color="never")


def _run(
    cfg: StackConfig,
    operation: str,
    progress: Progress,
    running: bool = True,
    refresh: bool = False,
) -> Any:
    """Run one Pulumi operation (up, preview, destroy) on the stack; CommandError -> DeployError."""
    from pulumi import automation as auto

    with _exclusive(cfg, progress):
        stack = _stack(cfg, running=running)
        try:
            if operation != "preview":
                _repair(cfg, stack, progress)
            extra = {"refresh": True} if refresh else {}
            return getattr(stack, operation)(on_event=_events(progress), color="never", **extra)
        except auto.CommandError as e:
            hint = (
                "; the stack may be partly changed: fix the cause and run it again"
                if operation != "preview"
                else ""
            )
            raise DeployError(f"{operation} failed{hint}:\n  {_tail(e)}") from e
        finally:
            _clean_logs()


def _clean_logs() -> None:
    """Pulumi keeps a log of every run; stackkit keeps none of them (they hold nothing a user
    needs after a run that worked, and the error of one that failed is in its message)."""
    home = os.environ.get("PULUMI_HOME")
    logs = Path(home) / "logs" if home else pulumi_home() / "logs"
    shutil.rmtree(logs, ignore_errors=True)


def _check(cfg: StackConfig, progress: Progress) -> None:
    if cfg.target == "kubernetes":
        preflight.kubernetes(cfg, progress)
    else:
        preflight.docker(cfg, build(cfg), progress)


def up(cfg: StackConfig, progress: Progress = _quiet) -> Result:
    """Create or update the stack; returns what changed and the stack's outputs."""
    stamp, refresh = None, False
    if cfg.target == "docker":
        from . import unchanged

        engine = preflight.require_engine()
        stamp = unchanged.fingerprint(cfg, secret_values(cfg), engine)
        last = read_outputs(cfg.name)
        seen = unchanged.compare(cfg, stamp, engine)
        if last and seen == "unchanged":
            return Result({}, last)
        refresh = seen == "drifted"
        if refresh:
            progress("containers changed outside stackkit: Pulumi looks at them first")
    _check(cfg, progress)
    try:
        result = _run(cfg, "up", progress, refresh=refresh)
    except DeployError as e:
        if cfg.target != "kubernetes":
            raise
        from .kube_status import diagnose

        raise DeployError(f"{e}{diagnose(cfg, preflight.cluster(cfg))}") from e
    outputs: dict[str, Any] = {k: v.value for k, v in result.outputs.items()}
    if cfg.target == "kubernetes":
        from .kube_status import endpoints

        outputs = endpoints(cfg, preflight.cluster(cfg))
    outputs["target"] = cfg.target
    write_private(stack_dir(cfg.name) / OUTPUTS_FILE, json.dumps(outputs, indent=2, sort_keys=True))
    if stamp is not None:
        from . import unchanged

        unchanged.record(cfg, stamp, preflight.require_engine())
    return Result(_changes(result.summary.resource_changes), outputs)


def preview(cfg: StackConfig, progress: Progress = _quiet) -> Result:
    """What `up` would change, without changing anything."""
    _check(cfg, progress)
    return Result(_changes(_run(cfg, "preview", progress).change_summary))


def down(cfg: StackConfig, purge: bool = False, progress: Progress = _quiet) -> Result:
    """Remove the stack's workloads; data volumes stay unless ``purge``."""
    if cfg.target == "kubernetes":
        c = preflight.cluster(cfg)
        progress(f"cluster {c.server} (context {c.context}), namespace {cfg.kubernetes.namespace}")
    else:
        preflight.require_engine()
    from . import unchanged

    unchanged.forget(cfg)
    # Without purge, `down` is an update to a program that keeps only the data volumes.
    result = _run(cfg, "destroy" if purge else "up", progress, running=False)
    (stack_dir(cfg.name) / OUTPUTS_FILE).unlink(missing_ok=True)
    return Result(_changes(result.summary.resource_changes))
