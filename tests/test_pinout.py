"""The pinout picture engine: layout facts and the printable PNG/SVG, no display needed."""

from __future__ import annotations

import importlib

import pytest
from PIL import Image

from companion_app.boards import list_boards, load_board
from companion_app.wiring.diagram import diagram_from_data
from companion_app.wiring.pinout import (
    PRINT_DPI,
    SEVERITY_COLOURS,
    EstimatedMetrics,
    header_columns,
    layout_pinout,
    pin_text,
    pins_of_finding,
    render,
)
from companion_app.wiring.rules import Finding, run_checks

# A rule exists once its module is imported; check.py imports them all, as the front ends do.
importlib.import_module("companion_app.wiring.check")

DHT_ON_D34 = {
    "version": 1,
    "author": "test",
    "editor": "wokwi",
    "parts": [
        {"type": "wokwi-esp32-devkit-v1", "id": "esp", "top": 0, "left": 0, "attrs": {}},
        {"type": "wokwi-dht22", "id": "dht1", "top": -20, "left": 120, "attrs": {}},
        {"type": "wokwi-led", "id": "led1", "top": 40, "left": -80, "attrs": {"color": "red"}},
        {"type": "wokwi-resistor", "id": "r1", "top": 60, "left": -80, "attrs": {"value": "220"}},
    ],
    "connections": [
        ["dht1:VCC", "esp:3V3", "red", ["v0"]],
        ["dht1:SDA", "esp:D34", "green", ["v0"]],
        ["dht1:GND", "esp:GND.1", "black", ["v0"]],
        ["led1:A", "r1:1", "green", []],
        ["r1:2", "esp:D12", "green", []],
        ["led1:C", "esp:GND.2", "black", []],
    ],
    "dependencies": {},
}


def checked(data=DHT_ON_D34, board_id="esp32-devkit-v1"):
    board = load_board(board_id)
    diagram = diagram_from_data(dict(data), "diagram.json")
    return board, diagram, run_checks(board, diagram, [])


def test_pins_show_the_printed_label_and_the_gpio():
    board = load_board("esp32-devkit-v1")
    assert pin_text(board.pin("D34")) == "D34 · GPIO34"
    assert pin_text(board.pin("3V3")) == "3V3"


@pytest.mark.parametrize("board", list_boards(), ids=lambda b: b.id)
def test_every_header_pin_is_placed_once_in_two_columns(board):
    left, right = header_columns(board)
    header = [p.name for p in board.pins if p.header]
    assert sorted(p.name for p in left + right) == sorted(header)
    assert abs(len(left) - len(right)) <= 1
    layout = layout_pinout(board)
    ys = {
        side: sorted(s.y for s in layout.pins.values() if s.side == side)
        for side in ("left", "right")
    }
    for side, values in ys.items():  # no two pins of one column on the same row
        assert len(values) == len(set(values)), side


def test_right_column_runs_top_to_bottom_like_the_board():
    # Wokwi's board.json: D23 is at the top right of the DevKit V1, 3V3 at the bottom right.
    left, right = header_columns(load_board("esp32-devkit-v1"))
    assert left[0].name == "EN" and right[0].name == "D23" and right[-1].name == "3V3"
    left, right = header_columns(load_board("pico"))
    assert right[0].name == "VBUS" and right[-1].name == "GP16"


def test_problem_pins_are_marked_with_severity_and_rule_name():
    board, diagram, findings = checked()
    layout = layout_pinout(board, diagram, findings)
    marked = layout.marked()
    assert marked["D34"].severity == "error" and "input-only" in marked["D34"].rules
    assert marked["D12"].severity == "warning" and "strapping-pin" in marked["D12"].rules
    assert "D23" not in marked
    rule_texts = [s.text for s in layout.shapes if s.kind == "text" and "pin:D34" in s.tags]
    assert any("input-only" in t for t in rule_texts)
    rings = [s for s in layout.shapes if "mark" in s.tags and "pin:D34" in s.tags]
    assert rings and rings[0].fill == SEVERITY_COLOURS["error"]


def test_parts_are_wired_to_the_pins_they_use():
    board, diagram, findings = checked()
    layout = layout_pinout(board, diagram, findings)
    wires = {(w.part_id, w.part_pin, w.board_pin) for w in layout.wires}
    assert ("dht1", "SDA", "D34") in wires
    assert ("dht1", "GND", "GND.1") in wires
    assert ("r1", "2", "D12") in wires
    for w in layout.wires:  # every wire ends on its board pin's pad
        spot = layout.pins[w.board_pin]
        assert w.points[-1] == (spot.x, spot.y)


def test_a_script_finding_marks_every_header_pin_of_its_gpio():
    board = load_board("esp32-devkit-v1")
    f = Finding("strapping-pin", "warning", "GPIO12", "main.py:3", "m", "f", 3)
    assert pins_of_finding(board, f) == ["D12"]
    flash = Finding("flash-pin", "error", "GPIO6", "main.py:1", "m", "f", 1)
    assert pins_of_finding(board, flash) == []  # GPIO6 is not on this board's header


def test_text_does_not_overlap_within_a_column():
    board, diagram, findings = checked()
    layout = layout_pinout(board, diagram, findings)
    pitch_ok = sorted(s.y for s in layout.pins.values() if s.side == "left")
    gaps = [b - a for a, b in zip(pitch_ok, pitch_ok[1:])]
    # Label text is at most the layout's text size: one row's text must fit in one pitch.
    label = next(s for s in layout.shapes if "label" in s.tags)
    assert min(gaps) >= label.size * 25.4 / 72 * 1.3


def test_png_is_a4_landscape_at_150_dpi_and_not_blank(artifacts):
    board, diagram, findings = checked()
    path = render(layout_pinout(board, diagram, findings), artifacts / "pinout-engine.png")
    image = Image.open(path)
    assert image.size[0] >= 1754 and image.size[1] >= 1240
    assert PRINT_DPI == 150
    colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # text, pins, wires, not one flat colour
    red = (0xD3, 0x2F, 0x2F)
    assert any(rgb == red for _, rgb in colours)  # the error ring is really drawn


def test_svg_export(tmp_path):
    board, diagram, findings = checked()
    path = render(layout_pinout(board, diagram, findings), tmp_path / "p.svg")
    text = path.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text


def test_other_formats_are_refused(tmp_path):
    with pytest.raises(ValueError):
        render(layout_pinout(load_board("pico")), tmp_path / "p.jpg")


def test_many_rules_on_facing_pins_never_reach_the_other_column():
    board = load_board("esp32-devkit-v1")
    # D34 (left) and RX0 = GPIO3 (right) share a row on the DevKit V1.
    many = [
        Finding(f"rule-number-{i}-with-a-long-name", sev, gpio, "x", "m", "f")
        for i in range(6)
        for sev, gpio in (("warning", "GPIO34"), ("error", "GPIO3"))
    ]
    metrics = EstimatedMetrics()
    layout = layout_pinout(board, None, many, metrics=metrics)
    assert layout.pins["D34"].y == layout.pins["RX0"].y

    def right_edge(name):  # the badge, after the label, is the row's innermost text
        badge = next(
            s
            for s in layout.shapes
            if s.kind == "circle"
            and "badge" in s.tags
            and f"pin:{name}" in s.tags
            and "key" not in s.tags
        )
        return badge.x + badge.w, badge.x - badge.w

    assert right_edge("D34")[0] < right_edge("RX0")[1]  # the two rows' badges never meet
    # Every rule is in the key, each on its own line, with the pin's badge number.
    assert len([k for k in layout.key if k.pin == "D34"]) == 6
    assert {k.number for k in layout.key if k.pin == "RX0"} == {layout.pins["RX0"].number}


def test_the_legend_wraps_instead_of_overprinting_itself():
    board = load_board("m5stickc-plus2")  # few pins: a narrow picture at its natural size
    metrics = EstimatedMetrics()
    layout = layout_pinout(board, None, [], metrics=metrics, page=None)
    items = [s for s in layout.shapes if "legend" in s.tags and s.kind == "text"]
    rows = sorted({round(s.y, 3) for s in items})
    for y in rows:  # items of one row follow each other with a gap
        row = sorted((s for s in items if round(s.y, 3) == y), key=lambda s: s.x)
        for a, b in zip(row, row[1:]):
            assert a.x + metrics.width(a.text, a.size) < b.x
        assert row[-1].x + metrics.width(row[-1].text, row[-1].size) <= layout.width
    assert len(rows) >= 2  # it did not fit one row, so it wrapped


CROWDED_PICO = {
    "version": 1,
    "author": "test",
    "editor": "wokwi",
    "parts": [
        {"type": "wokwi-pi-pico", "id": "pico", "top": 0, "left": 0, "attrs": {}},
        {"type": "wokwi-dht22", "id": "dht1", "attrs": {}},
        {"type": "wokwi-hc-sr04", "id": "ultrasonic1", "attrs": {}},
        {"type": "board-ssd1306", "id": "oled1", "attrs": {}},
        {"type": "wokwi-pushbutton", "id": "btn1", "attrs": {}},
        {"type": "wokwi-led", "id": "led1", "attrs": {}},
    ],
    "connections": [
        ["dht1:VCC", "pico:3V3", "red", []],
        ["dht1:SDA", "pico:GP15", "green", []],
        ["dht1:GND", "pico:GND.4", "black", []],
        ["ultrasonic1:VCC", "pico:VBUS", "red", []],
        ["ultrasonic1:TRIG", "pico:GP2", "orange", []],
        ["ultrasonic1:ECHO", "pico:GP3", "yellow", []],
        ["ultrasonic1:GND", "pico:GND.1", "black", []],
        ["oled1:VCC", "pico:3V3", "red", []],
        ["oled1:GND", "pico:GND.8", "black", []],
        ["oled1:SDA", "pico:GP20", "blue", []],
        ["oled1:SCL", "pico:GP21", "purple", []],
        ["btn1:1.l", "pico:GP16", "green", []],
        ["btn1:2.l", "pico:GND.5", "black", []],
        ["led1:A", "pico:GP17", "green", []],
        ["led1:C", "pico:GND.5", "black", []],
    ],
    "dependencies": {},
}


def test_a_crowded_40_pin_board_keeps_wires_parts_and_legend_apart(artifacts):
    board, diagram, findings = checked(CROWDED_PICO, "pico")
    assert {f.rule for f in findings} >= {"voltage-mismatch", "led-no-resistor"}
    layout = layout_pinout(board, diagram, findings)
    legend_top = min(s.y - s.w for s in layout.shapes if "legend" in s.tags and s.kind == "circle")
    for wire in layout.wires:
        assert all(y < legend_top - 1 for _, y in wire.points), wire
    boxes = sorted(
        (s.x, s.y, s.y + s.h)
        for s in layout.shapes
        if s.kind == "rect" and any(t.startswith("part:") for t in s.tags)
    )
    for (x1, _, bottom), (x2, top, _) in zip(boxes, boxes[1:]):
        assert x1 != x2 or bottom <= top  # parts in one column never overlap
    assert len(layout.parts) == 5
    render(layout, artifacts / "pinout-pico.png")
