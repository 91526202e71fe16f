"""Small helpers for talking to a virtual board byte by byte in tests."""

from __future__ import annotations

import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import serial


class RawConsole:
    """A serial port with read_until(pattern, timeout) that fails loudly on timeout."""

    def __init__(self, port: str, baudrate: int = 115200) -> None:
        self.serial = serial.serial_for_url(port, baudrate=baudrate, timeout=0.05)
        self.seen = b""

    def write(self, data: bytes) -> None:
        self.serial.write(data)

    def read_until(self, pattern: bytes, timeout: float = 5.0) -> bytes:
        deadline = time.monotonic() + timeout
        buf = b""
        while pattern not in buf:
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {pattern!r}; got {buf!r}")
            buf += self.serial.read(4096)
        self.seen += buf
        return buf

    def drain(self, quiet: float = 0.2) -> bytes:
        """Read until the board has said nothing for `quiet` seconds; return what came.

        The silence is the condition here: a read that blocks up to `quiet` s and gets
        nothing ends it.
        """
        buf = b""
        timeout = self.serial.timeout
        self.serial.timeout = max(quiet, timeout or 0.0)
        try:
            while chunk := self.serial.read(4096):
                buf += chunk
        finally:
            self.serial.timeout = timeout
        return buf

    def friendly(self) -> None:
        """Get to a fresh friendly prompt, whatever the board was doing."""
        self.write(b"\r\x03\x03\x02")
        self.read_until(b">>> ")
        self.drain(0.05)

    def run(self, line: str, timeout: float = 5.0) -> str:
        """Type one line at the friendly prompt; return what it printed (echo removed)."""
        self.write(line.encode() + b"\r")
        out = self.read_until(b"\r\n>>> ", timeout)
        text = out.decode(errors="replace")
        echo, _, rest = text.partition("\r\n")
        return rest[: -len("\r\n>>> ")] if rest.endswith("\r\n>>> ") else rest

    def raw_exec(self, code: str, timeout: float = 5.0) -> tuple[bytes, bytes]:
        """Run code in the raw REPL (entering it first); return (stdout, error text)."""
        self.write(b"\r\x03\x01")
        self.read_until(b"raw REPL; CTRL-B to exit\r\n>")
        self.write(code.encode() + b"\x04")
        out = self.read_until(b"\x04>", timeout)
        assert out.startswith(b"OK"), out
        stdout, err, _ = out[2:].split(b"\x04", 2)
        self.write(b"\x02")
        self.read_until(b">>> ")
        return stdout, err

    def close(self) -> None:
        self.serial.close()


def run(console: RawConsole, code: str, timeout: float = 10.0) -> list[str]:
    """Run code in the raw REPL; its printed lines. Any traceback fails the test."""
    out, err = console.raw_exec(code, timeout=timeout)
    assert err == b"", err.decode(errors="replace")
    return out.decode().replace("\r\n", "\n").splitlines()


def error_of(console: RawConsole, statement: str) -> str:
    """'TypeName: message' of the exception `statement` raises on the board, or 'no error'."""
    (line,) = run(
        console,
        f"try:\n    {statement}\n    print('no error')\n"
        "except Exception as e:\n    print(type(e).__name__ + ': ' + str(e))\n",
    )
    return line


def start_cli_sim(tmp_path: Path, *extra: str, **popen: object) -> subprocess.Popen:
    """`iotkit sim` as a person starts it: a temp flash, a free TCP port, its port in
    tmp_path / "p"; stdout and stderr piped unless `popen` says otherwise."""
    from conftest import venv_bin

    argv = [venv_bin("iotkit"), "sim", "--port-file", str(tmp_path / "p")]
    argv += ["--flash-dir", str(tmp_path / "flash"), "--tcp", "0", *extra]
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen(argv, **popen)  # type: ignore[call-overload]


def mpremote(port: str, *args: str, timeout: float = 60) -> str:
    """Run the real mpremote against `port` and return what it printed; fail on an error."""
    from conftest import venv_bin

    result = subprocess.run(
        [venv_bin("mpremote"), "connect", port, *args],
        capture_output=True,
        timeout=timeout,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@contextmanager
def friendly_board(**board_kwargs: Any) -> Iterator[tuple[Any, "RawConsole"]]:
    """A virtual board (`VirtualBoard(**board_kwargs)`) and a console at its friendly REPL;
    both closed afterwards."""
    from companion_app.simulator import VirtualBoard

    with VirtualBoard(**board_kwargs) as board:
        console = RawConsole(board.port)
        try:
            console.friendly()
            yield board, console
        finally:
            console.close()
