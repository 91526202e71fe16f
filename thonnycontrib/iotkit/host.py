"""The plugin's state inside Thonny: views, commands, the port handover, shell output, wiring.

`load()` (called by ``load_plugin``) registers everything with Thonny and creates the one
`PluginState`; `plugin_state()` returns it (None before loading or when loading failed), and is
also the API the real-Thonny tests drive.

Cheap at load: this module imports only Thonny, the standard library and the plugin's small
modules. The panels, and matplotlib, numpy and esptool behind them, are imported when their
view is first built. Nothing here lets an exception reach Thonny: Thonny 5.0.1 does not catch
one from ``load_plugin`` (its start breaks), and shows a modal dialog for one from a command
or an event handler. Errors are logged to frontend.log, kept in `PluginState.errors`, and shown
in the view they belong to (or in the Shell).

"Connect Thonny to a virtual board" starts ``iotkit sim --no-pty`` with a loopback WebREPL
endpoint and a one-time password (on its stdin), and points Thonny's own WebREPL client at it:
Thonny accepts no pty or ``socket://`` port (docs/thonny.md), WebREPL works on every OS. The
board's endpoints are kept in `VirtualBoardProcess`, so the handover knows "a board we started"
and opens its ``socket://`` URL while Thonny's backend is stopped.
"""

from __future__ import annotations

import collections
import functools
import importlib.util
import json
import logging
import os
import queue
import secrets
import signal
import string
import subprocess
import sys
import tempfile
import threading
import time
import tkinter as tk
from dataclasses import dataclass, field
from tkinter import ttk
from typing import Any, Callable

from companion_app.boards import DEFAULT_BOARD
from companion_app.secrets import StreamMasker, mask_text
from thonnycontrib.iotkit import VIEW_IDS, ports
from thonnycontrib.iotkit.connection import ThonnyConnection

log = logging.getLogger("thonnycontrib.iotkit")

VIEW_LABELS = {
    "Flash": "IoT Flash",
    "Wiring": "IoT Wiring",
    "Deploy": "IoT Deploy",
    "Plot": "IoT Plot",
}
# All four in the east column, one notebook of tabs beside the editor, so the Shell below the
# editor stays visible (the plot reads it). Users can move them; Thonny remembers where.
VIEW_LOCATIONS = {"Flash": "e", "Wiring": "e", "Deploy": "e", "Plot": "e"}

DEFAULT_BAUD = 115200
OPTION_DEFAULTS: dict[str, Any] = {
    "iotkit.board": DEFAULT_BOARD,
    "iotkit.firmware_cache": "",
    "iotkit.baud": DEFAULT_BAUD,
    "iotkit.virtual_flash_dir": "",  # not on the page: "" is the user's data folder
    "iotkit.previous_backend": "",  # what "Connect Thonny to a virtual board" replaced
    "iotkit.previous_port": "",
}
BACKLOG_LINES = 5000
MAX_PARTIAL = 64 * 1024  # a line that never ends must not grow without bound
MAX_ERRORS = 200
SIM_START_TIMEOUT_S = 20.0
WEBREPL_PASSWORD_LENGTH = 9  # the most MicroPython's webrepl accepts
NO_EDITOR = (
    "Open or write a script in the editor first: Check wiring of this script reads the "
    "editor that is in front (saved or not)."
)

NO_WEBSOCKETS = (
    "Thonny reaches a virtual board over WebREPL, which needs the websockets package: install "
    "it with Tools → Manage plug-ins… (search websockets), then try again."
)

COMMANDS = (
    ("iotkit_flash", "Flash MicroPython firmware…", "_cmd_flash"),
    ("iotkit_check_wiring", "Check wiring of this script", "_cmd_check_wiring"),
    ("iotkit_deploy", "Deploy to board…", "_cmd_deploy"),
    ("iotkit_plot", "Live plot", "_cmd_plot"),
    ("iotkit_virtual_board", "Connect Thonny to a virtual board", "_cmd_virtual_board"),
)
COMMAND_GROUP = 120  # between "Open Thonny data folder…" (110) and "Options…" (180)

_STATE: "PluginState | None" = None


def plugin_state() -> "PluginState | None":
    """The plugin's state, or None when the plugin is not loaded (None-safe for tests)."""
    return _STATE


def _wb() -> Any:
    from thonny import get_workbench

    return get_workbench()


def _guarded(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Run a command or event handler so that nothing raises into Thonny."""

    def decorate(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def wrapper(self: "PluginState", *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001
                log.exception("%s failed", what)
                self.report(f"{what} failed: {exc}")
                return None

        return wrapper

    return decorate


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
                self.process.wait(timeout=5)
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


class ThonnyPanelContext:
    """What a panel gets in Thonny, in place of the companion's `PanelContext`.

    Same attributes and hooks: ``root``, ``connection``, ``set_status``, ``app`` (None: there
    is no companion window), ``show_panel(title)``, ``wiring_diagram()`` and ``board_id()``,
    plus ``virtual_board_port()`` for the Flash panel.
    """

    app = None

    def __init__(self, state: "PluginState", view: Any) -> None:
        self._state = state
        self._view = view

    @property
    def root(self) -> Any:
        return _wb()

    @property
    def connection(self) -> ThonnyConnection:
        return self._state.connection

    def set_status(self, text: str) -> None:
        self._view.show_status(text)

    def show_panel(self, title: str) -> bool:
        return self._state.show_view(title)

    def wiring_diagram(self) -> Any | None:
        return getattr(self._state.panel("Wiring"), "diagram", None)

    def board_id(self) -> str | None:
        return self._state.board_id()

    def virtual_board_port(self) -> str | None:
        vb = self._state.virtual_board
        return vb.port if vb is not None and vb.alive() else None


@dataclass
class _Checked:
    """The editor text that "Check wiring of this script" looked at, to jump back into it."""

    editor: Any
    name: str
    findings: list[Any] = field(default_factory=list)


class PluginState:
    """Everything the plugin keeps while Thonny runs (one instance, made by `load`)."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.views: dict[str, Any] = {}
        self.virtual_board: VirtualBoardProcess | None = None
        self.connection = ThonnyConnection(
            _wb,
            baud=self.baud,
            announce=self._announce,
            report_error=self.report,
            link_for_webrepl=self.virtual_link_for,
            port_label=self.port_label,
        )
        self.backlog: "collections.deque[tuple[float, str]]" = collections.deque(
            maxlen=BACKLOG_LINES
        )
        self._partial = ""
        # Known secrets (a deploy's Wi-Fi password, IOTKIT_WIFI_PASSWORD) are masked before the
        # Shell's output reaches the Plot, its backlog or the Deploy panel, even when a password
        # is split across two ProgramOutput chunks (companion_app/secrets.py).
        self._masker = StreamMasker()
        self.checked: _Checked | None = None
        # Each backend's WebREPL URL and password before a virtual board replaced them.
        self._previous_webrepl: dict[str, tuple[str, str]] = {}
        self._sim_reports: "queue.Queue[tuple]" = queue.Queue()
        self._sim_starting = False
        self._announced: list[str] = []  # handover lines shown in the views, cleared after

    # --- test API ---------------------------------------------------------------------------
    @property
    def handover_log(self) -> list[str]:
        return self.connection.handover_log

    def panel(self, name: str) -> Any | None:
        """The panel inside the view for "Flash"/"Wiring"/"Deploy"/"Plot", None if not built."""
        view = self.views.get(name)
        return getattr(view, "panel", None) if view is not None else None

    def view(self, name: str) -> Any | None:
        return self.views.get(name)

    # --- options ----------------------------------------------------------------------------
    def board_id(self) -> str:
        try:
            value = str(_wb().get_option("iotkit.board") or "").strip()
        except Exception:  # noqa: BLE001
            value = ""
        return value or DEFAULT_BOARD

    def baud(self) -> int:
        try:
            return int(_wb().get_option("iotkit.baud") or DEFAULT_BAUD)
        except (TypeError, ValueError):
            return DEFAULT_BAUD

    def firmware_cache_dir(self) -> str | None:
        try:
            value = str(_wb().get_option("iotkit.firmware_cache") or "").strip()
        except Exception:  # noqa: BLE001
            value = ""
        return value or None

    def options_changed(self) -> None:
        """The IoT Kit options page was applied: built panels follow the new values."""
        flash = self.panel("Flash")
        if flash is not None:
            flash.set_cache(self._firmware_cache())
            if flash.board_type() != self.board_id():
                flash.set_board_type(self.board_id())  # its flashing hint names this board
        wiring = self.panel("Wiring")
        if wiring is not None and wiring.board.id != self.board_id():
            wiring.set_board(self.board_id())

    def _firmware_cache(self) -> Any | None:
        folder = self.firmware_cache_dir()
        if folder is None:
            return None  # the panel's default: $IOTKIT_FIRMWARE_CACHE, else the user cache
        from companion_app.firmware.cache import FirmwareCache

        return FirmwareCache(folder)

    # --- reporting --------------------------------------------------------------------------
    def record_error(self, text: str) -> None:
        self.errors.append(text)
        del self.errors[:-MAX_ERRORS]

    def report(self, text: str, view: str | None = None) -> None:
        """An error for a person: kept, logged, and shown in the view or else the Shell."""
        text = mask_text(text)  # an error may quote board output
        log.warning("%s", text)
        self.record_error(text)
        target = self.views.get(view) if view else None
        if target is not None:
            target.show_status(text, error=True)
            return
        try:
            from thonny import get_shell

            get_shell().print_error(f"\nIoT Kit: {text}\n")
        except Exception:  # noqa: BLE001
            log.debug("could not print to the Shell", exc_info=True)

    def _announce(self, line: str) -> None:
        """Handover messages: the Shell's notice bar (empty text hides it) and the views."""
        try:
            from thonny import get_shell

            get_shell().set_notice(line or None)
        except Exception:  # noqa: BLE001
            log.debug("could not show the Shell notice", exc_info=True)
        for view in self.views.values():
            if line:
                view.show_status(line)
            elif view.status_var.get() in self._announced:
                view.show_status("")  # the handover is over; a panel's own message stays
        if line:
            self._announced.append(line)
            del self._announced[:-20]
        else:
            self._announced.clear()

    # --- views ------------------------------------------------------------------------------
    def show_view(self, title: str) -> bool:
        view_id = VIEW_IDS.get(title)
        if view_id is None:
            return False
        shown = _wb().show_view(view_id)
        return bool(shown)

    def build_view(self, view: Any) -> None:
        """Build the panel of a view Thonny has just created (see views.IotPanelView)."""
        title = view.title
        self.views[title] = view
        ctx = ThonnyPanelContext(self, view)
        parent = view.scroller.inner
        panel: Any
        if title == "Flash":
            from companion_app.gui.flash_panel import FlashPanel

            panel = FlashPanel(parent, ctx, cache=self._firmware_cache(), compact=True)
        elif title == "Wiring":
            from companion_app.gui.wiring_panel import WiringPanel

            panel = WiringPanel(parent, ctx, on_finding_click=self._finding_clicked, compact=True)
            board = self.board_id()
            if board != panel.board.id:
                panel.set_board(board)
        elif title == "Deploy":
            from companion_app.gui.deploy_panel import DeployPanel

            panel = DeployPanel(parent, ctx, compact=True)
        elif title == "Plot":
            from companion_app.gui.plot_panel import PlotPanel

            panel = PlotPanel(parent, ctx, compact=True)
            # Its figure asks for 800×450 px; in a side column it should shrink, not scroll.
            panel.canvas.get_tk_widget().configure(width=320, height=200)
        else:
            raise ValueError(f"unknown IoT Kit view {title!r}")
        panel.pack(fill="both", expand=True)
        _natural_width_buttons(panel)
        view.panel = panel
        if title == "Plot":
            self._replay_backlog(panel)
        log.info("IoT %s view built", title)

    def view_shown(self, view: Any) -> None:
        if view.title == "Flash" and view.panel is not None:
            view.panel.refresh_cache()

    def _close_panels(self) -> None:
        for title, view in list(self.views.items()):
            closer = getattr(view.panel, "close", None)
            if callable(closer):
                try:
                    closer()
                except Exception:  # noqa: BLE001
                    log.exception("closing the IoT %s panel failed", title)

    # --- Thonny's events --------------------------------------------------------------------
    @_guarded("Reading the Shell's output for the plot")
    def on_program_output(self, event: Any) -> None:
        """ProgramOutput carries chunks (merged up to 1000 characters, \\r\\n from MicroPython):
        cut them into whole lines, keep a backlog for a Plot view opened later, and pass the
        lines on as the connection's "data" event."""
        if getattr(event, "stream_name", "stdout") != "stdout":
            return  # tracebacks and "Process ended with exit code 1." are not readings
        data = getattr(event, "data", "")
        if not data:
            return
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        text = self._partial + self._masker.feed(data)
        if "\n" not in text:
            self._partial = text[-MAX_PARTIAL:]
            return
        *lines, self._partial = text.split("\n")
        self._partial = self._partial[-MAX_PARTIAL:]
        lines = [line.rstrip("\r") for line in lines]
        if self.panel("Plot") is None:
            now = time.monotonic()
            self.backlog.extend((now, line) for line in lines)
        self.connection.feed_output(("\n".join(lines) + "\n").encode("utf-8"))

    def _replay_backlog(self, panel: Any) -> None:
        items, self.backlog = list(self.backlog), collections.deque(maxlen=BACKLOG_LINES)
        if not items:
            return
        replay = getattr(panel, "ingest_backlog", None)
        if callable(replay):
            replay([(t, line + "\n") for t, line in items])
        else:
            panel.ingest_chunk("".join(line + "\n" for _, line in items))
        log.info("replayed %d lines of Shell output into the IoT Plot view", len(items))

    @_guarded("Following Thonny's backend")
    def on_backend_restart(self, event: Any) -> None:
        self._partial = ""
        self._masker.flush()  # a line cut by the restart is dropped, like the partial line
        self.connection.on_backend_restart(event)

    @_guarded("Following Thonny's backend")
    def on_toplevel_response(self, event: Any) -> None:
        self.connection.on_toplevel_response(event)

    @_guarded("Following Thonny's backend")
    def on_backend_terminated(self, event: Any) -> None:
        self.connection.on_backend_terminated(event)

    @_guarded("Closing IoT Kit")
    def on_workbench_close(self, event: Any = None) -> None:
        self._close_panels()
        self._restore_interpreter()
        self.stop_virtual_board()

    # --- commands ---------------------------------------------------------------------------
    @_guarded("Flash MicroPython firmware")
    def _cmd_flash(self) -> None:
        self.show_view("Flash")

    @_guarded("Deploy to board")
    def _cmd_deploy(self) -> None:
        self.show_view("Deploy")

    @_guarded("Live plot")
    def _cmd_plot(self) -> None:
        self.show_view("Plot")

    @_guarded("Check wiring of this script")
    def _cmd_check_wiring(self) -> None:
        self.check_editor_wiring()

    @_guarded("Connect Thonny to a virtual board")
    def _cmd_virtual_board(self) -> None:
        self.start_virtual_board()

    # --- Check wiring of this script --------------------------------------------------------
    def check_editor_wiring(self) -> list[Any]:
        """Check the front editor's text (saved or not) against the board from the options;
        show the IoT Wiring view with the findings and return them."""
        editor = _current_editor()
        self.show_view("Wiring")
        panel = self.panel("Wiring")
        view = self.views.get("Wiring")
        if editor is None:
            self.checked = None
            if view is not None:
                view.show_status(NO_EDITOR, error=True)
            else:
                self.report(NO_EDITOR)
            return []
        text = editor.get_content()
        name = _editor_name(editor)
        board = self.board_id()
        from companion_app.gui.wiring_panel import run_wiring_check

        wiring = json.loads(json.dumps(panel.wiring)) if panel is not None else None
        source = panel.source if panel is not None else ""
        _board, _diagram, findings = run_wiring_check(
            board, wiring, source, [], texts=[(name, text)]
        )
        self.checked = _Checked(editor, name, list(findings))
        if panel is not None:
            panel.check_text(text, name, board_id=board)
        if view is not None:
            n = sum(1 for f in findings if f.line is not None)
            view.show_status(
                f"Checked {name} for {board}: {len(findings)} finding"
                f"{'s' * (len(findings) != 1)}"
                + (f"; click one to go to its line ({n} in the script)." if n else ".")
            )
        return list(findings)

    def goto_finding(self, index: int) -> bool:
        """Move the editor's cursor to the line of finding `index` of the last editor check."""
        checked = self.checked
        if checked is None or not 0 <= index < len(checked.findings):
            return False
        return self.goto_line(checked.findings[index])

    def goto_line(self, finding: Any) -> bool:
        line = getattr(finding, "line", None)
        if not line:
            return False
        editor = None
        checked = self.checked
        where = str(getattr(finding, "where", ""))
        if checked is not None and where.startswith(checked.name + ":"):
            editor = checked.editor if _editor_is_open(checked.editor) else None
        if editor is None:
            path = where.rsplit(":", 1)[0]
            if path and os.path.isfile(path):
                editor = _wb().get_editor_notebook().show_file(path)
        if editor is None:
            self.report(
                "The script of this finding is not open in the editor any more.", view="Wiring"
            )
            return False
        notebook = _wb().get_editor_notebook()
        notebook.select(editor)
        text = editor.get_text_widget()
        text.mark_set("insert", f"{int(line)}.0")
        text.see(f"{int(line)}.0")
        editor.focus_set()
        text.focus_set()
        return True

    @_guarded("Going to the finding's line")
    def _finding_clicked(self, finding: Any) -> None:
        self.goto_line(finding)

    # --- virtual boards ---------------------------------------------------------------------
    def virtual_link_for(self, webrepl_url: str | None) -> str | None:
        """The socket URL of the virtual board we started whose WebREPL is `webrepl_url`.

        This is how "a board we started" is known: by the endpoints it wrote, kept here, never
        guessed from a port's name. The handover opens this URL with our Link while Thonny's
        backend, which talks to the same board over WebREPL, is stopped.
        """
        vb = self.virtual_board
        if not webrepl_url or vb is None or not vb.alive() or not vb.port:
            return None
        return vb.port if vb.webrepl_url == webrepl_url else None

    def port_label(self, port: str) -> str:
        """Messages name our virtual board's socket URL as the board Thonny knows."""
        vb = self.virtual_board
        if vb is not None and vb.port and port == vb.port and vb.webrepl_url:
            return f"the virtual {vb.board_id} ({vb.webrepl_url}; IoT Kit opens {vb.port})"
        return port

    def start_virtual_board(self) -> None:
        """Start `iotkit sim` for the board from the options (a child of Thonny, stopped when
        Thonny closes) and connect Thonny's MicroPython backend to its WebREPL endpoint."""
        if self._sim_starting:
            return
        board_id = self.board_id()
        from companion_app.boards import load_board

        board = load_board(board_id)
        backend = ports.backend_for_chip(board.chip)
        vb = self.virtual_board
        if vb is not None and vb.alive() and vb.board_id == board_id and vb.webrepl_url:
            self._connect_thonny_to(vb)
            return
        self.stop_virtual_board()
        if backend not in ports.WEBREPL_BACKENDS or backend not in _wb().get_backends():
            self.report(
                f"This Thonny has no {backend} interpreter with WebREPL, which a virtual "
                f"{board.name} needs; update Thonny to version 4 or later."
            )
            return
        if importlib.util.find_spec("websockets") is None:
            self.report(NO_WEBSOCKETS)
            return
        self._sim_starting = True
        self._announce(f"Starting a virtual {board.name} for Thonny…")
        vb = self._spawn_sim(board_id, backend)
        self.virtual_board = vb
        threading.Thread(
            target=_wait_for_endpoints,
            args=(vb, self._sim_reports),
            name="iotkit-sim-endpoints",
            daemon=True,
        ).start()
        _wb().after(50, self._poll_sim)

    def _spawn_sim(self, board_id: str, backend: str) -> VirtualBoardProcess:
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
        flash_dir = str(_wb().get_option("iotkit.virtual_flash_dir") or "").strip()
        if flash_dir:
            cmd += ["--flash-dir", flash_dir]
        wiring_file = self._wiring_for_sim()
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

    def _wiring_for_sim(self) -> str | None:
        """The IoT Wiring view's wiring, if it has wires, so the virtual parts match it."""
        panel = self.panel("Wiring")
        wiring = getattr(panel, "wiring", None)
        if not wiring or not wiring.get("connections"):
            return None
        fd, path = tempfile.mkstemp(prefix="iotkit-wiring-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(wiring, f)
        return path

    def _poll_sim(self) -> None:
        try:
            kind, found, detail = self._sim_reports.get_nowait()
        except queue.Empty:
            _wb().after(50, self._poll_sim)
            return
        self._sim_starting = False
        vb: VirtualBoardProcess = found
        try:
            if vb is not self.virtual_board:
                return
            if kind == "ready":
                vb.port = detail["socket"]
                vb.webrepl_url = detail["webrepl"]
                self._connect_thonny_to(vb)
            else:
                self.virtual_board = None
                vb.stop()
                self._announce("")
                self.report(f"The virtual board did not start: {detail}")
        except Exception as exc:  # noqa: BLE001
            log.exception("connecting Thonny to the virtual board failed")
            self.report(f"Connecting Thonny to the virtual board failed: {exc}")

    def _connect_thonny_to(self, vb: VirtualBoardProcess) -> None:
        """Point Thonny's backend for the board's chip at its WebREPL endpoint and restart it.

        What it replaces is remembered first (unless it is a virtual board of ours), so closing
        Thonny puts the user's own interpreter back: the backend and port in the options
        ``iotkit.previous_backend``/``iotkit.previous_port``, the backend's own WebREPL URL and
        password only in memory (a real board's password is not copied to another key).
        """
        wb = _wb()
        current = str(wb.get_option("run.backend_name") or "")
        if not self._is_ours(current):
            wb.set_option("iotkit.previous_backend", current)
            wb.set_option("iotkit.previous_port", ports.configured_port(current) or "")
        if vb.backend not in self._previous_webrepl and not self._is_ours(vb.backend):
            self._previous_webrepl[vb.backend] = (
                str(wb.get_option(f"{vb.backend}.webrepl_url") or ""),
                str(wb.get_option(f"{vb.backend}.webrepl_password") or ""),
            )
        wb.set_option("run.backend_name", vb.backend)
        wb.set_option(f"{vb.backend}.port", ports.WEBREPL)
        wb.set_option(f"{vb.backend}.webrepl_url", vb.webrepl_url)
        wb.set_option(f"{vb.backend}.webrepl_password", vb.webrepl_password)
        self.connection.last_port = vb.port
        self._announce(f"Thonny connects to the virtual {vb.board_id} at {vb.webrepl_url}")
        self.connection.handover_log.append(
            f"Thonny's interpreter is now {vb.backend} over WebREPL at {vb.webrepl_url} "
            f"(the virtual board; IoT Kit's own link uses {vb.port})"
        )
        from thonny import get_runner

        runner = get_runner()
        if runner is not None:
            runner.restart_backend(False)
        wb.after(4000, self._clear_announcement)

    def _clear_announcement(self) -> None:
        if not self.connection.busy:
            self._announce("")

    def _is_ours(self, backend: str) -> bool:
        """Whether `backend` is set to the WebREPL of the virtual board we run now."""
        if not backend or ports.configured_port(backend) != ports.WEBREPL:
            return False
        try:
            url = str(_wb().get_option(f"{backend}.webrepl_url") or "")
        except Exception:  # noqa: BLE001 - not a MicroPython backend
            return False
        return self.virtual_link_for(url) is not None

    def stop_virtual_board(self) -> None:
        vb, self.virtual_board = self.virtual_board, None
        if vb is not None:
            vb.stop()

    def _restore_interpreter(self) -> None:
        """Thonny is closing with a virtual board as its interpreter: that board dies with it,
        so put back the interpreter it replaced before Thonny saves its settings (and drop the
        board's one-time WebREPL password from them)."""
        vb = self.virtual_board
        if vb is None or not vb.webrepl_url or not self._is_ours(vb.backend):
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


def _natural_width_buttons(widget: Any) -> None:
    """Thonny's themes give every ttk button a fixed width of 11 characters, which cuts longer
    labels ("Detect board", "Choose file…"). Buttons that set no width of their own get that
    width as a minimum instead, so they grow to their label."""
    stack = [widget]
    while stack:
        w = stack.pop()
        stack.extend(w.winfo_children())
        if w.winfo_class() != "TButton":
            continue
        try:
            if str(w.cget("width")) in ("", "0"):
                style = str(w.cget("style")) or "TButton"
                themed = ttk.Style(w).lookup(style, "width")
                if themed and int(themed) > 0:
                    w.configure(width=-int(themed))
        except (tk.TclError, ValueError):
            continue


def new_webrepl_password() -> str:
    """A random password for one start of a virtual board: MicroPython's WebREPL takes 4 to 9
    characters, so 9 letters and digits (about 53 bits) it is."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(WEBREPL_PASSWORD_LENGTH))


def _wait_for_endpoints(vb: VirtualBoardProcess, reports: "queue.Queue[tuple]") -> None:
    """Worker thread: wait for the sim's --endpoints-file (or its early exit)."""
    deadline = time.monotonic() + SIM_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if vb.process.poll() is not None:
            reports.put(("failed", vb, _tail(vb.log_file) or f"exit code {vb.process.returncode}"))
            return
        try:
            with open(vb.endpoints_file, encoding="utf-8") as f:
                endpoints = json.load(f)
        except (OSError, ValueError):
            endpoints = None  # not written yet, or half written
        if isinstance(endpoints, dict) and endpoints.get("webrepl") and endpoints.get("socket"):
            reports.put(("ready", vb, endpoints))
            return
        time.sleep(0.05)
    reports.put(
        ("failed", vb, f"no endpoints after {SIM_START_TIMEOUT_S:.0f} s. {_tail(vb.log_file)}")
    )


def _tail(path: str, limit: int = 400) -> str:
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


def _current_editor() -> Any | None:
    try:
        return _wb().get_editor_notebook().get_current_editor()
    except Exception:  # noqa: BLE001
        return None


def _editor_name(editor: Any) -> str:
    """The name findings say in their "where": the file name, or <untitled>."""
    filename = editor.get_filename()
    if not filename:
        return "<untitled>"
    if "::" in filename:  # a file on the board: "MicroPython device :: /main.py"
        return filename.split("::", 1)[1].strip()
    return filename


def _editor_is_open(editor: Any) -> bool:
    try:
        return editor in _wb().get_editor_notebook().get_all_editors()
    except Exception:  # noqa: BLE001
        return False


def load() -> None:
    """Register the views, commands, options page and event handlers (from load_plugin)."""
    global _STATE
    wb = _wb()
    for name, value in OPTION_DEFAULTS.items():
        wb.set_default(name, value)
    state = PluginState()
    _STATE = state

    from thonnycontrib.iotkit import views

    for cls in views.VIEW_CLASSES:
        wb.add_view(cls, VIEW_LABELS[cls.title], VIEW_LOCATIONS[cls.title])
    for command_id, label, method in COMMANDS:
        wb.add_command(command_id, "tools", label, getattr(state, method), group=COMMAND_GROUP)
    try:
        from thonnycontrib.iotkit.options import IotkitConfigPage

        wb.add_configuration_page("iotkit", "IoT Kit", IotkitConfigPage, 90)
    except Exception:  # noqa: BLE001 - the views and commands work without the page
        log.exception("the IoT Kit options page could not be added")
    wb.bind("ProgramOutput", state.on_program_output, True)
    wb.bind("BackendRestart", state.on_backend_restart, True)
    wb.bind("ToplevelResponse", state.on_toplevel_response, True)
    wb.bind("BackendTerminated", state.on_backend_terminated, True)
    wb.bind("WorkbenchClose", state.on_workbench_close, True)
    import atexit

    atexit.register(state.stop_virtual_board)
