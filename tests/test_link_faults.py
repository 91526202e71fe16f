"""The link against boards that misbehave: silent, noisy, vanishing, busy, missing, old firmware.

The misbehaving boards here are small fakes on a pty or a localhost socket: they are the device
under test misbehaving on purpose, which the real virtual board cannot be made to do. Each test
checks the error class, that its message tells the person what to do, and that it came within
the timeout.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import random
import select
import signal
import socket
import struct
import sys
import threading
import time
import traceback

import pytest
import serial

from companion_app.device.errors import (
    DeviceDisconnectedError,
    DeviceExecError,
    ExecTimeoutError,
    NoResponseError,
    PortBusyError,
    PortNotFoundError,
    PortPermissionError,
    describe_open_error,
)
from companion_app.device.link import Link
from companion_app.simulator.host import pty_supported

# The fault tests are about the link, not the transport: where no pty exists (Windows, and the
# Windows-like pass) the fake board sits behind a socket; the pty case is marked and skipped.
WIRE_KINDS = [pytest.param("pty", marks=pytest.mark.pty), "socket"]
DEFAULT_KIND = "pty" if pty_supported() else "socket"

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
FRIENDLY_BANNER = (
    b'MicroPython v1.24.0 on 2024-10-25; Fake board\r\nType "help()" for more information.\r\n>>> '
)


# ---------------------------------------------------------------------------- fake boards


class _Wire:
    """Both ends of a fake board's connection: a pty master or an accepted TCP socket."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.closed = threading.Event()
        if kind == "pty":
            import tty  # POSIX only, as the pty itself

            self.master, self.slave = os.openpty()
            tty.setraw(self.slave)
            os.set_blocking(self.master, False)
            self.port = os.ttyname(self.slave)
            self.conn = None
        else:
            self.listener = socket.socket()
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.listener.bind(("127.0.0.1", 0))
            self.listener.listen(1)
            self.port = f"socket://127.0.0.1:{self.listener.getsockname()[1]}"
            self.conn = None

    def _accept(self, stop: threading.Event) -> bool:
        if self.kind == "pty" or self.conn is not None:
            return True
        while not stop.is_set():
            ready, _, _ = select.select([self.listener], [], [], 0.05)
            if ready:
                self.conn, _ = self.listener.accept()
                self.conn.setblocking(False)
                return True
        return False

    def fileno(self) -> int:
        return self.master if self.kind == "pty" else self.conn.fileno()

    def read(self, stop: threading.Event, timeout: float = 0.05) -> bytes:
        if self.closed.is_set() or not self._accept(stop):
            return b""
        ready, _, _ = select.select([self.fileno()], [], [], timeout)
        if not ready:
            return b""
        try:
            data = os.read(self.master, 4096) if self.kind == "pty" else self.conn.recv(4096)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:
            return b""
        if self.kind == "socket" and not data:
            self.close()
        return data

    def write(self, data: bytes, stop: threading.Event) -> None:
        if not self._accept(stop):
            return
        while data and not stop.is_set() and not self.closed.is_set():
            _, ready, _ = select.select([], [self.fileno()], [], 0.05)
            if not ready:
                continue
            try:
                n = os.write(self.master, data) if self.kind == "pty" else self.conn.send(data)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                return
            data = data[n:]

    def close(self) -> None:
        """Pull the plug: the link's side sees EIO (pty) or EOF (socket)."""
        if self.closed.is_set():
            return
        self.closed.set()
        if self.kind == "pty":
            os.close(self.master)
        elif self.conn is not None:
            self.conn.close()

    def release(self) -> None:
        self.close()
        if self.kind == "pty":
            os.close(self.slave)
        else:
            self.listener.close()


class FakeBoard:
    """A board that misbehaves on purpose.

    behaviour:
      "silent"   - reads everything, answers nothing (no MicroPython, wrong baud with no noise);
      "garbage"  - sends random bytes forever (wrong baud rate, or a non-MicroPython firmware);
      "repl"     - a small raw REPL that runs the code in CPython (for protocol paths).
    repl options: raw_paste (True: "R\\x01" with a 32-byte window; False: "R\\x00"),
    run_code (False: answer every exec with empty output, as a sink for large writes),
    disconnect_after (pull the plug after this many code bytes arrived).
    """

    def __init__(
        self,
        behaviour: str,
        kind: str = DEFAULT_KIND,
        raw_paste: bool = True,
        run_code: bool = True,
        disconnect_after: int | None = None,
        window: int = 32,
    ) -> None:
        self.behaviour = behaviour
        self.wire = _Wire(kind)
        self.port = self.wire.port
        self.raw_paste = raw_paste
        self.run_code = run_code
        self.disconnect_after = disconnect_after
        self.window = window
        self.received_code = 0
        self.execs: list[bytes] = []
        self.paste_requests = 0
        self.stop = threading.Event()
        self.namespace: dict[str, object] = {}
        self.thread = threading.Thread(target=getattr(self, "_run_" + behaviour), daemon=True)
        self.thread.start()

    def __enter__(self) -> FakeBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(2)
        self.wire.release()

    def send(self, data: bytes) -> None:
        self.wire.write(data, self.stop)

    def _run_silent(self) -> None:
        while not self.stop.is_set():
            self.wire.read(self.stop)

    def _run_garbage(self) -> None:
        rnd = random.Random(1)
        while not self.stop.is_set():
            self.wire.read(self.stop, timeout=0.001)  # listen a moment between bursts
            self.send(bytes(rnd.randrange(256) for _ in range(64)))

    # The small raw REPL -------------------------------------------------------------------

    def _run_repl(self) -> None:
        mode = "friendly"
        code = bytearray()
        pending = bytearray()
        got_in_window = 0
        while not self.stop.is_set() and not self.wire.closed.is_set():
            data = self.wire.read(self.stop)
            pending += data
            while pending:
                if mode == "paste":
                    b = pending[0]
                    del pending[0]
                    if b == 4:
                        self.send(b"\x04")
                        self._execute(bytes(code))
                        code.clear()
                        mode = "raw"
                        continue
                    code.append(b)
                    self.received_code += 1
                    if self.disconnect_after and self.received_code >= self.disconnect_after:
                        self.wire.close()
                        return
                    got_in_window += 1
                    if got_in_window == self.window:
                        got_in_window = 0
                        self.send(b"\x01")
                    continue
                if mode == "raw" and pending[:1] == b"\x05":
                    if len(pending) < 3:
                        break
                    del pending[:3]
                    self.paste_requests += 1
                    if self.raw_paste:
                        self.send(b"R\x01" + struct.pack("<H", self.window) + b"\x01")
                        mode = "paste"
                        got_in_window = 0
                    else:
                        self.send(b"R\x00")
                    continue
                b = pending[0]
                del pending[0]
                if b == 1:
                    mode = "raw"
                    code.clear()
                    self.send(b"\r\n" + RAW_BANNER)
                elif b == 2:
                    mode = "friendly"
                    self.send(b"\r\n" + FRIENDLY_BANNER)
                elif b == 3:
                    code.clear()
                    if mode == "friendly":
                        self.send(b"\r\n>>> ")
                elif b == 4 and mode == "raw":
                    self.send(b"OK")
                    self._execute(bytes(code))
                    code.clear()
                elif mode == "raw":
                    code.append(b)
                    self.received_code += 1
                    if self.disconnect_after and self.received_code >= self.disconnect_after:
                        self.wire.close()
                        return

    def _execute(self, code: bytes) -> None:
        self.execs.append(code)
        out, err = b"", b""
        if self.run_code:
            buf = io.StringIO()
            try:
                compiled = compile(code.decode(), "<stdin>", "exec")
                with contextlib.redirect_stdout(buf):
                    exec(compiled, self.namespace)
            except BaseException as exc:  # the board reports every exception as text
                err = (
                    "Traceback (most recent call last):\n"
                    + "".join(traceback.format_exception_only(type(exc), exc))
                ).encode()
            out = buf.getvalue().encode()
        self.send(out.replace(b"\n", b"\r\n") + b"\x04" + err.replace(b"\n", b"\r\n") + b"\x04>")


# ---------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def within(seconds: float):
    """Fail if the block took longer than `seconds`: nothing in the link may hang."""
    start = time.monotonic()
    yield
    took = time.monotonic() - start
    assert took <= seconds, f"took {took:.2f} s, limit {seconds} s"


# ---------------------------------------------------------------------------- (a) (b)


@pytest.mark.parametrize("kind", WIRE_KINDS)
def test_silent_board_gives_no_response_error_within_timeout(kind):
    with FakeBoard("silent", kind) as board, Link(board.port, timeout=1.0) as link:
        with within(2.0), pytest.raises(NoResponseError) as info:
            link.connect()
    msg = str(info.value)
    assert "sent nothing" in msg
    assert "reset (EN/RST)" in msg and "115200" in msg and "flash MicroPython" in msg


@pytest.mark.parametrize("kind", WIRE_KINDS)
def test_board_sending_garbage_forever_gives_no_response_error_not_a_hang(kind):
    with FakeBoard("garbage", kind) as board, Link(board.port, timeout=1.0) as link:
        with within(2.5), pytest.raises(NoResponseError) as info:
            link.connect()
    assert "unreadable bytes" in str(info.value)
    assert "baud rate" in str(info.value)


def test_exec_on_silent_board_connects_first_and_fails_within_timeout():
    with FakeBoard("silent") as board, Link(board.port, timeout=0.8) as link:
        with within(2.0), pytest.raises(NoResponseError):
            link.exec("print(1)")


# ---------------------------------------------------------------------------- (c)


@pytest.mark.parametrize("kind", WIRE_KINDS)
def test_board_vanishing_mid_fs_write_gives_disconnected_error_naming_the_file(kind):
    with FakeBoard("repl", kind, run_code=False, disconnect_after=30_000, window=256) as board:
        with Link(board.port, timeout=2.0) as link:
            data = os.urandom(100_000)
            seen = []
            with within(3.0), pytest.raises(DeviceDisconnectedError) as info:
                link.fs_write("/big.bin", data, progress=lambda n, total: seen.append(n))
    msg = str(info.value)
    assert "/big.bin may be incomplete" in msg
    assert "virtual board was closed" in msg  # a pty/socket port is a virtual board
    assert info.value.path == "/big.bin"
    assert (
        0 < len(seen) < 100_000 // 4096 + 2
    ), "some chunks went through before the plug was pulled"
    assert not link.is_open or not link.in_raw_repl


# ---------------------------------------------------------------------------- (d) (e) (f)


def test_missing_port_gives_not_found_error_with_cable_hint():
    link = Link("/dev/ttyIOTKIT_DOES_NOT_EXIST", timeout=1.0)
    with within(2.0), pytest.raises(PortNotFoundError) as info:
        link.open()
    msg = str(info.value)
    assert "/dev/ttyIOTKIT_DOES_NOT_EXIST does not exist" in msg
    assert "charge-only" in msg
    assert "Ports found" in msg or "No serial ports" in msg
    assert not link.is_open


def test_refused_socket_gives_not_found_error_saying_nothing_answers():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with within(2.0), pytest.raises(PortNotFoundError) as info:
        Link(f"socket://127.0.0.1:{port}", timeout=1.0).open()
    assert "Nothing answers" in str(info.value)


@pytest.mark.pty  # a serial port is held exclusively; a socket simply takes a second client
def test_port_held_by_another_link_gives_busy_error_naming_the_holder():
    with FakeBoard("silent") as board, Link(board.port, timeout=1.0):
        second = Link(board.port, timeout=1.0)
        with pytest.raises(PortBusyError) as info:
            second.open()
        assert not second.is_open
    msg = str(info.value)
    assert f"(pid {os.getpid()})" in msg
    assert "in use by" in msg and "Close that program" in msg


def test_busy_error_without_visible_holder_names_the_usual_suspects():
    err = PortBusyError("/dev/ttyUSB0", holders=[])
    assert "Thonny, mpremote or a serial monitor" in str(err)


def test_eacces_from_pyserial_maps_to_permission_error_with_dialout_hint():
    # Simulated: CI runs as root, which ignores file permissions, so we feed the mapping the
    # exception pyserial raises for EACCES instead of opening a real unreadable port.
    exc = serial.SerialException(
        errno.EACCES, "could not open port /dev/ttyUSB0: [Errno 13] Permission denied"
    )
    err = describe_open_error("/dev/ttyUSB0", exc)
    assert isinstance(err, PortPermissionError)
    if sys.platform.startswith("linux"):
        assert "sudo usermod -aG dialout $USER" in str(err)
        assert "log out and in" in str(err)
    assert isinstance(
        describe_open_error("/dev/x", OSError(errno.EACCES, "denied")), PortPermissionError
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_unreadable_port_gives_permission_error(tmp_path):
    with FakeBoard("silent") as board:
        os.chmod(board.port, 0)
        with pytest.raises(PortPermissionError):
            Link(board.port).open()


def test_other_open_errors_map_to_explained_errors():
    assert isinstance(
        describe_open_error("/dev/ttyUSB0", serial.SerialException(errno.EBUSY, "busy")),
        PortBusyError,
    )
    exclusive = serial.SerialException(11, "Could not exclusively lock port /dev/ttyUSB0")
    assert isinstance(describe_open_error("/dev/ttyUSB0", exclusive), PortBusyError)
    assert isinstance(
        describe_open_error("/dev/nope", serial.SerialException(errno.ENOENT, "no such")),
        PortNotFoundError,
    )


# ---------------------------------------------------------------------------- old firmware


def test_board_answering_r00_falls_back_to_plain_raw_mode_for_the_session():
    """Fixture-driven: the fake board answers "R\\x00" to the raw-paste request."""
    with FakeBoard("repl", raw_paste=False) as board, Link(board.port, timeout=2.0) as link:
        assert link.exec("print('hello')") == b"hello\r\n"
        assert link.eval("[1, 2] + [3]") == [1, 2, 3]
        long_code = "x = 0\n" + "x += 1\n" * 200 + "print(x)"
        assert link.exec(long_code) == b"200\r\n"
        with pytest.raises(DeviceExecError) as info:
            link.exec("1/0")
    assert board.paste_requests == 1, "raw-paste is asked once, then never again"
    assert "ZeroDivisionError" in info.value.remote_traceback
    assert "ZeroDivisionError" in str(info.value)


def test_raw_paste_with_small_window_sends_large_code_intact():
    with FakeBoard("repl", raw_paste=True, window=32) as board, Link(board.port) as link:
        code = "s = " + repr("ab" * 3000) + "\nprint(len(s))"
        assert link.exec(code) == b"6000\r\n"
        assert board.execs[-1] == code.encode()


def test_silent_code_past_timeout_is_interrupted_and_reported():
    with FakeBoard("repl", run_code=True) as board, Link(board.port, timeout=1.0) as link:
        link.connect()
        # The fake swallows this exec without answering, as a board stuck in a loop would.
        board.run_code = False
        original = board._execute
        board._execute = lambda code: board.execs.append(code)
        with within(2.5), pytest.raises(ExecTimeoutError) as info:
            link.exec("while True: pass", timeout=0.5)
        board._execute = original
    assert "more than 0.5 s" in str(info.value)


# ---------------------------------------------------------------------------- (c) for real


def _descendants(pid: int) -> set[int]:
    """Processes started (directly or not) by `pid`, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def test_virtual_board_powered_off_mid_fs_write_gives_disconnected_error(tmp_path):
    """The real virtual board, stopped (its port disappears) while a file is being written."""
    from companion_app.simulator import VirtualBoard

    vb = VirtualBoard(flash_dir=tmp_path / "flash").start()
    try:
        with Link(vb.port, timeout=3.0) as link:
            link.connect()
            calls = []

            def unplug_on_second_chunk(done: int, total: int) -> None:
                calls.append(done)
                if len(calls) == 2:
                    vb.stop()

            with within(4.0), pytest.raises(DeviceDisconnectedError) as info:
                link.fs_write("/big.bin", os.urandom(200_000), progress=unplug_on_second_chunk)
    finally:
        vb.stop()
    assert "/big.bin may be incomplete" in str(info.value)
    assert "virtual board was closed" in str(info.value)
    assert "readiness to read" not in str(info.value)  # pyserial's wording stays in the log


def test_disconnect_of_a_usb_port_points_at_the_cable():
    err = DeviceDisconnectedError("/dev/ttyUSB0", path="/main.py", detail="read failed")
    assert str(err) == (
        "The board on /dev/ttyUSB0 was disconnected. Check the USB cable and plug the board back "
        "in. The file /main.py may be incomplete on the board, so write it again."
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_virtual_board_process_killed_mid_fs_write_fails_in_time_naming_the_file(tmp_path):
    """Killing the interpreter is a crash, not an unplug: the simulator keeps the port and
    reboots the board (as a watchdog would), so the link sees a board that stopped answering.
    """
    from companion_app.simulator import VirtualBoard

    before = _descendants(os.getpid())
    with VirtualBoard(flash_dir=tmp_path / "flash") as vb:
        board_pids = _descendants(os.getpid()) - before
        assert board_pids, "the virtual board runs in a child process"
        with Link(vb.port, timeout=3.0) as link:
            link.connect()
            calls = []

            def kill_on_second_chunk(done: int, total: int) -> None:
                calls.append(done)
                if len(calls) == 2:
                    for pid in board_pids:  # only the processes this test started
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)

            with within(7.0), pytest.raises(
                (DeviceDisconnectedError, NoResponseError, ExecTimeoutError)
            ) as info:
                link.fs_write("/big.bin", os.urandom(200_000), progress=kill_on_second_chunk)
            assert len(calls) == 2
            if not isinstance(info.value, ExecTimeoutError):
                assert "/big.bin may be incomplete" in str(info.value)
            assert link.eval("1 + 1") == 2, "the rebooted board is usable again"
