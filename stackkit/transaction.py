"""Changing files in a folder all or nothing: stage, journal, rename into place, undo.

New content is staged in ``<folder>/.stackkit-render-<random>/new/``; a journal lists every
change; then each change is one rename (replaced and removed files are kept in ``old/`` first).
Renaming the journal is the commit point. Any error before it undoes the changes made so far; a
process killed before it leaves the staging folder, and :func:`recover` undoes it on the next
run. Undo never overwrites or removes a file that changed since this run put it there.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from .errors import RenderError

STAGING_PREFIX = ".stackkit-render-"
_JOURNAL = "journal.json"
_COMMITTED = "committed.json"


def digest(data: bytes) -> str:
    """The SHA-256 of ``data``, in hex."""
    return hashlib.sha256(data).hexdigest()


def safe_relative(text: str) -> PurePosixPath | None:
    """``text`` as a plain relative path inside the folder, or None when it is anything else."""
    parts = text.split("/")
    if (
        not text
        or len(text) > 4096
        or not text.isprintable()
        or any(p in ("", ".", "..") for p in parts)
        or parts[0].startswith(STAGING_PREFIX)
    ):
        return None
    return PurePosixPath(text)


def obstacle(out: Path, rel: PurePosixPath) -> str | None:
    """Why ``out/rel`` cannot be acted on safely (a link or a file on the way), or None."""
    here = out
    for part in rel.parts[:-1]:
        here = here / part
        try:
            mode = here.lstat().st_mode
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(mode):
            return f"{here} is a symbolic link"
        if not stat.S_ISDIR(mode):
            return f"{here} is not a folder"
    return None


def regular(path: Path) -> os.stat_result | None:
    """The file's status when it is a regular file (not a link), else None."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def apply(
    out: Path,
    content: Mapping[PurePosixPath, bytes],
    puts: list[PurePosixPath],
    removals: list[PurePosixPath],
) -> None:
    """Put ``content[rel]`` at each of ``puts`` and remove ``removals``, all or nothing."""
    staging = out / f"{STAGING_PREFIX}{secrets.token_hex(4)}"
    try:
        _stage(out, staging, content, puts, removals)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        _apply(out, staging, puts, removals)
        os.replace(staging / _JOURNAL, staging / _COMMITTED)  # the commit point
    except BaseException:
        if _rollback(out, staging):
            shutil.rmtree(staging, ignore_errors=True)
        raise
    for rel in removals:
        _prune_empty_parents(out, rel)
    shutil.rmtree(staging, ignore_errors=True)


def _stage(
    out: Path,
    staging: Path,
    content: Mapping[PurePosixPath, bytes],
    puts: list[PurePosixPath],
    removals: list[PurePosixPath],
) -> None:
    staging.mkdir(mode=0o700)
    for rel in puts:
        target = staging / "new" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "xb") as f:
            f.write(content[rel])
    steps = [
        {"op": "put", "path": str(rel), "existed": (out / rel).exists()}
        | {"new": digest(content[rel])}
        for rel in puts
    ]
    steps += [{"op": "remove", "path": str(rel)} for rel in removals]
    journal = {"steps": steps, "dirs": [str(d) for d in _missing_dirs(out, puts)]}
    tmp = staging / f"{_JOURNAL}.tmp"
    tmp.write_text(json.dumps(journal), encoding="utf-8")
    os.replace(tmp, staging / _JOURNAL)


def _apply(
    out: Path, staging: Path, puts: list[PurePosixPath], removals: list[PurePosixPath]
) -> None:
    for d in _missing_dirs(out, puts):
        (out / d).mkdir()
    for rel in puts:
        dest = out / rel
        if dest.exists():
            _keep_copy(dest, staging / "old" / rel)
        os.replace(staging / "new" / rel, dest)
    for rel in removals:
        backup = staging / "old" / rel
        backup.parent.mkdir(parents=True, exist_ok=True)
        os.replace(out / rel, backup)


def _missing_dirs(out: Path, puts: list[PurePosixPath]) -> list[PurePosixPath]:
    missing: list[PurePosixPath] = []
    for rel in puts:
        for parent in reversed(rel.parents[:-1]):
            if parent not in missing and not (out / parent).exists():
                missing.append(parent)
    return missing


def _keep_copy(src: Path, backup: Path) -> None:
    backup.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, backup)  # the old content survives the rename over it
    except OSError:
        shutil.copy2(src, backup)


def _prune_empty_parents(out: Path, rel: PurePosixPath) -> None:
    for parent in rel.parents[:-1]:
        try:
            (out / parent).rmdir()
        except OSError:
            return


def recover(out: Path) -> bool:
    """Undo and remove what killed runs left in ``out``; True when there was something."""
    found = False
    for entry in os.scandir(out):
        if entry.name.startswith(STAGING_PREFIX) and entry.is_dir(follow_symlinks=False):
            found = True
            if not _rollback(out, Path(entry.path)):
                raise RenderError(
                    f"an interrupted render left {entry.path} and it cannot be undone yet; "
                    "check the folder's permissions and run again"
                )
            shutil.rmtree(entry.path, ignore_errors=True)
    return found


def _rollback(out: Path, staging: Path) -> bool:
    """Undo the journal's changes that were made; True when nothing is left to undo.

    Each step checks the file is still what this run put there, so a file changed since is
    never overwritten or removed.
    """
    try:
        journal = json.loads((staging / _JOURNAL).read_text(encoding="utf-8"))
        steps, dirs = list(journal["steps"]), list(journal["dirs"])
    except (OSError, ValueError, KeyError, TypeError):
        return True  # no journal: nothing was changed yet (or the run had committed)
    done = True
    for step in reversed(steps):
        rel = safe_relative(str(step.get("path", ""))) if isinstance(step, dict) else None
        if rel is None or obstacle(out, rel) is not None:
            continue
        try:
            _undo(out, staging, rel, step)
        except OSError:
            done = False
    for d in reversed(dirs):
        rel = safe_relative(str(d))
        if rel is not None and obstacle(out, rel) is None:
            try:
                (out / rel).rmdir()
            except OSError:
                pass
    return done


def _undo(out: Path, staging: Path, rel: PurePosixPath, step: dict[str, object]) -> None:
    dest, backup = out / rel, staging / "old" / rel
    if step.get("op") == "remove":
        if regular(backup) and not os.path.lexists(dest):
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(backup, dest)
        return
    if (staging / "new" / rel).exists():
        return  # never moved in
    current = regular(dest)
    if current is None or digest(dest.read_bytes()) != step.get("new"):
        return  # changed since: not ours to undo
    if step.get("existed") and regular(backup):
        os.replace(backup, dest)
    elif not step.get("existed"):
        dest.unlink()
