"""The plug-in's settings, read from Thonny's options (``iotkit.*``) each time they are needed.

Thonny keeps options in its configuration.ini and the IoT Kit options page (options.py) writes
them; nothing here caches a value, so a changed option applies at the next use. Every reader
falls back to its default instead of raising: a broken configuration.ini must not break a view.
"""

from __future__ import annotations

import logging
from typing import Any

from companion_app.boards import DEFAULT_BOARD

log = logging.getLogger(__name__)

DEFAULT_BAUD = 115200
OPTION_DEFAULTS: dict[str, Any] = {
    "iotkit.board": DEFAULT_BOARD,
    "iotkit.firmware_cache": "",
    "iotkit.baud": DEFAULT_BAUD,
    "iotkit.virtual_flash_dir": "",  # not on the page: "" is the user's data folder
    "iotkit.previous_backend": "",  # what "Connect Thonny to a virtual board" replaced
    "iotkit.previous_port": "",
}


def workbench() -> Any:
    """Thonny's workbench (imported late: this module also loads where Thonny is not running)."""
    from thonny import get_workbench

    return get_workbench()


def register_defaults(wb: Any) -> None:
    for name, value in OPTION_DEFAULTS.items():
        wb.set_default(name, value)


def _text(name: str) -> str:
    try:
        return str(workbench().get_option(name) or "").strip()
    except Exception:  # noqa: BLE001 - no workbench, or the option is not registered
        return ""


def board_id() -> str:
    """The default board of the options page: Check wiring, the Deploy form, virtual boards."""
    return _text("iotkit.board") or DEFAULT_BOARD


def baud() -> int:
    """The REPL speed when IoT Kit opens the port itself."""
    try:
        return int(workbench().get_option("iotkit.baud") or DEFAULT_BAUD)
    except Exception:  # noqa: BLE001 - not a number, or no workbench
        return DEFAULT_BAUD


def firmware_cache_dir() -> str | None:
    return _text("iotkit.firmware_cache") or None


def firmware_cache() -> Any | None:
    """The Flash panel's cache for the folder of the options, or None for the panel's default
    ($IOTKIT_FIRMWARE_CACHE, else the user cache)."""
    folder = firmware_cache_dir()
    if folder is None:
        return None
    from companion_app.firmware.cache import FirmwareCache

    return FirmwareCache(folder)


def virtual_flash_dir() -> str | None:
    """Where a virtual board keeps its files; None: the user's data folder (iotkit sim's own)."""
    return _text("iotkit.virtual_flash_dir") or None
