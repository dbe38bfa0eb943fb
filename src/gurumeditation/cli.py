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

from . import __version__, discovery, render
from .model import Report
from .render import json as render_json
from .triggers import cli_request

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
    print(f"gurumeditation: {message}", file=sys.stderr)
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
    try:
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
    formats = ",".join(entry.get("formats") or ["text"])
    return f"{entry.get('logDir') or 'stderr'} ({formats})"


def cmd_list(args: argparse.Namespace) -> int:
    """The processes of this user on this host that have reports enabled."""
    try:
        found = discovery.entries()
    except OSError as exc:
        return fail(str(exc))
    for entry in found:
        entry["uptimeS"] = discovery.uptime_of(int(entry["pid"]), entry)
    if args.json:
        write_output(json.dumps(found, indent=1), None)
        return EXIT_OK
    if not found:
        print("no process with reports enabled", file=sys.stderr)
        return EXIT_OK
    rows = [("PID", "SERVICE", "UPTIME", "SIGNAL", "REPORTS GO TO")]
    for e in found:
        rows.append(
            (
                str(e["pid"]),
                str(e.get("service") or "?"),
                format_duration(e["uptimeS"]),
                str(e.get("signal") or "-"),
                reports_go(e),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4] for r in rows]
    write_output("\n".join(line.rstrip() for line in lines), None)
    return EXIT_OK


# -- report -------------------------------------------------------------------


def process_uid(pid: int) -> Optional[int]:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def process_xdg_runtime_dir(pid: int) -> Optional[str]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            for item in f.read().split(b"\0"):
                if item.startswith(b"XDG_RUNTIME_DIR="):
                    return item.split(b"=", 1)[1].decode("utf-8", "replace")
    except OSError:
        pass
    return None


class ReportError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def locate(pid: int) -> Tuple[Dict[str, Any], str, Optional[int]]:
    """The discovery entry of ``pid``, its runtime directory, and the uid
    that owns it when that is not us (root asking for another user's
    process)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise ReportError(f"no such process: {pid}", EXIT_NO_PROCESS) from None
    except PermissionError:
        raise ReportError(
            f"permission denied: process {pid} belongs to another user "
            "(run this as that user, or as root)",
            EXIT_PERMISSION,
        ) from None
    uid = process_uid(pid)
    other = uid if uid is not None and uid != os.getuid() else None
    try:
        if other is None:
            directory = discovery.runtime_dir()
        else:
            directory = discovery.runtime_dir(uid=other, xdg=process_xdg_runtime_dir(pid))
    except discovery.RuntimeDirError as exc:
        raise ReportError(str(exc), EXIT_PERMISSION) from None
    entry = discovery.find(pid, directory)
    if entry is None:
        raise ReportError(
            f"not enabled: process {pid} has not armed gurumeditation (setup_autorun(), "
            "GURUMEDITATION=1 or 'gurumeditation run'), or not as this user",
            EXIT_NOT_ENABLED,
        )
    if not entry.get("signum"):
        raise ReportError(
            f"not enabled: process {pid} armed gurumeditation without a signal handler "
            "(setup_signal=False)",
            EXIT_NOT_ENABLED,
        )
    return entry, directory, other


def ask_for_report(pid: int, fmt: str, timeout: float) -> str:
    """Have process ``pid`` write a report in ``fmt``; returns its text."""
    entry, directory, other_uid = locate(pid)
    answer_dir = tempfile.mkdtemp(prefix=".answer-", dir=directory)
    try:
        if other_uid is not None:
            os.chown(answer_dir, other_uid, -1)
        output = os.path.join(answer_dir, "report" + (render.SUFFIXES.get(fmt) or ".txt"))
        request = cli_request.write_request(directory, pid, fmt, output)
        if other_uid is not None:
            os.chown(request, other_uid, -1)
        try:
            os.kill(pid, int(entry["signum"]))
        except ProcessLookupError:
            raise ReportError(f"no such process: {pid} (it just exited)", EXIT_NO_PROCESS) from None
        except PermissionError:
            raise ReportError(
                f"permission denied: cannot signal process {pid}", EXIT_PERMISSION
            ) from None
        deadline = time.monotonic() + timeout
        while not os.path.exists(output):
            if time.monotonic() > deadline:
                try:
                    os.unlink(request)
                except OSError:
                    pass
                raise ReportError(
                    f"timed out: process {pid} ({entry.get('service')}) did not answer within "
                    f"{timeout:g} s (stopped, frozen with the GIL held, or the signal blocked?)",
                    EXIT_TIMEOUT,
                )
            if not discovery.pid_alive(pid):
                raise ReportError(
                    f"no such process: {pid} exited before answering", EXIT_NO_PROCESS
                )
            time.sleep(0.02)
        with open(output, encoding="utf-8") as f:
            return f.read()
    finally:
        shutil.rmtree(answer_dir, ignore_errors=True)


def cmd_report(args: argparse.Namespace) -> int:
    """Ask a running process for a report and print it (or write FILE)."""
    try:
        text = ask_for_report(args.pid, args.format, args.timeout)
    except ReportError as exc:
        return fail(str(exc), exc.code)
    except OSError as exc:
        return fail(str(exc))
    try:
        write_output(text, args.output)
    except OSError as exc:
        return fail(f"cannot write {args.output}: {exc}")
    return EXIT_OK


# -- diff ---------------------------------------------------------------------


def cmd_diff(args: argparse.Namespace) -> int:
    """Compare two reports of one process."""
    from . import diff

    try:
        old, new = load_report(args.old), load_report(args.new)
    except (OSError, ValueError) as exc:
        return fail(str(exc))
    result = diff.compare(old, new)
    write_output(json.dumps(result, indent=1) if args.json else diff.render_text(result), None)
    return EXIT_OK


# -- run ----------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    """Run a Python program in this process with reports enabled."""
    from . import autoenable
    from .guru_meditation_report import TextGuruMeditation

    program = list(args.program)
    if program and program[0] == "--":
        program = program[1:]
    if args.module is None and not program:
        return fail(
            "run: name a script (run -- script.py args) or a module (run -m module)", EXIT_USAGE
        )
    try:
        signum = autoenable.parse_signal(args.signal) if args.signal else None
        formats = autoenable.parse_formats(",".join(args.format or ["text"]))
    except ValueError as exc:
        return fail(f"run: {exc}", EXIT_USAGE)
    if args.module is not None:
        service = args.service or args.module
    else:
        service = args.service or autoenable.program_name(program)
    try:
        TextGuruMeditation.setup_autorun(
            None, service_name=service, log_dir=args.log_dir, signum=signum, formats=formats
        )
    except ValueError as exc:
        return fail(f"run: {exc}", EXIT_USAGE)
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
        help="list the processes of this user on this host that have reports enabled",
        description="Processes that armed gurumeditation (setup_autorun, GURUMEDITATION=1, "
        "'gurumeditation run'), from the per-user runtime directory; stale entries are "
        "dropped.",
    )
    listing.add_argument("--json", action="store_true", help="print the entries as JSON")
    listing.set_defaults(func=cmd_list)

    report = commands.add_parser(
        "report",
        help="ask a running process for a report and print it",
        description="Ask process PID (armed, same user or root) for a report now, and "
        "print it or write it to FILE; works whether the process writes its reports to "
        "stderr or to a log directory. Exit codes: 3 no such process, 4 not enabled, "
        "5 permission denied, 6 timed out.",
    )
    report.add_argument("pid", type=int, metavar="PID")
    report.add_argument(
        "--format", "-f", choices=sorted(render.RENDERERS), default="text", help="default: text"
    )
    report.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
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
        "ARGS as its sys.argv, as 'python SCRIPT ARGS' would.",
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
    args = parser.parse_args(argv)
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
