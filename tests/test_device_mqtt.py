"""mqtt_pub.py on the virtual board publishing to a real broker, read by paho on the host.

The board runs micropython-lib's real umqtt.simple (fetched from PyPI by device_helpers, never
committed) from /lib/umqtt/simple.py, as `iotkit deploy` installs it on boards without it.

Two brokers: amqtt (the embedded one, `iotkit broker`) and Debian's mosquitto, which a lab runs
(tests/mosquitto_helpers.py starts it on a free loopback port). What the class dashboard relies
on is checked against mosquitto: each reading is one line LineParser reads, the status topic holds
a retained "online" after each connect and the board's last will "offline" once it is gone, and
both come back after a broker restart that lost every retained message.
"""

from __future__ import annotations

import re
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
from device_helpers import MainRun, install, start_main, umqtt_simple_source, wait_ready
from mosquitto_helpers import mosquitto  # noqa: F401 - a fixture
from mqtt_helpers import BrokerThread
from secret_helpers import WIFI_PASSWORD, assert_no_secret
from waiting import wait_until

from companion_app.classroom import topics
from companion_app.device import deploy as engine
from companion_app.readings.parser import LineParser
from companion_app.simulator import VirtualBoard, micropython_available

pytestmark = pytest.mark.skipif(not micropython_available(), reason="needs the virtual board")

SSID = "iotkit-test"
# Letters only in class and board names: a number in the board's "published to TOPIC" line
# would be plotted.
CLASS, SEAT = "lab", "seat"
READINGS = topics.readings_topic(CLASS, SEAT)
STATUS = topics.status_topic(CLASS, SEAT)
MQTT_FILES = ["wifi.py", "sensor.py", "mqtt_pub.py"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Message:
    at: float  # time.monotonic() when it arrived
    topic: str
    payload: bytes
    retain: bool


class Watcher:
    """paho-mqtt (MQTT 3.1.1) on the host: subscribes to `filters`, again after each reconnect,
    and keeps every message with its topic, retain flag and arrival time."""

    def __init__(self, port: int, *filters: str) -> None:
        import paho.mqtt.client as mqtt

        self.filters = filters
        self.messages: list[Message] = []
        self.subscribed_at = 0.0  # when the broker last confirmed the subscriptions
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=5)
        self.client.loop_start()
        wait_until(lambda: self.subscribed_at, 10, f"the host subscribed to {filters}")

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.subscribed_at = 0.0
        client.subscribe([(f, 1) for f in self.filters])

    def _on_subscribe(self, *args: Any) -> None:
        self.subscribed_at = time.monotonic()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        self.messages.append(Message(time.monotonic(), msg.topic, bytes(msg.payload), msg.retain))

    def wait_for(
        self, what: str, match: Callable[[Message], bool], since: float = 0.0, timeout: float = 15
    ) -> Message:
        """The first message since `since` that `match` accepts, waiting up to `timeout` s."""

        def found() -> Message | None:
            return next((m for m in list(self.messages) if m.at >= since and match(m)), None)

        return wait_until(found, timeout, what, interval=0.05)

    def status(self, topic: str, word: bytes, since: float = 0.0, timeout: float = 15) -> Message:
        return self.wait_for(
            f"{word.decode()!r} on {topic}",
            lambda m: m.topic == topic and m.payload == word,
            since,
            timeout,
        )

    def reading(self, topic: str, since: float = 0.0, timeout: float = 15) -> dict[str, float]:
        """The values of the next reading on `topic`, as the host's plotter reads them."""
        msg = self.wait_for(f"a reading on {topic}", lambda m: m.topic == topic, since, timeout)
        return parsed(msg.payload)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def parsed(payload: bytes) -> dict[str, float]:
    """What LineParser, the plotter's and the dashboard's reader, makes of one payload."""
    lines = LineParser().feed(payload + b"\n")
    assert len(lines) == 1, (payload, lines)
    return dict(lines[0].values)


def retained(port: int, topic: str) -> bytes:
    """What a subscriber that connects now gets first on `topic`: the retained message."""
    late = Watcher(port, topic)
    try:
        msg = late.wait_for(f"the retained message on {topic}", lambda m: m.topic == topic)
        assert msg.retain, msg
        return msg.payload
    finally:
        late.close()


@pytest.fixture
def broker():
    b = BrokerThread.on_a_free_port()
    yield b
    b.close()


@pytest.fixture
def board(tmp_path: Path):
    vb = VirtualBoard(
        flash_dir=tmp_path / "flash", wifi=[{"ssid": SSID, "password": WIFI_PASSWORD}]
    )
    vb.start()
    wait_ready(vb.port)
    yield vb
    vb.stop()


def deployed_config(broker_port: int, **values: Any) -> dict[str, Any]:
    """The /config.json `iotkit deploy --template mqtt` writes (defaults filled in, values
    checked by the engine), plus the test-only key that reads the virtual DHT22 faster."""
    cfg = engine.build_config(
        ["mqtt"],
        {
            "device_name": "iotkit-test",
            "wifi_ssid": SSID,
            "wifi_password": WIFI_PASSWORD,
            "interval_s": 1,
            "mqtt_broker": f"127.0.0.1:{broker_port}",
            **values,
        },
    )
    cfg["interval_s"] = 0.3  # below the deploy's minimum, like min_interval_s: tests only
    cfg["min_interval_s"] = 0.3
    return cfg


def install_mqtt(vb: VirtualBoard, cfg: dict[str, Any]) -> None:
    install(vb.flash_dir, MQTT_FILES, cfg)
    lib = vb.flash_dir / "lib" / "umqtt"
    lib.mkdir(parents=True, exist_ok=True)
    (lib / "simple.py").write_bytes(umqtt_simple_source())


def stopped(run: MainRun) -> str:
    out = run.stop()
    assert "Traceback" not in out.split("main: stopped by Ctrl-C")[0], out
    assert_no_secret(out)
    series = {name for line in LineParser().feed(out.encode()) for name in line.values}
    assert series <= {"temp_c", "humidity"}, series  # status lines are not plotted
    return out


# ------------------------------------------------------------------------------ amqtt


def test_mqtt_pub_publishes_reading_lines_and_resumes_after_the_broker_restarts(board, broker):
    # A topic of its own that does not end in /readings: the status topic is it + "/status".
    topic = "iotkit/test/" + "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:8])
    install_mqtt(board, deployed_config(broker.port, mqtt_topic=topic))
    watcher = Watcher(broker.port, topic, topic + "/status")
    board.set_input("dht1", temperature=24.5, humidity=47.0)

    run = start_main(board.port)
    try:
        run.read_for(20, until=f"mqtt: published to {topic}")
        assert watcher.reading(topic) == {"temp_c": 24.5, "humidity": 47.0}
        watcher.status(topic + "/status", b"online")
        ids = broker.client_ids()
        assert any(re.fullmatch(r"iotkit-test-[0-9a-f]{12}", i) for i in ids), ids

        broker.stop()
        run.read_for(10, until="mqtt: lost the broker")
        # A moment with no broker: the board tries, and is refused.
        refused = r"(?s)mqtt: lost the broker.*mqtt: connecting to \S+ failed"
        assert re.search(refused, run.read_for(10, until=refused)), run.text
        board.set_input("dht1", temperature=26.0)
        broker.start()
        restarted = time.monotonic()
        wait_until(lambda: watcher.subscribed_at > restarted, 15, "the host subscriber is back")
        run.read_for(20, until=f"(?s)mqtt: lost the broker.*mqtt: published to {topic}")
        assert watcher.reading(topic, since=restarted) == {"temp_c": 26.0, "humidity": 47.0}
    finally:
        out = stopped(run)
        watcher.close()

    assert out.count("mqtt: connected to 127.0.0.1") == 2, out
    # "Sparingly": one line per connection, not one per message.
    assert out.count(f"mqtt: published to {topic}") == 2, out


# -------------------------------------------------------------------------- mosquitto


def test_readings_are_lines_and_the_status_is_a_retained_online_then_the_will_offline(
    board,
    mosquitto,  # noqa: F811 - the fixture
):
    # The class deploy's topics; the status topic is left to the board to derive.
    install_mqtt(board, deployed_config(mosquitto.port, mqtt_topic=READINGS))
    watcher = Watcher(mosquitto.port, topics.class_filters(CLASS)[0], STATUS)
    board.set_input("dht1", temperature=24.5, humidity=47.0)

    run = start_main(board.port)
    try:
        run.read_for(20, until=f"mqtt: published to {READINGS}")
        first = watcher.wait_for("a reading", lambda m: m.topic == READINGS)
        assert first.payload == b"temp_c:24.5,humidity:47.0"  # the line the sensor prints
        assert parsed(first.payload) == {"temp_c": 24.5, "humidity": 47.0}
        watcher.status(STATUS, b"online")
        # Retained: a dashboard started later still learns that the board is there.
        assert retained(mosquitto.port, STATUS) == b"online"
        # The keep alive of config.json's default reached the broker ("k60" in its log).
        client = wait_until(
            lambda: re.search(r"as (iotkit-test-[0-9a-f]{12}) \(p\d, c\d, k60", log(mosquitto)),
            10,
            "the board's connection in mosquitto's log",
        ).group(1)
        assert f"{client} (p2" in log(mosquitto)  # MQTT 3.1.1 (protocol level 4 = "p2")

        out = run.read_for(5, until=r"(?s)(temp_c:.*){3}")
        assert "temp_c:24.5,humidity:47.0" in out  # the same line on the serial port
    finally:
        run.console.close()
    died = time.monotonic()
    board.stop()  # the board dies without a word to the broker: its last will speaks for it
    offline = watcher.status(STATUS, b"offline", since=died, timeout=10)
    assert offline.at - died < 5, offline
    assert retained(mosquitto.port, STATUS) == b"offline"
    watcher.close()
    assert_no_secret(run.text)


def test_after_a_broker_restart_the_board_sends_readings_and_online_again(
    board,
    mosquitto,  # noqa: F811 - the fixture
):
    install_mqtt(board, deployed_config(mosquitto.port, mqtt_topic=READINGS))
    watcher = Watcher(mosquitto.port, READINGS, STATUS)
    board.set_input("dht1", temperature=24.5, humidity=47.0)

    run = start_main(board.port)
    try:
        run.read_for(20, until=f"mqtt: published to {READINGS}")
        watcher.status(STATUS, b"online")
        mosquitto.restart()  # persistence false: the retained "online" is gone with it
        restarted = time.monotonic()
        board.set_input("dht1", temperature=26.0)
        run.read_for(30, until=f"(?s)mqtt: lost the broker.*mqtt: published to {READINGS}")
        watcher.status(STATUS, b"online", since=restarted, timeout=20)
        assert watcher.reading(READINGS, since=restarted, timeout=20)["temp_c"] == 26.0
        assert retained(mosquitto.port, STATUS) == b"online"  # published again, retained
    finally:
        out = stopped(run)
        watcher.close()
    assert out.count("mqtt: connected to 127.0.0.1") == 2, out


def test_an_idle_board_pings_within_its_keepalive_and_goes_offline_when_it_stops(
    board,
    mosquitto,  # noqa: F811 - the fixture
):
    keepalive = 2
    state = "lab/bench/state"  # an explicit status topic wins over the derived one
    cfg = deployed_config(
        mosquitto.port,
        sensor="none",  # nothing to publish: only pings keep the connection
        mqtt_topic=READINGS,
        mqtt_status_topic=state,
        mqtt_keepalive_s=keepalive,
    )
    install_mqtt(board, cfg)
    watcher = Watcher(mosquitto.port, "#")

    run = start_main(board.port)
    try:
        run.read_for(20, until="mqtt: connected to")
        online = watcher.status(state, b"online")
        assert re.search(r"as iotkit-test-[0-9a-f]{12} \(p2, c\d, k2\)", log(mosquitto))
        # Three keep-alive periods with nothing to send: the broker (which drops a client silent
        # for 1.5 times its keep alive) keeps the board, and the board keeps the broker.
        # (The board's output is read all the while; a dropped connection ends the wait.)
        quiet = online.at + 3 * keepalive - time.monotonic()
        out = run.read_for(quiet, until="mqtt: lost the broker")
        assert "mqtt: lost the broker" not in out, out
        assert not [m for m in watcher.messages if m.payload == b"offline"], watcher.messages
        assert not [m for m in watcher.messages if m.topic == STATUS]  # not the derived one
        assert "exceeded timeout" not in log(mosquitto), log(mosquitto)
        stopping = time.monotonic()
    finally:
        stopped(run)
    # main.py stopped (Ctrl-C): no more pings. The broker gives up after 1.5 x keepalive (or at
    # once, should the board's socket close).
    offline = watcher.status(state, b"offline", since=online.at, timeout=1.5 * keepalive + 10)
    assert offline.at - stopping < 1.5 * keepalive + 5, offline
    watcher.close()


def test_a_keepalive_the_board_cannot_use_is_replaced_by_the_default_with_a_warning(
    board,
    mosquitto,  # noqa: F811 - the fixture
):
    cfg = deployed_config(mosquitto.port, sensor="none", mqtt_topic=READINGS)
    cfg["mqtt_keepalive_s"] = 0  # written by hand on the board: 0 would mean "never"
    install_mqtt(board, cfg)
    run = start_main(board.port)
    try:
        out = run.read_for(20, until="mqtt: connected to")
    finally:
        stopped(run)
    assert "mqtt: warning - mqtt_keepalive_s must be 1 to 65535 s, so 60 is used" in out, out
    assert re.search(r"as iotkit-test-[0-9a-f]{12} \(p2, c\d, k60\)", log(mosquitto))


def log(broker: Any) -> str:
    return broker.log.read_text(encoding="utf-8", errors="replace")


# ------------------------------------------------------------------------ the deploy side


def test_the_deploy_checks_the_keepalive_and_leaves_the_status_topic_to_the_board():
    defaults = engine.config_defaults()
    assert defaults["mqtt_keepalive_s"] == 60 and defaults["mqtt_status_topic"] == ""
    assert engine.parse_set(["mqtt_keepalive_s=30"]) == {"mqtt_keepalive_s": 30}
    for bad in ("0", "65536"):
        with pytest.raises(engine.DeployUsageError) as refused:
            engine.parse_set([f"mqtt_keepalive_s={bad}"])
        assert str(refused.value) == (
            "mqtt_keepalive_s must be from 1 to 65535 seconds (the broker declares the board"
            f" offline after 1.5 times it), not {bad}."
        )
    with pytest.raises(engine.DeployUsageError, match="must not be negative"):
        engine.build_config(["mqtt"], {"mqtt_keepalive_s": -5})
    keys = engine.manifest()["templates"]["mqtt"]["config"]
    assert {"mqtt_status_topic", "mqtt_keepalive_s"} <= set(keys)
