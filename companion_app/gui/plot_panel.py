"""The Plot panel: live readings from the board (or any source) as a graph.

Shared by the companion window (a lazy notebook tab), `iotkit plot` (a window of its own, with
``ctx=None``) and Thonny's IoT Plot view (whose Shell output comes in as the connection's "data"
events; what was printed before the view existed is replayed through `ingest_backlog`).

Threads: every Tk call happens in the Tk thread. Bytes from the board arrive as the companion
connection's ``"data"`` events (already in the Tk thread) and are handed to a `ChunkSource`,
which parses them in its own thread and adds the readings to the `SeriesStore`. Sources report
errors from their threads with `post_status`, which the panel's `JobRunner` (gui/jobs.py, the
one way work reports to Tk) hands to the Tk thread. The frame timer runs at most `FPS` times a
second and draws only when the store's ``version`` (or a setting) changed; the drawing itself
(blitting, decimation, stepped limits) is `plot_widgets.PlotRenderer`.
"""

from __future__ import annotations

import functools
import logging
import os
import time
import tkinter as tk
from pathlib import Path
from tkinter import filedialog, ttk
from typing import Any

from companion_app.errors import IotkitError
from companion_app.gui import look
from companion_app.gui.jobs import JobRunner, describe_error
from companion_app.gui.look import WrapLabel, WrapRow
from companion_app.gui.plot_widgets import (
    COLOURS,
    LAYOUTS,
    MAX_DRAWN_SERIES,
    FigureStyle,
    PlotRenderer,
    ViewSettings,
    format_value,
)

log = logging.getLogger(__name__)

FPS = 20
FRAME_MS = 1000 // FPS
WINDOWS = ("10 s", "30 s", "60 s", "300 s", "all")
DEFAULT_WINDOW = "30 s"
#: Show/hide buttons for at most this many series (in order of appearance); the rest are counted.
MAX_SERIES_BUTTONS = 2 * MAX_DRAWN_SERIES
#: What an empty plot says, so a beginner knows where readings come from (issue 15, item 9).
EMPTY_HINT = (
    "No readings yet: deploy the sensor program, or print name: value lines on the board "
    "(like temp:22.5,hum:41)."
)
#: Lines against the plot area: WCAG's 3:1 for graphics, reached by darkening or lightening.
LINE_CONTRAST = 3.0
#: matplotlib's own toolbar height in pixels; it grows with the font (two message lines).
TOOLBAR_MIN_HEIGHT = 50
LAYOUT_LABELS = {
    "auto": "auto",
    "shared": "shared",
    "twin": "twin axis",
    "separate": "separate",
}


def parse_window(text: str) -> float | None:
    """ "30 s", "30", "2 min" -> seconds; "all" -> None. Raises ValueError on anything else."""
    t = text.strip().lower()
    if t in ("all", ""):
        return None
    factor = 1.0
    for suffix, f in (("min", 60.0), ("m", 60.0), ("s", 1.0)):
        if t.endswith(suffix):
            t, factor = t[: -len(suffix)].strip(), f
            break
    value = float(t) * factor
    if not value > 0:
        raise ValueError(text)
    return value


def ui_font_pixels(widget: tk.Misc) -> float:
    """The UI font's size in screen pixels: the plot's text is drawn this large.

    Tk's points become pixels at Tk's scaling (``winfo_fpixels("1p")``); the renderer turns
    pixels into points at the figure's dpi. So the plot's text is as large as the window's,
    and grows with the zoom and with Thonny's font size.
    """
    return look.ui_font_pt(widget) * float(widget.winfo_fpixels("1p"))


class PlotPanel(ttk.Frame):
    """Live plot of a `SeriesStore`, with the controls described in docs/plotting.md.

    The control rows wrap by themselves (look.WrapRow), so one layout fits the companion's
    window and a narrow Thonny view; `compact` is kept for the hosts that pass it.
    """

    def __init__(
        self,
        parent: tk.Misc,
        ctx: Any | None = None,
        store: Any | None = None,
        compact: bool = False,
    ) -> None:
        super().__init__(parent)
        self._compact = compact
        # Imported here so that importing this module stays cheap until a panel is built.
        from matplotlib.backends.backend_tkagg import FigureCanvasTkAgg
        from matplotlib.figure import Figure

        from companion_app.readings.store import SeriesStore

        self.ctx = ctx
        self.live_store = store if store is not None else SeriesStore()
        self.store = self.live_store  # what is shown: the live store, or a CSV under review
        self.review_path: Path | None = None
        self.paused = False
        self._t_frozen: float | None = None
        self._closed = False
        self._after_id: str | None = None
        self._runner = JobRunner(self)  # sources' messages reach the status line through it
        self._chunk_source: Any = None
        self._sessions: list[Any] = []
        self._recorder: Any = None
        self._record_path: Path | None = None
        self._series_vars: dict[str, tk.BooleanVar] = {}
        self._known_names: list[str] = []
        self._hidden: set[str] = set()
        self.ticks = 0  # timer ticks, for tests

        self._build_controls()
        body = ttk.Frame(self)
        body.pack(side="top", fill="both", expand=True)
        self.figure = Figure(figsize=(8, 4.5), dpi=100, layout="constrained")
        self.canvas = FigureCanvasTkAgg(self.figure, master=body)
        self._body = body
        self._toolbar_background = ""
        self.canvas.get_tk_widget().pack(side="top", fill="both", expand=True)
        # Packed before the canvas (which shrinks first): see _make_toolbar.
        self.toolbar = self._make_toolbar(look.palette(self).background)
        self.renderer = PlotRenderer(self.figure, self.canvas)
        self._build_empty_hint()
        status_row = ttk.Frame(self)
        status_row.pack(side="bottom", fill="x", before=body)
        self.status_var = tk.StringVar(value="Waiting for readings…")
        self.counts_var = tk.StringVar()
        ttk.Label(status_row, textvariable=self.counts_var, anchor="e", padding=(6, 2)).pack(
            side="right"
        )
        self.status_label = ttk.Label(
            status_row, textvariable=self.status_var, anchor="w", justify="left", padding=(6, 2)
        )
        self.status_label.pack(side="left", fill="x", expand=True)
        # Wrap rather than cut the text off in a narrow host (a Thonny side column).
        self.status_label.bind(
            "<Configure>",
            lambda e: self.status_label.configure(wraplength=max(200, e.width - 8)),
        )
        if ctx is not None:
            ctx.connection.add_listener(self._on_connection_event)
        self._update_empty_hint()
        self._apply_look()
        look.on_look_change(self, self._apply_look)
        self._schedule()

    # --- controls ---------------------------------------------------------------------------
    def _build_controls(self) -> None:
        """The controls flow in one row that wraps (look.WrapRow) rather than cut a button off:
        two lines in a wide window, three or four in a narrow one or at a large zoom.

        A label and the box it names are one item, so they never land on different lines.
        """
        # Margins by pack: a WrapRow places its children itself and does not count padding.
        row = WrapRow(self)
        row.pack(side="top", fill="x", padx=4, pady=(4, 0))
        self.pause_button = ttk.Button(row, text="Pause", width=8, command=self.toggle_pause)
        row.add(self.pause_button)
        group = ttk.Frame(row)
        ttk.Label(group, text="Window:").pack(side="left", padx=(6, 2))
        self.window_var = tk.StringVar(value=DEFAULT_WINDOW)
        self.window_combo = ttk.Combobox(
            group, textvariable=self.window_var, values=WINDOWS, width=7
        )
        self.window_combo.pack(side="left")
        row.add(group)
        self.window_combo.bind("<<ComboboxSelected>>", lambda e: self._settings_changed())
        self.window_combo.bind("<Return>", lambda e: self._settings_changed())
        self.window_combo.bind("<FocusOut>", lambda e: self._settings_changed())
        group = ttk.Frame(row)
        ttk.Label(group, text="Layout:").pack(side="left", padx=(6, 2))
        self.layout_var = tk.StringVar(value=LAYOUT_LABELS["auto"])
        self.layout_combo = ttk.Combobox(
            group,
            textvariable=self.layout_var,
            values=[LAYOUT_LABELS[k] for k in LAYOUTS],
            width=9,
            state="readonly",
        )
        self.layout_combo.pack(side="left")
        row.add(group)
        self.layout_combo.bind("<<ComboboxSelected>>", lambda e: self._settings_changed())
        self.xy_var = tk.BooleanVar(value=False)
        group = ttk.Frame(row)  # XY mode and its two choices stay together
        ttk.Checkbutton(
            group, text="XY mode", variable=self.xy_var, command=self._settings_changed
        ).pack(side="left", padx=(0, 4))
        ttk.Label(group, text="X:").pack(side="left")
        self.x_var = tk.StringVar()
        self.x_combo = ttk.Combobox(group, textvariable=self.x_var, width=8, state="readonly")
        self.x_combo.pack(side="left")
        ttk.Label(group, text="Y:").pack(side="left", padx=(4, 0))
        self.y_var = tk.StringVar()
        self.y_combo = ttk.Combobox(group, textvariable=self.y_var, width=8, state="readonly")
        self.y_combo.pack(side="left")
        row.add(group)
        for combo in (self.x_combo, self.y_combo):
            combo.bind("<<ComboboxSelected>>", lambda e: self._settings_changed())

        self.autoscale_var = tk.BooleanVar(value=True)
        row.add(
            ttk.Checkbutton(
                row, text="Autoscale", variable=self.autoscale_var, command=self._settings_changed
            )
        )
        group = ttk.Frame(row)
        ttk.Label(group, text="y min").pack(side="left", padx=(0, 2))
        self.ymin_var = tk.StringVar()
        self.ymin_entry = ttk.Entry(group, textvariable=self.ymin_var, width=7)
        self.ymin_entry.pack(side="left")
        ttk.Label(group, text="max").pack(side="left", padx=(4, 2))
        self.ymax_var = tk.StringVar()
        self.ymax_entry = ttk.Entry(group, textvariable=self.ymax_var, width=7)
        self.ymax_entry.pack(side="left")
        for entry in (self.ymin_entry, self.ymax_entry):
            entry.bind("<Return>", lambda e: self.apply_y_range())
        ttk.Button(group, text="Apply", width=6, command=self.apply_y_range).pack(
            side="left", padx=(4, 0)
        )
        row.add(group)
        self.record_button = ttk.Button(row, text="Record…", command=self._on_record_button)
        row.add(self.record_button)
        row.add(ttk.Button(row, text="Export…", command=self._on_export_button))
        self.open_button = ttk.Button(row, text="Open CSV…", command=self._on_open_button)
        row.add(self.open_button)
        self.live_button = ttk.Button(row, text="Back to live", command=self.back_to_live)
        row.add(self.live_button)
        row.set_visible(self.live_button, False)
        self._controls = row
        # Its own line, wrapping: a recording's path can be longer than the window is wide.
        self.record_var = tk.StringVar()
        self.record_label = WrapLabel(self, textvariable=self.record_var)
        self.record_var.trace_add("write", lambda *a: self._show_record_label())

        series_bar = ttk.Frame(self, padding=(4, 2, 4, 0))
        series_bar.pack(side="top", fill="x")
        self._series_bar = series_bar
        # Packed before the buttons, on the right: it keeps its place when they overflow.
        self.more_label = ttk.Label(series_bar, text="")
        self.more_label.pack(side="right", padx=(6, 0))
        self.series_row = self._new_series_row()

    def _new_series_row(self) -> WrapRow:
        row = WrapRow(self._series_bar)
        row.pack(side="left", fill="x", expand=True)
        row.add(ttk.Label(row, text="Series:"))
        return row

    def _show_record_label(self) -> None:
        if self.record_var.get():
            if not self.record_label.winfo_manager():
                # A margin by pack: WrapLabel wraps at its width and counts no padding.
                self.record_label.pack(side="top", fill="x", padx=8, after=self._controls)
        else:
            self.record_label.pack_forget()

    def _build_empty_hint(self) -> None:
        """Where readings come from, for a beginner looking at an empty plot (issue 15, item 9).

        Shown until the first series appears; with a button to the Deploy tab when the host has
        one (the companion, Thonny's views), else the words alone.
        """
        self.empty_hint = ttk.Frame(self, padding=(6, 4, 6, 0))
        self.deploy_button: ttk.Button | None = None
        show_panel = getattr(self.ctx, "show_panel", None)
        if callable(show_panel):
            self.deploy_button = ttk.Button(
                self.empty_hint, text="Go to Deploy", command=lambda: show_panel("Deploy")
            )
            self.deploy_button.pack(side="right", padx=(6, 0))
        self.empty_hint_label = WrapLabel(self.empty_hint, text=EMPTY_HINT)
        self.empty_hint_label.pack(side="left", fill="x", expand=True)
        self._hint_shown = False

    def _update_empty_hint(self) -> None:
        """Show the hint while the live plot has no series yet; hide it once readings come."""
        if self.ctx is None:
            return
        want = self.review_path is None and not self.store.names
        if want == self._hint_shown:
            return
        self._hint_shown = want
        if want:
            self.empty_hint.pack(side="top", fill="x", after=self._series_bar)
        else:
            self.empty_hint.pack_forget()

    # --- look: theme and zoom ---------------------------------------------------------------
    def _apply_look(self) -> None:
        """Take the theme's colours and the UI font's size: figure, toolbar, series buttons.

        Called once built and again on every <<ThemeChanged>> (Thonny's dark theme) and zoom
        change (look.on_look_change); the next frame redraws the figure in full.
        """
        pal = look.palette(self)
        self._palette = pal
        self.renderer.set_style(
            FigureStyle(
                figure=pal.background,
                axes=pal.field,
                text=pal.foreground,
                font_px=ui_font_pixels(self),
                series=tuple(look.readable(self, c, pal.field, LINE_CONTRAST) for c in COLOURS),
            )
        )
        self.canvas.get_tk_widget().configure(background=pal.background, highlightthickness=0)
        self._style_toolbar(pal)
        self.record_label.configure(foreground=pal.error)
        for name, button in self._series_buttons().items():
            self._style_series_button(button, name)
        if self._after_id is not None:  # built: draw the new look now, even when paused
            self.redraw(force=True)

    def _make_toolbar(self, background: str) -> Any:
        """matplotlib's toolbar, its buttons made with `background` from the start.

        A classic Tk button draws its disabled look (Back and Forward, until one zooms) with a
        stipple pattern in the background colour it had when it was made, and later changes do
        not reach that pattern: so the colour is given through Tk's option database, which
        new widgets read when they are made, for this frame's widgets only.
        """
        from matplotlib.backends.backend_tkagg import NavigationToolbar2Tk

        scope = "*" + str(self._body).lstrip(".")
        for cls in ("Button", "Checkbutton", "Frame", "Label"):
            self.option_add(f"{scope}*{cls}.background", background)
        toolbar = NavigationToolbar2Tk(self.canvas, self._body, pack_toolbar=False)
        toolbar.update()
        toolbar.pack(side="bottom", fill="x", before=self.canvas.get_tk_widget())
        self._toolbar_background = background
        return toolbar

    def _replace_toolbar(self, background: str) -> None:
        """A new toolbar for a new background (see `_make_toolbar`); the old one lets go of
        the canvas: its event handlers and, in zoom or pan mode, the canvas' lock."""
        old = self.toolbar
        for name in ("_id_press", "_id_release", "_id_drag"):
            cid = getattr(old, name, None)
            if isinstance(cid, int):
                self.canvas.mpl_disconnect(cid)
        lock = getattr(self.canvas, "widgetlock", None)
        if lock is not None and lock.isowner(old):
            lock.release(old)
        old.destroy()
        self.toolbar = self._make_toolbar(background)

    def _style_toolbar(self, pal: look.Palette) -> None:
        """matplotlib's toolbar is classic Tk (frame, buttons, labels): colour it by hand.

        Its icons are black on a light background; matplotlib draws them in the buttons' text
        colour when the background is dark, so they are made again after the colours change.
        """
        if pal.background != self._toolbar_background:
            self._replace_toolbar(pal.background)
        toolbar = self.toolbar
        for widget in (toolbar, *toolbar.winfo_children()):
            cls = widget.winfo_class()
            options: dict[str, Any] = {"background": pal.background}
            if cls in ("Button", "Checkbutton", "Label"):
                options["foreground"] = pal.foreground
            if cls in ("Button", "Checkbutton"):
                options.update(
                    activebackground=pal.field,
                    activeforeground=pal.field_text,
                    highlightbackground=pal.background,
                )
            if cls == "Checkbutton":
                options["selectcolor"] = pal.select
            if cls == "Label":
                options["font"] = "TkDefaultFont"  # the coordinates read out grow with the zoom
            try:
                widget.configure(**options)
            except tk.TclError:
                log.debug("cannot colour toolbar part %s", widget, exc_info=True)
        # The toolbar keeps a fixed height (it does not propagate) that fits two message lines.
        toolbar.configure(height=max(TOOLBAR_MIN_HEIGHT, 2 * look.ui_font_px(self) + 12))
        rescale = getattr(toolbar, "_rescale", None)  # remakes the icons for the new colours
        if callable(rescale):
            try:
                rescale()
            except Exception:  # noqa: BLE001 - keeping the old icons is no reason to fail
                log.debug("toolbar icons not remade", exc_info=True)

    def _series_buttons(self) -> dict[str, tk.Checkbutton]:
        return {
            str(w.cget("text")): w
            for w in self.series_row.winfo_children()
            if isinstance(w, tk.Checkbutton)
        }

    def _style_series_button(self, button: tk.Checkbutton, name: str) -> None:
        """A series' show/hide box: its text in the line's colour, readable on the background."""
        pal = self._palette
        colour = look.readable(self, self.renderer.colour(name), pal.background)
        button.configure(
            foreground=colour,
            activeforeground=colour,
            background=pal.background,
            activebackground=pal.background,
            highlightbackground=pal.background,
            selectcolor=pal.field,
        )

    def settings(self) -> ViewSettings:
        """The view settings the controls describe now."""
        try:
            window = parse_window(self.window_var.get())
        except ValueError:
            window = parse_window(DEFAULT_WINDOW)
        layout = next((k for k, v in LAYOUT_LABELS.items() if v == self.layout_var.get()), "auto")
        y_range = None
        if not self.autoscale_var.get():
            y_range = self._entered_y_range()
        return ViewSettings(
            window_s=window,
            layout=layout,
            mode="xy" if self.xy_var.get() else "time",
            x_series=self.x_var.get() or None,
            y_series=self.y_var.get() or None,
            autoscale=self.autoscale_var.get() or y_range is None,
            y_range=y_range,
            hidden=frozenset(self._hidden),
        )

    def _entered_y_range(self) -> tuple[float, float] | None:
        try:
            lo, hi = float(self.ymin_var.get()), float(self.ymax_var.get())
        except ValueError:
            return None
        return (lo, hi) if lo < hi else None

    def apply_y_range(self) -> None:
        """Use the y min/max entries: switches autoscale off (the "fixed y-range")."""
        if self._entered_y_range() is None:
            self.set_status("The y-range needs two numbers, min below max.")
            return
        self.autoscale_var.set(False)
        self._settings_changed()

    def set_y_range(self, lo: float, hi: float) -> None:
        self.ymin_var.set(format_value(lo))
        self.ymax_var.set(format_value(hi))
        self.apply_y_range()

    def set_window(self, text: str) -> None:
        self.window_var.set(text)
        self._settings_changed()

    def set_layout(self, layout: str) -> None:
        self.layout_var.set(LAYOUT_LABELS[layout])
        self._settings_changed()

    def set_xy(self, x: str | None, y: str | None) -> None:
        """XY mode with `x` against `y`; ``set_xy(None, None)`` goes back to the time axis."""
        self.xy_var.set(x is not None and y is not None)
        if x is not None:
            self.x_var.set(x)
        if y is not None:
            self.y_var.set(y)
        self._settings_changed()

    def set_series_visible(self, name: str, visible: bool) -> None:
        var = self._series_vars.get(name)
        if var is not None:
            var.set(visible)
        if visible:
            self._hidden.discard(name)
        else:
            self._hidden.add(name)
        self._settings_changed()

    def _settings_changed(self) -> None:
        if self.window_combo.get().strip():
            try:
                parse_window(self.window_var.get())
            except ValueError:
                self.set_status(f"Window {self.window_var.get()!r}: use seconds, or 'all'.")

    def _sync_series(self) -> None:
        """Add a show/hide check button (and X/Y choice) for every series that appeared."""
        names = self.store.names
        if names == self._known_names:
            return
        for name in names[:MAX_SERIES_BUTTONS]:
            if name in self._series_vars:
                continue
            var = tk.BooleanVar(value=name not in self._hidden)
            button = tk.Checkbutton(
                self.series_row,
                text=name,
                variable=var,
                command=lambda n=name, v=var: self.set_series_visible(n, v.get()),
            )
            self._style_series_button(button, name)
            self.series_row.add(button)
            self._series_vars[name] = var
        more = len(names) - MAX_SERIES_BUTTONS
        self.more_label.configure(text=f"+{more} more" if more > 0 else "")
        self._known_names = list(names)
        self.x_combo.configure(values=names)
        self.y_combo.configure(values=names)
        if not self.x_var.get() and names:
            self.x_var.set(names[0])
        if not self.y_var.get() and len(names) > 1:
            self.y_var.set(names[1])

    def _clear_series_buttons(self) -> None:
        # A new row rather than taking buttons out of the old one: a WrapRow only adds.
        self.series_row.destroy()
        self.series_row = self._new_series_row()
        self.more_label.configure(text="")
        self._series_vars.clear()
        self._known_names = []
        self._hidden.clear()

    # --- pause / resume ---------------------------------------------------------------------
    def toggle_pause(self) -> None:
        if self.paused:
            self.resume()
        else:
            self.pause()

    def pause(self, reason: str = "") -> None:
        """Freeze the view; readings keep coming into the store (and the recording)."""
        if self.paused:
            return
        self.paused = True
        tr = self.store.time_range()
        self._t_frozen = tr[1] if tr else None
        self.pause_button.configure(text="Resume")
        self.set_status(reason or "Paused: readings are still collected. Press Resume.")

    def resume(self) -> None:
        if self.review_path is not None:
            self.back_to_live()
            return
        self.paused = False
        self._t_frozen = None
        self.pause_button.configure(text="Pause")
        self.renderer.invalidate()
        self.set_status("Live.")

    # --- ingest -----------------------------------------------------------------------------
    def ingest_chunk(self, data: bytes | str) -> None:
        """Feed raw output (board REPL, Thonny's shell): parsed off this thread, then stored."""
        source = self._chunk_source
        if source is None:
            source = self._start_chunk_source()
        source.feed(data)

    def ingest_backlog(self, items: Any) -> None:
        """Replay output kept from before this panel existed, at the times it arrived.

        `items` are ``(time.monotonic() when it arrived, text)`` in order. A host that is not
        allowed to build the panel early (Thonny must not import matplotlib at start) keeps the
        lines and hands them over here, so "Live plot" after the program started still shows
        its earlier readings. The time axis then starts at the first replayed line.
        """
        items = [(float(t), chunk) for t, chunk in items if chunk]
        if not items:
            return
        if self._chunk_source is None:
            source = self._start_chunk_source()
            session = self._sessions[-1]
            if session.t0 is not None:
                session.t0 = min(session.t0, items[0][0])
        else:
            source = self._chunk_source
        for received, chunk in items:
            source.feed(chunk, received_at=received)

    def _start_chunk_source(self) -> Any:
        source = _timed_chunk_source_class()()
        self._start_session(source)
        self._chunk_source = source
        return source

    def attach_source(self, source: Any) -> Any:
        """Show readings from any `Source` (serial, MQTT, HTTP, file…) and start it.

        Its errors go to the status line; Record records it. Returns the `PlotSession` that
        wires it to the live store.
        """
        return self._start_session(source)

    def attach_session(self, session: Any) -> None:
        """Adopt a `PlotSession` someone else started on our store (`iotkit plot` does this), so
        that Record records it and its errors show in the status line."""
        if session.on_error is None:
            session.on_error = self.post_status
        if self._recorder is not None:
            session.recorder = self._recorder
        self._sessions.append(session)

    def _start_session(self, source: Any) -> Any:
        from companion_app.readings.session import PlotSession

        session = PlotSession(source, self.live_store, on_error=self.post_status)
        if self._recorder is not None:
            session.recorder = self._recorder
        session.start()
        self._sessions.append(session)
        return session

    def post_status(self, message: str) -> None:
        """Show `message` in the status line; safe from any thread (sources call it).

        Only the newest of a run of messages is shown: the line holds one at a time anyway.
        """
        self._runner.post(self.set_status, str(message), latest=(id(self), "status"))

    def set_status(self, message: str) -> None:
        self.status_var.set(message)

    def _on_connection_event(self, event: str, payload: Any) -> None:
        if event == "data":
            self.ingest_chunk(payload)
        elif event == "disconnected" and payload:
            self.set_status(f"The board went away ({payload}); the plot keeps what it has.")

    # --- the frame timer --------------------------------------------------------------------
    def _schedule(self) -> None:
        if not self._closed:
            self._after_id = self.after(FRAME_MS, self._tick)

    def _tick(self) -> None:
        self._after_id = None
        if self._stopping:
            return  # the window is closing: no more frames
        try:
            self.ticks += 1
            self._update_recording_label()
            if self.winfo_viewable():  # a hidden tab costs nothing but the ingest
                self.redraw()
        except Exception as exc:  # noqa: BLE001 - a bad frame must not stop the timer
            if self._stopping:
                # Ctrl-C in `iotkit plot` landed inside this frame and is closing the window:
                # Tk's image can be gone under our feet, which is no fault worth reporting.
                log.debug("plot frame cut short by closing", exc_info=True)
                return
            log.exception("plot frame failed")
            self.set_status(describe_error(exc, what="drawing the plot"))
        self._schedule()

    _stopping = False

    def stop_drawing(self) -> None:
        """Draw no more frames: the window is about to close (safe from a signal handler)."""
        self._stopping = True
        self.renderer.stopped = True

    def redraw(self, force: bool = False) -> str:
        """One frame: draws only if the store or a setting changed; returns what it did."""
        self._sync_series()
        self._update_empty_hint()
        if not self.paused and self.renderer.user_moved_view():
            self.pause("Zoomed or panned: the view is paused. Press Resume to follow live data.")
        result = self.renderer.update(
            self.store,
            self.settings(),
            follow=not self.paused,
            t_frozen=self._t_frozen if self.paused else None,
            force=force,
        )
        if result != "skipped":
            self._update_counts()
        return result

    def _update_counts(self) -> None:
        store = self.store
        names = store.names
        if not names:
            return
        if self.status_var.get().startswith("Waiting for readings"):
            self.set_status("Live.")
        shown = ", ".join(f"{n} {store.stats(n).count}" for n in names[:6])
        more = f" (+{len(names) - 6} more)" if len(names) > 6 else ""
        if self.renderer.undrawn:
            more += f"; drawing the first {MAX_DRAWN_SERIES}"
        where = f"{self.review_path.name}: " if self.review_path is not None else ""
        self.counts_var.set(f"{where}points: {shown}{more}")

    def _update_recording_label(self) -> None:
        recorder = self._recorder
        if recorder is None:
            return
        if recorder.closed:  # the session stopped it after a write error (status says why)
            self._recorder = None
            self.record_button.configure(text="Record…")
            self.record_var.set(f"Recording stopped: {recorder.rows_written} rows")
        else:
            self.record_var.set(f"● {self._record_path}  {recorder.rows_written} rows")

    # --- record / export / review -----------------------------------------------------------
    def _on_record_button(self) -> None:
        if self._recorder is not None:
            self.stop_recording()
            return
        path = filedialog.asksaveasfilename(
            parent=self,
            title="Record readings to CSV",
            defaultextension=".csv",
            initialfile=time.strftime("readings-%Y%m%d-%H%M%S.csv"),
            filetypes=[("CSV", "*.csv"), ("All files", "*")],
        )
        if path:
            self.start_recording(path)

    def start_recording(self, path: str | os.PathLike) -> None:
        """Write every reading from now on to `path` (the CSV format of CONTRACTS.md).

        The file is flushed after every row, so a crash loses nothing. Readings come from the
        panel's sessions (the board's output, attached sources), not from a CSV under review.
        """
        self.stop_recording()
        if not self._sessions:
            if self.ctx is None:
                self.set_status("Nothing to record: this window has no source of readings.")
                return
            self._start_chunk_source()
        try:
            recorder = self._sessions[0].start_recording(path)
        except IotkitError as exc:
            self.set_status(str(exc))
            return
        for session in self._sessions[1:]:
            session.recorder = recorder
        self._recorder = recorder
        self._record_path = Path(path)
        self.record_button.configure(text="Stop recording")
        self.record_var.set(f"● {self._record_path}  0 rows")
        self.set_status(f"Recording to {self._record_path}.")

    @property
    def recording_rows(self) -> int:
        recorder = self._recorder
        return recorder.rows_written if recorder is not None else 0

    def stop_recording(self) -> None:
        """Stop and close the recording (each session swaps it out under its own lock)."""
        recorder, self._recorder = self._recorder, None
        if recorder is None:
            return
        for session in self._sessions:
            if session.recorder is recorder:
                session.stop_recording()
        recorder.close()
        self.record_button.configure(text="Record…")
        self.record_var.set(f"Recorded {recorder.rows_written} rows to {self._record_path}")
        self.set_status(f"Recording saved: {self._record_path}")

    def _on_export_button(self) -> None:
        path = filedialog.asksaveasfilename(
            parent=self,
            title="Export the plot",
            defaultextension=".png",
            initialfile=time.strftime("plot-%Y%m%d-%H%M%S.png"),
            filetypes=[("PNG image", "*.png"), ("SVG image", "*.svg")],
        )
        if path:
            self.export(path)

    def export(self, path: str | os.PathLike) -> Path:
        """Save the figure as shown (current view and limits) as PNG or SVG, by the suffix."""
        path = Path(path)
        fmt = path.suffix.lower().lstrip(".") or "png"
        if fmt not in ("png", "svg"):
            self.set_status("Export as .png or .svg.")
            raise IotkitError(f"cannot export {path.name}: use a .png or .svg name")
        try:
            self.figure.savefig(path, format=fmt, dpi=120)
        except OSError as exc:
            self.set_status(f"Cannot export to {path}: {exc}")
            raise IotkitError(f"cannot export to {path}: {exc}") from exc
        finally:
            # Saving drew the figure at the export size; draw it again at the window's size so
            # the blitting background matches (the view, zoom included, stays as it was).
            self.canvas.draw()
        self.set_status(f"Exported {path}")
        return path

    def _on_open_button(self) -> None:
        path = filedialog.askopenfilename(
            parent=self,
            title="Open a recorded CSV",
            filetypes=[("CSV", "*.csv"), ("All files", "*")],
        )
        if path:
            self.open_csv(path)

    def open_csv(self, path: str | os.PathLike) -> None:
        """Show an earlier recording (whole, paused); live readings keep being collected."""
        from companion_app.readings.recorder import read_csv
        from companion_app.readings.store import SeriesStore

        try:
            rows = read_csv(path)
        except (OSError, ValueError, IotkitError) as exc:
            self.set_status(f"Cannot open {path}: {exc}")
            return
        store = SeriesStore()
        store.add_many(rows)
        self._show_store(store)
        self.review_path = Path(path)
        self.window_var.set("all")
        self.paused = True
        self._t_frozen = None
        self.pause_button.configure(text="Resume")
        self._controls.set_visible(self.live_button, True)
        self._update_empty_hint()
        capped = (
            f" It has more series than the {store.max_series} a plot keeps; the rest are left out."
            if store.dropped_names
            else ""
        )
        self.set_status(
            f"Reviewing {self.review_path.name}: {len(rows)} rows. Press Back to live to return."
            + capped
        )

    def back_to_live(self) -> None:
        self.review_path = None
        self._controls.set_visible(self.live_button, False)
        self._show_store(self.live_store)
        self.paused = True  # resume() below clears it and redraws
        self.resume()

    def _show_store(self, store: Any) -> None:
        self.store = store
        self._clear_series_buttons()
        self.renderer.invalidate()

    # --- closing ----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the sources and the timer, close a recording (the app calls this)."""
        if self._closed:
            return
        self._closed = True
        self._runner.close()
        if self._after_id is not None:
            try:
                self.after_cancel(self._after_id)
            except tk.TclError:
                pass
        for session in self._sessions:
            try:
                session.stop()
            except Exception:  # noqa: BLE001 - closing must go on
                log.exception("stopping a plot source failed")
        self.stop_recording()
        if self.ctx is not None:
            self.ctx.connection.remove_listener(self._on_connection_event)
        self.renderer.close()

    def destroy(self) -> None:
        self.close()
        super().destroy()


@functools.lru_cache(maxsize=1)
def _timed_chunk_source_class() -> type:
    """ChunkSource, plus an optional arrival time per chunk (for `PlotPanel.ingest_backlog`).

    Made on first use: the readings modules load with the first panel, not with this module.
    """
    from companion_app.readings.sources import ChunkSource

    class TimedChunkSource(ChunkSource):
        def feed(self, chunk: bytes | str, received_at: float | None = None) -> None:
            if not chunk:
                return
            if received_at is None:
                super().feed(chunk)
            else:  # ChunkSource.feed's queue item, with the original arrival time
                self._queue.put((received_at, chunk))

    return TimedChunkSource
