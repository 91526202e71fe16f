"""Boards played by paho-mqtt clients, for the class dashboard's tests and benchmark.

A `PlayedBoard` does what the mqtt template does on a real board (device_scripts/mqtt_pub.py):
it connects with the last will "offline" (retained) on its status topic, publishes "online"
(retained) after every connect, and one reading line ("temp_c:22.5,humidity:41.0") every
`interval_s` to its readings topic. Run as a script it plays one board in a process of its own,
so a test can kill it (SIGKILL: no clean disconnect, the broker must publish the will):

    python tests/dashboard_publishers.py mqtt://127.0.0.1:PORT CLASS BOARD [INTERVAL] [KEEPALIVE]
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from companion_app.classroom import topics  # noqa: E402
from companion_app.readings.sources import parse_mqtt_url  # noqa: E402


class PlayedBoard:
    """One board's MQTT side, in a thread: will, retained online status, a reading per tick."""

    def __init__(
        self,
        url: str,
        class_name: str,
        board: str,
        interval_s: float = 0.2,
        keepalive_s: int = 60,
        base: float = 20.0,
    ) -> None:
        import paho.mqtt.client as mqtt

        self.host, self.port, _tls, _user, _password = parse_mqtt_url(url)
        self.board = board
        self.readings = topics.readings_topic(class_name, board)
        self.status = topics.status_topic(class_name, board)
        self.interval_s = interval_s
        self.keepalive_s = keepalive_s
        self.base = base
        self.sent = 0
        self.connected = threading.Event()
        self._stop = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"played-{class_name}-{board}",
            protocol=mqtt.MQTTv311,
        )
        self.client.will_set(self.status, topics.OFFLINE, qos=1, retain=True)
        self.client.reconnect_delay_set(0.2, 1)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *a: self.connected.clear()
        self._thread = threading.Thread(target=self._run, name=f"board-{board}", daemon=True)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if not reason_code.is_failure:
            client.publish(self.status, topics.ONLINE, qos=1, retain=True)
            self.connected.set()

    def line(self, n: int) -> str:
        return f"temp_c:{self.base + n % 10 / 10:.1f},humidity:{40 + n % 7:.1f}"

    def start(self) -> "PlayedBoard":
        self.client.connect_async(self.host, self.port, keepalive=self.keepalive_s)
        self.client.loop_start()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            if self.connected.is_set():
                self.client.publish(self.readings, self.line(self.sent), qos=0)
                self.sent += 1

    def stop(self, clean: bool = True) -> None:
        """End the board; `clean` publishes "offline" first, as a board switched off in order."""
        self._stop.set()
        self._thread.join(5)
        if clean and self.connected.is_set():
            self.client.publish(self.status, topics.OFFLINE, qos=1, retain=True).wait_for_publish(5)
        self.client.disconnect()
        self.client.loop_stop()


def main(argv: list[str]) -> int:
    url, class_name, board = argv[:3]
    interval = float(argv[3]) if len(argv) > 3 else 0.2
    keepalive = int(argv[4]) if len(argv) > 4 else 60
    played = PlayedBoard(url, class_name, board, interval, keepalive).start()
    played._thread.join()  # until killed
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
