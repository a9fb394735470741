"""`make test-fast` builds nothing: tool tests are marked by fixture, and builds are refused."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests import toolchain

from .conftest import ROOT, needs_a_tool


def test_builds_are_refused_when_test_fast_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(toolchain.NO_BUILDS_ENV, "1")
    with pytest.raises(toolchain.ToolBuildError, match="must be an integration test"):
        toolchain.ensure("otelcol")


def test_every_selected_test_that_needs_a_tool_is_marked(request: pytest.FixtureRequest) -> None:
    unmarked = [
        item.nodeid
        for item in request.session.items
        if needs_a_tool(item) and item.get_closest_marker("integration") is None
    ]
    assert unmarked == []


def _collect(marker: str, *paths: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
        + ["-m", marker, *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, toolchain.NO_BUILDS_ENV: "1"},
        timeout=120,
    )
    assert proc.returncode in (0, 5), proc.stdout + proc.stderr  # 5: nothing collected
    return {line.split("::")[1].split("[")[0] for line in proc.stdout.splitlines() if "::" in line}


def test_validate_tests_using_real_tools_are_integration_tests() -> None:
    """tests/test_validate.py has no marker of its own; its fixtures mark it."""
    fast = _collect("not integration", "tests/test_validate.py")
    assert fast == {"test_manifest_holds_exactly_the_components_the_configs_use"}


def test_a_parallel_run_keeps_each_group_on_one_worker() -> None:
    """`make test` runs `pytest -n --dist loadgroup`: a module's tests (and all the tests of the
    one Kubernetes cluster) must stay on one worker, or module fixtures are set up twice and two
    workers wait on the cluster lock. An upgrade of pytest or pytest-xdist that breaks grouping
    (pytest 9.2 with xdist 3.8 did) fails here, in seconds."""
    modules = ["tests/test_free_port.py", "tests/test_configfile.py"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v"]
        + ["-p", "no:cacheprovider", *modules],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    workers: dict[str, set[str]] = {}
    for line in result.stdout.splitlines():
        if found := re.match(r"\[(gw\d+)\].* PASSED (tests/\S+?\.py)::", line):
            workers.setdefault(found[2], set()).add(found[1])
    assert sorted(workers) == sorted(modules), result.stdout[-3000:]
    assert all(len(w) == 1 for w in workers.values()), workers
