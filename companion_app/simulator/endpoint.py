"""The client side of a virtual serial port, shared by the virtual board and the virtual chip.

A client reaches a simulated device the way it reaches a USB serial port: through a pty whose
slave it opens by name (`pty_path`), or, for `socket://` URLs, through a TCP listener on
127.0.0.1 (`tcp_url`) that serves one client at a time. Both simulators run a select() loop
around these; `ClientPorts` holds the fds and the quirks, so each loop keeps only what it does
with the bytes:

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
import os
import signal
import socket
import sys
import threading
import time
import tty
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
        self._next_probe = 0.0
        try:
            if pty:
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
        return self.present or self.conn is not None

    def readers(self) -> list[Any]:
        """What to select() on for reading (the master only once a client has the pty open)."""
        rlist: list[Any] = []
        if self.master is not None and self.present:
            rlist.append(self.master)
        if self.listener is not None and self.conn is None:
            rlist.append(self.listener)
        if self.conn is not None:
            rlist.append(self.conn)
        return rlist

    def writers(self, source: str | None = None) -> list[Any]:
        """What to select() on for writing: the client on `source` ("pty" or "tcp"), or every
        client when `source` is None."""
        wlist: list[Any] = []
        if source in (None, "pty") and self.master is not None and self.present:
            wlist.append(self.master)
        if source in (None, "tcp") and self.conn is not None:
            wlist.append(self.conn)
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

        Returns (source, data) pairs in arrival order, source "pty" or "tcp"; data None means
        that client went away (closed the pty, or the connection).
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
        if not (pty_ready or tcp_ready):
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
        return taken

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


def serve_until_signalled(
    urls: Iterable[str | None], notes: Iterable[str], port_file: str | None, port: str
) -> None:
    """What `iotkit sim` does once its device runs: print each URL on stdout (what scripts
    read), the `notes` on stderr (what people read), write `port` to `port_file`, then wait
    for SIGINT, SIGTERM or SIGHUP. The caller stops the device afterwards."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    for url in urls:
        if url:
            print(url, flush=True)
    for note in notes:
        print(note, file=sys.stderr, flush=True)
    if port_file:
        write_port_file(port_file, port)
    stop.wait()


def write_port_file(port_file: str, text: str) -> None:
    """Write `text` to `port_file` at once (readers never see half a name); on failure leave
    no temporary file behind and say why."""
    tmp = port_file + ".tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        os.replace(tmp, port_file)
    except OSError as exc:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise IotkitError(
            f"Cannot write the port file {port_file}: {exc.strerror or exc}. Give a file name "
            "in a folder you can write to."
        ) from None
