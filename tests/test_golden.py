"""examples/*.yaml rendered must equal tests/golden/<stem>/ byte for byte (`--update-golden`)."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest

from stackkit.output import write
from stackkit.render import Files

from .conftest import GOLDEN


def test_rendered_output_matches_golden(
    example: Path, rendered: Files, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    golden = GOLDEN / example.stem
    if request.config.getoption("--update-golden"):
        shutil.rmtree(golden, ignore_errors=True)
        write(rendered, golden)
        (golden / ".stackkit-files").unlink()
    expected = {
        p.relative_to(golden).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(golden.rglob("*"))
        if p.is_file()
    }
    actual = {str(p): text for p, text in rendered.items()}
    assert sorted(actual) == sorted(expected), "rendered file set differs from the golden set"
    for name, text in actual.items():
        if text != expected[name]:
            diff = "".join(
                difflib.unified_diff(
                    expected[name].splitlines(True), text.splitlines(True), f"golden/{name}", name
                )
            )
            pytest.fail(f"{example.stem}/{name} differs (run pytest --update-golden):\n{diff}")
