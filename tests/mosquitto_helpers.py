"""A real mosquitto broker (Debian's package) on loopback, started by the test as an ordinary
process, as a lab runs it: the three-line config of shared/ARCHITECTURE.md, no service manager.

`Mosquitto.on_a_free_port()` starts one; `restart()` stops it and starts it again on the same
port (retained messages are gone, as with `persistence false` on a real lab broker), which is
how the tests check that boards and the dashboard survive a broker restart.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from waiting import wait_until

MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto")


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    for path in MOSQUITTO_PATHS:
        if Path(path).exists():
            return path
    return None


def require_mosquitto() -> str:
    """The binary, or skip: `make test` installs Debian's mosquitto when it runs as root."""
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("needs Debian's mosquitto (make test installs it with apt-get as root)")
    return binary


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Mosquitto:
    """One mosquitto process on 127.0.0.1:port, anonymous, without persistence."""

    def __init__(self, port: int) -> None:
        self.binary = require_mosquitto()
        self.port = port
        self.url = f"mqtt://127.0.0.1:{port}"
        self._dir = Path(tempfile.mkdtemp(prefix="iotkit-mosquitto-"))
        self.conf = self._dir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n",
            encoding="utf-8",
        )
        self.log = self._dir / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT
            )
        proc = self.proc

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text(errors='replace')}")
            return _accepts(self.port)

        wait_until(ready, timeout, f"mosquitto listening on port {self.port}", interval=0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        # The port is free again once the old process is gone; a new listener may still need
        # a moment while the kernel lets go of it.
        deadline = time.monotonic() + 10
        while True:
            try:
                self.start()
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    @classmethod
    def on_a_free_port(cls, attempts: int = 5) -> "Mosquitto":
        """A started broker on a port nobody holds (another test pass may take a port between
        our look and mosquitto's bind: then try another)."""
        error: Exception | None = None
        for _ in range(attempts):
            broker = cls(_free_port())
            try:
                broker.start()
                return broker
            except RuntimeError as exc:
                broker.close()
                error = exc
        assert error is not None
        raise error


@pytest.fixture
def mosquitto():
    broker = Mosquitto.on_a_free_port()
    yield broker
    broker.close()
