"""The web dashboard (device_scripts/web.py) on a virtual board, seen from the host.

One board runs main.py with the wifi, sensor and web parts for the whole module; the tests talk
to its Microdot server over real sockets, as a browser on the same network would.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from device_helpers import start_main, wait_ready
from secret_helpers import WIFI_PASSWORD, assert_no_secret
from waiting import wait_until

from companion_app.simulator import VirtualBoard

ROOT = Path(__file__).resolve().parent.parent
DEVICE_SCRIPTS = ROOT / "device_scripts"
DEVICE_NAME = '<script>alert(1)</script> & "lab\'s"'
SSID = "iotkit-lab"

# Stand-ins, written only into the test's flash folder, for programs another part of the
# project provides (device_scripts/sensor.py, wifi.py, main.py, boot.py) while they are missing.
STANDINS = {
    "sensor.py": """\
import asyncio, time, dht, machine
latest = {}
latest_time = None
error = None
def read(cfg):
    global latest, latest_time, error
    d = dht.DHT22(machine.Pin(cfg["sensor_pin"]))
    try:
        d.measure()
    except OSError as e:
        error = "no answer from the DHT22: %s" % e
        return latest
    latest = {"temp_c": d.temperature(), "humidity": d.humidity()}
    latest_time = time.ticks_ms()
    error = None
    return latest
async def run(cfg):
    while True:
        read(cfg)
        if error is None:
            print("temp_c:%s,humidity:%s" % (latest["temp_c"], latest["humidity"]))
        await asyncio.sleep(cfg["interval_s"])
""",
    "wifi.py": """\
import asyncio, time, network
ip = None
mode = None
def connect(cfg):
    global ip, mode
    w = network.WLAN(network.STA_IF)
    w.active(True)
    w.connect(cfg["wifi_ssid"], cfg["wifi_password"])
    for _ in range(100):
        if w.isconnected():
            ip, mode = w.ifconfig()[0], "station"
            return ip
        time.sleep_ms(100)
    return None
async def run(cfg):
    connect(cfg)
    while True:
        await asyncio.sleep(5)
""",
    "main.py": """\
import asyncio, config
cfg = config.load()
async def _main():
    await asyncio.gather(*[__import__(p).run(cfg) for p in cfg["parts"]])
asyncio.run(_main())
""",
    "boot.py": "",
}


def install_programs(flash: Path, names: list[str], config: dict) -> None:
    """Copy config.py, boot.py, main.py, `names` and Microdot into the flash; write config.json."""
    import microdot

    flash.mkdir(parents=True, exist_ok=True)
    for name in ["config.py", "boot.py", "main.py", *names]:
        src = DEVICE_SCRIPTS / name
        if src.exists():
            shutil.copyfile(src, flash / name)
        else:
            (flash / name).write_text(STANDINS[name])
    lib = flash / "lib" / "microdot"
    lib.mkdir(parents=True, exist_ok=True)
    for name in ("__init__.py", "microdot.py", "helpers.py"):
        shutil.copyfile(Path(microdot.__file__).parent / name, lib / name)
    (flash / "config.json").write_text(json.dumps(config))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dashboard:
    """The running board and how to reach its web server."""

    def __init__(self, board: VirtualBoard, run, port: int) -> None:
        self.board, self.run, self.port = board, run, port
        self.url = f"http://127.0.0.1:{port}"

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, dict, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def raw(self, data: bytes, timeout: float = 5.0, close_write: bool = False) -> bytes:
        """Send bytes as they are (no client-side URL clean-up); return the whole answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            try:
                s.sendall(data)
                if close_write:
                    s.shutdown(socket.SHUT_WR)
            except OSError:  # EPIPE, ECONNRESET, ENOTCONN: the board answered and hung up
                pass  # before reading everything, as it does with a refused request
            answer = b""
            try:
                while chunk := s.recv(65536):
                    answer += chunk
            except ConnectionResetError:
                pass
            return answer

    def status_or_none(self, path: str) -> int | None:
        """The status, or None when the connection was refused or reset."""
        try:
            return self.get(path)[0]
        except OSError:
            return None

    def readings(self) -> dict:
        status, headers, body = self.get("/api/readings")
        assert status == 200, body
        return json.loads(body)

    def output(self) -> str:
        return self.run.read_for(0.2)


def status_of(answer: bytes) -> int | None:
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", answer)
    return int(m.group(1)) if m else None


# The test boards' copy of web.py drops a silent client after this many seconds instead of
# REQUEST_TIMEOUT_S (10), so the test of that behaviour does not wait 10 s.
TEST_REQUEST_TIMEOUT_S = 2


def set_constant(path: Path, name: str, value: object) -> None:
    text = path.read_text()
    new, n = re.subn(rf"^{name} = .*$", f"{name} = {value!r}", text, count=1, flags=re.M)
    assert n == 1, f"{name} not found in {path}"
    path.write_text(new)


def constant(name: str) -> int:
    text = (DEVICE_SCRIPTS / "web.py").read_text()
    return int(re.search(rf"^{name} = (\d+)", text, re.M).group(1))


def start_dashboard(flash: Path, device_name: str):
    """A board running main.py with wifi, sensor and web; the Dashboard once it listens."""
    port = free_port()
    config = {
        "device_name": device_name,
        "wifi_ssid": SSID,
        "wifi_password": WIFI_PASSWORD,
        "parts": ["wifi", "sensor", "web"],
        "web_port": port,
        "interval_s": 1,
        "min_interval_s": 0.5,  # the virtual DHT22 may be read faster than a real one
        "sensor": "dht22",
        "sensor_pin": 14,
    }
    # Power on with an empty flash, then install: the board sits idle at its prompt when the
    # test first sends Ctrl-C (see the note on Ctrl-C in test_device_ota.py).
    board = VirtualBoard(flash_dir=flash, wifi=[{"ssid": SSID, "password": WIFI_PASSWORD}])
    board.start()
    try:
        wait_ready(board.port)
        install_programs(flash, ["wifi.py", "sensor.py", "web.py", "web_index.html"], config)
        set_constant(flash / "web.py", "REQUEST_TIMEOUT_S", TEST_REQUEST_TIMEOUT_S)
        run = start_main(board.port)
        text = run.read_for(30, until=r"web: dashboard at http://\S+/")
        assert f"web: dashboard at http://127.0.0.1:{port}/" in text, text
    except BaseException:
        board.stop()
        raise
    return Dashboard(board, run, port)


def stop_dashboard(dash: Dashboard) -> None:
    try:
        text = dash.run.stop()
        assert_no_secret(text)
    finally:
        dash.run.console.close()
        dash.board.stop()


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    dash = start_dashboard(tmp_path_factory.mktemp("web") / "flash", DEVICE_NAME)
    try:
        yield dash
    finally:
        stop_dashboard(dash)


def wait_for(predicate, timeout: float, what: str):
    """wait_until, asking the board (or the browser) five times a second, not fifty."""
    return wait_until(predicate, timeout, what, interval=0.2)


# ---- what a visitor gets -----------------------------------------------------------------------


def test_page_has_the_chart_and_the_escaped_device_name(dashboard):
    status, headers, body = dashboard.get("/")
    page = body.decode()
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert '<canvas id="chart"' in page and 'id="temp"' in page and 'id="humidity"' in page
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;lab&#39;s&quot;"
    assert f"<title>{escaped} - IoT Kit</title>" in page
    assert "<script>alert(1)" not in page  # the name never becomes markup
    assert "{{" not in page  # every placeholder filled
    assert page.rstrip().endswith("</html>")  # streamed to the end
    assert_no_secret(body)


def test_page_needs_nothing_from_the_internet(dashboard):
    page = (DEVICE_SCRIPTS / "web_index.html").read_text()
    assert len(page.encode()) < 4096
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", page)  # no CDN, boards are offline
    assert not re.search(
        r"\.(innerHTML|outerHTML)\s*[+]?=|insertAdjacentHTML|document\.write", page
    )
    assert ".textContent =" in page  # values go in as text


def test_api_answers_json_with_a_numeric_temperature(dashboard):
    data = wait_for(
        lambda: (d := dashboard.readings())["readings"].get("temp_c") is not None and d,
        10,
        "a first reading",
    )
    assert data["device"] == DEVICE_NAME  # JSON is not HTML: the raw name, JSON-escaped
    assert isinstance(data["readings"]["temp_c"], float)
    assert isinstance(data["readings"]["humidity"], float)
    assert 0 <= data["readings"]["humidity"] <= 100
    assert isinstance(data["time_ms"], int)
    assert data["error"] is None
    assert data["age_ms"] is not None and 0 <= data["age_ms"] < 5000
    row = data["history"][-1]
    assert len(row) == 3 and isinstance(row[1], float)
    assert_no_secret(json.dumps(data))


def test_history_grows_with_each_reading_and_is_bounded(dashboard):
    first = len(dashboard.readings()["history"])
    wait_for(lambda: len(dashboard.readings()["history"]) > first, 10, "a longer history")
    assert len(dashboard.readings()["history"]) <= constant("HISTORY_LEN")
    times = [row[0] for row in dashboard.readings()["history"]]
    assert times == sorted(times) and len(set(times)) == len(times)  # one row per reading


# ---- what an attacker gets ---------------------------------------------------------------------

TRAVERSALS = [
    "/../config.json",
    "/%2e%2e/config.json",
    "/%2E%2E%2Fconfig.json",
    "/..%2fconfig.json",
    "/%252e%252e/config.json",
    "/config.json",
    "//config.json",
    "/./config.json",
    "/api/../config.json",
    "/api/readings/../../config.json",
    "/web_index.html/../config.json",
    "/..\\config.json",
    "/lib/../config.json",
    "/boot.py",
    "/web.py",
    "/api/readings/..%2f..%2fconfig.json",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_never_serves_the_config(dashboard, path):
    answer = dashboard.raw(f"GET {path} HTTP/1.0\r\nHost: board\r\n\r\n".encode())
    assert status_of(answer) in (400, 404), answer[:200]
    assert_no_secret(answer)
    assert b"wifi_ssid" not in answer and b"wifi_password" not in answer


def test_a_query_string_cannot_reach_the_config_either(dashboard):
    answer = dashboard.raw(b"GET /?file=../config.json HTTP/1.0\r\n\r\n")
    assert status_of(answer) == 200  # the dashboard page, nothing else
    assert b"<canvas" in answer
    assert_no_secret(answer)
    assert b"wifi_ssid" not in answer


def test_oversized_requests_are_refused_and_the_server_keeps_serving(dashboard):
    huge_header = b"GET / HTTP/1.0\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"
    assert status_of(dashboard.raw(huge_header)) == 400

    many_headers = b"GET / HTTP/1.0\r\n" + b"".join(
        b"X-H%d: %s\r\n" % (i, b"b" * 100) for i in range(200)
    )
    assert status_of(dashboard.raw(many_headers + b"\r\n")) == 400

    big_body = b"POST /api/readings HTTP/1.0\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 4000
    assert status_of(dashboard.raw(big_body)) == 413

    # A line with no end: refused after a few KB, never buffered whole.
    endless = b"GET /" + b"z" * 300_000
    answer = dashboard.raw(endless)
    assert answer == b"" or status_of(answer) == 400

    status, _, body = dashboard.get("/api/readings")
    assert status == 200 and json.loads(body)["device"] == DEVICE_NAME
    out = dashboard.output()
    assert "web: refused a bad request (line too long)" in out
    assert "web: refused a bad request (request too large)" in out
    assert "Traceback" not in out  # a refused request is one line, not a crash report


def test_bad_clients_do_not_stop_the_server(dashboard):
    port = dashboard.port
    # Connects and leaves at once.
    socket.create_connection(("127.0.0.1", port)).close()
    # Leaves in the middle of the headers.
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET /api/readings HTTP/1.1\r\nHost: bo")
    # Leaves after announcing a body it never sends.
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"POST / HTTP/1.0\r\nContent-Length: 100\r\n\r\nabc")
    # Binary garbage, a request line with no version, a negative length.
    for junk in (
        bytes(range(256)) + b"\r\n\r\n",
        b"HELLO\r\n\r\n",
        b"GET /\r\n\r\n",
        b"GET / HTTP/1.0\r\nContent-Length: -5\r\n\r\n",
        b"GET / HTTP/1.0\r\nContent-Length: lots\r\n\r\n",
        b"GET / HTTP/1.0\r\nno colon here\r\n\r\n",
    ):
        answer = dashboard.raw(junk, close_write=True)
        assert answer == b"" or status_of(answer) == 400, (junk, answer[:100])
    # Reset (RST) in the middle of a download of the page.
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        s.recv(10)
    # A client that connects and says nothing does not block the others.
    idle = socket.create_connection(("127.0.0.1", port))
    try:
        for _ in range(5):
            status, _, body = dashboard.get("/api/readings", timeout=3)
            assert status == 200
        status, _, page = dashboard.get("/")
        assert status == 200 and page.rstrip().endswith(b"</html>")
    finally:
        idle.close()
    assert "Traceback" not in dashboard.output()


def test_a_silent_client_is_dropped_after_the_request_timeout(dashboard):
    with socket.create_connection(("127.0.0.1", dashboard.port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.0\r\n")  # ...and never the rest
        t0 = time.monotonic()
        try:
            assert s.recv(100) == b""  # closed by the board, no answer
        except ConnectionResetError:
            pass
        waited = time.monotonic() - t0
    assert TEST_REQUEST_TIMEOUT_S - 0.5 < waited < TEST_REQUEST_TIMEOUT_S + 3


def test_too_many_clients_get_busy_and_then_service_again(dashboard):
    max_clients = constant("MAX_CLIENTS")
    idle = [socket.create_connection(("127.0.0.1", dashboard.port)) for _ in range(max_clients)]
    try:

        def busy_answer() -> bytes | None:
            answer = dashboard.raw(b"GET /api/readings HTTP/1.0\r\n\r\n")
            return answer if status_of(answer) == 503 else None  # served: not all accepted yet

        answer = wait_for(busy_answer, 10, "503 Busy once the board has accepted them all")
        assert b"Retry-After: 1" in answer
    finally:
        for s in idle:
            s.close()
    # Until the board has noticed the closed ones, a request may still be turned away.
    assert wait_for(lambda: dashboard.status_or_none("/api/readings") == 200, 5, "service again")


# ---- a real browser ----------------------------------------------------------------------------


class Chromium:
    """Headless Chromium driven over the Chrome DevTools Protocol (one page, one websocket)."""

    FLAGS = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--window-size=800,620",
        "--remote-debugging-port=0",
    ]

    def __init__(self, exe: str, profile: Path) -> None:
        self.proc = subprocess.Popen(
            [exe, *self.FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its helpers share our process group: killed together
        )
        self.ws = None
        self.next_id = 0
        try:
            port_file = profile / "DevToolsActivePort"
            wait_for(
                lambda: port_file.exists() and port_file.read_text().strip(),
                30,
                "Chromium's DevTools port",
            )
            port = int(port_file.read_text().split()[0])
            targets = wait_for(
                lambda: [t for t in self._json(port, "/json/list") if t["type"] == "page"],
                10,
                "a page target",
            )
            from websockets.sync.client import connect

            self.ws = connect(targets[0]["webSocketDebuggerUrl"], max_size=None)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _json(port: int, path: str):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return json.loads(resp.read())

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=30))
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg["result"]

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def close(self) -> None:
        if self.ws is not None:
            try:
                self.ws.close()
            except Exception:
                pass
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=10)


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        exe = shutil.which(name)
        if exe:
            return exe
    return None


BROWSER_DEVICE_NAME = "Greenhouse \u00b7 bench 2"  # a non-ASCII name: UTF-8 end to end


def test_dashboard_in_a_browser_shows_the_live_value(tmp_path, artifacts):
    exe = find_chromium()
    if exe is None:
        pytest.skip("chromium not installed: make test installs it")
    dashboard = start_dashboard(tmp_path / "flash", BROWSER_DEVICE_NAME)
    board = dashboard.board
    board.set_input("dht1", temperature=24.0)
    browser = None
    try:
        browser = Chromium(exe, tmp_path / "profile")
        browser.call("Page.enable")
        browser.call("Page.navigate", url=dashboard.url + "/")
        temp = "document.getElementById('temp').textContent"
        wait_for(lambda: browser.evaluate(temp) == "24.0", 20, "24.0 on the page")
        assert browser.evaluate("document.title") == BROWSER_DEVICE_NAME + " - IoT Kit"
        assert browser.evaluate("document.querySelector('h1').textContent") == BROWSER_DEVICE_NAME
        # Warm the room: the page, never reloaded, follows.
        browser.evaluate("window.notReloaded = true")
        board.set_input("dht1", temperature=35.0)
        wait_for(lambda: browser.evaluate(temp) == "35.0", 20, "35.0 on the page")
        assert browser.evaluate("window.notReloaded") is True
        humidity = browser.evaluate("document.getElementById('humidity').textContent")
        assert re.fullmatch(r"\d+\.\d", humidity), humidity
        # Let the chart draw a few points of the warm room, then take the picture. The page's
        # own drawChart() is wrapped to note the rows it last drew.
        browser.evaluate(
            "(() => { const draw = drawChart;"
            " drawChart = rows => { window.drawnRows = rows; draw(rows); }; })()"
        )
        wait_for(
            lambda: browser.evaluate("(window.drawnRows || []).filter(row => row[1] === 35).length")
            >= 3,
            20,
            "three readings at 35.0 drawn in the chart",
        )
        painted = browser.evaluate(
            "(() => { const c = document.getElementById('chart');"
            " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            " let red = 0; for (let i = 0; i < d.length; i += 4)"
            "   if (d[i] > 180 && d[i + 1] < 90 && d[i + 2] < 90) red++;"
            " return red; })()"
        )
        assert painted > 100, "the temperature line is not drawn on the canvas"
        shot = browser.call("Page.captureScreenshot", format="png")
        png = base64.b64decode(shot["data"])
        (artifacts / "web-dashboard.png").write_bytes(png)
        if os.environ.get("IOTKIT_UPDATE_SCREENSHOTS") == "1":
            (ROOT / "docs" / "images" / "web-dashboard.png").write_bytes(png)
    finally:
        if browser is not None:
            browser.close()
        stop_dashboard(dashboard)
