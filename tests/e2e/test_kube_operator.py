"""prometheus.mode existing, for real: the Prometheus Operator (its real binary and CRDs) runs a
Prometheus and an Alertmanager in the test cluster; `stackkit up` deploys only the Collector, a
ServiceMonitor and a PrometheusRule (and, with receivers, an AlertmanagerConfig and its Secret);
the Operator's Prometheus scrapes the Collector and loads the rules, real Claude Code totals come
out of it exactly, and its alerts reach the stack's receivers through the Operator's
Alertmanager. The dashboards go into ConfigMaps for a Grafana sidecar."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stackkit.versions import (
    ALERTMANAGER_VERSION,
    IMAGES,
    PROMETHEUS_OPERATOR_VERSION,
    PROMETHEUS_VERSION,
)
from tests.e2e.test_kube_up import HOOK_ENV, KubeStack, _stack
from tests.fixtures import ManagedProcess
from tests.fixtures.alertmanager import WebhookReceiver
from tests.fixtures.anthropic_fake import Error
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
# The pods run as the images' own non-root user (and own their volumes through fsGroup).
NOBODY = {"runAsNonRoot": True, "runAsUser": 65534, "fsGroup": 65534}

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
    """What a platform team's kube-prometheus-stack would have: a Prometheus and an Alertmanager
    (run by the Operator) that select ServiceMonitors, rules and AlertmanagerConfigs labelled
    release=kps in any namespace; the Prometheus sends its alerts to that Alertmanager."""
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
                "alerting": {
                    "alertmanagers": [
                        {"namespace": MONITORING, "name": "alertmanager-operated", "port": "web"}
                    ]
                },
                "securityContext": NOBODY,
            },
        },
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "Alertmanager",
            "metadata": {"name": "kps", "namespace": MONITORING},
            "spec": {
                "image": IMAGES["alertmanager"],
                "version": f"v{ALERTMANAGER_VERSION}",
                "replicas": 1,
                "alertmanagerConfigSelector": {"matchLabels": RELEASE},
                "alertmanagerConfigNamespaceSelector": {},
                "securityContext": NOBODY,
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
            kube_cluster.kubectl(
                "get",
                "statefulset",
                "prometheus-kps",
                "alertmanager-kps",
                "-n",
                MONITORING,
                check=False,
            ).returncode
            != 0
        ):
            assert proc.alive(), proc.log_tail(40)
            assert time.monotonic() < deadline, proc.log_tail(40)
            time.sleep(2)
        kube_cluster.wait_ready(MONITORING, timeout=300)
        yield kube_cluster
    finally:
        kube_cluster.kubectl("delete", "namespace", MONITORING, "--wait=false", check=False)
        proc.stop()


def _loaded_config(cluster: KubeCluster) -> str:
    """The configuration the Operator's Alertmanager runs (its API, through the API server)."""
    path = f"/api/v1/namespaces/{MONITORING}/services/alertmanager-operated:web/proxy/api/v2/status"
    done = cluster.kubectl("get", "--raw", path, check=False)
    return str(json.loads(done.stdout)["config"]["original"]) if done.returncode == 0 else ""


def _existing_stack(
    operator: KubeCluster, pulumi_env: PulumiEnv, work: Path, namespace: str
) -> KubeStack:
    stack = _stack(operator, pulumi_env, work, namespace, collector={"export": "scrape"})
    stack.config["prometheus"] = {"mode": "existing", "scrape_interval": "2s"}
    stack.config["grafana"] = {
        "mode": "sidecar",
        "prometheus_url": f"http://prometheus-operated.{MONITORING}.svc:9090",
    }
    stack.config["kubernetes"]["monitor_labels"] = RELEASE
    return stack


def test_the_operators_prometheus_scrapes_the_collector_and_loads_the_rules(
    operator: KubeCluster,
    pulumi_env: PulumiEnv,
    run_claude: ClaudeRunner,
    tmp_path: Path,
) -> None:
    stack = _existing_stack(operator, pulumi_env, tmp_path, "sk-existing")
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


def test_alerts_reach_the_stacks_receiver_through_the_operators_alertmanager(
    operator: KubeCluster,
    pulumi_env: PulumiEnv,
    run_claude: ClaudeRunner,
    webhook_receiver: WebhookReceiver,
    tmp_path: Path,
) -> None:
    """The real CLI gets 529s until it gives up; ClaudeCodeRetriesExhausted fires in the
    Operator's Prometheus (labelled with the stack's namespace), and the Operator's Alertmanager
    posts it to the stack's webhook receiver, whose URL (a secret) came from a variable."""
    namespace = "sk-routes"
    stack = _existing_stack(operator, pulumi_env, tmp_path, namespace)
    token = "hook-token-Op8q2w"
    stack.env[HOOK_ENV] = f"http://{operator.node_ip}:{webhook_receiver.port}/hook?token={token}"
    stack.config["alertmanager"] = {
        "group_wait": "1s",
        "group_interval": "1s",
        "repeat_interval": "1m",
        "receivers": [{"name": "test-hook", "webhook": {"url_env": HOOK_ENV}}],
    }
    stack.write_config()
    receiver = f"{namespace}/claude-code/test-hook"  # as the Operator names it
    try:
        up = stack.stackkit("up")
        assert token not in up.stdout + up.stderr
        assert "alertmanagerconfig" in up.stderr.lower(), up.stderr
        found = operator.kubectl_json("get", "secret", "stackkit-alertmanager", "-n", namespace)
        assert set(found["data"]) == {"test-hook-url"}
        # The Operator read the AlertmanagerConfig and its Secret, and its Alertmanager reloaded.
        deadline = time.monotonic() + 180
        while receiver not in (loaded := _loaded_config(operator)):
            assert time.monotonic() < deadline, (loaded, operator.diagnose(MONITORING))
            time.sleep(2)
        env = stack.client_env("grpc", "op-overloaded", "delta")
        run = run_claude(
            "overloaded", env | {"CLAUDE_CODE_MAX_RETRIES": "1"}, [Error(529), Error(529)]
        )
        assert run.returncode == 1, run.describe()
        alert = webhook_receiver.wait_for("ClaudeCodeRetriesExhausted", timeout=300)
        assert alert["labels"]["namespace"] == namespace and alert["labels"]["model"], alert
        notification = next(n for n in webhook_receiver.received if alert in n.get("alerts", []))
        assert notification["receiver"] == receiver
    finally:
        stack.stackkit("down", "--purge", check=False)
