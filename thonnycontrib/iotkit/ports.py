"""Which serial port Thonny's MicroPython backend uses, and the pty patch for virtual boards.

Facts from Thonny 5.0.1 (see docs/thonny.md):

- The port option is ``"<BackendName>.port"`` (``ESP32.port``, ``RP2040.port``...), default
  ``"auto"``; ``"webrepl"`` means WebREPL. A running bare-metal proxy keeps the resolved port
  in ``_port`` (``get_current_switcher_configuration()`` reports the same value).
- Thonny's backend opens the port with ``serial.Serial`` (not ``serial_for_url``), so a pty
  path works there but ``socket://`` does not.
- The front end, however, looks every port up in ``mp_front.list_serial_ports()`` (pyserial's
  ``comports()``, which never lists ``/dev/pts/N``) and raises "Port /dev/pts/N not found" on
  the first prompt (thonny#3916). `expose_virtual_ports` wraps that module-level function so a
  pty port is listed too; every caller in ``mp_front`` looks the name up at call time.

Nothing here imports Thonny at module level: the plugin must load even if Thonny's internals
move, and each function degrades to "no port" rather than raising.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any, Callable, Iterable

log = logging.getLogger(__name__)

WEBREPL = "webrepl"
PTY_RE = re.compile(r"^/dev/pts/\d+$")
VIRTUAL_DESCRIPTION = "IoT Kit virtual board"
PTY_DESCRIPTION = "Pseudo-terminal (virtual board)"

# Thonny backend names for our chips; "RP2040" also serves the RP2350 (Pico 2).
BACKEND_FOR_CHIP = {
    "esp8266": "ESP8266",
    "rp2040": "RP2040",
    "rp2350": "RP2040",
}


def backend_for_chip(chip: str) -> str:
    """Thonny's interpreter (run.backend_name) for a chip: ESP32 for every esp32 variant."""
    if chip in BACKEND_FOR_CHIP:
        return BACKEND_FOR_CHIP[chip]
    return "ESP32" if chip.startswith("esp32") else "GenericMicroPython"


def _workbench() -> Any | None:
    try:
        from thonny import get_workbench

        return get_workbench()
    except Exception:  # noqa: BLE001 - no Thonny, or not started
        return None


def _runner() -> Any | None:
    try:
        from thonny import get_runner

        return get_runner()
    except Exception:  # noqa: BLE001
        return None


def bare_metal_proxy_class() -> type | None:
    try:
        from thonny.plugins.micropython.mp_front import BareMetalMicroPythonProxy
    except Exception:  # noqa: BLE001 - Thonny without its MicroPython plugin
        return None
    return BareMetalMicroPythonProxy


def backend_name() -> str | None:
    wb = _workbench()
    if wb is None:
        return None
    try:
        return wb.get_option("run.backend_name")
    except Exception:  # noqa: BLE001
        return None


def is_bare_metal_backend(name: str | None) -> bool:
    """Whether `name` is a MicroPython-over-serial interpreter (ESP32, RP2040, Generic...)."""
    wb, base = _workbench(), bare_metal_proxy_class()
    if not name or wb is None or base is None:
        return False
    spec = wb.get_backends().get(name)
    proxy_class = getattr(spec, "proxy_class", None)
    return isinstance(proxy_class, type) and issubclass(proxy_class, base)


def configured_port(name: str | None = None) -> str | None:
    """The ``<backend>.port`` option of the chosen (or given) bare-metal backend, as written."""
    wb = _workbench()
    name = name or backend_name()
    if wb is None or not is_bare_metal_backend(name):
        return None
    try:
        value = wb.get_option(f"{name}.port")
    except Exception:  # noqa: BLE001 - not registered
        return None
    return str(value) if value else None


def current_proxy() -> Any | None:
    runner = _runner()
    if runner is None:
        return None
    try:
        return runner.get_backend_proxy()
    except Exception:  # noqa: BLE001
        return None


def held_port() -> str | None:
    """The serial port Thonny's running MicroPython backend holds now, or None.

    None for CPython, for WebREPL, when no backend runs, and when "auto" found no board.
    """
    base = bare_metal_proxy_class()
    proxy: Any = current_proxy()
    if base is None or not isinstance(proxy, base):
        return None
    try:
        alive = bool(getattr(proxy, "process_is_alive")())
    except Exception:  # noqa: BLE001
        alive = False
    port = getattr(proxy, "_port", None)
    if alive and port and port != WEBREPL:
        return str(port)
    return None


def is_existing_pty(port: str | None) -> bool:
    return bool(port) and bool(PTY_RE.match(str(port))) and os.path.exists(str(port))


def virtual_port_infos(extra: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(device, description) pairs to add to Thonny's port list.

    The configured port when it is an existing pty (someone typed it, or we set it), plus the
    ports of virtual boards this plugin started (`extra`).
    """
    found: dict[str, str] = {}
    for device, description in extra:
        if device:
            found[device] = description
    port = configured_port()
    if is_existing_pty(port) and port not in found:
        found[str(port)] = PTY_DESCRIPTION
    return list(found.items())


_patched: dict[str, Any] = {}


def expose_virtual_ports(extra: Callable[[], Iterable[tuple[str, str]]]) -> bool:
    """Make Thonny list pty ports (thonny#3916); True if the patch is in place.

    `extra()` returns (device, description) of the virtual boards we started. Safe to call
    twice; if Thonny's internals differ, it logs and leaves Thonny alone.
    """
    try:
        import thonny.plugins.micropython.mp_front as mpf
        from serial.tools.list_ports_common import ListPortInfo
    except Exception:  # noqa: BLE001
        log.info("Thonny's MicroPython front end is not there: virtual board ports stay hidden")
        return False
    original = getattr(mpf, "list_serial_ports", None)
    if not callable(original):
        log.warning("mp_front.list_serial_ports is missing: virtual board ports stay hidden")
        return False
    if getattr(original, "_iotkit_patch", False):
        return True

    def list_serial_ports(*args: Any, **kwargs: Any) -> list[Any]:
        ports = list(original(*args, **kwargs))
        try:
            known = {p.device for p in ports}
            for device, description in virtual_port_infos(extra()):
                if device in known:
                    continue
                info = ListPortInfo(device)
                info.description = description
                ports.append(info)
        except Exception:  # noqa: BLE001 - never break Thonny's own port list
            log.exception("adding virtual ports to Thonny's list failed")
        return ports

    list_serial_ports._iotkit_patch = True  # type: ignore[attr-defined]
    list_serial_ports.__wrapped__ = original  # type: ignore[attr-defined]
    list_serial_ports.__doc__ = original.__doc__
    mpf.list_serial_ports = list_serial_ports
    _patched["mp_front"] = original
    log.info("Thonny's serial port list now includes virtual boards (pty ports)")
    return True


def forget_ptys_as_known_boards() -> None:
    """Undo a side effect of a pty connection: Thonny remembers the backend per USB VID/PID,
    and a pty has none, so it would later offer (None, None) ports such as ttyS0 as boards."""
    wb = _workbench()
    if wb is None:
        return
    try:
        remembered = wb.get_option("serial.last_backend_per_vid_pid")
        if isinstance(remembered, dict) and (None, None) in remembered:
            remembered = dict(remembered)
            del remembered[(None, None)]
            wb.set_option("serial.last_backend_per_vid_pid", remembered)
    except Exception:  # noqa: BLE001
        log.debug("could not clean serial.last_backend_per_vid_pid", exc_info=True)
