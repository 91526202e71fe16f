"""Images are inspected, and refused before anything is erased when they don't fit."""

from __future__ import annotations

import pytest
from firmware_helpers import esp_app_image, merged_image, uf2_image

from companion_app.firmware.image import (
    ImageError,
    bootloader_offset,
    check_compatible,
    inspect_image,
)

MB = 1024 * 1024


@pytest.mark.parametrize(
    "chip, chip_id, offset",
    [
        ("esp32", 0, 0x1000),
        ("esp32s2", 2, 0x1000),
        ("esp32s3", 9, 0x0),
        ("esp32c3", 5, 0x0),
        ("esp32c6", 13, 0x0),
        ("esp32c5", 23, 0x2000),
        ("esp32p4", 18, 0x2000),
    ],
)
def test_esp_image_chip_and_offset_come_from_its_header(tmp_path, chip, chip_id, offset):
    path = tmp_path / "fw.bin"
    path.write_bytes(merged_image(chip_id, offset))
    info = inspect_image(path)
    assert (info.kind, info.chip, info.offset) == ("esp", chip, offset)
    assert bootloader_offset(chip) == offset
    assert info.micropython_version == "v1.24.1" and info.build_date == "2024-11-29"
    assert info.header_flash_size == "4MB"


def test_esp8266_image_is_recognised_without_an_extended_header():
    info = inspect_image(esp_app_image(None, flash_code=0x40), name="esp8266.bin")
    assert (info.chip, info.offset, info.header_flash_size) == ("esp8266", 0, "4MB")


def test_description_says_what_for_and_where():
    info = inspect_image(merged_image(9, 0), name="s3.bin")
    assert info.describe().startswith("MicroPython v1.24.1 for ESP32-S3 (")
    assert info.describe().endswith("written at 0x0)")


def test_s3_image_on_an_esp32_is_refused_naming_both():
    info = inspect_image(merged_image(9, 0), name="ESP32_GENERIC_S3.bin")
    with pytest.raises(ImageError) as err:
        check_compatible(info, "esp32", 4 * MB)
    text = str(err.value)
    assert "ESP32-S3" in text and "the board is an ESP32" in text
    assert "Nothing was written" in text


def test_truncated_download_is_refused():
    data = merged_image(0, 0x1000)
    with pytest.raises(ImageError, match="truncated"):
        inspect_image(data[: len(data) - 5000], name="cut.bin")
    with pytest.raises(ImageError, match="truncated"):
        inspect_image(data[:0x9000], name="cut-before-app.bin")


def test_random_bytes_and_other_files_are_not_images():
    import os

    with pytest.raises(ImageError, match="not a firmware image"):
        inspect_image(b"\x13" + os.urandom(4000), name="noise.bin")
    with pytest.raises(ImageError, match="web page"):
        inspect_image(b"<!DOCTYPE html><html>404</html>", name="fw.bin")
    with pytest.raises(ImageError, match="ZIP"):
        inspect_image(b"PK\x03\x04" + bytes(100), name="fw.zip")
    with pytest.raises(ImageError, match="empty"):
        inspect_image(b"", name="fw.bin")


def test_image_too_big_for_the_flash_is_refused():
    info = inspect_image(merged_image(0, 0x1000, app_payload=3 * MB), name="big.bin")
    with pytest.raises(ImageError, match="too big"):
        check_compatible(info, "esp32", 2 * MB)
    assert check_compatible(info, "esp32", 4 * MB) == 0x1000


def test_uf2_family_decides_rp2040_or_rp2350():
    assert inspect_image(uf2_image(0xE48BFF56), name="pico.uf2").chip == "rp2040"
    info = inspect_image(uf2_image(0xE48BFF59), name="pico2.uf2")
    assert info.chip == "rp2350" and info.kind == "uf2"
    assert info.micropython_version == "v1.24.1"


def test_truncated_uf2_is_refused():
    data = uf2_image(0xE48BFF56, blocks=8)
    with pytest.raises(ImageError, match="truncated"):
        inspect_image(data[:-100], name="cut.uf2")
    with pytest.raises(ImageError, match="4 of its 8"):
        inspect_image(uf2_image(0xE48BFF56, blocks=4, total=8), name="half.uf2")


def test_uf2_on_an_esp32_is_refused_with_the_right_advice():
    info = inspect_image(uf2_image(0xE48BFF56), name="pico.uf2")
    with pytest.raises(ImageError, match="takes a .bin file"):
        check_compatible(info, "esp32", 4 * MB)
