"""Real tools for the tests: build them on demand with ``tools/build-<tool>.sh``.

(Or install them: ``ensure("shells")`` runs ``tools/install-shells.sh``.) A tool whose job failed
in ``build-all.sh`` is tried once more here, when a test first needs it.

``ensure("otelcol")`` runs ``tools/build-otelcol.sh`` (which does nothing when the versioned
cache already holds a complete build) and returns the tool's ``bin`` directory. The answer is
cached for the rest of the process. A build that fails raises :class:`ToolBuildError` naming the
tool, the script's exit status and the tail of its log: a missing tool is never a skipped test.

Build logs are kept in ``$STACKKIT_TOOLS/logs/<tool>.ensure.log`` (``build-all.sh`` keeps its
own in ``<tool>.log`` beside it).

``make test-fast`` sets ``STACKKIT_NO_TOOL_BUILDS=1``: then :func:`refuse_builds` (called by
``ensure`` and by the fixtures that install Docker or Claude Code) raises at once, so a test that
needs a real tool but is not marked ``integration`` fails loudly instead of building for minutes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
TOOLS_DIR = REPO / "tools"
# A cold build of the slowest tool takes minutes on 2 cores; this only stops a hung build.
BUILD_TIMEOUT_S = float(os.environ.get("STACKKIT_BUILD_TIMEOUT", "3600"))
LOG_TAIL_LINES = 40

NO_BUILDS_ENV = "STACKKIT_NO_TOOL_BUILDS"

_cache: dict[str, Path] = {}
_lock = threading.Lock()


class ToolBuildError(RuntimeError):
    """A tool could not be built or its build script answered nonsense."""


def tools_root() -> Path:
    """The versioned cache every build script writes into (same default as tools/lib.sh)."""
    root = os.environ.get("STACKKIT_TOOLS")
    return Path(root) if root else Path.home() / ".cache" / "stackkit-tools"


def log_path(tool: str) -> Path:
    """Where :func:`ensure` keeps the build log of ``tool``."""
    return tools_root() / "logs" / f"{tool}.ensure.log"


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def refuse_builds(tool: str) -> None:
    """Raise ToolBuildError when this run must not build or install tools (``make test-fast``)."""
    if os.environ.get(NO_BUILDS_ENV):
        raise ToolBuildError(
            f"{tool!r} is not built in this run ({NO_BUILDS_ENV} is set, as `make test-fast` "
            "does): a test that needs a real tool must be an integration test (use a tool "
            "fixture, which marks it, or @pytest.mark.integration)"
        )


def script_for(tool: str) -> Path:
    """``tools/build-<tool>.sh``, or ``tools/install-<tool>.sh`` for what Debian installs."""
    for prefix in ("build", "install"):
        script = TOOLS_DIR / f"{prefix}-{tool}.sh"
        if script.is_file():
            return script
    known = sorted(p.name for p in [*TOOLS_DIR.glob("build-*.sh"), *TOOLS_DIR.glob("install-*.sh")])
    raise ToolBuildError(f"no build or install script for tool {tool!r} (have: {known})")


def ensure(tool: str) -> Path:
    """Build ``tool`` if needed and return its bin directory; raise ToolBuildError otherwise."""
    refuse_builds(tool)
    with _lock:
        cached = _cache.get(tool)
        if cached is not None:
            return cached
        script = script_for(tool)
        log = log_path(tool)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as log_file:
            try:
                proc = subprocess.run(
                    ["bash", str(script)],
                    cwd=REPO,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=log_file,
                    text=True,
                    timeout=BUILD_TIMEOUT_S,
                )
            except subprocess.TimeoutExpired:
                raise ToolBuildError(
                    f"building {tool!r} with {script.name} timed out after {BUILD_TIMEOUT_S:.0f}s;"
                    f" log {log}, last lines:\n{_tail(log)}"
                ) from None
        if proc.returncode != 0:
            raise ToolBuildError(
                f"building {tool!r} with {script.name} failed (exit {proc.returncode});"
                f" log {log}, last lines:\n{_tail(log)}"
            )
        lines = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
        if not lines:
            raise ToolBuildError(
                f"{script.name} succeeded but printed no bin directory; log {log}:\n{_tail(log)}"
            )
        bin_dir = Path(lines[-1])
        if not bin_dir.is_dir():
            raise ToolBuildError(
                f"{script.name} printed {str(bin_dir)!r}, which is not a directory;"
                f" log {log}:\n{_tail(log)}"
            )
        _cache[tool] = bin_dir
        return bin_dir


def ensure_binary(tool: str, name: str) -> Path:
    """The executable ``name`` from ``tool``'s bin directory (built if needed)."""
    path = ensure(tool) / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ToolBuildError(f"tool {tool!r} was built but has no executable {name!r} at {path}")
    return path


INSTALLED_SHELLS = ("zsh", "fish")


def shell_params(shells: Iterable[str]) -> list[Any]:
    """``shells`` for ``parametrize``: the ones tools/install-shells.sh installs are
    integration tests (a fresh machine has none of them, and `make test-fast` builds nothing)."""
    return [
        pytest.param(s, marks=pytest.mark.integration) if s in INSTALLED_SHELLS else s
        for s in sorted(shells)
    ]


def require_shell(shell: str) -> str:
    """The path of ``shell``; zsh and fish are installed (tools/install-shells.sh) when missing,
    and a failed install fails the test with the installer's own words, never a skip."""
    found = shutil.which(shell)
    if found is None and shell in INSTALLED_SHELLS:
        try:
            ensure("shells")
        except ToolBuildError as exc:
            raise ToolBuildError(f"{shell} was not installed: {exc}") from None
        found = shutil.which(shell)
    if found is None:
        raise ToolBuildError(f"{shell} is not installed, and stackkit's tools do not install it")
    return found
