"""The plug-in inside Thonny: `load()` registers it, `PluginState` ties its parts together.

``load_plugin`` (in ``__init__``) calls `load()`, which only registers, as Thonny's own plug-ins
do (thonny/plugins/heap.py): the option defaults, the views, the Tools-menu commands, the
options page and the event handlers; and it makes the one `PluginState`, which views and the
options page find through `state.plugin_state()` (also the API the real-Thonny tests drive).

Each concern lives in its own module; `PluginState` only holds one of each and forwards
Thonny's events to them:

- settings.py: the ``iotkit.*`` options (options.py: their page in Tools → Options);
- messages.py: errors and handover lines for a person, and `guarded`;
- views.py: the Thonny views; panels.py: the companion panel inside each;
- shell_lines.py: the Shell's output as lines, for the Plot;
- editor_check.py: "Check wiring of this script" and back to a finding's line;
- virtual_board.py: "Connect Thonny to a virtual board", and Thonny's interpreter put back;
- connection.py: the port handover with Thonny's backend (ports.py: which port it holds);
- state.py (`plugin_state()`) and ids.py (`VIEW_IDS`): leaves that import nothing of ours.

Cheap at load: nothing here imports a panel, matplotlib, numpy or esptool; they load when a
view is first built. Nothing lets an exception reach Thonny: Thonny 5.0.1 does not catch one
from ``load_plugin`` (its start breaks), and shows a modal dialog for one from a command or an
event handler, so every one of those is wrapped in `messages.guarded`.
"""

from __future__ import annotations

import atexit
import logging
from typing import Any, Callable

from thonnycontrib.iotkit import settings
from thonnycontrib.iotkit.connection import ThonnyConnection
from thonnycontrib.iotkit.editor_check import EditorCheck
from thonnycontrib.iotkit.messages import Messages, guarded
from thonnycontrib.iotkit.panels import ThonnyPanelContext, apply_options, build_panel
from thonnycontrib.iotkit.shell_lines import ShellLines
from thonnycontrib.iotkit.state import plugin_state, set_plugin_state
from thonnycontrib.iotkit.views import VIEW_CLASSES, IotPanelView, IotViews
from thonnycontrib.iotkit.virtual_board import (
    VirtualBoardProcess,
    VirtualBoards,
    new_webrepl_password,
)

log = logging.getLogger("thonnycontrib.iotkit")

# plugin_state, VirtualBoardProcess and new_webrepl_password live in their own modules; they
# are importable from here too, where tests and earlier versions found them.
__all__ = ["PluginState", "VirtualBoardProcess", "load", "new_webrepl_password", "plugin_state"]

VIEW_LABELS = {
    "Flash": "IoT Flash",
    "Wiring": "IoT Wiring",
    "Deploy": "IoT Deploy",
    "Plot": "IoT Plot",
    "Class": "IoT Class",
}
# All in the east column, one notebook of tabs beside the editor, so the Shell below the
# editor stays visible (the plot reads it). Users can move them; Thonny remembers where.
VIEW_LOCATIONS = {"Flash": "e", "Wiring": "e", "Deploy": "e", "Plot": "e", "Class": "e"}
COMMAND_GROUP = 120  # between "Open Thonny data folder…" (110) and "Options…" (180)
OPTIONS_PAGE_ORDER = 90


class PluginState:
    """Everything the plug-in keeps while Thonny runs (one instance, made by `load`)."""

    def __init__(self) -> None:
        self.views = IotViews()
        self.messages = Messages(self.views.by_title)
        self.shell = ShellLines()
        self.connection = ThonnyConnection(
            settings.workbench,
            baud=settings.baud,
            announce=self.messages.announce,
            report_error=self.messages.report,
            link_for_webrepl=lambda url: self.boards.link_for(url),
            port_label=lambda port: self.boards.port_label(port),
        )
        self.boards = VirtualBoards(
            self.messages,
            self.connection,
            wiring=lambda: getattr(self.views.panel("Wiring"), "wiring", None),
        )
        self.editor_check = EditorCheck(self.views, self.messages.report)

    # --- what the tests and the views read --------------------------------------------------
    @property
    def errors(self) -> list[str]:
        return self.messages.errors

    @property
    def handover_log(self) -> list[str]:
        return self.connection.handover_log

    @property
    def backlog(self) -> Any:
        return self.shell.backlog

    @property
    def virtual_board(self) -> VirtualBoardProcess | None:
        return self.boards.current

    @virtual_board.setter
    def virtual_board(self, vb: VirtualBoardProcess | None) -> None:
        self.boards.current = vb

    def panel(self, name: str) -> Any | None:
        """The panel inside the view for "Flash"/"Wiring"/"Deploy"/"Plot"/"Class", None if not built."""
        return self.views.panel(name)

    def view(self, name: str) -> Any | None:
        return self.views.view(name)

    def board_id(self) -> str:
        return settings.board_id()

    def report(self, text: str, view: str | None = None) -> None:
        self.messages.report(text, view)

    def record_error(self, text: str) -> None:
        self.messages.record_error(text)

    def virtual_link_for(self, webrepl_url: str | None) -> str | None:
        return self.boards.link_for(webrepl_url)

    # --- views ------------------------------------------------------------------------------
    def show_view(self, title: str) -> bool:
        return self.views.show(title)

    def build_view(self, view: IotPanelView) -> None:
        """Build the panel of a view Thonny has just created (see views.IotPanelView)."""
        self.views.add(view)
        ctx = ThonnyPanelContext(view, self.connection, self.views, self.boards)
        on_click = guarded("Going to the finding's line", self.goto_line, self.report)
        view.panel = build_panel(view.title, view.scroller.inner, ctx, on_click)
        if view.title == "Plot":
            self.shell.replay_into(view.panel)
        log.info("IoT %s view built", view.title)

    def view_shown(self, view: IotPanelView) -> None:
        if view.title == "Flash" and view.panel is not None:
            view.panel.refresh_cache()

    def options_changed(self) -> None:
        """The IoT Kit options page was applied: built panels follow the new values."""
        apply_options(self.views)

    # --- Check wiring of this script --------------------------------------------------------
    def check_editor_wiring(self) -> list[Any]:
        return self.editor_check.check()

    def goto_finding(self, index: int) -> bool:
        return self.editor_check.goto_finding(index)

    def goto_line(self, finding: Any) -> bool:
        return self.editor_check.goto_line(finding)

    # --- virtual boards ---------------------------------------------------------------------
    def start_virtual_board(self) -> None:
        self.boards.start(settings.board_id())

    def stop_virtual_board(self) -> None:
        self.boards.stop()

    # --- Thonny's events --------------------------------------------------------------------
    def on_program_output(self, event: Any) -> None:
        """Whole stdout lines of the Shell become the connection's "data" event (the Plot's
        and the Deploy log's input); kept as a backlog while no Plot view exists."""
        lines = self.shell.feed(event, keep_backlog=self.panel("Plot") is None)
        if lines:
            self.connection.feed_output(("\n".join(lines) + "\n").encode("utf-8"))

    def on_backend_restart(self, event: Any) -> None:
        self.shell.restart()
        self.connection.on_backend_restart(event)

    def on_toplevel_response(self, event: Any) -> None:
        self.connection.on_toplevel_response(event)

    def on_backend_terminated(self, event: Any) -> None:
        self.connection.on_backend_terminated(event)

    def on_workbench_close(self, event: Any = None) -> None:
        """Thonny is closing: panels and jobs stop (none is waited for), the interpreter a
        virtual board replaced is put back, and the board stops."""
        try:
            self.views.close_panels()
            self.connection.close()
        finally:
            self.boards.close()


def commands(state: PluginState) -> list[tuple[str, str, Callable[[], Any]]]:
    """The Tools-menu commands: (command id, label, handler)."""
    return [
        ("iotkit_flash", "Flash MicroPython firmware…", lambda: state.show_view("Flash")),
        ("iotkit_check_wiring", "Check wiring of this script", state.check_editor_wiring),
        ("iotkit_deploy", "Deploy to board…", lambda: state.show_view("Deploy")),
        ("iotkit_plot", "Live plot", lambda: state.show_view("Plot")),
        ("iotkit_class", "Class of boards…", lambda: state.show_view("Class")),
        ("iotkit_virtual_board", "Connect Thonny to a virtual board", state.start_virtual_board),
    ]


def event_handlers(state: PluginState) -> list[tuple[str, str, Callable[[Any], Any]]]:
    """Thonny's events the plug-in follows: (event, what it is for, handler).

    Thonny's font and theme changes need none: each ends in a ttk style change (``update_fonts``
    sets the Treeview row height), and ttk then sends <<ThemeChanged>> to every widget, which
    the panels follow through ``look.on_look_change`` (tests/test_thonny_look.py)."""
    return [
        ("ProgramOutput", "Reading the Shell's output for the plot", state.on_program_output),
        ("BackendRestart", "Following Thonny's backend", state.on_backend_restart),
        ("ToplevelResponse", "Following Thonny's backend", state.on_toplevel_response),
        ("BackendTerminated", "Following Thonny's backend", state.on_backend_terminated),
        ("WorkbenchClose", "Closing IoT Kit", state.on_workbench_close),
    ]


def load() -> None:
    """Register the views, commands, options page and event handlers (from load_plugin)."""
    wb = settings.workbench()
    settings.register_defaults(wb)
    state = PluginState()
    set_plugin_state(state)
    for cls in VIEW_CLASSES:
        wb.add_view(cls, VIEW_LABELS[cls.title], VIEW_LOCATIONS[cls.title])
    for command_id, label, handler in commands(state):
        wb.add_command(
            command_id, "tools", label, guarded(label, handler, state.report), group=COMMAND_GROUP
        )
    try:
        from thonnycontrib.iotkit.options import IotkitConfigPage

        wb.add_configuration_page("iotkit", "IoT Kit", IotkitConfigPage, OPTIONS_PAGE_ORDER)
    except Exception:  # noqa: BLE001 - the views and commands work without the page
        log.exception("the IoT Kit options page could not be added")
    for event, what, handler in event_handlers(state):
        wb.bind(event, guarded(what, handler, state.report), True)
    atexit.register(state.stop_virtual_board)
