"""Which Docker objects a stack may touch: only those its own state folder created.

The names are fixed (``<name>-<component>``, ``<name>-net``, ``<name>-<component>-data``), so
another state folder with the same stack name (another admin, a lost folder), a person or another
program may hold one. The Pulumi state in this stack's state folder says which containers and
network it created; a name held by any other stops `up` and `preview` before anything changes.

Volumes outlive that state (`down` keeps them), so each one stackkit creates carries an owner
mark: the label ``stackkit.owner`` with an id kept in the stack's state folder (OWNER_FILE). Docker
cannot relabel a volume, so a volume this folder owns without that label is recorded by name in
the state folder instead (VOLUMES_FILE); the name is dropped from the record as soon as a run
finds the volume gone, so one made again later under that name is not taken for it (Docker gives
volumes no ID, and their ``CreatedAt`` moves when the volume is first used):

- on upgrade, the volumes the previous release created (no owner label) that this folder's
  Pulumi state already holds are recorded once, the first time this release runs here;
- `stackkit up --adopt-volumes` records the volumes found under the stack's names: the explicit
  hand-over of data another folder (or a person) made.

`up`, `preview` and `down` stop, changing nothing, when a data volume is not this folder's;
`down --purge` deletes only this folder's volumes, and Pulumi itself never deletes a data volume
(``retain_on_delete``), so a plain `down` cannot.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from . import model
from .config import StackConfig
from .docker_api import Engine
from .errors import DeployError
from .state import read_private, secret, stack_dir, write_private

OWNER_LABEL = "stackkit.owner"
OWNER_FILE = "owner-id"
VOLUMES_FILE = "volumes.json"
STACK_LABEL = "stackkit.stack"
CONTAINER_TYPE = "docker:index/container:Container"
NETWORK_TYPE = "docker:index/network:Network"
VOLUME_TYPE = "docker:index/volume:Volume"
ADOPT_FLAG = "--adopt-volumes"

Progress = Callable[[str], None]
Held = dict[str, set[str]]
"""The names of the objects this state folder's Pulumi state holds, by resource type."""


def owner_id(name: str) -> str:
    """The owner mark of this state folder's volumes of stack ``name`` (made once, kept)."""
    return secret(name, OWNER_FILE)


def network_name(name: str) -> str:
    return f"{name}-net"


def data_volumes(name: str, stack: model.Stack) -> list[str]:
    """The names of the stack's data volumes."""
    return sorted(f"{name}-{c.name}-data" for c in stack.components if c.data_dir)


def container_names(name: str, stack: model.Stack) -> list[str]:
    """The names of every container the Docker program creates."""
    names = [f"{name}-{c.name}" for c in stack.components]
    names += [f"{name}-{c.name}-volume-init" for c in stack.components if c.chown_data_dir]
    return sorted(names)


def check_names(cfg: StackConfig, stack: model.Stack, engine: Engine, held: Held) -> None:
    """Stop, before any change, when a container or network name of the stack is taken by an
    object this state folder did not create."""
    mine = held.get(CONTAINER_TYPE, set())
    for name in container_names(cfg.name, stack):
        found = None if name in mine else engine.container(name)
        if found is None:
            continue
        if found["Labels"].get(STACK_LABEL) == cfg.name:
            raise DeployError(
                f"a container named {name} exists that another stackkit state folder created "
                "for a stack of this name (another admin's, or a lost state folder's): take "
                f"that stack down from its own state folder, or remove it (`docker rm -f {name}`), "
                "or choose another stack name (`name:` in the config); nothing was changed"
            )
        raise DeployError(
            f"a container named {name} exists and stackkit did not create it: remove or rename "
            f"it (`docker rm -f {name}`, `docker rename {name} …`), or choose another stack name "
            "(`name:` in the config); nothing was changed"
        )
    net = network_name(cfg.name)
    if net not in held.get(NETWORK_TYPE, set()) and engine.network(net) is not None:
        raise DeployError(
            f"a network named {net} exists and this stack's state folder did not create it: "
            f"remove it (`docker network rm {net}`) or choose another stack name (`name:` in the "
            "config); nothing was changed"
        )


@dataclass(frozen=True)
class Volumes:
    """The stack's data volumes as the engine has them."""

    owned: list[str] = field(default_factory=list)
    """There, and this state folder's."""
    missing: list[str] = field(default_factory=list)
    """Held by this folder's Pulumi state but gone (deleted by hand): Pulumi must look first,
    then create them again, marked."""


def _record_path(name: str) -> str:
    return str(stack_dir(name) / VOLUMES_FILE)


def _read_record(name: str) -> set[str] | None:
    raw = read_private(_record_path(name), 1 << 20)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        volumes = data["volumes"]
        if not isinstance(volumes, list):
            raise TypeError("volumes is not a list")
    except (ValueError, KeyError, TypeError) as e:
        raise DeployError(
            f"{_record_path(name)} is not what stackkit writes ({e}): it names the volumes this "
            "state folder owns; restore it, or delete it and run `stackkit up "
            f"{ADOPT_FLAG}` to take the stack's volumes over"
        ) from None
    return {str(v) for v in volumes}


def _write_record(name: str, volumes: set[str]) -> None:
    write_private(
        stack_dir(name) / VOLUMES_FILE, json.dumps({"volumes": sorted(volumes)}, indent=2) + "\n"
    )


def check_volumes(
    cfg: StackConfig,
    stack: model.Stack,
    engine: Engine,
    held: Held,
    progress: Progress,
    adopt: bool = False,
    write: bool = True,
) -> Volumes:
    """The stack's data volumes, after making sure each one there is this state folder's (else
    a DeployError saying how to hand it over; nothing changed). ``adopt`` records the ones that
    are not as this folder's; ``write`` keeps what was learned (not for `preview`)."""
    mine = owner_id(cfg.name)
    record = _read_record(cfg.name)
    upgrading = record is None  # the first run of this release with this state folder
    record = set(record or ())
    held_volumes = held.get(VOLUME_TYPE, set())
    owned, missing, foreign = [], [], []
    for name in data_volumes(cfg.name, stack):
        found = engine.volume(name)
        if found is None:
            record.discard(name)
            if name in held_volumes:
                missing.append(name)
            continue
        owner = found["Labels"].get(OWNER_LABEL)
        if owner == mine or name in record:
            owned.append(name)
        elif owner is None and upgrading and name in held_volumes:
            record.add(name)  # created by the previous release from this very state
            owned.append(name)
        elif adopt:
            record.add(name)
            owned.append(name)
            progress(
                f"  adopted volume {name} (this stack's from now on: `down --purge` deletes it)"
            )
        else:
            foreign.append((name, owner))
    if foreign:
        name, owner = foreign[0]
        whose = (
            f"but by another one (owner mark {owner[:8]}…)"
            if owner
            else "(it has no stackkit owner mark: made by hand, by Docker for a container, or by "
            "an earlier stackkit from another state folder)"
        )
        rest = [n for n, _ in foreign[1:]]
        also = f"; so are {', '.join(rest)}" if rest else ""
        raise DeployError(
            f"volume {name} was not created by this stack's state folder {stack_dir(cfg.name)} "
            f"{whose}, so stackkit neither uses nor deletes it{also}. To hand its data to this "
            f"stack, take down the stack using it and run `stackkit up {ADOPT_FLAG}`; else "
            f"remove it (`docker volume rm {name}`) or choose another stack name (`name:` in the "
            "config); nothing was changed"
        )
    if write:
        _write_record(cfg.name, record)
    return Volumes(owned, missing)


def purge(cfg: StackConfig, volumes: Volumes, engine: Engine, progress: Progress) -> None:
    """Delete this state folder's data volumes (after `down --purge` removed the containers)."""
    record = _read_record(cfg.name) or set()
    for name in volumes.owned:
        reason = engine.remove_volume(name)
        if reason is not None:
            raise DeployError(
                f"cannot delete volume {name} ({reason}): stop what uses it, then run "
                "`stackkit down --purge` again"
            )
        record.discard(name)
        progress(f"  deleted volume {name}")
    _write_record(cfg.name, record)
