"""A process tree that shares one sidecar, argv: LOG_DIR CHILDREN SECONDS [MODE].

The master arms (log_dir), then forks CHILDREN children.  Each child sleeps
until the file ``freeze-<its pid>`` appears beside LOG_DIR, then holds the
GIL in native code for SECONDS (a frozen interpreter), prints nothing, and
sleeps on.  The master prints ``READY <child pids>``, then sleeps.

MODE ``forge``: the first child, instead, sends the tree's sidecar an
adoption for another process (the pid in the file ``victim`` beside LOG_DIR,
with that process's start time and SIGTERM as its dump signal), then writes
into the dump pipe it sent — the sidecar must not take it: a process may be
adopted only for itself.  It prints ``FORGED`` on the master's stdout.

Started by tests/test_sidecar_tree.py."""

import array
import ctypes
import os
import socket
import sys
import time
from pathlib import Path

from gurumeditation import TextGuruMeditation, early

TextGuruMeditation.setup_autorun("1.0", service_name="tree", log_dir=sys.argv[1])
early.ensure_loaded()
HERE = Path(sys.argv[1]).parent
CHILDREN, SECONDS = int(sys.argv[2]), int(sys.argv[3])
MODE = sys.argv[4] if len(sys.argv) > 4 else ""

libc = ctypes.CDLL(None)
pylib = ctypes.PyDLL(None)  # PyDLL: the GIL stays held during the call


class timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def frozen_here() -> None:
    mutex = ctypes.create_string_buffer(64)
    libc.pthread_mutex_lock(mutex)
    until = timespec(int(time.time()) + SECONDS, 0)
    pylib.pthread_mutex_timedlock(mutex, ctypes.byref(until))  # held: waits until then


def forge() -> None:
    from gurumeditation import arming, procstat

    victim = int((HERE / "victim").read_text())
    adopt = arming.ARMED.native_dump.adopt  # type: ignore[union-attr]
    dump_r, dump_w = os.pipe()
    _poke_r, poke_w = os.pipe()
    ack_r, _ack_w = os.pipe()
    _door_a, door_b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    args = ["-", "forged", str(victim), "SIGUSR2", "0.25", "0", "15",
            str(procstat.start_ticks(victim)), "0", "-"]
    sock = socket.socket(fileno=adopt)
    fds = array.array("i", [dump_r, poke_w, ack_r, door_b.fileno()]).tobytes()
    sock.sendmsg([b"A" + b"\0".join(a.encode() for a in args)],
                 [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
    sock.detach()
    time.sleep(0.5)
    os.write(dump_w, b"Current thread 0x1 (most recent call first):\n")  # a "signal"
    print("FORGED", flush=True)


def child(index: int) -> None:
    if MODE == "forge" and index == 0:
        forge()
    flag = HERE / f"freeze-{os.getpid()}"
    while True:
        if flag.exists():
            flag.unlink()
            frozen_here()
        time.sleep(0.05)


pids = []
for i in range(CHILDREN):
    pid = os.fork()
    if pid == 0:
        try:
            child(i)
        finally:
            os._exit(0)
    pids.append(pid)
print("READY", *pids, flush=True)
while True:
    time.sleep(0.05)
