"""The class dashboard: every board of a class as a tile, and one series of all boards as a plot.

Made for the projector at the front of a lab: a teacher must see from the back of the room which
boards are alive and what they measure. So each tile says it in words and in large type (the
board's name, "ONLINE"/"OFFLINE"/"not seen yet" with a mark, not a colour alone, "12 s ago",
the latest values) with a small line of its recent readings; the combined plot below shows one
series (chosen in a combobox) with one line per board, so the board that reads 35 °C while the
others read 22 °C stands out.

How it runs, in steps:

1. The engine (`companion_app.classroom.live.ClassLive`) subscribes in its own thread and keeps
   every board's state; this panel never touches MQTT, and the engine never touches Tk.
2. One `after()` timer (`TICK_MS`) asks the engine whether anything changed (`version`) and
   redraws only the tiles whose board got a reading or a new status; the ages ("12 s ago") are
   refreshed once a second.
3. The combined plot redraws at most `PLOT_PERIOD_S` apart and blits: axes, ticks and legend are
   drawn in full only when the time axis steps on, the y-range has to change or a board joins;
   otherwise only the lines are drawn again (the plot panel's way, gui/plot_widgets.py).
4. Tiles flow into as many columns as the width allows and scroll (look.ScrolledFrame), so 30
   boards fit a 1024x768 projector at zoom 1.5.
5. `trace_path`: one line per reading drawn (board, time.time() at receipt and at draw), for the
   benchmark's publish-to-drawn delay; off unless asked for.
"""

from __future__ import annotations

import logging
import math
import time
import tkinter as tk
import tkinter.font as tkfont
from tkinter import ttk
from typing import Any, TextIO

from companion_app.gui import look
from companion_app.gui.look import ScrolledFrame, WrapLabel, WrapRow
from companion_app.gui.plot_panel import ui_font_pixels
from companion_app.gui.plot_widgets import COLOURS, format_value, needs_new_limits, padded

log = logging.getLogger(__name__)

TICK_MS = 100  # how often the panel looks at the engine's state
AGE_REFRESH_S = 1.0  # "12 s ago" changes once a second
PLOT_PERIOD_S = 1.0  # the combined plot draws at most this often (readings come at ~1 Hz)
PLOT_WINDOW_S = 120.0  # the combined plot shows this much of the recent past
PLOT_HEADROOM = 0.25  # fraction of the window kept free ahead of now: the axis steps, not slides
#: The share of the height the tiles get at first (the combined plot gets the rest).
TILES_SHARE = 0.6
SPARK_WINDOW_S = 60.0  # a tile's little plot shows the last minute
#: A tile is this many UI-font lines wide; the grid takes as many columns as fit.
TILE_WIDTH_EM = 9
#: Tile text sizes, relative to the UI font (which the zoom scales): a projector's back row.
NAME_SCALE = 1.35
MARK_SCALE = 1.15
VALUES_SCALE = 1.1
#: A tile's sparkline is this many UI-font lines high.
SPARK_HEIGHT_EM = 1.6
#: Up to this many boards the combined plot has a legend; beyond, the tiles' sparklines
#: (drawn in each board's line colour) say which line is which.
MAX_LEGEND_BOARDS = 12
#: Lines against the plot area reach WCAG's 3:1 for graphics (as in the plot panel).
LINE_CONTRAST = 3.0
#: With more boards than colours, the line style tells boards of the same colour apart.
LINE_STYLES = ("-", "--", ":")
SPARK_DASHES = {"-": (), "--": (6, 3), ":": (2, 3)}  # the same styles on a Tk canvas
#: What a tile says for each state; the mark reads without colour.
MARKS = {
    "online": "● ONLINE",
    "offline": "✕ OFFLINE",
    "unknown": "? no status",
    "unseen": "… not seen yet",
}
NOT_IN_CLASS = "not in class.toml"


def board_colour(index: int) -> tuple[str, str]:
    """(colour, line style) of the index-th board in the combined plot and on its tile."""
    return COLOURS[index % len(COLOURS)], LINE_STYLES[(index // len(COLOURS)) % len(LINE_STYLES)]


class BoardTile(ttk.Frame):
    """One board: name, online mark, age, latest values and a sparkline. Tk thread only."""

    def __init__(self, parent: tk.Misc, name: str, fonts: dict[str, tkfont.Font]) -> None:
        super().__init__(parent, style="Tile.TFrame", padding=(8, 6))
        self.board = name
        self.name_label = ttk.Label(self, text=name, font=fonts["name"], style="Tile.TLabel")
        self.mark_label = ttk.Label(self, text=MARKS["unseen"], font=fonts["mark"])
        self.tag_label = ttk.Label(self, text="", style="Tile.TLabel")
        self.age_label = ttk.Label(self, text="no readings yet", style="Tile.TLabel")
        self.values_label = ttk.Label(self, text="", font=fonts["values"], style="Tile.TLabel")
        self.spark = tk.Canvas(self, height=40, width=120, highlightthickness=0, borderwidth=0)
        self.name_label.grid(row=0, column=0, columnspan=2, sticky="w")
        self.mark_label.grid(row=1, column=0, columnspan=2, sticky="w")
        self.age_label.grid(row=2, column=0, columnspan=2, sticky="w")
        self.values_label.grid(row=3, column=0, columnspan=2, sticky="w")
        self.spark.grid(row=4, column=0, columnspan=2, sticky="ew", pady=(2, 0))
        self.columnconfigure(0, weight=1)
        self._tag_shown = False
        self._line = self.spark.create_line(0, 0, 0, 0, width=2)
        self.status = "unseen"
        self.readings = -1  # what was drawn last: the engine's count of this board's readings
        self.age_text = ""

    def set_wrap(self, pixels: int) -> None:
        """Text wider than the tile wraps onto the next line."""
        for label in (self.name_label, self.mark_label, self.tag_label, self.values_label):
            label.configure(wraplength=pixels)
        self.spark.configure(width=max(20, pixels))

    def set_tag(self, text: str) -> None:
        if bool(text) != self._tag_shown:
            self._tag_shown = bool(text)
            if text:
                self.tag_label.grid(row=5, column=0, columnspan=2, sticky="w")
            else:
                self.tag_label.grid_remove()
        self.tag_label.configure(text=text)

    def set_mark(self, status: str, pal: look.Palette) -> None:
        colour = {"online": pal.ok, "offline": pal.error}.get(status, pal.muted)
        self.mark_label.configure(text=MARKS[status], foreground=colour)
        self.status = status

    def set_age(self, text: str) -> None:
        if text != self.age_text:
            self.age_text = text
            self.age_label.configure(text=text)

    def set_values(self, values: dict[str, float]) -> None:
        self.values_label.configure(
            text="\n".join(f"{k} {format_value(v)}" for k, v in list(values.items())[:3])
        )

    def draw_spark(self, t: Any, v: Any, t_now: float) -> None:
        """The last SPARK_WINDOW_S of one series, scaled to the canvas (min..max of the data)."""
        w, h = max(2, self.spark.winfo_width()), max(2, self.spark.winfo_height())
        if len(t) < 2:
            self.spark.coords(self._line, 0, 0, 0, 0)
            return
        lo, hi = float(min(v)), float(max(v))
        span = hi - lo or 1.0
        x0 = t_now - SPARK_WINDOW_S
        pad = 3
        coords: list[float] = []
        for ti, vi in zip(t, v):
            coords.append(pad + (float(ti) - x0) / SPARK_WINDOW_S * (w - 2 * pad))
            coords.append(h - pad - (float(vi) - lo) / span * (h - 2 * pad))
        self.spark.coords(self._line, *coords)


class ClassDashboard(ttk.Frame):
    """Every board of a class, live. `start()` connects; `stop()` (or destroy) disconnects.

    `class_file` is a `classroom.classfile.ClassFile`; `live` an engine to use (made from the
    class file when None; `broker` overrides the file's broker URL).
    """

    def __init__(
        self,
        parent: tk.Misc,
        class_file: Any,
        *,
        live: Any | None = None,
        broker: str | None = None,
        trace_path: str | None = None,
    ) -> None:
        super().__init__(parent)
        from matplotlib.backends.backend_tkagg import FigureCanvasTkAgg
        from matplotlib.figure import Figure

        if live is None:
            from companion_app.classroom.live import ClassLive

            live = ClassLive(
                class_file.name,
                broker or class_file.broker,
                [b.name for b in class_file.boards],
                trace=bool(trace_path),
            )
        self.live = live
        self.class_file = class_file
        self.tiles: dict[str, BoardTile] = {}
        self._order: list[str] = []
        self._columns = 0
        self._wrap = 0
        self._after_id: str | None = None
        self._started = False
        self._version = -1
        self._ages_at = 0.0
        self._plot_at = 0.0
        self._plot_version = -1
        self._trace: TextIO | None = (
            open(trace_path, "a", encoding="utf-8", buffering=1) if trace_path else None
        )
        self._states: list[Any] = []
        self.ticks = 0  # for tests
        self.full_draws = 0
        self.blits = 0
        self.fonts = {
            "title": tkfont.Font(self, weight="bold"),
            "name": tkfont.Font(self, weight="bold"),
            "mark": tkfont.Font(self, weight="bold"),
            "values": tkfont.Font(self),
        }
        self._pal = look.palette(self)

        header = WrapRow(self, gap=16, padding=(8, 6, 8, 0))
        header.pack(side="top", fill="x")
        self.title_label = ttk.Label(
            header, text=f"Class {class_file.name}", font=self.fonts["title"]
        )
        header.add(self.title_label)
        self.count_var = tk.StringVar(value="")
        header.add(ttk.Label(header, textvariable=self.count_var))
        self.state_var = tk.StringVar(value=live.state[1])
        self.state_label = WrapLabel(self, textvariable=self.state_var, padding=(8, 2))
        self.state_label.pack(side="top", fill="x")

        self.panes = ttk.Panedwindow(self, orient="vertical")
        self.panes.pack(side="top", fill="both", expand=True)
        self._sash_placed = False
        self.panes.bind("<Configure>", self._place_sash, add="+")
        self.scroller = ScrolledFrame(self.panes)
        self.grid_frame = self.scroller.inner
        self.grid_frame.bind("<Configure>", lambda e: self._regrid(), add="+")
        self.panes.add(self.scroller, weight=3)

        plot_box = ttk.Frame(self.panes)
        self.panes.add(plot_box, weight=2)
        controls = WrapRow(plot_box, gap=8, padding=(8, 4))
        controls.pack(side="top", fill="x")
        controls.add(ttk.Label(controls, text="Plot of every board:"))
        self.series_var = tk.StringVar(value="")
        self.series_box = ttk.Combobox(
            controls, textvariable=self.series_var, state="readonly", width=16, values=()
        )
        self.series_box.bind("<<ComboboxSelected>>", lambda e: self._series_changed())
        controls.add(self.series_box)
        self.figure = Figure(figsize=(8, 2.2), dpi=100, layout="constrained")
        self.canvas = FigureCanvasTkAgg(self.figure, master=plot_box)
        self.canvas.get_tk_widget().pack(side="top", fill="both", expand=True)
        self.ax = self.figure.add_subplot(1, 1, 1)
        self._lines: dict[str, Any] = {}
        self._xlim: tuple[float, float] | None = None
        self._ylim: tuple[float, float] | None = None
        self._legend_key: tuple[str, ...] = ()
        self._background: Any = None
        self._full_needed = True
        self.canvas.mpl_connect("draw_event", self._on_draw)

        for state in live.boards():
            self._add_tile(state.name)
        self._apply_look()
        look.on_look_change(self, self._apply_look)

    # --- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Connect to the broker (in the engine's thread) and start the redraw timer."""
        if not self._started:
            self._started = True
            self.live.start()
        if self._after_id is None:
            self._after_id = self.after(TICK_MS, self._tick)

    def stop(self) -> None:
        """Stop redrawing and disconnect (the engine's thread ends within a few seconds)."""
        if self._after_id is not None:
            try:
                self.after_cancel(self._after_id)
            except tk.TclError:
                pass
            self._after_id = None
        if self._started:
            self._started = False
            self.live.stop()
        if self._trace is not None:
            self._trace.close()
            self._trace = None

    def destroy(self) -> None:
        self.stop()
        super().destroy()

    # --- look -----------------------------------------------------------------------------------
    def _apply_look(self) -> None:
        """Theme colours and font sizes (zoom, Thonny's theme); tiles and plot follow."""
        pal = look.palette(self)
        self._pal = pal
        base = look.ui_font_pt(self)
        family = tkfont.nametofont("TkDefaultFont", root=self).cget("family")
        for key, scale in (
            ("title", NAME_SCALE),
            ("name", NAME_SCALE),
            ("mark", MARK_SCALE),
            ("values", VALUES_SCALE),
        ):
            self.fonts[key].configure(family=family, size=max(1, round(base * scale)))
        style = ttk.Style(self)
        tile_bg = pal.field
        style.configure("Tile.TFrame", background=tile_bg, relief="solid", borderwidth=1)
        style.configure("Tile.TLabel", background=tile_bg, foreground=pal.field_text)
        for tile in self.tiles.values():
            self._style_tile(tile)
        self.figure.set_facecolor(pal.background)
        self.canvas.get_tk_widget().configure(background=pal.background, highlightthickness=0)
        self._columns = 0
        self._regrid()
        self._full_needed = True
        self._legend_key = ()

    def _tile_palette(self) -> look.Palette:
        """The palette with its state colours made readable on the tiles' field colour."""
        pal = self._pal
        from dataclasses import replace

        return replace(
            pal,
            ok=pal.on_field(self, pal.ok),
            error=pal.on_field(self, pal.error),
            muted=pal.on_field(self, pal.muted),
        )

    def _place_sash(self, event: Any) -> None:
        """Once, when the panel first gets its size: the tiles take TILES_SHARE of the height
        (the panes' own split would follow the figure's requested size). The teacher may move
        the sash afterwards."""
        if self._sash_placed or event.height <= 1:
            return
        self._sash_placed = True
        try:
            self.panes.sashpos(0, round(event.height * TILES_SHARE))
        except tk.TclError:
            log.debug("sash not placed", exc_info=True)

    # --- tiles ----------------------------------------------------------------------------------
    def _add_tile(self, name: str) -> BoardTile:
        tile = BoardTile(self.grid_frame, name, self.fonts)
        self.tiles[name] = tile
        self._order.append(name)
        self._style_tile(tile)
        self._columns = 0
        self._regrid()
        return tile

    def _style_tile(self, tile: BoardTile) -> None:
        """Colours and sizes of one tile; its sparkline takes the board's line colour."""
        pal = self._pal
        colour, dash = board_colour(self._order.index(tile.board))
        tile.spark.configure(
            background=pal.field, height=round(SPARK_HEIGHT_EM * look.ui_font_px(self))
        )
        tile.spark.itemconfigure(
            tile._line,
            fill=look.readable(self, colour, pal.field, LINE_CONTRAST),
            dash=SPARK_DASHES[dash],
        )
        tile.mark_label.configure(background=pal.field)
        tile.tag_label.configure(foreground=pal.on_field(self, pal.warning))
        tile.age_label.configure(foreground=pal.on_field(self, pal.muted))
        tile.set_mark(tile.status, self._tile_palette())

    def _regrid(self) -> None:
        """As many columns as fit the width; re-placed only when that number (or the width a
        tile's text may take) changes. Long names and values wrap inside their tile rather
        than widen it, which would push the last column out of the window."""
        width = self.scroller.canvas.winfo_width()
        if width <= 1:
            width = self.winfo_width()
        tile_w = TILE_WIDTH_EM * look.ui_font_px(self)
        columns = max(1, width // max(1, tile_w)) if width > 1 else 3
        # The tile's padding (8 px a side), the grid's (4 px a side) and the tile's border.
        wrap = max(60, (width if width > 1 else 3 * tile_w) // columns - 2 * (8 + 4 + 2))
        if (columns, wrap) == (self._columns, self._wrap):
            return
        self._columns, self._wrap = columns, wrap
        for c in range(columns):
            self.grid_frame.columnconfigure(c, weight=1, uniform="tile")
        for c in range(columns, len(self._order) + 1):
            self.grid_frame.columnconfigure(c, weight=0, uniform="")
        for i, name in enumerate(self._order):
            tile = self.tiles[name]
            tile.set_wrap(wrap)
            tile.grid(row=i // columns, column=i % columns, sticky="nsew", padx=4, pady=4)

    # --- the timer --------------------------------------------------------------------------------
    _closing = False

    def stop_drawing(self) -> None:
        """Draw no more frames: the window is about to close (safe from a signal handler)."""
        self._closing = True

    def _tick(self) -> None:
        self._after_id = None
        if self._closing:
            return
        try:
            self.ticks += 1
            self.refresh()
        except Exception:  # noqa: BLE001 - one bad frame must not stop the dashboard
            if self._closing:  # Ctrl-C landed inside this frame (see window_loop.py)
                log.debug("dashboard frame cut short by closing", exc_info=True)
                return
            log.exception("class dashboard frame failed")
        if self._started:
            self._after_id = self.after(TICK_MS, self._tick)

    def refresh(self, force: bool = False) -> None:
        """One frame: tiles whose board changed, the ages each second, the plot when due."""
        live = self.live
        received = live.drain_received() if self._trace is not None else []
        now = time.monotonic()
        version = live.version
        changed = force or version != self._version
        if changed:
            self._version = version
            self.state_var.set(live.state[1])
            self._update_tiles(now)
        if force or changed or now - self._ages_at >= AGE_REFRESH_S:
            self._ages_at = now
            for state in self._states:
                self.tiles[state.name].set_age(_age_text(state, now))
        if (force or now - self._plot_at >= PLOT_PERIOD_S) and (
            force or self._plot_version != version
        ):
            if self.winfo_viewable():
                self._plot_at = now
                self._plot_version = version
                self.draw_plot()
        if received and self._trace is not None:
            self.update_idletasks()  # drawn means on the screen, not just configured
            drawn = time.time()
            for board, wall, _mono in received:
                self._trace.write(f"{board}\t{wall:.6f}\t{drawn:.6f}\n")

    def _update_tiles(self, now: float) -> None:
        states = self.live.boards()
        self._states = states
        names = self.live.series_names()
        if list(self.series_box.cget("values")) != names:
            self.series_box.configure(values=names)
            if names and self.series_var.get() not in names:
                self.series_var.set(names[0])
        chosen = self.series_var.get()
        pal = self._tile_palette()
        t_now = self.live.now_s()
        online = 0
        for state in states:
            tile = self.tiles.get(state.name) or self._add_tile(state.name)
            status = state.status if state.seen else "unseen"
            online += status == "online" and state.in_class
            if status != tile.status:
                tile.set_mark(status, pal)
            tile.set_tag("" if state.in_class else NOT_IN_CLASS)
            if state.readings != tile.readings:
                tile.readings = state.readings
                tile.set_values(state.values)
                series = chosen if chosen in state.values else (state.series or [""])[0]
                t, v = self.live.series(state.name, series, since_s=t_now - SPARK_WINDOW_S)
                tile.draw_spark(t, v, t_now)
        listed = sum(1 for s in states if s.in_class)
        self.count_var.set(f"{online} of {listed} boards online")

    def _series_changed(self) -> None:
        for tile in self.tiles.values():
            tile.readings = -1  # redraw every sparkline with the chosen series
        self._legend_key = ()
        self.refresh(force=True)

    # --- the combined plot --------------------------------------------------------------------------
    def draw_plot(self) -> str:
        """Draw the chosen series of every board; returns "full", "blit" or "empty"."""
        series = self.series_var.get()
        live = self.live
        t_now = live.now_s()
        data: dict[str, tuple[Any, Any]] = {}
        if series:
            for name in self._order:
                t, v = live.series(name, series, since_s=t_now - PLOT_WINDOW_S)
                if len(t):
                    data[name] = (t, v)
        full = self._full_needed
        key = (series, *data)
        if key != self._legend_key:
            self._build_lines(series, list(data))
            self._legend_key = key
            full = True
        xlim = self._xlim
        if xlim is None or t_now > xlim[1]:
            start = max(0.0, t_now - (1 - PLOT_HEADROOM) * PLOT_WINDOW_S)
            self._xlim = (start, start + PLOT_WINDOW_S)
            self.ax.set_xlim(*self._xlim)
            full = True
        values = [v for _, v in data.values() if len(v)]
        if values:
            lo = min(float(v.min()) for v in values)
            hi = max(float(v.max()) for v in values)
            if self._ylim is None or needs_new_limits(self._ylim, lo, hi):
                self._ylim = padded(lo, hi)
                self.ax.set_ylim(*self._ylim)
                full = True
        for name, line in self._lines.items():
            t, v = data.get(name, ((), ()))
            line.set_data(t, v)
        if full or self._background is None:
            self._full_needed = False
            self.full_draws += 1
            self.canvas.draw()
            return "full" if data else "empty"
        self.canvas.restore_region(self._background)
        for line in self._lines.values():
            self.ax.draw_artist(line)
        self.canvas.blit(self.ax.bbox)
        self.blits += 1
        return "blit"

    def _build_lines(self, series: str, names: list[str]) -> None:
        pal = self._pal
        ax = self.ax
        ax.clear()
        self._lines = {}
        self._ylim = None
        self._xlim = None
        font_pt = ui_font_pixels(self) * 72.0 / max(1.0, self.figure.dpi)
        ax.set_facecolor(pal.field)
        for spine in ax.spines.values():
            spine.set_color(pal.field_text)
        ax.tick_params(colors=pal.foreground, labelsize=font_pt)
        ax.grid(True, alpha=0.15, color=pal.foreground)
        ax.set_xlabel("seconds since the dashboard started", color=pal.foreground, size=font_pt)
        ax.set_ylabel(series or "no readings yet", color=pal.foreground, size=font_pt)
        for name in names:
            colour, style = board_colour(self._order.index(name))
            line = ax.plot(
                [],
                [],
                label=name,
                color=look.readable(self, colour, pal.field, LINE_CONTRAST),
                linestyle=style,
                linewidth=2,
                animated=True,
            )[0]
            self._lines[name] = line
        if 0 < len(names) <= MAX_LEGEND_BOARDS:
            legend = ax.legend(
                loc="upper left",
                bbox_to_anchor=(1.01, 1.0),
                ncols=max(1, math.ceil(len(names) / 7)),
                fontsize=font_pt,
                frameon=False,
                labelcolor=pal.foreground,
                borderaxespad=0,
            )
            legend.set_animated(False)

    def _on_draw(self, event: Any) -> None:
        """After a full draw: keep the static picture, then paint the lines on it."""
        if self._closing:
            return
        try:
            self._background = self.canvas.copy_from_bbox(self.ax.bbox)
            for line in self._lines.values():
                self.ax.draw_artist(line)
            self.canvas.blit(self.ax.bbox)
        except Exception:
            if not self._closing:
                raise
            log.debug("dashboard frame cut short by closing", exc_info=True)


def _age_text(state: Any, now: float) -> str:
    from companion_app.classroom.live import describe_age

    return describe_age(state.age_s(now))


def run_window(
    class_file: Any,
    live: Any,
    duration_s: float | None = None,
    trace_path: str | None = None,
) -> int:
    """`iotkit class dashboard` with a window: runs until it is closed (or `duration_s`)."""
    from companion_app.errors import EXIT_INTERRUPTED, IotkitError
    from companion_app.gui.app import SCREEN_MARGIN, WindowPrefs
    from companion_app.gui.window_loop import run_window

    try:
        root = tk.Tk()
    except tk.TclError as exc:
        raise IotkitError(
            f"Cannot open a window ({exc}). Use --headless --record OUT.csv --duration S instead."
        ) from exc
    prefs = WindowPrefs()
    look.set_zoom(root, prefs.load_zoom() or 1.0)
    root.title(f"iotkit class dashboard — {class_file.name}")
    # The whole screen: the window is for the projector, and every pixel shows more boards.
    width = max(480, root.winfo_screenwidth() - SCREEN_MARGIN[0])
    height = max(360, root.winfo_screenheight() - SCREEN_MARGIN[1])
    root.geometry(f"{width}x{height}")
    panel = ClassDashboard(root, class_file, live=live, trace_path=trace_path)
    panel.pack(fill="both", expand=True)

    def change_zoom(direction: int) -> None:
        prefs.save_zoom(look.set_zoom(root, look.zoom_step(look.zoom(root), direction)))

    for key, direction in (("plus", 1), ("equal", 1), ("minus", -1), ("0", 0)):
        root.bind(f"<Control-{key}>", lambda e, d=direction: change_zoom(d))

    panel.start()
    interrupted = run_window(root, panel, duration_s, at_ctrl_c=panel.stop_drawing)
    return EXIT_INTERRUPTED if interrupted else 0
