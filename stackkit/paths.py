"""Where stackkit's own files live, in a source checkout and in an installed wheel.

In the repository, `templates/` and `stacks/` are top-level folders; the wheel carries them
inside the package (see pyproject.toml). This module is the one place that knows both layouts.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

_PACKAGE = Path(__file__).resolve().parent


def _beside_or_inside(name: str) -> Path:
    inside = _PACKAGE / name
    return inside if inside.is_dir() else _PACKAGE.parent / name


TEMPLATES_DIR = _beside_or_inside("templates")
STACKS_DIR = _beside_or_inside("stacks")


def import_stacks() -> ModuleType:
    """Import the Pulumi programs as ``stackkit.stacks`` from whichever layout is present."""
    name = "stackkit.stacks"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, STACKS_DIR / "__init__.py", submodule_search_locations=[str(STACKS_DIR)]
    )
    if spec is None or spec.loader is None:  # pragma: no cover - a broken install
        raise ImportError(f"stackkit's Pulumi programs are missing from {STACKS_DIR}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
