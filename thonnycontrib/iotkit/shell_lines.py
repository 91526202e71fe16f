"""Thonny's Shell output, cut into whole lines for the IoT Plot view (and the Deploy log).

Thonny's ``ProgramOutput`` events carry chunks, not lines: up to 1000 characters merged, with
MicroPython's ``\\r\\n``, a line often split across two events. `ShellLines.feed` keeps the
unfinished end of a chunk until its newline arrives, masks known secrets first (a deploy's
Wi-Fi password, IOTKIT_WIFI_PASSWORD: companion_app/secrets.py, even when split across two
chunks), and keeps a backlog of timed lines while no Plot view exists, so a plot opened later
still shows the readings printed before, at the times they were printed.
"""

from __future__ import annotations

import collections
import logging
import time
from typing import Any

from companion_app.secrets import StreamMasker

log = logging.getLogger(__name__)

BACKLOG_LINES = 5000
MAX_PARTIAL = 64 * 1024  # a line that never ends must not grow without bound


class ShellLines:
    """The Shell's stdout as lines; Tk thread (Thonny's events arrive there)."""

    def __init__(self) -> None:
        self.backlog: "collections.deque[tuple[float, str]]" = collections.deque(
            maxlen=BACKLOG_LINES
        )
        self._partial = ""
        self._masker = StreamMasker()

    def feed(self, event: Any, keep_backlog: bool) -> list[str]:
        """The whole lines a ProgramOutput event completes (none for stderr: tracebacks and
        "Process ended with exit code 1." are not readings); with `keep_backlog` they are
        also kept for a Plot view that is not built yet."""
        if getattr(event, "stream_name", "stdout") != "stdout":
            return []
        data = getattr(event, "data", "")
        if not data:
            return []
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        text = self._partial + self._masker.feed(data)
        if "\n" not in text:
            self._partial = text[-MAX_PARTIAL:]
            return []
        *lines, partial = text.split("\n")
        self._partial = partial[-MAX_PARTIAL:]
        lines = [line.rstrip("\r") for line in lines]
        if keep_backlog:
            now = time.monotonic()
            self.backlog.extend((now, line) for line in lines)
        return lines

    def restart(self) -> None:
        """Thonny restarted its backend: a line cut by it is dropped, masked part and all."""
        self._partial = ""
        self._masker.flush()

    def replay_into(self, panel: Any) -> None:
        """Hand the backlog to a Plot panel just built, with the times the lines came."""
        items = list(self.backlog)
        self.backlog.clear()
        if not items:
            return
        replay = getattr(panel, "ingest_backlog", None)
        if callable(replay):
            replay([(t, line + "\n") for t, line in items])
        else:
            panel.ingest_chunk("".join(line + "\n" for _, line in items))
        log.info("replayed %d lines of Shell output into the IoT Plot view", len(items))
