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
from typing import Callable, Dict, List, Optional

from . import __version__, render
from .model import Report
from .render import json as render_json

EXIT_OK = 0
#: Something went wrong that has no code of its own (unreadable file, ...).
EXIT_FAILED = 1
EXIT_USAGE = 2


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
            return fail("--validate needs the jsonschema package (pip install jsonschema)")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gurumeditation",
        description="Guru Meditation Reports for any Python process.",
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
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Optional[Callable[[argparse.Namespace], int]] = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return func(args)


COMMANDS: Dict[str, str] = {"demo": "run the bundled demo service"}
