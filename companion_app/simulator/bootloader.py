"""A virtual ESP chip held in ROM download mode, so esptool (and our flasher) can practise on it.

It speaks the serial protocol of the ROM bootloader and of esptool's flasher stub, as esptool
uses them: SLIP frames, SYNC, register reads and writes (chip detection, eFuses, MAC, crystal),
the SPI flash controller registers esptool drives for its flash-id probe, RAM download of the
stub and its OHAI greeting, flash writes plain and deflated, MD5, erase and read-back.

Per-chip facts (magic values, register addresses, chip ids, status-byte lengths) live in
`chips_rom.json`, each with its source; this module only holds the behaviour.

Nothing uploaded to RAM is executed: any RAM program started with MEM_END is taken to be the
flasher stub, which is all esptool ever starts this way. "Reboot" and "run user code" bring the
chip straight back to ROM download mode, as if BOOT were held down, and are logged as RESET.

Transport: a pseudo-terminal (the client opens `port`), a TCP socket (`tcp_url`, for
`socket://`) and/or an RFC 2217 port (`rfc2217_url`). A pty or a socket has no DTR/RTS, so
esptool must run with `--before no-reset` (and `--after no-reset` or `no-reset-stub`).

RFC 2217 carries DTR and RTS (pyserial's PortManager is the server side), and they drive EN and
IO0 through a DevKit's auto-reset circuit, so esptool's default reset and hard reset work as on
a real board: a reset with IO0 low enters download mode, one with IO0 high boots the flash. A
MicroPython image for this chip then runs as a VirtualBoard (the real interpreter) behind the
same port, greeting with the flashed version; no valid image gives the ROM's "invalid header"
boot loop. esptool's watchdog reset (S2/S3/C3/C6) boots the flash on every transport.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import mmap
import os
import select
import shutil
import socket
import struct
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from companion_app.errors import IotkitError, UsageError
from companion_app.inputs import check_output_file
from companion_app.simulator.endpoint import (
    ClientPorts,
    accept,
    endpoints_record,
    lan_note,
    listen,
    recv,
    serve_until_signalled,
)

log = logging.getLogger(__name__)

DATA_FILE = "chips_rom.json"
DEFAULT_BAUD = 115200
WDT_ENABLE = 1 << 31  # RTC_CNTL_WDT_EN in WDTCONFIG0 (esptool targets/esp32s3.py watchdog_reset)

# Commands that change flash contents; FLASH_BEGIN/FLASH_DEFL_BEGIN count only with a size
# (esptool's "run user code" and soft reset send FLASH_BEGIN with size 0).
DESTRUCTIVE_COMMANDS = (
    "FLASH_BEGIN",
    "FLASH_DATA",
    "FLASH_DEFL_BEGIN",
    "FLASH_DEFL_DATA",
    "ERASE_FLASH",
    "ERASE_REGION",
)


class BootloaderError(IotkitError):
    """The virtual bootloader cannot start as asked."""


# -- chip facts -------------------------------------------------------------------------------


def _num(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            return value
    return value


def _unwrap(fact: Any) -> Any:
    return fact["value"] if isinstance(fact, dict) and "value" in fact else fact


_DATA_CACHE: dict[str, Any] | None = None


def _data() -> dict[str, Any]:
    global _DATA_CACHE
    if _DATA_CACHE is None:
        data_file = resources.files("companion_app.simulator").joinpath(DATA_FILE)
        text = data_file.read_text(encoding="utf-8")
        _DATA_CACHE = json.loads(text)
    return _DATA_CACHE


def known_chips() -> list[str]:
    return sorted(_data()["chips"])


@dataclass(frozen=True)
class Protocol:
    commands: dict[str, int]
    names: dict[int, str]
    stub_only: frozenset[str]
    rom_flash_commands: frozenset[str]
    checksum_seed: int
    sync_payload: bytes
    sync_responses: int
    rom_sync_value: int
    stub_sync_value: int
    greeting: bytes
    stub_status_bytes: int
    magic_reg: int
    rom_errors: dict[str, int]
    stub_errors: dict[str, int]
    read_flash_max_packet: int
    read_flash_slow_block: int
    sector_size: int
    spi_bits: dict[str, int]
    flash: dict[str, Any]


@dataclass(frozen=True)
class ChipRom:
    """What one chip's ROM looks like from the serial port."""

    key: str
    name: str
    magic_value: int | None
    default_flash_size: int
    rom_status_bytes: int
    rom_commands: frozenset[str]
    rom_flash_attach: str  # the ROM command that connects the SPI flash (SPI_ATTACH/FLASH_BEGIN)
    security_info: dict[str, Any] | None
    spi: dict[str, Any]
    mac: dict[str, Any]
    uart_clkdiv: dict[str, int] | None
    registers: dict[int, int]
    protocol: Protocol = field(repr=False)
    # What the ROM prints at reset (format strings, see chips_rom.json "boot_log"), the virtual
    # board that runs a flashed MicroPython, and the RTC watchdog register esptool arms.
    boot_log: dict[str, Any] = field(default_factory=dict, repr=False)
    devkit_board: str | None = None
    rtc_watchdog_config0: int | None = None


def _load_protocol() -> Protocol:
    data = _data()
    p = {k: _unwrap(v) for k, v in data["protocol"].items()}
    f = {k: _unwrap(v) for k, v in data["flash_chip"].items()}
    commands = {name: _num(op) for name, op in p["commands"].items()}
    return Protocol(
        commands=commands,
        names={op: name for name, op in commands.items()},
        stub_only=frozenset(p["stub_only_commands"]),
        rom_flash_commands=frozenset(p["rom_flash_commands"]),
        checksum_seed=_num(p["checksum_seed"]),
        sync_payload=bytes.fromhex(p["sync_payload"]),
        sync_responses=p["sync_responses"],
        rom_sync_value=_num(p["rom_sync_value"]),
        stub_sync_value=_num(p["stub_sync_value"]),
        greeting=p["stub_greeting"].encode(),
        stub_status_bytes=p["stub_status_bytes"],
        magic_reg=_num(p["chip_detect_magic_reg"]),
        rom_errors={k: _num(v) for k, v in p["rom_errors"].items()},
        stub_errors={k: _num(v) for k, v in p["stub_errors"].items()},
        read_flash_max_packet=p["read_flash_max_packet"],
        read_flash_slow_block=p["read_flash_slow_block"],
        sector_size=_num(p["sector_size"]),
        spi_bits={k: _num(v) for k, v in p["spi_usr_bits"].items()},
        flash={
            "manufacturer": _num(f["jedec_manufacturer"]),
            "memory_type": _num(f["jedec_memory_type"]),
            "status": _num(f["status_register"]),
            "sfdp": bytes.fromhex(f["sfdp"]),
            "commands": {name: _num(op) for name, op in f["spi_commands"].items()},
        },
    )


def load_chip_rom(chip: str) -> ChipRom:
    """The facts for `chip` (esp32, esp32s3, …) from chips_rom.json."""
    chips = _data()["chips"]
    if chip not in chips:
        raise UsageError(
            f"There is no virtual bootloader for '{chip}'. "
            f"Choose one of: {', '.join(known_chips())}"
        )
    c = {k: _unwrap(v) for k, v in chips[chip].items()}
    spi = {k: _num(v) for k, v in c["spi"].items()}
    mac = {k: _num(v) for k, v in c["mac"].items()}
    clk = c.get("uart_clkdiv")
    sec = c.get("security_info")
    return ChipRom(
        key=chip,
        name=c["name"],
        magic_value=_num(c["magic_value"]),
        default_flash_size=_num(c["default_flash_size"]),
        rom_status_bytes=c["rom_status_bytes"],
        rom_commands=frozenset(c["rom_commands"]),
        rom_flash_attach=c["rom_flash_attach"],
        security_info=dict(sec) if sec else None,
        spi=spi,
        mac=mac,
        uart_clkdiv={k: _num(v) for k, v in clk.items()} if clk else None,
        registers={_num(r["addr"]): _num(r["value"]) for r in c.get("registers") or []},
        protocol=_load_protocol(),
        boot_log=dict(c.get("boot_log") or {}),
        devkit_board=c.get("devkit_board"),
        rtc_watchdog_config0=_num(c.get("rtc_watchdog_config0")),
    )


# -- SLIP ---------------------------------------------------------------------------------------


def slip_encode(packet: bytes) -> bytes:
    return b"\xc0" + packet.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"


class SlipDecoder:
    """Turns a byte stream into SLIP frames. Bytes outside a frame (line noise, a boot log) are
    dropped; every 0xC0 ends the current frame and starts the next."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._in_frame = False

    def reset(self) -> None:
        self._buf.clear()
        self._in_frame = False

    def feed(self, data: bytes) -> list[bytes]:
        frames: list[bytes] = []
        start = 0
        while True:
            i = data.find(b"\xc0", start)
            if i < 0:
                if self._in_frame:
                    self._buf += data[start:]
                return frames
            if self._in_frame:
                self._buf += data[start:i]
                if self._buf:
                    raw = bytes(self._buf)
                    frames.append(raw.replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb"))
                    self._buf.clear()
            self._in_frame = True
            start = i + 1


def xor_checksum(data: bytes, seed: int = 0xEF) -> int:
    """The ROM's checksum: seed XOR every byte. Folded on big integers, since a byte loop
    would cost more than the rest of a FLASH_DATA command."""
    n = len(data)
    if n == 0:
        return seed & 0xFF
    value = int.from_bytes(data, "little")
    while n > 1:
        half = (n + 1) // 2
        value = (value & ((1 << (8 * half)) - 1)) ^ (value >> (8 * half))
        n = half
    return (value ^ seed) & 0xFF


# -- flash storage --------------------------------------------------------------------------


class FlashStore:
    """The chip's SPI flash: a file mapped into memory (other processes see writes at once),
    or a bytearray when no file is given."""

    def __init__(self, path: str | os.PathLike[str] | None, size: int | None, default: int):
        self.path = Path(path) if path is not None else None
        self._file = None
        if self.path is None:
            self.size = size or default
            self.mem: Any = bytearray(b"\xff" * self.size)
            return
        if self.path.is_dir():
            raise BootloaderError(
                f"The flash image {self.path} is a folder; it must be a file (it is created, "
                "erased, if missing). Give a file name such as flash.bin."
            )
        if self.path.exists() and not self.path.is_file():
            raise BootloaderError(
                f"The flash image {self.path} is not a regular file. Give a file name such as "
                "flash.bin."
            )
        existing = self.path.stat().st_size if self.path.exists() else None
        if existing is not None and size is not None and existing != size:
            raise BootloaderError(
                f"The flash image {self.path} holds {existing} bytes, but a {size}-byte flash "
                "was asked for. Use another file, or leave the flash size out."
            )
        self.size = existing if existing is not None else (size or default)
        _check_flash_size(self.size, str(self.path))
        if existing is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "wb") as f:
                chunk = b"\xff" * 65536
                for _ in range(self.size // len(chunk)):
                    f.write(chunk)
                f.write(b"\xff" * (self.size % len(chunk)))
        self._file = open(self.path, "r+b")
        self.mem = mmap.mmap(self._file.fileno(), self.size)

    def read(self, offset: int, length: int) -> bytes:
        return bytes(self.mem[offset : offset + length])

    def write(self, offset: int, data: bytes) -> None:
        self.mem[offset : offset + len(data)] = data

    def erase(self, offset: int, length: int) -> None:
        self.mem[offset : offset + length] = b"\xff" * length

    def md5(self, offset: int, length: int) -> bytes:
        return hashlib.md5(memoryview(self.mem)[offset : offset + length]).digest()

    def flush(self) -> None:
        if isinstance(self.mem, mmap.mmap):
            self.mem.flush()

    def close(self) -> None:
        if isinstance(self.mem, mmap.mmap):
            self.mem.flush()
            self.mem.close()
        if self._file is not None:
            self._file.close()
            self._file = None


def _check_flash_size(size: int, what: str) -> None:
    # esptool reads the size back as log2(bytes) from the JEDEC id: 256 KB … 128 MB.
    if size < 0x40000 or size > 0x8000000 or size & (size - 1):
        raise BootloaderError(
            f"{what}: a flash of {size} bytes cannot exist; use a power of two from 256 KB "
            "to 128 MB, such as 4194304 (4 MB)."
        )


# -- the chip -----------------------------------------------------------------------------------


class _CommandFailed(Exception):
    """A command is answered with an error status. `kind` names it for both ROM and stub."""

    # kind -> (ROM error name, stub error name)
    KINDS = {
        "invalid_command": ("invalid_message", "invalid_command"),
        "not_implemented": ("invalid_message", "cmd_not_implemented"),
        "bad_len": ("invalid_message", "bad_data_len"),
        "checksum": ("invalid_crc", "bad_data_checksum"),
        "not_in_flash_mode": ("failed_to_act", "not_in_flash_mode"),
        "too_much_data": ("invalid_message", "too_much_data"),
        "inflate": ("deflate", "inflate_error"),
        "out_of_range": ("failed_to_act", "failed_spi_op"),
        "read_length": ("flash_read_length", "bad_data_len"),
    }

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


class ChipEngine:
    """The ROM bootloader and the flasher stub of one chip, with no transport: bytes in, bytes
    out. One thread at a time (VirtualBootloader holds a lock)."""

    def __init__(
        self,
        rom: ChipRom,
        flash: FlashStore,
        mac: bytes,
        record: Callable[[str, dict[str, Any]], None],
        link_baud: Callable[[], int | None] = lambda: None,
        on_watchdog: Callable[[], None] | None = None,
    ) -> None:
        self.rom = rom
        self.proto = rom.protocol
        self.flash = flash
        self.mac = mac
        self._record = record
        self._link_baud = link_baud
        self._on_watchdog = on_watchdog
        self._decoder = SlipDecoder()
        self.unknown_reads: set[int] = set()
        self._reset_state()

    # -- state --------------------------------------------------------------------------------

    def _reset_state(self) -> None:
        self.stub = False
        self.baud: int | None = None
        self._regs = dict(self.rom.registers)
        self._regs.update(self._mac_registers())
        self._flash_op: dict[str, Any] | None = None
        self._mem_op: dict[str, Any] | None = None
        self._reading: dict[str, Any] | None = None
        self._status_reg = self.proto.flash["status"]
        self.spi_params: dict[str, int] | None = None
        # The ROM leaves the SPI flash unconnected until SPI_ATTACH (ESP8266: FLASH_BEGIN);
        # a flash command before that gets no answer and the ROM is stuck until reset.
        self.flash_attached = False
        self.stuck: str | None = None

    def reboot(self, reason: str, drop_input: bool = False) -> None:
        """Back to ROM download mode, as a reset with BOOT held down does."""
        self._reset_state()
        if drop_input:
            self._decoder.reset()
        self._record("RESET", {"reason": reason})

    def disconnected(self) -> None:
        """The client closed the port: drop half-received frames; the chip itself keeps its
        state (a stub left running stays running, as on a real board)."""
        self._decoder.reset()
        self._reading = None

    def _mac_registers(self) -> dict[int, int]:
        m = self.rom.mac
        mac = self.mac
        if m["layout"] == "efuse_pair":
            # esptool: struct.pack(">II", hi, lo)[2:] is the MAC; hi's top 16 bits are CRC/ext.
            hi = (mac[0] << 8) | mac[1] | (m.get("ext", 0) << 16)
            lo = int.from_bytes(mac[2:6], "big")
            return {m["hi"]: hi, m["lo"]: lo}
        if m["layout"] == "esp8266_otp":
            # esptool: OUI from MAC3 (non-zero), then mac1 bits 8-15, 0-7, mac0 bits 24-31.
            return {
                m["mac3"]: int.from_bytes(mac[0:3], "big"),
                m["mac1"]: (mac[3] << 8) | mac[4],
                m["mac0"]: mac[5] << 24,
            }
        raise BootloaderError(f"unknown MAC layout {m['layout']!r} in {DATA_FILE}")

    # -- input --------------------------------------------------------------------------------

    def receive(self, data: bytes) -> bytes:
        out = bytearray()
        for frame in self._decoder.feed(data):
            self._frame(frame, out)
        return bytes(out)

    def _frame(self, frame: bytes, out: bytearray) -> None:
        if self._reading is not None:
            if len(frame) == 4:
                self._read_flash_ack(struct.unpack("<I", frame)[0], out)
                return
            self._record("READ_FLASH_ABORTED", {"at": self._reading["pos"]})
            self._reading = None
        if len(frame) < 8 or frame[0] != 0x00:
            log.debug("ignored a %d-byte frame that is no command", len(frame))
            return
        if self.stuck is not None:
            return  # the ROM hangs in its flash routine and reads nothing until reset
        _, op, size, chk = struct.unpack("<BBHI", frame[:8])
        payload = frame[8:]
        name = self.proto.names.get(op, f"0x{op:02X}")
        args: dict[str, Any] = {}
        if self._hangs_on(name, payload):
            self.stuck = name
            log.info(
                "virtual %s: %s before SPI_ATTACH; the ROM does not answer until reset",
                self.rom.name,
                name,
            )
            self._record("ROM_STUCK", {"command": name, "why": "flash not attached"})
            return
        try:
            if size != len(payload):
                raise _CommandFailed("bad_len", f"size field {size}, payload {len(payload)}")
            handler = getattr(self, "_cmd_" + name.lower(), None)
            if handler is None or not self._supported(name):
                raise _CommandFailed("invalid_command")
            result = handler(payload, chk, args, out)
        except _CommandFailed as exc:
            code = self._error_code(exc.kind)
            args["error"] = f"{code:04x}"
            self._record(name, args)
            out += self._response(op, error=code)
            return
        self._record(name, args)
        if result is None:
            return  # the handler answered (or, like RUN_USER_CODE, must not)
        value, data, after = result
        out += self._response(op, value, data)
        if after is not None:
            after(out)

    def _hangs_on(self, name: str, payload: bytes) -> bool:
        """A ROM flash command sent while the flash is not attached (see chips_rom.json
        rom_flash_commands): the real ROM waits for the flash forever and never answers."""
        if self.stub or self.flash_attached or name not in self.proto.rom_flash_commands:
            return False
        if name not in self.rom.rom_commands or name == self.rom.rom_flash_attach:
            return False  # unknown to this ROM (it answers "invalid"), or it attaches (ESP8266)
        if name in ("FLASH_BEGIN", "FLASH_DEFL_BEGIN") and payload[:4] == b"\x00" * 4:
            return False  # size 0: esptool's "run user code"; not observed to hang
        return True

    def _supported(self, name: str) -> bool:
        if self.stub:
            return name not in ("READ_FLASH_SLOW",)
        return name in self.rom.rom_commands

    def _error_code(self, kind: str) -> int:
        rom_name, stub_name = _CommandFailed.KINDS[kind]
        if self.stub:
            return self.proto.stub_errors[stub_name]
        return 0x100 | self.proto.rom_errors[rom_name]

    def _response(self, op: int, value: int = 0, data: bytes = b"", error: int | None = None):
        if self.stub:
            status = struct.pack(">H", error or 0)
        else:
            status = bytes([1, error & 0xFF]) if error else b"\x00\x00"
            status += b"\x00" * (self.rom.rom_status_bytes - 2)
        body = data + status
        return slip_encode(struct.pack("<BBHI", 1, op, len(body), value & 0xFFFFFFFF) + body)

    @staticmethod
    def _ok(value: int = 0, data: bytes = b"", after: Callable[[bytearray], None] | None = None):
        return value, data, after

    def _check_range(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > self.flash.size:
            raise _CommandFailed(
                "out_of_range", f"{offset:#x}+{length:#x} beyond {self.flash.size:#x}"
            )

    def _check_checksum(self, data: bytes, chk: int) -> None:
        if xor_checksum(data, self.proto.checksum_seed) != chk & 0xFF:
            raise _CommandFailed("checksum")

    # -- commands: link ----------------------------------------------------------------------

    def _cmd_sync(self, payload: bytes, chk: int, args: dict, out: bytearray):
        if payload != self.proto.sync_payload:
            raise _CommandFailed("bad_len", "not a SYNC payload")
        self._reading = None
        value = self.proto.stub_sync_value if self.stub else self.proto.rom_sync_value
        for _ in range(self.proto.sync_responses - 1):
            out += self._response(self.proto.commands["SYNC"], value)
        args["stub"] = self.stub
        return self._ok(value)

    def _cmd_change_baudrate(self, payload: bytes, chk: int, args: dict, out: bytearray):
        if len(payload) != 8:
            raise _CommandFailed("bad_len")
        new, old = struct.unpack("<II", payload)
        args.update(baud=new, old=old)
        self.baud = new  # a pty or a socket has no real baud rate; remembered for UART_CLKDIV
        return self._ok()

    def _cmd_get_security_info(self, payload: bytes, chk: int, args: dict, out: bytearray):
        info = self.rom.security_info
        if info is None:
            raise _CommandFailed("not_implemented" if self.stub else "invalid_command")
        body = struct.pack("<IBBBBBBBB", 0, 0, 0, 0, 0, 0, 0, 0, 0)
        if info["length"] >= 20:
            body += struct.pack("<II", info["chip_id"], info.get("api_version") or 0)
        args["chip_id"] = info.get("chip_id")
        return self._ok(data=body)

    # -- commands: registers ------------------------------------------------------------------

    def _cmd_read_reg(self, payload: bytes, chk: int, args: dict, out: bytearray):
        if len(payload) != 4:
            raise _CommandFailed("bad_len")
        (addr,) = struct.unpack("<I", payload)
        value, known = self.read_word(addr)
        args.update(addr=addr, value=value)
        if not known:
            args["unknown"] = True
        return self._ok(value)

    def read_word(self, addr: int) -> tuple[int, bool]:
        if addr == self.proto.magic_reg and self.rom.magic_value is not None:
            return self.rom.magic_value, True
        clk = self.rom.uart_clkdiv
        if clk and addr == clk["addr"]:
            baud = self.baud or self._link_baud() or DEFAULT_BAUD
            return int(clk["clock_hz"] // baud) & 0xFFFFF, True
        if addr in self._regs:
            return self._regs[addr], True
        if self._is_spi_reg(addr):
            return 0, True
        if addr not in self.unknown_reads:
            self.unknown_reads.add(addr)
            log.info(
                "virtual %s: READ_REG of unmodelled address %#010x, answering 0",
                self.rom.name,
                addr,
            )
        return 0, False

    def _cmd_write_reg(self, payload: bytes, chk: int, args: dict, out: bytearray):
        if not payload or len(payload) % 16:
            raise _CommandFailed("bad_len")
        writes = []
        for i in range(0, len(payload), 16):
            addr, value, mask, delay_us = struct.unpack("<IIII", payload[i : i + 16])
            old = self.read_word(addr)[0] if mask != 0xFFFFFFFF else 0
            new = (old & ~mask & 0xFFFFFFFF) | (value & mask)
            self._regs[addr] = new
            writes.append((addr, new))
            if addr == self.rom.spi["base"] and new & self.proto.spi_bits["cmd_usr"]:
                self._spi_execute()
                self._regs[addr] = new & ~self.proto.spi_bits["cmd_usr"]
        args.update(addr=writes[0][0], value=writes[0][1])
        wdt = self.rom.rtc_watchdog_config0
        if wdt is not None and any(a == wdt and v & WDT_ENABLE for a, v in writes):
            # esptool's "watchdog-reset": the RTC watchdog is armed and will reset the chip.
            self._record("WATCHDOG_ARMED", {"addr": wdt})
            if self._on_watchdog is not None:
                self._on_watchdog()
        if len(writes) > 1:
            args["more"] = [[a, v] for a, v in writes[1:]]
        return self._ok()

    # -- the SPI flash controller, as esptool's run_spiflash_command drives it ----------------

    def _is_spi_reg(self, addr: int) -> bool:
        base = self.rom.spi["base"]
        return base <= addr < base + 0x100

    def _spi_execute(self) -> None:
        s = self.rom.spi
        bits = self.proto.spi_bits
        base = s["base"]
        reg = lambda off: self._regs.get(base + off, 0)  # noqa: E731
        usr, usr1, usr2 = reg(s["usr"]), reg(s["usr1"]), reg(s["usr2"])
        opcode = usr2 & 0xFF
        if s["miso_dlen"] is not None:
            miso_bits = (reg(s["miso_dlen"]) & 0xFFFFFF) + 1 if usr & bits["usr_miso"] else 0
            mosi_bits = (reg(s["mosi_dlen"]) & 0xFFFFFF) + 1 if usr & bits["usr_mosi"] else 0
        else:
            miso_bits = ((usr1 >> bits["esp8266_miso_bitlen_shift"]) & 0x1FF) + 1
            mosi_bits = ((usr1 >> bits["esp8266_mosi_bitlen_shift"]) & 0x1FF) + 1
            miso_bits = miso_bits if usr & bits["usr_miso"] else 0
            mosi_bits = mosi_bits if usr & bits["usr_mosi"] else 0
        addr = None
        if usr & bits["usr_addr"]:
            addr_len = ((usr1 >> bits["usr1_addr_len_shift"]) & 0x3F) + 1
            addr = reg(4)
            if s["addr_reg_msb"]:
                addr >>= 32 - addr_len
        words = (mosi_bits + 31) // 32
        mosi = b"".join(struct.pack("<I", reg(s["w0"] + 4 * i)) for i in range(words))
        mosi = mosi[: (mosi_bits + 7) // 8]
        nbytes = (miso_bits + 7) // 8
        reply = self._flash_chip(opcode, addr, mosi, nbytes)
        # Only the bits the controller clocked in change; the rest of W0.. keeps its value.
        for i in range(0, nbytes, 4):
            chunk = reply[i : i + 4]
            nbits = min(32, miso_bits - 8 * i)
            mask = (1 << nbits) - 1
            w = base + s["w0"] + i
            value = int.from_bytes(chunk.ljust(4, b"\x00"), "little")
            self._regs[w] = (self._regs.get(w, 0) & ~mask) | (value & mask)

    def _flash_chip(self, opcode: int, addr: int | None, mosi: bytes, nbytes: int) -> bytes:
        c = self.proto.flash["commands"]
        if opcode == c["RDID"]:
            capacity = self.flash.size.bit_length() - 1
            data = bytes(
                [self.proto.flash["manufacturer"], self.proto.flash["memory_type"], capacity]
            )
        elif opcode in (c["RDSR"], c["RDSR2"], c["RDSR3"]):
            shift = {c["RDSR"]: 0, c["RDSR2"]: 8, c["RDSR3"]: 16}[opcode]
            data = bytes([(self._status_reg >> shift) & 0xFF])
        elif opcode in (c["WRSR"], c["WRSR2"], c["WRSR3"]):
            shift = {c["WRSR"]: 0, c["WRSR2"]: 8, c["WRSR3"]: 16}[opcode]
            for i, b in enumerate(mosi[:3]):
                pos = shift + 8 * i
                self._status_reg = (self._status_reg & ~(0xFF << pos)) | (b << pos)
            data = b""
        elif opcode == c["RDSFDP"]:
            sfdp = self.proto.flash["sfdp"]
            start = addr or 0
            data = sfdp[start : start + nbytes]
        elif opcode == c["READ"] and addr is not None:
            data = self.flash.read(addr, min(nbytes, max(0, self.flash.size - addr)))
        elif opcode in (
            c["WREN"],
            c["WRDI"],
            c["WEVSR"],
            c["DPD"],
            c["UDPD"],
            c["EXIT_UDPD"],
            c["RDP"],
            c["RSTEN"],
            c["RST"],
        ):
            data = b""
        else:
            log.info("virtual %s: SPI flash command %#04x is not modelled", self.rom.name, opcode)
            self._record("SPI_UNKNOWN", {"opcode": opcode})
            data = b""
        return data.ljust(nbytes, b"\xff")[:nbytes]

    # -- commands: SPI set-up ---------------------------------------------------------------

    def _cmd_spi_attach(self, payload: bytes, chk: int, args: dict, out: bytearray):
        if len(payload) not in (4, 8):  # the ROM takes an extra 'is legacy' word
            raise _CommandFailed("bad_len")
        args["config"] = struct.unpack("<I", payload[:4])[0]
        self.flash_attached = True
        return self._ok()

    def _cmd_spi_set_params(self, payload: bytes, chk: int, args: dict, out: bytearray):
        if len(payload) != 24:
            raise _CommandFailed("bad_len")
        keys = ("id", "total_size", "block_size", "sector_size", "page_size", "status_mask")
        self.spi_params = dict(zip(keys, struct.unpack("<IIIIII", payload)))
        args.update(self.spi_params)
        return self._ok()

    # -- commands: RAM download and the stub ------------------------------------------------

    def _cmd_mem_begin(self, payload: bytes, chk: int, args: dict, out: bytearray):
        if len(payload) != 16:
            raise _CommandFailed("bad_len")
        size, blocks, block_size, offset = struct.unpack("<IIII", payload)
        self._mem_op = {"remaining": size, "offset": offset}
        args.update(size=size, blocks=blocks, block_size=block_size, offset=offset)
        return self._ok()

    def _cmd_mem_data(self, payload: bytes, chk: int, args: dict, out: bytearray):
        if self._mem_op is None:
            raise _CommandFailed("not_in_flash_mode")
        if len(payload) < 16:
            raise _CommandFailed("bad_len")
        length, seq = struct.unpack("<II", payload[:8])
        data = payload[16:]
        args.update(seq=seq, len=length)
        if length != len(data) or length > self._mem_op["remaining"]:
            raise _CommandFailed("too_much_data")
        self._check_checksum(data, chk)
        self._mem_op["remaining"] -= length
        return self._ok()

    def _cmd_mem_end(self, payload: bytes, chk: int, args: dict, out: bytearray):
        if len(payload) != 8:
            raise _CommandFailed("bad_len")
        if self._mem_op is None:
            raise _CommandFailed("not_in_flash_mode")
        flag, entry = struct.unpack("<II", payload)
        args.update(execute=flag == 0, entry=entry)
        self._mem_op = None
        if flag != 0:
            return self._ok()

        def start_stub(buf: bytearray) -> None:
            # The RAM program is taken to be the flasher stub: it greets, then takes over.
            self.stub = True
            self.flash_attached = True  # the stub attaches the flash as it starts
            self._flash_op = None
            buf += slip_encode(self.proto.greeting)
            self._record("STUB_RUNNING", {"entry": entry})

        return self._ok(after=start_stub)

    # -- commands: flash writes ---------------------------------------------------------------

    def _begin(self, payload: bytes, args: dict, compressed: bool):
        if len(payload) not in (16, 20):
            raise _CommandFailed("bad_len")
        size, blocks, block_size, offset = struct.unpack("<IIII", payload[:16])
        encrypted = len(payload) == 20 and struct.unpack("<I", payload[16:20])[0] != 0
        args.update(offset=offset, size=size, blocks=blocks, block_size=block_size)
        if encrypted:
            args["encrypted"] = True
            raise _CommandFailed("invalid_command", "encrypted writes are not emulated")
        if self.rom.rom_flash_attach == "FLASH_BEGIN":
            self.flash_attached = True  # the ESP8266 ROM connects its flash here
        if self.stub or self.rom.key != "esp8266":
            erase_len = size
        else:
            # ESP8266 ROM: esptool shrinks 'size' to dodge a ROM erase bug (esp8266.py
            # get_erase_size); erase what the data will cover instead.
            erase_len = blocks * block_size
        self._check_range(offset, max(size, 0))
        if erase_len:
            sector = self.proto.sector_size
            e0 = offset - offset % sector
            e1 = min(self.flash.size, -(-(offset + erase_len) // sector) * sector)
            self.flash.erase(e0, e1 - e0)
        self._flash_op = {
            "offset": offset,
            "size": size,
            "block_size": block_size,
            "compressed": compressed,
            "inflater": zlib.decompressobj() if compressed else None,
            "pos": offset,
            "next_seq": 0,
            "written_to": offset,
        }
        return self._ok()

    def _cmd_flash_begin(self, payload: bytes, chk: int, args: dict, out: bytearray):
        return self._begin(payload, args, compressed=False)

    def _cmd_flash_defl_begin(self, payload: bytes, chk: int, args: dict, out: bytearray):
        return self._begin(payload, args, compressed=True)

    def _data_block(self, payload: bytes, chk: int, args: dict, compressed: bool):
        op = self._flash_op
        if op is None or op["compressed"] != compressed:
            raise _CommandFailed("not_in_flash_mode")
        if len(payload) < 16:
            raise _CommandFailed("bad_len")
        length, seq = struct.unpack("<II", payload[:8])
        data = payload[16:]
        args.update(seq=seq, len=length)
        if length != len(data):
            raise _CommandFailed("too_much_data")
        self._check_checksum(data, chk)
        if not compressed:
            pos = op["offset"] + seq * op["block_size"]
            # The stub writes only the declared size; the ROM writes whole (0xFF-padded) blocks.
            limit = op["offset"] + op["size"] if self.stub else self.flash.size
            data = data[: max(0, limit - pos)]
            self._check_range(pos, len(data))
            self.flash.write(pos, data)
            op["written_to"] = max(op["written_to"], pos + len(data))
            return self._ok()
        if seq < op["next_seq"]:
            args["repeat"] = True  # a retried block whose answer was lost: already written
            return self._ok()
        if seq != op["next_seq"]:
            raise _CommandFailed("bad_len", f"block {seq} while {op['next_seq']} was expected")
        try:
            plain = op["inflater"].decompress(data)
        except zlib.error as exc:
            raise _CommandFailed("inflate", str(exc)) from exc
        if self.stub:
            plain = plain[: max(0, op["offset"] + op["size"] - op["pos"])]
        self._check_range(op["pos"], len(plain))
        self.flash.write(op["pos"], plain)
        op["pos"] += len(plain)
        op["written_to"] = op["pos"]
        op["next_seq"] = seq + 1
        return self._ok()

    def _cmd_flash_data(self, payload: bytes, chk: int, args: dict, out: bytearray):
        return self._data_block(payload, chk, args, compressed=False)

    def _cmd_flash_defl_data(self, payload: bytes, chk: int, args: dict, out: bytearray):
        return self._data_block(payload, chk, args, compressed=True)

    def _end(self, payload: bytes, args: dict):
        if len(payload) != 4:
            raise _CommandFailed("bad_len")
        (flag,) = struct.unpack("<I", payload)
        args["reboot"] = flag == 0
        op = self._flash_op
        if self.stub:
            if op is None:
                raise _CommandFailed("not_in_flash_mode")
            if op["written_to"] < op["offset"] + op["size"]:
                raise _CommandFailed("bad_len", "flash end before all data arrived")
        self._flash_op = None
        self.flash.flush()
        if self.stub and flag != 0:
            return self._ok()  # the stub stays, ready for the next command
        reason = "reboot" if flag == 0 else "run user code"
        return self._ok(after=lambda buf: self.reboot(reason))

    def _cmd_flash_end(self, payload: bytes, chk: int, args: dict, out: bytearray):
        return self._end(payload, args)

    def _cmd_flash_defl_end(self, payload: bytes, chk: int, args: dict, out: bytearray):
        return self._end(payload, args)

    # -- commands: flash reads, checks and erases ---------------------------------------------

    def _cmd_spi_flash_md5(self, payload: bytes, chk: int, args: dict, out: bytearray):
        if len(payload) != 16:
            raise _CommandFailed("bad_len")
        addr, size = struct.unpack("<II", payload[:8])
        args.update(addr=addr, size=size)
        self._check_range(addr, size)
        digest = self.flash.md5(addr, size)
        # The ROM answers 32 hex characters, the stub 16 raw bytes (serial-protocol docs).
        return self._ok(data=digest if self.stub else digest.hex().encode())

    def _cmd_read_flash_slow(self, payload: bytes, chk: int, args: dict, out: bytearray):
        if len(payload) != 8:
            raise _CommandFailed("bad_len")
        offset, length = struct.unpack("<II", payload)
        args.update(offset=offset, len=length)
        block = self.proto.read_flash_slow_block
        if length > block:
            raise _CommandFailed("read_length")
        self._check_range(offset, length)
        return self._ok(data=self.flash.read(offset, length).ljust(block, b"\xff"))

    def _cmd_read_flash(self, payload: bytes, chk: int, args: dict, out: bytearray):
        if len(payload) != 16:
            raise _CommandFailed("bad_len")
        offset, length, packet, in_flight = struct.unpack("<IIII", payload)
        args.update(offset=offset, len=length, packet=packet)
        if packet == 0 or packet > self.proto.read_flash_max_packet:
            raise _CommandFailed("bad_len")
        self._check_range(offset, length)
        state = {
            "pos": offset,
            "end": offset + length,
            "packet": packet,
            "md5": hashlib.md5(),
            "acked": 0,
            "length": length,
        }

        def start(buf: bytearray) -> None:
            self._reading = state
            self._read_flash_next(buf)

        return self._ok(after=start)

    def _read_flash_next(self, out: bytearray) -> None:
        r = self._reading
        assert r is not None
        if r["pos"] < r["end"]:
            n = min(r["packet"], r["end"] - r["pos"])
            chunk = self.flash.read(r["pos"], n)
            r["md5"].update(chunk)
            r["pos"] += n
            out += slip_encode(chunk)  # one packet in flight, as the stub does
        elif r["acked"] >= r["length"]:
            out += slip_encode(r["md5"].digest())
            self._reading = None

    def _read_flash_ack(self, acked: int, out: bytearray) -> None:
        assert self._reading is not None
        self._reading["acked"] = acked
        self._read_flash_next(out)

    def _cmd_erase_flash(self, payload: bytes, chk: int, args: dict, out: bytearray):
        self.flash.erase(0, self.flash.size)
        self.flash.flush()
        args["size"] = self.flash.size
        return self._ok()

    def _cmd_erase_region(self, payload: bytes, chk: int, args: dict, out: bytearray):
        if len(payload) != 8:
            raise _CommandFailed("bad_len")
        offset, size = struct.unpack("<II", payload)
        args.update(offset=offset, size=size)
        sector = self.proto.sector_size
        if offset % sector or size % sector:
            raise _CommandFailed("bad_len", "erase must be sector aligned")
        self._check_range(offset, size)
        self.flash.erase(offset, size)
        self.flash.flush()
        return self._ok()

    def _cmd_run_user_code(self, payload: bytes, chk: int, args: dict, out: bytearray):
        self.reboot("run user code")  # the stub sends no answer to this one
        return None


# -- the transport ------------------------------------------------------------------------------


def _termios_bauds() -> dict[int, int]:
    """termios' speed constants (B115200 …) as bauds; only asked where a pty exists, because
    termios is POSIX-only and this module must import on Windows too."""
    import termios

    names = [n for n in dir(termios) if n[:1] == "B" and n[1:].isdigit()]
    return {getattr(termios, n): int(n[1:]) for n in names}


def default_mac(chip: str, seed: str | None, oui: str) -> bytes:
    """A stable, distinct MAC per flash image (so four virtual boards differ), with the chip's
    Espressif OUI."""
    if seed is None:
        tail = os.urandom(3)
    else:
        tail = hashlib.sha256(f"{chip}:{seed}".encode()).digest()[:3]
    return bytes.fromhex(oui.replace(":", "")) + tail


def parse_mac(mac: str | bytes) -> bytes:
    if isinstance(mac, (bytes, bytearray)):
        value = bytes(mac)
    else:
        try:
            value = bytes.fromhex(mac.replace(":", "").replace("-", ""))
        except ValueError:
            value = b""
    if len(value) != 6:
        raise UsageError(f"A MAC address has 6 bytes, like 24:0a:c4:12:34:56; got {mac!r}")
    return value


# How long EN must stay high before the chip runs: the RC delay on EN, stretched to cover the
# RFC 2217 round trip (pyserial's client waits for each DTR/RTS change to be acknowledged,
# polling every 50 ms), over which esptool's reset sequence is spread here.
EN_SETTLE_S = 0.15
NO_APP_LINE_S = 0.1  # pace of the ROM's "invalid header" lines (slow enough to read)
MAX_SERVE_FAILURES = 5  # internal errors in a row before the serving thread gives up
SERVE_RETRY_S = 0.05  # pause after an internal error, so a fault cannot spin the CPU
WATCHDOG_DELAY_S = 0.1  # from arming the RTC watchdog to the reset (esptool waits 0.5 s)


class _BridgeLines:
    """The board's USB-serial bridge, as pyserial's RFC 2217 PortManager drives it: DTR and RTS
    go through the DevKit's two-transistor auto-reset circuit to EN and IO0.

    The line settings a client makes (baud rate, framing) are only remembered; the virtual link
    has no bit timing. The modem status inputs (CTS, DSR, RI, CD) are unconnected on a DevKit.
    """

    def __init__(self, on_change: Callable[[], None]) -> None:
        self._on_change = on_change
        self._dtr = False
        self._rts = False
        self.baudrate = DEFAULT_BAUD
        self.bytesize = 8
        self.parity = "N"
        self.stopbits = 1
        self.xonxoff = False
        self.rtscts = False
        self.break_condition = False
        self.cts = self.dsr = self.ri = self.cd = False

    @property
    def dtr(self) -> bool:
        return self._dtr

    @dtr.setter
    def dtr(self, value: bool) -> None:
        self._dtr = bool(value)
        self._on_change()

    @property
    def rts(self) -> bool:
        return self._rts

    @rts.setter
    def rts(self, value: bool) -> None:
        self._rts = bool(value)
        self._on_change()

    def release(self) -> None:
        """The port was closed: the bridge drops both lines at once (HUPCL)."""
        self._dtr = self._rts = False
        self._on_change()

    @property
    def en_low(self) -> bool:
        # Each transistor conducts only when its base line is asserted and its emitter line is
        # not: RTS alone pulls EN low, DTR alone pulls IO0 low, both or neither change nothing.
        return self._rts and not self._dtr

    @property
    def io0_low(self) -> bool:
        return self._dtr and not self._rts

    def reset_input_buffer(self) -> None:
        pass  # a PURGE from the client: nothing waits in our direction

    def reset_output_buffer(self) -> None:
        pass


class _Outbox:
    """PortManager's `connection`: its telnet answers queue here for the serve loop to send."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def write(self, data: bytes) -> None:
        self.buf += data


class VirtualBootloader:
    """A virtual ESP chip on a pty, a TCP port and/or an RFC 2217 port.

    It starts in ROM download mode. Over RFC 2217 (`rfc2217_url`) the client's DTR and RTS reach
    EN and IO0 as on a DevKit, so esptool's default reset works, and a reset with IO0 high boots
    the flash: a MicroPython image for this chip starts a VirtualBoard (`board`) whose REPL the
    client then talks to, greeting with the flashed version (`app_version`); anything else makes
    the ROM print "invalid header" lines, as a real chip does. `state` is "download", "reset"
    (EN held low), "app" or "no_app". esptool's watchdog reset (ESP32-S2/S3/C3/C6) boots the
    flash on any transport.

    `log` lists the commands received as (name, args) pairs, for example
    ("FLASH_BEGIN", {"offset": 4096, "size": 65536, ...}) or ("ERASE_FLASH", {"size": ...});
    failed ones carry args["error"]; resets and boots appear as RESET, EN_LOW and BOOT. With a
    flash image, each entry is also appended to `<flash_image>.log` as a JSON line (the file is
    truncated at start).
    """

    def __init__(
        self,
        chip: str,
        flash_image: str | os.PathLike[str] | None = None,
        pty: bool | None = None,
        tcp_port: int | None = None,
        flash_size: int | None = None,
        mac: str | bytes | None = None,
        rfc2217_port: int | None = None,
        uart_speed: bool = False,
        lan: bool = False,
    ) -> None:
        """`lan=True` lets other computers reach its ports (default: loopback only).

        `pty=None` means a pty where the OS has one, else a loopback TCP port (any free one
        unless `tcp_port` says which): so the practice chip works on Windows too, and callers
        that only want "a port to flash" need not know the OS. `pty=True` on an OS without
        ptys is refused with a sentence that says to use --no-pty.

        `uart_speed=True` takes as long to receive data as a real UART at the baud rate the
        client set (10 bits a byte): slow, but real boards' timing, for benchmarks of parallel
        flashing, where the wire and not the CPU must be what each board waits for."""
        from companion_app.simulator.host import pty_supported

        if pty is None:
            pty = pty_supported()
            if not pty and tcp_port is None and rfc2217_port is None:
                tcp_port = 0
        self.uart_speed = uart_speed
        self.lan = lan
        self.rom = load_chip_rom(chip)
        self.chip = chip
        self.flash_image = Path(flash_image) if flash_image is not None else None
        self.use_pty = pty
        self.tcp_port = tcp_port
        self.rfc2217_port = rfc2217_port
        if flash_size is not None:
            _check_flash_size(flash_size, "The flash size")
        self.flash_size = flash_size
        seed = str(self.flash_image.resolve()) if self.flash_image else None
        if mac is not None:
            self.mac = parse_mac(mac)
        else:
            self.mac = default_mac(chip, seed, self.rom.mac["oui"])
        if not pty and tcp_port is None and rfc2217_port is None:
            raise UsageError(
                "The virtual bootloader needs a pty, a TCP port or an RFC 2217 port (or several)."
            )
        if pty and not pty_supported():
            raise UsageError(
                "The practice chip's pty needs Linux or macOS; on this machine use "
                "--no-pty --tcp 0 (or --rfc2217 0) and flash its socket:// URL."
            )
        self.log: list[tuple[str, dict[str, Any]]] = []
        self.pty_path: str | None = None
        self.tcp_url: str | None = None
        self.rfc2217_url: str | None = None
        self._bauds: dict[int, int] | None = None  # termios' speed table, read on first use
        self.engine: ChipEngine | None = None
        self.flash: FlashStore | None = None
        self.state = "download"
        self.app_version: str | None = None
        self.board: Any = None  # the VirtualBoard running the flashed MicroPython
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._ports: ClientPorts | None = None
        self._rfc_listener: socket.socket | None = None
        self._rfc_conn: socket.socket | None = None
        self._rfc_manager: Any = None
        self._rfc_out = _Outbox()
        self._lines = _BridgeLines(self._lines_changed)
        self._en_low = False
        self._release_at: float | None = None
        self._io0_low_seen = False
        self._watchdog_at: float | None = None
        self._no_app: dict[str, Any] | None = None
        self._app_sock: socket.socket | None = None
        self._to_app = bytearray()
        self._out = bytearray()
        self._calls: list[tuple[Callable[[], None], threading.Event]] = []
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._stoppers: list[threading.Thread] = []
        self._files_tmp: str | None = None
        self._erase_files = False
        self._log_file: Any = None
        self._active = "pty" if pty else "tcp" if tcp_port is not None else "rfc"

    # -- public API -------------------------------------------------------------------------

    @property
    def port(self) -> str:
        port = self.pty_path or self.tcp_url or self.rfc2217_url
        if port is None:
            raise RuntimeError("the virtual bootloader is not started")
        return port

    @property
    def log_path(self) -> Path | None:
        if self.flash_image is None:
            return None
        return self.flash_image.with_name(self.flash_image.name + ".log")

    @property
    def files_dir(self) -> Path | None:
        """The MicroPython filesystem of the booted image: a folder beside the flash image."""
        if self.flash_image is None:
            return Path(self._files_tmp) if self._files_tmp else None
        return self.flash_image.with_name(self.flash_image.stem + "-files")

    def start(self) -> "VirtualBootloader":
        if os.name != "posix":
            raise BootloaderError(
                "The virtual bootloader needs pseudo-terminals, which Windows does not have. "
                "Use Linux, macOS or WSL, or practise with a real board."
            )
        # The ports first: a port in use must fail before a new flash image file is made.
        self._ports = ClientPorts(self.use_pty, self.tcp_port, lan=self.lan)
        self.pty_path, self.tcp_url = self._ports.pty_path, self._ports.tcp_url
        if self.rfc2217_port is not None:
            self._rfc_listener = listen(self.rfc2217_port, self.lan)
            self.rfc2217_url = f"rfc2217://127.0.0.1:{self._rfc_listener.getsockname()[1]}"
        self.flash = FlashStore(self.flash_image, self.flash_size, self.rom.default_flash_size)
        if self.log_path is not None:
            self._log_file = open(self.log_path, "w", buffering=1, encoding="utf-8")
        self.engine = ChipEngine(
            self.rom, self.flash, self.mac, self._record, self._link_baud, self._watchdog_armed
        )
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._record(
            "POWER_ON", {"chip": self.chip, "flash_size": self.flash.size, "mac": self.mac.hex(":")}
        )
        self._thread = threading.Thread(target=self._serve, name="bootloader-sim", daemon=True)
        self._thread.start()
        log.info("virtual %s bootloader ready on %s", self.rom.name, self.port)
        return self

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        board, self.board = self.board, None
        if board is not None:
            board.stop()
        for t in self._stoppers:
            t.join(timeout=5)
        for sock in (
            self._rfc_conn,
            self._rfc_listener,
            self._app_sock,
            self._wake_r,
            self._wake_w,
        ):
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass
        if self._ports is not None:
            self._ports.close()
        with self._lock:
            if self.flash is not None:
                self.flash.close()
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None
        if self._files_tmp:
            shutil.rmtree(self._files_tmp, ignore_errors=True)

    def __enter__(self) -> "VirtualBootloader":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Press EN with BOOT held: a stub that was left running is gone, and so is a running
        MicroPython; the chip waits in download mode."""

        def press() -> None:
            self._stop_app()
            self._release_at = self._watchdog_at = None
            self._no_app = None
            self.state = "download"
            with self._lock:
                assert self.engine is not None
                self.engine.reboot("EN pressed", drop_input=True)

        self._in_loop(press)

    def read_flash(self, offset: int = 0, length: int | None = None) -> bytes:
        with self._lock:
            assert self.flash is not None
            return self.flash.read(offset, self.flash.size - offset if length is None else length)

    def commands(self) -> list[str]:
        return [name for name, _ in self.log]

    def destructive_commands(self) -> list[tuple[str, dict[str, Any]]]:
        """Commands that erased or wrote flash (a zero-size FLASH_BEGIN writes nothing)."""
        return _destructive(self.log)

    # -- internals --------------------------------------------------------------------------

    def _record(self, name: str, args: dict[str, Any]) -> None:
        self.log.append((name, args))
        if name == "ERASE_FLASH" and "error" not in args:
            self._erase_files = True  # the filesystem partition is gone too
        if self._log_file is not None:
            self._log_file.write(
                json.dumps({"t": round(time.time(), 4), "cmd": name, "args": args}) + "\n"
            )

    def _in_loop(self, fn: Callable[[], None]) -> None:
        """Run `fn` in the serve thread, which owns the chip's state, and wait for it."""
        if self._thread is None or threading.current_thread() is self._thread:
            fn()
            return
        done = threading.Event()
        self._calls.append((fn, done))
        assert self._wake_w is not None
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if not done.wait(timeout=5) and not self._stopping.is_set():
            raise BootloaderError("The virtual chip did not respond; stop it and start it again.")

    def _link_baud(self) -> int | None:
        if self._active == "rfc":
            return self._lines.baudrate if self._rfc_conn is not None else None
        return self._pty_baud()

    def _pty_baud(self) -> int | None:
        # The pty master reports the termios of the slave side, where the client set its baud.
        ports = self._ports
        if ports is None or ports.master is None or not ports.present:
            return None
        import termios  # a pty exists here, so termios does too

        if self._bauds is None:
            self._bauds = _termios_bauds()
        try:
            return self._bauds.get(termios.tcgetattr(ports.master)[4])
        except termios.error:
            return None

    # -- reset circuit and boot ---------------------------------------------------------------

    def _lines_changed(self) -> None:
        """DTR/RTS moved (serve thread). EN low holds the chip in reset; once EN is released
        and has settled, the chip starts, in download mode if IO0 was low meanwhile.

        The settle time stands for the RC on EN. esptool's classic reset passes through
        "both asserted" (EN high, IO0 high) before IO0 goes low: on a USB bridge for
        microseconds, which the capacitor hides; over RFC 2217 for a whole round trip (~50 ms),
        which the settle window hides. IO0 counts as low if it was low at any moment of the
        window, so the classic sequence reads the same however its steps are spaced. A client
        that opens the port must not assert DTR alone within the window after a hard reset (our
        clients open with both lines released, as esptool's monitor advice says).
        """
        en_low, io0_low = self._lines.en_low, self._lines.io0_low
        if en_low and not self._en_low:
            self._en_low = True
            self._hold_in_reset()
        elif not en_low and self._en_low:
            self._en_low = False
            self._release_at = time.monotonic() + EN_SETTLE_S
            self._io0_low_seen = io0_low
        elif self._release_at is not None and io0_low:
            self._io0_low_seen = True

    def _hold_in_reset(self) -> None:
        self._stop_app()
        self._release_at = self._watchdog_at = None
        self._no_app = None
        self.state = "reset"
        self._record("EN_LOW", {})

    def _watchdog_armed(self) -> None:
        self._watchdog_at = time.monotonic() + WATCHDOG_DELAY_S

    def _run_timers(self, out: bytearray) -> None:
        now = time.monotonic()
        if self._release_at is not None and now >= self._release_at:
            self._release_at = None
            self._boot(self._io0_low_seen, "power_on", out)
        if self._watchdog_at is not None and now >= self._watchdog_at:
            self._watchdog_at = None
            self._stop_app()
            self._boot(self._lines.io0_low, "rtc_watchdog", out)
        if self._no_app is not None and now >= self._no_app["next"]:
            self._boot_loop_step(out)
            # A ROM whose boot-loop text is not modelled (ESP8266) ends the loop in the step.
            if self._no_app is not None:
                self._no_app["next"] = now + NO_APP_LINE_S

    def _next_timer_in(self, default: float) -> float:
        deadlines = [t for t in (self._release_at, self._watchdog_at) if t is not None]
        if self._no_app is not None:
            deadlines.append(self._no_app["next"])
        if not deadlines:
            return default
        return max(0.0, min(default, min(deadlines) - time.monotonic()))

    def _rom_text(self, kind: str, cause: str) -> bytes:
        text = self.rom.boot_log.get(kind)
        if not text:
            return b""
        return text.format(rst=self.rom.boot_log["rst"][cause]).encode()

    def _boot(self, download: bool, cause: str, out: bytearray) -> None:
        """The chip leaves reset: IO0 low -> ROM download mode, high -> boot the flash."""
        with self._lock:
            assert self.engine is not None
            self.engine.reboot(f"{cause}: {'download' if download else 'flash'} boot", True)
        out += self._rom_text("download" if download else "flash", cause)
        if download:
            self.state = "download"
            self._record("BOOT", {"mode": "download", "cause": cause})
            return
        info, word, why = self._find_app()
        self.state = "no_app"
        if info is None:
            self._no_app = {"word": word, "count": 0, "next": time.monotonic()}
        elif self.rom.devkit_board is None:
            why = f"no virtual board runs MicroPython on the {self.rom.name} yet"
        elif not why:
            why = self._start_app(info)
        if why:
            log.info("virtual %s: no MicroPython to boot: %s", self.rom.name, why)
        self._record(
            "BOOT", {"mode": "flash", "cause": cause, "micropython": self.app_version, "why": why}
        )

    def _find_app(self) -> tuple[Any, int, str]:
        """(image info, first flash word, why not) for what sits at the bootloader offset."""
        from companion_app.firmware.image import (
            ImageError,
            bootloader_offset,
            chip_name,
            inspect_image,
        )

        offset = bootloader_offset(self.chip)  # one table of offsets: firmware/targets.json
        data = self.read_flash(offset)
        word = struct.unpack_from("<I", data, 0)[0]
        try:
            info = inspect_image(data, name=f"the flash at {offset:#x}")
        except ImageError as exc:
            return None, word, str(exc)
        if info.kind != "esp" or info.chip != self.chip:
            return None, word, f"the image there is for {chip_name(info.chip or '?')}"
        if not info.micropython_version:
            return info, word, "the image there is not MicroPython"
        return info, word, ""

    def _boot_loop_step(self, out: bytearray) -> None:
        """No valid app: the ROM complains, its watchdog resets it, and round it goes."""
        assert self._no_app is not None
        line = self.rom.boot_log.get("no_app")
        if not line:
            self._no_app = None  # what this ROM prints is not modelled: it stays silent
            return
        if self._no_app["count"] >= self.rom.boot_log.get("no_app_lines", 8):
            self._no_app["count"] = 0
            out += self._rom_text("flash", "rtc_watchdog")
            return
        self._no_app["count"] += 1
        out += line.format(word=self._no_app["word"]).encode()

    def _start_app(self, info: Any) -> str:
        """Run the flashed MicroPython as a VirtualBoard and relay the chip's UART to it."""
        from companion_app.simulator.host import VirtualBoard

        files = self.files_dir
        if files is None:
            self._files_tmp = tempfile.mkdtemp(prefix="iotkit-chip-files-")
            files = Path(self._files_tmp)
        elif self._erase_files:
            shutil.rmtree(files, ignore_errors=True)
        self._erase_files = False
        board = VirtualBoard(
            board=self.rom.devkit_board,
            flash_dir=files,
            pty=False,
            tcp_port=0,
            banner_version=(info.micropython_version, info.build_date or ""),
            lan=self.lan,
        )
        try:
            board.start()
            port = int(board.port.rsplit(":", 1)[1])
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        except (IotkitError, OSError) as exc:
            board.stop()
            return f"MicroPython cannot run here: {exc}"
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.board, self._app_sock = board, sock
        self._to_app.clear()
        self.state = "app"
        self.app_version = info.micropython_version
        return ""

    def _stop_app(self) -> None:
        """Reset cuts MicroPython off at once; its process is reaped in the background."""
        sock, self._app_sock = self._app_sock, None
        self._to_app.clear()
        if sock is not None:
            sock.close()
        board, self.board = self.board, None
        self.app_version = None
        if board is not None:
            t = threading.Thread(target=board.stop, name="virtual-board-stop", daemon=True)
            t.start()
            self._stoppers = [s for s in self._stoppers if s.is_alive()] + [t]

    # -- the serve loop -----------------------------------------------------------------------

    def _serve(self) -> None:
        """Serve until stopped. A fault in one round is logged and the chip's timers are
        cleared; the thread carries on, because a dead serving thread leaves every later
        connection timing out with no word why (issue 13: the ESP8266 boot loop)."""
        failures = 0
        while not self._stopping.is_set():
            try:
                if not self._serve_round():
                    return
                failures = 0
            except Exception:
                failures += 1
                log.exception("virtual %s: internal error while serving", self.rom.name)
                if failures >= MAX_SERVE_FAILURES:
                    log.error(
                        "virtual %s: stopped after %d internal errors in a row; restart "
                        "`iotkit sim --bootloader` and report the log above",
                        self.rom.name,
                        failures,
                    )
                    return
                self._release_at = self._watchdog_at = None
                self._no_app = None
                self._stopping.wait(SERVE_RETRY_S)

    def _serve_round(self) -> bool:
        """One select() round: False once the chip is being stopped."""
        out = self._out
        ports = self._ports
        assert ports is not None
        app = self._app_sock
        rfc = self._rfc_conn
        rlist: list[Any] = [self._wake_r, *ports.readers()]
        wlist: list[Any] = []
        if self._rfc_listener is not None and rfc is None:
            rlist.append(self._rfc_listener)
        if rfc is not None:
            rlist.append(rfc)
            if self._rfc_out.buf:
                wlist.append(rfc)
        if app is not None:
            rlist.append(app)
            if self._to_app:
                wlist.append(app)
        if out:
            wlist += ports.writers(self._active)  # answers go to whoever asked
        timeout = ports.timeout(self._next_timer_in(0.2))
        try:
            readable, writable, _ = select.select(rlist, wlist, [], timeout)
        except (OSError, ValueError):
            if self._stopping.is_set():
                return False
            raise
        if self._wake_r in readable:
            try:
                self._wake_r.recv(4096)
            except OSError:
                pass
        while self._calls:
            fn, done = self._calls.pop(0)
            try:
                fn()
            finally:
                done.set()
        self._take(ports.probe(), "pty", out)
        for source, data in ports.receive(readable):
            if data is None:
                self._client_gone(source, out)
            else:
                self._take(data, source, out)
        if self._rfc_listener is not None and self._rfc_listener in readable:
            conn = accept(self._rfc_listener)
            if conn is not None:
                self._rfc_accept(conn)
        if rfc is not None and rfc in readable:
            received = recv(rfc)
            if received == b"":
                self._rfc_gone(out)
            elif received and self._rfc_manager is not None:
                # Telnet and RFC 2217 commands are handled (DTR/RTS reach _lines_changed);
                # what is left is the client's data for the chip.
                data = b"".join(self._rfc_manager.filter(received))
                self._take(data, "rfc", out)
        if app is not None and app is self._app_sock:
            if app in readable:
                received = recv(app)
                if received == b"":
                    self._app_sock = None  # MicroPython's board was stopped
                    app.close()
                elif received and (self._active != "pty" or ports.present):
                    out += received
            if app in writable and self._to_app:
                try:
                    del self._to_app[: app.send(self._to_app)]
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    self._to_app.clear()
        self._run_timers(out)
        if out:
            self._send(out)
        if self._rfc_conn is not None and self._rfc_out.buf:
            try:
                del self._rfc_out.buf[: self._rfc_conn.send(self._rfc_out.buf)]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                self._rfc_gone(out)
        return True

    def _take(self, data: bytes, source: str, out: bytearray) -> None:
        if not data:
            return
        if source != self._active:
            out.clear()  # answers belong to whoever asked
            self._active = source
        if self.uart_speed:
            baud = (self.engine.baud if self.engine else None) or self._link_baud() or DEFAULT_BAUD
            time.sleep(len(data) * 10 / baud)
        if self.state == "download":
            with self._lock:
                if self.engine is not None:
                    out += self.engine.receive(data)
        elif self.state == "app" and self._app_sock is not None:
            self._to_app += data
        # A chip held in reset, or stuck in its boot loop, reads nothing.

    def _send(self, out: bytearray) -> None:
        # Non-blocking: what the client does not take now waits for select() to say writable.
        if self._active == "rfc":
            if self._rfc_conn is not None:
                # Data bytes equal to telnet's IAC are doubled, as PortManager.escape() does
                # one byte at a time; done in one go, since flash reads are megabytes.
                self._rfc_out.buf += bytes(out).replace(IAC, IAC + IAC)
            out.clear()  # or nobody listening: a UART's output is simply lost
            return
        assert self._ports is not None
        del out[: self._ports.send(bytes(out), self._active)]

    def _rfc_accept(self, conn: socket.socket) -> None:
        from serial.rfc2217 import PortManager

        self._rfc_conn = conn
        self._rfc_out = _Outbox()
        self._rfc_manager = PortManager(self._lines, self._rfc_out)

    def _rfc_gone(self, out: bytearray) -> None:
        if self._rfc_conn is not None:
            try:
                self._rfc_conn.close()
            except OSError:
                pass
        self._rfc_conn = None
        self._rfc_manager = None
        self._rfc_out = _Outbox()
        self._lines.release()
        self._client_gone("rfc", out)

    def _client_gone(self, source: str, out: bytearray) -> None:
        if source == self._active:
            out.clear()
        with self._lock:
            if self.engine is not None:
                self.engine.disconnected()
        log.debug("virtual %s: the %s client went away", self.rom.name, source)


IAC = b"\xff"  # telnet's "interpret as command" byte


def _destructive(entries: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, args in entries:
        if name not in DESTRUCTIVE_COMMANDS:
            continue
        if name in ("FLASH_BEGIN", "FLASH_DEFL_BEGIN") and not args.get("size"):
            continue
        found.append((name, args))
    return found


def read_command_log(flash_image: str | os.PathLike[str]) -> list[tuple[str, dict[str, Any]]]:
    """The command log a virtual bootloader (maybe in another process) wrote beside its flash
    image, as (name, args) pairs."""
    path = Path(flash_image)
    path = path.with_name(path.name + ".log")
    entries = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    item = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line being written right now
                entries.append((item["cmd"], item["args"]))
    return entries


def destructive_commands_in(flash_image: str | os.PathLike[str]) -> list[tuple[str, dict]]:
    """Erase or write commands found in the log beside `flash_image`."""
    return _destructive(read_command_log(flash_image))


def parse_flash_size(value: str | int | None) -> int | None:
    """4194304, "4MB", "4M", "512KB" -> bytes (None stays None)."""
    if value is None or isinstance(value, int):
        return value
    text = value.strip().upper().removesuffix("B")
    scale = {"K": 1 << 10, "M": 1 << 20}.get(text[-1:], 1)
    try:
        return int(text[:-1] if scale > 1 else text, 0) * scale
    except ValueError:
        raise UsageError(f"A flash size looks like 4MB or 4194304; got {value!r}") from None


def default_flash_image(chip: str) -> Path:
    from companion_app.paths import data_dir

    return data_dir("virtual-chips") / chip / "flash.bin"


def run_bootloader_sim(args: argparse.Namespace) -> int:
    """`iotkit sim --bootloader CHIP`: run a virtual chip in download mode until killed."""
    chip = args.bootloader
    if chip not in known_chips():
        raise UsageError(
            f"--bootloader takes a chip name: {', '.join(known_chips())} (got {chip!r})"
        )
    image = getattr(args, "flash_image", None) or default_flash_image(chip)
    rfc2217 = getattr(args, "rfc2217", None)
    lan = bool(getattr(args, "lan", False))
    port_file = getattr(args, "port_file", None)
    if port_file:
        check_output_file(port_file, "--port-file")
    endpoints_file = getattr(args, "endpoints_file", None)
    if endpoints_file:
        check_output_file(endpoints_file, "--endpoints-file")
    sim = VirtualBootloader(
        chip,
        flash_image=image,
        # No --no-pty: a pty where the OS has one, else loopback TCP (as the board does).
        pty=None if getattr(args, "pty", True) else False,
        tcp_port=getattr(args, "tcp", None),
        flash_size=parse_flash_size(getattr(args, "flash_size", None)),
        mac=getattr(args, "mac", None),
        rfc2217_port=rfc2217,
        lan=lan,
    )
    try:
        sim.start()
    except BaseException:
        sim.stop()  # a port in use must leave no open flash image or thread behind
        raise
    try:
        assert sim.flash is not None
        how = "on the pty or socket use esptool with --before no-reset --after no-reset"
        if sim.rfc2217_url:
            how = (
                f"on {sim.rfc2217_url} esptool resets it as a real board (after flashing, "
                f"MicroPython starts); {how}"
            )
        note = (
            f"virtual {sim.rom.name} in download mode (MAC {sim.mac.hex(':')}), "
            f"{sim.flash.size // 1024} KB flash in {image}; {how}; Ctrl-C to stop"
        )
        serve_until_signalled(
            [sim.pty_path, sim.tcp_url, sim.rfc2217_url],
            [lan_note(), note] if lan else [note],
            getattr(args, "port_file", None),
            sim.rfc2217_url or sim.port,
            endpoints_file=endpoints_file,
            endpoints=endpoints_record(sim.pty_path, sim.tcp_url),
        )
    finally:
        sim.stop()
    return 0
