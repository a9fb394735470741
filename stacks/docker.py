"""The stack on one machine's Docker engine: a network, a volume per data folder, a container per
component, all read from the model (``stackkit.model``)."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_docker as docker

from stackkit.model import VOLUME_INIT, Component, Stack

from ._common import StackArgs

RESTART = "unless-stopped"
# Images whose data folder does not exist in the image get a fresh, root-owned volume; a
# one-shot container gives it to the component's user (busybox from the Prometheus image).


class DockerStack(pulumi.ComponentResource):
    """Every component on a private network; ports for clients and operators published."""

    grafana_url: pulumi.Output[str]
    prometheus_url: pulumi.Output[str]
    otlp_endpoints: pulumi.Output[dict[str, str]]

    def __init__(
        self, name: str, args: StackArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("stackkit:index:DockerStack", name, None, opts)
        self.args = args
        self.child = pulumi.ResourceOptions(parent=self)
        stack = args.stack
        # Data lives in named volumes that outlive containers (and `stackkit down`). Each carries
        # the owner mark of the state folder that created it. Pulumi never deletes one (only
        # `down --purge` does, after checking that mark), and a label differing (a volume of an
        # earlier release, or one handed over) never replaces it: Docker cannot relabel volumes.
        labels = [docker.VolumeLabelArgs(label="stackkit.stack", value=name)]
        if args.owner:
            labels.append(docker.VolumeLabelArgs(label="stackkit.owner", value=args.owner))
        self.volumes = {
            c.name: docker.Volume(
                f"{name}-{c.name}-data",
                name=f"{name}-{c.name}-data",
                labels=labels,
                opts=pulumi.ResourceOptions(
                    parent=self, retain_on_delete=True, ignore_changes=["labels"]
                ),
            )
            for c in stack.components
            if c.data_dir
        }
        found = stack.published_urls(args.bind_address)
        self.grafana_url = pulumi.Output.from_input(found["grafana_url"])
        self.prometheus_url = pulumi.Output.from_input(found["prometheus_url"])
        self.otlp_endpoints = pulumi.Output.from_input(found["otlp_endpoints"])
        self.containers: dict[str, docker.Container] = {}
        if args.running:
            self._run(name, stack)
        self.register_outputs(
            {
                "grafana_url": self.grafana_url,
                "prometheus_url": self.prometheus_url,
                "otlp_endpoints": self.otlp_endpoints,
            }
        )

    def _run(self, name: str, stack: Stack) -> None:
        net = docker.Network(f"{name}-net", name=f"{name}-net", opts=self.child)
        images = {c.name: self.args.images.get(c.name, c.image) for c in stack.components}
        busybox = self.args.images.get(VOLUME_INIT, stack.volume_init_image)
        for c in stack.components:
            depends: list[pulumi.Resource] = []
            if c.data_dir and c.chown_data_dir:
                depends.append(self._give_volume(name, c, busybox))
            self.containers[c.name] = self._container(name, c, net, images[c.name], depends)

    def _give_volume(self, name: str, c: Component, busybox_image: str) -> docker.Container:
        entrypoint, *command = self.args.stack.chown_command(c)
        return docker.Container(
            f"{name}-{c.name}-volume-init",
            name=f"{name}-{c.name}-volume-init",
            image=busybox_image,
            user="0:0",
            entrypoints=[entrypoint],
            command=command,
            volumes=[
                docker.ContainerVolumeArgs(
                    volume_name=self.volumes[c.name].name, container_path=c.data_dir
                )
            ],
            must_run=False,
            attach=True,
            labels=[docker.ContainerLabelArgs(label="stackkit.stack", value=name)],
            # A fixed name, as the components have: the old one must go first.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )

    def _container(
        self,
        name: str,
        c: Component,
        net: docker.Network,
        image: str,
        depends: list[pulumi.Resource],
    ) -> docker.Container:
        secrets = self.args.secrets
        uploads = [
            docker.ContainerUploadArgs(file=f"{c.config_dir}/{rel}", content=text)
            for rel, text in sorted(c.files.items())
        ]
        uploads += [
            docker.ContainerUploadArgs(file=path, content=pulumi.Output.secret(secrets.get(ref)))
            for path, ref in sorted(c.secret_files.items())
        ]
        envs = [
            pulumi.Output.secret(f"{var}={secrets.get(ref)}")
            for var, ref in sorted(c.secret_env.items())
        ]
        published = [
            docker.ContainerPortArgs(
                internal=p.number, external=p.number, ip=self.args.bind_address
            )
            for p in c.ports
            if p.audience != "internal"
        ]
        kwargs: dict[str, Any] = {}
        if c.args:
            kwargs["command"] = list(c.args)
        if envs:
            kwargs["envs"] = envs
        if c.data_dir:
            kwargs["volumes"] = [
                docker.ContainerVolumeArgs(
                    volume_name=self.volumes[c.name].name, container_path=c.data_dir
                )
            ]
        if c.shell_probe:
            # The image carries busybox wget; the Collector's has no shell, so `stackkit status`
            # probes its health endpoint from outside instead.
            url = f"http://localhost:{c.ready.port}{c.ready.path}"
            probe = ["CMD", "wget", "-q", "-O", "/dev/null", url]
            if c.ready.authorization is not None:
                # The credential stays in its file: the command names only the path.
                header = f'"Authorization: $(cat {c.secret_path(c.ready.authorization)})"'
                probe = ["CMD-SHELL", f"wget -q -O /dev/null --header {header} {url}"]
            kwargs["healthcheck"] = docker.ContainerHealthcheckArgs(
                tests=probe,
                interval="10s",
                timeout="5s",
                retries=6,
                start_period="10s",
            )
        return docker.Container(
            f"{name}-{c.name}",
            name=f"{name}-{c.name}",
            image=image,
            restart=RESTART,
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=net.id, aliases=[c.name])],
            labels=[
                docker.ContainerLabelArgs(label="stackkit.stack", value=name),
                docker.ContainerLabelArgs(label="stackkit.component", value=c.name),
            ],
            ports=published,
            uploads=uploads,
            # Fixed names and host ports: the old container must go before the new one.
            opts=pulumi.ResourceOptions(
                parent=self, delete_before_replace=True, depends_on=depends
            ),
            **kwargs,
        )
