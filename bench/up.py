"""Benchmark: `stackkit up` against `docker-compose up -d` for the same stack, and friends.

Usage: uv run python bench/up.py [--runs N] [--write bench/results-up.md]

Both tools deploy the same three containers: the compose file is written from stackkit's own
model (bench/compose.py: same images, commands, files, published ports, volumes, health checks
and volume ownership step). Runs alternate which tool goes first. Each run measures, on the
tests' Docker engine (tests/fixtures/docker.py, images built locally, so nothing is pulled):

- cold: nothing deployed, the command's wall time;
- until all answer: from the command's start until every component's ready probe answers 2xx
  (a poller runs alongside the command, so this is what a person waiting for the stack sees);
- no-op: the same command again with nothing changed;
and for stackkit also a config change (Prometheus replaced), `down`, `up` after `down`,
`down --purge`. docker-compose is Debian's (`apt-get install docker-compose`, 1.29.2); the bench
installs it when missing. Medians are written down.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.compose import compose_project
from stackkit.config import StackConfig
from stackkit.deploy import build
from tests.fixtures import free_port
from tests.fixtures.docker import docker_engine_session
from tests.toolchain import ensure

POLL_S = 0.05
ANSWER_TIMEOUT_S = 120.0


def docker_compose() -> str:
    found = shutil.which("docker-compose")
    if found:
        return found
    print("[up] installing Debian's docker-compose (tools/apt-install.sh)", file=sys.stderr)
    subprocess.run([str(ROOT / "tools" / "apt-install.sh"), "docker-compose"], check=True)
    return shutil.which("docker-compose") or "/usr/bin/docker-compose"


def probes(config: dict) -> list[str]:
    """The URL of every component's ready probe, from the model of ``config``."""
    stack = build(StackConfig.model_validate(config))
    return [f"http://127.0.0.1:{c.ready.port}{c.ready.path}" for c in stack.components]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return 200 <= r.status < 300
    except OSError:
        return False


def timed(command: Callable[[], None], urls: list[str] | None = None) -> tuple[float, float]:
    """Run ``command``; return its wall time and (with ``urls``) the time from its start until
    every URL answered."""
    start = time.monotonic()
    answered: list[float] = []
    stop = threading.Event()

    def poll() -> None:
        pending = list(urls or [])
        while pending and not stop.is_set():
            pending = [u for u in pending if not answers(u)]
            if not pending:
                answered.append(time.monotonic() - start)
                return
            if time.monotonic() - start > ANSWER_TIMEOUT_S:
                return
            time.sleep(POLL_S)

    poller = threading.Thread(target=poll, daemon=True)
    if urls:
        poller.start()
    command()
    took = time.monotonic() - start
    if urls:
        poller.join(ANSWER_TIMEOUT_S)
        stop.set()
        if not answered:
            raise RuntimeError(f"not every component answered within {ANSWER_TIMEOUT_S:.0f}s")
    return took, (answered[0] if answered else 0.0)


def kubernetes(runs: int) -> str:
    """`stackkit up` on the tests' real single-node cluster: cold, no-op, after an edit by hand,
    a Collector change (a rolling update that waits for the new pods), `down --purge`."""
    from stackkit.versions import IMAGES
    from tests.fixtures.kube import start_cluster, stop_cluster

    rows: dict[str, list[float]] = {}
    cluster = start_cluster()
    try:
        with docker_engine_session() as engine:
            cluster.import_images(engine, *IMAGES.values())
        path = os.pathsep.join(
            [str(ensure(t)) for t in ("pulumi", "pulumi-kubernetes")] + [os.environ["PATH"]]
        )
        with tempfile.TemporaryDirectory() as tmp:
            for run in range(runs):
                work = Path(tmp) / f"run{run}"
                work.mkdir()
                env = {**os.environ, "PATH": path, "STACKKIT_STATE_DIR": str(work / "state")}
                env.pop("PULUMI_HOME", None)
                config = {
                    "name": f"bench{run}",
                    "target": "kubernetes",
                    "kubernetes": {
                        "namespace": f"bench-{run}",
                        "kubeconfig": str(cluster.kubeconfig),
                        "collector_service_type": "NodePort",
                        "storage_class": cluster.writable_storage_class,
                    },
                }

                def cli(*cmd: str, work: Path = work, env: dict[str, str] = env) -> float:
                    start = time.monotonic()
                    subprocess.run(
                        [sys.executable, "-m", "stackkit", *cmd],
                        cwd=work, env=env, check=True, capture_output=True, timeout=1200,
                    )  # fmt: skip
                    return time.monotonic() - start

                def step(label: str, seconds: float) -> None:
                    rows.setdefault(label, []).append(seconds)
                    print(f"[up] kubernetes {label}: {seconds:.1f}s", file=sys.stderr)

                (work / "stackkit.yaml").write_text(yaml.safe_dump(config))
                step("up, cold (every workload Ready)", cli("up"))
                step("up, no-op", cli("up"))
                # Behind stackkit's back: what `up` must notice and repair (Pulumi refreshes).
                cluster.kubectl(
                    "scale", "deployment", "grafana", "-n", f"bench-{run}", "--replicas=0"
                )
                step("up, after an edit by hand (repaired)", cli("up"))
                step("up, no-op after the repair", cli("up"))
                config["collector"] = {"max_stale": "10m"}
                (work / "stackkit.yaml").write_text(yaml.safe_dump(config))
                step("up, Collector change (rolling update)", cli("up"))
                step("down --purge", cli("down", "--purge"))
                cluster.kubectl("delete", "namespace", f"bench-{run}", "--wait=false", check=False)
    finally:
        stop_cluster(cluster)
    lines = [
        "",
        f"`stackkit up` on the tests' real single-node Kubernetes cluster (kubelet, containerd, "
        f"CNI, CoreDNS; images imported, nothing pulled), {runs} runs; seconds.",
        "",
        "| step | median | min | max |",
        "|---|---|---|---|",
    ]
    for label, samples in rows.items():
        lines.append(
            f"| {label} | {statistics.median(samples):.1f} | {min(samples):.1f} | "
            f"{max(samples):.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--kube-runs", type=int, default=3, help="0: no Kubernetes runs")
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    compose = docker_compose()
    rows: dict[str, list[float]] = {}

    def note(label: str, seconds: float) -> None:
        rows.setdefault(label, []).append(seconds)
        print(f"[up] {label}: {seconds:.2f}s", file=sys.stderr)

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
                "STACKKIT_STATE_DIR": str(work / "state"),
                "PULUMI_SKIP_UPDATE_CHECK": "true",
            }
            env.pop("PULUMI_HOME", None)

            def config(name: str) -> dict:
                ports = [free_port() for _ in range(6)]
                return {
                    "name": name,
                    "collector": {
                        "grpc": {"port": ports[0]},
                        "http": {"port": ports[1]},
                        "health_port": ports[2],
                    },
                    "prometheus": {"port": ports[3]},
                    "grafana": {"port": ports[4]},
                    "alertmanager": {"port": ports[5]},
                }

            def run_cli(*cmd: str, work: Path = work, env: dict[str, str] = env) -> None:
                subprocess.run(
                    [sys.executable, "-m", "stackkit", *cmd],
                    cwd=work,
                    env=env,
                    check=True,
                    capture_output=True,
                )

            def stackkit_runs(work: Path = work, run_cli: Callable[..., None] = run_cli) -> None:
                base = config(engine.unique("bench"))
                (work / "stackkit.yaml").write_text(yaml.safe_dump(base))
                cold, ready = timed(lambda: run_cli("up"), probes(base))
                note("stackkit: up, cold", cold)
                note("stackkit: cold, until all answer", ready)
                note("stackkit: up, no-op", timed(lambda: run_cli("up"))[0])
                changed = {**base, "alerts": {"user_spend_usd_per_hour": 55}}
                (work / "stackkit.yaml").write_text(yaml.safe_dump(changed))
                note(
                    "stackkit: up, rules change",
                    timed(lambda: run_cli("up"))[0],
                )
                note("stackkit: down (volumes kept)", timed(lambda: run_cli("down"))[0])
                note("stackkit: up after down", timed(lambda: run_cli("up"))[0])
                note("stackkit: down --purge", timed(lambda: run_cli("down", "--purge"))[0])

            def compose_runs(work: Path = work, env: dict[str, str] = env) -> None:
                base = config(engine.unique("bench"))
                project = work / "compose"
                file = compose_project(StackConfig.model_validate(base), project)
                cmd = [compose, "-p", base["name"], "-f", str(file)]

                def compose_cli(*more: str) -> None:
                    subprocess.run([*cmd, *more], env=env, check=True, capture_output=True)

                cold, ready = timed(lambda: compose_cli("up", "-d"), probes(base))
                note("docker-compose: up -d, cold", cold)
                note("docker-compose: cold, until all answer", ready)
                note("docker-compose: up -d, no-op", timed(lambda: compose_cli("up", "-d"))[0])
                compose_cli("down", "-v")

            def floor_runs(work: Path = work, env: dict[str, str] = env) -> None:
                # Pulumi's share of a cold `up`, measured the way `up` runs (a new process).
                for what, label in (
                    ("empty", "pulumi: up of an empty program (the engine's floor)"),
                    ("network", "pulumi: up of one Docker network (engine, provider, network)"),
                ):
                    out = subprocess.run(
                        [sys.executable, str(ROOT / "bench" / "pulumi_floor.py"),
                         engine.unique("floor"), what],
                        cwd=work, env=env, check=True, capture_output=True, text=True,
                    )  # fmt: skip
                    note(label, float(out.stdout.split()[0]))

            order = [stackkit_runs, compose_runs] if run % 2 == 0 else [compose_runs, stackkit_runs]
            order.append(floor_runs)
            for runner in order:
                runner()
    text = report(rows, args.runs)
    if args.kube_runs:
        text += kubernetes(args.kube_runs)
    print(text)
    if args.write:
        args.write.write_text(text)


def report(rows: dict[str, list[float]], runs: int) -> str:
    med = {label: statistics.median(samples) for label, samples in rows.items()}
    lines = [
        f"`stackkit up` against `docker-compose up -d` (Debian's 1.29.2) for the same three "
        f"containers, on the tests' Docker engine (images local, nothing pulled), {runs} runs "
        "alternating which goes first; seconds.",
        "",
        "| step | median | min | max |",
        "|---|---|---|---|",
    ]
    for label, samples in rows.items():
        lines.append(f"| {label} | {med[label]:.2f} | {min(samples):.2f} | {max(samples):.2f} |")
    lines += ["", "| ratio (medians) | stackkit / compose | goal |", "|---|---|---|"]
    for what, ours, theirs, goal in (
        ("cold up", "stackkit: up, cold", "docker-compose: up -d, cold", "≤ 1.5"),
        (
            "until all answer",
            "stackkit: cold, until all answer",
            "docker-compose: cold, until all answer",
            "≤ 1.2",
        ),
        ("no-op up", "stackkit: up, no-op", "docker-compose: up -d, no-op", "under 1 s"),
    ):
        if ours in med and theirs in med:
            lines.append(f"| {what} | {med[ours] / med[theirs]:.2f} | {goal} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
