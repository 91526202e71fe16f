"""The virtual board: the real MicroPython interpreter with emulated pins, sensors and Wi-Fi.

Why the names below are looked up lazily (PEP 562): loading `host` only when one of its names
is asked for keeps `import companion_app.simulator`, `iotkit sim --help` and the practice chip
cheap on every OS, and a machine without the interpreter's wheel gets the friendly message of
`virtual_board_unavailable()` instead of an ImportError.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from companion_app.simulator.host import (
        SimulatorUnavailable,
        VirtualBoard,
        default_flash_dir,
        micropython_available,
    )

__all__ = [
    "VirtualBoard",
    "SimulatorUnavailable",
    "default_flash_dir",
    "micropython_available",
    "virtual_board_unavailable",
]
_FROM_HOST = ("VirtualBoard", "SimulatorUnavailable", "default_flash_dir", "micropython_available")


def virtual_board_unavailable() -> str | None:
    """Why a virtual board cannot start on this machine (one sentence for people), or None.

    The one place that answers "can the virtual board run here?" before anything is started,
    so that the board pickers can grey it out and say why instead of failing after a click.
    """
    from companion_app.errors import IotkitError
    from companion_app.simulator import host

    try:
        host._check_available()
    except IotkitError as exc:
        return str(exc)
    return None


def __getattr__(name: str) -> Any:
    if name in _FROM_HOST:
        from companion_app.simulator import host

        return getattr(host, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
