"""Checks that change nothing, run before `up` and `preview` change anything.

Docker: an engine answers, every image is present or pullable, the host ports are free (or held
by this very stack). Kubernetes: the cluster answers, these credentials may create what the
stack needs in its namespace, and a StorageClass exists for the data volumes.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from typing import Any

from . import kube_api, model
from .config import StackConfig
from .docker_api import DockerUnavailable, Engine
from .errors import DeployError

Progress = Callable[[str], None]

# What `up` creates in the namespace: (API group, resource).
KUBE_NEEDS = (
    ("", "configmaps"),
    ("", "secrets"),
    ("", "services"),
    ("", "persistentvolumeclaims"),
    ("apps", "deployments"),
    ("networking.k8s.io", "networkpolicies"),
    ("policy", "poddisruptionbudgets"),
)


def published_ports(stack: model.Stack) -> dict[str, int]:
    """Host ports the Docker target publishes, by component and port name."""
    return {
        f"{c.name} {p.name}": p.number
        for c in stack.components
        for p in c.ports
        if p.audience != "internal"
    }


def require_engine() -> Engine:
    """The Docker engine DOCKER_HOST names, answering; else a DeployError saying what to do."""
    engine = Engine.from_env()
    try:
        engine.ping()
    except DockerUnavailable as e:
        raise DeployError(f"{e}: start Docker, or point DOCKER_HOST at a running engine") from None
    return engine


def docker(cfg: StackConfig, stack: model.Stack, progress: Progress) -> bool:
    """Fail before any change when Docker, an image or a host port is not usable. Pulls the
    images that are missing; returns whether it pulled any."""
    engine = require_engine()
    pulled = False
    for c in stack.components:
        if engine.has_image(c.image):
            continue
        pulled = True
        progress(f"pulling {c.image}")
        reason = engine.pull(c.image)
        if reason is not None:
            raise DeployError(
                f"image {c.image} ({c.name}) is not on this machine and cannot be pulled "
                f"({reason}). Load it with `docker load`, mirror it and set images.registry, or "
                f"set images.{c.name} to an image you have; nothing was changed"
            )
    address = cfg.docker.bind_address
    if _bind_error(address, 0) == errno.EADDRNOTAVAIL:
        raise DeployError(
            f"docker.bind_address {address} is not an address of this host: set it to "
            "127.0.0.1 (this machine only), 0.0.0.0 (every interface) or one of this host's "
            "addresses (`ip -brief address`); nothing was changed"
        )
    ours = _published_by_stack(engine, cfg.name)
    for role, port in sorted(published_ports(stack).items()):
        if port not in ours and not _port_free(cfg.docker.bind_address, port):
            raise DeployError(
                f"port {port} on {cfg.docker.bind_address} ({role}) is in use by another "
                f"program: stop it or choose another port in the config; nothing was changed"
            )
    return pulled


def _published_by_stack(engine: Engine, name: str) -> set[int]:
    ports_in_use = set()
    for c in engine.containers(f"stackkit.stack={name}"):
        for p in c.get("Ports") or []:
            if p.get("PublicPort"):
                ports_in_use.add(int(p["PublicPort"]))
        if c.get("State") == "restarting":
            # Between tries the engine lists no ports, yet its proxy may hold them a moment.
            state = engine.state(c.get("Id") or c.get("Name", ""))
            ports_in_use |= state.host_ports if state else set()
    return ports_in_use


def _port_free(address: str, port: int) -> bool:
    return _bind_error(address, port) is None


def _bind_error(address: str, port: int) -> int | None:
    """Why a listener could not bind ``address``:``port`` (an errno), None when it could."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # As Docker's own listener does: connections in TIME_WAIT do not make a port busy.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError as e:
            return e.errno or -1
    return None


def cluster(cfg: StackConfig) -> kube_api.Cluster:
    """The cluster the config names (kubernetes.kubeconfig / .context, else kubectl's rules)."""
    try:
        return kube_api.load(cfg.kubernetes.kubeconfig, cfg.kubernetes.context)
    except kube_api.KubeError as e:
        raise DeployError(str(e)) from None


# Provisioners whose volumes root owns, with fsGroup ignored: a non-root component cannot write.
IGNORE_FSGROUP = frozenset({"kubernetes.io/host-path"})


def _storage_fits(cfg: StackConfig, stack: model.Stack, storage_class: dict[str, Any]) -> None:
    provisioner = str(storage_class.get("provisioner", ""))
    claims = [c.name for c in stack.components if c.data_dir]
    if provisioner not in IGNORE_FSGROUP or not claims or cfg.kubernetes.volume_init:
        return
    name = storage_class["metadata"]["name"]
    who = " and ".join(filter(None, (", ".join(claims[:-1]), claims[-1])))
    raise DeployError(
        f"StorageClass {name} ({provisioner}) gives volumes that root owns and ignores fsGroup: "
        f"{who}, which run as non-root users, could not write theirs. Set "
        "kubernetes.volume_init: true (an init container gives each volume to its user), or "
        "choose a StorageClass that applies fsGroup (kubernetes.storage_class); nothing was "
        "changed"
    )


def kubernetes(cfg: StackConfig, stack: model.Stack, progress: Progress) -> kube_api.Cluster:
    """Fail before any change when the cluster, a permission or a StorageClass is missing."""
    k8s = cfg.kubernetes
    c = cluster(cfg)
    progress(f"cluster {c.server} (context {c.context}), namespace {k8s.namespace}")
    try:
        version = c.get("/version", timeout=10)
        status, _ = c.request("GET", f"/api/v1/namespaces/{k8s.namespace}")
        missing = []
        if status == 404 and not c.can_i("create", "namespaces", None):
            missing.append(f"create the namespace {k8s.namespace}")
        for group, resource in KUBE_NEEDS:
            for verb in ("create", "get", "patch", "delete"):
                if not c.can_i(verb, resource, k8s.namespace, group):
                    missing.append(f"{verb} {resource}")
        if missing:
            raise DeployError(
                f"context {c.context} may not {', '.join(missing)} in namespace "
                f"{k8s.namespace}: ask for a Role that allows it, or choose another namespace "
                "(kubernetes.namespace); nothing was changed"
            )
        classes = c.get("/apis/storage.k8s.io/v1/storageclasses").get("items", [])
    except kube_api.KubeError as e:
        raise DeployError(f"{e}; nothing was changed") from None
    names = sorted(s["metadata"]["name"] for s in classes)
    if k8s.storage_class:
        chosen = [s for s in classes if s["metadata"]["name"] == k8s.storage_class]
        if not chosen:
            raise DeployError(
                f"kubernetes.storage_class {k8s.storage_class!r} does not exist in the cluster "
                f"(it has: {', '.join(names) or 'none'}); nothing was changed"
            )
    else:
        chosen = [
            s
            for s in classes
            if s["metadata"]
            .get("annotations", {})
            .get("storageclass.kubernetes.io/is-default-class")
            == "true"
        ]
        if not chosen:
            raise DeployError(
                "the cluster has no default StorageClass for the data volumes: set "
                f"kubernetes.storage_class to one of: {', '.join(names) or '(none exist)'}; "
                "nothing was changed"
            )
    _storage_fits(cfg, stack, chosen[0])
    progress(f"  Kubernetes {version.get('gitVersion', '?')}: reachable, permissions ok")
    return c
