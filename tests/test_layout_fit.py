"""Every tab of the companion at the sizes a classroom has: nothing cut off, nothing lost.

A 1024×768 projector with the window maximised, at zoom 1.0 and 1.5, and a 1366×768 laptop with
the window at its default size. In each, every tab is opened (with a wiring diagram that has
findings, and programs ticked, so the panels show their full content), `layout_check` walks its
widgets, and a screenshot is kept in tests/artifacts/layout-TAB-SIZE.png for a person to look at.
"""

from __future__ import annotations

import json

import pytest
from gui_helpers import grab_window, pump, wait_posted
from layout_check import check

from companion_app.gui import look
from companion_app.gui.app import CompanionApp, window_size

CONNECT_TIMEOUT = 30.0
#: A maximised window on a 1024×768 screen: the desktop's top bar and the title bar take ~30 px.
PROJECTOR = "1024x738"
SIZES = {
    "1024x768-zoom1": (PROJECTOR, 1.0),
    "1024x768-zoom1.5": (PROJECTOR, 1.5),
    "1366x768-default": (None, 1.0),  # the window as it opens
}
TABS = ("Console", "Flash", "Wiring", "Deploy", "Plot", "Class")

#: The DHT22's data on D34 (input-only: a finding), its power on 3V3 and GND.
DIAGRAM = {
    "version": 1,
    "author": "layout test",
    "editor": "wokwi",
    "parts": [
        {"type": "board-esp32-devkit-c-v4", "id": "esp", "top": 0, "left": 0, "attrs": {}},
        {"type": "wokwi-dht22", "id": "dht1", "top": 0, "left": 200, "attrs": {}},
    ],
    "connections": [
        ["dht1:VCC", "esp:3V3", "red", []],
        ["dht1:GND", "esp:GND.1", "black", []],
        ["dht1:SDA", "esp:34", "green", []],
    ],
}

#: A class of three seats (the Class tab's table), one of them found by its USB serial number.
CLASS_FILE = """\
name = "lab-a"
broker = "mqtt://127.0.0.1:1883"
templates = ["mqtt"]
[settings]
sensor = "dht22"
sensor_pin = 14
[[boards]]
name = "seat-01"
port = "/dev/ttyUSB0"
[[boards]]
name = "seat-02"
port = "/dev/ttyUSB1"
[[boards]]
name = "seat-03"
usb_serial = "0001A2B3C4"
"""


@pytest.fixture(params=sorted(SIZES))
def sized_app(request, root, tmp_path, env):
    from companion_app.simulator import VirtualBoard

    geometry, zoom = SIZES[request.param]
    app = CompanionApp(
        root,
        list_ports=lambda: [],
        virtual_board_factory=lambda board: VirtualBoard(
            board=board, flash_dir=str(tmp_path / "flash")
        ),
        zoom=zoom,
    )
    root.geometry((geometry or window_size(root, zoom)) + "+0+0")
    assert pump(root, lambda: app.connection.is_connected, CONNECT_TIMEOUT), app.status_var.get()
    yield request.param, app
    app.close()


def _settle(root) -> None:
    wait_posted(root)
    root.update_idletasks()
    wait_posted(root)


def _fill(app, tab: str, tmp_path) -> None:
    """Put the tab in the state that shows the most: findings, ticked programs."""
    panel = app.panel(tab)
    if tab == "Wiring":
        path = tmp_path / "diagram.json"
        path.write_text(json.dumps(DIAGRAM), encoding="utf-8")
        panel.open_diagram(path)
    elif tab == "Deploy":
        for name in ("sensor", "web"):
            panel.template_checks[name].invoke()
    elif tab == "Class":
        path = tmp_path / "class.toml"
        path.write_text(CLASS_FILE, encoding="utf-8")
        panel.open_class_file(path, remember=False)
        assert pump(app.root, lambda: panel.class_file is not None, 20.0), panel.status_var.get()


def test_every_tab_fits(sized_app, root, tmp_path):
    size, app = sized_app
    failures = []
    for tab in TABS:
        assert app.show_panel(tab)
        pump(root, lambda: app.panel(tab) is not None, 20.0)
        _fill(app, tab, tmp_path)
        _settle(root)
        assert look.zoom(root) == SIZES[size][1]
        grab_window(root, f"layout-{tab.lower()}-{size}")
        failures += [f"{tab}: {p}" for p in check(root)]
    assert not failures, f"{size}:\n" + "\n".join(failures)
