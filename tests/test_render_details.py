"""The details of the rendered report, on small literal documents (no process):
stacks in HTML mark the application's frames and fold library and
standard-library ones (told by path alone), a task's awaits and awaiters and
the process's resources read in HTML as in text, grouped task blocks keep
``awaited by``, and ``diff`` names units as the text report does.  Each test
is one rule, said in its docstring."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any, Dict, List, Optional, Tuple

from gurumeditation import diff
from gurumeditation.render import html, text
from gurumeditation.render.common import frame_kind, parked_at
from gurumeditation.render.facts import resources_lines

STDLIB = "/opt/py/lib/python3.12"
SITE = "/srv/venv/lib/python3.12/site-packages"


# -- a small DOM of the page, to ask it what a browser would show --------------

VOID = {"br", "meta", "input", "img", "link", "hr"}


class Node:
    def __init__(self, tag: str, attrs: Dict[str, Optional[str]], parent: Optional[Node]) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: List[Any] = []  # Node or str

    def classes(self) -> List[str]:
        return (self.attrs.get("class") or "").split()

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def all(self, tag: str = "", cls: str = "") -> List[Node]:
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if (not tag or child.tag == tag) and (not cls or cls in child.classes()):
                    found.append(child)
                found += child.all(tag, cls)
        return found

    def closed_details_above(self) -> List[Node]:
        """The ``<details>`` elements around this node that are not open."""
        closed, node = [], self.parent
        while node is not None:
            if node.tag == "details" and "open" not in node.attrs:
                closed.append(node)
            node = node.parent
        return closed


class Tree(HTMLParser):
    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, None)
        self.at = self.root
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
        node = Node(tag, dict(attrs), self.at)
        self.at.children.append(node)
        if tag not in VOID:
            self.at = node

    def handle_endtag(self, tag: str) -> None:
        node: Optional[Node] = self.at
        while node is not None and node.tag != tag:
            node = node.parent
        assert node is not None and node.parent is not None, f"stray </{tag}>"
        self.at = node.parent

    def handle_data(self, data: str) -> None:
        self.at.children.append(data)


def page_of(doc: Dict[str, Any]) -> Node:
    return Tree(html.render(doc)).root  # type: ignore[arg-type]


def main_of(doc: Dict[str, Any]) -> Node:
    (main,) = page_of(doc).all("main")
    return main


# -- literal documents -----------------------------------------------------------


def frame(file: str, line: int, function: str, code: str = "") -> Dict[str, Any]:
    return {"file": file, "line": line, "function": function, "code": code}


def document(
    sections: List[Dict[str, Any]], stdlib: Optional[str] = STDLIB, version: int = 3
) -> Dict[str, Any]:
    python = {"implementation": "cpython", "version": "3.12.1", "executable": "/x/python"}
    if stdlib is not None:
        python["stdlib"] = stdlib
    return {
        "reportVersion": version,
        "header": {"pid": 7, "service": "svc", "timestamp": "2026-01-01T00:00:00Z",
                   "python": python},
        "sections": sections,
    }  # fmt: skip


def threads_section(*entries: Dict[str, Any]) -> Dict[str, Any]:
    total = sum(e["count"] for e in entries)
    return {"id": "threads", "title": "Threads", "data": {"total": total, "entries": list(entries)}}


def thread_entry(stack: List[Dict[str, Any]], ident: int = 1) -> Dict[str, Any]:
    return {"count": 1, "members": [{"ident": ident, "name": "worker"}], "more": 0, "stack": stack}


def fastapi_stack() -> List[Dict[str, Any]]:
    """A FastAPI request the way the issue saw it: 23 frames, 19 of them
    framework or standard library, 4 the application's."""
    lib = [
        ("uvicorn/protocols/http/httptools_impl.py", 435, "run_asgi"),
        ("uvicorn/middleware/proxy_headers.py", 78, "__call__"),
        ("fastapi/applications.py", 1054, "__call__"),
        ("starlette/applications.py", 123, "__call__"),
        ("starlette/middleware/errors.py", 164, "__call__"),
        ("starlette/middleware/exceptions.py", 62, "__call__"),
        ("starlette/_exception_handler.py", 53, "wrapped_app"),
        ("starlette/routing.py", 762, "__call__"),
        ("starlette/routing.py", 782, "app"),
        ("starlette/routing.py", 297, "handle"),
        ("starlette/routing.py", 77, "app"),
        ("fastapi/routing.py", 278, "app"),
        ("fastapi/routing.py", 191, "run_endpoint_function"),
    ]
    stack = [frame(f"{STDLIB}/threading.py", 1030, "_bootstrap"),
             frame(f"{STDLIB}/asyncio/runners.py", 118, "run")]  # fmt: skip
    stack += [frame(f"{SITE}/{f}", n, fn) for f, n, fn in lib]
    stack += [
        frame("/srv/app/api.py", 40, "get_order", "order = await load(order_id)"),
        frame("/srv/app/store.py", 12, "load", "row = await db.fetch(q)"),
    ]
    stack += [frame(f"{SITE}/asyncpg/pool.py", 1021, "fetch"),
              frame(f"{SITE}/starlette/routing.py", 683, "lifespan"),
              frame(f"{STDLIB}/asyncio/locks.py", 212, "wait")]  # fmt: skip
    stack += [
        frame("/srv/app/db.py", 9, "fetch", "return await conn.fetch(q)"),
        frame("/srv/app/db.py", 30, "retry", "await asyncio.sleep(delay)"),
    ]
    stack.append(frame(f"{STDLIB}/asyncio/tasks.py", 649, "sleep", "return await future"))
    assert len(stack) == 23
    return stack


# -- which frame is whose --------------------------------------------------------


def test_frame_kind_is_told_by_the_path_alone() -> None:
    """Installed packages (site-packages, dist-packages, even inside the
    stdlib directory) are libraries shown from their package on; files under
    the document's stdlib and frozen modules are the standard library; the
    rest is the application's, shown whole."""
    assert frame_kind(f"{SITE}/starlette/routing.py", STDLIB) == ("library", "starlette/routing.py")
    assert frame_kind("/usr/lib/python3/dist-packages/yaml/nodes.py", STDLIB) == (
        "library",
        "yaml/nodes.py",
    )
    assert frame_kind(f"{STDLIB}/site-packages/greenlet/x.py", STDLIB).kind == "library"
    assert frame_kind(f"{STDLIB}/asyncio/tasks.py", STDLIB) == ("stdlib", "asyncio/tasks.py")
    assert frame_kind("<frozen importlib._bootstrap>", STDLIB).kind == "stdlib"
    assert frame_kind("/srv/app/api.py", STDLIB) == ("app", "/srv/app/api.py")
    # a directory that merely starts like the stdlib is not it
    assert frame_kind(f"{STDLIB}-tools/run.py", STDLIB).kind == "app"
    # with a stdlib named, a .../lib/pythonX.Y/ elsewhere is not guessed to be it
    assert frame_kind("/home/u/lib/python3.12/mine.py", STDLIB).kind == "app"
    # a document without it (reportVersion 2): .../lib/pythonX.Y/ stands for it
    assert frame_kind("/usr/lib/python3.11/threading.py") == ("stdlib", "threading.py")
    assert frame_kind("/srv/app/api.py").kind == "app"


def test_parked_at_names_library_frames_short_only_when_asked() -> None:
    """The text and ``diff`` keep full paths; the HTML asks for short ones."""
    stack = [("/srv/app/db.py", 9, "fetch"), (f"{SITE}/asyncpg/pool.py", 1021, "fetch_row")]
    assert parked_at(stack, STDLIB) == (
        f"fetch_row ({SITE}/asyncpg/pool.py:1021) in fetch (/srv/app/db.py:9)"
    )
    assert parked_at(stack, STDLIB, short=True) == (
        "fetch_row (asyncpg/pool.py:1021) in fetch (/srv/app/db.py:9)"
    )


# -- HTML stacks -----------------------------------------------------------------


def test_html_stack_marks_app_frames_and_folds_the_rest() -> None:
    """A FastAPI request of 23 frames: the 4 of the application are shown and
    marked; the 19 others sit in closed ``<details>``, one per run, each
    summary saying how many frames of what; library paths are short with
    the full path in ``title``; the JSON copy keeps the full paths."""
    stack = fastapi_stack()
    doc = document([threads_section(thread_entry(stack))])
    main = main_of(doc)
    frames = main.all("li", "frame")
    assert len(frames) == 23
    app = [f for f in frames if "app" in f.classes()]
    assert [f.all("span", "fn")[0].text() for f in app] == ["get_order", "load", "fetch", "retry"]
    for f in app:
        assert f.all("span", "app-mark"), "an application frame is marked"
        assert f.closed_details_above() == [] or all(
            "unit" in d.classes() for d in f.closed_details_above()
        )
    folded = [f for f in frames if "app" not in f.classes()]
    assert len(folded) == 19
    for f in folded:
        closed = [d for d in f.closed_details_above() if "fold" in d.classes()]
        assert len(closed) == 1, "every library and stdlib frame is folded"
    folds = main.all("details", "fold")
    assert [d.all("summary")[0].text() for d in folds] == [
        "15 library and standard-library frames: threading, asyncio, uvicorn, fastapi, starlette",
        "3 library and standard-library frames: asyncpg, starlette, asyncio",
        "1 standard-library frame: asyncio",
    ]
    assert all("open" not in d.attrs for d in folds)
    # short paths shown, full ones on hover; frames numbered by their place
    locs = {f.all("span", "loc")[0].text(): f for f in frames}
    lifespan = locs["starlette/routing.py:683"]
    assert lifespan.all("span", "loc")[0].attrs["title"] == f"{SITE}/starlette/routing.py"
    assert lifespan.attrs["value"] == "19"
    assert "asyncio/tasks.py:649" in locs
    assert "/srv/app/api.py:40" in locs  # the application's path whole
    assert "title" not in locs["/srv/app/api.py:40"].all("span", "loc")[0].attrs
    # the unit's summary says where it is parked, short
    (where,) = main.all("span", "where")
    assert where.text() == "sleep (asyncio/tasks.py:649) in retry (/srv/app/db.py:30)"
    (data,) = [s for s in page_of(doc).all("script") if s.attrs.get("id") == "report-data"]
    assert json.loads(data.text())["sections"][0]["data"]["entries"][0]["stack"] == stack


def test_a_stack_without_application_frames_folds_nothing() -> None:
    """Nothing of the application's to show: every frame stays in sight (short)."""
    stack = [frame(f"{STDLIB}/threading.py", 1030, "_bootstrap"),
             frame(f"{SITE}/eventlet/hubs/hub.py", 362, "run")]  # fmt: skip
    main = main_of(document([threads_section(thread_entry(stack))]))
    assert main.all("details", "fold") == []
    assert [f.all("span", "loc")[0].text() for f in main.all("li", "frame")] == [
        "threading.py:1030",
        "eventlet/hubs/hub.py:362",
    ]


def test_a_document_without_stdlib_folds_by_the_lib_python_part() -> None:
    """A reportVersion 2 document (no ``header.python.stdlib``) still folds
    ``/usr/lib/python3.11/`` frames as the standard library."""
    stack = [frame("/usr/lib/python3.11/threading.py", 1045, "_bootstrap_inner"),
             frame("/srv/app/pool.py", 10, "run")]  # fmt: skip
    main = main_of(document([threads_section(thread_entry(stack))], stdlib=None, version=2))
    (fold,) = main.all("details", "fold")
    assert fold.all("summary")[0].text() == "1 standard-library frame: threading"
    assert fold.all("span", "loc")[0].text() == "threading.py:1045"


def test_text_keeps_full_paths() -> None:
    """The classic text layout is unchanged: every frame by its full path."""
    doc = document([threads_section(thread_entry(fastapi_stack()))])
    out = text.render(doc)  # type: ignore[arg-type]
    assert f"{SITE}/starlette/routing.py:683 in lifespan" in out
    assert f"{STDLIB}/asyncio/tasks.py:649 in sleep" in out


# -- tasks: awaits, awaited by ---------------------------------------------------


def task(tid: int, name: str, **facts: Any) -> Dict[str, Any]:
    return {"id": tid, "name": name, "state": "pending", **facts}


def tasks_section(*entries: Dict[str, Any]) -> Dict[str, Any]:
    total = sum(e["count"] for e in entries)
    return {
        "id": "asyncio_tasks",
        "title": "Asyncio Tasks",
        "data": {"total": total, "entries": list(entries), "loops": [], "cycles": []},
    }


def tasks_entry(members: List[Dict[str, Any]], code: str = "await x") -> Dict[str, Any]:
    stack = [frame("/srv/app/jobs.py", 5, "job", code)]
    return {"count": len(members), "members": members, "more": 0, "stack": stack}


OUTER = task(
    0x20,
    "outer",
    thread=5,
    thread_name="loop-thread",
    awaits=[{"kind": "task", "id": 0x10, "name": "inner"}],
    created_at=[frame("/srv/app/main.py", 3, "main"), frame("/srv/app/jobs.py", 9, "spawn")],
)
INNER = task(
    0x10,
    "inner",
    awaits=[{"kind": "future", "id": 0xABC, "type": "Future", "state": "pending",
             "created_at": [frame("/srv/app/jobs.py", 7, "inner")]}],
    awaited_by=[{"id": 0x20, "name": "outer"}],
    cycle=["inner", "outer"],
)  # fmt: skip


def test_html_task_awaits_read_like_the_text() -> None:
    """A task's ``awaits``, ``awaited_by``, cycle and creation place are the
    text report's lines, not JSON; its id is in hex as in the text."""
    doc = document([tasks_section(tasks_entry([OUTER]), tasks_entry([INNER], "await y"))])
    main = main_of(doc)
    facts = [d.text() for d in main.all("div", "facts")]
    outer_lines = [line.text() for line in main.all("div", "facts")[0].children]
    assert outer_lines[0] == "id: 0x20, name: outer, state: pending, thread: #5 (loop-thread)"
    assert "awaits: task inner (0x10)" in outer_lines
    summaries = [d.all("summary")[0].text() for d in main.all("details", "made")]
    assert summaries == ["created at: /srv/app/jobs.py:9 in spawn"]
    inner_lines = [line.text() for line in main.all("div", "facts")[1].children]
    assert inner_lines[1:4] == [
        "awaits: Future 0xabc (pending) created at /srv/app/jobs.py:7 in inner",
        "awaited by: outer (0x20)",
        "AWAIT CYCLE: inner -> outer -> inner",
    ]
    assert not any('"kind"' in f or "[{" in f for f in facts)
    # the filter box finds a task by the hex id the page shows
    searched = [u.attrs["data-search"] or "" for u in main.all("details", "unit")]
    assert ["0x20" in t.split() for t in searched] == [True, False]
    # the same words as the text report's
    out = text.render(doc)  # type: ignore[arg-type]
    for line in (
        "awaits: task inner (0x10)",
        "awaited by: outer (0x20)",
        "awaits: Future 0xabc (pending) created at /srv/app/jobs.py:7 in inner",
    ):
        assert line in out.split("\n")  # fmt: skip
    # the creation place opens to every frame
    (made,) = [d for d in main.all("details", "made") if "spawn" in d.text()]
    assert "open" not in made.attrs
    assert [li.all("span", "fn")[0].text() for li in made.all("li", "frame")] == ["main", "spawn"]


def test_grouped_tasks_keep_awaited_by_in_text_and_html() -> None:
    """Tasks grouped by one stack keep who awaits them: one line when all
    share their awaiters, else one line per set of awaiters naming its tasks."""
    gatherer = [{"id": 0x30, "name": "gatherer"}]
    same = tasks_entry(
        [task(1, "leaf-1", awaited_by=gatherer), task(2, "leaf-2", awaited_by=gatherer)]
    )
    mixed = tasks_entry(
        [task(3, "a", awaited_by=[{"id": 0x40, "name": "w"}]), task(4, "b", awaited_by=gatherer),
         task(5, "c", awaited_by=gatherer), task(6, "d")],
        "await z",
    )  # fmt: skip
    doc = document([tasks_section(same, mixed)])
    lines = text.render(doc).split("\n")  # type: ignore[arg-type]
    at = lines.index("2 tasks: leaf-1, leaf-2")
    assert lines[at + 1 : at + 3] == ["awaited by: gatherer (0x30)", ""]
    at = lines.index("4 tasks: a, b, c, d")
    assert lines[at + 1 : at + 4] == [
        "a awaited by: w (0x40)",
        "b, c awaited by: gatherer (0x30)",
        "",
    ]
    facts = [p.text() for p in main_of(doc).all("p", "facts")]
    assert facts == [
        "awaited by: gatherer (0x30)",
        "a awaited by: w (0x40)",
        "b, c awaited by: gatherer (0x30)",
    ]


# -- processes -------------------------------------------------------------------


RESOURCES = {
    "rss_bytes": 50 * 2**20, "rss_peak_bytes": 60 * 2**20, "vms_bytes": 900 * 2**20,
    "cpu_user_s": 1.5, "cpu_system_s": 0.25, "threads": 7, "uptime_s": 12.0, "nice": 0,
    "cgroup": {"version": 2, "path": "/system.slice/svc.service",
               "memory_limit_bytes": 2**30, "memory_usage_bytes": 300 * 2**20},
    "limits": {"open_files": {"soft": 1024, "hard": 4096}, "core": {"soft": 0, "hard": None}},
}  # fmt: skip


def test_html_processes_show_the_resource_lines_of_the_text() -> None:
    """Memory, CPU, cgroup and limits: the lines the text report has, under this process."""
    data = {
        "process": {"pid": 7, "ppid": 1, "name": "svc", "state": "sleeping", "uid": 0,
                    "user": "root", "cmdline": ["svc"],
                    "children": [{"pid": 8, "children": []}]},
        "notes": [],
        "resources": RESOURCES,
    }  # fmt: skip
    doc = document([{"id": "processes", "title": "Processes", "data": data}])
    expected = resources_lines(RESOURCES)
    assert [line.split(":")[0] for line in expected] == [
        "memory",
        "cpu",
        "cgroup v2 /system.slice/svc.service",
        "limits",
    ]
    shown = [s.text() for s in main_of(doc).all("span", "res")]
    assert shown == expected
    assert shown[0] == "memory: rss 50.0 MiB (peak 60.0 MiB), virtual 900.0 MiB"
    assert shown[3] == "limits: open files 1024 (hard 4096), core 0 (hard unlimited)"
    out = text.render(doc).split("\n")  # type: ignore[arg-type]
    assert [f"  {line}" for line in expected] == [
        ln for ln in out if ln.startswith("  ") and ln.strip() in expected
    ]
    # the child has no resources of its own
    (root,) = [li for li in main_of(doc).all("li") if li.text().startswith("Process 7")]
    child = root.all("li")[0]
    assert child.all("span", "res") == []


# -- diff ------------------------------------------------------------------------


def test_diff_names_units_as_the_text_report_does() -> None:
    """Tasks and green threads by their hex id, threads by ``#ident``: the
    forms the text report shows, so one can look a unit up in either."""
    tasks_a = tasks_section(tasks_entry([task(0x7F3A10, "job")]))
    green = {"id": "green_threads", "title": "Green Threads", "data": {"total": 1, "entries": [
        {"count": 1, "members": [{"id": 0xBEEF, "state": "suspended"}], "more": 0,
         "stack": [frame("/srv/app/g.py", 1, "g")]}]}}  # fmt: skip
    threads = threads_section(thread_entry([frame("/srv/app/t.py", 1, "t")], ident=140001))
    old = document([tasks_a, green, threads])
    result = diff.compare(old, old)  # type: ignore[arg-type]
    units = [item["unit"] for sec in result["sections"] for item in sec["same"]]
    assert units == ["Task 0x7f3a10 (job)", "Green thread 0xbeef", "Thread #140001 (worker)"]
    out = text.render(old)  # type: ignore[arg-type]
    assert "id: 0x7f3a10, state: pending" in out
    assert "id: 0xbeef" in out
    assert "Thread #140001" in out
    assert not re.search(r"\b8337936\b", diff.render_text(result))  # 0x7f3a10 in decimal
