"""The classic beginner tutorial runs unchanged on a virtual ESP32 (issue 13, item 5).

The program is the one the seed tutorials in ../shared/seeds/ teach ("From MicroPython to the
Moon", seed 000): a DHT22 on GPIO14 and a plain `socket` web server written for the ESP32 port,
`socket.getaddrinfo('0.0.0.0', 80)[0][-1]`, `bind`, `listen`, `accept`, `send`. A beginner
pastes it as it is; the test does the same, then fetches the page from the computer, as the
beginner's browser would, and finds the temperature the virtual sensor reports.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path

import pytest
from sim_helpers import RawConsole
from waiting import wait_until

from companion_app.simulator import VirtualBoard, micropython_available

pytestmark = pytest.mark.skipif(not micropython_available(), reason="needs the virtual board")

SEED = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "000_ac4bc1a4b48e3ac6.txt"

# The tutorial's DHT22 setup and its web server, as the seed has them. The page the seed was
# stored from lost its line breaks; they are put back at the statement boundaries, nothing else
# is changed (test_the_test_runs_the_seeds_text checks that where the seed is at hand).
TUTORIAL_SENSOR = """import machine
import dht
import time
sensor = dht.DHT22(machine.Pin(14))
"""
TUTORIAL_SERVER = '''import socket
html = """ <!DOCTYPE html><html><head><meta charset="utf-8" /><title>ESP Temp</title></head> \
<body><h1>Temperature: {temp}°C</h1><h2>Humidity: {hum}%</h2></body></html>"""
addr = socket.getaddrinfo('0.0.0.0', 80)[0][-1]
s = socket.socket()
s.bind(addr)
s.listen(1)
while True:
    cl, addr = s.accept()
    sensor.measure()
    response = html.format(temp=sensor.temperature(), hum=sensor.humidity())
    cl.send("HTTP/1.0 200 OK\\r\\nContent-type: text/html\\r\\n\\r\\n")
    cl.send(response)
    cl.close()
'''

DHT22_ON_GPIO14 = {
    "version": 1,
    "parts": [
        {"type": "wokwi-esp32-devkit-v1", "id": "esp", "attrs": {}},
        {"type": "wokwi-dht22", "id": "dht1", "attrs": {}},
    ],
    "connections": [
        ["dht1:SDA", "esp:D14", "green", []],
        ["dht1:VCC", "esp:3V3", "red", []],
        ["dht1:GND", "esp:GND.1", "black", []],
    ],
}

# What the virtual board prints when a program binds a port below 1024 (mpy/_simsocket.py).
SERVED_AT = re.compile(rb"virtual board: port 80 is (http://127\.0\.0\.1:\d+/) on this computer")


def fetch(url: str, deadline_s: float = 10.0) -> str:
    """The page at `url`, asked again until the board's server answers or the deadline passes."""

    def page() -> str | None:
        try:
            with urllib.request.urlopen(url, timeout=3) as resp:
                return resp.read().decode("utf-8")
        except OSError:
            return None  # not serving yet

    return wait_until(page, deadline_s, f"{url} to answer", interval=0.1)


def test_the_test_runs_the_seeds_text():
    if not SEED.exists():
        pytest.skip("the seed tutorials are not on this computer")
    flat = " ".join(SEED.read_text(encoding="utf-8").split())
    for block in (TUTORIAL_SENSOR, TUTORIAL_SERVER):
        assert " ".join(block.split()) in flat, block[:60]


def test_the_dht22_web_server_tutorial_serves_the_sensors_temperature(tmp_path):
    wiring = tmp_path / "diagram.json"
    wiring.write_text(json.dumps(DHT22_ON_GPIO14), encoding="utf-8")
    with VirtualBoard(wiring=wiring, flash_dir=tmp_path / "flash") as board:
        board.set_input("dht1", temperature=23.5, humidity=41.0)
        console = RawConsole(board.port)
        try:
            console.friendly()
            console.write(b"\x05")  # paste mode, as Thonny and a beginner's terminal paste
            console.read_until(b"=== ")
            program = (TUTORIAL_SENSOR + TUTORIAL_SERVER).encode()
            console.write(program.replace(b"\n", b"\r") + b"\x04")
            shown = console.read_until(b"on this computer", timeout=10)
            found = SERVED_AT.search(shown)
            assert found, shown
            url = found.group(1).decode()
            page = fetch(url)
            assert "<h1>Temperature: 23.5°C</h1>" in page, page
            assert "<h2>Humidity: 41.0%</h2>" in page, page
            # The room warms up: a later page shows the new reading (a DHT22 gives a fresh one
            # at most every 2 s, so ask until it does).
            board.set_input("dht1", temperature=30.0)
            deadline = time.monotonic() + 10
            while "Temperature: 30.0°C" not in page and time.monotonic() < deadline:
                page = fetch(url)
            assert "<h1>Temperature: 30.0°C</h1>" in page, page
            assert "Traceback" not in console.drain(0.1).decode("utf-8", "replace")
        finally:
            console.close()
