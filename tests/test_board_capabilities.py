"""Board capability data: chips.json merged with each board file, as the wiring rules read it."""

from __future__ import annotations

import copy
import json
from importlib import resources

import pytest

from companion_app.boards import (
    FACT_SEVERITIES,
    AdcChannel,
    list_boards,
    load_board,
    merge_capabilities,
    validate_board_data,
    validate_chip_data,
)

CHIPS_JSON = json.loads(
    resources.files("companion_app.boards").joinpath("chips.json").read_text(encoding="utf-8")
)
BOARD_IDS = [b.id for b in list_boards()]


@pytest.mark.parametrize("chip", [c for c in CHIPS_JSON if not c.startswith("_")])
def test_chip_entry_validates_and_agrees_with_the_virtual_board_keys(chip):
    assert validate_chip_data(chip, CHIPS_JSON[chip]) == []


@pytest.mark.parametrize("board_id", BOARD_IDS)
def test_board_file_with_capabilities_validates(board_id):
    assert validate_board_data(load_board(board_id).to_json(), board_id) == []


@pytest.mark.parametrize("board_id", BOARD_IDS)
def test_every_header_gpio_has_capability_data(board_id):
    board = load_board(board_id)
    for pin in board.gpio_pins(include_internal=True):
        info = board.gpio_info(pin.gpio)
        assert info.exists, f"{board_id} {pin.name}"
        assert info.on_header or not pin.header


@pytest.mark.parametrize("board_id", BOARD_IDS)
def test_every_pin_fact_has_a_source_and_a_known_severity(board_id):
    board = load_board(board_id)
    for kind in ("strapping", "flash_pins", "reserved"):
        for gpio, fact in board.pin_facts(kind).items():
            assert fact.source and fact.what_goes_wrong, (board_id, kind, gpio)
            assert fact.severity in FACT_SEVERITIES
    for kind in ("i2c", "spi", "uart"):
        for bus in board.default_buses(kind):
            assert bus.source, (board_id, kind, bus.id)


@pytest.mark.parametrize("board_id", BOARD_IDS)
def test_no_pin_is_both_flash_and_free(board_id):
    board = load_board(board_id)
    flash = set(board.flash_pins())
    assert not flash & set(board.free_gpios(header_only=False))
    assert not flash & set(board.reserved_pins())


def test_esp32_input_only_pins_have_no_pulls_and_no_output():
    board = load_board("esp32-devkit-v1")
    info = board.gpio_info(34)
    assert info.input_only and info.digital_in and not info.digital_out
    assert not info.pull_up and not info.pull_down and not info.pwm
    assert info.adc == AdcChannel(1, 6) and info.adc.name == "ADC1_CH6"
    assert board.input_only_gpios() == [34, 35, 36, 37, 38, 39]
    assert board.gpio_info(23).pull_up and board.gpio_info(23).free


def test_esp32_dac_touch_and_adc2():
    board = load_board("esp32-devkitc")
    assert board.gpio_info(25).dac == 1 and board.gpio_info(26).dac == 2
    assert board.gpio_info(27).dac is None
    gpio4 = board.gpio_info(4)
    assert gpio4.touch == 0 and gpio4.adc == AdcChannel(2, 0) and gpio4.adc.name == "ADC2_CH0"
    touch = {
        g: board.gpio_info(g).touch for g in board.gpios() if board.gpio_info(g).touch is not None
    }
    assert touch == {4: 0, 0: 1, 2: 2, 15: 3, 13: 4, 12: 5, 14: 6, 27: 7, 33: 8, 32: 9}
    assert set(board.adc2_pins()) == {0, 2, 4, 12, 13, 14, 15, 25, 26, 27}
    assert set(board.adc_pins(unit=1)) == {32, 33, 34, 35, 36, 37, 38, 39}


def test_esp32_strapping_texts_say_what_goes_wrong():
    board = load_board("esp32-devkit-v1")
    assert set(board.strapping_pins()) == {0, 2, 5, 12, 15}
    assert "flash voltage" in board.gpio_info(12).strapping
    assert "1.8 V" in board.gpio_info(12).strapping
    assert "download mode" in board.gpio_info(0).strapping
    assert board.strapping_pins()[12].severity == "warning"


def test_esp32_flash_pins_take_the_safer_reading_for_9_and_10():
    board = load_board("esp32-devkitc")
    assert set(board.flash_pins()) == {6, 7, 8, 9, 10, 11}
    assert board.pin_info("D2").flash is not None and board.pin_info("D2").flash_severity == "error"
    assert "ESPHome" in board.flash_pins()[9].note
    assert board.gpio_info(16).flash is None  # plain WROOM module: no PSRAM


def test_esp32_uart0_pins_are_reserved_warnings():
    info = load_board("esp32-devkit-v1").pin_info("TX0")
    assert info.reserved is not None and info.reserved.severity == "warning"


def test_esp32_cam_reserves_camera_sd_and_psram_pins():
    board = load_board("esp32-cam")
    reserved = board.reserved_pins()
    camera = {0, 5, 18, 19, 21, 22, 23, 25, 26, 27, 32, 34, 35, 36, 39}
    assert camera <= set(reserved)
    assert all("camera" in reserved[g].use for g in camera)
    assert "microSD" in reserved[14].use and "flash LED" in reserved[4].use
    assert set(board.flash_pins()) >= {16, 17}
    assert board.pin_info("16").flash_severity == "error"
    assert board.default_bus("uart", 1).tx == 5  # SPIRAM firmware defaults


def test_pico_w_wireless_pins_are_errors_and_plain_pico_only_notes():
    for board_id in ("pico-w", "pico2-w"):
        board = load_board(board_id)
        for gpio in (23, 24, 25, 29):
            reserved = board.gpio_info(gpio).reserved
            assert reserved is not None and reserved.severity == "error", (board_id, gpio)
            assert "CYW43439" in reserved.text
    pico = load_board("pico")
    assert pico.gpio_info(23).reserved.severity == "warning"
    assert pico.gpio_info(25).reserved is None  # the LED: fine to use
    assert pico.gpio_info(29).adc == AdcChannel(0, 3) and pico.gpio_info(29).adc.name == "ADC3"
    assert {g: a.channel for g, a in pico.adc_pins().items()} == {26: 0, 27: 1, 28: 2, 29: 3}
    assert pico.strapping_pins() == {} and pico.flash_pins() == {}


def test_pico_default_buses_follow_the_sdk_not_the_old_quickref():
    pico = load_board("pico")
    i2c0 = pico.default_bus("i2c", 0)
    assert (i2c0.scl, i2c0.sda) == (5, 4)
    assert "17562" in i2c0.note
    assert (pico.default_bus("i2c", 1).scl, pico.default_bus("i2c", 1).sda) == (7, 6)
    spi0, spi1 = pico.default_bus("spi", 0), pico.default_bus("spi", 1)
    assert (spi0.sck, spi0.mosi, spi0.miso) == (18, 19, 16)
    assert (spi1.sck, spi1.mosi, spi1.miso) == (10, 11, 8)
    assert (pico.default_bus("uart", 1).tx, pico.default_bus("uart", 1).rx) == (4, 5)


def test_esp32_default_buses():
    board = load_board("esp32-devkit-v1")
    assert dict(board.default_bus("i2c", 0).pins) == {"scl": 18, "sda": 19}
    assert dict(board.default_bus("i2c", "1").pins) == {"scl": 25, "sda": 26}
    hspi = board.default_bus("spi", 1)
    assert (hspi.name, hspi.sck, hspi.mosi, hspi.miso) == ("HSPI", 14, 13, 12)
    uart1 = board.default_bus("uart", 1)
    assert (uart1.tx, uart1.rx) == (10, 9) and "flash" in uart1.note
    assert board.default_bus("uart", 3) is None


def test_s3_usb_pins_octal_psram_and_touch():
    board = load_board("esp32-s3-devkitc-1")
    usb = board.gpio_info(19).reserved
    assert usb.severity == "warning" and "USB" in usb.text
    assert board.gpio_info(20).reserved.severity == "warning"
    assert set(board.strapping_pins()) == {0, 3, 45, 46}
    assert board.gpio_info(35).flash_severity == "warning"  # octal PSRAM only on R8 modules
    assert board.gpio_info(30).flash_severity == "error"
    assert board.gpio_info(14).touch == 14 and board.gpio_info(15).touch is None
    assert board.gpio_info(11).adc == AdcChannel(2, 0)
    assert board.gpio_info(25).exists is False
    assert (board.default_bus("i2c", 0).scl, board.default_bus("i2c", 0).sda) == (9, 8)


def test_c3_strapping_flash_and_usb():
    board = load_board("esp32-c3-devkitm-1")
    assert set(board.strapping_pins()) == {2, 8, 9}
    assert "download mode" in board.gpio_info(9).strapping
    assert set(board.flash_pins()) == {12, 13, 14, 15, 16, 17}
    assert board.gpio_info(18).reserved.severity == "warning"
    assert board.gpio_info(4).adc == AdcChannel(1, 4)
    assert board.gpio_info(4).touch is None and board.gpio_info(4).dac is None


def test_esp8266_gpio16_no_pullup_and_a0_analog_only():
    nodemcu = load_board("nodemcu")
    d0 = nodemcu.pin_info("D0")
    assert d0.gpio == 16 and not d0.pull_up and not d0.pwm
    assert nodemcu.gpio_info(5).pull_up and not nodemcu.gpio_info(5).pull_down
    a0 = nodemcu.pin_info("A0")
    assert a0.gpio is None and a0.adc == AdcChannel(0, 0)
    assert a0.input_only and not a0.digital_in and not a0.digital_out and not a0.pwm
    assert not any(nodemcu.gpio_info(g).adc for g in nodemcu.gpios())
    assert set(nodemcu.strapping_pins()) == {0, 2, 15}
    assert set(nodemcu.flash_pins()) == {6, 7, 8, 9, 10, 11}
    assert nodemcu.default_bus("i2c", 0) is None and "software" in nodemcu.bus_note("i2c")
    assert load_board("d1-mini").pin_info("A0").adc == AdcChannel(0, 0)


def test_logic_voltage_is_never_5v_tolerant():
    for board in list_boards():
        assert board.logic_voltage == 3.3
        assert board.five_volt_tolerant is False, board.id
    assert "safer reading" in load_board("nodemcu").capabilities["five_volt_tolerant"]["note"]


def test_m5stick_power_hold_is_an_error():
    board = load_board("m5stickc-plus2")
    assert board.gpio_info(4).reserved.severity == "error"
    assert board.gpio_info(36).input_only and board.gpio_info(37).input_only


def test_unknown_gpio_and_pin_names():
    board = load_board("esp32-devkit-v1")
    assert board.gpio_info(24).exists is False and board.gpio_info(24).free is False
    assert board.pin_info("NOPE") is None and board.pin_info("GND.1") is None


def test_board_entries_override_and_delete_chip_entries():
    chip = CHIPS_JSON["esp32"]
    board = {
        "gpio": {"37": {"exists": False}},
        "reserved": {"1": None},
        "buses": {"uart": {"2": None}},
    }
    merged = merge_capabilities(chip, board)
    assert 37 not in merged["gpio"] and 1 not in merged["reserved"] and 3 in merged["reserved"]
    assert 2 not in merged["buses"]["uart"] and 1 in merged["buses"]["uart"]


def test_validator_reports_capability_problems():
    data = copy.deepcopy(load_board("esp32-devkit-v1").to_json())
    data["pins"].append({"name": "D24", "label": "D24", "gpio": 24, "kind": "gpio"})
    data["reserved"] = {"6": {"use": "x", "what_goes_wrong": "y", "severity": "fatal"}}
    data["gpio"] = {"4": {"adc": None}}
    data["buses"] = {"uart": {"1": {"tx": 10, "rx": 9, "source": "s"}}}
    problems = " | ".join(validate_board_data(data, "esp32-devkit-v1"))
    assert "pin 'D24' (GPIO24) has no capability data" in problems
    assert "severity 'fatal'" in problems
    assert 'reserved GPIO6 needs "source"' in problems
    assert "gpio 4 changes a capability of the chip but gives no source" in problems
    data.pop("gpio")
    data["reserved"] = {
        "6": {"use": "x", "what_goes_wrong": "y", "severity": "error", "source": "s"}
    }
    problems = " | ".join(validate_board_data(data, "esp32-devkit-v1"))
    assert "GPIO6 is both a flash pin and a reserved pin" in problems
    assert "UART(1) tx defaults to flash pin GPIO10 without a note" in problems
