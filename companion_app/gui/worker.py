"""Background threads for the Tk front ends, so the Tk thread never waits on a serial port.

Tk is not thread-safe: a worker never calls Tk. Each worker owns its resource (a `Link`, the
port scan) and reports through a callable it is given, called in the worker's thread; the owner
makes that callable post to the Tk thread with its `JobRunner` (companion_app/gui/jobs.py, the
one way work reports to Tk), e.g. ``report=lambda r: runner.post(self._handle, r)``. See
`companion_app.gui.app.DeviceConnection`, which also joins runs of "data" reports into one.
Starting a virtual board is a plain function, `start_virtual_board`, run as a `JobRunner` job.

`LinkWorker`'s reports are plain tuples so they are cheap to make and easy to assert on in tests:

- ``("connected", port)``: the link is open.
- ``("data", bytes)``: bytes that arrived from the board.
- ``("error", message)``: opening failed; the message is written for a person.
- ``("disconnected", message)``: the link was lost (``message`` says why) or closed on request
  (``message`` is ``""``).
- ``("call_done", token, result, exc)``: a `LinkWorker.call_with_link` function finished.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from companion_app.gui.jobs import describe_error, log_failure

log = logging.getLogger(__name__)

# Paste and other large writes are cut into pieces this big, with a read between pieces, so the
# board's echo keeps flowing and its UART receive buffer (256 bytes on an ESP32) never overflows.
WRITE_CHUNK = 64


class LinkWorker(threading.Thread):
    """Owns one `Link` for its whole life: opens it, relays bytes both ways, closes it.

    Writes are queued rather than done by the caller, because a throttled or flow-controlled
    port can block a write for seconds, and the caller is usually the Tk thread.
    """

    def __init__(
        self,
        port: str,
        report: Callable[[tuple], None],
        link_factory: Callable[[str], Any] | None = None,
        baudrate: int = 115200,
        wait_for: threading.Thread | None = None,
    ) -> None:
        super().__init__(name=f"iotkit-link-{port}", daemon=True)
        self._wait_for = wait_for
        self.port = port
        self.report = report  # called in this thread: it must only hand the report on
        self._link_factory = link_factory
        self._baudrate = baudrate
        self._commands: "queue.Queue[tuple]" = queue.Queue()
        self._stop_event = threading.Event()

    # --- called from any thread -------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Queue bytes for the board; they are sent in order, in pieces of `WRITE_CHUNK`."""
        if data:
            self._commands.put(("write", bytes(data)))

    def call_with_link(self, token: object, func: Callable[[Any], Any]) -> None:
        """Run ``func(link)`` in the worker thread, with the console's reading paused meanwhile.

        This lets a panel (Deploy, for example) borrow the open link for a raw-REPL exchange
        without closing the port. The result comes back as a ``("call_done", ...)`` report.
        """
        self._commands.put(("call", token, func))

    def stop(self) -> None:
        """Ask the worker to close the link and end; returns at once."""
        self._stop_event.set()
        self._commands.put(("stop",))

    # --- the worker thread ------------------------------------------------------------------
    def _make_link(self) -> Any:
        if self._link_factory is not None:
            return self._link_factory(self.port)
        from companion_app.device.link import Link

        return Link(self.port, baudrate=self._baudrate)

    def run(self) -> None:
        if self._wait_for is not None:
            # Reconnecting to the same port: the previous worker must release it first.
            self._wait_for.join(timeout=2.0)
        if self._stop_event.is_set():
            self.report(("disconnected", ""))
            return
        try:
            link = self._make_link()
            link.open()
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message
            log_failure("opening %s failed", exc, self.port)
            self.report(("error", describe_error(exc, self.port)))
            return
        self.report(("connected", self.port))
        reason = ""
        try:
            reason = self._relay(link)
        finally:
            try:
                link.close()
            except Exception:  # noqa: BLE001 - closing a dead port may fail; nothing to do
                log.debug("closing %s failed", self.port, exc_info=True)
            self.report(("disconnected", reason))

    def _relay(self, link: Any) -> str:
        """Move bytes until asked to stop (returns "") or the link fails (returns why)."""
        pending: list[bytes] = []
        while not self._stop_event.is_set():
            try:
                while True:
                    cmd = self._commands.get_nowait()
                    if cmd[0] == "stop":
                        return ""
                    if cmd[0] == "write":
                        data = cmd[1]
                        pending.extend(
                            data[i : i + WRITE_CHUNK] for i in range(0, len(data), WRITE_CHUNK)
                        )
                    elif cmd[0] == "call":
                        self._run_call(link, cmd[1], cmd[2])
            except queue.Empty:
                pass
            try:
                if pending:
                    link.write(pending.pop(0))
                    data = link.read_available(timeout=0.0 if pending else 0.02)
                else:
                    data = link.read_available(timeout=0.05)
            except Exception as exc:  # noqa: BLE001 - the board went away or the port broke
                log_failure("link to %s failed", exc, self.port)
                return describe_error(exc, self.port)
            if data:
                self.report(("data", bytes(data)))
        return ""

    def _run_call(self, link: Any, token: object, func: Callable[[Any], Any]) -> None:
        try:
            result = func(link)
        except Exception as exc:  # noqa: BLE001 - handed back to the caller in the Tk thread
            log_failure("call_with_link failed", exc)
            self.report(("call_done", token, None, exc))
        else:
            self.report(("call_done", token, result, None))
        # The console types into the friendly REPL: leave the raw REPL the call may have used.
        if getattr(link, "in_raw_repl", False):
            try:
                link.exit_raw()
            except Exception:  # noqa: BLE001 - the next read reports a dead link anyway
                log.debug("leaving the raw REPL failed", exc_info=True)


@dataclass
class PortInfoSnapshot:
    """What the port poller last saw, as plain data the Tk thread can compare cheaply."""

    ports: Sequence[Any]
    error: str | None = None


class PortPoller(threading.Thread):
    """Lists serial ports every `interval` seconds and reports only when the list changed.

    `serial.tools.list_ports.comports()` can take a noticeable time (USB enumeration, udev), so
    it never runs in the Tk thread. The first result is always reported, even when empty, so the
    app can decide at start whether hardware is present.
    """

    def __init__(
        self,
        report: Callable[[PortInfoSnapshot], None],
        list_ports: Callable[[], Sequence[Any]],
        interval: float = 2.0,
    ) -> None:
        super().__init__(name="iotkit-port-poller", daemon=True)
        self.report = report  # called in this thread with each new `PortInfoSnapshot`
        self._list_ports = list_ports
        self.interval = interval
        self._stop_event = threading.Event()
        self._wake = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()
        self._wake.set()

    def refresh_now(self) -> None:
        """Scan again without waiting for the next tick (the user opened the drop-down)."""
        self._wake.set()

    def run(self) -> None:
        last_key: object = object()
        while not self._stop_event.is_set():
            try:
                ports = list(self._list_ports())
                error = None
            except Exception as exc:  # noqa: BLE001 - a broken scan must not kill the poller
                log_failure("listing ports failed", exc)
                ports, error = [], describe_error(exc)
            key = (tuple((p.device, p.hint) for p in ports), error)
            if key != last_key:
                last_key = key
                self.report(PortInfoSnapshot(ports, error))
            self._wake.wait(self.interval)
            self._wake.clear()


def start_virtual_board(board: str, factory: Callable[[str], Any] | None = None) -> Any:
    """Make and start a virtual board (seconds: the interpreter starts); returns it, started.

    Blocking, so it runs as a `JobRunner` job, never on the Tk thread. A failure is raised;
    `SimulatorUnavailable` already carries a plain sentence (for example on a Raspberry Pi,
    where the interpreter has no wheel), which `describe_error` keeps.
    """
    if factory is not None:
        vb = factory(board)
    else:
        from companion_app.simulator import VirtualBoard

        vb = VirtualBoard(board=board, flash_dir=None)
    vb.start()
    return vb
