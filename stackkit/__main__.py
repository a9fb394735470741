"""Entry point. `stackkit env` is answered from its cache when possible (shell start-up speed)."""

from __future__ import annotations

import sys


def main() -> None:
    """Run the CLI."""
    argv = sys.argv[1:]
    if argv[:1] == ["env"]:
        from .envcache import fast_env

        if fast_env(argv[1:]):
            return
    from .cli import app

    app(prog_name="stackkit")


if __name__ == "__main__":
    main()
