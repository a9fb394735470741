"""Deploying: what each target's Pulumi program receives, and `up`, `preview`, `down`.

Checks that can fail without changing anything run first (:mod:`stackkit.preflight`); Pulumi
runs through :mod:`stackkit.pulumi_stack`. A Docker `up` whose desired state has not changed
returns without starting Pulumi, and so does a Kubernetes one whose objects are all as the last
`up` left them (:mod:`stackkit.unchanged`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import (
    alertmanager,
    manifests,
    model,
    ownership,
    preflight,
    prometheus_auth,
    pulumi_stack,
    readiness,
)
from .config import StackConfig
from .docker_api import Engine
from .endpoint import otlp_token
from .errors import DeployError
from .paths import import_stacks
from .render import render
from .state import OUTPUTS_FILE, read_outputs, secret, stack_dir, write_private

GRAFANA_PASSWORD_FILE = "grafana-admin-password"
CONTAINER_TYPE = ownership.CONTAINER_TYPE
NETWORK_TYPE = ownership.NETWORK_TYPE

Progress = Callable[[str], None]


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


def _alertmanager_secrets(cfg: StackConfig) -> dict[str, str]:
    # The stack's Alertmanager reads them, or the Operator's (prometheus.mode existing).
    if not cfg.routes_alerts:
        return {}
    found = {}
    for i, receiver in enumerate(cfg.alertmanager.receivers):
        for key, var in receiver.secrets().items():
            value = os.environ.get(var)
            if not value:
                raise DeployError(
                    f"alertmanager.receivers[{i}] ({receiver.name}) needs its secret: set {var}"
                )
            found[key] = value
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
    if receivers := _alertmanager_secrets(cfg):
        values[alertmanager.SECRET] = receivers
    if tls := _tls_files(cfg):
        values[model.TLS_SECRET] = tls
    if model.prometheus_protected(cfg):
        values[model.PROMETHEUS_AUTH_SECRET] = prometheus_auth.secrets(cfg.name)
    return values


def probe_authorizations(stack: model.Stack, secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    """The header each component's readiness probe carries, where it checks one."""
    return {
        c.name: secrets[ref.secret][ref.key]
        for c in stack.components
        if (ref := c.ready.authorization) is not None
    }


def stack_args(cfg: StackConfig, running: bool = True, images: dict[str, str] | None = None) -> Any:
    """The plain data the Docker program receives."""
    return _docker_args(
        cfg, build(cfg), secret_values(cfg) if running else {}, running, images or {}
    )


def _docker_args(
    cfg: StackConfig,
    stack: model.Stack,
    secrets: dict[str, dict[str, str]],
    running: bool,
    images: dict[str, str],
) -> Any:
    stacks = import_stacks()
    return stacks.StackArgs(
        stack=stack,
        secrets=stacks.Secrets(secrets),
        bind_address=cfg.docker.bind_address,
        running=running,
        owner=ownership.owner_id(cfg.name),
        images=images,
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


def _kube_program(cfg: StackConfig, running: bool, kube_args: Any = None) -> Callable[[], None]:
    kube_args = kube_args or kubernetes_args(cfg, running)

    def kube_program() -> None:
        import_stacks().KubernetesStack(cfg.name, kube_args)

    return kube_program


def _kube_objects(kube_args: Any) -> list[dict[str, Any]]:
    """Every object the Kubernetes program applies (the namespace, the components', the
    Secrets)."""
    return [
        kube_args.namespace,
        *(o for docs in kube_args.objects.values() for o in docs),
        *kube_args.secrets,
    ]


def _kube_seen(cfg: StackConfig, cluster: Any, kube_args: Any) -> tuple[str, str]:
    """The fingerprint of this Kubernetes deploy, and how the cluster compares with the last
    `up` (:func:`stackkit.unchanged.compare_kubernetes`)."""
    from . import unchanged

    facts = {"server": cluster.server, "context": cluster.context}
    stamp = unchanged.fingerprint(cfg, secret_values(cfg), facts)
    return stamp, unchanged.compare_kubernetes(cfg, stamp, _kube_objects(kube_args), cluster)


def _docker_program(cfg: StackConfig, args: Any) -> Callable[[], None]:
    def docker_program() -> None:
        import pulumi

        deployed = import_stacks().DockerStack(cfg.name, args)
        pulumi.export("grafana_url", deployed.grafana_url)
        pulumi.export("prometheus_url", deployed.prometheus_url)
        pulumi.export("otlp_endpoints", deployed.otlp_endpoints)

    return docker_program


def _remover(cfg: StackConfig, engine: Engine) -> Callable[[str, str], None]:
    """Removes what an interrupted run created and never recorded: a container of this stack, or
    its network while nothing is attached to it. Volumes are never removed: creating one that
    exists is harmless, and it may hold data."""

    def remove(kind: str, name: str) -> None:
        if kind == CONTAINER_TYPE:
            engine.remove_stack_container(name, cfg.name)
        elif kind == NETWORK_TYPE and name == f"{cfg.name}-net":
            engine.remove_unused_network(name)

    return remove


def _image_ids(stack: model.Stack, engine: Engine) -> dict[str, str]:
    refs = {c.name: c.image for c in stack.components}
    refs[model.VOLUME_INIT] = stack.volume_init_image
    return {name: engine.image_id(ref) or ref for name, ref in refs.items()}


def _docker_checks(
    cfg: StackConfig,
    stack: model.Stack,
    engine: Engine,
    progress: Progress,
    adopt: bool = False,
    write: bool = True,
) -> ownership.Volumes:
    """The names the stack needs are free or its own (else a DeployError, nothing changed)."""
    held = pulumi_stack.held(cfg)
    ownership.check_names(cfg, stack, engine, held)
    return ownership.check_volumes(cfg, stack, engine, held, progress, adopt=adopt, write=write)


def up(cfg: StackConfig, progress: Progress = _quiet, adopt_volumes: bool = False) -> Result:
    """Create or update the stack; returns what changed and the stack's outputs.
    ``adopt_volumes`` hands the data volumes found under the stack's names to this state folder
    (:mod:`stackkit.ownership`)."""
    if cfg.target == "kubernetes":
        return _up_kubernetes(cfg, progress)
    from . import unchanged

    engine = preflight.require_engine()
    stack = build(cfg)
    secrets = secret_values(cfg)
    images = _image_ids(stack, engine)
    stamp = unchanged.fingerprint(cfg, secrets, images)
    last = read_outputs(cfg.name)
    seen = unchanged.compare(cfg, stamp, engine)
    if last and seen == "unchanged" and not adopt_volumes:
        return Result({}, last)
    volumes = _docker_checks(cfg, stack, engine, progress, adopt=adopt_volumes)
    refresh = seen == "drifted" or bool(volumes.missing)
    if refresh:
        progress("the stack changed outside stackkit: Pulumi looks at it first")
    if preflight.docker(cfg, stack, progress):  # something was pulled
        images = _image_ids(stack, engine)
        stamp = unchanged.fingerprint(cfg, secrets, images)
    args = _docker_args(cfg, stack, secrets, True, images)
    outcome = pulumi_stack.run(
        cfg,
        "up",
        _docker_program(cfg, args),
        progress,
        refresh=refresh,
        remove_orphan=_remover(cfg, engine),
    )
    outputs: dict[str, Any] = stack.published_urls(cfg.docker.bind_address)
    outputs["probe_urls"] = stack.probe_urls(cfg.docker.bind_address)  # what `status` asks
    outputs["target"] = cfg.target
    write_private(stack_dir(cfg.name) / OUTPUTS_FILE, json.dumps(outputs, indent=2, sort_keys=True))
    readiness.wait(
        stack,
        cfg.docker.bind_address,
        engine,
        progress,
        authorizations=probe_authorizations(stack, secrets),
    )
    unchanged.record(
        cfg,
        stamp,
        engine,
        ownership.network_name(cfg.name),
        ownership.data_volumes(cfg.name, stack),
    )
    return Result(outcome.changes, outputs)


def _up_kubernetes(cfg: StackConfig, progress: Progress) -> Result:
    from . import unchanged
    from .kube_status import diagnose

    cluster = preflight.cluster(cfg)
    kube_args = kubernetes_args(cfg, True)
    stamp, seen = _kube_seen(cfg, cluster, kube_args)
    last = read_outputs(cfg.name)
    if last and seen == "unchanged":
        # Where developers reach it may still move (a load balancer's address comes later).
        return Result({}, _kube_outputs(cfg, cluster))
    preflight.kubernetes(cfg, build(cfg), progress)
    refresh = seen == "drifted"
    if refresh:
        progress("the stack changed outside stackkit: Pulumi looks at it first")
    try:
        outcome = pulumi_stack.run(
            cfg, "up", _kube_program(cfg, True, kube_args), progress, refresh=refresh
        )
    except DeployError as e:
        raise DeployError(f"{e}{diagnose(cfg, cluster)}") from e
    outputs = _kube_outputs(cfg, cluster)
    unchanged.record_kubernetes(cfg, stamp, _kube_objects(kube_args), cluster)
    return Result(outcome.changes, outputs)


def _kube_outputs(cfg: StackConfig, cluster: Any) -> dict[str, Any]:
    """Where the deployed stack is reached, read from the cluster and saved for `status`."""
    from .kube_status import endpoints

    outputs = endpoints(cfg, cluster)
    outputs["target"] = cfg.target
    write_private(stack_dir(cfg.name) / OUTPUTS_FILE, json.dumps(outputs, indent=2, sort_keys=True))
    return outputs


def _program(cfg: StackConfig, running: bool) -> Callable[[], None]:
    if cfg.target == "kubernetes":
        return _kube_program(cfg, running)
    stack = build(cfg)
    secrets = secret_values(cfg) if running else {}
    images = _image_ids(stack, preflight.require_engine()) if running else {}
    return _docker_program(cfg, _docker_args(cfg, stack, secrets, running, images))


def preview(cfg: StackConfig, progress: Progress = _quiet) -> Result:
    """What `up` would change, without changing anything."""
    refresh = False
    if cfg.target == "kubernetes":
        preflight.kubernetes(cfg, build(cfg), progress)
        # As `up` would: what was changed behind stackkit's back is looked at first.
        refresh = _kube_seen(cfg, preflight.cluster(cfg), kubernetes_args(cfg))[1] == "drifted"
    else:
        from . import unchanged

        stack, engine = build(cfg), preflight.require_engine()
        volumes = _docker_checks(cfg, stack, engine, progress, write=False)
        preflight.docker(cfg, stack, progress)
        # As `up` would: what was changed behind stackkit's back is looked at first.
        refresh = bool(volumes.missing) or unchanged.compare(cfg, "", engine) == "drifted"
    outcome = pulumi_stack.run(cfg, "preview", _program(cfg, True), progress, refresh=refresh)
    return Result(outcome.changes)


def down(cfg: StackConfig, purge: bool = False, progress: Progress = _quiet) -> Result:
    """Remove the stack's workloads; data volumes stay unless ``purge``."""
    remover, engine, volumes = None, None, None
    if cfg.target == "kubernetes":
        c = preflight.cluster(cfg)
        progress(f"cluster {c.server} (context {c.context}), namespace {cfg.kubernetes.namespace}")
    else:
        engine = preflight.require_engine()
        remover = _remover(cfg, engine)
        held = pulumi_stack.held(cfg)
        volumes = ownership.check_volumes(cfg, build(cfg), engine, held, progress)
    from . import unchanged

    unchanged.forget(cfg)
    # Without purge, `down` is an update to a program that keeps only the data volumes.
    outcome = pulumi_stack.run(
        cfg,
        "destroy" if purge else "up",
        _program(cfg, False),
        progress,
        remove_orphan=remover,
    )
    if purge and engine is not None and volumes is not None:
        # Pulumi keeps data volumes (retain_on_delete): only this state folder's go.
        ownership.purge(cfg, volumes, engine, progress)
    (stack_dir(cfg.name) / OUTPUTS_FILE).unlink(missing_ok=True)
    return Result(outcome.changes)
