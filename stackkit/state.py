"""stackkit's per-user state: generated secrets, deployed outputs, the env cache.

Kept light (standard library only) because `stackkit env` reads it during shell start-up.
Layout: ``$STACKKIT_STATE_DIR`` or ``$XDG_STATE_HOME/stackkit`` or ``~/.local/state/stackkit``,
then one folder per stack name. Secret files are created with owner-only permissions.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

TOKEN_FILE = "otlp-token"
OUTPUTS_FILE = "outputs.json"


def state_root_str() -> str:
    """The folder holding every stack's state, as a string (no pathlib on the fast path)."""
    if explicit := os.environ.get("STACKKIT_STATE_DIR"):
        return explicit
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return os.path.join(base, "stackkit")


def state_root() -> Path:
    """The folder holding every stack's state."""
    from pathlib import Path

    return Path(state_root_str())


def stack_dir(name: str) -> Path:
    """The state folder of one stack."""
    return state_root() / name


def write_private(path: Path, content: str | bytes) -> None:
    """Write ``content`` to ``path`` readable by the owner only, replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    data = content.encode("utf-8") if isinstance(content, str) else content
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def read_secret(name: str, filename: str) -> str | None:
    """A stored secret, or None when it was never generated."""
    try:
        return (stack_dir(name) / filename).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def secret(name: str, filename: str, env_var: str | None = None) -> str:
    """The secret from ``env_var`` if set, else the stored one, generating it on first use."""
    if env_var and (value := os.environ.get(env_var)):
        return value
    if (stored := read_secret(name, filename)) is not None:
        return stored
    import secrets

    value = secrets.token_urlsafe(32)
    write_private(stack_dir(name) / filename, value + "\n")
    return value


def read_outputs(name: str) -> dict[str, Any] | None:
    """What the last successful `stackkit up` reported (endpoints, URLs), if any."""
    import json

    try:
        data = json.loads((stack_dir(name) / OUTPUTS_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None
