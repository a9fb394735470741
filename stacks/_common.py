"""What every target's program receives: the model of the stack and the secrets' values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from stackkit.model import SecretRef, Stack


@dataclass(frozen=True)
class Secrets:
    """Secret values by secret name and key. Never shown: ``repr`` names the keys only."""

    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __repr__(self) -> str:
        keys = {name: sorted(v) for name, v in sorted(self.values.items())}
        return f"Secrets(<hidden: {keys}>)"

    def get(self, ref: SecretRef) -> str:
        """The value ``ref`` names; a missing one is a bug in deploy, not a user error."""
        return self.values[ref.secret][ref.key]


@dataclass(frozen=True)
class StackArgs:
    """Everything a stack program needs: plain, resolved data."""

    stack: Stack
    secrets: Secrets = field(default_factory=Secrets)
    bind_address: str = "127.0.0.1"
    """Docker: the host address published ports bind to."""
    running: bool = True
    """False keeps only the data volumes: what `stackkit down` leaves behind."""
    owner: str = ""
    """Docker: the owner mark of this state folder, on every data volume it creates
    (``stackkit.ownership``)."""
    images: Mapping[str, str] = field(default_factory=dict)
    """Docker: each component's image ID on the engine (deploy pulls first); a changed image
    replaces its container. Without one, the image reference is used as it is."""
