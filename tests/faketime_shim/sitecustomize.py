"""Loaded only by tests/run_faketime.py (it puts this folder first on PYTHONPATH).

Debian's libfaketime 0.9.10 fails `clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)` with EINVAL
when the monotonic clock is left real (FAKETIME_DONT_FAKE_MONOTONIC=1), and faking the monotonic
clock instead makes every timed lock or condition wait hang (glibc's sem_clockwait is not
intercepted). Python 3.11's `time.sleep` is that clock_nanosleep call, so under the runner it
waits on an Event instead: the same wait on the real monotonic clock. Nothing else changes.
"""

import threading
import time


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    threading.Event().wait(seconds)


time.sleep = _sleep
