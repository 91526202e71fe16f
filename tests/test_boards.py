"""Board data files: every board loads, validates, and matches Wokwi's pin names."""

from __future__ import annotations

import json
import os
import re
from importlib import resources
from pathlib import Path

import pytest

from companion_app.boards import (
    CHIPS,
    PIN_KINDS,
    Board,
    UnknownBoardError,
    board_for_part_type,
    list_boards,
    load_board,
    supply_name,
    validate_board_data,
)
from companion_app.errors import IotkitError

CONTRACT_BOARD_IDS = {
    "esp32-devkit-v1",
    "esp32-devkitc",
    "esp32-s3-devkitc-1",
    "esp32-c3-devkitm-1",
    "esp32-cam",
    "nodemcu",
    "d1-mini",
    "pico",
    "pico-w",
    "pico2-w",
    "m5stickc-plus2",
}

# CONTRACTS.md "Wiring file": board part types and the board id each one stands for.
CONTRACT_PART_TYPES = {
    "wokwi-esp32-devkit-v1": "esp32-devkit-v1",
    "board-esp32-devkit-c-v4": "esp32-devkitc",
    "board-esp32-s3-devkitc-1": "esp32-s3-devkitc-1",
    "board-esp32-c3-devkitm-1": "esp32-c3-devkitm-1",
    "board-esp32-cam": "esp32-cam",
    "wokwi-pi-pico": "pico",
    "wokwi-pi-pico-w": "pico-w",
    "iotkit-nodemcu": "nodemcu",
    "iotkit-d1-mini": "d1-mini",
    "iotkit-pico2-w": "pico2-w",
    "iotkit-m5stickc-plus2": "m5stickc-plus2",
}

WOKWI_REFERENCE = Path(
    os.environ.get(
        "IOTKIT_WOKWI_BOARDS",
        Path(__file__).resolve().parents[2] / "shared" / "reference" / "wokwi-boards",
    )
)


def _data_files() -> dict[str, dict]:
    folder = resources.files("companion_app.boards").joinpath("data")
    return {
        entry.name[: -len(".json")]: json.loads(entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".json")
    }


DATA = _data_files()


def _load_wokwi_board_json(folder: str) -> dict:
    """Wokwi's board.json allows /* */ and // comments; drop them outside strings."""
    text = (WOKWI_REFERENCE / folder / "board.json").read_text(encoding="utf-8")
    token = re.compile(r'"(?:\\.|[^"\\])*"|/\*.*?\*/|//[^\n]*', re.S)
    return json.loads(token.sub(lambda m: m.group(0) if m.group(0)[0] == '"' else "", text))


def test_there_is_one_data_file_per_contract_board_id():
    assert set(DATA) == CONTRACT_BOARD_IDS


@pytest.mark.parametrize("board_id", sorted(CONTRACT_BOARD_IDS))
def test_board_file_validates_against_schema(board_id):
    assert validate_board_data(DATA[board_id], expected_id=board_id) == []


@pytest.mark.parametrize("board_id", sorted(CONTRACT_BOARD_IDS))
def test_board_pins_are_unique_typed_and_powered(board_id):
    board = load_board(board_id)
    names = [p.name for p in board.pins]
    assert len(names) == len(set(names))
    assert len({n.casefold() for n in names}) == len(names), "lenient lookup would be ambiguous"
    assert board.chip in CHIPS
    for pin in board.pins:
        assert pin.kind in PIN_KINDS
        if pin.kind == "gpio":
            assert isinstance(pin.gpio, int) and not isinstance(pin.gpio, bool)
        else:
            assert pin.gpio is None
        if pin.kind == "power":
            assert pin.voltage and pin.voltage > 0
    assert board.ground_pins(), "every board needs a ground pin"
    assert board.power_pins(), "every board needs a power pin"
    assert board.gpio_pins(), "every board breaks out some GPIO"
    assert board.logic_voltage == 3.3


@pytest.mark.parametrize("board_id", sorted(CONTRACT_BOARD_IDS))
def test_every_board_cites_sources(board_id):
    sources = DATA[board_id]["sources"]
    assert len(sources) >= 2
    for src in sources:
        assert src["fact"].strip() and src["source"].strip()


@pytest.mark.parametrize(
    "board_id", sorted(b for b in CONTRACT_BOARD_IDS if "wokwi_board" in DATA.get(b, {}))
)
def test_wokwi_board_pin_names_and_gpios_match_reference_board_json(board_id):
    folder = DATA[board_id]["wokwi_board"]
    if not (WOKWI_REFERENCE / folder / "board.json").is_file():
        pytest.skip(f"Wokwi reference board.json not available at {WOKWI_REFERENCE}")
    reference = _load_wokwi_board_json(folder)["pins"]
    board = load_board(board_id)
    assert [p.name for p in board.pins] == list(reference)
    for pin in board.pins:
        target = reference[pin.name].get("target")
        if isinstance(target, list):
            target = target[0]
        match = re.fullmatch(r"(?:GPIO)?(\d+)", target or "")
        if match:
            assert pin.gpio == int(match.group(1)), pin.name
            assert pin.kind == "gpio"
        elif target == "GND":
            assert pin.kind == "ground", pin.name
        elif target and target.startswith("power("):
            assert pin.kind == "power", pin.name
        # "x" missing in Wokwi means a virtual pin, not on the header
        assert pin.header == ("x" in reference[pin.name]), pin.name


def test_pico2_w_header_matches_pico_w_header():
    pico_w = [p.name for p in load_board("pico-w").gpio_pins()]
    pico2_w = [p.name for p in load_board("pico2-w").gpio_pins()]
    assert pico2_w == pico_w


def test_known_gpio_facts():
    assert load_board("esp32-devkit-v1").pin("D15").gpio == 15  # Wokwi's target is "15"
    assert load_board("esp32-devkit-v1").pin("VP").gpio == 36
    assert load_board("esp32-devkitc").pin("D2").gpio == 9
    assert load_board("esp32-s3-devkitc-1").pin("TX").gpio == 43
    assert load_board("esp32-c3-devkitm-1").pin("RX").gpio == 20
    nodemcu = load_board("nodemcu")
    expected = {
        "D0": 16,
        "D1": 5,
        "D2": 4,
        "D3": 0,
        "D4": 2,
        "D5": 14,
        "D6": 12,
        "D7": 13,
        "D8": 15,
        "RX": 3,
        "TX": 1,
        "SD2": 9,
        "SD3": 10,
    }
    assert {n: nodemcu.pin(n).gpio for n in expected} == expected
    assert nodemcu.pin("A0").kind == "analog" and nodemcu.pin("A0").gpio is None
    d1 = load_board("d1-mini")
    assert {n: d1.pin(n).gpio for n in ("D0", "D4", "D8")} == {"D0": 16, "D4": 2, "D8": 15}
    m5 = load_board("m5stickc-plus2")
    assert sorted(p.gpio for p in m5.gpio_pins()) == [0, 25, 26, 32, 33, 36]
    assert m5.onboard_led["gpio"] == 19 and m5.onboard_button == 37
    assert {i["gpio"]: i["use"] for i in m5.raw["internal"]}[4].startswith("power hold")


def test_onboard_led_and_button():
    assert load_board("esp32-devkit-v1").onboard_led["gpio"] == 2
    assert load_board("esp32-devkit-v1").onboard_button == 0
    assert load_board("esp32-devkitc").onboard_led is None
    assert load_board("pico").onboard_led["gpio"] == 25
    assert load_board("pico-w").onboard_led["name"] == "LED"
    assert load_board("pico").onboard_button is None


@pytest.mark.parametrize(
    "banner, board_id",
    [
        ("MicroPython v1.28.0 on 2026-04-06; Generic ESP32 module with ESP32", "esp32-devkit-v1"),
        ("MicroPython v1.28.0 on 2026-04-06; Raspberry Pi Pico W with RP2040", "pico-w"),
        ("MicroPython v1.28.0 on 2026-04-06; Raspberry Pi Pico with RP2040", "pico"),
        (
            "MicroPython v1.28.0 on 2026-04-06; Generic ESP32S3 module with ESP32S3",
            "esp32-s3-devkitc-1",
        ),
        ("MicroPython v1.29.0 on 2026-09-01; ESP32C3 module with ESP32-C3", "esp32-c3-devkitm-1"),
        ("MicroPython v1.28.0 on 2026-04-06; ESP module with ESP8266", "d1-mini"),
        ("MicroPython v1.28.0 on 2026-04-06; Raspberry Pi Pico 2 W with RP2350", "pico2-w"),
    ],
)
def test_banner_machine_text_is_among_the_boards_machines(banner, board_id):
    machine = banner.split("; ", 1)[1]
    assert machine in load_board(board_id).machines


def test_pin_lookup_is_lenient_about_case_and_numbered_supplies():
    esp = load_board("esp32-devkit-v1")
    assert esp.pin("d14").name == "D14"
    assert esp.pin(" D14 ").gpio == 14
    assert esp.pin("GND").name == "GND.1"
    assert esp.pin("gnd.2").name == "GND.2"
    assert esp.pin("D99") is None
    assert esp.pin("GPIO14") is None  # Wokwi names only; scripts' numbers go via pins_for_gpio
    assert load_board("esp32-cam").pin("GND.3").name == "GNd.3"  # Wokwi's own spelling
    assert load_board("esp32-s3-devkitc-1").pin("3v3").name == "3V3.1"
    assert load_board("pico").pin("gp15").gpio == 15


def test_gpio_pins_leave_out_internal_pins_unless_asked():
    pico = load_board("pico")
    header_gpios = {p.gpio for p in pico.gpio_pins()}
    assert 25 not in header_gpios and 23 not in header_gpios
    assert header_gpios == set(range(23)) | {26, 27, 28}
    assert 25 in {p.gpio for p in pico.gpio_pins(include_internal=True)}
    cam = load_board("esp32-cam")
    assert [p.name for p in cam.pins_for_gpio(4)] == ["4"]
    assert [p.name for p in cam.pins_for_gpio(4, include_internal=True)] == [
        "4",
        "$gpio4",
        "$sd_d1",
    ]


def test_pin_supplies():
    esp = load_board("esp32-devkit-v1")
    assert esp.pin("3V3").supply == "3V3"
    assert esp.pin("VIN").supply == "5V"
    assert esp.pin("GND.2").supply == "GND"
    assert esp.pin("D14").supply is None
    assert load_board("pico").pin("VSYS").supply == "5V"
    assert supply_name(3.7) == "3V7"


def test_list_boards_is_sorted_by_id_and_cached():
    boards = list_boards()
    ids = [b.id for b in boards]
    assert ids == sorted(ids) and set(ids) == CONTRACT_BOARD_IDS
    assert all(isinstance(b, Board) for b in boards)
    assert load_board("pico") is load_board("pico")


def test_load_board_forgives_case():
    assert load_board("PICO-W").id == "pico-w"


def test_unknown_board_message_lists_known_ids():
    with pytest.raises(UnknownBoardError) as info:
        load_board("esp32-devkit-v2")
    message = str(info.value)
    assert "esp32-devkit-v2" in message
    for board_id in CONTRACT_BOARD_IDS:
        assert board_id in message
    assert "Did you mean esp32-devkit-v1?" in message
    assert isinstance(info.value, IotkitError) and info.value.exit_code == 2


def test_board_for_part_type_covers_contract_part_types():
    for part_type, board_id in CONTRACT_PART_TYPES.items():
        assert board_for_part_type(part_type).id == board_id
    # The plain Pico 2 (no Wi-Fi) is not a board this kit defines.
    assert board_for_part_type("board-pi-pico-2") is None
    assert board_for_part_type("wokwi-led") is None


def test_board_data_is_read_only_but_serialisable():
    board = load_board("esp32-devkit-v1")
    with pytest.raises(TypeError):
        board.raw["name"] = "changed"  # type: ignore[index]
    with pytest.raises(TypeError):
        board.onboard_led["gpio"] = 5  # type: ignore[index]
    assert json.loads(json.dumps(board.to_json())) == DATA["esp32-devkit-v1"]
    assert board.pin("D14").to_json()["gpio"] == 14


def test_validator_reports_each_problem():
    bad = {
        "id": "My Board",
        "name": "x",
        "chip": "esp32s9",
        "machine": "x",
        "wokwi_types": [],
        "logic_voltage": 3.3,
        "pins": [
            {"name": "D1", "label": "D1", "gpio": None, "kind": "gpio"},
            {"name": "d1", "label": "D1", "gpio": 1, "kind": "gpio"},
            {"name": "3V3", "label": "3V3", "gpio": None, "kind": "power"},
            {"name": "X", "label": "X", "gpio": 3, "kind": "wire"},
        ],
        "sources": [{"fact": "x"}],
    }
    problems = " | ".join(validate_board_data(bad, expected_id="my-board"))
    assert "file is named my-board.json" in problems
    assert "lowercase" in problems
    assert "'esp32s9' is not one of" in problems
    assert "pin 'D1' is a gpio pin without a GPIO number" in problems
    assert "pin 'd1' appears twice" in problems
    assert "pin '3V3' is a power pin without a \"voltage\"" in problems
    assert "pin 'X' has kind 'wire'" in problems
    assert "no ground pin" in problems
    assert 'source #1 needs "fact" and "source"' in problems
    assert validate_board_data({"id": "x"}) == [
        '"name" is missing',
        '"chip" is missing',
        '"machine" is missing',
        '"wokwi_types" is missing',
        '"logic_voltage" is missing',
        '"pins" is missing',
        '"sources" is missing',
    ]
