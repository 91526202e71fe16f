import os
import sys
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).parent / "artifacts"
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def vboard(tmp_path):
    """A virtual ESP32 with the default wiring and a fresh flash."""
    from companion_app.simulator import VirtualBoard

    board = VirtualBoard(flash_dir=tmp_path / "flash")
    board.start()
    yield board
    board.stop()


@pytest.fixture
def console(vboard):
    from sim_helpers import RawConsole

    c = RawConsole(vboard.port)
    c.friendly()
    yield c
    c.close()


def venv_bin(name: str) -> str:
    """A console script installed beside the running interpreter (mpremote, iotkit)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name
