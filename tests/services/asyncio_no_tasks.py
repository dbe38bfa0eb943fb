"""Imports asyncio but never starts a loop or a task: the report has no
Asyncio Tasks section.

Started by tests/test_asyncio_tasks.py."""

import asyncio  # noqa: F401
import time

import armed  # noqa: F401  (arms JSON + text reports into argv[1])

print("READY", flush=True)
time.sleep(60)
