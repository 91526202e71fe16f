"""The device programs (device_scripts/) running in real MicroPython on the virtual board.

Each test copies the programs onto a fresh virtual ESP32, writes its /config.json, and either
soft-resets the board so boot.py and main.py run as after power-on (device_helpers.run_main),
or imports one module over the raw REPL, as a learner would at the prompt.

sensor.py would make a DHT22 wait 2 s between readings, as its datasheet asks. Tests set the
config key min_interval_s to read faster: the virtual DHT does not mind, and the suite stays
quick. Where the clamp itself is the point (the DHT11 test), they leave it out.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from device_helpers import install, run_main, start_main, wait_ready
from secret_helpers import WIFI_PASSWORD, assert_no_secret
from sim_helpers import RawConsole

from companion_app.device.link import Link
from companion_app.readings.parser import LineParser
from companion_app.simulator import VirtualBoard, micropython_available

pytestmark = pytest.mark.skipif(not micropython_available(), reason="needs the virtual board")

SSID = "iotkit-test"
PLOT_LINE = re.compile(r"^temp_c:[-\d.]+,humidity:[\d.]+(,pressure_hpa:[\d.]+)?$", re.M)
FAST = {"interval_s": 0.2, "min_interval_s": 0.2}  # see the module docstring


def config(**values: Any) -> dict[str, Any]:
    cfg = {"device_name": "iotkit-test", "wifi_ssid": SSID, "wifi_password": WIFI_PASSWORD}
    cfg.update(values)
    return cfg


def diagram(parts: list[dict[str, Any]], connections: list[list[Any]]) -> dict[str, Any]:
    board = {"type": "wokwi-esp32-devkit-v1", "id": "esp", "top": 0, "left": 0, "attrs": {}}
    return {
        "version": 1,
        "author": "iotkit tests",
        "editor": "wokwi",
        "parts": [board, *parts],
        "connections": connections,
        "dependencies": {},
    }


def dht11_diagram() -> dict[str, Any]:
    return diagram(
        [{"type": "wokwi-dht11", "id": "dht11", "top": 0, "left": 0, "attrs": {}}],
        [
            ["dht11:VCC", "esp:3V3", "red", []],
            ["dht11:GND", "esp:GND.1", "black", []],
            ["dht11:SDA", "esp:D14", "green", []],
        ],
    )


def bme280_diagram() -> dict[str, Any]:
    # The ESP32's default I2C pins: SDA GPIO21 (D21), SCL GPIO22 (D22), as in config.py.
    return diagram(
        [{"type": "iotkit-bme280", "id": "bme1", "top": 0, "left": 0, "attrs": {}}],
        [
            ["bme1:VCC", "esp:3V3", "red", []],
            ["bme1:GND", "esp:GND.1", "black", []],
            ["bme1:SDA", "esp:D21", "green", []],
            ["bme1:SCL", "esp:D22", "blue", []],
        ],
    )


@pytest.fixture
def make_board(tmp_path: Path) -> Iterator:
    """make_board(wiring=dict|None, board=id) -> a started VirtualBoard, stopped afterwards."""
    boards: list[VirtualBoard] = []

    def make(wiring: dict[str, Any] | None = None, board: str = "esp32-devkit-v1") -> VirtualBoard:
        wiring_file = None
        if wiring is not None:
            wiring_file = tmp_path / f"diagram{len(boards)}.json"
            wiring_file.write_text(json.dumps(wiring))
        vb = VirtualBoard(
            board=board,
            wiring=wiring_file,
            flash_dir=tmp_path / f"flash{len(boards)}",
            wifi=[{"ssid": SSID, "password": WIFI_PASSWORD}],
        )
        vb.start()
        boards.append(vb)
        wait_ready(vb.port)  # booted with nothing to run, before a test installs its programs
        return vb

    yield make
    for vb in boards:
        vb.stop()


def board_exec(vb: VirtualBoard, code: str, timeout: float = 20.0) -> str:
    """Run code in the raw REPL; return what it printed. Never put the password in `code`."""
    with Link(vb.port) as link:
        return link.exec(code, timeout=timeout).decode().replace("\r\n", "\n")


def plot_lines(text: str) -> list[str]:
    return [m.group(0) for m in PLOT_LINE.finditer(text)]


def times(pattern: str, n: int) -> str:
    """A regex for `pattern` seen n times, anywhere, other lines in between."""
    return "(?s)" + f"(?:{pattern}.*?)" * (n - 1) + pattern


READING_SERIES = {"temp_c", "humidity", "pressure_hpa", "button: pressed"}


def assert_only_readings_plot(text: str) -> None:
    """The status lines (wifi:, main:, ...) must not show up as bogus series in the plotter."""
    extra = set(parsed_series(text)) - READING_SERIES
    assert not extra, f"status lines the plotter would draw: {extra}"


def parsed_series(text: str) -> dict[str, list[float]]:
    """What the host plotter makes of the board's output."""
    series: dict[str, list[float]] = {}
    parser = LineParser()
    for line in parser.feed(text.encode()) + parser.flush():
        for name, value in line.values.items():
            series.setdefault(name, []).append(value)
    return series


# ---------------------------------------------------------------------------- sensor.py


def test_sensor_prints_plot_lines_that_follow_the_room_and_the_host_plotter_reads(make_board):
    vb = make_board()
    install(vb.flash_dir, ["sensor.py"], config(parts=["sensor"], **FAST))
    run = start_main(vb.port)
    try:
        run.read_for(10, until=times("temp_c:", 3))
        vb.set_input("dht1", temperature=30.0, humidity=55.0)
        run.read_for(10, until="temp_c:30.0,humidity:55.0")
    finally:
        out = run.stop()
    lines = plot_lines(out)
    assert len(lines) >= 4, out
    assert lines[-1] == "temp_c:30.0,humidity:55.0"
    before = [float(re.match(r"temp_c:([-\d.]+)", line).group(1)) for line in lines[:3]]
    assert all(15 < t < 29 for t in before), before  # the room before it was warmed
    series = parsed_series(out)
    assert set(series) == {"temp_c", "humidity"}, series  # the banner, traceback: no series
    assert series["temp_c"][-1] == 30.0 and series["humidity"][-1] == 55.0
    assert len(series["temp_c"]) == len(lines)


def test_sensor_on_an_unwired_pin_says_so_in_words_and_keeps_trying(make_board):
    vb = make_board()
    install(vb.flash_dir, ["sensor.py"], config(parts=["sensor"], sensor_pin=15, **FAST))
    err = (
        "sensor: DHT22 on GPIO15 did not answer (OSError: [Errno 110] ETIMEDOUT)"
        " - check the wiring"
    )
    out = run_main(vb.port, 10, until=times(re.escape(err), 3))
    assert out.count(err) >= 3, out  # the loop went on after the first failure
    assert not plot_lines(out)
    assert "Traceback" not in out.split("stopped by Ctrl-C")[0], out
    assert parsed_series(out) == {}  # an error line is never plotted


def test_sensor_read_from_the_repl_raises_oserror_for_a_missing_sensor(make_board):
    vb = make_board()
    install(vb.flash_dir, ["sensor.py"], config(sensor_pin=15))
    out = board_exec(
        vb,
        "import sensor, config\ncfg = config.load()\n"
        "try:\n    sensor.read(cfg)\nexcept OSError as e:\n    print('OSError', e.args[0])\n"
        "cfg['sensor_pin'] = 14\nprint(sorted(sensor.read(cfg)))\n",
    )
    assert out.split("\n")[:2] == ["OSError 110", "['humidity', 'temp_c']"], out


def test_dht11_reads_whole_degrees_and_waits_its_one_second_minimum(make_board):
    vb = make_board(dht11_diagram())
    vb.set_input("dht11", temperature=24.0, humidity=38.0)
    install(vb.flash_dir, ["sensor.py"], config(parts=["sensor"], sensor="dht11", interval_s=0.2))
    run = start_main(vb.port)
    try:
        run.read_for(10, until="temp_c:")
        first = time.monotonic()
        run.read_for(10, until=times("temp_c:", 3))
        two_intervals = time.monotonic() - first
    finally:
        out = run.stop()
    assert "sensor: warning - a DHT11 needs 1.0 s between readings, so interval_s 0.2 is" in out
    assert plot_lines(out)[:3] == ["temp_c:24.0,humidity:38.0"] * 3, out
    assert two_intervals > 1.7, two_intervals  # clamped to 1 s, not the 0.2 s asked for
    assert_only_readings_plot(out)  # the warning about the clamp is not plotted either


def test_bme280_on_the_default_i2c_pins_gives_plausible_then_exact_weather(make_board):
    vb = make_board(bme280_diagram())
    install(vb.flash_dir, ["sensor.py"], config(parts=["sensor"], sensor="bme280", **FAST))
    run = start_main(vb.port)
    try:
        run.read_for(10, until="pressure_hpa:")
        vb.set_input("bme1", temperature=18.0, humidity=60.0, pressure=990.0)
        run.read_for(10, until=r"temp_c:18\.\d,humidity:(59\.\d|60\.\d),pressure_hpa:99\d")
    finally:
        out = run.stop()
    lines = plot_lines(out)
    first = dict((k, float(v)) for k, v in (kv.split(":") for kv in lines[0].split(",")))
    assert 900 < first["pressure_hpa"] < 1100, first
    assert 10 < first["temp_c"] < 35 and 0 < first["humidity"] < 100, first
    last = dict((k, float(v)) for k, v in (kv.split(":") for kv in lines[-1].split(",")))
    # The datasheet's formulas turn the raw registers back into what the room was set to.
    assert last["temp_c"] == pytest.approx(18.0, abs=0.15), last
    assert last["humidity"] == pytest.approx(60.0, abs=0.5), last
    assert last["pressure_hpa"] == pytest.approx(990.0, abs=0.3), last
    assert set(parsed_series(out)) == {"temp_c", "humidity", "pressure_hpa"}


def test_bme280_missing_is_reported_with_its_pins(make_board):
    vb = make_board()  # default wiring: nothing on I2C
    install(vb.flash_dir, ["sensor.py"], config(parts=["sensor"], sensor="bme280", **FAST))
    out = run_main(vb.port, 10, until=times("did not answer", 2))
    assert (
        "sensor: BME280 on I2C (SDA GPIO21, SCL GPIO22) did not answer "
        "(OSError: [Errno 19] ENODEV) - check the wiring" in out
    ), out


# ---------------------------------------------------------------------------- wifi.py


def timed_connect(vb: VirtualBoard, timeout_s: float) -> tuple[str, float]:
    start = time.monotonic()
    out = board_exec(
        vb,
        "import wifi, config\n"
        f"print('result', repr(wifi.connect(config.load(), timeout_s={timeout_s})), wifi.mode)\n",
        timeout=timeout_s + 10,
    )
    return out, time.monotonic() - start


def test_wifi_connects_with_the_right_password_and_never_prints_it(make_board):
    vb = make_board()
    install(vb.flash_dir, ["wifi.py"], config())
    out, took = timed_connect(vb, 10)
    assert "result '127.0.0.1' sta" in out, out
    assert "wifi: connected to 'iotkit-test', IP 127.0.0.1" in out
    assert took < 5, took
    assert_no_secret(out)


def test_wifi_wrong_password_is_reported_in_words_within_the_timeout(make_board):
    vb = make_board()
    wrong = "not-the-Right-one-42"
    install(vb.flash_dir, ["wifi.py"], config(wifi_password=wrong))
    out, took = timed_connect(vb, 8)
    assert "result None None" in out, out
    assert "wifi: joining 'iotkit-test' failed: wrong password - check wifi_password" in out
    assert "trying again" not in out, out  # the same password again would not help
    assert_only_readings_plot(out)
    assert took < 8, took
    assert_no_secret(out)
    assert_no_secret(out, secret=wrong)


def test_wifi_unknown_network_is_retried_then_given_up_within_the_timeout(make_board):
    vb = make_board()
    install(vb.flash_dir, ["wifi.py"], config(wifi_ssid="no-such-network"))
    out, took = timed_connect(vb, 4)
    assert "result None None" in out, out
    assert "no network with that name is in range" in out, out
    assert "wifi: trying again to join 'no-such-network'" in out, out
    assert_only_readings_plot(out)
    assert took < 4 + 2.5, took  # the limit holds (plus the link's own start-up)
    assert_no_secret(out)


def test_main_with_a_wrong_password_falls_back_to_an_access_point(make_board):
    vb = make_board()
    install(vb.flash_dir, ["wifi.py"], config(parts=["wifi"], wifi_password="wrong-password"))
    out = run_main(vb.port, 20, until="wifi: started access point")
    assert "wrong password" in out, out
    assert "wifi: started access point 'iotkit-test' - join it and open http://" in out, out
    # main.py was stopped, but the board still holds the state it left.
    state = board_exec(
        vb,
        "import wifi, network\nap = network.WLAN(network.AP_IF)\n"
        "print(wifi.mode, wifi.ip, ap.active(), ap.config('essid'))\n",
    )
    assert state.strip() == "ap 127.0.0.1 True iotkit-test", state
    assert_no_secret(out, state)
    assert_no_secret(out, secret="wrong-password")
    assert_only_readings_plot(out)


def test_wifi_run_reconnects_after_the_link_drops(make_board):
    vb = make_board()
    install(vb.flash_dir, ["wifi.py"], config())
    out = board_exec(
        vb,
        # Shorter waits than on a board (checks every 5 s, first retry after 5 s), same logic.
        "import asyncio, network, wifi, config\n"
        "wifi.CHECK_EVERY_S = 0.2\nwifi.BACKOFF_FIRST_S = 0.3\n"
        "async def drop():\n"
        "    await asyncio.sleep(1)\n"
        "    network.WLAN(network.STA_IF).disconnect()  # the router went away for a moment\n"
        "async def go():\n"
        "    asyncio.create_task(drop())\n"
        "    try:\n"
        "        await asyncio.wait_for(wifi.run(config.load()), 4)\n"
        "    except asyncio.TimeoutError:\n"
        "        pass\n"
        "    print('state', wifi.mode, wifi.ip)\n"
        "asyncio.run(go())\n",
    )
    lines = out.splitlines()
    assert lines[-1] == "state sta 127.0.0.1", out
    lost = lines.index("wifi: lost the connection to 'iotkit-test'")
    assert lines.index("wifi: connected to 'iotkit-test', IP 127.0.0.1") < lost, out
    assert "wifi: connected to 'iotkit-test', IP 127.0.0.1" in lines[lost:], out
    assert "access point" not in out  # a short drop does not open the access point
    assert_no_secret(out)


def test_wifi_on_a_pico_without_radio_says_so(make_board):
    vb = make_board(board="pico")
    install(vb.flash_dir, ["wifi.py"], config())
    out, took = timed_connect(vb, 5)
    assert "wifi: this board has no Wi-Fi (there is no network module)" in out, out
    assert "result None None" in out
    assert took < 5


# ---------------------------------------------------------------------------- logger.py


def test_logger_rotates_keeps_log_keep_files_each_capped_with_its_header(make_board):
    vb = make_board()
    max_bytes, keep = 200, 2
    install(
        vb.flash_dir,
        ["sensor.py", "logger.py"],
        config(log_file="/data/log/r.csv", log_max_bytes=max_bytes, log_keep=keep),
    )
    out = board_exec(
        vb,
        "import logger, config\ncfg = config.load()\n"
        "ok = [logger.append(cfg, {'temp_c': 20 + i / 10, 'humidity': 40.0}, i) "
        "for i in range(60)]\nprint(all(ok))\n",
    )
    assert out.strip() == "True", out
    folder = vb.flash_dir / "data" / "log"
    assert sorted(os.listdir(folder)) == ["r.csv", "r.csv.1", "r.csv.2"]  # .3 was dropped
    header = "time_ms,temp_c,humidity"
    times = []
    for name in ("r.csv.2", "r.csv.1", "r.csv"):  # oldest first
        text = (folder / name).read_text()
        assert len(text.encode()) <= max_bytes, (name, len(text))
        lines = text.splitlines()
        assert lines[0] == header, (name, lines[:2])
        times += [int(line.split(",")[0]) for line in lines[1:]]
    assert times == list(range(times[0], 60)), times  # in order, nothing lost in between
    assert times[0] > 0  # the oldest rows went with the oldest file
    total = sum((folder / n).stat().st_size for n in os.listdir(folder))
    assert total <= (keep + 1) * max_bytes


def test_logger_on_a_full_flash_drops_the_oldest_log_and_carries_on(make_board):
    vb = make_board()
    install(vb.flash_dir, ["sensor.py", "logger.py"], config())
    folder = vb.flash_dir / "log"
    folder.mkdir()
    for i in (1, 2, 3):
        (folder / f"readings.csv.{i}").write_text("time_ms,temp_c,humidity\n1,2,3\n")
    # Every write to /dev/full fails with ENOSPC, exactly as a full flash does.
    (folder / "readings.csv").symlink_to("/dev/full")
    out = board_exec(
        vb,
        "import logger, config\ncfg = config.load()\n"
        "for i in range(4):\n    print(logger.append(cfg, {'temp_c': 21.0}, i))\n",
    )
    assert out.splitlines() == [
        "logger: the flash is full - deleted the oldest log /log/readings.csv.3",
        "False",
        "logger: the flash is full - deleted the oldest log /log/readings.csv.2",
        "False",
        "logger: the flash is full - deleted the oldest log /log/readings.csv.1",
        "False",
        "logger: the flash is full and there is no old log to delete - this reading is not saved",
        "False",
    ], out


def test_main_with_sensor_and_logger_writes_each_printed_reading_to_the_csv(make_board):
    vb = make_board(bme280_diagram())
    install(
        vb.flash_dir,
        ["sensor.py", "logger.py"],
        config(parts=["sensor", "logger"], sensor="bme280", **FAST),
    )
    out = run_main(vb.port, 15, until=times("temp_c:", 4))
    rows = (vb.flash_dir / "log" / "readings.csv").read_text().splitlines()
    assert rows[0] == "time_ms,temp_c,humidity,pressure_hpa"
    logged = ["temp_c:%s,humidity:%s,pressure_hpa:%s" % tuple(r.split(",")[1:]) for r in rows[1:]]
    printed = plot_lines(out)
    assert len(logged) >= 3 and set(logged) <= set(printed), (logged, printed)


# ---------------------------------------------------------------------------- button_led.py


def press(vb: VirtualBoard, bounces: int = 3, hold: float = 0.3) -> None:
    """Press and release BOOT, with contact bounce: a few 8-ms flickers at each edge."""
    flicker = 0.008
    levels = (
        [(True, flicker), (False, flicker)] * bounces
        + [(True, hold)]
        + [(False, flicker), (True, flicker)] * bounces
        + [(False, hold)]
    )
    for pressed, seconds in levels:
        vb.set_input("boot", pressed=pressed)
        time.sleep(seconds)  # on purpose: how long the finger (or a bouncing contact) stays


def test_button_toggles_the_led_once_per_bouncy_press(make_board):
    vb = make_board()
    install(vb.flash_dir, ["button_led.py"], config())
    # The virtual board reads the host's inputs every 50 ms; every 2 ms here, so the board sees
    # the 8-ms bounces a real pin would, and the debounce has something to do.
    code = (
        "import asyncio, machine, _simhw, button_led, config\n"
        "_simhw.INPUT_POLL_MS = 2\n"
        "async def go():\n"
        "    try:\n"
        "        await asyncio.wait_for(button_led.run(config.load()), 5.5)\n"
        "    except asyncio.TimeoutError:\n"
        "        pass\n"
        "asyncio.run(go())\n"
        "print('LED', machine.Pin(2, machine.Pin.OUT).value())\n"
    )
    # The raw REPL by hand, not board_exec: the presses start once the board says it listens.
    console = RawConsole(vb.port)
    try:
        console.write(b"\r\x03\x01")
        console.read_until(b"raw REPL; CTRL-B to exit\r\n>")
        console.write(code.encode() + b"\x04")
        console.read_until(b"button: press the button", timeout=20)
        for _ in range(3):
            press(vb)
        console.read_until(b"\x04>", timeout=20)
    finally:
        console.close()
    reply = console.seen.rsplit(b"raw REPL; CTRL-B to exit\r\n>OK", 1)[1]
    stdout, err, _ = reply.split(b"\x04", 2)
    assert err == b"", err.decode(errors="replace")
    out = stdout.decode().replace("\r\n", "\n")
    assert re.findall(r"button: pressed \(\d+\)", out) == [
        "button: pressed (1)",
        "button: pressed (2)",
        "button: pressed (3)",
    ], out
    assert out.rstrip().endswith("LED 1"), out  # three toggles from off: on


def test_button_led_under_main_switches_the_led_on_then_off(make_board):
    vb = make_board()
    install(vb.flash_dir, ["button_led.py"], config(parts=["button_led"]))
    run = start_main(vb.port)
    try:
        run.read_for(10, until="button: press the button on GPIO0")
        press(vb, bounces=0)
        run.read_for(5, until=r"button: pressed \(1\)")
    finally:
        out = run.stop()
    assert "button: pressed (1)" in out, out
    assert_only_readings_plot(out)
    assert (
        board_exec(vb, "import machine\nprint(machine.Pin(2, machine.Pin.OUT).value())\n").strip()
        == "1"
    )


# ---------------------------------------------------------------------------- main.py, boot.py


def test_main_runs_the_parts_together_and_a_broken_part_stops_only_itself(make_board):
    vb = make_board()
    install(
        vb.flash_dir,
        ["sensor.py", "logger.py"],
        config(parts=["broken", "sensor", "crashy", "ghost", "logger"], **FAST),
    )
    (vb.flash_dir / "broken.py").write_text("def broken(:\n    pass\n")
    (vb.flash_dir / "crashy.py").write_text(
        "import asyncio\n\nasync def run(cfg):\n    await asyncio.sleep(0.5)\n"
        "    raise ValueError('crashy gave up')\n"
    )
    out = run_main(vb.port, 15, until=r"(?s)crashy gave up.*?temp_c:.*?temp_c:.*?temp_c:")
    assert "main: starting broken, sensor, crashy, ghost, logger" in out
    assert (
        "main: starting 'broken' failed (SyntaxError: invalid syntax) - the other parts still run"
        in out
    ), out
    assert "main: starting 'ghost' failed (ImportError: no module named 'ghost')" in out, out
    assert "main: part 'crashy' stopped with an error:" in out, out
    after_crash = out.split("crashy gave up", 1)[1]
    assert len(plot_lines(after_crash)) >= 3, out  # the sensor kept going
    assert "logger: writing readings to /log/readings.csv" in out
    assert len((vb.flash_dir / "log" / "readings.csv").read_text().splitlines()) >= 4
    assert_only_readings_plot(out)


def test_ctrl_c_stops_main_and_gives_back_a_working_prompt(make_board):
    vb = make_board()
    install(vb.flash_dir, ["sensor.py", "wifi.py"], config(parts=["wifi", "sensor"], **FAST))
    run = start_main(vb.port)
    run.read_for(15, until=times("temp_c:", 2))
    out = run.stop(timeout=5, retry=False)  # exactly one Ctrl-C
    tail = out.split("main: stopped by Ctrl-C", 1)
    assert len(tail) == 2, out
    assert "KeyboardInterrupt" in tail[1] and tail[1].rstrip().endswith(">>>"), tail[1]
    assert not plot_lines(tail[1])  # nothing runs on after the prompt came back
    assert board_exec(vb, "print(6 * 7)\n").strip() == "42"
    assert_no_secret(out)
    assert_only_readings_plot(out)


def test_main_with_no_parts_says_what_to_add_and_returns_to_the_prompt(make_board):
    vb = make_board()
    install(vb.flash_dir, [], config())
    out = run_main(vb.port, 10)
    assert 'main: no parts in config.json - add some, e.g. "parts": ["wifi", "sensor"]' in out
    assert "KeyboardInterrupt" not in out  # it ended by itself, no Ctrl-C needed
    assert_only_readings_plot(out)


# A stand-in for ota.py (written by the OTA template): just the three functions main.py and
# boot.py call, printing when they are called and reading their answers from the flash.
OTA_STANDIN = """
import os
def _flag(name):
    try:
        os.stat(name)
        return True
    except OSError:
        return False
def on_boot():
    if _flag('/ota_broken'):
        raise RuntimeError('ota is broken')
    print('ota: on_boot')
def pending():
    return _flag('/ota_pending')
def mark_good():
    print('ota: mark_good')
    os.remove('/ota_pending')
async def run(cfg):
    pass
"""


def test_boot_calls_ota_on_boot_and_main_marks_the_update_good_after_a_while(make_board):
    vb = make_board()
    install(
        vb.flash_dir, ["sensor.py"], config(parts=["sensor", "ota"], ota_good_after_s=1.0, **FAST)
    )
    (vb.flash_dir / "ota.py").write_text(OTA_STANDIN)
    (vb.flash_dir / "ota_pending").write_text("")
    out = run_main(vb.port, 10, until="ota: mark_good")
    assert out.index("ota: on_boot") < out.index("main: starting"), out
    lines_before = plot_lines(out.split("ota: mark_good")[0])
    assert len(lines_before) >= 3, out  # marked good only after running a while
    assert not (vb.flash_dir / "ota_pending").exists()
    assert_only_readings_plot(out)


def test_a_broken_ota_never_stops_boot(make_board):
    vb = make_board()
    install(vb.flash_dir, ["sensor.py"], config(parts=["sensor"], **FAST))
    (vb.flash_dir / "ota.py").write_text(OTA_STANDIN)
    (vb.flash_dir / "ota_broken").write_text("")
    out = run_main(vb.port, 10, until="temp_c:")
    assert (
        "boot: ota.on_boot() failed: RuntimeError('ota is broken',)" in out
        or "boot: ota.on_boot() failed: RuntimeError('ota is broken')" in out
    ), out
    assert plot_lines(out), out


def test_a_part_crashing_while_an_update_is_on_trial_resets_the_board(make_board):
    vb = make_board()
    install(
        vb.flash_dir,
        ["sensor.py"],
        config(parts=["sensor", "crashy", "ota"], ota_good_after_s=1.0, **FAST),
    )
    (vb.flash_dir / "ota.py").write_text(OTA_STANDIN)
    (vb.flash_dir / "crashy.py").write_text(
        "async def run(cfg):\n    raise ValueError('new version is broken')\n"
    )
    (vb.flash_dir / "ota_pending").write_text("")
    run = start_main(vb.port)
    try:
        # After the reset, boot.py runs again: that is where ota.py would roll the update back.
        run.read_for(15, until="(?s)restarting in 2 s.*ota: on_boot")
    finally:
        (vb.flash_dir / "ota_pending").unlink()  # "rolled back": the next run is not on trial
        out = run.stop()
    assert "main: part crashy failed while an update was on trial - restarting in 2 s" in out
    assert "ota: mark_good" not in out
    assert out.count("ota: on_boot") >= 2, out
    assert_only_readings_plot(out)


def test_a_part_that_does_not_even_import_keeps_an_update_on_trial_from_being_kept(make_board):
    # An OTA update that ships a module with a syntax error must be rolled back, not marked good.
    vb = make_board()
    install(
        vb.flash_dir,
        ["sensor.py"],
        config(parts=["sensor", "broken", "ota"], ota_good_after_s=1.0, **FAST),
    )
    (vb.flash_dir / "ota.py").write_text(OTA_STANDIN)
    (vb.flash_dir / "broken.py").write_text("def run(cfg:\n")
    (vb.flash_dir / "ota_pending").write_text("")
    run = start_main(vb.port)
    try:
        run.read_for(15, until="(?s)restarting in 2 s.*ota: on_boot")
    finally:
        (vb.flash_dir / "ota_pending").unlink()
        out = run.stop()
    assert "main: part broken failed while an update was on trial - restarting in 2 s" in out, out
    assert "ota: mark_good" not in out
    assert out.count("ota: on_boot") >= 2, out
