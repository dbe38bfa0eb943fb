"""Real threads, eventlet greenthreads, asyncio tasks in a loop thread and two registered sections (one with markup meant to break the page), armed for JSON and HTML in argv[1].

Started by tests/test_html_browser.py."""

# ruff: noqa: E402 (imports after a warnings filter or monkey patching, on purpose)
import sys
import threading

import eventlet  # not monkey-patched: real OS threads and greenlets side by side

from gurumeditation import TextGuruMeditation

stop = threading.Event()


def pool_worker():
    stop.wait()


for i in range(3):
    threading.Thread(target=pool_worker, name=f"pool-{i}", daemon=True).start()


def green_worker(n):
    while True:
        eventlet.sleep(0.05)


for i in range(5):
    eventlet.spawn(green_worker, i)
import asyncio


async def task_worker():
    await asyncio.sleep(3600)


async def loop_main():
    tasks = [asyncio.create_task(task_worker(), name=f"job-{i}") for i in range(4)]
    await asyncio.gather(*tasks)


threading.Thread(target=asyncio.run, args=(loop_main(),), name="loop-thread", daemon=True).start()
TextGuruMeditation.register_section(
    "Hostile", lambda: {"name": "</script><img src=x onerror=alert(1)>", "ok": True}
)
TextGuruMeditation.register_section("Notes", lambda: "plain <b>text</b>")
TextGuruMeditation.setup_autorun(
    "1.0", service_name="browser-svc", log_dir=sys.argv[1], formats=("json", "html")
)
eventlet.sleep(0.2)
print("READY", flush=True)
while True:
    eventlet.sleep(0.05)
