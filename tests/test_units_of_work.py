"""Grouping units by stack, finding await cycles, and reading stack sections,
on literal data: no process, no live frame.  Each test is one rule, said in
its docstring."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

from gurumeditation.render import html, text
from gurumeditation.render.common import error_text, is_stack_data, parked_at, unit_name
from gurumeditation.sections.tasks import find_cycles, name_order
from gurumeditation.stacks import SourceCache, StackKey, Unit, build_entries

PARKED: StackKey = (
    ("/srv/app/pool.py", 10, "run"),
    ("/usr/lib/python3.11/threading.py", 320, "wait"),
)
BUSY: StackKey = (("/srv/app/pool.py", 10, "run"), ("/srv/app/work.py", 42, "crunch"))


def units(*specs: Any) -> List[Unit]:
    """``(ident, key)`` or ``(ident, key, pinned)`` -> units of threads."""
    made = []
    for spec in specs:
        ident, key, pinned = (*spec, False) if len(spec) == 2 else spec
        made.append(Unit({"ident": ident}, key, pinned))
    return made


def idents(entry: Dict[str, Any]) -> List[int]:
    return [m["ident"] for m in entry["members"]]


def test_identical_stacks_share_one_entry_where_the_first_stood() -> None:
    """Units with the same stack are one entry, placed where the first of them was."""
    entries = build_entries(units((1, PARKED), (2, BUSY), (3, PARKED)), SourceCache())
    assert [e["count"] for e in entries] == [2, 1]
    assert idents(entries[0]) == [1, 3] and idents(entries[1]) == [2]
    assert [f["function"] for f in entries[0]["stack"]] == ["run", "wait"]


def test_a_pinned_unit_never_joins_a_group() -> None:
    """The main thread (pinned) keeps an entry of its own beside its twins."""
    entries = build_entries(units((1, PARKED, True), (2, PARKED), (3, PARKED)), SourceCache())
    assert [(e["count"], idents(e)) for e in entries] == [(1, [1]), (2, [2, 3])]


def test_a_big_group_lists_its_first_members_and_counts_the_rest() -> None:
    """Past ``max_members`` the members are counted in ``more``, not listed."""
    many = units(*[(i, PARKED) for i in range(25)])
    (entry,) = build_entries(many, SourceCache(), max_members=20)
    assert entry["count"] == 25 and entry["more"] == 5
    assert idents(entry) == list(range(20))


def test_grouping_off_gives_every_unit_its_own_entry_in_order() -> None:
    """``group=False``: one entry a unit, in the order given."""
    entries = build_entries(units((1, PARKED), (2, BUSY), (3, PARKED)), SourceCache(), group=False)
    assert [idents(e) for e in entries] == [[1], [2], [3]]
    assert all(e["count"] == 1 and e["more"] == 0 for e in entries)


def test_source_lines_are_redacted_once_per_line(tmp_path: Path) -> None:
    """The source cache reads each (file, line) once and passes it through ``redact``."""
    source = tmp_path / "app.py"
    source.write_text('x = 1\n    connect(password="hunter2")\n')
    seen: List[str] = []

    def redact(line: str) -> str:
        seen.append(line)
        return line.replace("hunter2", "***")

    cache = SourceCache(redact)
    key: StackKey = ((str(source), 2, "main"),)
    frames = cache.frames(key) + cache.frames(key)
    assert [f["code"] for f in frames] == ['connect(password="***")'] * 2
    assert seen == ['connect(password="hunter2")']


# -- await cycles -----------------------------------------------------------------


def test_a_ring_of_tasks_is_one_cycle() -> None:
    """1 -> 2 -> 3 -> 1 is one cycle of three; a chain into it is not part of it."""
    assert find_cycles({0: [1], 1: [2], 2: [3], 3: [1]}) == [[1, 2, 3]]


def test_a_chain_has_no_cycle() -> None:
    """Tasks awaiting one another in a line (or a gather fan-out) make no cycle."""
    assert find_cycles({1: [2], 2: [3], 4: [2, 3]}) == []


def test_a_task_awaiting_itself_is_a_cycle() -> None:
    """A self-edge is a ring of one."""
    assert find_cycles({7: [7], 8: [7]}) == [[7]]


def test_separate_rings_are_separate_cycles() -> None:
    """Two rings that do not touch are two cycles, each sorted."""
    cycles = find_cycles({5: [4], 4: [5], 1: [3], 3: [2], 2: [1]})
    assert sorted(cycles) == [[1, 2, 3], [4, 5]]


def test_a_long_chain_does_not_recurse() -> None:
    """The search is iterative: a chain of 50,000 awaits needs no deep recursion."""
    edges = {i: [i + 1] for i in range(50_000)}
    edges[50_000] = [0]
    (ring,) = find_cycles(edges)
    assert len(ring) == 50_001


def test_task_names_sort_by_their_number() -> None:
    """``Task-2`` comes before ``Task-10``; names without a number first."""
    names = ["Task-10", "Task-2", "Task", "job-1"]
    assert sorted(names, key=name_order) == ["Task", "Task-2", "Task-10", "job-1"]


# -- reading stack sections of a document -------------------------------------------


def stack_doc(version: int, member: Dict[str, Any]) -> Dict[str, Any]:
    entry = {"count": 1, "members": [member], "more": 0, "stack": []}
    return {
        "reportVersion": version,
        "header": {"pid": 1, "service": "s"},
        "sections": [
            {
                "id": "asyncio_tasks",
                "title": "Asyncio Tasks",
                "data": {"total": 1, "loops": [], "cycles": [], "entries": [entry]},
            }
        ],
    }


def test_the_text_of_a_version_1_document_is_the_text_of_its_version_2() -> None:
    """A saved report of reportVersion 1 (errors and a future's creation place
    as strings) renders as the same document of version 2 does."""
    awaited_v1 = {"kind": "future", "type": "Future", "id": 16, "created_at": "/srv/a.py:3 in f"}
    awaited_v2 = dict(
        awaited_v1, created_at=[{"file": "/srv/a.py", "line": 3, "function": "f", "code": "x"}]
    )
    member = {
        "id": 1,
        "name": "t",
        "state": "pending",
        "awaits": [awaited_v1],
        "error": "KeyError: 'k'",
    }
    v1 = stack_doc(1, member)
    v2 = stack_doc(
        2, dict(member, awaits=[awaited_v2], error={"type": "KeyError", "message": "'k'"})
    )
    assert text.render(v1) == text.render(v2)  # type: ignore[arg-type]
    assert "Future 0x10 created at /srv/a.py:3 in f" in text.render(v2)  # type: ignore[arg-type]
    assert "unreadable: KeyError: 'k'" in text.render(v2)  # type: ignore[arg-type]
    assert "error: KeyError: &#x27;k&#x27;" in html.render(v2)  # type: ignore[arg-type]


def test_errors_read_as_type_and_message() -> None:
    """A unit's error object reads ``Type: message``; an old string as it is."""
    assert error_text({"type": "OSError", "message": "gone"}) == "OSError: gone"
    assert error_text("OSError: gone") == "OSError: gone"


def test_a_stack_section_is_known_by_its_shape_and_named_by_its_id() -> None:
    """Any section whose entries all have stacks is a stack section; its units
    are named by id (an unknown id: "unit")."""
    assert is_stack_data({"total": 0, "entries": [{"stack": []}]})
    assert not is_stack_data({"entries": [{"name": "x"}]})
    assert not is_stack_data(["entries"])
    assert unit_name("green_threads") == ("green thread", "green threads")
    assert unit_name("registered:x").many == "units"


def test_a_stack_is_parked_where_the_application_called_the_library() -> None:
    """Parked in library code: the innermost application frame is named too."""
    assert (
        parked_at(PARKED)
        == "wait (/usr/lib/python3.11/threading.py:320) in run (/srv/app/pool.py:10)"
    )
    assert parked_at(BUSY) == "crunch (/srv/app/work.py:42)"
    assert parked_at(()) == ""
