"""Which port Thonny's MicroPython backend uses: a serial port, or WebREPL to a virtual board.

Facts from Thonny 5.0.1 (see docs/thonny.md):

- The port option is ``"<BackendName>.port"`` (``ESP32.port``, ``RP2040.port``...), default
  ``"auto"``; ``"webrepl"`` means WebREPL, with ``"<BackendName>.webrepl_url"`` and
  ``".webrepl_password"``. A running bare-metal proxy keeps the resolved port in ``_port``
  (``get_current_switcher_configuration()`` reports the same value).
- Thonny's backend opens a serial port with ``serial.Serial`` (not ``serial_for_url``), so
  ``socket://`` is impossible there, and its front end only accepts ports that pyserial's
  ``comports()`` lists (no pty: thonny#3916). WebREPL has neither limit, on any OS, so a virtual
  board is reached that way: no port list to patch (IoT Kit <= issue 11 wrapped
  ``mp_front.list_serial_ports`` to list ptys; that patch is gone).
- The ESP32, ESP8266 and RP2040 backends offer WebREPL in their options page; the Generic one
  does not (``allow_webrepl``).

Nothing here imports Thonny at module level: the plugin must load even if Thonny's internals
move, and each function degrades to "no port" rather than raising.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

WEBREPL = "webrepl"
DEFAULT_WEBREPL_URL = "ws://192.168.4.1:8266/"  # Thonny's default for <backend>.webrepl_url
# Thonny's backends whose options page offers WebREPL (their config pages' allow_webrepl).
WEBREPL_BACKENDS = frozenset({"ESP32", "ESP8266", "RP2040"})

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
    return _backend_option("port", name)


def _backend_option(key: str, name: str | None) -> str | None:
    """The ``<backend>.<key>`` option of the chosen (or given) bare-metal backend, or None."""
    wb = _workbench()
    name = name or backend_name()
    if wb is None or not is_bare_metal_backend(name):
        return None
    try:
        value = wb.get_option(f"{name}.{key}")
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


def held_webrepl_url() -> str | None:
    """The WebREPL URL Thonny's running MicroPython backend is connected to, or None."""
    base = bare_metal_proxy_class()
    proxy: Any = current_proxy()
    if base is None or not isinstance(proxy, base):
        return None
    try:
        alive = bool(getattr(proxy, "process_is_alive")())
    except Exception:  # noqa: BLE001
        alive = False
    if not alive or getattr(proxy, "_port", None) != WEBREPL:
        return None
    return configured_webrepl_url(getattr(proxy, "backend_name", None))


def configured_webrepl_url(name: str | None = None) -> str | None:
    """The ``<backend>.webrepl_url`` option of the chosen (or given) bare-metal backend."""
    return _backend_option("webrepl_url", name)
