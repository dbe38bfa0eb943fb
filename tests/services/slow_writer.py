"""A 2 MB registered section written 4 KiB at a time, slowly, when argv[2] is 'slow', so the test can kill the process in the middle of a report.

Started by tests/test_report_files.py."""

import os
import sys
import time

import gurumeditation.sinks as sinks
from gurumeditation import TextGuruMeditation

real_write = os.write


class SlowOs:
    # the sink's view of os: its writes go 4 KiB at a time, slowly, so the test
    # can kill the process in the middle of a report
    def __getattr__(self, name):
        return getattr(os, name)

    @staticmethod
    def write(fd, data):
        if fd > 2:
            time.sleep(0.01)
            return real_write(fd, bytes(data[:4096]))
        return real_write(fd, data)


if sys.argv[2] == "slow":
    sinks.os = SlowOs()
TextGuruMeditation.register_section("Big", lambda: "x" * 2_000_000)
TextGuruMeditation.setup_autorun("1.0", service_name="crashy", log_dir=sys.argv[1])
print("READY", flush=True)
while True:
    time.sleep(0.05)
