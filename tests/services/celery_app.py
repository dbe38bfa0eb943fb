"""A Celery application for tests/test_celery.py: the broker is Redis at
``CELERY_BROKER`` (the test starts its own redis-server); ``slow_task``
waits in ``slow_work`` until the file it is given exists.  Run by the test
as ``python -m celery -A celery_app worker --concurrency 2`` (prefork)."""

import os
import time

from celery import Celery

app = Celery("celery_app", broker=os.environ.get("CELERY_BROKER", "redis://127.0.0.1:6379/0"))
app.conf.worker_hijack_root_logger = False


def slow_work(release: str) -> None:
    while not os.path.exists(release):
        time.sleep(0.02)


@app.task
def slow_task(release: str) -> str:
    slow_work(release)
    return f"done in {os.getpid()}"
