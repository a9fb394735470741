"""A cache that lets `stackkit env` answer from shell start-up without importing anything heavy.

The full command validates the config and resolves the endpoint, then records the result here
with the files it depended on (their content, or their absence). The fast
path in ``__main__`` reuses a record only while every one of those files is unchanged. The token
is never cached: it is read from its environment variable or its owner-only file each time.
The file is in ``marshal`` format (built in, no import cost), keyed by the Python version.
"""

from __future__ import annotations

import marshal
import os
import sys

from . import __version__
from .state import state_root_str, write_private

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

TOKEN_PLACEHOLDER = "\x00token\x00"
_KEY_ENV = ("HOME", "XDG_STATE_HOME", "STACKKIT_STATE_DIR")
_MAX_ENTRIES = 16


def cache_file() -> str:
    """Where the cache lives (one file per Python version, as marshal's format may change)."""
    return os.path.join(
        state_root_str(), f"env-cache-{sys.version_info[0]}{sys.version_info[1]}.bin"
    )


def _key(argv: Sequence[str]) -> str:
    parts = [__version__, os.getcwd(), *argv, *(os.environ.get(k, "") for k in _KEY_ENV)]
    return "\x00".join(parts)


def _stamp(path: str) -> bytes | None:
    """A file's whole content (configs and outputs are small), or None when it is absent.

    Content, not modification time: an edit within one clock tick must not serve a stale answer.
    """
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _load() -> dict[str, dict[str, object]]:
    try:
        with open(cache_file(), "rb") as f:
            data = marshal.load(f)
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    return data if isinstance(data, dict) else {}


def store(
    argv: Sequence[str],
    env: dict[str, str],
    fmt: str,
    deps: Sequence[Path],
    token_env: str | None,
    token_file: Path | None,
) -> None:
    """Record the result of a full `stackkit env` run (token replaced by a placeholder)."""
    entry = {
        "env": env,
        "format": fmt,
        "deps": {str(p.resolve()): _stamp(str(p)) for p in deps},
        "token_env": token_env,
        "token_file": str(token_file) if token_file else None,
    }
    cache = _load()
    cache.pop(_key(argv), None)
    cache[_key(argv)] = entry
    while len(cache) > _MAX_ENTRIES:  # the newest few invocations are plenty for start-up files
        cache.pop(next(iter(cache)))
    try:
        from pathlib import Path

        write_private(Path(cache_file()), marshal.dumps(cache))
    except OSError:
        pass  # a read-only home must not break `stackkit env`


def lookup(argv: Sequence[str]) -> str | None:
    """The formatted output for ``argv`` if the cache can answer it, else None."""
    entry = _load().get(_key(argv))
    if not entry:
        return None
    deps: dict[str, bytes | None] = entry["deps"]  # type: ignore[assignment]
    if any(_stamp(path) != stamp for path, stamp in deps.items()):
        return None
    env: dict[str, str] = entry["env"]  # type: ignore[assignment]
    if any(TOKEN_PLACEHOLDER in v for v in env.values()):
        token = os.environ.get(str(entry["token_env"] or "")) or _read(entry["token_file"])
        if not token:
            return None
        env = {k: v.replace(TOKEN_PLACEHOLDER, token) for k, v in env.items()}
    from .shells import format_env

    return format_env(env, str(entry["format"]))


def _read(path: object) -> str | None:
    if not isinstance(path, str):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None


def fast_env(argv: Sequence[str]) -> bool:
    """Answer `stackkit env ARGS` from the cache; True when it did."""
    if any(a in ("-h", "--help", "--no-cache") for a in argv):
        return False
    out = lookup(argv)
    if out is None:
        return False
    sys.stdout.write(out)
    return True
