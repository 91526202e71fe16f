"""The Plot panel under Xvfb: real Tk, real matplotlib, the real virtual board for the acceptance.

Most tests fill a real `SeriesStore` directly so that what is drawn is known exactly; the
acceptance and the recording test go the whole way from bytes on a serial line through the
parser thread into the store and onto the screen.
"""

from __future__ import annotations

import csv
import logging
import math
import threading
import time
import tkinter as tk
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from gui_helpers import distinct_colours, grab_window, pump, type_text
from waiting import wait_until_tk

from companion_app.gui.plot_widgets import choose_layout, pair_by_time

CONNECT_TIMEOUT = 30.0

DHT_LOOP = (
    "import dht, machine, time\n"
    "d = dht.DHT22(machine.Pin(14))\n"
    "while True:\n"
    "    d.measure()\n"
    "    print('temp:{},hum:{}'.format(d.temperature(), d.humidity()))\n"
    "    time.sleep(0.2)\n"
)


# --- pure parts: no display needed ------------------------------------------------------------
def test_series_of_similar_scale_share_one_axis():
    assert choose_layout({"temp": 22.5, "hum": 45.0}) == ("shared", [["temp", "hum"]])


def test_a_series_20x_smaller_goes_on_a_second_y_axis():
    kind, groups = choose_layout({"pressure": 101325.0, "temp": 22.5, "hum": 45.0})
    assert kind == "twin"
    assert groups == [["pressure"], ["temp", "hum"]]


def test_three_very_different_scales_get_separate_subplots():
    kind, groups = choose_layout({"a": 100000.0, "b": 50.0, "c": 0.01})
    assert kind == "separate" and groups == [["a"], ["b"], ["c"]]


def test_the_user_can_override_the_automatic_layout():
    scales = {"pressure": 101325.0, "temp": 22.5}
    assert choose_layout(scales, "shared") == ("shared", [["pressure", "temp"]])
    assert choose_layout(scales, "separate") == ("separate", [["pressure"], ["temp"]])
    # Forced twin axis on similar scales splits at the biggest gap.
    assert choose_layout({"a": 10.0, "b": 12.0, "c": 100.0}, "twin") == (
        "twin",
        [["c"], ["a", "b"]],
    )


def test_xy_pairs_points_by_time_and_interpolates_x_between_readings():
    tx, vx = np.array([0.0, 1.0, 2.0]), np.array([10.0, 20.0, 30.0])
    ty, vy = np.array([0.5, 1.0, 3.0]), np.array([1.0, 2.0, 3.0])
    xs, ys = pair_by_time(tx, vx, ty, vy)
    assert xs.tolist() == [15.0, 20.0]  # the point at t=3 is outside X's span: dropped
    assert ys.tolist() == [1.0, 2.0]


# --- fixtures ---------------------------------------------------------------------------------
@pytest.fixture
def root(root):
    """conftest's window, a little larger: the plot and its toolbar need the room."""
    root.geometry("1000x700+0+0")
    return root


@pytest.fixture
def store():
    from companion_app.readings.store import SeriesStore

    return SeriesStore()


@pytest.fixture
def panel(root, store):
    from companion_app.gui.plot_panel import PlotPanel

    panel = PlotPanel(root, None, store=store)
    panel.pack(fill="both", expand=True)
    # On screen, and its timer has run a frame since: the tests start from a drawn panel.
    assert pump(root, panel.winfo_viewable)
    wait_ticks(panel, 1)
    yield panel
    panel.close()


def fill(store, n: int, t0: float = 0.0, dt: float = 0.1, **series) -> None:
    """n rows; each keyword is a function of the row index giving that series' value."""
    for i in range(n):
        store.add(t0 + i * dt, {name: float(f(i)) for name, f in series.items()})


def wait_ticks(panel, n: int, timeout: float = 10.0) -> None:
    """Let the panel's frame timer run `n` more times: time measured in its own frames."""
    start = panel.ticks
    wait_until_tk(panel, lambda: panel.ticks >= start + n, timeout, f"{n} frame timer ticks")


def frame(panel) -> str:
    """Run one redraw now (as the timer would) and let Tk show it."""
    result = panel.redraw()
    panel.update()
    return result


# --- the acceptance: the virtual board's DHT22 readings, live in the companion's Plot tab ------
def test_virtual_board_dht22_readings_show_live_in_the_plot_tab(root, vboard):
    from companion_app.gui.app import CompanionApp
    from companion_app.gui.plot_panel import PlotPanel

    app = CompanionApp(root, port=vboard.port, list_ports=lambda: [], auto_virtual=False)
    try:
        assert pump(
            root, lambda: app.connection.is_connected, CONNECT_TIMEOUT
        ), app.status_var.get()
        console = app.panel("Console")
        type_text(console.text, "\n")
        assert pump(root, lambda: console.text_content().rstrip().endswith(">>>"), 10)

        # The user runs the loop from the Console and only then opens the Plot tab: the panel
        # was built shortly after start-up (without delaying the window), so it has listened
        # from the start.
        tabs = app.notebook.tabs()
        titles = [app.notebook.tab(t, "text") for t in tabs]
        assert "Plot" in titles
        plot_tab = tabs[titles.index("Plot")]
        console.paste(DHT_LOOP)
        assert pump(root, lambda: "temp:" in console.text_content(), 10), console.text_content()
        assert pump(root, lambda: app.panel("Plot") is not None, 5)  # built unasked, soon
        plot = app.panel("Plot")
        assert isinstance(plot, PlotPanel)
        app.notebook.select(plot_tab)

        store = plot.store
        assert pump(
            root,
            lambda: store.stats("temp").count >= 5 and store.stats("hum").count >= 5,
            20,
        ), (store.names, plot.status_var.get())
        # A few seconds more, so that the screenshot shows the lines moving, not two dots.
        pump(root, lambda: store.stats("temp").count >= 20, 8)
        r = plot.renderer
        drawn = r.full_draws + r.blits
        # At least one more frame with the newest points.
        assert pump(root, lambda: r.full_draws + r.blits > drawn, 5), plot.status_var.get()

        # The echoed program text, the prompt and the paste-mode banner made no series.
        assert store.names == ["temp", "hum"]
        temp, hum = store.stats("temp"), store.stats("hum")
        assert 15 < temp.min <= temp.max < 30  # the emulated DHT22: 22.5 ± 1.5 °C
        assert 20 < hum.min <= hum.max < 70
        ax = r.axes[0].ax
        assert ax.get_xlabel() == "time (s)"
        assert ax.get_ylabel() == "temp, hum"
        legend = r.legend_texts()
        assert len(legend) == 2
        assert legend[0].startswith("temp ") and legend[1].startswith("hum ")
        # The legend shows a recent reading (new ones keep arriving while we look).
        shown = float(legend[0].split()[1])
        recent = store.series("temp")[1][-10:]
        assert any(abs(shown - v) <= 0.05 for v in recent), (shown, recent)
        xs = r.lines["temp"].get_xdata()
        assert len(xs) >= 5 and xs[0] >= 0  # seconds since the plot started
        assert r.full_draws + r.blits >= 2

        image = grab_window(root, "plot-live", also_docs=True)
        assert image.size[0] >= 640 and image.size[1] >= 400
        assert distinct_colours(image) > 50  # axes, text, two coloured lines: not blank
        # Both series' colours are on screen (the lines are really drawn).
        rgb = {c for _, c in image.convert("RGB").getcolors(1 << 20)}
        for name in ("temp", "hum"):
            colour = r.colour(name).lstrip("#")
            want = tuple(int(colour[i : i + 2], 16) for i in (0, 2, 4))
            assert want in rgb, name
        assert "Traceback" not in plot.status_var.get()
    finally:
        app.close()


# --- controls ---------------------------------------------------------------------------------
def test_pause_freezes_the_view_while_the_store_keeps_growing(panel, store):
    fill(store, 50, temp=lambda i: 20 + i * 0.01)
    frame(panel)
    panel.pause_button.invoke()
    assert panel.paused and panel.pause_button.cget("text") == "Resume"
    frame(panel)  # the view as frozen
    line = panel.renderer.lines["temp"]
    frozen_x = np.array(line.get_xdata())
    draws = panel.renderer.full_draws + panel.renderer.blits

    fill(store, 50, t0=5.0, temp=lambda i: 30.0)
    wait_ticks(panel, 10)
    assert store.stats("temp").count == 100  # ingest went on
    assert np.array_equal(line.get_xdata(), frozen_x)  # the view did not
    assert panel.renderer.full_draws + panel.renderer.blits == draws
    assert panel.renderer.legend_texts() == ["temp 20.49"]

    panel.pause_button.invoke()  # Resume
    pump(panel, lambda: len(panel.renderer.lines["temp"].get_xdata()) == 100, 2)
    assert max(panel.renderer.lines["temp"].get_xdata()) == pytest.approx(9.9)
    assert panel.renderer.legend_texts() == ["temp 30"]


def test_the_legend_ends_on_the_last_reading_even_when_no_more_data_comes(panel, store):
    # Frames within LEGEND_REFRESH_S reuse the legend's pixels; the last reading of a run must
    # still reach the legend on a later tick, although the data stops changing.
    fill(store, 10, temp=lambda i: i)
    frame(panel)
    frame(panel)  # a full draw refreshed the legend just now
    store.add(1.0, {"temp": 5.5})  # inside the current limits: a blit, not a full draw
    assert frame(panel) == "blit"  # within LEGEND_REFRESH_S: cached legend pixels
    assert panel.renderer.legend_texts() != ["temp 5.5"]
    assert pump(panel, lambda: panel.renderer.legend_texts() == ["temp 5.5"], 2)


def test_hiding_a_series_removes_its_line_and_legend_entry(panel, store):
    fill(store, 20, temp=lambda i: 22.0, hum=lambda i: 45.0)
    frame(panel)
    assert set(panel.renderer.lines) == {"temp", "hum"}
    children = panel.series_row.winfo_children()
    buttons = {w.cget("text"): w for w in children if isinstance(w, tk.Checkbutton)}
    assert set(buttons) == {"temp", "hum"}  # built as the series appeared
    buttons["hum"].invoke()
    frame(panel)
    assert set(panel.renderer.lines) == {"temp"}
    assert all(not t.startswith("hum") for t in panel.renderer.legend_texts())
    assert len(panel.figure.axes[0].get_lines()) == 1
    buttons["hum"].invoke()
    frame(panel)
    assert set(panel.renderer.lines) == {"temp", "hum"}


def test_xy_mode_plots_one_series_against_another(panel, store):
    fill(store, 30, temp=lambda i: 20 + i * 0.5, hum=lambda i: 80 - i)
    frame(panel)
    panel.set_xy("temp", "hum")
    frame(panel)
    ax = panel.figure.axes[0]
    assert ax.get_xlabel() == "temp" and ax.get_ylabel() == "hum"
    (line,) = panel.renderer.lines.values()
    assert list(line.get_xdata()) == [20 + i * 0.5 for i in range(30)]
    assert list(line.get_ydata()) == [80.0 - i for i in range(30)]
    x_lo, x_hi = ax.get_xlim()
    assert x_lo <= 20 and x_hi >= 34.5
    panel.set_xy(None, None)
    frame(panel)
    assert panel.figure.axes[0].get_xlabel() == "time (s)"


def test_very_different_scales_get_a_second_axis_and_the_user_can_choose(panel, store):
    fill(store, 20, pressure=lambda i: 101325 + i, temp=lambda i: 22.5)
    frame(panel)
    assert panel.renderer.layout_kind == "twin"
    left, right = panel.renderer.axes
    assert list(left.lines) == ["pressure"] and list(right.lines) == ["temp"]
    assert right.ax.get_ylim()[1] < 100 < left.ax.get_ylim()[0]
    panel.set_layout("separate")
    frame(panel)
    assert panel.renderer.layout_kind == "separate" and len(panel.figure.axes) == 2
    assert panel.figure.axes[1].get_xlabel() == "time (s)"
    panel.set_layout("shared")
    frame(panel)
    assert len(panel.figure.axes) == 1


def test_fixed_y_range_is_applied_and_autoscale_comes_back(panel, store):
    fill(store, 20, temp=lambda i: 20 + i * 0.1)
    frame(panel)
    assert panel.figure.axes[0].get_ylim()[0] > 15
    panel.ymin_var.set("0")
    panel.ymax_var.set("100")
    panel.ymax_entry.focus_force()
    panel.update()
    panel.ymax_entry.event_generate("<Return>")
    frame(panel)
    assert not panel.autoscale_var.get()
    assert panel.figure.axes[0].get_ylim() == (0.0, 100.0)
    fill(store, 5, t0=3.0, temp=lambda i: 150.0)  # outside: the fixed range stays
    frame(panel)
    assert panel.figure.axes[0].get_ylim() == (0.0, 100.0)
    panel.autoscale_var.set(True)
    frame(panel)
    lo, hi = panel.figure.axes[0].get_ylim()
    assert lo < 20 and 150 < hi < 200


def test_the_window_shows_the_last_n_seconds_or_everything(panel, store):
    fill(store, 1000, dt=0.1, temp=lambda i: math.sin(i / 10))  # 0 .. 99.9 s
    panel.set_window("10 s")
    frame(panel)
    lo, hi = panel.figure.axes[0].get_xlim()
    assert lo == pytest.approx(89.9) and hi >= 99.9
    assert min(panel.renderer.lines["temp"].get_xdata()) >= lo
    panel.set_window("all")
    frame(panel)
    lo, hi = panel.figure.axes[0].get_xlim()
    assert lo == 0.0 and hi >= 99.9
    assert len(panel.renderer.lines["temp"].get_xdata()) > 100


def test_the_redraw_timer_skips_frames_when_nothing_changed(panel, store):
    from companion_app.gui.plot_panel import FRAME_MS

    fill(store, 10, temp=lambda i: i)
    r = panel.renderer
    assert pump(panel, lambda: "temp" in r.lines and len(r.lines["temp"].get_xdata()) == 10)
    drawn, skipped, ticks = r.full_draws + r.blits, r.skipped, panel.ticks
    started = time.monotonic()
    wait_ticks(panel, 10)  # the timer ran…
    elapsed = time.monotonic() - started
    # …at no more than 20 fps: Tk never runs an after() early, so ten ticks span at least nine
    # frame periods (the first may come at once); 10 % slack for clock rounding.
    assert elapsed >= 0.9 * 9 * FRAME_MS / 1000, elapsed
    assert r.full_draws + r.blits == drawn  # …and drew nothing
    assert r.skipped - skipped == panel.ticks - ticks
    store.add(1.0, {"temp": 5.0})  # within the current limits: a blit, not a full redraw
    assert pump(panel, lambda: r.full_draws + r.blits == drawn + 1, 1)
    assert r.blits >= 1


def test_zooming_with_the_toolbar_pauses_following(panel, store):
    fill(store, 100, temp=lambda i: i)
    frame(panel)
    panel.figure.axes[0].set_xlim(2, 4)  # what the toolbar's zoom does
    panel.canvas.draw()
    frame(panel)
    assert panel.paused and "Zoomed" in panel.status_var.get()
    fill(store, 10, t0=20, temp=lambda i: 0)
    frame(panel)
    assert panel.figure.axes[0].get_xlim() == (2.0, 4.0)
    panel.resume()
    frame(panel)
    assert panel.figure.axes[0].get_xlim()[1] > 20


def test_export_writes_png_and_svg_of_the_current_view(panel, store, tmp_path):
    from PIL import Image

    fill(store, 50, temp=lambda i: 20 + i % 5, hum=lambda i: 40 + i % 7)
    frame(panel)
    png = panel.export(tmp_path / "plot.png")
    with Image.open(png) as image:
        assert image.format == "PNG"
        assert image.size[0] > 300 and image.size[1] > 200
        assert distinct_colours(image) > 20
    svg = panel.export(tmp_path / "plot.svg")
    tree = ET.parse(svg)
    assert tree.getroot().tag.endswith("svg")
    # The animated lines are in the file (savefig draws them): two <path> polylines at least.
    assert sum(1 for e in tree.iter() if e.tag.endswith("path")) > 10
    assert "Exported" in panel.status_var.get()
    # Live drawing goes on at the window's size after saving at another size.
    fill(store, 1, t0=5.0, temp=lambda i: 22.0, hum=lambda i: 42.0)
    assert frame(panel) in ("blit", "full")
    renderer = panel.canvas.get_renderer()
    assert panel.renderer._background.get_extents()[2:] == (renderer.width, renderer.height)


def test_record_writes_the_documented_csv_from_ingested_output(panel, tmp_path):
    path = tmp_path / "rec.csv"
    panel.ingest_chunk(b"temp:1.5,hum:40\r\n")  # before recording: not in the file
    assert pump(panel, lambda: panel.live_store.stats("temp").count == 1, 5)
    panel.start_recording(path)
    assert panel.record_button.cget("text") == "Stop recording"
    panel.ingest_chunk(b"temp:2.5,hum:41\r\ntemp:3.5\r\nhum:4")
    panel.ingest_chunk(b"2\r\nnoise without data\r\nTraceback (most recent call last):\r\n")
    assert pump(panel, lambda: panel.recording_rows == 3, 5), panel.recording_rows
    assert pump(panel, lambda: "3 rows" in panel.record_var.get(), 1)
    assert str(path) in panel.record_var.get()
    panel.stop_recording()
    assert "Recorded 3 rows" in panel.record_var.get()
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["time", "temp", "hum"]
    assert [r[1:] for r in rows[1:]] == [["2.5", "41.0"], ["3.5", ""], ["", "42.0"]]
    times = [float(r[0]) for r in rows[1:]]
    assert times[0] == 0.0 and times == sorted(times)


def test_opening_a_csv_shows_its_series_paused_and_back_to_live(panel, store, tmp_path):
    fill(store, 5, live=lambda i: i)
    path = tmp_path / "earlier.csv"
    path.write_text("time,temp,hum\n0.0,21.5,40\n0.5,21.7,\n1.0,,41\n1.5,22.0,42\n")
    panel.open_csv(path)
    frame(panel)
    assert panel.paused and panel.review_path == path
    assert panel.store.names == ["temp", "hum"]
    assert list(panel.renderer.lines["temp"].get_xdata()) == [0.0, 0.5, 1.5]
    assert list(panel.renderer.lines["hum"].get_ydata()) == [40.0, 41.0, 42.0]
    assert "earlier.csv" in panel.status_var.get()
    assert panel.live_button.winfo_ismapped()
    panel.live_button.invoke()
    frame(panel)
    assert panel.store is store and not panel.paused
    assert set(panel.renderer.lines) == {"live"}


def test_source_errors_show_in_the_status_line_not_as_tracebacks(panel, tmp_path):
    from companion_app.readings.sources import FileSource

    session = panel.attach_source(FileSource(tmp_path / "missing.txt"))
    assert pump(panel, lambda: "missing.txt" in panel.status_var.get(), 5), (
        panel.status_var.get(),
        session.errors,
    )
    assert "Traceback" not in panel.status_var.get()


def test_ingest_chunk_parses_off_the_tk_thread(panel):
    from companion_app.readings.session import PlotSession

    threads = []
    real = PlotSession._on_lines

    def spy(self, receive_time, parsed):
        threads.append(threading.current_thread())
        return real(self, receive_time, parsed)

    PlotSession._on_lines = spy
    try:
        panel.ingest_chunk("a=1 b=2\n")
        assert pump(panel, lambda: panel.live_store.names == ["a", "b"], 5)
    finally:
        PlotSession._on_lines = real
    assert threads and all(t is not threading.main_thread() for t in threads)


def test_a_frame_cut_short_by_closing_is_not_reported_but_a_failing_frame_is(panel, caplog):
    """Ctrl-C in `iotkit plot` can land inside a frame and delete Tk's image under it (seen in
    CI: "TclError: pyimage1" with a traceback on stderr). Once the window is closing, such a
    frame is dropped quietly; before that, a failing frame is still reported."""

    def broken_frame(force: bool = False) -> str:
        raise tk.TclError("pyimage1")

    panel.redraw = broken_frame
    panel.winfo_viewable = lambda: True
    panel._tick()
    status = panel.status_var.get()
    assert "drawing the plot: pyimage1" in status and "details are in the log" in status
    assert any(r.levelname == "ERROR" for r in caplog.records)
    caplog.clear()
    panel.status_var.set("")
    panel.stop_drawing()
    panel._tick()
    assert panel.status_var.get() == ""
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
