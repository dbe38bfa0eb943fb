"""The document is typed in one place (``gurumeditation.model``) and the JSON
Schema names the same keys: every TypedDict key of a shape is a property of
that shape in the schema and every property is a key, required the same way;
and what a real service writes (the golden report) uses no key the types do
not name."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any, Dict, List, Set, Tuple

import pytest

from gurumeditation import model, schema
from gurumeditation.render.json import load

SCHEMA = schema.load()

#: TypedDict -> where its shape is in the schema: a ``$defs`` name, then
#: property names, ``[]`` for "the items of", ``{}`` for "the values of".
SHAPES: List[Tuple[Any, str]] = [
    (model.Report, ""),
    (model.Header, "header"),
    (model.PythonFacts, "header.python"),
    (model.Producer, "header.producer"),
    (model.SignalState, "header.signal"),
    (model.Trigger, "header.trigger"),
    (model.Stall, "header.trigger.stall"),
    (model.ExceptionFacts, "header.trigger.exception"),
    (model.Memory, "header.trigger.memory"),
    (model.Recovered, "header.trigger.recovered"),
    (model.Section, "section"),
    (model.SectionError, "sectionError"),
    (model.UnitError, "unitError"),
    (model.Frame, "frame"),
    (model.StackEntry, "stackEntry"),
    (model.StackSectionData, "stackSection"),
    (model.ThreadsData, "threads"),
    (model.StackSectionData, "greenThreads"),
    (model.ThreadMember, "threadMember"),
    (model.GreenMember, "greenMember"),
    (model.TaskMember, "taskMember"),
    (model.ThreadOsFacts, "threadMember.os"),
    (model.Wait, "wait"),
    (model.WaitHolder, "wait.holder"),
    (model.DiagnosisData, "diagnosis"),
    (model.Finding, "diagnosis.findings[]"),
    (model.DiagnosisStep, "diagnosis.findings[].units[]"),
    (model.Awaited, "taskMember.awaits[]"),
    (model.AwaitedBy, "taskMember.awaited_by[]"),
    (model.LoopFacts, "asyncioTasks.loops[]"),
    (model.TasksData, "asyncioTasks"),
    (model.ServiceVersionData, "package"),
    (model.ProcessNode, "process"),
    (model.Cgroup, "resources.cgroup"),
    (model.Limit, "resources.limits{}"),
    (model.Resources, "resources"),
    (model.ProcessesData, "processes"),
    (model.ConfigOption, "option"),
    (model.ConfigGroup, "configuration.groups[]"),
    (model.ConfigurationData, "configuration"),
    (model.EnvironmentVariable, "environment.variables[]"),
    (model.EnvironmentData, "environment"),
    (model.RegisteredData, "registered"),
    (model.OpenFile, "openFiles.fds[]"),
    (model.OpenFilesData, "openFiles"),
    (model.PythonRuntimeData, "pythonRuntime"),
    (model.InstalledDistribution, "packages.distributions[]"),
    (model.ModuleFile, "packages.unpackaged[]"),
    (model.DistributionsData, "packages"),
    (model.GcGeneration, "memory.gc.generations[]"),
    (model.GcData, "memory.gc"),
    (model.AllocationSite, "memory.tracemalloc.top[]"),
    (model.TracemallocData, "memory.tracemalloc"),
    (model.MemoryData, "memory"),
]


def section_rules() -> Dict[str, str]:
    """Section id (``registered:*`` for every registered one) -> the schema
    ``$defs`` name its data is checked against."""
    rules = {}
    for rule in SCHEMA["$defs"]["section"]["allOf"]:
        sid = rule["if"]["properties"]["id"].get("const", "registered:*")
        rules[sid] = rule["then"]["properties"]["data"]["$ref"].rsplit("/", 1)[-1]
    return rules


#: Section id -> the TypedDict of its data (through the schema's rules).
SECTION_DATA: Dict[str, Any] = {
    sid: next((shape for shape, path in SHAPES if path == def_name), None)
    for sid, def_name in section_rules().items()
}

#: Stack section id -> the TypedDict of its members.
MEMBERS = {
    "threads": model.ThreadMember,
    "green_threads": model.GreenMember,
    "asyncio_tasks": model.TaskMember,
}


def deref(node: Dict[str, Any]) -> Dict[str, Any]:
    while "$ref" in node:
        node = SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def objects(node: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The object schemas ``node`` stands for (through ``$ref``, ``allOf``,
    and the alternatives of a ``oneOf``)."""
    node = deref(node)
    found = [node]
    for part in node.get("allOf", []):
        found += objects(part)
    for part in node.get("oneOf", []):
        if deref(part).get("type") != "null":
            found += objects(part)
    return found


def resolve(path: str) -> List[Dict[str, Any]]:
    if not path:
        return [SCHEMA]
    head, *steps = path.split(".")
    nodes = objects(SCHEMA["$defs"][head])
    for step in steps:
        name, suffix = step.rstrip("[]{}"), step[len(step.rstrip("[]{}")) :]
        nodes = [n["properties"][name] for n in nodes if name in n.get("properties", {})]
        assert nodes, f"{path}: no property {name!r}"
        node = nodes[0]
        if suffix == "[]":
            node = deref(node)["items"]
        elif suffix == "{}":
            node = deref(node)["additionalProperties"]
        nodes = objects(node)
    return nodes


def schema_keys(path: str) -> Set[str]:
    return {key for node in resolve(path) for key in node.get("properties", {})}


def required(node: Dict[str, Any]) -> Set[str]:
    """Keys every document valid for ``node`` has: its own required keys,
    those of its ``allOf`` parts, and those all ``oneOf`` alternatives share."""
    node = deref(node)
    keys = set(node.get("required", []))
    for part in node.get("allOf", []):
        keys |= required(part)
    options = [required(p) for p in node.get("oneOf", []) if deref(p).get("type") != "null"]
    if options:
        keys |= set.intersection(*options)
    return keys


def schema_required(path: str) -> Set[str]:
    """What :func:`required` says of the shape at ``path``."""
    if not path:
        return set(SCHEMA["required"])
    head, _, rest = path.rpartition(".")
    if not head:
        return required(SCHEMA["$defs"][path])
    name = rest.rstrip("[]{}")
    (parent,) = [n for n in resolve(head) if name in n.get("properties", {})][:1]
    node = parent["properties"][name]
    if rest.endswith("[]"):
        node = deref(node)["items"]
    elif rest.endswith("{}"):
        node = deref(node)["additionalProperties"]
    return required(node)


@pytest.mark.parametrize("shape,path", SHAPES, ids=[s.__name__ for s, _ in SHAPES])
def test_typed_keys_are_the_schema_properties(shape: Any, path: str) -> None:
    """Every key of the TypedDict is a property of its schema shape, and back."""
    assert set(shape.__annotations__) == schema_keys(path)


@pytest.mark.parametrize("shape,path", SHAPES, ids=[s.__name__ for s, _ in SHAPES])
def test_typed_required_keys_are_the_schema_required(shape: Any, path: str) -> None:
    """A key the schema requires is required by the TypedDict, and back
    (the header is required in one of two ways: the schema says which)."""
    if shape is model.Header:
        pytest.skip("the header's required keys are an anyOf (a failed header is smaller)")
    assert set(shape.__required_keys__) == schema_required(path)


def test_every_builtin_section_has_a_typed_data_shape() -> None:
    """Each section the schema types (by id) has a TypedDict for its data."""
    assert len(SECTION_DATA) == 13
    assert {sid: shape for sid, shape in SECTION_DATA.items() if shape is None} == {}


def unknown_keys(value: Any, hint: Any, where: str) -> List[str]:
    """Keys in ``value`` its type ``hint`` does not name, recursively."""
    origin = typing.get_origin(hint)
    if hint is Any or value is None:
        return []
    if isinstance(hint, type) and hasattr(hint, "__required_keys__"):  # a TypedDict
        hints = typing.get_type_hints(hint)
        found = [f"{where}.{k}" for k in value if k not in hints]
        for key, item in value.items():
            if key in hints:
                found += unknown_keys(item, hints[key], f"{where}.{key}")
        return found
    if origin is list:
        (item_hint,) = typing.get_args(hint)
        return [k for i, item in enumerate(value) for k in unknown_keys(item, item_hint, where)]
    if origin is dict:
        value_hint = typing.get_args(hint)[1]
        return [k for item in value.values() for k in unknown_keys(item, value_hint, where)]
    if origin is typing.Union:
        for option in typing.get_args(hint):
            if option is not type(None):
                return unknown_keys(value, option, where)
    return []


def test_the_key_check_finds_a_key_the_types_do_not_name() -> None:
    """The walk below reports an unknown key, however deep it is."""
    entry = {"count": 1, "members": [], "more": 0, "stack": [{"file": "f", "extra": 1}]}
    assert unknown_keys({"total": 1, "entries": [entry]}, model.StackSectionData, "s") == [
        "s.entries.stack.extra"
    ]


def test_a_real_report_uses_only_typed_keys() -> None:
    """The golden report (from a real service) has no key the types leave out."""
    doc = load((Path(__file__).parent / "golden" / "report.json").read_text())
    assert doc["reportVersion"] == model.REPORT_VERSION
    found = unknown_keys(doc, model.Report, "report")
    for section in doc["sections"]:
        sid = section["id"]
        if sid in SECTION_DATA:
            found += unknown_keys(section["data"], SECTION_DATA[sid], sid)
        for entry in section["data"].get("entries", []) if sid in MEMBERS else []:
            for member in entry["members"]:
                found += unknown_keys(member, MEMBERS[sid], f"{sid}.member")
    assert found == []
