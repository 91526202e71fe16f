"""The client side of a virtual serial port, shared by the virtual board and the virtual chip.

A client reaches a simulated device the way it reaches a USB serial port: through a pty whose
slave it opens by name (`pty_path`), or, for `socket://` URLs, through a TCP listener on
127.0.0.1 (`tcp_url`) that serves one client at a time. A virtual board's WebREPL server
(webrepl.py) joins as a third client: it hands over one end of a socketpair per logged-in
WebREPL session (`attach_session`), so the board's output reaches it as it reaches the others
and the relay never waits on a websocket. Both simulators run a select() loop around these;
`ClientPorts` holds the fds and the quirks, so each loop keeps only what it does with the bytes:

- the pty master fails reads with EIO while nobody has the slave open, and select() calls that
  readable, so presence is probed every NO_CLIENT_POLL_S instead of selecting on the master;
- a TCP client is gone when recv() gives b"";
- everything is non-blocking: a send reports how much the client took, the loop keeps the rest.

Every listener binds the loopback address unless the person asked for `--lan` (CONTRACTS.md:
"Every server binds 127.0.0.1 unless --lan is given"): a student's virtual board must not be
reachable from the whole lab network by default. `bind_host` is the one place that decides.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import sys
import threading
import time
from typing import Any, Iterable

from companion_app.errors import IotkitError

NO_CLIENT_POLL_S = 0.02
LOOPBACK = "127.0.0.1"
ALL_INTERFACES = "0.0.0.0"


class PortInUseError(IotkitError):
    """The TCP port asked for is taken by another program."""


def bind_host(lan: bool) -> str:
    """The address every server of a virtual device binds: loopback unless `--lan`."""
    return ALL_INTERFACES if lan else LOOPBACK


def lan_address() -> str | None:
    """This computer's address on the network (best effort, no packet is sent), for messages."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))  # picks the outgoing interface; sends nothing
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") or address == ALL_INTERFACES else address


def lan_note() -> str:
    """What `--lan` means, said once on stderr when a virtual device starts with it."""
    where = lan_address()
    at = f" at {where}" if where else ""
    return (
        f"warning: --lan: other computers on the network can reach this virtual device{at}: "
        "its ports and every server its programs start."
    )


class ClientPorts:
    """A pty (`pty=True`) and/or a TCP listener (`tcp_port`, 0 = any free port) for one client.

    `present` says whether a client has the pty open; `conn` is the TCP client, if any. Reads
    take up to `chunk` bytes at a time.
    """

    def __init__(
        self, pty: bool, tcp_port: int | None, chunk: int = 65536, lan: bool = False
    ) -> None:
        self.chunk = chunk
        self.master: int | None = None
        self.listener: socket.socket | None = None
        self.conn: socket.socket | None = None
        self.present = False
        self.pty_path: str | None = None
        self.tcp_url: str | None = None
        # A WebREPL session (the relay's end of a socketpair), and the door through which the
        # WebREPL thread hands a new one over: a byte on `_door` wakes the relay's select().
        self.session: socket.socket | None = None
        self._door: tuple[socket.socket, socket.socket] | None = None
        self._pending: list[socket.socket] = []
        self._pending_lock = threading.Lock()
        self._next_probe = 0.0
        try:
            if pty:
                try:
                    import tty  # POSIX only: imported where a pty is asked for
                except ImportError as exc:
                    raise IotkitError(
                        "A virtual board's pty needs Linux or macOS; on this machine use "
                        "--no-pty with --tcp 0 and/or --webrepl 0."
                    ) from exc

                master, slave = os.openpty()
                self.master = master
                tty.setraw(slave)
                self.pty_path = os.ttyname(slave)
                os.close(slave)  # the client opens it by name; reads stop failing when it does
                os.set_blocking(master, False)
            if tcp_port is not None:
                self.listener = listen(tcp_port, lan)
                self.tcp_url = f"socket://127.0.0.1:{self.listener.getsockname()[1]}"
        except BaseException:
            self.close()
            raise

    @property
    def listening(self) -> bool:
        """Someone would receive output now; otherwise a UART's output is simply lost."""
        return self.present or self.conn is not None or self.session is not None

    def accept_sessions(self) -> None:
        """Open the door for WebREPL sessions (before the relay starts selecting)."""
        if self._door is None:
            door = socket.socketpair()
            for end in door:
                end.setblocking(False)
            self._door = door

    def attach_session(self, sock: socket.socket) -> None:
        """Called from the WebREPL thread: `sock` becomes the session client; a session
        already attached is dropped (the newest WebREPL login wins, so a client that reconnects
        after a soft reset is never locked out by its own stale connection)."""
        if self._door is None:
            raise RuntimeError("accept_sessions() was not called")
        sock.setblocking(False)
        with self._pending_lock:
            self._pending.append(sock)
        try:
            self._door[1].send(b"\0")
        except OSError:
            pass  # the door is full: the relay is about to look anyway

    def readers(self) -> list[Any]:
        """What to select() on for reading (the master only once a client has the pty open)."""
        rlist: list[Any] = []
        if self.master is not None and self.present:
            rlist.append(self.master)
        if self.listener is not None and self.conn is None:
            rlist.append(self.listener)
        if self.conn is not None:
            rlist.append(self.conn)
        if self._door is not None:
            rlist.append(self._door[0])
        if self.session is not None:
            rlist.append(self.session)
        return rlist

    def writers(self, source: str | None = None) -> list[Any]:
        """What to select() on for writing: the client on `source` ("pty" or "tcp"), or every
        client when `source` is None."""
        wlist: list[Any] = []
        if source in (None, "pty") and self.master is not None and self.present:
            wlist.append(self.master)
        if source in (None, "tcp") and self.conn is not None:
            wlist.append(self.conn)
        if source in (None, "webrepl") and self.session is not None:
            wlist.append(self.session)
        return wlist

    def timeout(self, timeout: float) -> float:
        """`timeout`, shortened so that select() returns in time for the next presence probe."""
        if self.master is not None and not self.present:
            return max(0.0, min(timeout, self._next_probe - time.monotonic()))
        return timeout

    def probe(self) -> bytes:
        """While nobody has the pty open, look (when due) whether a client opened it: the master
        no longer fails with EIO. Returns what that client already sent."""
        if self.master is None or self.present or time.monotonic() < self._next_probe:
            return b""
        self._next_probe = time.monotonic() + NO_CLIENT_POLL_S
        try:
            data = os.read(self.master, self.chunk)
        except BlockingIOError:
            data = b""
        except OSError:
            return b""  # EIO: nobody has the pty open
        self.present = True
        return data

    def receive(self, readable: list[Any]) -> list[tuple[str, bytes | None]]:
        """Handle what select() found readable: accept a TCP client, read what clients sent.

        Returns (source, data) pairs in arrival order, source "pty", "tcp" or "webrepl"; data
        None means that client went away (closed the pty, or the connection).
        """
        got: list[tuple[str, bytes | None]] = []
        if self.master is not None and self.master in readable:
            try:
                data = os.read(self.master, self.chunk)
                if data:
                    got.append(("pty", data))
            except BlockingIOError:
                pass
            except OSError:
                self.present = False  # the client closed the port
                got.append(("pty", None))
        if self.listener is not None and self.listener in readable:
            self.conn = accept(self.listener) or self.conn
        if self.conn is not None and self.conn in readable:
            received = recv(self.conn, self.chunk)
            if received == b"":
                self.drop_conn()
                got.append(("tcp", None))
            elif received:
                got.append(("tcp", received))
        if self._door is not None and self._door[0] in readable:
            while recv(self._door[0], 256):
                pass
            with self._pending_lock:
                pending, self._pending = self._pending, []
            for sock in pending:
                self.drop_session()
                self.session = sock
        if self.session is not None and self.session in readable:
            received = recv(self.session, self.chunk)
            if received == b"":
                self.drop_session()
                got.append(("webrepl", None))
            elif received:
                got.append(("webrepl", received))
        return got

    def send(self, data: bytes, to: str) -> int:
        """Give `data` to the client on `to` ("pty" or "tcp") without blocking; returns how many
        bytes were taken, 0 when the client is full. With nobody there, or on an error, all of
        them count as taken: a UART's output is simply lost."""
        try:
            if to == "pty" and self.master is not None and self.present:
                return os.write(self.master, data)
            if to == "tcp" and self.conn is not None:
                return self.conn.send(data)
            if to == "webrepl" and self.session is not None:
                return self.session.send(data)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError:
            pass
        return len(data)

    def broadcast(self, data: bytes, writable: list[Any]) -> int:
        """Give `data` to every client select() found `writable`; returns how many bytes were
        taken, which the pty decides (a USB serial link stalls rather than drops), or 0 when
        no client is writable. A TCP client that cannot take them all is dropped."""
        pty_ready = self.master is not None and self.master in writable
        tcp_ready = self.conn is not None and self.conn in writable
        ws_ready = self.session is not None and self.session in writable
        if not (pty_ready or tcp_ready or ws_ready):
            return 0
        taken = len(data)
        if pty_ready:
            assert self.master is not None
            try:
                taken = os.write(self.master, data)
            except (BlockingIOError, InterruptedError):
                taken = 0
            except OSError:
                self.present = False
        if tcp_ready and taken:
            assert self.conn is not None
            try:
                self.conn.sendall(data[:taken])
            except OSError:
                self.drop_conn()
        if ws_ready and taken:
            assert self.session is not None
            try:
                self.session.sendall(data[:taken])
            except OSError:
                self.drop_session()  # a WebREPL client that stopped reading, as a TCP one
        return taken

    def drop_session(self) -> None:
        """Forget the WebREPL session; its thread sees the socketpair close and ends it."""
        if self.session is not None:
            try:
                self.session.close()
            except OSError:
                pass
        self.session = None

    def drop_conn(self) -> None:
        """Close the TCP client's connection; the listener takes the next one."""
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
        self.conn = None

    def close(self) -> None:
        """The port disappears, as when a USB cable is pulled."""
        self.drop_conn()
        self.drop_session()
        if self._door is not None:
            for end in self._door:
                end.close()
            self._door = None
        with self._pending_lock:
            for sock in self._pending:
                sock.close()
            self._pending.clear()
        if self.listener is not None:
            try:
                self.listener.close()
            except OSError:
                pass
            self.listener = None
        if self.master is not None:
            try:
                os.close(self.master)
            except OSError:
                pass
            self.master = None


def listen(port: int, lan: bool = False) -> socket.socket:
    """A non-blocking listener on 127.0.0.1:`port` (all interfaces with `lan`; port 0 = any free
    port) for one client. A port that is taken, or not a port, is an explained error."""
    if not 0 <= port <= 65535:
        raise PortInUseError(f"{port} is not a TCP port: use 1 to 65535, or 0 for any free port.")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((bind_host(lan), port))
        sock.listen(1)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(
                f"TCP port {port} is already in use by another program. Pick another port, or "
                "0 for any free one."
            ) from None
        if exc.errno == errno.EACCES:
            raise PortInUseError(
                f"TCP port {port} needs administrator rights on this computer. Use a port above "
                "1023, or 0 for any free one."
            ) from None
        raise PortInUseError(f"Cannot listen on TCP port {port}: {exc.strerror or exc}.") from None
    sock.setblocking(False)
    return sock


def accept(listener: socket.socket) -> socket.socket | None:
    """The waiting client, non-blocking and with Nagle off (a REPL sends small writes)."""
    try:
        conn, _ = listener.accept()
    except OSError:
        return None
    conn.setblocking(False)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def recv(sock: socket.socket, chunk: int = 65536) -> bytes | None:
    """b"" when the peer closed, None when there is nothing after all."""
    try:
        return sock.recv(chunk)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""


def endpoints_record(
    pty: str | None,
    socket_url: str | None,
    webrepl: str | None = None,
    webrepl_password: str | None = None,
) -> dict[str, str | None]:
    """The one shape of `--endpoints-file` (shared/CONTRACTS.md): every key always present,
    null for a transport that is not served."""
    return {
        "pty": pty,
        "socket": socket_url,
        "webrepl": webrepl,
        "webrepl_password": webrepl_password,
    }


def serve_until_signalled(
    urls: Iterable[str | None],
    notes: Iterable[str],
    port_file: str | None,
    port: str,
    endpoints_file: str | None = None,
    endpoints: dict[str, str | None] | list[dict[str, str | None]] | None = None,
) -> None:
    """What `iotkit sim` does once its device runs: print each URL on stdout (what scripts
    read), the `notes` on stderr (what people read), write `port` to `port_file` and the
    `endpoints` JSON to `endpoints_file` (both only now that every server is ready; a virtual
    classroom gives one port a line and a list of endpoint objects), then wait
    for SIGINT, SIGTERM or (where it exists) SIGHUP. The caller stops the device afterwards."""
    stop = threading.Event()
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK"):
        sig = getattr(signal, name, None)
        if sig is not None:
            signal.signal(sig, lambda *_: stop.set())
    for url in urls:
        if url:
            print(url, flush=True)
    for note in notes:
        print(note, file=sys.stderr, flush=True)
    if port_file:
        write_port_file(port_file, port)
    if endpoints_file:
        write_port_file(
            endpoints_file, json.dumps(endpoints or {}), what="endpoints file", private=True
        )
    # A timeout, not a bare wait(): on Windows a signal handler runs only between bytecodes,
    # and an untimed Event.wait() would never return to let it.
    while not stop.wait(0.5):
        pass


def write_port_file(
    port_file: str, text: str, what: str = "port file", private: bool = False
) -> None:
    """Write `text` to `port_file` at once (readers never see half a name); on failure leave
    no temporary file behind and say why. `private`: only this user may read it (it holds a
    password)."""
    tmp = port_file + ".tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o666)
        with open(fd, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        os.replace(tmp, port_file)
    except OSError as exc:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise IotkitError(
            f"Cannot write the {what} {port_file}: {exc.strerror or exc}. Give a file name "
            "in a folder you can write to."
        ) from None
