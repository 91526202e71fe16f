"""How the panels look: the zoom, the theme's colours, and two layouts that never clip.

The same panels live in the companion window (Tk's "clam" theme, our zoom) and inside Thonny
(Thonny's light or dark theme, Thonny's font sizes). So nothing here hard-codes a colour or a
size: colours come from the ttk theme in use (`palette`), sizes from Tk's named fonts, which the
zoom scales (`set_zoom`) and which Thonny sets from its own options. A panel that draws itself
(a canvas, a matplotlib figure) asks `on_look_change` to be told when either changes.

Why two layouts of our own: a row of buttons packed side by side is cut off at the window's
edge when the fonts grow (a classroom projector at 1024×768 with zoom 1.5 showed "Oper" for
"Open dashboard"), and a list that is taller than its place loses its last entries unless it
scrolls, with the mouse wheel too. `WrapRow` and `ScrolledFrame` are those two answers.

Tk thread only, like every widget.
"""

from __future__ import annotations

import logging
import sys
import tkinter as tk
import tkinter.font as tkfont
from dataclasses import dataclass
from tkinter import ttk
from typing import Callable

log = logging.getLogger(__name__)

#: The zoom steps of View → Zoom in / Zoom out (1.0 = the desktop's own font size).
ZOOM_STEPS = (0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)
ZOOM_MIN, ZOOM_MAX = ZOOM_STEPS[0], ZOOM_STEPS[-1]
#: WCAG 2 AA for normal text: what every text colour here reaches on its background.
MIN_CONTRAST = 4.5
#: Ctrl+key → the window's zoom event, for widgets that take every key themselves (the Console).
ZOOM_KEYS = {
    "plus": "<<ZoomIn>>",
    "equal": "<<ZoomIn>>",
    "KP_Add": "<<ZoomIn>>",
    "minus": "<<ZoomOut>>",
    "KP_Subtract": "<<ZoomOut>>",
    "0": "<<ZoomReset>>",
    "KP_0": "<<ZoomReset>>",
}
#: The virtual event sent to every widget that asked `on_look_change` (zoom or fonts changed).
LOOK_EVENT = "<<IotkitLookChanged>>"


# --- colours ----------------------------------------------------------------------------------
def _rgb(widget: tk.Misc, colour: str) -> tuple[float, float, float]:
    r, g, b = widget.winfo_rgb(colour)
    return r / 65535, g / 65535, b / 65535


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#%02x%02x%02x" % tuple(max(0, min(255, round(c * 255))) for c in rgb)


def _luminance(rgb: tuple[float, float, float]) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _ratio(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def contrast_ratio(widget: tk.Misc, a: str, b: str) -> float:
    """WCAG contrast ratio of two Tk colours (1 … 21)."""
    return _ratio(_rgb(widget, a), _rgb(widget, b))


def readable(widget: tk.Misc, colour: str, background: str, ratio: float = MIN_CONTRAST) -> str:
    """`colour`, made darker (on a light background) or lighter (on a dark one) just enough to
    reach `ratio` against `background`: a red stays a red, but one a person can read."""
    bg = _rgb(widget, background)
    fg = _rgb(widget, colour)
    if _ratio(fg, bg) >= ratio:
        return _hex(fg)
    target = (0.0, 0.0, 0.0) if _luminance(bg) > 0.18 else (1.0, 1.0, 1.0)
    for step in range(1, 21):
        t = step / 20
        mixed = tuple(c + (e - c) * t for c, e in zip(fg, target))
        if _ratio(mixed, bg) >= ratio:
            return _hex(mixed)  # type: ignore[arg-type]
    return _hex(target)


def _mix(widget: tk.Misc, a: str, b: str, t: float) -> str:
    ra, rb = _rgb(widget, a), _rgb(widget, b)
    return _hex(tuple(x + (y - x) * t for x, y in zip(ra, rb)))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Palette:
    """The colours of the ttk theme in use, with every text colour readable on `background`
    (and `field_text` on `field`)."""

    background: str
    foreground: str
    field: str  # an entry's, a text area's or a drawing's background
    field_text: str
    muted: str  # secondary text
    accent: str
    error: str
    warning: str
    ok: str
    select: str
    select_text: str
    dark: bool

    def on_field(self, widget: tk.Misc, colour: str) -> str:
        """`colour` made readable on the field background (text in a Text or on a canvas)."""
        return readable(widget, colour, self.field)


def _lookup(style: ttk.Style, names: tuple[str, ...], option: str) -> str:
    for name in names:
        try:
            value = style.lookup(name, option)
        except tk.TclError:
            value = ""
        if value:
            return str(value)
    return ""


def palette(widget: tk.Misc) -> Palette:
    """The current theme's colours (the companion's clam, or Thonny's light or dark theme)."""
    style = ttk.Style(widget)
    background = _lookup(style, ("TFrame", "."), "background") or str(
        widget.winfo_toplevel().cget("background")
    )
    foreground = _lookup(style, ("TLabel", "."), "foreground") or "#000000"
    dark = _luminance(_rgb(widget, background)) < 0.2
    # Thonny's themes give the text areas' colours as a "Text" style; ttk themes as the entry's
    # field.
    # (Only a "Text" style the theme configures itself: a lookup would fall back to the root
    # style's background, and the text areas would turn the window's grey.)
    text_style = style.configure("Text") or {}
    field = (
        str(text_style.get("background") or "")
        or _lookup(style, ("TEntry",), "fieldbackground")
        or ("#1e1e1e" if dark else "#ffffff")
    )
    field_text = _lookup(style, ("Text", "TEntry"), "foreground") or foreground
    field_text = readable(widget, field_text, field)
    select = _lookup(style, ("TEntry", "Treeview", "."), "selectbackground") or (
        "#3a5f8f" if dark else "#4a6984"
    )
    select_text = readable(
        widget, _lookup(style, ("TEntry", "."), "selectforeground") or "#ffffff", select
    )
    base = {"accent": "#1565c0", "error": "#c62828", "warning": "#b35c00", "ok": "#2e7d32"}
    if dark:
        base = {"accent": "#64b5f6", "error": "#ff6b6b", "warning": "#ffb454", "ok": "#81c784"}
    return Palette(
        background=background,
        foreground=readable(widget, foreground, background),
        field=field,
        field_text=field_text,
        muted=readable(widget, _mix(widget, foreground, background, 0.35), background),
        accent=readable(widget, base["accent"], background),
        error=readable(widget, base["error"], background),
        warning=readable(widget, base["warning"], background),
        ok=readable(widget, base["ok"], background),
        select=select,
        select_text=select_text,
        dark=dark,
    )


def style_field(widget: tk.Misc, pal: Palette | None = None) -> None:
    """Give a classic Tk Text, Listbox or Canvas the theme's field colours (they do not follow
    ttk themes by themselves, so they stay white in a dark Thonny)."""
    pal = pal or palette(widget)
    options = {"background": pal.field}
    cls = widget.winfo_class()
    if cls in ("Text", "Listbox", "Entry"):
        options.update(
            foreground=pal.field_text,
            selectbackground=pal.select,
            selectforeground=pal.select_text,
        )
    if cls in ("Text", "Entry"):
        options["insertbackground"] = pal.field_text
    if cls in ("Text", "Listbox", "Entry", "Canvas"):
        # The focus ring round a classic widget: the theme's background when it has no focus
        # (Tk's default is a white or grey line, a bright frame in a dark theme).
        options.update(highlightbackground=pal.background, highlightcolor=pal.accent)
    if cls == "Listbox":
        options["disabledforeground"] = pal.muted
    try:
        widget.configure(**options)
    except tk.TclError:  # a widget without one of these options keeps its own
        log.debug("cannot style %s", widget, exc_info=True)


# --- fonts and zoom ---------------------------------------------------------------------------
def font_px(widget: tk.Misc, name: str = "TkDefaultFont") -> int:
    """The line height in pixels of a named font, as drawn now."""
    try:
        return int(tkfont.nametofont(name, root=widget).metrics("linespace"))
    except (tk.TclError, RuntimeError):
        return 16


def style_font(widget: tk.Misc, style_name: str, default: str) -> tkfont.Font:
    """The font a ttk style draws with now (e.g. "Treeview.Heading"), to measure text in it:
    a named font follows the zoom; a font spec that is not a name is made for measuring."""
    name = str(ttk.Style(widget).lookup(style_name, "font") or default)
    try:
        return tkfont.nametofont(name, root=widget)
    except (tk.TclError, RuntimeError):
        return tkfont.Font(root=widget, font=name)


def ui_font_px(widget: tk.Misc) -> int:
    """The pixel height of the UI's text: what "as large as the UI font" means."""
    return font_px(widget, "TkDefaultFont")


def ui_font_pt(widget: tk.Misc) -> float:
    """The UI font's size in points (Tk gives a negative size for pixels)."""
    try:
        size = int(tkfont.nametofont("TkDefaultFont", root=widget).cget("size"))
    except (tk.TclError, RuntimeError):
        return 10.0
    if size > 0:
        return float(size)
    points_per_pixel = 72.0 / max(1.0, float(widget.winfo_fpixels("1i")))
    return -size * points_per_pixel


_BASE_SIZES = "_iotkit_font_sizes"  # attribute of the root: the named fonts' sizes at zoom 1
_ZOOM = "_iotkit_zoom"
_LISTENERS = "_iotkit_look_listeners"


def zoom(widget: tk.Misc) -> float:
    """The window's zoom factor: 1.0 unless `set_zoom` changed it (never in Thonny)."""
    return float(getattr(widget.winfo_toplevel().nametowidget("."), _ZOOM, 1.0))


def clamp_zoom(value: float) -> float:
    return max(ZOOM_MIN, min(ZOOM_MAX, float(value)))


def set_zoom(root: tk.Misc, value: float) -> float:
    """Scale every named font of the application to `value` times its size at zoom 1.

    Every ttk widget uses named fonts, so all text grows at once; panels that draw with pixel
    sizes (the pinout, the plots) hear of it through `on_look_change`. Returns the zoom set.
    """
    root = root.nametowidget(".")
    value = clamp_zoom(value)
    base: dict[str, int] | None = getattr(root, _BASE_SIZES, None)
    if base is None:
        base = {}
        for name in tkfont.names(root):
            try:
                base[name] = int(tkfont.nametofont(name, root=root).cget("size"))
            except (tk.TclError, ValueError):
                continue
        setattr(root, _BASE_SIZES, base)
    for name, size in base.items():
        if size == 0:  # "the platform's default": make it explicit so it can scale
            size = 10
        scaled = round(size * value) or (1 if size > 0 else -1)
        try:
            tkfont.nametofont(name, root=root).configure(size=scaled)
        except tk.TclError:
            continue
    setattr(root, _ZOOM, value)
    style = ttk.Style(root)
    style.configure("Treeview", rowheight=round(font_px(root) * 1.25))
    notify_look_changed(root)
    return value


def zoom_step(current: float, direction: int) -> float:
    """The next zoom step up (+1) or down (-1) from `current`; 0 gives 1.0."""
    if direction == 0:
        return 1.0
    if direction > 0:
        return next((s for s in ZOOM_STEPS if s > current + 1e-6), ZOOM_MAX)
    return next((s for s in reversed(ZOOM_STEPS) if s < current - 1e-6), ZOOM_MIN)


def on_look_change(widget: tk.Misc, callback: Callable[[], object]) -> None:
    """Call `callback()` in the Tk thread after the theme or the zoom changes, while `widget`
    lives. (ttk sends <<ThemeChanged>> itself; the zoom sends `LOOK_EVENT`.)"""
    root = widget.nametowidget(".")
    listeners: list[tk.Misc] = getattr(root, _LISTENERS, None) or []
    setattr(root, _LISTENERS, listeners)
    listeners.append(widget)

    def run(event: object = None) -> None:
        try:
            callback()
        except tk.TclError:
            log.debug("look change after the widget went", exc_info=True)

    widget.bind(LOOK_EVENT, run, add="+")
    widget.bind("<<ThemeChanged>>", run, add="+")

    def forget(event: tk.Event) -> None:
        if event.widget is widget and widget in listeners:
            listeners.remove(widget)

    widget.bind("<Destroy>", forget, add="+")


def notify_look_changed(root: tk.Misc) -> None:
    """Tell every `on_look_change` listener that the fonts or colours changed."""
    for widget in list(getattr(root.nametowidget("."), _LISTENERS, None) or []):
        try:
            widget.event_generate(LOOK_EVENT, when="tail")
        except tk.TclError:
            continue


# --- layouts that never clip ------------------------------------------------------------------
def _padding(widget: tk.Misc) -> tuple[int, int, int, int]:
    """A ttk widget's padding as (left, top, right, bottom) pixels (ttk takes 1 to 4 numbers)."""
    try:
        raw = widget.cget("padding")
    except tk.TclError:
        return (0, 0, 0, 0)
    parts = [str(v) for v in raw] if isinstance(raw, (tuple, list)) else str(raw or "").split()
    values = [int(widget.winfo_fpixels(v)) for v in parts]
    if not values:
        return (0, 0, 0, 0)
    left = values[0]
    top = values[1] if len(values) > 1 else left
    right = values[2] if len(values) > 2 else left
    bottom = values[3] if len(values) > 3 else top
    return (left, top, right, bottom)


class WrapRow(ttk.Frame):
    """Children flow left to right and wrap onto the next line when the row is narrower than
    their requested widths, so a button is never cut off. Create each child with this frame as
    its parent, then `add` it (in order). Give the row its width with fill/sticky "ew"."""

    def __init__(self, parent: tk.Misc, gap: int = 4, **kwargs: object) -> None:
        super().__init__(parent, **kwargs)  # type: ignore[arg-type]
        self.gap = gap
        self._items: list[tuple[tk.Widget, bool]] = []
        self._hidden: set[str] = set()
        self._layout: tuple[tuple[str, int, int], ...] = ()
        self.bind("<Configure>", lambda e: self._reflow(e.width))
        on_look_change(self, self.reflow)

    def add(self, widget: tk.Widget, *, fill: bool = False) -> tk.Widget:
        """Add `widget` (a child of this row) after the others. (`fill` is kept for callers'
        clarity; a child always gets its requested size.)"""
        self._items.append((widget, fill))
        # A child that changes its text changes its size: the lines may have to change too.
        widget.bind("<Configure>", lambda e: self._reflow(self._width()), add="+")
        self.reflow()
        return widget

    def _width(self) -> int:
        width = self.winfo_width()
        return width if width > 1 else 1 << 16

    def set_visible(self, widget: tk.Widget, visible: bool) -> None:
        """Show or hide one child without forgetting its place in the row."""
        name = str(widget)
        if visible == (name not in self._hidden):
            return
        if visible:
            self._hidden.discard(name)
        else:
            self._hidden.add(name)
            widget.place_forget()
        self.reflow()

    def is_visible(self, widget: tk.Widget) -> bool:
        return str(widget) not in self._hidden and any(w is widget for w, _ in self._items)

    def reflow(self) -> None:
        """Lay the children out again (after one changed its text or the fonts changed)."""
        self._layout = ()
        self._reflow(self._width())

    def _reflow(self, width: int) -> None:
        shown = [w for w, _ in self._items if str(w) not in self._hidden]
        left, top, right, bottom = _padding(self)
        width -= left + right
        places: list[tuple[str, int, int]] = []
        x = y = line_h = 0
        widest = 1
        for w in shown:
            need, tall = w.winfo_reqwidth(), w.winfo_reqheight()
            widest = max(widest, need)
            if x > 0 and x + need > width:
                x, y, line_h = 0, y + line_h + 2, 0
            # place() already counts from inside the padding; only the size must add it.
            places.append((str(w), x, y))
            x += need + self.gap
            line_h = max(line_h, tall)
        height = (y + line_h if shown else 1) + top + bottom
        widest += left + right
        layout = tuple(places) + ((str(widest), height, 0),)
        if layout == self._layout:
            return
        self._layout = layout
        for w, (_, px, py) in zip(shown, places):
            w.place(x=px, y=py)
        # Asks for the widest child only, so the window can narrow it down to that and the
        # row wraps; and for the height its lines take at the width it has now.
        self.configure(width=widest, height=height)


def _wheel_units(event: tk.Event) -> int:
    if getattr(event, "num", None) == 4:
        return -1
    if getattr(event, "num", None) == 5:
        return 1
    delta = int(getattr(event, "delta", 0) or 0)
    if sys.platform == "darwin":
        return -delta
    return -int(delta / 120) or (-1 if delta > 0 else 1 if delta < 0 else 0)


#: Widgets that scroll themselves with the wheel: a ScrolledFrame leaves the wheel to them.
_SELF_SCROLLING = {"Text", "Listbox", "Treeview", "TCombobox", "Canvas"}
_WHEEL_BOUND = "_iotkit_wheel_bound"


class ScrolledFrame(ttk.Frame):
    """`inner` gets the frame's full width and scrolls vertically when its content is taller
    than the frame, with a scroll bar that shows only then, and with the mouse wheel wherever
    the pointer is over the frame (except over a widget that scrolls itself, like a Text)."""

    def __init__(self, parent: tk.Misc, **kwargs: object) -> None:
        super().__init__(parent, **kwargs)  # type: ignore[arg-type]
        self.canvas = tk.Canvas(self, highlightthickness=0, borderwidth=0, width=1, height=1)
        self.ybar = ttk.Scrollbar(self, orient="vertical", command=self.canvas.yview)
        self.canvas.configure(yscrollcommand=self.ybar.set)
        self.canvas.grid(row=0, column=0, sticky="nsew")
        self.rowconfigure(0, weight=1)
        self.columnconfigure(0, weight=1)
        self.inner = ttk.Frame(self.canvas)
        self._item = self.canvas.create_window(0, 0, window=self.inner, anchor="nw")
        self._bar_shown = False
        self.canvas.bind("<Configure>", lambda e: self._fit())
        self.inner.bind("<Configure>", lambda e: self._fit())
        self._restyle()
        on_look_change(self, self._restyle)
        root = self.nametowidget(".")
        if not getattr(root, _WHEEL_BOUND, False):
            setattr(root, _WHEEL_BOUND, True)
            for sequence in ("<MouseWheel>", "<Button-4>", "<Button-5>"):
                root.bind_all(sequence, _on_wheel, add="+")

    def _restyle(self) -> None:
        self.canvas.configure(background=palette(self).background)

    def _fit(self) -> None:
        cw, ch = self.canvas.winfo_width(), self.canvas.winfo_height()
        if cw <= 1:
            return
        need = self.inner.winfo_reqheight()
        # Only the width is set: `inner` keeps its requested height, so it is configured again
        # (and this runs again) whenever its content grows, e.g. when labels wrap onto more
        # lines; a height set here would hide that growth, and the last entries with it.
        self.canvas.itemconfigure(self._item, width=cw)
        self.canvas.configure(scrollregion=(0, 0, cw, max(need, ch)))
        show = need > ch + 1
        if show != self._bar_shown:
            self._bar_shown = show
            if show:
                self.ybar.grid(row=0, column=1, sticky="ns")
            else:
                self.ybar.grid_remove()
                self.canvas.yview_moveto(0)

    @property
    def scrolls(self) -> bool:
        """Whether the content is taller than the frame (the scroll bar shows)."""
        return self._bar_shown

    def scroll(self, units: int) -> None:
        if self._bar_shown:
            self.canvas.yview_scroll(units, "units")

    def see(self, widget: tk.Widget) -> None:
        """Scroll so that `widget` (inside `inner`) is in view."""
        self.update_idletasks()
        total = max(1, self.inner.winfo_height())
        y = widget.winfo_rooty() - self.inner.winfo_rooty()
        top, bottom = self.canvas.yview()
        if y / total < top or (y + widget.winfo_height()) / total > bottom:
            self.canvas.yview_moveto(max(0.0, y / total - 0.05))


def _on_wheel(event: tk.Event) -> None:
    """The one wheel handler per application: scroll the ScrolledFrame under the pointer."""
    try:
        widget = event.widget
        if isinstance(widget, str):
            widget = event.widget.nametowidget(widget)  # type: ignore[union-attr]
        while widget is not None:
            if isinstance(widget, ScrolledFrame):
                widget.scroll(_wheel_units(event))
                return
            if widget.winfo_class() in _SELF_SCROLLING and not (
                isinstance(widget.master, ScrolledFrame)
            ):
                return
            widget = widget.master
    except (tk.TclError, AttributeError, KeyError):
        return


class WrapLabel(ttk.Label):
    """A label that wraps its text at its own width: give it the room with fill/sticky "ew"."""

    def __init__(self, parent: tk.Misc, **kwargs: object) -> None:
        kwargs.setdefault("justify", "left")
        super().__init__(parent, **kwargs)  # type: ignore[arg-type]
        self.bind("<Configure>", self._wrap)

    def _wrap(self, event: tk.Event) -> None:
        left, _, right, _ = _padding(self)
        width = max(40, event.width - left - right - 4)
        if str(self.cget("wraplength")) != str(width):
            self.configure(wraplength=width)
