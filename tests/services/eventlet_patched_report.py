"""A monkey-patched eventlet process (its sys.modules full of eventlet's
``__original_module_*`` aliases) prints its own report as JSON and exits.

Started by tests/test_operator_sections.py."""

# ruff: noqa: E402 (imports after monkey patching, on purpose)
import eventlet

eventlet.monkey_patch()
import json

from gurumeditation import GuruMeditation

print(json.dumps(GuruMeditation("1.0").report()))
