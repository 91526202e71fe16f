"""Loading Wokwi diagram.json files into nets, GPIOs and supplies."""

from __future__ import annotations

import copy
import json

import pytest

from companion_app.errors import IotkitError, UsageError
from companion_app.wiring import Diagram, DiagramError, load_diagram, parse_diagram

# Wokwi's default ESP32 project diagram, plus a DHT22 the way the editor saves it.
WOKWI_ESP32_DHT22 = {
    "version": 1,
    "author": "Uri Shaked",
    "editor": "wokwi",
    "parts": [
        {"type": "wokwi-esp32-devkit-v1", "id": "esp", "top": 0, "left": 0, "attrs": {}},
        {"type": "wokwi-dht22", "id": "dht1", "top": -9.3, "left": 148.2, "attrs": {}},
    ],
    "connections": [
        ["esp:TX0", "$serialMonitor:RX", "", []],
        ["esp:RX0", "$serialMonitor:TX", "", []],
        ["dht1:VCC", "esp:3V3", "red", ["v0"]],
        ["dht1:SDA", "esp:D14", "green", ["v0", "h-57.6"]],
        ["dht1:GND", "esp:GND.1", "black", ["v0"]],
    ],
    "dependencies": {},
}


def _diagram(parts, connections) -> Diagram:
    return load_diagram({"version": 1, "parts": parts, "connections": connections})


ESP = {"type": "wokwi-esp32-devkit-v1", "id": "esp", "attrs": {}}


def test_default_esp32_diagram_with_dht22_on_d14_gives_gpio_14(tmp_path):
    path = tmp_path / "diagram.json"
    path.write_text(json.dumps(WOKWI_ESP32_DHT22, indent=2))
    diagram = load_diagram(path)
    assert diagram.board.id == "esp32-devkit-v1"
    assert diagram.board_part_id == "esp"
    assert diagram.gpio_of("dht1", "SDA") == 14
    assert diagram.power_of("dht1", "VCC") == "3V3"
    assert diagram.power_of("dht1", "GND") == "GND"
    assert diagram.power_of("dht1", "SDA") is None
    assert diagram.gpio_of("dht1", "VCC") is None
    assert diagram.source == str(path)
    assert diagram.where("dht1", "SDA") == f"{path}: dht1:SDA"
    assert [p.id for p in diagram.parts] == ["esp", "dht1"]
    assert diagram.connections[3].hints == ("v0", "h-57.6")
    assert diagram.connections[3].color == "green"
    assert diagram.author == "Uri Shaked"


def test_a_project_folder_holding_diagram_json_loads(tmp_path):
    (tmp_path / "diagram.json").write_text(json.dumps(WOKWI_ESP32_DHT22))
    assert load_diagram(tmp_path).gpio_of("dht1", "SDA") == 14


def test_nets_join_through_several_wires():
    diagram = _diagram(
        [ESP, {"type": "wokwi-pushbutton", "id": "btn1"}, {"type": "wokwi-led", "id": "led1"}],
        [
            ["esp:D27", "btn1:1.l", "green", []],
            ["btn1:1.l", "btn1:1.r", "green", []],
            ["led1:A", "btn1:1.r", "green", []],
            ["btn1:2.l", "esp:GND.2", "black", []],
        ],
    )
    assert diagram.gpio_of("led1", "A") == 27
    assert diagram.net_of("led1:A") == frozenset({"esp:D27", "btn1:1.l", "btn1:1.r", "led1:A"})
    assert diagram.net_of("btn1:2.l") == frozenset({"btn1:2.l", "esp:GND.2"})
    assert len(diagram.nets) == 2
    assert diagram.pins_of("btn1") == ["1.l", "1.r", "2.l"]


def test_a_pin_no_wire_touches_is_its_own_net():
    diagram = load_diagram(WOKWI_ESP32_DHT22)
    assert diagram.net_of("dht1:NC") == frozenset({"dht1:NC"})
    assert diagram.gpio_of("dht1", "NC") is None
    assert diagram.power_of("dht1", "NC") is None


def test_gpio_is_not_found_through_a_part():
    diagram = _diagram(
        [
            ESP,
            {"type": "wokwi-resistor", "id": "r1", "attrs": {"value": "220"}},
            {"type": "wokwi-led", "id": "led1"},
        ],
        [["esp:D2", "r1:1", "green", []], ["r1:2", "led1:A", "green", []]],
    )
    assert diagram.gpio_of("r1", "1") == 2
    assert diagram.gpio_of("led1", "A") is None
    assert diagram.part("r1").attrs["value"] == "220"


def test_board_pin_names_are_matched_regardless_of_case():
    diagram = _diagram(
        [ESP, {"type": "wokwi-led", "id": "led1"}, {"type": "wokwi-led", "id": "led2"}],
        [["esp:d14", "led1:A", "", []], ["led2:A", "esp:D14", "", []]],
    )
    assert diagram.net_of("led1:A") == frozenset({"esp:D14", "led1:A", "led2:A"})
    assert diagram.gpio_of("led2", "A") == 14


def test_supplies_on_a_shorted_net_are_all_reported():
    diagram = _diagram(
        [ESP, {"type": "wokwi-dht22", "id": "dht1"}],
        [["dht1:VCC", "esp:VIN", "", []], ["dht1:VCC", "esp:GND.1", "", []]],
    )
    assert diagram.supplies_of("dht1:VCC") == frozenset({"5V", "GND"})
    assert diagram.power_of("dht1", "VCC") == "5V"


def test_two_gpios_on_one_net_are_all_visible():
    diagram = _diagram(
        [ESP, {"type": "wokwi-led", "id": "led1"}],
        [["led1:A", "esp:D4", "", []], ["led1:A", "esp:D2", "", []]],
    )
    assert diagram.gpio_of("led1", "A") == 2
    assert sorted(p.gpio for p in diagram.board_pins_on_net("led1:A")) == [2, 4]


def test_pico_diagram_uses_gp_names():
    diagram = _diagram(
        [{"type": "wokwi-pi-pico", "id": "pico"}, {"type": "wokwi-hc-sr04", "id": "sonar"}],
        [["sonar:TRIG", "pico:GP15", "", []], ["sonar:VCC", "pico:VBUS", "", []]],
    )
    assert diagram.board.id == "pico"
    assert diagram.gpio_of("sonar", "TRIG") == 15
    assert diagram.power_of("sonar", "VCC") == "5V"


def test_our_own_board_part_types_load():
    diagram = _diagram(
        [{"type": "iotkit-nodemcu", "id": "mcu"}, {"type": "wokwi-led", "id": "led1"}],
        [["led1:A", "mcu:D5", "", []]],
    )
    assert diagram.board.id == "nodemcu"
    assert diagram.gpio_of("led1", "A") == 14


def test_diagram_without_a_known_board_has_no_board():
    diagram = _diagram(
        [{"type": "board-pi-pico-2", "id": "pico"}, {"type": "wokwi-led", "id": "led1"}],
        [["led1:A", "pico:GP15", "", []]],
    )
    assert diagram.board is None and diagram.board_part_id is None
    assert diagram.gpio_of("led1", "A") is None
    assert diagram.net_of("led1:A") == frozenset({"led1:A", "pico:GP15"})


def test_unknown_part_types_are_ordinary_parts():
    diagram = _diagram(
        [ESP, {"type": "wokwi-breadboard-half", "id": "bb1"}, {"type": "acme-sensor", "id": "s"}],
        [["s:OUT", "bb1:1t.a", "", []], ["bb1:1t.a", "esp:D5", "", []]],
    )
    assert diagram.part("s").type == "acme-sensor"
    assert diagram.gpio_of("s", "OUT") == 5


def test_parse_diagram_accepts_text_and_a_utf8_bom(tmp_path):
    text = json.dumps(WOKWI_ESP32_DHT22)
    assert parse_diagram(text, "lesson.json").source == "lesson.json"
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert load_diagram(path).gpio_of("dht1", "SDA") == 14


# -- errors ------------------------------------------------------------------------------------


def test_missing_file_says_so(tmp_path):
    missing = tmp_path / "nope" / "diagram.json"
    with pytest.raises(DiagramError) as info:
        load_diagram(missing)
    assert str(missing) in str(info.value)
    assert "does not exist" in str(info.value)
    assert isinstance(info.value, UsageError) and isinstance(info.value, IotkitError)
    assert info.value.exit_code == 2


def test_folder_without_diagram_is_explained(tmp_path):
    with pytest.raises(DiagramError, match="folder with no diagram.json"):
        load_diagram(tmp_path)


def test_invalid_json_gives_line_and_column(tmp_path):
    path = tmp_path / "diagram.json"
    path.write_text('{\n  "version": 1,\n  "parts": [ {"id": "esp" "type": "x"} ]\n}\n')
    with pytest.raises(DiagramError) as info:
        load_diagram(path)
    message = str(info.value)
    assert message.startswith(f"{path}: this is not valid JSON")
    assert "line 3, column 27" in message
    assert "missing comma" in message


def test_binary_file_is_not_a_diagram(tmp_path):
    path = tmp_path / "diagram.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(DiagramError, match="not a text file"):
        load_diagram(path)


def test_json_without_parts_is_not_a_diagram():
    with pytest.raises(DiagramError) as info:
        load_diagram({"version": 1, "connections": []})
    assert 'no "parts" list' in str(info.value)
    assert "Wokwi" in str(info.value)
    with pytest.raises(DiagramError, match="not a Wokwi diagram"):
        parse_diagram("[1, 2]", "list.json")


def test_connection_to_a_missing_part_names_it():
    data = copy.deepcopy(WOKWI_ESP32_DHT22)
    data["connections"].append(["dht2:SDA", "esp:D15", "green", []])
    with pytest.raises(DiagramError) as info:
        load_diagram(data)
    message = str(info.value)
    assert "connection #6" in message
    assert "'dht2'" in message
    assert 'Add a part with "id": "dht2"' in message


@pytest.mark.parametrize(
    "parts, connections, expected",
    [
        ([{"type": "wokwi-led"}], [], 'part #1 has no "id"'),
        ([{"id": "led1"}], [], "part 'led1' has no \"type\""),
        ([ESP, dict(ESP)], [], "two parts have the id 'esp'"),
        ([ESP], [["esp:D2"]], "connection #1 is not a wire"),
        ([ESP], [["esp", "esp:D2", "", []]], "'esp', which is not of the form part:PIN"),
        ([{"id": "a", "type": "t", "attrs": []}], [], '"attrs" that is not an object'),
        ("esp", [], '"parts" must be a list'),
    ],
)
def test_malformed_parts_and_connections_are_explained(parts, connections, expected):
    with pytest.raises(DiagramError) as info:
        load_diagram({"parts": parts, "connections": connections})
    assert expected in str(info.value)
