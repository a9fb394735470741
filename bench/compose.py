"""The same stack as a Docker Compose file, written from stackkit's model, for bench/up.py to
time `docker-compose up` against `stackkit up` on equal terms: the same images, commands, files,
ports, volumes, health checks and volume ownership step."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from stackkit.config import StackConfig
from stackkit.deploy import build, secret_values
from stackkit.model import Component, Stack


def compose_project(cfg: StackConfig, folder: Path) -> Path:
    """Write the rendered files and a compose file for ``cfg`` under ``folder``; return the
    compose file's path."""
    stack = build(cfg)
    secrets = secret_values(cfg)
    bind = cfg.docker.bind_address
    services: dict[str, Any] = {}
    volumes: dict[str, Any] = {}
    for c in stack.components:
        mounts = []
        for rel, text in c.files.items():
            host = folder / c.name / rel
            host.parent.mkdir(parents=True, exist_ok=True)
            host.write_text(text)
            mounts.append(f"{host}:{c.config_dir}/{rel}:ro")
        for path, ref in c.secret_files.items():
            host = folder / c.name / "secrets" / Path(path).name
            host.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            with os.fdopen(fd, "w") as f:
                f.write(secrets[ref.secret][ref.key])
            mounts.append(f"{host}:{path}:ro")
        service: dict[str, Any] = {
            "image": c.image,
            "container_name": f"{cfg.name}-{c.name}",
            "restart": "unless-stopped",
            "ports": [f"{bind}:{p.number}:{p.number}" for p in c.ports if p.audience != "internal"],
            "networks": {"default": {"aliases": [c.name]}},
            "volumes": mounts,
        }
        if c.args:
            service["command"] = list(c.args)
        if c.secret_env:
            service["environment"] = {
                var: secrets[ref.secret][ref.key] for var, ref in c.secret_env.items()
            }
        if c.data_dir:
            volumes[f"{c.name}-data"] = {}
            service["volumes"].append(f"{c.name}-data:{c.data_dir}")
            if c.chown_data_dir:
                services[f"{c.name}-volume-init"] = _volume_init(stack, c)
                service["depends_on"] = {
                    f"{c.name}-volume-init": {"condition": "service_completed_successfully"}
                }
        if c.shell_probe:
            service["healthcheck"] = {
                "test": ["CMD", "wget", "-q", "-O", "/dev/null",
                         f"http://localhost:{c.ready.port}{c.ready.path}"],
                "interval": "10s", "timeout": "5s", "retries": 6, "start_period": "10s",
            }  # fmt: skip
        services[c.name] = service
    path = folder / "docker-compose.yml"
    path.write_text(yaml.safe_dump({"services": services, "volumes": volumes}))
    return path


def _volume_init(stack: Stack, c: Component) -> dict[str, Any]:
    entrypoint, *command = stack.chown_command(c)
    return {
        "image": stack.volume_init_image,
        "user": "0:0",
        "entrypoint": [entrypoint],
        "command": command,
        "volumes": [f"{c.name}-data:{c.data_dir}"],
    }
