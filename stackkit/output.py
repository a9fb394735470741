"""Writing rendered files into an output folder: all or nothing, removing only what stackkit wrote.

The folder may hold files stackkit did not write (a GitOps repository's README, overlays); they
are never touched. ``.stackkit-files`` records the SHA-256 and path of every file stackkit wrote.
A file from an earlier render that is no longer produced is removed only when its entry is a
plain relative path inside the folder (not absolute, no ``..``, no symbolic link on the way), it
is a regular file, and its content still has the recorded hash. Anything else is left in place
and reported: the manifest lives in repositories where anyone can edit it.

The changes themselves are one transaction (:mod:`stackkit.transaction`), made while holding a
lock on the folder, after undoing whatever a killed earlier run left.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from . import transaction
from .errors import ConfigError, RenderError, printable
from .transaction import STAGING_PREFIX, digest, obstacle, regular, safe_relative

__all__ = ["MANIFEST", "STAGING_PREFIX", "Changes", "write"]

MANIFEST = ".stackkit-files"
_MAX_MANIFEST_BYTES = 1 << 20
_ENTRY = re.compile(r"([0-9a-f]{64})  (.+)")
_HEADER = "# Written by stackkit render: SHA-256 and path of each file it wrote. Do not edit.\n"


@dataclass(frozen=True)
class Changes:
    """What `write` did to the output folder, by relative path."""

    created: tuple[str, ...]
    updated: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: int
    kept: tuple[str, ...] = ()
    """Files from an earlier render left in place, each with the reason."""
    ignored: tuple[str, ...] = ()
    """Manifest entries that are not paths inside the folder (never acted on)."""
    recovered: bool = False
    """An interrupted earlier run was undone first."""


def output_folder(text: str) -> Path:
    """The ``-o`` flag as a folder path: an empty or multi-line value is an error, not ``.``."""
    if not text.strip():
        raise ConfigError("-o", ["empty: name the output folder (-o . for the current one)"])
    if not text.isprintable():
        raise ConfigError(
            "-o", [f"{text!r} contains control characters (a newline?): name a plain folder"]
        )
    return Path(text)


def _check_out(given: Path) -> Path:
    """``given`` resolved, once it is a folder stackkit may fill: not the filesystem root, not
    a link to nowhere (creating it would create the link's target, wherever that is)."""
    absolute = given.absolute()  # not normalised: `link/..` is the link target's parent
    for here in (absolute, *absolute.parents):
        if os.path.lexists(here):
            if os.path.islink(here) and not here.exists():
                raise RenderError(
                    f"-o {given}: {here} is a symbolic link to {os.readlink(here)}, which does "
                    "not exist; stackkit does not create a link's target: create that folder "
                    "first, or choose another -o"
                )
            break
    out = absolute.resolve()
    if out == Path(out.anchor):
        raise RenderError(
            f"-o {given} is the root of the filesystem; choose a folder of its own, e.g. -o out"
        )
    if out.exists() and not out.is_dir():
        raise RenderError(f"{out} exists and is not a directory; choose another -o")
    return out


def write(files: Mapping[PurePosixPath, str], out: Path) -> Changes:
    """Write ``files`` under ``out`` in one transaction; stale files stackkit wrote are removed.

    A file already there that stackkit did not write (not in ``.stackkit-files``) and that
    differs from what it would write is an error, before anything changes.
    """
    try:
        out = _check_out(out)
    except OSError as e:  # e.g. a name longer than the system allows
        shown = printable(str(out), 120)
        raise RenderError(f"-o {shown}: {e.strerror or e}; choose another -o") from None
    made = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        with _locked(out):
            recovered = transaction.recover(out)
            changes = _write(files, out, recovered)
        _remove_old_leftovers(out.parent)
        return changes
    except BaseException as e:
        if made and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        if not isinstance(e, OSError):
            raise
        where = f" ({e.filename})" if e.filename else ""
        raise RenderError(
            f"cannot write to {out}{where}: {e.strerror or e}; the previous output is unchanged"
        ) from None


@contextmanager
def _locked(out: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RenderError(
                f"another `stackkit render` is writing to {out}; wait for it to finish"
            ) from None
        yield
    finally:
        os.close(fd)


def _write(files: Mapping[PurePosixPath, str], out: Path, recovered: bool) -> Changes:
    content = {rel: text.encode("utf-8") for rel, text in files.items()}
    previous, ignored = _previous(out)
    removals, kept, carried = _stale(out, previous, content)
    recorded = {**carried, **{rel: digest(data) for rel, data in content.items()}}
    content[PurePosixPath(MANIFEST)] = (
        _HEADER + "".join(f"{h}  {p}\n" for p, h in sorted(recorded.items()))
    ).encode("utf-8")
    created, updated = _differences(out, content)
    _refuse_foreign(out, [rel for rel in updated if rel not in previous and str(rel) != MANIFEST])
    puts = created + updated
    if puts or removals:
        transaction.apply(out, content, puts, removals)
    created = [rel for rel in created if str(rel) != MANIFEST]
    updated = [rel for rel in updated if str(rel) != MANIFEST]
    return Changes(
        created=tuple(map(str, created)),
        updated=tuple(map(str, updated)),
        removed=tuple(map(str, removals)),
        unchanged=len(files) - len(created) - len(updated),
        kept=tuple(kept),
        ignored=tuple(ignored),
        recovered=recovered,
    )


def _previous(out: Path) -> tuple[dict[PurePosixPath, str | None], list[str]]:
    """The last manifest's entries (path -> hash; None for an older stackkit's hash-less
    entries), and the entries that are not paths inside the folder."""
    path = out / MANIFEST
    st = regular(path)
    if st is None or st.st_size > _MAX_MANIFEST_BYTES:
        return {}, ([f"{MANIFEST}: not a regular file of at most 1 MiB"] if path.exists() else [])
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return {}, [f"{MANIFEST}: not UTF-8 text"]
    entries: dict[PurePosixPath, str | None] = {}
    ignored = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = _ENTRY.fullmatch(line)
        recorded, name = (m.group(1), m.group(2)) if m else (None, line)
        rel = safe_relative(name)
        if rel is None or name == MANIFEST:
            ignored.append(f"{name!r}: not a path inside the output folder")
        else:
            entries[rel] = recorded
    return entries, ignored


def _differences(
    out: Path, content: Mapping[PurePosixPath, bytes]
) -> tuple[list[PurePosixPath], list[PurePosixPath]]:
    """Files to create and to update; an error, before any change, for what is in the way."""
    created, updated = [], []
    for rel, data in content.items():
        dest = out / rel
        if problem := obstacle(out, rel):
            raise RenderError(f"cannot write {dest}: {problem}; replace it with a folder")
        try:
            st = dest.lstat()
        except FileNotFoundError:
            created.append(rel)
            continue
        if stat.S_ISDIR(st.st_mode):
            raise RenderError(f"{dest} is a folder where stackkit writes a file; move it away")
        if not stat.S_ISREG(st.st_mode):
            raise RenderError(
                f"{dest} is not a regular file (a link or a device) where stackkit writes a "
                "file; move it away"
            )
        if st.st_size != len(data) or dest.read_bytes() != data:
            updated.append(rel)
    return created, updated


def _refuse_foreign(out: Path, foreign: list[PurePosixPath]) -> None:
    """RenderError naming files in the way that stackkit did not write (it never touches them)."""
    if not foreign:
        return
    names = ", ".join(map(str, foreign[:5])) + (
        f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
    )
    raise RenderError(
        f"{out} already holds {names}, which stackkit did not write (not in {MANIFEST}) and "
        "would overwrite; stackkit never touches files it did not write: move them away (or "
        "delete them) and render again, or choose another -o. Nothing was written"
    )


def _stale(
    out: Path,
    previous: Mapping[PurePosixPath, str | None],
    content: Mapping[PurePosixPath, bytes],
) -> tuple[list[PurePosixPath], list[str], dict[PurePosixPath, str]]:
    """Stale files safe to remove; those left, with why; and entries to keep recording."""
    removals, kept, carried = [], [], {}
    for rel, recorded in sorted(previous.items()):
        if rel in content:
            continue
        path = out / rel
        if problem := obstacle(out, rel):
            kept.append(f"{rel} (left: {problem})")
            continue
        if regular(path) is None:
            if os.path.lexists(path):
                kept.append(f"{rel} (left: not a regular file)")
            continue  # already gone
        if recorded is None:
            kept.append(f"{rel} (left: no recorded hash from an older stackkit; delete it)")
        elif digest(path.read_bytes()) != recorded:
            kept.append(f"{rel} (left: edited since stackkit wrote it; delete it if unused)")
            carried[rel] = recorded  # reported again until it is deleted or restored
        else:
            removals.append(rel)
    return removals, kept, carried


# Before the transaction, stackkit staged in `<parent>/.stackkit-render-XXXXXXXX/` (tempfile) and
# a killed run left that folder behind. Such a folder cannot be tied to one output, so it is
# removed only when it is plainly one of those (a rendered tree with a manifest, no links) and
# old enough that no run can still be using it.
_OLD_LEFTOVER = re.compile(re.escape(STAGING_PREFIX) + r"[a-z0-9_]{8}")
_OLD_LEFTOVER_AGE_S = 3600


def _remove_old_leftovers(parent: Path) -> None:
    import shutil
    import time

    try:
        entries = list(os.scandir(parent))
    except OSError:
        return
    for entry in entries:
        if not (_OLD_LEFTOVER.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False)):
            continue
        folder = Path(entry.path)
        try:
            if time.time() - entry.stat(follow_symlinks=False).st_mtime < _OLD_LEFTOVER_AGE_S:
                continue
            inside = list(folder.rglob("*"))
            if regular(folder / MANIFEST) is None or any(p.is_symlink() for p in inside):
                continue
        except OSError:
            continue
        shutil.rmtree(folder, ignore_errors=True)
