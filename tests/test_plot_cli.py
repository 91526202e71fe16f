"""`iotkit plot` end to end: every capture format to the contract CSV, MQTT through a real
broker, HTTP polling, the virtual board's serial output, PNG export and usage errors."""

from __future__ import annotations

import json
import math
import os
import threading
from pathlib import Path

import pytest
from test_sources import LOOP, _Device, http_device, mqtt_broker, publisher, wait_for_subscription

from companion_app.cli import main
from companion_app.readings.parser import LineParser
from companion_app.readings.recorder import read_csv

CAPTURES = Path(__file__).parent / "data" / "captures"


def plot(*args: str) -> int:
    return main(["plot", *map(str, args)])


# One small capture per format the parser accepts, with the exact CSV it must give.
FORMATS = {
    "arduino_comma": ("temp:22.5,hum:40\r\ntemp:22.6,hum:41\r\n", ["temp", "hum"]),
    "arduino_space": ("temp:22.5 hum:40\ntemp:22.6 hum:41\n", ["temp", "hum"]),
    "arduino_tab": ("temp:22.5\thum:40\ntemp:22.6\thum:41\n", ["temp", "hum"]),
    "name_value": ("temp=22.5, hum=40\ntemp=22.6, hum=41\n", ["temp", "hum"]),
    "bare_numbers": ("22.5,40\n22.6 41\n", ["value 1", "value 2"]),
    "free_text": ("Temp: 22.5 Humidity: 40\nTemp: 22.6 Humidity: 41\n", ["Temp", "Humidity"]),
    "mu_tuple": ("(22.5, 40)\n(22.6, 41)\n", ["value 1", "value 2"]),
    "json": ('{"temp": 22.5, "hum": 40}\n{"temp": 22.6, "hum": 41}\n', ["temp", "hum"]),
    "csv_header": ("temp,hum\n22.5,40\n22.6,41\n", ["temp", "hum"]),
}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_headless_replay_writes_the_contract_csv_for_every_format(fmt, tmp_path, capsys):
    text, names = FORMATS[fmt]
    capture = tmp_path / f"{fmt}.txt"
    capture.write_text(text)
    out = tmp_path / "out.csv"
    assert plot("--from-file", capture, "--record", out, "--headless") == 0
    a, b = names
    assert out.read_text() == f"time,{a},{b}\n0.0,22.5,40.0\n1.0,22.6,41.0\n"
    summary = capsys.readouterr().out
    assert f"{a}: 2 values" in summary and "Recorded 2 rows" in summary


def test_separate_lines_give_two_series_with_empty_cells(tmp_path):
    capture = tmp_path / "seed.txt"
    capture.write_text("Temp: 22.5\nHumidity: 41.0\nTemp: 22.6\nHumidity: 1e-3\n")
    out = tmp_path / "out.csv"
    assert plot("--from-file", capture, "--record", out, "--headless") == 0
    assert out.read_text() == ("time,Temp,Humidity\n0.0,22.5,\n1.0,,41.0\n2.0,22.6,\n3.0,,0.001\n")


def test_nan_and_inf_readings_are_recorded_as_nan_and_inf(tmp_path):
    capture = tmp_path / "c.txt"
    capture.write_text("a:1.5,b:nan\na:inf,b:-inf\n")
    out = tmp_path / "out.csv"
    assert plot("--from-file", capture, "--record", out, "--headless") == 0
    assert out.read_text() == "time,a,b\n0.0,1.5,nan\n1.0,inf,-inf\n"


def test_device_time_column_becomes_the_time_axis(tmp_path):
    capture = tmp_path / "c.txt"
    capture.write_text('{"t": 100.0, "v": 1}\n{"t": 100.25, "v": 2}\n{"t": 101.5, "v": 3}\n')
    out = tmp_path / "out.csv"
    assert plot("--from-file", capture, "--record", out, "--headless") == 0
    assert out.read_text() == "time,v\n0.0,1.0\n0.25,2.0\n1.5,3.0\n"


def test_a_replayed_recording_gives_the_same_recording(tmp_path):
    first = tmp_path / "first.csv"
    first.write_text("time,a,b\n0.0,1.0,\n0.5,,2.0\n1.25,3.0,4.0\n")
    again = tmp_path / "again.csv"
    assert plot("--from-file", first, "--record", again, "--headless") == 0
    assert again.read_text() == first.read_text()


@pytest.mark.parametrize("capture", sorted(CAPTURES.glob("*.txt")), ids=lambda p: p.name)
def test_real_captures_replay_to_one_row_per_parsed_line(capture, tmp_path):
    out = tmp_path / "out.csv"
    assert plot("--from-file", capture, "--record", out, "--headless") == 0
    parser = LineParser()
    data = capture.read_bytes()
    expected = [p.values for p in parser.feed(data) + parser.flush()]
    rows = read_csv(out)
    assert _same_with_nan(rows, expected), (rows[:3], expected[:3])
    lines = out.read_text().splitlines()
    header = lines[0].split(",")
    assert header[0] == "time"
    assert all(len(line.split(",")) == len(header) for line in lines[1:])
    times = [t for t, _ in rows]
    assert times == sorted(times)


def _same_with_nan(rows, expected) -> bool:
    if len(rows) != len(expected):
        return False
    for (_, got), want in zip(rows, expected):
        if got.keys() != want.keys():
            return False
        for k in got:
            if not (got[k] == want[k] or (math.isnan(got[k]) and math.isnan(want[k]))):
                return False
    return True


def test_headless_png_has_content_and_is_kept_for_review(tmp_path, artifacts, capsys):
    capture = tmp_path / "c.txt"
    capture.write_text(
        "".join(
            f"temp:{20 + math.sin(i / 5):.3f},hum:{45 + 5 * math.cos(i / 7):.3f}\n"
            for i in range(200)
        )
    )
    png = artifacts / "plot_cli_headless.png"
    assert plot("--from-file", capture, "--png", png, "--headless") == 0
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000, "a plot with axes, legend and two curves, not an empty image"
    assert f"Saved the plot to {png}" in capsys.readouterr().out


# ---------------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "error: plot needs a source"),
        (
            ["--port", "/dev/x", "--http", "http://127.0.0.1/"],
            "error: plot reads one source at a time",
        ),
        (["--mqtt", "mqtt://127.0.0.1:1"], "error: --mqtt needs --topic"),
        (["--topic", "t", "--from-file", "x"], "error: --topic goes with --mqtt"),
        (
            ["--http", "http://127.0.0.1:9/", "--headless"],
            "error: --headless with a live source needs --duration",
        ),
        (
            ["--from-file", "/no/such/capture.txt", "--headless"],
            "error: The file /no/such/capture.txt does not exist.",
        ),
        (
            ["--mqtt", "ftp://x", "--topic", "t", "--headless", "--duration", "1"],
            "error: The MQTT address ftp://x should start with mqtt://",
        ),
    ],
)
def test_usage_errors_exit_2_with_one_error_line(args, message, capsys):
    assert plot(*args) == 2
    err = capsys.readouterr().err
    assert err.startswith(message), err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_missing_serial_port_fails_with_the_link_message(capsys):
    assert plot("--port", "/dev/no-such-board", "--headless", "--duration", "2") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Serial port /dev/no-such-board does not exist")
    assert err.count("\n") == 1


def test_an_mqtt_broker_that_never_answers_is_an_error_after_the_duration(capsys):
    from test_sources import free_port

    port = free_port()
    assert (
        plot("--mqtt", f"mqtt://127.0.0.1:{port}", "--topic", "t", "--headless", "--duration", "1")
        == 1
    )
    err = capsys.readouterr().err
    assert err.startswith(f"error: Cannot reach the MQTT broker at 127.0.0.1:{port}")


# ---------------------------------------------------------------------- live sources


def test_mqtt_hundred_readings_through_a_real_broker_are_all_recorded(tmp_path):
    out = tmp_path / "mqtt.csv"
    topic = "iotkit/test/readings"
    with mqtt_broker() as (port, broker):
        result: dict[str, int] = {}
        cli = threading.Thread(
            target=lambda: result.setdefault(
                "code",
                plot(
                    "--mqtt",
                    f"mqtt://127.0.0.1:{port}",
                    "--topic",
                    topic,
                    "--record",
                    out,
                    "--headless",
                    "--duration",
                    "4",
                ),
            )
        )
        cli.start()
        wait_for_subscription(broker, topic)
        pub = publisher(port)
        for i in range(100):
            payload = (
                json.dumps({"temp": 20 + i / 10, "hum": 40 + i})
                if i % 2
                else f"temp:{20 + i / 10},hum:{40 + i}"
            )
            pub.publish(topic, payload, qos=1).wait_for_publish(5)
        pub.loop_stop()
        pub.disconnect()
        cli.join(30)
    assert result.get("code") == 0
    rows = read_csv(out)
    assert len(rows) == 100
    assert [values["hum"] for _, values in rows] == [40.0 + i for i in range(100)]
    assert out.read_text().splitlines()[0] == "time,temp,hum"


def test_http_polling_records_the_changing_readings(tmp_path):
    device = _Device()
    out = tmp_path / "http.csv"
    with http_device(device) as url:
        code = plot(
            "--http", url, "--interval", "0.1", "--record", out, "--headless", "--duration", "1.05"
        )
    assert code == 0
    rows = read_csv(out)
    assert 5 <= len(rows) <= 12
    temps = [values["temp"] for _, values in rows]
    assert temps == [21.0 + i for i in range(len(rows))]
    times = [t for t, _ in rows]
    assert times[0] == 0.0
    assert all(b - a > 0.05 for a, b in zip(times, times[1:])), "host receive times, one per poll"


def test_the_virtual_boards_serial_output_is_recorded(vboard, console, tmp_path):
    vboard.set_input("dht1", temperature=25.5, humidity=60.0)
    console.write(LOOP.encode() + b"\r")
    console.read_until(b"temp:25.5,hum:60.0", timeout=10)
    console.close()
    out = tmp_path / "serial.csv"
    assert plot("--port", vboard.port, "--record", out, "--headless", "--duration", "1.5") == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "time,temp,hum"
    assert len(lines) > 5
    assert all(line.endswith(",25.5,60.0") for line in lines[1:])


@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display (run under xvfb-run)")
def test_window_mode_shows_the_plot_panel_and_still_records(tmp_path):
    capture = tmp_path / "c.txt"
    capture.write_text("temp:1,hum:2\ntemp:2,hum:3\n")
    out = tmp_path / "w.csv"
    png = tmp_path / "w.png"
    assert plot("--from-file", capture, "--record", out, "--png", png, "--duration", "1.5") == 0
    assert out.read_text() == "time,temp,hum\n0.0,1.0,2.0\n1.0,2.0,3.0\n"
    assert png.read_bytes()[:4] == b"\x89PNG"
