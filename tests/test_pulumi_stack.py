"""The Pulumi backend's own files as stackkit reads and repairs them (no engine run here)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from stackkit import pulumi_stack
from stackkit.config import StackConfig


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StackConfig:
    monkeypatch.setenv("STACKKIT_STATE_DIR", str(tmp_path / "state"))
    return StackConfig.model_validate({"name": "locks"})


def _lock(cfg: StackConfig, name: str, pid: int, host: str) -> Path:
    folder = (
        pulumi_stack.backend(cfg)
        / ".pulumi/locks/organization/stackkit"
        / pulumi_stack.stack_name(cfg)
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"pid": pid, "hostname": host, "username": "u"}))
    return path


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_killed_runs_lock_is_removed_and_said(cfg: StackConfig) -> None:
    dead = _lock(cfg, "dead", _dead_pid(), socket.gethostname())
    said: list[str] = []
    pulumi_stack._clear_dead_locks(cfg, said.append)
    assert not dead.exists()
    assert len(said) == 1 and "stopped" in said[0]


def test_live_and_foreign_locks_are_kept(cfg: StackConfig) -> None:
    live = _lock(cfg, "live", os.getpid(), socket.gethostname())
    foreign = _lock(cfg, "foreign", _dead_pid(), "another-host")
    garbage = _lock(cfg, "garbage", 1, socket.gethostname())
    garbage.write_text("not json")
    said: list[str] = []
    pulumi_stack._clear_dead_locks(cfg, said.append)
    assert live.exists() and foreign.exists() and garbage.exists()
    assert said == []


def test_a_killed_but_unreaped_process_counts_as_dead(cfg: StackConfig) -> None:
    zombie = subprocess.Popen(["true"])
    try:
        stat = Path(f"/proc/{zombie.pid}/stat")
        deadline = time.monotonic() + 10
        while stat.read_text().rpartition(")")[2].split()[0] != "Z":
            assert time.monotonic() < deadline, "the child never exited"
            time.sleep(0.01)
        lock = _lock(cfg, "zombie", zombie.pid, socket.gethostname())
        pulumi_stack._clear_dead_locks(cfg, lambda _: None)
        assert not lock.exists()
    finally:
        zombie.wait()


def test_the_first_ctrl_c_lets_pulumi_stop_cleanly_and_the_second_stops_at_once() -> None:
    said: list[str] = []
    before = signal.getsignal(signal.SIGINT)
    with pulumi_stack._patient_interrupt(said.append) as interrupted:
        assert not interrupted()
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)  # the handler runs in the main thread, between bytecodes
        assert interrupted() and "Ctrl-C again to stop at once" in said[0]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    assert signal.getsignal(signal.SIGINT) is before
