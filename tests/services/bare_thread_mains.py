"""Two threads besides the main one: ``touches`` only calls
``greenlet.getcurrent()`` (greenlet makes a main greenlet for it that runs
nothing), ``runs`` parks a child greenlet of its own.  Started by
test_green_threads.test_a_thread_that_only_touched_greenlet_is_no_green_thread."""

import threading
import time

import armed  # noqa: F401  (arms JSON + text reports into argv[1])
import greenlet

stop = threading.Event()
touched = threading.Event()
ran = threading.Event()

def touches_greenlet():
    greenlet.getcurrent()  # greenlet now has a main greenlet for this thread; it runs none
    touched.set()
    stop.wait()

def park_child():
    greenlet.getcurrent().parent.switch()

def runs_a_greenlet():
    child = greenlet.greenlet(park_child)  # its parent: this thread's main greenlet
    child.switch()  # parked for good (held by this frame)
    ran.set()
    stop.wait()

threading.Thread(target=touches_greenlet, name='touches', daemon=True).start()
threading.Thread(target=runs_a_greenlet, name='runs', daemon=True).start()
touched.wait(30)
ran.wait(30)
print('READY', flush=True)
while True:
    time.sleep(0.05)
