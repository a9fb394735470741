"""A small Kubernetes API client: the kubeconfig, and the few calls stackkit makes itself.

Pulumi changes the cluster; this module only looks (preflight checks, ``status``, ``verify``,
the endpoint ``env`` prints). It reads a kubeconfig as kubectl does (``kubernetes.kubeconfig``,
else ``$KUBECONFIG``, else ``~/.kube/config``; the config's context, else the current one) and
supports certificate, token and exec-plugin credentials. Standard library and PyYAML only.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import StackkitError


class KubeError(StackkitError):
    """The cluster cannot be reached or refused a request; the message says what to do."""


def kubeconfig_paths(explicit: Path | None) -> list[Path]:
    """The kubeconfig files to read, in kubectl's order."""
    if explicit is not None:
        return [explicit.expanduser()]
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path.home() / ".kube" / "config"]


def _merged(paths: list[Path]) -> dict[str, Any]:
    """kubectl's merge: the first file to name a cluster, user or context wins."""
    merged: dict[str, Any] = {"clusters": {}, "users": {}, "contexts": {}, "current": None}
    found = False
    for path in paths:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            continue
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as e:
            raise KubeError(f"kubeconfig {path}: cannot read it ({e})") from None
        if not isinstance(data, dict):
            raise KubeError(f"kubeconfig {path}: not a kubeconfig (a mapping is expected)")
        found = True
        merged["current"] = merged["current"] or data.get("current-context")
        for kind in ("clusters", "users", "contexts"):
            for entry in data.get(kind) or []:
                if isinstance(entry, dict) and "name" in entry:
                    item = entry.get(kind[:-1]) or {}
                    merged[kind].setdefault(entry["name"], (item, path.parent))
    if not found:
        where = ", ".join(map(str, paths))
        raise KubeError(
            f"no kubeconfig at {where}: set kubernetes.kubeconfig in the config or KUBECONFIG"
        )
    return merged


@dataclass(frozen=True)
class Cluster:
    """One cluster, as one context of a kubeconfig names it."""

    context: str
    cluster: str
    server: str
    namespace: str | None
    ca: bytes | None = field(default=None, repr=False)
    insecure: bool = False
    cert: bytes | None = field(default=None, repr=False)
    key: bytes | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    basic: tuple[str, str] | None = field(default=None, repr=False)
    exec_spec: Mapping[str, Any] | None = field(default=None, repr=False)

    def _ssl(self, cert: bytes | None, key: bytes | None) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.ca:
            ctx.load_verify_locations(cadata=self.ca.decode("ascii", "replace"))
        if cert and key:
            folder = tempfile.mkdtemp(prefix="stackkit-kube-")
            try:
                cert_path, key_path = Path(folder, "c"), Path(folder, "k")
                for path, data in ((cert_path, cert), (key_path, key)):
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "wb") as f:
                        f.write(data)
                ctx.load_cert_chain(str(cert_path), str(key_path))
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        return ctx

    def _credentials(self) -> tuple[dict[str, str], bytes | None, bytes | None]:
        headers: dict[str, str] = {}
        cert, key, token = self.cert, self.key, self.token
        if self.exec_spec is not None:
            token, cert, key = _exec_credential(self.exec_spec, self.context)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif self.basic:
            pair = base64.b64encode(f"{self.basic[0]}:{self.basic[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {pair}"
        return headers, cert, key

    def request(
        self, method: str, path: str, body: Any = None, timeout: float = 15.0
    ) -> tuple[int, Any]:
        """One API call; returns (status, parsed JSON or text). Network failures raise."""
        headers, cert, key = self._credentials()
        return self._send(method, path, body, timeout, headers, self._ssl(cert, key))

    def get_many(self, paths: list[str], timeout: float = 15.0) -> list[tuple[int, Any]]:
        """GET each of ``paths`` (a few at a time, one set of credentials and one TLS context
        for all); returns (status, parsed body) in the order of ``paths``."""
        if not paths:
            return []
        headers, cert, key = self._credentials()
        ctx = self._ssl(cert, key)
        with ThreadPoolExecutor(max_workers=min(8, len(paths))) as pool:
            return list(
                pool.map(lambda p: self._send("GET", p, None, timeout, headers, ctx), paths)
            )

    def _send(
        self,
        method: str,
        path: str,
        body: Any,
        timeout: float,
        headers: dict[str, str],
        ctx: ssl.SSLContext,
    ) -> tuple[int, Any]:
        headers = dict(headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(
            self.server.rstrip("/") + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
                return r.status, _parse(r.read())
        except urllib.error.HTTPError as e:
            return e.code, _parse(e.read())
        except (OSError, ValueError, ssl.SSLError) as e:
            raise KubeError(
                f"the Kubernetes API at {self.server} (context {self.context}) does not answer "
                f"({getattr(e, 'reason', e)}): check the cluster is up and the kubeconfig "
                "is current"
            ) from None

    def get(self, path: str, timeout: float = 15.0) -> Any:
        """GET ``path``; a non-2xx answer raises KubeError with the API's message."""
        status, body = self.request("GET", path, timeout=timeout)
        if not 200 <= status < 300:
            raise KubeError(f"GET {path}: {status} {_message(body)}")
        return body

    def can_i(self, verb: str, resource: str, namespace: str | None, group: str = "") -> bool:
        """Whether these credentials may ``verb`` ``resource`` (a SelfSubjectAccessReview)."""
        attrs: dict[str, Any] = {"verb": verb, "resource": resource, "group": group}
        if namespace:
            attrs["namespace"] = namespace
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attrs},
        }
        status, body = self.request(
            "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review
        )
        if status >= 300:
            raise KubeError(f"cannot check permissions: {status} {_message(body)}")
        return bool(body.get("status", {}).get("allowed"))

    def service_proxy(self, namespace: str, service: str, port: int | str, path: str) -> str:
        """The API path that reaches ``path`` on a Service through the API server."""
        return f"/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy{path}"


def _parse(raw: bytes) -> Any:
    text = raw.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def _message(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("message") or body.get("reason") or body)
    return str(body)[:300]


def _data(entry: Mapping[str, Any], key: str, base: Path) -> bytes | None:
    if entry.get(f"{key}-data"):
        return base64.b64decode(entry[f"{key}-data"])
    if entry.get(key):
        path = Path(entry[key])
        path = path if path.is_absolute() else base / path
        try:
            return path.read_bytes()
        except OSError as e:
            raise KubeError(f"kubeconfig: cannot read {key} {path} ({e.strerror or e})") from None
    return None


def _exec_credential(spec: Mapping[str, Any], context: str) -> tuple[str | None, bytes, bytes]:
    command = [str(spec.get("command", "")), *map(str, spec.get("args") or [])]
    env = dict(os.environ)
    for item in spec.get("env") or []:
        env[str(item["name"])] = str(item["value"])
    env["KUBERNETES_EXEC_INFO"] = json.dumps(
        {
            "apiVersion": spec.get("apiVersion", "client.authentication.k8s.io/v1"),
            "kind": "ExecCredential",
            "spec": {"interactive": False},
        }
    )
    try:
        out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise KubeError(
            f"context {context}: the credential plugin {command[0]} failed ({e})"
        ) from None
    if out.returncode != 0:
        raise KubeError(
            f"context {context}: the credential plugin {command[0]} exited {out.returncode}: "
            f"{out.stderr.strip()[-300:]}"
        )
    try:
        status = json.loads(out.stdout)["status"]
    except (ValueError, KeyError, TypeError):
        raise KubeError(f"context {context}: the credential plugin printed no credential") from None
    cert, key = status.get("clientCertificateData"), status.get("clientKeyData")
    return status.get("token"), cert.encode() if cert else b"", key.encode() if key else b""


def load(kubeconfig: Path | None = None, context: str | None = None) -> Cluster:
    """The cluster the kubeconfig and context name (kubectl's rules)."""
    merged = _merged(kubeconfig_paths(kubeconfig))
    name = context or merged["current"]
    if not name:
        raise KubeError("the kubeconfig has no current context: set kubernetes.context")
    if name not in merged["contexts"]:
        known = ", ".join(sorted(merged["contexts"])) or "none"
        raise KubeError(f"kubeconfig has no context {name!r} (it has: {known})")
    ctx, _ = merged["contexts"][name]
    cluster_name, user_name = ctx.get("cluster"), ctx.get("user")
    if cluster_name not in merged["clusters"]:
        raise KubeError(f"context {name}: the kubeconfig has no cluster {cluster_name!r}")
    cluster, cbase = merged["clusters"][cluster_name]
    user, ubase = merged["users"].get(user_name, ({}, Path.cwd()))
    server = cluster.get("server")
    if not server:
        raise KubeError(f"cluster {cluster_name} in the kubeconfig has no server address")
    basic = (user["username"], user.get("password", "")) if user.get("username") else None
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = (_data({"t": user["tokenFile"]}, "t", ubase) or b"").decode().strip()
    return Cluster(
        context=name,
        cluster=str(cluster_name),
        server=str(server),
        namespace=ctx.get("namespace"),
        ca=_data(cluster, "certificate-authority", cbase),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        cert=_data(user, "client-certificate", ubase),
        key=_data(user, "client-key", ubase),
        token=token,
        basic=basic,
        exec_spec=user.get("exec"),
    )
