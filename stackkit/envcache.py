"""A cache that lets `stackkit env` answer from shell start-up without importing anything heavy.

The full command validates the config and resolves the endpoint, then records the result here
with the files it depended on (their content, or their absence). The fast
path in ``__main__`` reuses a record only while every one of those files is unchanged. The token
is never cached: it is read from its environment variable or its owner-only file each time.
The file is in ``marshal`` format (built in, no import cost), keyed by the Python version.

What the cache holds is printed into shells, so it is trusted only as state files are (a
regular file owned by this user that nobody else can write), and an entry is used only if every
variable name is a valid name; anything else is a miss, and the full command answers instead.
"""

from __future__ import annotations

import marshal
import os
import sys

from . import __version__
from .errors import StackkitError
from .state import MAX_SECRET_BYTES, check_folder, read_private, state_root_str, write_private
from .tokens import token_problem

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


_MAX_CACHE_BYTES = 4 << 20


def _load() -> dict[str, dict[str, object]]:
    if not check_folder(state_root_str()):
        return {}  # others could have put the file there: the full command answers
    try:
        raw = read_private(cache_file(), _MAX_CACHE_BYTES)
        data = marshal.loads(raw) if raw else {}
    except (StackkitError, EOFError, ValueError, TypeError):
        return {}  # untrusted or unreadable: the full command answers (and says why)
    return data if isinstance(data, dict) else {}


def store(
    argv: Sequence[str],
    env: dict[str, str],
    fmt: str,
    repo_function: bool,
    deps: Sequence[Path],
    token_env: str | None,
    token_file: Path | None,
) -> None:
    """Record the result of a full `stackkit env` run (token replaced by a placeholder)."""
    entry: dict[str, object] = {
        "env": env,
        "format": fmt,
        "repo_function": repo_function,
        "deps": {str(p.resolve()): _stamp(str(p)) for p in deps},
        "token_env": token_env,
        "token_file": str(token_file) if token_file else None,
    }
    cache = _load()
    cache.pop(_key(argv), None)
    cache[_key(argv)] = entry
    while len(cache) > _MAX_ENTRIES:  # the newest few invocations are plenty for start-up files
        cache.pop(next(iter(cache)))
    if not check_folder(state_root_str()):
        return  # others could swap the file: do not cache
    try:
        from pathlib import Path

        write_private(Path(cache_file()), marshal.dumps(cache))
    except (OSError, StackkitError):
        pass  # a read-only home must not break `stackkit env`


def lookup(argv: Sequence[str]) -> str | None:
    """The formatted output for ``argv`` if the cache can answer it, else None."""
    entry = _load().get(_key(argv))
    if not isinstance(entry, dict):
        return None
    deps, env, fmt = entry.get("deps"), entry.get("env"), entry.get("format")
    if not (isinstance(deps, dict) and isinstance(env, dict) and isinstance(fmt, str)):
        return None
    if any(not isinstance(path, str) or _stamp(path) != stamp for path, stamp in deps.items()):
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        return None
    if any(TOKEN_PLACEHOLDER in v for v in env.values()):
        token = os.environ.get(str(entry.get("token_env") or "")) or _read(entry.get("token_file"))
        if not token or token_problem(token):
            return None  # the full command says what is wrong with it
        env = {k: v.replace(TOKEN_PLACEHOLDER, token) for k, v in env.items()}
    from .shells import format_env

    try:
        return format_env(env, fmt, repo_function=entry.get("repo_function") is True)
    except ValueError:
        return None  # a bad variable name or format: never printed


def _read(path: object) -> str | None:
    if not isinstance(path, str):
        return None
    try:
        data = read_private(path, MAX_SECRET_BYTES)
        return data.decode("utf-8").strip() or None if data else None
    except (StackkitError, ValueError):
        return None


def fast_env(argv: Sequence[str]) -> bool:
    """Answer `stackkit env ARGS` from the cache; True when it did."""
    if any(a in ("-h", "--help", "--no-cache") for a in argv):
        return False
    try:
        out = lookup(argv)
    except OSError:
        return False  # e.g. the current folder is gone: the full command says so
    if out is None:
        return False
    sys.stdout.write(out)
    return True
