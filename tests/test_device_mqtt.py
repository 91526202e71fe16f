"""mqtt_pub.py on the virtual board publishing to a real amqtt broker, read by paho on the host.

The board runs micropython-lib's real umqtt.simple (fetched from PyPI by device_helpers, never
committed) from /lib/umqtt/simple.py, as `iotkit deploy` installs it on boards without it.
"""

from __future__ import annotations

import re
import socket
import time
import uuid
from pathlib import Path

import pytest
from device_helpers import install, start_main, umqtt_simple_source, wait_ready
from mqtt_helpers import BrokerThread, Subscriber
from secret_helpers import WIFI_PASSWORD, assert_no_secret

from companion_app.readings.parser import LineParser
from companion_app.simulator import VirtualBoard, micropython_available

pytestmark = pytest.mark.skipif(not micropython_available(), reason="needs the virtual board")

SSID = "iotkit-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
        # A moment with no broker: the board tries, and is refused.
        refused = r"(?s)mqtt: lost the broker.*mqtt: connecting to \S+ failed"
        assert re.search(refused, run.read_for(10, until=refused)), run.text
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
