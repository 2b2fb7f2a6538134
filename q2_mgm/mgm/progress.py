"""Progress of long runs on the ``q2_mgm`` logger (stderr: shown by the
Python API, and by the ``qiime`` command with ``--verbose``).

One line when the work starts, then one every ``interval`` seconds or so
(written as units are done, or by a background thread while one batch
takes longer), and one when it is done. Each gives the share done and the
time left, estimated from the work done so far: the seconds since the
start divided by the units done, times the units left.
"""
import logging
import os
import threading
import time

log = logging.getLogger("q2_mgm")

# Seconds between two lines; Q2_MGM_PROGRESS_SECONDS changes it.
INTERVAL = 5.0


def interval():
    """``Q2_MGM_PROGRESS_SECONDS`` when set, else ``INTERVAL``."""
    value = os.environ.get("Q2_MGM_PROGRESS_SECONDS")
    if value is None:
        return INTERVAL
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise ValueError(
            f"Q2_MGM_PROGRESS_SECONDS is {value!r}; set it to a number of "
            "seconds (0 or more) between two progress lines, or unset it.")
    return seconds


def duration(seconds):
    """``"45 s"``, ``"3 min 20 s"``, ``"2 h 5 min"``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


class Progress:
    """``advance(n)`` as units of work are done.

    ``task`` starts each line; ``unit`` names what is counted ("samples
    embedded"); ``done``: units already done before this run (a resumed
    training run), which do not count toward the rate; ``note`` is added
    to every line with a time left. ``clock`` and ``seconds`` are for tests.

    Used as a context manager, a background thread also writes the line
    when a batch takes longer than the interval (the time left then grows
    with the time spent on it), until the block ends.
    """

    def __init__(self, task, total, unit, done=0, note="", clock=None,
                 seconds=None):
        self.task, self.total, self.unit, self.note = task, total, unit, note
        self.done = self.start = done
        self.clock = clock or time.monotonic
        self.seconds = interval() if seconds is None else seconds
        self.started = self.last = self.clock()
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        if total > done:
            log.info("%s: %s of %s %s", task, f"{done:,}", f"{total:,}",
                     unit)

    def __enter__(self):
        if self.seconds > 0 and self.total > self.done:
            threading.Thread(target=self._beat, daemon=True).start()
        return self

    def __exit__(self, *exc):
        with self.lock:     # no line once the block is left
            self.stopped.set()

    def _beat(self):
        while not self.stopped.wait(self.seconds / 2):
            with self.lock:
                if not self.stopped.is_set():
                    self._report(self.clock())

    def advance(self, units=1):
        with self.lock:
            if self.done >= self.total:
                return
            self.done = min(self.total, self.done + units)
            now = self.clock()
            if self.done == self.total:
                self.stopped.set()
                log.info("%s: %s of %s %s (100%%) in %s", self.task,
                         f"{self.done:,}", f"{self.total:,}", self.unit,
                         duration(now - self.started))
            else:
                self._report(now)

    def _report(self, now):
        """The line with the time left, when the interval has passed."""
        if now - self.last >= self.seconds and self.start < self.done \
                < self.total:
            self.last = now
            log.info("%s: %s of %s %s (%.0f%%), about %s left%s", self.task,
                     f"{self.done:,}", f"{self.total:,}", self.unit,
                     100 * self.done / self.total,
                     duration(self.left(now)), self.note)

    def left(self, now):
        """Seconds left at the rate of the work done so far."""
        rate = (self.done - self.start) / max(now - self.started, 1e-9)
        return (self.total - self.done) / rate
