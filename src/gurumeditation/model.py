"""The report as plain data.

A report is one JSON-able document: a ``header`` and an ordered list of
``sections``.  Collectors build it, renderers read it, and nothing in between
holds a reference to a live object of the process, so a report saved as JSON
can be rendered again later and gives the same text.

Every shape of the document is written down here, once, as a ``TypedDict``:
the header, the section envelope, and the data of every built-in section
(``...Data``, with its members and records).  At run time they are ordinary
``dict`` and ``list`` objects (cheap to build, and ``json.dumps`` takes them
as they are).  The JSON Schema (``schema/report.schema.json``) names the same
keys; ``tests/test_document_types.py`` holds the two together, and
``docs/report-format.md`` explains what the values mean.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Dict, List, Optional, TypedDict, Union

#: Bumped whenever a key is added or removed or a value changes type
#: (rules in ``docs/report-format.md``).
REPORT_VERSION = 3

#: What JSON can hold.
Plain = Union[None, bool, int, float, str, List[Any], Dict[str, Any]]


# -- the document and its header ----------------------------------------------------


class Frame(TypedDict):
    """One frame of a stack, outermost first in a ``stack`` list."""

    file: str
    line: int
    function: str
    code: str  # the source line, stripped; "" when it cannot be read


class SectionError(TypedDict):
    """Why a section has no data: its collector raised (or timed out)."""

    type: str
    message: str
    traceback: str


class UnitError(TypedDict):
    """Why one unit of a stack section (a greenlet, a task) could not be read."""

    type: str
    message: str


class _SectionRequired(TypedDict):
    id: str
    title: str


class Section(_SectionRequired, total=False):
    data: Any  # one of the ``...Data`` types below, by ``id``
    error: SectionError
    note: str


class _PythonFactsRequired(TypedDict):
    implementation: str
    version: str
    executable: str


class PythonFacts(_PythonFactsRequired, total=False):
    stdlib: str  # the standard library's directory (frames under it are "stdlib")


class Producer(TypedDict):
    thread: str
    ident: int
    main: bool
    reason: str


class _SignalStateRequired(TypedDict):
    name: str
    ours: bool  # its handler is still this library's


class SignalState(_SignalStateRequired, total=False):
    """The report signal and whether its handler is still ours."""

    takenOverBy: str  # the handler that replaced ours (only when not ours)


class Stall(TypedDict):
    """What stalled (``main thread``, ``asyncio loop <label> in thread <name>``,
    ``gevent hub``, ``eventlet hub``), for how long so far (seconds), and
    where its thread was (``file:line in func``, innermost Python frame)."""

    what: str
    seconds: float
    where: str


class Recovered(TypedDict):
    """The last stall that ended before this report: what, after how long."""

    what: str
    seconds: float


class _ExceptionFactsRequired(TypedDict):
    type: str
    message: str  # secrets masked
    traceback: str  # as Python prints it (chained exceptions too), secrets masked


class ExceptionFacts(_ExceptionFactsRequired, total=False):
    """The exception an ``exception`` report was written for."""

    thread: str  # the thread it ended (sys.excepthook: the main thread)
    hook: str  # sys.excepthook, threading.excepthook, asyncio
    context: str  # asyncio's message ("Task exception was never retrieved"...)


class Memory(TypedDict):
    """What an ``rss`` report saw: the resident size and the limit, bytes."""

    rss_bytes: int
    limit_bytes: int


class _TriggerRequired(TypedDict):
    kind: str  # signal, file, api, cli, watchdog, abort, term, exception, rss (fatal: text only)


class Trigger(_TriggerRequired, total=False):
    """What asked for the report; the automatic triggers add their facts."""

    detail: str
    stall: Stall  # kind watchdog
    exception: ExceptionFacts  # kind exception
    memory: Memory  # kind rss
    recovered: Recovered  # any kind: a stall ended since the report before


class Header(TypedDict, total=False):
    timestamp: str
    pid: int
    ppid: int
    hostname: str
    service: str
    python: PythonFacts
    argv: List[str]
    trigger: Trigger
    producer: Producer
    durationMs: float
    redactedCount: int
    signal: SignalState  # only while a report signal is armed
    error: str  # only in the header that replaces one that failed


class Report(TypedDict):
    reportVersion: int
    header: Header
    sections: List[Section]


# -- stack sections: threads, green_threads, asyncio_tasks ----------------------------


class StackEntry(TypedDict):
    """A unit of work (thread, greenlet, task), or a group of units whose stacks
    are identical.  ``count`` is 1 for a single unit; ``members`` holds the
    facts of each unit listed (a ``ThreadMember``, ``GreenMember`` or
    ``TaskMember``), ``more`` how many were not listed."""

    count: int
    members: List[Any]
    more: int
    stack: List[Frame]


class StackSectionData(TypedDict):
    """Data of ``threads`` and ``green_threads`` (and the base of ``asyncio_tasks``)."""

    total: int
    entries: List[StackEntry]


class ThreadOsFacts(TypedDict, total=False):
    """A thread's facts from ``/proc/self/task/<native id>/`` (Linux)."""

    state: str  # running, sleeping, disk wait, stopped, ...
    cpu_user_s: float
    cpu_system_s: float
    wchan: str  # the kernel function it sleeps in
    syscall: str  # "futex", "recvfrom(fd 5: tcp 127.0.0.1:41234 → 127.0.0.1:5672)"
    oncpu_ms: float  # on CPU between two reads a few ms apart during the report
    running: bool  # on CPU or runnable when the report was asked for


class _WaitHolderRequired(TypedDict):
    kind: str  # thread, greenlet, task
    id: int  # thread ident, id() of the greenlet or task


class WaitHolder(_WaitHolderRequired, total=False):
    name: str


class _WaitRequired(TypedDict):
    #: lock, rlock, condition, semaphore, event, barrier, queue get, queue put,
    #: join, future, import, sleep, wait_for; "asyncio " + one of them in a task
    kind: str
    resource: str  # "RLock 0x7f3a...", "_ModuleLock 0x... (import of mod)"


class Wait(_WaitRequired, total=False):
    """What a blocked unit waits on, and who holds it (when known)."""

    id: int  # id() of the object waited on
    where: str  # file:line of the innermost application frame
    holder: WaitHolder
    owner: str  # why no holder is named ("owner unknown (track_locks is off)")
    idle: bool  # waits for time or I/O, not for another unit


class _ThreadMemberRequired(TypedDict):
    ident: int


class ThreadMember(_ThreadMemberRequired, total=False):
    name: str
    daemon: bool
    native_id: int
    main: bool  # the main thread
    current: bool  # the thread that wrote the report
    no_python_frame: bool  # alive, in native code, no Python frame (stack empty)
    os: ThreadOsFacts
    wait: Wait


class ThreadsData(StackSectionData, total=False):
    #: names of this library's own threads, left out of the list (so that
    #: ``total`` + their number is what Processes counts)
    own_threads: List[str]


class _GreenMemberRequired(TypedDict):
    id: int  # id() of the greenlet
    state: str  # running, suspended, dead, not started, unknown


class GreenMember(_GreenMemberRequired, total=False):
    type: str  # class name: greenlet, GreenThread, Greenlet, Hub...
    name: str
    thread: int
    thread_name: str
    main: bool  # the main greenlet of its thread
    hub: bool
    current: bool  # running when the report was asked for
    thread_object: str  # the threading.Thread monkey patching made this greenlet
    spawned_by: str  # gevent only, listed members only
    spawned_at: List[Frame]
    error: UnitError
    wait: Wait


class _AwaitedRequired(TypedDict):
    kind: str  # task, gather, future


class Awaited(_AwaitedRequired, total=False):
    """What a task's innermost level waits on."""

    id: int
    name: str  # kind task
    type: str  # kind gather and future
    state: str  # kind future: done or pending
    created_at: List[Frame]  # kind future, asyncio debug mode only


class AwaitedBy(TypedDict):
    id: int
    name: str


class _TaskMemberRequired(TypedDict):
    id: int
    name: str
    state: str  # pending, cancelling, done, unknown


class TaskMember(_TaskMemberRequired, total=False):
    loop: str  # label of its loop
    thread: int
    thread_name: str
    running: bool
    outcome: str  # when done
    awaits: List[Awaited]
    awaited_by: List[AwaitedBy]
    cycle: List[str]
    created_at: List[Frame]  # asyncio debug mode only
    error: UnitError
    wait: Wait


class _LoopFactsRequired(TypedDict):
    id: int
    label: str


class LoopFacts(_LoopFactsRequired, total=False):
    type: str
    running: bool
    closed: bool
    debug: bool
    thread: int
    thread_name: str
    tasks: int  # how many tasks the section lists of this loop


class TasksData(StackSectionData):
    loops: List[LoopFacts]
    cycles: List[List[str]]


# -- diagnosis ----------------------------------------------------------------------------


class _DiagnosisStepRequired(TypedDict):
    unit: str  # "thread #1234 (worker-1)", "greenlet 0x7f.. (serve)", "task lock-holder"
    kind: str  # thread, greenlet, task


class DiagnosisStep(_DiagnosisStepRequired, total=False):
    """One unit of a finding: what it waits on, who holds that, where."""

    id: int
    waits: str  # "RLock 0x7f.. (rlock)"
    held_by: str  # the unit holding it
    owner: str  # when no holder is known: why ("owner unknown (track_locks is off)")
    where: str  # file:line


class _FindingRequired(TypedDict):
    #: deadlock, main_blocked, loop_blocked, cpu, crowd, stall, signal, section_failed
    kind: str
    summary: str  # the finding in one line, as the text report writes it


class Finding(_FindingRequired, total=False):
    units: List[DiagnosisStep]
    count: int  # kind crowd: how many units wait
    resource: str  # kind crowd
    section: str  # kind section_failed: its id


class DiagnosisData(TypedDict):
    findings: List[Finding]
    #: what a report cannot know without owner tracking (when it mattered)
    notes: List[str]


# -- package (the service's version) --------------------------------------------------------


class ServiceVersionData(TypedDict):
    product: Optional[str]
    vendor: Optional[str]
    version: Optional[str]


# -- processes ----------------------------------------------------------------------------


class _ProcessNodeRequired(TypedDict):
    pid: int
    children: List[ProcessNode]


class ProcessNode(_ProcessNodeRequired, total=False):
    ppid: int
    name: str
    state: str
    uid: Optional[int]
    user: Optional[str]
    cmdline: List[str]
    error: UnitError


class _CgroupRequired(TypedDict):
    version: int
    path: str


class Cgroup(_CgroupRequired, total=False):
    memory_limit_bytes: Optional[int]  # None: no limit
    memory_usage_bytes: Optional[int]


class Limit(TypedDict):
    """One ``getrlimit``; by name: open_files, address_space, data, processes, core."""

    soft: Optional[int]  # None: unlimited
    hard: Optional[int]


class Resources(TypedDict, total=False):
    """This process only (left out when nothing could be read)."""

    rss_bytes: Optional[int]
    rss_peak_bytes: Optional[int]
    vms_bytes: Optional[int]
    cpu_user_s: Optional[float]
    cpu_system_s: Optional[float]
    threads: Optional[int]
    uptime_s: Optional[float]
    nice: Optional[int]
    cgroup: Optional[Cgroup]
    limits: Dict[str, Limit]


class _ProcessesDataRequired(TypedDict):
    process: ProcessNode  # this process; children nested
    notes: List[str]  # what could not be read, and why


class ProcessesData(_ProcessesDataRequired, total=False):
    resources: Resources


# -- configuration, environment, registered sections -------------------------------------


class _ConfigOptionRequired(TypedDict):
    name: str


class ConfigOption(_ConfigOptionRequired, total=False):
    value: Any  # already redacted
    secret: bool
    error: UnitError


class _ConfigGroupRequired(TypedDict):
    name: str
    options: List[ConfigOption]


class ConfigGroup(_ConfigGroupRequired, total=False):
    error: UnitError


class ConfigurationData(TypedDict):
    source: str
    groups: List[ConfigGroup]


class EnvironmentVariable(TypedDict):
    name: str
    value: str


class EnvironmentData(TypedDict):
    variables: List[EnvironmentVariable]


class _RegisteredRequired(TypedDict):
    kind: str  # text or data


class RegisteredData(_RegisteredRequired, total=False):
    """``{"kind": "text", "text"}`` or ``{"kind": "data", "value"}``."""

    text: str
    value: Any


# -- open_files ---------------------------------------------------------------------------


class _OpenFileRequired(TypedDict):
    """kind: file, char device, block device, socket, pipe, eventfd, epoll,
    inotify, signalfd, timerfd, pidfd, io_uring, memfd, anon, namespace, unknown."""

    fd: int
    kind: str
    target: str  # what the descriptor points to


class OpenFile(_OpenFileRequired, total=False):
    protocol: Optional[str]  # sockets: tcp, tcp6, udp, udp6, unix; None: unknown
    state: Optional[str]  # LISTEN, ESTABLISHED, UNCONN, CONNECTED, ...
    local: Optional[str]  # "127.0.0.1:8080", "[::1]:53", a unix path
    peer: Optional[str]  # same form; None when not connected
    deleted: bool  # files only


class OpenFilesData(TypedDict):
    total: int  # open descriptors seen
    by_kind: Dict[str, int]  # every descriptor, most frequent kind first
    fds: List[OpenFile]  # at most max_fds, by descriptor number
    more: int  # descriptors not listed
    notes: List[str]  # what could not be read, and why


# -- python_runtime -----------------------------------------------------------------------


class _PythonRuntimeRequired(TypedDict):
    implementation: str  # cpython, pypy, ...
    version: str  # "3.11.4"
    executable: str
    flags: Dict[str, Any]  # sys.flags: int or bool
    path: List[str]  # sys.path


class PythonRuntimeData(_PythonRuntimeRequired, total=False):
    build: str  # the rest of sys.version (compiler, date)
    prefix: str
    base_prefix: str
    virtualenv: bool  # prefix != base_prefix
    platform: str
    xoptions: Dict[str, Any]  # sys._xoptions (-X ...), secrets masked
    warnoptions: List[str]  # secrets masked
    switch_interval_s: float
    recursion_limit: int
    filesystem_encoding: str
    default_encoding: str
    free_threading_build: bool  # built with --disable-gil
    gil_enabled: bool  # False only on a free-threaded build running without the GIL
    faulthandler: bool  # faulthandler.is_enabled()
    tracemalloc: bool  # tracemalloc is tracing
    #: None: asyncio not loaded; else the debug mode of the loop found (running
    #: in the reporting thread, or the main thread's) or the default
    asyncio_debug: Optional[bool]
    trace_hook: Optional[str]  # sys.gettrace() of the reporting thread
    profile_hook: Optional[str]  # sys.getprofile() of the reporting thread


# -- packages (installed distributions) ----------------------------------------------------


class InstalledDistribution(TypedDict):
    name: str
    version: str
    modules: List[str]  # loaded top-level modules it provides
    location: str  # the sys.path entry it is installed in


class ModuleFile(TypedDict):
    module: str
    file: Optional[str]  # None: a module with no file (a namespace package)


class _DistributionsRequired(TypedDict):
    distributions: List[InstalledDistribution]
    #: loaded top-level modules, not of the standard library, of no known distribution
    unpackaged: List[ModuleFile]
    extensions: List[ModuleFile]  # loaded extension modules
    notes: List[str]


class DistributionsData(_DistributionsRequired, total=False):
    #: {"distributions": int, "path_entries": int, "build_ms": float (time spent
    #: building the index), "built_during_report": bool}
    index: Dict[str, Any]


# -- memory -------------------------------------------------------------------------------


class GcGeneration(TypedDict):
    collections: int
    collected: int
    uncollectable: int


class _GcRequired(TypedDict):
    enabled: bool
    counts: List[int]
    thresholds: List[int]
    generations: List[GcGeneration]


class GcData(_GcRequired, total=False):
    """counts: gc.get_count() before the run; thresholds: gc.get_threshold();
    generations: gc.get_stats()."""

    tracked: List[Optional[int]]  # objects tracked per generation; None: not counted
    tracked_total: Optional[int]  # None unless every generation was counted (gc_scan)
    frozen: Optional[int]  # gc.get_freeze_count()
    garbage: int  # len(gc.garbage)
    callbacks: int  # len(gc.callbacks)
    debug_flags: int  # gc.get_debug()


class AllocationSite(TypedDict):
    file: str
    line: int
    size_bytes: int
    count: int


class _TracemallocRequired(TypedDict):
    current_bytes: int
    peak_bytes: int
    top: List[AllocationSite]


class TracemallocData(_TracemallocRequired, total=False):
    overhead_bytes: int  # tracemalloc's own memory
    traceback_limit: int
    traced_blocks: int  # absent if the traces could not be read


class MemoryData(TypedDict):
    gc: GcData
    allocated_blocks: Optional[int]  # sys.getallocatedblocks()
    tracemalloc: Optional[TracemallocData]  # None: not tracing
    notes: List[str]


def safe_str(value: object) -> str:
    """``str(value)`` that never raises: an object whose ``__str__`` (or
    ``__repr__``) fails is shown by its type and the error instead."""
    try:
        return str(value)
    except Exception as exc:  # a broken __str__ must not cost the report
        return f"<unprintable {type(value).__name__} object: {_describe(exc)}>"


def safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception as exc:
        return f"<unprintable {type(value).__name__} object: {_describe(exc)}>"


def _describe(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:
        return type(exc).__name__


_MAX_DEPTH = 32


def to_plain(value: object, _depth: int = 0) -> Plain:
    """Turn ``value`` into JSON-native data, keeping the order of mappings and
    sequences.  Mapping keys become strings; anything that is not a scalar,
    mapping or sequence becomes its ``str()``."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        # JSON has no NaN or infinity; keep them readable instead
        return (
            value if value == value and value not in (float("inf"), float("-inf")) else str(value)
        )
    if _depth >= _MAX_DEPTH:
        return safe_str(value)
    if isinstance(value, Mapping):
        try:
            items = list(value.items())
        except Exception as exc:
            return f"<unreadable mapping: {_describe(exc)}>"
        return {safe_str(k): to_plain(v, _depth + 1) for k, v in items}
    if isinstance(value, tuple):
        fields = getattr(value, "_fields", None)
        if isinstance(fields, tuple) and len(fields) == len(value):
            # a named tuple keeps its field names (``password`` must stay a key to be masked)
            return {safe_str(k): to_plain(v, _depth + 1) for k, v in zip(fields, value)}
    if isinstance(value, (list, tuple, set, frozenset)):
        seq = list(value)
        if isinstance(value, (set, frozenset)):
            try:
                seq.sort(key=safe_str)
            except Exception:
                pass
        return [to_plain(v, _depth + 1) for v in seq]
    if isinstance(value, bytes):
        return safe_repr(value)
    return safe_str(value)


def error_of(exc: BaseException, tb_text: str) -> SectionError:
    return {"type": type(exc).__name__, "message": safe_str(exc), "traceback": tb_text}


def unit_error(exc: BaseException) -> UnitError:
    """A unit's error as data (the text renderer writes it ``Type: message``)."""
    return {"type": type(exc).__name__, "message": safe_str(exc)}


def find_section(report: Report, section_id: str) -> Optional[Section]:
    for section in report["sections"]:
        if section.get("id") == section_id:
            return section
    return None
