"""Environment variables written for each shell and settings file. Pure, standard library only.

This is on the `stackkit env` fast path (shell start-up): keep imports out of module level.

Every value is quoted so that the shell reads back exactly that string and runs nothing:
- bash, zsh: single quotes; a ``'`` is written ``'\\''``.
- fish: single quotes, where only ``\\`` and ``'`` need a backslash.
- PowerShell: single quotes, where PowerShell also counts the typographic quotes ‘ ’ ‚ ‛ as
  quotes; each of them, like ``'``, is doubled.
- dotenv: for POSIX ``sh`` sourcing (``set -a; . ./.env``) as well as dotenv readers: single
  quotes when the value has no ``'``, else double quotes with ``\\ " $ ``` escaped.
Names are never quoted, so a name that is not ``[A-Za-z_][A-Za-z0-9_]*`` is refused.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

FORMATS = ("bash", "zsh", "fish", "powershell", "dotenv", "json", "managed-settings")
SETTINGS_SCHEMA = "https://json.schemastore.org/claude-code-settings.json"
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_POWERSHELL_QUOTES = "'\u2018\u2019\u201a\u201b"


def valid_name(name: str) -> bool:
    """True for a portable environment variable name (``^[A-Za-z_][A-Za-z0-9_]*$``)."""
    return bool(name) and not name[0].isdigit() and set(name) <= _NAME_CHARS


def _single_quoted(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def _fish_quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _powershell_quoted(value: str) -> str:
    return "'" + "".join(c * 2 if c in _POWERSHELL_QUOTES else c for c in value) + "'"


def _dotenv_quoted(value: str) -> str:
    if "'" not in value:
        return "'" + value + "'"
    escaped = "".join("\\" + c if c in '\\"$`' else c for c in value)
    return '"' + escaped + '"'


def format_env(env: Mapping[str, str], fmt: str) -> str:
    """Render ``env`` for one shell or settings file; the text ends with a newline."""
    for name, value in env.items():
        if not valid_name(name):
            raise ValueError(f"{name!r} is not a valid environment variable name")
        if "\0" in value:
            raise ValueError(f"the value of {name} holds a NUL character")
    if fmt in ("bash", "zsh"):
        return "".join(f"export {k}={_single_quoted(v)}\n" for k, v in env.items())
    if fmt == "fish":
        return "".join(f"set -gx {k} {_fish_quoted(v)}\n" for k, v in env.items())
    if fmt == "powershell":
        return "".join(f"$env:{k} = {_powershell_quoted(v)}\n" for k, v in env.items())
    if fmt == "dotenv":
        return "".join(f"{k}={_dotenv_quoted(v)}\n" for k, v in env.items())
    if fmt in ("json", "managed-settings"):
        import json

    if fmt == "json":
        return json.dumps({"env": dict(env)}, indent=2) + "\n"
    if fmt == "managed-settings":
        return json.dumps({"$schema": SETTINGS_SCHEMA, "env": dict(env)}, indent=2) + "\n"
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
