"""Where readings come from: a serial port, text fed from outside, MQTT, HTTP polling, a file.

Every source runs in its own thread and reports through two callbacks, set before `start()`
(usually by `PlotSession`):

- `on_lines(receive_time: float, parsed: list[ParsedLine])`: `receive_time` is
  `time.monotonic()` when the bytes arrived; for a file replayed as fast as possible it is
  synthetic (see `synthetic_time` and `line_interval_s` below);
- `on_error(message: str)`: a sentence for a person. Repeated identical messages are reported
  once until something works again, so a dead broker does not flood the status bar.

Why threads and callbacks rather than Tk events: the same sources serve `iotkit plot --headless`
(no Tk at all), the companion's Plot tab and Thonny's shell; none of them may block Tk, and
no source ever touches Tk. The receiver decides how to get results onto its own thread.

`done` (a threading.Event) is set when a source's thread has ended: end of a replayed file, a
fatal error (then `failed` holds its message), or `stop()`.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Protocol

from companion_app.readings.parser import LineParser, ParsedLine
from companion_app.secrets import StreamMasker, mask_text, remember

log = logging.getLogger(__name__)

LinesCallback = Callable[[float, "list[ParsedLine]"], None]
ErrorCallback = Callable[[str], None]

MAX_HTTP_BODY = 8 * 1024 * 1024


class Source(Protocol):
    on_lines: LinesCallback | None
    on_error: ErrorCallback | None

    def start(self) -> None: ...

    def stop(self) -> None: ...


class ThreadedSource:
    """Common plumbing: the worker thread, callbacks, error de-duplication, `done`/`failed`."""

    #: True when receive_time is not a clock reading but already seconds from the start.
    synthetic_time = False
    #: When set, line i of one on_lines batch is at receive_time + i * line_interval_s.
    line_interval_s: float | None = None

    def __init__(
        self,
        on_lines: LinesCallback | None = None,
        on_error: ErrorCallback | None = None,
        parser: LineParser | None = None,
    ) -> None:
        self.on_lines = on_lines
        self.on_error = on_error
        self.parser = parser if parser is not None else LineParser()
        self.done = threading.Event()
        self.failed: str | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error: str | None = None
        # Known secrets are masked before parsing: a printed password would become a series
        # name, in the legend and the CSV header (companion_app/secrets.py).
        self._masker = StreamMasker()

    def describe(self) -> str:
        """What this source reads, for window titles and messages."""
        return type(self).__name__

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("a source can be started once")
        self._thread = threading.Thread(
            target=self._main, name=f"plot-{type(self).__name__}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        """Ask the thread to end and wait for it (bounded: a stuck socket must not hang a UI)."""
        self._stopping.set()
        self._wake()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.warning("%s did not stop within %.1f s", self.describe(), timeout)
        if thread is None:
            self.done.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the source has ended; True if it did."""
        return self.done.wait(timeout)

    # ------------------------------------------------------------------ for subclasses

    def run(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _wake(self) -> None:
        """Interrupt a blocking wait in run(); subclasses with their own waits override."""

    def _main(self) -> None:
        try:
            self.run()
        except Exception as exc:  # a bug must end the source visibly, not silently
            log.exception("%s failed", self.describe())
            self._fail(f"Reading from {self.describe()} stopped: {exc}")
        finally:
            self.done.set()

    def _parse_end(self) -> list[ParsedLine]:
        """The end of the stream: what the masker held back, then the parser's last line."""
        return self.parser.feed(self._masker.flush()) + self.parser.flush()

    def _emit(self, receive_time: float, parsed: list[ParsedLine]) -> None:
        if parsed and self.on_lines is not None:
            self.on_lines(receive_time, parsed)

    def _report(self, message: str) -> None:
        """A problem that does not end the source (it keeps trying); said once until it changes."""
        message = mask_text(message)  # it may quote what the source received
        if message == self._last_error:
            return
        self._last_error = message
        log.info("%s: %s", self.describe(), message)
        if self.on_error is not None:
            self.on_error(message)
        else:
            log.warning("%s", message)

    def _recovered(self) -> None:
        self._last_error = None

    def _fail(self, message: str) -> None:
        """A problem that ends the source."""
        self.failed = message
        self._last_error = None
        self._report(message)


# ---------------------------------------------------------------------- serial


class SerialSource(ThreadedSource):
    """The board's friendly-REPL output on a serial port (or socket:// URL).

    Uses the kit's `Link` only to open the port and read what arrives: no Ctrl-C, no raw REPL,
    so a program already running on the board keeps running and its prints are what we plot.
    """

    def __init__(self, port: str, baudrate: int = 115200, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.port = port
        self.baudrate = baudrate
        self._link: Any = None
        self.connected = threading.Event()

    def describe(self) -> str:
        return f"serial port {self.port}"

    def send(self, data: bytes) -> None:
        """Type bytes into the board's REPL (e.g. to start a program); only while running."""
        link = self._link
        if link is None:
            raise RuntimeError("the serial source is not connected")
        link.write(data)

    def run(self) -> None:
        from companion_app.device.errors import LinkError
        from companion_app.device.link import Link

        link = Link(self.port, baudrate=self.baudrate)
        try:
            link.open()
        except LinkError as exc:
            self._fail(str(exc))
            return
        self._link = link
        self.connected.set()
        try:
            while not self._stopping.is_set():
                data = link.read_available(0.1)
                if data:
                    self._emit(time.monotonic(), self.parser.feed(self._masker.feed(data)))
        except LinkError as exc:
            if not self._stopping.is_set():
                self._fail(str(exc))
        finally:
            self._link = None
            link.close()
            self._emit(time.monotonic(), self._parse_end())


# ---------------------------------------------------------------------- chunks fed from outside


class ChunkSource(ThreadedSource):
    """Text pushed in by someone else: the companion's Console connection, Thonny's shell.

    `feed()` only queues the chunk with its arrival time, so the caller (often the Tk thread)
    never waits for parsing; the source's thread parses and reports.
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._queue: queue.SimpleQueue[tuple[float, bytes | str] | None] = queue.SimpleQueue()

    def describe(self) -> str:
        return "the board's output"

    def feed(self, chunk: bytes | str) -> None:
        """Queue a chunk (any thread); lines may be split across chunks."""
        if chunk:
            self._queue.put((time.monotonic(), chunk))

    def _wake(self) -> None:
        self._queue.put(None)

    def run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                if self._stopping.is_set():
                    break
                continue
            receive_time, chunk = item
            self._emit(receive_time, self.parser.feed(self._masker.feed(chunk)))
        # Whatever was queued before stop() still counts.
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                self._emit(item[0], self.parser.feed(self._masker.feed(item[1])))
        self._emit(time.monotonic(), self._parse_end())


# ---------------------------------------------------------------------- payloads (MQTT, HTTP)


def payload_lines(text: str) -> list[str] | None:
    """Lines to parse from one message/answer: JSON objects become one compact line each.

    A pretty-printed JSON object spans several lines; re-serialising it as one line lets the
    parser's JSON format take it whole. None when the text is not a JSON object or list of
    objects (then it is parsed as ordinary text lines).
    """
    s = text.strip()
    if not s or s[0] not in "{[":
        return None
    try:
        obj = json.loads(s)
    except ValueError:
        return None
    if isinstance(obj, dict):
        return [json.dumps(obj)]
    if isinstance(obj, list) and obj and all(isinstance(o, dict) for o in obj):
        return [json.dumps(o) for o in obj]
    return None


def parse_payload(parser: LineParser, data: bytes | str) -> list[ParsedLine]:
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    text = mask_text(text)  # a whole message: nothing is split
    lines = payload_lines(text)
    if lines is None:
        # A message is complete: flush so a last line without "\n" is not held back.
        return parser.feed(text) + parser.flush()
    out: list[ParsedLine] = []
    for line in lines:
        parsed = parser.parse_line(line)
        if parsed is not None:
            out.append(parsed)
    return out


# ---------------------------------------------------------------------- MQTT


def parse_mqtt_url(url: str) -> tuple[str, int, bool, str | None, str | None]:
    """`mqtt://host:port` -> (host, port, tls, username, password); ValueError if not usable.

    Messages name the address without its password, which must never reach a log or a screen.
    """
    if "://" not in url:
        url = "mqtt://" + url
    parts = urllib.parse.urlsplit(url)
    url = redact_url(url)
    scheme = parts.scheme.lower()
    if scheme in ("mqtt", "tcp"):
        tls, default_port = False, 1883
    elif scheme in ("mqtts", "ssl"):
        tls, default_port = True, 8883
    else:
        raise ValueError(
            f"The MQTT address {url} should start with mqtt:// (or mqtts:// for TLS), "
            "for example mqtt://192.168.1.10:1883."
        )
    if not parts.hostname:
        raise ValueError(f"The MQTT address {url} has no host, e.g. mqtt://192.168.1.10:1883.")
    try:
        port = parts.port or default_port
    except ValueError as exc:
        raise ValueError(f"The MQTT address {url} has an invalid port number.") from exc
    user = urllib.parse.unquote(parts.username) if parts.username else None
    password = urllib.parse.unquote(parts.password) if parts.password else None
    return parts.hostname, port, tls, user, password


def redact_url(url: str) -> str:
    """The URL with any password replaced by ***, for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def mqtt_client(
    handler: Any,
    client_id: str,
    user: str | None,
    password: str | None,
    tls: bool,
    reconnect_s: tuple[int, int] = (1, 10),
    **client_options: Any,
) -> Any:
    """A paho-mqtt client with `handler`'s `_on_connect`, `_on_disconnect`, `_on_subscribe`,
    `_on_message` and `_on_connect_fail` as its callbacks (paho's callback API 2), the login
    and TLS of the broker URL, and paho's own reconnect back-off: what every subscriber of
    ours (a plot source, the class dashboard) needs. `client_options` go to paho's Client
    (e.g. clean_session, protocol)."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, **client_options)
    if user:
        client.username_pw_set(user, password)
    if tls:
        client.tls_set()
    client.on_connect = handler._on_connect
    client.on_disconnect = handler._on_disconnect
    client.on_subscribe = handler._on_subscribe
    client.on_message = handler._on_message
    client.on_connect_fail = handler._on_connect_fail
    client.reconnect_delay_set(*reconnect_s)
    return client


class MqttSource(ThreadedSource):
    """Messages on an MQTT topic (wildcards allowed); each payload is one or more lines.

    paho-mqtt's network loop runs in this source's thread and reconnects on its own after a
    broker restart; problems are reported once each via on_error.
    """

    RETRY_S = 2.0

    def __init__(
        self,
        url: str,
        topic: str,
        qos: int = 1,
        client_id: str = "",
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.url = redact_url(url)  # shown in messages; the password stays in self._password
        self.topic = topic
        self.qos = qos
        self.client_id = client_id
        self.host, self.port, self.tls, self._user, self._password = parse_mqtt_url(url)
        remember(self._password)  # masked in what the broker's messages and errors show
        self.subscribed = threading.Event()
        self._client: Any = None
        self._parse_lock = threading.Lock()

    def describe(self) -> str:
        return f"MQTT topic {self.topic} on {self.host}:{self.port}"

    def _where(self) -> str:
        return f"the MQTT broker at {self.host}:{self.port}"

    def run(self) -> None:
        client = mqtt_client(self, self.client_id, self._user, self._password, self.tls)
        self._client = client
        while not self._stopping.is_set():
            try:
                client.connect(self.host, self.port, keepalive=30)
                break
            except OSError as exc:
                reason = exc.strerror or str(exc) or type(exc).__name__
                self._report(
                    f"Cannot reach {self._where()} ({reason.lower()}): check that the broker "
                    "is running and that the address is right."
                )
                self._stopping.wait(self.RETRY_S)
        if self._stopping.is_set():
            return
        # loop_forever returns after disconnect(), which stop() calls from another thread.
        client.loop_forever(retry_first_connection=True)

    def _wake(self) -> None:
        client = self._client
        if client is not None:
            try:
                client.disconnect()
            except Exception:
                log.debug("MQTT disconnect failed", exc_info=True)

    def _on_connect(
        self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        if reason_code.is_failure:
            self._report(f"{self._where()} refused the connection: {reason_code}.")
            return
        self._recovered()
        client.subscribe(self.topic, qos=self.qos)

    def _on_subscribe(
        self, client: Any, userdata: Any, mid: int, reason_codes: Any, properties: Any
    ) -> None:
        failures = [rc for rc in reason_codes if rc.is_failure]
        if failures:
            self._report(
                f"{self._where()} refused the subscription to {self.topic}: {failures[0]}."
            )
            return
        log.debug("subscribed to %s", self.topic)
        self.subscribed.set()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        self.subscribed.clear()
        if not self._stopping.is_set():
            self._report(f"Lost the connection to {self._where()}; reconnecting.")

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        self._report(f"Cannot reach {self._where()} any more: is the broker still running?")

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        receive_time = time.monotonic()
        with self._parse_lock:
            parsed = parse_payload(self.parser, message.payload)
        self._emit(receive_time, parsed)


# ---------------------------------------------------------------------- HTTP


def describe_http_error(url: str, exc: BaseException, timeout_s: float | None = None) -> str:
    """One plain sentence for what went wrong fetching `url`."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"{url} answered HTTP {exc.code} {exc.reason}."
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, ConnectionRefusedError):
        return (
            f"Nothing answers at {url} (connection refused): "
            "is the device on and its web server running?"
        )
    if isinstance(reason, TimeoutError) or "timed out" in str(reason):
        within = f" within {timeout_s:g} s" if timeout_s else " in time"
        return f"{url} did not answer{within}."
    if isinstance(reason, OSError) and reason.strerror:
        return f"Cannot reach {url}: {reason.strerror.lower()}."
    return f"Cannot reach {url}: {reason}."


class HttpSource(ThreadedSource):
    """Polls a device URL that answers JSON (one object, or a list of objects) every interval_s.

    Text answers (`temp:22.5`) work too, parsed line by line. Failures are reported and polling
    goes on, because a device rebooting or a Wi-Fi hiccup is normal at a lab bench.
    """

    def __init__(
        self, url: str, interval_s: float = 1.0, timeout_s: float = 5.0, **kwargs: object
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        if "://" not in url:
            url = "http://" + url
        scheme = urllib.parse.urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"The address {url} should start with http:// or https://.")
        if interval_s <= 0:
            raise ValueError("The polling interval must be more than 0 seconds.")
        self.url = url
        self.interval_s = float(interval_s)
        self.timeout_s = float(timeout_s)
        self.polls = 0

    def describe(self) -> str:
        return self.url

    def run(self) -> None:
        next_poll = time.monotonic()
        while not self._stopping.is_set():
            self._poll_once()
            self.polls += 1
            next_poll += self.interval_s
            now = time.monotonic()
            if next_poll < now:  # a slow answer: don't burst to catch up
                next_poll = now
            self._stopping.wait(next_poll - now)

    def _poll_once(self) -> None:
        request = urllib.request.Request(
            self.url, headers={"Accept": "application/json, text/plain;q=0.9"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                body = response.read(MAX_HTTP_BODY)
                charset = response.headers.get_content_charset() or "utf-8"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            self._report(describe_http_error(self.url, exc, self.timeout_s))
            return
        receive_time = time.monotonic()
        text = body.decode(charset, errors="replace")
        parsed = parse_payload(self.parser, text)
        if not parsed:
            self._report(
                f"The answer from {self.url} had no readings: expected JSON such as "
                '{"temp": 22.5, "hum": 41}.'
            )
            return
        self._recovered()
        self._emit(receive_time, parsed)


# ---------------------------------------------------------------------- file replay


class FileSource(ThreadedSource):
    """Replays a capture file (any format the parser knows, including our own CSV recordings).

    `realtime=False` (default) reads as fast as possible; lines without a device time are then
    placed `interval_s` apart (line 0 at 0 s), so a plot of a plain capture reads as "one step
    per line". `realtime=True` paces the lines: by their device times when they have them,
    otherwise `interval_s` apart. `done` is set after the last line has been delivered.
    """

    CHUNK = 256 * 1024

    def __init__(
        self,
        path: str | os.PathLike[str],
        realtime: bool = False,
        interval_s: float = 1.0,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.path = Path(path)
        self.realtime = realtime
        self.interval_s = float(interval_s)
        self.synthetic_time = not realtime
        self.line_interval_s = None if realtime else self.interval_s
        self.lines_read = 0

    def describe(self) -> str:
        return str(self.path)

    def run(self) -> None:
        try:
            # Unbuffered: one read() returns what there is, so a pipe (a FIFO that a serial
            # logger writes) is plotted as it comes, not once 256 KB have piled up.
            f = open(self.path, "rb", buffering=0)
        except FileNotFoundError:
            self._fail(f"The file {self.path} does not exist.")
            return
        except OSError as exc:
            self._fail(f"Cannot read {self.path}: {exc.strerror or exc}.")
            return
        with f:
            start = time.monotonic()
            first_t: float | None = None
            while not self._stopping.is_set():
                chunk = f.read(self.CHUNK)
                parsed = self.parser.feed(self._masker.feed(chunk)) if chunk else self._parse_end()
                if not self.realtime:
                    self._emit(self.lines_read * self.interval_s, parsed)
                    self.lines_read += len(parsed)
                else:
                    for line in parsed:
                        if line.t is not None and first_t is None:
                            first_t = line.t
                        if line.t is not None and first_t is not None:
                            due = start + (line.t - first_t)
                        else:
                            due = start + self.lines_read * self.interval_s
                        if self._stopping.wait(max(0.0, due - time.monotonic())):
                            return
                        self._emit(time.monotonic(), [line])
                        self.lines_read += 1
                if not chunk:
                    break
