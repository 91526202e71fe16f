"""The one way the Tk front ends run work off the Tk thread and get its result back on it.

Tk is not thread-safe, and a panel must never freeze on a serial port, a download or a file.
So every blocking piece of work runs in a thread, and everything that must touch Tk afterwards
is *posted* back:

- `TkCalls.of(widget)` is the single queue of callbacks for one Tk window, drained by one
  ``after()`` loop on the Tk thread. Any thread may `post` to it; a callback that raises is
  logged and the loop goes on (in Thonny an exception from ``after()`` would be a modal dialog).
- `JobRunner` is what a panel (or the Thonny adapter) owns: ``run(func, on_done)`` calls
  ``func()`` in a new thread and ``on_done(result, exc)`` on the Tk thread; ``post`` forwards
  progress; ``close()`` cancels every job of that owner, so no callback reaches a closed panel.
- `describe_error` and `log_failure` are the one place that decides how a failure is written
  for a person and how it is logged.

The shape follows Thonny's ``workdlg.py`` (work in a thread, results polled with ``after()``)
and our own ``call_with_link(func, on_done)``.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import tkinter as tk
import weakref
from typing import Any, Callable, Hashable

from companion_app.errors import IotkitError
from companion_app.secrets import mask_text

log = logging.getLogger(__name__)

POLL_MS = 20  # how often the Tk thread looks for posted callbacks
BATCH = 500  # callbacks run per tick at most: a flood must not freeze the window

OnDone = Callable[[Any, "BaseException | None"], None]


def describe_error(
    exc: BaseException, port: str | None = None, what: str = "the connection"
) -> str:
    """Turn any exception into one line for a person; explained errors keep their own text.

    Masked, because an error may quote what the board printed (its config, say).
    """
    if isinstance(exc, IotkitError):
        return mask_text(str(exc))
    where = f" on {port}" if port else ""
    text = str(exc).strip() or type(exc).__name__
    return mask_text(f"Unexpected problem with {what}{where}: {text} (details are in the log)")


def log_failure(message: str, exc: BaseException, *args: object) -> None:
    """Explained errors are expected (debug); anything else is a bug worth a traceback."""
    if isinstance(exc, IotkitError):
        log.debug(message, *args, exc_info=exc)
    else:
        log.warning(message, *args, exc_info=exc)


class TkCalls:
    """Callbacks for one Tk window's thread, posted from any thread, run by one ``after()`` loop.

    There is one per Tk root (`of`), so a window with five panels polls once, not five times.
    """

    _by_root: "weakref.WeakValueDictionary[int, TkCalls]" = weakref.WeakValueDictionary()
    _registry_lock = threading.Lock()

    def __init__(self, root: tk.Misc, poll_ms: int = POLL_MS) -> None:
        self.root = root
        self.poll_ms = poll_ms
        self._queue: "queue.SimpleQueue[tuple]" = queue.SimpleQueue()
        self._seq = itertools.count()
        self._stopped = False
        self._after_id: str | None = root.after(poll_ms, self._tick)

    @classmethod
    def of(cls, widget: tk.Misc) -> "TkCalls":
        """The window's one `TkCalls`, made on first use. Call it on the Tk thread."""
        root = widget._root()  # type: ignore[attr-defined]
        with cls._registry_lock:
            calls = cls._by_root.get(id(root))
            if calls is None or calls.root is not root or calls._stopped:
                calls = cls(root)
                cls._by_root[id(root)] = calls
        return calls

    def post(self, callback: Callable[..., Any], *args: Any, latest: Hashable = None) -> None:
        """Run ``callback(*args)`` on the Tk thread soon. Safe from any thread; never blocks.

        With `latest`, only the newest of a run of posts with the same key is run (a progress
        bar needs the last figure, not all of them); a post without a key in between keeps
        its place, so "done" never overtakes the progress that came before it.
        """
        if not self._stopped:
            self._queue.put((next(self._seq), latest, callback, args))

    def stop(self) -> None:
        """End the loop (the window is closing); later posts are dropped."""
        self._stopped = True
        if self._after_id is not None:
            try:
                self.root.after_cancel(self._after_id)
            except tk.TclError:
                pass
            self._after_id = None

    def _tick(self) -> None:
        self._after_id = None
        if self._stopped:
            return
        batch = []
        for _ in range(BATCH):
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        for callback, args in _without_superseded(batch):
            try:
                callback(*args)
            except Exception:  # noqa: BLE001 - one broken callback must not stop the window's loop
                log.exception("a callback on the Tk thread failed: %r", callback)
        if self._stopped:
            return
        try:
            self._after_id = self.root.after(self.poll_ms, self._tick)
        except tk.TclError:  # the window was destroyed by a callback
            self._stopped = True


def _without_superseded(batch: list[tuple]) -> list[tuple[Callable[..., Any], tuple]]:
    """Drop a keyed post when a newer post with the same key follows before any unkeyed one."""
    kept: list[tuple[Callable[..., Any], tuple]] = []
    newer: set[Hashable] = set()
    for _seq, key, callback, args in reversed(batch):
        if key is None:
            newer.clear()
        elif key in newer:
            continue
        else:
            newer.add(key)
        kept.append((callback, args))
    kept.reverse()
    return kept


class Job:
    """One piece of work in its own thread. `cancel` asks it to stop and drops its result."""

    def __init__(
        self,
        name: str,
        func: Callable[[], Any],
        finish: Callable[["Job", Any, "BaseException | None"], None],
    ) -> None:
        self.name = name
        self.cancelled = threading.Event()
        self._func = func
        self._finish = finish
        self._thread = threading.Thread(target=self._run, name=f"iotkit-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        """Drop the result: `on_done` will not run. Stopping the work itself is its owner's
        business (the Flash panel's Cancel event, say), because a stopped flash must still
        report that it stopped."""
        self.cancelled.set()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread. Only for shutting down: never on the Tk thread of a live window."""
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            result = self._func()
        except BaseException as exc:  # noqa: BLE001 - handed to the Tk thread as a message
            log_failure("%s failed", exc, self.name)
            self._finish(self, None, exc)
        else:
            self._finish(self, result, None)


class JobRunner:
    """The jobs of one owner (a panel, the Thonny adapter): run, post, cancel, close.

    ``run(func, on_done)`` runs ``func()`` in a thread and ``on_done(result, exc)`` on the Tk
    thread. After ``close()`` (or ``job.cancel()``) ``on_done`` is never called; a result that
    needs cleaning up (a virtual chip that started meanwhile) goes to ``on_cancelled(result)``
    instead, in the job's own thread, so it is cleaned up even after the window is gone.
    """

    def __init__(self, widget: tk.Misc) -> None:
        self.calls = TkCalls.of(widget)
        self._jobs: set[Job] = set()
        self._undelivered: dict[Job, Callable[[], None]] = {}
        self._lock = threading.Lock()
        self.closed = False

    def run(
        self,
        func: Callable[[], Any],
        on_done: OnDone | None = None,
        *,
        name: str = "job",
        on_cancelled: Callable[[Any], None] | None = None,
    ) -> Job:
        """Start ``func()`` in a thread; ``on_done(result, exc)`` follows on the Tk thread."""

        def cleanup(result: Any) -> None:
            if on_cancelled is not None and result is not None:
                try:
                    on_cancelled(result)
                except Exception:  # noqa: BLE001 - cleaning up after a closed panel
                    log.exception("cleaning up after the cancelled %s failed", name)

        def finish(job: Job, result: Any, exc: BaseException | None) -> None:  # job's thread
            with self._lock:
                dropped = job.cancelled.is_set() or self.closed
                if dropped:
                    self._jobs.discard(job)
                else:  # close() cleans up a result that has not reached the Tk thread yet
                    self._undelivered[job] = lambda: cleanup(result)
            if dropped:
                cleanup(result)
            else:
                self.calls.post(self._deliver, job, on_done, result, exc)

        job = Job(name, func, finish)
        with self._lock:
            if self.closed:
                raise RuntimeError(f"the {name} job was started after its owner closed")
            self._jobs.add(job)
        job.start()
        return job

    def post(self, callback: Callable[..., Any], *args: Any, latest: Hashable = None) -> None:
        """Run ``callback(*args)`` on the Tk thread unless the owner has closed by then."""
        if not self.closed:
            self.calls.post(self._if_open, callback, args, latest=latest)

    def running(self, name: str | None = None) -> list[Job]:
        """The jobs not finished yet (with `name`: only those)."""
        with self._lock:
            return [j for j in self._jobs if name is None or j.name == name]

    def close(self) -> None:
        """Cancel every job of this owner; returns at once (nothing joins on the Tk thread)."""
        with self._lock:
            self.closed = True
            jobs = list(self._jobs)
            cleanups = list(self._undelivered.values())
            self._undelivered.clear()
        for job in jobs:
            job.cancel()
        for cleanup in cleanups:
            cleanup()

    def _deliver(
        self, job: Job, on_done: OnDone | None, result: Any, exc: BaseException | None
    ) -> None:
        with self._lock:
            self._jobs.discard(job)
            cleanup = self._undelivered.pop(job, None)
        if self.closed or job.cancelled.is_set():
            if cleanup is not None:
                cleanup()
            return
        if on_done is not None:
            on_done(result, exc)

    def _if_open(self, callback: Callable[..., Any], args: tuple) -> None:
        if not self.closed:
            callback(*args)
