"""Issue 11, items 8 and 9: plot input that went quadratic, and Ctrl-C that was ignored.

Item 8: at a wrong baud rate a board's output is binary garbage, and every garbled run before a
digit became a series of its own; the recorder rewrote the whole CSV for each. Now series names
must look like names, the number of series is capped with one warning, and header rewrites share
a budget (a side file holds rows while over it), so 2 MB of random bytes record in seconds.

Item 9: Ctrl-C during `iotkit plot --record` ends the command within a second and leaves a
complete CSV, with the real command in a real subprocess reading a pipe that keeps bringing
new series.
"""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from waiting import wait_until

from companion_app.cli import main
from companion_app.readings import recorder as recorder_module
from companion_app.readings.parser import LineParser, is_series_name
from companion_app.readings.recorder import CsvRecorder, pending_path, read_csv
from companion_app.readings.session import PlotSession, too_many_series_message
from companion_app.readings.sources import FileSource
from companion_app.readings.store import MAX_SERIES, SeriesStore

ROOT = Path(__file__).resolve().parent.parent
CTRL_C_DEADLINE_S = 1.0
# Ctrl-C and kill -9 as signals to another process: Windows has neither SIGINT for a child
# (only console control events) nor SIGKILL.
posix_signals = pytest.mark.skipif(os.name == "nt", reason="POSIX signals")


def random_bytes(n: int, seed: int = 8) -> bytes:
    return random.Random(seed).randbytes(n)


def parse_all(data: bytes) -> list:
    parser = LineParser()
    return parser.feed(data) + parser.flush()


def assert_complete_csv(path: Path) -> list[list[str]]:
    """The contract's shape: a `time` header naming every column, every row that wide."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows, f"{path} is empty"
    header = rows[0]
    assert header[0] == "time"
    assert len(set(header)) == len(header), "every column is named once"
    widths = {len(r) for r in rows[1:]}
    assert widths <= {len(header)}, f"rows of {widths} cells under a header of {len(header)}"
    for r in rows[1:]:
        float(r[0])  # every row has its time
    return rows


# --- item 8: names, cap, budget -----------------------------------------------------------------


@pytest.mark.parametrize(
    "label",
    [
        "temp", "temp_c", "acc.x", "speed, m/s", 'say "hi"', "Température", "温度", "value 1",
        "x" * 64,
    ],  # fmt: skip
)
def test_labels_that_look_like_names_name_series(label):
    assert is_series_name(label)


@pytest.mark.parametrize(
    "label", ["", "x" * 65, "tem\ufffdp", "a\x07b", "+-#", "line\nbreak", "\u2028"]
)
def test_garbled_empty_overlong_or_symbol_only_labels_do_not(label):
    assert not is_series_name(label)


def test_random_bytes_give_no_garbled_series_names():
    results = parse_all(random_bytes(200_000))
    names = {n for r in results for n in r.values}
    assert all(is_series_name(n) for n in names), sorted(names)[:5]
    # Before: one series per garbled run, thousands of them in 200 KB.
    assert len(names) < 20, sorted(names)


def test_a_glitched_byte_at_the_start_of_a_real_line_still_gives_its_readings():
    results = parse_all(b"\xff\xfetemp:22.5,hum:41\ntemp:22.6,hum:42\n")
    assert [r.values for r in results] == [
        {"temp": 22.5, "hum": 41.0},
        {"temp": 22.6, "hum": 42.0},
    ]


def test_json_keys_that_are_not_names_are_skipped():
    results = parse_all(b'{"temp": 1, "\\u0007": 2, "": 3, "ok\\ufffd": 4}\n')
    assert [r.values for r in results] == [{"temp": 1.0}]


def test_the_store_keeps_at_most_its_cap_of_series_and_counts_the_rest():
    store = SeriesStore(max_series=5)
    store.add_many([(float(i), {f"s{i}": float(i), "s0": 0.0}) for i in range(20)])
    assert store.names == ["s0", "s1", "s2", "s3", "s4"]
    assert store.dropped_names == 15
    assert store.stats("s0").count == 20
    assert not store.admit("new") and store.admit("s3")


def test_a_flood_of_new_names_is_capped_with_one_warning_and_the_csv_matches_the_plot(tmp_path):
    capture = tmp_path / "names.txt"
    capture.write_text("".join(f"n:{i},label{i}:{i}\n" for i in range(3 * MAX_SERIES)))
    store = SeriesStore()
    warnings: list[str] = []
    with CsvRecorder(tmp_path / "out.csv") as rec:
        session = PlotSession(FileSource(capture), store, rec, on_error=warnings.append)
        session.start()
        assert session.source.wait(30)
        session.stop()
        assert rec.columns == store.names
    assert len(store.names) == MAX_SERIES
    assert warnings == [too_many_series_message(MAX_SERIES)]
    rows = assert_complete_csv(tmp_path / "out.csv")
    assert len(rows) - 1 == 3 * MAX_SERIES, "rows still come, with the names that fit"
    assert rows[0][1:] == store.names


def test_new_series_rewrite_the_file_only_a_logarithmic_number_of_times(tmp_path, monkeypatch):
    monkeypatch.setattr(recorder_module, "REWRITE_FREE_BYTES", 0)
    path = tmp_path / "out.csv"
    count = 400
    rec = CsvRecorder(path, t0=0.0)
    for i in range(count):
        rec.write(float(i), {"n": float(i), f"s{i}": float(-i)})
        rec.write(i + 0.5, {"n": i + 0.5})
    rec.close()
    # One rewrite per new series was 400 whole-file copies; a shared budget keeps it geometric.
    assert rec.rewrites <= 40, rec.rewrites
    rows = assert_complete_csv(path)
    assert rows[0] == ["time", "n", *(f"s{i}" for i in range(count))]
    back = read_csv(path)
    assert len(back) == 2 * count
    assert back[2 * 123] == (123.0, {"n": 123.0, "s123": -123.0})
    assert not pending_path(path).exists(), "close() merged the side file and removed it"


def test_while_rows_wait_beside_it_the_csv_stays_complete_and_read_csv_sees_every_row(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(recorder_module, "REWRITE_FREE_BYTES", 0)
    path = tmp_path / "out.csv"
    rec = CsvRecorder(path, t0=0.0)
    written = []
    for i in range(200):
        values = {"n": float(i)} if i % 10 else {"n": float(i), f"s{i}": 1.0}
        rec.write(float(i), values)
        written.append((float(i), values))
    assert rec.waiting_rows_file == pending_path(path), "over budget: rows wait in the side file"
    # As after a crash: the main file is a complete CSV, and nothing written is lost.
    assert_complete_csv(path)
    assert read_csv(path) == written
    rec.close()
    assert read_csv(path) == written
    assert rec.waiting_rows_file is None


KILLED_CHILD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from companion_app.readings import recorder
    recorder.REWRITE_FREE_BYTES = 0  # always over budget: rows go through the side file
    rec = recorder.CsvRecorder({path!r})
    i = 0
    while True:
        values = {{"n": float(i)}}
        if i % 25 == 0:
            values["s%d" % (i // 25)] = float(i)
        rec.write(time.monotonic(), values)
        print(i, flush=True)
        i += 1
    """)


@posix_signals
def test_a_recorder_killed_while_rows_wait_beside_the_file_loses_no_reported_row(tmp_path):
    path = tmp_path / "rec.csv"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_CHILD.format(root=str(ROOT), path=str(path))],
        stdout=subprocess.PIPE,
        text=True,
    )
    reported: list[int] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while len(reported) < 3000 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            reported.append(int(line))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        rest, _ = proc.communicate(timeout=10)
    reported += [int(x) for x in rest.split()]
    assert proc.returncode == -signal.SIGKILL
    assert len(reported) >= 3000
    assert_complete_csv(path)
    written = {int(values["n"]) for _, values in read_csv(path)}
    missing = sorted(set(reported) - written)
    assert not missing, f"{len(missing)} reported rows missing, first {missing[:5]}"


def test_two_megabytes_of_random_bytes_record_in_seconds(tmp_path, capsys):
    capture = tmp_path / "garbage.bin"
    capture.write_bytes(random_bytes(2_000_000, seed=2))
    out = tmp_path / "out.csv"
    start = time.monotonic()
    assert main(["plot", "--from-file", str(capture), "--record", str(out), "--headless"]) == 0
    elapsed = time.monotonic() - start
    # The goal is under 3 s (benchmarks/plot_garbage_bench.py measures it); before the fix this
    # did not finish in 120 s. The margin is for a loaded test machine.
    assert elapsed < 15, f"{elapsed:.1f} s"
    rows = assert_complete_csv(out)
    assert all(is_series_name(name) for name in rows[0][1:])


def test_the_cli_says_once_that_names_are_being_ignored(tmp_path, capsys):
    capture = tmp_path / "names.txt"
    capture.write_text("".join(f"reading{i}:{i}\n" for i in range(5 * MAX_SERIES)))
    out = tmp_path / "out.csv"
    assert main(["plot", "--from-file", str(capture), "--record", str(out), "--headless"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [f"warning: {too_many_series_message(MAX_SERIES)}"]
    rows = assert_complete_csv(out)
    assert len(rows[0]) == 1 + MAX_SERIES and len(rows) == 1 + MAX_SERIES


def test_a_png_of_hundreds_of_series_stays_a_sane_size(tmp_path):
    from companion_app.gui.plot_widgets import MAX_DRAWN_SERIES, MAX_SUBPLOTS
    from companion_app.readings.cli import save_png

    store = SeriesStore()
    # Each series 1000x the one before: every one of them would get its own stacked plot.
    values = {f"s{i}": 10.0 ** (3 * (i % 100) - 150) for i in range(120)}
    store.add_many([(0.0, values), (1.0, values)])
    png = tmp_path / "many.png"
    save_png(store, png)
    from matplotlib.image import imread

    height = imread(png).shape[0]
    assert height <= 100 * (3.2 + 1.8 * (MAX_SUBPLOTS - 1)) + 1, "at most MAX_SUBPLOTS plots"
    assert MAX_DRAWN_SERIES > MAX_SUBPLOTS, "so the cap on plots is what this test checks"


def test_the_plot_renderer_draws_a_bounded_number_of_series_and_subplots():
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from companion_app.gui.plot_widgets import (
        MAX_DRAWN_SERIES,
        MAX_SUBPLOTS,
        PlotRenderer,
        ViewSettings,
    )

    store = SeriesStore()
    # 150 series over 40 orders of magnitude: "auto" would give each its own subplot.
    values = {f"s{i}": 10.0 ** (i % 40 - 20) for i in range(150)}
    store.add_many([(0.0, values), (1.0, {k: 2 * v for k, v in values.items()})])
    fig = Figure(figsize=(8, 4.5), dpi=100)
    renderer = PlotRenderer(fig, FigureCanvasAgg(fig))
    start = time.monotonic()
    assert renderer.update(store, ViewSettings(window_s=None)) == "full"
    assert time.monotonic() - start < 20
    assert len(renderer.lines) == MAX_DRAWN_SERIES
    assert renderer.undrawn == 150 - MAX_DRAWN_SERIES
    assert len(fig.axes) <= MAX_SUBPLOTS
    renderer.update(store, ViewSettings(window_s=None, layout="separate"))
    assert len(fig.axes) <= MAX_SUBPLOTS


# --- item 9: Ctrl-C -------------------------------------------------------------------------------


class PipeWriter(threading.Thread):
    """Keeps writing reading lines, each with a series never seen before, into a FIFO."""

    def __init__(self, fifo: Path) -> None:
        super().__init__(daemon=True)
        self.fifo = fifo
        self.stop = threading.Event()
        self.lines = 0

    def run(self) -> None:
        try:
            with open(self.fifo, "wb") as f:  # blocks until the plot opens the pipe
                i = 0
                while not self.stop.is_set():
                    f.write(flood_lines(i, 200).encode())
                    f.flush()
                    i += 200
                    self.lines = i
        except (BrokenPipeError, OSError):
            pass  # the plot ended


def data_rows(path: Path) -> int:
    try:
        with open(path, encoding="utf-8") as f:
            return sum(1 for _ in f) - 1
    except OSError:
        return 0


def flood_lines(start: int, count: int) -> str:
    return "".join(f"n:{j},new{j}:{j}.5\n" for j in range(start, start + count))


def run_and_interrupt(
    tmp_path: Path, kind: str, *extra: str
) -> tuple[subprocess.Popen, float, Path]:
    """Start the real `iotkit plot` on a pipe that keeps bringing new series, or on a capture
    of a million such lines (far longer to read than the test waits), and press Ctrl-C once
    rows are being recorded; returns the process, the seconds it took to end, the CSV."""
    source = tmp_path / "board.fifo"
    writer = None
    if kind == "fifo":
        os.mkfifo(source)
        writer = PipeWriter(source)
        writer.start()
    else:
        source = tmp_path / "flood.txt"
        source.write_text(flood_lines(0, 1_000_000))
    out = tmp_path / "out.csv"
    proc = subprocess.Popen(
        [sys.executable, "-m", "companion_app.cli", "plot", "--from-file", str(source)]
        + ["--record", str(out), *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: data_rows(out) > 2 * MAX_SERIES, 60, "rows in the recording")
        assert proc.poll() is None, proc.communicate()
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        finally:
            elapsed = time.monotonic() - start
    finally:
        if writer is not None:
            writer.stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc, elapsed, out


@posix_signals
@pytest.mark.parametrize("kind", ["fifo", "file"])
def test_ctrl_c_ends_a_headless_recording_within_a_second_leaving_a_complete_csv(kind, tmp_path):
    if kind == "fifo" and not hasattr(os, "mkfifo"):
        pytest.skip("needs named pipes")
    proc, elapsed, out = run_and_interrupt(tmp_path, kind, "--headless")
    stdout, stderr = proc.communicate()
    assert elapsed < CTRL_C_DEADLINE_S, f"exited {elapsed:.2f} s after Ctrl-C"
    assert proc.returncode == 130
    assert "Traceback" not in stderr
    rows = assert_complete_csv(out)
    assert len(rows) > 2 * MAX_SERIES and len(rows[0]) == 1 + MAX_SERIES
    assert not pending_path(out).exists()
    assert f"Recorded {len(rows) - 1} rows" in stdout


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display (run under xvfb-run)")
def test_ctrl_c_closes_the_plot_window_within_a_second_leaving_a_complete_csv(tmp_path):
    proc, elapsed, out = run_and_interrupt(tmp_path, "fifo")
    _, stderr = proc.communicate()
    assert elapsed < CTRL_C_DEADLINE_S, f"exited {elapsed:.2f} s after Ctrl-C"
    assert proc.returncode == 130
    assert "Traceback" not in stderr
    rows = assert_complete_csv(out)
    assert len(rows) > 2 * MAX_SERIES


# --- item 8: the Plot panel with a flood of names -------------------------------------------------


@pytest.fixture
def panel():
    import tkinter as tk

    from gui_helpers import require_display

    require_display()
    from companion_app.gui.plot_panel import PlotPanel

    root = tk.Tk()
    root.geometry("1000x700+0+0")
    panel = PlotPanel(root, None)
    panel.pack(fill="both", expand=True)
    yield panel
    panel.close()
    root.destroy()


def test_the_panel_stays_usable_when_the_board_output_is_a_flood_of_names(panel):
    from gui_helpers import distinct_colours, grab_window, pump

    from companion_app.gui.plot_panel import MAX_SERIES_BUTTONS
    from companion_app.gui.plot_widgets import MAX_DRAWN_SERIES

    root = panel.winfo_toplevel()
    panel.ingest_chunk(random_bytes(50_000, seed=3))  # a wrong baud rate first
    panel.ingest_chunk(flood_lines(0, 3 * MAX_SERIES))
    message = too_many_series_message(MAX_SERIES)
    assert pump(root, lambda: panel.status_var.get() == message, 20), panel.status_var.get()
    assert pump(root, lambda: panel.renderer.undrawn > 0, 10)
    store = panel.live_store
    assert len(store.names) == MAX_SERIES
    assert all(is_series_name(n) for n in store.names)
    assert len(panel.renderer.lines) == MAX_DRAWN_SERIES
    buttons = [w for w in panel.series_row.winfo_children() if w.winfo_class() == "Checkbutton"]
    assert len(buttons) == MAX_SERIES_BUTTONS
    assert panel.more_label.cget("text") == f"+{MAX_SERIES - MAX_SERIES_BUTTONS} more"
    assert f"drawing the first {MAX_DRAWN_SERIES}" in panel.counts_var.get()
    start = time.monotonic()
    assert panel.redraw(force=True) == "full"
    assert time.monotonic() - start < 5, "a full frame stays a frame, not a freeze"
    image = grab_window(root, "plot-flood-of-names")
    assert distinct_colours(image) > 50


def test_opening_a_recording_with_thousands_of_columns_says_what_was_left_out(panel, tmp_path):
    path = tmp_path / "old-garbage.csv"
    names = [f"g{i}" for i in range(1000)]
    path.write_text("time," + ",".join(names) + "\n0.0," + ",".join(["1.5"] * 1000) + "\n")
    panel.open_csv(path)
    assert len(panel.store.names) == MAX_SERIES
    assert f"more series than the {MAX_SERIES}" in panel.status_var.get()
