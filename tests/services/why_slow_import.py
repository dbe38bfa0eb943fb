"""A module whose import blocks on ``why_threads.import_lock`` (held by the
thread that will import it too): the import deadlock of tests/test_why.py,
imported by tests/services/why_threads.py."""

import __main__

__main__.importing.set()
with __main__.import_lock:
    pass
