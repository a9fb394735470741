"""stackkit's per-user state: generated secrets, deployed outputs, the env cache.

Kept light (standard library only) because `stackkit env` reads it during shell start-up.
Layout: ``$STACKKIT_STATE_DIR`` or ``$XDG_STATE_HOME/stackkit`` or ``~/.local/state/stackkit``,
then one folder per stack name. Secret files are created with owner-only permissions.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

TOKEN_FILE = "otlp-token"
OUTPUTS_FILE = "outputs.json"


def state_root() -> Path:
    """The folder holding every stack's state."""
    if explicit := os.environ.get("STACKKIT_STATE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "stackkit"


def stack_dir(name: str) -> Path:
    """The state folder of one stack."""
    return state_root() / name


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only, replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
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
    value = secrets.token_urlsafe(32)
    write_private(stack_dir(name) / filename, value + "\n")
    return value


def read_outputs(name: str) -> dict[str, Any] | None:
    """What the last successful `stackkit up` reported (endpoints, URLs), if any."""
    try:
        data = json.loads((stack_dir(name) / OUTPUTS_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None
