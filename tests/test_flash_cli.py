"""`iotkit flash` against virtual chips in download mode, with the real esptool underneath.

The acceptance: wrong-chip, truncated, random-bytes and oversize images are refused with exit
code 1 and the bootloader's log shows no erase or write command was sent.
"""

from __future__ import annotations

import json
import os

import pytest
from firmware_helpers import esp_app_image, merged_image

from companion_app.cli import main
from companion_app.simulator.bootloader import VirtualBootloader

MB = 1024 * 1024


@pytest.fixture
def chip_factory(tmp_path):
    chips = []

    def make(chip: str, flash_size: int | None = None) -> VirtualBootloader:
        vb = VirtualBootloader(
            chip, flash_image=tmp_path / f"{chip}-{len(chips)}.flash", flash_size=flash_size
        )
        vb.start()
        chips.append(vb)
        return vb

    yield make
    for vb in chips:
        vb.stop()


@pytest.mark.parametrize(
    "chip, image, offset",
    [
        ("esp32", lambda: merged_image(0, 0x1000, app_payload=200_000), 0x1000),
        ("esp32s3", lambda: merged_image(9, 0x0, app_payload=200_000), 0x0),
        ("esp8266", lambda: esp_app_image(None, payload=200_000, flash_code=0x40), 0x0),
    ],
)
def test_flash_writes_the_image_at_the_chips_offset(
    chip_factory, tmp_path, capsys, chip, image, offset
):
    vb = chip_factory(chip)
    fw = tmp_path / "fw.bin"
    fw.write_bytes(image())
    assert main(["flash", "--port", vb.port, "--firmware", str(fw), "--yes", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] and result["chip"] == chip and result["image"]["offset"] == offset
    data = fw.read_bytes()
    assert vb.read_flash()[offset : offset + len(data)] == data


def _refused(vb, fw, capsys) -> str:
    code = main(["flash", "--port", vb.port, "--firmware", str(fw), "--yes"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.startswith("error: ")
    assert vb.destructive_commands() == []  # nothing erased, nothing written
    return err


def test_wrong_chip_image_is_refused_before_any_write(chip_factory, tmp_path, capsys):
    vb = chip_factory("esp32")
    fw = tmp_path / "ESP32_GENERIC_S3.bin"
    fw.write_bytes(merged_image(9, 0))
    err = _refused(vb, fw, capsys)
    assert "ESP32-S3" in err and "the board is an ESP32" in err


def test_truncated_image_is_refused(chip_factory, tmp_path, capsys):
    vb = chip_factory("esp32")
    data = merged_image(0, 0x1000, app_payload=100_000)
    fw = tmp_path / "cut.bin"
    fw.write_bytes(data[: len(data) - 30_000])
    assert "truncated" in _refused(vb, fw, capsys)


def test_random_bytes_are_refused(chip_factory, tmp_path, capsys):
    vb = chip_factory("esp32")
    fw = tmp_path / "noise.bin"
    fw.write_bytes(b"\x00" + os.urandom(50_000))
    assert "not a firmware image" in _refused(vb, fw, capsys)


def test_oversize_image_is_refused(chip_factory, tmp_path, capsys):
    vb = chip_factory("esp32", flash_size=2 * MB)
    fw = tmp_path / "big.bin"
    fw.write_bytes(merged_image(0, 0x1000, app_payload=2 * MB))
    assert "too big" in _refused(vb, fw, capsys)


def test_batch_flashes_boards_in_parallel_with_a_summary(chip_factory, tmp_path, capsys):
    boards = [chip_factory("esp32") for _ in range(3)] + [chip_factory("esp32s3")]
    fw = tmp_path / "fw.bin"
    fw.write_bytes(merged_image(0, 0x1000, app_payload=100_000))
    ports = ",".join(vb.port for vb in boards)
    code = main(["flash", "--ports", ports, "--firmware", str(fw), "--yes"])
    out, err = capsys.readouterr()
    assert code == 1  # the S3 refused the ESP32 image; the others are flashed
    lines = out.strip().splitlines()
    assert lines[0].split()[:5] == ["port", "chip", "MAC", "result", "time"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    for vb in boards[:3]:
        assert rows[vb.port][1] == "esp32" and rows[vb.port][3] == "ok"
        assert vb.read_flash()[0x1000 : 0x1000 + fw.stat().st_size] == fw.read_bytes()
    assert rows[boards[3].port][3] == "FAILED"
    assert f"error: {boards[3].port}: Wrong firmware" in err
    assert boards[3].destructive_commands() == []


def test_board_id_takes_the_image_from_the_cache(chip_factory, tmp_path, capsys, monkeypatch):
    from companion_app.firmware.cache import FirmwareCache

    src = tmp_path / "ESP32_GENERIC-20241129-v1.24.1.bin"
    src.write_bytes(merged_image(0, 0x1000))
    FirmwareCache(tmp_path / "lab-share").add("esp32-devkit-v1", src, "v1.24.1", "20241129")
    vb = chip_factory("esp32")
    code = main(
        [
            "flash",
            "--port",
            vb.port,
            "--board",
            "esp32-devkit-v1",
            "--cache",
            str(tmp_path / "lab-share"),
            "--yes",
            "--json",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["image"]["micropython_version"] == "v1.24.1"


def test_usage_errors_exit_2(tmp_path, capsys):
    assert main(["flash", "--firmware", "x.bin"]) == 2  # no port
    fw = tmp_path / "fw.bin"
    fw.write_bytes(merged_image(0, 0x1000))
    assert main(["flash", "--port", "p", "--firmware", str(fw), "--version", "1.2"]) == 2
    assert "--version goes with --board" in capsys.readouterr().err
