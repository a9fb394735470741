"""A minimal Prometheus HTTP API client (standard library only)."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from .errors import printable

MAX_BODY_BYTES = 64 << 20


class PrometheusError(Exception):
    """Prometheus did not answer, or rejected the query."""


def _get(base_url: str, path: str, params: dict[str, Any], promql: str, timeout: float) -> Any:
    url = f"{base_url.rstrip('/')}{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = json.loads(resp.read(MAX_BODY_BYTES))
    except urllib.error.HTTPError as e:
        detail = printable(e.read(4096).decode("utf-8", "replace"))
        raise PrometheusError(f"{promql!r} was rejected: {detail}") from None
    except (OSError, ValueError, http.client.HTTPException) as e:
        raise PrometheusError(
            f"Prometheus at {base_url} did not answer ({printable(str(e))})"
        ) from None
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error", body) if isinstance(body, dict) else body
        raise PrometheusError(f"{promql!r}: {printable(str(error))}")
    data = body.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("result"), list):
        raise PrometheusError(f"what answers at {base_url} does not speak Prometheus' API")
    return data


def query(base_url: str, promql: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Run an instant query; returns the result vector (``[{"metric": {}, "value": [t, v]}]``)."""
    data = _get(base_url, "/api/v1/query", {"query": promql}, promql, timeout)
    if data.get("resultType") == "scalar":
        return [{"metric": {}, "value": data["result"]}]
    return list(data["result"])


def query_range(
    base_url: str, promql: str, start: float, end: float, step: float, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Run a range query; returns the matrix (``[{"metric": {...}, "values": [[t, v], ...]}]``)."""
    params = {"query": promql, "start": start, "end": end, "step": step}
    return list(_get(base_url, "/api/v1/query_range", params, promql, timeout)["result"])


def http_ok(url: str, timeout: float = 5.0) -> bool:
    """True when ``url`` answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return 200 <= resp.status < 300
    except (OSError, ValueError, http.client.HTTPException):
        return False
