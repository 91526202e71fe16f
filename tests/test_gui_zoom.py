"""The companion's zoom (View menu, Ctrl+plus/minus/0, `iotkit --scale`, remembered), its first
window size, and the keyboard: a visible focus ring and a port box that Tab does not blank.

A teacher on a 1024×768 projector zooms to 1.5; every font must grow at once, the setting must
come back next time, and a beginner who tabs into the Board box must not wipe it with a Space.
"""

from __future__ import annotations

import json
import tkinter.font as tkfont

import pytest
from gui_helpers import grab_window, press_key, pump, type_text

from companion_app import cli
from companion_app.gui import look
from companion_app.gui.app import CompanionApp, WindowPrefs, window_size

CONTROL = 0x4


@pytest.fixture
def app(root, tmp_path):
    """The companion with no board and no virtual board: zoom and keys need no connection."""
    prefs = WindowPrefs(tmp_path / "window.json")
    app = CompanionApp(root, list_ports=lambda: [], auto_virtual=False, prefs=prefs)
    yield app
    app.close()


def _size(root, name="TkDefaultFont") -> int:
    return abs(int(tkfont.nametofont(name, root=root).cget("size")))


# --- pure parts -------------------------------------------------------------------------------
def test_zoom_steps_go_up_and_down_and_stop_at_the_ends():
    assert look.zoom_step(1.0, +1) == 1.1
    assert look.zoom_step(1.0, -1) == 0.9
    assert look.zoom_step(1.5, 0) == 1.0
    assert look.zoom_step(look.ZOOM_MAX, +1) == look.ZOOM_MAX
    assert look.zoom_step(look.ZOOM_MIN, -1) == look.ZOOM_MIN
    assert look.zoom_step(1.3, +1) == 1.5  # from a --scale between steps, to the next one


class _Screen:
    """Only the two screen sizes `window_size` reads: this is a pure function of them."""

    def __init__(self, w: int, h: int) -> None:
        self.w, self.h = w, h

    def winfo_screenwidth(self) -> int:
        return self.w

    def winfo_screenheight(self) -> int:
        return self.h


def test_the_first_window_fits_a_projector_screen_at_zoom_one_and_a_half():
    w, h = (int(v) for v in window_size(_Screen(1024, 768), 1.5).split("x"))
    assert w <= 1024 and h <= 768 - 60
    assert (w, h) == (1008, 696)
    # On a big screen it grows with the zoom instead of staying 960x640.
    assert window_size(_Screen(2560, 1440), 1.5) == "1440x960"
    assert window_size(_Screen(1366, 768), 1.0) == "960x640"


def test_remembered_zoom_survives_a_bad_or_missing_file(tmp_path):
    prefs = WindowPrefs(tmp_path / "sub" / "window.json")
    assert prefs.load_zoom() is None
    prefs.save_zoom(1.5)
    assert json.loads((tmp_path / "sub" / "window.json").read_text())["zoom"] == 1.5
    assert WindowPrefs(tmp_path / "sub" / "window.json").load_zoom() == 1.5
    (tmp_path / "sub" / "window.json").write_text("{not json", encoding="utf-8")
    assert prefs.load_zoom() is None
    (tmp_path / "sub" / "window.json").write_text('{"zoom": 99}', encoding="utf-8")
    assert prefs.load_zoom() == look.ZOOM_MAX


def test_scale_out_of_range_is_one_clear_error(capsys):
    assert cli.main(["--scale", "9"]) != 0
    err = capsys.readouterr().err
    assert "--scale takes a number from 0.8 to 3.0" in err and "not 9" in err
    assert "Traceback" not in err


def test_contrast_helpers_reach_the_ratio(root):
    for fg, bg in (("#888888", "#ffffff"), ("#777777", "#2b2b2b"), ("#ff0000", "#ff8080")):
        made = look.readable(root, fg, bg)
        assert look.contrast_ratio(root, made, bg) >= look.MIN_CONTRAST, (fg, bg, made)
    assert look.readable(root, "#000000", "#ffffff") == "#000000"  # already fine: unchanged


# --- the window -------------------------------------------------------------------------------
def test_view_menu_and_keys_scale_every_font_and_remember_it(app, root, tmp_path):
    base, fixed, heading = _size(root), _size(root, "TkFixedFont"), _size(root, "TkHeadingFont")
    labels = [app.view_menu.entrycget(i, "label") for i in range(app.view_menu.index("end") + 1)]
    assert labels == ["Zoom in", "Zoom out", "Actual size"]

    app.view_menu.invoke("Zoom in")
    assert app.zoom == 1.1
    assert _size(root) == round(base * 1.1)
    assert json.loads((tmp_path / "window.json").read_text())["zoom"] == 1.1

    # Ctrl+plus typed in the Console (which takes every key for the board) still zooms.
    console = app.panel("Console")
    press_key(console.text, "plus", state=CONTROL)
    assert pump(root, lambda: app.zoom == 1.25)
    assert _size(root, "TkFixedFont") == round(fixed * 1.25)
    assert _size(root, "TkHeadingFont") == round(heading * 1.25)
    press_key(console.text, "minus", state=CONTROL)
    assert pump(root, lambda: app.zoom == 1.1)
    press_key(console.text, "0", state=CONTROL)
    assert pump(root, lambda: app.zoom == 1.0)
    assert _size(root) == base
    assert "Zoom 100 %" in app.status_var.get()
    assert json.loads((tmp_path / "window.json").read_text())["zoom"] == 1.0


def test_zoom_given_at_start_grows_the_console_text(root, tmp_path):
    app = CompanionApp(root, list_ports=lambda: [], auto_virtual=False, zoom=1.5)
    try:
        console = app.panel("Console")
        mono = tkfont.Font(root=root, font=console.text.cget("font"))
        assert int(mono.cget("size")) >= round(11 * 1.5)
        assert look.zoom(root) == 1.5
    finally:
        app.close()


def test_tab_into_the_board_box_keeps_its_text(app, root):
    app.port_var.set("/dev/ttyUSB0")
    app.connect_button.focus_force()
    root.update()
    # Shift-Tab from the Connect button goes back to the port box, as a person would.
    app.connect_button.event_generate("<KeyPress>", keysym="ISO_Left_Tab", state=1, when="tail")
    assert pump(root, lambda: root.focus_get() is app.port_combo)
    pump(root, lambda: not app.port_combo.selection_present())
    assert not app.port_combo.selection_present()
    type_text(app.port_combo, "1")
    assert app.port_var.get() == "/dev/ttyUSB01"


def test_the_focus_ring_is_the_accent_colour_and_shows(app, root):
    style = look.palette(root)
    from tkinter import ttk

    assert ttk.Style(root).lookup("TButton", "focuscolor") == style.accent
    assert str(ttk.Style(root).lookup("TButton", "focusthickness")) == "2"
    app.connect_button.focus_force()
    pump(root, lambda: root.focus_get() is app.connect_button)
    image = grab_window(root, "companion-focus-ring")
    x0 = app.connect_button.winfo_rootx() - root.winfo_rootx()
    y0 = app.connect_button.winfo_rooty() - root.winfo_rooty()
    box = (x0, y0, x0 + app.connect_button.winfo_width(), y0 + app.connect_button.winfo_height())
    accent = tuple(c // 257 for c in root.winfo_rgb(style.accent))
    pixels = list(image.convert("RGB").crop(box).get_flattened_data())
    ring = sum(1 for p in pixels if all(abs(a - b) <= 24 for a, b in zip(p, accent)))
    assert ring >= app.connect_button.winfo_width(), f"{ring} accent pixels round the button"
