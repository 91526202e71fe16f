"""mqtt_pub.py on the virtual board publishing to a real amqtt broker, read by paho on the host.

The board runs micropython-lib's real umqtt.simple (fetched from PyPI by device_helpers, never
committed) from /lib/umqtt/simple.py, as `iotkit deploy` installs it on boards without it.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from device_helpers import install, start_main, umqtt_simple_source, wait_ready
from secret_helpers import WIFI_PASSWORD, assert_no_secret

from companion_app.readings.parser import LineParser
from companion_app.simulator import VirtualBoard, micropython_available

pytestmark = pytest.mark.skipif(not micropython_available(), reason="needs the virtual board")

SSID = "iotkit-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BrokerThread:
    """A real amqtt broker on 127.0.0.1:port that a test can stop and start again.

    The approach of tests/test_sources.py: the broker lives in its own asyncio loop, in a
    thread; here the loop outlives the broker, so a new one can take the same port.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="amqtt", daemon=True)
        self.thread.start()
        self.broker: Any = None

    def _call(self, coro: Any, timeout: float = 15) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> None:
        from amqtt.broker import Broker

        async def start() -> Any:
            broker = Broker(
                {
                    "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
                    "plugins": {
                        "amqtt.plugins.authentication.AnonymousAuthPlugin": {
                            "allow_anonymous": True
                        }
                    },
                }
            )
            await broker.start()
            return broker

        self.broker = self._call(start())

    def stop(self) -> None:
        if self.broker is not None:
            self._call(self.broker.shutdown())
            self.broker = None

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def client_ids(self) -> list[str]:
        return list(self.broker.sessions) if self.broker is not None else []


class Subscriber:
    """paho-mqtt on the host: subscribes (again after each reconnect) and keeps what arrives."""

    def __init__(self, port: int, topic: str) -> None:
        import paho.mqtt.client as mqtt

        self.topic = topic
        self.messages: list[tuple[float, bytes]] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = lambda c, u, msg: self.messages.append(
            (time.monotonic(), msg.payload)
        )
        self.client.connect("127.0.0.1", port, keepalive=5)
        self.client.loop_start()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.subscribed.clear()
        client.subscribe(self.topic)

    def wait(self, count: int, since: float = 0.0, timeout: float = 15.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = [json.loads(p) for t, p in list(self.messages) if t >= since]
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"{count} messages expected since {since}, got {self.messages}")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def broker():
    b = BrokerThread(free_port())
    b.start()
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


def test_mqtt_pub_publishes_json_readings_and_resumes_after_the_broker_restarts(board, broker):
    # A topic of its own; letters only, since a number in the status line would be plotted.
    topic = "iotkit/test/" + "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:8])
    install(
        board.flash_dir,
        ["wifi.py", "sensor.py", "mqtt_pub.py"],
        {
            "device_name": "iotkit-test",
            "wifi_ssid": SSID,
            "wifi_password": WIFI_PASSWORD,
            "parts": ["wifi", "sensor", "mqtt"],
            "interval_s": 0.3,
            "min_interval_s": 0.3,  # the virtual DHT22 may be read faster than a real one
            "mqtt_broker": f"127.0.0.1:{broker.port}",
            "mqtt_topic": topic,
        },
    )
    lib = board.flash_dir / "lib" / "umqtt"
    lib.mkdir(parents=True)
    (lib / "simple.py").write_bytes(umqtt_simple_source())
    sub = Subscriber(broker.port, topic)
    assert sub.subscribed.wait(10), "the host subscriber did not subscribe"
    board.set_input("dht1", temperature=24.5, humidity=47.0)

    run = start_main(board.port)
    try:
        run.read_for(20, until=f"mqtt: published to {topic}")
        first = sub.wait(3)
        assert first[-1] == {"temp_c": 24.5, "humidity": 47.0}, first
        ids = broker.client_ids()
        assert any(re.fullmatch(r"iotkit-test-[0-9a-f]{12}", i) for i in ids), ids

        broker.stop()
        run.read_for(10, until="mqtt: lost the broker")
        time.sleep(1.0)  # a moment with no broker: the board's tries are refused
        board.set_input("dht1", temperature=26.0)
        broker.start()
        restarted = time.monotonic()
        assert sub.subscribed.wait(15), "the host subscriber did not come back"
        run.read_for(20, until=f"(?s)mqtt: lost the broker.*mqtt: published to {topic}")
        after = sub.wait(2, since=restarted, timeout=15)
        assert after[-1] == {"temp_c": 26.0, "humidity": 47.0}, after
    finally:
        out = run.stop()
        sub.close()

    assert out.count("mqtt: connected to 127.0.0.1") == 2, out
    # "Sparingly": one line per connection, not one per message.
    assert out.count(f"mqtt: published to {topic}") == 2, out
    assert "Traceback" not in out.split("main: stopped by Ctrl-C")[0], out
    assert_no_secret(out)
    series = {name for line in LineParser().feed(out.encode()) for name in line.values}
    assert series == {"temp_c", "humidity"}, series  # status lines are not plotted
