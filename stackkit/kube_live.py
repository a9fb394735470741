"""The live state of the objects a Kubernetes `up` applies, read back in one round of GETs.

What counts is what stackkit sets: each object is read back at exactly the paths its desired
object names (its labels, a Deployment's replicas and pod template, a ConfigMap's data, a
Secret's keys), with its ``uid``. What the API server or a controller adds (status, defaults,
revision annotations, managed fields, a NodePort it chose) is outside that shape, so a rollout
settling or a status update changes nothing; an object deleted (its uid changes, or it is gone)
or edited where stackkit set a value (a replica count scaled by hand, an image, a key of a
Secret) changes its digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from .kube_api import Cluster, KubeError

ABSENT = "absent"


def api_path(obj: Mapping[str, Any]) -> str:
    """The API path of one object (``/api/v1/namespaces/ns/configmaps/name``)."""
    version, kind, meta = str(obj["apiVersion"]), str(obj["kind"]), obj["metadata"]
    base = f"/apis/{version}" if "/" in version else f"/api/{version}"
    namespace = meta.get("namespace")
    scope = f"/namespaces/{namespace}" if namespace and kind != "Namespace" else ""
    return f"{base}{scope}/{_plural(kind)}/{meta['name']}"


def _plural(kind: str) -> str:
    lower = kind.lower()
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    if lower.endswith(("s", "x")):
        return lower + "es"
    return lower + "s"


def _shape(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The fields of ``obj`` as the API server stores them: a Secret's ``stringData`` is kept
    under ``data``."""
    if obj.get("kind") != "Secret" or "stringData" not in obj:
        return obj
    shaped = {k: v for k, v in obj.items() if k != "stringData"}
    shaped["data"] = {**dict.fromkeys(obj["stringData"], ""), **(obj.get("data") or {})}
    return shaped


def project(live: Any, desired: Any) -> Any:
    """``live`` cut down to the shape of ``desired``: the keys desired names, the items of its
    lists (and how many the live list has)."""
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return live
        return {k: project(live.get(k), v) for k, v in desired.items()}
    if isinstance(desired, list):
        if not isinstance(live, list):
            return live
        return [project(item, want) for item, want in zip(live, desired, strict=False)] + [
            len(live)
        ]
    return live


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def snapshot(cluster: Cluster, objects: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Each object's API path, and a digest of its uid and its live values in its desired
    shape (:data:`ABSENT` when it is gone)."""
    wanted = {api_path(o): o for o in objects}
    found: dict[str, str] = {}
    for (path, obj), (status, body) in zip(
        wanted.items(), cluster.get_many(list(wanted)), strict=True
    ):
        if status == 404:
            found[path] = ABSENT
        elif status != 200 or not isinstance(body, dict):
            message = body.get("message") if isinstance(body, dict) else str(body)[:200]
            raise KubeError(f"GET {path}: {status} {message}")
        else:
            uid = body.get("metadata", {}).get("uid")
            found[path] = digest([uid, project(body, _shape(obj))])
    return found
