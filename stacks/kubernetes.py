"""The stack in a Kubernetes cluster: the objects ``render --target kubernetes`` writes, applied.

The objects come from ``stackkit.manifests`` (built from the model), so what ``up`` applies and
what a GitOps repository commits cannot drift. ``up`` adds only the Secrets, from generated
values, as Pulumi secrets. Order: the namespace, then the Secrets, then Prometheus and Grafana,
then the Collector: a Collector that rolls drains its queue into a Prometheus that is up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class KubernetesArgs:
    """The objects to apply, the Secrets' values, and which cluster."""

    namespace: Mapping[str, Any]
    objects: Mapping[str, Sequence[Mapping[str, Any]]]
    """Objects by component (otelcol, prometheus, grafana), as ``render`` writes them."""
    secrets: Sequence[Mapping[str, Any]] = ()
    """Secret objects whose ``stringData`` holds the values; never shown."""
    kubeconfig: str | None = None
    context: str | None = None
    running: bool = True
    """False keeps only the namespace and the PersistentVolumeClaims (`stackkit down`)."""
    urls: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        names = [s["metadata"]["name"] for s in self.secrets]
        return f"KubernetesArgs(namespace={self.namespace['metadata']['name']}, secrets={names})"


def _hidden(secret: Mapping[str, Any]) -> dict[str, Any]:
    return {**secret, "stringData": pulumi.Output.secret(dict(secret["stringData"]))}


class KubernetesStack(pulumi.ComponentResource):
    """Every object of the stack, applied in order, each workload awaited until Ready."""

    def __init__(
        self, name: str, args: KubernetesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("stackkit:index:KubernetesStack", name, None, opts)
        self.provider = k8s.Provider(
            f"{name}-cluster",
            kubeconfig=args.kubeconfig,
            context=args.context,
            # Objects keep their own namespace; nothing falls back to the kubeconfig's.
            delete_unreachable=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self, provider=self.provider)
        self.namespace = k8s.yaml.v2.ConfigGroup(
            f"{name}-namespace", objs=[dict(args.namespace)], opts=child
        )
        after_ns = pulumi.ResourceOptions.merge(
            child, pulumi.ResourceOptions(depends_on=[self.namespace])
        )
        claims = [
            dict(o)
            for docs in args.objects.values()
            for o in docs
            if o["kind"] == "PersistentVolumeClaim"
        ]
        # The claims keep one group whatever else changes: `down` keeps exactly these.
        self.data = (
            k8s.yaml.v2.ConfigGroup(f"{name}-data", objs=claims, opts=after_ns) if claims else None
        )
        self.groups: dict[str, k8s.yaml.v2.ConfigGroup] = {}
        if not args.running:
            self.register_outputs({})
            return
        self.secrets = (
            k8s.yaml.v2.ConfigGroup(
                f"{name}-secrets", objs=[_hidden(s) for s in args.secrets], opts=after_ns
            )
            if args.secrets
            else None
        )
        before_workloads: list[pulumi.Resource] = [
            r for r in (self.namespace, self.secrets, self.data) if r is not None
        ]
        backends: list[pulumi.Resource] = []
        # The Collector last: everything it writes to is up before it rolls.
        order = sorted(args.objects, key=lambda c: (c == "otelcol", c))
        for component in order:
            docs = [
                o for o in args.objects.get(component, ()) if o["kind"] != "PersistentVolumeClaim"
            ]
            if not docs:
                continue
            depends = before_workloads + (backends if component == "otelcol" else [])
            group = k8s.yaml.v2.ConfigGroup(
                f"{name}-{component}",
                objs=[dict(o) for o in docs],
                opts=pulumi.ResourceOptions.merge(
                    child, pulumi.ResourceOptions(depends_on=depends)
                ),
            )
            self.groups[component] = group
            if component != "otelcol":
                backends.append(group)
        self.register_outputs({"urls": dict(args.urls)})
