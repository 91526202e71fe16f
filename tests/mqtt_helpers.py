"""A real MQTT broker (our embedded amqtt one) and a paho-mqtt subscriber on the host, for the
tests that run the mqtt template on the virtual board."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

from waiting import wait_until

from companion_app.classroom.broker import EmbeddedBroker


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BrokerThread(EmbeddedBroker):
    """The product's embedded broker (`iotkit broker`, companion_app.classroom.broker) on
    127.0.0.1, which a test can stop and start again on the same port: the mqtt template is
    tested against the broker we ship, keepalive timeout and all."""

    @property
    def broker(self) -> Any:
        """amqtt's own Broker while running (tests read its `subscriptions`), else None."""
        return self._broker

    @classmethod
    def on_a_free_port(cls) -> "BrokerThread":
        """A started broker on a port the OS picks as it binds (so no other process can take
        the port between a look and the bind)."""
        broker = cls(0)
        try:
            broker.start()
        except BaseException:
            broker.close()
            raise
        return broker


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

        def got() -> list[dict] | None:
            messages = [json.loads(p) for t, p in list(self.messages) if t >= since]
            return messages if len(messages) >= count else None

        return wait_until(got, timeout, f"{count} messages since {since}", interval=0.05)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
