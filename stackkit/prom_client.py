"""A minimal Prometheus HTTP API client (standard library only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class PrometheusError(Exception):
    """Prometheus did not answer, or rejected the query."""


def query(base_url: str, promql: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Run an instant query; returns the result vector (``[{"metric": {}, "value": [t, v]}]``)."""
    url = f"{base_url.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = json.load(resp)
    except urllib.error.HTTPError as e:
        detail = e.read().decode("utf-8", "replace")
        raise PrometheusError(f"{promql!r} was rejected: {detail}") from None
    except (OSError, ValueError) as e:
        raise PrometheusError(f"Prometheus at {base_url} did not answer ({e})") from None
    if body.get("status") != "success":
        raise PrometheusError(f"{promql!r}: {body.get('error', body)}")
    result = body["data"]["result"]
    if body["data"]["resultType"] == "scalar":
        return [{"metric": {}, "value": result}]
    return list(result)


def query_range(
    base_url: str, promql: str, start: float, end: float, step: float, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Run a range query; returns the matrix (``[{"metric": {...}, "values": [[t, v], ...]}]``)."""
    params = urllib.parse.urlencode({"query": promql, "start": start, "end": end, "step": step})
    url = f"{base_url.rstrip('/')}/api/v1/query_range?{params}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = json.load(resp)
    except urllib.error.HTTPError as e:
        raise PrometheusError(
            f"{promql!r} was rejected: {e.read().decode('utf-8', 'replace')}"
        ) from None
    except (OSError, ValueError) as e:
        raise PrometheusError(f"Prometheus at {base_url} did not answer ({e})") from None
    return list(body["data"]["result"])


def http_ok(url: str, timeout: float = 5.0) -> bool:
    """True when ``url`` answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return 200 <= resp.status < 300
    except (OSError, ValueError):
        return False
