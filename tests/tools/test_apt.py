"""Debian installs on a fresh machine never race each other (tools/apt-install.sh).

On an empty machine `build-all.sh` installs docker.io, zsh and fish in parallel jobs while
`make up` checks for the engine; dpkg takes one installer at a time. These tests force the races
that broke a fresh CI machine: dpkg's lock held by someone else while an install starts, two of our
installs at once, and `make up`'s engine check while the engine's install is under way. The
packages installed here (`hello`, `sl`: a few kilobytes each) are removed afterwards.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
APT_INSTALL = REPO / "tools" / "apt-install.sh"
DPKG_LOCKS = (Path("/var/lib/dpkg/lock-frontend"), Path("/var/lib/dpkg/lock"))
TOY_PACKAGES = ("hello", "sl")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="installs Debian packages: root only"),
]


def installed(package: str) -> bool:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${db:Status-Abbrev}", package], capture_output=True, text=True
    )
    return out.returncode == 0 and out.stdout.startswith("ii")


def remove(*packages: str) -> None:
    # Through the helper's lock, so that removing never races another test's install.
    subprocess.run(
        [
            "flock",
            "/var/lock/stackkit-apt.lock",
            "apt-get",
            "-o",
            "DPkg::Lock::Timeout=600",
            "remove",
            "-y",
            "-q",
            *packages,
        ],
        capture_output=True,
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


@pytest.fixture
def toys() -> Iterator[tuple[str, ...]]:
    """The toy packages, not installed before the test and removed after it."""
    present = [p for p in TOY_PACKAGES if installed(p)]
    if present:
        remove(*present)
    yield TOY_PACKAGES
    remove(*TOY_PACKAGES)


def hold_dpkg_lock(seconds: float) -> threading.Event:
    """Hold dpkg's own locks (fcntl, as apt and dpkg take them) for ``seconds``, as another
    installer would; the event is set once they are held."""
    held = threading.Event()

    def run() -> None:
        files = [path.open("a") for path in DPKG_LOCKS]
        try:
            for f in files:
                fcntl.lockf(f, fcntl.LOCK_EX)
            held.set()
            time.sleep(seconds)
        finally:
            for f in files:
                f.close()

    threading.Thread(target=run, daemon=True).start()
    assert held.wait(30), "could not take dpkg's lock for the test"
    return held


def test_a_bare_apt_get_fails_while_dpkg_is_busy_and_the_helper_waits(
    toys: tuple[str, ...],
) -> None:
    hold_dpkg_lock(6)
    # What the scripts did before: apt-get at once, which refuses while dpkg is held.
    bare = subprocess.run(
        ["apt-get", "install", "-y", "-q", toys[0]],
        capture_output=True,
        text=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    assert bare.returncode != 0 and "lock" in bare.stderr.lower(), bare.stderr
    assert not installed(toys[0])
    start = time.monotonic()
    helped = subprocess.run([APT_INSTALL, toys[0]], capture_output=True, text=True)
    assert helped.returncode == 0, helped.stderr
    assert installed(toys[0])
    assert time.monotonic() - start > 1, "the helper cannot have waited for the held lock"


def test_two_installs_at_once_both_succeed(toys: tuple[str, ...]) -> None:
    procs = [
        subprocess.Popen(
            [APT_INSTALL, p], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for p in toys
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    for proc, (_, err), package in zip(procs, outs, toys, strict=True):
        assert proc.returncode == 0, f"{package}: {err}"
        assert installed(package)


def test_a_package_that_does_not_exist_fails_with_apts_words() -> None:
    out = subprocess.run(
        [APT_INSTALL, "stackkit-no-such-package"], capture_output=True, text=True, timeout=600
    )
    assert out.returncode != 0
    assert "Unable to locate package stackkit-no-such-package" in out.stderr
    assert "could not install stackkit-no-such-package" in out.stderr


def test_the_engine_check_waits_for_an_install_under_way(tmp_path: Path) -> None:
    """`make up` asks install-docker.sh whether the engine is there while build-all's docker job
    may be installing it: the answer waits for that install to end (the apt lock), never reads
    a half-configured engine as installed."""
    lock = tmp_path / "apt.lock"
    env = {**os.environ, "STACKKIT_APT_LOCK": str(lock)}
    holder = subprocess.Popen(["flock", str(lock), "sleep", "4"])
    try:
        time.sleep(0.5)
        start = time.monotonic()
        out = subprocess.run(
            [REPO / "tools" / "install-docker.sh"], capture_output=True, text=True, env=env
        )
        waited = time.monotonic() - start
    finally:
        holder.wait()
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("/dockerd")
    assert waited > 3, f"answered after {waited:.1f}s while the install was under way"


def test_make_up_says_why_dockerd_did_not_start(tmp_path: Path) -> None:
    """A dockerd that dies at start: `make up`'s engine step fails at once with the end of its
    log, not after a minute with a path."""
    fake = tmp_path / "bin"
    fake.mkdir()
    scripts = {
        "docker": "exit 1",  # no engine answers
        "dockerd": 'echo "failed to start daemon: failed to create NAT chain DOCKER:'
        ' Iptables not found" >&2; exit 1',
    }
    for name, body in scripts.items():
        (fake / name).write_text(f"#!/bin/sh\n{body}\n")
        (fake / name).chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{fake}:{os.environ['PATH']}",
        "STACKKIT_TOOLS": str(tmp_path / "tools"),
        "STACKKIT_APT_LOCK": str(tmp_path / "apt.lock"),
    }
    env.pop("DOCKER_HOST", None)
    start = time.monotonic()
    out = subprocess.run(
        [REPO / "tools" / "local-stack.sh"], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 1, out.stderr
    assert "dockerd exited at start" in out.stderr
    assert "Iptables not found" in out.stderr
    assert time.monotonic() - start < 30
