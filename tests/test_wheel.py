"""An installed wheel (not only this checkout) finds its templates and Pulumi programs."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import GOLDEN, ROOT


@pytest.fixture(scope="module")
def uv() -> str:
    # `uv run` (how `make test` runs pytest) names its own binary in UV; the .venv uv makes has
    # no pip, and uv need not be on PATH (tools/install-uv.sh keeps it in the tool cache).
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:  # pytest run directly: the pinned uv from the tool cache (installed if missing)
        out = subprocess.run(
            ["bash", str(ROOT / "tools" / "install-uv.sh")], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        found = out.stdout.strip().splitlines()[-1]
    return found


@pytest.fixture(scope="module")
def wheel(uv: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(dist)], cwd=ROOT, check=True, capture_output=True
    )
    (built,) = dist.glob("stackkit-*.whl")
    return built


def test_wheel_carries_templates_and_stacks(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {
        p.relative_to(ROOT).as_posix() for p in (ROOT / "templates").rglob("*") if p.is_file()
    }
    assert {f"stackkit/{t}" for t in templates} <= names
    assert "stackkit/stacks/__init__.py" in names


def test_installed_wheel_renders_the_golden_output(uv: str, wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    py = venv / "bin" / "python"
    # Dependencies come from this environment (PYTHONPATH below); only stackkit is new.
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(py), "--no-deps", "--offline", str(wheel)],
        check=True,
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(ROOT / "examples" / "minimal.yaml", work / "stackkit.yaml")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if "site-packages" in p)}
    result = subprocess.run(
        [
            py,
            "-c",
            "import stackkit.paths as p, sys; print(p.TEMPLATES_DIR); sys.argv=['stackkit','render','-o','out']; from stackkit.__main__ import main; main()",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert str(venv) in result.stdout, "templates must come from the installed package"
    cmp = filecmp.dircmp(work / "out", GOLDEN / "minimal", ignore=[".stackkit-files"])
    assert _identical(cmp), "installed wheel output differs from tests/golden/minimal"


def _identical(cmp: filecmp.dircmp[str]) -> bool:
    if cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files:
        return False
    return all(_identical(sub) for sub in cmp.subdirs.values())
