"""The class dashboard's engine: one MQTT subscriber that keeps the live state of every board.

Why it is built this way, in steps:

1. One paho-mqtt client (MQTT 3.1.1, clean session, a random client id starting with
   `CLIENT_ID_PREFIX`, so two dashboards on one broker never kick each other off) subscribes to
   the class's two filters (`topics.class_filters`) on every (re)connect: a broker that
   restarted has forgotten every subscription, and re-subscribing also makes it re-deliver the
   retained `online`/`offline` statuses.
2. Each board's payloads are parsed with the plot's own parser (`readings.sources`: a payload is
   one or more reading lines, or JSON), one `LineParser` per board, because a parser keeps the
   state of one stream (a CSV header) and two boards must not mix theirs.
3. The readings go to one `SeriesStore` (bounded memory however long the lesson) under the
   names `<board>.<series>`, and, when asked, to a `CsvRecorder` with the same column names:
   the plot's CSV format of shared/CONTRACTS.md, so `iotkit plot --from-file` replays it.
4. A board's status is what its retained status topic says (`online`; `offline` is its last
   will, which the broker publishes about 1.5 keep-alive periods after the board went silent).
   Boards listed in the class file are shown from the start ("not seen yet"); a board that
   publishes under the class but is not in the file is shown too, marked, because a board on
   the wrong seat (or a student's own name) is exactly what the teacher must see.
5. When the broker cannot be reached or the connection drops, the state says so in words the
   window shows ("… unreachable …, retrying"), paho reconnects with a growing delay, and the
   boards keep the state they had until the broker tells otherwise.

Thread-safety: paho's network loop runs in this object's thread and calls the handlers there;
every read the UI makes (`boards()`, `series()`, `version`) takes the one lock and returns
copies. Nothing here knows Tk: the window polls with `after()`.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from companion_app.classroom import topics
from companion_app.errors import IotkitError
from companion_app.readings.parser import LineParser
from companion_app.readings.sources import (
    mqtt_client,
    parse_mqtt_url,
    parse_payload,
    redact_url,
)
from companion_app.secrets import mask_text, remember

log = logging.getLogger(__name__)

CLIENT_ID_PREFIX = "iotkit-dashboard-"
#: The dashboard's own keep-alive towards the broker (seconds); a lost broker shows within it.
KEEPALIVE_S = 15
#: paho's reconnect back-off: first retry after MIN, doubling up to MAX seconds.
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 10
#: How long `iotkit class dashboard --headless` waits for the broker before it gives up.
CONNECT_TIMEOUT_S = 5.0
#: Points kept per series at full resolution (an hour at 1 Hz); older ones are thinned by the
#: store, never dropped.
FULL_RESOLUTION_POINTS = 3600
STORE_CHUNK_POINTS = 1024
#: A class of 30 boards with a handful of series each stays far below this.
MAX_SERIES = 2000
#: Received-reading times kept for the draw trace (only when tracing), per dashboard.
TRACE_BACKLOG = 10_000

# Board states.
ONLINE = topics.ONLINE
OFFLINE = topics.OFFLINE
UNKNOWN = "unknown"  # no status seen yet (listed in the file, or only readings so far)

# Broker connection states.
CONNECTING = "connecting"
CONNECTED = "connected"
UNREACHABLE = "unreachable"
LOST = "lost"
STOPPED = "stopped"


@dataclass
class BoardState:
    """What the dashboard knows about one board (a copy: the UI may keep it)."""

    name: str
    in_class: bool  # listed in class.toml
    status: str = UNKNOWN  # ONLINE, OFFLINE or UNKNOWN
    readings: int = 0  # reading lines received since the dashboard started
    last_reading: float | None = None  # time.monotonic() when the latest reading arrived
    values: dict[str, float] = field(default_factory=dict)  # the latest value of each series
    series: list[str] = field(default_factory=list)  # its series names, in order of appearance

    @property
    def seen(self) -> bool:
        return self.readings > 0 or self.status != UNKNOWN

    def age_s(self, now: float | None = None) -> float | None:
        """Seconds since the latest reading, or None before the first."""
        if self.last_reading is None:
            return None
        return max(0.0, (time.monotonic() if now is None else now) - self.last_reading)


def column_name(board: str, series: str) -> str:
    """The store's and the CSV's name for one board's series (`<board>.<series>`)."""
    return f"{board}.{series}"


def describe_age(age_s: float | None) -> str:
    """ "12 s ago", "3 min ago", "never": how old the latest reading is, for a tile."""
    if age_s is None:
        return "no readings yet"
    if age_s < 60:
        return f"{int(age_s)} s ago"
    if age_s < 3600:
        return f"{int(age_s // 60)} min ago"
    return f"{int(age_s // 3600)} h ago"


class ClassLive:
    """The live state of one class's boards, fed by the class's MQTT broker.

    `boards` are the names listed in the class file, shown from the start in that order.
    `recorder` (a `readings.recorder.CsvRecorder`) gets one row per reading line, columns
    `<board>.<series>`; its time origin is `start()`. `trace=True` keeps the receipt times of
    readings for `drain_received` (the benchmark's "publish to drawn" delay).
    """

    def __init__(
        self,
        class_name: str,
        broker_url: str,
        boards: Iterable[str] = (),
        *,
        recorder: Any | None = None,
        trace: bool = False,
        keepalive_s: int = KEEPALIVE_S,
    ) -> None:
        from companion_app.readings.store import SeriesStore

        problem = topics.level_problem(class_name)
        if problem:
            raise IotkitError(f"The class name {class_name!r} cannot be used: {problem}.")
        try:
            self.host, self.port, self.tls, self._user, self._password = parse_mqtt_url(broker_url)
        except ValueError as exc:
            raise IotkitError(str(exc)) from exc
        remember(self._password)
        self.class_name = class_name
        self.broker = redact_url(broker_url)
        self.keepalive_s = int(keepalive_s)
        self.client_id = CLIENT_ID_PREFIX + secrets.token_hex(6)
        self.recorder = recorder
        self.store = SeriesStore(
            FULL_RESOLUTION_POINTS, chunk_points=STORE_CHUNK_POINTS, max_series=MAX_SERIES
        )
        self.connected = threading.Event()  # set while connected and subscribed
        self.ever_connected = threading.Event()
        self.recorder_error: str | None = None
        self._lock = threading.Lock()
        self._boards: dict[str, BoardState] = {}
        self._parsers: dict[str, LineParser] = {}
        self._series_names: list[str] = []
        self._version = 0
        self._state = CONNECTING
        self._message = f"Connecting to the class's MQTT broker at {self.where()}…"
        self._t0: float | None = None
        self._trace: deque[tuple[str, float, float]] | None = (
            deque(maxlen=TRACE_BACKLOG) if trace else None
        )
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._subscribe_mids: set[int] = set()
        for name in boards:
            if name not in self._boards:
                self._boards[name] = BoardState(name, in_class=True)

    # ------------------------------------------------------------------ life cycle

    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        """Connect and subscribe in a thread of its own (returns at once)."""
        if self._thread is not None:
            raise RuntimeError("a ClassLive can be started once")
        self._t0 = time.monotonic()
        if self.recorder is not None and self.recorder.t0 is None:
            self.recorder.t0 = 0.0  # rows are written in seconds since start()
        self._thread = threading.Thread(target=self._run, name="class-dashboard-mqtt", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        """Disconnect and end the thread (bounded: a stuck socket must not hang a window)."""
        self._stopping.set()
        client = self._client
        if client is not None:
            try:
                client.disconnect()
            except Exception:  # noqa: BLE001 - stopping goes on regardless
                log.debug("MQTT disconnect failed", exc_info=True)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.warning("the dashboard's MQTT thread did not stop within %.1f s", timeout)
        self._set_state(STOPPED, "Stopped.")
        self.connected.clear()

    def wait_connected(self, timeout: float) -> bool:
        """Wait until connected and subscribed; False when the deadline passed first."""
        return self.connected.wait(timeout)

    # ------------------------------------------------------------------ what the UI reads

    @property
    def version(self) -> int:
        """Bumps on every change of any board or of the connection; idle frames compare it."""
        return self._version

    @property
    def state(self) -> tuple[str, str]:
        """(CONNECTING | CONNECTED | UNREACHABLE | LOST | STOPPED, a sentence for the window)."""
        with self._lock:
            return self._state, self._message

    def boards(self) -> list[BoardState]:
        """Every board: the class file's, in its order, then others in order of appearance."""
        with self._lock:
            return [
                replace(b, values=dict(b.values), series=list(b.series))
                for b in self._boards.values()
            ]

    def board(self, name: str) -> BoardState | None:
        with self._lock:
            b = self._boards.get(name)
            return None if b is None else replace(b, values=dict(b.values), series=list(b.series))

    def series_names(self) -> list[str]:
        """Every series name any board sent (`temp_c`, …), in order of first appearance."""
        with self._lock:
            return list(self._series_names)

    def series(self, board: str, name: str, since_s: float | None = None) -> tuple[Any, Any]:
        """Times (seconds since `start()`) and values of one board's series, finite only."""
        return self.store.series(column_name(board, name), t_min=since_s)

    def now_s(self) -> float:
        """Seconds since `start()`, the time base of `series()` and of the recording."""
        return 0.0 if self._t0 is None else time.monotonic() - self._t0

    def drain_received(self) -> list[tuple[str, float, float]]:
        """(board, time.time() at receipt, monotonic at receipt) of every reading received
        since the last call (only with `trace=True`); the window stamps them as drawn."""
        trace = self._trace
        if trace is None:
            return []
        out: list[tuple[str, float, float]] = []
        while True:
            try:
                out.append(trace.popleft())
            except IndexError:
                return out

    # ------------------------------------------------------------------ the MQTT thread

    def _run(self) -> None:
        import paho.mqtt.client as mqtt

        client = mqtt_client(
            self,
            self.client_id,
            self._user,
            self._password,
            self.tls,
            (RECONNECT_MIN_S, RECONNECT_MAX_S),
            clean_session=True,
            protocol=mqtt.MQTTv311,
        )
        self._client = client
        delay = float(RECONNECT_MIN_S)
        while not self._stopping.is_set():
            try:
                client.connect(self.host, self.port, keepalive=self.keepalive_s)
                break
            except OSError as exc:
                self._unreachable(exc)
                if self._stopping.wait(delay):
                    return
                delay = min(delay * 2, float(RECONNECT_MAX_S))
        if self._stopping.is_set():
            return
        try:
            # Returns after disconnect(), which stop() calls from another thread; reconnects
            # by itself (with paho's back-off) when the broker goes away.
            client.loop_forever(retry_first_connection=True)
        except Exception as exc:  # noqa: BLE001 - a bug must show in the window, not vanish
            log.exception("the dashboard's MQTT loop failed")
            self._set_state(LOST, mask_text(f"The connection to {self.where()} failed: {exc}"))

    def _unreachable(self, exc: BaseException | None = None) -> None:
        reason = ""
        if isinstance(exc, OSError):
            reason = f" ({(exc.strerror or str(exc) or type(exc).__name__).lower()})"
        self.connected.clear()
        self._set_state(
            UNREACHABLE,
            f"The MQTT broker at {self.where()} is unreachable{reason}; retrying. Check that "
            "the broker is running and that the class file's broker address is right.",
        )

    def _set_state(self, state: str, message: str) -> None:
        with self._lock:
            if (state, message) == (self._state, self._message):
                return
            self._state, self._message = state, message
            self._version += 1
        log.info("class dashboard: %s", message)

    def _on_connect(
        self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        if reason_code.is_failure:
            self.connected.clear()
            self._set_state(
                UNREACHABLE,
                f"The MQTT broker at {self.where()} refused the connection ({reason_code}); "
                "retrying.",
            )
            return
        result, mid = client.subscribe([(f, 0) for f in topics.class_filters(self.class_name)])
        with self._lock:
            self._subscribe_mids.add(mid)

    def _on_subscribe(
        self, client: Any, userdata: Any, mid: int, reason_codes: Any, properties: Any
    ) -> None:
        failures = [rc for rc in reason_codes if rc.is_failure]
        if failures:
            self._set_state(
                LOST,
                f"The MQTT broker at {self.where()} refused the class's subscriptions "
                f"({failures[0]}).",
            )
            return
        self._set_state(
            CONNECTED, f"Connected to {self.where()}, class {self.class_name}: listening."
        )
        self.connected.set()
        self.ever_connected.set()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        self.connected.clear()
        if self._stopping.is_set():
            return
        self._set_state(
            LOST,
            f"Lost the connection to the MQTT broker at {self.where()}; reconnecting. The boards "
            "show what was known before.",
        )

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        self._unreachable()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        received = time.monotonic()
        where = topics.parse_topic(message.topic)
        if where is None or where.class_name != self.class_name:
            return
        problem = topics.level_problem(where.board)
        if problem:
            log.debug("ignored a message from board %r: %s", where.board, problem)
            return
        if where.kind == topics.STATUS:
            self._on_status(where.board, message.payload)
        else:
            self._on_readings(where.board, message.payload, received)

    def _board_locked(self, name: str) -> BoardState:
        board = self._boards.get(name)
        if board is None:
            board = self._boards[name] = BoardState(name, in_class=False)
            log.info("board %s is not in the class file of %s", name, self.class_name)
        return board

    def _on_status(self, board: str, payload: bytes) -> None:
        text = payload.decode("utf-8", errors="replace").strip().lower()
        # An empty retained message deletes the status (a teacher's cleanup): unknown again.
        status = {ONLINE: ONLINE, OFFLINE: OFFLINE, "": UNKNOWN}.get(text)
        if status is None:
            log.debug("status %r of board %s is neither online nor offline", text, board)
            return
        with self._lock:
            if status == UNKNOWN and board not in self._boards:
                return  # a cleared status of a board we never knew: nothing to show
            state = self._board_locked(board)
            if state.status != status:
                state.status = status
                self._version += 1

    def _on_readings(self, board: str, payload: bytes, received: float) -> None:
        with self._lock:
            parser = self._parsers.get(board)
            if parser is None:
                parser = self._parsers[board] = LineParser()
        # Parsing happens outside the lock: the UI's reads need not wait for it. Only this
        # thread parses, so the per-board parser needs no lock of its own.
        parsed = parse_payload(parser, payload)
        if not parsed:
            return
        t = received - (self._t0 if self._t0 is not None else received)
        rows: list[dict[str, float]] = []
        with self._lock:
            state = self._board_locked(board)
            for line in parsed:
                values = line.values
                if not values:
                    continue
                for name, value in values.items():
                    if name not in state.values:
                        state.series.append(name)
                        if name not in self._series_names:
                            self._series_names.append(name)
                    state.values[name] = value
                rows.append({column_name(board, k): v for k, v in values.items()})
                state.readings += 1
            if not rows:
                return
            state.last_reading = received
            # A board that sends readings is up, whatever an old retained status said: its
            # "online" may simply not have reached us yet (it connects, then publishes).
            if state.status != ONLINE:
                state.status = ONLINE
            if self._trace is not None:
                wall = time.time() - (time.monotonic() - received)
                for _ in rows:
                    self._trace.append((board, wall, received))
            self.store.add_many((t, row) for row in rows)
            self._write_rows(t, rows)
            self._version += 1

    def _write_rows(self, t: float, rows: list[dict[str, float]]) -> None:
        """The recording's rows (lock held). A full disk stops the recording, not the window."""
        recorder = self.recorder
        if recorder is None or self.recorder_error is not None:
            return
        try:
            for row in rows:
                recorder.write(t, row)
        except IotkitError as exc:
            self.recorder_error = str(exc)
            log.warning("recording stopped: %s", exc)
