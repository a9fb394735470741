"""Shared fixtures. Fixtures for real components live in tests/fixtures/ (pytest plugins)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stackkit.config import StackConfig, load_config
from stackkit.render import Files, render

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
GOLDEN = ROOT / "tests" / "golden"

pytest_plugins = [
    "tests.fixtures.alertmanager",
    "tests.fixtures.claude",
    "tests.fixtures.otelcol",
    "tests.fixtures.prometheus",
    "tests.fixtures.thanos",
    "tests.fixtures.docker",
    "tests.fixtures.kube",
    "tests.fixtures.pulumi",
]


# Fixtures that build, install or start a real tool. A test that uses one, directly or through
# another fixture (``item.fixturenames`` is the whole closure), is an integration test: marking
# by fixture means nobody can forget the marker. A test that calls tests/toolchain.ensure itself
# must carry @pytest.mark.integration explicitly (and `make test-fast` refuses builds anyway).
TOOL_FIXTURES = frozenset(
    {
        "otelcol_bin",
        "otelcol_process",
        "pulumi_bin",
        "prometheus_bin",
        "promtool_bin",
        "amtool_bin",
        "prometheus_server",
        "docker_engine",
        "kube_cluster",
        "pulumi_env",
        "claude_bin",
        "run_claude",
        "thanos_cluster",
        "loadgen_bin",
    }
)


def needs_a_tool(item: pytest.Item) -> bool:
    """True when ``item`` uses a fixture that needs a real tool."""
    return bool(TOOL_FIXTURES & set(getattr(item, "fixturenames", ())))


# When each tool is ready on a cold machine, where `make test` builds them in the background
# while the tests run (tools/build-all.sh --detach): tests run in that order, module by module,
# so the first ones start at once and the Kubernetes ones come last, when its build is done.
READY_ORDER = {
    "claude_bin": 1,
    "run_claude": 1,
    "otelcol_bin": 1,
    "otelcol_process": 1,
    "prometheus_bin": 1,
    "promtool_bin": 1,
    "amtool_bin": 1,
    "prometheus_server": 1,
    "loadgen_bin": 1,
    "pulumi_bin": 2,
    "pulumi_env": 2,
    "docker_engine": 2,
    "thanos_cluster": 3,
    "operator_root": 3,
    "kube_cluster": 4,
}


def ready_rank(item: pytest.Item) -> int:
    """How late in a cold run the tools ``item`` needs are all built (0: needs none)."""
    return max((READY_ORDER.get(f, 0) for f in getattr(item, "fixturenames", ())), default=0)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if needs_a_tool(item):
            item.add_marker(pytest.mark.integration)
        item.add_marker(pytest.mark.xdist_group(work_group(item)))
    # Whole modules move (their module-scoped fixtures are set up once); order is kept within.
    rank: dict[str, int] = {}
    first: dict[str, int] = {}
    for i, item in enumerate(items):
        rank[_mod(item)] = max(rank.get(_mod(item), 0), ready_rank(item))
        first.setdefault(_mod(item), i)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Parallel (`make test`): the heaviest groups first, the one cluster's tests before all,
        # so no long group starts last; a worker that waits for a build leaves the rest to others.
        items.sort(key=lambda it: (work_group(it) != KUBE_GROUP, -rank[_mod(it)], first[_mod(it)]))
    else:
        items.sort(key=lambda it: (rank[_mod(it)], first[_mod(it)]))


KUBE_GROUP = "kube"


def work_group(item: pytest.Item) -> str:
    """The tests one parallel worker runs together (`pytest -n`, `--dist loadgroup`): every test
    of the one Kubernetes cluster a machine holds, else a module (its fixtures set up once)."""
    if "kube_cluster" in getattr(item, "fixturenames", ()):
        return KUBE_GROUP
    return _mod(item)


def _mod(item: pytest.Item) -> str:
    module = getattr(item, "module", None)
    return module.__name__ if module is not None else ""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", help="Rewrite tests/golden from examples/."
    )


@pytest.fixture(autouse=True)
def _isolated_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test gets its own stackkit state folder, never the developer's."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("STACKKIT_STATE_DIR", str(state))
    monkeypatch.delenv("STACKKIT_OTLP_TOKEN", raising=False)
    return state


@pytest.fixture(params=EXAMPLES, ids=[p.stem for p in EXAMPLES])
def example(request: pytest.FixtureRequest) -> Path:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def example_config(example: Path) -> StackConfig:
    return load_config(example)


@pytest.fixture
def rendered(example_config: StackConfig) -> Files:
    return render(example_config)
