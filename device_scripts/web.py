# web.py - a web dashboard for your board: a live chart of the sensor readings.
#
# Open http://<board IP>:<web_port>/ in a browser on the same network. The page
# (/web_index.html on the board) asks /api/readings for new values every second or two.
#
#   /                 the dashboard page
#   /api/readings     JSON: {"device", "time_ms", "age_ms", "readings", "error", "history"}
#
# It uses Microdot (https://microdot.readthedocs.io), a small web framework that
# `iotkit deploy` copies to /lib/microdot/. main.py starts it when "web" is in the
# "parts" list of config.json:   "parts": ["wifi", "sensor", "web"]
#
# Safety, because anyone on the network can talk to the board:
# - Only the two routes above exist. No file is ever served by the name in the URL, so
#   /../config.json (which holds the Wi-Fi password) cannot be fetched.
# - Requests are small: a few KB at most. Bigger ones are refused (400/413) before they
#   fill the memory, and a client that stalls is dropped after REQUEST_TIMEOUT_S.
# - One misbehaving client only ends its own connection, never the server.
# - The device name is HTML-escaped before it goes into the page.

import asyncio
import sys
import time

import microdot.microdot as _microdot_core
from microdot import Microdot, Request, Response

PAGE_FILE = "/web_index.html"
HISTORY_LEN = 60  # readings kept for the chart (one per sensor reading)
SAMPLE_EVERY_S = 1  # how often we look for a new sensor reading to add to the history
MAX_LINE = 1024  # longest request line or header line we accept
MAX_REQUEST = 4096  # whole request (request line + headers + body) in bytes
MAX_BODY = 256  # our routes take no body; a small one is read and ignored
REQUEST_TIMEOUT_S = 10  # a client must send its request and take the answer in this time
MAX_CLIENTS = 8  # connections served at the same time; more get "503 Busy" at once

# Microdot's own limits (it checks them too; ours below also bound what is buffered).
Request.max_readline = MAX_LINE
Request.max_content_length = MAX_BODY
Request.max_body_length = MAX_BODY

history = []  # [[time_ms, temp_c, humidity], ...], oldest first, at most HISTORY_LEN
_last_sample = None


def html_escape(text):
    """Make text safe to put inside HTML: <, >, &, and quotes become entities."""
    text = str(text)
    text = text.replace("&", "&amp;")  # first, so the entities below stay intact
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace('"', "&quot;").replace("'", "&#39;")
    return text


def _number(value):
    """A finite number for JSON, or None (NaN or inf would make the JSON invalid)."""
    if isinstance(value, (int, float)) and value == value and -1e30 < value < 1e30:
        return value
    return None


def _sensor():
    try:
        import sensor

        return sensor
    except ImportError:
        return None


def readings_json(cfg):
    """What /api/readings answers (a dict; Microdot turns it into JSON)."""
    sensor = _sensor()
    now = time.ticks_ms()
    readings = {}
    error = "no sensor program on the board (add 'sensor' to parts)"
    age = None
    if sensor is not None:
        error = sensor.error
        for key, value in (sensor.latest or {}).items():
            readings[key] = _number(value)
        if sensor.latest_time is not None:
            age = time.ticks_diff(now, sensor.latest_time)
    return {
        "device": cfg.get("device_name", ""),
        "time_ms": now,
        "age_ms": age,
        "readings": readings,
        "error": error,
        "history": history,
    }


def _sample():
    """Add the newest sensor reading to the history, once per reading."""
    global _last_sample
    sensor = _sensor()
    if sensor is None or sensor.latest_time is None or sensor.latest_time == _last_sample:
        return
    _last_sample = sensor.latest_time
    latest = sensor.latest or {}
    history.append(
        [sensor.latest_time, _number(latest.get("temp_c")), _number(latest.get("humidity"))]
    )
    if len(history) > HISTORY_LEN:
        history.pop(0)


class PageStream:
    """The page file, read line by line with {{name}} placeholders filled in (escaped).

    Microdot sends a response body that has read(n) in pieces, so the whole page never
    has to fit in memory as one string.
    """

    def __init__(self, path, values):
        self.file = open(path, "rb")
        self.values = values
        self.pending = b""

    def _line(self):
        line = self.file.readline()
        if b"{{" in line:
            text = line.decode()
            for name, value in self.values.items():
                text = text.replace("{{" + name + "}}", html_escape(value))
            line = text.encode()
        return line

    def read(self, n):
        while len(self.pending) < n:
            line = self._line()
            if not line:
                break
            self.pending += line
        chunk, self.pending = self.pending[:n], self.pending[n:]
        return chunk

    def close(self):
        self.file.close()


class LimitedReader:
    """Reads a client's request, refusing more than MAX_REQUEST bytes or MAX_LINE per line.

    asyncio's own readline() would keep reading a line with no end until the memory is
    full; this one stops at the limit and raises ValueError, which Microdot answers with
    "400 Bad request".
    """

    def __init__(self, stream):
        self.stream = stream
        self.buf = b""
        self.budget = MAX_REQUEST

    async def _more(self):
        data = await self.stream.read(min(256, self.budget + 1))
        if data:
            self.budget -= len(data)
            if self.budget < 0:
                raise ValueError("request too large")
            self.buf += data
        return bool(data)

    async def readline(self):
        while True:
            end = self.buf.find(b"\n")
            if end >= 0:
                line, self.buf = self.buf[: end + 1], self.buf[end + 1 :]
                return line
            if len(self.buf) > MAX_LINE:
                raise ValueError("line too long")
            if not await self._more():  # the client closed: give what is left
                line, self.buf = self.buf, b""
                return line

    async def readexactly(self, n):
        if n < 0 or n > MAX_BODY:
            raise ValueError("bad body length")
        while len(self.buf) < n:
            if not await self._more():
                raise EOFError("client closed mid-request")
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    async def read(self, n=-1):
        if not self.buf:
            await self._more()
        if n < 0:
            n = len(self.buf)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data


class Dashboard(Microdot):
    """Microdot, with each connection limited in size, time and number."""

    def __init__(self):
        super().__init__()
        self.clients = 0

    async def handle_request(self, reader, writer):
        if self.clients >= MAX_CLIENTS:
            try:  # busy: say so, and the browser asks again a moment later
                await writer.awrite(b"HTTP/1.0 503 Busy\r\nRetry-After: 1\r\n\r\n")
            except Exception:  # the client is gone already
                pass
            await _close(writer)
            return
        self.clients += 1
        try:
            await asyncio.wait_for(
                super().handle_request(LimitedReader(reader), writer), REQUEST_TIMEOUT_S
            )
        except Exception as exc:  # one bad client must not stop the server
            if not isinstance(exc, (OSError, asyncio.TimeoutError)):
                print("web: request failed:", repr(exc))
            await _close(writer)
        finally:
            self.clients -= 1


async def _close(writer):
    try:
        await writer.aclose()
    except Exception:  # already closed or reset by the client
        pass


def _report(exc):
    """Microdot's error printer: one line for a broken request, a traceback for a bug."""
    if isinstance(exc, (ValueError, OSError, EOFError)):
        print("web: refused a bad request (%s)" % exc)
    else:
        sys.print_exception(exc)


_microdot_core.print_exception = _report


def make_app(cfg):
    app = Dashboard()
    page_values = {"device_name": cfg.get("device_name", "")}

    @app.get("/")
    async def index(request):
        try:
            page = PageStream(PAGE_FILE, page_values)
        except OSError:
            return "The dashboard page " + PAGE_FILE + " is missing: deploy the web template.", 500
        return Response(
            page, headers={"Content-Type": "text/html; charset=UTF-8", "Cache-Control": "no-store"}
        )

    @app.get("/api/readings")
    async def api_readings(request):
        return readings_json(cfg), 200, {"Cache-Control": "no-store"}

    return app


def _current_ip():
    """The board's address on the network, or None while it has none."""
    wifi = sys.modules.get("wifi")  # wifi.py knows it, also in access-point mode
    if wifi is not None and getattr(wifi, "ip", None):
        return wifi.ip
    try:
        import network

        sta = network.WLAN(network.STA_IF)
        if sta.active() and sta.isconnected():
            return sta.ifconfig()[0]
    except (ImportError, OSError):
        pass  # a board without Wi-Fi
    return None


async def _board_ip(cfg, wait_s=15):
    """The address to print; waits a little while the wifi part is still connecting."""
    for _ in range(wait_s * 10):
        ip = _current_ip()
        if ip:
            return ip
        if "wifi" not in cfg.get("parts", ()):
            break
        await asyncio.sleep_ms(100)
    return "127.0.0.1"


async def run(cfg):
    """Serve the dashboard on cfg["web_port"] forever (main.py runs this as a task)."""
    port = int(cfg.get("web_port", 80))
    app = make_app(cfg)
    server = asyncio.create_task(app.start_server(host="0.0.0.0", port=port))
    # Wait until Microdot listens (or failed to, e.g. the port is taken).
    while getattr(app, "server", None) is None:
        if server.done():
            await server  # raises the reason, e.g. OSError EADDRINUSE
            raise OSError("web server stopped")
        await asyncio.sleep_ms(50)
    ip = await _board_ip(cfg)
    print("web: dashboard at http://%s:%d/" % (ip, port))
    while True:
        if server.done():
            await server
            raise OSError("web server stopped")
        _sample()
        await asyncio.sleep(SAMPLE_EVERY_S)
