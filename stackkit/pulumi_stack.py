"""Running Pulumi: the only module that imports the Automation API.

Inline programs, a local file backend under stackkit's state folder (no Pulumi account), and a
passphrase generated once and kept with owner-only permissions (or taken from the environment).
One Pulumi stack per stackkit stack and target. Pulumi's own files (plugins, workspace settings,
logs) live in stackkit's state folder too, and its logs are removed after every run.

Each Pulumi CLI call costs a fraction of a second, so a run makes as few as it can: the stack is
created once (afterwards every command names it with ``--stack``, nothing needs selecting), an
interrupted run is found by reading the backend's own state file, and the outcome of an update
comes from the engine's event stream instead of two more calls after it.
"""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import versions
from .config import StackConfig
from .errors import DeployError
from .state import private_folder, secret, stack_dir, state_root

PROJECT = "stackkit"
PASSPHRASE_FILE = "pulumi-passphrase"
LOCK_WAIT_S = 600.0

Progress = Callable[[str], None]
Program = Callable[[], None]


@dataclass(frozen=True)
class Outcome:
    """What one Pulumi operation changed: counts by operation (create, update, ...)."""

    changes: dict[str, int]


def tool_cache() -> list[Path]:
    """The Pulumi CLI and providers `make up` builds offline, when they are there."""
    root = Path(os.environ.get("STACKKIT_TOOLS") or Path.home() / ".cache" / "stackkit-tools")
    built = [
        root / f"pulumi-{versions.PULUMI_VERSION}" / "bin",
        root / f"pulumi-docker-{versions.PULUMI_DOCKER_VERSION}" / "bin",
        root / f"pulumi-kubernetes-{versions.PULUMI_KUBERNETES_VERSION}" / "bin",
    ]
    return [d for d in built if (d.parent / ".complete").exists()]


def pulumi_root() -> str:
    """The folder holding ``bin/pulumi``; a DeployError saying how to install it if none."""
    search = os.pathsep.join(
        [os.environ.get("PATH", ""), str(Path.home() / ".pulumi" / "bin"), *map(str, tool_cache())]
    )
    exe = shutil.which("pulumi", path=search)
    if exe is None:
        raise DeployError(
            f"the Pulumi CLI is not installed. Install version {versions.PULUMI_VERSION}: "
            f"`curl -fsSL https://get.pulumi.com | sh -s -- --version {versions.PULUMI_VERSION}` "
            "(or your package manager), then make sure `pulumi` is on PATH"
        )
    return str(Path(exe).resolve().parent.parent)


def pulumi_home() -> Path:
    """Pulumi's home (plugins, workspace settings, logs) inside stackkit's state folder."""
    home = state_root() / "pulumi-home"
    private_folder(home)
    return home


def backend(cfg: StackConfig) -> Path:
    return stack_dir(cfg.name) / "pulumi"


def workspace_env(cfg: StackConfig) -> dict[str, str]:
    """The environment of every Pulumi CLI call for ``cfg``'s stack."""
    folder = backend(cfg)
    private_folder(folder)  # and the stack's folder above it: 0700 whatever the umask
    env = {
        "PULUMI_BACKEND_URL": folder.resolve().as_uri(),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_HOME": os.environ.get("PULUMI_HOME") or str(pulumi_home()),
    }
    if cached := tool_cache():  # providers built offline are found on PATH by the engine
        env["PATH"] = os.pathsep.join([*map(str, cached), os.environ.get("PATH", "")])
    if not ({"PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"} & os.environ.keys()):
        secret(cfg.name, PASSPHRASE_FILE)  # generated once, owner-only
        env["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(stack_dir(cfg.name) / PASSPHRASE_FILE)
    return env


def stack_name(cfg: StackConfig) -> str:
    """One Pulumi stack per stackkit stack and target (Docker keeps the stack's own name)."""
    return cfg.name if cfg.target == "docker" else f"{cfg.name}.{cfg.target}"


def _state_file(cfg: StackConfig) -> Path | None:
    """The backend's file for this stack, once the stack exists."""
    folder = backend(cfg) / ".pulumi" / "stacks" / PROJECT
    for name in (f"{stack_name(cfg)}.json", f"{stack_name(cfg)}.json.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _latest(cfg: StackConfig, key: str) -> list[dict[str, Any]]:
    """One list of the backend's latest checkpoint (``resources``, ``pending_operations``)."""
    path = _state_file(cfg)
    if path is None:
        return []
    raw = path.read_bytes()
    try:
        data = json.loads(gzip.decompress(raw) if path.suffix == ".gz" else raw)
        found = (data["checkpoint"].get("latest") or {}).get(key) or []
        if not isinstance(found, list):
            raise TypeError(f"{key} is not a list")
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as e:
        raise DeployError(
            f"{path} is not a Pulumi state file stackkit can read ({e}); "
            "restore it from the .bak file beside it"
        ) from None
    return [item for item in found if isinstance(item, dict)]


def pending_operations(cfg: StackConfig) -> list[dict[str, Any]]:
    """Operations an interrupted run started and never finished, from the backend's state."""
    return _latest(cfg, "pending_operations")


def held(cfg: StackConfig) -> dict[str, set[str]]:
    """The names of the objects this state folder's Pulumi state holds, by resource type: what
    it created (or an interrupted run of it started to create)."""
    found: dict[str, set[str]] = {}
    resources = _latest(cfg, "resources")
    resources += [op.get("resource") or {} for op in pending_operations(cfg)]
    for resource in resources:
        name = (resource.get("inputs") or {}).get("name") if isinstance(resource, dict) else None
        if isinstance(name, str):
            found.setdefault(str(resource.get("type")), set()).add(name)
    return found


def _pid_alive(pid: object) -> bool:
    """Whether ``pid`` runs here (a zombie, killed and not yet reaped, does not)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _clear_dead_locks(cfg: StackConfig, progress: Progress) -> None:
    """Remove the backend locks of Pulumi runs that were killed on this machine (their process is
    gone): stackkit's own lock is held, so no other stackkit run can own them, and a killed `up`
    must not need `pulumi cancel` by hand. A lock of a live process or another host is kept."""
    folder = backend(cfg) / ".pulumi" / "locks" / "organization" / PROJECT / stack_name(cfg)
    if not folder.is_dir():
        return
    host = socket.gethostname()
    for lock in folder.glob("*.json"):
        try:
            data = json.loads(lock.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or data.get("hostname") != host:
            continue
        if not _pid_alive(data.get("pid")):
            lock.unlink(missing_ok=True)
            progress(f"removed the lock of an earlier run that was stopped (pid {data.get('pid')})")
            _clear_torn_writes(cfg)


def _clear_torn_writes(cfg: StackConfig) -> None:
    """A run killed while writing the state leaves an empty attributes file beside it (Pulumi
    then fails with "failed to load checkpoint: EOF") and a half-written temporary file."""
    folder = backend(cfg) / ".pulumi" / "stacks" / PROJECT
    for path in folder.glob(f"{stack_name(cfg)}.json*"):
        if (path.suffix == ".attrs" and path.stat().st_size == 0) or path.suffix == ".tmp":
            path.unlink(missing_ok=True)


def _work_dir(cfg: StackConfig) -> Path:
    """The workspace of the inline program (instead of a temporary folder left behind)."""
    folder = stack_dir(cfg.name) / f"pulumi-workspace-{cfg.target}"
    private_folder(folder)
    return folder


def open_stack(cfg: StackConfig, program: Program) -> Any:
    """The Pulumi stack of ``cfg`` with ``program``, created on first use."""
    from pulumi import automation as auto

    name = stack_name(cfg)
    opts = auto.LocalWorkspaceOptions(
        work_dir=str(_work_dir(cfg)),
        pulumi_command=auto.PulumiCommand(root=pulumi_root(), skip_version_check=True),
        env_vars=workspace_env(cfg),
        project_settings=auto.ProjectSettings(name=PROJECT, runtime="python"),
        secrets_provider="passphrase",
        program=program,
    )
    _own_groups()
    workspace = auto.LocalWorkspace(**opts.__dict__)
    try:
        if _state_file(cfg) is None:
            workspace.create_stack(name)
    except auto.CommandError as e:
        raise DeployError(f"cannot create the Pulumi stack {name}: {tail(e)}") from e
    return _named_stack(name, workspace)


def _named_stack_class() -> type:
    from pulumi import automation as auto
    from pulumi.automation._stack import StackInitMode

    class NamedStack(auto.Stack):
        """A stack known to exist, used without `pulumi stack select` (every command passes
        ``--stack``), whose update summary comes from the event stream (no `stack history`
        and `stack output` calls after an update; stackkit computes its outputs itself)."""

        def __init__(self, name: str, workspace: Any) -> None:
            # Deliberately not Stack.__init__, which runs `pulumi stack select`.
            self.name = name
            self.workspace = workspace
            self._mode = StackInitMode.SELECT

        def outputs(self) -> dict[str, Any]:
            return {}

        def info(self, show_secrets: bool = True) -> Any:
            # What `up` and `destroy` return as their summary; stackkit reads the changes from
            # the event stream instead (pulumi_stack.run).
            return auto.UpdateSummary(
                kind="update",
                start_time=datetime.now(UTC),
                message="",
                environment={},
                config={},
                result="succeeded",
            )

    return NamedStack


def _named_stack(name: str, workspace: Any) -> Any:
    return _named_stack_class()(name, workspace)


def tail(e: Exception, lines: int = 8) -> str:
    text = getattr(e, "stderr", "") or str(e)
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return "\n  ".join(kept)


_PAST = {
    "create": "created",
    "update": "updated",
    "delete": "deleted",
    "replace": "replaced",
    "create-replacement": "created replacement",
    "delete-replaced": "deleted old",
    "read": "read",
    "refresh": "refreshed",
}


def _events(progress: Progress, changes: dict[str, int]) -> Callable[[Any], None]:
    started: dict[str, float] = {}

    def on_event(event: Any) -> None:
        pre = getattr(event, "resource_pre_event", None)
        if pre is not None and pre.metadata.op != "same":
            started[pre.metadata.urn] = time.monotonic()
            return
        done = getattr(event, "res_outputs_event", None)
        # Providers and the stack itself are bookkeeping; people want the containers and volumes.
        if (
            done is not None
            and done.metadata.op != "same"
            and not done.metadata.type.startswith("pulumi:")
        ):
            meta = done.metadata
            kind = meta.type.rsplit(":", 1)[-1].lower()
            name = meta.urn.rsplit("::", 1)[-1]
            took = time.monotonic() - started.get(meta.urn, time.monotonic())
            progress(f"  {_PAST.get(meta.op, meta.op)} {kind} {name} ({took:.1f}s)")
        diag = getattr(event, "diagnostic_event", None)
        if diag is not None and diag.severity == "error" and diag.message.strip():
            progress(f"  error: {diag.message.strip()}")
        summary = getattr(event, "summary_event", None)
        if summary is not None:
            changes.update({str(k): int(v) for k, v in (summary.resource_changes or {}).items()})

    return on_event


@contextmanager
def exclusive(cfg: StackConfig, progress: Progress) -> Iterator[None]:
    """One deploy command per stack at a time: a second one waits for the first (up to
    LOCK_WAIT_S), saying so, then stops with a clear message."""
    path = stack_dir(cfg.name) / "deploy.lock"
    private_folder(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline, holder = time.monotonic() + LOCK_WAIT_S, ""
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not holder:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                    progress(
                        f"another stackkit command is changing stack {cfg.name} (pid {holder}); "
                        "waiting"
                    )
                elif time.monotonic() > deadline:
                    raise DeployError(
                        f"stack {cfg.name} is still being changed by pid {holder} after "
                        f"{LOCK_WAIT_S:.0f}s: let it finish (or stop it), then run this again"
                    ) from None
                time.sleep(0.5)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _repair(
    cfg: StackConfig,
    stack: Any,
    progress: Progress,
    remove_orphan: Callable[[str, str], None] | None,
) -> None:
    """Finish what an interrupted run left half-done (pending operations), so no one has to
    edit Pulumi's state by hand."""
    pending = pending_operations(cfg)
    if not pending:
        return
    names = sorted(
        str(op.get("resource", {}).get("urn", "?")).rsplit("::", 1)[-1] for op in pending
    )
    progress(f"an earlier run stopped part way ({', '.join(names)}): reconciling with what exists")
    if remove_orphan is not None:
        # Something created but not recorded would clash by name with its re-creation.
        for op in pending:
            resource = op.get("resource", {})
            name = (resource.get("inputs") or {}).get("name")
            if op.get("type") == "creating" and isinstance(name, str):
                remove_orphan(str(resource.get("type")), name)
    stack.refresh(clear_pending_creates=True, color="never")


COMMANDS = {"destroy": "down"}
"""The stackkit command that runs a Pulumi operation, where the names differ."""


def run(
    cfg: StackConfig,
    operation: str,
    program: Program,
    progress: Progress,
    refresh: bool = False,
    remove_orphan: Callable[[str, str], None] | None = None,
) -> Outcome:
    """Run one Pulumi operation (up, preview, destroy) on the stack; CommandError ->
    DeployError. ``remove_orphan(type, name)`` removes what an interrupted run created and never
    recorded (a Pulumi resource type and the object's name)."""
    from pulumi import automation as auto

    with exclusive(cfg, progress), _patient_interrupt(progress) as interrupted:
        _clear_dead_locks(cfg, progress)
        stack = open_stack(cfg, program)
        changes: dict[str, int] = {}
        try:
            if operation != "preview":
                _repair(cfg, stack, progress, remove_orphan)
            extra = {"refresh": True} if refresh else {}
            if interrupted():  # before Pulumi started to change anything: start nothing more
                raise DeployError(f"{operation} interrupted before it changed anything")
            result = getattr(stack, operation)(
                on_event=_events(progress, changes), color="never", **extra
            )
            if interrupted():  # Pulumi had finished when it was told to stop
                raise DeployError(
                    f"{operation} interrupted after Pulumi had finished it; run "
                    f"`stackkit {COMMANDS.get(operation, operation)}` again to finish"
                )
            if operation == "preview":
                return Outcome({str(k): int(v) for k, v in result.change_summary.items()})
            return Outcome(dict(changes))
        except auto.CommandError as e:
            if interrupted():
                raise DeployError(
                    f"{operation} interrupted: Pulumi stopped after the steps it had started; "
                    f"run `stackkit {COMMANDS.get(operation, operation)}` again to finish"
                ) from e
            hint = (
                "; the stack may be partly changed: fix the cause and run it again"
                if operation != "preview"
                else ""
            )
            raise DeployError(f"{operation} failed{hint}:\n  {tail(e)}") from e
        finally:
            _clean_logs()


_PULUMI_RUNS: list[subprocess.Popen[str]] = []
"""The Pulumi CLI processes started by this process (each in a process group of its own)."""


class _OwnGroupSubprocess:
    """The ``subprocess`` module as the Automation API sees it, but every Pulumi CLI it starts
    runs in a process group of its own, so that only stackkit signals it: exactly once per
    interrupt, whether the interrupt came to the terminal's whole process group (Ctrl-C) or to
    stackkit alone (`kill -INT`, a supervisor's SIGTERM)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(subprocess, name)

    @staticmethod
    def Popen(*args: Any, **kwargs: Any) -> subprocess.Popen[str]:  # noqa: N802 - its name
        proc: subprocess.Popen[str] = subprocess.Popen(*args, start_new_session=True, **kwargs)
        _PULUMI_RUNS[:] = [p for p in _PULUMI_RUNS if p.poll() is None] + [proc]
        return proc


def _own_groups() -> None:
    from pulumi.automation import _cmd

    _cmd.subprocess = _OwnGroupSubprocess()  # type: ignore[attr-defined,assignment]


def _signal_pulumi(signum: int) -> None:
    """Send ``signum`` to every running Pulumi CLI's process group (its providers with it), as
    a terminal's Ctrl-C reaches a process group."""
    for proc in _PULUMI_RUNS:
        if proc.poll() is None:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signum)


@contextmanager
def _patient_interrupt(progress: Progress) -> Iterator[Callable[[], bool]]:
    """Ctrl-C, `kill -INT` or SIGTERM (what supervisors and CI send) stop the Pulumi CLI
    cleanly: stackkit passes one interrupt on to it (it runs in a process group of its own),
    and Pulumi finishes the steps in flight, records them and stops its providers. So the first
    signal waits for that; dying at once would leave Pulumi writing to closed pipes and its
    provider processes running with nobody to stop them. A second one stops at once.
    Yields whether an interrupt came."""
    import signal
    import threading

    seen: list[int] = []

    def on_interrupt(signum: int, frame: object) -> None:
        seen.append(signum)
        _signal_pulumi(signal.SIGINT)  # a second one makes Pulumi stop at once
        if len(seen) > 1:
            raise KeyboardInterrupt
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        progress(
            f"interrupted ({name}): Pulumi finishes the steps it has started, then stops "
            f"({name} again to stop at once; the next `stackkit up` repairs either way)"
        )

    if threading.current_thread() is not threading.main_thread():
        yield lambda: bool(seen)
        return
    caught = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, on_interrupt) for s in caught}
    try:
        yield lambda: bool(seen)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _clean_logs() -> None:
    """Pulumi keeps a log of every run; stackkit keeps none of them (they hold nothing a user
    needs after a run that worked, and the error of one that failed is in its message)."""
    home = os.environ.get("PULUMI_HOME")
    logs = Path(home) / "logs" if home else pulumi_home() / "logs"
    shutil.rmtree(logs, ignore_errors=True)
