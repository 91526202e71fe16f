"""Part data: every CONTRACTS.md part type is described, with sources, and the facts rules need."""

from __future__ import annotations

import pytest

from companion_app.boards.parts import (
    PIN_ROLES,
    list_parts,
    listed_parts,
    load_part,
    part_text,
    raw_parts_data,
    validate_part_data,
)

# CONTRACTS.md "Wiring file": part types and their pin names.
CONTRACT_PARTS = {
    "wokwi-dht22": {"VCC", "SDA", "NC", "GND"},
    "wokwi-led": {"A", "C"},
    "wokwi-pushbutton": {"1.l", "2.l", "1.r", "2.r"},
    "wokwi-resistor": {"1", "2"},
    "wokwi-hc-sr04": {"VCC", "TRIG", "ECHO", "GND"},
    "board-ssd1306": {"GND", "VCC", "SCL", "SDA"},
    "wokwi-potentiometer": {"GND", "SIG", "VCC"},
    "wokwi-servo": {"GND", "V+", "PWM"},
    "wokwi-pir-motion-sensor": {"VCC", "OUT", "GND"},
    "wokwi-mpu6050": {"INT", "AD0", "XCL", "XDA", "SDA", "SCL", "GND", "VCC"},
    "board-bmp180": {"VCC", "GND", "SCL", "SDA", "3.3V"},  # as in its board.json
    "iotkit-bme280": {"VCC", "GND", "SCL", "SDA"},
}
RAW = {k: v for k, v in raw_parts_data().items() if not k.startswith("_")}


@pytest.mark.parametrize("part_type", sorted(RAW))
def test_part_entry_validates(part_type):
    assert validate_part_data(part_type, RAW[part_type]) == []


@pytest.mark.parametrize("part_type, pins", sorted(CONTRACT_PARTS.items()))
def test_every_contract_part_is_described_with_its_wokwi_pin_names(part_type, pins):
    part = load_part(part_type)
    assert part is not None
    assert set(part.pins) == pins
    assert all(part.pin_role(p) in PIN_ROLES for p in pins)


def test_unknown_part_type_is_none_not_a_guess():
    assert load_part("wokwi-flux-capacitor") is None
    assert load_part("wokwi-dht22").pin_role("DATA") is None


def test_dht_facts():
    dht22 = load_part("wokwi-dht22")
    assert dht22.min_read_interval_s == 2.0
    assert dht22.needs_pull_up("SDA") and not dht22.needs_pull_up("VCC")
    assert dht22.pin_role("SDA") == "bidirectional" and dht22.pin_role("NC") == "nc"
    assert dht22.logic_level == "supply" and dht22.accepts_supply(3.3)
    assert "Wokwi" in RAW["wokwi-dht22"]["pull_up"]["SDA"]["note"]
    assert load_part("wokwi-dht11").min_read_interval_s == 1.0
    assert load_part("iotkit-dht11").min_read_interval_s == 1.0


def test_hc_sr04_echo_is_5v_and_needs_5v_supply():
    sonar = load_part("wokwi-hc-sr04")
    assert sonar.outputs_5v("ECHO") and sonar.output_voltage("ECHO") == 5.0
    assert not sonar.outputs_5v("TRIG")
    assert not sonar.accepts_supply(3.3) and sonar.accepts_supply(5)
    assert sonar.logic_level == 5


def test_pir_output_is_3v3_and_servo_needs_5v():
    pir = load_part("wokwi-pir-motion-sensor")
    assert pir.output_voltage("OUT") == 3.3 and not pir.outputs_5v("OUT")
    servo = load_part("wokwi-servo")
    assert not servo.accepts_supply(3.3) and servo.accepts_supply(5)
    assert servo.pin_role("PWM") == "pwm-in" and servo.pin_role("V+") == "power"


def test_i2c_addresses_and_attrs():
    oled = load_part("board-ssd1306")
    assert oled.i2c_addresses == (0x3C, 0x3D)
    assert oled.i2c_address() == 0x3C and oled.i2c_address({"i2cAddress": "0x3d"}) == 0x3D
    assert oled.i2c_address({"i2cAddress": "garbage"}) == 0x3C
    bme = load_part("iotkit-bme280")
    assert bme.i2c_address() == 0x76 and bme.i2c_address({"address": "0x77"}) == 0x77
    assert load_part("wokwi-mpu6050").i2c_addresses == (0x68, 0x69)
    assert load_part("board-bmp180").i2c_addresses == (0x77,)
    assert load_part("wokwi-led").i2c_address() is None and not load_part("wokwi-led").is_i2c
    assert set(bme.signal_pins()) == {"SCL", "SDA"}


def test_passive_parts_have_no_supply_range():
    for part_type in ("wokwi-led", "wokwi-resistor", "wokwi-pushbutton", "wokwi-potentiometer"):
        part = load_part(part_type)
        assert part.supply_min is None and part.accepts_supply(5)
    assert load_part("wokwi-led").source_of("needs_series_resistor")


def test_every_fact_carries_a_source():
    for part in list_parts():
        for key, value in part.to_json().items():
            if isinstance(value, dict) and key not in ("pins", "pull_up", "outputs_5v", "attrs"):
                assert value.get("source"), (part.type, key)


def test_validator_reports_each_problem():
    bad = {
        "pins": {"X": {"role": "wire"}, "SDA": {"role": "i2c-sda"}},
        "supply": {"min": 5, "max": 3},
        "logic_level": {"value": "high"},
        "i2c": {"default_address": 0x90, "source": "s"},
        "min_read_interval_s": {"value": 2},
        "pull_up": {"Q": {"needed": True, "source": "s"}},
    }
    problems = " | ".join(validate_part_data("bad", bad))
    assert '"name" is missing' in problems
    assert "pin 'X' needs a role" in problems
    assert '"supply" needs "min" <= "max"' in problems
    assert '"logic_level" must be a voltage' in problems
    assert "7-bit addresses" in problems and "i2c-scl" in problems
    assert "min_read_interval_s has no source" in problems
    assert "pull_up names pin 'Q'" in problems
    assert '"pins_source" is missing' in problems


# --- the words a person reads: pin labels and part names -----------------------------------------
def test_dht_data_pin_reads_data_and_keeps_its_wokwi_name():
    for part_type in ("wokwi-dht22", "wokwi-dht11", "iotkit-dht11"):
        part = load_part(part_type)
        assert part.pin_label("SDA") == "data"
        assert part.pin_named("data") == "SDA" and part.pin_named("sda") == "SDA"
        assert "SDA" in part.pins  # diagram.json keeps Wokwi's name
    assert load_part("wokwi-dht22").pin_label("VCC") == "VCC"  # no label: the Wokwi name


@pytest.mark.parametrize("part_type", sorted(RAW))
def test_every_pin_label_has_a_source_and_leads_back_to_its_pin(part_type):
    part = load_part(part_type)
    for name, entry in RAW[part_type]["pins"].items():
        if "label" in entry:
            assert entry["label_source"]
        assert part.pin_named(part.pin_label(name)) == name
        assert part.pin_named(name) == name


def test_a_label_that_names_another_pin_or_has_no_source_is_refused():
    entry = dict(RAW["wokwi-dht22"])
    entry["pins"] = dict(entry["pins"], NC={"role": "nc", "label": "vcc", "label_source": "x"})
    assert any("names another pin" in p for p in validate_part_data("wokwi-dht22", entry))
    entry["pins"] = dict(RAW["wokwi-dht22"]["pins"], NC={"role": "nc", "label": "unused"})
    assert any("no label_source" in p for p in validate_part_data("wokwi-dht22", entry))


def test_parts_are_listed_by_human_name_without_aliases():
    listed = listed_parts()
    types = [p.type for p in listed]
    assert "iotkit-dht11" not in types and "wokwi-dht11" in types
    assert len({p.name for p in listed}) == len(listed)  # no near-duplicates left
    names = [p.name.casefold() for p in listed]
    assert names == sorted(names)
    assert set(types) | {"iotkit-dht11"} == {p.type for p in list_parts()}
    dht22 = load_part("wokwi-dht22")
    assert part_text(dht22) == "DHT22 / AM2302 temperature and humidity sensor (wokwi-dht22)"
