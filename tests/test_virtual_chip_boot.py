"""The virtual chip across a reset: DTR/RTS over RFC 2217 reach EN and IO0 as on a DevKit, a
flashed MicroPython image boots (the real interpreter, greeting with the flashed version), and a
flash with no valid image gives the ROM's "invalid header" boot loop.

esptool's CLI over pyserial's RFC 2217 client takes ~20 s per write (the client renegotiates
the line settings, ~100 ms, around every command), so the CLI runs once; our Flasher opens the
port so that it does not, and takes a few seconds.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import serial
from conftest import venv_bin
from firmware_helpers import merged_image
from waiting import wait_until

from companion_app.firmware.flasher import PRESS_EN_NOTE, Flasher
from companion_app.simulator.bootloader import VirtualBootloader
from companion_app.simulator.host import micropython_available

pytestmark = pytest.mark.skipif(
    os.name != "posix" or not micropython_available(),
    reason="needs pseudo-terminals and MicroPython's unix port",
)

FLASH = 0x200000
BANNER = re.compile(rb"MicroPython (v[\d.]+) on (\S+); ([^\r\n]+)\r\n")


def open_console(url: str) -> serial.Serial:
    """Open the board's port as a terminal does, without resetting it: DTR and RTS released."""
    link = serial.serial_for_url(url, do_not_open=True, baudrate=115200, timeout=0.05)
    link.dtr = False
    link.rts = False
    link.open()
    return link


def read_until(
    link: serial.Serial,
    pattern: re.Pattern[bytes],
    timeout: float = 10.0,
    prod: bytes | None = None,
) -> tuple[re.Match[bytes], bytes]:
    """Read until `pattern` shows up; send `prod` every second of silence."""
    seen = b""
    deadline = time.monotonic() + timeout
    next_prod = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        chunk = link.read(4096)
        seen += chunk
        found = pattern.search(seen)
        if found:
            return found, seen
        if prod and not chunk and time.monotonic() >= next_prod:
            link.write(prod)
            next_prod = time.monotonic() + 1.0
    raise AssertionError(f"{pattern.pattern!r} never came; got {seen[-600:]!r}")


def press_en(link: serial.Serial) -> None:
    """The EN button through the auto-reset circuit, IO0 left high (esptool's hard reset)."""
    link.dtr = False
    link.rts = True
    time.sleep(0.1)  # on purpose: EN held low 100 ms, as esptool's hard reset does
    link.rts = False


def boots(bl: VirtualBootloader) -> list[dict]:
    return [args for name, args in bl.log if name == "BOOT"]


@pytest.fixture
def chip(tmp_path):
    started: list[VirtualBootloader] = []

    def start(name: str = "esp32", **kw) -> VirtualBootloader:
        kw.setdefault("flash_size", FLASH)
        kw.setdefault("flash_image", tmp_path / f"{name}.bin")
        kw.setdefault("pty", False)
        bl = VirtualBootloader(name, **kw).start()
        started.append(bl)
        return bl

    yield start
    for bl in started:
        bl.stop()


def write_image(tmp_path: Path, data: bytes, name: str = "fw.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_esptool_default_reset_reflashes_running_micropython_which_then_boots(chip, tmp_path):
    bl = chip("esp32", rfc2217_port=0)
    url = bl.rfc2217_url
    assert url.startswith("rfc2217://127.0.0.1:")
    # MicroPython v1.23.0 is running on the chip (flashed by our driver) ...
    old = write_image(tmp_path, merged_image(0, 0x1000).replace(b"v1.24.1", b"v1.23.0"), "old.bin")
    assert Flasher(url).flash(str(old)).micropython_version == "v1.23.0"
    assert bl.state == "app" and bl.board is not None
    old_board = bl.board

    # ... and the unmodified esptool CLI, with its default reset, gets it back into download
    # mode, writes the new image and hard-resets it through RTS.
    image = merged_image(0, 0x1000)
    path = write_image(tmp_path, image)
    result = subprocess.run(
        [venv_bin("esptool"), "--port", url, "write-flash", "0x1000", str(path)],
        capture_output=True,
        text=True,
        timeout=90,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert "Hash of data verified." in out and "Hard resetting via RTS pin" in out
    assert bl.read_flash(0x1000, len(image)) == image
    modes = [b["mode"] for b in boots(bl)]
    assert modes[-2:] == ["download", "flash"], modes  # the reset into download, then the boot

    wait_until(lambda: bl.state == "app" and bl.board is not old_board, 10, "the new boot")
    assert not old_board.running  # the old MicroPython was stopped by the reset
    console = open_console(url)
    try:
        found, _ = read_until(console, BANNER, prod=b"\r\x02")
        assert found.group(1, 2) == (b"v1.24.1", b"2024-11-29")
        assert found.group(3) == b"Generic ESP32 module with ESP32"
        console.write(b"print(6*7)\r")
        read_until(console, re.compile(rb"print\(6\*7\)\r\n42\r\n>>> "))
    finally:
        console.close()


def test_our_flasher_over_rfc2217_reports_the_version_that_booted(chip, tmp_path):
    bl = chip("esp32s3", rfc2217_port=0)
    path = write_image(tmp_path, merged_image(9, 0x0))
    stages: list[str] = []
    result = Flasher(bl.rfc2217_url, on_progress=lambda p: stages.append(p.stage)).flash(str(path))
    assert result.ok and result.micropython_version == "v1.24.1"
    assert result.to_json()["micropython_version"] == "v1.24.1"
    assert not any("EN/RST" in note for note in result.notes)
    assert stages[-1] == "Starting MicroPython" and "Writing" in stages
    assert bl.board is not None and bl.board.board_id == "esp32-s3-devkitc-1"
    assert bl.app_version == "v1.24.1"


def _flash_with(flash_file: Path, offset: int, data: bytes) -> None:
    content = bytearray(b"\xff" * FLASH)
    content[offset : offset + len(data)] = data
    flash_file.write_bytes(bytes(content))


@pytest.mark.parametrize(
    "content,word",
    [
        (None, "0xffffffff"),  # erased flash
        ("esp32s3", None),  # a MicroPython image for another chip
        ("garbage", "0x64726f77"),  # b"word..." read little-endian
    ],
)
def test_without_a_valid_image_the_rom_loops_on_invalid_header(chip, tmp_path, content, word):
    flash_file = tmp_path / "esp32.bin"
    if content == "esp32s3":
        image = merged_image(9, 0x0)
        _flash_with(flash_file, 0x1000, image)
        word = f"0x{int.from_bytes(image[:4], 'little'):08x}"
    elif content == "garbage":
        _flash_with(flash_file, 0x1000, b"words, not firmware" * 100)
    bl = chip("esp32", rfc2217_port=0, flash_image=flash_file)
    console = open_console(bl.rfc2217_url)
    try:
        press_en(console)
        _, seen = read_until(console, re.compile(rb"(invalid header: \S+\r\n){3}"))
        assert b"rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n" in seen
        assert f"invalid header: {word}\r\n".encode() in seen
        assert b"MicroPython" not in seen
        assert bl.state == "no_app" and bl.board is None
        assert boots(bl)[-1]["micropython"] is None

        # Holding BOOT (IO0 low) through the next reset, as esptool does, ends the loop.
        from esp_pylib.serial_reset import classic_bootloader_reset

        classic_bootloader_reset(console)
        read_until(
            console,
            re.compile(
                rb"DOWNLOAD_BOOT\(UART0/UART1/SDIO_REI_REO_V2\)\)\r\n" rb"waiting for download\r\n"
            ),
        )
        assert bl.state == "download"
    finally:
        console.close()


@pytest.mark.pty
def test_on_a_pty_the_flash_succeeds_and_asks_for_the_en_button(chip, tmp_path):
    bl = chip("esp32", pty=True)
    path = write_image(tmp_path, merged_image(0, 0x1000))
    result = Flasher(bl.port).flash(str(path))
    assert result.ok and result.micropython_version is None
    assert PRESS_EN_NOTE in result.notes
    assert "press the board's EN/RST button" in PRESS_EN_NOTE
    assert bl.state == "download" and bl.board is None  # no lines: nothing was reset
    assert not [b for b in boots(bl) if b["mode"] == "flash"]


def test_esptool_watchdog_reset_boots_the_flash_over_a_plain_socket(chip, tmp_path):
    bl = chip("esp32c3", tcp_port=0)
    path = write_image(tmp_path, merged_image(5, 0x0))
    result = subprocess.run(
        [
            venv_bin("esptool"),
            "--port",
            bl.tcp_url,
            "--before",
            "no-reset",
            "--after",
            "watchdog-reset",
            "write-flash",
            "0x0",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "Hard resetting with a watchdog" in result.stdout
    wait_until(lambda: bl.state == "app", 10, "MicroPython to boot")
    assert boots(bl)[-1]["cause"] == "rtc_watchdog"
    console = serial.serial_for_url(bl.tcp_url, baudrate=115200, timeout=0.05)
    try:
        found, _ = read_until(console, BANNER, prod=b"\r\x02")
        assert found.group(1) == b"v1.24.1"
        assert found.group(3) == b"ESP32C3 module with ESP32C3"
    finally:
        console.close()
