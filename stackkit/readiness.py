"""After a Docker `up`: wait until every component runs and answers its readiness probe.

Pulumi is done once the containers are created; that does not mean they work. A component that
exits at once (a config its image does not understand, a stale local image) would otherwise
leave a stack that says "done" and refuses every developer's data. `up` waits here, says what it
waits for, and fails with the component's last log lines when it stops or restarts over and over.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from . import model
from .docker_api import Engine
from .errors import DeployError
from .prom_client import http_ok

Progress = Callable[[str], None]
TIMEOUT_S = 180.0
POLL_S = 0.25
SAY_EVERY_S = 15.0
CRASHES = 2
"""Restarts seen while waiting that make a component 'crash-looping' rather than slow."""


def wait(
    stack: model.Stack,
    bind_address: str,
    engine: Engine,
    progress: Progress,
    timeout: float = TIMEOUT_S,
    authorizations: Mapping[str, str] | None = None,
) -> None:
    """Return once every component runs and answers; else raise a DeployError saying which
    component does not, and why (its state and last log lines). ``authorizations``: the
    header a component's probe carries, by component (Prometheus checks credentials)."""
    probes = stack.probe_urls(bind_address)
    auth = authorizations or {}
    pending = [c.name for c in stack.components]
    first_restarts: dict[str, int] = {}
    start = time.monotonic()
    said = start
    while True:
        for name in list(pending):
            container = f"{stack.name}-{name}"
            state = engine.state(container)
            if state is None:
                raise DeployError(
                    f"container {container} is gone right after `up` created it (removed by "
                    "someone else?): run `stackkit up` again"
                )
            restarts = state.restarts - first_restarts.setdefault(name, state.restarts)
            if state.status in ("exited", "dead") or restarts >= CRASHES:
                raise DeployError(_not_running(engine, container, state.status, state.exit_code))
            if state.status == "running" and (
                name not in probes or http_ok(probes[name], 1.0, auth.get(name))
            ):
                pending.remove(name)
        if not pending:
            return
        now = time.monotonic()
        if now - start > timeout:
            raise DeployError(
                f"{', '.join(pending)} did not answer within {timeout:.0f} s of being deployed "
                f"(probed: {', '.join(probes.get(n, n) for n in pending)}). The stack is deployed; "
                f"see `docker logs {stack.name}-{pending[0]}` and `stackkit status`"
            )
        if now - said >= SAY_EVERY_S or (said == start and now - start >= 3.0):
            progress(f"waiting for {', '.join(pending)} to answer ({now - start:.0f} s)")
            said = now
        time.sleep(POLL_S)


def _not_running(engine: Engine, container: str, status: str, exit_code: int | None) -> str:
    how = "keeps restarting" if status in ("running", "restarting") else "stopped"
    code = f", exit code {exit_code}" if exit_code else ""
    tail = engine.log_tail(container, 3)
    said = "; its last words: " + " | ".join(tail) if tail else ""
    return (
        f"{container} {how}{code}{said}. The stack was deployed but does not run: fix the cause "
        "(a config value, or an image that is not what the config expects: `docker logs "
        f"{container}`), then run `stackkit up` again"
    )
