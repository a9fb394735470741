"""The Prometheus Operator at PROMETHEUS_OPERATOR_VERSION, built offline by
tools/build-prometheus-operator.sh: its binaries report the pin, its CRDs (copied from the same
module) are the apiextensions.k8s.io/v1 definitions kube-prometheus-stack users install, and
prometheus-config-reloader really renders a config and reloads the real Prometheus with it."""

from __future__ import annotations

import functools
import gzip
import re
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from stackkit.config import load_config
from stackkit.render import render
from stackkit.versions import PROMETHEUS_OPERATOR_VERSION
from tests.conftest import ROOT
from tests.fixtures import LOOPBACK, ManagedProcess, free_port
from tests.toolchain import ensure, ensure_binary

GROUP = "monitoring.coreos.com"
# kind -> (plural, scope) of the CRDs stackkit's Kubernetes users rely on.
REQUIRED = {
    "ServiceMonitor": ("servicemonitors", "Namespaced"),
    "PodMonitor": ("podmonitors", "Namespaced"),
    "PrometheusRule": ("prometheusrules", "Namespaced"),
    "Prometheus": ("prometheuses", "Namespaced"),
}


class CRDLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML as Kubernetes reads it (1.2): a bare ``=`` (an enum value in the CRDs) is a string,
    not PyYAML's YAML 1.1 "value" tag. The C loader: the CRDs are tens of thousands of lines."""


CRDLoader.add_constructor(
    "tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node)
)
# binary -> the program name its --version prints
BINARIES = {
    "operator": "prometheus-operator",
    "prometheus-config-reloader": "prometheus-config-reloader",
}


@pytest.fixture(scope="module")
def operator_root() -> Path:
    """The build's root: ``bin/``, ``crds/``, ``crds-full/``."""
    return ensure("prometheus-operator").parent


@functools.cache
def load_crds(folder: Path) -> dict[str, dict[str, Any]]:
    """``{kind: CRD document}`` for every YAML file in ``folder`` (one CRD per file)."""
    crds = {}
    files = sorted(folder.glob("*.yaml"))
    assert files, f"no CRD files in {folder}"
    for path in files:
        docs = [d for d in yaml.load_all(path.read_text(), Loader=CRDLoader) if d]
        assert len(docs) == 1, (path, len(docs))
        doc = docs[0]
        assert doc["apiVersion"] == "apiextensions.k8s.io/v1", path
        assert doc["kind"] == "CustomResourceDefinition", path
        crds[doc["spec"]["names"]["kind"]] = doc
    return crds


@pytest.mark.parametrize("name", sorted(BINARIES))
def test_binary_reports_the_pinned_version(name: str) -> None:
    binary = ensure_binary("prometheus-operator", name)
    long = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert long.startswith(f"{BINARIES[name]}, version {PROMETHEUS_OPERATOR_VERSION} "), long
    short = subprocess.run(
        [str(binary), "--short-version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert short.strip() == PROMETHEUS_OPERATOR_VERSION


def test_operator_knows_its_flags() -> None:
    """The real operator's CLI has the flags a deployment passes (it reads KUBECONFIG from the
    environment outside a cluster)."""
    binary = ensure_binary("prometheus-operator", "operator")
    proc = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=30)
    text = proc.stdout + proc.stderr
    for flag in ("apiserver", "prometheus-config-reloader", "namespaces", "web.listen-address"):
        assert f"  -{flag} " in text, (flag, text[:2000])


@pytest.mark.parametrize("folder", ["crds", "crds-full"])
def test_crds_parse_and_include_what_users_need(operator_root: Path, folder: str) -> None:
    crds = load_crds(operator_root / folder)
    assert set(REQUIRED) <= set(crds), sorted(crds)
    assert len(crds) == 10, sorted(crds)  # + Alertmanager(Config), Probe, ScrapeConfig, ...
    for kind, doc in crds.items():
        spec = doc["spec"]
        assert spec["group"] == GROUP, kind
        assert doc["metadata"]["name"] == f"{spec['names']['plural']}.{GROUP}", kind
        assert doc["metadata"]["annotations"]["operator.prometheus.io/version"] == (
            PROMETHEUS_OPERATOR_VERSION
        ), kind
        storage = [v for v in spec["versions"] if v.get("storage")]
        assert len(storage) == 1 and storage[0]["served"], kind
        for version in spec["versions"]:
            schema = version["schema"]["openAPIV3Schema"]
            assert schema["type"] == "object" and "spec" in schema["properties"], (kind, version)
    for kind, (plural, scope) in REQUIRED.items():
        spec = crds[kind]["spec"]
        assert (spec["names"]["plural"], spec["scope"]) == (plural, scope), kind
        assert [v["name"] for v in spec["versions"]] == ["v1"], kind
    # The fields stackkit's manifests use exist in the schemas.
    sm = crds["ServiceMonitor"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    endpoint = sm["properties"]["spec"]["properties"]["endpoints"]["items"]["properties"]
    assert {"port", "path", "interval", "scheme"} <= set(endpoint), sorted(endpoint)
    rule = crds["PrometheusRule"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    rules = rule["properties"]["spec"]["properties"]["groups"]["items"]["properties"]["rules"]
    assert {"record", "alert", "expr", "for", "labels"} <= set(rules["items"]["properties"])


def schema_problems(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Where ``value`` breaks a CRD's structural schema, as the API server's strict field
    validation sees it: unknown fields, missing required ones, types, enums, patterns."""
    kind = schema.get("type")
    if kind is None or schema.get("x-kubernetes-int-or-string"):
        return []  # preserved as given (the Operator checks such fields itself)
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{path}: not an object"]
        props = schema.get("properties")
        out = [f"{path}.{k}: required" for k in schema.get("required", []) if k not in value]
        for key, item in value.items():
            inner = props.get(key) if props is not None else schema.get("additionalProperties")
            if inner is None and props is not None:
                out.append(f"{path}.{key}: unknown field")
            elif isinstance(inner, dict):
                out += schema_problems(item, inner, f"{path}.{key}")
        return out
    if kind == "array":
        if not isinstance(value, list):
            return [f"{path}: not a list"]
        return [
            p
            for i, v in enumerate(value)
            for p in schema_problems(v, schema["items"], f"{path}[{i}]")
        ]
    types = {"string": str, "boolean": bool, "integer": int, "number": (int, float)}
    if not isinstance(value, types[kind]) or (kind != "boolean" and isinstance(value, bool)):
        return [f"{path}: not a {kind}: {value!r}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{path}: {value!r} not one of {schema['enum']}"]
    if "pattern" in schema and not re.search(schema["pattern"], value):
        return [f"{path}: {value!r} does not match {schema['pattern']}"]
    if len(str(value)) < schema.get("minLength", 0):
        return [f"{path}: too short"]
    return []


def _operator_objects(example: str) -> list[dict[str, Any]]:
    cfg = load_config(ROOT / "examples" / f"{example}.yaml")
    text = render(cfg)[Path("kubernetes/prometheus-operator.yaml")]  # type: ignore[index]
    return [d for d in yaml.safe_load_all(text) if d]


def test_the_rendered_operator_objects_fit_the_crd_schemas(operator_root: Path) -> None:
    """The ServiceMonitor, PrometheusRule and AlertmanagerConfig stackkit renders for
    prometheus.mode existing, field by field against the Operator's own schemas."""
    crds = load_crds(operator_root / "crds")
    docs = _operator_objects("kubernetes-existing")
    assert {d["kind"] for d in docs} == {"ServiceMonitor", "PrometheusRule", "AlertmanagerConfig"}
    for doc in docs:
        (version,) = [
            v
            for v in crds[doc["kind"]]["spec"]["versions"]
            if f"{GROUP}/{v['name']}" == doc["apiVersion"]
        ]
        schema = version["schema"]["openAPIV3Schema"]
        assert schema_problems(doc, schema) == [], doc["kind"]
        if doc["kind"] == "AlertmanagerConfig":
            # Child routes are kept as raw JSON; the Operator reads them as routes, strictly.
            route = schema["properties"]["spec"]["properties"]["route"]
            children = doc["spec"]["route"]["routes"]
            assert children
            assert schema_problems(children, {"type": "array", "items": route}) == []


def test_the_schema_check_finds_what_the_api_server_refuses(operator_root: Path) -> None:
    crds = load_crds(operator_root / "crds")
    schema = crds["AlertmanagerConfig"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    (doc,) = [
        d for d in _operator_objects("kubernetes-existing") if d["kind"] == "AlertmanagerConfig"
    ]
    doc["spec"]["route"]["groupWait"] = "30 s"
    doc["spec"]["receivers"][1]["slackConfigs"][0]["apiUrl"] = {"name": "x", "key": "y"}
    problems = schema_problems(doc, schema)
    assert any("groupWait" in p and "does not match" in p for p in problems), problems
    assert any("apiUrl: unknown field" in p for p in problems), problems


def test_crds_full_adds_the_conversion_webhook_version(operator_root: Path) -> None:
    plain = load_crds(operator_root / "crds")["AlertmanagerConfig"]["spec"]["versions"]
    full = load_crds(operator_root / "crds-full")["AlertmanagerConfig"]["spec"]["versions"]
    assert [v["name"] for v in plain] == ["v1alpha1"]
    assert sorted(v["name"] for v in full) == ["v1alpha1", "v1beta1"]


def test_config_reloader_renders_and_reloads_prometheus(
    prometheus_server: Any, tmp_path: Path
) -> None:
    """As in a Prometheus pod: the operator writes a gzipped config with $(VAR) placeholders, the
    reloader expands it into the file Prometheus reads and asks Prometheus to reload."""
    reloader = ensure_binary("prometheus-operator", "prometheus-config-reloader")
    prom = prometheus_server(
        "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: before\n"
        "    static_configs: [{targets: ['127.0.0.1:1']}]\n",
        flags=["--web.enable-lifecycle"],
    )
    # The factory wrote its own config file; the reloader takes over that very file.
    out = prom.config_path
    src = tmp_path / "prometheus.yaml.gz"
    src.write_bytes(
        gzip.compress(
            b"global:\n  scrape_interval: 15s\n"
            b"  external_labels: {replica: $(POD_NAME)}\n"
            b"scrape_configs:\n  - job_name: after-reload\n"
            b"    static_configs: [{targets: ['127.0.0.1:2']}]\n"
        )
    )
    listen = f"{LOOPBACK}:{free_port()}"
    proc = ManagedProcess(
        "prometheus-config-reloader",
        [
            str(reloader),
            f"--config-file={src}",
            f"--config-envsubst-file={out}",
            f"--reload-url={prom.url}/-/reload",
            f"--runtimeinfo-url={prom.url}/api/v1/status/runtimeinfo",
            f"--listen-address={listen}",
            "--watch-interval=1s",
            "--delay-interval=0s",
        ],
        tmp_path / "reloader.log",
        env={"POD_NAME": "prometheus-stackkit-0"},
    )
    try:
        proc.wait_http(f"http://{listen}/healthz", timeout=30)
        deadline = time.monotonic() + 30
        jobs: list[str] = []
        while time.monotonic() < deadline:
            config = yaml.safe_load(prom.api("status/config")["yaml"])
            jobs = [j["job_name"] for j in config.get("scrape_configs", [])]
            if jobs == ["after-reload"]:
                break
            time.sleep(0.5)
        assert jobs == ["after-reload"], (jobs, proc.log_tail(), prom.process.log_tail(20))
        assert config["global"]["external_labels"] == {"replica": "prometheus-stackkit-0"}
        rendered = yaml.safe_load(out.read_text())
        assert rendered["global"]["external_labels"]["replica"] == "prometheus-stackkit-0"
        with urllib.request.urlopen(f"http://{listen}/metrics", timeout=10) as resp:
            metrics = resp.read().decode()
        reloads = [
            line for line in metrics.splitlines() if line.startswith("reloader_reloads_total")
        ]
        assert reloads and float(reloads[0].split()[-1]) >= 1, reloads
        # Prometheus' own metrics: the last reload (the reloader's) succeeded.
        with urllib.request.urlopen(f"{prom.url}/metrics", timeout=10) as resp:
            own = resp.read().decode()
        assert "\nprometheus_config_last_reload_successful 1\n" in own
    finally:
        proc.stop()
