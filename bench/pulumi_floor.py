"""What Pulumi costs before stackkit creates anything: run by bench/up.py as a subprocess, the
way `stackkit up` runs, so the figures compare with its own.

Usage: python bench/pulumi_floor.py NAME empty|network

- empty: `up` of an inline program that declares nothing (stackkit's lock and stack creation,
  the Pulumi CLI, its Python language host and engine, the state written);
- network: the same with one Docker network, through the Docker provider (its process starting,
  and the provider's own wait after creating a network), then `destroy` (untimed by the caller's
  first line: it prints the seconds of the `up` alone).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stackkit import pulumi_stack  # noqa: E402
from stackkit.config import StackConfig  # noqa: E402


def _quiet(_: str) -> None:
    pass


def main() -> None:
    name, what = sys.argv[1], sys.argv[2]
    cfg = StackConfig.model_validate({"name": name})

    def program() -> None:
        if what == "network":
            import pulumi_docker as docker

            docker.Network(f"{name}-net", name=f"{name}-net")

    start = time.monotonic()
    pulumi_stack.run(cfg, "up", program, _quiet)
    print(f"{time.monotonic() - start:.3f}")
    pulumi_stack.run(cfg, "destroy", program, _quiet)


if __name__ == "__main__":
    main()
