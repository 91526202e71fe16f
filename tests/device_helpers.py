"""Helpers for tests that run the device programs (device_scripts/) on a virtual board.

Shared by the tests of every template (sensor, wifi, logger, web, ota, ...). Keep the API stable:

- install(flash_dir, names, config)  copy the programs and write /config.json
- run_main(port, seconds, until=None) soft-reset, watch boot.py + main.py, Ctrl-C, return output
- start_main(port) -> MainRun        the same, for a test that acts while main.py runs
- wait_ready(port)                   a just-started board is at its prompt: install after this
- umqtt_simple_source() -> bytes     micropython-lib's umqtt/simple.py, fetched from PyPI
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import tarfile
import time
import urllib.request
from pathlib import Path

from sim_helpers import RawConsole

DEVICE_SCRIPTS = Path(__file__).resolve().parent.parent / "device_scripts"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

COMMON_FILES = ("config.py", "boot.py", "main.py")

# The friendly REPL prints this banner when main.py has finished (or was stopped).
_BANNER_END = b'Type "help()" for more information.\r\n>>> '
_PROMPT = b"\r\n>>> "


def install(flash_dir: str | Path, names: list[str] | tuple[str, ...], config: dict) -> Path:
    """Copy config.py, boot.py, main.py and `names` from device_scripts/ into the flash.

    Writes flash_dir/config.json from `config` (exactly json.dumps of it). Returns flash_dir.
    """
    flash = Path(flash_dir)
    flash.mkdir(parents=True, exist_ok=True)
    for name in (*COMMON_FILES, *names):
        shutil.copyfile(DEVICE_SCRIPTS / name, flash / name)
    (flash / "config.json").write_text(json.dumps(config))
    return flash


class MainRun:
    """A soft reset in progress: boot.py and main.py run, the test watches and then stops them.

    Text is returned with the serial line endings (\\r\\n) turned into \\n.
    """

    def __init__(self, port: str) -> None:
        self.console = RawConsole(port)
        self.raw = b""
        self.finished = False  # main.py ended by itself (the banner and prompt came back)
        _friendly(self.console)
        self.console.write(b"\x04")

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8", "replace").replace("\r\n", "\n")

    def read_for(self, seconds: float, until: str | re.Pattern[str] | None = None) -> str:
        """Collect output for up to `seconds`, or until `until` (str or regex) shows up.

        Returns all output so far (since the soft reset).
        """
        start_len = len(self.raw)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.finished:
            chunk = self.console.serial.read(4096)
            if chunk:
                self.raw += chunk
                if _BANNER_END in self.raw[max(0, start_len - len(_BANNER_END)) :]:
                    self.finished = True
                if until is not None and _matches(until, self.text):
                    break
        return self.text

    def stop(self, timeout: float = 10.0, retry: bool = True) -> str:
        """Ctrl-C, then wait for the friendly prompt. Fails if main.py does not stop.

        With retry=False exactly one Ctrl-C is sent (to prove one is enough).
        """
        if not self.finished:
            mark = len(self.raw)
            deadline = time.monotonic() + timeout
            next_ctrl_c = 0.0
            while _BANNER_END not in self.raw[mark:]:
                now = time.monotonic()
                if now > deadline:
                    self.console.close()
                    raise AssertionError(
                        f"main.py did not stop on Ctrl-C within {timeout} s; got {self.text!r}"
                    )
                if now >= next_ctrl_c and (retry or next_ctrl_c == 0.0):
                    self.console.write(b"\x03")  # again every 2 s, in case one raced a reset
                    next_ctrl_c = now + 2.0
                self.raw += self.console.serial.read(4096)
            self.finished = True
        self.console.close()
        return self.text


def _friendly(console: RawConsole, timeout: float = 15.0) -> None:
    """Get to a fresh friendly prompt, whatever runs (Ctrl-C again while nothing answers)."""
    deadline = time.monotonic() + timeout
    buf = b""
    while time.monotonic() < deadline:
        console.write(b"\r\x03\x03\x02")
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            buf += console.serial.read(4096)
            if buf.endswith(b">>> "):
                console.drain(0.05)
                return
    raise AssertionError(f"no friendly prompt within {timeout} s; got {buf[-300:]!r}")


def wait_ready(port: str, timeout: float = 15.0) -> None:
    """Wait until a just-started board sits at its friendly prompt, without sending Ctrl-C.

    Install programs after this: otherwise the power-on boot may already run a half-copied
    main.py before the test's soft reset. Enter is harmless while the board boots (it waits in
    the input queue) and makes the friendly REPL print a new prompt once it runs; a Ctrl-C
    during boot could land inside the interpreter's own locks (see docs/virtual-board.md).
    """
    console = RawConsole(port)
    try:
        console.write(b"\r")
        console.read_until(b">>> ", timeout=timeout)
    finally:
        console.close()


def start_main(port: str) -> MainRun:
    """Soft-reset the board (boot.py, then main.py run); read and stop it through the result."""
    return MainRun(port)


def run_main(port: str, seconds: float, until: str | re.Pattern[str] | None = None) -> str:
    """Soft-reset, collect output for `seconds` or until `until`, then Ctrl-C back to `>>>`.

    Returns everything printed since the soft reset, with \\n line endings.
    """
    run = MainRun(port)
    try:
        run.read_for(seconds, until)
    finally:
        text = run.stop()
    return text


def _matches(until: str | re.Pattern[str], text: str) -> bool:
    if isinstance(until, re.Pattern):
        return until.search(text) is not None
    return re.search(until, text) is not None


# ---- umqtt.simple -------------------------------------------------------------------------

UMQTT_URL = (
    "https://files.pythonhosted.org/packages/bd/cf/"
    "697e3418b2f44222b3e848078b1e33ee76aedca9b6c2430ca1b1aec1ce1d/"
    "micropython-umqtt.simple-1.3.4.tar.gz"
)
UMQTT_SHA256 = "b6a2520239e3992c63a7de9370ee9b3d9d27819a90359c521f1c0f7ccab8d12f"


def umqtt_simple_source() -> bytes:
    """micropython-lib's umqtt/simple.py (1.3.4), downloaded once, checked, cached.

    Uses companion_app.device.libs.fetch_lib when that exists, so tests and deploys agree.
    The file is never committed: the cache lives in tests/artifacts/ (git-ignored).
    """
    try:
        from companion_app.device.libs import fetch_lib  # type: ignore[import-not-found]
    except ImportError:
        fetch_lib = None
    if fetch_lib is not None:
        files = fetch_lib("umqtt.simple")
        for path, data in files.items():
            if path.endswith("umqtt/simple.py"):
                return data
    cached = ARTIFACTS / "umqtt-simple-1.3.4" / "simple.py"
    if cached.exists():
        return cached.read_bytes()
    with urllib.request.urlopen(UMQTT_URL, timeout=30) as resp:
        sdist = resp.read()
    digest = hashlib.sha256(sdist).hexdigest()
    if digest != UMQTT_SHA256:
        raise AssertionError(f"umqtt.simple sdist has sha256 {digest}, expected {UMQTT_SHA256}")
    with tarfile.open(fileobj=io.BytesIO(sdist), mode="r:gz") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("umqtt/simple.py"))
        extracted = tar.extractfile(member)
        assert extracted is not None
        data = extracted.read()
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(cached)
    return data
