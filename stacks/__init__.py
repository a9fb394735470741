"""stackkit's Pulumi programs: one ComponentResource per target.

These modules never read files or templates: the model of the stack (``stackkit.model``), the
objects built from it and the secrets' values arrive as plain arguments. An installed wheel
carries this folder as ``stackkit/stacks``.
"""

from ._common import Secrets, StackArgs
from .docker import DockerStack
from .kubernetes import KubernetesArgs, KubernetesStack

__all__ = ["DockerStack", "KubernetesArgs", "KubernetesStack", "Secrets", "StackArgs"]
