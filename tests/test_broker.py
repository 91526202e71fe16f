"""`iotkit broker`: the embedded MQTT broker a lab uses when it has none.

The class dashboard needs two things of any broker: retained messages (a board's "online"
reaches a dashboard started later) and last wills (a board that vanishes turns "offline").
Both are checked here with paho-mqtt, the client the dashboard uses, and with a real process
that dies; so is the keepalive timeout amqtt lacks on its own (a board that goes silent
without closing its connection), the command's messages and its exit codes.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from conftest import venv_bin
from mosquitto_helpers import Mosquitto, mosquitto  # noqa: F401 - the fixture
from waiting import wait_until

from companion_app.classroom.broker import (
    BrokerPortTakenError,
    EmbeddedBroker,
    lan_addresses,
)
from companion_app.classroom.topics import OFFLINE, ONLINE, class_filters, status_topic

CLASS = "lab-a"


class Watcher:
    """A paho-mqtt subscriber to a class's topics that keeps (topic, payload, retain) in order."""

    def __init__(self, port: int, filters: list[str] | None = None, keepalive: int = 60) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes, bool]] = []
        self.pings = 0
        self.connected = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        filters = class_filters(CLASS) if filters is None else filters

        def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
            for topic in filters:
                client.subscribe(topic)
            self.connected.set()

        def on_log(client: Any, userdata: Any, level: Any, text: str) -> None:
            if "PINGRESP" in text:
                self.pings += 1

        self.client.on_connect = on_connect
        self.client.on_log = on_log
        self.client.on_message = lambda c, u, m: self.messages.append(
            (m.topic, bytes(m.payload), bool(m.retain))
        )
        self.client.connect("127.0.0.1", port, keepalive=keepalive)
        self.client.loop_start()
        assert self.connected.wait(10), "the watcher could not connect"

    def wait_for(self, topic: str, payload: bytes, timeout: float = 10.0) -> tuple:
        def seen() -> tuple | None:
            for message in list(self.messages):
                if message[0] == topic and message[1] == payload:
                    return message
            return None

        return wait_until(seen, timeout, f"{payload!r} on {topic}", interval=0.02)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _publish_retained(port: int, topic: str, payload: bytes) -> None:
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish(topic, payload, qos=1, retain=True).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


# A board as the dashboard sees it: connects with a retained last will "offline", says
# "online" (retained), then runs until it is killed (power cut: no DISCONNECT is sent).
BOARD_PROCESS = textwrap.dedent("""
    import sys, time
    import paho.mqtt.client as mqtt
    port, topic = int(sys.argv[1]), sys.argv[2]
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.will_set(topic, b"offline", qos=1, retain=True)
    client.connect("127.0.0.1", port, keepalive=60)
    client.loop_start()
    client.publish(topic, b"online", qos=1, retain=True).wait_for_publish(10)
    print("ready", flush=True)
    while True:
        time.sleep(1)
    """)


def _connect_packet(client_id: bytes, will_topic: bytes, will: bytes, keepalive: int) -> bytes:
    """An MQTT 3.1.1 CONNECT with a retained will, written out so the test controls silence."""

    def field(data: bytes) -> bytes:
        return len(data).to_bytes(2, "big") + data

    will_retain, will_flag, clean_session = 0x20, 0x04, 0x02
    body = (
        field(b"MQTT")
        + bytes([4, will_retain | will_flag | clean_session])
        + keepalive.to_bytes(2, "big")
        + field(client_id)
        + field(will_topic)
        + field(will)
    )
    return bytes([0x10, len(body)]) + body


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(0) as b:
        yield b


def _start_cli(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    port_file = tmp_path / "broker-url"
    proc = subprocess.Popen(
        [venv_bin("iotkit"), "broker", "--port", "0", "--port-file", str(port_file), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def ready() -> str | None:
        if proc.poll() is not None:
            raise AssertionError(f"iotkit broker exited {proc.returncode}: {proc.stderr.read()}")
        return port_file.read_text(encoding="utf-8").strip() if port_file.exists() else None

    return proc, wait_until(ready, 30, "iotkit broker's port file", interval=0.05)


def _finish(proc: subprocess.Popen[str], sig: int) -> tuple[int, str, str]:
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out, err


def test_cli_prints_its_url_serves_and_ends_on_sigterm_with_exit_0(tmp_path):
    proc, url = _start_cli(tmp_path)
    try:
        port = int(url.rsplit(":", 1)[1])
        assert url == f"mqtt://127.0.0.1:{port}"
        watcher = Watcher(port)  # the broker on the port file's URL answers MQTT
        watcher.close()
    finally:
        code, out, err = _finish(proc, signal.SIGTERM)
    assert code == 0, err
    assert out.splitlines()[0] == (
        f"MQTT broker on {url} (this computer only; --lan to let the boards reach it)"
    )
    assert err.strip() == "MQTT broker stopped."  # and nothing from amqtt: it stays quiet


def test_ctrl_c_ends_the_broker_with_exit_0(tmp_path):
    proc, _url = _start_cli(tmp_path)
    code, _out, err = _finish(proc, signal.SIGINT)
    assert code == 0, err
    assert "Traceback" not in err


def test_amqtt_logs_only_with_verbose(tmp_path):
    proc, url = _start_verbose(tmp_path)
    try:
        Watcher(int(url.rsplit(":", 1)[1])).close()  # a connection amqtt logs at debug level
    finally:
        code, _out, err = _finish(proc, signal.SIGTERM)
    assert code == 0
    assert "amqtt" in err


def _start_verbose(tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    port_file = tmp_path / "broker-url"
    proc = subprocess.Popen(
        [venv_bin("iotkit"), "-v", "broker", "--port", "0", "--port-file", str(port_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = wait_until(
        lambda: port_file.exists() and port_file.read_text(encoding="utf-8").strip(),
        30,
        "iotkit -v broker's port file",
    )
    return proc, url


def test_a_port_taken_by_mosquitto_is_one_clear_error(mosquitto):  # noqa: F811
    result = subprocess.run(
        [venv_bin("iotkit"), "broker", "--port", str(mosquitto.port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"error: port {mosquitto.port} is taken - is mosquitto already running? Then use it: "
        'broker = "mqtt://'
    )
    assert f':{mosquitto.port}" in class.toml' in lines[0]
    assert result.stdout == ""


def test_a_taken_port_raises_in_the_engine(broker):
    with pytest.raises(BrokerPortTakenError) as info:
        with EmbeddedBroker(broker.port):
            pass
    assert info.value.port == broker.port


def test_a_retained_status_reaches_a_dashboard_that_starts_later(broker):
    topic = status_topic(CLASS, "seat-01")
    _publish_retained(broker.port, topic, ONLINE.encode())
    watcher = Watcher(broker.port)  # subscribes after the board said "online"
    try:
        assert watcher.wait_for(topic, ONLINE.encode()) == (topic, ONLINE.encode(), True)
    finally:
        watcher.close()


def test_a_board_that_dies_gets_its_retained_last_will(broker, tmp_path):
    topic = status_topic(CLASS, "seat-02")
    watcher = Watcher(broker.port)
    board = subprocess.Popen(
        [sys.executable, "-c", BOARD_PROCESS, str(broker.port), topic],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert board.stdout is not None and board.stdout.readline().strip() == "ready"
        watcher.wait_for(topic, ONLINE.encode())
        board.kill()  # no DISCONNECT: the OS closes the socket, as when a board resets
        board.wait(10)
        watcher.wait_for(topic, OFFLINE.encode())
    finally:
        board.kill()
        board.wait(10)
        watcher.close()
    late = Watcher(broker.port)  # a dashboard started after the board died still knows
    try:
        assert late.wait_for(topic, OFFLINE.encode())[2] is True
    finally:
        late.close()


def test_a_board_that_falls_silent_gets_its_will_after_one_and_a_half_keepalives(broker):
    topic = status_topic(CLASS, "seat-03")
    watcher = Watcher(broker.port)
    silent = socket.create_connection(("127.0.0.1", broker.port), timeout=10)
    try:
        keepalive = 1
        silent.sendall(_connect_packet(b"seat-03", topic.encode(), OFFLINE.encode(), keepalive))
        assert silent.recv(4) == b"\x20\x02\x00\x00"  # CONNACK, accepted
        start = time.monotonic()
        # The connection stays open and says nothing, as when a board loses power on Wi-Fi.
        watcher.wait_for(topic, OFFLINE.encode(), timeout=10)
        waited = time.monotonic() - start
        assert waited >= keepalive, f"dropped after {waited:.2f} s, before its keepalive"
    finally:
        silent.close()
        watcher.close()


def test_a_client_that_pings_within_its_keepalive_is_not_dropped(broker):
    topic = status_topic(CLASS, "seat-04")
    board = Watcher(broker.port, filters=[], keepalive=1)
    watcher = Watcher(broker.port)
    try:
        _publish_retained(broker.port, topic, ONLINE.encode())
        # Three keepalive periods go by, each ended by paho's PINGREQ and the broker's answer.
        wait_until(lambda: board.pings >= 3, 15, "three PINGRESPs to an idle client")
        assert board.client.is_connected()
        assert [m for m in watcher.messages if m[1] == OFFLINE.encode()] == []
    finally:
        board.close()
        watcher.close()


def test_a_restart_serves_the_same_port_again(broker):
    port = broker.port
    assert port != 0  # port 0 asked for any free port; the broker says which
    broker.stop()
    assert not broker.running
    broker.start()
    assert broker.port == port
    Watcher(port).close()


def test_lan_binds_every_interface_and_names_this_pcs_addresses(tmp_path):
    proc, url = _start_cli(tmp_path, "--lan")
    try:
        port = int(url.rsplit(":", 1)[1])
        addresses = lan_addresses()
        for address in addresses:  # reachable on the network address, not only on loopback
            with socket.create_connection((address, port), timeout=5):
                pass
    finally:
        code, out, err = _finish(proc, signal.SIGTERM)
    assert code == 0, err
    assert out.splitlines()[0] == (
        f"MQTT broker on port {port} of every network interface of this computer."
    )
    for address in addresses:
        assert f'  broker = "mqtt://{address}:{port}"' in out.splitlines()


def test_a_port_that_is_not_a_port_is_a_usage_error():
    result = subprocess.run(
        [venv_bin("iotkit"), "broker", "--port", "70000"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_loopback_only_by_default(broker):
    assert broker.host == "127.0.0.1"
    addresses = lan_addresses()
    if not addresses:
        pytest.skip("this computer has no network address to try")
    with pytest.raises(OSError):
        socket.create_connection((addresses[0], broker.port), timeout=2).close()


# -- two labs, one class view: a mosquitto bridge (docs/classroom.md shows the same lines) ------
BRIDGE = """
connection lab-b
address 127.0.0.1:{port}
topic iotkit/# both 0
"""


def test_two_mosquittos_bridged_share_readings_and_last_wills_both_ways():
    lab_b = Mosquitto.on_a_free_port()
    lab_a = None
    try:
        for _ in range(5):  # the free port may be taken before mosquitto binds it: try another
            candidate = Mosquitto(_free_port())
            with open(candidate.conf, "a", encoding="utf-8") as conf:
                conf.write(BRIDGE.format(port=lab_b.port))
            try:
                candidate.start()
                lab_a = candidate
                break
            except RuntimeError:
                candidate.close()
        assert lab_a is not None, "no free port for the bridged mosquitto"
        in_b = Watcher(lab_b.port, ["iotkit/#"])
        in_a = Watcher(lab_a.port, ["iotkit/#"])
        try:
            readings_a = "iotkit/lab-a/seat-01/readings"
            readings_b = "iotkit/lab-b/seat-01/readings"

            def bridged() -> bool:  # the bridge connects on its own time: publish until it has
                _publish_retained(lab_a.port, readings_a, b"temp_c:21.5")
                return any(m[0] == readings_a for m in list(in_b.messages))

            wait_until(bridged, 30, "lab A's reading in lab B", interval=0.5)
            _publish_retained(lab_b.port, readings_b, b"temp_c:19.0")
            in_a.wait_for(readings_b, b"temp_c:19.0")
            # A board of lab A dies: lab B's dashboard sees its will.
            topic = status_topic(CLASS, "seat-05")
            board = subprocess.Popen(
                [sys.executable, "-c", BOARD_PROCESS, str(lab_a.port), topic],
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                assert board.stdout is not None and board.stdout.readline().strip() == "ready"
                in_b.wait_for(topic, ONLINE.encode())
                board.kill()
                in_b.wait_for(topic, OFFLINE.encode())
            finally:
                board.kill()
                board.wait(10)
        finally:
            in_a.close()
            in_b.close()
    finally:
        if lab_a is not None:
            lab_a.close()
        lab_b.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
