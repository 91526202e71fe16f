"""The class dashboard window under Xvfb: 12 boards on a real mosquitto, at a projector's
1024x768 and zoom 1.5, in a light and a dark theme; tiles legible, nothing cut off, and the
combined plot draws one line per board.

Screenshots: tests/artifacts/class-dashboard-light.png and class-dashboard-dark.png (the light
one also goes to docs/images with IOTKIT_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import tkinter as tk

import pytest
from dashboard_publishers import PlayedBoard
from gui_helpers import grab_window, pump, require_display
from layout_check import assert_fits
from mosquitto_helpers import mosquitto  # noqa: F401
from test_class_dashboard import CLASS, write_class_file
from test_plot_look import use_dark_theme
from waiting import wait_until

from companion_app.classroom.classfile import load_class_file
from companion_app.gui import look

SEATS = [f"seat-{i:02d}" for i in range(1, 12)]  # 11 in the class file...
STRANGER = "guest-laptop-of-room-12b"  # ...and one that is not (a long name: it wraps)


@pytest.fixture
def root():
    require_display()
    window = tk.Tk()
    window.geometry("1024x768+0+0")
    look.set_zoom(window, 1.5)
    yield window
    window.destroy()


@pytest.fixture
def classroom(mosquitto, tmp_path):  # noqa: F811
    """8 boards publishing, 2 switched off (offline), 1 never seen, 1 stranger publishing."""
    class_file = load_class_file(write_class_file(tmp_path, mosquitto.url, SEATS))
    boards = []
    for i, name in enumerate(SEATS[:10] + [STRANGER]):
        board = PlayedBoard(mosquitto.url, CLASS, name, interval_s=0.3, base=20.0 + i).start()
        boards.append(board)
    for board in boards:
        wait_until(board.connected.is_set, 15, f"{board.board} connected")
    for board in boards[8:10]:
        board.stop(clean=True)  # publishes its retained "offline"
    yield class_file, mosquitto
    for board in boards[:8] + boards[10:]:
        board.stop(clean=False)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_twelve_boards_fit_a_projector_and_say_their_state_in_words(root, classroom, theme):
    from companion_app.gui.class_dashboard import MARKS, NOT_IN_CLASS, ClassDashboard

    class_file, _broker = classroom
    if theme == "dark":
        use_dark_theme(root)
    panel = ClassDashboard(root, class_file)
    panel.pack(fill="both", expand=True)
    panel.start()
    try:
        tiles = panel.tiles

        def settled() -> bool:
            return (
                STRANGER in tiles
                and all(tiles[n].status == "online" and tiles[n].readings >= 3 for n in SEATS[:8])
                and all(tiles[n].status == "offline" for n in SEATS[8:10])
                and panel._legend_key[1:].__len__() >= 9
            )

        assert pump(root, settled, 20), {n: (t.status, t.readings) for n, t in tiles.items()}
        # The state is in words, not only in colour.
        assert tiles["seat-01"].mark_label.cget("text") == MARKS["online"]
        assert tiles["seat-09"].mark_label.cget("text") == MARKS["offline"]
        assert tiles["seat-11"].mark_label.cget("text") == MARKS["unseen"]
        assert tiles[STRANGER].tag_label.cget("text") == NOT_IN_CLASS
        assert tiles["seat-11"].tag_label.cget("text") == ""
        assert "s ago" in tiles["seat-01"].age_label.cget("text")
        assert tiles["seat-03"].values_label.cget("text").startswith("temp_c 22.")
        assert panel.count_var.get() == "8 of 11 boards online"
        # The combined plot: the first series, one line per board that sent it.
        assert panel.series_var.get() == "temp_c"
        assert set(panel._lines) >= set(SEATS[:8]) | {STRANGER}
        # Large enough for the back row: the names are larger than the UI's text.
        assert panel.fonts["name"].metrics("linespace") > 1.3 * look.ui_font_px(root)
        # Legible: state colours reach WCAG AA on the tile.
        pal = look.palette(panel)
        for name in ("seat-01", "seat-09"):
            colour = str(tiles[name].mark_label.cget("foreground"))
            assert look.contrast_ratio(panel, colour, pal.field) >= look.MIN_CONTRAST
        assert_fits(root, f"class dashboard at 1024x768 zoom 1.5 ({theme})")
        # Switching the series redraws every line with the other one.
        panel.series_var.set("humidity")
        panel._series_changed()
        assert pump(root, lambda: panel._legend_key[:1] == ("humidity",), 5)
        panel.series_var.set("temp_c")
        panel._series_changed()
        pump(root, lambda: panel._legend_key[:1] == ("temp_c",), 5)
        grab_window(root, f"class-dashboard-{theme}", also_docs=theme == "light")
        panel.scroller.see(tiles[STRANGER])  # the last row: switched off, unseen, stranger
        root.update()
        grab_window(root, f"class-dashboard-{theme}-last-row")
    finally:
        panel.stop()


def test_the_panel_blits_stays_on_the_tk_thread_and_shows_a_lost_broker(checked_root, classroom):
    from companion_app.gui.class_dashboard import ClassDashboard

    root, checker = checked_root
    class_file, broker = classroom
    panel = ClassDashboard(root, class_file)
    panel.pack(fill="both", expand=True)
    panel.start()
    try:
        assert pump(root, lambda: panel.blits >= 3, 20), (panel.full_draws, panel.blits)
        # Most frames only blit the lines; full draws are the first frames and axis steps.
        assert panel.full_draws <= panel.blits + 3
        broker.stop()
        assert pump(
            root,
            lambda: "127.0.0.1" in panel.state_var.get()
            and (
                "Lost the connection" in panel.state_var.get()
                or "unreachable" in panel.state_var.get()
            ),
            15,
        ), panel.state_var.get()
        before = panel.tiles["seat-01"].readings
        broker.restart()
        assert pump(root, lambda: panel.state_var.get().startswith("Connected"), 30)
        assert pump(root, lambda: panel.tiles["seat-01"].readings > before + 2, 20)
        assert pump(root, lambda: panel.tiles["seat-01"].status == "online", 10)
    finally:
        panel.stop()
    assert checker.offenders == []


def test_the_dashboard_command_opens_a_window_and_traces_what_it_drew(env, classroom, tmp_path):
    """`iotkit class dashboard` with a window (closed by --duration), as the benchmark runs it:
    every drawn reading is one trace line, drawn after it was received."""
    import os
    import subprocess
    import sys

    from test_class_dashboard import REPO

    require_display()
    class_file, _broker = classroom
    trace = tmp_path / "trace.tsv"
    result = subprocess.run(
        [sys.executable, "-m", "companion_app", "class", "dashboard", "--file",
         str(class_file.path), "--duration", "4"],  # fmt: skip
        env=dict(os.environ, IOTKIT_DASHBOARD_TRACE=str(trace)),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in trace.read_text(encoding="utf-8").splitlines()]
    boards = {board for board, _received, _drawn in rows}
    assert set(SEATS[:8]) | {STRANGER} <= boards
    delays = [float(drawn) - float(received) for _board, received, drawn in rows]
    assert all(0 <= d < 5 for d in delays), max(delays)


def test_ctrl_c_closes_the_dashboard_window_at_once_without_a_traceback(env, classroom, tmp_path):
    """A teacher ends `iotkit class dashboard` with Ctrl-C in its terminal while it draws: it
    ends within a second, exit 130, and prints no traceback (a KeyboardInterrupt raised inside
    a Tk callback is reported by Tk and the window would go on)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from test_class_dashboard import REPO

    require_display()
    class_file, _broker = classroom
    trace = tmp_path / "trace.tsv"
    err = tmp_path / "err.txt"
    with open(err, "w") as err_file:
        proc = subprocess.Popen(  # from Python, not a shell: a shell's background job ignores it
            [sys.executable, "-m", "companion_app", "class", "dashboard", "--file",
             str(class_file.path), "--duration", "60"],  # fmt: skip
            env=dict(os.environ, IOTKIT_DASHBOARD_TRACE=str(trace)),
            stdout=subprocess.DEVNULL,
            stderr=err_file,
            cwd=REPO,
        )
    try:
        wait_until(
            lambda: proc.poll() is None
            and trace.exists()
            and len(trace.read_text(encoding="utf-8").splitlines()) >= 20,
            30,
            "the dashboard to draw readings",
        )
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=10)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = err.read_text(encoding="utf-8")
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    assert code == 130, (code, text)
    assert took < 1.0, f"ended {took:.2f} s after Ctrl-C"
