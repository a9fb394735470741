"""What a stack may touch on a real Docker engine: only what its own state folder created.

Volumes carry an owner mark (a label with the id kept in the stack's state folder); a stack never
adopts, replaces or deletes a volume it did not create unless told to (`up --adopt-volumes`), and
a plain `down` never deletes one. Names another program holds stop `up` and `preview` before
any change, one line each. Objects deleted behind stackkit's back (a network, a volume) make the
next `up` put them back instead of answering "no changes".
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from stackkit.config import StackConfig
from tests.e2e.conftest import Deployed
from tests.e2e.test_docker_faults import PREVIOUS_RELEASE, _release_tree

pytestmark = pytest.mark.integration

DATA = ("alertmanager", "grafana", "otelcol", "prometheus")


def _error(result: object) -> str:
    """The last line of a failed command: the one error line."""
    stderr: str = getattr(result, "stderr", "")
    return stderr.strip().splitlines()[-1]


def _volume_names(d: Deployed) -> list[str]:
    """Every volume named as the stack's, whatever its labels."""
    out = d.engine.docker("volume", "ls", "--format", "{{.Name}}").stdout.split()
    return sorted(v for v in out if v.startswith(f"{d.name}-"))


def _elsewhere(d: Deployed, folder: str) -> Deployed:
    """The same stack config, run with another state folder (another admin, a lost folder)."""
    env = {**d.env, "STACKKIT_STATE_DIR": str(d.workdir / folder)}
    return dataclasses.replace(d, env=env)


def test_another_state_folder_neither_adopts_nor_purges_the_volumes(
    deploy_stack: Callable[..., Deployed],
) -> None:
    d = deploy_stack()
    d.stackkit("up")
    d.stackkit("down")
    volumes = [f"{d.name}-{v}-data" for v in DATA]
    assert _volume_names(d) == volumes
    other = _elsewhere(d, "other-state")
    for args in (["down"], ["down", "--purge"], ["up"], ["preview"]):
        result = other.stackkit(*args, check=False)
        assert result.returncode == 1, (args, result.stderr)
        assert "created volume" not in result.stderr and "deleted" not in result.stderr
        line = _error(result)
        assert line.startswith(f"error: volume {d.name}-alertmanager-data was not created by"), line
        assert "stackkit up --adopt-volumes" in line and "nothing was changed" in line, line
        assert _volume_names(d) == volumes, args
    assert d.containers() == []
    # The first folder still owns them: its `up` brings the stack back.
    d.stackkit("up")
    d.stackkit("down")
    # An explicit hand-over: the other folder takes the volumes, and may then purge them.
    taken = other.stackkit("up", "--adopt-volumes")
    assert f"adopted volume {d.name}-prometheus-data" in taken.stderr, taken.stderr
    purged = other.stackkit("down", "--purge")
    assert f"deleted volume {d.name}-prometheus-data" in purged.stderr, purged.stderr
    assert _volume_names(d) == []


def test_a_volume_made_by_hand_is_neither_adopted_nor_purged(
    deploy_stack: Callable[..., Deployed],
) -> None:
    d = deploy_stack()
    d.engine.docker("volume", "create", f"{d.name}-grafana-data")
    result = d.stackkit("up", check=False)
    assert result.returncode == 1, result.stderr
    line = _error(result)
    assert line.startswith(f"error: volume {d.name}-grafana-data was not created by"), line
    assert d.containers() == [] and _volume_names(d) == [f"{d.name}-grafana-data"]
    purged = d.stackkit("down", "--purge", check=False)
    assert purged.returncode == 1, purged.stderr
    assert _volume_names(d) == [f"{d.name}-grafana-data"]
    d.engine.docker("volume", "rm", f"{d.name}-grafana-data")


def test_a_volume_deleted_by_hand_is_recreated_as_the_stacks_and_down_keeps_it(
    deploy_stack: Callable[..., Deployed],
) -> None:
    d = deploy_stack()
    d.stackkit("up")
    d.stackkit("down")
    volume = f"{d.name}-prometheus-data"
    d.engine.docker("volume", "rm", volume)
    back = d.stackkit("up")
    assert f"created volume {volume}" in back.stderr, back.stderr
    labels = d.engine.inspect(volume, kind="volume")[0]["Labels"] or {}
    assert labels.get("stackkit.stack") == d.name and labels.get("stackkit.owner"), labels
    d.engine.docker("stop", f"{d.name}-grafana", timeout=120)
    again = d.stackkit("up")  # a container stopped: Pulumi looks again
    assert not re.search(r"(created|deleted|replaced).* volume", again.stderr), again.stderr
    down = d.stackkit("down")
    assert not re.search(r"deleted (old )?volume", down.stderr), down.stderr
    assert _volume_names(d) == [f"{d.name}-{v}-data" for v in DATA]


def test_a_network_deleted_by_hand_is_put_back(deploy_stack: Callable[..., Deployed]) -> None:
    d = deploy_stack()
    d.stackkit("up")
    net = f"{d.name}-net"
    for c in ("alertmanager", "grafana", "otelcol", "prometheus"):
        d.engine.docker("network", "disconnect", "-f", net, f"{d.name}-{c}")
    d.engine.docker("network", "rm", net)
    preview = d.stackkit("preview")
    assert "up would make: no changes" not in preview.stderr, preview.stderr
    fixed = d.stackkit("up")
    assert "done: no changes" not in fixed.stderr, fixed.stderr
    attached = d.engine.inspect(net, kind="network")[0]["Containers"] or {}
    names = sorted(c["Name"] for c in attached.values())
    assert names == sorted(
        f"{d.name}-{c}" for c in ("alertmanager", "grafana", "otelcol", "prometheus")
    )
    assert "done: no changes" in d.stackkit("up").stderr


def test_a_name_another_program_holds_stops_preview_and_up(
    deploy_stack: Callable[..., Deployed],
) -> None:
    d = deploy_stack()
    foreign = f"{d.name}-grafana"
    image = StackConfig().images.resolve("prometheus")
    d.engine.docker("create", "--name", foreign, image)
    try:
        for args in (["preview"], ["up"]):
            result = d.stackkit(*args, check=False)
            assert result.returncode == 1, result.stderr
            line = _error(result)
            assert line.startswith(f"error: a container named {foreign} exists"), result.stderr
            assert "nothing was changed" in line, line
            assert "Traceback" not in result.stderr
        assert _volume_names(d) == [] and d.containers() == []
    finally:
        d.engine.docker("rm", "-f", foreign)


def test_volumes_of_the_previous_release_stay_this_folders_after_an_upgrade(
    deploy_stack: Callable[..., Deployed], tmp_path: Path
) -> None:
    """The previous release labelled volumes with no owner mark; the state folder whose Pulumi
    state holds them keeps them as its own on upgrade (recorded once), and no other folder may."""
    d = deploy_stack()
    old = _release_tree(PREVIOUS_RELEASE, tmp_path)
    alertmanager = d.config.pop("alertmanager")  # a section the previous release did not know
    d.write_config()
    deployed = subprocess.run(
        [sys.executable, "-m", "stackkit", "up"],
        cwd=d.workdir,
        env={**d.env, "PYTHONPATH": str(old)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert deployed.returncode == 0, deployed.stderr
    legacy = [f"{d.name}-grafana-data", f"{d.name}-prometheus-data"]
    assert _volume_names(d) == legacy
    d.config["alertmanager"] = alertmanager
    d.write_config()
    upgraded = d.stackkit("up")
    assert not re.search(r"(deleted|replaced).* volume", upgraded.stderr), upgraded.stderr
    d.stackkit("down")
    assert _volume_names(d) == [f"{d.name}-{v}-data" for v in DATA]
    refused = _elsewhere(d, "other-state").stackkit("down", "--purge", check=False)
    assert refused.returncode == 1 and "was not created by" in refused.stderr, refused.stderr
    purged = d.stackkit("down", "--purge")
    for volume in legacy:
        assert f"deleted volume {volume}" in purged.stderr, purged.stderr
    assert _volume_names(d) == []
