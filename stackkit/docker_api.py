"""A few calls to the Docker Engine API, standard library only, for checks before a deploy.

Pulumi's Docker provider does the deploying; this module answers the questions that must be
answered before anything changes: is an engine there, are the images there, are ports free.
Whatever DOCKER_HOST says and whatever answers there, the outcome is an answer or
DockerUnavailable (a DeployError: one line, exit code 1), never a traceback.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlparse

from .errors import DeployError, printable

DEFAULT_HOST = "unix:///var/run/docker.sock"
MAX_BODY_BYTES = 64 << 20


class DockerUnavailable(DeployError):
    """No engine answered at the address, or what answered is not a Docker engine."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


@dataclass(frozen=True)
class Engine:
    """One Docker engine, addressed like DOCKER_HOST (unix:// or tcp://)."""

    host: str

    @classmethod
    def from_env(cls) -> Engine:
        """The engine DOCKER_HOST names, else the default socket."""
        return cls(os.environ.get("DOCKER_HOST") or DEFAULT_HOST)

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        try:
            url = urlparse(self.host)
            port = url.port
        except ValueError as e:
            raise DockerUnavailable(
                f"DOCKER_HOST={self.host} is not an address ({printable(str(e))}): use "
                "unix:///path/to/socket or tcp://host:port"
            ) from None
        if url.scheme == "unix":
            if not url.path:
                raise DockerUnavailable(f"DOCKER_HOST={self.host} names no socket path")
            return _UnixConnection(url.path, timeout)
        if url.scheme in ("tcp", "http"):
            if not url.hostname:
                raise DockerUnavailable(f"DOCKER_HOST={self.host} names no host")
            return http.client.HTTPConnection(url.hostname, port or 2375, timeout=timeout)
        raise DockerUnavailable(
            f"unsupported DOCKER_HOST scheme {url.scheme!r}: use unix:// or tcp://"
        )

    def _raw(self, method: str, path: str, timeout: float) -> tuple[int, str, bytes]:
        """The status, content type and body (at most MAX_BODY_BYTES) of one request."""
        conn = self._connection(timeout)
        try:
            conn.request(method, path)
            resp = conn.getresponse()
            return resp.status, resp.getheader("Content-Type") or "", resp.read(MAX_BODY_BYTES)
        except (OSError, http.client.HTTPException) as e:
            raise DockerUnavailable(
                f"no Docker engine answers at {self.host} ({printable(str(e))})"
            ) from None
        finally:
            conn.close()

    def _request(self, method: str, path: str, timeout: float = 10.0) -> tuple[int, Any]:
        status, content_type, body = self._raw(method, path, timeout)
        text = body.decode("utf-8", "replace")
        if "json" not in content_type:
            return status, text
        try:
            return status, json.loads(text) if text.strip() else None
        except ValueError:
            pass
        try:
            # Pulls stream one JSON object per line; keep the last one (it holds any error).
            lines = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError:
            raise DockerUnavailable(
                f"what answers at {self.host} is not a Docker engine (its answer to "
                f"{method} {path.split('?')[0]} is not JSON)"
            ) from None
        return status, lines[-1] if lines else None

    def ping(self) -> None:
        """Raise DockerUnavailable unless the engine answers."""
        status, _ = self._request("GET", "/_ping", timeout=5)
        if status != 200:
            raise DockerUnavailable(f"the Docker engine at {self.host} answered {status} to a ping")

    def has_image(self, ref: str) -> bool:
        """True when the image is present locally."""
        return self.image_id(ref) is not None

    def image_id(self, ref: str) -> str | None:
        """The local image's ID, or None when it is not here."""
        status, body = self._request("GET", f"/images/{quote(ref, safe='')}/json")
        if status != 200 or not isinstance(body, dict):
            return None
        return str(body.get("Id") or "") or None

    def pull(self, ref: str) -> str | None:
        """Pull ``ref``; None on success, else the engine's reason."""
        name, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "latest")
        query = urlencode({"fromImage": name, "tag": tag})
        status, body = self._request("POST", f"/images/create?{query}", timeout=600)
        if status != 200:
            return (
                (body or {}).get("message", f"HTTP {status}")
                if isinstance(body, dict)
                else f"HTTP {status}"
            )
        if isinstance(body, dict) and body.get("error"):
            return str(body["error"])
        return None

    def remove_stack_container(self, name: str, stack: str) -> bool:
        """Remove the container ``name`` if it belongs to ``stack`` (its label says so)."""
        status, body = self._request("GET", f"/containers/{quote(name, safe='')}/json")
        labels = (body.get("Config") or {}).get("Labels") if isinstance(body, dict) else None
        if status != 200 or not isinstance(labels, dict) or labels.get("stackkit.stack") != stack:
            return False
        status, _ = self._request("DELETE", f"/containers/{quote(name, safe='')}?force=1&v=0")
        return status in (200, 204)

    def remove_unused_network(self, name: str) -> bool:
        """Remove the network ``name`` if no container is attached to it."""
        status, body = self._request("GET", f"/networks/{quote(name, safe='')}")
        if status != 200 or not isinstance(body, dict) or body.get("Containers"):
            return False
        status, _ = self._request("DELETE", f"/networks/{quote(name, safe='')}")
        return status in (200, 204)

    def container(self, name: str) -> dict[str, Any] | None:
        """The container named ``name``: its ``Id`` and ``Labels``; None when there is none."""
        status, body = self._request("GET", f"/containers/{quote(name, safe='')}/json")
        if status != 200 or not isinstance(body, dict):
            return None
        labels = _dict(_dict(body.get("Config")).get("Labels"))
        return {"Id": str(body.get("Id") or ""), "Labels": _strings(labels)}

    def network(self, name: str) -> dict[str, Any] | None:
        """The network named ``name``: its ``Id`` and the IDs of the containers attached
        (``Containers``); None when there is none."""
        status, body = self._request("GET", f"/networks/{quote(name, safe='')}")
        if status != 200 or not isinstance(body, dict) or body.get("Name") != name:
            return None  # the engine also answers to an ID or a prefix of one
        attached = _dict(body.get("Containers"))
        return {"Id": str(body.get("Id") or ""), "Containers": sorted(map(str, attached))}

    def volume(self, name: str) -> dict[str, Any] | None:
        """The volume named ``name``: its ``Labels``; None when there is none."""
        status, body = self._request("GET", f"/volumes/{quote(name, safe='')}")
        if status != 200 or not isinstance(body, dict):
            return None
        return {"Labels": _strings(_dict(body.get("Labels")))}

    def remove_volume(self, name: str) -> str | None:
        """Delete the volume ``name``; None when done (or already gone), else the reason."""
        status, body = self._request("DELETE", f"/volumes/{quote(name, safe='')}")
        if status in (200, 204, 404):
            return None
        message = body.get("message") if isinstance(body, dict) else None
        return printable(str(message or f"HTTP {status}"))

    def state(self, name: str) -> ContainerState | None:
        """The container's state and the host ports it binds, or None when it is not there."""
        status, body = self._request("GET", f"/containers/{quote(name, safe='')}/json")
        if status != 200 or not isinstance(body, dict):
            return None
        state, host = _dict(body.get("State")), _dict(body.get("HostConfig"))
        bindings = _dict(host.get("PortBindings"))
        ports = set()
        for binds in bindings.values():
            for b in binds if isinstance(binds, list) else []:
                port = str(b.get("HostPort") or "") if isinstance(b, dict) else ""
                if port.isdigit() and 0 < int(port) < 65536:
                    ports.add(int(port))
        count = body.get("RestartCount")
        return ContainerState(
            status=str(state.get("Status") or "?"),
            exit_code=state.get("ExitCode") if isinstance(state.get("ExitCode"), int) else None,
            restarts=count if isinstance(count, int) and not isinstance(count, bool) else 0,
            host_ports=frozenset(ports),
        )

    def log_tail(self, name: str, lines: int = 5) -> list[str]:
        """The container's last ``lines`` lines of output (stdout and stderr), printable."""
        status, _, body = self._raw(
            "GET", f"/containers/{quote(name, safe='')}/logs?stdout=1&stderr=1&tail={lines}", 10
        )
        if status != 200:
            return []
        # Without a TTY the engine frames each chunk (older engines say raw-stream regardless).
        if body[:1] in (b"\0", b"\1", b"\2") and body[1:4] == b"\0\0\0":
            body = _demultiplex(body)
        text = body.decode("utf-8", "replace")
        return [printable(line) for line in text.splitlines() if line.strip()][-lines:]

    def containers(self, label: str) -> list[dict[str, Any]]:
        """Containers (running or not) carrying ``label`` (``key=value``), in a checked shape:
        ``Labels`` a dict of strings, ``Ports`` dicts with an int ``PublicPort`` when published,
        ``State`` and ``Status`` strings."""
        filters = quote(json.dumps({"label": [label]}))
        status, body = self._request("GET", f"/containers/json?all=1&filters={filters}")
        if status != 200 or not isinstance(body, list):
            return []
        return [_container(c) for c in body if isinstance(c, dict)]


@dataclass(frozen=True)
class ContainerState:
    """What the engine says of one container."""

    status: str
    """created, running, restarting, paused, exited or dead."""
    exit_code: int | None
    restarts: int
    """How often the engine restarted it (its restart policy)."""
    host_ports: frozenset[int]
    """Host ports it binds when it runs (held by the engine while it restarts, too)."""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _strings(value: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()}


def _demultiplex(body: bytes) -> bytes:
    """The payload of Docker's stream framing (8-byte headers: stream, 0, 0, 0, size)."""
    out, at = bytearray(), 0
    while at + 8 <= len(body):
        size = int.from_bytes(body[at + 4 : at + 8], "big")
        out += body[at + 8 : at + 8 + size]
        at += 8 + size
    return bytes(out)


def _container(raw: dict[str, Any]) -> dict[str, Any]:
    found_labels, found_ports = raw.get("Labels"), raw.get("Ports")
    labels: dict[Any, Any] = found_labels if isinstance(found_labels, dict) else {}
    ports = []
    for p in found_ports if isinstance(found_ports, list) else []:
        public = p.get("PublicPort") if isinstance(p, dict) else None
        if isinstance(public, int) and not isinstance(public, bool) and 0 < public < 65536:
            ports.append({"PublicPort": public})
    names = raw.get("Names") if isinstance(raw.get("Names"), list) else []
    return {
        "Id": str(raw.get("Id") or ""),
        "Name": str(names[0]).lstrip("/") if names else "",
        "Labels": {str(k): str(v) for k, v in labels.items()},
        "Ports": ports,
        "State": str(raw.get("State") or "?"),
        "Status": str(raw.get("Status") or ""),
    }
