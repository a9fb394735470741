"""The stack on one machine's Docker engine: a network, two data volumes, three containers."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from stackkit.layout import (
    GRAFANA_DATA,
    GRAFANA_DIR,
    OTELCOL_CONFIG,
    OTELCOL_TLS_DIR,
    PROMETHEUS_DATA,
    PROMETHEUS_DIR,
    PROMETHEUS_SECRETS_DIR,
)

from ._common import StackArgs

RESTART = "unless-stopped"


def _host(bind_address: str) -> str:
    return "localhost" if bind_address in ("127.0.0.1", "0.0.0.0", "::", "::1") else bind_address


class DockerStack(pulumi.ComponentResource):
    """Collector, Prometheus and Grafana on a private network, published on ``bind_address``."""

    grafana_url: pulumi.Output[str]
    prometheus_url: pulumi.Output[str]

    def __init__(
        self, name: str, args: StackArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("stackkit:index:DockerStack", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = [docker.VolumeLabelArgs(label="stackkit.stack", value=name)]
        # Data lives in named volumes that outlive containers (and `stackkit down`).
        self.prometheus_data = docker.Volume(
            f"{name}-prometheus-data", name=f"{name}-prometheus-data", labels=labels, opts=child
        )
        self.grafana_data = docker.Volume(
            f"{name}-grafana-data", name=f"{name}-grafana-data", labels=labels, opts=child
        )
        host = _host(args.bind_address)
        ports = args.ports
        self.grafana_url = pulumi.Output.from_input(f"http://{host}:{ports['grafana']}")
        self.prometheus_url = pulumi.Output.from_input(f"http://{host}:{ports['prometheus']}")
        scheme = "https" if args.tls_files else "http"
        endpoints = {}
        if "grpc" in ports:
            endpoints["grpc"] = f"{scheme}://{host}:{ports['grpc']}"
        if "http" in ports:
            endpoints["http/protobuf"] = f"{scheme}://{host}:{ports['http']}"
        self.otlp_endpoints = pulumi.Output.from_input(endpoints)
        if args.running:
            self._containers(name, args, child)
        self.register_outputs(
            {
                "grafana_url": self.grafana_url,
                "prometheus_url": self.prometheus_url,
                "otlp_endpoints": self.otlp_endpoints,
            }
        )

    def _containers(self, name: str, args: StackArgs, child: pulumi.ResourceOptions) -> None:
        net = docker.Network(f"{name}-net", name=f"{name}-net", opts=child)
        images = {
            component: docker.RemoteImage(
                f"{name}-{component}-image", name=ref, keep_locally=True, opts=child
            )
            for component, ref in sorted(args.images.items())
        }
        # Fixed container names and host ports: the old container must go before the new one.
        replace = pulumi.ResourceOptions(parent=self, delete_before_replace=True)

        def container(component: str, **kwargs: object) -> docker.Container:
            return docker.Container(
                f"{name}-{component}",
                name=f"{name}-{component}",
                image=images[component].image_id,
                restart=RESTART,
                networks_advanced=[
                    docker.ContainerNetworksAdvancedArgs(name=net.id, aliases=[component])
                ],
                labels=[
                    docker.ContainerLabelArgs(label="stackkit.stack", value=name),
                    docker.ContainerLabelArgs(label="stackkit.component", value=component),
                ],
                opts=replace,
                **kwargs,  # type: ignore[arg-type]
            )

        def published(*pairs: tuple[str, int]) -> list[docker.ContainerPortArgs]:
            return [
                docker.ContainerPortArgs(internal=port, external=port, ip=args.bind_address)
                for _, port in pairs
            ]

        def mount(volume: docker.Volume, path: str) -> docker.ContainerVolumeArgs:
            return docker.ContainerVolumeArgs(volume_name=volume.name, container_path=path)

        def upload(path: str, content: str | pulumi.Output[str]) -> docker.ContainerUploadArgs:
            return docker.ContainerUploadArgs(file=path, content=content)

        ports = args.ports
        collector_ports = [(k, ports[k]) for k in ("grpc", "http", "otelcol_health") if k in ports]
        envs = (
            [pulumi.Output.secret(f"{args.token_env}={args.otlp_token}")] if args.otlp_token else []
        )
        self.otelcol = container(
            "otelcol",
            command=["--config", OTELCOL_CONFIG],
            envs=envs,
            ports=published(*collector_ports),
            uploads=[
                upload(OTELCOL_CONFIG, args.files["otelcol/config.yaml"]),
                *(
                    upload(f"{OTELCOL_TLS_DIR}/{name}", pulumi.Output.secret(text))
                    for name, text in sorted(args.tls_files.items())
                ),
            ],
        )

        prom_files = [
            upload(f"{PROMETHEUS_DIR}/{rel}", text)
            for rel, text in args.files_under("prometheus").items()
            if not rel.startswith("tests/")
        ]
        prom_files += [
            upload(f"{PROMETHEUS_SECRETS_DIR}/{target}", pulumi.Output.secret(value))
            for target, value in sorted(args.remote_write_secrets.items())
        ]
        self.prometheus = container(
            "prometheus",
            command=list(args.prometheus_args),
            ports=published(("prometheus", ports["prometheus"])),
            volumes=[mount(self.prometheus_data, PROMETHEUS_DATA)],
            uploads=prom_files,
            healthcheck=_http_check(f"http://localhost:{ports['prometheus']}/-/ready"),
        )

        grafana_files = [
            upload(f"{GRAFANA_DIR}/{rel}", text)
            for rel, text in args.files_under("grafana").items()
        ]
        grafana_files.append(
            upload(
                f"{GRAFANA_DIR}/secrets/admin-password",
                pulumi.Output.secret(args.grafana_admin_password),
            )
        )
        self.grafana = container(
            "grafana",
            ports=published(("grafana", ports["grafana"])),
            volumes=[mount(self.grafana_data, GRAFANA_DATA)],
            uploads=grafana_files,
            healthcheck=_http_check(f"http://localhost:{ports['grafana']}/api/health"),
        )


def _http_check(url: str) -> docker.ContainerHealthcheckArgs:
    # The upstream Prometheus and Grafana images carry busybox wget; the Collector's has no shell.
    return docker.ContainerHealthcheckArgs(
        tests=["CMD", "wget", "-q", "-O", "/dev/null", url],
        interval="10s",
        timeout="5s",
        retries=6,
        start_period="10s",
    )
