"""Three asyncio tasks; armed from inside the running loop for JSON, text and HTML.

Started by tests/test_report_format.py."""

# ruff: noqa: F841 (the list keeps the tasks alive)
import asyncio
import sys

from gurumeditation import TextGuruMeditation


async def sleeper(n):
    await asyncio.sleep(3600)


async def main():
    TextGuruMeditation.setup_autorun(
        "3.0", service_name="aio-svc", log_dir=sys.argv[1], formats=("json", "text", "html")
    )
    tasks = [asyncio.create_task(sleeper(i), name=f"sleeper-{i}") for i in range(3)]
    print("READY", flush=True)
    while True:
        await asyncio.sleep(0.05)


asyncio.run(main())
