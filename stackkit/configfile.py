"""Reading stackkit.yaml: bounded size, UTF-8 text, one YAML document, no duplicate keys.

Every way a file can be wrong becomes a ConfigError naming the file and, where there is one, the
line; nothing here raises anything else.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError

from .errors import ConfigError

MAX_BYTES = 1 << 20  # a config is a few kilobytes; /dev/zero is not a config


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: object, line: int, first: int) -> None:
        super().__init__(f"line {line}: duplicate key {key!r} (first on line {first}); keep one")


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses a key repeated in one mapping (YAML would keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *defaults` may be overridden on purpose
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:
                continue  # unhashable: the base class reports it
            if first != key_node.start_mark.line + 1:
                raise _DuplicateKey(key, key_node.start_mark.line + 1, first)
        return super().construct_mapping(node, deep=deep)


_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def _open(path: Path) -> int:
    """A descriptor of ``path`` once it is known to be a regular file (following links).

    Checked before opening: opening a FIFO waits for a writer, forever. Opened non-blocking and
    checked again, so a file swapped for a FIFO in between cannot make stackkit hang either.
    """
    try:
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode):
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode):
                return fd
            os.close(fd)
    except OSError as e:
        raise ConfigError(str(path), [f"cannot read file: {e.strerror or e}"]) from None
    kind = _KINDS.get(stat.S_IFMT(st.st_mode), "a special file")
    raise ConfigError(
        str(path),
        [
            f"cannot read file: it is {kind}, not a regular file; stackkit reads its config "
            "only from a regular file: save the YAML to one and pass that with -c"
        ],
    )


def _text(path: Path) -> str:
    fd = _open(path)
    try:
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise ConfigError(str(path), [f"cannot read file: {e.strerror or e}"]) from None
    if len(data) > MAX_BYTES:
        raise ConfigError(str(path), ["larger than 1 MiB: is this the right file?"])
    if b"\0" in data:
        raise ConfigError(str(path), ["binary data, not YAML text: is this the right file?"])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(
            str(path), [f"not UTF-8 text (byte {e.start}): save the file as UTF-8"]
        ) from None


def _yaml_problem(e: yaml.YAMLError) -> str:
    if isinstance(e, _DuplicateKey):
        return str(e)
    mark = getattr(e, "problem_mark", None)
    where = f"line {mark.line + 1}: " if mark else ""
    if isinstance(e, yaml.reader.ReaderError):
        return f"character {e.position}: {e.reason} ({e.character!r}): remove it"
    problem = getattr(e, "problem", None) or str(e)
    if context := getattr(e, "context", None):
        problem = f"{context}, {problem}"
    if isinstance(e, ConstructorError) and "tag:yaml.org,2002:python" in problem:
        problem += "; tags such as !!python are not allowed"
    return f"{where}not valid YAML ({' '.join(str(problem).split())})"


def read_config_file(path: Path) -> dict[str, Any]:
    """The mapping in ``path``; an empty file is an empty mapping."""
    text = _text(path)
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as e:
        raise ConfigError(str(path), [_yaml_problem(e)]) from None
    except RecursionError:
        raise ConfigError(str(path), ["nested too deeply to be a stackkit config"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), ["top level must be a mapping of keys to values"])
    return data
