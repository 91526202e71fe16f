"""The drawing half of the Plot panel: matplotlib artists, layout rule, blitting. No Tk here.

`PlotRenderer` draws a `SeriesStore` onto any matplotlib figure: the Tk panel gives it the
`FigureCanvasTkAgg` of the window, the benchmark and headless tools a plain `FigureCanvasAgg`.
Keeping it Tk-free is what lets the benchmark measure the very code path the panel runs.

Why the frame loop looks the way it does (Thonny's plotter redraws everything on every line and
takes a whole core on fast output):

- Lines and legend are *animated* artists. A full ``canvas.draw()`` paints only the static
  parts (axes, ticks, labels); the ``draw_event`` handler copies that background and paints the
  animated artists on top. A normal frame restores the background, calls ``set_data`` on each
  line with at most ~2 points per pixel (the store's min/max decimation keeps peaks), redraws
  the animated artists and blits: no tick layout, no text measuring.
- Axis limits move in steps, not every frame: the time axis gets 25 % head-room ahead of the
  newest point and shifts only when data reaches its right edge; autoscaled y-limits get 10 %
  padding and change only when data leaves them, or shrinks to under 40 % of them. Only a
  limit change, a layout change or a new series costs a full redraw.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

import numpy as np

log = logging.getLogger(__name__)

SCALE_RATIO = 20.0  # series whose magnitudes differ by more than this do not share an y-axis
HEADROOM = 0.25  # fraction of the time window kept free ahead of the newest point
Y_PAD = 0.10  # padding added around autoscaled y data
Y_SHRINK = 0.40  # autoscale shrinks the y-range when data fills less than this of it
XY_MAX_POINTS = 50_000  # XY mode pairs raw points (decimation would break pairs), most recent
LEGEND_REFRESH_S = 0.25  # how often the legend's last values are re-rendered
LINE_WIDTH = 1.0
#: "separate" (one subplot per series) for more than this many series becomes "twin".
MAX_SUBPLOTS = 6
LAYOUTS = ("auto", "shared", "twin", "separate")
COLOURS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#7f7f7f",
    "#bcbd22",
)
#: Grid lines: matplotlib's grey this faint; with a `FigureStyle`, the text colour (which reads
#: on a light and on a dark plot area) at `STYLED_GRID_ALPHA`.
GRID_ALPHA = 0.3
STYLED_GRID_ALPHA = 0.15
#: At most this many series are drawn (the first visible ones, in order of appearance): one per
#: colour, so no two lines look alike. A full frame costs per line and per legend entry, and a
#: legend of hundreds of noise names would cover the plot. The store still keeps every series
#: it admitted, and the recording has them all.
MAX_DRAWN_SERIES = len(COLOURS)


class StoreLike(Protocol):
    """What the renderer reads from `companion_app.readings.store.SeriesStore`."""

    @property
    def names(self) -> list[str]: ...

    @property
    def version(self) -> int: ...

    def series(
        self,
        name: str,
        t_min: float | None = None,
        t_max: float | None = None,
        max_points: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def stats(self, name: str) -> Any: ...

    def time_range(self) -> tuple[float, float] | None: ...


@dataclass(frozen=True)
class ViewSettings:
    """Everything the user chose that changes what is drawn; equal settings draw equal frames."""

    window_s: float | None = 30.0  # None: "all"
    layout: str = "auto"  # auto | shared | twin | separate
    mode: str = "time"  # time | xy
    x_series: str | None = None  # XY mode
    y_series: str | None = None
    autoscale: bool = True
    y_range: tuple[float, float] | None = None  # used when autoscale is off
    hidden: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class FigureStyle:
    """The figure's colours and text size, taken from the host window's theme and UI font.

    The panel makes one from `look.palette` and the UI font, so the plot is not a white block
    in Thonny's dark theme and its text grows with the zoom. A renderer without a style keeps
    matplotlib's defaults: ``iotkit plot --headless --png`` draws for paper, not for a window.
    """

    figure: str  # around the axes (the window's background)
    axes: str  # the plot area (the theme's field colour)
    text: str  # ticks, axis labels, legend, spines and grid
    #: The text's size in screen pixels; in points it depends on the figure's dpi, which
    #: matplotlib's Tk canvas changes once shown (the screen's pixel ratio).
    font_px: float
    #: One colour per series slot (`COLOURS`, each made to stand out on `axes`).
    series: tuple[str, ...] = COLOURS


def magnitude(stats: Any) -> float:
    """How big a series' values are: the larger of |min| and |max|, finite values only."""
    values = [abs(v) for v in (stats.min, stats.max) if v is not None and math.isfinite(v)]
    return max(values) if values else 0.0


def choose_layout(
    scales: dict[str, float], layout: str = "auto", ratio: float = SCALE_RATIO
) -> tuple[str, list[list[str]]]:
    """Decide how series share y-axes; returns (kind, groups) with kind shared|twin|separate.

    The automatic rule: sort series by magnitude (`magnitude`). The left axis takes every
    series within `ratio` (20×) of the largest; if that is all of them, one shared axis. The
    rest go on a second (right) y-axis, if they themselves are within 20× of each other;
    otherwise every series gets its own subplot. A series of zeros fits any axis: it goes left.
    A forced "twin" splits at the largest gap between neighbouring magnitudes. More than
    `MAX_SUBPLOTS` series never get a subplot each (they would be slivers): that becomes twin.
    """
    names = list(scales)
    too_many = len(names) > MAX_SUBPLOTS
    if layout == "separate" and too_many:
        layout = "twin"
    if layout == "separate" and len(names) > 1:
        return "separate", [[n] for n in names]
    if len(names) < 2 or layout == "shared":
        return "shared", [names]
    big = max(scales.values())
    left = [n for n in names if scales[n] * ratio >= big or scales[n] == 0.0]
    right = [n for n in names if n not in left]
    if layout == "twin" and not right:
        ordered = sorted(names, key=lambda n: scales[n], reverse=True)
        gaps = [
            (scales[a] / scales[b]) if scales[b] > 0 else math.inf
            for a, b in zip(ordered, ordered[1:])
        ]
        cut = gaps.index(max(gaps)) + 1
        left = [n for n in names if n in ordered[:cut]]
        right = [n for n in names if n in ordered[cut:]]
    if not right:
        return "shared", [left]
    if layout == "auto" and not too_many:
        small = [scales[n] for n in right if scales[n] > 0]
        if small and max(small) > ratio * min(small):
            return "separate", [[n] for n in names]
    return "twin", [left, right]


def _finite_range(arrays: Sequence[np.ndarray]) -> tuple[float, float] | None:
    lo, hi = math.inf, -math.inf
    for a in arrays:
        if a.size == 0:
            continue
        finite = a[np.isfinite(a)] if not np.isfinite(a).all() else a
        if finite.size:
            lo = min(lo, float(finite.min()))
            hi = max(hi, float(finite.max()))
    return (lo, hi) if lo <= hi else None


def padded(lo: float, hi: float, pad: float = Y_PAD) -> tuple[float, float]:
    span = hi - lo
    if span <= 0:
        span = max(abs(lo) * 0.1, 1.0)
        return lo - span / 2, hi + span / 2
    return lo - pad * span, hi + pad * span


def needs_new_limits(current: tuple[float, float], lo: float, hi: float) -> bool:
    """Whether autoscaled limits must change: data outside them, or data much smaller."""
    c_lo, c_hi = current
    span = c_hi - c_lo
    if span <= 0 or lo < c_lo or hi > c_hi:
        return True
    return 0 < (hi - lo) < Y_SHRINK * span


def format_value(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.6g}"


@dataclass
class _Axes:
    ax: Any
    names: list[str]
    lines: dict[str, Any]  # series name -> Line2D
    ylim: tuple[float, float] | None = None  # as set by us (autoscale or fixed)


class PlotRenderer:
    """Draws a store on `figure`; call `update` from a timer. Counts frames for tests/benchmarks.

    Counters: ``full_draws`` (canvas.draw), ``blits`` (fast frames) and ``skipped`` (update
    found nothing to do).
    """

    def __init__(
        self, figure: Any, canvas: Any | None = None, style: FigureStyle | None = None
    ) -> None:
        self.figure = figure
        self.canvas = canvas if canvas is not None else figure.canvas
        self.style = style
        self._built_dpi: float | None = None  # the figure's dpi when the axes were made
        self.full_draws = 0
        self.blits = 0
        self.skipped = 0
        self.layout_kind = "shared"
        self.undrawn = 0  # visible series left out beyond MAX_DRAWN_SERIES
        self.axes: list[_Axes] = []
        self.legends: list[Any] = []
        self.lines: dict[str, Any] = {}  # series -> line (time mode), or "y vs x" (XY mode)
        self.last_values: dict[str, float] = {}
        self._background: Any = None
        self._key: Any = None
        self._version: int | None = None
        self._settings: ViewSettings | None = None
        self._t_frozen: float | None = None
        self._xlim: tuple[float, float] | None = None  # as set by us
        self._fetched_xlim: tuple[float, float] | None = None
        self._colour_slots: dict[str, int] = {}  # series -> index into the style's colours
        self._legend_pixels: list[Any] = []
        self._legend_time = 0.0
        # A frame that reused the legend's cached pixels left it showing older values: the next
        # tick after LEGEND_REFRESH_S draws it again even if no new data came (the last reading
        # of a run must end up in the legend).
        self._legend_stale = False
        self._xy_labels: tuple[str, str] | None = None
        self._cid = self.canvas.mpl_connect("draw_event", self._on_draw)

    # --- public -----------------------------------------------------------------------------
    def invalidate(self) -> None:
        """Forget limits and layout: the next update recomputes and redraws everything."""
        self._key = None
        self._xlim = None
        self._version = None

    def user_moved_view(self) -> bool:
        """Whether the x-limits differ from the ones we set (the toolbar zoomed or panned)."""
        if not self.axes or self._xlim is None:
            return False
        current = tuple(self.axes[0].ax.get_xlim())
        if not np.allclose(current, self._xlim, rtol=1e-9, atol=1e-9):
            return True
        for a in self.axes:
            if a.ylim is not None and not np.allclose(a.ax.get_ylim(), a.ylim, rtol=1e-9):
                return True
        return False

    def view_xlim(self) -> tuple[float, float] | None:
        return tuple(self.axes[0].ax.get_xlim()) if self.axes else None

    def update(
        self,
        store: StoreLike,
        settings: ViewSettings,
        *,
        follow: bool = True,
        t_frozen: float | None = None,
        force: bool = False,
    ) -> str:
        """Draw one frame if anything changed; returns "skipped", "blit" or "full".

        `follow`: the renderer moves the limits with the data (live view). With follow off
        (paused, or the user zoomed) limits stay as they are and only the data inside them is
        fetched again when the view moved. `t_frozen`: ignore data newer than this (pause).
        """
        version = store.version
        xlim_now = self.view_xlim()
        moved = not follow and xlim_now != self._fetched_xlim
        # While frozen, new rows (all later than t_frozen) cannot change the picture.
        new_data = version != self._version and (t_frozen is None or self._version is None)
        legend_due = (
            self._legend_stale
            and t_frozen is None  # paused: the picture stays as it is
            and time.monotonic() - self._legend_time >= LEGEND_REFRESH_S
        )
        if (
            not force
            and not moved
            and not new_data
            and not legend_due
            and settings == self._settings
            and t_frozen == self._t_frozen
        ):
            self.skipped += 1
            return "skipped"
        settings_changed = settings != self._settings
        self._version, self._settings, self._t_frozen = version, settings, t_frozen
        if force or (self.style is not None and self.figure.dpi != self._built_dpi):
            self._key = None  # text sizes are points: a new dpi needs them made again
        full = self._ensure_layout(store, settings, t_frozen)
        if settings_changed:  # a new window, y-range or layout: limits start afresh
            full = True
            self._xlim = None
            for a in self.axes:
                a.ylim = None
        if settings.mode == "xy":
            full = self._update_xy(store, settings, follow, t_frozen) or full
        else:
            full = self._update_time(store, settings, follow or full, t_frozen) or full
        self._fetched_xlim = self.view_xlim()
        if full or self._background is None:
            self.full_draws += 1
            self.canvas.draw()
            self._fetched_xlim = self.view_xlim()
            return "full"
        self.canvas.restore_region(self._background)
        self._draw_animated()
        self.canvas.blit(self.figure.bbox)
        self.blits += 1
        return "blit"

    def set_style(self, style: FigureStyle | None) -> None:
        """Colours or font size changed (theme, zoom): the next `update` redraws everything."""
        self.style = style
        if style is not None:
            self.figure.set_facecolor(style.figure)
        self.invalidate()

    def close(self) -> None:
        try:
            self.canvas.mpl_disconnect(self._cid)
        except Exception:  # noqa: BLE001 - the canvas may be gone already
            pass

    # --- layout -----------------------------------------------------------------------------
    def colour(self, name: str) -> str:
        """The colour of series `name`: slots follow first appearance, the style gives the hue."""
        if name not in self._colour_slots:
            self._colour_slots[name] = len(self._colour_slots) % len(COLOURS)
        colours = self.style.series if self.style is not None else COLOURS
        return colours[self._colour_slots[name] % len(colours)]

    def _visible_names(self, store: StoreLike, settings: ViewSettings, t_frozen) -> list[str]:
        names = [n for n in store.names if n not in settings.hidden]
        for n in store.names:
            self.colour(n)  # colours follow first appearance, whatever is hidden
        if t_frozen is not None:  # series that appeared after the pause are not in the view
            names = [n for n in names if self._has_data_before(store, n, t_frozen)]
        self.undrawn = max(0, len(names) - MAX_DRAWN_SERIES)
        return names[:MAX_DRAWN_SERIES]

    @staticmethod
    def _has_data_before(store: StoreLike, name: str, t: float) -> bool:
        times, _ = store.series(name, None, t, max_points=2)
        return times.size > 0

    def _ensure_layout(self, store: StoreLike, settings: ViewSettings, t_frozen) -> bool:
        """Rebuild axes and artists if the series set or the layout changed; True if rebuilt."""
        names = self._visible_names(store, settings, t_frozen)
        if settings.mode == "xy":
            x, y = settings.x_series, settings.y_series
            key = ("xy", x, y, x in store.names, y in store.names)
            if key != self._key:
                self._build_xy(x, y)
                self._key = key
                return True
            return False
        scales = {}
        for n in names:
            try:
                scales[n] = magnitude(store.stats(n))
            except (KeyError, ValueError):
                scales[n] = 0.0
        kind, groups = choose_layout(scales, settings.layout)
        key = ("time", kind, tuple(tuple(g) for g in groups))
        if key != self._key:
            self._build_time(kind, groups)
            self._key = key
            return True
        return False

    def _clear(self) -> None:
        self.figure.clear()
        self.axes = []
        self.legends = []
        self.lines = {}
        self._background = None
        self._legend_pixels = []
        self._xlim = None
        self._built_dpi = self.figure.dpi
        if self.style is not None:
            self.figure.set_facecolor(self.style.figure)

    def font_pt(self) -> float | None:
        """The style's text size in matplotlib points at the figure's dpi (None: no style)."""
        if self.style is None:
            return None
        return self.style.font_px * 72.0 / float(self.figure.dpi)

    def _new_axes(self, ax: Any) -> Any:
        """Grid, and the style's colours and text size, on a new axes (twin axes too)."""
        style = self.style
        if style is None:
            ax.grid(True, alpha=GRID_ALPHA)
            return ax
        ax.grid(True, alpha=STYLED_GRID_ALPHA, color=style.text)
        ax.set_facecolor(style.axes)
        # tick_params, not rcParams: matplotlib makes new ticks lazily, at draw time.
        size = self.font_pt()
        ax.tick_params(which="both", colors=style.text, labelsize=size)
        for spine in ax.spines.values():
            spine.set_edgecolor(style.text)
        for text in (ax.xaxis.label, ax.yaxis.label, ax.xaxis.offsetText, ax.yaxis.offsetText):
            text.set_color(style.text)
            text.set_fontsize(size)
        return ax

    def _new_line(self, ax: Any, name: str, label: str | None = None, **kw: Any) -> Any:
        # Plain numbers on the axes: an offset text ("+1.013e5") would collide with the legend.
        ax.ticklabel_format(useOffset=False)
        kw.setdefault("lw", LINE_WIDTH)
        (line,) = ax.plot([], [], color=self.colour(name), label=label or name, **kw)
        line.set_animated(True)
        return line

    def _legend(self, ax: Any, handles: list[Any]) -> None:
        if not handles:
            return
        # Above the axes, not inside: a legend inside hides the newest data at the left edge
        # of a filling plot, and outside it nothing moves under it (exact pixel caching).
        style = self.style
        legend = ax.legend(
            handles=handles,
            loc="lower left",
            bbox_to_anchor=(0.0, 1.0),
            ncols=min(len(handles), 4),
            fontsize="small" if style is None else self.font_pt(),
            labelcolor=None if style is None else style.text,
            frameon=False,
            borderaxespad=0.2,
        )
        legend.set_animated(True)
        self.legends.append(legend)

    def _build_time(self, kind: str, groups: list[list[str]]) -> None:
        self._clear()
        self.layout_kind = kind
        fig = self.figure
        if kind == "separate":
            axs = fig.subplots(len(groups), 1, sharex=True, squeeze=False)[:, 0]
            for ax, group in zip(axs, groups):
                self._new_axes(ax)
                lines = {n: self._new_line(ax, n) for n in group}
                ax.set_ylabel(group[0])
                self.axes.append(_Axes(ax, group, lines))
                self._legend(ax, list(lines.values()))
            axs[-1].set_xlabel("time (s)")
        else:
            ax = self._new_axes(fig.add_subplot(1, 1, 1))
            ax.set_xlabel("time (s)")
            left = groups[0] if groups else []
            lines = {n: self._new_line(ax, n) for n in left}
            ax.set_ylabel(self._axis_label(left))
            self.axes.append(_Axes(ax, left, lines))
            handles = list(lines.values())
            top = ax
            if kind == "twin":
                right = groups[1]
                ax2 = self._new_axes(ax.twinx())
                ax2.grid(False)  # the left axis' grid is the plot's grid
                lines2 = {n: self._new_line(ax2, n, ls="--") for n in right}
                ax2.set_ylabel(self._axis_label(right) + " (right axis)")
                self.axes.append(_Axes(ax2, right, lines2))
                handles += list(lines2.values())
                top = ax2
            self._legend(top, handles)
        for a in self.axes:
            self.lines.update(a.lines)

    @staticmethod
    def _axis_label(names: list[str]) -> str:
        if not names:
            return "value"
        label = ", ".join(names)
        return label if len(label) <= 40 else "value"

    def _build_xy(self, x: str | None, y: str | None) -> None:
        self._clear()
        self.layout_kind = "xy"
        ax = self._new_axes(self.figure.add_subplot(1, 1, 1))
        ax.set_xlabel(x or "(choose X)")
        ax.set_ylabel(y or "(choose Y)")
        name = f"{y} vs {x}"
        line = self._new_line(ax, y or "", label=name, marker=".", ms=3, lw=0.8)
        self.axes.append(_Axes(ax, [name], {name: line}))
        self.lines = {name: line}
        self._legend(ax, [line])

    # --- data -------------------------------------------------------------------------------
    def _time_limits(
        self, store: StoreLike, settings: ViewSettings, t_frozen
    ) -> tuple[float, float] | None:
        tr = store.time_range()
        if tr is None:
            return None
        t_first, t_end = tr
        if t_frozen is not None:
            t_end = min(t_end, t_frozen)
        w = settings.window_s
        span = t_end - t_first
        if w is None or span < w:
            # "All", or a window not yet full: the data fills the plot from the left edge.
            right = t_end + max(HEADROOM * span, 1.0)
            if w is not None:
                right = min(right, t_first + (1 + HEADROOM) * w)
            return (t_first, right)
        return (t_end - w, t_end + HEADROOM * w)

    def _update_time(
        self, store: StoreLike, settings: ViewSettings, follow: bool, t_frozen: float | None
    ) -> bool:
        full = False
        if follow:
            tr = store.time_range()
            if tr is not None:
                t_end = tr[1] if t_frozen is None else min(tr[1], t_frozen)
                if self._xlim is None or t_end > self._xlim[1]:
                    lim = self._time_limits(store, settings, t_frozen)
                    if lim is not None and lim != self._xlim:
                        self._xlim = lim
                        self.axes[0].ax.set_xlim(*lim)
                        full = True
            x_lo, x_hi = self._xlim if self._xlim else (None, None)
        else:
            x_lo, x_hi = self.view_xlim() or (None, None)
        t_hi = x_hi if t_frozen is None else (min(x_hi, t_frozen) if x_hi is not None else t_frozen)
        for a in self.axes:
            width = max(int(a.ax.bbox.width), 100)
            ys = []
            for name, line in a.lines.items():
                times, values = store.series(name, x_lo, t_hi, max_points=width)
                line.set_data(times, values)
                ys.append(values)
                if t_frozen is None:
                    try:
                        self.last_values[name] = store.stats(name).last
                    except (KeyError, ValueError):
                        pass
                elif values.size and name not in self.last_values:
                    self.last_values[name] = float(values[-1])
            full = self._apply_ylim(a, ys, settings, follow) or full
        return full

    def _apply_ylim(self, a: _Axes, ys: list[np.ndarray], settings: ViewSettings, follow: bool):
        if not settings.autoscale and settings.y_range is not None:
            lim = tuple(settings.y_range)
            if a.ylim != lim:
                a.ylim = lim
                a.ax.set_ylim(*lim)
                return True
            return False
        if not follow and a.ylim is not None:
            return False
        rng = _finite_range(ys)
        if rng is None:
            return False
        if a.ylim is None or needs_new_limits(a.ylim, *rng):
            lim = padded(*rng)
            a.ylim = lim
            a.ax.set_ylim(*lim)
            return True
        return False

    def _update_xy(self, store: StoreLike, settings: ViewSettings, follow: bool, t_frozen):
        x, y = settings.x_series, settings.y_series
        a = self.axes[0]
        line = next(iter(a.lines.values()))
        names = store.names
        if x not in names or y not in names:
            line.set_data([], [])
            return False
        lim = self._time_limits(store, settings, t_frozen) if settings.window_s else None
        t_lo = lim[0] if lim else None
        tx, vx = store.series(x, t_lo, t_frozen)
        ty, vy = store.series(y, t_lo, t_frozen)
        keep = slice(-XY_MAX_POINTS, None)
        tx, vx, ty, vy = tx[keep], vx[keep], ty[keep], vy[keep]
        xs, ys = pair_by_time(tx, vx, ty, vy)
        line.set_data(xs, ys)
        if ys.size:
            self.last_values[line.get_label()] = float(ys[-1])
        full = False
        if follow:
            rng = _finite_range([xs])
            if rng is not None and (self._xlim is None or needs_new_limits(self._xlim, *rng)):
                self._xlim = padded(*rng)
                a.ax.set_xlim(*self._xlim)
                full = True
        full = self._apply_ylim(a, [ys], settings, follow) or full
        return full

    def _update_legend_texts(self) -> None:
        for legend in self.legends:
            for text, handle in zip(legend.get_texts(), legend.legend_handles):
                name = handle.get_label()
                if name in self.last_values:
                    text.set_text(f"{name} {format_value(self.last_values[name])}")

    def legend_texts(self) -> list[str]:
        return [t.get_text() for legend in self.legends for t in legend.get_texts()]

    # --- drawing ----------------------------------------------------------------------------
    #: Set when the window closes after Ctrl-C: no more frames. Ctrl-C raises inside whatever
    #: Python code runs, and inside matplotlib's C++ drawing code it comes out as another error
    #: ("Invalid bounding box"), which is a side effect of closing, not a fault to print.
    stopped = False

    def _on_draw(self, event: Any) -> None:
        """After every full draw (ours, a resize, a toolbar zoom): keep the background."""
        if self.stopped or (event is not None and event.canvas is not self.canvas):
            return
        try:
            try:
                self._background = self.canvas.copy_from_bbox(self.figure.bbox)
            except AttributeError:  # a canvas that cannot blit (SVG while saving)
                self._background = None
                return
            self._draw_animated(refresh_legend=True)
        except Exception:
            if not self.stopped:
                raise
            log.debug("frame cut short by closing", exc_info=True)

    def _draw_animated(self, refresh_legend: bool = False) -> None:
        """Lines, then legends; a legend's pixels are reused for `LEGEND_REFRESH_S`.

        Laying out and rendering a legend of 8 entries costs more than drawing 8 decimated
        lines, and its numbers are unreadable at 20 changes a second anyway. The legend sits above
        the axes, where no line is drawn, so putting its cached pixels back is exact.
        """
        fig = self.figure
        for a in self.axes:
            for line in a.lines.values():
                fig.draw_artist(line)
        now = time.monotonic()
        if (
            refresh_legend
            or len(self._legend_pixels) != len(self.legends)
            or now - self._legend_time >= LEGEND_REFRESH_S
        ):
            self._update_legend_texts()
            self._legend_pixels = []
            for legend in self.legends:
                fig.draw_artist(legend)
                try:
                    box = legend.get_window_extent().padded(1)
                    self._legend_pixels.append(self.canvas.copy_from_bbox(box))
                except AttributeError:
                    pass
            self._legend_time = now
            self._legend_stale = False
        else:
            for region in self._legend_pixels:
                self.canvas.restore_region(region)
            self._legend_stale = True


def pair_by_time(
    tx: np.ndarray, vx: np.ndarray, ty: np.ndarray, vy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pair two series for an XY plot: each Y point with X interpolated at its time.

    Series printed on one line share their timestamps and pair exactly; series from separate
    lines (the seed's ``Temp:``/``Humidity:`` loop) pair with X interpolated between its two
    neighbouring readings. Y points outside X's time span are dropped, not extrapolated.
    """
    if tx.size == 0 or ty.size == 0:
        return np.empty(0), np.empty(0)
    inside = (ty >= tx[0]) & (ty <= tx[-1])
    ty, vy = ty[inside], vy[inside]
    if tx.size == 1:
        return np.full(ty.shape, vx[0], dtype=float), vy.astype(float)
    return np.interp(ty, tx, vx), vy.astype(float)
