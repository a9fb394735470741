"""Entry point. `stackkit env` is answered from its cache when possible (shell start-up speed)."""

from __future__ import annotations

import sys


def main() -> None:
    """Run the CLI."""
    argv = sys.argv[1:]
    if argv[:1] == ["env"]:
        import warnings

        from .envcache import fast_env
        from .errors import StackkitWarning

        with warnings.catch_warnings():
            warnings.simplefilter("always", StackkitWarning)
            warnings.showwarning = _warn
            if fast_env(argv[1:]):
                return
    from .cli import app

    app(prog_name="stackkit")


def _warn(message: object, category: type[Warning], *args: object, **kwargs: object) -> None:
    sys.stderr.write(f"warning: {message}\n")


if __name__ == "__main__":
    main()
