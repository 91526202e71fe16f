"""The board connection the shared panels see inside Thonny: Thonny's own MicroPython backend.

The panels were written against the companion's `DeviceConnection` (companion_app/gui/app.py).
In Thonny the board port belongs to Thonny's backend process, so this class offers the same
surface with Thonny's semantics:

- ``port``/``state``: what Thonny's MicroPython backend holds now (``proxy._port``); when it
  is connected over WebREPL to a virtual board the plugin started, the port is that board's
  ``socket://`` URL (``link_for_webrepl``), the same board through the endpoint our Link opens.
- Events for listeners, in the Tk thread: ``"connecting"`` (Thonny restarts its backend),
  ``"connected"`` (the backend reached the prompt), ``"data"`` (bytes: whole lines of the
  Shell's stdout, fed by the host from ``ProgramOutput``), ``"error"`` and ``"disconnected"``.
- ``call_with_link(func, on_done)``: the port handover. Thonny's backend is stopped
  (``Runner.destroy_backend()``: the process is killed and the port released), our own
  `Link` opens the port in a job (companion_app.gui.jobs: off the Tk thread) and runs
  ``func(link)``, the link is closed, and ``Runner.restart_backend(False)`` reconnects
  Thonny; ``on_done(result, exc)`` runs in Tk.
- ``disconnect()``/``connect(port)``: the same handover in two steps, for the Flash panel,
  whose own job (esptool) opens the port right after ``disconnect()`` returns;
  ``release_port()`` is ``disconnect()`` with the companion's "wait until it is free" (here
  nothing to wait for: the backend process that held the port is gone).
- ``write(data)``: nothing to do; Thonny's Shell is the console.

Threads: every public method is called in the Tk thread; only the handover's job touches the
port, and its result comes back through the job runner's one queue (`JobRunner.run`). A
failure is logged there, once (`log_failure`), and worded by `describe_error`.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from companion_app.errors import IotkitError
from companion_app.gui.jobs import JobRunner, describe_error, log_failure
from companion_app.gui.listeners import Listeners
from thonnycontrib.iotkit import ports

log = logging.getLogger(__name__)

DEFAULT_BAUD = 115200
CLEAR_NOTICE_MS = 4000  # a handover line stays this long in the Shell's notice bar
NO_INTERPRETER = (
    "Choose a MicroPython interpreter and port in Tools → Options → Interpreter first "
    "(or use Tools → Connect Thonny to a virtual board)."
)
WEBREPL_ONLY = (
    "Thonny is connected to this board over WebREPL, which IoT Kit cannot borrow; connect the "
    "board by USB and choose its port in Tools → Options → Interpreter."
)
# How main.py runs again in Thonny's Shell after a handover over WebREPL (see _rerun_program).
RERUN_OVER_WEBREPL = "exec(open('main.py').read())"
AUTO_NOT_FOUND = (
    "Thonny did not find the board automatically. Plug it in, or choose its port in "
    "Tools → Options → Interpreter."
)

# What a panel's task is called in the one-line handover message, by the panel's module.
DOING_BY_MODULE = {
    "companion_app.gui.deploy_panel": "the IoT Deploy view works on the board",
    "companion_app.gui.wiring_panel": "the IoT Wiring view probes the board",
    "companion_app.gui.flash_panel": "the IoT Flash view works on the board",
}
DEFAULT_DOING = "IoT Kit works on the board"
CLOSED = "IoT Kit is closing with Thonny; the board was not touched."


def describe_task(func: Callable[..., Any]) -> str:
    module = getattr(func, "__module__", "") or ""
    return DOING_BY_MODULE.get(module, DEFAULT_DOING)


@dataclass
class _Handover:
    """The running `call_with_link`: what it does, on which port, and when each step was."""

    doing: str
    port: str
    held: bool  # Thonny's backend held the port (so it reconnects afterwards)
    on_done: Callable[[Any, BaseException | None], None]
    t_start: float
    t_released: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)  # the job's timings, program_restarted


class ThonnyConnection(Listeners):
    """`DeviceConnection`'s surface over Thonny's runner (see module doc). Tk thread only.

    ``state`` is "connected", "connecting" (Thonny's backend has the port, no prompt yet),
    "disconnected", or "busy" while `call_with_link` has the port.
    """

    def __init__(
        self,
        root_getter: Callable[[], Any],
        *,
        baud: Callable[[], int] = lambda: DEFAULT_BAUD,
        announce: Callable[[str], None] | None = None,
        report_error: Callable[[str], None] | None = None,
        link_factory: Callable[[str, int], Any] | None = None,
        link_for_webrepl: Callable[[str | None], str | None] | None = None,
        port_label: Callable[[str], str] | None = None,
    ) -> None:
        super().__init__()
        self._root_getter = root_getter
        self._baud = baud
        self._announce_hook = announce
        self._report_error = report_error
        self._link_factory = link_factory
        self._link_for_webrepl = link_for_webrepl
        self._port_label = port_label
        self._jobs: JobRunner | None = None  # made on first use, when Tk runs
        self._closed = False
        self._task: _Handover | None = None  # the running call_with_link
        self._stopped_port: str | None = None  # stopped by disconnect(), for connect()
        self._stopped_at = 0.0
        self._pending_doing: str | None = None
        self._rerun_after_ready = False
        self._restart_at: float | None = None  # when we asked Thonny to reconnect
        self._ready = False
        self.last_port: str | None = None
        self.handover_log: list[str] = []
        self.timings: list[dict[str, float]] = []  # one dict per handover, for benchmarks
        self.reconnect_handler = None  # DeviceConnection compatibility

    # --- DeviceConnection's surface ---------------------------------------------------------
    @property
    def root(self) -> Any:
        return self._root_getter()

    @property
    def port(self) -> str | None:
        port = self._held_port()
        if port:
            self.last_port = port
        return port

    def _held_port(self) -> str | None:
        """The port our Link would open for the board Thonny's running backend holds now: its
        serial port, or the socket URL of our virtual board when Thonny is on its WebREPL."""
        port = ports.held_port()
        if port is None and self._link_for_webrepl is not None:
            url = ports.held_webrepl_url()
            port = self._link_for_webrepl(url) if url else None
        return port

    @property
    def state(self) -> str:
        if self._task is not None:
            return "busy"  # our own link has the port; Thonny's backend is stopped
        if self.port is None:
            return "disconnected"
        return "connected" if self._ready else "connecting"

    @property
    def is_connected(self) -> bool:
        return self.state == "connected"

    @property
    def busy(self) -> bool:
        return self._task is not None or self._stopped_port is not None

    def write(self, data: bytes) -> None:
        """Thonny's Shell is the console here: typed bytes go there, not through us."""
        log.debug("write(%d bytes) ignored: Thonny's Shell is the console", len(data or b""))

    def reconnect(self) -> None:
        self.connect(self.last_port or "")

    def close(self) -> None:
        """Thonny is closing: no more events, and a running handover's result is dropped (its
        job still closes the link). Returns at once: nothing waits on the Tk thread."""
        self._closed = True
        self._listeners.clear()
        if self._jobs is not None:
            self._jobs.close()

    # --- the Flash panel's two-step handover ------------------------------------------------
    def handover_text(self, port: str, doing: str) -> str:
        """The Flash panel's log line for `disconnect()`; also names the task for our log."""
        self._pending_doing = doing
        return self._handover_line(port, doing)

    def giveback_text(self, port: str) -> str:
        return f"Thonny reconnects to {self._label(port)}"

    def disconnect(self) -> None:
        """Stop Thonny's backend now, so the port is free when this returns (Flash, Detect)."""
        port = self._held_port()
        doing, self._pending_doing = self._pending_doing or DEFAULT_DOING, None
        if port is None:
            return
        self._say(self._handover_line(port, doing), notice=True)
        t0 = time.monotonic()
        self._destroy_backend()
        self._stopped_port = port
        self._stopped_at = time.monotonic()
        self.last_port = port
        self.timings.append({"release_s": self._stopped_at - t0})
        self._note(f"Thonny's backend stopped in {self._stopped_at - t0:.2f} s; {port} is free")

    def release_port(self) -> Callable[[float], bool]:
        """`disconnect` for a program that opens the port itself (the Flash panel's esptool),
        as `DeviceConnection.release_port`. Returns ``wait_released(timeout)``: here the port
        is free already, since stopping Thonny's backend kills the process that held it."""
        self.disconnect()
        return _port_is_free

    def connect(self, port: str) -> None:
        """Give the port back to Thonny (after Flash), or start its backend if it is stopped."""
        stopped, self._stopped_port = self._stopped_port, None
        if stopped is None and self._held_port() is not None:
            return  # Thonny has its board already
        if stopped is None and not ports.is_bare_metal_backend(ports.backend_name()):
            self._fail_soft(NO_INTERPRETER)
            return
        if stopped is not None and self.timings:
            self.timings[-1]["total_s"] = time.monotonic() - self._stopped_at
        if stopped is not None and port and port != stopped:
            log.info(
                "connect(%s) after %s was handed over: Thonny reconnects to its own", port, stopped
            )
        target = self._label(stopped or port) or "its board"
        self._say(f"Thonny reconnects to {target}", notice=True)
        self._restart_backend()

    # --- call_with_link: the one-call handover ----------------------------------------------
    def call_with_link(
        self,
        func: Callable[[Any], Any],
        on_done: Callable[[Any, BaseException | None], None],
        doing: str | None = None,
    ) -> None:
        """Run ``func(link)`` on the board Thonny uses; ``on_done(result, exc)`` in Tk later."""
        if self._closed:
            on_done(None, IotkitError(CLOSED))
            return
        if self._task is not None:
            on_done(
                None,
                IotkitError(
                    f"IoT Kit is already using the board ({self._task.doing}); wait until it "
                    "finishes."
                ),
            )
            return
        if self._stopped_port is not None:
            on_done(
                None,
                IotkitError(
                    f"The IoT Flash view is using {self._stopped_port}; wait until it finishes."
                ),
            )
            return
        try:
            port, held = self._target()
        except IotkitError as exc:
            on_done(None, exc)
            return
        doing = doing or describe_task(func)
        task = _Handover(doing, port, held, on_done, t_start=time.monotonic())
        self._task = task
        if held:
            self._say(self._handover_line(port, doing), notice=True)
            self._destroy_backend()
        else:
            self._say(
                f"Thonny's backend is not connected; IoT Kit opens {port} itself while " f"{doing}",
                notice=True,
            )
        task.t_released = time.monotonic()
        self.last_port = port
        baud = int(self._baud() or DEFAULT_BAUD)
        self._runner().run(
            functools.partial(_run_task, port, baud, func, self._link_factory, task.info),
            functools.partial(self._task_done, task),
            name="board task",
        )

    # --- Thonny's events (the host binds them and forwards here) ----------------------------
    def on_backend_restart(self, event: Any) -> None:
        if getattr(event, "full", True) is False:
            return  # a %Run restarts the program, not the connection
        self._ready = False
        if ports.is_bare_metal_backend(ports.backend_name()):
            port = self._held_port() or self._configured_link() or ""
            self._emit("connecting", port)

    def on_toplevel_response(self, event: Any) -> None:
        get = getattr(event, "get", None)
        welcome = get("welcome_text") if callable(get) else getattr(event, "welcome_text", None)
        if not welcome:
            return
        port = self._held_port()
        if port is None:
            return
        self._ready = True
        self.last_port = port
        if self._restart_at is not None:
            ready = time.monotonic() - self._restart_at
            self._restart_at = None
            if self.timings and "ready_after_restart" not in self.timings[-1]:
                self.timings[-1]["ready_after_restart"] = ready
            self._note(
                f"Thonny is back on {self._label(port)} (its prompt came {ready:.2f} s after "
                "the reconnect)"
            )
            self._clear_notice_later()
        self._emit("connected", port)
        if self._rerun_after_ready:
            self._rerun_after_ready = False
            self._rerun_program()

    def on_backend_terminated(self, event: Any = None) -> None:
        self._ready = False
        self._emit("disconnected", "")

    def feed_output(self, data: bytes) -> None:
        """The host's ProgramOutput lines, as the companion's "data" event."""
        if data:
            self._emit("data", data)

    # --- internals --------------------------------------------------------------------------
    def _configured_link(self, name: str | None = None) -> str | None:
        """The port Thonny's options name for its backend, as our Link would open it: a
        configured WebREPL becomes our virtual board's socket URL, or None if it is not ours."""
        configured = ports.configured_port(name)
        if configured != ports.WEBREPL:
            return configured
        url = ports.configured_webrepl_url(name)
        return self._link_for_webrepl(url) if self._link_for_webrepl is not None else None

    def _target(self) -> tuple[str, bool]:
        """(port, whether Thonny's backend holds it now) or IotkitError saying what to do."""
        port = self._held_port()
        if port is not None:
            return port, True
        name = ports.backend_name()
        if not ports.is_bare_metal_backend(name):
            raise IotkitError(NO_INTERPRETER)
        configured = ports.configured_port(name)
        if not configured or configured == "auto":
            raise IotkitError(AUTO_NOT_FOUND)
        if configured == ports.WEBREPL:
            link = self._configured_link(name)
            if link is None:
                raise IotkitError(WEBREPL_ONLY)
            return link, False
        return configured, False

    def _label(self, port: str | None) -> str:
        """How messages name a port: a virtual board Thonny reaches over WebREPL is named by
        that, not by the socket URL only IoT Kit's own link opens."""
        if not port:
            return ""
        if self._port_label is not None:
            try:
                return self._port_label(port) or port
            except Exception:  # noqa: BLE001 - a label must never break a handover
                log.debug("port_label(%s) failed", port, exc_info=True)
        return port

    def _handover_line(self, port: str, doing: str) -> str:
        return (
            f"Thonny is using {self._label(port)}, so its backend is stopped while {doing}; "
            "it reconnects afterwards"
        )

    def _destroy_backend(self) -> None:
        from thonny import get_runner

        runner = get_runner()
        if runner is not None:
            runner.destroy_backend()

    def _restart_backend(self) -> None:
        from thonny import get_runner

        runner = get_runner()
        if runner is None:
            return
        self._restart_at = time.monotonic()
        try:
            runner.restart_backend(False)
        except Exception as exc:  # noqa: BLE001 - UserError for a bad interpreter, and others
            log_failure("Thonny could not restart its backend", exc)
            self._restart_at = None
            self._fail_soft(f"Thonny could not reconnect to the board: {exc}")
        self._clear_notice_later()  # also when the board never answers (a bootloader)

    def _rerun_program(self) -> None:
        """The task restarted the board's program (a deploy), and Thonny's reconnect stopped it
        with Ctrl-C: run it once more, so its output reaches the Shell (and the IoT Plot view).

        Over a serial port that is a soft reboot, as Thonny's Ctrl-D does. Over WebREPL it is
        not: a board ends the WebREPL session at a soft reboot, and when Thonny reconnects the
        board greets it with ``WebREPL connected`` and a ``>>>`` although main.py is running,
        so Thonny takes the prompt for real and its Shell hangs. There main.py runs in the
        Shell as a command instead (boot.py has already run), and Ctrl-C stops it as usual.
        """
        try:
            from thonny import get_runner, get_shell

            runner = get_runner()
            if runner is None or not runner.ctrld_enabled() or get_shell().has_pending_input():
                return
            if ports.held_webrepl_url():
                self._note(f"Running the board's main.py again ({RERUN_OVER_WEBREPL})")
                get_shell().submit_python_code(RERUN_OVER_WEBREPL + "\n")
            else:
                self._note("Restarting the board's program (Ctrl-D)")
                runner.ctrld()
        except Exception:  # noqa: BLE001
            log.exception("running the board's program again after the handover failed")

    def _runner(self) -> JobRunner:
        if self._jobs is None:
            self._jobs = JobRunner(self.root)
        return self._jobs

    def _task_done(self, task: _Handover, result: Any, exc: BaseException | None) -> None:
        """Tk thread: the handover's job ended; give the port back and tell the panel."""
        if self._task is task:
            self._task = None
        info = task.info
        timing = {
            "release_s": task.t_released - task.t_start,
            "task_s": info.get("task_s", 0.0),
            "open_s": info.get("open_s", 0.0),
            "total_s": time.monotonic() - task.t_start,
        }
        self.timings.append(timing)
        doing = task.doing[0].upper() + task.doing[1:]
        if exc is None:
            self._note(
                f"{doing}: done in {timing['task_s']:.2f} s (Thonny's backend stopped in "
                f"{timing['release_s']:.2f} s)"
            )
        else:
            self._note(f"{doing}: failed ({_one_line(describe_error(exc, task.port))})")
        try:
            if task.held:
                self._rerun_after_ready = bool(info.get("program_restarted")) and exc is None
                self._say(f"Thonny reconnects to {self._label(task.port)}", notice=True)
                self._restart_backend()
            else:
                self._clear_notice_later()
        finally:  # the panel hears of the end even if Thonny could not be restarted
            try:
                task.on_done(result, exc)
            except Exception:  # noqa: BLE001 - a panel's callback must not break the handover
                log.exception("on_done of a board task failed")

    def _say(self, line: str, notice: bool = False) -> None:
        self._note(line)
        if self._announce_hook is not None and notice:
            try:
                self._announce_hook(line)
            except Exception:  # noqa: BLE001
                log.debug("announcing failed", exc_info=True)

    def _note(self, line: str) -> None:
        log.info("%s", line)
        self.handover_log.append(line)
        del self.handover_log[:-200]

    def _clear_notice_later(self) -> None:
        if self._announce_hook is None:
            return
        root = self.root
        if root is None:
            return
        root.after(CLEAR_NOTICE_MS, lambda: self.busy or self._announce_hook(""))

    def _fail_soft(self, message: str) -> None:
        self._note(message)
        self._emit("error", message)
        if self._report_error is not None:
            self._report_error(message)


def _run_task(
    port: str,
    baud: int,
    func: Callable[[Any], Any],
    factory: Callable[[str, int], Any] | None,
    info: dict[str, Any],
) -> Any:
    """The handover's job: open our own link on the port, run the task, close the link.

    `info` gets the timings and whether the task restarted the board's program; a failure is
    raised to the job runner, which logs it (jobs.log_failure) and hands it to the Tk thread.
    """
    t0 = time.monotonic()
    link = None
    try:
        if factory is not None:
            link = factory(port, baud)
        else:
            from companion_app.device.link import Link

            link = Link(port, baudrate=baud)
        _watch_resets(link, info)
        link.open()
        info["open_s"] = time.monotonic() - t0
        return func(link)
    finally:
        info["task_s"] = time.monotonic() - t0
        if link is not None:
            try:
                link.close()
            except Exception:  # noqa: BLE001
                log.debug("closing the link failed", exc_info=True)


def _port_is_free(timeout: float) -> bool:
    """`ThonnyConnection.release_port`'s wait: Thonny's backend process is gone already."""
    return True


def _watch_resets(link: Any, info: dict[str, Any]) -> None:
    """Note whether the task restarted the board's program (soft or hard reset), so that
    main.py can be started again after Thonny's reconnect interrupts it."""
    for name in ("soft_reset", "hard_reset"):
        original = getattr(link, name, None)
        if not callable(original):
            continue

        def wrapper(*args: Any, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            info["program_restarted"] = True
            return _original(*args, **kwargs)

        try:
            setattr(link, name, wrapper)
        except (AttributeError, TypeError):
            pass


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
