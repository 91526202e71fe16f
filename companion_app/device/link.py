"""Our own raw-REPL client: the one link between the companion and a MicroPython board.

Why our own and not mpremote's transport: its API is announced to change, it writes files one
exec per 256 bytes, and it polls the port every 10 ms. Here every wait is a select() on the
port with a deadline, so a round trip costs what the board needs and never hangs past its
timeout, and files go over in a few KB per exec through raw-paste flow control.

The port is opened with pyserial's `serial_for_url`, so `/dev/ttyUSB0`, a virtual board's
`/dev/pts/N` and `socket://127.0.0.1:N` all work the same.

Protocol (MicroPython's pyexec.c, checked against mpremote):
- Ctrl-C interrupts, Ctrl-A enters the raw REPL ("raw REPL; CTRL-B to exit\\r\\n>"), Ctrl-B
  leaves it, Ctrl-D soft-resets.
- raw exec: code, Ctrl-D; the board says "OK", then stdout, \\x04, the exception text, \\x04, ">".
- raw-paste: "\\x05A\\x01" is answered "R\\x01" + u16 window + "\\x01" (two windows open), each
  further "\\x01" grants a window, our "\\x04" ends the data and is echoed; a "\\x04" from the
  board while we send means it stopped reading (syntax error). "R\\x00" means unsupported.
"""

from __future__ import annotations

import ast
import logging
import os
import re
import select
import socket
import stat as stat_mod
import struct
import threading
import time
from collections.abc import Callable
from types import TracebackType

import serial

from companion_app.device import fsops
from companion_app.device.errors import (
    DeviceDisconnectedError,
    DeviceExecError,
    ExecTimeoutError,
    LinkError,
    NoResponseError,
    PortSharedError,
    describe_open_error,
    shared_port_error,
)
from companion_app.device.fsops import FileInfo

__all__ = ["Link", "FileInfo"]

log = logging.getLogger(__name__)

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
FRIENDLY_PROMPT = b">>> "
SOFT_REBOOT = b"soft reboot\r\n"
_PLAIN_RAW_PIECE = 256  # without flow control, pace the code like mpremote: 256 B per 10 ms
_PLAIN_RAW_PAUSE = 0.01
# Code up to this size goes in plain raw mode: it fits a board's UART receive buffer (256 bytes
# on ESP32 and RP2), so it needs no flow control and saves raw-paste's extra round trip.
SMALL_CODE = 256
_STOP_POLL_S = 0.1  # how often a wait that can be stopped looks at its stop flag
# Silence after which a wait for the board's answer looks for another program on the port.
SHARED_CHECK_S = 1.0


class _Timeout(Exception):
    """Internal: a wait ran out; the public method decides which LinkError that is."""


class _SilenceWatch:
    """While waiting for the board's answer: after SHARED_CHECK_S of silence, look once whether
    another program has the port open too (it would be taking the answer), and if so raise
    PortSharedError at once instead of waiting out the whole timeout."""

    def __init__(self, port: str) -> None:
        self.port = port
        self.since = time.monotonic()
        self.checked = False

    def wait(self, deadline: float) -> float:
        """How long the next read may wait: until the deadline, or until the check is due."""
        left = deadline - time.monotonic()
        if self.checked:
            return left
        return min(left, max(0.0, self.since + SHARED_CHECK_S - time.monotonic()))

    def heard(self) -> None:
        self.since = time.monotonic()

    def silent(self) -> None:
        if not self.checked and time.monotonic() - self.since >= SHARED_CHECK_S:
            self.checked = True
            shared = shared_port_error(self.port)
            if shared is not None:
                raise shared


class Link:
    """A connection to one MicroPython board.

    Thread-safe: a lock serialises whole operations, so a console thread calling
    `read_available` cannot steal the bytes of an `exec` running in a worker thread.
    """

    def __init__(self, port: str, baudrate: int = 115200, timeout: float = 10.0) -> None:
        self._port = port
        self.baudrate = baudrate
        self.timeout = float(timeout)
        self._ser: serial.SerialBase | None = None
        self._fd: int | None = None
        self._rx = bytearray()
        self._in_raw = False
        self._use_raw_paste: bool | None = None  # None: not asked yet; False: board said no
        self._lock = threading.RLock()
        self._current_path: str | None = None  # for "the file X may be incomplete" messages
        # Traffic counters, for benchmarks and for tests that check what a sync sent.
        self.bytes_written = 0
        self.bytes_read = 0
        self.exec_count = 0

    # ------------------------------------------------------------------ port handling

    @property
    def port(self) -> str:
        return self._port

    @property
    def is_open(self) -> bool:
        return self._ser is not None and bool(self._ser.is_open)

    @property
    def in_raw_repl(self) -> bool:
        return self._in_raw

    def open(self) -> None:
        """Open the port exclusively, so a second program cannot interleave with our bytes."""
        with self._lock:
            if self.is_open:
                return
            try:
                ser = serial.serial_for_url(
                    self._port,
                    do_not_open=True,
                    baudrate=self.baudrate,
                    timeout=0,  # reads never block inside pyserial; we select() ourselves
                    write_timeout=self.timeout,
                    exclusive=True,
                )
                ser.open()
                _no_delay(ser)
            except (serial.SerialException, OSError, ValueError) as exc:
                log.debug("opening %s failed: %r", self._port, exc)
                raise describe_open_error(self._port, exc) from exc
            self._ser = ser
            self._fd = _fileno_of(ser)
            self._rx.clear()
            self._in_raw = False
            self._use_raw_paste = None
            log.info("opened %s", self._port)

    def close(self) -> None:
        """Leave the board in the friendly REPL (as other tools expect) and release the port."""
        with self._lock:
            ser, self._ser, self._fd = self._ser, None, None
            if ser is None:
                return
            try:
                if self._in_raw and ser.is_open:
                    ser.write(b"\r\x02")
                    ser.flush()
            except Exception:  # the board may be gone; closing must still work
                log.debug("could not leave raw REPL on close", exc_info=True)
            try:
                _close(ser)
            except Exception:
                log.debug("close failed", exc_info=True)
            self._in_raw = False
            self._rx.clear()
            log.info("closed %s", self._port)

    def drop(self) -> None:
        """Let go of the port at once, without waiting for a running operation.

        For a Stop button or a test that pulls the cable: the operation running in another
        thread fails with DeviceDisconnectedError. Use close() for a clean goodbye.
        """
        ser, self._ser, self._fd = self._ser, None, None
        self._in_raw = False
        if ser is not None:
            try:
                _close(ser)
            except Exception:
                log.debug("drop: close failed", exc_info=True)
            log.info("dropped %s", self._port)

    def __enter__(self) -> Link:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ low-level I/O

    def _require_open(self) -> serial.SerialBase:
        if self._ser is None or not self._ser.is_open:
            raise LinkError(f"The port {self._port} is not open: connect to the board first.")
        return self._ser

    def _gone(self, exc: BaseException) -> LinkError:
        log.debug("I/O on %s failed: %r", self._port, exc)
        self._in_raw = False
        return self._explained(
            DeviceDisconnectedError(self._port, path=self._current_path, detail=str(exc))
        )

    def _explained(self, exc: LinkError) -> LinkError:
        """`exc`, unless another program has the port open too: then that is the cause (it
        reads the board's answers before we can), and the message says which program."""
        if isinstance(exc, PortSharedError):
            return exc
        shared = shared_port_error(self._port)
        if shared is None:
            return exc
        log.debug("%s failed (%s) while shared with %s", self._port, exc, shared.holders)
        return shared

    def _write(self, data: bytes) -> None:
        ser = self._require_open()
        try:
            ser.write(data)
            self.bytes_written += len(data)
        except serial.SerialTimeoutException as exc:
            self._in_raw = False
            raise NoResponseError(
                self._port,
                what=f"The board on {self._port} stopped accepting data for {self.timeout:g} s"
                + (f" while writing {self._current_path}" if self._current_path else ""),
                hint="Press the board's reset (EN/RST) button and try again.",
            ) from exc
        except (serial.SerialException, OSError) as exc:
            raise self._gone(exc) from exc

    def _wait_readable(self, timeout: float) -> bool:
        if timeout <= 0:
            timeout = 0
        if self._fd is not None:
            try:
                ready, _, _ = select.select([self._fd], [], [], timeout)
            except (OSError, ValueError) as exc:
                raise self._gone(exc) from exc
            return bool(ready)
        # URL handlers without a file descriptor (e.g. loop://): poll.
        end = time.monotonic() + timeout
        ser = self._require_open()
        while True:
            try:
                if ser.in_waiting:
                    return True
            except (serial.SerialException, OSError) as exc:
                raise self._gone(exc) from exc
            if time.monotonic() >= end:
                return False
            time.sleep(0.002)

    def _recv(self, timeout: float) -> bytes:
        """Whatever the board sent, waiting at most `timeout` for the first byte; b"" if none."""
        if self._rx:
            data = bytes(self._rx)
            self._rx.clear()
            return data
        ser = self._require_open()
        if not self._wait_readable(timeout):
            return b""
        try:
            data = ser.read(65536)
        except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
            # TypeError/AttributeError: the port was dropped by another thread mid-read.
            raise self._gone(exc) from exc
        self.bytes_read += len(data)
        if not data and self._fd is not None:
            # select() said readable but nothing came: the other end is gone (EOF).
            raise self._gone(EOFError("end of stream"))
        return data

    def _unread(self, data: bytes) -> None:
        if data:
            self._rx[:0] = data

    def _read_until(self, ending: bytes, deadline: float, keep: int = 1 << 20) -> bytes:
        """Read until `ending`, return everything up to and including it.

        `keep` bounds memory when a board spews garbage: only the tail is kept.
        Raises _Timeout at `deadline`.
        """
        buf = bytearray()
        watch = _SilenceWatch(self._port)
        while True:
            idx = buf.find(ending)
            if idx >= 0:
                end = idx + len(ending)
                self._unread(bytes(buf[end:]))
                return bytes(buf[:end])
            if len(buf) > keep:
                del buf[: len(buf) - keep]
            data = self._recv(watch.wait(deadline))
            if not data:
                if time.monotonic() >= deadline:
                    self._unread(bytes(buf[-keep:]))
                    raise _Timeout()
                watch.silent()
                continue
            watch.heard()
            buf += data

    def _read_exact(self, n: int, deadline: float) -> bytes:
        buf = bytearray()
        watch = _SilenceWatch(self._port)
        while len(buf) < n:
            data = self._recv(watch.wait(deadline))
            if not data:
                if time.monotonic() >= deadline:
                    self._unread(bytes(buf))
                    raise _Timeout()
                watch.silent()
                continue
            watch.heard()
            buf += data
        self._unread(bytes(buf[n:]))
        return bytes(buf[:n])

    def _discard_input(self, quiet: float = 0.0, max_time: float = 0.5) -> bytes:
        """Drop stale bytes (console leftovers); with `quiet`, until the line is that quiet.

        Never longer than `max_time`: a board that never stops talking must not hang us here.
        """
        dropped = bytearray(self._rx)
        self._rx.clear()
        end = time.monotonic() + max_time
        while time.monotonic() < end:
            data = self._recv(min(quiet, end - time.monotonic()))
            if not data:
                break
            dropped += data
            if len(dropped) > 1 << 20:
                del dropped[: len(dropped) - 4096]
        if dropped:
            log.debug("discarded %d stale bytes: %r", len(dropped), bytes(dropped[-80:]))
        return bytes(dropped)

    # ------------------------------------------------------------------ REPL modes

    def connect(self) -> None:
        """Stop whatever runs on the board and enter the raw REPL.

        Retries the interrupt every second, because a board that has just been reset or plugged
        in may miss the first bytes while it boots.
        """
        with self._lock:
            self._require_open()
            deadline = time.monotonic() + self.timeout
            self._in_raw = False
            self._rx.clear()
            attempt = 0
            tail = bytearray()
            next_try = 0.0
            while True:
                now = time.monotonic()
                if now >= deadline:
                    raise self._explained(
                        NoResponseError(self._port, what=_no_answer_text(self._port, tail))
                    )
                if now >= next_try:
                    if attempt == 1:
                        # No answer to the first try: a program reading the port too (without
                        # a lock) takes the answers, and waiting longer would not help.
                        shared = shared_port_error(self._port)
                        if shared is not None:
                            raise shared
                    attempt += 1
                    self._write(b"\r\x03")
                    time.sleep(0.005)
                    self._write(b"\r\x03")
                    self._discard_input(0.02, max_time=0.1)
                    self._write(b"\r\x01")
                    next_try = now + min(1.0 * attempt, 3.0)
                data = self._recv(min(deadline, next_try) - time.monotonic())
                if not data:
                    continue
                tail += data
                idx = tail.find(RAW_BANNER)
                if idx >= 0:
                    rest = bytes(tail[idx + len(RAW_BANNER) :])
                    if attempt > 1:
                        # Earlier tries may still be answered: swallow late banners.
                        rest += self._discard_input(0.05)
                    elif rest:
                        log.debug("bytes after raw banner: %r", rest)
                    self._in_raw = True
                    log.debug("raw REPL entered on %s (attempt %d)", self._port, attempt)
                    return
                if len(tail) > 4096:
                    del tail[:-1024]

    def exit_raw(self) -> None:
        """Back to the friendly REPL; its banner is left for the console to show."""
        with self._lock:
            self._write(b"\r\x02")
            self._in_raw = False

    def _ensure_raw(self) -> None:
        if not self._in_raw:
            self.connect()

    # ------------------------------------------------------------------ exec

    def exec(
        self,
        code: str | bytes,
        on_output: Callable[[bytes], None] | None = None,
        timeout: float | None = None,
    ) -> bytes:
        """Run `code` on the board, stream its stdout to `on_output`, return all of it.

        `timeout` (default: the link's) is the longest the board may stay silent, not a cap
        on the run time, so a program that keeps printing is never cut off. On a silent
        overrun the program is interrupted with Ctrl-C and ExecTimeoutError is raised.
        """
        with self._lock:
            try:
                out, err = self._exec_raw(code, on_output, timeout)
            except DeviceExecError:
                raise
            except LinkError as exc:  # no answer, or garbled: maybe someone else took it
                raise self._explained(exc) from exc
            if err:
                raise DeviceExecError(err.decode("utf-8", "replace"), stdout=out)
            return out

    def _exec_raw(
        self,
        code: str | bytes,
        on_output: Callable[[bytes], None] | None,
        timeout: float | None,
    ) -> tuple[bytes, bytes]:
        self._require_open()
        self._ensure_raw()
        data = code.encode("utf-8") if isinstance(code, str) else bytes(code)
        self.exec_count += 1
        idle = self.timeout if timeout is None else float(timeout)
        self._send_code(data)
        return self._follow(on_output, idle)

    def _send_code(self, data: bytes) -> None:
        self._discard_input()
        deadline = time.monotonic() + self.timeout
        try:
            # Short code fits the board's UART receive buffer, so plain raw mode is safe and
            # costs one round trip instead of raw-paste's two; longer code needs flow control.
            if len(data) > SMALL_CODE and self._use_raw_paste is not False:
                if self._try_paste(data, deadline):
                    return
            for i in range(0, len(data), _PLAIN_RAW_PIECE):
                self._write(data[i : i + _PLAIN_RAW_PIECE])
                if len(data) > _PLAIN_RAW_PIECE:
                    time.sleep(_PLAIN_RAW_PAUSE)
            self._write(b"\x04")
            answer = self._read_exact(2, time.monotonic() + self.timeout)
        except _Timeout:
            self._in_raw = False
            raise NoResponseError(
                self._port,
                what=f"The board on {self._port} stopped answering"
                + (
                    f"; the file {self._current_path} may be incomplete on the board"
                    if self._current_path
                    else ""
                ),
                hint="Press the board's reset (EN/RST) button, check the USB cable, try again.",
            ) from None
        if answer != b"OK":
            self._in_raw = False
            raise LinkError(
                f"The board on {self._port} did not accept the code (it answered {answer!r}). "
                "Try again; if it keeps happening, press the board's reset button."
            )

    def _try_paste(self, data: bytes, deadline: float) -> bool:
        """Send `data` with raw-paste; False (and plain raw from now on) if the board can't."""
        self._write(b"\x05A\x01")
        answer = self._read_exact(2, deadline)
        if answer == b"R\x01":
            self._use_raw_paste = True
            self._paste(data)
            return True
        if answer == b"R\x00":
            log.info("%s does not support raw-paste; using plain raw mode", self._port)
        else:
            # Firmware older than raw-paste: the \x01 re-entered the raw REPL.
            log.info("%s predates raw-paste (answered %r)", self._port, answer)
            self._read_until(RAW_BANNER[2:], deadline)
        self._use_raw_paste = False
        return False

    def _paste(self, data: bytes) -> None:
        """Raw-paste: send within the board's flow-control windows."""
        deadline = time.monotonic() + self.timeout
        (window,) = struct.unpack("<H", self._read_exact(2, deadline))
        remain = window
        i = 0
        while i < len(data):
            # Collect window grants: without waiting if we may still send, else until one comes.
            while True:
                if remain > 0:
                    got = self._recv(0)
                else:
                    got = self._recv(deadline - time.monotonic())
                    if not got and time.monotonic() >= deadline:
                        raise _Timeout()
                if not got:
                    break
                deadline = time.monotonic() + self.timeout
                for k, byte in enumerate(got):
                    if byte == 0x01:
                        remain += window
                    elif byte == 0x04:
                        # The board stopped reading (syntax error): acknowledge, then follow.
                        self._unread(got[k + 1 :])
                        self._write(b"\x04")
                        return
                    else:
                        self._in_raw = False
                        raise LinkError(
                            f"Unexpected bytes from {self._port} during raw-paste: {got!r}. "
                            "Try again; press the board's reset button if it repeats."
                        )
                if remain > 0:
                    break
            piece = data[i : i + remain]
            self._write(piece)
            i += len(piece)
            remain -= len(piece)
        self._write(b"\x04")
        # Wait for the echo of our \x04; late window grants may come first.
        deadline = time.monotonic() + self.timeout
        while True:
            got = self._recv(deadline - time.monotonic())
            if not got:
                if time.monotonic() >= deadline:
                    raise _Timeout()
                continue
            for k, byte in enumerate(got):
                if byte == 0x04:
                    self._unread(got[k + 1 :])
                    return
                if byte != 0x01:
                    self._in_raw = False
                    raise LinkError(
                        f"Unexpected bytes from {self._port} after raw-paste: {got!r}. "
                        "Try again; press the board's reset button if it repeats."
                    )

    def _follow(
        self, on_output: Callable[[bytes], None] | None, idle: float
    ) -> tuple[bytes, bytes]:
        out = bytearray()
        err = bytearray()
        target = out
        ends = 0
        while ends < 2:
            data = self._recv(idle)
            if not data:
                self._interrupt_after_timeout(idle)
            while data:
                idx = data.find(b"\x04")
                part = data if idx < 0 else data[:idx]
                if part:
                    target += part
                    if target is out and on_output is not None:
                        on_output(bytes(part))
                if idx < 0:
                    break
                ends += 1
                target = err
                data = data[idx + 1 :]
                if ends == 2:
                    self._unread(data)
                    break
        try:
            prompt = self._read_exact(1, time.monotonic() + self.timeout)
        except _Timeout:
            prompt = b""
        if prompt != b">":
            log.debug("no raw prompt after exec (got %r); will reconnect", prompt)
            self._unread(prompt)
            self._in_raw = False
        return bytes(out), bytes(err)

    def _interrupt_after_timeout(self, idle: float) -> None:
        """The board is silent past the timeout: Ctrl-C, try to get back to the prompt, raise."""
        self._write(b"\x03")
        interrupted = False
        try:
            deadline = time.monotonic() + min(self.timeout, 3.0)
            self._read_until(b"\x04", deadline)
            self._read_until(b"\x04", deadline)
            self._read_until(b">", deadline)
            interrupted = True
        except _Timeout:
            self._in_raw = False
        raise self._explained(ExecTimeoutError(self._port, idle, interrupted))

    def eval(self, expr: str) -> object:
        """Evaluate on the board, rebuild the value here; only literals survive the trip."""
        out = self.exec(f"print(repr({expr}))")
        text = out.decode("utf-8", "replace").strip()
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError) as exc:
            raise LinkError(
                f"The board's value of {expr!r} is not a plain Python value: {text[:200]}"
            ) from exc

    # ------------------------------------------------------------------ file system

    def _fs_exec(self, code: str, context: str, path: str | None = None) -> bytes:
        self._current_path = path
        try:
            return self.exec(code)
        except DeviceExecError as exc:
            raise DeviceExecError(exc.remote_traceback, exc.stdout, context=context) from None
        finally:
            self._current_path = None

    def fs_read(self, path: str) -> bytes:
        with self._lock:
            out = self._fs_exec(fsops.read_file(path), f"Reading {path}")
            return fsops.parse_read(out)

    def fs_write(
        self,
        path: str,
        data: bytes,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Write `data` to `path` on the board, a few KB per exec, then check the size."""
        data = bytes(data)
        total = len(data)
        with self._lock:
            self._current_path = path
            try:
                self._fs_write(path, data, total, progress)
            finally:
                self._current_path = None

    def _fs_write(
        self, path: str, data: bytes, total: int, progress: Callable[[int, int], None] | None
    ) -> None:
        context = f"Writing {path}"
        try:
            self.exec(fsops.write_open(path))
            if progress:
                progress(0, total)
            for start in range(0, total, fsops.WRITE_CHUNK):
                chunk = data[start : start + fsops.WRITE_CHUNK]
                self.exec(fsops.write_chunk(chunk))
                if progress:
                    progress(start + len(chunk), total)
            size_text = self.exec(fsops.write_close(path)).decode().strip()
        except DeviceExecError as exc:
            self._abort_write()
            raise DeviceExecError(exc.remote_traceback, exc.stdout, context=context) from None
        except DeviceDisconnectedError as exc:
            if exc.path is None:
                raise DeviceDisconnectedError(self._port, path=path) from exc
            raise
        if size_text != str(total):
            raise LinkError(
                f"Writing {path} went wrong: the board has {size_text} bytes, we sent {total}. "
                "Write it again."
            )

    def _abort_write(self) -> None:
        try:
            self.exec(fsops.WRITE_ABORT)
        except LinkError:
            log.debug("could not close the half-written file", exc_info=True)

    def fs_listdir(self, path: str = "/") -> list[FileInfo]:
        with self._lock:
            return fsops.parse_listdir(self._fs_exec(fsops.listdir(path), f"Listing {path}"))

    def fs_stat(self, path: str) -> FileInfo | None:
        with self._lock:
            return fsops.parse_stat(path, self._fs_exec(fsops.stat(path), f"Checking {path}"))

    def fs_remove(self, path: str) -> None:
        with self._lock:
            self._fs_exec(fsops.remove(path), f"Removing {path}")

    def fs_rmdir(self, path: str) -> None:
        with self._lock:
            self._fs_exec(fsops.rmdir(path), f"Removing the directory {path}")

    def fs_mkdir(self, path: str, exist_ok: bool = True) -> None:
        """Create `path` and any missing parents (like os.makedirs)."""
        with self._lock:
            self._fs_exec(fsops.mkdir(path, exist_ok), f"Creating the directory {path}")

    def fs_hash_many(self, paths: list[str]) -> dict[str, str | None]:
        """SHA-256 of many files in one exec, so a sync costs one round trip, not one per file."""
        paths = [str(p) for p in paths]
        if not paths:
            return {}
        with self._lock:
            out = self._fs_exec(fsops.hash_many(paths), "Hashing files")
            return fsops.parse_hash_many(paths, out)

    # ------------------------------------------------------------------ resets

    def soft_reset(self, timeout: float | None = None, stop: threading.Event | None = None) -> str:
        """Ctrl-D in the friendly REPL, so boot.py and main.py run as after power-on.

        Returns what they printed. If main.py runs on past `timeout` (default: the link's), or
        `stop` is set (the person pressed Ctrl-C or Stop), returns what it printed so far and
        leaves it running.
        """
        wait = self.timeout if timeout is None else float(timeout)
        with self._lock:
            self._require_open()
            deadline = time.monotonic() + self.timeout
            if self._in_raw:
                self._write(b"\r\x02")
                self._in_raw = False
            self._write(b"\r\x03\r\x03")
            try:
                self._read_until(FRIENDLY_PROMPT, deadline, keep=4096)
            except _Timeout:
                raise self._explained(NoResponseError(self._port)) from None
            self._discard_input(0.02)
            self._write(b"\x04")
            try:
                self._read_until(SOFT_REBOOT, time.monotonic() + self.timeout, keep=4096)
            except _Timeout:
                what = f"The board on {self._port} did not soft-reset"
                raise self._explained(NoResponseError(self._port, what=what)) from None
            out = bytearray()
            end = time.monotonic() + wait
            while time.monotonic() < end and not (stop is not None and stop.is_set()):
                data = self._recv(min(end - time.monotonic(), _STOP_POLL_S))
                out += data
                if out.endswith(FRIENDLY_PROMPT) and b"MicroPython " in out:
                    break
            return _strip_banner(bytes(out)).decode("utf-8", "replace")

    def hard_reset(self) -> None:
        """Reset the board as the EN/RST button would, then wait until it talks again.

        Real USB-serial boards (ESP32 DevKit style) have EN wired to RTS; a pty, a socket or a
        native-USB board cannot be reset that way, so those get `machine.reset()` instead.
        """
        with self._lock:
            ser = self._require_open()
            pulsed = False
            if self._is_real_serial():
                try:
                    ser.dtr = False
                    ser.rts = True
                    time.sleep(0.1)
                    ser.rts = False
                    pulsed = True
                except (OSError, serial.SerialException) as exc:
                    log.debug("RTS reset not possible on %s: %r", self._port, exc)
            self._in_raw = False
            self._rx.clear()
            if pulsed and self._recv(2.0):
                self._wait_back(time.monotonic() + self.timeout, seen=True)
                return
            self._ensure_raw()
            self._discard_input()
            self._write(b"import machine\nmachine.reset()\n\x04")
            self._in_raw = False
            head = self._wait_back(time.monotonic() + self.timeout, seen=False)
            finished = re.search(rb"OK\x04(.*?)\x04>", head, re.DOTALL)
            if finished:
                # The exec ran to its end, so the board did not reset.
                self._in_raw = True
                if finished.group(1).strip():
                    raise DeviceExecError(
                        finished.group(1).decode("utf-8", "replace"), context="Resetting the board"
                    )
                raise LinkError(
                    f"The board on {self._port} ignored machine.reset(). "
                    "Press its reset (EN/RST) button."
                )

    def _is_real_serial(self) -> bool:
        if "://" in self._port:
            return False
        try:
            st = os.stat(self._port)
        except OSError:
            return False
        if not stat_mod.S_ISCHR(st.st_mode):
            return os.name == "nt"
        # Unix98 pty slaves have major 136-143 on Linux.
        return not (os.name == "posix" and 136 <= os.major(st.st_rdev) <= 143)

    def _wait_back(self, deadline: float, seen: bool) -> bytes:
        """Wait for the board to boot: its prompt, or output that then pauses (main.py runs).

        Native-USB boards drop off the bus while resetting, so the port is reopened.
        Returns the first bytes seen, so the caller can tell a reset from a failed exec.
        """
        quiet = 0.5
        last = time.monotonic() if seen else None
        buf = bytearray()
        head = bytearray()
        while time.monotonic() < deadline:
            try:
                if not self.is_open:
                    self.open()
                data = self._recv(0.1)
            except (DeviceDisconnectedError, LinkError):
                self._reopen_later()
                continue
            now = time.monotonic()
            if data:
                if len(head) < 4096:
                    head += data[: 4096 - len(head)]
                buf = (buf + data)[-256:]
                last = now
                if buf.endswith(FRIENDLY_PROMPT):
                    return bytes(head)
            elif last is not None and now - last >= quiet:
                return bytes(head)
        if last is None:
            log.warning("%s said nothing after the reset within %.1f s", self._port, self.timeout)
        return bytes(head)

    def _reopen_later(self) -> None:
        ser, self._ser, self._fd = self._ser, None, None
        if ser is not None:
            try:
                ser.close()
            except Exception:
                pass
        time.sleep(0.2)

    # ------------------------------------------------------------------ console passthrough

    def write(self, data: bytes) -> None:
        """Send bytes to the friendly REPL as typed; the next exec re-enters the raw REPL."""
        with self._lock:
            self._write(bytes(data))
            self._in_raw = False

    def read_available(self, timeout: float = 0.05) -> bytes:
        """Whatever the board sent, waiting at most `timeout`; b"" if nothing came."""
        with self._lock:
            data = self._recv(timeout)
            if data:
                more = self._recv(0)
                while more:
                    data += more
                    more = self._recv(0)
            return data


def _plain_socket(ser: serial.SerialBase) -> socket.socket | None:
    """The TCP socket of a `socket://` port (pyserial keeps it in `_socket`), else None."""
    from serial.urlhandler import protocol_socket

    if isinstance(ser, protocol_socket.Serial):
        sock = getattr(ser, "_socket", None)
        return sock if isinstance(sock, socket.socket) else None
    return None


def _no_delay(ser: serial.SerialBase) -> None:
    """Send each write at once on a `socket://` port, as a UART does.

    pyserial leaves Nagle's algorithm on, so the second of two small writes (Ctrl-C, then
    Ctrl-A, entering the raw REPL) waited for the ACK of the first: 40 ms more per raw REPL
    entry on a virtual board, which on Windows is only reachable over a socket.
    """
    sock = _plain_socket(ser)
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _close(ser: serial.SerialBase) -> None:
    """Close the port. pyserial's `socket://` handler sleeps 0.3 s after closing "in case of
    quick reconnects", which cost every deploy and probe over a socket 0.3 s; the boards served
    on sockets here (the virtual board, the practice chip) take a new connection at once, so
    that socket is closed without the pause."""
    sock = _plain_socket(ser)
    if sock is None:
        ser.close()
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # the board already went away
    sock.close()
    ser._socket = None  # type: ignore[attr-defined]
    ser.is_open = False


def _fileno_of(ser: serial.SerialBase) -> int | None:
    """The descriptor to select() on, so waits wake on the first byte instead of polling."""
    try:
        return ser.fileno()
    except Exception:
        pass
    sock = getattr(ser, "_socket", None)  # socket:// handler keeps its socket here
    if sock is not None:
        try:
            return sock.fileno()
        except OSError:
            return None
    return None


def _no_answer_text(port: str, seen: bytes) -> str:
    if not seen:
        return f"No answer from {port}: the board sent nothing"
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in seen) / len(seen)
    if printable < 0.7:
        return (
            f"{port} sends unreadable bytes, not a MicroPython prompt "
            "(wrong baud rate, or no MicroPython on the board)"
        )
    return f"{port} answers, but not like MicroPython's REPL (last text: {bytes(seen[-60:])!r})"


def _strip_banner(text: bytes) -> bytes:
    """Cut the friendly banner and prompt off soft-reset output, leaving boot.py/main.py's."""
    idx = text.rfind(b"MicroPython ")
    if idx >= 0 and text.endswith(FRIENDLY_PROMPT):
        text = text[:idx]
    elif text.endswith(FRIENDLY_PROMPT):
        text = text[: -len(FRIENDLY_PROMPT)]
    return text
