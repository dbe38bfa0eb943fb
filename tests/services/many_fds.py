"""Holds 5,000 open descriptors and runs an asyncio loop in debug mode, armed for text and JSON.

Started by tests/test_operator_sections.py."""

import asyncio
import os
import resource
import sys

from gurumeditation import TextGuruMeditation

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < 5200:
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 5200), hard))
base = os.open(os.devnull, os.O_RDONLY)
fds = [os.dup(base) for _ in range(5000)]
TextGuruMeditation.setup_autorun(
    "1.0", service_name="manyfds", log_dir=sys.argv[1], formats=("text", "json")
)


async def main():
    print("READY", len(fds), flush=True)
    while True:
        await asyncio.sleep(0.05)


asyncio.run(main(), debug=True)
