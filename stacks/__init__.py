"""stackkit's Pulumi programs: one ComponentResource per target.

These modules never read files or templates: rendered text and resolved values arrive in
:class:`StackArgs`. An installed wheel carries this folder as ``stackkit/stacks``.
"""

from ._common import StackArgs
from .docker import DockerStack

__all__ = ["DockerStack", "StackArgs"]
