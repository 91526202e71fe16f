"""The companion window that `iotkit` opens with no subcommand.

One window, one board connection, several panels in a notebook. Panels are added through
`CompanionApp.add_panel`; the list of built-in panels is `default_panels()`.

Panel registration API
----------------------
A panel is any Tk widget built by a *factory*::

    def make_flash_panel(parent: tk.Misc, ctx: PanelContext) -> tk.Widget:
        from companion_app.gui.flash_panel import FlashPanel  # heavy imports stay lazy
        return FlashPanel(parent, ctx)

    app.add_panel("Flash", make_flash_panel, lazy=True)

- ``parent`` is a frame inside the notebook tab; the app packs the returned widget to fill it.
- ``ctx`` (`PanelContext`) gives the shared `DeviceConnection` (``write``, ``add_listener``,
  ``call_with_link``, ``disconnect``/``connect``), ``set_status(text)`` for the status bar, and
  ``root`` for ``after()``. Its hooks ``show_panel(title)``, ``wiring_diagram()`` and
  ``board_id()`` let a panel reach another panel without knowing the window.
- ``lazy=True`` builds the panel the first time its tab is selected, so matplotlib or esptool
  are imported only when the Plot or Flash panel is first used.
- If the widget has a ``close()`` method, the app calls it when the window closes.

To ship a new built-in panel, append it to `default_panels()`.

Threads: everything here runs in the Tk thread. Serial I/O and port scans run in
`companion_app.gui.worker` threads, and the virtual board starts in a job; all of them report to
the Tk thread through a `JobRunner` (companion_app/gui/jobs.py: one ``after()`` loop per window).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import tkinter as tk
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from tkinter import ttk
from typing import Any, Callable, Sequence

from companion_app.boards import DEFAULT_BOARD
from companion_app.device.ports import looks_like_board
from companion_app.errors import IotkitError
from companion_app.gui import look
from companion_app.gui.jobs import JobRunner, describe_error
from companion_app.gui.listeners import Listeners
from companion_app.gui.worker import LinkWorker, PortInfoSnapshot, PortPoller, start_virtual_board
from companion_app.secrets import mask_text
from companion_app.simulator import virtual_board_unavailable

log = logging.getLogger(__name__)

APP_TITLE = "Thonny IoT Kit"
#: Bytes from the board handed to the listeners per tick at most: the rest waits for the next
#: tick, so a board that floods us with output never freezes the window.
DATA_BUDGET = 256 * 1024
#: How long closing the window waits for a virtual board that is still starting (seconds).
CLOSE_WAIT_S = 10.0


class _LinkReports:
    """One `LinkWorker`'s reports on their way to the Tk thread, in order, with every run of
    "data" reports joined into one emit per tick (a flood costs one Text insert per tick, not
    one per read).

    Called in the worker's thread, it only posts: a "data" report adds its bytes here and posts
    a flush keyed by this object (the runner runs only the newest of a run of them); any other
    report is posted with the number of chunks that came before it, and hands those over first.
    At most `DATA_BUDGET` bytes are handed over per tick: a report whose earlier bytes exceed
    that waits for the next tick, and holds back the flushes and reports that came after it.
    """

    def __init__(self, runner: JobRunner, owner: "DeviceConnection") -> None:
        self._runner = runner
        self._owner = owner
        self._lock = threading.Lock()
        self._chunks: deque[tuple[int, bytes]] = deque()
        self._count = 0  # chunks added so far
        # Tk thread only: the report still handing over its earlier bytes, and how many.
        self.waiting: tuple[tuple, int] | None = None

    def __call__(self, report: tuple) -> None:  # the worker's thread
        with self._lock:
            if report[0] == "data":
                self._count += 1
                self._chunks.append((self._count, report[1]))
            upto = self._count
        if report[0] == "data":
            self._runner.post(self._owner._flush_data, self, upto, latest=self)
        else:
            self._runner.post(self._owner._on_report, self, upto, report)

    def take(self, upto: int, budget: int | None = None) -> tuple[bytes, bool]:
        """The bytes of chunks 1..`upto` not taken yet (at most about `budget` of them), and
        whether some of those are still left."""
        taken: list[bytes] = []
        size = 0
        with self._lock:
            while self._chunks and self._chunks[0][0] <= upto:
                if budget is not None and size >= budget:
                    return b"".join(taken), True
                data = self._chunks.popleft()[1]
                taken.append(data)
                size += len(data)
        return b"".join(taken), False


class DeviceConnection(Listeners):
    """The window's one board connection, shared by every panel. Tk thread only.

    Listeners are called in the Tk thread as ``callback(event, payload)`` with the events
    ``"connecting"`` (port), ``"connected"`` (port), ``"data"`` (bytes), ``"error"`` (message:
    opening failed) and ``"disconnected"`` (why, or ``""`` when closed on request).
    """

    def __init__(self, root: tk.Misc, link_factory: Callable[[str], Any] | None = None) -> None:
        super().__init__()
        self.root = root
        self._link_factory = link_factory
        self._runner = JobRunner(root)
        self._worker: LinkWorker | None = None
        self._reports: _LinkReports | None = None  # the current worker's; older ones are stale
        self._calls: dict[int, Callable[[Any, BaseException | None], None]] = {}
        self._next_token = 0
        self.state = "disconnected"  # disconnected | connecting | connected
        self.port: str | None = None
        self.last_port: str | None = None
        # The window sets this so that Reconnect can restart a virtual board that went away.
        self.reconnect_handler: Callable[[], None] | None = None

    @property
    def is_connected(self) -> bool:
        return self.state == "connected"

    def connect(self, port: str) -> None:
        """Open `port` in a new worker; the old connection, if any, is closed first."""
        previous = self._worker
        self._drop_worker(notify=False)
        self._reports = _LinkReports(self._runner, self)
        # The port may be the same one: the new worker waits until the old one released it.
        self._worker = LinkWorker(
            port, self._reports, link_factory=self._link_factory, wait_for=previous
        )
        self.port = self.last_port = port
        self.state = "connecting"
        self._emit("connecting", port)
        self._worker.start()

    def reconnect(self) -> None:
        """Open the last port again (the Reconnect button after the board went away)."""
        if self.reconnect_handler is not None:
            self.reconnect_handler()
        elif self.last_port:
            self.connect(self.last_port)

    def disconnect(self) -> None:
        """Close the port on request (a Flash panel does this before esptool takes it)."""
        self._drop_worker(notify=True)

    def release_port(self) -> Callable[[float], bool]:
        """`disconnect` for a program that opens the port itself (the Flash panel's esptool).

        Returns ``wait_released(timeout)``, true once the port is free. The link's worker
        holds the port exclusively and closes it in its own thread, so call it off the Tk
        thread (in the flash job), never on it.
        """
        worker = self._worker
        self.disconnect()

        def wait_released(timeout: float) -> bool:
            if worker is None:
                return True
            worker.join(timeout)
            return not worker.is_alive()

        return wait_released

    def write(self, data: bytes) -> None:
        """Queue bytes for the board; never blocks the Tk thread."""
        if self._worker is not None and self.state == "connected":
            self._worker.write(data)

    def call_with_link(
        self, func: Callable[[Any], Any], on_done: Callable[[Any, BaseException | None], None]
    ) -> None:
        """Run ``func(link)`` in the worker thread; ``on_done(result, exc)`` runs in Tk later."""
        if self._worker is None or self.state != "connected":
            on_done(None, IotkitError("No board is connected. Press Connect first."))
            return
        self._next_token += 1
        self._calls[self._next_token] = on_done
        self._worker.call_with_link(self._next_token, func)

    def close(self) -> None:
        """Stop the worker and wait briefly, so the port is released before the app exits."""
        worker = self._worker
        self._drop_worker(notify=False)
        self._runner.close()
        if worker is not None:
            # A bounded wait on the Tk thread, only here: the window is closing, and the
            # process must not exit while the worker still holds the port open.
            worker.join(timeout=1.0)

    # --- internals --------------------------------------------------------------------------
    def _drop_worker(self, notify: bool) -> None:
        worker, self._worker = self._worker, None
        self._reports = None  # what the old worker still reports is dropped
        was = self.state
        self.state = "disconnected"
        self.port = None
        if worker is not None:
            worker.stop()
        self._fail_pending_calls()
        if notify and was != "disconnected":
            self._emit("disconnected", "")

    def _fail_pending_calls(self) -> None:
        calls, self._calls = self._calls, {}
        for on_done in calls.values():
            on_done(None, IotkitError("The connection was closed before the task finished."))

    def _flush_data(self, reports: _LinkReports, upto: int) -> None:
        """Tk thread: hand the board's bytes so far to the listeners, one emit per tick."""
        if reports is not self._reports:
            return  # from a worker that was replaced or stopped
        limit = upto if reports.waiting is None else min(upto, reports.waiting[1])
        data, more = reports.take(limit, DATA_BUDGET)
        if more or limit < upto:  # a flood: the rest goes in a later tick
            self._runner.post(self._flush_data, reports, upto, latest=reports)
        if data:
            self._emit("data", data)

    def _on_report(self, reports: _LinkReports, upto: int, report: tuple) -> None:
        """Tk thread: a report other than data, after the data that came before it."""
        if reports is not self._reports:
            return
        if reports.waiting is not None and reports.waiting[0] is not report:
            # An earlier report is still handing over its bytes: queue up behind it, in order.
            self._runner.post(self._on_report, reports, upto, report)
            return
        data, more = reports.take(upto, DATA_BUDGET)
        reports.waiting = (report, upto) if more else None
        if more:  # the rest of the bytes before this report, and then it, in the next tick
            self._runner.post(self._on_report, reports, upto, report)
        if data:
            self._emit("data", data)
        if not more and reports is self._reports:  # (a listener may have reconnected)
            self._handle(report)

    def _handle(self, report: tuple) -> None:
        kind = report[0]
        if kind == "connected":
            self.state = "connected"
            self._emit("connected", report[1])
        elif kind == "error":
            self._worker = None
            self._reports = None
            self.state = "disconnected"
            self.port = None
            self._emit("error", report[1])
        elif kind == "disconnected":
            self._worker = None
            self._reports = None
            self.state = "disconnected"
            self.port = None
            self._fail_pending_calls()
            self._emit("disconnected", report[1] or "the connection closed.")
        elif kind == "call_done":
            on_done = self._calls.pop(report[1], None)
            if on_done is not None:
                on_done(report[2], report[3])


@dataclass
class PanelContext:
    """What a panel factory gets: the shared connection and a way to talk to the status bar.

    The methods below are the hooks through which one panel reaches the window or another panel;
    a panel uses them rather than the app's attributes, so a Thonny host can provide the same.
    """

    root: tk.Tk
    connection: DeviceConnection
    set_status: Callable[[str], None]
    app: "CompanionApp"

    def show_panel(self, title: str) -> bool:
        """Bring the panel called `title` to the front (Deploy's "Plot readings"); False if the
        window has no such panel."""
        return self.app.show_panel(title)

    def wiring_diagram(self) -> Any | None:
        """The wiring `Diagram` the Wiring panel holds, or None (not opened yet, no wires), so
        the Deploy panel can suggest the pins the parts are really wired to."""
        return getattr(self.app.panel("Wiring"), "diagram", None)

    def board_id(self) -> str | None:
        """The board id of the connected board when the window knows it (the virtual board),
        else None: a real board says only its chip until someone picks the board."""
        vb = self.app.virtual_board
        port = self.connection.port or self.connection.last_port
        if vb is not None and port is not None and getattr(vb, "port", None) == port:
            return self.app.virtual_board_id
        return None


PanelFactory = Callable[[tk.Misc, PanelContext], tk.Widget]


def _make_console(parent: tk.Misc, ctx: PanelContext) -> tk.Widget:
    from companion_app.gui.console import ConsolePanel

    return ConsolePanel(parent, ctx.connection, show_panel=ctx.show_panel)


def _make_flash(parent: tk.Misc, ctx: PanelContext) -> tk.Widget:
    from companion_app.gui.flash_panel import FlashPanel  # esptool & co. load on first use only

    return FlashPanel(parent, ctx)


def _make_wiring(parent: tk.Misc, ctx: PanelContext) -> tk.Widget:
    from companion_app.gui.wiring_panel import WiringPanel  # rule engine: on first use only

    return WiringPanel(parent, ctx)


def _make_deploy(parent: tk.Misc, ctx: PanelContext) -> tk.Widget:
    from companion_app.gui.deploy_panel import DeployPanel  # deploy engine: on first use only

    return DeployPanel(parent, ctx)


def _make_plot(parent: tk.Misc, ctx: PanelContext) -> tk.Widget:
    from companion_app.gui.plot_panel import PlotPanel  # matplotlib loads on first use only

    return PlotPanel(parent, ctx)


def _make_class(parent: tk.Misc, ctx: PanelContext) -> tk.Widget:
    from companion_app.gui.class_panel import ClassPanel  # the class engine: on first use only

    return ClassPanel(parent, ctx)


# Built soon after start-up although lazy: matplotlib's import must not delay the window, but
# readings printed before the Plot tab is first opened should still be on the plot.
PLOT_PREBUILD_MS = 400


def default_panels() -> list[tuple[str, PanelFactory, bool, int | None]]:
    """The built-in panels as (title, factory, lazy, build_after_ms); append later panels."""
    return [
        ("Console", _make_console, False, None),
        ("Flash", _make_flash, True, None),
        ("Wiring", _make_wiring, True, None),
        ("Deploy", _make_deploy, True, None),
        ("Plot", _make_plot, True, PLOT_PREBUILD_MS),
        ("Class", _make_class, True, None),
    ]


@dataclass
class _Panel:
    title: str
    factory: PanelFactory
    frame: ttk.Frame
    widget: tk.Widget | None = None


@dataclass
class _PortChoice:
    label: str
    kind: str  # "serial" | "virtual"
    device: str | None = None
    hint: str = ""


class CompanionApp:
    """The companion window: toolbar (port picker, Connect), notebook of panels, status bar."""

    def __init__(
        self,
        root: tk.Tk,
        port: str | None = None,
        *,
        list_ports: Callable[[], Sequence[Any]] | None = None,
        virtual_board_factory: Callable[[str], Any] | None = None,
        link_factory: Callable[[str], Any] | None = None,
        virtual_board: str = DEFAULT_BOARD,
        auto_virtual: bool = True,
        port_poll_s: float = 2.0,
        panels: Sequence[tuple[str, PanelFactory, bool, int | None]] | None = None,
        zoom: float | None = None,
        prefs: "WindowPrefs | None" = None,
    ) -> None:
        self.root = root
        # Where the zoom is remembered (`main` passes the user's file; tests pass none, so a
        # test that zooms never changes the next run's window).
        self._prefs = prefs
        self.virtual_board_id = virtual_board
        self._virtual_factory = virtual_board_factory
        # Why the virtual board cannot start here (greyed out in the picker), or None. A test's
        # injected factory stands in for the real board, so only the real one is checked.
        self._virtual_unavailable: str | None = (
            None if virtual_board_factory is not None else virtual_board_unavailable()
        )
        self._auto_virtual = auto_virtual
        self._startup_pending = port is None
        self._closed = False
        self.virtual_board: Any = None
        self._virtual_starting = False
        self._virtual_reason = ""
        self._connect_after_virtual = False
        self._choices: list[_PortChoice] = []
        self._ports: list[Any] = []
        self._label: str = ""
        self._note: str = ""
        self._panels: list[_Panel] = []
        # Port scans and the virtual board's start-up report to the Tk thread through this.
        self._runner = JobRunner(root)

        root.title(APP_TITLE)
        style = ttk.Style(root)
        if style.theme_use() == "default" and "clam" in style.theme_names():
            style.theme_use("clam")  # Tk's X11 default theme looks dated next to Thonny's
        self.zoom = look.set_zoom(root, zoom if zoom is not None else 1.0)
        self._style_focus()
        look.on_look_change(root, self._style_focus)
        root.geometry(window_size(root, self.zoom))
        root.minsize(480, 360)
        root.protocol("WM_DELETE_WINDOW", self.close)

        self.connection = DeviceConnection(root, link_factory=link_factory)
        self.connection.add_listener(self._on_connection_event)
        self.connection.reconnect_handler = self._reconnect
        self._virtual_lost = False
        self._lost = False  # the last connection ended without being asked to
        self.context = PanelContext(root, self.connection, self.set_status, self)

        self._build_menu()
        self._build_toolbar()
        self.notebook = ttk.Notebook(root)
        self.notebook.pack(side="top", fill="both", expand=True, padx=4, pady=(0, 2))
        self.notebook.bind("<<NotebookTabChanged>>", self._on_tab_changed)
        self.status_var = tk.StringVar(value="Looking for boards…")
        self.status = ttk.Label(
            root, textvariable=self.status_var, anchor="w", relief="sunken", padding=(6, 2)
        )
        self.status.pack(side="bottom", fill="x", before=self.notebook)
        # Long messages (the ones that explain a failure) wrap instead of being cut off.
        self.status.bind("<Configure>", lambda e: self.status.configure(wraplength=e.width - 16))

        for title, factory, lazy, build_after in (
            panels if panels is not None else default_panels()
        ):
            self.add_panel(title, factory, lazy=lazy, build_after_ms=build_after)

        if list_ports is None:
            from companion_app.device.ports import list_ports as real_list_ports

            list_ports = real_list_ports
        runner = self._runner
        self._poller = PortPoller(
            lambda snapshot: runner.post(self._on_ports, snapshot, latest=(id(self), "ports")),
            list_ports,
            interval=port_poll_s,
        )
        self._poller.start()
        self._refresh_choices()
        if port is not None:
            self._select_device(port)
            self._connect_choice(self._current_choice())

    # --- panels -----------------------------------------------------------------------------
    def add_panel(
        self,
        title: str,
        factory: PanelFactory,
        *,
        lazy: bool = False,
        build_after_ms: int | None = None,
    ) -> ttk.Frame:
        """Add a notebook tab whose content `factory(parent, context)` builds (see module doc).

        `build_after_ms` builds a lazy panel that long after start-up even if its tab is never
        opened: the window appears at once, and the Plot panel still catches readings printed
        before anyone looks at its tab.
        """
        frame = ttk.Frame(self.notebook)
        panel = _Panel(title, factory, frame)
        self._panels.append(panel)
        self.notebook.add(frame, text=title)
        if not lazy:
            self._build_panel(panel)
        elif build_after_ms is not None:
            self.root.after(build_after_ms, lambda: self._closed or self._ensure_built(panel))
        return frame

    def panel(self, title: str) -> tk.Widget | None:
        """The built widget of a panel, or None if it is not built (yet)."""
        for p in self._panels:
            if p.title == title:
                return p.widget
        return None

    def show_panel(self, title: str) -> bool:
        """Select the tab of the panel called `title`, building it if needed; False if none."""
        for p in self._panels:
            if p.title == title:
                self.notebook.select(p.frame)
                self._ensure_built(p)
                return True
        return False

    def _ensure_built(self, panel: _Panel) -> None:
        if panel.widget is None and not panel.frame.winfo_children():
            self._build_panel(panel)

    def _build_panel(self, panel: _Panel) -> None:
        try:
            widget = panel.factory(panel.frame, self.context)
        except IotkitError as exc:
            ttk.Label(panel.frame, text=str(exc), wraplength=600).pack(padx=12, pady=12)
            return
        widget.pack(fill="both", expand=True)
        panel.widget = widget

    def _on_tab_changed(self, event: tk.Event | None = None) -> None:
        try:
            selected = self.notebook.select()
        except tk.TclError:
            return
        for p in self._panels:
            if str(p.frame) == selected and p.widget is None and not p.frame.winfo_children():
                self._build_panel(p)

    # --- toolbar and status -----------------------------------------------------------------
    def _build_toolbar(self) -> None:
        bar = ttk.Frame(self.root, padding=(4, 4))
        bar.pack(side="top", fill="x")
        ttk.Label(bar, text="Board:").pack(side="left")
        self.port_var = tk.StringVar()
        self.port_combo = ttk.Combobox(
            bar, textvariable=self.port_var, width=40, postcommand=self._on_dropdown
        )
        self.connect_button = ttk.Button(bar, text="Connect", command=self._on_connect_button)
        # The button is packed first, on the right: a narrow window or large fonts shorten the
        # port box, never the button. (Made after the box, so Tab still goes box → button.)
        self.connect_button.pack(side="right")
        self.port_combo.pack(side="left", padx=(4, 4), fill="x", expand=True)
        self.port_combo.bind("<<ComboboxSelected>>", lambda e: self._update_button())
        self.port_combo.bind("<Return>", lambda e: self._on_connect_button())
        # Tab into the box selects all of its text (Tk's entry habit), and the next key would
        # replace the port name: keep the text and put the cursor at its end instead.
        self.port_combo.bind("<<TraverseIn>>", lambda e: self.root.after_idle(self._keep_port))

    def _keep_port(self) -> None:
        try:
            self.port_combo.selection_clear()
            self.port_combo.icursor("end")
        except tk.TclError:
            pass

    def _build_menu(self) -> None:
        """View → Zoom in / Zoom out / Actual size, with Ctrl+plus, Ctrl+minus and Ctrl+0."""
        menubar = tk.Menu(self.root, tearoff=False)
        view = tk.Menu(menubar, tearoff=False)
        view.add_command(
            label="Zoom in", accelerator="Ctrl++", command=lambda: self.change_zoom(+1)
        )
        view.add_command(
            label="Zoom out", accelerator="Ctrl+-", command=lambda: self.change_zoom(-1)
        )
        view.add_command(
            label="Actual size", accelerator="Ctrl+0", command=lambda: self.change_zoom(0)
        )
        menubar.add_cascade(label="View", menu=view, underline=0)
        self.root.configure(menu=menubar)
        self.view_menu = view
        for key, event in look.ZOOM_KEYS.items():
            self.root.bind(f"<Control-{key}>", lambda e, v=event: self._zoom_key(v))
        for event, direction in (("<<ZoomIn>>", +1), ("<<ZoomOut>>", -1), ("<<ZoomReset>>", 0)):
            self.root.bind(event, lambda e, d=direction: self.change_zoom(d))

    def _zoom_key(self, event: str) -> str:
        self.root.event_generate(event)
        return "break"

    def change_zoom(self, direction: int) -> float:
        """One zoom step up (+1), down (-1) or back to 1.0 (0); remembered for the next run."""
        return self.set_zoom(look.zoom_step(self.zoom, direction))

    def set_zoom(self, value: float) -> float:
        self.zoom = look.set_zoom(self.root, value)
        if self._prefs is not None:
            self._prefs.save_zoom(self.zoom)
        self.set_status(f"Zoom {round(self.zoom * 100)} %  (View menu; Ctrl+0 for actual size)")
        return self.zoom

    def _style_focus(self) -> None:
        """A focus ring a person can see: two pixels in the theme's accent colour (clam draws a
        faint dotted box otherwise)."""
        style = ttk.Style(self.root)
        accent = look.palette(self.root).accent
        for name in (".", "TButton", "TCheckbutton", "TRadiobutton"):
            try:
                style.configure(name, focuscolor=accent, focusthickness=2)
            except tk.TclError:  # a theme without that option keeps its own ring
                pass

    def set_status(self, text: str) -> None:
        self.status_var.set(mask_text(text))

    def _update_button(self) -> None:
        state = self.connection.state
        if state in ("connected", "connecting"):
            self.connect_button.configure(text="Disconnect")
        else:
            choice = self._current_choice()
            same = choice is not None and self._choice_port(choice) == self.connection.last_port
            lost = self._lost and bool(self.connection.last_port) and same
            self.connect_button.configure(text="Reconnect" if lost else "Connect")

    def _on_dropdown(self) -> None:
        self._poller.refresh_now()

    # --- port choices -----------------------------------------------------------------------
    def _virtual_label(self) -> str:
        if self._virtual_unavailable:
            return f"Virtual board ({self.virtual_board_id}), cannot start here"
        vb = self.virtual_board
        if vb is not None and getattr(vb, "port", None):
            return f"Virtual board ({self.virtual_board_id}) on {vb.port}"
        return f"Virtual board ({self.virtual_board_id}), no hardware needed"

    def _refresh_choices(self) -> None:
        current = self._current_choice()
        choices = []
        for p in self._ports:
            label = f"{p.device} — {p.hint}" if p.hint else p.device
            choices.append(_PortChoice(label, "serial", p.device, p.hint or ""))
        choices.append(_PortChoice(self._virtual_label(), "virtual"))
        self._choices = choices
        self.port_combo.configure(values=[c.label for c in choices])
        # Keep what the user picked or typed, relabelled if its hint changed.
        if current is None:
            if not self.port_var.get() and self._ports:
                self.port_var.set(choices[0].label)
        elif current.kind == "virtual":
            self.port_var.set(choices[-1].label)
        else:
            for c in choices:
                if c.device == current.device:
                    self.port_var.set(c.label)

    def _current_choice(self) -> _PortChoice | None:
        text = self.port_var.get().strip()
        if not text:
            return None
        for c in self._choices:
            if c.label == text:
                return c
        if text.lower().startswith("virtual"):
            return _PortChoice(self._virtual_label(), "virtual")
        device = text.split(" — ")[0].strip()
        return _PortChoice(text, "serial", device)  # typed by hand: a pty, socket://, ...

    def _select_device(self, device: str) -> None:
        for c in self._choices:
            if c.kind == "serial" and c.device == device:
                self.port_var.set(c.label)
                return
        vb = self.virtual_board
        if vb is not None and getattr(vb, "port", None) == device:
            self.port_var.set(self._virtual_label())
            return
        self.port_var.set(device)

    def _choice_port(self, choice: _PortChoice) -> str | None:
        if choice.kind == "virtual":
            return getattr(self.virtual_board, "port", None)
        return choice.device

    # --- connecting -------------------------------------------------------------------------
    def _on_connect_button(self) -> None:
        if self.connection.state in ("connected", "connecting"):
            self.connection.disconnect()
            return
        choice = self._current_choice()
        if choice is None:
            self.set_status("Choose a port or the virtual board first.")
            return
        self._connect_choice(choice)

    def _connect_choice(self, choice: _PortChoice | None, note: str = "") -> None:
        if choice is None:
            return
        self._note = note
        if choice.kind == "virtual":
            if self._virtual_unavailable:
                self.set_status(self._virtual_unavailable)
                return
            if self.virtual_board is None or not self._virtual_alive():
                again = "the virtual board was started again" if self._virtual_lost else ""
                self._start_virtual(again, connect=True)
                return
            self._label = f"virtual board {self.virtual_board_id}"
            self.connection.connect(self.virtual_board.port)
        else:
            self._label = choice.hint or "board"
            self.connection.connect(choice.device or choice.label)

    def _reconnect(self) -> None:
        vb = self.virtual_board
        last = self.connection.last_port
        if vb is not None and last is not None and getattr(vb, "port", None) == last:
            self.port_var.set(self._virtual_label())
            self._connect_choice(_PortChoice(self._virtual_label(), "virtual"))
        elif last is not None:
            self._select_device(last)
            self.connection.connect(last)

    def _virtual_alive(self) -> bool:
        """Whether the virtual board can still be connected to, or must be started again."""
        vb = self.virtual_board
        if vb is None or self._virtual_lost:
            return False
        for attr in ("is_running", "running", "alive", "is_alive"):
            value = getattr(vb, attr, None)
            if value is not None:
                return bool(value() if callable(value) else value)
        return True

    def _start_virtual(self, reason: str, connect: bool = True) -> None:
        if self._virtual_starting:
            return
        old, self.virtual_board = self.virtual_board, None
        if old is not None:
            self._stop_virtual_board(old)
        self._virtual_starting = True
        self._virtual_reason = reason
        self._connect_after_virtual = connect
        self.set_status(f"Starting a virtual board ({self.virtual_board_id})…")
        board, factory = self.virtual_board_id, self._virtual_factory
        self._runner.run(
            lambda: start_virtual_board(board, factory),
            self._on_virtual_done,
            name="virtual board",
            # Started after the window closed: nobody will use it, and it must not outlive us.
            on_cancelled=self._stop_virtual_board,
        )

    @staticmethod
    def _stop_virtual_board(vb: Any) -> None:
        try:
            vb.stop()
        except Exception:  # noqa: BLE001 - it may be gone already
            log.debug("stopping the virtual board failed", exc_info=True)

    def _on_connection_event(self, event: str, payload: Any) -> None:
        port = self.connection.port or self.connection.last_port or ""
        label = self._label or "board"
        if event == "connecting":
            self.set_status(f"Connecting to {label} on {port}…")
        elif event == "connected":
            note = f" — {self._note}" if self._note else ""
            self.set_status(f"Connected to {label} on {port}{note}")
        elif event == "error":
            self.set_status(f"Could not connect to {port}: {payload}")
        elif event == "disconnected" and payload:
            vb = self.virtual_board
            if vb is not None and getattr(vb, "port", None) == port:
                self._virtual_lost = True  # its process ended: Reconnect starts a new one
            self.set_status(f"Disconnected from {label} on {port}, press Reconnect. {payload}")
        elif event == "disconnected":
            self.set_status(f"Disconnected from {port}. Press Connect to open it again.")
        if event != "data":
            self._lost = event == "disconnected" and bool(payload)
            self._update_button()

    # --- reports from the worker threads and jobs (posted to the Tk thread) -----------------
    def _on_ports(self, snapshot: PortInfoSnapshot) -> None:
        self._ports = list(snapshot.ports)
        self._refresh_choices()
        if snapshot.error:
            self.set_status(f"Could not list serial ports: {snapshot.error}")
        if not self._startup_pending:
            return
        self._startup_pending = False
        boards = [p for p in self._ports if looks_like_board(p)]
        if len(boards) == 1:
            self._select_device(boards[0].device)
            self._connect_choice(self._current_choice())
        elif boards:
            self._select_device(boards[0].device)
            self.set_status(f"{len(boards)} boards found: choose one and press Connect.")
        elif self._auto_virtual and self._virtual_unavailable:
            self.set_status(f"No board found. Plug one in. {self._virtual_unavailable}")
        elif self._auto_virtual:
            self.port_var.set(self._virtual_label())
            self._start_virtual("no hardware found, so a virtual board was started")
        else:
            self.set_status("No board found. Plug one in, or choose the virtual board.")

    def _on_virtual_done(self, vb: Any, exc: BaseException | None) -> None:
        self._virtual_starting = False
        if exc is not None:
            text = describe_error(exc, what="the virtual board")
            self.set_status(f"Could not start a virtual board: {text}")
            return
        if self._closed:
            self._stop_virtual_board(vb)
            return
        self.virtual_board = vb
        self._virtual_lost = False
        self._refresh_choices()
        current = self._current_choice()
        if current is None or current.kind == "virtual":
            self.port_var.set(self._virtual_label())
        if self._connect_after_virtual:
            self._label = f"virtual board {self.virtual_board_id}"
            self._note = self._virtual_reason
            self.port_var.set(self._virtual_label())
            self.connection.connect(vb.port)
        else:
            self.set_status(f"Virtual board ready on {vb.port}.")

    # --- closing ----------------------------------------------------------------------------
    def close(self) -> None:
        """Release the port, stop the virtual board and the threads, then destroy the window."""
        if self._closed:
            return
        self._closed = True
        for p in self._panels:
            closer = getattr(p.widget, "close", None)
            if callable(closer):
                try:
                    closer()
                except Exception:  # noqa: BLE001 - closing must go on
                    log.exception("closing panel %s failed", p.title)
        self.connection.close()
        self._poller.stop()
        starting = self._runner.running("virtual board")
        # A board that finishes starting from now on goes to its job's on_cancelled (stopped).
        self._runner.close()
        for job in starting:
            # A bounded wait on the Tk thread, only here: the app is exiting, and a virtual
            # board is a subprocess that must not outlive it; its job stops it once started.
            job.join(timeout=CLOSE_WAIT_S)
        if self.virtual_board is not None:
            self._stop_virtual_board(self.virtual_board)
            self.virtual_board = None
        self._runner.calls.stop()  # the window's one callback loop ends with the window
        try:
            self.root.destroy()
        except tk.TclError:
            pass


#: The window's size at zoom 1, before the screen's size is taken into account.
DEFAULT_SIZE = (960, 640)
#: Room left around the window for the desktop's panels and the title bar.
SCREEN_MARGIN = (16, 72)


def window_size(root: tk.Misc, zoom: float) -> str:
    """The window's first geometry: the default size grown with the zoom, within the screen
    (a 1024x768 projector at zoom 1.5 gets 1008x696, not 1440x960 with its edges off-screen)."""
    width = min(round(DEFAULT_SIZE[0] * zoom), root.winfo_screenwidth() - SCREEN_MARGIN[0])
    height = min(round(DEFAULT_SIZE[1] * zoom), root.winfo_screenheight() - SCREEN_MARGIN[1])
    return f"{max(480, width)}x{max(360, height)}"


class WindowPrefs:
    """The companion window's remembered settings (the zoom), in the user's config folder."""

    def __init__(self, path: "str | os.PathLike[str] | None" = None) -> None:
        from companion_app.paths import config_dir

        self.path = Path(path) if path is not None else config_dir("companion") / "window.json"

    def load_zoom(self) -> float | None:
        try:
            value = json.loads(self.path.read_text(encoding="utf-8")).get("zoom")
            return look.clamp_zoom(float(value)) if value is not None else None
        except (OSError, ValueError, TypeError, AttributeError):
            return None  # no file yet, or one we cannot read: the desktop's size

    def save_zoom(self, zoom: float) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps({"zoom": zoom}) + "\n", encoding="utf-8")
        except OSError:
            log.warning("could not remember the zoom in %s", self.path, exc_info=True)


def main(port: str | None = None, scale: float | None = None) -> int:
    """Open the companion window and run it until it is closed; returns the exit code.

    `scale` (``iotkit --scale S``) sets the zoom and is remembered; without it the remembered
    zoom is used."""
    prefs = WindowPrefs()
    if scale is not None:
        if not look.ZOOM_MIN <= scale <= look.ZOOM_MAX:
            raise IotkitError(
                f"--scale takes a number from {look.ZOOM_MIN} to {look.ZOOM_MAX} "
                f"(1.0 is the desktop's size), not {scale:g}."
            )
        prefs.save_zoom(scale)
    zoom = scale if scale is not None else prefs.load_zoom()
    try:
        root = tk.Tk()
    except tk.TclError as exc:
        raise IotkitError(
            f"Cannot open the companion window ({exc}). Run it on a desktop, or use the "
            "subcommands, for example `iotkit ports` or `iotkit sim`."
        ) from exc
    app = CompanionApp(root, port=port, zoom=zoom, prefs=prefs)
    # Ctrl-C in the terminal or a kill must still release the port and stop the virtual board.
    # The handlers run between Tk events (the window's callback loop wakes every few dozen ms),
    # so close() is safe here.
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[signum] = signal.signal(signum, lambda *_: root.after_idle(app.close))
        except (ValueError, OSError):  # not the main thread, or not supported here
            pass
    try:
        root.mainloop()
    finally:
        app.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0
