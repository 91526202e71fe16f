"""Flash MicroPython onto an ESP board with esptool's public API, checking the image first.

Order matters and is the point of this module: inspect the file, connect, detect the chip and
its flash size, and refuse a wrong, truncated or oversized image BEFORE the first erase or
write. esptool's own messages go through a logger of ours, which turns them into a stage text
and a percentage with the time left for the GUI, and lets Cancel stop the write between blocks.

esptool's logger is one per process, so with several boards flashing at once (a classroom
batch) each thread's messages are routed to that thread's job.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Callable

from companion_app.boards import FlashMode, flash_mode, load_board
from companion_app.device.ports import has_no_modem_lines
from companion_app.errors import IotkitError
from companion_app.firmware.image import (
    ImageInfo,
    check_compatible,
    chip_name,
    inspect_image,
    targets,
)

log = logging.getLogger(__name__)

DEFAULT_BAUD = 460800
ROM_BAUD = 115200


class FlashError(IotkitError):
    """Flashing failed, with what to do about it."""


class FlashCancelled(FlashError):
    def __init__(self) -> None:
        super().__init__(
            "Flash incomplete — flash again. The board will not start MicroPython "
            "until a flash finishes."
        )


@dataclass
class Progress:
    stage: str
    percent: float | None = None  # 0..100 within the current stage, None when unknown
    eta_s: float | None = None
    message: str = ""


@dataclass
class BoardInfo:
    chip: str  # our chip id: esp32, esp32s3, ...
    description: str  # esptool's: "ESP32-D0WD-V3 (revision v3.1)"
    mac: str
    flash_size: int | None


@dataclass
class FlashResult:
    port: str
    ok: bool
    seconds: float
    board: BoardInfo | None = None
    image: ImageInfo | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    micropython_version: str | None = None  # from the banner after the reset, e.g. "v1.24.1"

    def to_json(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "ok": self.ok,
            "seconds": round(self.seconds, 2),
            "chip": self.board.chip if self.board else None,
            "mac": self.board.mac if self.board else None,
            "flash_size": self.board.flash_size if self.board else None,
            "image": self.image.to_json() if self.image else None,
            "error": self.error,
            "notes": self.notes,
            "micropython_version": self.micropython_version,
        }


# ---- esptool's messages -> our progress --------------------------------------------------


class _Job:
    def __init__(
        self, on_progress: Callable[[Progress], None] | None, cancel: threading.Event | None
    ) -> None:
        self.on_progress = on_progress
        self.cancel = cancel
        self.stage = "Connecting"
        self.stage_started = time.monotonic()
        self.lines: list[str] = []

    def emit(self, percent: float | None = None, eta: float | None = None, msg: str = "") -> None:
        if self.on_progress is not None:
            self.on_progress(Progress(self.stage, percent, eta, msg))

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise FlashCancelled()


_STAGES = (
    (re.compile(r"^Connecting"), "Connecting"),
    (re.compile(r"^(Detecting chip|Chip is|Chip type)"), "Detecting the chip"),
    (re.compile(r"^(Uploading stub|Running stub|Stub flasher running)"), "Starting the flasher"),
    (re.compile(r"^Changing baud"), "Speeding up the link"),
    (re.compile(r"^(Erasing flash|Erase completed|Flash memory erased)"), "Erasing"),
    (re.compile(r"^(Compressed|Writing at|Wrote|Flash will be erased)"), "Writing"),
    (re.compile(r"^Hash of data verified"), "Verifying"),
)


class _RoutingLogger:
    """Installed once as esptool's logger; sends each thread's output to its job."""

    def __init__(self) -> None:
        self.jobs: dict[int, _Job] = {}
        self.lock = threading.Lock()

    def job(self) -> _Job | None:
        return self.jobs.get(threading.get_ident())

    # The esptool TemplateLogger interface ---------------------------------------------
    def print(self, *args: Any, **kwargs: Any) -> None:
        text = " ".join(str(a) for a in args).strip()
        job = self.job()
        if job is None or not text:
            return
        job.lines.append(text)
        log.debug("esptool: %s", text)
        for pattern, stage in _STAGES:
            if pattern.search(text):
                if stage != job.stage:
                    job.stage = stage
                    job.stage_started = time.monotonic()
                job.emit(msg=text)
                break
        job.check_cancel()

    def note(self, message: str) -> None:
        self.print(f"Note: {message}")

    def warning(self, message: str) -> None:
        self.print(f"Warning: {message}")

    def error(self, message: str) -> None:
        self.print(f"Error: {message}")

    warn = warning
    err = error

    def debug(self, *args: Any) -> None:
        pass

    def stage(self, finish: bool = False) -> None:
        pass

    def set_verbosity(self, verbosity: str) -> None:
        pass

    def progress_bar(
        self,
        cur_iter: int,
        total_iters: int,
        prefix: str = "",
        suffix: str = "",
        bar_length: int = 30,
    ) -> None:
        job = self.job()
        if job is None:
            return
        job.check_cancel()
        if total_iters <= 0:
            return
        fraction = min(1.0, cur_iter / total_iters)
        elapsed = time.monotonic() - job.stage_started
        eta = elapsed * (1 - fraction) / fraction if fraction > 0.02 else None
        job.emit(percent=100.0 * fraction, eta=eta, msg=f"{prefix}{suffix}".strip())


_router: _RoutingLogger | None = None
_router_lock = threading.Lock()


def _install_router() -> _RoutingLogger:
    global _router
    with _router_lock:
        if _router is None:
            from esptool.logger import TemplateLogger
            from esptool.logger import log as esptool_log

            class _Adapter(_RoutingLogger, TemplateLogger):  # type: ignore[misc]
                pass

            _router = _Adapter()
            esptool_log.set_logger(_router)
    return _router


# ---- errors ------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _error_table() -> list[dict[str, str]]:
    text = (
        resources.files("companion_app.firmware")
        .joinpath("esptool_errors.json")
        .read_text(encoding="utf-8")
    )
    return json.loads(text)["errors"]


def translate_error(
    exc: BaseException, port: str, board: str | None = None, chip: str | None = None
) -> FlashError:
    """esptool's (or the OS's) failure, in words a beginner can act on.

    `board` (a board id) or else `chip` picks the words for "put it in download mode": an
    ESP32-CAM has no BOOT button, a NodeMCU calls it FLASH, a Pico is not flashed this way.
    """
    if isinstance(exc, FlashError):
        return exc
    text = str(exc)
    detail = text.strip().splitlines()[-1] if text.strip() else ""
    for entry in _error_table():
        if re.search(entry["match"], text, re.IGNORECASE):
            holder = ""
            if entry["id"] == "port-busy":
                from companion_app.device.errors import find_port_holders

                holders = find_port_holders(port)
                holder = ", ".join(holders) if holders else "another program such as Thonny"
            enter = flash_mode(board, chip).enter if "{enter}" in entry["message"] else ""
            return FlashError(
                entry["message"].format(port=port, detail=detail, holder=holder, enter=enter)
            )
    said = " ".join(text.split()).rstrip(".") or type(exc).__name__  # one line, as all errors
    return FlashError(
        f"Flashing on {port} failed: {said}. Press the board's reset button and " "try again."
    )


# ---- the driver --------------------------------------------------------------------------


BANNER_WAIT_S = 10.0
_BANNER = re.compile(rb"MicroPython (v\d+\.\d+\.\d+[\w.+-]*) on [^;\r\n]+; [^\r\n]*\r?\n")


def no_reset_note(steps: FlashMode) -> str:
    """The note after a flash over a port with no reset lines (a pty, a socket)."""
    run = steps.run[:1].lower() + steps.run[1:]
    return f"This port has no reset lines, so the board was not restarted: {run}"


def no_banner_note(steps: FlashMode) -> str:
    """The note when the board was reset but MicroPython did not greet within the wait."""
    return (
        f"The image is written and verified, but MicroPython did not answer within "
        f"{BANNER_WAIT_S:.0f} s after the reset. {steps.run} Then open the REPL."
    )


#: The general note (no board or chip known), kept for callers that show it as is.
PRESS_EN_NOTE = no_reset_note(flash_mode())


def wait_for_micropython(
    port: str, timeout: float = BANNER_WAIT_S, cancel: threading.Event | None = None
) -> str | None:
    """After a reset, read until MicroPython's friendly banner appears; return its version.

    The ROM's boot chatter comes first and is skipped. If the banner went by before the port
    was open, or nothing comes within a second, Ctrl-B asks the REPL to print it again. None
    when no banner came within `timeout` (or the port cannot be opened): the flash itself
    succeeded either way, so the caller reports a note, not a failure.
    """
    import serial

    try:
        link = serial.serial_for_url(port, do_not_open=True, baudrate=ROM_BAUD, timeout=0.1)
        # Open with DTR and RTS released: asserting either alone would reset the board again,
        # or hold IO0 low while it starts.
        link.dtr = False
        link.rts = False
        link.open()
    except (serial.SerialException, OSError, ValueError) as exc:
        log.info("cannot open %s to wait for MicroPython: %s", port, exc)
        return None
    seen = b""
    deadline = time.monotonic() + timeout
    next_prod = time.monotonic() + 1.0
    try:
        while time.monotonic() < deadline:
            if cancel is not None and cancel.is_set():
                return None
            chunk = link.read(4096)
            if chunk:
                seen = (seen + chunk)[-8192:]
                found = _BANNER.search(seen)
                if found:
                    return found.group(1).decode()
            elif time.monotonic() >= next_prod:
                link.write(b"\r\x02")  # Ctrl-B: the friendly REPL prints its banner again
                next_prod = time.monotonic() + 2.0
    except (serial.SerialException, OSError) as exc:
        log.info("lost %s while waiting for MicroPython: %s", port, exc)
    finally:
        link.close()
    log.debug("no MicroPython banner on %s; last bytes: %r", port, seen[-300:])
    return None


class Flasher:
    """One board on one port. Blocking: run it in a worker thread, never the Tk thread.

    `board` is the board id the person picked, if any: its own bootloader steps go into the
    errors and notes, and a firmware file for another chip is refused before the port is opened.
    """

    def __init__(
        self,
        port: str,
        baud: int = DEFAULT_BAUD,
        on_progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
        board: str | None = None,
    ) -> None:
        if baud <= 0:
            raise FlashError(
                f"The transfer speed must be a positive baud rate such as "
                f"{ROM_BAUD} or {DEFAULT_BAUD}, not {baud}."
            )
        self.port = port
        self.baud = baud
        self.board = load_board(board).id if board else None
        self._chip: str | None = None  # the chip we expect: the image's, then the detected one
        self._image: ImageInfo | None = None
        self._job = _Job(on_progress, cancel)

    def steps(self) -> FlashMode:
        """The bootloader steps for this board (or the chip we expect, or general ones)."""
        return flash_mode(self.board, self._chip)

    def _connect(self) -> Any:
        import esptool.cmds

        from companion_app.firmware.uf2 import explain_not_a_port

        why = explain_not_a_port(self.port, self._image)
        if why is not None:  # a Pico's BOOTSEL drive, a folder or a file: not "no such port"
            raise FlashError(why)

        # DTR/RTS do not exist on a pty or socket: the board must already be in its
        # bootloader, and esptool must not try to reset it (it would fail with ENOTTY).
        mode = "no-reset" if has_no_modem_lines(self.port) else "default-reset"
        if not self.port.startswith("rfc2217://"):
            return esptool.cmds.detect_chip(
                self.port, ROM_BAUD, connect_mode=mode, connect_attempts=3
            )
        # pyserial's RFC 2217 client renegotiates the line settings (two 50 ms round trips)
        # whenever the read timeout changes, and esptool sets its 3 s command timeout around
        # every command. A port opened with that timeout already set flashes ~8x faster.
        import serial
        from esptool.loader import DEFAULT_TIMEOUT

        link = serial.serial_for_url(self.port, do_not_open=True, timeout=DEFAULT_TIMEOUT)
        link.open()
        try:
            return esptool.cmds.detect_chip(link, ROM_BAUD, connect_mode=mode, connect_attempts=3)
        except BaseException:
            link.close()
            raise

    def _board_info(self, esp: Any) -> BoardInfo:
        import esptool.cmds

        chip = esp.CHIP_NAME.lower().replace("-", "")
        try:
            description = esp.get_chip_description()
        except Exception:  # noqa: BLE001 - cosmetic
            description = esp.CHIP_NAME
        mac = ":".join(f"{b:02x}" for b in esp.read_mac())
        size_text = esptool.cmds.detect_flash_size(esp)
        return BoardInfo(
            chip=chip, description=description, mac=mac, flash_size=_parse_size(size_text)
        )

    def _run(self, work: Callable[[], Any]) -> Any:
        router = _install_router()
        ident = threading.get_ident()
        router.jobs[ident] = self._job
        try:
            return work()
        except IotkitError:
            raise  # already explained (a wrong image, a cancel)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message
            log.debug("esptool failed", exc_info=True)
            raise translate_error(exc, self.port, self.board, self._chip) from exc
        finally:
            router.jobs.pop(ident, None)

    def detect(self) -> BoardInfo:
        """Chip, MAC and flash size, without writing anything."""

        def work() -> BoardInfo:
            esp = self._connect()
            try:
                return self._board_info(esp)
            finally:
                esp._port.close()

        return self._run(work)

    def flash(
        self, image_path: str, erase: bool = False, offset: int | None = None, reset: bool = True
    ) -> FlashResult:
        """Check, then write and verify `image_path`. Raises FlashError; nothing is written
        when the image does not fit the detected board."""
        started = time.monotonic()
        info = inspect_image(image_path)  # refuse non-images before even opening the port
        self._check_board(info)
        self._chip, self._image = info.chip, info
        result = FlashResult(port=self.port, ok=False, seconds=0.0, image=info)

        def work() -> None:
            import esptool.cmds

            esp = self._connect()
            try:
                board = self._board_info(esp)
                result.board = board
                self._chip = board.chip
                where = check_compatible(info, board.chip, board.flash_size, offset)
                result.notes.extend(info.notes)
                self._job.stage = "Starting the flasher"
                self._job.emit(msg=f"{board.description}, MAC {board.mac}")
                esp = esptool.cmds.run_stub(esp)
                if self.baud != ROM_BAUD:
                    esp.change_baud(self.baud)
                esptool.cmds.attach_flash(esp)
                if erase:
                    self._job.stage = "Erasing"
                    self._job.emit(msg="Erasing the whole flash")
                    esptool.cmds.erase_flash(esp)
                self._job.stage = "Writing"
                self._job.stage_started = time.monotonic()
                esptool.cmds.write_flash(esp, [(where, image_path)], compress=True)
                self._job.stage = "Done"
                self._job.emit(percent=100.0, msg="Written and verified")
                if reset:
                    esptool.cmds.reset_chip(
                        esp, "hard-reset" if not has_no_modem_lines(self.port) else "no-reset"
                    )
            finally:
                try:
                    esp._port.close()
                except Exception:  # noqa: BLE001
                    pass

        self._run(work)
        result.ok = True
        if reset and has_no_modem_lines(self.port):
            result.notes.append(no_reset_note(self.steps()))
        elif reset:
            self._job.stage = "Starting MicroPython"
            self._job.stage_started = time.monotonic()
            self._job.emit(msg="Reset done; waiting for the MicroPython prompt")
            version = wait_for_micropython(self.port, cancel=self._job.cancel)
            result.micropython_version = version
            if version is None:
                result.notes.append(no_banner_note(self.steps()))
            else:
                self._job.emit(percent=100.0, msg=f"MicroPython {version} is running")
        result.seconds = time.monotonic() - started
        return result

    def _check_board(self, info: ImageInfo) -> None:
        """A picked board that this file cannot be for is refused before the port is opened."""
        if self.board is None:
            return
        board = load_board(self.board)
        if board.chip not in targets()["esp"]:
            what = (
                ""
                if info.kind == "uf2"
                else (
                    f"{os.path.basename(info.path)} is {info.describe()}, but the {board.name} "
                    "takes a .uf2 file. "
                )
            )
            raise FlashError(f"{what}{self.steps().enter}")
        check_compatible(info, board.chip)


def _parse_size(text: str | None) -> int | None:
    if not text:
        return None
    m = re.match(r"(\d+)\s*([KM])B", text)
    if not m:
        return None
    return int(m.group(1)) * (1024 if m.group(2) == "K" else 1024 * 1024)


def describe_board(board: BoardInfo) -> str:
    size = f"{board.flash_size // (1024 * 1024)} MB flash" if board.flash_size else "flash size ?"
    return f"{chip_name(board.chip)} ({board.description}), MAC {board.mac}, {size}"


__all__ = [
    "Flasher",
    "FlashError",
    "FlashCancelled",
    "FlashResult",
    "BoardInfo",
    "Progress",
    "translate_error",
    "describe_board",
    "no_reset_note",
    "no_banner_note",
]
