"""The practice chip behaves like the ROM it names (issue 13, item 6).

- An ESP8266 reset into empty or invalid flash used to kill the serving thread (a TypeError in
  the boot-loop timer), so every later connection timed out. Now the chip stays served and
  esptool connects after the reset as it does to a real board.
- The ESP32-family ROM leaves its SPI flash unconnected until SPI_ATTACH (esptool's
  attach_flash: "ROM loader doesn't enable flash unless we explicitly do it"): a flash command
  before it gets no answer and the ROM is stuck until reset (esp-rs/espflash#4). The ESP8266
  ROM has no SPI_ATTACH and connects its flash on FLASH_BEGIN; the flasher stub attaches the
  flash as it starts.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from conftest import venv_bin
from esptool.cmds import detect_chip
from esptool.util import FatalError
from test_virtual_chip_boot import boots, open_console, press_en
from waiting import wait_until

from companion_app.simulator.bootloader import VirtualBootloader

pytestmark = pytest.mark.skipif(os.name != "posix", reason="needs pseudo-terminals")

FLASH = 0x200000
NO_ANSWER = (
    "Timed out|No serial data received|No more data to read"  # esptool's words for a silent chip
)


@pytest.fixture
def chip(tmp_path):
    started: list[VirtualBootloader] = []

    def start(name: str, **kw) -> VirtualBootloader:
        kw.setdefault("flash_size", FLASH)
        kw.setdefault("flash_image", tmp_path / f"{name}.bin")
        kw.setdefault("pty", False)
        bl = VirtualBootloader(name, **kw).start()
        started.append(bl)
        return bl

    yield start
    for bl in started:
        bl.stop()


def _esptool(port: str, *args: str) -> subprocess.CompletedProcess:
    cmd = [venv_bin("esptool"), "--port", port, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("content", [None, b"words, not firmware" * 100])
def test_esp8266_reset_into_bad_flash_keeps_serving_and_esptool_connects(
    chip, tmp_path, content, caplog
):
    flash_file = tmp_path / "esp8266.bin"
    if content is not None:
        flash_file.write_bytes(content + b"\xff" * (FLASH - len(content)))
    bl = chip("esp8266", rfc2217_port=0, flash_image=flash_file)
    console = open_console(bl.rfc2217_url)
    try:
        press_en(console)
        wait_until(lambda: [b for b in boots(bl) if b["mode"] == "flash"], 10, "a flash boot")
        assert bl.state == "no_app" and boots(bl)[-1]["micropython"] is None
        # the boot-loop timer is where the serving thread died; let it run a few rounds
        rounds = []
        real = bl._run_timers

        def counted(out: bytearray) -> None:
            rounds.append(1)
            real(out)

        bl._run_timers = counted  # type: ignore[method-assign]
        wait_until(lambda: len(rounds) >= 3, 10, "three rounds of the boot-loop timer")
        assert bl._thread is not None and bl._thread.is_alive()
    finally:
        console.close()
    # esptool resets the board into download mode through DTR/RTS and talks to the ROM
    result = _esptool(bl.rfc2217_url, "--before", "default-reset", "--after", "no-reset", "chip-id")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "Detecting chip type... ESP8266" in result.stdout
    assert bl.state == "download"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_esp32_rom_gives_no_answer_to_a_flash_write_before_spi_attach(chip):
    bl = chip("esp32", tcp_port=0)
    esp = detect_chip(bl.tcp_url, connect_mode="no-reset")
    try:
        with pytest.raises(FatalError, match=NO_ANSWER):
            esp.flash_begin(4096, 0x10000)
        assert bl.engine is not None and bl.engine.stuck == "FLASH_BEGIN"
        assert ("ROM_STUCK", {"command": "FLASH_BEGIN", "why": "flash not attached"}) in bl.log
        # stuck until reset: even a register read goes unanswered
        with pytest.raises(FatalError, match=NO_ANSWER):
            esp.read_reg(0x40001000, timeout=0.5)
        assert bl.read_flash(0x10000, 4096) == b"\xff" * 4096
    finally:
        esp._port.close()


def test_esp32_rom_writes_once_the_flash_is_attached(chip):
    bl = chip("esp32", tcp_port=0)
    esp = detect_chip(bl.tcp_url, connect_mode="no-reset")
    try:
        esp.flash_spi_attach(0)
        esp.flash_begin(1024, 0x10000)
        esp.flash_block(bytes(range(256)) * 4, 0)
        assert bl.read_flash(0x10000, 1024) == bytes(range(256)) * 4
        assert esp.flash_md5sum(0x10000, 1024) is not None
        assert bl.engine is not None and bl.engine.stuck is None
    finally:
        esp._port.close()


def test_esp32_md5_before_attach_goes_unanswered_too(chip):
    bl = chip("esp32", tcp_port=0)
    esp = detect_chip(bl.tcp_url, connect_mode="no-reset")
    try:
        with pytest.raises(FatalError, match=NO_ANSWER):
            esp.flash_md5sum(0, 4096)
        assert bl.engine is not None and bl.engine.stuck == "SPI_FLASH_MD5"
    finally:
        esp._port.close()


def test_the_stub_attaches_the_flash_itself(chip):
    bl = chip("esp32", tcp_port=0)
    esp = detect_chip(bl.tcp_url, connect_mode="no-reset")
    try:
        stub = esp.run_stub()
        stub.flash_begin(4096, 0x10000)
        assert bl.engine is not None and bl.engine.stuck is None
    finally:
        esp._port.close()


def test_esp8266_rom_connects_its_flash_on_flash_begin(chip):
    bl = chip("esp8266", tcp_port=0)
    esp = detect_chip(bl.tcp_url, connect_mode="no-reset")
    try:
        # the ESP8266 ROM does not know SPI_ATTACH (esptool sends FLASH_BEGIN instead)
        esp.flash_begin(4096, 0x10000)
        esp.flash_block(b"\x42" * 0x400, 0)
        assert bl.read_flash(0x10000, 4) == b"\x42" * 4
        assert bl.engine is not None and bl.engine.flash_attached
    finally:
        esp._port.close()


def test_esptool_no_stub_write_flash_on_esp32_still_works(chip, tmp_path):
    # esptool's own order: SPI_ATTACH first, then the write
    bl = chip("esp32", tcp_port=0)
    data = bytes(range(256)) * 16
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    result = _esptool(
        bl.tcp_url,
        "--before",
        "no-reset",
        "--after",
        "no-reset",
        "--no-stub",
        "write-flash",
        "0x20000",
        str(path),
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert bl.read_flash(0x20000, len(data)) == data
    names = [n for n, _ in bl.log]
    assert names.index("SPI_ATTACH") < names.index("FLASH_BEGIN")
    assert re.search(r"Hash of data verified", result.stdout)


def test_an_internal_fault_is_logged_and_the_chip_keeps_serving(chip, caplog):
    bl = chip("esp32", tcp_port=0)
    real = bl._run_timers
    faults = []

    def broken_once(out: bytearray) -> None:
        if not faults:
            faults.append(1)
            raise RuntimeError("a fault in one round")
        real(out)

    bl._run_timers = broken_once  # type: ignore[method-assign]
    wait_until(lambda: faults, 10, "the fault")
    esp = detect_chip(bl.tcp_url, connect_mode="no-reset")
    esp._port.close()
    assert esp.CHIP_NAME == "ESP32"
    assert bl._thread is not None and bl._thread.is_alive()
    assert any("internal error while serving" in r.getMessage() for r in caplog.records)
