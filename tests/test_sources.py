"""Sources against real counterparts: the virtual board, an amqtt broker, a local HTTP server,
files; and the session's time base."""

from __future__ import annotations

import contextlib
import http.server
import json
import math
import socket
import threading
import time
from typing import Iterator

import pytest
from mqtt_helpers import BrokerThread
from waiting import wait_until

from companion_app.readings.parser import ParsedLine
from companion_app.readings.session import PlotSession
from companion_app.readings.sources import (
    ChunkSource,
    FileSource,
    HttpSource,
    MqttSource,
    SerialSource,
    parse_mqtt_url,
    payload_lines,
)
from companion_app.readings.store import SeriesStore


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def mqtt_broker() -> Iterator[tuple[int, object]]:
    """A real amqtt broker on 127.0.0.1:<free port>, in its own asyncio thread.

    Yields (port, broker); `broker.subscriptions` shows who subscribed, so a test can wait until
    the subscriber under test is listening before publishing.
    """
    broker = BrokerThread.on_a_free_port()
    try:
        yield broker.port, broker.broker
    finally:
        broker.close()


def wait_for_subscription(broker: object, topic: str, timeout: float = 15.0) -> None:
    wait_until(
        lambda: getattr(broker, "subscriptions", {}).get(topic), timeout, f"a subscriber to {topic}"
    )


def publisher(port: int):
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


class Collector:
    """on_lines/on_error receiver that remembers what came, and on which thread."""

    def __init__(self) -> None:
        self.lines: list[tuple[float, ParsedLine]] = []
        self.errors: list[str] = []
        self.threads: set[str] = set()
        self.changed = threading.Condition()

    def on_lines(self, receive_time: float, parsed: list[ParsedLine]) -> None:
        with self.changed:
            self.threads.add(threading.current_thread().name)
            self.lines += [(receive_time, p) for p in parsed]
            self.changed.notify_all()

    def on_error(self, message: str) -> None:
        with self.changed:
            self.errors.append(message)
            self.changed.notify_all()

    def wait(self, predicate, timeout: float = 10.0) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout)

    def values(self, name: str) -> list[float]:
        return [p.values[name] for _, p in self.lines if name in p.values]


# ---------------------------------------------------------------------- chunks


def test_chunk_source_parses_split_chunks_off_the_feeding_thread():
    got = Collector()
    source = ChunkSource(on_lines=got.on_lines, on_error=got.on_error)
    source.start()
    for chunk in (b"temp:22", b".5,hum:4", b"0\r\ntemp:23.0,hum:41\r", b"\n>>> "):
        source.feed(chunk)
    assert got.wait(lambda: len(got.lines) == 2)
    assert got.values("temp") == [22.5, 23.0]
    assert got.values("hum") == [40.0, 41.0]
    assert threading.current_thread().name not in got.threads
    source.stop()
    assert source.done.is_set()


def test_chunk_source_delivers_a_last_line_without_newline_on_stop():
    got = Collector()
    source = ChunkSource(on_lines=got.on_lines)
    source.start()
    source.feed("a=1\nb=2")
    source.stop()
    assert [p.values for _, p in got.lines] == [{"a": 1.0}, {"b": 2.0}]


# ---------------------------------------------------------------------- files


def test_file_source_replays_a_capture_and_signals_done(tmp_path):
    path = tmp_path / "capture.txt"
    path.write_bytes(
        b"MicroPython v1.24 on ESP32\r\n>>> \r\ntemp:1,hum:2\r\nnoise\r\ntemp:3,hum:4\r\ntemp:5"
    )
    got = Collector()
    source = FileSource(path, on_lines=got.on_lines, on_error=got.on_error)
    source.start()
    assert source.done.wait(10)
    assert got.values("temp") == [1.0, 3.0, 5.0]
    assert got.errors == [] and source.failed is None
    # As-fast-as-possible replay: synthetic times, one interval per data line.
    assert source.synthetic_time and source.line_interval_s == 1.0


def test_file_source_reports_a_missing_file_and_ends():
    got = Collector()
    source = FileSource("/no/such/capture.txt", on_lines=got.on_lines, on_error=got.on_error)
    source.start()
    assert source.done.wait(5)
    assert source.failed == "The file /no/such/capture.txt does not exist."
    assert got.errors == [source.failed]


def test_realtime_replay_paces_lines_by_their_device_times(tmp_path):
    path = tmp_path / "timed.txt"
    path.write_text("t=0,x=1\nt=0.3,x=2\nt=0.6,x=3\n")
    got = Collector()
    source = FileSource(path, realtime=True, on_lines=got.on_lines)
    start = time.monotonic()
    source.start()
    assert source.done.wait(10)
    times = [t - start for t, _ in got.lines]
    assert got.values("x") == [1.0, 2.0, 3.0]
    assert times[1] == pytest.approx(0.3, abs=0.15)
    assert times[2] == pytest.approx(0.6, abs=0.15)


# ---------------------------------------------------------------------- payloads


def test_payload_lines_turns_pretty_json_and_lists_into_one_line_per_object():
    assert payload_lines('{\n  "temp": 22.5,\n  "hum": 40\n}') == ['{"temp": 22.5, "hum": 40}']
    assert payload_lines('[{"a": 1}, {"a": 2}]') == ['{"a": 1}', '{"a": 2}']
    assert payload_lines("temp:22.5") is None
    assert payload_lines("[1, 2]") is None  # a Mu-style tuple, for the text parser


def test_mqtt_urls_are_parsed_and_bad_ones_explained():
    assert parse_mqtt_url("mqtt://127.0.0.1:1884") == ("127.0.0.1", 1884, False, None, None)
    assert parse_mqtt_url("localhost") == ("localhost", 1883, False, None, None)
    assert parse_mqtt_url("mqtts://u:p%40ss@h") == ("h", 8883, True, "u", "p@ss")
    with pytest.raises(ValueError, match="should start with mqtt://"):
        parse_mqtt_url("http://broker")


# ---------------------------------------------------------------------- MQTT (real broker)


def test_mqtt_source_receives_text_json_and_multi_line_messages_through_amqtt():
    with mqtt_broker() as (port, _broker):
        got = Collector()
        source = MqttSource(
            f"mqtt://127.0.0.1:{port}",
            "lab/+/readings",
            on_lines=got.on_lines,
            on_error=got.on_error,
        )
        source.start()
        try:
            assert source.subscribed.wait(15), got.errors
            pub = publisher(port)
            pub.publish("lab/desk/readings", "temp:21.5,hum:40", qos=1).wait_for_publish(5)
            pub.publish("lab/desk/readings", json.dumps({"temp": 22.5, "hum": 41}), qos=1)
            pub.publish("lab/desk/readings", "temp:23.5\ntemp:24.5", qos=1)
            pub.publish("lab/desk/readings", '{\n "temp": 25.5\n}', qos=1).wait_for_publish(5)
            assert got.wait(lambda: len(got.values("temp")) == 5), got.lines
            assert got.values("temp") == [21.5, 22.5, 23.5, 24.5, 25.5]
            assert got.values("hum") == [40.0, 41.0]
            pub.loop_stop()
            pub.disconnect()
        finally:
            source.stop()
        assert source.done.wait(5)
        assert got.errors == []


def test_mqtt_source_says_when_no_broker_answers():
    got = Collector()
    port = free_port()  # nothing listens there
    source = MqttSource(
        f"mqtt://127.0.0.1:{port}", "x", on_lines=got.on_lines, on_error=got.on_error
    )
    source.start()
    try:
        assert got.wait(lambda: got.errors, timeout=10)
    finally:
        source.stop()
    assert got.errors[0].startswith(f"Cannot reach the MQTT broker at 127.0.0.1:{port}")
    assert "connection refused" in got.errors[0]
    assert len(got.errors) == 1, "a repeated failure is reported once"
    assert source.done.wait(5)


# ---------------------------------------------------------------------- HTTP (local server)


class _Device:
    """What a device's web server returns: a changing JSON reading, or a failure first."""

    def __init__(self) -> None:
        self.polls = 0
        self.fail_first = 0
        self.body: bytes | None = None

    def handler(self):
        device = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                device.polls += 1
                if device.polls <= device.fail_first:
                    self.send_error(503, "Warming Up")
                    return
                body = (
                    device.body
                    or json.dumps({"temp": 20.0 + device.polls, "hum": 50 - device.polls}).encode()
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@contextlib.contextmanager
def http_device(device: _Device) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), device.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/reading"
    finally:
        server.shutdown()
        server.server_close()


def test_http_source_polls_changing_json_and_keeps_polling_after_errors():
    device = _Device()
    device.fail_first = 2
    with http_device(device) as url:
        got = Collector()
        source = HttpSource(url, interval_s=0.05, on_lines=got.on_lines, on_error=got.on_error)
        source.start()
        try:
            assert got.wait(lambda: len(got.lines) >= 3)
        finally:
            source.stop()
    assert got.errors == [f"{url} answered HTTP 503 Warming Up."], "reported once"
    temps = got.values("temp")
    assert temps[:3] == [23.0, 24.0, 25.0], "polls 1-2 failed, 3.. answered"
    assert got.values("hum")[:3] == [47.0, 46.0, 45.0]


def test_http_source_takes_a_list_of_objects():
    device = _Device()
    device.body = json.dumps([{"a": 1, "t": 10}, {"a": 2, "t": 11}]).encode()
    with http_device(device) as url:
        got = Collector()
        source = HttpSource(url, interval_s=5, on_lines=got.on_lines, on_error=got.on_error)
        source.start()
        try:
            assert got.wait(lambda: len(got.lines) >= 2)
        finally:
            source.stop()
    assert [(p.values, p.t) for _, p in got.lines[:2]] == [({"a": 1.0}, 10.0), ({"a": 2.0}, 11.0)]


def test_http_source_explains_a_refused_connection():
    port = free_port()
    got = Collector()
    source = HttpSource(f"http://127.0.0.1:{port}/", interval_s=0.05, on_error=got.on_error)
    source.start()
    try:
        assert got.wait(lambda: got.errors)
        wait_until(lambda: source.polls > 3, 10, "more polls after the first refusal")
    finally:
        source.stop()
    assert got.errors == [
        f"Nothing answers at http://127.0.0.1:{port}/ (connection refused): "
        "is the device on and its web server running?"
    ], "one plain sentence, reported once"
    assert source.polls > 2, "it kept polling"


# ---------------------------------------------------------------------- serial (virtual board)


LOOP = (
    'exec("import dht,machine,time\\nd=dht.DHT22(machine.Pin(14))\\nwhile True:\\n'
    " d.measure()\\n print('temp:%.1f,hum:%.1f' % (d.temperature(), d.humidity()))\\n"
    ' time.sleep(0.05)")'
)


def test_serial_source_reads_a_dht22_loop_on_the_virtual_board(vboard, console):
    vboard.set_input("dht1", temperature=30.0, humidity=55.0)
    console.write(LOOP.encode() + b"\r")
    console.read_until(b"temp:30.0,hum:55.0", timeout=10)
    console.close()  # the loop keeps running; the source opens the port now

    got = Collector()
    source = SerialSource(vboard.port, on_lines=got.on_lines, on_error=got.on_error)
    source.start()
    try:
        assert got.wait(lambda: len(got.values("temp")) >= 5, timeout=15), got.errors
        vboard.set_input("dht1", temperature=-4.5, humidity=80.0)
        assert got.wait(lambda: -4.5 in got.values("temp"), timeout=15)
    finally:
        source.stop()
    assert got.errors == []
    temps = got.values("temp")
    assert set(temps) <= {30.0, -4.5}
    assert got.values("hum")[:5] == [55.0] * 5
    assert all(set(p.values) == {"temp", "hum"} for _, p in got.lines), "no bogus series"


def test_serial_source_reports_a_missing_port_with_the_link_message():
    got = Collector()
    source = SerialSource("/dev/does-not-exist-42", on_lines=got.on_lines, on_error=got.on_error)
    source.start()
    assert source.done.wait(10)
    assert source.failed is not None
    assert source.failed.startswith("Serial port /dev/does-not-exist-42 does not exist")
    assert got.errors == [source.failed]


# ---------------------------------------------------------------------- session time base


class _Manual:
    """A source driven by the test: call lines(...) to deliver."""

    synthetic_time = False
    line_interval_s = None

    def __init__(self) -> None:
        self.on_lines = None
        self.on_error = None

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def lines(self, receive_time: float, *parsed: ParsedLine) -> None:
        self.on_lines(receive_time, list(parsed))


def test_session_uses_host_receive_time_since_start():
    clock = [100.0]
    source = _Manual()
    store = SeriesStore()
    session = PlotSession(source, store, clock=lambda: clock[0])
    session.start()
    source.lines(100.5, ParsedLine({"a": 1.0}))
    source.lines(101.25, ParsedLine({"a": 2.0}), ParsedLine({"b": 3.0}))
    assert store.series("a")[0].tolist() == [0.5, 1.25]
    assert store.series("b")[0].tolist() == [1.25]
    assert session.rows == 3


def test_session_uses_device_time_relative_to_the_first_and_survives_a_reset(tmp_path):
    from companion_app.readings.recorder import read_csv

    source = _Manual()
    store = SeriesStore()
    session = PlotSession(source, store, clock=lambda: 0.0)
    rec = session.start_recording(tmp_path / "r.csv")
    session.start()
    source.lines(5.0, ParsedLine({"x": 1.0}, t=1000.0), ParsedLine({"x": 2.0}, t=1000.5))
    source.lines(9.0, ParsedLine({"y": 7.0}))  # no device time: the latest device-based time
    source.lines(9.5, ParsedLine({"x": 3.0}, t=2.0))  # the board was reset: t starts again
    source.lines(10.0, ParsedLine({"x": 4.0}, t=3.0))
    session.stop_recording()
    assert store.series("x")[0].tolist() == [0.0, 0.5, 0.5, 1.5]
    assert store.series("y")[0].tolist() == [0.5]
    assert [t for t, _ in read_csv(rec.path)] == [0.0, 0.5, 0.5, 0.5, 1.5]


def test_session_records_only_while_a_recorder_is_set(tmp_path):
    from companion_app.readings.recorder import read_csv

    source = _Manual()
    session = PlotSession(source, SeriesStore(), clock=lambda: 0.0)
    session.start()
    source.lines(1.0, ParsedLine({"a": 1.0}))
    rec = session.start_recording(tmp_path / "r.csv")
    source.lines(2.0, ParsedLine({"a": 2.0}))
    source.lines(3.0, ParsedLine({"a": 3.0}))
    session.stop_recording()
    source.lines(4.0, ParsedLine({"a": 4.0}))
    assert read_csv(rec.path) == [(0.0, {"a": 2.0}), (1.0, {"a": 3.0})]
    assert rec.closed
    assert session.store.stats("a").count == 4


def test_session_with_a_file_replay_spaces_plain_lines_one_interval_apart(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("a=1\nnoise line\na=2\na=3\n")
    store = SeriesStore()
    source = FileSource(path, interval_s=0.5)
    session = PlotSession(source, store)
    session.start()
    assert source.done.wait(10)
    t, v = store.series("a")
    assert t.tolist() == [0.0, 0.5, 1.0] and v.tolist() == [1.0, 2.0, 3.0]
    assert math.isfinite(session.now())


def test_mqtt_password_never_appears_in_messages():
    from companion_app.readings.sources import MqttSource, parse_mqtt_url

    with pytest.raises(ValueError) as err:
        parse_mqtt_url("http://student:hunter2@broker.local")
    assert "hunter2" not in str(err.value)
    source = MqttSource("mqtt://student:hunter2@127.0.0.1:1", "lab/temp")
    assert "hunter2" not in source.url + source.describe()
