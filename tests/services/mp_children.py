"""A plain program (not armed in code) that starts multiprocessing children
every way: a fork, a spawn and a forkserver ``Process``, and a
``ProcessPoolExecutor`` (spawn) task; each child parks in ``child_parked``
until ``<dir>/release`` exists.  Prints ``READY <fork> <spawn> <forkserver>
<pool worker>`` (pids) once every child runs.

Armed from outside: ``GURUMEDITATION=1`` or ``gurumeditation run -- mp_children.py DIR``.
Started by tests/test_multiprocessing_children.py.
"""

import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor


def child_parked(directory: str) -> int:
    with open(os.path.join(directory, f"child-{os.getpid()}"), "w") as f:
        f.write("x")
    while not os.path.exists(os.path.join(directory, "release")):
        time.sleep(0.02)
    return os.getpid()


def wait_for(directory: str, pid: int) -> None:
    while not os.path.exists(os.path.join(directory, f"child-{pid}")):
        time.sleep(0.02)


def main() -> None:
    directory = sys.argv[1]
    pids = []
    procs = []
    for method in ("fork", "spawn", "forkserver"):
        proc = multiprocessing.get_context(method).Process(
            target=child_parked, args=(directory,), name=f"{method}-child"
        )
        proc.start()
        procs.append(proc)
        pids.append(proc.pid)
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    future = pool.submit(child_parked, directory)
    while not pool._processes:  # started with the first task
        time.sleep(0.02)
    pids.append(next(iter(pool._processes)))
    for pid in pids:
        wait_for(directory, pid)
    print("READY", *pids, flush=True)
    for proc in procs:
        proc.join()
    future.result()
    pool.shutdown()


if __name__ == "__main__":
    main()
