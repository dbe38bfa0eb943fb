"""A WSGI app for gunicorn with a slow endpoint that stays in flight until told.

``GET /slow`` writes ``inflight-<pid>-<n>`` into ``$APP_DIR`` when it starts,
then waits in ``slow_request_in_flight`` until ``$APP_DIR/release`` exists;
``GET /`` answers the worker's pid at once.  Armed by the tests on gunicorn's
master zero-code (``GURUMEDITATION=1``); with ``APP_ARMS=1`` the app also
calls ``setup_autorun`` itself when imported (in each worker, or in the
master with ``--preload``).

Started (as ``gunicorn_app:app``, sync / gthread / gevent / eventlet workers) by
tests/test_gunicorn_uvicorn.py.
"""

import itertools
import os
import time

_count = itertools.count()

if os.environ.get("APP_ARMS") == "1":
    from gurumeditation import TextGuruMeditation

    TextGuruMeditation.setup_autorun(
        "1.0",
        service_name="gunicorn-app",
        log_dir=os.environ["APP_LOG_DIR"],
        formats=("text", "json"),
    )


def slow_request_in_flight(directory: str) -> None:
    marker = os.path.join(directory, f"inflight-{os.getpid()}-{next(_count)}")
    with open(marker, "w") as f:
        f.write("x")
    release = os.path.join(directory, "release")
    while not os.path.exists(release):
        time.sleep(0.02)


def app(environ, start_response):  # type: ignore[no-untyped-def]
    if environ.get("PATH_INFO") == "/slow":
        slow_request_in_flight(os.environ["APP_DIR"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
