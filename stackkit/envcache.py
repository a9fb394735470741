"""A cache that lets `stackkit env` answer from shell start-up without importing anything heavy.

The full command validates the config and resolves the endpoint, then records the result here
with the files it depended on (their size and modification time, or their absence). The fast
path in ``__main__`` reuses a record only while every one of those files is unchanged; the token
is never cached: it is read from its environment variable or its owner-only file each time.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .state import state_root, write_private

CACHE_FILE = "env-cache.json"
TOKEN_PLACEHOLDER = "\x00token\x00"
_KEY_ENV = ("HOME", "XDG_STATE_HOME", "STACKKIT_STATE_DIR")


def _key(argv: Sequence[str]) -> str:
    parts = [__version__, os.getcwd(), *argv, *(os.environ.get(k, "") for k in _KEY_ENV)]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def _stamp(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size]


def _load() -> dict[str, Any]:
    try:
        data = json.loads((state_root() / CACHE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
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
        "deps": {str(p.resolve()): _stamp(p) for p in deps},
        "token_env": token_env,
        "token_file": str(token_file) if token_file else None,
    }
    cache = _load()
    cache[_key(argv)] = entry
    # Keep the cache small: the newest few distinct invocations are plenty for start-up files.
    while len(cache) > 16:
        cache.pop(next(iter(cache)))
    try:
        write_private(state_root() / CACHE_FILE, json.dumps(cache))
    except OSError:
        pass  # a read-only home must not break `stackkit env`


def lookup(argv: Sequence[str]) -> str | None:
    """The formatted output for ``argv`` if the cache can answer it, else None."""
    entry = _load().get(_key(argv))
    if not entry:
        return None
    for path, stamp in entry["deps"].items():
        if _stamp(Path(path)) != stamp:
            return None
    env: dict[str, str] = entry["env"]
    if any(TOKEN_PLACEHOLDER in v for v in env.values()):
        token = os.environ.get(entry["token_env"] or "") or _read(entry["token_file"])
        if not token:
            return None
        env = {k: v.replace(TOKEN_PLACEHOLDER, token) for k, v in env.items()}
    from .env import format_env

    return format_env(env, entry["format"])


def _read(path: str | None) -> str | None:
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip() or None
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
