"""`stackkit up --target kubernetes` on a real single-node cluster (kubelet, containerd, CNI,
CoreDNS) through the real Pulumi engine and Kubernetes provider, fed by real Claude Code sessions
through a NodePort, as developers' machines reach it.

One stack for the module: the steps build on each other, in order.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from stackkit.config import StackConfig
from stackkit.kube_api import load
from stackkit.kube_status import prometheus_fetch
from stackkit.prom_client import query
from stackkit.versions import IMAGES
from tests.e2e.conftest import CliStack
from tests.fixtures.alertmanager import WebhookReceiver
from tests.fixtures.anthropic_fake import Error
from tests.fixtures.claude import ClaudeRunner
from tests.fixtures.docker import DockerEngine
from tests.fixtures.kube import KubeCluster
from tests.fixtures.pulumi import PulumiEnv
from tests.pipeline import (
    add,
    assert_queries_return_data,
    check_reliability_counts,
    check_resumed_sessions,
    dashboard_queries,
    dashboard_totals,
    escalation_request,
    recording_rules,
    run_reliability_sessions,
    run_sessions,
    wait_for_totals,
)

pytestmark = pytest.mark.integration

# The teams whose sessions the module keeps in ``kube_stack.totals``: each test that adds to
# them runs sessions as one of these; the restart tests read them all back.
KEPT = '{team_id=~"k8s-(delta|cumulative|resume-[0-9]+|rollout)"}'
HOOK_ENV = "STACKKIT_TEST_HOOK_URL"


@dataclass
class KubeStack(CliStack):
    cluster: KubeCluster = field(kw_only=True)

    @property
    def namespace(self) -> str:
        return str(self.config["kubernetes"]["namespace"])

    @property
    def outputs(self) -> dict[str, Any]:
        path = Path(self.env["STACKKIT_STATE_DIR"]) / self.config["name"] / "outputs.json"
        return json.loads(path.read_text())  # type: ignore[no-any-return]

    def cfg(self) -> StackConfig:
        return StackConfig.model_validate(self.config)

    def query(self, promql: str) -> list[dict[str, Any]]:
        cfg = self.cfg()
        return query(prometheus_fetch(cfg, load(cfg.kubernetes.kubeconfig)), promql, timeout=30)

    def local(self, protocol: str) -> str:
        """The NodePort as this machine reaches it (the node answers NodePorts on loopback)."""
        url = urlsplit(self.outputs["otlp_endpoints"][protocol])
        return f"{url.scheme}://127.0.0.1:{url.port}"

    def client_env(self, protocol: str, team: str, temporality: str) -> dict[str, str]:
        out = self.stackkit(
            "env", "--format", "json", "--protocol", protocol, "--attr", f"team.id={team}",
            "--endpoint", self.local(protocol),
        )  # fmt: skip
        env: dict[str, str] = json.loads(out.stdout)["env"]
        env |= {
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": temporality,
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
            "OTEL_LOGS_EXPORT_INTERVAL": "1000",
        }
        return env

    def pods(self, component: str) -> list[dict[str, Any]]:
        data = self.cluster.kubectl_json(
            "get", "pods", "-n", self.namespace, "-l", f"app.kubernetes.io/name={component}"
        )
        return list(data["items"])


def _stack(
    cluster: KubeCluster, pulumi_env: PulumiEnv, work: Path, namespace: str, **extra: Any
) -> KubeStack:
    env = {**os.environ, **pulumi_env.env, "STACKKIT_STATE_DIR": str(work / "state")}
    for var in ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "STACKKIT_OTLP_TOKEN"):
        env.pop(var, None)
    config: dict[str, Any] = {
        "name": "kube",
        "target": "kubernetes",
        "prometheus": {"scrape_interval": "2s", "evaluation_interval": "2s"},
        "kubernetes": {
            "namespace": namespace,
            "kubeconfig": str(cluster.kubeconfig),
            "collector_service_type": "NodePort",
            "storage_class": cluster.writable_storage_class,
        },
        **extra,
    }
    stack = KubeStack(work, env, config, cluster=cluster)
    stack.write_config()
    return stack


@pytest.fixture(scope="module")
def kube_stack(
    kube_cluster: KubeCluster,
    docker_engine: DockerEngine,
    pulumi_env: PulumiEnv,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[KubeStack]:
    cluster = kube_cluster
    cluster.import_images(docker_engine, *IMAGES.values())
    stack = _stack(cluster, pulumi_env, tmp_path_factory.mktemp("kube"), "sk-e2e")
    yield stack
    stack.stackkit("down", "--purge", check=False)
    cluster.kubectl("delete", "namespace", stack.namespace, "--ignore-not-found", check=False)


def test_preview_up_and_nothing_to_do(kube_stack: KubeStack) -> None:
    preview = kube_stack.stackkit("preview")
    assert "cluster https://127.0.0.1:" in preview.stderr and "namespace sk-e2e" in preview.stderr
    assert "up would make:" in preview.stderr and "create" in preview.stderr
    probe = kube_stack.cluster.kubectl("get", "namespace", "sk-e2e", check=False)
    assert probe.returncode != 0, "preview must not change anything"

    first = kube_stack.timed("up_cold_s", "up")
    assert "created" in first.stderr, first.stderr
    for component in ("otelcol", "prometheus", "alertmanager", "grafana"):
        pods = kube_stack.pods(component)
        assert pods and all(
            c["ready"] and "running" in c["state"]
            for p in pods
            for c in p["status"]["containerStatuses"]
        ), component
    assert len(kube_stack.pods("otelcol")) == 2, "two Collector replicas by default"
    second = kube_stack.timed("up_noop_s", "up")
    assert "done: no changes" in second.stderr, second.stderr
    again = kube_stack.stackkit("preview")
    assert "up would make: no changes" in again.stderr, again.stderr


def _pulumi_updates(stack: KubeStack) -> int:
    """How many updates the Pulumi backend recorded for the stack (one history file each)."""
    return len(list(Path(stack.env["STACKKIT_STATE_DIR"]).rglob("*.history.json")))


def test_nothing_to_do_skips_pulumi_and_drift_is_repaired(kube_stack: KubeStack) -> None:
    ns, cluster = kube_stack.namespace, kube_stack.cluster
    before = _pulumi_updates(kube_stack)
    assert before == 1, "the module's first `up` ran through Pulumi, its no-op `up` did not"
    idle = kube_stack.stackkit("up")
    assert "done: no changes" in idle.stderr, idle.stderr
    assert _pulumi_updates(kube_stack) == before, "a no-op `up` on a cluster starts no Pulumi"
    # Behind stackkit's back: Grafana scaled to zero, a NetworkPolicy deleted.
    cluster.kubectl("scale", "deployment", "grafana", "-n", ns, "--replicas=0")
    cluster.kubectl("delete", "networkpolicy", "prometheus", "-n", ns)
    repaired = kube_stack.stackkit("up")
    assert "changed outside stackkit" in repaired.stderr, repaired.stderr
    assert _pulumi_updates(kube_stack) > before
    grafana = cluster.kubectl_json("get", "deployment", "grafana", "-n", ns)
    assert grafana["spec"]["replicas"] == 1, "the replica count stackkit sets is back"
    assert (
        cluster.kubectl("get", "networkpolicy", "prometheus", "-n", ns, check=False).returncode == 0
    )
    after = _pulumi_updates(kube_stack)
    again = kube_stack.timed("up_noop_after_repair_s", "up")
    assert "done: no changes" in again.stderr and _pulumi_updates(kube_stack) == after


def test_status_shows_rollouts_and_urls(kube_stack: KubeStack) -> None:
    status = kube_stack.stackkit("status", check=False)
    assert status.returncode == 0, status.stdout + status.stderr
    for component in ("otelcol", "prometheus", "grafana"):
        assert re.search(rf"{component} +running", status.stdout), status.stdout
    assert "2/2 ready" in status.stdout
    assert "otlp grpc" in status.stdout


def test_totals_from_real_claude_code_sessions(
    kube_stack: KubeStack, run_claude: ClaudeRunner
) -> None:
    _, delta = run_sessions(run_claude, kube_stack.client_env("grpc", "k8s-delta", "delta"), 3)
    _, cumulative = run_sessions(
        run_claude,
        kube_stack.client_env("http/protobuf", "k8s-cumulative", "cumulative"),
        3,
        first=3,
    )
    wait_for_totals(kube_stack.query, '{team_id="k8s-delta"}', delta, timeout=120)
    wait_for_totals(kube_stack.query, '{team_id="k8s-cumulative"}', cumulative, timeout=120)
    wait_for_totals(
        kube_stack.query,
        '{team_id=~"k8s-(delta|cumulative)"}',
        add(delta, cumulative),
        read=dashboard_totals,
    )
    # A request that fails for good becomes an api_error event, counted by the Collectors.
    failing = kube_stack.client_env("grpc", "k8s-errors", "delta") | {
        "CLAUDE_CODE_MAX_RETRIES": "1"
    }
    run = run_claude("fail", failing, [Error(500), Error(500)])
    assert run.returncode == 1, run.describe()
    assert_queries_return_data(
        kube_stack.query,
        ['claude_code_api_error_count_total{team_id="k8s-errors", status_code="500"} == 1'],
        timeout=120,
    )
    kube_stack.totals = [delta, cumulative]
    files = _rendered(kube_stack)
    assert_queries_return_data(kube_stack.query, dashboard_queries(files), timeout=120)
    assert_queries_return_data(kube_stack.query, recording_rules(files), timeout=120)


def _rendered(stack: KubeStack) -> dict[str, str]:
    """What `stackkit render` writes for the stack, by path."""
    rendered = stack.workdir / "rendered"
    stack.stackkit("render", "-o", str(rendered))
    return {str(p.relative_to(rendered)): p.read_text() for p in rendered.rglob("*") if p.is_file()}


def test_every_reliability_panel_shows_the_node_s_data(
    kube_stack: KubeStack, run_claude: ClaudeRunner
) -> None:
    """The reliability dashboard's sessions (529s and 429s, a refusal, a failing and a rejected
    tool, a failed MCP server, a session in a repository) through the node's Collectors, under
    delta over gRPC and cumulative over HTTP: each counted exactly, and every panel shows data."""
    teams = (
        ("grpc", "k8s-rel-delta", "delta"),
        ("http/protobuf", "k8s-rel-cumulative", "cumulative"),
    )
    for protocol, team, temporality in teams:
        run_reliability_sessions(run_claude, kube_stack.client_env(protocol, team, temporality))
    for _, team, _ in teams:
        check_reliability_counts(kube_stack.query, team, timeout=120)
    token = kube_stack.stackkit("secret", "otlp-token").stdout.strip()
    request = urllib.request.Request(
        f"{kube_stack.local('http/protobuf')}/v1/logs",
        data=escalation_request("k8s-rel-delta"),
        method="POST",
        headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
    reliability = dashboard_queries(_rendered(kube_stack), "claude-code-reliability")
    assert_queries_return_data(kube_stack.query, reliability, timeout=120)


def test_resumed_sessions_add_up(kube_stack: KubeStack, run_claude: ClaudeRunner) -> None:
    """`claude -c` and `claude --resume` right after a session, through the node's Collectors."""
    resumed = check_resumed_sessions(
        run_claude, kube_stack.client_env, kube_stack.query, "k8s-resume", timeout=120
    )
    kube_stack.totals.append(resumed)


def test_data_without_the_token_is_refused(kube_stack: KubeStack) -> None:
    for token in (None, "wrong"):
        req = urllib.request.Request(
            f"{kube_stack.local('http/protobuf')}/v1/metrics",
            data=b"",
            method="POST",
            headers={
                "Content-Type": "application/x-protobuf",
                **({"Authorization": f"Bearer {token}"} if token else {}),
            },
        )
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=10)
        assert info.value.code == 401


def test_verify_through_the_cluster(kube_stack: KubeStack) -> None:
    env = kube_stack.client_env("grpc", "k8s-verify", "cumulative")
    result = kube_stack.stackkit("verify", "--timeout", "90", extra_env=env)
    assert "step 4/4 ok" in result.stderr, result.stderr


def test_alerts_reach_a_webhook_from_the_cluster(
    kube_stack: KubeStack, webhook_receiver: WebhookReceiver, run_claude: ClaudeRunner
) -> None:
    """The stack's Alertmanager in the cluster: the real CLI gets 529s until it gives up, the
    Collector counts its api_retries_exhausted event, ClaudeCodeRetriesExhausted fires in the
    cluster's Prometheus and its Alertmanager posts it to a webhook on the node's address."""
    token = "hook-token-K8s27q"
    url = f"http://{kube_stack.cluster.node_ip}:{webhook_receiver.port}/hook?token={token}"
    kube_stack.env[HOOK_ENV] = url  # every later `up` of the module needs it too
    kube_stack.config["alertmanager"] = {
        "group_wait": "1s",
        "group_interval": "1s",
        "repeat_interval": "1m",
        "receivers": [{"name": "test-hook", "webhook": {"url_env": HOOK_ENV}}],
    }
    kube_stack.write_config()
    result = kube_stack.stackkit("up")
    assert token not in result.stdout + result.stderr
    changed = [
        line
        for line in result.stderr.splitlines()
        if re.match(r"  (created|deleted|replaced|updated)", line)
    ]
    assert changed and all("alertmanager" in line for line in changed), result.stderr
    assert (
        kube_stack.outputs["alertmanager_url"]
        == f"http://alertmanager.{kube_stack.namespace}.svc:9093"
    )
    fetch = prometheus_fetch(kube_stack.cfg(), load(kube_stack.cfg().kubernetes.kubeconfig))
    assert callable(fetch)
    found = json.loads(fetch("/api/v1/alertmanagers", 10))
    assert [a["url"] for a in found["data"]["activeAlertmanagers"]] == [
        "http://alertmanager:9093/api/v2/alerts"
    ], found
    env = kube_stack.client_env("grpc", "k8s-overloaded", "delta")
    run = run_claude("overloaded", env | {"CLAUDE_CODE_MAX_RETRIES": "1"}, [Error(529), Error(529)])
    assert run.returncode == 1, run.describe()
    alert = webhook_receiver.wait_for("ClaudeCodeRetriesExhausted", timeout=300)
    assert alert["labels"]["model"] and alert["labels"]["stackkit"] == "kube", alert
    notification = next(n for n in webhook_receiver.received if alert in n.get("alerts", []))
    assert notification["receiver"] == "test-hook"


def test_a_collector_rollout_loses_nothing(kube_stack: KubeStack, run_claude: ClaudeRunner) -> None:
    """A Collector config change rolls the Collector only, with sessions running through it;
    two replicas and a surge keep the port answering, so every session arrives."""
    before = {p["metadata"]["name"] for p in kube_stack.pods("prometheus")}
    kube_stack.config.setdefault("collector", {})["max_stale"] = "10m"
    kube_stack.write_config()
    results: dict[str, Any] = {}

    def roll() -> None:
        time.sleep(3)
        results["up"] = kube_stack.timed("up_collector_change_s", "up")

    thread = threading.Thread(target=roll)
    thread.start()
    sessions = []
    for wave in range(4):
        env = kube_stack.client_env(
            "grpc" if wave % 2 == 0 else "http/protobuf",
            "k8s-rollout",
            "delta" if wave % 2 == 0 else "cumulative",
        )
        sessions.append(run_sessions(run_claude, env, 3, first=10 + 3 * wave)[1])
    thread.join()
    changed = [
        line
        for line in results["up"].stderr.splitlines()
        if re.match(r"  (created|deleted|replaced|updated)", line)
    ]
    assert changed and all("otelcol" in line for line in changed), results["up"].stderr
    assert {p["metadata"]["name"] for p in kube_stack.pods("prometheus")} == before
    expected = add(*sessions)
    wait_for_totals(kube_stack.query, '{team_id="k8s-rollout"}', expected, timeout=180)
    print(f"\ncollector rollout: {expected.sessions} sessions run, all arrived whole")
    kube_stack.totals.append(expected)


def test_a_deleted_prometheus_pod_comes_back_with_its_data(kube_stack: KubeStack) -> None:
    (pod,) = kube_stack.pods("prometheus")
    kube_stack.cluster.kubectl("delete", "pod", "-n", kube_stack.namespace, pod["metadata"]["name"])
    kube_stack.cluster.wait_ready(kube_stack.namespace, timeout=300)
    wait_for_totals(
        kube_stack.query,
        KEPT,
        add(*kube_stack.totals),
        timeout=180,
    )


def test_down_keeps_the_claims_and_purge_removes_them(kube_stack: KubeStack) -> None:
    down = kube_stack.timed("down_s", "down")
    assert "data volumes kept" in down.stderr, down.stderr
    left = kube_stack.cluster.kubectl_json("get", "pvc,deploy", "-n", kube_stack.namespace)
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in left["items"])
    assert kinds == [
        ("PersistentVolumeClaim", "alertmanager-data"),
        ("PersistentVolumeClaim", "grafana-data"),
        ("PersistentVolumeClaim", "prometheus-data"),
    ]
    kube_stack.timed("up_after_down_s", "up")
    wait_for_totals(
        kube_stack.query,
        KEPT,
        add(*kube_stack.totals),
        timeout=180,
    )
    kube_stack.timed("down_purge_s", "down", "--purge")
    gone = kube_stack.cluster.kubectl("get", "namespace", kube_stack.namespace, check=False)
    assert gone.returncode != 0 or "Terminating" in gone.stdout


def test_gitops_output_applied_with_kubectl_passes_verify(
    kube_cluster: KubeCluster,
    docker_engine: DockerEngine,
    pulumi_env: PulumiEnv,
    tmp_path: Path,
) -> None:
    """`render --target kubernetes` into another namespace, applied by kubectl as a GitOps
    controller would, with the Secrets created by hand as the README says."""
    kube_cluster.import_images(docker_engine, *IMAGES.values())
    stack = _stack(kube_cluster, pulumi_env, tmp_path, "sk-gitops")
    out = tmp_path / "out"
    stack.stackkit("render", "-o", str(out))
    token = stack.stackkit("secret", "otlp-token").stdout.strip()
    kube_cluster.kubectl("apply", "-f", str(out / "kubernetes" / "namespace.yaml"))
    for name, literal in (
        ("stackkit-otlp-token", f"token={token}"),
        ("stackkit-grafana-admin", "password=pw"),
    ):
        kube_cluster.kubectl(
            "create", "secret", "generic", name, f"--from-literal={literal}", "-n", "sk-gitops"
        )
    try:
        kube_cluster.kubectl("apply", "-k", str(out / "kubernetes"))
        kube_cluster.wait_ready("sk-gitops", timeout=300)
        svc = kube_cluster.kubectl_json("get", "service", "otelcol", "-n", "sk-gitops")
        port = next(p["nodePort"] for p in svc["spec"]["ports"] if p["name"] == "otlp-grpc")
        env = json.loads(
            stack.stackkit(
                "env", "--format", "json", "--endpoint", f"http://127.0.0.1:{port}"
            ).stdout
        )["env"]
        result = stack.stackkit("verify", "--timeout", "90", extra_env=env)
        assert "step 4/4 ok" in result.stderr, result.stderr
    finally:
        kube_cluster.kubectl("delete", "namespace", "sk-gitops", "--wait=false", check=False)


def test_storage_that_ignores_fsgroup_works_with_volume_init(
    kube_cluster: KubeCluster,
    docker_engine: DockerEngine,
    pulumi_env: PulumiEnv,
    tmp_path: Path,
) -> None:
    """The controller-manager's host-path provisioner makes folders root owns (0750) and ignores
    fsGroup. `up` stops before any change and says what to do; with kubernetes.volume_init the
    non-root Prometheus and Grafana write their volumes, and still run as their own users."""
    kube_cluster.import_images(docker_engine, *IMAGES.values())
    stack = _stack(kube_cluster, pulumi_env, tmp_path, "sk-hostpath")
    stack.config["kubernetes"] |= {
        "storage_class": kube_cluster.hostpath_storage_class,
        "collector_replicas": 1,
    }
    stack.write_config()
    refused = stack.stackkit("up", check=False)
    assert refused.returncode == 1, refused.stderr
    assert "ignores fsGroup" in refused.stderr and "kubernetes.volume_init: true" in refused.stderr
    probe = kube_cluster.kubectl("get", "namespace", "sk-hostpath", check=False)
    assert probe.returncode != 0, "nothing may be created before the storage is known to fit"

    stack.config["kubernetes"]["volume_init"] = True
    stack.write_config()
    try:
        stack.stackkit("up")
        for component, uid in (("prometheus", 65534), ("alertmanager", 65534), ("grafana", 472)):
            (pod,) = stack.pods(component)
            assert pod["spec"]["securityContext"]["runAsUser"] == uid
            (init,) = pod["status"]["initContainerStatuses"]
            assert init["state"]["terminated"]["exitCode"] == 0, init
            assert all(c["ready"] for c in pod["status"]["containerStatuses"]), component
        # Prometheus stores what it scrapes: its volume is writable by its user.
        deadline = time.monotonic() + 120
        while not stack.query('up{job="otelcol"} == 1'):
            assert time.monotonic() < deadline, "Prometheus stored nothing"
            time.sleep(2)
        ns = kube_cluster.kubectl_json("get", "namespace", "sk-hostpath")
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    finally:
        stack.stackkit("down", "--purge", check=False)
        kube_cluster.kubectl("delete", "namespace", "sk-hostpath", "--wait=false", check=False)
