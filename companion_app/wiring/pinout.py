"""The pinout picture: a board's header pins, the parts wired to them and the problem pins.

A teacher prints it or puts it on a projector, and a beginner compares it with the breadboard,
so it is laid out like the board itself (header pins in two columns, in the order they sit on
the board) rather than like a schematic, and each pin shows both names a beginner meets: the
label printed on the board and the GPIO number that ``machine.Pin()`` takes.

How it stays legible at every size:

1. The layout is computed in millimetres as a flat list of `Shape`s (rectangles, circles,
   lines, text). Two renderers draw the same list: `render` here with matplotlib's Agg/SVG
   backends for the printable or projected file, and the wiring panel with Tk canvas
   primitives. Sharing one list means the picture on screen is the picture that gets printed.
2. Every width and height of text comes from a `TextMetrics`: the font the renderer really
   uses (the Tk canvas font on screen, matplotlib's for a file), or a generous estimate when
   there is none. So the layout makes room for the text as it will be drawn, and labels never
   run into each other, whatever the font or the zoom.
3. A problem pin gets a numbered badge beside its label, and the numbers are explained in a
   key under the board ("1  D34 · GPIO34 — error, input-only: …"). Rule names on the pin row
   ran into the pin names; a badge has a known, small width.
4. Two page modes: an A4 page that the rows fill (printing), or the natural size of the
   content (the screen, which scrolls, and the projector export, which is fitted to 1920×1080).
   Content that needs more room than the page makes the page grow; nothing is squeezed.

No Tk and no pyplot here: the engine runs in worker threads and in the CLI, where pyplot's
global state and a GUI backend would be wrong.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Protocol, Sequence

from companion_app.boards import Board, BoardPin
from companion_app.boards.parts import load_part
from companion_app.wiring.diagram import Diagram, split_endpoint
from companion_app.wiring.rules import SEVERITIES, Finding

# --- page geometry (mm) ----------------------------------------------------------------------
PAGE_W = 297.0  # A4 landscape
PAGE_H = 210.0
A4 = (PAGE_W, PAGE_H)
PRINT_DPI = 150
#: Export sizes: "a4" prints (A4 landscape at `PRINT_DPI`, longer when the key needs it);
#: "projector" is the picture at its natural size fitted to a 1080p projector.
EXPORT_SIZES = ("a4", "projector")
PROJECTOR_PX = (1920, 1080)
MARGIN = 8.0
TITLE_H = 16.0
LEGEND_H = 16.0
MAX_PITCH = 8.0  # distance between two header pins on the page
PART_COL_W = 46.0  # a part column's width on the A4 page (wider when its text needs it)
PART_MIN_W = 24.0  # ... at the natural size
ROUTING_H = 14.0  # under the board, for wires to the far column
FONT_PT = 8.0  # smallest text; 8 pt is readable on paper
MM_PER_PT = 25.4 / 72
GLYPH_EM = 0.62  # DejaVu Sans glyphs are about 0.6 em wide; rounded up so estimates are generous
LINE_EM = 1.25  # estimated line height / font size (DejaVu Sans: 1.16), rounded up likewise
BOLD_EM_RATIO = 1.08  # DejaVu Sans Bold / DejaVu Sans glyph widths, rounded up

# --- colours ---------------------------------------------------------------------------------
#: Red for errors and orange for warnings, as the issue and docs/wiring.md promise; blue info.
SEVERITY_COLOURS = {"error": "#d32f2f", "warning": "#f57c00", "info": "#1976d2"}
#: The same colours darkened for text on the board's pale green (contrast >= 4.5:1, tested).
SEVERITY_TEXT = {"error": "#b71c1c", "warning": "#8a4500", "info": "#0d47a1"}
#: A badge's number on the badge's severity colour (contrast >= 4.5:1, tested).
BADGE_TEXT = {"error": "#ffffff", "warning": "#000000", "info": "#ffffff"}
HIGHLIGHT = "#ffd600"
BOARD_FILL = "#e8f1e8"
BOARD_EDGE = "#2e5e2e"
PAD_FILL = {"gpio": "#ffffff", "power": "#ffcdd2", "ground": "#cfcfcf"}
PAD_OTHER = "#e0e0e0"
TEXT = "#111111"
MUTED = "#555555"
PAGE_FILL = "#ffffff"  # the printed page; on screen the canvas takes the theme's background
PART_FILL = "#fff8e1"  # a part's box: pale amber, apart from the board's green
PART_EDGE = "#8d6e63"  # its outline and pin dots
#: On a dark screen (Thonny's dark theme) the board and the parts are dark too, so the picture
#: is no bright block; the text on them is made light enough by the renderer. Pads stay light.
DARK_FILLS = {BOARD_FILL: "#1f3a25", PART_FILL: "#3d3322"}
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
#: Tags of text drawn straight on the page (not on the board or a part): a screen renderer
#: gives it the theme's text colour, so it stays readable on a dark background.
PAGE_TEXT = "page"

# --- the board and its pin rows (mm unless named a ratio or pt) ------------------------------
TITLE_GAP = 6.0  # title block to the board and the part columns
CONTENT_TOP = MARGIN + TITLE_H + TITLE_GAP  # top of the board and of the part columns (A4)
MIN_BOARD_W = 70.0  # a board with short labels still looks like a board
PART_GAP_MIN = 22.0  # between a part column and the board: room for the wires' lanes
BOARD_FIRST_ROW = 10.0  # board's top edge to its first pin row, under the board's name (A4)
BOARD_EXTRA_H = 12.0  # board height beyond rows x pitch on A4: the name above, a margin below
BOARD_BOTTOM_PAD = 2.0  # the last pin row's half pitch to the board's bottom edge, plus this
NAME_PAD = 1.5  # above and below the board's name, and a part's name
MIDDLE_GAP = 6.0  # between the two columns' widest rows
EMPTY_COLUMN_W = 20.0  # width of a column with no pins
PAD_RATIO = 0.32  # pad radius / pitch: pads of neighbouring rows stay apart
RING_RATIO = 1.6  # severity ring radius / pad radius: the ring shows round the pad
TEXT_GAP = 1.5  # pad ring to label, and label to its badge
PIN_TEXT_RATIO = 0.5  # pin text height / pitch on A4 (ratio), within the two sizes below
PIN_TEXT_MIN_PT = 6.5  # smallest pin text, for 40-pin boards; still readable printed
PIN_TEXT_MAX_PT = FONT_PT + 1  # largest pin text on A4, and the pin text at the natural size
ROW_MIN_RATIO = 1.35  # a row's pitch is at least this times its text's line height
NATURAL_ROW_RATIO = 1.5  # ... and at the natural size, exactly this
#: Ranks below every known severity, so an unknown one never wins a pin's colour.
UNKNOWN_SEVERITY_RANK = len(SEVERITIES)

# --- badges and the key (mm unless named a ratio or pt) --------------------------------------
BADGE_PT_RATIO = 0.8  # a badge's number / the pin text size
BADGE_PAD = 0.4  # round the badge's number
KEY_GAP = 5.0  # the lowest thing drawn above to the key
KEY_ROW_RATIO = 1.25  # key row pitch / the taller of its text and its badge
KEY_TEXT_GAP = 2.0  # a key row's badge to its text
KEY_SIDE_MIN_W = 90.0  # a key beside the picture is at least this wide
PROJECTOR_ASPECT = PROJECTOR_PX[0] / PROJECTOR_PX[1]

# --- parts and wires (mm unless named a ratio) -----------------------------------------------
PART_STACK_GAP = 4.0  # between two part boxes of one column
PART_LABEL_GAP = 2.5  # part pin dot to its name
PART_SIDE_PAD = 2.5  # a part's name and pin names keep this far from the box's sides
PART_PIN_RATIO = 0.18  # part pin dot radius / pitch
LEGEND_CLEARANCE = 4.0  # part boxes end this far above the legend
LANE_MARGIN = 4.0  # wire lanes keep this far from the part column and from the board
FAR_DROP = 3.0  # board's bottom edge to the first wire that goes round it
FAR_STEP_MAX = 1.5  # between two wires under the board, at most
ROUTING_MARGIN = 4.0  # part of ROUTING_H the wires under the board leave free
FAR_OUT = 6.0  # a far-column pad to the wire that comes up beside it
FAR_OUT_STEP = 1.2  # between two such wires

# --- title and legend (mm unless pt) ---------------------------------------------------------
TITLE_PT = 14
TITLE_RATIO = 14 / 9  # the title / the pin text, when the pin text is large
SUMMARY_PT = FONT_PT + 1
SUMMARY_GAP = 1.0  # title to summary line
LEGEND_DOT_R = 2.0  # radius of a legend colour dot
LEGEND_TEXT_X = 5.5  # legend item's left edge to its text
LEGEND_ITEM_GAP = 8.0  # between one legend item's text and the next dot
LEGEND_ROW_RATIO = 1.4  # legend row pitch / its text's line height
LEGEND_GAP = 3.0  # the key (or what is above) to the legend

# --- line widths (mm) ------------------------------------------------------------------------
BOARD_EDGE_W = 0.6
PART_EDGE_W = 0.5
PAD_EDGE_W = 0.3
WIRE_W = 0.7


class TextMetrics(Protocol):
    """How big text will be where it is drawn, in millimetres of the layout.

    The screen passes one built on the Tk canvas's fonts, the file export one built on
    matplotlib's; the layout makes room for exactly what they say.
    """

    def width(self, text: str, size: float, bold: bool = False) -> float:
        """The width of `text` at `size` points."""
        ...

    def height(self, size: float, bold: bool = False) -> float:
        """The height of one line of text at `size` points (what a renderer's box spans)."""
        ...


class EstimatedMetrics:
    """A generous estimate for when no font is at hand (DejaVu Sans is about 0.6 em a glyph)."""

    def width(self, text: str, size: float, bold: bool = False) -> float:
        return _text_w(text, size) * (BOLD_EM_RATIO if bold else 1.0)

    def height(self, size: float, bold: bool = False) -> float:
        return size * MM_PER_PT * LINE_EM


class MatplotlibMetrics:
    """Text extents as matplotlib draws them (its font, its line height), for the exports."""

    #: matplotlib's own measure, rounded up: Agg's hinting differs from it by a pixel or so.
    SLACK = 1.03

    def __init__(self) -> None:
        from matplotlib.font_manager import FontProperties
        from matplotlib.textpath import TextToPath

        self._path = TextToPath()
        self._props = {b: FontProperties(weight="bold" if b else "normal") for b in (0, 1)}
        self._cache: dict[tuple[str, float, bool], tuple[float, float]] = {}

    def _extent(self, text: str, size: float, bold: bool) -> tuple[float, float]:
        key = (text, size, bold)
        if key not in self._cache:
            prop = self._props[int(bold)].copy()
            prop.set_size(size)
            w, h, _d = self._path.get_text_width_height_descent(text, prop, ismath=False)
            self._cache[key] = (w * MM_PER_PT * self.SLACK, h * MM_PER_PT * self.SLACK)
        return self._cache[key]

    def width(self, text: str, size: float, bold: bool = False) -> float:
        return self._extent(text, size, bold)[0]

    def height(self, size: float, bold: bool = False) -> float:
        # matplotlib sizes a line's box by "lp" at least (ascender and descender); "Å" is taller
        return self._extent("Ålp", size, bold)[1]


ESTIMATE = EstimatedMetrics()


@dataclass(frozen=True)
class Shape:
    """One drawing primitive in page millimetres.

    kind is "rect" (x, y, w, h), "circle" (x, y = centre, w = radius), "line" (points) or
    "text" (x, y, text, anchor, size in points). `tags` name what the shape belongs to
    ("pin:D34", "pad", "badge", "key", `PAGE_TEXT`), so the panel can find a pin's pad to
    highlight it and give page text the theme's colour.
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
    """Where a header pin is drawn, what the checks said about it, and its badge number."""

    pin: BoardPin
    side: str  # "left" | "right"
    x: float  # centre of the pad
    y: float
    severity: str | None = None
    rules: tuple[str, ...] = ()
    number: int | None = None  # the badge's number, which the key explains

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


@dataclass(frozen=True)
class KeyEntry:
    """One line of the key: badge `number` is on `pin`, which breaks `rule`."""

    number: int
    pin: str
    severity: str
    rule: str
    message: str


@dataclass
class PinoutLayout:
    """The laid-out page: title, pins, parts and wires as `shapes`, plus lookups for the panel.

    `diagram` and `findings` are what it was laid out from, so a renderer can lay the same
    picture out again for its own fonts and page (`relayout`).
    """

    board: Board
    title: str
    width: float = PAGE_W
    height: float = PAGE_H
    pins: dict[str, PinSpot] = field(default_factory=dict)
    wires: list[WireSpot] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)  # parts with no wire to the board
    key: list[KeyEntry] = field(default_factory=list)
    shapes: list[Shape] = field(default_factory=list)
    diagram: Diagram | None = None
    findings: tuple[Finding, ...] = ()
    pin_size: float = PIN_TEXT_MAX_PT  # points, of the pin labels

    def marked(self) -> dict[str, PinSpot]:
        """Pins with a problem, by pin name."""
        return {name: spot for name, spot in self.pins.items() if spot.severity}

    def relayout(
        self,
        metrics: TextMetrics | None = None,
        page: tuple[float, float] | None = A4,
        pin_pt: float | None = None,
        key_beside: float = 0.0,
    ) -> PinoutLayout:
        """The same picture laid out again for other fonts or another page."""
        return layout_pinout(
            self.board,
            self.diagram,
            self.findings,
            self.title,
            metrics=metrics,
            page=page,
            pin_pt=pin_pt,
            key_beside=key_beside,
        )


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
    """Where the board sits on the page, and how big its rows, text and badges are."""

    pitch: float  # mm between two pin rows
    text_size: float  # points, for pin and part text
    x: float
    y: float
    w: float
    h: float
    first_row: float  # board's top edge to the middle of its first pin row
    badge_r: float  # radius of a numbered badge
    inset: float  # a pad's centre to its label

    @property
    def bottom(self) -> float:
        return self.y + self.h

    @property
    def badge_size(self) -> float:
        return self.text_size * BADGE_PT_RATIO


#: Problems per pin name: the worst severity and every rule name, in the order found.
_Marks = dict[str, tuple[str, list[str]]]


def _pin_marks(board: Board, findings: list[Finding], board_part: str | None) -> _Marks:
    """Problems per pin: the worst severity wins the colour, every rule name is kept."""
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


def _numbers(columns: tuple[list[BoardPin], list[BoardPin]], marks: _Marks) -> dict[str, int]:
    """Badge numbers of the problem pins: down the left column, then down the right one, as
    a reader's eye goes."""
    marked = [p.name for column in columns for p in column if p.name in marks]
    return {name: i + 1 for i, name in enumerate(marked)}


def _pin_inset(pitch: float) -> float:
    """From a pad's centre to its label: past the severity ring, then a gap."""
    return pitch * PAD_RATIO * RING_RATIO + TEXT_GAP


def _badge_r(metrics: TextMetrics, size: float, biggest: int) -> float:
    """A badge's radius: round its widest number, and at least its line of text."""
    digits = metrics.width(str(max(biggest, 9)), size, True)
    return max(digits, metrics.height(size, True)) / 2 + BADGE_PAD


def _label_size(
    metrics: TextMetrics, pin: BoardPin, marks: _Marks, text_size: float, badge_r: float
) -> float:
    """The width one pin's row takes beside its pad: the label and, on a problem pin, a badge."""
    width = metrics.width(pin_text(pin), text_size, pin.name in marks)
    return width + (TEXT_GAP + 2 * badge_r if pin.name in marks else 0.0)


def _pin_text_size(rows: int, page: tuple[float, float] | None, pin_pt: float | None) -> float:
    """The pin text's size in points: given, or what the A4 page's row pitch allows."""
    if pin_pt is not None:
        return pin_pt
    if page is None:
        return PIN_TEXT_MAX_PT
    pitch = min(MAX_PITCH, _page_rows_h(page) / rows)
    return max(PIN_TEXT_MIN_PT, min(PIN_TEXT_MAX_PT, pitch / MM_PER_PT * PIN_TEXT_RATIO))


def _page_rows_h(page: tuple[float, float]) -> float:
    """The height the pin rows may fill on a page: below the title, above the legend and
    the wires that go round the board."""
    return page[1] - CONTENT_TOP - MARGIN - LEGEND_H - BOARD_EXTRA_H - ROUTING_H


def _board_frame(
    board: Board,
    columns: tuple[list[BoardPin], list[BoardPin]],
    marks: _Marks,
    metrics: TextMetrics,
    text_size: float,
    page: tuple[float, float] | None,
    top: float,
) -> _Frame:
    """Size the board: rows as tall as their text needs (filling an A4 page's height when it
    has room), and as wide as both columns' labels and badges, as the font measures them."""
    left, right = columns
    rows = max(len(left), len(right), 1)
    text_h = metrics.height(text_size, True)
    if page is not None:
        pitch = max(min(MAX_PITCH, _page_rows_h(page) / rows), text_h * ROW_MIN_RATIO)
    else:
        pitch = text_h * NATURAL_ROW_RATIO
    badge_r = _badge_r(metrics, text_size * BADGE_PT_RATIO, len(marks))
    inset = _pin_inset(pitch)
    widths = [_label_size(metrics, p, marks, text_size, badge_r) for p in left + right]
    half_w = inset + max(widths, default=EMPTY_COLUMN_W)
    name_w = metrics.width(board.name, text_size, True) + 2 * (NAME_PAD + TEXT_GAP)
    board_w = max(MIN_BOARD_W, 2 * half_w + MIDDLE_GAP, name_w)
    first_row = text_h + 2 * NAME_PAD + pitch / 2
    if page is not None:
        first_row = max(BOARD_FIRST_ROW, first_row)
    board_h = first_row + (rows - 0.5) * pitch + BOARD_BOTTOM_PAD
    return _Frame(pitch, text_size, 0.0, top, board_w, board_h, first_row, badge_r, inset)


def _board_shapes(board: Board, frame: _Frame, metrics: TextMetrics) -> list[Shape]:
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
        frame.x + frame.w / 2,
        frame.y + NAME_PAD + metrics.height(frame.text_size, True) / 2,
        text=board.name,
        size=frame.text_size,
        bold=True,
        anchor="center",
        tags=("board",),
    )
    return [outline, name]


def _pad_shapes(spot: PinSpot, pitch: float) -> list[Shape]:
    """A header pin's pad, with a ring in the severity colour round it when it has a problem:
    the ring shows at a glance, in colour and in grey print."""
    tag = f"pin:{spot.pin.name}"
    radius = pitch * PAD_RATIO
    shapes: list[Shape] = []
    if spot.severity:
        ring = SEVERITY_COLOURS.get(spot.severity, MUTED)
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


def _badge_shapes(
    x: float, y: float, number: int, severity: str, r: float, size: float, tags: tuple[str, ...]
) -> list[Shape]:
    """A numbered badge centred on (x, y), in the severity's colour."""
    colour = SEVERITY_COLOURS.get(severity, MUTED)
    return [
        Shape("circle", x, y, r, fill=colour, outline=colour, tags=(*tags, "badge")),
        Shape(
            "text",
            x,
            y,
            text=str(number),
            size=size,
            bold=True,
            anchor="center",
            fill=BADGE_TEXT.get(severity, "#ffffff"),
            tags=(*tags, "badge"),
        ),
    ]


def _pin_text_shapes(spot: PinSpot, frame: _Frame, metrics: TextMetrics) -> list[Shape]:
    """A header pin's label beside its pad and, on a problem pin, its numbered badge next to
    the label, towards the middle of the board."""
    tag = f"pin:{spot.pin.name}"
    left = spot.side == "left"
    tx = spot.x + frame.inset if left else spot.x - frame.inset
    bold = bool(spot.severity)
    shapes = [
        Shape(
            "text",
            tx,
            spot.y,
            text=spot.text,
            size=frame.text_size,
            anchor="w" if left else "e",
            fill=SEVERITY_TEXT.get(spot.severity, TEXT) if spot.severity else TEXT,
            bold=bold,
            tags=(tag, "label"),
        )
    ]
    if spot.number is not None and spot.severity:
        offset = metrics.width(spot.text, frame.text_size, bold) + TEXT_GAP + frame.badge_r
        bx = tx + offset if left else tx - offset
        shapes += _badge_shapes(
            bx, spot.y, spot.number, spot.severity, frame.badge_r, frame.badge_size, (tag,)
        )
    return shapes


def _place_pins(
    layout: PinoutLayout,
    columns: tuple[list[BoardPin], list[BoardPin]],
    marks: _Marks,
    numbers: dict[str, int],
    frame: _Frame,
    metrics: TextMetrics,
) -> None:
    """Put each header pin in its row, on the board's left or right edge."""
    for column, side in zip(columns, ("left", "right")):
        x = frame.x if side == "left" else frame.x + frame.w
        for i, pin in enumerate(column):
            y = frame.y + frame.first_row + i * frame.pitch
            sev, rules = marks.get(pin.name, (None, []))
            spot = PinSpot(pin, side, x, y, sev, tuple(rules), numbers.get(pin.name))
            layout.pins[pin.name] = spot
            layout.shapes.extend(_pad_shapes(spot, frame.pitch))
            layout.shapes.extend(_pin_text_shapes(spot, frame, metrics))


def _summary(findings: list[Finding], diagram: Diagram | None) -> str:
    n_err = sum(1 for f in findings if f.severity == "error")
    n_warn = sum(1 for f in findings if f.severity == "warning")
    source = f" — {diagram.source}" if diagram is not None and diagram.source else ""
    if not findings:
        return f"No problems found{source}"
    return f"{n_err} error{'s' * (n_err != 1)}, {n_warn} warning{'s' * (n_warn != 1)}{source}"


@dataclass(frozen=True)
class _Sizes:
    """Point sizes of the page's texts, grown with the pin text so a big picture stays even."""

    pin: float
    title: float
    summary: float
    small: float  # legend, key, notes

    @classmethod
    def of(cls, pin: float) -> _Sizes:
        return cls(pin, max(TITLE_PT, pin * TITLE_RATIO), max(SUMMARY_PT, pin), max(FONT_PT, pin))


def _title_shapes(
    layout: PinoutLayout, summary: str, sizes: _Sizes, metrics: TextMetrics
) -> tuple[list[Shape], float]:
    """The title and a one-line summary at the top; returns them and where content starts."""
    title_h = metrics.height(sizes.title, True)
    summary_h = metrics.height(sizes.summary)
    shapes = [
        Shape(
            "text",
            MARGIN,
            MARGIN + title_h / 2,
            text=layout.title,
            size=sizes.title,
            bold=True,
            anchor="w",
            fill=TEXT,
            tags=("title", PAGE_TEXT),
        ),
        Shape(
            "text",
            MARGIN,
            MARGIN + title_h + SUMMARY_GAP + summary_h / 2,
            text=summary,
            size=sizes.summary,
            fill=MUTED,
            anchor="w",
            tags=("title", PAGE_TEXT),
        ),
    ]
    return shapes, MARGIN + title_h + SUMMARY_GAP + summary_h + TITLE_GAP


#: (dot colour, text) of each legend item.
LEGEND_ITEMS = (
    (SEVERITY_COLOURS["error"], "error: the board may not boot, or the part may break"),
    (SEVERITY_COLOURS["warning"], "warning: works with care"),
    (PAD_FILL["power"], "power"),
    (PAD_FILL["ground"], "ground"),
)


def _legend_item_w(text: str, size: float, metrics: TextMetrics) -> float:
    return LEGEND_TEXT_X + metrics.width(text, size)


def layout_pinout(
    board: Board,
    diagram: Diagram | None = None,
    findings: Iterable[Finding] = (),
    title: str | None = None,
    *,
    metrics: TextMetrics | None = None,
    page: tuple[float, float] | None = A4,
    pin_pt: float | None = None,
    key_beside: float = 0.0,
) -> PinoutLayout:
    """Lay out the picture: the board in the middle, parts on the side of the pins they use,
    the key to the numbered badges and the colour legend below.

    `metrics` measures text as the renderer will draw it (default: a generous estimate).
    `page` is the smallest page, filled by the pin rows (A4 for printing), or None for the
    picture's natural size; the page grows when the content needs more room. `pin_pt` sets
    the pin text's size (default: what the page's rows allow). `key_beside` > 0 puts the key
    right of the picture, no taller than it, and widens the page to that width/height ratio
    (a projector's 16:9): a long key then does not make the picture smaller.
    """
    m = metrics or ESTIMATE
    findings = list(findings)
    board_part = diagram.board_part_id if diagram is not None else None
    layout = PinoutLayout(
        board=board,
        title=title or f"{board.name} ({board.id})",
        diagram=diagram,
        findings=tuple(findings),
    )
    marks = _pin_marks(board, findings, board_part)
    columns = header_columns(board)
    numbers = _numbers(columns, marks)
    sizes = _Sizes.of(_pin_text_size(max(len(c) for c in columns) or 1, page, pin_pt))
    layout.pin_size = sizes.pin
    summary = _summary(findings, diagram)
    title_shapes, top = _title_shapes(layout, summary, sizes, m)
    if page is not None:
        top = max(top, CONTENT_TOP)
    frame = _board_frame(board, columns, marks, m, sizes.pin, page, top)
    by_part = _wires_by_part(layout, diagram, columns)
    sides = _part_sides(columns, by_part)
    col_w = {
        side: _part_col_w(pids, by_part, diagram, frame, m, page) for side, pids in sides.items()
    }
    far = _far_wires(columns, by_part, sides)
    # Horizontally: [part column, lanes] board [lanes, part column], at least the title wide.
    side_room = {
        side: (col_w[side] + PART_GAP_MIN) if sides[side] else FAR_OUT + FAR_OUT_STEP * (far + 1)
        for side in ("left", "right")
    }
    if page is not None:  # the board in the middle of the page, as printed before
        room = max(side_room.values())
        side_room = {"left": room, "right": room}
    content_w = side_room["left"] + frame.w + side_room["right"]
    texts_w = [m.width(layout.title, sizes.title, True), m.width(summary, sizes.summary)]
    texts_w += [_legend_item_w(t, sizes.small, m) for _, t in LEGEND_ITEMS]
    layout.width = max(
        2 * MARGIN + content_w, 2 * MARGIN + max(texts_w), page[0] if page is not None else 0.0
    )
    x0 = (layout.width - content_w) / 2
    frame = _replace_x(frame, x0 + side_room["left"])
    col_x = {"left": x0, "right": x0 + content_w - col_w["right"]}
    layout.shapes.extend(_board_shapes(board, frame, m))
    _place_pins(layout, columns, marks, numbers, frame, m)
    _place_parts(layout, diagram, by_part, sides, col_x, col_w, frame, m, far)
    layout.shapes.extend(title_shapes)
    bottom = _bottom(layout.shapes, m)
    if key_beside and numbers:  # right of the picture, no taller than it
        x = layout.width - MARGIN + KEY_GAP
        width = max(KEY_SIDE_MIN_W, key_beside * bottom - x - MARGIN)
        lines = max(1, int((bottom - frame.y) // _key_row(frame, sizes, m)))
        _key_shapes(layout, numbers, frame, sizes, m, _KeyPlace(x, frame.y, width, lines))
        layout.width = x + width + MARGIN
        y = bottom
    else:
        place = _KeyPlace(MARGIN, bottom + KEY_GAP, layout.width - 2 * MARGIN)
        y = _key_shapes(layout, numbers, frame, sizes, m, place)
    y = _legend_shapes(layout, sizes, m, y + LEGEND_GAP)
    layout.height = max(y + MARGIN, page[1] if page is not None else 0.0)
    return layout


def _replace_x(frame: _Frame, x: float) -> _Frame:
    return replace(frame, x=x)


def _bottom(shapes: Sequence[Shape], metrics: TextMetrics) -> float:
    """The lowest point drawn so far: the key and the legend go below it."""
    lowest = 0.0
    for s in shapes:
        if s.kind == "rect":
            low = s.y + s.h
        elif s.kind == "circle":
            low = s.y + s.w
        elif s.kind == "line":
            low = max((y for _, y in s.points), default=0.0)
        else:
            h = metrics.height(s.size, s.bold)
            low = s.y + (
                h if s.anchor.startswith("n") else 0 if s.anchor.startswith("s") else h / 2
            )
        lowest = max(lowest, low)
    return lowest


def _fit(text: str, room: float, size: float, metrics: TextMetrics) -> str:
    """`text`, cut short with "…" so that it fits `room` (the findings table has it whole)."""
    if metrics.width(text, size) <= room:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # the longest cut that fits
        mid = (lo + hi + 1) // 2
        if metrics.width(text[:mid].rstrip() + "…", size) <= room:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + "…"


def _key_entries(layout: PinoutLayout, numbers: dict[str, int]) -> list[tuple[KeyEntry, Finding]]:
    """One entry per problem of each numbered pin (a rule once per pin), in badge order."""
    board_part = layout.diagram.board_part_id if layout.diagram is not None else None
    by_pin: dict[str, list[Finding]] = {}
    for f in layout.findings:
        for name in pins_of_finding(layout.board, f, board_part):
            by_pin.setdefault(name, []).append(f)
    entries: list[tuple[KeyEntry, Finding]] = []
    for name, number in sorted(numbers.items(), key=lambda kv: kv[1]):
        seen: set[str] = set()
        for f in by_pin.get(name, []):
            if f.rule not in seen:
                seen.add(f.rule)
                entries.append((KeyEntry(number, name, f.severity, f.rule, f.message), f))
    return entries


@dataclass(frozen=True)
class _KeyPlace:
    """Where the key goes: its left edge, top, width, and how many lines it may take."""

    x: float
    y: float
    width: float
    lines: int | None = None  # None: as many as it has


def _key_shapes(
    layout: PinoutLayout,
    numbers: dict[str, int],
    frame: _Frame,
    sizes: _Sizes,
    metrics: TextMetrics,
    place: _KeyPlace,
) -> float:
    """One line per problem of each numbered pin: its badge, the pin, the rule and the
    message, cut to the key's width; past `place.lines`, one line says how many more there
    are. Every entry is in `layout.key`. Returns the y under the key."""
    entries = _key_entries(layout, numbers)
    layout.key = [entry for entry, _ in entries]
    row = _key_row(frame, sizes, metrics)
    room = place.width - 2 * frame.badge_r - KEY_TEXT_GAP
    shown = entries
    if place.lines is not None and len(entries) > place.lines:
        shown = entries[: max(0, place.lines - 1)]
    y = place.y
    for entry, f in shown:
        cy = y + row / 2
        tags = (f"pin:{entry.pin}", "key")
        layout.shapes += _badge_shapes(
            place.x + frame.badge_r,
            cy,
            entry.number,
            entry.severity,
            frame.badge_r,
            frame.badge_size,
            tags,
        )
        label = pin_text(layout.pins[entry.pin].pin)
        text = _fit(f"{label} — {f.severity}, {f.rule}: {f.message}", room, sizes.small, metrics)
        layout.shapes.append(
            Shape(
                "text",
                place.x + 2 * frame.badge_r + KEY_TEXT_GAP,
                cy,
                text=text,
                size=sizes.small,
                anchor="w",
                fill=TEXT,
                tags=(*tags, PAGE_TEXT),
            )
        )
        y += row
    if len(shown) < len(entries):
        more = len(entries) - len(shown)
        text = _fit(f"… and {more} more: see the findings", place.width, sizes.small, metrics)
        layout.shapes.append(
            Shape(
                "text",
                place.x,
                y + row / 2,
                text=text,
                size=sizes.small,
                anchor="w",
                fill=MUTED,
                tags=("key", PAGE_TEXT),
            )
        )
        y += row
    return y


def _key_row(frame: _Frame, sizes: _Sizes, metrics: TextMetrics) -> float:
    return max(metrics.height(sizes.small), 2 * frame.badge_r) * KEY_ROW_RATIO


def _legend_shapes(layout: PinoutLayout, sizes: _Sizes, metrics: TextMetrics, y: float) -> float:
    """What the colours mean, in rows that wrap at the page's width, and the parts the picture
    could not place; returns the y under them."""
    text_h = metrics.height(sizes.small)
    row = max(text_h, 2 * LEGEND_DOT_R) * LEGEND_ROW_RATIO
    right = layout.width - MARGIN
    x = MARGIN
    cy = y + row / 2
    for colour, text in LEGEND_ITEMS:
        item_w = _legend_item_w(text, sizes.small, metrics)
        if x > MARGIN and x + item_w > right:
            x, cy = MARGIN, cy + row
        layout.shapes += [
            Shape(
                "circle",
                x + LEGEND_DOT_R,
                cy,
                LEGEND_DOT_R,
                fill=colour,
                outline=TEXT,
                tags=("legend",),
            ),
            Shape(
                "text",
                x + LEGEND_TEXT_X,
                cy,
                text=text,
                size=sizes.small,
                anchor="w",
                fill=TEXT,
                tags=("legend", PAGE_TEXT),
            ),
        ]
        x += item_w + LEGEND_ITEM_GAP
    y = cy + row / 2
    if layout.unplaced:
        words = ("Not wired straight to the board: " + ", ".join(layout.unplaced)).split(" ")
        lines = [""]
        for word in words:  # wrap at the page's width
            joined = f"{lines[-1]} {word}".strip()
            if lines[-1] and metrics.width(joined, sizes.small) > right - MARGIN:
                lines.append(word)
            else:
                lines[-1] = joined
        for line in lines:
            layout.shapes.append(
                Shape(
                    "text",
                    MARGIN,
                    y + row / 2,
                    size=sizes.small,
                    anchor="w",
                    fill=MUTED,
                    text=line,
                    tags=("legend", PAGE_TEXT),
                )
            )
            y += row
    return y


# --- parts and wires -------------------------------------------------------------------------
#: Part id -> (part pin, board pin, wire colour name) of every wire to a header pin.
_PartWires = dict[str, list[tuple[str, str, str]]]


@dataclass
class _Routing:
    """Counters shared by every wire on the page, so colours and far lanes never repeat."""

    far_wires: int  # wires that go round the bottom of the board, over both sides
    wire_index: int = 0
    far_lane: int = 0


def _side_of(columns: tuple[list[BoardPin], list[BoardPin]]) -> dict[str, str]:
    return {p.name: side for column, side in zip(columns, ("left", "right")) for p in column}


def _wires_by_part(
    layout: PinoutLayout, diagram: Diagram | None, columns: tuple[list[BoardPin], list[BoardPin]]
) -> _PartWires:
    """The wires to header pins, per part, in diagram order; records the parts on `layout`."""
    on_header = _side_of(columns)
    by_part: _PartWires = {}
    for pid, part_pin, board_pin, colour in _board_links(layout.board, diagram):
        if board_pin in on_header:
            by_part.setdefault(pid, []).append((part_pin, board_pin, colour))
    # Wokwi's "$serialMonitor" is the simulator's terminal, not a part on the breadboard.
    by_part = {pid: wires for pid, wires in by_part.items() if not pid.startswith("$")}
    if diagram is not None:
        layout.unplaced = [
            p.id for p in diagram.parts if p.id != diagram.board_part_id and p.id not in by_part
        ]
    layout.parts = list(by_part)
    return by_part


def _part_sides(
    columns: tuple[list[BoardPin], list[BoardPin]], by_part: _PartWires
) -> dict[str, list[str]]:
    """Each part goes on the side most of its wires leave from (left on a tie)."""
    side_of = _side_of(columns)
    sides: dict[str, list[str]] = {"left": [], "right": []}
    for pid, wires in by_part.items():
        n_left = sum(1 for _, bp, _ in wires if side_of[bp] == "left")
        sides["left" if n_left * 2 >= len(wires) else "right"].append(pid)
    return sides


def _far_wires(
    columns: tuple[list[BoardPin], list[BoardPin]], by_part: _PartWires, sides: dict[str, list[str]]
) -> int:
    """Wires from a part to a pin on the board's other side: they go round the bottom."""
    side_of = _side_of(columns)
    return sum(
        1
        for pid, wires in by_part.items()
        for _, bp, _ in wires
        if side_of[bp] != ("left" if pid in sides["left"] else "right")
    )


def _part_pins(wires: list[tuple[str, str, str]]) -> list[str]:
    """A part's pins that have a wire to the board, each once, in wire order."""
    return list(dict.fromkeys(pp for pp, _, _ in wires))


def _part_pin_text(pid: str, pin: str, diagram: Diagram | None) -> str:
    """A part's pin as the picture shows it: its label from the part data ("data" for a DHT's
    "SDA", which looks like I2C), else its Wokwi name."""
    part = diagram.part(pid) if diagram is not None else None
    info = load_part(part.type) if part is not None else None
    return info.pin_label(pin) if info is not None else pin


def _part_title(pid: str, diagram: Diagram | None) -> str:
    part = diagram.part(pid) if diagram is not None else None
    kind = part.type.removeprefix("wokwi-").removeprefix("board-") if part else ""
    return f"{pid} ({kind})"


def _part_head_h(frame: _Frame, metrics: TextMetrics) -> float:
    """A part box's top to its first pin row: room for its name."""
    return metrics.height(frame.text_size, True) + 2 * NAME_PAD


def _part_col_w(
    pids: list[str],
    by_part: _PartWires,
    diagram: Diagram | None,
    frame: _Frame,
    metrics: TextMetrics,
    page: tuple[float, float] | None,
) -> float:
    """A part column as wide as its widest part name or pin names need (0 with no parts)."""
    if not pids:
        return 0.0
    widths = [PART_COL_W if page is not None else PART_MIN_W]
    for pid in pids:
        widths.append(metrics.width(_part_title(pid, diagram), frame.text_size, True))
        widths += [
            metrics.width(_part_pin_text(pid, pp, diagram), frame.text_size) + PART_LABEL_GAP
            for pp in _part_pins(by_part[pid])
        ]
    return max(widths[0], max(widths[1:]) + 2 * PART_SIDE_PAD)


def _stack_boxes(
    pids: list[str],
    by_part: _PartWires,
    mean_y: dict[str, float],
    frame: _Frame,
    head_h: float,
    bottom: float,
) -> list[tuple[str, float, float]]:
    """(part id, top, height) of each box in one column: each box centred on its wires where
    it can be, pushed down past the one above, and the whole stack slid up if it would run
    past `bottom` (but never above the board's top)."""
    next_y = frame.y
    boxes: list[tuple[str, float, float]] = []
    for pid in pids:
        box_h = head_h + len(_part_pins(by_part[pid])) * frame.pitch
        y0 = max(next_y, mean_y[pid] - box_h / 2)
        boxes.append((pid, y0, box_h))
        next_y = y0 + box_h + PART_STACK_GAP
    overflow = next_y - PART_STACK_GAP - bottom
    if overflow > 0:
        boxes = [(pid, y0 - overflow, h) for pid, y0, h in boxes]
        first = boxes[0][1] if boxes else 0.0
        if first < frame.y:
            boxes = [(pid, y0 + frame.y - first, h) for pid, y0, h in boxes]
    return boxes


def _part_shapes(
    title: str,
    tag: str,
    box: tuple[float, float, float, float],
    pin_y: dict[str, float],
    side: str,
    frame: _Frame,
    head_h: float,
    texts: dict[str, str] | None = None,
) -> list[Shape]:
    """A part's box with its name on top and its wired pins along the edge facing the board
    (each pin shown as `texts` words it, else by its Wokwi name)."""
    col_x, y0, col_w, box_h = box
    edge_x = col_x + col_w if side == "left" else col_x
    shapes = [
        Shape(
            "rect",
            col_x,
            y0,
            col_w,
            box_h,
            fill=PART_FILL,
            outline=PART_EDGE,
            width=PART_EDGE_W,
            tags=(tag,),
        ),
        Shape(
            "text",
            col_x + col_w / 2,
            y0 + head_h / 2,
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
            Shape(
                "text",
                tx,
                py,
                text=(texts or {}).get(pp, pp),
                size=frame.text_size,
                anchor=anchor,
                tags=(tag,),
            )
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
    where: tuple[float, float],
    frame: _Frame,
    head_h: float,
    routing: _Routing,
) -> None:
    """The parts of one side, top to bottom by their wires, and each wire in its own lane."""
    col_x, col_w = where
    mean_y = {pid: sum(layout.pins[bp].y for _, bp, _ in w) / len(w) for pid, w in by_part.items()}
    pids.sort(key=mean_y.__getitem__)
    edge_x = col_x + col_w if side == "left" else col_x
    board_edge = frame.x if side == "left" else frame.x + frame.w
    gap_lo, gap_hi = sorted((edge_x, board_edge))
    n_wires = sum(len(by_part[p]) for p in pids)
    bottom = frame.bottom + ROUTING_H - LEGEND_CLEARANCE
    lane = 0
    for pid, y0, box_h in _stack_boxes(pids, by_part, mean_y, frame, head_h, bottom):
        pins = _part_pins(by_part[pid])
        pin_y = {pp: y0 + head_h + (i + 0.5) * frame.pitch for i, pp in enumerate(pins)}
        box = (col_x, y0, col_w, box_h)
        title = _part_title(pid, diagram)
        texts = {pp: _part_pin_text(pid, pp, diagram) for pp in pins}
        layout.shapes.extend(
            _part_shapes(title, f"part:{pid}", box, pin_y, side, frame, head_h, texts)
        )
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


def _place_parts(
    layout: PinoutLayout,
    diagram: Diagram | None,
    by_part: _PartWires,
    sides: dict[str, list[str]],
    col_x: dict[str, float],
    col_w: dict[str, float],
    frame: _Frame,
    metrics: TextMetrics,
    far_wires: int,
) -> None:
    """Parts go beside the board, on the side most of their wires leave from, in the order of
    the pins they use, so wires run mostly straight across."""
    routing = _Routing(far_wires)
    head_h = _part_head_h(frame, metrics)
    for side, pids in sides.items():
        where = (col_x[side], col_w[side])
        _place_column(layout, diagram, by_part, pids, side, where, frame, head_h, routing)
    # Pads above the wires, so a wire ends under its pin rather than across it.
    layout.shapes.sort(key=lambda s: 0 if s.kind == "line" else 1)


# --- the printable file ----------------------------------------------------------------------
def _mpl_anchor(anchor: str) -> tuple[str, str]:
    ha = {"w": "left", "e": "right"}.get(anchor[-1:], "center") if anchor != "center" else "center"
    va = "top" if anchor.startswith("n") else "bottom" if anchor.startswith("s") else "center"
    return ha, va


def render_figure(
    layout: PinoutLayout, dpi: int = PRINT_DPI, pixels: tuple[int, int] | None = None
):
    """The layout as a matplotlib Figure (Agg canvas attached): page-sized at `dpi`, or
    exactly `pixels` (width, height) with the page fitted and centred in it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if pixels is None:
        # Whole pixels, rounded up: A4 at 150 dpi is 1753.9 px wide and must not lose that.
        px_w = math.ceil(layout.width / 25.4 * dpi)
        px_h = math.ceil(layout.height / 25.4 * dpi)
        px_per_mm = dpi / 25.4
    else:
        px_w, px_h = pixels
        px_per_mm = min(px_w / layout.width, px_h / layout.height)
    fig = Figure(figsize=(px_w / dpi, px_h / dpi), dpi=dpi, facecolor=PAGE_FILL)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    # The axes span the whole figure; the page sits in the middle of any room left over.
    span_w, span_h = px_w / px_per_mm, px_h / px_per_mm
    dx, dy = (span_w - layout.width) / 2, (span_h - layout.height) / 2
    ax.set_xlim(-dx, layout.width + dx)
    ax.set_ylim(layout.height + dy, -dy)  # y grows downwards, as on the page and the Tk canvas
    ax.axis("off")
    # Points (text sizes, line widths) drawn at the layout's scale, not the figure's dpi.
    pt_scale = px_per_mm / (dpi / 25.4)
    for z, shape in enumerate(layout.shapes):
        _draw(ax, shape, z, pt_scale)
    return fig


def _draw(ax, s: Shape, z: int, pt_scale: float = 1.0) -> None:
    """One shape on matplotlib axes in page millimetres, above the shapes before it (`z`)."""
    from matplotlib.patches import Circle, Rectangle

    pt = 72 / 25.4 * pt_scale  # line widths: mm -> points
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
            fontsize=s.size * pt_scale,
            ha=ha,
            va=va,
            color=colour,
            fontweight=weight,
            zorder=z,
        )


def export_layout(layout: PinoutLayout, size: str = "a4") -> PinoutLayout:
    """The picture laid out again for a file of `size` (one of `EXPORT_SIZES`), with
    matplotlib's own text measures, so no text runs into another in the file either."""
    if size not in EXPORT_SIZES:
        raise ValueError(
            f"The pinout can be exported for {' or '.join(EXPORT_SIZES)}, not {size!r}."
        )
    metrics = MatplotlibMetrics()
    if size == "projector":
        return layout.relayout(metrics, page=None, key_beside=PROJECTOR_ASPECT)
    return layout.relayout(metrics, page=A4)


def render(
    layout: PinoutLayout,
    path: str | os.PathLike[str],
    dpi: int = PRINT_DPI,
    size: str = "a4",
) -> Path:
    """Write the picture as PNG or SVG (by the file's suffix).

    size "a4": A4 landscape at `dpi` for printing (longer when the key needs the room);
    "projector": 1920×1080 pixels, the picture at its natural size fitted in, so the text is
    as large as the screen allows.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".") or "png"
    if fmt not in ("png", "svg"):
        raise ValueError(f"Export the pinout as .png or .svg, not {path.suffix!r}.")
    page = export_layout(layout, size)
    if size == "projector":
        fig = render_figure(page, dpi, pixels=PROJECTOR_PX)
    else:
        fig = render_figure(page, dpi)
    fig.savefig(path, format=fmt, dpi=dpi, facecolor=PAGE_FILL)
    return path


__all__ = [
    "A4",
    "EXPORT_SIZES",
    "PAGE_H",
    "PAGE_W",
    "PAGE_TEXT",
    "PRINT_DPI",
    "PROJECTOR_PX",
    "SEVERITY_COLOURS",
    "SEVERITY_TEXT",
    "BADGE_TEXT",
    "DARK_FILLS",
    "HIGHLIGHT",
    "EstimatedMetrics",
    "KeyEntry",
    "MatplotlibMetrics",
    "PinSpot",
    "PinoutLayout",
    "Shape",
    "TextMetrics",
    "WireSpot",
    "export_layout",
    "header_columns",
    "layout_pinout",
    "pin_text",
    "pins_of_finding",
    "render",
    "render_figure",
]
