"""The wiring checker knows the DS18B20 (issue 13, item 4): its 1-Wire data line needs an
external pull-up of about 4.7 kOhm, one per bus; the part's facts live in parts.json."""

from __future__ import annotations

import pytest
from test_diagram_rules import B, check, fired, part, wire

from companion_app.boards.parts import load_part, validate_part_data


def _sensor(sid: str, b: B, pin: str) -> tuple[dict, list[list]]:
    conns = [
        wire(f"{sid}:DQ", b.pin(pin)),
        wire(f"{sid}:VCC", b.v3, "red"),
        wire(f"{sid}:GND", b.gnd, "black"),
    ]
    return part(sid, "wokwi-ds18b20"), conns


def test_the_part_data_has_sourced_facts_and_asks_for_an_external_pull_up():
    info = load_part("wokwi-ds18b20")
    assert info is not None and set(info.pins) == {"GND", "DQ", "VCC"}
    assert validate_part_data("wokwi-ds18b20", info.raw) == []
    fact = info.raw["pull_up"]["DQ"]
    assert fact["needed"] and fact["external"] and fact["ohms"] == 4700
    assert "DS18B20 datasheet" in fact["source"]


@pytest.mark.parametrize("board_id,pin", [("esp32-devkit-v1", "D4"), ("pico-w", "GP15")])
def test_a_data_line_without_a_pull_up_is_a_warning_with_the_value(board_id, pin):
    b = B(board_id)
    sensor, conns = _sensor("temp1", b, pin)
    (f,) = fired(check(b, [sensor], conns), "onewire-no-pullup")
    assert f.severity == "warning"
    assert f.where == "<diagram>: temp1:DQ"
    assert "4.7 kOhm" in f.fix and "1-Wire" in f.message


def test_a_pull_up_to_3v3_silences_it_and_nothing_else_fires():
    b = B("esp32-devkit-v1")
    sensor, conns = _sensor("temp1", b, "D4")
    r = part("r1", "wokwi-resistor", value="4700")
    conns += [wire("r1:1", b.pin("D4")), wire("r1:2", b.v3, "red")]
    assert check(b, [sensor, r], conns) == []


def test_several_sensors_on_one_bus_give_one_finding():
    b = B("esp32-devkit-v1")
    s1, c1 = _sensor("temp1", b, "D4")
    s2, c2 = _sensor("temp2", b, "D4")
    found = fired(check(b, [s1, s2], c1 + c2), "onewire-no-pullup")
    assert len(found) == 1
    assert not fired(check(b, [s1, s2], c1 + c2), "pin-conflict")


def test_on_a_pin_without_internal_pull_up_the_advice_names_4k7():
    b = B("nodemcu")
    sensor, conns = _sensor("temp1", b, "D0")  # GPIO16: no internal pull-up
    (f,) = fired(check(b, [sensor], conns), "no-internal-pullup")
    assert "4.7 kOhm" in f.fix
