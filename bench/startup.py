"""Benchmark: `stackkit env` (shell start-up path) and `stackkit render`, against bare Python.

Usage: uv run python bench/startup.py [--runs N] [--write bench/results.md]

Each command runs N times in a fresh process; the median and the 90th percentile of wall time
are reported. `env (cached)` is what a shell start-up file pays on every new shell; `env (cold)`
is the first run after the config changed (full validation, then the cache is written).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(
    cmd: list[str], cwd: Path, env: dict[str, str], runs: int, before=None, quiet=False
) -> list[float]:
    samples = []
    for _ in range(runs):
        if before:
            before()
        start = time.perf_counter()
        subprocess.run(
            cmd,
            cwd=cwd,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL if quiet else None,
        )
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    py = sys.executable
    # The console script, as a shell start-up file runs it (not `python -m`, which adds runpy).
    stackkit = [str(Path(py).parent / "stackkit")]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "stackkit.yaml").write_text((ROOT / "examples" / "docker-local.yaml").read_text())
        env = {**os.environ, "STACKKIT_STATE_DIR": str(work / "state")}
        state = work / "state"

        def drop_cache() -> None:
            for f in state.glob("env-cache-*"):
                f.unlink()

        subprocess.run([*stackkit, "env"], cwd=work, env=env, check=True, stdout=subprocess.DEVNULL)
        rows = {
            "python -c pass": timed([py, "-c", "pass"], work, env, args.runs),
            "stackkit env (cached)": timed([*stackkit, "env"], work, env, args.runs),
            "stackkit env (cold)": timed(
                [*stackkit, "env"], work, env, max(args.runs // 3, 3), before=drop_cache
            ),
            "stackkit render": timed(
                [*stackkit, "render", "-o", "out"], work, env, max(args.runs // 3, 3), quiet=True
            ),
        }
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; "
        f"runs per row as shown; times in ms.",
        "",
        "| command | runs | median | p90 |",
        "|---|---|---|---|",
    ]
    for name, samples in rows.items():
        p90 = statistics.quantiles(samples, n=10)[-1] if len(samples) >= 2 else samples[0]
        lines.append(f"| {name} | {len(samples)} | {statistics.median(samples):.1f} | {p90:.1f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        args.write.write_text(text)


if __name__ == "__main__":
    main()
