"""Environment variables written for each shell and settings file. Pure, standard library only.

This is on the `stackkit env` fast path (shell start-up): keep imports out of module level.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

FORMATS = ("bash", "zsh", "fish", "powershell", "dotenv", "json", "managed-settings")
SETTINGS_SCHEMA = "https://json.schemastore.org/claude-code-settings.json"


def _single_quoted(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def _fish_quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _powershell_quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _dotenv_quoted(value: str) -> str:
    if "'" not in value and "\n" not in value:
        return "'" + value + "'"
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("\n", "\\n")
    )
    return '"' + escaped + '"'


def format_env(env: Mapping[str, str], fmt: str) -> str:
    """Render ``env`` for one shell or settings file; the text ends with a newline."""
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
