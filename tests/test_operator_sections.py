"""Processes (resources), Open Files, Python Runtime, Packages, Memory and GC:
real subprocesses with known files, sockets, pipes, packages and tracemalloc
on; each thing shows up in the report, and no section asks a resolver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, List

import pytest

from conftest import wait_for_reports
from gurumeditation.options import ReportOptions
from gurumeditation.render import json as json_render
from gurumeditation.render import render
from gurumeditation.report import Context
from gurumeditation.sections import memory, open_files, processes
from helpers import script, section_data, text_lines

KNOWN = """
import faulthandler, gc, json, os, socket, sys, tracemalloc

# --- things the report must show --------------------------------------------
known = open(os.path.join(os.getcwd(), "known-file.txt"), "w")
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind(("127.0.0.1", 0))
srv.listen()
cli = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
cli.connect(srv.getsockname())
conn, _ = srv.accept()
pipe_r, pipe_w = os.pipe()
unix_srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
unix_srv.bind(os.path.join(os.getcwd(), "known.sock"))
unix_srv.listen()
pair = socket.socketpair()
# secrets where an application might put them: a path, a sys.path entry
secret_file = open(os.path.join(os.getcwd(), "db password=Hunter2Secret.txt"), "w")
sys.path.append("https://svc:Sup3rSecretPw@pypi.invalid/simple")
import jsonschema  # an installed distribution (with an extension module dependency)
import mylocalmod  # a module of no distribution
tracemalloc.start()
ALLOC_LINE = sys._getframe().f_lineno + 1
blob = [bytearray(20000) for _ in range(300)]
faulthandler.enable()
sys.setswitchinterval(0.0123)
sys.setrecursionlimit(2345)
gc.set_threshold(901, 12, 13)
gc.garbage.append(["kept for the report"])

# --- a resolver that records every call --------------------------------------
calls = []
def trap(name):
    def resolver(*args, **kwargs):
        calls.append(name)
        raise OSError(f"resolver {name} called while reporting")
    return resolver
for name in ("getaddrinfo", "gethostbyaddr", "getnameinfo", "gethostbyname",
             "gethostbyname_ex", "getfqdn"):
    setattr(socket, name, trap(name))

from gurumeditation import GuruMeditation
from gurumeditation.render import render
doc = GuruMeditation("1.0").report()
# with a default socket timeout the sockets are looked up in /proc/net instead
socket.setdefaulttimeout(3.0)
doc_tables = GuruMeditation("1.0").report()
socket.setdefaulttimeout(None)
blocking = [s.getblocking() for s in (srv, cli, conn, unix_srv)]
facts = {
    "pid": os.getpid(),
    "file_fd": known.fileno(), "file": known.name,
    "srv_fd": srv.fileno(), "srv": "%s:%d" % srv.getsockname(),
    "cli_fd": cli.fileno(), "cli": "%s:%d" % cli.getsockname(),
    "conn_fd": conn.fileno(),
    "unix_fd": unix_srv.fileno(), "unix": unix_srv.getsockname(),
    "pair_fds": [s.fileno() for s in pair],
    "blocking": blocking,
    "pipe": [pipe_r, pipe_w],
    "alloc": [__file__, ALLOC_LINE],
    "nofile": list(__import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE)),
}
print(json.dumps({"doc": doc, "doc_tables": doc_tables, "text": render(doc, "text"), "calls": calls, "facts": facts}))
"""


def run_script(tmp_path: Path, code: str, files: Dict[str, str]) -> Dict[str, Any]:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    script = tmp_path / "known.py"
    script.write_text(textwrap.dedent(code))
    out = subprocess.run(
        [sys.executable, str(script)],
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    result: Dict[str, Any] = json.loads(out.stdout)
    return result


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    tmp = tmp_path_factory.mktemp("known")
    return run_script(tmp, KNOWN, {"mylocalmod.py": "VALUE = 1\n"})


def test_no_section_asks_a_resolver(known: Dict[str, Any]) -> None:
    assert known["calls"] == []
    # and every section of the report was produced
    ids = [s["id"] for s in known["doc"]["sections"]]
    for sid in ("processes", "open_files", "python_runtime", "packages", "memory"):
        assert sid in ids
    assert [s["id"] for s in known["doc"]["sections"] if "error" in s] == []


def test_section_order(known: Dict[str, Any]) -> None:
    ids = [s["id"] for s in known["doc"]["sections"]]
    ours = [ids.index(s) for s in ("open_files", "python_runtime", "packages", "memory")]
    assert ours == sorted(ours)
    assert ids.index("configuration") < ours[0] if "configuration" in ids else True


def test_open_files_lists_file_sockets_and_pipe(known: Dict[str, Any]) -> None:
    data = section_data(known["doc"], "open_files")
    facts = known["facts"]
    by_fd = {e["fd"]: e for e in data["fds"]}
    assert by_fd[facts["file_fd"]]["kind"] == "file"
    assert by_fd[facts["file_fd"]]["target"] == facts["file"]
    listening = by_fd[facts["srv_fd"]]
    assert (listening["kind"], listening["protocol"], listening["state"]) == (
        "socket",
        "tcp",
        "LISTEN",
    )
    assert listening["local"] == facts["srv"] and listening["peer"] is None
    client = by_fd[facts["cli_fd"]]
    assert (client["protocol"], client["state"]) == ("tcp", "ESTABLISHED")
    assert client["local"] == facts["cli"] and client["peer"] == facts["srv"]
    accepted = by_fd[facts["conn_fd"]]
    assert accepted["local"] == facts["srv"] and accepted["peer"] == facts["cli"]
    unix = by_fd[facts["unix_fd"]]
    assert (unix["protocol"], unix["state"], unix["local"]) == ("unix", "LISTEN", facts["unix"])
    for fd in facts["pair_fds"]:
        assert (by_fd[fd]["protocol"], by_fd[fd]["state"]) == ("unix", "CONNECTED")
    r, w = facts["pipe"]
    assert by_fd[r]["kind"] == by_fd[w]["kind"] == "pipe"
    assert by_fd[r]["target"] == by_fd[w]["target"]  # both ends of one pipe
    assert data["total"] == len(data["fds"]) and data["more"] == 0
    assert sum(data["by_kind"].values()) == data["total"]
    assert data["by_kind"]["socket"] >= 3 and data["by_kind"]["pipe"] >= 2
    # the classic text shows it the same way
    body = text_lines(known["text"], "Open Files")
    assert body[0].startswith(f"{data['total']} open file descriptors: ")
    assert any(
        line.startswith(f"fd {facts['cli_fd']} ")
        and f"tcp ESTABLISHED {facts['cli']} → {facts['srv']}" in line
        for line in body
    )
    assert any(f"tcp LISTEN {facts['srv']}" in line for line in body)


def test_secrets_in_paths_are_masked(known: Dict[str, Any]) -> None:
    everything = json.dumps(known["doc"]) + known["text"]
    assert "Hunter2Secret" not in everything
    assert "Sup3rSecretPw" not in everything
    files = section_data(known["doc"], "open_files")["fds"]
    assert any(e["target"].endswith("db password=***") for e in files)
    path = section_data(known["doc"], "python_runtime")["path"]
    assert "https://svc:***@pypi.invalid/simple" in path


def test_socket_tables_agree_with_asking_the_sockets(known: Dict[str, Any]) -> None:
    asked = section_data(known["doc"], "open_files")
    tables = section_data(known["doc_tables"], "open_files")
    assert tables["notes"] == []
    sockets = [e for e in asked["fds"] if e["kind"] == "socket"]
    assert len(sockets) >= 6
    by_fd = {e["fd"]: e for e in tables["fds"]}
    for entry in sockets:
        assert by_fd[entry["fd"]] == entry
    # asking never changed a socket's blocking mode
    assert known["facts"]["blocking"] == [True, True, True, True]


def test_processes_shows_this_process_resources(known: Dict[str, Any]) -> None:
    data = section_data(known["doc"], "processes")
    res = data["resources"]
    assert res["rss_bytes"] > 1_000_000 and res["vms_bytes"] >= res["rss_bytes"]
    assert res["threads"] >= 1 and res["cpu_user_s"] >= 0 and res["uptime_s"] >= 0
    assert res["nice"] == os.nice(0)  # the child inherits ours
    soft, hard = known["facts"]["nofile"]
    assert res["limits"]["open_files"] == {"soft": soft, "hard": hard}
    assert set(res["limits"]) >= {"open_files", "address_space", "processes", "core"}
    body = text_lines(known["text"], "Processes")
    assert body[0].startswith(f"Process {known['facts']['pid']} (under ")  # classic line first
    assert any(line.startswith("  memory: rss ") for line in body)
    assert any(line.startswith("  limits: open files ") for line in body)


def test_python_runtime(known: Dict[str, Any]) -> None:
    data = section_data(known["doc"], "python_runtime")
    assert data["implementation"] == sys.implementation.name
    assert data["version"] == sys.version.split()[0]
    assert data["switch_interval_s"] == pytest.approx(0.0123)
    assert data["recursion_limit"] == 2345
    assert data["faulthandler"] is True and data["tracemalloc"] is True
    assert data["asyncio_debug"] is None or isinstance(data["asyncio_debug"], bool)
    assert data["flags"]["optimize"] == sys.flags.optimize
    assert data["path"][0] == str(Path(known["facts"]["file"]).parent)
    assert data["gil_enabled"] is True or data["free_threading_build"] is True
    body = text_lines(known["text"], "Python Runtime")
    assert "recursion limit = 2345" in body and "faulthandler = on" in body


def test_packages(known: Dict[str, Any]) -> None:
    data = section_data(known["doc"], "packages")
    dists = {d["name"].lower(): d for d in data["distributions"]}
    from importlib.metadata import version

    assert dists["jsonschema"]["version"] == version("jsonschema")
    assert dists["jsonschema"]["modules"] == ["jsonschema"]
    assert dists["gurumeditation"]["modules"] == ["gurumeditation"]  # an editable install
    assert "rpds-py" in dists  # a dependency jsonschema loaded
    assert [u["module"] for u in data["unpackaged"]] == ["mylocalmod"]
    ext = {e["module"]: e["file"] for e in data["extensions"]}
    rpds_ext = [m for m in ext if m.startswith("rpds")]
    assert rpds_ext and ext[rpds_ext[0]].endswith(".so")
    body = text_lines(known["text"], "Packages")
    assert f"jsonschema {version('jsonschema')}" in body


def test_memory_and_tracemalloc(known: Dict[str, Any]) -> None:
    data = section_data(known["doc"], "memory")
    gc_data = data["gc"]
    assert gc_data["enabled"] is True  # though the report pauses it while it runs
    assert gc_data["thresholds"] == [901, 12, 13]
    # counts from before the report (which pauses the collector and allocates)
    assert 0 <= gc_data["counts"][0] <= 902
    assert gc_data["garbage"] == 1
    assert len(gc_data["generations"]) == len(gc_data["counts"])
    assert gc_data["tracked"][0] is not None and gc_data["tracked_total"] is None
    tm = data["tracemalloc"]
    assert tm["current_bytes"] >= 300 * 20000 and tm["peak_bytes"] >= tm["current_bytes"]
    file, line = known["facts"]["alloc"]
    top = tm["top"]
    assert len(top) <= 10
    assert top[0]["file"] == file and top[0]["line"] == line
    assert top[0]["size_bytes"] >= 300 * 20000 and top[0]["count"] >= 300
    body = text_lines(known["text"], "Memory and GC")
    assert f"  {file}:{line}: " in "\n".join(body)


def test_text_from_saved_json_is_the_same(known: Dict[str, Any]) -> None:
    doc = json_render.load(json.dumps(known["doc"]))
    assert render(doc, "text") == known["text"]


MANY_FDS = script("many_fds")


def test_five_thousand_fds_truncated_on_sigusr2(service, tmp_path: Path) -> None:
    import resource

    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] < 5200:
        pytest.skip("hard RLIMIT_NOFILE below 5200")
    log_dir = tmp_path / "reports"
    svc = service(MANY_FDS, args=[str(log_dir)])
    svc.signal()
    files = wait_for_reports(log_dir, 2, timeout=60)
    text = next(p for p in files if not p.name.endswith(".json")).read_text()
    doc = json_render.load(next(p for p in files if p.name.endswith(".json")).read_text())
    data = section_data(doc, "open_files")
    assert data["total"] >= 5001
    assert len(data["fds"]) == 200  # the default max_fds
    assert data["more"] == data["total"] - 200
    assert data["by_kind"]["char device"] >= 5001  # counted past the listed ones
    body = text_lines(text, "Open Files")
    assert sum(1 for line in body if line.startswith("fd ")) == 200
    assert f"... and {data['more']} more" in body
    # signal handled in the main thread while its loop runs: the loop's debug mode
    assert section_data(doc, "python_runtime")["asyncio_debug"] is True
    # setup_autorun indexed the packages ahead of the report
    assert section_data(doc, "packages")["index"]["built_during_report"] is False
    assert svc.alive()


def test_max_fds_and_gc_scan_options() -> None:
    data = open_files.collect(Context(options=ReportOptions(max_fds=2)))
    assert len(data["fds"]) == 2 and data["more"] == data["total"] - 2
    full = memory.collect(Context(options=ReportOptions(gc_scan=True)))["gc"]
    assert full["tracked_total"] is not None and None not in full["tracked"]
    assert full["tracked_total"] == sum(full["tracked"])
    # the same options through the facade
    from gurumeditation import GuruMeditation

    doc = GuruMeditation("1.0", max_fds=3, gc_scan=True).report()
    assert len(section_data(doc, "open_files")["fds"]) == 3
    assert section_data(doc, "memory")["gc"]["tracked_total"] is not None
    assert section_data(GuruMeditation("1.0").report(), "memory")["gc"]["tracked_total"] is None


def test_unreadable_proc_gives_notes_not_a_lost_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a /proc where the descriptors can be read but not the socket tables
    fake = tmp_path / "proc"
    (fake / "self").mkdir(parents=True)
    (fake / "self" / "fd").symlink_to("/proc/self/fd")
    monkeypatch.setattr(open_files, "PROC", str(fake))
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        socket.setdefaulttimeout(2.0)  # sockets then looked up in /proc/net
        try:
            data = open_files.collect(Context())
        finally:
            socket.setdefaulttimeout(None)
        entry = next(e for e in data["fds"] if e["fd"] == sock.fileno())
    assert entry["kind"] == "socket" and entry["protocol"] is None
    assert any("/proc/net/tcp unreadable" in n for n in data["notes"])
    text = "\n".join(render_body("open_files", data))
    assert "(protocol unknown)" in text and "note: /proc/net/tcp unreadable" in text
    # no /proc at all (and no psutil): a note, still a section
    monkeypatch.setattr(open_files, "PROC", str(tmp_path / "missing"))
    monkeypatch.delitem(sys.modules, "psutil", raising=False)
    data = open_files.collect(Context())
    assert data["fds"] == [] and "psutil is not loaded" in data["notes"][0]
    monkeypatch.setattr(processes, "CGROUP_ROOT", str(tmp_path / "missing"))
    assert processes.collect(Context())["resources"]["cgroup"] is None


def render_body(section_id: str, data: Dict[str, Any]) -> List[str]:
    from gurumeditation.render.text import BODY

    return BODY[section_id](data)


def test_without_proc_psutil_is_used_when_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    psutil = pytest.importorskip("psutil")  # the application loaded it
    monkeypatch.setitem(sys.modules, "psutil", psutil)
    for module in (open_files, processes):
        monkeypatch.setattr(module, "PROC", str(tmp_path / "no-proc"))
    import socket

    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        fd, (host, port) = srv.fileno(), srv.getsockname()
        data = open_files.collect(Context())
        procs = processes.collect(Context())
    entry = next(e for e in data["fds"] if e["fd"] == fd)
    assert (entry["protocol"], entry["state"], entry["local"]) == (
        "tcp",
        "LISTEN",
        f"{host}:{port}",
    )
    res = procs["resources"]
    assert res["rss_bytes"] > 0 and res["threads"] >= 1 and res["cpu_user_s"] >= 0
    assert procs["process"]["pid"] == os.getpid()
    assert procs["process"]["user"] == processes.user_names().get(os.getuid(), str(os.getuid()))


def test_children_from_children_files_and_from_a_full_scan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        quick = processes.collect(Context())["process"]["children"]
        assert child.pid in [c["pid"] for c in quick]

        def no_children_files(pid: int) -> List[int]:
            raise FileNotFoundError(f"/proc/{pid}/task/{pid}/children")  # older kernel

        monkeypatch.setattr(processes, "direct_children", no_children_files)
        scanned = processes.collect(Context())["process"]["children"]
        assert [c["pid"] for c in scanned] == [c["pid"] for c in quick]
    finally:
        child.kill()
        child.wait()


def test_record_tops_reads_every_kind_of_record_line() -> None:
    from gurumeditation.sections import distributions as packages

    record = "\n".join(
        [
            "alpha/__init__.py,sha256=x,10",
            "alpha/sub/mod.py,sha256=x,10",
            "alpha/sub/data.json,sha256=x,10",
            "beta.py,sha256=x,10",
            '"gamma/odd,name.py",sha256=x,10',
            f"_delta{packages._EXTENSION_SUFFIXES[0]},sha256=x,10",
            "__pycache__/beta.cpython-311.pyc,,",
            "alpha/zeta.py,sha256=x,10",  # alpha again, after other names
            "dist-1.0.dist-info/RECORD,,",
            "dist-1.0.data/scripts/tool,sha256=x,10",
            "../../../bin/tool,sha256=x,10",
            "_dist_editable.pth,sha256=x,10",
            "README.txt,sha256=x,10",
        ]
    )
    tops, pths = packages.record_tops(record)
    assert tops == {"alpha", "beta", "gamma", "_delta"}
    assert pths == ["_dist_editable.pth"]


def test_packages_sees_modules_loaded_or_replaced_after_setup(monkeypatch) -> None:
    """The loaded modules are sorted out once (at setup) and remembered: a
    module loaded since, or replaced under the same name, is sorted anew, and
    one gone from ``sys.modules`` is no longer shown."""
    import types

    from gurumeditation.sections import distributions as packages

    packages.prepare()
    suffix = packages._EXTENSION_SUFFIXES[0]
    plain = types.ModuleType("gm_probe_late")
    plain.__file__ = "/nowhere/gm_probe_late.py"
    monkeypatch.setitem(sys.modules, "gm_probe_late", plain)
    data = packages.collect(Context())
    assert {"module": "gm_probe_late", "file": plain.__file__} in data["unpackaged"]
    assert "gm_probe_late" not in [e["module"] for e in data["extensions"]]

    native = types.ModuleType("gm_probe_late")
    native.__file__ = "/nowhere/gm_probe_late" + suffix
    monkeypatch.setitem(sys.modules, "gm_probe_late", native)
    data = packages.collect(Context())
    assert {"module": "gm_probe_late", "file": native.__file__} in data["extensions"]

    monkeypatch.delitem(sys.modules, "gm_probe_late")
    data = packages.collect(Context())
    shown = [u["module"] for u in data["unpackaged"]] + [e["module"] for e in data["extensions"]]
    assert "gm_probe_late" not in shown


def test_packages_under_eventlet_ignores_its_module_aliases(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(script("eventlet_patched_report"))],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    data = section_data(json.loads(out.stdout), "packages")
    assert "eventlet" in {d["name"] for d in data["distributions"]}
    names = [u["module"] for u in data["unpackaged"]] + [e["module"] for e in data["extensions"]]
    assert not [n for n in names if n.startswith("__")]
    assert (
        "select" in [e["module"] for e in data["extensions"]]
        or "select" in sys.builtin_module_names
    )


@pytest.mark.parametrize(
    "cgroup_file, files, expected",
    [
        (  # cgroup v2, a limited pod
            "0::/kubepods/pod1\n",
            {"kubepods/pod1/memory.max": "536870912\n", "kubepods/pod1/memory.current": "1234\n"},
            {"version": 2, "path": "/kubepods/pod1", "limit": 536870912, "usage": 1234},
        ),
        (  # cgroup v2 inside a cgroup namespace: our cgroup is the mount's root
            "0::/\n",
            {"memory.max": "max\n", "memory.current": "99\n"},
            {"version": 2, "path": "/", "limit": None, "usage": 99},
        ),
        (  # cgroup v1 (hybrid), the kernel's "no limit"
            "12:pids:/docker/abc\n4:memory:/docker/abc\n0::/\n",
            {
                "memory/docker/abc/memory.limit_in_bytes": "9223372036854771712\n",
                "memory/docker/abc/memory.usage_in_bytes": "4096\n",
            },
            {"version": 1, "path": "/docker/abc", "limit": None, "usage": 4096},
        ),
        (  # cgroup v1 seen from inside the container: files at the root
            "4:cpu,memory:/docker/abc\n",
            {
                "memory/memory.limit_in_bytes": "1073741824\n",
                "memory/memory.usage_in_bytes": "2048\n",
            },
            {"version": 1, "path": "/docker/abc", "limit": 1073741824, "usage": 2048},
        ),
        ("0::/user.slice\n", {}, None),  # no memory files: nothing to show
    ],
)
def test_cgroup_memory(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cgroup_file: str,
    files: Dict[str, str],
    expected: Any,
) -> None:
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "cgroup").write_text(cgroup_file)
    root = tmp_path / "cgroup"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    monkeypatch.setattr(processes, "PROC", str(proc))
    monkeypatch.setattr(processes, "CGROUP_ROOT", str(root))
    notes: List[str] = []
    found = processes.cgroup_memory(notes)
    if expected is None:
        assert found is None
    else:
        assert found == {
            "version": expected["version"],
            "path": expected["path"],
            "memory_limit_bytes": expected["limit"],
            "memory_usage_bytes": expected["usage"],
        }
    assert notes == []
