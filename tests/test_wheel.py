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
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    uv = shutil.which("uv")
    cmd = (
        [uv, "build", "--wheel", "--out-dir", str(dist)]
        if uv
        else [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(dist), "."]
    )
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    (built,) = dist.glob("stackkit-*.whl")
    return built


def test_wheel_carries_templates_and_stacks(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {
        p.relative_to(ROOT).as_posix() for p in (ROOT / "templates").rglob("*") if p.is_file()
    }
    assert {f"stackkit/{t}" for t in templates} <= names
    assert "stackkit/stacks/__init__.py" in names


def test_installed_wheel_renders_the_golden_output(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = venv / "bin" / "python"
    # Dependencies come from this environment (system site packages); only stackkit is new.
    subprocess.run(
        [py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True
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
