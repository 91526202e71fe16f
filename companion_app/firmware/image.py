"""What a firmware file is, and whether it fits the board, decided before anything is erased.

esptool checks image compatibility only when writing at the bootloader offset, and mpflash
passes force=True; a beginner who writes an ESP32-S3 image to an ESP32 gets a board that does
not boot. So every image is inspected here first: ESP images by their header (magic 0xE9, the
extended header's chip id, each segment's length), UF2 files by their block magic and family id,
and MicroPython's version string wherever it is in the file.
"""

from __future__ import annotations

import json
import os
import re
import stat
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from companion_app.errors import IotkitError

ESP_IMAGE_MAGIC = 0xE9
ESP_HEADER_LEN = 8
ESP_EXTENDED_HEADER_LEN = 16
SEGMENT_HEADER_LEN = 8
MAX_SEGMENTS = 16
PARTITION_TABLE_OFFSET = 0x8000  # flash address of the table in MicroPython's layouts
PARTITION_MAGIC = 0xAA50
PARTITION_ENTRY_LEN = 32
UF2_MAGIC_START0 = 0x0A324655
UF2_MAGIC_START1 = 0x9E5D5157
UF2_MAGIC_END = 0x0AB16F30
UF2_FLAG_FAMILY_ID = 0x00002000
UF2_FLAG_NOT_MAIN_FLASH = 0x00000001
UF2_BLOCK = 512
# The largest firmware file we read. A .bin is at most the flash (32 MB on the biggest ESP32-S3
# modules), a UF2 file twice what it fills (256 data bytes per 512-byte block) and MicroPython's
# images are a few MB, so 64 MB is far above any real one. A bigger "file" is something else
# (a disk image) and would only eat the PC's memory.
MAX_IMAGE_BYTES = 64 * 1024 * 1024
# ESP8266 memory map: where a segment of a real image may load (ESP8266 technical reference).
ESP8266_LOAD_RANGES = ((0x3FFE8000, 0x40000000), (0x40100000, 0x40140000), (0x40200000, 0x40300000))

_VERSION_RE = re.compile(rb"MicroPython (v\d+\.\d+\.\d+[\w.+-]*) on (\d{4}-\d{2}-\d{2})")
_VERSION_RE_BARE = re.compile(rb"(v1\.\d+\.\d+(?:-[\w.+]+)?) on (\d{4}-\d{2}-\d{2})")


class ImageError(IotkitError):
    """The file is not a firmware image we can write, or does not fit this board."""


@lru_cache(maxsize=1)
def targets() -> dict[str, Any]:
    data = resources.files("companion_app.firmware").joinpath("targets.json")
    text = data.read_text(encoding="utf-8")
    return json.loads(text)


def chip_name(chip: str) -> str:
    t = targets()
    entry = t["esp"].get(chip) or t["uf2"].get(chip)
    return entry["name"] if entry else chip


def bootloader_offset(chip: str) -> int:
    """Where a MicroPython .bin for `chip` is written: 0x1000, 0x0 or 0x2000."""
    entry = targets()["esp"].get(chip)
    if entry is None:
        raise ImageError(f"{chip} is not an ESP chip; it does not take a .bin image.")
    return int(entry["offset"], 16)


@dataclass
class ImageInfo:
    """What inspect_image() found. `chip` is None only for images it cannot attribute."""

    path: str
    kind: str  # "esp" or "uf2"
    size: int
    chip: str | None
    offset: int | None = None  # where to write it (ESP only)
    header_flash_size: str | None = None
    micropython_version: str | None = None
    build_date: str | None = None
    uf2_families: tuple[int, ...] = ()
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line for a person: what the file is, for which chip, where it goes."""
        what = f"MicroPython {self.micropython_version}" if self.micropython_version else "firmware"
        chip = chip_name(self.chip) if self.chip else "an unknown chip"
        size = _human_size(self.size)
        if self.kind == "uf2":
            return f"{what} for {chip} (UF2, {size})"
        return f"{what} for {chip} ({size}, written at {self.offset:#x})"

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "size": self.size,
            "chip": self.chip,
            "offset": self.offset,
            "header_flash_size": self.header_flash_size,
            "micropython_version": self.micropython_version,
            "build_date": self.build_date,
            "description": self.describe(),
        }


def _human_size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    if n < 1024:  # the practice firmware for an ESP8266 is a few hundred bytes, not "0 KB"
        return f"{n} bytes"
    return f"{n / 1024:.0f} KB"


def inspect_image(source: str | os.PathLike[str] | bytes, name: str | None = None) -> ImageInfo:
    """Inspect a firmware file. Raises ImageError, saying what the file is, if it is no image."""
    if isinstance(source, (bytes, bytearray)):
        data, path = bytes(source), name or "<image>"
    else:
        path = os.fspath(source)
        data = _read_image_file(path)
    label = name or os.path.basename(path)
    if len(data) == 0:
        raise ImageError(f"{label} is empty (0 bytes): the download was probably interrupted.")
    if len(data) >= UF2_BLOCK and struct.unpack_from("<II", data, 0) == (
        UF2_MAGIC_START0,
        UF2_MAGIC_START1,
    ):
        info = _inspect_uf2(data, path, label)
    elif data[0] == ESP_IMAGE_MAGIC:
        info = _inspect_esp(data, path, label)
    else:
        raise ImageError(f"{label} is not a firmware image: {_what_is_it(data)}. {_WHERE_TO_GET}")
    version = _VERSION_RE.search(data) or _VERSION_RE_BARE.search(data)
    if version:
        info.micropython_version = version.group(1).decode()
        info.build_date = version.group(2).decode()
    return info


def _unreadable(path: str, exc: OSError) -> ImageError:
    return ImageError(f"The firmware file {path} cannot be read ({exc.strerror or exc}).")


def _read_image_file(path: str) -> bytes:
    """The file's bytes, after refusing what cannot be a firmware file without reading it."""
    if not path:
        raise ImageError("No firmware file was named. Give the path of a .bin or .uf2 file.")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ImageError(f"The firmware file {path} does not exist. Check the path.") from None
    except OSError as exc:
        raise _unreadable(path, exc) from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(
            f"{path} is a folder, not a firmware file. Give the .bin or .uf2 file inside it."
        )
    if not stat.S_ISREG(st.st_mode):
        raise ImageError(
            f"{path} is not a regular file (a device or a pipe), so it cannot be a firmware "
            "image. Give the path of a .bin or .uf2 file."
        )
    if st.st_size > MAX_IMAGE_BYTES:
        raise ImageError(
            f"{os.path.basename(path)} is {_human_size(st.st_size)}, far bigger than any "
            f"MicroPython firmware (the largest are a few MB, and we read at most "
            f"{_human_size(MAX_IMAGE_BYTES)}). Pick the .bin or .uf2 file for your board."
        )
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise _unreadable(path, exc) from None


_WHERE_TO_GET = (
    "Download the .bin (ESP boards) or .uf2 (Pico boards) for your board from "
    "micropython.org/download, or use --board to pick one from the firmware cache."
)


def _what_is_it(data: bytes) -> str:
    head = data[:8]
    if head.startswith(b"\x7fELF"):
        return "it is an ELF program file (use the .bin that the build made from it)"
    if head.startswith(b"PK\x03\x04"):
        return "it is a ZIP archive (unpack it and pick the .bin or .uf2 inside)"
    if head.startswith(b"\x1f\x8b"):
        return "it is a gzip archive (unpack it first)"
    stripped = data[:200].lstrip().lower()
    if stripped.startswith((b"<!doctype", b"<html")):
        return "it is a web page, so the download saved an HTML page instead of the firmware"
    if stripped.startswith(b":") and all(c in b"0123456789abcdef:\r\n" for c in stripped[:60]):
        return "it is an Intel HEX file (use the .bin version)"
    if all(32 <= c < 127 or c in b"\r\n\t" for c in data[:512]):
        return "it is a text file"
    return f"it starts with bytes {data[:4].hex(' ')}, which no firmware format starts with"


def _segments_end(data: bytes, start: int, extended: bool) -> tuple[int, int]:
    """Walk an ESP image's segments from `start`; return (end offset, segment count).

    Raises ImageError(truncated) if a segment runs past the end of the file.
    """
    count = data[start + 1]
    pos = start + ESP_HEADER_LEN + (ESP_EXTENDED_HEADER_LEN if extended else 0)
    if not 0 < count <= MAX_SEGMENTS:
        raise _Malformed(f"an image header with {count} segments")
    for _ in range(count):
        if pos + SEGMENT_HEADER_LEN > len(data):
            raise _Truncated(pos + SEGMENT_HEADER_LEN)
        _, length = struct.unpack_from("<II", data, pos)
        pos += SEGMENT_HEADER_LEN + length
        if pos > len(data):
            raise _Truncated(pos)
    # one checksum byte after padding to 16 bytes, then an optional SHA-256 (ESP32 family)
    end = (pos + 16) & ~15
    if extended and data[start + 23] == 1:
        end += 32
    if end > len(data):
        raise _Truncated(end)
    return end, count


class _Truncated(Exception):
    def __init__(self, needed: int) -> None:
        self.needed = needed


class _Malformed(Exception):
    pass


def _looks_like_esp8266(data: bytes) -> bool:
    """ESP8266 images have no extended header: a segment header follows the 8-byte header."""
    if len(data) < ESP_HEADER_LEN + SEGMENT_HEADER_LEN:
        return False
    entry = struct.unpack_from("<I", data, 4)[0]
    load, length = struct.unpack_from("<II", data, ESP_HEADER_LEN)
    in_map = any(lo <= load < hi for lo, hi in ESP8266_LOAD_RANGES)
    return in_map and 0 < length < 0x100000 and 0x40100000 <= entry < 0x40300000


def _inspect_esp(data: bytes, path: str, label: str) -> ImageInfo:
    t = targets()
    by_id = {v["image_chip_id"]: k for k, v in t["esp"].items() if v["image_chip_id"] is not None}
    try:
        if _looks_like_esp8266(data):
            chip = "esp8266"
            _segments_end(data, 0, extended=False)
            code = str(data[3] >> 4)
            flash = t["flash_size_codes"]["esp8266"].get(code)
        else:
            if len(data) < ESP_HEADER_LEN + ESP_EXTENDED_HEADER_LEN:
                raise _Truncated(ESP_HEADER_LEN + ESP_EXTENDED_HEADER_LEN)
            chip_id = struct.unpack_from("<H", data, 12)[0]
            chip = by_id.get(chip_id)
            if chip is None:
                raise ImageError(
                    f"{label} has an ESP image header for chip id {chip_id}, which no chip we "
                    f"know has. {_WHERE_TO_GET}"
                )
            _segments_end(data, 0, extended=True)
            code = str(data[3] >> 4)
            flash = t["flash_size_codes"]["esp32"].get(code)
            _check_app_in_merged_image(data, chip)
    except _Truncated as exc:
        raise ImageError(
            f"{label} is truncated: it is {len(data):,} bytes but its own header needs at least "
            f"{exc.needed:,}. The download was probably interrupted; download it again."
        ) from None
    except _Malformed as exc:
        raise ImageError(f"{label} is not a valid ESP firmware image: it has {exc}.") from None
    offset = int(t["esp"][chip]["offset"], 16)
    return ImageInfo(
        path=path, kind="esp", size=len(data), chip=chip, offset=offset, header_flash_size=flash
    )


def _check_app_in_merged_image(data: bytes, chip: str) -> None:
    """A MicroPython .bin is bootloader + partition table + app; the app must be there whole."""
    base = int(targets()["esp"][chip]["offset"], 16)
    table = PARTITION_TABLE_OFFSET - base
    if len(data) < table + PARTITION_ENTRY_LEN:
        return  # only a bootloader or a bare app image: its own segments were checked
    for i in range(0, 0xC00, PARTITION_ENTRY_LEN):
        pos = table + i
        if pos + PARTITION_ENTRY_LEN > len(data):
            break
        magic, ptype, _subtype, poffset, _psize = struct.unpack_from("<HBBII", data, pos)
        if magic != PARTITION_MAGIC:
            break
        if ptype == 0:  # the first app partition (factory or ota_0)
            app = poffset - base
            if app >= len(data) or data[app] != ESP_IMAGE_MAGIC:
                raise _Truncated(app + ESP_HEADER_LEN)
            _segments_end(data, app, extended=True)
            return


def _inspect_uf2(data: bytes, path: str, label: str) -> ImageInfo:
    if len(data) % UF2_BLOCK:
        raise ImageError(
            f"{label} is truncated: a UF2 file is made of 512-byte blocks, and it ends "
            f"{len(data) % UF2_BLOCK} bytes into one. Download it again."
        )
    families: list[int] = []
    expected_total = None
    seen = 0
    for pos in range(0, len(data), UF2_BLOCK):
        m0, m1, flags, _addr, _size, _blockno, total, family = struct.unpack_from(
            "<IIIIIIII", data, pos
        )
        end_magic = struct.unpack_from("<I", data, pos + UF2_BLOCK - 4)[0]
        if (m0, m1, end_magic) != (UF2_MAGIC_START0, UF2_MAGIC_START1, UF2_MAGIC_END):
            raise ImageError(f"{label} is a damaged UF2 file: block {pos // UF2_BLOCK} is broken.")
        if flags & UF2_FLAG_NOT_MAIN_FLASH:
            continue
        seen += 1
        if flags & UF2_FLAG_FAMILY_ID and family not in families:
            families.append(family)
        if expected_total is None:
            expected_total = total
    if expected_total is not None and seen < expected_total:
        raise ImageError(
            f"{label} is truncated: it holds {seen} of its {expected_total} UF2 blocks. "
            "Download it again."
        )
    chip = None
    t = targets()
    for name, entry in t["uf2"].items():
        if any(int(f, 16) in families for f in entry["families"]):
            chip = name
            break
    if chip is None:
        for name, entry in t["esp"].items():
            if int(entry["uf2_family"], 16) in families:
                chip = name
                break
    return ImageInfo(path=path, kind="uf2", size=len(data), chip=chip, uf2_families=tuple(families))


def check_compatible(
    info: ImageInfo, chip: str, flash_size: int | None = None, offset: int | None = None
) -> int:
    """Refuse an image that does not fit the detected board; return the offset to write at.

    The message names what the file is and what the board is, so the fix is obvious.
    """
    board = chip_name(chip)
    if info.chip is None:
        raise ImageError(
            f"{info.path}: cannot tell which chip this image is for, so it is not "
            f"written to the {board}. {_WHERE_TO_GET}"
        )
    if info.kind == "uf2" and chip in targets()["esp"]:
        raise ImageError(
            f"{os.path.basename(info.path)} is {info.describe()}; this board is an {board}, "
            "which takes a .bin file written over serial. Download the .bin for your board."
        )
    if info.chip != chip:
        raise ImageError(
            f"Wrong firmware: {os.path.basename(info.path)} is {info.describe()}, but the board "
            f"is an {board}. Nothing was written. Download the firmware for {board}."
        )
    if info.kind != "esp":
        return 0
    where = info.offset if offset is None else offset
    assert where is not None
    if offset is not None and offset != info.offset:
        info.notes.append(
            f"written at {offset:#x}, not the usual {info.offset:#x}: the board may not boot"
        )
    if flash_size is not None and where + info.size > flash_size:
        raise ImageError(
            f"{os.path.basename(info.path)} is too big for this board: {_human_size(info.size)} "
            f"at {where:#x} needs {_human_size(where + info.size)} of flash, and the {board} has "
            f"{_human_size(flash_size)}. Pick the firmware for your board's flash size."
        )
    return where
