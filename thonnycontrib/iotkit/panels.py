"""Which companion panel goes in which IoT view, and what it gets in Thonny in place of the
companion's window (`ThonnyPanelContext`).

The panels are the companion's own classes (companion_app/gui), built in their compact layout.
They, and matplotlib, numpy and esptool behind them, are imported here only when their view is
first built, never when the plug-in loads.
"""

from __future__ import annotations

import logging
import tkinter as tk
from tkinter import ttk
from typing import Any, Callable

from thonnycontrib.iotkit import settings
from thonnycontrib.iotkit.connection import ThonnyConnection
from thonnycontrib.iotkit.views import IotPanelView, IotViews
from thonnycontrib.iotkit.virtual_board import VirtualBoards

log = logging.getLogger(__name__)

# In a side column the plot's figure (800x450 px as the companion asks) should shrink, not scroll.
PLOT_START_SIZE = (320, 200)


class ThonnyPanelContext:
    """What a panel gets in Thonny, in place of the companion's `PanelContext`.

    Same attributes and hooks: ``root``, ``connection``, ``set_status``, ``app`` (None: there
    is no companion window), ``show_panel(title)``, ``wiring_diagram()`` and ``board_id()``,
    plus ``virtual_board_port()`` for the Flash panel.
    """

    app = None

    def __init__(
        self,
        view: IotPanelView,
        connection: ThonnyConnection,
        views: IotViews,
        boards: VirtualBoards,
    ) -> None:
        self._view = view
        self._connection = connection
        self._views = views
        self._boards = boards
        #: Set by build_panel before the panel is made (it may report while it is built).
        self.panel_has_status_line = False

    @property
    def root(self) -> Any:
        return settings.workbench()

    @property
    def connection(self) -> ThonnyConnection:
        return self._connection

    def set_status(self, text: str) -> None:
        # Thonny's view puts its status line right under the panel: a panel with a status line
        # of its own (Deploy, Class) would show each message twice there.
        if not self.panel_has_status_line:
            self._view.show_status(text)

    def show_panel(self, title: str) -> bool:
        return self._views.show(title)

    def wiring_diagram(self) -> Any | None:
        return getattr(self._views.panel("Wiring"), "diagram", None)

    def board_id(self) -> str | None:
        return settings.board_id()

    def virtual_board_port(self) -> str | None:
        return self._boards.port()


def build_panel(
    title: str, parent: tk.Misc, ctx: ThonnyPanelContext, on_finding_click: Callable[[Any], Any]
) -> Any:
    """The companion's panel for `title`, in `parent`, set up from the options."""
    panel: Any
    if title == "Flash":
        from companion_app.gui.flash_panel import FlashPanel

        panel = FlashPanel(parent, ctx, cache=settings.firmware_cache(), compact=True)
    elif title == "Wiring":
        from companion_app.gui.wiring_panel import WiringPanel

        panel = WiringPanel(parent, ctx, on_finding_click=on_finding_click, compact=True)
        board = settings.board_id()
        if board != panel.board.id:
            panel.set_board(board)
    elif title == "Deploy":
        from companion_app.gui.deploy_panel import DeployPanel

        ctx.panel_has_status_line = DeployPanel.own_status_line
        panel = DeployPanel(parent, ctx, compact=True)
    elif title == "Plot":
        from companion_app.gui.plot_panel import PlotPanel

        panel = PlotPanel(parent, ctx, compact=True)
        width, height = PLOT_START_SIZE
        panel.canvas.get_tk_widget().configure(width=width, height=height)
    elif title == "Class":
        from companion_app.gui.class_panel import ClassPanel

        ctx.panel_has_status_line = ClassPanel.own_status_line
        panel = ClassPanel(parent, ctx, compact=True)
    else:
        raise ValueError(f"unknown IoT Kit view {title!r}")
    panel.pack(fill="both", expand=True)
    natural_width_buttons(panel)
    return panel


def apply_options(views: IotViews) -> None:
    """The IoT Kit options page was applied: built panels follow the new values."""
    board = settings.board_id()
    flash = views.panel("Flash")
    if flash is not None:
        flash.set_cache(settings.firmware_cache())
        if flash.board_type() != board:
            flash.set_board_type(board)  # its flashing hint names this board
    wiring = views.panel("Wiring")
    if wiring is not None and wiring.board.id != board:
        wiring.set_board(board)


def natural_width_buttons(widget: Any) -> None:
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
