"""Reading stackkit.yaml: every bad file is one line naming it, exit code 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from stackkit.config import load_config
from stackkit.configfile import MAX_BYTES
from stackkit.errors import ConfigError

from .conftest import ROOT


def problem(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.exit_code == 2
    (line,) = info.value.problems
    assert str(info.value) == f"invalid configuration: {path}: {line}"
    assert "\n" not in str(info.value)
    return line


def test_duplicate_keys_name_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("name: a\ntarget: docker\nname: b\n")
    assert problem(path) == "line 3: duplicate key 'name' (first on line 1); keep one"


def test_nested_duplicate_keys(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("collector:\n  grpc: {port: 4317}\n  http: {}\n  grpc: {port: 5317}\n")
    assert problem(path) == "line 4: duplicate key 'grpc' (first on line 2); keep one"


def test_merge_keys_may_override(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "x-listener: &l {enabled: true, port: 4317}\ncollector:\n  grpc: {<<: *l, port: 5317}\n"
    )
    with pytest.raises(ConfigError, match="x-listener: unknown key"):
        load_config(path)  # the anchor holder is an unknown key; the merge itself is fine
    path.write_text(
        "collector:\n  grpc: &l {enabled: true, port: 5317}\n  http: {<<: *l, port: 5318}\n"
    )
    assert load_config(path).collector.http.port == 5318


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x7fELF\x02\x01\x01\x00\x00\x00", "binary data, not YAML text"),
        (b"name: caf\xe9\n", "not UTF-8 text (byte 9)"),
        (b"name: \x1b[31mred\n", "character 6: special characters are not allowed"),
        (b"a: [1\n", "line 2: not valid YAML"),
        (b"name: !!python/object:os.system x\n", "tags such as !!python are not allowed"),
        (b"--- {}\n--- {}\n", "not valid YAML (expected a single document"),
        (b"? [a]\n: b\n", "not valid YAML"),
        (b"- a\n", "top level must be a mapping"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"a:\n" + b"".join(b" " * i + b"b:\n" for i in range(1, 1200)), "nested too deeply"),
    ],
)
def test_broken_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    assert message in problem(path)


def test_a_huge_file_is_not_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"#" * (MAX_BYTES + 1))
    assert problem(path) == "larger than 1 MiB: is this the right file?"


def test_dev_zero_is_refused_quickly() -> None:
    start = time.monotonic()
    assert "it is a character device, not a regular file" in problem(Path("/dev/zero"))
    assert time.monotonic() - start < 5


def _render_with(config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`stackkit render -c config` in its own process: a hang fails the test, not the run."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "stackkit", "render", "-c", str(config), "-o", "out"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    except subprocess.TimeoutExpired:
        pytest.fail("stackkit waited for a writer to the FIFO")


@pytest.mark.parametrize("via", ["fifo", "link to a fifo"])
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path, via: str) -> None:
    """Opening a FIFO waits for a writer: `-c fifo` hung forever (issue 17)."""
    config = tmp_path / "stackkit.yaml"
    if via == "fifo":
        os.mkfifo(config)
    else:
        os.mkfifo(tmp_path / "fifo")
        config.symlink_to(tmp_path / "fifo")
    run = _render_with(config, tmp_path)
    assert run.returncode == 2
    assert run.stderr == (
        f"error: invalid configuration: {config}: cannot read file: it is a named pipe (FIFO), "
        "not a regular file; stackkit reads its config only from a regular file: save the YAML "
        "to one and pass that with -c\n"
    )
    assert not (tmp_path / "out").exists()


def test_a_link_to_a_config_file_is_followed(tmp_path: Path) -> None:
    (tmp_path / "real.yaml").write_text("name: linked\n")
    (tmp_path / "stackkit.yaml").symlink_to(tmp_path / "real.yaml")
    assert load_config(tmp_path / "stackkit.yaml").name == "linked"


@pytest.mark.parametrize("kind", ["missing", "directory", "unreadable"])
def test_unreadable_paths(tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.yaml"
    if kind == "directory":
        path.mkdir()
    elif kind == "unreadable":  # as root, chmod 0 would not stop the read
        path.write_text("name: x\n")
        real_open = os.open

        def refuse(name: object, *args: Any, **kwargs: Any) -> int:
            if name == path:
                raise PermissionError(13, "Permission denied")
            return real_open(name, *args, **kwargs)

        monkeypatch.setattr(os, "open", refuse)
    assert problem(path).startswith("cannot read file: ")


def test_an_alias_bomb_is_answered_quickly(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    lines.append("attributes: {labels: *a8}")
    path = tmp_path / "c.yaml"
    path.write_text("\n".join(lines) + "\n")
    start = time.monotonic()
    with pytest.raises(ConfigError):
        load_config(path)
    assert time.monotonic() - start < 5


def test_stackkit_yaml_that_is_a_folder_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stackkit.yaml").mkdir()
    with pytest.raises(ConfigError, match="stackkit.yaml: cannot read file: it is a folder"):
        load_config()
