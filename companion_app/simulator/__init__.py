"""The virtual board: MicroPython's unix port with emulated pins, sensors and Wi-Fi."""

from companion_app.simulator.host import (
    SimulatorUnavailable,
    VirtualBoard,
    default_flash_dir,
    micropython_available,
)

__all__ = ["VirtualBoard", "SimulatorUnavailable", "default_flash_dir", "micropython_available"]
