"""The pinout picture: a board's header pins, the parts wired to them and the problem pins.

A teacher prints it and a beginner compares it with the breadboard, so it is laid out like the
board itself (header pins in two columns, in the order they sit on the board) rather than like
a schematic, and each pin shows both names a beginner meets: the label printed on the board and
the GPIO number that ``machine.Pin()`` takes.

The layout is computed once, in millimetres on an A4 landscape page, as a flat list of `Shape`s
(rectangles, circles, lines, text). Two renderers draw the same list: `render` here with
matplotlib's Agg/SVG backends for the printable file, and the wiring panel with Tk canvas
primitives. Sharing one list means the picture on screen is the picture that gets printed.

No Tk and no pyplot here: the engine runs in worker threads and in the CLI, where pyplot's
global state and a GUI backend would be wrong.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from companion_app.boards import Board, BoardPin
from companion_app.wiring.diagram import Diagram, split_endpoint
from companion_app.wiring.rules import SEVERITIES, Finding

# --- page geometry (mm) ----------------------------------------------------------------------
PAGE_W = 297.0  # A4 landscape
PAGE_H = 210.0
PRINT_DPI = 150
MARGIN = 8.0
TITLE_H = 16.0
LEGEND_H = 16.0
MAX_PITCH = 8.0  # distance between two header pins on the page
PART_COL_W = 46.0
ROUTING_H = 14.0  # under the board, for wires to the far column
FONT_PT = 8.0  # smallest text; 8 pt is readable on paper
MM_PER_PT = 25.4 / 72
GLYPH_EM = 0.62  # DejaVu Sans glyphs are about 0.6 em wide; rounded up so estimates are generous

# --- colours ---------------------------------------------------------------------------------
#: Red for errors and orange for warnings, as the issue and docs/wiring.md promise; blue info.
SEVERITY_COLOURS = {"error": "#d32f2f", "warning": "#f57c00", "info": "#1976d2"}
HIGHLIGHT = "#ffd600"
BOARD_FILL = "#e8f1e8"
BOARD_EDGE = "#2e5e2e"
PAD_FILL = {"gpio": "#ffffff", "power": "#ffcdd2", "ground": "#cfcfcf"}
PAD_OTHER = "#e0e0e0"
TEXT = "#111111"
MUTED = "#555555"
PART_FILL = "#fff8e1"  # a part's box: pale amber, apart from the board's green
PART_EDGE = "#8d6e63"  # its outline and pin dots
#: Wokwi wire colour names; unknown names fall back to a palette so wires stay distinct.
WIRE_COLOURS = {
    "red": "#d32f2f",
    "black": "#212121",
    "green": "#2e7d32",
    "blue": "#1565c0",
    "orange": "#ef6c00",
    "yellow": "#c9a400",
    "purple": "#6a1b9a",
    "violet": "#6a1b9a",
    "gray": "#757575",
    "grey": "#757575",
    "white": "#9e9e9e",
    "brown": "#6d4c41",
    "cyan": "#00838f",
    "magenta": "#ad1457",
    "gold": "#c9a400",
    "limegreen": "#43a047",
}
WIRE_PALETTE = ("#1565c0", "#2e7d32", "#6a1b9a", "#00838f", "#ad1457", "#6d4c41", "#c9a400")

# --- the board and its pin rows (mm unless named a ratio or pt) ------------------------------
TITLE_GAP = 6.0  # title block to the board and the part columns
CONTENT_TOP = MARGIN + TITLE_H + TITLE_GAP  # top of the board and of the part columns
MIN_BOARD_W = 70.0  # a board with short labels still looks like a board
PART_GAP_MIN = 22.0  # between a part column and the board: room for the wires' lanes
BOARD_FIRST_ROW = 10.0  # board's top edge to its first pin row, under the board's name
BOARD_EXTRA_H = 12.0  # board height beyond rows x pitch: the name above, a margin below
BOARD_NAME_Y = 4.5  # board's top edge to the middle of its name
COLUMN_PAD = 6.0  # added to a column's widest row: the pad and its inset
MIDDLE_GAP = 6.0  # between the two columns' widest rows
MIDDLE_TEXT_GAP = 8.0  # between the left and the right text of one row
EMPTY_COLUMN_W = 20.0  # width of a column with no pins
PAD_RATIO = 0.32  # pad radius / pitch: pads of neighbouring rows stay apart
RING_RATIO = 1.6  # severity ring radius / pad radius: the ring shows round the pad
TEXT_GAP = 1.5  # pad ring to label, and label to rule names
TEXT_SLACK = 1.08  # a pin's text gets this times its estimated width (ratio)
PIN_TEXT_RATIO = 0.5  # pin text height / pitch (ratio), within the two sizes below
PIN_TEXT_MIN_PT = 6.5  # smallest pin text, for 40-pin boards; still readable printed
PIN_TEXT_MAX_PT = FONT_PT + 1  # largest pin text, for boards with few pins
#: Ranks below every known severity, so an unknown one never wins a pin's colour.
UNKNOWN_SEVERITY_RANK = len(SEVERITIES)

# --- parts and wires (mm unless named a ratio) -----------------------------------------------
PART_HEAD_H = 9.0  # part box top to its first pin row: the part's name
PART_NAME_Y = 4.2  # part box top to the middle of its name
PART_STACK_GAP = 4.0  # between two part boxes of one column
PART_LABEL_GAP = 2.5  # part pin dot to its name
PART_PIN_RATIO = 0.18  # part pin dot radius / pitch
LEGEND_CLEARANCE = 4.0  # part boxes end this far above the legend
LANE_MARGIN = 4.0  # wire lanes keep this far from the part column and from the board
FAR_DROP = 3.0  # board's bottom edge to the first wire that goes round it
FAR_STEP_MAX = 1.5  # between two wires under the board, at most
ROUTING_MARGIN = 4.0  # part of ROUTING_H the wires under the board leave free
FAR_OUT = 6.0  # a far-column pad to the wire that comes up beside it
FAR_OUT_STEP = 1.2  # between two such wires

# --- title and legend (mm unless pt) ---------------------------------------------------------
TITLE_Y = 4.0  # page margin to the middle of the title
TITLE_PT = 14
SUMMARY_Y = 11.0  # page margin to the middle of the summary line
SUMMARY_PT = FONT_PT + 1
LEGEND_DOT_R = 2.0  # radius of a legend colour dot
LEGEND_TEXT_X = 5.5  # legend item's left edge to its text
LEGEND_ITEM_GAP = 8.0  # between one legend item's text and the next dot
UNPLACED_Y = 6.0  # legend row to the "not wired straight to the board" line

# --- line widths (mm) ------------------------------------------------------------------------
BOARD_EDGE_W = 0.6
PART_EDGE_W = 0.5
PAD_EDGE_W = 0.3
WIRE_W = 0.7


@dataclass(frozen=True)
class Shape:
    """One drawing primitive in page millimetres.

    kind is "rect" (x, y, w, h), "circle" (x, y = centre, w = radius), "line" (points) or
    "text" (x, y, text, anchor, size in points). `tags` name what the shape belongs to
    ("pin:D34", "pad"), so the panel can find a pin's pad to highlight it.
    """

    kind: str
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0
    fill: str | None = None
    outline: str | None = None
    width: float = 0.3  # line width in mm
    text: str = ""
    size: float = FONT_PT
    anchor: str = "w"  # Tk anchor names: "w", "e", "center", "n"...
    bold: bool = False
    points: tuple[tuple[float, float], ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class PinSpot:
    """Where a header pin is drawn, and what the checks said about it."""

    pin: BoardPin
    side: str  # "left" | "right"
    x: float  # centre of the pad
    y: float
    severity: str | None = None
    rules: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return pin_text(self.pin)


@dataclass(frozen=True)
class WireSpot:
    part_id: str
    part_pin: str
    board_pin: str
    colour: str
    points: tuple[tuple[float, float], ...]


@dataclass
class PinoutLayout:
    """The laid-out page: title, pins, parts and wires as `shapes`, plus lookups for the panel."""

    board: Board
    title: str
    width: float = PAGE_W
    height: float = PAGE_H
    pins: dict[str, PinSpot] = field(default_factory=dict)
    wires: list[WireSpot] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)  # parts with no wire to the board
    shapes: list[Shape] = field(default_factory=list)

    def marked(self) -> dict[str, PinSpot]:
        """Pins with a problem, by pin name."""
        return {name: spot for name, spot in self.pins.items() if spot.severity}


def pin_text(pin: BoardPin) -> str:
    """ "D34 · GPIO34": the printed label and the number for machine.Pin, when they differ."""
    if pin.gpio is None:
        return pin.label
    gpio = f"GPIO{pin.gpio}"
    if pin.label.upper() == gpio:
        return gpio
    return f"{pin.label} · {gpio}"


def header_columns(board: Board) -> tuple[list[BoardPin], list[BoardPin]]:
    """Left and right header columns, each top to bottom.

    Every board file lists the left column first and then the right one (checked against the
    pin positions in Wokwi's board.json), so the first half is the left column. Whether the
    right one is listed top down or bottom up is a fact of the board, in its data file
    (`Board.right_column_order`, tested against Wokwi's y positions).
    """
    pins = [p for p in board.pins if p.header]
    half = (len(pins) + 1) // 2
    left, right = pins[:half], pins[half:]
    if board.right_column_order == "bottom-up":
        right = list(reversed(right))
    return left, right


def pins_of_finding(board: Board, finding: Finding, board_part_id: str | None = None) -> list[str]:
    """The header pin names a finding is about, so the picture can mark or highlight them.

    A diagram finding names the exact pin in `where` ("diagram.json: esp:D34"); a script finding
    only has "GPIO6", which may sit on several header pins, or on none (flash pins often are not
    on the header).
    """
    names: list[str] = []
    if board_part_id and finding.where:
        tail = finding.where.rsplit(": ", 1)[-1]
        pid, pin_name = split_endpoint(tail)
        if pid == board_part_id:
            pin = board.pin(pin_name)
            if pin is not None and pin.header:
                names.append(pin.name)
    if finding.pin:
        m = re.fullmatch(r"GPIO(\d+)", finding.pin.strip(), re.IGNORECASE)
        if m:
            names.extend(p.name for p in board.pins_for_gpio(int(m.group(1))))
        elif not names:
            pin = board.pin(finding.pin)
            if pin is not None and pin.header:
                names.append(pin.name)
            else:
                names.extend(p.name for p in board.pins if p.header and p.label == finding.pin)
    return list(dict.fromkeys(names))


def _rules_text(shown: list[str], total: int) -> str:
    """ "input-only, strapping-pin" or, cut short, "input-only +2"."""
    text = ", ".join(shown)
    if len(shown) < total:
        text = f"{text} +{total - len(shown)}".strip()
    return text


def _text_w(text: str, size: float = FONT_PT) -> float:
    """A generous estimate of a text's width in mm (DejaVu Sans is about 0.6 em per glyph)."""
    return len(text) * size * MM_PER_PT * GLYPH_EM


def _wire_colour(name: str, index: int) -> str:
    key = (name or "").strip().lower()
    if key in WIRE_COLOURS:
        return WIRE_COLOURS[key]
    if re.fullmatch(r"#[0-9a-fA-F]{6}", key):
        return key
    return WIRE_PALETTE[index % len(WIRE_PALETTE)]


def _board_links(board: Board, diagram: Diagram | None) -> list[tuple[str, str, str, str]]:
    """(part id, part pin, board pin name, wire colour name) for every part pin whose net
    reaches a header pin. Nets are followed through wires, so a chain of wires still counts."""
    if diagram is None or diagram.board_part_id is None:
        return []
    colour_of: dict[str, str] = {}
    for conn in diagram.connections:
        for end in conn.endpoints:
            colour_of.setdefault(end, conn.color)
    links: list[tuple[str, str, str, str]] = []
    for net in diagram.nets:
        board_pins: list[str] = []
        others: list[str] = []
        for end in net:
            pid, pin_name = split_endpoint(end)
            if pid == diagram.board_part_id:
                pin = board.pin(pin_name)
                if pin is not None and pin.header and pin.name not in board_pins:
                    board_pins.append(pin.name)
            else:
                others.append(end)
        for end in sorted(others):
            pid, pin_name = split_endpoint(end)
            for name in board_pins:
                links.append((pid, pin_name, name, colour_of.get(end, "")))
    return links


@dataclass(frozen=True)
class _Frame:
    """Where the board sits on the page and how big its rows and text are."""

    pitch: float  # mm between two pin rows
    text_size: float  # points, for pin, part and rule text
    x: float
    y: float
    w: float
    h: float

    @property
    def bottom(self) -> float:
        return self.y + self.h


#: Problems per pin name: the worst severity and every rule name, in the order found.
_Marks = dict[str, tuple[str, list[str]]]


def _pin_marks(board: Board, findings: list[Finding], board_part: str | None) -> _Marks:
    """Problems per pin: the worst severity wins the colour, every rule name is shown."""
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    marks: _Marks = {}
    for f in findings:
        for name in pins_of_finding(board, f, board_part):
            sev, rules = marks.get(name, (f.severity, []))
            if rank.get(f.severity, UNKNOWN_SEVERITY_RANK) < rank.get(sev, UNKNOWN_SEVERITY_RANK):
                sev = f.severity
            if f.rule not in rules:
                rules.append(f.rule)
            marks[name] = (sev, rules)
    return marks


def _label_w(text: str, size: float) -> float:
    """The width a pin's label or rule names may take, with the slack every estimate gets."""
    return _text_w(text, size) * TEXT_SLACK


def _pin_inset(pitch: float) -> float:
    """From a pad's centre to its label: past the severity ring, then a gap."""
    return pitch * PAD_RATIO * RING_RATIO + TEXT_GAP


def _row_text(pin: BoardPin, marks: _Marks) -> tuple[str, str]:
    """A pin's label, and its rule names (with the two spaces that set them apart) or ""."""
    rules = marks.get(pin.name, ("", []))[1]
    return pin_text(pin), ("  " + ", ".join(rules)) if rules else ""


def _column_w(pins: Sequence[BoardPin], marks: _Marks, text_size: float) -> float:
    """The widest row of one column: label, gap, rule names."""
    widths = [
        _label_w(a, text_size) + TEXT_GAP + _label_w(b, text_size)
        for a, b in (_row_text(p, marks) for p in pins)
    ]
    return max(widths, default=EMPTY_COLUMN_W)


def _board_frame(left: list[BoardPin], right: list[BoardPin], marks: _Marks) -> _Frame:
    """Size the board: rows fill the height between title and legend, text sets the width."""
    rows = max(len(left), len(right), 1)
    # Below the board: its own padding and room for wires that go round it to the far column.
    avail = PAGE_H - CONTENT_TOP - MARGIN - LEGEND_H - BOARD_EXTRA_H - ROUTING_H
    pitch = min(MAX_PITCH, avail / rows)
    text_size = max(PIN_TEXT_MIN_PT, min(PIN_TEXT_MAX_PT, pitch / MM_PER_PT * PIN_TEXT_RATIO))
    half_w = max(_column_w(left, marks, text_size), _column_w(right, marks, text_size))
    half_w += COLUMN_PAD
    widest = PAGE_W - 2 * MARGIN - 2 * (PART_COL_W + PART_GAP_MIN)
    board_w = min(widest, max(MIN_BOARD_W, 2 * half_w + MIDDLE_GAP))
    board_h = rows * pitch + BOARD_EXTRA_H
    return _Frame(pitch, text_size, (PAGE_W - board_w) / 2, CONTENT_TOP, board_w, board_h)


def _board_shapes(board: Board, frame: _Frame) -> list[Shape]:
    """The board's outline and its name across the top."""
    outline = Shape(
        "rect",
        frame.x,
        frame.y,
        frame.w,
        frame.h,
        fill=BOARD_FILL,
        outline=BOARD_EDGE,
        width=BOARD_EDGE_W,
        tags=("board",),
    )
    name = Shape(
        "text",
        PAGE_W / 2,
        frame.y + BOARD_NAME_Y,
        text=board.name,
        size=frame.text_size,
        bold=True,
        anchor="center",
        tags=("board",),
    )
    return [outline, name]


def _share_row(wants: list[float], free: float) -> list[float]:
    """Split a row's free width between its two rule texts: a short one lends the other room,
    and only when both want more than half is each cut to half."""
    if sum(wants) <= free:
        return wants
    if wants[0] <= free / 2:
        return [wants[0], free - wants[0]]
    if wants[1] <= free / 2:
        return [free - wants[1], wants[1]]
    return [free / 2, free / 2]


def _rule_rooms(
    left: list[BoardPin], right: list[BoardPin], marks: _Marks, frame: _Frame
) -> dict[str, float]:
    """The width each pin's rule names may take: both columns share the board's width row by
    row, so rule names never run into the other column's labels."""
    inset_w = _pin_inset(MAX_PITCH)
    rooms: dict[str, float] = {}
    for i in range(max(len(left), len(right), 1)):
        pair = [col[i] if i < len(col) else None for col in (left, right)]
        texts = [_row_text(p, marks) if p is not None else ("", "") for p in pair]
        labels = [_label_w(a, frame.text_size) for a, _ in texts]
        wants = [_label_w(b.strip(), frame.text_size) + TEXT_GAP if b else 0.0 for _, b in texts]
        free = frame.w - 2 * inset_w - sum(labels) - MIDDLE_TEXT_GAP
        for p, room in zip(pair, _share_row(wants, free)):
            if p is not None:
                rooms[p.name] = room - TEXT_GAP
    return rooms


def _fitted_rules(rules: Sequence[str], room: float, size: float) -> str:
    """The rule names that fit `room`, the rest counted as "+N"; all stay in the findings."""
    shown = list(rules)
    while shown and _label_w(_rules_text(shown, len(rules)), size) > room:
        shown.pop()
    return _rules_text(shown, len(rules)) if rules else ""


def _pad_shapes(spot: PinSpot, pitch: float) -> list[Shape]:
    """A header pin's pad, with a ring in the severity colour round it when it has a problem:
    the ring shows at a glance, in colour and in grey print."""
    tag = f"pin:{spot.pin.name}"
    radius = pitch * PAD_RATIO
    shapes: list[Shape] = []
    if spot.severity:
        ring = SEVERITY_COLOURS[spot.severity]
        shapes.append(
            Shape(
                "circle",
                spot.x,
                spot.y,
                radius * RING_RATIO,
                fill=ring,
                outline=ring,
                tags=(tag, "mark"),
            )
        )
    fill = PAD_FILL.get(spot.pin.kind, PAD_OTHER)
    shapes.append(
        Shape(
            "circle",
            spot.x,
            spot.y,
            radius,
            fill=fill,
            outline=TEXT,
            width=PAD_EDGE_W,
            tags=(tag, "pad"),
        )
    )
    return shapes


def _pin_text_shapes(spot: PinSpot, rule_text: str, frame: _Frame) -> list[Shape]:
    """A header pin's label beside its pad, and its rule names next to it, towards the middle
    of the board; both in the severity colour."""
    tag = f"pin:{spot.pin.name}"
    left = spot.side == "left"
    inset = _pin_inset(frame.pitch)
    tx = spot.x + inset if left else spot.x - inset
    style: dict[str, Any] = {
        "size": frame.text_size,
        "anchor": "w" if left else "e",
        "fill": SEVERITY_COLOURS[spot.severity] if spot.severity else TEXT,
    }
    shapes = [
        Shape(
            "text",
            tx,
            spot.y,
            text=spot.text,
            bold=bool(spot.severity),
            tags=(tag, "label"),
            **style,
        )
    ]
    if rule_text:
        offset = _label_w(spot.text, frame.text_size) + TEXT_GAP
        rx = tx + offset if left else tx - offset
        shapes.append(
            Shape(
                "text", rx, spot.y, text=rule_text.strip(), bold=True, tags=(tag, "rule"), **style
            )
        )
    return shapes


def _place_pins(
    layout: PinoutLayout,
    columns: tuple[list[BoardPin], list[BoardPin]],
    marks: _Marks,
    frame: _Frame,
) -> None:
    """Put each header pin in its row, on the board's left or right edge."""
    rooms = _rule_rooms(*columns, marks, frame)
    for column, side in zip(columns, ("left", "right")):
        x = frame.x if side == "left" else frame.x + frame.w
        for i, pin in enumerate(column):
            y = frame.y + BOARD_FIRST_ROW + i * frame.pitch
            sev, rules = marks.get(pin.name, (None, []))
            spot = PinSpot(pin, side, x, y, sev, tuple(rules))
            layout.pins[pin.name] = spot
            rule_text = _fitted_rules(rules, rooms[pin.name], frame.text_size)
            layout.shapes.extend(_pad_shapes(spot, frame.pitch))
            layout.shapes.extend(_pin_text_shapes(spot, rule_text, frame))


def layout_pinout(
    board: Board,
    diagram: Diagram | None = None,
    findings: Iterable[Finding] = (),
    title: str | None = None,
) -> PinoutLayout:
    """Lay out one page: the board in the middle, parts on the side of the pins they use."""
    findings = list(findings)
    board_part = diagram.board_part_id if diagram is not None else None
    layout = PinoutLayout(board=board, title=title or f"{board.name} ({board.id})")
    marks = _pin_marks(board, findings, board_part)
    columns = header_columns(board)
    frame = _board_frame(*columns, marks)
    layout.shapes.extend(_board_shapes(board, frame))
    _place_pins(layout, columns, marks, frame)
    _place_parts(layout, diagram, frame)
    _title_and_legend(layout, findings, diagram)
    return layout


# --- parts and wires -------------------------------------------------------------------------
#: Part id -> (part pin, board pin, wire colour name) of every wire to a header pin.
_PartWires = dict[str, list[tuple[str, str, str]]]


@dataclass
class _Routing:
    """Counters shared by every wire on the page, so colours and far lanes never repeat."""

    far_wires: int  # wires that go round the bottom of the board, over both sides
    wire_index: int = 0
    far_lane: int = 0


def _wires_by_part(layout: PinoutLayout, diagram: Diagram | None) -> _PartWires:
    """The wires to header pins, per part, in diagram order; records the parts on `layout`."""
    by_part: _PartWires = {}
    for pid, part_pin, board_pin, colour in _board_links(layout.board, diagram):
        if board_pin in layout.pins:
            by_part.setdefault(pid, []).append((part_pin, board_pin, colour))
    # Wokwi's "$serialMonitor" is the simulator's terminal, not a part on the breadboard.
    by_part = {pid: wires for pid, wires in by_part.items() if not pid.startswith("$")}
    if diagram is not None:
        layout.unplaced = [
            p.id for p in diagram.parts if p.id != diagram.board_part_id and p.id not in by_part
        ]
    layout.parts = list(by_part)
    return by_part


def _part_sides(layout: PinoutLayout, by_part: _PartWires) -> dict[str, list[str]]:
    """Each part goes on the side most of its wires leave from (left on a tie)."""
    sides: dict[str, list[str]] = {"left": [], "right": []}
    for pid, wires in by_part.items():
        n_left = sum(1 for _, bp, _ in wires if layout.pins[bp].side == "left")
        sides["left" if n_left * 2 >= len(wires) else "right"].append(pid)
    return sides


def _part_pins(wires: list[tuple[str, str, str]]) -> list[str]:
    """A part's pins that have a wire to the board, each once, in wire order."""
    return list(dict.fromkeys(pp for pp, _, _ in wires))


def _stack_boxes(
    pids: list[str], by_part: _PartWires, mean_y: dict[str, float], pitch: float, bottom: float
) -> list[tuple[str, float, float]]:
    """(part id, top, height) of each box in one column: each box centred on its wires where
    it can be, pushed down past the one above, and the whole stack slid up if it would run
    past `bottom` (but never above the title)."""
    next_y = CONTENT_TOP
    boxes: list[tuple[str, float, float]] = []
    for pid in pids:
        box_h = PART_HEAD_H + len(_part_pins(by_part[pid])) * pitch
        y0 = max(next_y, mean_y[pid] - box_h / 2)
        boxes.append((pid, y0, box_h))
        next_y = y0 + box_h + PART_STACK_GAP
    overflow = next_y - PART_STACK_GAP - bottom
    if overflow > 0:
        boxes = [(pid, y0 - overflow, h) for pid, y0, h in boxes]
        first = boxes[0][1] if boxes else 0.0
        if first < CONTENT_TOP:
            boxes = [(pid, y0 + CONTENT_TOP - first, h) for pid, y0, h in boxes]
    return boxes


def _part_shapes(
    title: str,
    tag: str,
    box: tuple[float, float, float],
    pin_y: dict[str, float],
    side: str,
    frame: _Frame,
) -> list[Shape]:
    """A part's box with its name on top and its wired pins along the edge facing the board."""
    col_x, y0, box_h = box
    edge_x = col_x + PART_COL_W if side == "left" else col_x
    shapes = [
        Shape(
            "rect",
            col_x,
            y0,
            PART_COL_W,
            box_h,
            fill=PART_FILL,
            outline=PART_EDGE,
            width=PART_EDGE_W,
            tags=(tag,),
        ),
        Shape(
            "text",
            col_x + PART_COL_W / 2,
            y0 + PART_NAME_Y,
            text=title,
            size=frame.text_size,
            bold=True,
            anchor="center",
            tags=(tag,),
        ),
    ]
    anchor = "e" if side == "left" else "w"
    tx = edge_x - PART_LABEL_GAP if side == "left" else edge_x + PART_LABEL_GAP
    for pp, py in pin_y.items():
        shapes.append(
            Shape("text", tx, py, text=pp, size=frame.text_size, anchor=anchor, tags=(tag,))
        )
        dot_r = frame.pitch * PART_PIN_RATIO
        shapes.append(
            Shape("circle", edge_x, py, dot_r, fill=PART_EDGE, outline=PART_EDGE, tags=(tag,))
        )
    return shapes


def _far_route(
    start: tuple[float, float], lane_x: float, spot: PinSpot, frame: _Frame, routing: _Routing
) -> tuple[tuple[float, float], ...]:
    """A wire to a pin on the far column: down its lane, under the board, up beside the pad.
    Each far wire gets its own level under the board and its own column beside the pads."""
    step = min(FAR_STEP_MAX, (ROUTING_H - ROUTING_MARGIN) / max(1, routing.far_wires))
    below = frame.bottom + FAR_DROP + routing.far_lane * step
    out = 1 if spot.side == "right" else -1
    far_x = spot.x + (FAR_OUT + routing.far_lane * FAR_OUT_STEP) * out
    routing.far_lane += 1
    return (start, (lane_x, start[1]), (lane_x, below), (far_x, below), (far_x, spot.y))


def _place_column(
    layout: PinoutLayout,
    diagram: Diagram | None,
    by_part: _PartWires,
    pids: list[str],
    side: str,
    frame: _Frame,
    routing: _Routing,
) -> None:
    """The parts of one side, top to bottom by their wires, and each wire in its own lane."""
    mean_y = {pid: sum(layout.pins[bp].y for _, bp, _ in w) / len(w) for pid, w in by_part.items()}
    pids.sort(key=mean_y.__getitem__)
    col_x = MARGIN if side == "left" else layout.width - MARGIN - PART_COL_W
    edge_x = col_x + PART_COL_W if side == "left" else col_x
    board_edge = frame.x if side == "left" else frame.x + frame.w
    gap_lo, gap_hi = sorted((edge_x, board_edge))
    n_wires = sum(len(by_part[p]) for p in pids)
    bottom = layout.height - MARGIN - LEGEND_H - LEGEND_CLEARANCE
    lane = 0
    for pid, y0, box_h in _stack_boxes(pids, by_part, mean_y, frame.pitch, bottom):
        part = diagram.part(pid) if diagram is not None else None
        kind = part.type.removeprefix("wokwi-").removeprefix("board-") if part else ""
        pins = _part_pins(by_part[pid])
        pin_y = {pp: y0 + PART_HEAD_H + (i + 0.5) * frame.pitch for i, pp in enumerate(pins)}
        title = f"{pid} ({kind})"
        box = (col_x, y0, box_h)
        layout.shapes.extend(_part_shapes(title, f"part:{pid}", box, pin_y, side, frame))
        for part_pin, board_pin, colour_name in by_part[pid]:
            spot = layout.pins[board_pin]
            colour = _wire_colour(colour_name, routing.wire_index)
            routing.wire_index += 1
            # Each wire gets its own vertical lane in the gap, so no two wires run together.
            lane += 1
            lane_x = (
                gap_lo + LANE_MARGIN + (gap_hi - gap_lo - 2 * LANE_MARGIN) * (lane / (n_wires + 1))
            )
            start = (edge_x, pin_y[part_pin])
            if spot.side == side:
                route = (start, (lane_x, start[1]), (lane_x, spot.y))
            else:
                route = _far_route(start, lane_x, spot, frame, routing)
            points = (*route, (spot.x, spot.y))
            layout.wires.append(WireSpot(pid, part_pin, board_pin, colour, points))
            tags = (f"wire:{pid}:{part_pin}", f"pin:{board_pin}")
            layout.shapes.append(
                Shape("line", points=points, outline=colour, width=WIRE_W, tags=tags)
            )


def _place_parts(layout: PinoutLayout, diagram: Diagram | None, frame: _Frame) -> None:
    """Parts go beside the board, on the side most of their wires leave from, in the order of
    the pins they use, so wires run mostly straight across."""
    by_part = _wires_by_part(layout, diagram)
    sides = _part_sides(layout, by_part)
    far_wires = sum(
        1
        for pid, wires in by_part.items()
        for _, bp, _ in wires
        if layout.pins[bp].side != ("left" if pid in sides["left"] else "right")
    )
    routing = _Routing(far_wires)
    for side, pids in sides.items():
        _place_column(layout, diagram, by_part, pids, side, frame, routing)
    # Pads above the wires, so a wire ends under its pin rather than across it.
    layout.shapes.sort(key=lambda s: 0 if s.kind == "line" else 1)


def _title_and_legend(
    layout: PinoutLayout, findings: list[Finding], diagram: Diagram | None
) -> None:
    """The title and a one-line summary at the top; the colour legend at the bottom."""
    n_err = sum(1 for f in findings if f.severity == "error")
    n_warn = sum(1 for f in findings if f.severity == "warning")
    source = f" — {diagram.source}" if diagram is not None and diagram.source else ""
    summary = (
        f"{n_err} error{'s' * (n_err != 1)}, {n_warn} warning{'s' * (n_warn != 1)}{source}"
        if findings
        else f"No problems found{source}"
    )
    layout.shapes += [
        Shape(
            "text",
            MARGIN,
            MARGIN + TITLE_Y,
            text=layout.title,
            size=TITLE_PT,
            bold=True,
            anchor="w",
            tags=("title",),
        ),
        Shape(
            "text",
            MARGIN,
            MARGIN + SUMMARY_Y,
            text=summary,
            size=SUMMARY_PT,
            fill=MUTED,
            anchor="w",
            tags=("title",),
        ),
    ]
    layout.shapes += _legend_shapes(layout)


def _legend_shapes(layout: PinoutLayout) -> list[Shape]:
    """What the colours mean, in one row, and the parts the picture could not place."""
    shapes: list[Shape] = []
    y = layout.height - MARGIN - LEGEND_H / 2
    x = MARGIN
    items = [
        (SEVERITY_COLOURS["error"], "error: the board may not boot, or the part may break"),
        (SEVERITY_COLOURS["warning"], "warning: works with care"),
        (PAD_FILL["power"], "power"),
        (PAD_FILL["ground"], "ground"),
    ]
    for colour, text in items:
        dot = Shape(
            "circle",
            x + LEGEND_DOT_R,
            y,
            LEGEND_DOT_R,
            fill=colour,
            outline=TEXT,
            tags=("legend",),
        )
        label = Shape(
            "text", x + LEGEND_TEXT_X, y, text=text, size=FONT_PT, anchor="w", tags=("legend",)
        )
        shapes += [dot, label]
        x += LEGEND_TEXT_X + _text_w(text) + LEGEND_ITEM_GAP
    if layout.unplaced:
        shapes.append(
            Shape(
                "text",
                MARGIN,
                y + UNPLACED_Y,
                size=FONT_PT,
                anchor="w",
                fill=MUTED,
                text="Not wired straight to the board: " + ", ".join(layout.unplaced),
                tags=("legend",),
            )
        )
    return shapes


# --- the printable file ----------------------------------------------------------------------
def _mpl_anchor(anchor: str) -> tuple[str, str]:
    ha = {"w": "left", "e": "right"}.get(anchor[-1:], "center") if anchor != "center" else "center"
    va = "top" if anchor.startswith("n") else "bottom" if anchor.startswith("s") else "center"
    return ha, va


def render_figure(layout: PinoutLayout, dpi: int = PRINT_DPI):
    """The layout as a matplotlib Figure (Agg canvas attached), page-sized at `dpi`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # Whole pixels, rounded up: A4 at 150 dpi is 1753.9 px wide and must not lose that pixel.
    px_w, px_h = math.ceil(layout.width / 25.4 * dpi), math.ceil(layout.height / 25.4 * dpi)
    fig = Figure(figsize=(px_w / dpi, px_h / dpi), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, layout.width)
    ax.set_ylim(layout.height, 0)  # y grows downwards, as on the page and the Tk canvas
    ax.set_aspect("equal")
    ax.axis("off")
    for z, shape in enumerate(layout.shapes):
        _draw(ax, shape, z)
    return fig


def _draw(ax, s: Shape, z: int) -> None:
    """One shape on matplotlib axes in page millimetres, above the shapes before it (`z`)."""
    from matplotlib.patches import Circle, Rectangle

    pt = 72 / 25.4  # line widths: mm -> points
    edge = {"facecolor": s.fill or "none", "edgecolor": s.outline or "none"}
    if s.kind == "rect":
        ax.add_patch(Rectangle((s.x, s.y), s.w, s.h, linewidth=s.width * pt, zorder=z, **edge))
    elif s.kind == "circle":
        ax.add_patch(Circle((s.x, s.y), s.w, linewidth=s.width * pt, zorder=z, **edge))
    elif s.kind == "line":
        xs, ys = zip(*s.points)
        ax.plot(
            xs,
            ys,
            color=s.outline,
            linewidth=s.width * pt,
            zorder=z,
            solid_joinstyle="round",
            solid_capstyle="round",
        )
    elif s.kind == "text":
        ha, va = _mpl_anchor(s.anchor)
        weight = "bold" if s.bold else "normal"
        colour = s.fill or TEXT
        ax.text(
            s.x,
            s.y,
            s.text,
            fontsize=s.size,
            ha=ha,
            va=va,
            color=colour,
            fontweight=weight,
            zorder=z,
        )


def render(layout: PinoutLayout, path: str | os.PathLike[str], dpi: int = PRINT_DPI) -> Path:
    """Write the page as PNG or SVG (by the file's suffix); A4 landscape, `dpi` for PNG."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".") or "png"
    if fmt not in ("png", "svg"):
        raise ValueError(f"Export the pinout as .png or .svg, not {path.suffix!r}.")
    fig = render_figure(layout, dpi)
    fig.savefig(path, format=fmt, dpi=dpi, facecolor="white")
    return path


__all__ = [
    "PAGE_H",
    "PAGE_W",
    "PRINT_DPI",
    "SEVERITY_COLOURS",
    "HIGHLIGHT",
    "PinSpot",
    "PinoutLayout",
    "Shape",
    "WireSpot",
    "header_columns",
    "layout_pinout",
    "pin_text",
    "pins_of_finding",
    "render",
    "render_figure",
]
