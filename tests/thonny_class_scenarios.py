"""The IoT Class view in real Thonny, as the Class tests replay it (tests/test_thonny_class_view.py).

A generator function a scenario, run inside Thonny on Tk's thread by the probe plug-in, as in
tests/thonny_scenarios.py (whose helpers these reuse): open the view, load a class file into its
panel, then a broken one, and record what a person would see.
"""

from __future__ import annotations

from typing import Any

from thonny_scenarios import Params, Scenario, iotkit, open_view, view_fit
from thonnycontrib.iotkit_probe import record, shot, until, widget_info


def class_view(params: Params) -> Scenario:
    """Open IoT Class, load the good class file, then the broken one; record both states."""
    _plugin, state = iotkit()
    view, panel = yield from open_view("Class")
    info: dict[str, Any] = widget_info(view)
    info["panel"] = f"{type(panel).__module__}.{type(panel).__name__}"
    info["tab"] = view.home_widget.master.tab(view.home_widget, "text")
    record("view", info)

    panel.open_class_file(params["good"], remember=False)
    yield from until(lambda: panel.class_file is not None, 20, "the class file to load")
    yield from until(lambda: panel.tree.winfo_ismapped(), 10, "the boards table on screen")
    record(
        "good",
        {
            "summary": panel.summary_var.get(),
            "rows": [list(panel.tree.item(i, "values")) for i in panel.tree.get_children()],
            "deploy_enabled": str(panel.deploy_button.cget("state")) == "normal",
            "fit": view_fit(view),
            "status": panel.status_var.get(),
            "view_status": view.status_var.get(),
            "view_status_shown": bool(view.status_label.winfo_ismapped()),
        },
    )
    shot("class-view")

    panel.open_class_file(params["bad"], remember=False)
    yield from until(lambda: panel.error is not None, 20, "the broken class file's error")
    yield from until(lambda: panel.error_label.winfo_ismapped(), 10, "the error line on screen")
    record(
        "bad",
        {
            "error": panel.error_var.get(),
            "deploy_enabled": str(panel.deploy_button.cget("state")) == "normal",
            "rows": len(panel.tree.get_children()),
        },
    )
    record("errors", list(state.errors))
