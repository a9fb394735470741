"""Benchmark: `stackkit up` cold and no-op, a config change, `down`, `up` after `down`.

Usage: uv run python bench/up.py [--runs N] [--write bench/results-up.md]

Runs the real CLI against the tests' Docker engine (tests/fixtures/docker.py: Debian's dockerd
on its own socket, the stack's images built locally) with the Pulumi CLI and Docker provider
from the tool cache, on free ports, and removes everything afterwards.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.docker import docker_engine_session  # noqa: E402
from tests.toolchain import ensure  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    rows: dict[str, list[float]] = {}
    with docker_engine_session() as engine, tempfile.TemporaryDirectory() as tmp:
        path = os.pathsep.join(
            [str(ensure("pulumi")), str(ensure("pulumi-docker")), os.environ["PATH"]]
        )
        for run in range(args.runs):
            work = Path(tmp) / f"run{run}"
            work.mkdir()
            env = {
                **os.environ,
                **engine.env,
                "DOCKER_HOST": engine.host,
                "PATH": path,
                "PULUMI_HOME": str(work / "home"),
                "STACKKIT_STATE_DIR": str(work / "state"),
                "PULUMI_SKIP_UPDATE_CHECK": "true",
            }
            name = engine.unique("bench")
            ports = [free_port() for _ in range(5)]
            base = {
                "name": name,
                "collector": {
                    "grpc": {"port": ports[0]},
                    "http": {"port": ports[1]},
                    "health_port": ports[2],
                },
                "prometheus": {"port": ports[3]},
                "grafana": {"port": ports[4]},
            }
            config = work / "stackkit.yaml"

            def step(label: str, *cmd: str, work: Path = work, env: dict[str, str] = env) -> None:
                start = time.monotonic()
                subprocess.run(
                    [sys.executable, "-m", "stackkit", *cmd],
                    cwd=work,
                    env=env,
                    check=True,
                    capture_output=True,
                )
                rows.setdefault(label, []).append(time.monotonic() - start)

            config.write_text(yaml.safe_dump(base))
            step("up (cold: nothing deployed)", "up")
            step("up (no-op)", "up")
            config.write_text(yaml.safe_dump({**base, "alerts": {"user_spend_usd_per_hour": 55}}))
            step("up (rules change: Prometheus replaced)", "up")
            step("down (volumes kept)", "down")
            step("up after down", "up")
            step("down --purge", "down", "--purge")
    lines = [
        f"`stackkit up` and friends on the tests' Docker engine, {args.runs} runs, seconds "
        "(images already built, so no pulls).",
        "",
        "| step | median | min | max |",
        "|---|---|---|---|",
    ]
    for label, samples in rows.items():
        median, low, high = statistics.median(samples), min(samples), max(samples)
        lines.append(f"| {label} | {median:.1f} | {low:.1f} | {high:.1f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        args.write.write_text(text)


if __name__ == "__main__":
    main()
