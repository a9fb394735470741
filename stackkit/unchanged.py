"""A Docker `up` whose desired state has not changed need not start Pulumi.

After every successful `up`, stackkit records a fingerprint of everything the deploy depends on
(its own code and templates, the config, the secrets' values, the images' IDs) and the
containers that resulted. A later `up` with the same fingerprint, whose containers are all still
there, the same, running and on the stack's network, and whose volumes are there, has nothing to
do: it says so in a fraction of a second. Anything else (a changed config, a deleted or stopped
container, a deleted network or volume, a new image) goes through Pulumi, which stays the deploy
engine and keeps its state true.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .config import StackConfig
from .docker_api import Engine
from .paths import STACKS_DIR, TEMPLATES_DIR
from .state import read_private, stack_dir, write_private

RECORD = "deployed-docker.json"
_CODE = Path(__file__).resolve().parent


def fingerprint(
    cfg: StackConfig, secrets: dict[str, dict[str, str]], images: dict[str, str]
) -> str:
    """A digest of what the Docker deploy of ``cfg`` is made of."""
    digest = hashlib.sha256()
    for folder in (_CODE, TEMPLATES_DIR, STACKS_DIR):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix in (".py", ".j2", ".json", ".yaml", ".ini"):
                digest.update(f"{path.relative_to(folder)}\0".encode())
                digest.update(path.read_bytes())
    digest.update(cfg.model_dump_json().encode())
    digest.update(json.dumps(secrets, sort_keys=True).encode())
    for component, image in sorted(images.items()):
        digest.update(f"{component}={image}\0".encode())
    return digest.hexdigest()


def _ours(cfg: StackConfig, engine: Engine) -> dict[str, dict[str, str]]:
    return {
        c["Name"]: {"id": c["Id"], "state": c["State"]}
        for c in engine.containers(f"stackkit.stack={cfg.name}")
    }


def record(cfg: StackConfig, stamp: str, engine: Engine, network: str, volumes: list[str]) -> None:
    """Remember what this successful `up` deployed: the containers, and the network and volumes
    they rely on."""
    found = _ours(cfg, engine)
    write_private(
        stack_dir(cfg.name) / RECORD,
        json.dumps(
            {"fingerprint": stamp, "containers": found, "network": network, "volumes": volumes},
            sort_keys=True,
        ),
    )


def forget(cfg: StackConfig) -> None:
    """`down` changed the stack: the next `up` goes through Pulumi."""
    (stack_dir(cfg.name) / RECORD).unlink(missing_ok=True)


def compare(cfg: StackConfig, stamp: str, engine: Engine) -> str:
    """``unchanged``: the last `up` deployed exactly this and it is all still there and running;
    ``drifted``: containers were removed, replaced or stopped behind stackkit's back, or the
    network or a volume they rely on was deleted or the containers taken off the network (Pulumi
    must look before it plans); ``changed``: the desired state differs (or nothing is known)."""
    raw = read_private(stack_dir(cfg.name) / RECORD, 1 << 20)
    try:
        last: Any = json.loads(raw or b"")
    except ValueError:
        return "changed"
    if (
        not isinstance(last, dict)
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
