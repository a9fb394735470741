"""An `up` whose desired state has not changed need not start Pulumi.

After every successful `up`, stackkit records a fingerprint of everything the deploy depends on
(its own code and templates, the config, the secrets' values, and the target's own facts: the
images' IDs on Docker, the cluster's address on Kubernetes) and what resulted. A later `up` with
the same fingerprint, whose result is all still there and the same, has nothing to do: it says
so in a fraction of a second. Anything else goes through Pulumi, which stays the deploy engine and
keeps its state true; what was changed behind stackkit's back (``drifted``) makes Pulumi look at
the live state first (a refresh), so it is repaired.

- Docker: the containers (same IDs, running, on the stack's network) and the volumes.
- Kubernetes: every object applied, read back at the fields stackkit sets
  (:mod:`stackkit.kube_live`); a status update or a settled rollout is not a change, an object
  deleted, scaled or edited by hand is.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import kube_live
from .config import StackConfig
from .docker_api import Engine
from .kube_api import Cluster, KubeError
from .paths import STACKS_DIR, TEMPLATES_DIR
from .state import read_private, stack_dir, write_private

RECORDS = {"docker": "deployed-docker.json", "kubernetes": "deployed-kubernetes.json"}
_CODE = Path(__file__).resolve().parent


def fingerprint(
    cfg: StackConfig, secrets: dict[str, dict[str, str]], facts: Mapping[str, str]
) -> str:
    """A digest of what the deploy of ``cfg`` is made of (``facts``: what the target adds)."""
    digest = hashlib.sha256()
    for folder in (_CODE, TEMPLATES_DIR, STACKS_DIR):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix in (".py", ".j2", ".json", ".yaml", ".ini"):
                digest.update(f"{path.relative_to(folder)}\0".encode())
                digest.update(path.read_bytes())
    digest.update(cfg.model_dump_json().encode())
    digest.update(json.dumps(secrets, sort_keys=True).encode())
    for name, value in sorted(facts.items()):
        digest.update(f"{name}={value}\0".encode())
    return digest.hexdigest()


def _write(cfg: StackConfig, record: dict[str, Any]) -> None:
    write_private(stack_dir(cfg.name) / RECORDS[cfg.target], json.dumps(record, sort_keys=True))


def _read(cfg: StackConfig) -> dict[str, Any] | None:
    raw = read_private(stack_dir(cfg.name) / RECORDS[cfg.target], 1 << 20)
    try:
        last: Any = json.loads(raw or b"")
    except ValueError:
        return None
    return last if isinstance(last, dict) else None


def _ours(cfg: StackConfig, engine: Engine) -> dict[str, dict[str, str]]:
    return {
        c["Name"]: {"id": c["Id"], "state": c["State"]}
        for c in engine.containers(f"stackkit.stack={cfg.name}")
    }


def record(cfg: StackConfig, stamp: str, engine: Engine, network: str, volumes: list[str]) -> None:
    """Remember what this successful `up` deployed: the containers, and the network and volumes
    they rely on."""
    found = _ours(cfg, engine)
    _write(cfg, {"fingerprint": stamp, "containers": found, "network": network, "volumes": volumes})


def forget(cfg: StackConfig) -> None:
    """`down` changed the stack: the next `up` goes through Pulumi."""
    for name in RECORDS.values():
        (stack_dir(cfg.name) / name).unlink(missing_ok=True)


def compare(cfg: StackConfig, stamp: str, engine: Engine) -> str:
    """``unchanged``: the last `up` deployed exactly this and it is all still there and running;
    ``drifted``: containers were removed, replaced or stopped behind stackkit's back, or the
    network or a volume they rely on was deleted or the containers taken off the network (Pulumi
    must look before it plans); ``changed``: the desired state differs (or nothing is known)."""
    last = _read(cfg)
    if (
        last is None
        or not isinstance(last.get("containers"), dict)
        or not isinstance(last.get("network"), str)
        or not isinstance(last.get("volumes"), list)
    ):
        return "changed"
    wanted, now = last["containers"], _ours(cfg, engine)
    same = set(now) == set(wanted) and all(
        seen["id"] == (wanted[name] or {}).get("id")
        # The one-shot volume init ran once and exited: that is its state.
        and (seen["state"] == "running" or name.endswith("-volume-init"))
        for name, seen in now.items()
    )
    if not same or not _relied_on(last["network"], last["volumes"], now, engine):
        return "drifted"
    return "unchanged" if last.get("fingerprint") == stamp else "changed"


def _relied_on(
    network: str, volumes: list[Any], now: dict[str, dict[str, str]], engine: Engine
) -> bool:
    """Whether the network is there with every running container on it, and every volume."""
    net = engine.network(network)
    running = {seen["id"] for seen in now.values() if seen["state"] == "running"}
    if net is None or not running <= set(net["Containers"]):
        return False
    return all(engine.volume(str(v)) is not None for v in volumes)


def record_kubernetes(
    cfg: StackConfig, stamp: str, objects: Sequence[Mapping[str, Any]], cluster: Cluster
) -> None:
    """Remember what this successful `up` applied: each object's desired digest and the digest
    of what the cluster holds for it now."""
    live = kube_live.snapshot(cluster, objects)
    applied = {
        kube_live.api_path(o): [kube_live.digest(o), live[kube_live.api_path(o)]] for o in objects
    }
    _write(cfg, {"fingerprint": stamp, "objects": applied})


def compare_kubernetes(
    cfg: StackConfig, stamp: str, objects: Sequence[Mapping[str, Any]], cluster: Cluster
) -> str:
    """As :func:`compare`, for a cluster: ``drifted`` when an object whose desired form has not
    changed since the last `up` was deleted or edited where stackkit sets a value (only those:
    an object the new config changes is Pulumi's to update anyway). A cluster that cannot be
    read here counts as ``changed``: Pulumi reports what is wrong with it."""
    last = _read(cfg)
    if last is None or not isinstance(last.get("objects"), dict):
        return "changed"
    applied: dict[str, Any] = last["objects"]
    desired = {kube_live.api_path(o): o for o in objects}
    same = [
        desired[path]
        for path, seen in applied.items()
        if path in desired
        and isinstance(seen, list)
        and seen[:1] == [kube_live.digest(desired[path])]
    ]
    try:
        live = kube_live.snapshot(cluster, same)
    except KubeError:
        return "changed"
    if any(live[path] != applied[path][1] for path in live):
        return "drifted"
    if last.get("fingerprint") == stamp and set(desired) == set(applied):
        return "unchanged"
    return "changed"
