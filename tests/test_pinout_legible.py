"""The pinout stays legible on every board, at every zoom, on screen and in the exports.

Issue 15 item 3: left and right pin labels printed over each other, rule names ran into pin
names, the legend overprinted itself and pin labels were about 7 px whatever the fonts. Here
every board gets a wiring and a script that mark many of its pins (the real rule engine, so
badges and a long key appear), and the real Wiring panel draws them under Xvfb at zoom 1.0
and 1.5. The Tk canvas is asked where each text really is (`bbox`), and matplotlib where each
text of an export really is (`get_window_extent`): no two may overlap.
"""

from __future__ import annotations

import json
import tkinter as tk
from tkinter import ttk

import pytest
from gui_helpers import grab_window, require_display
from PIL import Image
from waiting import wait_until_tk

from companion_app.boards import Board, list_boards
from companion_app.gui import look
from companion_app.gui.wiring_panel import WiringPanel, run_wiring_check
from companion_app.wiring.pinout import (
    BADGE_TEXT,
    BOARD_FILL,
    MM_PER_PT,
    PAGE_TEXT,
    PART_FILL,
    PROJECTOR_PX,
    SEVERITY_COLOURS,
    SEVERITY_TEXT,
    TEXT,
    EstimatedMetrics,
    export_layout,
    layout_pinout,
    render,
    render_figure,
)

BOARDS = list_boards()
ZOOMS = (1.0, 1.5)
#: A projector's pin labels: at least this many pixels tall in the 1920×1080 export (a UI
#: font on a 1080p screen is about 15 px).
PROJECTOR_MIN_PIN_PX = 18


def board_wiring(board: Board) -> tuple[dict, str]:
    """A Wokwi diagram (a DHT22, an LED with no resistor, a button) and a script that drives
    every header GPIO with PWM and a pull-up: findings mark many pins of any board."""
    header = [p for p in board.pins if p.header]
    gpios = [p.name for p in header if p.kind == "gpio"]
    grounds = [p.name for p in header if p.kind == "ground"]
    supply = [p.name for p in header if p.kind == "power" and (p.voltage or 0) < 4]
    parts = [
        {"type": board.wokwi_types[0], "id": "brd", "top": 0, "left": 0, "attrs": {}},
        {"type": "wokwi-dht22", "id": "dht1", "attrs": {}},
        {"type": "wokwi-led", "id": "led1", "attrs": {}},
        {"type": "wokwi-pushbutton", "id": "btn1", "attrs": {}},
    ]
    connections = [
        ["dht1:VCC", f"brd:{supply[0]}", "red", []],
        ["dht1:SDA", f"brd:{gpios[0]}", "green", []],
        ["dht1:GND", f"brd:{grounds[0]}", "black", []],
        ["led1:A", f"brd:{gpios[-1]}", "green", []],
        ["led1:C", f"brd:{grounds[-1]}", "black", []],
        ["btn1:1.l", f"brd:{gpios[len(gpios) // 2]}", "blue", []],
        ["btn1:2.l", f"brd:{grounds[0]}", "black", []],
    ]
    data = {"version": 1, "author": "test", "editor": "wokwi", "parts": parts}
    data.update(connections=connections, dependencies={})
    numbers = sorted({p.gpio for p in header if p.gpio is not None})
    script = "from machine import Pin, PWM\n" + "".join(
        f"p{g} = PWM(Pin({g}, Pin.OUT, Pin.PULL_UP))\n" for g in numbers
    )
    return data, script


def checked(board: Board):
    data, script = board_wiring(board)
    return run_wiring_check(board.id, data, "diagram.json", [], [("main.py", script)])


def overlapping(boxes: list[tuple[str, tuple[float, float, float, float]]]) -> list:
    """Pairs of texts whose boxes (x0, y0, x1, y1) overlap."""
    pairs = []
    for n, (ta, a) in enumerate(boxes):
        for tb, b in boxes[n + 1 :]:
            if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                pairs.append((ta, tb))
    return pairs


def canvas_texts(canvas: tk.Canvas, tag: str = "all") -> list[tuple[str, tuple]]:
    items = [i for i in canvas.find_withtag(tag) if canvas.type(i) == "text"]
    return [(canvas.itemcget(i, "text"), canvas.bbox(i)) for i in items]


# --- the layout alone (no display) -----------------------------------------------------------
def estimated_boxes(layout, metrics) -> list[tuple[str, tuple]]:
    """Each text's box as the layout's metrics measure it, from its anchor."""
    boxes = []
    for s in layout.shapes:
        if s.kind != "text":
            continue
        w, h = metrics.width(s.text, s.size, s.bold), metrics.height(s.size, s.bold)
        assert s.anchor in ("w", "e", "center"), s  # the anchors the layout uses
        x0 = {"w": s.x, "e": s.x - w, "center": s.x - w / 2}[s.anchor]
        boxes.append((s.text, (x0, s.y - h / 2, x0 + w, s.y + h / 2)))
    return boxes


@pytest.mark.parametrize("board", BOARDS, ids=lambda b: b.id)
@pytest.mark.parametrize("page", ["a4", "natural"])
def test_the_layout_leaves_every_text_its_measured_room(board, page):
    metrics = EstimatedMetrics()
    _, diagram, findings = checked(board)
    layout = layout_pinout(
        board, diagram, findings, metrics=metrics, page=None if page == "natural" else (297, 210)
    )
    assert layout.marked() and layout.key  # badges and a key, not only plain pins
    assert overlapping(estimated_boxes(layout, metrics)) == []
    inside = [s for s in layout.shapes if s.kind == "text"]
    assert all(0 <= s.x <= layout.width and 0 <= s.y <= layout.height for s in inside)


def test_a_problem_pin_gets_a_numbered_badge_that_the_key_explains():
    board = next(b for b in BOARDS if b.id == "esp32-devkit-v1")
    _, diagram, findings = checked(board)
    layout = layout_pinout(board, diagram, findings)
    spot = layout.pins["D34"]
    assert spot.severity == "error" and spot.number is not None
    badge = [s for s in layout.shapes if "badge" in s.tags and "pin:D34" in s.tags]
    assert {s.text for s in badge if s.kind == "text"} == {str(spot.number)}
    entries = [k for k in layout.key if k.pin == "D34"]
    assert {k.number for k in entries} == {spot.number}
    assert "input-only" in {k.rule for k in entries}
    key_text = [s.text for s in layout.shapes if "key" in s.tags and s.kind == "text"]
    assert any(t.startswith("D34 · GPIO34 — error, input-only: ") for t in key_text)
    # No rule name on the pin row any more: the label is the pin's name, nothing else.
    label = next(s for s in layout.shapes if "label" in s.tags and "pin:D34" in s.tags)
    assert label.text == "D34 · GPIO34"


# --- colours ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def root():
    require_display()
    r = tk.Tk()
    r.geometry("1024x768+0+0")
    yield r
    look.set_zoom(r, 1.0)
    r.destroy()


def test_text_on_the_board_parts_and_badges_is_readable(root):
    for colour in (TEXT, *SEVERITY_TEXT.values()):
        for fill in (BOARD_FILL, PART_FILL):
            assert look.contrast_ratio(root, colour, fill) >= look.MIN_CONTRAST, (colour, fill)
    for severity, colour in BADGE_TEXT.items():
        ratio = look.contrast_ratio(root, colour, SEVERITY_COLOURS[severity])
        assert ratio >= look.MIN_CONTRAST, severity


# --- on screen, every board at both zooms ----------------------------------------------------
def show_board(root, panel: WiringPanel, board: Board) -> None:
    data, script = board_wiring(board)
    panel.wiring = json.loads(json.dumps(data))
    panel.source = "diagram.json"
    panel.script_texts = [("main.py", script)]
    panel.set_board(board.id)  # rechecks in a job
    wait_until_tk(root, lambda: not panel.checking, 15, f"the check of {board.id}")
    root.update_idletasks()
    wait_until_tk(
        root,
        lambda: panel.screen_layout is not None and panel.screen_layout.board.id == board.id,
        5,
        f"the picture of {board.id}",
    )


@pytest.mark.parametrize("zoom", ZOOMS)
def test_no_text_overlaps_and_pins_are_as_large_as_the_ui_font_on_every_board(root, zoom):
    look.set_zoom(root, zoom)
    panel = WiringPanel(root)
    panel.pack(fill="both", expand=True)
    try:
        wait_until_tk(root, lambda: not panel.checking, 10, "the first check")
        ui_px = look.ui_font_px(root)
        for board in BOARDS:
            show_board(root, panel, board)
            canvas = panel.canvas
            texts = canvas_texts(canvas)
            assert len(texts) > 40, board.id
            assert overlapping(texts) == [], board.id
            labels = canvas_texts(canvas, "label")
            assert len(labels) == sum(1 for p in board.pins if p.header), board.id
            heights = {box[3] - box[1] for _, box in labels}
            assert min(heights) >= ui_px, (board.id, heights, ui_px)
            assert canvas.find_withtag("badge"), board.id  # findings are marked, not hidden
            if board.id == "esp32-devkit-v1":
                grab_window(root, f"pinout-legible-zoom-{zoom}")
        # Bigger than its place at a legible size: it scrolls instead of shrinking.
        assert panel.picture_scrolls
        region = [float(v) for v in str(panel.canvas.cget("scrollregion")).split()]
        assert region[3] > panel.canvas.winfo_height()
        assert panel._ybar.winfo_ismapped()
    finally:
        panel.close()
        panel.destroy()


def test_the_picture_grows_with_the_zoom(root):
    look.set_zoom(root, 1.0)
    panel = WiringPanel(root)
    panel.pack(fill="both", expand=True)
    try:
        show_board(root, panel, BOARDS[0])

        def label_height() -> int:
            item = panel.canvas.find_withtag("label")[0]
            box = panel.canvas.bbox(item)
            return box[3] - box[1]

        before = label_height()
        look.set_zoom(root, 1.5)  # the panel hears of it through look.on_look_change
        wait_until_tk(root, lambda: label_height() > before, 5, "the pinout to redraw larger")
        assert label_height() >= look.ui_font_px(root)
    finally:
        panel.close()
        panel.destroy()
        look.set_zoom(root, 1.0)


def test_the_picture_takes_a_dark_theme_with_readable_text(root):
    style = ttk.Style(root)
    before = style.theme_use()
    if "iotkit-test-dark" not in style.theme_names():
        dark = {"background": "#2b2b2b", "foreground": "#e0e0e0", "fieldbackground": "#1e1e1e"}
        style.theme_create(
            "iotkit-test-dark",
            parent="clam",
            settings={".": {"configure": dark}, "TEntry": {"configure": dark}},
        )
    panel = WiringPanel(root)
    panel.pack(fill="both", expand=True)
    try:
        show_board(root, panel, BOARDS[0])
        light_bg = panel.canvas.cget("background")
        style.theme_use("iotkit-test-dark")  # Tk sends <<ThemeChanged>>: the picture redraws
        pal = look.palette(panel)
        assert pal.dark
        wait_until_tk(
            root, lambda: panel.canvas.cget("background") == pal.field, 5, "a dark canvas"
        )
        canvas = panel.canvas
        bg = canvas.cget("background")
        assert bg != light_bg
        page_texts = [i for i in canvas.find_withtag(PAGE_TEXT) if canvas.type(i) == "text"]
        assert len(page_texts) > 5  # title, summary, key, legend
        for item in page_texts:
            ratio = look.contrast_ratio(root, canvas.itemcget(item, "fill"), bg)
            assert ratio >= look.MIN_CONTRAST, canvas.itemcget(item, "text")
        for item in canvas.find_withtag("all"):
            if canvas.type(item) == "line":  # wires: graphics, 3:1 on the page
                assert look.contrast_ratio(root, canvas.itemcget(item, "fill"), bg) >= 3
        # The board turns dark too (no bright block), and its pin labels stay readable on it.
        board = next(i for i in canvas.find_withtag("board") if canvas.type(i) == "rectangle")
        board_fill = canvas.itemcget(board, "fill")
        assert look.contrast_ratio(root, board_fill, "#ffffff") >= look.MIN_CONTRAST
        for item in canvas.find_withtag("label"):
            ratio = look.contrast_ratio(root, canvas.itemcget(item, "fill"), board_fill)
            assert ratio >= look.MIN_CONTRAST, canvas.itemcget(item, "text")
        grab_window(root, "pinout-legible-dark")
    finally:
        style.theme_use(before)
        panel.close()
        panel.destroy()


# --- the exports -----------------------------------------------------------------------------
def figure_texts(fig) -> list[tuple[str, tuple]]:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = []
    for text in fig.axes[0].texts:
        e = text.get_window_extent(renderer)
        boxes.append((text.get_text(), (e.x0, e.y0, e.x1, e.y1)))
    return boxes


@pytest.mark.parametrize("board", BOARDS, ids=lambda b: b.id)
@pytest.mark.parametrize("size", ["a4", "projector"])
def test_exported_pictures_have_no_overlapping_text(board, size):
    _, diagram, findings = checked(board)
    layout = export_layout(layout_pinout(board, diagram, findings), size)
    pixels = PROJECTOR_PX if size == "projector" else None
    fig = render_figure(layout, pixels=pixels)
    boxes = figure_texts(fig)
    assert overlapping(boxes) == [], board.id
    if size == "projector":
        assert fig.canvas.get_width_height() == PROJECTOR_PX


def test_projector_export_is_1080p_with_large_text(artifacts):
    for board in BOARDS:
        _, diagram, findings = checked(board)
        layout = layout_pinout(board, diagram, findings)
        path = render(layout, artifacts / f"pinout-projector-{board.id}.png", size="projector")
        image = Image.open(path)
        assert image.size == PROJECTOR_PX
        page = export_layout(layout, "projector")
        px_per_mm = min(PROJECTOR_PX[0] / page.width, PROJECTOR_PX[1] / page.height)
        assert page.pin_size * MM_PER_PT * px_per_mm >= PROJECTOR_MIN_PIN_PX, board.id


def test_the_export_dialog_offers_print_and_projector(root, tmp_path, monkeypatch):
    from companion_app.gui import wiring_panel

    panel = WiringPanel(root)
    panel.pack(fill="both", expand=True)
    offered: list = []

    def save_as(choice: str, name: str):
        def dialog(**options):
            offered.append([label for label, _ in options["filetypes"]])
            options["typevariable"].set(choice)  # what Tk does when a person picks a type
            return str(tmp_path / name)

        return dialog

    try:
        show_board(root, panel, BOARDS[0])
        for choice, name, size in (
            (wiring_panel.EXPORT_PROJECTOR, "projector.png", PROJECTOR_PX),
            (wiring_panel.EXPORT_PRINT, "print.png", None),
        ):
            monkeypatch.setattr(wiring_panel.filedialog, "asksaveasfilename", save_as(choice, name))
            panel._on_export()
            image = Image.open(tmp_path / name)
            if size is not None:
                assert image.size == size
            else:  # A4 landscape at 150 dpi
                assert image.size[0] >= 1754 and image.size[1] >= 1240
        assert wiring_panel.EXPORT_PROJECTOR in offered[0]
    finally:
        panel.close()
        panel.destroy()


def test_an_unknown_export_size_is_refused(tmp_path):
    board = BOARDS[0]
    with pytest.raises(ValueError, match="a4 or projector"):
        render(layout_pinout(board), tmp_path / "p.png", size="poster")
