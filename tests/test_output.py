"""Writing the output folder: only what stackkit wrote is removed, and a run is all or nothing."""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
from typer.testing import CliRunner

from stackkit import transaction
from stackkit.cli import app
from stackkit.errors import RenderError
from stackkit.output import MANIFEST, STAGING_PREFIX, write

from .conftest import ROOT

OLD = {
    PurePosixPath("a/old.yaml"): "old\n",
    PurePosixPath("b.yaml"): "b1\n",
    PurePosixPath("c/d/e.yaml"): "e1\n",
}
NEW = {
    PurePosixPath("b.yaml"): "b2\n",
    PurePosixPath("c/d/e.yaml"): "e2\n",
    PurePosixPath("f/new.yaml"): "new\n",
}


def tree(root: Path) -> dict[str, bytes | str]:
    """Every entry under ``root``: file bytes, or a marker for folders and links."""
    found: dict[str, bytes | str] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            found[rel] = f"-> {os.readlink(p)}"
        elif p.is_dir():
            found[rel] = "dir"
        else:
            found[rel] = p.read_bytes()
    return found


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def leftovers(out: Path) -> list[str]:
    return [p.name for p in out.iterdir() if p.name.startswith(STAGING_PREFIX)]


def test_stale_files_go_foreign_ones_stay(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write(OLD, out)
    (out / "README.md").write_text("mine\n")
    changes = write(NEW, out)
    assert changes.created == ("f/new.yaml",)
    assert changes.updated == ("b.yaml", "c/d/e.yaml")
    assert changes.removed == ("a/old.yaml",)
    assert not (out / "a").exists()  # emptied folders go too
    assert (out / "README.md").read_text() == "mine\n"
    assert leftovers(out) == [] and [p.name for p in tmp_path.iterdir()] == ["out"]


def test_manifest_records_a_hash_per_file(tmp_path: Path) -> None:
    write(NEW, tmp_path)
    lines = (tmp_path / MANIFEST).read_text().splitlines()
    assert lines[0].startswith("#")
    assert lines[1:] == [f"{sha(t.encode())}  {p}" for p, t in sorted(NEW.items())]


def test_a_second_run_touches_nothing(tmp_path: Path) -> None:
    write(NEW, tmp_path)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    changes = write(NEW, tmp_path)
    assert (changes.created, changes.updated, changes.removed, changes.unchanged) == (
        (),
        (),
        (),
        3,
    )
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before


@pytest.mark.parametrize(
    "entry",
    [
        "{precious}",  # absolute
        "../precious.txt",
        "a/../../precious.txt",
        "./../precious.txt",
        "a//../../precious.txt",
        "",
        "/",
        ".",
        "..",
    ],
)
def test_manifest_entries_outside_the_folder_are_never_removed(tmp_path: Path, entry: str) -> None:
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me\n")
    out = tmp_path / "out"
    write(NEW, out)
    line = f"{sha(precious.read_bytes())}  {entry.format(precious=precious)}"
    with (out / MANIFEST).open("a") as f:
        f.write(f"{line}\n{entry.format(precious=precious)}\n")
    changes = write(NEW, out)
    assert precious.read_text() == "keep me\n"
    assert changes.removed == ()
    if entry.strip():
        assert changes.ignored, "unsafe entries are reported"
        paths = [line.split("  ", 1)[-1] for line in (out / MANIFEST).read_text().splitlines()]
        assert entry.format(precious=precious) not in paths


def test_the_reported_attack_through_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`echo "$PWD/precious.txt" >> out/.stackkit-files; stackkit render -o out`."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "precious.txt").write_text("keep me\n")
    runner = CliRunner()
    assert runner.invoke(app, ["render", "-o", "out"]).exit_code == 0
    with open("out/.stackkit-files", "a") as f:
        f.write(f"{tmp_path}/precious.txt\n")
    result = runner.invoke(app, ["render", "-o", "out"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "precious.txt").read_text() == "keep me\n"
    assert f"warning: ignored .stackkit-files entry '{tmp_path}/precious.txt'" in result.stderr


def test_links_are_never_followed_to_remove(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.yaml").write_text("theirs\n")
    out = tmp_path / "out"
    write(NEW, out)
    (out / "linked").symlink_to(outside)
    (out / "link.yaml").symlink_to(outside / "x.yaml")
    digest = sha(b"theirs\n")
    with (out / MANIFEST).open("a") as f:
        f.write(f"{digest}  linked/x.yaml\n{digest}  link.yaml\n")
    changes = write(NEW, out)
    assert (outside / "x.yaml").read_text() == "theirs\n"
    assert (out / "link.yaml").is_symlink()
    assert sorted(changes.kept) == [
        "link.yaml (left: not a regular file)",
        f"linked/x.yaml (left: {out}/linked is a symbolic link)",
    ]


def test_a_hand_edited_stale_file_is_kept_and_reported_until_deleted(tmp_path: Path) -> None:
    write(OLD, tmp_path)
    (tmp_path / "a/old.yaml").write_text("edited\n")
    changes = write(NEW, tmp_path)
    assert changes.removed == ()
    assert changes.kept == (
        "a/old.yaml (left: edited since stackkit wrote it; delete it if unused)",
    )
    assert (tmp_path / "a/old.yaml").read_text() == "edited\n"
    assert write(NEW, tmp_path).kept == changes.kept  # still reported
    (tmp_path / "a/old.yaml").write_text("old\n")  # back to what stackkit wrote: removed
    assert write(NEW, tmp_path).removed == ("a/old.yaml",)
    assert "a/old.yaml" not in (tmp_path / MANIFEST).read_text()


def test_an_old_manifest_without_hashes_removes_nothing(tmp_path: Path) -> None:
    for rel, text in OLD.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    (tmp_path / MANIFEST).write_text("".join(f"{p}\n" for p in OLD))
    changes = write(NEW, tmp_path)
    assert changes.removed == ()
    assert changes.kept == (
        "a/old.yaml (left: no recorded hash from an older stackkit; delete it)",
    )
    assert f"{sha(b'b2' + bytes([10]))}  b.yaml" in (tmp_path / MANIFEST).read_text()


# --- all or nothing -------------------------------------------------------------------------


def _count_replaces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    probe = tmp_path / "probe"
    write(OLD, probe)
    calls = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append(a), real(a, b)))
    write(NEW, probe)
    monkeypatch.setattr(os, "replace", real)
    return len(calls)


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failure_at_any_step_leaves_the_old_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    total = _count_replaces(tmp_path, monkeypatch)
    assert total >= 5
    real = os.replace
    for fail_at in range(1, total + 1):
        out = tmp_path / f"out{fail_at}"
        write(OLD, out)
        (out / "README.md").write_text("mine\n")
        before = tree(out)
        calls: list[object] = []

        def failing(a: object, b: object, fail_at: int = fail_at, calls: list = calls) -> None:  # type: ignore[type-arg]
            calls.append(a)
            if len(calls) == fail_at:
                raise error
            real(a, b)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "replace", failing)
        with pytest.raises(RenderError if isinstance(error, OSError) else KeyboardInterrupt):
            write(NEW, out)
        monkeypatch.setattr(os, "replace", real)
        assert tree(out) == before, f"failure at os.replace call {fail_at} changed the output"


def test_a_write_error_while_staging_leaves_the_old_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(OLD, tmp_path)
    before = tree(tmp_path)
    real_open = open

    def full_disk(file: object, mode: str = "r", *args: object, **kwargs: object) -> object:
        if mode == "xb" and str(file).endswith("e.yaml"):
            raise OSError(28, "No space left on device", str(file))
        return real_open(file, mode, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", full_disk)
    with pytest.raises(RenderError, match="No space left on device; the previous output"):
        write(NEW, tmp_path)
    monkeypatch.undo()
    assert tree(tmp_path) == before


def test_a_failed_first_render_leaves_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "replace", lambda a, b: (_ for _ in ()).throw(OSError(5, "I/O error")))
    with pytest.raises(RenderError):
        write(NEW, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_folder_where_a_file_goes_changes_nothing(tmp_path: Path) -> None:
    write(OLD, tmp_path)
    (tmp_path / "f/new.yaml").mkdir(parents=True)
    before = tree(tmp_path)
    with pytest.raises(RenderError, match="f/new.yaml is a folder where stackkit writes a file"):
        write(NEW, tmp_path)
    assert tree(tmp_path) == before


def test_a_link_on_the_way_changes_nothing(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    write(OLD, out)
    (out / "f").symlink_to(elsewhere)
    before = tree(out)
    with pytest.raises(RenderError, match="is a symbolic link"):
        write(NEW, out)
    assert tree(out) == before and list(elsewhere.iterdir()) == []


def test_a_binary_file_where_a_file_goes_is_replaced(tmp_path: Path) -> None:
    write(OLD, tmp_path)
    (tmp_path / "b.yaml").write_bytes(b"\xff\xfe\x00binary")
    assert "b.yaml" in write(NEW, tmp_path).updated
    assert (tmp_path / "b.yaml").read_text() == "b2\n"


def test_a_concurrent_render_is_refused(tmp_path: Path) -> None:
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(RenderError, match="another `stackkit render` is writing"):
            write(NEW, tmp_path)
    finally:
        os.close(fd)


KILLER = """
import os, signal, sys
from pathlib import Path, PurePosixPath
from stackkit.output import write
calls = []
real = os.replace
def replace(a, b):
    calls.append(a)
    if len(calls) == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)
    real(a, b)
os.replace = replace
write({PurePosixPath(k): v for k, v in %r.items()}, Path(sys.argv[1]))
"""


@pytest.mark.parametrize("kill_at", [2, 4, 6, 7])
def test_a_killed_run_is_undone_by_the_next(tmp_path: Path, kill_at: int) -> None:
    out = tmp_path / "out"
    write(OLD, out)
    (out / "README.md").write_text("mine\n")
    before = tree(out)
    script = KILLER % {str(k): v for k, v in NEW.items()}
    proc = subprocess.run(
        [sys.executable, "-c", script, str(out), str(kill_at)], cwd=ROOT, capture_output=True
    )
    assert proc.returncode == -9, proc.stderr
    assert leftovers(out), "the killed run left its staging folder"
    assert transaction.recover(out) is True
    assert tree(out) == before
    # And a render after a kill says so, then writes the new output.
    subprocess.run([sys.executable, "-c", script, str(out), str(kill_at)], cwd=ROOT)
    changes = write(NEW, out)
    assert changes.recovered and leftovers(out) == []
    assert {k: v for k, v in tree(out).items() if k.endswith(".yaml")} == {
        str(k): v.encode() for k, v in NEW.items()
    }


def test_leftovers_of_killed_runs_are_removed(tmp_path: Path) -> None:
    write(OLD, tmp_path)
    stale = tmp_path / f"{STAGING_PREFIX}dead"
    (stale / "new").mkdir(parents=True)
    (stale / "new" / "b.yaml").write_text("half\n")
    assert write(NEW, tmp_path).recovered
    assert leftovers(tmp_path) == []


def test_a_planted_journal_cannot_reach_outside(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep\n")
    out = tmp_path / "out"
    write(OLD, out)
    planted = out / f"{STAGING_PREFIX}evil"
    (planted / "old").mkdir(parents=True)
    (planted / "journal.json").write_text(
        '{"steps": [{"op": "put", "path": "../victim.txt", "existed": false, "new": "x"},'
        f' {{"op": "put", "path": "{victim}", "existed": false, "new": "x"}}], "dirs": [".."]}}'
    )
    write(NEW, out)
    assert victim.read_text() == "keep\n"


def test_old_leftovers_beside_the_output_are_removed_once_stale(tmp_path: Path) -> None:
    """Earlier versions staged beside the output; a killed run left that folder there."""
    out = tmp_path / "out"
    old = tmp_path / f"{STAGING_PREFIX}ab12cd_9"
    (old / "otelcol").mkdir(parents=True)
    (old / "otelcol" / "config.yaml").write_text("x\n")
    (old / MANIFEST).write_text("otelcol/config.yaml\n")
    fresh = tmp_path / f"{STAGING_PREFIX}zz99yy88"  # may belong to a run still going
    fresh.mkdir()
    (fresh / MANIFEST).write_text("")
    linked = tmp_path / f"{STAGING_PREFIX}linked00"  # not something stackkit made
    linked.mkdir()
    (linked / MANIFEST).write_text("")
    (linked / "l").symlink_to(tmp_path)
    hour_ago = os.stat(old).st_mtime - 7200
    for folder in (old, linked):
        os.utime(folder, (hour_ago, hour_ago))
    write(NEW, out)
    assert not old.exists()
    assert fresh.exists() and linked.exists()


# --- what stackkit did not write, and -o values it must not write into (issue 17) -----------


def test_a_file_stackkit_did_not_write_is_never_overwritten(tmp_path: Path) -> None:
    write(OLD, tmp_path)
    (tmp_path / "f").mkdir()
    (tmp_path / "f/new.yaml").write_text("hand-written\n")  # NEW produces it; OLD did not
    before = tree(tmp_path)
    with pytest.raises(RenderError) as info:
        write(NEW, tmp_path)
    assert str(info.value) == (
        f"{tmp_path} already holds f/new.yaml, which stackkit did not write (not in "
        ".stackkit-files) and would overwrite; stackkit never touches files it did not write: "
        "move them away (or delete them) and render again, or choose another -o. Nothing was "
        "written"
    )
    assert tree(tmp_path) == before and leftovers(tmp_path) == []


def test_many_foreign_files_are_counted(tmp_path: Path) -> None:
    files = {PurePosixPath(f"x{i}.yaml"): "new\n" for i in range(8)}
    for rel in files:
        (tmp_path / rel).write_text("mine\n")
    with pytest.raises(RenderError, match=r"x4\.yaml and 3 more, which stackkit did not write"):
        write(files, tmp_path)
    assert all((tmp_path / rel).read_text() == "mine\n" for rel in files)


def test_a_file_already_as_stackkit_would_write_it_is_taken_over(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("b2\n")
    changes = write(NEW, tmp_path)
    assert "b.yaml" not in changes.updated + changes.created
    assert "b.yaml" in (tmp_path / MANIFEST).read_text()


def test_a_hand_written_collector_config_through_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reported case: `render` replaced it and said "created"."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out/otelcol").mkdir(parents=True)
    (tmp_path / "out/otelcol/config.yaml").write_text("# mine\n")
    result = CliRunner().invoke(app, ["render", "-o", "out"])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(
        f"error: {tmp_path}/out already holds otelcol/config.yaml, which stackkit did not write"
    )
    assert "created" not in result.stderr
    assert tree(tmp_path / "out") == {"otelcol": "dir", "otelcol/config.yaml": b"# mine\n"}


def _render(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["render", *args])
    assert "Traceback" not in result.output and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    return result.exit_code, result.stderr


@pytest.mark.parametrize("value", ["", " ", "\t"])
def test_an_empty_out_flag_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """`-o ''` wrote into the current folder."""
    monkeypatch.chdir(tmp_path)
    code, err = _render(["-o", value])
    assert (code, err) == (
        2,
        "error: invalid configuration: -o: empty: name the output folder (-o . for the "
        "current one)\n",
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", ["out\n", "a\nb", "out\r", "o\x1b[31mut"])
def test_an_out_flag_with_control_characters_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = _render(["-o", value])
    assert code == 2 and err.startswith("error: invalid configuration: -o: ")
    assert "contains control characters" in err
    assert list(tmp_path.iterdir()) == []


def test_a_huge_out_flag_is_one_short_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = _render(["-o", "x" * 5000])
    assert code == 1 and err.endswith(": File name too long; choose another -o\n")
    assert len(err) < 200 and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["it's", 'say "hi"', "`id`", "$HOME", "a b", "ünï €"])
def test_odd_but_legal_folder_names_get_exactly_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["render", "-o", name])
    assert result.exit_code == 0, result.output
    assert [p.name for p in tmp_path.iterdir()] == [name]
    assert (tmp_path / name / "otelcol/config.yaml").is_file()


def test_the_filesystem_root_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """`-o /` as root wrote into `/`."""
    monkeypatch.setattr(transaction, "apply", lambda *a: pytest.fail("wrote into /"))
    monkeypatch.setattr(os, "mkdir", lambda *a, **k: pytest.fail("made a folder"))
    code, err = _render(["-o", "/"])
    assert (code, err) == (
        1,
        "error: -o / is the root of the filesystem; choose a folder of its own, e.g. -o out\n",
    )
    with pytest.raises(RenderError, match="is the root of the filesystem"):
        write(NEW, Path("/tmp/../"))


@pytest.mark.parametrize("via", ["link", "link/sub", "chain"])
def test_a_dangling_link_is_not_followed_to_create_its_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    """A dangling symlink as -o created its target, wherever it pointed."""
    outside = tmp_path / "outside"
    outside.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    if via == "chain":
        (work / "hop").symlink_to(outside / "target")
        (work / "link").symlink_to(work / "hop")
    else:
        (work / "link").symlink_to(outside / "target")
    before = tree(tmp_path)
    code, err = _render(["-o", "link" if via == "chain" else via])
    assert code == 1
    assert f"{work}/link is a symbolic link to " in err
    assert "which does not exist; stackkit does not create a link's target" in err
    assert tree(tmp_path) == before and list(outside.iterdir()) == []


def test_a_link_to_an_existing_folder_is_fine(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    write(NEW, tmp_path / "link")
    assert (tmp_path / "real/f/new.yaml").read_text() == "new\n"
