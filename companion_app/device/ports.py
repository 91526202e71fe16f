"""Serial ports with a hint about which board is on the other end.

A beginner sees "/dev/ttyUSB0" or "COM5" and cannot tell the board from the phone charger; the USB
VID:PID of the adapter chip usually can ("CP210x, probably an ESP32 DevKit"). The VID:PID table
is data (`usb_ids.json`, each entry with its source) so a new adapter is one line, not code.
pyserial's `serial.tools.list_ports` does the platform work.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Callable, Iterable

log = logging.getLogger(__name__)

#: URL schemes pyserial's serial_for_url opens that are not local hardware.
VIRTUAL_SCHEMES = ("socket://", "rfc2217://", "loop://", "spy://")
_PTY_PATTERNS = (re.compile(r"^/dev/pts/\d+$"), re.compile(r"^/dev/ttys\d+$"))  # Linux, macOS

HINT_VIRTUAL_TCP = "virtual board (TCP socket, as `iotkit sim --tcp` serves)"
HINT_VIRTUAL_PTY = "virtual board (pseudo-terminal, as `iotkit sim` makes)"
HINT_NO_USB = "serial port without USB information, probably not a board"
HINT_MISSING = "port not found: plug the board in, or check the name"


@dataclass(frozen=True)
class UsbEntry:
    """One row of usb_ids.json."""

    vid: int
    pid: int | None
    hint: str
    chip: str = ""
    kind: str = "serial"
    likely_boards: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class PortInfo:
    """A serial port as `iotkit ports` and the port pickers show it."""

    device: str
    description: str
    vid: int | None
    pid: int | None
    serial_number: str | None
    hint: str
    likely_board: str | None
    likely_boards: tuple[str, ...] = ()
    #: "serial" (open it), "drive" (a USB drive such as Pico BOOTSEL, not a serial port),
    #: "virtual" (pty or socket:// of a virtual board), "unknown", or "missing".
    kind: str = "unknown"
    manufacturer: str | None = field(default=None)

    @property
    def usb_id(self) -> str | None:
        if self.vid is None or self.pid is None:
            return None
        return f"{self.vid:04X}:{self.pid:04X}"

    @property
    def is_virtual(self) -> bool:
        return self.kind == "virtual"

    def to_json(self) -> dict[str, Any]:
        """Plain dict for `iotkit ports --json`: teachers' scripts rely on these keys."""
        return {
            "device": self.device,
            "description": self.description,
            "vid": self.vid,
            "pid": self.pid,
            "usb_id": self.usb_id,
            "serial_number": self.serial_number,
            "manufacturer": self.manufacturer,
            "hint": self.hint,
            "likely_board": self.likely_board,
            "likely_boards": list(self.likely_boards),
            "kind": self.kind,
        }


def _hex(value: Any, what: str) -> int:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9A-Fa-f]{4}", value):
        raise ValueError(f"usb_ids.json: {what} {value!r} is not four hex digits")
    return int(value, 16)


@functools.lru_cache(maxsize=1)
def usb_table() -> tuple[dict[tuple[int, int], UsbEntry], dict[int, UsbEntry]]:
    """(VID, PID) -> entry, and VID -> vendor fallback entry, read once from usb_ids.json."""
    text = resources.files(__package__).joinpath("usb_ids.json").read_text(encoding="utf-8")
    data = json.loads(text)
    devices: dict[tuple[int, int], UsbEntry] = {}
    for row in data.get("devices", []):
        vid, pid = _hex(row["vid"], "vid"), _hex(row["pid"], "pid")
        devices[(vid, pid)] = UsbEntry(
            vid=vid,
            pid=pid,
            hint=row["hint"],
            chip=row.get("chip", ""),
            kind=row.get("kind", "serial"),
            likely_boards=tuple(row.get("likely_boards", ())),
            source=row.get("source", ""),
        )
    vendors: dict[int, UsbEntry] = {}
    for row in data.get("vendors", []):
        vid = _hex(row["vid"], "vid")
        vendors[vid] = UsbEntry(vid=vid, pid=None, hint=row["hint"], source=row.get("source", ""))
    return devices, vendors


def hint_for_usb(vid: int | None, pid: int | None) -> UsbEntry | None:
    """The table entry for this adapter: exact VID:PID first, then the vendor alone."""
    if vid is None:
        return None
    devices, vendors = usb_table()
    if pid is not None and (vid, pid) in devices:
        return devices[(vid, pid)]
    vendor = vendors.get(vid)
    if vendor is None:
        return None
    usb = f"{vid:04X}:{pid:04X}" if pid is not None else f"{vid:04X}"
    return UsbEntry(vid=vid, pid=pid, hint=f"{vendor.hint} (USB {usb})", source=vendor.source)


def has_no_modem_lines(device: str) -> bool:
    """A pty or a socket:// URL: no DTR/RTS to reset a board with (rfc2217:// has them).

    That is how virtual boards are served, so it also decides "the virtual board closed" over
    "check the USB cable", and esptool's no-reset mode.
    """
    return device.lower().startswith("socket://") or any(p.match(device) for p in _PTY_PATTERNS)


def _virtual_hint(device: str) -> str | None:
    lowered = device.lower()
    if lowered.startswith("socket://"):
        return HINT_VIRTUAL_TCP
    if lowered.startswith(VIRTUAL_SCHEMES):
        return f"virtual port ({lowered.split('://', 1)[0]}://)"
    if any(p.match(device) for p in _PTY_PATTERNS):
        return HINT_VIRTUAL_PTY
    return None


def port_info_from_comport(port: Any) -> PortInfo:
    """Turn one of pyserial's ListPortInfo objects into a PortInfo with a hint."""
    vid, pid = getattr(port, "vid", None), getattr(port, "pid", None)
    description = getattr(port, "description", "") or ""
    if description == "n/a":
        description = ""
    entry = hint_for_usb(vid, pid)
    if entry is not None:
        hint, kind, boards = entry.hint, entry.kind, entry.likely_boards
    elif vid is not None:
        hint, kind, boards = (
            f"USB serial device {vid:04X}:{(pid or 0):04X}, not a board this kit knows",
            "serial",
            (),
        )
    else:
        virtual = _virtual_hint(port.device)
        if virtual is not None:
            hint, kind, boards = virtual, "virtual", ()
        else:
            hint, kind, boards = HINT_NO_USB, "unknown", ()
    return PortInfo(
        device=port.device,
        description=description,
        vid=vid,
        pid=pid,
        serial_number=getattr(port, "serial_number", None),
        hint=hint,
        likely_board=boards[0] if boards else None,
        likely_boards=tuple(boards),
        kind=kind,
        manufacturer=getattr(port, "manufacturer", None),
    )


def _comports() -> list[Any]:
    from serial.tools import list_ports

    try:
        return list(list_ports.comports())
    except OSError as exc:  # rare: a platform backend that cannot enumerate
        log.warning("could not list serial ports: %s", exc)
        return []


def _sort_key(info: PortInfo) -> tuple[int, str]:
    # Likely boards first, so a picker's default choice is the board, not a modem or Bluetooth.
    rank = 0 if info.likely_boards else 1 if info.vid is not None else 2
    return (rank, info.device)


def list_ports(comports: Iterable[Any] | None = None) -> list[PortInfo]:
    """Serial ports on this computer, likely boards first; `comports` is for tests."""
    ports = _comports() if comports is None else list(comports)
    infos = [port_info_from_comport(p) for p in ports]
    infos.sort(key=_sort_key)
    log.debug("ports: %s", [(i.device, i.usb_id) for i in infos])
    return infos


def describe_port(device: str, comports: Iterable[Any] | None = None) -> PortInfo:
    """A PortInfo for any port name, also ones comports() never lists (ptys, socket:// URLs).

    The GUI and `iotkit flash` use this to say what they are talking to, even for a virtual
    board, so it never raises.
    """
    virtual = _virtual_hint(device)
    if virtual is not None and "://" in device:
        return PortInfo(device, "", None, None, None, virtual, None, (), "virtual")
    ports = _comports() if comports is None else list(comports)
    wanted = {device, os.path.realpath(device)} if os.sep in device else {device}
    for port in ports:
        if port.device in wanted or os.path.realpath(port.device) in wanted:
            return port_info_from_comport(port)
    if virtual is not None:
        return PortInfo(device, "", None, None, None, virtual, None, (), "virtual")
    if os.path.exists(device):
        return PortInfo(device, "", None, None, None, HINT_NO_USB, None, (), "unknown")
    return PortInfo(device, "", None, None, None, HINT_MISSING, None, (), "missing")


def looks_like_board(port: Any) -> bool:
    """Whether a listed port is probably a board, not a built-in UART (ttyS0) or a USB drive.

    Decides whether the companion connects at start or starts a virtual board instead.
    """
    if getattr(port, "kind", None) in ("drive", "missing", "virtual"):
        return False
    if getattr(port, "likely_boards", None) or getattr(port, "likely_board", None):
        return True
    return getattr(port, "vid", None) is not None


#: The group that owns serial ports on Debian, Ubuntu and Fedora (Arch uses "uucp"; the hint
#: names whichever group owns the port).
SERIAL_GROUP = "dialout"
_RW_OWNER, _RW_GROUP, _RW_OTHER = 0o600, 0o060, 0o006


def group_advice(group: str = SERIAL_GROUP) -> str:
    """The one wording of "join the port's group", for the warning and for the open error."""
    return (
        f"add yourself to the {group} group: sudo usermod -aG {group} $USER, then log out and "
        "in again"
    )


def _group_name(gid: int) -> str:
    try:
        import grp  # POSIX only, and only asked for on Linux

        return str(grp.getgrgid(gid).gr_name)
    except (ImportError, KeyError):
        return str(gid)


def serial_permission_hint(
    devices: Iterable[str],
    *,
    platform: str = sys.platform,
    euid: Callable[[], int] | None = None,
    groups: Callable[[], list[int]] | None = None,
    stat: Callable[[str], os.stat_result] = os.stat,
    group_name: Callable[[int], str] = _group_name,
) -> str | None:
    """A warning when this user may not open the serial ports listed, else None.

    On Linux a fresh user is not in the group that owns /dev/ttyUSB* (dialout), so every tool
    fails with "Permission denied" at the first try; saying so before that try saves a lesson's
    first ten minutes. Decided from the device files' owner, group and mode against our own
    uid and groups (the process's groups: a usermod takes effect only at the next login, and
    so does this check). Root, other systems and ports we may already open give None.
    The keyword arguments are for tests (fake stat results, groups and platform).
    """
    if not platform.startswith("linux"):
        return None
    uid = (euid or getattr(os, "geteuid", lambda: 0))()
    if uid == 0:
        return None
    mine = set((groups or getattr(os, "getgroups", list))())
    blocked: dict[str, list[str]] = {}
    for device in devices:
        if "://" in device:
            continue
        try:
            st = stat(device)
        except OSError:
            continue
        if st.st_uid == uid and st.st_mode & _RW_OWNER == _RW_OWNER:
            continue
        if st.st_gid in mine and st.st_mode & _RW_GROUP == _RW_GROUP:
            continue
        if st.st_mode & _RW_OTHER == _RW_OTHER:
            continue
        if st.st_gid in mine or st.st_mode & _RW_GROUP != _RW_GROUP:
            continue  # joining the group would not help: not a case this hint can fix
        blocked.setdefault(group_name(st.st_gid), []).append(device)
    if not blocked:
        return None
    group, names = next(iter(blocked.items()))
    shown = ", ".join(names[:3]) + (" and more" if len(names) > 3 else "")
    return (
        f"you may not open {shown}: {'they belong' if len(names) > 1 else 'it belongs'} to "
        f"the {group} group, and you are not in it. "
        f"To use the board, {group_advice(group)}."
    )


__all__ = [
    "SERIAL_GROUP",
    "group_advice",
    "serial_permission_hint",
    "PortInfo",
    "UsbEntry",
    "describe_port",
    "hint_for_usb",
    "list_ports",
    "looks_like_board",
    "port_info_from_comport",
    "usb_table",
]
