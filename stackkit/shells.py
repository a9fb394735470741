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


CLAUDE_FUNCTION_FORMATS = ("bash", "zsh", "fish")


def claude_function(fmt: str) -> str:
    """A ``claude`` function for ``fmt`` that adds ``git.repo`` (the repository the launch starts
    in, cleaned by :mod:`stackkit.repo`'s rules) to that launch's OTEL_RESOURCE_ATTRIBUTES; the
    shell's own variable is left as it was. Outside a repository it runs claude unchanged."""
    from .repo import ATTRIBUTE, MAX_CHARS, sed_script

    clean = f"command sed -E {sed_script()} | command cut -c1-{MAX_CHARS}"
    name = "command sed -E -e 's|.*/||'"
    if fmt in ("bash", "zsh"):
        return (
            "# stackkit: claude with the repository it starts in as git.repo (this launch only)\n"
            "claude() {\n"
            "  local repo\n"
            f"  repo=$( (command git remote get-url origin 2>/dev/null"
            f" || command git rev-parse --show-toplevel 2>/dev/null | {name}) | {clean})\n"
            '  if [ -n "$repo" ]; then\n'
            "    OTEL_RESOURCE_ATTRIBUTES="
            f'"${{OTEL_RESOURCE_ATTRIBUTES:+$OTEL_RESOURCE_ATTRIBUTES,}}{ATTRIBUTE}=$repo"'
            ' command claude "$@"\n'
            "  else\n"
            '    command claude "$@"\n'
            "  fi\n"
            "}\n"
        )
    if fmt == "fish":
        return (
            "# stackkit: claude with the repository it starts in as git.repo (this launch only)\n"
            "function claude --wraps claude\n"
            f"    set -l repo (begin; command git remote get-url origin 2>/dev/null;"
            f" or command git rev-parse --show-toplevel 2>/dev/null | {name}; end | {clean})\n"
            '    if test -n "$repo"\n'
            f'        set -l attrs "{ATTRIBUTE}=$repo"\n'
            '        if test -n "$OTEL_RESOURCE_ATTRIBUTES"\n'
            '            set attrs "$OTEL_RESOURCE_ATTRIBUTES,$attrs"\n'
            "        end\n"
            "        OTEL_RESOURCE_ATTRIBUTES=$attrs command claude $argv\n"
            "    else\n"
            "        command claude $argv\n"
            "    end\n"
            "end\n"
        )
    raise ValueError(
        f"a claude function needs bash, zsh or fish, not {fmt}: set git.repo with --attr instead"
    )


def format_env(env: Mapping[str, str], fmt: str, repo_function: bool = False) -> str:
    """Render ``env`` for one shell or settings file (and, with ``repo_function``, the
    :func:`claude_function` after it); the text ends with a newline."""
    text = _format_env(env, fmt)
    return text + claude_function(fmt) if repo_function else text


def _format_env(env: Mapping[str, str], fmt: str) -> str:
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
