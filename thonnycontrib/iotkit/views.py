"""The Thonny views: each one a frame that hosts the companion's panel of the same name.

Thonny creates a view lazily as ``ViewClass(workbench)`` the first time it is shown (or at
start-up when it was open when Thonny last closed), and never destroys it; the view id is the
class name. The panel (and matplotlib, esptool behind it) is built in that constructor, not at
plugin load. A failure is caught, logged and shown inside the view: nothing raises into Thonny.

Thonny's side and bottom notebooks start small (about 15 characters wide or high), while the
panels were laid out for the companion's window (at least 640 pixels wide). So the first time a
view is shown in a session, its column is widened (Thonny keeps the width the user drags to),
and each panel sits in a `_Scroller`: it gets the whole view when the view is big enough, and
scroll bars instead of clipped buttons when it is not.

A view finds the plug-in's state with `state.plugin_state()` (a leaf module, so nothing here
imports host.py back) and asks it to build the panel; `IotViews` is the plug-in's record of the
views Thonny has built, and how it shows one.
"""

from __future__ import annotations

import logging
import tkinter as tk
from tkinter import ttk
from typing import Any

from thonnycontrib.iotkit.ids import VIEW_IDS
from thonnycontrib.iotkit.state import plugin_state

log = logging.getLogger(__name__)

ERROR_COLOUR = "#b00000"  # only if the theme's own error colour cannot be worked out


def error_colour(widget: tk.Misc) -> str:
    """The error red of Thonny's theme now, readable on its background (look.palette: at
    least 4.5:1): a fixed dark red is nearly invisible on Thonny's "Clean Dark" grey."""
    try:
        from companion_app.gui import look

        return look.palette(widget).error
    except Exception:  # noqa: BLE001 - a colour must never stop a view
        log.debug("no theme colours for the IoT view's error", exc_info=True)
        return ERROR_COLOUR


def theme_background(widget: tk.Misc) -> str | None:
    """The background of Thonny's theme now (None if unknown), for the classic Tk canvas that
    scrolls a panel: it does not follow ttk themes by itself and would show light grey."""
    try:
        from companion_app.gui import look

        return look.palette(widget).background
    except Exception:  # noqa: BLE001
        log.debug("no theme colours for the IoT view's scroller", exc_info=True)
        return None


class _Scroller(ttk.Frame):
    """A frame whose `inner` is at least (min_width, min_height) and scrolls when the view is
    smaller; otherwise `inner` fills the view exactly, so a plot or canvas can grow."""

    def __init__(self, master: tk.Misc, min_width: int, min_height: int) -> None:
        super().__init__(master)
        self.min_width, self.min_height = min_width, min_height
        self.canvas = tk.Canvas(self, highlightthickness=0, borderwidth=0)
        self.xbar = ttk.Scrollbar(self, orient="horizontal", command=self.canvas.xview)
        self.ybar = ttk.Scrollbar(self, orient="vertical", command=self.canvas.yview)
        self.canvas.configure(xscrollcommand=self.xbar.set, yscrollcommand=self.ybar.set)
        self.canvas.grid(row=0, column=0, sticky="nsew")
        self.rowconfigure(0, weight=1)
        self.columnconfigure(0, weight=1)
        self.inner = ttk.Frame(self.canvas)
        self._item = self.canvas.create_window(0, 0, window=self.inner, anchor="nw")
        self._bars = (False, False)
        self.canvas.bind("<Configure>", self._fit)
        self._restyle()
        # ttk sends <<ThemeChanged>> to every widget when Thonny's theme (or its fonts) change.
        self.bind("<<ThemeChanged>>", lambda e: self._restyle(), add="+")

    def _restyle(self) -> None:
        background = theme_background(self)
        if background:
            self.canvas.configure(background=background)

    def _fit(self, event: Any = None) -> None:
        cw, ch = self.canvas.winfo_width(), self.canvas.winfo_height()
        if cw <= 1 or ch <= 1:
            return
        w, h = max(cw, self.min_width), max(ch, self.min_height)
        self.canvas.itemconfigure(self._item, width=w, height=h)
        self.canvas.configure(scrollregion=(0, 0, w, h))
        bars = (w > cw, h > ch)
        if bars != self._bars:
            self._bars = bars
            if bars[0]:
                self.xbar.grid(row=1, column=0, sticky="ew")
            else:
                self.xbar.grid_remove()
                self.canvas.xview_moveto(0)
            if bars[1]:
                self.ybar.grid(row=0, column=1, sticky="ns")
            else:
                self.ybar.grid_remove()
                self.canvas.yview_moveto(0)


class IotPanelView(ttk.Frame):
    """Base of the views: a status line and the hosted panel (or the error instead)."""

    title = ""  # "Flash", "Wiring", "Deploy", "Plot" or "Class": a key of VIEW_IDS
    min_size = (480, 360)
    #: The narrowest the panel reflows to (None: min_size's width); below it the view scrolls
    #: sideways. min_size stays the width the column is widened to when first shown.
    reflow_width: int | None = None

    def __init__(self, master: tk.Misc) -> None:
        super().__init__(master)
        self.panel: Any = None
        self.error: str | None = None
        self._grown = False
        self._grow_tries = 0
        self.status_var = tk.StringVar(value="")
        self._status_error = False  # the status line shows an error (in the theme's red)
        self.status_label = ttk.Label(
            self, textvariable=self.status_var, anchor="w", justify="left", padding=(6, 1)
        )
        self.status_label.bind(
            "<Configure>",
            lambda e: self.status_label.configure(wraplength=max(150, e.width - 12)),
        )
        reflow = self.min_size[0] if self.reflow_width is None else self.reflow_width
        self.scroller = _Scroller(self, reflow, self.min_size[1])
        self.scroller.pack(side="top", fill="both", expand=True)
        self.status_var.trace_add("write", lambda *_: self._place_status())
        self.status_label.bind("<<ThemeChanged>>", lambda e: self._colour_status(), add="+")
        try:
            state = plugin_state()
            if state is None:
                raise RuntimeError("the IoT Kit plugin did not load (see frontend.log)")
            state.build_view(self)
        except Exception as exc:  # noqa: BLE001 - never raise into Thonny
            log.exception("building the IoT %s view failed", self.title)
            try:
                self.show_error(f"The IoT {self.title} view could not start: {exc}")
            except Exception:  # noqa: BLE001
                log.exception("showing the error in the IoT %s view failed", self.title)

    # --- what the host and the context call -------------------------------------------------
    def show_status(self, text: str, error: bool = False) -> None:
        self.status_var.set(str(text or ""))
        self._status_error = error
        self._colour_status()

    def _colour_status(self) -> None:
        self.status_label.configure(foreground=error_colour(self) if self._status_error else "")

    def show_error(self, text: str) -> None:
        """The error takes the panel's place when there is no panel, else the status line."""
        self.error = text
        state = plugin_state()
        if state is not None:
            state.record_error(text)
        if self.panel is None:
            self.scroller.min_width = self.scroller.min_height = 0  # a message needs no room
            self.scroller._fit()
            for child in self.scroller.inner.winfo_children():
                try:
                    child.destroy()
                except Exception:  # noqa: BLE001 - a half-built panel's own destroy() may fail
                    tk.Widget.destroy(child)
            label = ttk.Label(
                self.scroller.inner,
                text=text,
                foreground=error_colour(self),
                justify="left",
                padding=12,
            )
            label.pack(side="top", fill="x")
            label.bind("<Configure>", lambda e: label.configure(wraplength=max(150, e.width - 24)))
            label.bind(
                "<<ThemeChanged>>", lambda e: label.configure(foreground=error_colour(label))
            )
        else:
            self.show_status(text, error=True)

    def _place_status(self) -> None:
        if self.status_var.get():
            if not self.status_label.winfo_manager():
                self.status_label.pack(side="bottom", fill="x", before=self.scroller)
        elif self.status_label.winfo_manager():
            self.status_label.pack_forget()

    # --- Thonny's view hooks ----------------------------------------------------------------
    def on_show(self) -> None:
        """Thonny calls this when the view goes from hidden to shown."""
        if not self._grown:
            self._grown = True
            self.after_idle(self._grow_home)
        try:
            state = plugin_state()
            if state is not None:
                state.view_shown(self)
        except Exception:  # noqa: BLE001
            log.exception("showing the IoT %s view failed", self.title)

    def _grow_home(self) -> None:
        """Make the view's column (or bottom row) roomy enough for the panel, once.

        Thonny's `AutomaticPanedWindow` keeps each pane's size in ``preferred_size_in_pw`` and
        restores it on every resize; that is what is raised here. Best effort: if Thonny's
        layout code differs, the view simply keeps its size (and its scroll bars).
        """
        try:
            notebook = self.home_widget.master  # type: ignore[attr-defined]
            column = notebook.master
            outer = column.master
            top = self.winfo_toplevel()
            if getattr(top, "initializing", False) or top.winfo_width() < 300:
                # Shown at start-up: the window has no size yet, so try again shortly.
                self._grow_tries += 1
                if self._grow_tries < 20:
                    self.after(250, self._grow_home)
                return
            want_w, want_h = self.min_size[0] + 24, self.min_size[1] + 40
            if _orient(outer) == "horizontal":
                limit = int(max(top.winfo_width(), 400) * 0.6)
                _grow(outer, column, min(want_w, limit))
            if _orient(column) == "vertical":
                limit = int(max(column.winfo_height(), 300) * 0.6)
                _grow(column, notebook, min(want_h, limit))
        except Exception:  # noqa: BLE001 - layout is cosmetic
            log.debug("could not widen the IoT %s view", self.title, exc_info=True)


def _orient(widget: Any) -> str | None:
    try:
        return str(widget.cget("orient"))
    except (tk.TclError, AttributeError):
        return None


def _grow(paned: Any, pane: Any, size: int) -> None:
    current = getattr(pane, "preferred_size_in_pw", None)
    if current is None or current >= size:
        return  # this pane takes the leftover space, or is big enough already
    pane.preferred_size_in_pw = size
    restore = getattr(paned, "_check_restore_preferred_sizes", None)
    if callable(restore):
        restore()


# Minimum sizes of the panels' compact layouts (the companion's need 640 to 960 pixels). Below
# them, the view scrolls.
class IotFlashView(IotPanelView):
    title = "Flash"
    min_size = (460, 430)


class IotWiringView(IotPanelView):
    title = "Wiring"
    min_size = (560, 440)


class IotDeployView(IotPanelView):
    title = "Deploy"
    min_size = (660, 440)
    reflow_width = 420  # its rows wrap and its lists scroll: no sideways scrolling at 1024x768


class IotPlotView(IotPanelView):
    title = "Plot"
    min_size = (440, 320)


class IotClassView(IotPanelView):
    title = "Class"
    min_size = (520, 360)
    reflow_width = 420  # its button rows wrap and its table drops the Port column


VIEW_CLASSES = (IotFlashView, IotWiringView, IotDeployView, IotPlotView, IotClassView)


class IotViews:
    """The IoT views Thonny has built so far (it builds each one once, when first shown)."""

    def __init__(self) -> None:
        self.by_title: dict[str, IotPanelView] = {}

    def add(self, view: IotPanelView) -> None:
        self.by_title[view.title] = view

    def view(self, title: str) -> IotPanelView | None:
        return self.by_title.get(title)

    def panel(self, title: str) -> Any | None:
        """The panel inside the view for "Flash"/"Wiring"/"Deploy"/"Plot"/"Class", None if not built."""
        view = self.by_title.get(title)
        return view.panel if view is not None else None

    def show(self, title: str) -> bool:
        """Show (building it if need be) the view of a panel title; False if there is none."""
        view_id = VIEW_IDS.get(title)
        if view_id is None:
            return False
        from thonny import get_workbench

        return bool(get_workbench().show_view(view_id))

    def close_panels(self) -> None:
        """Thonny is closing: each panel stops its work (its jobs are cancelled, not joined)."""
        for title, view in list(self.by_title.items()):
            closer = getattr(view.panel, "close", None)
            if callable(closer):
                try:
                    closer()
                except Exception:  # noqa: BLE001
                    log.exception("closing the IoT %s panel failed", title)
