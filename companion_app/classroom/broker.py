"""An embedded MQTT broker for a lab that has none (`iotkit broker`).

The class dashboard and the boards only speak MQTT 3.1.1, so any broker serves; a lab with
Debian's mosquitto uses that. This one is for the teacher's PC when there is nothing else, and
needs no admin rights and no install beyond our own package:

1. amqtt (a pure-Python broker, already one of our dependencies) runs in its own asyncio loop,
   in a daemon thread, so the caller (the command line, a test, a window) keeps its own thread.
   The loop outlives the broker, so `stop()` then `start()` serves the same port again: that is
   how a test restarts "the lab's broker" under running boards.
2. It binds 127.0.0.1 unless `lan` is asked for (`simulator.endpoint.bind_host` decides, as for
   every server we start): a broker open to the whole network is a choice, not a default.
3. It is anonymous: students' boards carry no credentials, and the lab network is the fence.
4. Retained messages and last wills are amqtt's core: the dashboard relies on both (a board's
   retained "online", and the "offline" the broker publishes as its will when it vanishes).
   One gap is filled here: amqtt 0.12 never drops a client that falls silent with its TCP
   connection still open (a board whose power or Wi-Fi went away), so its will never fires.
   MQTT 3.1.1 (section 3.1.2.10) says the server disconnects a client that sent nothing for
   1.5 times its keepalive; `_keepalive_broker_class` does that, so a board that vanishes
   shows "offline" within its keepalive on this broker as on mosquitto.
5. A port that is taken is one sentence that points at the broker already there (usually a
   mosquitto service), because using that one is the right fix.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import socket
import sys
import threading
from typing import Any

from companion_app.errors import IotkitError
from companion_app.simulator.endpoint import LOOPBACK, bind_host, lan_address

log = logging.getLogger(__name__)

DEFAULT_PORT = 1883  # IANA's port for MQTT without TLS
START_TIMEOUT_S = 15.0
#: The loggers amqtt (and the state machine library it uses) write to. A command keeps them
#: quiet unless -v: amqtt logs every connection, and a failed bind as a traceback.
AMQTT_LOGGERS = ("amqtt", "transitions")
_ANONYMOUS = "amqtt.plugins.authentication.AnonymousAuthPlugin"
_WINDOWS_ADDRESS_IN_USE = 10048  # WSAEADDRINUSE


class BrokerError(IotkitError):
    """The embedded broker could not start or stop; the message says what to do."""


class BrokerPortTakenError(BrokerError):
    """Another program (nearly always a broker) listens on the port already."""

    def __init__(self, port: int) -> None:
        self.port = port
        super().__init__(
            f"port {port} is taken - is mosquitto already running? Then use it: "
            f'broker = "mqtt://{lan_host()}:{port}" in class.toml (or start this one on '
            "another port with --port N, or --port 0 for any free one)."
        )


def lan_host() -> str:
    """The host to put in class.toml for a broker on this PC (the one definition): its LAN
    address when it has one (the boards are on the network, not on this PC), else loopback."""
    return lan_address() or LOOPBACK


def lan_addresses() -> list[str]:
    """This PC's IPv4 addresses on the network, best first, for `broker = "mqtt://…"` lines.

    The address of the default route comes first (what the boards on the lab Wi-Fi most likely
    reach); the host name's other addresses follow. No packet is sent. May be empty (no
    network), never raises.
    """
    found: list[str] = []
    first = lan_address()
    if first:
        found.append(first)
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
    except OSError:
        infos = []
    for info in infos:
        address = str(info[4][0])
        if not address.startswith("127.") and address not in found:
            found.append(address)
    return found


def quiet_amqtt_logging(verbose: bool) -> None:
    """Keep amqtt's own logging out of a person's terminal unless they asked for details."""
    for name in AMQTT_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.CRITICAL)


#: MQTT 3.1.1 section 3.1.2.10: silence for this many keepalive periods ends a connection.
KEEPALIVE_GRACE = 1.5


def _keepalive_broker_class() -> Any:
    """amqtt's Broker, plus the keepalive timeout MQTT 3.1.1 asks of a server (module doc, 4).

    amqtt's reader already waits `session.keep_alive` seconds for each packet and then calls
    the handler's `handle_read_timeout`, which does nothing on the broker side. Here the wait
    is stretched to 1.5 keepalives and the timeout ends the connection as an unexpected close,
    which is what makes amqtt publish the client's will. Built lazily: amqtt loads only when a
    broker is started.
    """
    from amqtt.broker import Broker

    if not hasattr(Broker, "_initialize_client_session"):  # another amqtt: keep its behaviour
        log.debug("amqtt without _initialize_client_session: no keepalive timeout")
        return Broker

    class KeepaliveBroker(Broker):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._closing: set[asyncio.Task[Any]] = set()

        async def _initialize_client_session(self, *args: Any, **kwargs: Any) -> Any:
            handler, session = await super()._initialize_client_session(*args, **kwargs)
            if session.keep_alive > 0:
                session.keep_alive = math.ceil(session.keep_alive * KEEPALIVE_GRACE)

                def silent_too_long() -> None:
                    log.debug("%s sent nothing for 1.5 keepalives: closing", session.client_id)
                    task = asyncio.ensure_future(handler.handle_connection_closed())
                    self._closing.add(task)  # a task nobody holds may be collected unfinished
                    task.add_done_callback(self._closing.discard)

                handler.handle_read_timeout = silent_too_long
            return handler, session

    return KeepaliveBroker


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _address_in_use(exc: BaseException) -> bool:
    """Whether amqtt's BrokerError comes from a port someone else holds (it wraps the OSError)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.EADDRINUSE, _WINDOWS_ADDRESS_IN_USE):
            return True
        if "address already in use" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _check_free_on_windows(host: str, port: int) -> None:
    """asyncio binds with SO_REUSEADDR, which on Windows lets a second server share a port that
    another one listens on; there, try an exclusive bind first so "taken" is said, not hidden."""
    if sys.platform != "win32" or port == 0:
        return
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_EXCLUSIVEADDRUSE", 0x0004), 1)
        probe.bind((host, port))
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, _WINDOWS_ADDRESS_IN_USE) or getattr(
            exc, "winerror", None
        ) in (_WINDOWS_ADDRESS_IN_USE, 10013):
            raise BrokerPortTakenError(port) from None
        raise
    finally:
        probe.close()


async def _cancel_leftover_tasks() -> None:
    """Cancel and await what is still running in the loop, so nothing is left to be collected
    after the loop closes (Python then warns "Event loop is closed")."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class EmbeddedBroker:
    """One amqtt broker on `port` (0 = any free port), loopback unless `lan`, anonymous.

    Use as a context manager, or `start()` / `close()`. `port` and `url` give the address once
    started (with port 0, the one the OS chose; a restart keeps it).
    """

    def __init__(self, port: int = DEFAULT_PORT, *, lan: bool = False) -> None:
        if not 0 <= port <= 65535:
            raise BrokerError(f"{port} is not a TCP port: use 1 to 65535, or 0 for any free port.")
        self.port = port
        self.lan = lan
        self.host = bind_host(lan)
        self._broker: Any = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="iotkit-broker", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """The URL a client on this PC uses (boards elsewhere use a LAN address: lan_addresses)."""
        return f"mqtt://{LOOPBACK}:{self.port}"

    @property
    def running(self) -> bool:
        return self._broker is not None

    def _call(self, coro: Any, timeout: float = START_TIMEOUT_S) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _config(self) -> dict[str, Any]:
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            # Only the anonymous-login plugin: amqtt's defaults would add $SYS topics and
            # packet logging, which a classroom broker does not need.
            "plugins": {_ANONYMOUS: {"allow_anonymous": True}},
        }

    def start(self) -> None:
        """Listen; raises BrokerPortTakenError when another program has the port."""
        if self._broker is not None:
            return
        _check_free_on_windows(self.host, self.port)
        broker_class = _keepalive_broker_class()  # amqtt loads only when a broker is wanted
        config = self._config()

        async def start() -> Any:
            broker = broker_class(config)
            await broker.start()
            return broker

        try:
            self._broker = self._call(start())
        except Exception as exc:  # amqtt's BrokerError wraps whatever the bind raised
            log.debug("broker start failed", exc_info=True)
            if _address_in_use(exc):
                raise BrokerPortTakenError(self.port) from None
            if _caused_by(exc, PermissionError):
                raise BrokerError(
                    f"port {self.port} needs administrator rights on this computer: use a port "
                    "above 1023 (1883 is one), or 0 for any free one."
                ) from None
            raise BrokerError(
                f"The MQTT broker could not start on port {self.port}: {exc}. Run again with "
                "-v for the details."
            ) from None
        self.port = self._bound_port()
        log.info("MQTT broker listening on %s:%s", self.host, self.port)

    def _bound_port(self) -> int:
        """The port the listener holds: with port 0 only the socket knows it."""
        server = self._broker._servers["default"].instance  # amqtt keeps no public handle
        return int(server.sockets[0].getsockname()[1])

    def stop(self) -> None:
        """Stop serving (clients are disconnected; retained messages are gone, as on a broker
        started without persistence). `start()` serves the same port again."""
        broker, self._broker = self._broker, None
        if broker is not None:
            self._call(broker.shutdown())

    def close(self) -> None:
        """Stop the broker and its thread; the object cannot be started again."""
        try:
            self.stop()
            if self._loop.is_running():  # amqtt leaves client tasks behind: end them here
                self._call(_cancel_leftover_tasks())
        finally:
            if self._loop.is_running():
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            if not self._loop.is_running():
                self._loop.close()

    def client_ids(self) -> list[str]:
        """The client ids the broker holds a session for (connected or not yet expired)."""
        return list(self._broker.sessions) if self._broker is not None else []

    def __enter__(self) -> "EmbeddedBroker":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = [
    "DEFAULT_PORT",
    "BrokerError",
    "BrokerPortTakenError",
    "EmbeddedBroker",
    "lan_addresses",
    "quiet_amqtt_logging",
]
