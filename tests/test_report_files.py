"""Report files are safe: 0600 in a 0700 directory we create, never through a
planted symbolic link (at the file name, as the directory or above it), never
outside log_dir whatever the service name, and never half-written under a
final name, even when the process is killed mid-write."""

from __future__ import annotations

import errno
import os
import re
import signal
import stat
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import wait_for_reports, without_about
from gurumeditation.sinks import (
    FILE_MARKER,
    LogDirSink,
    StderrSink,
    deliver,
    open_dir,
    resolve_log_dir,
    safe_service_name,
)
from helpers import script

OTHER_UID = 4242
needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="planting a link owned by another user needs root"
)


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def plant_foreign_symlink(target: Path, link: Path) -> None:
    link.symlink_to(target)
    os.lchown(link, OTHER_UID, OTHER_UID)


def entries(path: Path) -> list:  # type: ignore[type-arg]
    return sorted(p.name for p in path.iterdir())


def test_created_dirs_0700_and_files_0600_whatever_the_umask(tmp_path: Path) -> None:
    for mask in (0, 0o022, 0o077):
        old = os.umask(mask)
        try:
            log_dir = tmp_path / f"m{mask:o}" / "a" / "b"
            paths = LogDirSink(str(log_dir), "svc").write({"": "text", ".json": "{}"})
        finally:
            os.umask(old)
        assert stat.S_IMODE(log_dir.stat().st_mode) == 0o700
        assert stat.S_IMODE(log_dir.parent.stat().st_mode) == 0o700  # created by us too
        assert len(paths) == 2
        for p in paths:
            assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
        assert Path(paths[0]).read_text() == "text"
        assert paths[1] == paths[0] + ".json"
        assert entries(log_dir) == sorted(Path(p).name for p in paths)  # no temp left


def test_existing_dir_keeps_its_mode(tmp_path: Path, umask: None) -> None:
    log_dir = tmp_path / "logs"
    log_dir.mkdir(mode=0o755)
    os.chmod(log_dir, 0o755)
    LogDirSink(str(log_dir), "svc").write({"": "x"})
    assert stat.S_IMODE(log_dir.stat().st_mode) == 0o755


def test_symlink_planted_at_the_file_name_is_never_followed(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious")
    sink = LogDirSink(str(log_dir), "svc")
    now = time.time()
    planted = []
    for delta in range(-1, 30):  # every name the next seconds could use
        base = sink.base_name(now + delta)
        for name in (base, base + ".json"):
            (log_dir / name).symlink_to(victim)
            planted.append(log_dir / name)
        (log_dir / (base + ".x")).symlink_to(tmp_path / "dangling")
    paths = sink.write({"": "report text", ".json": "{}"})
    assert victim.read_text() == "precious"
    assert all(p.is_symlink() for p in planted)
    assert Path(paths[0]).name.endswith(".1")  # the next free name
    assert not Path(paths[0]).is_symlink()
    assert Path(paths[0]).read_text() == "report text"


@needs_root
def test_foreign_symlink_as_log_dir_is_refused(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "attacker_dir"
    target.mkdir()
    log_dir = tmp_path / "logs"
    plant_foreign_symlink(target, log_dir)
    with pytest.raises(PermissionError, match="refusing to follow"):
        LogDirSink(str(log_dir), "svc").write({"": "secret report"})
    assert entries(target) == []
    # through deliver(): the report goes to stderr with one line saying why
    where = deliver(LogDirSink(str(log_dir), "svc"), {"": "the report"})
    assert where == ["<stderr>"]
    err = capsys.readouterr().err
    assert "refusing to follow the symbolic link" in err and "the report" in err
    assert entries(target) == []


@needs_root
def test_foreign_symlink_above_log_dir_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "attacker_dir"
    target.mkdir()
    plant_foreign_symlink(target, tmp_path / "var")
    with pytest.raises(PermissionError):
        LogDirSink(str(tmp_path / "var" / "log" / "svc"), "svc").write({"": "x"})
    assert entries(target) == []  # not even the missing directories were made


def test_own_symlink_as_log_dir_is_followed(tmp_path: Path) -> None:
    target = tmp_path / "real_logs"
    target.mkdir()
    (tmp_path / "logs").symlink_to(target)  # made by this user: an admin's choice
    (tmp_path / "rel").symlink_to("real_logs/../real_logs")
    assert resolve_log_dir(str(tmp_path / "logs")) == str(target)
    assert resolve_log_dir(str(tmp_path / "rel" / "new")) == str(target / "new")
    LogDirSink(str(tmp_path / "logs"), "svc").write({"": "x"})
    assert len(entries(target)) == 1


def test_symlink_swapped_in_after_the_check_is_not_followed(tmp_path: Path) -> None:
    """open_dir walks the resolved path component by component without following
    links: a directory replaced by a link after resolve_log_dir looked is refused."""
    real = tmp_path / "var" / "log"
    real.mkdir(parents=True)
    resolved = resolve_log_dir(str(real))
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "log").mkdir(parents=True)
    (tmp_path / "var").rename(tmp_path / "var.old")
    (tmp_path / "var").symlink_to(elsewhere)
    with pytest.raises(OSError) as info:
        os.close(open_dir(resolved))
    assert info.value.errno in (errno.ELOOP, errno.ENOTDIR)


def test_symlink_loop_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(OSError) as info:
        LogDirSink(str(tmp_path / "a"), "svc").write({"": "x"})
    assert info.value.errno == errno.ELOOP


def test_log_dir_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(NotADirectoryError):
        LogDirSink(str(tmp_path / "f"), "svc").write({"": "x"})


@pytest.mark.parametrize(
    "name",
    ["../x", "../../etc/passwd", "a/b", "/abs/path", "x\0y", "..", ".", "", ".hidden", "ü" * 40,
     "n" * 5000, "a\nb", "-rf"],
)  # fmt: skip
def test_service_name_never_leaves_log_dir(tmp_path: Path, name: str) -> None:
    log_dir = tmp_path / "logs"
    paths = LogDirSink(str(log_dir), name).write({"": "x", ".json": "{}"})
    assert len(paths) == 2
    for p in paths:
        assert os.path.dirname(p) == str(log_dir)
        base = os.path.basename(p)
        assert "/" not in base and "\0" not in base and "\n" not in base
        assert not base.startswith(".")
        assert FILE_MARKER in base
        assert len(base.encode()) < 255
    assert sorted(entries(tmp_path)) == ["logs"]  # nothing written beside it
    safe = safe_service_name(name)
    assert safe and len(safe) <= 100 and safe not in (".", "..")


def test_stderr_sink_returns_marker(capfd) -> None:  # type: ignore[no-untyped-def]
    assert StderrSink().write({"": "hello"}) == ["<stderr>"]


# -- a crash mid-write leaves no half report under a final name ----------------

SLOW_WRITER = script("slow_writer")


def test_kill_during_write_leaves_no_half_report(service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    log_dir = tmp_path / "logs"
    svc = service(SLOW_WRITER, args=[str(log_dir), "slow"], name="slow")
    svc.signal()
    deadline = time.monotonic() + 30
    temp = None
    while time.monotonic() < deadline:
        temps = [p for p in log_dir.glob(".crashy.*.tmp")] if log_dir.is_dir() else []
        if temps and temps[0].stat().st_size > 8192:
            temp = temps[0]
            break
        time.sleep(0.02)
    assert temp is not None, "the report never started being written"
    os.kill(svc.pid, signal.SIGKILL)
    svc.proc.wait(timeout=10)
    left = entries(log_dir)
    assert left == [temp.name], left  # only the hidden temporary file, no final name
    assert temp.stat().st_size < 2_000_000
    assert stat.S_IMODE(temp.stat().st_mode) == 0o600

    # the next report of that service (another process) sweeps the dead one's temp
    svc2 = service(SLOW_WRITER, args=[str(log_dir), "fast"], name="fast")
    svc2.signal()
    files = wait_for_reports(log_dir, 1, timeout=60)
    assert len(files) == 1
    assert files[0].stat().st_size > 2_000_000
    assert without_about(files[0].read_text()).rstrip().endswith("x" * 1000)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and temp.exists():
        time.sleep(0.05)
    assert not temp.exists()
    assert svc2.alive()


def test_python_version() -> None:
    assert sys.version_info >= (3, 9)


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702])
def test_log_dir_others_may_write_is_refused(tmp_path: Path, mode: int, capfd: Any) -> None:
    """Another user could swap or fill reports there: stderr instead, saying why."""
    log_dir = tmp_path / "shared"
    log_dir.mkdir()
    os.chmod(log_dir, mode)
    with pytest.raises(PermissionError, match="can be written by other users"):
        LogDirSink(str(log_dir), "svc").write({"": "x"})
    assert deliver(LogDirSink(str(log_dir), "svc"), {"": "the report"}) == ["<stderr>"]
    err = capfd.readouterr().err
    assert f"cannot write the report to {log_dir}" in err and "other users" in err
    assert "the report" in err and os.listdir(log_dir) == []


def test_sticky_log_dir_of_ours_is_accepted(tmp_path: Path) -> None:
    log_dir = tmp_path / "sticky"
    log_dir.mkdir()
    os.chmod(log_dir, 0o1777)
    (path,) = LogDirSink(str(log_dir), "svc").write({"": "x"})
    assert Path(path).read_text() == "x"


def test_timestamp_format_names_the_file(tmp_path: Path) -> None:
    (path,) = LogDirSink(str(tmp_path), "svc", timestamp_fmt="%Y-%m-%d").write({"": "x"})
    assert re.fullmatch(r"svc_gurumeditation_\d{4}-\d\d-\d\d", Path(path).name)


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path) -> None:
    from gurumeditation.sinks import atomic_write

    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        atomic_write(fd, "entry.json", b"{}")
        assert stat.S_IMODE(os.stat(tmp_path / "entry.json").st_mode) == 0o600
        with pytest.raises(FileExistsError):
            atomic_write(fd, "entry.json", b"other")  # never replaced without replace=True
        atomic_write(fd, "entry.json", b"new", replace=True)
        assert (tmp_path / "entry.json").read_bytes() == b"new"
        os.symlink(tmp_path / "elsewhere", tmp_path / "link")
        with pytest.raises(FileExistsError):
            atomic_write(fd, "link", b"x")  # a symlink there is not followed
        assert not (tmp_path / "elsewhere").exists()
        with pytest.raises(ValueError):
            atomic_write(fd, "../escape", b"x")
    finally:
        os.close(fd)
    assert sorted(os.listdir(tmp_path)) == ["entry.json", "link"]
