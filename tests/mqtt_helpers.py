"""A real MQTT broker (amqtt) and a paho-mqtt subscriber on the host, for the tests that run the
mqtt template on the virtual board."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from typing import Any

from waiting import wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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

    @classmethod
    def on_a_free_port(cls, attempts: int = 5) -> "BrokerThread":
        """A started broker on a port nobody holds. A free port found first can be taken by
        another process (the other test pass) before the broker binds it: then try another."""
        error: Exception | None = None
        for _ in range(attempts):
            broker = cls(free_port())
            try:
                broker.start()
                return broker
            except Exception as exc:  # noqa: BLE001 - amqtt's BrokerError: address in use
                broker.close()
                error = exc
        assert error is not None
        raise error

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

        def got() -> list[dict] | None:
            messages = [json.loads(p) for t, p in list(self.messages) if t >= since]
            return messages if len(messages) >= count else None

        return wait_until(got, timeout, f"{count} messages since {since}", interval=0.05)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
