"""A WSGI application with a slow endpoint, for the real-server tests of
uWSGI and waitress (tests/test_uwsgi.py, tests/test_waitress_django.py).

``GET /slow`` waits in ``slow_request`` until the file named by
``SLOW_RELEASE`` exists (the test creates it), so the test can ask for
reports while a request is in flight; ``GET /`` answers at once with the
worker's pid.  With ``APP_THREAD=1`` the module starts a thread
(``app-metrics``) when imported: under uWSGI without ``--lazy-apps`` that is
in the master, before the workers are forked.  When run as a script it serves with waitress on the port
named by argv[1] and prints ``READY``.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable, Iterable


def metrics_loop() -> None:
    while True:
        time.sleep(0.05)


if os.environ.get("APP_THREAD") == "1":
    import threading

    threading.Thread(target=metrics_loop, name="app-metrics", daemon=True).start()


def slow_request(release: str) -> None:
    while not os.path.exists(release):
        time.sleep(0.02)


def application(environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:  # type: ignore[type-arg]
    if environ.get("PATH_INFO") == "/slow":
        slow_request(os.environ.get("SLOW_RELEASE", "/nonexistent"))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"pid {os.getpid()}\n".encode()]


if __name__ == "__main__":
    import waitress

    server = waitress.create_server(application, host="127.0.0.1", port=int(sys.argv[1]), threads=2)
    print("READY", flush=True)
    server.run()
