"""Tools → "Connect Thonny to a virtual board": an ``iotkit sim`` child process, and Thonny's
interpreter pointed at it, then put back when Thonny closes.

Steps, and why:

1. `spawn` starts ``iotkit sim --no-pty`` with a loopback ``socket://`` endpoint and a WebREPL
   endpoint with a one-time password, given on its stdin (never in ``ps`` or a log line).
   Thonny accepts no pty or ``socket://`` port (docs/thonny.md); WebREPL works on every OS.
2. `wait_for_endpoints`, a job off the Tk thread (companion_app.gui.jobs), waits for the
   endpoints file the board writes once it is ready, or for its early exit.
3. `VirtualBoards` then sets Thonny's backend for the board's chip to WebREPL at that URL and
   restarts it. What it replaced is remembered first, so `restore_interpreter` can put the
   user's own interpreter back when Thonny closes (the board dies with Thonny).
4. The board's endpoints are kept in `VirtualBoardProcess`: that is how the port handover knows
   "a board we started" (`VirtualBoards.link_for`) and opens its ``socket://`` URL with our Link
   while Thonny's backend is stopped. Never a guess from a port's name.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import os
import secrets
import signal
import string
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from companion_app.errors import IotkitError
from companion_app.gui.jobs import JobRunner, describe_error
from thonnycontrib.iotkit import ports, settings
from thonnycontrib.iotkit.connection import ThonnyConnection
from thonnycontrib.iotkit.messages import Messages, guarded

log = logging.getLogger(__name__)

SIM_START_TIMEOUT_S = 20.0
ENDPOINTS_POLL_S = 0.05  # how often the waiting job looks for the board's endpoints file
STOP_TIMEOUT_S = 5.0
CLEAR_NOTICE_MS = 4000  # the "Thonny connects to…" line stays this long
WEBREPL_PASSWORD_LENGTH = 9  # the most MicroPython's webrepl accepts
LOG_TAIL_CHARS = 400

NO_WEBSOCKETS = (
    "Thonny reaches a virtual board over WebREPL, which needs the websockets package: install "
    "it with Tools → Manage plug-ins… (search websockets), then try again."
)


@dataclass
class VirtualBoardProcess:
    """An `iotkit sim` started for Thonny: a child process that ends with Thonny.

    It serves no pty (the same on every OS): Thonny reaches it through its own WebREPL client
    (``webrepl_url`` with a random ``webrepl_password``), and a panel that borrows the board
    opens ``port``, its ``socket://`` URL, with our Link while Thonny's backend is stopped.
    """

    board_id: str
    backend: str
    process: subprocess.Popen
    endpoints_file: str
    log_file: str
    webrepl_password: str = field(repr=False)
    port: str | None = None  # socket://127.0.0.1:N, for our Link (the handover) and esptool
    webrepl_url: str | None = None
    wiring_file: str | None = None

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.terminate()
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except Exception:  # noqa: BLE001
                try:
                    self.process.kill()
                except Exception:  # noqa: BLE001
                    pass
        for path in (self.endpoints_file, self.wiring_file, self.log_file):
            if path:
                try:
                    os.unlink(path)
                except OSError:
                    pass


class VirtualBoards:
    """The virtual board the plug-in runs for Thonny (at most one at a time); Tk thread."""

    def __init__(
        self,
        messages: Messages,
        connection: ThonnyConnection,
        wiring: Callable[[], dict | None] = lambda: None,
    ) -> None:
        self._messages = messages
        self._connection = connection
        self._wiring = wiring  # the IoT Wiring view's wiring, so the virtual parts match it
        self.current: VirtualBoardProcess | None = None
        self.starting = False
        # Each backend's WebREPL URL and password before a virtual board replaced them.
        self._previous_webrepl: dict[str, tuple[str, str]] = {}
        self._jobs: JobRunner | None = None

    # --- what the handover and the panels ask -----------------------------------------------
    def link_for(self, webrepl_url: str | None) -> str | None:
        """The socket URL of the virtual board we started whose WebREPL is `webrepl_url`.

        This is how "a board we started" is known: by the endpoints it wrote, kept here, never
        guessed from a port's name. The handover opens this URL with our Link while Thonny's
        backend, which talks to the same board over WebREPL, is stopped.
        """
        vb = self.current
        if not webrepl_url or vb is None or not vb.alive() or not vb.port:
            return None
        return vb.port if vb.webrepl_url == webrepl_url else None

    def port_label(self, port: str) -> str:
        """Messages name our virtual board's socket URL as the board Thonny knows."""
        vb = self.current
        if vb is not None and vb.port and port == vb.port and vb.webrepl_url:
            return f"the virtual {vb.board_id} ({vb.webrepl_url}; IoT Kit opens {vb.port})"
        return port

    def port(self) -> str | None:
        """The running board's socket URL (the Flash panel's practice target), or None."""
        vb = self.current
        return vb.port if vb is not None and vb.alive() else None

    # --- starting and stopping --------------------------------------------------------------
    def start(self, board_id: str) -> None:
        """Start `iotkit sim` for `board_id` (a child of Thonny, stopped when Thonny closes)
        and connect Thonny's MicroPython backend to its WebREPL endpoint once it is ready.
        """
        if self.starting:
            return
        from companion_app.boards import load_board

        board = load_board(board_id)
        backend = ports.backend_for_chip(board.chip)
        vb = self.current
        if vb is not None and vb.alive() and vb.board_id == board_id and vb.webrepl_url:
            self._connect_thonny_to(vb)
            return
        self.stop()
        if backend not in ports.WEBREPL_BACKENDS or backend not in _wb().get_backends():
            self._messages.report(
                f"This Thonny has no {backend} interpreter with WebREPL, which a virtual "
                f"{board.name} needs; update Thonny to version 4 or later."
            )
            return
        if importlib.util.find_spec("websockets") is None:
            self._messages.report(NO_WEBSOCKETS)
            return
        self._messages.announce(f"Starting a virtual {board.name} for Thonny…")
        try:
            vb = spawn(board_id, backend, write_wiring(self._wiring()))
        except Exception:
            self._messages.announce("")
            raise  # reported by the command's guard
        self.current = vb
        self.starting = True
        self._runner().run(
            functools.partial(wait_for_endpoints, vb),
            guarded(
                "Connecting Thonny to the virtual board",
                functools.partial(self._started, vb),
                self._messages.report,
            ),
            name="virtual-board",
        )

    def stop(self) -> None:
        vb, self.current = self.current, None
        if vb is not None:
            vb.stop()

    def close(self) -> None:
        """Thonny is closing: its interpreter back as it was, the board stopped, no job left."""
        try:
            self.restore_interpreter()
        finally:
            if self._jobs is not None:
                self._jobs.close()
            self.stop()

    def _runner(self) -> JobRunner:
        if self._jobs is None:  # made on first use: the workbench exists by then
            self._jobs = JobRunner(_wb())
        return self._jobs

    def _started(
        self, vb: VirtualBoardProcess, endpoints: dict | None, exc: BaseException | None
    ) -> None:
        """Tk thread: the board wrote its endpoints (or failed to start)."""
        self.starting = False
        if vb is not self.current:
            return  # stopped (or replaced) meanwhile
        if exc is not None or endpoints is None:
            self.current = None
            vb.stop()
            self._messages.announce("")
            reason = describe_error(exc or IotkitError("no endpoints"), what="the virtual board")
            self._messages.report(f"The virtual board did not start: {reason}")
            return
        vb.port = endpoints["socket"]
        vb.webrepl_url = endpoints["webrepl"]
        self._connect_thonny_to(vb)

    # --- Thonny's interpreter ---------------------------------------------------------------
    def _connect_thonny_to(self, vb: VirtualBoardProcess) -> None:
        """Point Thonny's backend for the board's chip at its WebREPL endpoint and restart it.

        What it replaces is remembered first (unless it is a virtual board of ours), so closing
        Thonny puts the user's own interpreter back: the backend and port in the options
        ``iotkit.previous_backend``/``iotkit.previous_port``, the backend's own WebREPL URL and
        password only in memory (a real board's password is not copied to another key).
        """
        wb = _wb()
        current = str(wb.get_option("run.backend_name") or "")
        if not self.is_ours(current):
            wb.set_option("iotkit.previous_backend", current)
            wb.set_option("iotkit.previous_port", ports.configured_port(current) or "")
        if vb.backend not in self._previous_webrepl and not self.is_ours(vb.backend):
            self._previous_webrepl[vb.backend] = (
                str(wb.get_option(f"{vb.backend}.webrepl_url") or ""),
                str(wb.get_option(f"{vb.backend}.webrepl_password") or ""),
            )
        wb.set_option("run.backend_name", vb.backend)
        wb.set_option(f"{vb.backend}.port", ports.WEBREPL)
        wb.set_option(f"{vb.backend}.webrepl_url", vb.webrepl_url)
        wb.set_option(f"{vb.backend}.webrepl_password", vb.webrepl_password)
        self._connection.last_port = vb.port
        self._messages.announce(f"Thonny connects to the virtual {vb.board_id} at {vb.webrepl_url}")
        self._connection.handover_log.append(
            f"Thonny's interpreter is now {vb.backend} over WebREPL at {vb.webrepl_url} "
            f"(the virtual board; IoT Kit's own link uses {vb.port})"
        )
        from thonny import get_runner

        runner = get_runner()
        if runner is not None:
            runner.restart_backend(False)
        wb.after(CLEAR_NOTICE_MS, self._clear_announcement)

    def _clear_announcement(self) -> None:
        if not self._connection.busy:
            self._messages.announce("")

    def is_ours(self, backend: str) -> bool:
        """Whether `backend` is set to the WebREPL of the virtual board we run now."""
        if not backend or ports.configured_port(backend) != ports.WEBREPL:
            return False
        try:
            url = str(_wb().get_option(f"{backend}.webrepl_url") or "")
        except Exception:  # noqa: BLE001 - not a MicroPython backend
            return False
        return self.link_for(url) is not None

    def restore_interpreter(self) -> None:
        """Thonny is closing with a virtual board as its interpreter: that board dies with it,
        so put back the interpreter it replaced before Thonny saves its settings (and drop the
        board's one-time WebREPL password from them)."""
        vb = self.current
        if vb is None or not vb.webrepl_url or not self.is_ours(vb.backend):
            return
        wb = _wb()
        previous = str(wb.get_option("iotkit.previous_backend") or "")
        previous_port = str(wb.get_option("iotkit.previous_port") or "")
        if previous and previous in wb.get_backends():
            wb.set_option("run.backend_name", previous)
        same = previous == vb.backend
        wb.set_option(f"{vb.backend}.port", previous_port if same and previous_port else "auto")
        url, password = self._previous_webrepl.get(vb.backend, ("", ""))
        wb.set_option(f"{vb.backend}.webrepl_url", url or ports.DEFAULT_WEBREPL_URL)
        wb.set_option(f"{vb.backend}.webrepl_password", password)


def _wb() -> Any:
    return settings.workbench()


def new_webrepl_password() -> str:
    """A random password for one start of a virtual board: MicroPython's WebREPL takes 4 to 9
    characters, so 9 letters and digits (about 53 bits) it is."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(WEBREPL_PASSWORD_LENGTH))


def write_wiring(wiring: dict | None) -> str | None:
    """A temporary copy of a wiring that has wires, for ``iotkit sim --wiring``; else None."""
    if not wiring or not wiring.get("connections"):
        return None
    fd, path = tempfile.mkstemp(prefix="iotkit-wiring-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(wiring, f)
    return path


def spawn(board_id: str, backend: str, wiring_file: str | None = None) -> VirtualBoardProcess:
    """Start ``iotkit sim`` for `board_id`; its endpoints come later (`wait_for_endpoints`)."""
    fd, endpoints_file = tempfile.mkstemp(prefix="iotkit-sim-", suffix=".json")
    os.close(fd)
    os.unlink(endpoints_file)  # the sim writes it once every endpoint is ready
    fd, log_file = tempfile.mkstemp(prefix="iotkit-sim-", suffix=".log")
    os.close(fd)
    password = new_webrepl_password()
    cmd = [
        sys.executable,
        "-m",
        "companion_app",
        "sim",
        "--board",
        board_id,
        "--no-pty",
        "--tcp",
        "0",
        "--webrepl",
        "0",
        "--webrepl-password",
        "-",  # read from stdin: never in `ps`, never in this log line
        "--endpoints-file",
        endpoints_file,
    ]
    flash_dir = settings.virtual_flash_dir()
    if flash_dir:
        cmd += ["--flash-dir", flash_dir]
    if wiring_file:
        cmd += ["--wiring", wiring_file]
    log.info("starting a virtual board for Thonny: %s", " ".join(cmd))
    with open(log_file, "wb") as out:
        process = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent_hook(),
            # Thonny on Windows runs without a console: no console window for the board.
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
        )
    try:
        assert process.stdin is not None
        process.stdin.write((password + "\n").encode("ascii"))
        process.stdin.close()
    except OSError:
        log.warning("the virtual board exited before it read its WebREPL password")
    return VirtualBoardProcess(
        board_id,
        backend,
        process,
        endpoints_file,
        log_file,
        webrepl_password=password,
        wiring_file=wiring_file,
    )


def wait_for_endpoints(vb: VirtualBoardProcess) -> dict:
    """A job (not the Tk thread): the endpoints the board wrote once it is ready.

    IotkitError, with the end of the board's log, when it exits first or takes too long.
    """
    deadline = time.monotonic() + SIM_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if vb.process.poll() is not None:
            raise IotkitError(_tail(vb.log_file) or f"exit code {vb.process.returncode}")
        try:
            with open(vb.endpoints_file, encoding="utf-8") as f:
                endpoints = json.load(f)
        except (OSError, ValueError):
            endpoints = None  # not written yet, or half written
        if isinstance(endpoints, dict) and endpoints.get("webrepl") and endpoints.get("socket"):
            return endpoints
        time.sleep(ENDPOINTS_POLL_S)
    raise IotkitError(f"no endpoints after {SIM_START_TIMEOUT_S:.0f} s. {_tail(vb.log_file)}")


def _tail(path: str, limit: int = LOG_TAIL_CHARS) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()[-limit:]
    except OSError:
        return ""
    return data.decode("utf-8", "replace").strip()


def _die_with_parent_hook() -> Callable[[], None] | None:
    """On Linux, a preexec_fn that makes the kernel send the child SIGTERM if Thonny dies
    without closing (killed, crashed), so no virtual board outlives it. Closing normally
    stops it anyway (WorkbenchClose, atexit). libc is loaded here, in the parent: the child
    only makes one call between fork and exec."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def hook() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return hook
