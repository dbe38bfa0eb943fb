"""An ASGI app (uvicorn, hypercorn) with a slow endpoint that stays in flight until told.

``GET /slow`` writes ``inflight-<pid>-<n>`` into ``$APP_DIR`` when it starts,
then awaits in ``slow_request_in_flight`` until ``$APP_DIR/release`` exists;
``GET /`` answers the worker's pid.  Not armed here: the tests arm the
supervisor (``GURUMEDITATION=1`` or ``gurumeditation run -m uvicorn``).

Started (as ``asgi_slow_app:app``, 2 workers) by tests/test_gunicorn_uvicorn.py under uvicorn
and hypercorn.
"""

import asyncio
import itertools
import os

_count = itertools.count()


async def slow_request_in_flight(directory: str) -> None:
    marker = os.path.join(directory, f"inflight-{os.getpid()}-{next(_count)}")
    with open(marker, "w") as f:
        f.write("x")
    release = os.path.join(directory, "release")
    while not os.path.exists(release):
        await asyncio.sleep(0.02)


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        await slow_request_in_flight(os.environ["APP_DIR"])
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(os.getpid()).encode()})
