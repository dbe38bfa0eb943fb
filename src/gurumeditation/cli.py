"""The ``gurumeditation`` command (also ``python -m gurumeditation``)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import __version__, channel_client, discovery, render, sinks
from .model import Report
from .render import json as render_json
from .terminal import escape, escape_json

EXIT_OK = 0
#: Something went wrong that has no code of its own (unreadable file, ...).
EXIT_FAILED = 1
EXIT_USAGE = 2
#: ``report``: there is no process with that pid.
EXIT_NO_PROCESS = 3
#: ``report``: the process has not armed gurumeditation (or not with a signal).
EXIT_NOT_ENABLED = 4
#: ``report``: the process belongs to another user.
EXIT_PERMISSION = 5
#: ``report``: the process did not answer within ``--timeout``.
EXIT_TIMEOUT = 6


def fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"gurumeditation: {escape(message)}", file=sys.stderr)
    return code


def write_output(text: str, output: Optional[str]) -> None:
    """``text`` to the file ``output``, or to stdout when it is ``None`` or ``-``."""
    if not text.endswith("\n"):
        text += "\n"
    if output and output != "-":
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def load_report(path: str) -> Report:
    """A saved JSON report (``-`` for stdin); ``ValueError``/``OSError`` when it
    cannot be read or is not a report."""
    if path == "-":
        text = sys.stdin.read()
    else:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    try:
        return render_json.load(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def cmd_show(args: argparse.Namespace) -> int:
    """Render a saved JSON report as text (classic layout), HTML or JSON."""
    try:
        report = load_report(args.report)
    except (OSError, ValueError) as exc:
        return fail(str(exc))
    if args.validate:
        from . import schema

        try:
            problems = schema.errors(report)
        except ImportError:
            return fail("--validate needs jsonschema: pip install 'gurumeditation[validate]'")
        if problems:
            for problem in problems:
                print(f"{args.report}: {problem}", file=sys.stderr)
            return EXIT_FAILED
    try:  # (text escapes what the report holds itself)
        write_output(render.render(report, args.format), args.output)
    except OSError as exc:
        return fail(f"cannot write {args.output}: {exc}")
    return EXIT_OK


def _wait_for_ready(proc: subprocess.Popen[str], timeout: float) -> bool:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            return False
        if line.startswith("READY"):
            return True
    return False


def _wait_for_report(log_dir: str, timeout: float) -> Optional[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        names = sorted(
            n for n in os.listdir(log_dir) if "_gurumeditation_" in n and not n.startswith(".")
        )
        if names:
            return os.path.join(log_dir, names[0])
        time.sleep(0.05)
    return None


def cmd_demo(args: argparse.Namespace) -> int:
    """Start the demo service, send it SIGUSR2, print the report it wrote, stop it."""
    log_dir = tempfile.mkdtemp(prefix="gurumeditation-demo-")
    command = [sys.executable, "-m", "gurumeditation.demo.service", "--log-dir", log_dir]
    if args.no_eventlet:
        command.append("--no-eventlet")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        if not _wait_for_ready(proc, timeout=60):
            print("gurumeditation demo: the demo service did not start", file=sys.stderr)
            return EXIT_FAILED
        time.sleep(0.3)  # let the workers reach where they park
        print(f"demo service running as pid {proc.pid}; sending SIGUSR2", file=sys.stderr)
        os.kill(proc.pid, signal.SIGUSR2)
        path = _wait_for_report(log_dir, timeout=30)
        if path is None:
            print("gurumeditation demo: no report was written", file=sys.stderr)
            return EXIT_FAILED
        with open(path, encoding="utf-8") as f:
            sys.stdout.write(f.read() + "\n")
        print(f"(report written to {path}; the service kept running)", file=sys.stderr)
        return EXIT_OK if proc.poll() is None else EXIT_FAILED
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        shutil.rmtree(log_dir, ignore_errors=True)


# -- list ---------------------------------------------------------------------


def format_duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "?"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def reports_go(entry: Dict[str, Any]) -> str:
    formats = ",".join(str(f) for f in entry.get("formats") or ["text"])
    return f"{entry.get('logDir') or 'stderr'} ({formats})"


def answers_to(entry: Dict[str, Any]) -> str:
    if entry.get("responding") is False:
        return "channel (frozen: sidecar)"
    told = entry.get("answersTo")
    text = ",".join(str(a) for a in told) if isinstance(told, list) else "channel"
    if entry.get("signal") and entry.get("signalOurs") is False:
        text += f" ({entry['signal']} taken over)"
    return text


def may_see(pid: int) -> bool:
    """Root sees every user's processes, a user only their own (no connection
    is even tried to another user's)."""
    me = os.geteuid()
    return me == 0 or discovery.process_owner(pid) == me


def armed_pids() -> List[int]:
    """Pids with a channel this user may ask (not this very command, armed
    by ``GURUMEDITATION=1`` and closing its channel as it starts)."""
    me = os.getpid()
    return sorted(
        {
            pid
            for pid, _name in discovery.scan()
            if pid != me and may_see(pid) and discovery.process_state(pid) not in ("Z", "X", "?")
        }
    )


def _in_parallel(work: Callable[[int], Any], pids: List[int]) -> List[Any]:
    from concurrent.futures import ThreadPoolExecutor

    if not pids:
        return []
    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(pids))) as pool:
        return list(pool.map(work, pids))


#: How many processes ``list`` and ``report --all`` ask at once.
PARALLEL = 8


def cmd_list(args: argparse.Namespace) -> int:
    """The processes on this host that have reports enabled (root: every user's)."""
    deadline = time.monotonic() + args.timeout

    def info(pid: int) -> Tuple[Optional[Dict[str, Any]], List[str]]:
        problems: List[str] = []
        try:
            header, _ = channel_client.ask(pid, {"op": "info"}, deadline, problems)
        except channel_client.ChannelError as exc:
            if exc.code == channel_client.TIMEOUT:
                problems.append(f"process {pid} did not answer within {args.timeout:g} s")
            elif not problems and str(exc):
                problems.append(str(exc))
            return None, problems
        except OSError as exc:
            return None, [f"process {pid}: {exc}"]
        header["ppid"] = discovery.process_ppid(pid)
        header["uptimeS"] = discovery.uptime_of(pid)
        header["command"] = discovery.short_command(pid)
        return header, problems

    found: List[Dict[str, Any]] = []
    for entry, problems in _in_parallel(info, armed_pids()):
        for problem in problems:
            print(f"gurumeditation: list: {escape(problem, one_line=True)}", file=sys.stderr)
        if entry is not None:
            for key in ("ok", "op", "size", "protocol"):
                entry.pop(key, None)
            found.append(entry)
    if args.json:
        write_output(json.dumps(found, indent=1), None)
        return EXIT_OK
    if not found:
        print("no process with reports enabled", file=sys.stderr)
        return EXIT_OK
    rows: List[Tuple[str, ...]] = [
        ("PID", "PPID", "SERVICE", "ROLE", "UPTIME", "ANSWERS TO", "COMMAND", "REPORTS GO TO")
    ]
    for e in found:
        rows.append(
            (
                str(e["pid"]),
                str(e.get("ppid") or "?"),
                str(e.get("service") or "?"),
                str(e.get("role") or "-"),
                format_duration(e.get("uptimeS")),
                answers_to(e),
                str(e.get("command") or "?"),
                reports_go(e),
            )
        )
    rows = [tuple(escape(c, one_line=True) for c in r) for r in rows]
    last = len(rows[0]) - 1
    widths = [max(len(r[i]) for r in rows) for i in range(last)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:last], widths)) + "  " + r[last] for r in rows]
    write_output("\n".join(line.rstrip() for line in lines), None)
    return EXIT_OK


# -- report -------------------------------------------------------------------


class ReportError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def check_process(pid: int) -> None:
    """``pid`` exists and this user may ask it (its own, or we are root)."""
    if not discovery.pid_alive(pid):
        raise ReportError(f"no such process: {pid}", EXIT_NO_PROCESS)
    if discovery.process_state(pid) == "Z":
        raise ReportError(f"no such process: {pid} has exited (a zombie)", EXIT_NO_PROCESS)
    owner = discovery.process_owner(pid)
    me = os.geteuid()
    if me != 0 and owner is not None and owner != me:
        raise ReportError(
            f"permission denied: process {pid} belongs to uid {owner} "
            "(run this as that user, or as root)",
            EXIT_PERMISSION,
        )


def _error(pid: int, exc: channel_client.ChannelError, timeout: float) -> ReportError:
    if exc.code == channel_client.TIMEOUT:
        return ReportError(
            f"timed out: process {pid} did not answer on its channel within {timeout:g} s "
            "(stopped, or frozen without a sidecar?)",
            EXIT_TIMEOUT,
        )
    if exc.code == channel_client.PERMISSION:
        return ReportError(
            f"permission denied: process {pid} refused the request "
            "(only its own user or root may ask)",
            EXIT_PERMISSION,
        )
    return ReportError(str(exc), exc.code)


def ask_for_report(pid: int, fmt: str, timeout: float) -> Tuple[Dict[str, Any], str]:
    """Have process ``pid`` make a report in ``fmt``; its answer header and
    the report, safe to print (control characters escaped)."""
    if pid <= 0:
        raise ReportError(f"not a process id: {pid}", EXIT_USAGE)
    check_process(pid)
    deadline = time.monotonic() + timeout
    try:
        header, body = channel_client.ask(pid, {"op": "report", "format": fmt}, deadline)
    except channel_client.ChannelError as exc:
        raise _error(pid, exc, timeout) from None
    if not header.get("ok") and header.get("stopped"):
        raise ReportError(f"did not answer: {header.get('error')}", EXIT_TIMEOUT)
    if not header.get("ok"):
        raise ReportError(
            f"process {pid} could not answer: {header.get('error') or 'no reason given'}",
            EXIT_FAILED,
        )
    return header, safe_report(body, str(header.get("format") or "text"))


def safe_report(body: bytes, fmt: str) -> str:
    """The report as it may be shown: JSON re-serialised from the parsed
    document (real strings, escaped by ``json.dumps``), text and HTML with
    every control character escaped."""
    text = body.decode("utf-8", "replace")
    if fmt == "json":
        try:
            return escape_json(render_json.render(render_json.load(text)))
        except ValueError:
            raise ReportError(
                "the process sent a JSON report that does not parse", EXIT_FAILED
            ) from None
    return escape(text)


def signal_notes(pid: int, header: Dict[str, Any]) -> List[str]:
    notes = []
    state = header.get("signal")
    if isinstance(state, dict) and state.get("ours") is False:
        notes.append(
            f"signal {state.get('name')} of process {pid} was taken over by "
            f"{state.get('takenOverBy') or 'another handler'}; asked over the channel"
        )
    if header.get("nativeDump"):
        notes.append(
            f"process {pid} did not respond (interpreter frozen?): its sidecar answered with "
            "the native dump of every thread, as text"
        )
    return notes


def cmd_report(args: argparse.Namespace) -> int:
    """Ask a running process for a report and print it (or write FILE)."""
    if args.all:
        return report_all(args)
    if args.pid is None:
        return fail("report: name a PID, or --all", EXIT_USAGE)
    if args.pid <= 0:
        return fail(f"report: not a process id: {args.pid}", EXIT_USAGE)
    if args.signal:
        return send_signal(args.pid, args.timeout)
    try:
        header, text = ask_for_report(args.pid, args.format, args.timeout)
    except ReportError as exc:
        return fail(str(exc), exc.code)
    except OSError as exc:
        return fail(str(exc))
    for note in signal_notes(args.pid, header):
        print(f"gurumeditation: {escape(note, one_line=True)}", file=sys.stderr)
    try:
        write_output(text, args.output)
    except OSError as exc:
        return fail(f"cannot write {args.output}: {exc}")
    return EXIT_OK


def send_signal(pid: int, timeout: float) -> int:
    """``--signal``: have the process write a report where it writes its own
    (by its signal) — only while that signal is still its handler's."""
    try:
        check_process(pid)
        header, _ = channel_client.ask(pid, {"op": "info"}, time.monotonic() + timeout)
    except ReportError as exc:
        return fail(str(exc), exc.code)
    except channel_client.ChannelError as exc:
        err = _error(pid, exc, timeout)
        return fail(str(err), err.code)
    name = str(header.get("signal") or "")
    if not name:
        return fail(f"not enabled: process {pid} armed no report signal", EXIT_NOT_ENABLED)
    if not header.get("signalOurs"):
        return fail(
            f"not sent: signal {name} of process {pid} was taken over by "
            f"{header.get('signalTakenOverBy') or 'another handler'}; "
            "ask without --signal (over the channel)",
            EXIT_NOT_ENABLED,
        )
    try:
        signum = int(getattr(signal.Signals, name)) if hasattr(signal.Signals, name) else 0
        if not signum or discovery.start_ticks(pid) != header.get("startTicks"):
            return fail(f"not sent: process {pid} is not the one that answered", EXIT_NO_PROCESS)
        os.kill(pid, signum)
    except ProcessLookupError:
        return fail(f"no such process: {pid}", EXIT_NO_PROCESS)
    except PermissionError:
        return fail(f"permission denied: cannot signal process {pid}", EXIT_PERMISSION)
    print(f"sent {name} to process {pid}; the report goes to {reports_go(header)}", file=sys.stderr)
    return EXIT_OK


def report_all(args: argparse.Namespace) -> int:
    """``report --all``: a report of every armed process (of this user; root:
    of every user), one file each in DIR, a summary line each."""
    from .sinks import safe_service_name

    if args.pid is not None:
        return fail("report: a PID or --all, not both", EXIT_USAGE)
    out_dir = args.output or "."
    try:
        os.makedirs(out_dir, mode=0o700, exist_ok=True)
        dir_fd = os.open(out_dir, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        return fail(f"cannot use {out_dir}: {exc}")
    ext = {"text": "txt", "json": "json", "html": "html"}[args.format]

    def one(pid: int) -> Tuple[int, str, bool, str]:
        try:
            header, text = ask_for_report(pid, args.format, args.timeout)
        except ReportError as exc:
            return pid, "?", False, str(exc)
        except OSError as exc:
            return pid, "?", False, str(exc)
        service = "python"
        try:
            if header.get("format") == "json" or args.format == "json":
                service = str(json.loads(text)["header"].get("service") or service)
        except (ValueError, KeyError, TypeError):
            pass
        if args.format != "json":
            service = _service_from_text(text) or service
        suffix = ext if header.get("format", args.format) == args.format else "txt"
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        name = f"{safe_service_name(service)}_{pid}_gurumeditation_{stamp}.{suffix}"
        data = (text if text.endswith("\n") else text + "\n").encode("utf-8", "replace")
        try:  # 0600, never over or through anything there, never left partial
            sinks.atomic_write(dir_fd, name, data)
        except OSError as exc:
            return pid, service, False, f"cannot write {name}: {exc}"
        note = " (native dump: interpreter frozen)" if header.get("nativeDump") else ""
        return pid, service, True, os.path.join(out_dir, name) + note

    try:
        results = _in_parallel(one, armed_pids())
    finally:
        os.close(dir_fd)
    if not results:
        print("no process with reports enabled", file=sys.stderr)
        return EXIT_OK
    failed = 0
    for pid, service, ok, what in results:
        failed += not ok
        line = f"{pid} {service} {'ok' if ok else 'FAILED'} {what}"
        print(escape(line, one_line=True))
    return EXIT_FAILED if failed else EXIT_OK


def _service_from_text(text: str) -> Optional[str]:
    marker = "Report of "
    start = text.find(marker)
    if start < 0:
        return None
    rest = text[start + len(marker) : start + 300]
    cut = rest.find(" (pid ")
    return rest[:cut] if cut > 0 else None


# -- diff ---------------------------------------------------------------------


def cmd_diff(args: argparse.Namespace) -> int:
    """Compare two reports of one process."""
    from . import diff

    try:
        old, new = load_report(args.old), load_report(args.new)
    except (OSError, ValueError) as exc:
        return fail(str(exc))
    result = diff.compare(old, new)
    write_output(
        json.dumps(result, indent=1) if args.json else escape(diff.render_text(result)), None
    )
    return EXIT_OK


# -- run ----------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    """Run a Python program in this process with reports enabled."""
    from . import options
    from .guru_meditation_report import TextGuruMeditation

    program = list(args.program)
    if program and program[0] == "--":
        program = program[1:]
    if args.module is None and not program:
        return fail(
            "run: name a script (run -- script.py args) or a module (run -m module)", EXIT_USAGE
        )
    try:
        signum = options.parse_signal(args.signal) if args.signal else None
        formats = options.parse_formats(",".join(args.format or ["text"]))
    except ValueError as exc:
        return fail(f"run: {exc}", EXIT_USAGE)
    if args.module is not None:
        service = args.service or args.module
    else:
        service = args.service or options.service_name(program)
    try:
        TextGuruMeditation.setup_autorun(
            None, service_name=service, log_dir=args.log_dir, signum=signum, formats=formats
        )
    except ValueError as exc:
        return fail(f"run: {exc}", EXIT_USAGE)
    # the program's children are armed alike: forked ones by the at-fork hook,
    # spawned ones (multiprocessing spawn/forkserver, uvicorn --workers, any
    # Python it starts) by GURUMEDITATION=1 through the .pth file
    os.environ.update(run_environment(service, args.log_dir, args.signal, formats))
    import runpy

    if args.module is not None:
        sys.argv = [args.module, *program]
        sys.path[0:1] = [os.getcwd()]
        runpy.run_module(args.module, run_name="__main__", alter_sys=True)
    else:
        script = program[0]
        if not os.path.exists(script):
            return fail(f"run: no such file: {script}", EXIT_FAILED)
        sys.argv = program
        sys.path[0:1] = [os.path.dirname(os.path.abspath(script))]
        runpy.run_path(script, run_name="__main__")
    return EXIT_OK


def run_environment(
    service: str, log_dir: Optional[str], signal_arg: Optional[str], formats: Tuple[str, ...]
) -> Dict[str, str]:
    """The ``GURUMEDITATION*`` variables that arm the children of
    ``gurumeditation run`` as the command armed itself."""
    from . import options

    env = {options.ENV_ENABLE: "1", options.ENV_SERVICE: service}
    if log_dir:
        env[options.ENV_LOG_DIR] = os.path.abspath(log_dir)
    if signal_arg:
        env[options.ENV_SIGNAL] = signal_arg
    env[options.ENV_FORMAT] = ",".join(formats)
    return env


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gurumeditation",
        description="Guru Meditation Reports for any Python process.",
        epilog="exit codes: 0 ok, 1 failed, 2 usage, 3 no such process, 4 not enabled, "
        "5 permission denied, 6 timed out",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="run the bundled demo service and show the report it writes on SIGUSR2"
    )
    demo.add_argument(
        "--no-eventlet", action="store_true", help="run the demo without greenthreads"
    )
    demo.set_defaults(func=cmd_demo)

    show = commands.add_parser(
        "show",
        help="render a saved JSON report as text or HTML",
        description="Render a report saved as JSON (by formats=('json',), "
        "'gurumeditation report --format json', ...) in another form.",
    )
    show.add_argument("report", metavar="REPORT.json", help="the saved report ('-' for stdin)")
    show.add_argument(
        "--format", "-f", choices=sorted(render.RENDERERS), default="text", help="default: text"
    )
    show.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    show.add_argument(
        "--validate",
        action="store_true",
        help="check the report against the JSON Schema first (needs jsonschema)",
    )
    show.set_defaults(func=cmd_show)

    listing = commands.add_parser(
        "list",
        help="list the processes of this user (root: of every user) that have reports enabled",
        description="Processes that armed gurumeditation (setup_autorun, GURUMEDITATION=1, "
        "'gurumeditation run'), found by their channels (abstract Unix sockets, "
        "/proc/net/unix) and asked over them; no file is read or written. ROLE: what the "
        "process is to the server it runs in (gunicorn master or worker, uvicorn supervisor "
        "or worker...), '-' when none is known. ANSWERS TO: the channel, and the report "
        "signal while its handler is still gurumeditation's.",
    )
    listing.add_argument("--json", action="store_true", help="print the entries as JSON")
    listing.add_argument(
        "--timeout", "-t", type=float, default=5.0, metavar="S", help="default: 5 seconds"
    )
    listing.set_defaults(func=cmd_list)

    report = commands.add_parser(
        "report",
        help="ask a running process for a report and print it",
        description="Ask process PID (armed, same user or root) for a report now over its "
        "channel (no signal is sent), and print it or write it to FILE; works whether the "
        "process writes its reports to stderr or to a log directory, and whatever became "
        "of its signal. --all: every armed process (root: of every user), one file each in "
        "DIR (-o, default: here). Exit codes: 3 no such process, 4 not enabled, "
        "5 permission denied, 6 timed out.",
    )
    report.add_argument("pid", type=int, metavar="PID", nargs="?")
    report.add_argument(
        "--all", action="store_true", help="every armed process, one file each in DIR (-o)"
    )
    report.add_argument(
        "--format", "-f", choices=sorted(render.RENDERERS), default="text", help="default: text"
    )
    report.add_argument(
        "--output", "-o", metavar="FILE|DIR", help="write to FILE instead of stdout (--all: DIR)"
    )
    report.add_argument(
        "--signal",
        action="store_true",
        help="send the process its report signal instead (the report goes where its own "
        "go); refused when the signal was taken over",
    )
    report.add_argument(
        "--timeout", "-t", type=float, default=10.0, metavar="S", help="default: 10 seconds"
    )
    report.set_defaults(func=cmd_report)

    diff = commands.add_parser(
        "diff",
        help="compare two JSON reports of a process: stuck, moved, new, gone",
        description="Which threads, green threads and tasks have the same stack in both "
        "reports (likely stuck), which moved, which are new and which are gone.",
    )
    diff.add_argument("old", metavar="OLD.json")
    diff.add_argument("new", metavar="NEW.json")
    diff.add_argument("--json", action="store_true", help="print the comparison as JSON")
    diff.set_defaults(func=cmd_diff)

    run = commands.add_parser(
        "run",
        help="run a Python program with reports enabled (no code change)",
        usage="gurumeditation run [options] [-m MODULE | [--] SCRIPT] [ARGS ...]",
        description="Arm reports, then run SCRIPT (or -m MODULE) in this same process with "
        "ARGS as its sys.argv, as 'python SCRIPT ARGS' would. Its children are armed alike "
        "(forked ones by the at-fork hook; spawned ones by GURUMEDITATION=1 and the "
        "GURUMEDITATION_* variables set for them). Every word after MODULE is the module's.",
    )
    run.add_argument("--log-dir", metavar="DIR", help="write reports there (default: stderr)")
    run.add_argument("--signal", metavar="SIG", help="USR2 (default), USR1, SIGUSR1, 12, ...")
    run.add_argument(
        "--format",
        action="append",
        metavar="F",
        help="text (default), json, html; repeat or comma-separate for several",
    )
    run.add_argument("--service", metavar="NAME", help="service name (default: the program's)")
    run.add_argument("-m", dest="module", metavar="MODULE", help="run a module, as python -m")
    run.add_argument("program", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    run.set_defaults(func=cmd_run)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    module_args: Optional[List[str]] = None
    if argv[:1] == ["run"] and "-m" in argv and "--" not in argv[: argv.index("-m")]:
        # `run [options] -m MODULE ARGS`: every word after MODULE is the
        # module's, options included (`-m uvicorn --workers 2`)
        cut = argv.index("-m") + 2
        argv, module_args = argv[:cut], argv[cut:]
    args = parser.parse_args(argv)
    if module_args is not None:
        args.program = module_args
    func: Optional[Callable[[argparse.Namespace], int]] = getattr(args, "func", None)
    if func is not cmd_run:
        discovery.unregister()  # armed by GURUMEDITATION=1: the command itself is no service
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return func(args)


COMMANDS: Dict[str, str] = {
    "demo": "run the bundled demo service",
    "show": "render a saved JSON report",
    "list": "list processes with reports enabled",
    "report": "ask a running process for a report",
    "diff": "compare two JSON reports",
    "run": "run a Python program with reports enabled",
}
