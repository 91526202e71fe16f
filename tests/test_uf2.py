"""UF2 flashing: find the BOOTSEL drive, copy with progress and fsync, wait for the new port.

A real RP2 mass-storage drive cannot be attached here, so the drive is a folder holding the
INFO_UF2.TXT a Pico's bootrom serves, and "the board reboots" is a real virtual Pico started
when the file lands.
"""

from __future__ import annotations

import threading

import pytest
from firmware_helpers import uf2_image
from waiting import wait_until

from companion_app.firmware.image import ImageError
from companion_app.firmware.uf2 import (
    Uf2Error,
    copy_uf2,
    find_bootsel_drives,
    wait_for_new_port,
)
from companion_app.simulator import VirtualBoard

PICO_INFO = "UF2 Bootloader v3.0\nModel: Raspberry Pi RP2\nBoard-ID: RPI-RP2\n"
PICO2_INFO = "UF2 Bootloader v1.0\nModel: Raspberry Pi RP2350\nBoard-ID: RP2350\n"


@pytest.fixture
def drive(tmp_path):
    mount = tmp_path / "RPI-RP2"
    mount.mkdir()
    (mount / "INFO_UF2.TXT").write_text(PICO_INFO)
    (tmp_path / "USB-STICK").mkdir()
    return tmp_path


def test_finds_only_drives_with_info_uf2(drive):
    found = find_bootsel_drives([drive / "RPI-RP2", drive / "USB-STICK"])
    assert [d.path.name for d in found] == ["RPI-RP2"]
    assert found[0].chip == "rp2040" and found[0].board_id == "RPI-RP2"


def test_copy_reports_progress_and_writes_the_whole_file(drive, tmp_path):
    fw = tmp_path / "RPI_PICO-20241129-v1.24.1.uf2"
    fw.write_bytes(uf2_image(0xE48BFF56, blocks=400))
    seen = []
    target = copy_uf2(
        fw,
        find_bootsel_drives([drive / "RPI-RP2"])[0],
        progress=lambda done, total: seen.append((done, total)),
    )
    assert target.read_bytes() == fw.read_bytes()
    assert seen[-1] == (fw.stat().st_size, fw.stat().st_size) and len(seen) > 1


def test_rp2350_firmware_is_refused_on_an_rp2040_drive(drive, tmp_path):
    fw = tmp_path / "RPI_PICO2_W.uf2"
    fw.write_bytes(uf2_image(0xE48BFF59))
    with pytest.raises(ImageError, match="RP2350"):
        copy_uf2(fw, find_bootsel_drives([drive / "RPI-RP2"])[0])
    assert not (drive / "RPI-RP2" / "RPI_PICO2_W.uf2").exists()


def test_a_bin_file_is_refused_with_advice(drive, tmp_path):
    from firmware_helpers import merged_image

    fw = tmp_path / "ESP32.bin"
    fw.write_bytes(merged_image(0, 0x1000))
    with pytest.raises(Uf2Error, match="takes a .uf2 file"):
        copy_uf2(fw, find_bootsel_drives([drive / "RPI-RP2"])[0])


def test_after_the_copy_the_new_serial_port_is_found(drive, tmp_path):
    fw = tmp_path / "RPI_PICO-20241129-v1.24.1.uf2"
    fw.write_bytes(uf2_image(0xE48BFF56))
    ports: list[str] = []
    boards: list[VirtualBoard] = []

    def bootrom_reboots():  # the Pico leaves BOOTSEL and enumerates as MicroPython
        wait_until((drive / "RPI-RP2" / fw.name).exists, 10, "the UF2 file on the drive")
        vb = VirtualBoard(board="pico", flash_dir=tmp_path / "pico-flash").start()
        boards.append(vb)
        ports.append(vb.port)

    t = threading.Thread(target=bootrom_reboots)
    t.start()
    try:
        copy_uf2(fw, find_bootsel_drives([drive / "RPI-RP2"])[0])
        port = wait_for_new_port(before=[], list_ports=lambda: list(ports), timeout=10)
        assert port == boards[0].port
        from sim_helpers import RawConsole

        c = RawConsole(port)
        c.friendly()
        assert "Raspberry Pi Pico with RP2040" in c.run("\x02")
        c.close()
    finally:
        t.join()
        for vb in boards:
            vb.stop()


def test_no_new_port_gives_a_plain_message():
    with pytest.raises(Uf2Error, match="did not come back"):
        wait_for_new_port(before=["/dev/ttyACM0"], list_ports=lambda: ["/dev/ttyACM0"], timeout=0.3)
