"""The one exception family users see; the CLI turns each into a message and an exit code."""

from __future__ import annotations


def printable(text: str, limit: int = 200) -> str:
    """What another program said, safe inside a one-line message: whitespace folded, control
    characters escaped, at most ``limit`` characters."""
    text = " ".join(text.split())
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class StackkitError(Exception):
    """An error the user can act on. The message says what to do next."""

    exit_code = 1


class ConfigError(StackkitError):
    """The configuration file (or a flag) is invalid; one line per problem."""

    exit_code = 2

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        if len(problems) == 1:
            super().__init__(f"invalid configuration: {source}: {problems[0]}")
            return
        lines = "\n".join(f"  {source}: {p}" for p in problems)
        super().__init__(f"invalid configuration ({len(problems)} problems):\n{lines}")


class RenderError(StackkitError):
    """Rendering or writing the configuration failed."""


class DeployError(StackkitError):
    """Deploying, previewing or removing the stack failed."""


class StateError(StackkitError):
    """A file in stackkit's state folder is unusable or untrusted (environment, exit 1)."""


class StackkitWarning(UserWarning):
    """Something works but should be fixed; the CLI prints it as one ``warning:`` line."""
