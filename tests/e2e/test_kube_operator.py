"""prometheus.mode existing, for real: the Prometheus Operator (its real binary and CRDs) runs a
Prometheus in the test cluster; `stackkit up` deploys only the Collector, a ServiceMonitor and a
PrometheusRule; the Operator's Prometheus scrapes the Collector and loads the rules, and real
Claude Code totals come out of it exactly. The dashboards go into ConfigMaps for a Grafana
sidecar."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stackkit.versions import IMAGES, PROMETHEUS_OPERATOR_VERSION, PROMETHEUS_VERSION
from tests.e2e.test_kube_up import _stack
from tests.fixtures import ManagedProcess
from tests.fixtures.claude import ClaudeRunner
from tests.fixtures.docker import DockerEngine
from tests.fixtures.kube import KubeCluster
from tests.fixtures.pulumi import PulumiEnv
from tests.pipeline import add, assert_queries_return_data, run_sessions, wait_for_totals
from tests.toolchain import ensure

pytestmark = pytest.mark.integration

RELOADER = f"quay.io/prometheus-operator/prometheus-config-reloader:v{PROMETHEUS_OPERATOR_VERSION}"
MONITORING = "monitoring"
RELEASE = {"release": "kps"}

DOCKERFILE = """\
FROM scratch
COPY prometheus-config-reloader /bin/prometheus-config-reloader
USER 65534:65534
ENTRYPOINT ["/bin/prometheus-config-reloader"]
"""


def _reloader_image(engine: DockerEngine, bin_dir: Path, work: Path) -> None:
    """The operator's config-reloader sidecar, built locally under its upstream name."""
    ctx = work / "reloader"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    data = (bin_dir / "prometheus-config-reloader").read_bytes()
    (ctx / "prometheus-config-reloader").write_bytes(data)
    (ctx / "prometheus-config-reloader").chmod(0o755)
    engine.docker("build", "-q", "-t", RELOADER, str(ctx), timeout=300)


def _operator_objects() -> list[dict[str, Any]]:
    """What a platform team's kube-prometheus-stack would have: a Prometheus (run by the
    Operator) that selects ServiceMonitors and rules labelled release=kps in any namespace."""
    rules = [
        {"apiGroups": [""], "resources": ["services", "endpoints", "pods"],
         "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
         "verbs": ["get", "list", "watch"]},
        {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
    ]  # fmt: skip
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": MONITORING}},
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "prometheus", "namespace": MONITORING},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "kps-prometheus"},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "kps-prometheus"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "kps-prometheus",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "prometheus", "namespace": MONITORING}],
        },
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "Prometheus",
            "metadata": {"name": "kps", "namespace": MONITORING},
            "spec": {
                "image": IMAGES["prometheus"],
                "version": f"v{PROMETHEUS_VERSION}",
                "replicas": 1,
                "serviceAccountName": "prometheus",
                "serviceMonitorSelector": {"matchLabels": RELEASE},
                "serviceMonitorNamespaceSelector": {},
                "ruleSelector": {"matchLabels": RELEASE},
                "ruleNamespaceSelector": {},
                "scrapeInterval": "2s",
                "evaluationInterval": "2s",
                "enableFeatures": ["created-timestamp-zero-ingestion"],
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 65534,
                    "fsGroup": 65534,
                },
            },
        },
    ]


@pytest.fixture(scope="module")
def operator(
    kube_cluster: KubeCluster,
    docker_engine: DockerEngine,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[KubeCluster]:
    work = tmp_path_factory.mktemp("operator")
    bin_dir = ensure("prometheus-operator")
    crds = bin_dir.parent / "crds"
    kube_cluster.kubectl("apply", "--server-side", "-f", str(crds), timeout=300)
    _reloader_image(docker_engine, bin_dir, work)
    kube_cluster.import_images(docker_engine, *IMAGES.values(), RELOADER)
    env = {**os.environ, "KUBECONFIG": str(kube_cluster.kubeconfig)}
    proc = ManagedProcess(
        "prometheus-operator",
        [
            str(bin_dir / "operator"),
            f"--prometheus-config-reloader={RELOADER}",
            "--log-level=info",
            "--web.listen-address=127.0.0.1:0",
        ],
        work / "operator.log",
        env=env,
    )
    objects = {"apiVersion": "v1", "kind": "List", "items": _operator_objects()}
    try:
        kube_cluster.kubectl("apply", "-f", "-", input=json.dumps(objects))
        deadline = time.monotonic() + 300
        while (
            not kube_cluster.kubectl(
                "get", "statefulset", "prometheus-kps", "-n", MONITORING, check=False
            ).returncode
            == 0
        ):
            assert proc.alive(), proc.log_tail(40)
            assert time.monotonic() < deadline, proc.log_tail(40)
            time.sleep(2)
        kube_cluster.wait_ready(MONITORING, timeout=300)
        yield kube_cluster
    finally:
        kube_cluster.kubectl("delete", "namespace", MONITORING, "--wait=false", check=False)
        proc.stop()


def test_the_operators_prometheus_scrapes_the_collector_and_loads_the_rules(
    operator: KubeCluster,
    pulumi_env: PulumiEnv,
    run_claude: ClaudeRunner,
    tmp_path: Path,
) -> None:
    stack = _stack(
        operator,
        pulumi_env,
        tmp_path,
        "sk-existing",
        collector={"export": "scrape"},
    )
    stack.config["prometheus"] = {"mode": "existing", "scrape_interval": "2s"}
    stack.config["grafana"] = {
        "mode": "sidecar",
        "prometheus_url": f"http://prometheus-operated.{MONITORING}.svc:9090",
    }
    stack.config["kubernetes"]["monitor_labels"] = RELEASE
    stack.write_config()
    try:
        up = stack.stackkit("up")
        assert "servicemonitor" in up.stderr.lower() and "prometheusrule" in up.stderr.lower()
        dashboards = operator.kubectl_json(
            "get", "configmap", "grafana-dashboards", "-n", "sk-existing"
        )
        assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert "claude-code-overview.json" in dashboards["data"]
        _, delta = run_sessions(run_claude, stack.client_env("grpc", "op-delta", "delta"), 3)
        _, cumulative = run_sessions(
            run_claude, stack.client_env("http/protobuf", "op-cumulative", "cumulative"), 3, first=3
        )
        wait_for_totals(stack.query, '{team_id=~"op-.*"}', add(delta, cumulative), timeout=180)
        # The PrometheusRule's recording rules are evaluated by the Operator's Prometheus (a rule
        # of the group evaluated at the scrape interval: the spend group's is a minute).
        assert_queries_return_data(
            stack.query,
            ['claude_code:cost_usd:rate5m{team_id="op-delta"} > 0'],
            timeout=180,
        )
    finally:
        stack.stackkit("down", "--purge", check=False)
