"""A minimal Prometheus HTTP API client (standard library only).

Prometheus answers at a URL, or, for a stack in a cluster, behind the Kubernetes API server's
service proxy: ``base`` is either a base URL or a callable that GETs a path (with its query)
and returns the body, so one client serves both.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from .errors import printable
from .local_http import urlopen

MAX_BODY_BYTES = 64 << 20


class PrometheusError(Exception):
    """Prometheus did not answer, or rejected the query."""


Fetch = Callable[[str, float], bytes]
"""GET a path with its query string (``/api/v1/query?query=up``); raise PrometheusError."""


def at(base_url: str, authorization: str | None = None) -> Fetch:
    """GETs from the Prometheus at ``base_url``, with an ``Authorization`` header if given
    (stackkit's own Prometheus checks one: see :mod:`stackkit.prometheus_auth`)."""
    return _fetch_url(base_url, authorization)


def _request(url: str, authorization: str | None) -> urllib.request.Request:
    headers = {"Authorization": authorization} if authorization else {}
    return urllib.request.Request(url, headers=headers)


def _fetch_url(base_url: str, authorization: str | None = None) -> Fetch:
    def fetch(path: str, timeout: float) -> bytes:
        try:
            request = _request(f"{base_url.rstrip('/')}{path}", authorization)
            with urlopen(request, timeout=timeout) as r:
                return bytes(r.read(MAX_BODY_BYTES))
        except urllib.error.HTTPError as e:
            if e.code == 401:
                raise PrometheusError(
                    f"Prometheus at {base_url} asks for a password"
                    + (" and refused the one stackkit has" if authorization else "")
                    + ": it is the stack's own, so run this where `stackkit up` ran (its state "
                    "folder holds the password), or see `stackkit secret prometheus-password`"
                ) from None
            detail = printable(e.read(4096).decode("utf-8", "replace"))
            raise PrometheusError(f"rejected: {detail}") from None
        except (OSError, ValueError, http.client.HTTPException) as e:
            raise PrometheusError(
                f"Prometheus at {base_url} did not answer ({printable(str(e))})"
            ) from None

    return fetch


def _get(base: str | Fetch, path: str, params: dict[str, Any], promql: str, timeout: float) -> Any:
    fetch = _fetch_url(base) if isinstance(base, str) else base
    where = base if isinstance(base, str) else "the stack's Prometheus"
    try:
        body = json.loads(fetch(f"{path}?{urllib.parse.urlencode(params)}", timeout))
    except PrometheusError as e:
        message = str(e)
        if message.startswith("rejected: "):
            raise PrometheusError(f"{promql!r} was {message}") from None
        raise
    except ValueError as e:
        raise PrometheusError(f"{where} did not answer JSON ({printable(str(e))})") from None
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error", body) if isinstance(body, dict) else body
        raise PrometheusError(f"{promql!r}: {printable(str(error))}")
    data = body.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("result"), list):
        raise PrometheusError(f"what answers at {where} does not speak Prometheus' API")
    return data


def query(base_url: str | Fetch, promql: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Run an instant query; returns the result vector (``[{"metric": {}, "value": [t, v]}]``)."""
    data = _get(base_url, "/api/v1/query", {"query": promql}, promql, timeout)
    if data.get("resultType") == "scalar":
        return [{"metric": {}, "value": data["result"]}]
    return list(data["result"])


def query_range(
    base_url: str | Fetch, promql: str, start: float, end: float, step: float, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Run a range query; returns the matrix (``[{"metric": {...}, "values": [[t, v], ...]}]``)."""
    params = {"query": promql, "start": start, "end": end, "step": step}
    return list(_get(base_url, "/api/v1/query_range", params, promql, timeout)["result"])


def http_ok(url: str, timeout: float = 5.0, authorization: str | None = None) -> bool:
    """True when ``url`` answers 2xx (asked with ``authorization``, if given)."""
    try:
        with urlopen(_request(url, authorization), timeout=timeout) as resp:
            status: int = resp.status
            return 200 <= status < 300
    except (OSError, ValueError, http.client.HTTPException):
        return False
