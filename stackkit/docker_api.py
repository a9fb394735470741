"""A few calls to the Docker Engine API, standard library only, for checks before a deploy.

Pulumi's Docker provider does the deploying; this module answers the questions that must be
answered before anything changes: is an engine there, are the images there, are ports free.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlparse

DEFAULT_HOST = "unix:///var/run/docker.sock"


class DockerUnavailable(Exception):
    """No engine answered at the address."""


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

    def _request(self, method: str, path: str, timeout: float = 10.0) -> tuple[int, Any]:
        url = urlparse(self.host)
        try:
            if url.scheme == "unix":
                conn: http.client.HTTPConnection = _UnixConnection(url.path, timeout)
            elif url.scheme in ("tcp", "http"):
                conn = http.client.HTTPConnection(
                    url.hostname or "", url.port or 2375, timeout=timeout
                )
            else:
                raise DockerUnavailable(f"unsupported DOCKER_HOST scheme {url.scheme!r}")
            conn.request(method, path)
            resp = conn.getresponse()
            body = resp.read()
        except OSError as e:
            raise DockerUnavailable(f"no Docker engine answers at {self.host} ({e})") from None
        text = body.decode("utf-8", "replace")
        if "json" not in (resp.getheader("Content-Type") or ""):
            return resp.status, text
        try:
            return resp.status, json.loads(text) if text.strip() else None
        except ValueError:
            # Pulls stream one JSON object per line; keep the last one (it holds any error).
            lines = [json.loads(line) for line in text.splitlines() if line.strip()]
            return resp.status, lines[-1] if lines else None

    def ping(self) -> None:
        """Raise DockerUnavailable unless the engine answers."""
        status, _ = self._request("GET", "/_ping", timeout=5)
        if status != 200:
            raise DockerUnavailable(f"the Docker engine at {self.host} answered {status} to a ping")

    def has_image(self, ref: str) -> bool:
        """True when the image is present locally."""
        status, _ = self._request("GET", f"/images/{quote(ref, safe='')}/json")
        return status == 200

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

    def containers(self, label: str) -> list[dict[str, Any]]:
        """Containers (running or not) carrying ``label`` (``key=value``)."""
        filters = quote(json.dumps({"label": [label]}))
        status, body = self._request("GET", f"/containers/json?all=1&filters={filters}")
        return body if status == 200 and isinstance(body, list) else []
