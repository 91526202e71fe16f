"""MicroPython programs that `iotkit deploy` copies to boards (they run on the board, not here)."""

from importlib import resources
from pathlib import Path


def scripts_dir() -> Path:
    """Where the bundled device scripts are installed."""
    return Path(str(resources.files(__name__)))
