"""A plotting session: one source feeding one store (and maybe a recorder), on one time base.

Why a separate object: the CLI (`iotkit plot`) and the Plot panel both need the same rules for
time, and the same handling of a recorder that starts and stops mid-session. The rules:

- Without device times, a row's time is the host's receive time in seconds since the session
  started (`start()`), or the synthetic time of a file replay.
- When lines carry a device time (`t`/`time`, ParsedLine.t), it wins: seconds relative to the
  first device time seen (plus where the plot already was, if host-timed rows came first).
  Lines without a device time after that get the latest device-based time.
- Time never goes backwards: when the device clock jumps back (the board was reset), the
  device times are re-based to continue from the last plotted time.

Series: the store caps how many there are (`SeriesStore.max_series`). The session asks the store
before it stores or records a new name, so the plot and the CSV have the same columns, and says
once, through `on_error` (the panel's status line; `iotkit plot` prints it as a warning), that
new names are being ignored and what that usually means.

Stopping: on Ctrl-C, `stop(discard=True)` first tells the callbacks to drop whatever still
comes, then stops the source with a short wait, so the exit is not held up by a big chunk the
source was still delivering or by a read that blocks.

Callbacks run in the source's thread; the store and recorder are safe to use from there.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from typing import Callable

from companion_app.readings.parser import ParsedLine
from companion_app.readings.recorder import CsvRecorder, RecordingError
from companion_app.readings.sources import Source
from companion_app.readings.store import SeriesStore

log = logging.getLogger(__name__)

MAX_KEPT_ERRORS = 50
#: How long `stop()` waits for a source's thread by default; a thread stuck in a blocking read
#: (a quiet pipe) is a daemon and cannot hold the process.
STOP_WAIT_S = 3.0


def too_many_series_message(limit: int) -> str:
    """What the person is told when the store is full of series (one definition for all)."""
    return (
        f"More than {limit} different series names came in, so new names are ignored from now "
        "on. Names that look like noise usually mean a wrong baud rate on a serial port; "
        "otherwise the program prints changing labels (put a number in the value, not the name)."
    )


class PlotSession:
    """Wires a source to a store (and an optional CsvRecorder) with one time base."""

    def __init__(
        self,
        source: Source,
        store: SeriesStore,
        recorder: CsvRecorder | None = None,
        *,
        on_error: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.store = store
        self.recorder = recorder
        self.on_error = on_error
        self.errors: list[str] = []
        self.lines = 0  # ParsedLines received (each with at least one value, or a device time)
        self.rows = 0  # rows stored
        self._clock = clock
        self._lock = threading.RLock()
        self.t0: float | None = None
        self._dev_offset: float | None = None
        self._last_t: float | None = None
        self._started = False
        self._stopping = False  # drop what still arrives (stop(discard=True))
        self._stopped = False
        self._admitted: set[str] = set()  # names the store has agreed to keep
        self.dropped_values = 0  # values for names beyond the store's cap

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the clock and the source."""
        if self._started:
            raise RuntimeError("a session can be started once")
        self._started = True
        self.t0 = self._clock()
        self.source.on_lines = self._on_lines
        self.source.on_error = self._on_error
        self.source.start()

    def stop(self, timeout: float = STOP_WAIT_S, *, discard: bool = False) -> None:
        """Stop the source and flush (not close) the recorder: the caller owns it.

        `timeout` bounds the wait for the source's thread. With `discard` (Ctrl-C), lines that
        still arrive are dropped at once instead of stored, so a big chunk in flight cannot hold
        up the exit. A second call only flushes: the source is not waited for twice."""
        if discard:
            self._stopping = True
        if not self._stopped:
            self._stopped = True
            try:
                self.source.stop(timeout)  # type: ignore[call-arg]
            except TypeError:  # a source whose stop() takes no timeout
                self.source.stop()
        with self._lock:
            if self.recorder is not None:
                self.recorder.flush()

    @property
    def stopping(self) -> bool:
        return self._stopping

    def now(self) -> float:
        """Seconds since start() on the host clock (0 before start)."""
        return 0.0 if self.t0 is None else self._clock() - self.t0

    @property
    def last_time(self) -> float | None:
        """The time of the latest row, in the session's time base."""
        return self._last_t

    # ------------------------------------------------------------------ recording

    def start_recording(
        self, path: str | os.PathLike[str], flush_interval_s: float = 0.0
    ) -> CsvRecorder:
        """Record from now on into `path` (the Plot panel's Record button); returns the recorder.

        The recording's time column starts at 0 with its first row.
        """
        recorder = CsvRecorder(path, t0=None, flush_interval_s=flush_interval_s)
        with self._lock:
            old, self.recorder = self.recorder, recorder
        if old is not None:
            old.close()
        return recorder

    def stop_recording(self) -> CsvRecorder | None:
        """Stop and close the current recording, if any; returns it (for its path/row count)."""
        with self._lock:
            recorder, self.recorder = self.recorder, None
        if recorder is not None:
            recorder.close()
        return recorder

    # ------------------------------------------------------------------ source callbacks

    def _on_error(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)
            del self.errors[:-MAX_KEPT_ERRORS]
        if self.on_error is not None:
            try:
                self.on_error(message)
            except Exception:
                log.exception("on_error callback failed")

    def _on_lines(self, receive_time: float, parsed: list[ParsedLine]) -> None:
        if self._stopping:
            return
        with self._lock:
            synthetic = getattr(self.source, "synthetic_time", False)
            step = getattr(self.source, "line_interval_s", None)
            base = receive_time if synthetic or self.t0 is None else receive_time - self.t0
            admitted = self._admitted
            rows: list[tuple[float, dict[str, float]]] = []
            for i, line in enumerate(parsed):
                host_t = base + i * step if step else base
                t = self._time_for(line, host_t)
                self.lines += 1
                values = line.values
                if values and not admitted.issuperset(values):
                    values = self._admit(values)
                if values:
                    rows.append((t, values))
            if not rows:
                return
            self.store.add_many(rows)
            self.rows += len(rows)
            recorder = self.recorder
            if recorder is not None:
                try:
                    for t, values in rows:
                        if self._stopping:
                            break
                        recorder.write(t, values)
                except RecordingError as exc:
                    self.recorder = None
                    recorder.close()
                    message = f"{exc} Recording stopped; the plot goes on."
                    self._on_error(message)

    def _admit(self, values: dict[str, float]) -> dict[str, float]:
        """`values` without the names the store has no room for; warns the first time."""
        kept: dict[str, float] = {}
        for name, value in values.items():
            if name in self._admitted or self.store.admit(name):
                self._admitted.add(name)
                kept[name] = value
            else:
                self.dropped_values += 1
                if self.dropped_values == 1:
                    log.info("the store is full of series; ignoring new names")
                    self._on_error(too_many_series_message(self.store.max_series))
        return kept

    def _time_for(self, line: ParsedLine, host_t: float) -> float:
        last = self._last_t
        dev = line.t
        if dev is not None and math.isfinite(dev):
            if self._dev_offset is None:
                # First device time: it becomes 0, or continues after host-timed rows.
                self._dev_offset = (0.0 if last is None else last) - dev
            elif last is not None and dev + self._dev_offset < last:
                log.info("device time went back (board reset?); continuing from %.3f s", last)
                self._dev_offset = last - dev
            t = dev + self._dev_offset
        elif self._dev_offset is not None and last is not None:
            t = last
        else:
            t = host_t
        if last is not None and t < last:
            t = last
        self._last_t = t
        return t
