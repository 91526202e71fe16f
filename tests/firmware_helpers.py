"""Build firmware files the way MicroPython's releases are laid out, for tests.

No network here, so no real downloads: these follow the formats byte for byte (ESP image
header with extended header and segments, partition table, UF2 blocks) with random payloads.
"""

from __future__ import annotations

import os
import struct

BANNER = b"MicroPython v1.24.1 on 2024-11-29; Generic ESP32 module with ESP32"


def esp_app_image(
    chip_id: int | None, payload: int = 4096, version: bytes = BANNER, flash_code: int = 0x20
) -> bytes:
    """One ESP image: header (+ extended header unless ESP8266), two segments, checksum."""
    seg1 = os.urandom(payload // 2)
    seg2 = version + os.urandom(payload // 2 - len(version))
    if chip_id is None:  # ESP8266: no extended header, IRAM entry point
        header = struct.pack("<BBBBI", 0xE9, 2, 0x02, flash_code, 0x40100004)
        segs = struct.pack("<II", 0x40100000, len(seg1)) + seg1
        segs += struct.pack("<II", 0x3FFE8000, len(seg2)) + seg2
    else:
        header = struct.pack("<BBBBI", 0xE9, 2, 0x02, flash_code, 0x40080000)
        header += struct.pack("<BBBBHBHH4xB", 0xEE, 0, 0, 0, chip_id, 0, 0, 0xFFFF, 0)
        segs = struct.pack("<II", 0x3F400020, len(seg1)) + seg1
        segs += struct.pack("<II", 0x40080000, len(seg2)) + seg2
    body = header + segs
    pad = (len(body) + 16) & ~15
    return body + b"\x00" * (pad - len(body) - 1) + b"\xef"


def merged_image(chip_id: int, offset: int, app_payload: int = 16384) -> bytes:
    """bootloader @offset + partition table @0x8000 + app @0x10000, as MicroPython ships."""
    boot = esp_app_image(chip_id, 2048, version=b"bootloader")
    table_at = 0x8000 - offset
    app_at = 0x10000 - offset
    entry = struct.pack("<HBBII16sI", 0xAA50, 0, 0, 0x10000, 0x1F0000, b"factory", 0)
    nvs = struct.pack("<HBBII16sI", 0xAA50, 1, 2, 0x9000, 0x6000, b"nvs", 0)
    image = bytearray(b"\xff" * app_at)
    image[: len(boot)] = boot
    table = nvs + entry
    image[table_at : table_at + len(table)] = table
    return bytes(image) + esp_app_image(chip_id, app_payload)


def uf2_image(
    family: int,
    blocks: int = 8,
    version: bytes = b"MicroPython v1.24.1 on 2024-11-29",
    total: int | None = None,
) -> bytes:
    out = bytearray()
    for i in range(blocks):
        data = (version if i == 0 else b"") + os.urandom(256)
        data = data[:256]
        block = struct.pack(
            "<IIIIIIII",
            0x0A324655,
            0x9E5D5157,
            0x2000,
            0x10000000 + 256 * i,
            256,
            i,
            total or blocks,
            family,
        )
        block += data.ljust(476, b"\x00") + struct.pack("<I", 0x0AB16F30)
        out += block
    return bytes(out)
