"""Which pins the Deploy panel offers for each config pin field, on real board and part data."""

from __future__ import annotations

import json

import pytest

from companion_app.boards import list_boards, load_board
from companion_app.device.pinchoice import PIN_FIELDS, pin_choices

ESP32 = "esp32-devkit-v1"
FLASH_ESP32 = set(range(6, 12))
INPUT_ONLY_ESP32 = {34, 35, 36, 37, 38, 39}
DHT_CONFIG = {"sensor": "dht22"}
BME_CONFIG = {"sensor": "bme280"}


def esp32_diagram(*connections: list[str], parts: list[dict] | None = None) -> dict:
    return {
        "version": 1,
        "parts": [{"type": "wokwi-esp32-devkit-v1", "id": "esp", "attrs": {}}, *(parts or [])],
        "connections": [[a, b, "green", []] for a, b in connections],
    }


DHT = {"type": "wokwi-dht22", "id": "dht1", "attrs": {}}


def test_esp32_dht_pin_skips_flash_and_input_only_pins_and_offers_gpio14():
    choices = pin_choices(ESP32, "sensor_pin", DHT_CONFIG)
    assert 14 in choices.valid
    assert not FLASH_ESP32 & set(choices.valid)
    assert not INPUT_ONLY_ESP32 & set(choices.valid)
    assert choices.suggested in choices.valid
    assert choices.valid == sorted(choices.valid)


def test_strapping_pins_are_offered_with_a_warning_but_never_suggested():
    choices = pin_choices(ESP32, "sensor_pin", {"sensor": "dht22", "sensor_pin": 12})
    assert 12 in choices.valid
    assert "strapping" in choices.notes[12]
    assert choices.suggested != 12  # the config said 12, but a free pin is better
    assert choices.suggested not in load_board(ESP32).strapping_pins()
    assert "⚠" in choices.label(12, ESP32)
    assert choices.label(14, ESP32) == "GPIO14 (D14)"


def test_button_without_external_pull_up_cannot_use_esp32_input_only_pins():
    plain = pin_choices(ESP32, "button_pin", {})
    assert not INPUT_ONLY_ESP32 & set(plain.valid)
    pulled = pin_choices(ESP32, "button_pin", {}, external_pull_up=True)
    # Only the input-only pins that are on the DevKit's header: 34, 35, VP (36) and VN (39).
    assert {34, 35, 36, 39} <= set(pulled.valid)
    assert not FLASH_ESP32 & set(pulled.valid)


def test_the_boards_own_button_and_led_are_suggested_even_off_the_header():
    board = load_board(ESP32)
    button = pin_choices(ESP32, "button_pin", {})
    assert button.suggested == board.onboard_button == 0  # BOOT: no header pin, but it is there
    assert "button" in button.notes[0] and "strapping" in button.notes[0]
    led = pin_choices(ESP32, "led_pin", {})
    assert led.suggested == board.onboard_led["gpio"] == 2
    assert not INPUT_ONLY_ESP32 & set(led.valid)  # an LED needs a pin that drives


def test_i2c_fields_suggest_the_boards_default_i2c0_pins():
    for board_id, sda, scl in ((ESP32, 19, 18), ("pico", 4, 5), ("esp32-c3-devkitm-1", 8, 9)):
        bus = load_board(board_id).default_bus("i2c", 0)
        assert (bus.sda, bus.scl) == (sda, scl)  # what board data says MicroPython uses
        assert pin_choices(board_id, "i2c_sda", BME_CONFIG).suggested == sda
        assert pin_choices(board_id, "i2c_scl", BME_CONFIG).suggested == scl


def test_without_a_default_bus_sda_and_scl_still_get_two_different_pins():
    # The ESP8266 has software I2C only, so the board data names no default pins.
    assert load_board("nodemcu").default_bus("i2c", 0) is None
    config = {"sensor": "bme280", "i2c_sda": 21, "i2c_scl": 22}  # ESP32 numbers: not on it
    sda = pin_choices("nodemcu", "i2c_sda", config).suggested
    scl = pin_choices("nodemcu", "i2c_scl", config).suggested
    assert sda is not None and scl is not None and sda != scl


def test_esp8266_gpio16_has_no_pull_up_so_no_dht_or_button_but_an_led_is_fine():
    assert 16 not in pin_choices("nodemcu", "sensor_pin", DHT_CONFIG).valid
    assert 16 not in pin_choices("nodemcu", "button_pin", {}).valid
    assert 16 in pin_choices("nodemcu", "led_pin", {}).valid
    assert 16 in pin_choices("nodemcu", "button_pin", {}, external_pull_up=True).valid


def test_a_diagram_wiring_the_dht_to_d27_makes_27_the_suggestion():
    diagram = esp32_diagram(
        ["dht1:VCC", "esp:3V3"], ["dht1:GND", "esp:GND.1"], ["dht1:SDA", "esp:D27"], parts=[DHT]
    )
    choices = pin_choices(ESP32, "sensor_pin", DHT_CONFIG, diagram)
    assert choices.wired == 27
    assert choices.suggested == 27
    assert choices.why == "wired in the diagram"
    without = pin_choices(ESP32, "sensor_pin", DHT_CONFIG)
    assert without.suggested != 27 and without.wired is None


def test_a_diagram_file_path_works_too(tmp_path):
    path = tmp_path / "diagram.json"
    path.write_text(json.dumps(esp32_diagram(["dht1:SDA", "esp:D26"], parts=[DHT])))
    assert pin_choices(ESP32, "sensor_pin", DHT_CONFIG, str(path)).suggested == 26


def test_a_dht_wired_to_an_input_only_pin_is_reported_and_another_pin_suggested():
    diagram = esp32_diagram(["dht1:SDA", "esp:D34"], parts=[DHT])
    choices = pin_choices(ESP32, "sensor_pin", DHT_CONFIG, diagram)
    assert choices.wired == 34
    assert "only read" in choices.problem
    assert choices.suggested in choices.valid and choices.suggested != 34


def test_led_through_its_resistor_button_and_bme280_are_found_in_the_diagram():
    parts = [
        {"type": "wokwi-led", "id": "led1"},
        {"type": "wokwi-resistor", "id": "r1", "attrs": {"value": "220"}},
        {"type": "wokwi-pushbutton", "id": "btn1"},
        {"type": "iotkit-bme280", "id": "bme1"},
    ]
    diagram = esp32_diagram(
        ["led1:A", "r1:1"],
        ["r1:2", "esp:D25"],
        ["led1:C", "esp:GND.1"],
        ["btn1:2.r", "esp:D33"],  # either side of the button may go to the GPIO
        ["btn1:1.l", "esp:GND.2"],
        ["bme1:SDA", "esp:D21"],
        ["bme1:SCL", "esp:D22"],
        parts=parts,
    )
    assert pin_choices(ESP32, "led_pin", {}, diagram).suggested == 25
    assert pin_choices(ESP32, "button_pin", {}, diagram).suggested == 33
    assert pin_choices(ESP32, "i2c_sda", BME_CONFIG, diagram).suggested == 21
    assert pin_choices(ESP32, "i2c_scl", BME_CONFIG, diagram).suggested == 22


def test_pico_offers_only_its_gp_pins_and_its_led_on_gp25():
    board = load_board("pico")
    header = {p.gpio for p in board.gpio_pins()}
    for field in PIN_FIELDS:
        choices = pin_choices("pico", field, DHT_CONFIG)
        extra = {25} if field == "led_pin" else set()
        assert set(choices.valid) <= header | extra, field
        assert not {23, 24, 29} & set(choices.valid), field
        assert choices.suggested in choices.valid
    led = pin_choices("pico", "led_pin", {})
    assert led.suggested == 25
    assert pin_choices("pico", "sensor_pin", DHT_CONFIG).label(15, "pico") == "GPIO15 (GP15)"


def test_pico_w_never_offers_the_wireless_chip_pins():
    for field in PIN_FIELDS:
        assert not {23, 24, 25, 29} & set(pin_choices("pico-w", field, DHT_CONFIG).valid)


@pytest.mark.parametrize("board", [b.id for b in list_boards()])
def test_no_board_ever_offers_a_flash_pin(board):
    flash = set(load_board(board).flash_pins())
    for field in PIN_FIELDS:
        choices = pin_choices(board, field, DHT_CONFIG)
        assert not flash & set(choices.valid), (board, field)
        assert choices.suggested is None or choices.suggested in choices.valid


def test_pins_of_other_fields_are_noted_and_not_suggested():
    choices = pin_choices(ESP32, "button_pin", {"led_pin": 0, "button_pin": 0})
    assert "also set as led_pin" in choices.notes[0]
    assert choices.suggested != 0


def test_a_key_that_is_not_a_pin_field_is_refused():
    with pytest.raises(ValueError, match="not a pin field"):
        pin_choices(ESP32, "interval_s", {})


def test_a_gpio_is_named_by_its_number_and_the_pin_printed_on_the_board():
    from companion_app.device.pinchoice import gpio_of_text, gpio_text, pin_name

    assert gpio_text(14, ESP32) == "GPIO14 (D14)"
    assert gpio_text(36, ESP32) == "GPIO36 (VP)"
    assert gpio_text(0, ESP32) == "GPIO0"  # the BOOT button: no header pin of its own
    assert gpio_text(15, "pico") == "GPIO15 (GP15)"
    assert gpio_text(4, "nodemcu") == "GPIO4 (D2)"  # where D-names and GPIOs differ most
    assert pin_name(34, ESP32) == "D34" and pin_name(0, ESP32) == "GPIO0"
    for text, gpio in (("GPIO14 (D14)  ⚠", 14), ("14", 14), (" GPIO0", 0), ("D14", None)):
        assert gpio_of_text(text) == gpio, text


def test_the_diagrams_pin_is_offered_marked_even_when_it_will_not_work_and_others_disagree():
    d34 = esp32_diagram(["dht1:SDA", "esp:D34"], ["dht1:VCC", "esp:3V3"], parts=[DHT])
    choices = pin_choices(ESP32, "sensor_pin", DHT_CONFIG, d34)
    assert choices.wired == 34 and 34 not in choices.valid and "only read" in choices.problem
    assert choices.unusable() == {34}
    assert 34 in choices.offered() and set(choices.valid) < set(choices.offered())
    assert choices.label(34, ESP32) == "GPIO34 (D34)  ⚠"
    assert choices.disagrees(choices.suggested) and not choices.disagrees(34)
    d27 = esp32_diagram(["dht1:SDA", "esp:D27"], ["dht1:VCC", "esp:3V3"], parts=[DHT])
    wired = pin_choices(ESP32, "sensor_pin", DHT_CONFIG, d27)
    assert wired.unusable() == frozenset() and wired.offered() == wired.valid
    assert wired.disagrees(26) and not wired.disagrees(27) and not wired.disagrees(None)
    assert not pin_choices(ESP32, "sensor_pin", DHT_CONFIG).disagrees(26)  # no diagram
