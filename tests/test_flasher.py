"""Our esptool driver: progress, cancel, and plain errors, against real esptool and virtual chips."""

from __future__ import annotations

import threading

import pytest
from firmware_helpers import merged_image

from companion_app.firmware.flasher import FlashCancelled, Flasher, FlashError
from companion_app.simulator.bootloader import VirtualBootloader


@pytest.fixture
def esp32(tmp_path):
    with VirtualBootloader("esp32", flash_image=tmp_path / "flash.bin") as vb:
        yield vb


def test_detect_reports_chip_mac_and_flash_size(esp32):
    board = Flasher(esp32.port).detect()
    assert board.chip == "esp32"
    assert board.flash_size == 4 * 1024 * 1024
    assert len(board.mac.split(":")) == 6
    assert board.description.startswith("ESP32-D0WD")
    assert esp32.destructive_commands() == []


def test_progress_has_stages_percent_and_time_left(esp32, tmp_path):
    fw = tmp_path / "fw.bin"
    fw.write_bytes(merged_image(0, 0x1000, app_payload=600_000))
    seen = []
    result = Flasher(esp32.port, on_progress=seen.append).flash(str(fw))
    assert result.ok and result.board.chip == "esp32"
    stages = [p.stage for p in seen]
    assert stages.index("Connecting") < stages.index("Writing") < stages.index("Done")
    writing = [p.percent for p in seen if p.stage == "Writing" and p.percent is not None]
    assert len(writing) >= 3 and writing == sorted(writing) and writing[-1] == 100.0
    assert any(p.eta_s is not None for p in seen if p.stage == "Writing")


def test_cancel_mid_write_says_flash_incomplete(esp32, tmp_path):
    fw = tmp_path / "fw.bin"
    fw.write_bytes(merged_image(0, 0x1000, app_payload=1_500_000))
    cancel = threading.Event()

    def on_progress(p):
        if p.stage == "Writing" and (p.percent or 0) > 10:
            cancel.set()

    with pytest.raises(FlashCancelled) as err:
        Flasher(esp32.port, on_progress=on_progress, cancel=cancel).flash(str(fw))
    assert str(err.value).startswith("Flash incomplete — flash again.")
    written = [c for c in esp32.destructive_commands() if c[0] == "FLASH_DEFL_DATA"]
    assert 0 < len(written) < 1_500_000 // 16384  # stopped part-way, as the message says


def test_a_board_not_in_its_bootloader_gets_the_boot_button_advice(vboard):
    # A board running MicroPython answers, but not as a ROM bootloader.
    with pytest.raises(FlashError) as err:
        Flasher(vboard.port).detect()
    assert "hold the BOOT button, press and release EN" in str(err.value)


def test_a_chip_at_uart_speed_takes_the_wire_time_to_flash(tmp_path):
    # What the batch benchmark relies on: a paced chip waits on the wire like a real one.
    fw = tmp_path / "fw.bin"
    fw.write_bytes(merged_image(0, 0x1000, app_payload=60_000))
    with VirtualBootloader("esp32", flash_image=tmp_path / "f.bin", uart_speed=True) as chip:
        import time

        t0 = time.monotonic()
        Flasher(chip.port, baud=460800).flash(str(fw))
        elapsed = time.monotonic() - t0
        assert chip.read_flash(0x1000, fw.stat().st_size) == fw.read_bytes()
    wire = 60_000 * 10 / 460800  # the random app barely compresses; the 0xFF padding does
    assert elapsed >= wire * 0.9
