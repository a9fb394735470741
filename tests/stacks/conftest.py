"""Pulumi mocks: record every resource the program registers, build each stack fresh per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pulumi
import pytest


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        outputs = dict(args.inputs)
        return f"{args.name}-id", outputs

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None

    def of_type(self, typ: str) -> dict[str, dict[str, Any]]:
        return {r.name: r.inputs for r in self.resources if r.typ == typ}


@pytest.fixture
def mocks() -> Iterator[RecordingMocks]:
    m = RecordingMocks()
    pulumi.runtime.set_mocks(m, project="stackkit", stack="test", preview=False)
    yield m
    pulumi.runtime.settings.reset_options()  # type: ignore[attr-defined]
