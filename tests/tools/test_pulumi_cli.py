"""The Pulumi CLI built for the tests matches the pinned engine and Python SDK."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from stackkit.versions import PULUMI_VERSION


def test_pulumi_version_is_the_pin(pulumi_bin: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PULUMI_HOME": str(tmp_path / "home"),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    out = subprocess.run(
        [str(pulumi_bin), "version"], capture_output=True, text=True, check=True, env=env
    ).stdout
    assert out.strip() == f"v{PULUMI_VERSION}"


def test_pulumi_home_layout(pulumi_bin: Path) -> None:
    # LocalWorkspaceOptions(pulumi_command=PulumiCommand(root=DIR)) runs DIR/bin/pulumi.
    assert pulumi_bin.parent.name == "bin"
    assert pulumi_bin.parent.parent.name == f"pulumi-{PULUMI_VERSION}"
