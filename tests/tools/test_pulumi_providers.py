"""The Pulumi engine and both provider binaries, really exercised through the Automation API:
a real container on the Docker engine and a real Deployment on the Kubernetes node whose Pods
run and become Ready, each created and destroyed."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from stackkit.versions import IMAGES
from tests.fixtures.docker import DockerEngine
from tests.fixtures.kube import KubeCluster
from tests.fixtures.pulumi import PulumiEnv

pytestmark = pytest.mark.integration


@pytest.fixture
def workspace(
    pulumi_env: PulumiEnv, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Any]]:
    """An inline-program stack in the session's Pulumi environment; destroyed afterwards."""
    from pulumi import automation as auto

    monkeypatch.setenv("PATH", pulumi_env.env["PATH"])
    stacks: list[Any] = []

    def make(name: str, program: Callable[[], None]) -> Any:
        stack = auto.create_or_select_stack(
            stack_name=name,
            project_name="stackkit-tools",
            program=program,
            opts=auto.LocalWorkspaceOptions(
                pulumi_command=auto.PulumiCommand(root=str(pulumi_env.cli_root)),
                env_vars=pulumi_env.env,
                project_settings=auto.ProjectSettings(name="stackkit-tools", runtime="python"),
            ),
        )
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.destroy()
        stack.workspace.remove_stack(stack.name)


def test_docker_provider_creates_and_destroys_a_container(
    workspace: Callable[..., Any], docker_engine: DockerEngine
) -> None:
    import pulumi
    import pulumi_docker as docker

    name = docker_engine.unique("pulumi-smoke")

    def program() -> None:
        provider = docker.Provider("engine", host=docker_engine.host)
        opts = pulumi.ResourceOptions(provider=provider)
        image = docker.RemoteImage("img", name=IMAGES["prometheus"], keep_locally=True, opts=opts)
        c = docker.Container("c", name=name, image=image.image_id, must_run=True, opts=opts)
        pulumi.export("id", c.id)

    stack = workspace("docker", program)
    up = stack.up()
    assert up.summary.result == "succeeded"
    (info,) = docker_engine.inspect(name)
    assert info["State"]["Running"] is True and info["Id"] == up.outputs["id"].value
    stack.destroy()
    assert docker_engine.docker("ps", "-a", "--filter", f"name=^{name}$", "-q").stdout.strip() == ""
    assert (
        IMAGES["prometheus"]
        in docker_engine.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    )


def test_kubernetes_provider_deployment_becomes_ready(
    workspace: Callable[..., Any], kube_cluster: KubeCluster, docker_engine: DockerEngine
) -> None:
    import pulumi
    import pulumi_kubernetes as k8s

    # The node runs real containers and can pull nothing: the image comes from the Docker engine.
    kube_cluster.import_images(docker_engine, IMAGES["prometheus"])

    def program() -> None:
        provider = k8s.Provider("cluster", kubeconfig=kube_cluster.kubeconfig.read_text())
        opts = pulumi.ResourceOptions(provider=provider)
        ns = k8s.core.v1.Namespace("ns", metadata={"name": "pulumi-smoke"}, opts=opts)
        labels = {"app": "smoke"}
        dep = k8s.apps.v1.Deployment(
            "dep",
            metadata={"namespace": ns.metadata["name"], "name": "smoke"},
            spec={
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": "app",
                                "image": IMAGES["prometheus"],
                                "imagePullPolicy": "IfNotPresent",
                            }
                        ]
                    },
                },
            },
            opts=opts,
        )
        pulumi.export("ready", dep.status["ready_replicas"])

    stack = workspace("kubernetes", program)
    up = stack.up()  # the provider waits until the Deployment's Pods are Ready
    assert up.outputs["ready"].value == 2
    pods = json.loads(
        kube_cluster.run("kubectl", "get", "pods", "-n", "pulumi-smoke", "-o", "json").stdout
    )
    assert len(pods["items"]) == 2
    assert all(
        any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"])
        for p in pods["items"]
    )
    stack.destroy()
    gone = kube_cluster.run("kubectl", "get", "namespace", "pulumi-smoke", check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
