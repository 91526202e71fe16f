"""The virtual ROM bootloader against the real, unmodified esptool CLI (and raw SLIP frames)."""

from __future__ import annotations

import os
import random
import re
import signal
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import serial
from conftest import venv_bin
from waiting import wait_for_file, wait_until

from companion_app.simulator.bootloader import (
    VirtualBootloader,
    destructive_commands_in,
    read_command_log,
    slip_encode,
    xor_checksum,
)

pytestmark = pytest.mark.skipif(os.name != "posix", reason="needs pseudo-terminals")

OFFSET = {
    "esp32": 0x1000,
    "esp32s2": 0x1000,
    "esp32s3": 0x0,
    "esp32c3": 0x0,
    "esp32c6": 0x0,
    "esp8266": 0x0,
}
CHIP_ID = {"esp32": 0, "esp32s2": 2, "esp32s3": 9, "esp32c3": 5, "esp32c6": 13, "esp8266": None}
NAME = {
    "esp32": "ESP32",
    "esp32s2": "ESP32-S2",
    "esp32s3": "ESP32-S3",
    "esp32c3": "ESP32-C3",
    "esp32c6": "ESP32-C6",
    "esp8266": "ESP8266",
}
SMALL_FLASH = 0x200000  # 2 MB: quick to create, erase and hash


def esptool(port: str, *args: str, before: str = "no-reset", after: str = "no-reset"):
    """The esptool CLI as a user runs it; a pty has no DTR/RTS, hence the no-reset options."""
    cmd = [
        venv_bin("esptool"),
        "--chip",
        "auto",
        "--port",
        port,
        "--before",
        before,
        "--after",
        after,
        *args,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return result


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return result.stdout + result.stderr


def make_image(chip: str, size: int, seed: int = 1) -> bytes:
    """A valid-looking ESP app image: header, extended header with the chip id at file offset
    12 (none for ESP8266), three segments half random and half text (so it compresses a little,
    as firmware does), and the checksum byte."""
    rnd = random.Random(seed)
    per = ((size - 24 - 16) // 3 - 8) & ~3
    text = b"MicroPython v1.24.1 on 2024-11-29; sensor dashboard; "
    segments = []
    for addr in (0x3FFB0000, 0x40080000, 0x400D0020):
        half = per // 2
        segments.append((addr, rnd.randbytes(half) + (text * (per // len(text) + 1))[: per - half]))
    header = struct.pack("<BBBBI", 0xE9, len(segments), 2, 0x10, 0x40080000)
    if CHIP_ID[chip] is not None:
        # wp pin, drive settings, chip id, min rev, min/max rev full, reserved, hash appended
        header += struct.pack(
            "<BBBBHBHH4sB", 0xEE, 0, 0, 0, CHIP_ID[chip], 0, 0, 0xFFFF, b"\0" * 4, 0
        )
    image = header + b"".join(struct.pack("<II", a, len(d)) + d for a, d in segments)
    checksum = xor_checksum(b"".join(d for _, d in segments))
    return image + b"\0" * (15 - len(image) % 16) + bytes([checksum])


@pytest.fixture
def boot(tmp_path):
    """Start virtual chips; each has its flash in tmp_path/<chip>.bin; all stopped at the end."""
    started = []

    def start(chip: str, **kw) -> VirtualBootloader:
        kw.setdefault("flash_size", SMALL_FLASH)
        kw.setdefault("flash_image", tmp_path / f"{chip}.bin")
        bl = VirtualBootloader(chip, **kw).start()
        started.append(bl)
        return bl

    yield start
    for bl in started:
        bl.stop()


@pytest.mark.parametrize("chip", ["esp32", "esp32s3", "esp32c3", "esp8266", "esp32s2", "esp32c6"])
def test_esptool_auto_detects_chip_mac_and_flash_size(boot, chip):
    bl = boot(chip, mac="24:0a:c4:12:34:56")
    out = ok(esptool(bl.port, "flash-id"))
    assert f"Detecting chip type... {NAME[chip]}" in out
    assert f"Connected to {NAME[chip]} on {bl.port}" in out
    assert re.search(r"MAC:\s+24:0a:c4:(ff:fe:)?12:34:56", out), out
    assert "Manufacturer: ef" in out and "Device: 4015" in out
    assert "Detected flash size: 2MB" in out
    assert "Stub flasher running." in out
    assert bl.engine is not None
    assert not bl.engine.unknown_reads, "esptool read registers the data file does not model"
    assert bl.destructive_commands() == []


@pytest.mark.parametrize("chip", ["esp32", "esp8266"])
def test_chip_id_command_without_stub(boot, chip):
    bl = boot(chip, mac="5c:cf:7f:01:02:03")
    out = ok(esptool(bl.port, "--no-stub", "chip-id"))
    if chip == "esp8266":
        # esp8266.py chip_id(): (mac0 >> 24) | ((mac1 & 0xFFFFFF) << 8)
        assert "Chip ID: 0x00010203" in out
    else:
        assert "has no chip ID" in out and "MAC:                5c:cf:7f:01:02:03" in out
    assert "STUB_RUNNING" not in bl.commands()
    # ESP32 and ESP8266 ROMs reject GET_SECURITY_INFO, so esptool falls back to the magic value
    rejected = [a for n, a in bl.log if n == "GET_SECURITY_INFO"]
    assert rejected and all(a["error"] == "0105" for a in rejected)


WRITE_CASES = [
    ("esp32", True, True),
    ("esp32", True, False),
    ("esp32", False, True),
    ("esp32", False, False),
    ("esp32s3", True, True),
    ("esp32s3", False, False),
    ("esp32c3", True, True),
    ("esp32c3", False, False),
    ("esp8266", True, True),
    ("esp8266", False, False),
]


@pytest.mark.parametrize("chip,stub,compress", WRITE_CASES)
def test_write_flash_puts_image_at_offset_byte_for_byte(boot, tmp_path, chip, stub, compress):
    bl = boot(chip)
    image = make_image(chip, 64 * 1024, seed=len(chip) + stub + 2 * compress)
    path = tmp_path / "firmware.bin"
    path.write_bytes(image)
    offset = OFFSET[chip]
    stub_flag = [] if stub else ["--no-stub"]
    write_args = ["--compress"] if compress else ["--no-compress"]
    out = ok(esptool(bl.port, *stub_flag, "write-flash", *write_args, hex(offset), str(path)))
    assert "Hash of data verified." in out or (chip == "esp8266" and not stub)

    flash_file = (tmp_path / f"{chip}.bin").read_bytes()
    assert flash_file[offset : offset + len(image)] == image
    assert flash_file[offset + len(image) : offset + len(image) + 4096].count(0xFF) == 4096
    names = bl.commands()
    assert ("FLASH_DEFL_DATA" in names) == compress
    assert ("FLASH_DATA" in names) == (not compress)
    assert ("STUB_RUNNING" in names) == stub

    if chip == "esp8266" and not stub:
        return  # the ESP8266 ROM has neither SPI_FLASH_MD5 nor a flash read
    ok(esptool(bl.port, *stub_flag, "verify-flash", hex(offset), str(path)))
    back = tmp_path / "back.bin"
    ok(esptool(bl.port, *stub_flag, "read-flash", hex(offset), str(len(image)), str(back)))
    assert back.read_bytes() == image


def test_write_flash_rejects_wrong_chip_image_at_bootloader_offset(boot, tmp_path):
    bl = boot("esp32s3")
    path = tmp_path / "esp32.bin"
    path.write_bytes(make_image("esp32", 32 * 1024))
    result = esptool(bl.port, "write-flash", "0x0", str(path))
    assert result.returncode != 0
    assert "not an ESP32-S3 image" in result.stdout + result.stderr
    assert bl.destructive_commands() == []


def test_erase_flash_and_erase_region(boot, tmp_path):
    bl = boot("esp32c3")
    image = make_image("esp32c3", 64 * 1024)
    path = tmp_path / "fw.bin"
    path.write_bytes(image)
    ok(esptool(bl.port, "write-flash", "0x0", str(path)))

    ok(esptool(bl.port, "erase-region", "0x4000", "0x2000"))
    flash = bl.read_flash()
    assert flash[0x4000:0x6000] == b"\xff" * 0x2000
    assert flash[:0x4000] == image[:0x4000] and flash[0x6000:0x10000] == image[0x6000:0x10000]
    assert ("ERASE_REGION", {"offset": 0x4000, "size": 0x2000}) in bl.log

    ok(esptool(bl.port, "erase-flash"))
    assert bl.read_flash() == b"\xff" * SMALL_FLASH
    assert [n for n, _ in bl.destructive_commands()][-2:] == ["ERASE_REGION", "ERASE_FLASH"]
    # The same log, written beside the flash image, for a test in another process
    assert [n for n, _ in destructive_commands_in(tmp_path / "esp32c3.bin")][-1] == "ERASE_FLASH"


def test_read_only_commands_neither_erase_nor_write(boot):
    bl = boot("esp32")
    for args in (
        ["--baud", "921600", "flash-id"],
        ["chip-id"],
        ["--no-stub", "read-mac"],
        ["read-flash", "0", "0x1000", os.devnull],
    ):
        ok(esptool(bl.port, *args))
    assert bl.destructive_commands() == []
    assert ("CHANGE_BAUDRATE", {"baud": 921600, "old": 115200}) in bl.log  # stub: new, old
    # the zero-size FLASH_BEGIN of esptool's soft reset is not a write
    assert ("FLASH_BEGIN", {"offset": 0, "size": 0, "blocks": 0, "block_size": 0x4000}) in bl.log


def test_reconnects_after_clean_exit_left_stub_and_killed_client(boot, tmp_path):
    bl = boot("esp32")
    ok(esptool(bl.port, "flash-id"))
    # 1: esptool leaves the stub running; the next run finds it by its SYNC answer
    ok(esptool(bl.port, "chip-id", after="no-reset-stub"))
    out = ok(esptool(bl.port, "flash-id"))
    assert "Stub flasher is already running. No upload is necessary." in out
    # 2: a client killed in the middle of a write; the next one flashes fine
    path = tmp_path / "big.bin"
    image = make_image("esp32", 512 * 1024, seed=7)
    path.write_bytes(image)
    cmd = [
        venv_bin("esptool"),
        "--port",
        bl.port,
        "--before",
        "no-reset",
        "--after",
        "no-reset",
        "--no-stub",
        "write-flash",
        "--no-compress",
        "0x1000",
        str(path),
    ]
    victim = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: "FLASH_DATA" in bl.commands(), 20, "esptool to send flash data")
    finally:
        victim.kill()
        victim.wait()
    ok(esptool(bl.port, "write-flash", "0x1000", str(path)))
    assert bl.read_flash(0x1000, len(image)) == image


def test_garbage_on_the_line_is_ignored(boot):
    bl = boot("esp8266")
    with serial.serial_for_url(bl.port, baudrate=115200, timeout=0.2) as s:
        s.write(
            b"ets Jan  8 2013,rst cause:2, boot mode:(1,6)\r\n\xc0\xdb\x01half a frame"
            + bytes(range(256))
            + b"\xc0\x00\xc0"
        )
        while s.read(4096):  # until the chip has answered all of it (0.2 s of silence)
            pass
    out = ok(esptool(bl.port, "chip-id"))
    assert "Detecting chip type... ESP8266" in out


class RawLink:
    """SLIP frames by hand, for what esptool never sends."""

    def __init__(self, port: str) -> None:
        self.s = serial.serial_for_url(port, baudrate=115200, timeout=2)

    def command(self, op: int, data: bytes = b"", chk: int = 0) -> tuple[int, int, bytes]:
        self.s.write(slip_encode(struct.pack("<BBHI", 0, op, len(data), chk) + data))
        return self.response()

    def response(self) -> tuple[int, int, bytes]:
        raw = self.s.read_until(b"\xc0")
        if raw == b"\xc0":
            raw = self.s.read_until(b"\xc0")
        assert raw.endswith(b"\xc0"), f"no answer: {raw!r}"
        frame = raw[:-1].replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb")
        direction, op, size, value = struct.unpack("<BBHI", frame[:8])
        assert direction == 1 and size == len(frame) - 8
        return op, value, frame[8:]

    def sync(self) -> None:
        op, value, status = self.command(0x08, b"\x07\x07\x12\x20" + b"\x55" * 32)
        assert op == 0x08 and value != 0  # a ROM answers SYNC with a non-zero value
        for _ in range(7):
            assert self.response()[0] == 0x08

    def close(self) -> None:
        self.s.close()


def test_wrong_checksum_and_unknown_command_get_error_status(boot):
    bl = boot("esp32")
    link = RawLink(bl.port)
    try:
        link.sync()
        block = bytes(range(256)) * 4
        good = xor_checksum(block)
        # the ROM needs its flash attached first, as esptool does (attach_flash)
        assert link.command(0x0D, struct.pack("<II", 0, 0))[2] == b"\0" * 4
        # FLASH_BEGIN 1 KB at 0x10000, then FLASH_DATA with a wrong checksum
        assert link.command(0x02, struct.pack("<IIII", 1024, 1, 1024, 0x10000))[2] == b"\0" * 4
        header = struct.pack("<IIII", len(block), 0, 0, 0)
        op, _, status = link.command(0x03, header + block, chk=good ^ 0x5A)
        assert (op, status) == (0x03, bytes([1, 0x07, 0, 0]))  # ROM: "Invalid CRC in message"
        assert bl.read_flash(0x10000, 1024) == b"\xff" * 1024
        op, _, status = link.command(0x03, header + block, chk=good)
        assert status == b"\0" * 4 and bl.read_flash(0x10000, 1024) == block
        # MEM_DATA checks its checksum too
        assert link.command(0x05, struct.pack("<IIII", 256, 1, 256, 0x3FFB0000))[2] == b"\0" * 4
        op, _, status = link.command(0x07, struct.pack("<IIII", 256, 0, 0, 0) + block[:256], 1)
        assert status[:2] == bytes([1, 0x07])
        # a stub-only command and an unknown one: "Received message is invalid"
        assert link.command(0xD0)[2][:2] == bytes([1, 0x05])
        assert link.command(0x42)[2][:2] == bytes([1, 0x05])
        # READ_REG of the chip-detect magic
        assert link.command(0x0A, struct.pack("<I", 0x40001000))[1] == 0x00F01D83
    finally:
        link.close()
    errors = [(n, a["error"]) for n, a in bl.log if "error" in a]
    assert errors == [
        ("FLASH_DATA", "0107"),
        ("MEM_DATA", "0107"),
        ("ERASE_FLASH", "0105"),
        ("0x42", "0105"),
    ]


def test_stub_reports_bad_checksum_with_its_own_code(boot):
    bl = boot("esp32s3")
    ok(esptool(bl.port, "chip-id", after="no-reset-stub"))  # leaves the stub running
    link = RawLink(bl.port)
    try:
        op, value, _ = link.command(0x08, b"\x07\x07\x12\x20" + b"\x55" * 32)
        assert value == 0  # the stub answers SYNC with 0: that is how esptool spots it
        for _ in range(7):
            link.response()
        assert link.command(0xD1, struct.pack("<II", 0, 0x1000))[2] == b"\0\0"  # ERASE_REGION
        assert link.command(0x02, struct.pack("<IIIII", 16, 1, 16, 0, 0))[2] == b"\0\0"
        status = link.command(0x03, struct.pack("<IIII", 16, 0, 0, 0) + b"x" * 16, 0)[2]
        assert status == b"\xc1\x00"  # stub error 0xC1: bad data checksum
    finally:
        link.close()


def test_esptool_over_tcp_socket(boot, tmp_path):
    bl = boot("esp32s3", pty=False, tcp_port=0)
    assert bl.port.startswith("socket://127.0.0.1:")
    out = ok(esptool(bl.port, "flash-id"))
    assert "Detecting chip type... ESP32-S3" in out
    image = make_image("esp32s3", 64 * 1024)
    path = tmp_path / "fw.bin"
    path.write_bytes(image)
    ok(esptool(bl.port, "write-flash", "0x0", str(path)))
    assert bl.read_flash(0, len(image)) == image


def test_flash_persists_in_image_file_across_power_cycles(tmp_path):
    flash_file = tmp_path / "chip.bin"
    image = make_image("esp8266", 48 * 1024)
    (tmp_path / "fw.bin").write_bytes(image)
    with VirtualBootloader("esp8266", flash_image=flash_file, flash_size=0x100000) as bl:
        ok(esptool(bl.port, "write-flash", "0x0", str(tmp_path / "fw.bin")))
    assert flash_file.stat().st_size == 0x100000
    assert any(n == "FLASH_DEFL_BEGIN" for n, _ in read_command_log(flash_file))
    with VirtualBootloader("esp8266", flash_image=flash_file) as bl:  # size from the file
        assert bl.read_flash(0, len(image)) == image
        out = ok(esptool(bl.port, "verify-flash", "0x0", str(tmp_path / "fw.bin")))
        assert "Verification successful" in out
    assert destructive_commands_in(flash_file) == []  # the log starts afresh at power-on


@pytest.mark.pty  # checks the pty line and that the port file names the pty
def test_run_bootloader_sim_prints_port_and_writes_port_file(tmp_path):
    port_file = tmp_path / "port"
    code = (
        "import argparse, sys; from companion_app.simulator.bootloader import run_bootloader_sim;"
        f"sys.exit(run_bootloader_sim(argparse.Namespace(bootloader='esp32c3', "
        f"flash_image={str(tmp_path / 'c3.bin')!r}, port_file={str(port_file)!r}, tcp=0)))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    try:
        pty_line = proc.stdout.readline().strip()
        tcp_line = proc.stdout.readline().strip()
        assert wait_for_file(port_file, proc, 10, "the port file").strip() == pty_line
        assert pty_line.startswith("/dev/") and tcp_line.startswith("socket://127.0.0.1:")
        assert "Detecting chip type... ESP32-C3" in ok(esptool(tcp_line, "chip-id"))
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "--before no-reset" in err
    assert [n for n, _ in read_command_log(tmp_path / "c3.bin")][0] == "POWER_ON"


def test_esptool_python_api_in_the_same_process(boot):
    """What our flashing driver does: esptool.cmds in a worker, the chip in this process."""
    from esptool.cmds import attach_flash, detect_chip, reset_chip, run_stub, write_flash

    bl = boot("esp32s3")
    image = make_image("esp32s3", 128 * 1024)
    with detect_chip(bl.port, connect_mode="no-reset") as rom:
        esp = run_stub(rom)
        attach_flash(esp)
        assert esp.CHIP_NAME == "ESP32-S3" and esp.read_mac() == tuple(bl.mac)
        write_flash(esp, [(0x0, image)])
        reset_chip(esp, "no-reset")
    assert bl.read_flash(0, len(image)) == image
    assert bl.commands()[-1] == "RESET"  # no-reset leaves the stub for the ROM loader
