"""CsvRecorder writes the exact wide CSV of CONTRACTS.md and loses no row when killed."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from companion_app.readings.recorder import CsvRecorder, RecordingError, read_csv

ROOT = Path(__file__).resolve().parent.parent


def test_wide_csv_has_time_then_series_in_order_of_first_appearance(tmp_path):
    path = tmp_path / "out.csv"
    with CsvRecorder(path, t0=100.0) as rec:
        rec.write(100.0, {"temp": 22.5, "hum": 40.0})
        rec.write(100.5, {"hum": 41.0})
        rec.write(101.25, {"temp": 1e-3})
    assert path.read_text() == ("time,temp,hum\n" "0.0,22.5,40.0\n" "0.5,,41.0\n" "1.25,0.001,\n")


def test_first_row_is_time_zero_when_no_origin_is_given(tmp_path):
    path = tmp_path / "out.csv"
    with CsvRecorder(path) as rec:
        rec.write(12.0, {"a": 1.0})
        rec.write(12.1, {"a": 2.0})
    assert path.read_text().splitlines() == ["time,a", "0.0,1.0", "0.1,2.0"]


def test_nan_and_infinities_are_written_as_nan_inf_and_minus_inf(tmp_path):
    path = tmp_path / "out.csv"
    with CsvRecorder(path, t0=0.0) as rec:
        rec.write(0.0, {"x": math.nan, "y": math.inf, "z": -math.inf})
        rec.write(1.0, {"x": -2.5e-7, "y": 12345678.9, "z": 0.1 + 0.2})
    lines = path.read_text().splitlines()
    assert lines == [
        "time,x,y,z",
        "0.0,nan,inf,-inf",
        "1.0,-2.5e-07,12345678.9,0.30000000000000004",
    ]
    rows = read_csv(path)
    assert math.isnan(rows[0][1]["x"]) and rows[0][1]["y"] == math.inf
    assert rows[0][1]["z"] == -math.inf
    assert rows[1][1]["z"] == 0.1 + 0.2, "values read back bit for bit"


def test_a_series_appearing_mid_run_widens_the_header_and_pads_earlier_rows(tmp_path):
    path = tmp_path / "out.csv"
    rec = CsvRecorder(path, t0=0.0)
    rec.write(0.0, {"a": 1.0})
    rec.write(1.0, {"a": 2.0})
    # The file is complete on disk before the new series comes.
    assert path.read_text() == "time,a\n0.0,1.0\n1.0,2.0\n"
    rec.write(2.0, {"b": 3.0, "a": 4.0})
    assert path.read_text() == "time,a,b\n0.0,1.0,\n1.0,2.0,\n2.0,4.0,3.0\n"
    rec.write(3.0, {"c": 5.0})
    rec.close()
    assert path.read_text() == ("time,a,b,c\n0.0,1.0,,\n1.0,2.0,,\n2.0,4.0,3.0,\n3.0,,,5.0\n")
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "out.csv"]
    assert leftovers == [], "the temporary file was renamed over the recording"


def test_names_with_commas_or_quotes_are_quoted_in_the_header(tmp_path):
    path = tmp_path / "out.csv"
    with CsvRecorder(path, t0=0.0) as rec:
        rec.write(0.0, {"speed, m/s": 1.0, 'say "hi"': 2.0})
    assert path.read_text().splitlines()[0] == 'time,"speed, m/s","say ""hi"""'
    assert read_csv(path) == [(0.0, {"speed, m/s": 1.0, 'say "hi"': 2.0})]


def test_rows_without_values_are_not_written(tmp_path):
    path = tmp_path / "out.csv"
    with CsvRecorder(path, t0=0.0) as rec:
        rec.write(0.0, {})
        rec.write(1.0, {"a": 1.0})
    assert path.read_text() == "time,a\n1.0,1.0\n"
    assert rec.rows_written == 1


def test_every_row_is_on_disk_as_soon_as_write_returns(tmp_path):
    path = tmp_path / "out.csv"
    rec = CsvRecorder(path)
    for i in range(5):
        rec.write(float(i), {"n": float(i)})
        # Another reader (as after a crash) sees the row already.
        assert path.read_text().splitlines()[-1] == f"{float(i)},{float(i)}"
    rec.close()


def test_batched_flushing_writes_everything_on_close(tmp_path):
    path = tmp_path / "out.csv"
    rec = CsvRecorder(path, flush_interval_s=10.0)
    for i in range(1000):
        rec.write(i * 0.01, {"n": float(i)})
    rec.close()
    rows = read_csv(path)
    assert [r[1]["n"] for r in rows] == [float(i) for i in range(1000)]


def test_writing_after_close_is_an_explained_error(tmp_path):
    rec = CsvRecorder(tmp_path / "out.csv")
    rec.close()
    with pytest.raises(RecordingError, match="already closed"):
        rec.write(0.0, {"a": 1.0})


def test_an_unwritable_place_is_an_explained_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RecordingError, match="Cannot write the recording"):
        CsvRecorder(blocker / "out.csv")


def test_read_csv_round_trips_and_skips_empty_cells(tmp_path):
    path = tmp_path / "out.csv"
    with CsvRecorder(path, t0=0.0) as rec:
        rec.write(0.0, {"a": 1.0})
        rec.write(0.25, {"b": 2.0})
        rec.write(0.5, {"a": 3.0, "b": 4.0})
    assert read_csv(path) == [
        (0.0, {"a": 1.0}),
        (0.25, {"b": 2.0}),
        (0.5, {"a": 3.0, "b": 4.0}),
    ]


def test_read_csv_tolerates_a_torn_last_line_and_rejects_non_recordings(tmp_path):
    path = tmp_path / "torn.csv"
    path.write_text("time,a,b\n0.0,1.0,2.0\n1.0,3.")
    assert read_csv(path) == [(0.0, {"a": 1.0, "b": 2.0}), (1.0, {"a": 3.0})]
    bad = tmp_path / "bad.csv"
    bad.write_text("")
    with pytest.raises(RecordingError, match="not a plot recording"):
        read_csv(bad)
    with pytest.raises(RecordingError, match="does not exist"):
        read_csv(tmp_path / "missing.csv")


CHILD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from companion_app.readings.recorder import CsvRecorder
    rec = CsvRecorder({path!r})
    i = 0
    while True:
        values = {{"n": float(i)}}
        # New series keep appearing, so the kill can land during a header rewrite too.
        if i % 50 == 0:
            values["s%d" % (i // 50)] = float(i)
        rec.write(time.monotonic(), values)
        print(i, flush=True)
        i += 1
    """)


def test_no_reported_row_is_lost_when_the_recording_process_is_killed(tmp_path):
    path = tmp_path / "rec.csv"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(root=str(ROOT), path=str(path))],
        stdout=subprocess.PIPE,
        text=True,
    )
    reported: list[int] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while len(reported) < 2000 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            reported.append(int(line))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        # Read what it printed before it died: those rows were reported written too.
        rest, _ = proc.communicate(timeout=10)
    reported += [int(x) for x in rest.split()]
    assert proc.returncode == -signal.SIGKILL
    assert len(reported) >= 2000
    rows = read_csv(path)
    written = {int(values["n"]) for _, values in rows}
    missing = sorted(set(reported) - written)
    assert not missing, f"{len(missing)} reported rows missing, first {missing[:5]}"
    header = path.read_text().splitlines()[0].split(",")
    # Every column named in the header; every series that appeared before the last row is there.
    last = max(written)
    assert header[:2] == ["time", "n"]
    assert len(header) >= 2 + last // 50 + 1
