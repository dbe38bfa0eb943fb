"""Imported by a service script to arm it: JSON and text reports written to
the log directory given as ``argv[1]``; ``nogroup`` as ``argv[2]`` turns the
grouping of identical stacks off."""

from __future__ import annotations

import sys

from gurumeditation import TextGuruMeditation

GROUP = len(sys.argv) < 3 or sys.argv[2] != "nogroup"
TextGuruMeditation.setup_autorun(
    "1.0", service_name="svc", log_dir=sys.argv[1], formats=("json", "text"), group=GROUP
)
