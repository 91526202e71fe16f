"""UF2 flashing for Pico boards: copy the file to the BOOTSEL drive, then find the new port.

A Pico held in BOOTSEL shows up as a USB drive with INFO_UF2.TXT on it; copying a .uf2 file
there flashes it, and the board reboots into MicroPython as a serial port (USB 2E8A:0005).
The copy is flushed and fsync'ed, because an OS that caches the write and reports "done"
early is how half-flashed Picos happen.
"""

from __future__ import annotations

import getpass
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from companion_app.errors import IotkitError
from companion_app.firmware.image import ImageInfo, check_compatible, inspect_image

INFO_FILE = "INFO_UF2.TXT"
COPY_CHUNK = 64 * 1024
NEW_PORT_TIMEOUT_S = 15.0


class Uf2Error(IotkitError):
    """A UF2 flash could not be done, with what to do."""


@dataclass(frozen=True)
class BootselDrive:
    path: Path
    board_id: str  # "RPI-RP2", "RP2350", as INFO_UF2.TXT says
    model: str

    def describe(self) -> str:
        """ "the BOOTSEL drive of a Raspberry Pi RP2 (Board-ID RPI-RP2)": who the drive is."""
        model = self.model or "board"
        board_id = f" (Board-ID {self.board_id})" if self.board_id else ""
        return f"the BOOTSEL drive of a {model}{board_id}"

    @property
    def chip(self) -> str | None:
        text = f"{self.board_id} {self.model}".upper()
        if "RP2350" in text:
            return "rp2350"
        if "RP2" in text:
            return "rp2040"
        return None


def _candidate_mounts() -> list[Path]:
    user = getpass.getuser()
    roots: list[Path] = []
    if sys.platform == "darwin":
        roots.append(Path("/Volumes"))
    elif os.name == "nt":
        return [Path(f"{c}:\\") for c in "DEFGHIJKLMNOPQRSTUVWXYZ"]
    else:
        roots += [Path("/media") / user, Path("/run/media") / user, Path("/media"), Path("/mnt")]
    mounts: list[Path] = []
    for root in roots:
        try:
            mounts += [p for p in root.iterdir() if p.is_dir()]
        except OSError:
            continue
    return mounts


def parse_info(text: str) -> tuple[str, str]:
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip()
    return fields.get("board-id", ""), fields.get("model", "")


def find_bootsel_drives(mounts: Iterable[Path] | None = None) -> list[BootselDrive]:
    """Mounted drives that are a board in BOOTSEL mode (they hold INFO_UF2.TXT)."""
    found = []
    for mount in mounts if mounts is not None else _candidate_mounts():
        info = Path(mount) / INFO_FILE
        try:
            board_id, model = parse_info(info.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
        found.append(BootselDrive(Path(mount), board_id, model))
    return found


def bootsel_drive_at(path: str | os.PathLike[str]) -> BootselDrive | None:
    """The BOOTSEL drive mounted at `path`, or None when that folder is not one."""
    found = find_bootsel_drives([Path(path)])
    return found[0] if found else None


def explain_not_a_port(port: str, image: ImageInfo | None = None) -> str | None:
    """Why `port`, a folder or a plain file, is no serial port to flash; None if it is neither.

    A .bin (an ESP image, written over a serial port) aimed at a Pico's BOOTSEL drive is a
    mix-up of two flashing methods; the message says which board the drive belongs to and what
    file it wants, instead of "there is no port".
    """
    if port and os.path.isfile(port):
        return (
            f"{port} is a file, not a serial port. Give the board's serial port (`iotkit "
            "ports` lists them)."
        )
    if not port or not os.path.isdir(port):
        return None
    drive = bootsel_drive_at(port)
    what = ""
    if image is not None:
        what = f"{os.path.basename(image.path)} is {image.describe()}"
    if drive is None:
        return (
            f"{port} is a folder, not a serial port. Give the board's serial port "
            "(`iotkit ports` lists them)."
        )
    return (
        f"{port} is {drive.describe()}, which takes a .uf2 file"
        + (f"; {what}, an ESP image that is written over a serial port." if what else ".")
        + " Download the .uf2 for your board from micropython.org/download, or give an ESP "
        "board's serial port for a .bin."
    )


def copy_uf2(
    image: str | os.PathLike[str],
    drive: BootselDrive,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Check the image against the drive's chip, copy it with progress, fsync, return the
    path written."""
    info = inspect_image(image)
    if info.kind != "uf2":
        raise Uf2Error(
            f"{os.path.basename(image)} is {info.describe()}; a Pico in BOOTSEL mode "
            "takes a .uf2 file. Download the .uf2 for your board."
        )
    if drive.chip is not None:
        check_compatible(info, drive.chip)
    data = Path(image).read_bytes()
    target = drive.path / Path(image).name
    try:
        with open(target, "wb") as f:
            for pos in range(0, len(data), COPY_CHUNK):
                f.write(data[pos : pos + COPY_CHUNK])
                if progress is not None:
                    progress(min(pos + COPY_CHUNK, len(data)), len(data))
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        # The board reboots as soon as the last block lands; some OSes then report an error
        # for the vanished drive although the flash succeeded.
        if not drive.path.exists():
            return target
        raise Uf2Error(
            f"Copying to {drive.path} failed ({exc.strerror or exc}). Unplug the "
            "board, hold BOOTSEL while plugging it back in, and try again."
        ) from None
    return target


def wait_for_new_port(
    before: Sequence[str],
    list_ports: Callable[[], Sequence[str]],
    timeout: float = NEW_PORT_TIMEOUT_S,
    poll_s: float = 0.2,
) -> str:
    """The serial port that appeared after the copy (MicroPython booting on the Pico)."""
    deadline = time.monotonic() + timeout
    known = set(before)
    while time.monotonic() < deadline:
        new = [p for p in list_ports() if p not in known]
        if new:
            return new[0]
        time.sleep(poll_s)
    raise Uf2Error(
        f"The board did not come back as a serial port within {timeout:.0f} s. If the drive is "
        "still there, the file was not a firmware for this board; otherwise unplug and replug it."
    )
