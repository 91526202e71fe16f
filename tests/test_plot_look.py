"""The Plot panel at every size, theme and zoom (issue 15): real Tk, real matplotlib, under Xvfb.

- Thonny's dark theme must not leave a white plot or a beige toolbar: the test switches ttk to
  a dark theme (as Thonny does, which sends <<ThemeChanged>>) and measures the pixels.
- The zoom must grow the plot's text with the UI font.
- At 1024×768 with zoom 1.5, and in a view as narrow as Thonny's side column, no control is cut
  off (tests/layout_check.py walks every widget).
- An empty plot says where readings come from and leads to the Deploy tab.
"""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk

import numpy as np
import pytest
from gui_helpers import grab_window, pump
from layout_check import assert_fits
from matplotlib.colors import to_hex
from waiting import wait_until_tk

from companion_app.gui import look

#: Thonny's "Clean Dark" colours, near enough: what a dark ttk theme gives the panel.
DARK = {"background": "#2d2d2d", "foreground": "#dddddd", "field": "#1e1e1e"}
NEAR_WHITE = 230  # a pixel whose every channel is above this reads as white
MAX_NEAR_WHITE = 0.05  # the acceptance: no view more than 5 % near-white


def use_dark_theme(root: tk.Misc) -> None:
    style = ttk.Style(root)
    if "iotkit-test-dark" not in style.theme_names():
        style.theme_create(
            "iotkit-test-dark",
            parent="clam",
            settings={
                ".": {
                    "configure": {
                        "background": DARK["background"],
                        "foreground": DARK["foreground"],
                        "fieldbackground": DARK["field"],
                        "selectbackground": "#3a5f8f",
                    }
                },
                "TEntry": {"configure": {"fieldbackground": DARK["field"]}},
                "TCombobox": {"configure": {"fieldbackground": DARK["field"]}},
                "TButton": {"configure": {"background": "#3c3f41"}},
            },
        )
    style.theme_use("iotkit-test-dark")


def near_white_share(image) -> float:
    pixels = np.asarray(image.convert("RGB"))
    return float((pixels.min(axis=2) > NEAR_WHITE).mean())


def grab_widget(widget: tk.Widget, name: str):
    """A screenshot of `widget` alone (the panel, not the window around it)."""
    import os

    from gui_helpers import ARTIFACTS
    from PIL import ImageGrab

    widget.update_idletasks()
    widget.update()
    x, y = widget.winfo_rootx(), widget.winfo_rooty()
    image = ImageGrab.grab(
        bbox=(x, y, x + widget.winfo_width(), y + widget.winfo_height()),
        xdisplay=os.environ["DISPLAY"],
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    image.save(ARTIFACTS / f"{name}.png")
    return image


def fill(store, n: int = 40) -> None:
    for i in range(n):
        store.add(i * 0.1, {"temp": 22.0 + (i % 7) * 0.2, "hum": 45.0 - (i % 5)})


@pytest.fixture
def root(root):
    root.geometry("1000x700+0+0")
    return root


@pytest.fixture
def panel(root):
    from companion_app.gui.plot_panel import PlotPanel

    panel = PlotPanel(root, None)
    panel.pack(fill="both", expand=True)
    assert pump(root, panel.winfo_viewable)
    yield panel
    panel.close()


def drawn(panel) -> None:
    """One full frame now, shown."""
    panel.redraw(force=True)
    panel.update()


def test_the_plot_and_its_toolbar_take_a_dark_themes_colours_and_go_back(root, panel):
    fill(panel.store)
    drawn(panel)
    assert panel.figure.get_facecolor()[:3] != pytest.approx((1.0, 1.0, 1.0))
    old_toolbar = panel.toolbar

    use_dark_theme(root)  # ttk sends <<ThemeChanged>> to every widget, as in Thonny
    wait_until_tk(
        root, lambda: panel.renderer.style.figure == DARK["background"], 5, "the dark figure"
    )
    drawn(panel)
    pal = look.palette(panel)
    ax = panel.renderer.axes[0].ax
    assert to_hex(panel.figure.get_facecolor()) == DARK["background"]
    assert to_hex(ax.get_facecolor()) == pal.field
    assert look.contrast_ratio(panel, pal.field, "#ffffff") > 7  # a dark plot area
    tick = ax.get_xticklabels()[0]
    assert to_hex(tick.get_color()) == pal.foreground
    assert all(to_hex(t.get_color()) == pal.foreground for t in panel.renderer.legends[0].texts)
    # Every series line stands out from the dark plot area (3:1, WCAG's figure for graphics).
    for name in ("temp", "hum"):
        line = panel.renderer.lines[name]
        assert look.contrast_ratio(panel, to_hex(line.get_color()), pal.field) >= 3.0
    # The toolbar is made again with the dark colour (a Tk button's disabled look keeps the
    # colour it was made with), and its parts are dark too.
    assert panel.toolbar is not old_toolbar and not old_toolbar.winfo_exists()
    for widget in (panel.toolbar, *panel.toolbar.winfo_children()):
        assert widget.cget("background") == DARK["background"], widget
    # The series' show/hide boxes: no light block, text readable on the dark background.
    for button in panel._series_buttons().values():
        assert button.cget("background") == DARK["background"]
        assert look.contrast_ratio(panel, button.cget("foreground"), DARK["background"]) >= 4.5

    image = grab_widget(panel, "plot-dark-theme")
    share = near_white_share(image)
    assert share < MAX_NEAR_WHITE, f"{share:.1%} of the dark Plot panel is near-white"

    ttk.Style(root).theme_use("clam")  # and back: the light look returns
    wait_until_tk(
        root, lambda: panel.renderer.style.figure != DARK["background"], 5, "the light figure"
    )
    drawn(panel)
    assert to_hex(panel.renderer.axes[0].ax.get_facecolor()) == look.palette(panel).field
    assert panel.toolbar.cget("background") == look.palette(panel).background


def test_the_plots_text_grows_with_the_zoom(root, panel):
    fill(panel.store)
    drawn(panel)

    def sizes() -> tuple[float, float, float]:
        ax = panel.renderer.axes[0].ax
        return (
            ax.get_xticklabels()[0].get_fontsize(),
            ax.xaxis.label.get_fontsize(),
            panel.renderer.legends[0].texts[0].get_fontsize(),
        )

    before = sizes()
    # At zoom 1 the plot's text is as large as the window's text (same pixels on screen).
    ui_px = look.ui_font_pt(panel) * panel.winfo_fpixels("1p")
    assert before[0] * panel.figure.dpi / 72 == pytest.approx(ui_px, rel=0.01)
    toolbar_height = int(panel.toolbar.cget("height"))

    look.set_zoom(root, 1.5)
    wait_until_tk(root, lambda: sizes()[0] > before[0] * 1.3, 5, "larger tick labels")
    drawn(panel)
    after = sizes()
    for b, a in zip(before, after):
        assert a == pytest.approx(b * 1.5, rel=0.1)
    # The toolbar's two message lines still fit.
    assert int(panel.toolbar.cget("height")) > toolbar_height
    assert int(panel.toolbar.cget("height")) >= 2 * look.ui_font_px(panel)

    look.set_zoom(root, 1.0)
    wait_until_tk(root, lambda: sizes()[0] == pytest.approx(before[0]), 5, "the usual size")


@pytest.mark.parametrize("zoom", [1.0, 1.5])
def test_nothing_is_cut_off_at_1024x768_in_the_companion(root, tmp_path, zoom):
    from companion_app.gui.app import CompanionApp

    app = CompanionApp(root, list_ports=lambda: [], auto_virtual=False, zoom=zoom)
    try:
        root.geometry("1024x768+0+0")
        app.show_panel("Plot")
        plot = app.panel("Plot")
        assert plot is not None
        pump(root, lambda: plot.winfo_width() > 900 and plot.ticks > 1, 5)
        assert_fits(plot, f"Plot tab at 1024x768, zoom {zoom}")
        # The file buttons are all there and whole, "Open CSV…" included (issue 15, item 1).
        assert plot.open_button.winfo_ismapped()
        assert plot.open_button.winfo_width() >= plot.open_button.winfo_reqwidth()
        # Reviewing a recording adds "Back to live": it wraps in too.
        csv_path = tmp_path / "old.csv"
        csv_path.write_text("time,temp\n0.0,21.5\n1.0,22.0\n", encoding="utf-8")
        plot.open_csv(csv_path)
        pump(root, lambda: plot.live_button.winfo_ismapped(), 5)
        assert_fits(plot, f"Plot tab reviewing a CSV at 1024x768, zoom {zoom}")
        grab_window(root, f"plot-1024x768-zoom-{zoom}")
    finally:
        app.close()


def test_nothing_is_cut_off_in_a_view_as_narrow_as_thonnys_side_column(root):
    from companion_app.gui.plot_panel import PlotPanel

    look.set_zoom(root, 1.5)
    root.geometry("440x760+0+0")
    panel = PlotPanel(root, None, compact=True)
    panel.canvas.get_tk_widget().configure(width=320, height=200)  # as Thonny's view asks
    panel.pack(fill="both", expand=True)
    try:
        pump(root, lambda: panel.winfo_viewable() and panel.ticks > 1, 5)
        fill(panel.store, 10)
        drawn(panel)
        # A recording's path is longer than the view is wide: its line wraps instead.
        long_path = "/home/teacher/" + "a-long-folder-name/" * 6 + "readings.csv"
        panel.record_var.set(f"● {long_path}  12 rows")
        pump(root, panel.record_label.winfo_ismapped, 5)
        assert_fits(panel, "Plot panel 440 px wide at zoom 1.5")
        assert panel.record_label.winfo_width() <= panel.winfo_width()
        grab_window(root, "plot-narrow-zoom-1.5")
    finally:
        panel.close()


# --- the path through the tabs (issue 15, item 9) ---------------------------------------------
class _Connection:
    """The connection part of a host, as far as the Plot panel uses it."""

    def __init__(self) -> None:
        self.listeners: list = []

    def add_listener(self, callback) -> None:
        self.listeners.append(callback)

    def remove_listener(self, callback) -> None:
        self.listeners.remove(callback)


class _Host:
    """A host like Thonny's views: a connection and `show_panel` (or none of that)."""

    def __init__(self, with_tabs: bool) -> None:
        self.connection = _Connection()
        self.shown: list[str] = []
        if with_tabs:
            self.show_panel = lambda title: self.shown.append(title) or True


def test_an_empty_plot_says_where_readings_come_from_and_leads_to_deploy(root):
    from companion_app.gui.app import CompanionApp
    from companion_app.gui.plot_panel import EMPTY_HINT

    app = CompanionApp(root, list_ports=lambda: [], auto_virtual=False)
    try:
        app.show_panel("Plot")
        plot = app.panel("Plot")
        pump(root, lambda: plot.empty_hint.winfo_ismapped(), 5)
        assert plot.empty_hint.winfo_ismapped()
        assert plot.empty_hint_label.cget("text") == EMPTY_HINT
        assert "Deploy the sensor program".lower() in EMPTY_HINT.lower()
        grab_window(root, "plot-empty-hint")
        plot.deploy_button.invoke()
        selected = app.notebook.tab(app.notebook.select(), "text")
        assert selected == "Deploy"

        # Readings came: the hint has done its job and goes away.
        app.show_panel("Plot")
        fill(plot.store, 5)
        pump(root, lambda: not plot.empty_hint.winfo_ismapped(), 5)
        assert not plot.empty_hint.winfo_ismapped()
    finally:
        app.close()


def test_without_tabs_the_hint_is_words_only_and_without_a_host_there_is_none(root):
    from companion_app.gui.plot_panel import PlotPanel

    host = _Host(with_tabs=False)
    panel = PlotPanel(root, host)
    panel.pack(fill="both", expand=True)
    try:
        pump(root, lambda: panel.empty_hint.winfo_ismapped(), 5)
        assert panel.empty_hint.winfo_ismapped() and panel.deploy_button is None
    finally:
        panel.destroy()

    host = _Host(with_tabs=True)
    panel = PlotPanel(root, host)
    panel.pack(fill="both", expand=True)
    try:
        pump(root, lambda: panel.empty_hint.winfo_ismapped(), 5)
        panel.deploy_button.invoke()
        assert host.shown == ["Deploy"]
    finally:
        panel.destroy()

    panel = PlotPanel(root, None)  # `iotkit plot`: its source is given, no board to deploy to
    panel.pack(fill="both", expand=True)
    try:
        pump(root, lambda: panel.ticks > 1, 5)
        assert not panel.empty_hint.winfo_ismapped()
    finally:
        panel.destroy()
