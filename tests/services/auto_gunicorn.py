"""A gunicorn sync worker whose request outlives ``--timeout 2``, armed with
``report_on=("abort",)``: argv LOG_DIR SOCKET.  Run as a script it starts
gunicorn (one worker, on the Unix socket SOCKET) with this module as the
application; every worker arms in its own process at import and prints
``READY <pid>``.  ``GET /slow`` sleeps 30 s; ``GET /`` answers at once.

Started by tests/test_automatic_reports.py."""

import os
import sys
import time

if __name__ == "__main__":
    log_dir, sock = sys.argv[1], sys.argv[2]
    os.environ["AUTO_LOG_DIR"] = log_dir
    from gunicorn.app.wsgiapp import run

    sys.argv = [
        "gunicorn",
        "--workers=1",
        "--timeout=2",
        "--graceful-timeout=2",
        f"--bind=unix:{sock}",
        f"--chdir={os.path.dirname(os.path.abspath(__file__))}",
        "auto_gunicorn:app",
    ]
    run()
else:
    from gurumeditation import TextGuruMeditation

    TextGuruMeditation.setup_autorun(
        "1.0",
        service_name="gunicorn-app",
        log_dir=os.environ["AUTO_LOG_DIR"],
        report_on=("abort",),
        formats=("text", "json"),
    )
    print(f"READY {os.getpid()}", flush=True)

    def slow_request() -> None:
        time.sleep(30)

    def app(environ, start_response):  # type: ignore[no-untyped-def]
        if environ.get("PATH_INFO") == "/slow":
            slow_request()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok\n"]
