"""Faults on the Docker target, with real Claude Code sessions: Prometheus restarted, Prometheus'
container deleted and recreated by `up`, the Docker engine restarted, `stackkit up` killed or
interrupted part way, two `up` at once, and an upgrade from the previous release (v0.1.0, from
its archive in tests/releases). Nothing already stored is lost, and no fault needs Pulumi surgery
by hand."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from stackkit.config import StackConfig
from tests.conftest import ROOT
from tests.e2e.conftest import Deployed
from tests.e2e.waves import check, waves
from tests.fixtures import cmdline
from tests.fixtures.claude import ClaudeRunner
from tests.pipeline import add, raw_totals, run_sessions, wait_for_totals

pytestmark = pytest.mark.integration

PREVIOUS_RELEASE = "v0.1.0"
RELEASES = ROOT / "tests" / "releases"


@pytest.fixture(scope="module")
def stack(deploy_stack: Callable[..., Deployed]) -> Deployed:
    d = deploy_stack()
    d.stackkit("up")
    return d


def healthy(d: Deployed, timeout: float = 90) -> str:
    """`stackkit status` once every component runs and answers; its output."""
    deadline = time.monotonic() + timeout
    while True:
        out = d.stackkit("status", check=False)
        rows = [
            line
            for line in out.stdout.splitlines()
            if line.split()[:1] in (["otelcol"], ["prometheus"], ["grafana"]) and "running" in line
        ]
        if out.returncode == 0 and len(rows) == 3 and all("answering" in r for r in rows):
            return out.stdout
        assert time.monotonic() < deadline, f"not healthy:\n{out.stdout}\n{out.stderr}"
        time.sleep(2)


def test_a_prometheus_restart_loses_nothing(stack: Deployed, run_claude: ClaudeRunner) -> None:
    def restart() -> None:
        stack.engine.docker("restart", f"{stack.name}-prometheus", timeout=120)

    outcome = waves(stack, run_claude, "prom-restart", restart, disrupt_after_s=4.0)
    check("prometheus restart", stack, "prom-restart", outcome, per_session=True)


def test_prometheus_deleted_and_recreated_by_up_loses_nothing(
    stack: Deployed, run_claude: ClaudeRunner
) -> None:
    before = raw_totals(stack.query, '{team_id="prom-restart"}')

    def recreate() -> None:
        stack.engine.docker("rm", "-f", f"{stack.name}-prometheus", timeout=120)
        result = stack.stackkit("up")
        assert "prometheus" in result.stderr, result.stderr

    outcome = waves(stack, run_claude, "prom-recreated", recreate, disrupt_after_s=4.0)
    check("prometheus recreated", stack, "prom-recreated", outcome, per_session=True)
    # What was stored before (the previous test's sessions) is still there, in the volume.
    assert raw_totals(stack.query, '{team_id="prom-restart"}') == before


@pytest.mark.alone  # no other test may use the engine while it restarts
def test_the_stack_comes_back_after_the_engine_restarts(
    stack: Deployed, run_claude: ClaudeRunner
) -> None:
    env = stack.client_env("grpc", "engine-restart", "delta")
    runs, expected = run_sessions(run_claude, env, 2)
    wait_for_totals(stack.query, '{team_id="engine-restart"}', expected, timeout=120)
    stack.engine.restart_daemon()
    status = healthy(stack)
    assert "telemetry" in status
    more, more_expected = run_sessions(run_claude, env, 2, first=2)
    wait_for_totals(
        stack.query, '{team_id="engine-restart"}', add(expected, more_expected), timeout=120
    )


def _start_up(d: Deployed) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "stackkit", "up"],
        cwd=d.workdir,
        env=d.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the Pulumi CLI and provider with it
    )


def _interrupt_after_first_change(d: Deployed, sig: signal.Signals, group: bool = True) -> str:
    """Start a cold `up`, send ``sig`` to its process group once it created something, as a
    terminal's Ctrl-C does (or kill it), or to the `stackkit` process alone (``group=False``:
    `kill -INT <pid>`, or a supervisor's SIGTERM); what it said, and nothing of it left running."""
    proc = _start_up(d)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.strip().startswith("created container"):
            if group:
                os.killpg(proc.pid, sig)
            else:
                os.kill(proc.pid, sig)
            break
    seen.append(proc.stderr.read())
    proc.wait(timeout=120)
    assert proc.returncode != 0, "".join(seen)
    left = _outlived(d, grace=0 if sig == signal.SIGKILL else 30)
    if sig == signal.SIGKILL:
        # A killed Pulumi CLI cannot stop its provider plugins, and the bridged Docker provider
        # does not notice its engine is gone (upstream): reap them, as an operator would.
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    else:
        assert not left, f"processes outlived an interrupted `up`: {[cmdline(p) for p in left]}"
    return "".join(seen)


def _outlived(d: Deployed, grace: float) -> list[int]:
    """Processes that `up` started and that are still alive once it has exited (the Pulumi CLI,
    its language host, providers), found by this stack's state folder in their environment."""
    marker = f"STACKKIT_STATE_DIR={d.env['STACKKIT_STATE_DIR']}".encode()
    deadline = time.monotonic() + grace
    while True:
        alive = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                if marker in (proc / "environ").read_bytes().split(b"\0"):
                    alive.append(int(proc.name))
            except OSError:  # gone meanwhile, or not ours to read
                continue
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.5)


@pytest.mark.parametrize(
    ("sig", "group"),
    [
        (signal.SIGKILL, True),
        (signal.SIGINT, True),
        (signal.SIGINT, False),
        (signal.SIGTERM, False),
    ],
    ids=["killed", "ctrl-c", "kill-int-process", "sigterm-process"],
)
def test_an_interrupted_up_is_repaired_by_the_next(
    deploy_stack: Callable[..., Deployed], sig: signal.Signals, group: bool
) -> None:
    d = deploy_stack()
    first = _interrupt_after_first_change(d, sig, group)
    assert "created container" in first, first
    if sig != signal.SIGKILL:  # Pulumi was let stop cleanly, and the user is told what to do
        assert "error: up interrupted" in first and "run `stackkit up` again" in first, first
    again = d.stackkit("up")
    healthy(d)
    assert "done:" in again.stderr
    # And the state is true: nothing more to do.
    assert "done: no changes" in d.stackkit("up").stderr


def test_two_ups_at_once_the_second_waits(deploy_stack: Callable[..., Deployed]) -> None:
    d = deploy_stack()
    first, second = _start_up(d), None
    try:
        time.sleep(1.0)
        second = _start_up(d)
        out1, err1 = first.communicate(timeout=600)
        out2, err2 = second.communicate(timeout=600)
    finally:
        for p in (first, second):
            if p is not None and p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    assert "another stackkit command is changing stack" in err2, err2
    healthy(d)


def test_a_component_that_cannot_start_fails_up_and_a_fixed_config_repairs_it(
    deploy_stack: Callable[..., Deployed],
) -> None:
    """An image that cannot run the Collector's config (as a stale local build could not) makes
    `up` fail with that container's own words, not say "done" over a crash loop; the next `up`
    with a working image replaces it, though the crash-looping container held its ports."""
    wrong = StackConfig().images.resolve("prometheus")
    d = deploy_stack(images={"otelcol": wrong})
    broken = d.stackkit("up", check=False)
    assert broken.returncode == 1, broken.stderr
    error = broken.stderr.strip().splitlines()[-1]
    assert error.startswith(f"error: {d.name}-otelcol keeps restarting"), broken.stderr
    assert "flag" in error and "run `stackkit up` again" in error, error  # Prometheus' words
    state = d.engine.docker("inspect", "-f", "{{.RestartCount}}", f"{d.name}-otelcol")
    assert int(state.stdout) >= 1
    d.config["images"] = {}
    d.write_config()
    fixed = d.stackkit("up")
    assert "replaced container" in fixed.stderr and "done:" in fixed.stderr, fixed.stderr
    healthy(d)
    assert "done: no changes" in d.stackkit("up").stderr


def _release_tree(tag: str, into: Path) -> Path:
    """The source of a released version, from its archive in `tests/releases/` (made with `git
    archive <tag> stackkit stacks templates pyproject.toml`). Stored rather than read from git
    history, so a clone without tags or history runs the upgrade just the same."""
    archive = RELEASES / f"{tag}.tar.gz"
    assert archive.is_file(), f"{archive} is missing: the upgrade test needs the release {tag}"
    tree = into / tag
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and newer
            tar.extractall(tree, filter="data")
        else:
            tar.extractall(tree)  # our own archive
    assert (tree / "stackkit" / "__main__.py").is_file(), f"{archive} holds no stackkit package"
    return tree


def test_an_upgrade_from_the_previous_release_keeps_the_data(
    deploy_stack: Callable[..., Deployed], run_claude: ClaudeRunner
) -> None:
    d = deploy_stack()
    alertmanager = d.config.pop("alertmanager")  # a section the previous release did not know
    d.write_config()
    with tempfile.TemporaryDirectory() as tmp:
        old = _release_tree(PREVIOUS_RELEASE, Path(tmp))
        old_env = {**d.env, "PYTHONPATH": str(old)}
        deployed = subprocess.run(
            [sys.executable, "-m", "stackkit", "up"],
            cwd=d.workdir,
            env=old_env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert deployed.returncode == 0, deployed.stderr
        token = d.stackkit("secret", "otlp-token").stdout
        env = d.client_env("grpc", "upgrade", "delta")
        _, before = run_sessions(run_claude, env, 2)
        wait_for_totals(d.query, '{team_id="upgrade"}', before, timeout=120)
    d.config["alertmanager"] = alertmanager
    d.write_config()
    upgraded = d.stackkit("up")
    assert "otelcol" in upgraded.stderr, upgraded.stderr
    healthy(d)
    # The data the old release stored is still there; clients keep their token and endpoint.
    wait_for_totals(d.query, '{team_id="upgrade"}', before, timeout=60)
    assert d.stackkit("secret", "otlp-token").stdout == token
    _, after = run_sessions(run_claude, env, 2, first=2)
    wait_for_totals(d.query, '{team_id="upgrade"}', add(before, after), timeout=120)
