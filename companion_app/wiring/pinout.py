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
from typing import Iterable, Sequence

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

#: Boards whose right-hand header the board file lists bottom to top (the way DIP pins are
#: numbered), read from the y positions in Wokwi's board.json of each board (wokwi-boards repo,
#: boards/<name>/board.json); the others list both columns top to bottom.
RIGHT_COLUMN_BOTTOM_UP = frozenset(
    {"esp32-devkit-v1", "esp32-c3-devkitm-1", "pico", "pico-w", "pico2-w"}
)


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
    pin positions in Wokwi's board.json), so the first half is the left column.
    """
    pins = [p for p in board.pins if p.header]
    half = (len(pins) + 1) // 2
    left, right = pins[:half], pins[half:]
    if board.id in RIGHT_COLUMN_BOTTOM_UP:
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
    return len(text) * size * MM_PER_PT * 0.62


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
    shapes = layout.shapes

    # Problems per pin: the worst severity wins the colour, every rule name is shown.
    order = {s: i for i, s in enumerate(SEVERITIES)}
    marks: dict[str, tuple[str, list[str]]] = {}
    for f in findings:
        for name in pins_of_finding(board, f, board_part):
            sev, rules = marks.get(name, (f.severity, []))
            if order.get(f.severity, 9) < order.get(sev, 9):
                sev = f.severity
            if f.rule not in rules:
                rules.append(f.rule)
            marks[name] = (sev, rules)

    left, right = header_columns(board)
    rows = max(len(left), len(right), 1)
    top = MARGIN + TITLE_H + 6
    # Below the board: its padding (12 mm) and room for wires that go round it to the far column.
    avail = PAGE_H - top - MARGIN - LEGEND_H - 12 - ROUTING_H
    pitch = min(MAX_PITCH, avail / rows)
    text_size = max(6.5, min(FONT_PT + 1, pitch / MM_PER_PT * 0.5))

    def row_text(pin: BoardPin) -> tuple[str, str]:
        rules = marks.get(pin.name, ("", []))[1]
        return pin_text(pin), ("  " + ", ".join(rules)) if rules else ""

    def side_width(pins: Sequence[BoardPin]) -> float:
        widths = [
            _text_w(a, text_size) * 1.08 + 1.5 + _text_w(b, text_size) * 1.08
            for a, b in map(row_text, pins)
        ]
        return max(widths, default=20.0)

    half_w = max(side_width(left), side_width(right)) + 6
    board_w = min(PAGE_W - 2 * MARGIN - 2 * (PART_COL_W + 22), max(70.0, 2 * half_w + 6))
    board_x = (PAGE_W - board_w) / 2
    board_h = rows * pitch + 12
    board_y = top
    shapes.append(
        Shape(
            "rect",
            board_x,
            board_y,
            board_w,
            board_h,
            fill=BOARD_FILL,
            outline=BOARD_EDGE,
            width=0.6,
            tags=("board",),
        )
    )
    shapes.append(
        Shape(
            "text",
            PAGE_W / 2,
            board_y + 4.5,
            text=board.name,
            size=text_size,
            bold=True,
            anchor="center",
            tags=("board",),
        )
    )

    # Both columns share the board's width row by row: a row whose other pin has short text
    # lends its space; only when both sides want more than half are rule names cut short.
    inset_w = MAX_PITCH * 0.32 * 1.6 + 1.5
    rule_room: dict[str, float] = {}
    for i in range(rows):
        pair = [col[i] if i < len(col) else None for col in (left, right)]
        texts = [row_text(p) if p is not None else ("", "") for p in pair]
        labels = [_text_w(a, text_size) * 1.08 for a, _ in texts]
        wants = [_text_w(b.strip(), text_size) * 1.08 + 1.5 if b else 0.0 for _, b in texts]
        free = board_w - 2 * inset_w - sum(labels) - 8
        if sum(wants) <= free:
            rooms = wants
        elif wants[0] <= free / 2:
            rooms = [wants[0], free - wants[0]]
        elif wants[1] <= free / 2:
            rooms = [free - wants[1], wants[1]]
        else:
            rooms = [free / 2, free / 2]
        for p, room in zip(pair, rooms):
            if p is not None:
                rule_room[p.name] = room - 1.5

    for column, side in ((left, "left"), (right, "right")):
        x = board_x if side == "left" else board_x + board_w
        for i, pin in enumerate(column):
            y = board_y + 10 + i * pitch
            sev, rules = marks.get(pin.name, (None, []))
            spot = PinSpot(pin, side, x, y, sev, tuple(rules))
            layout.pins[pin.name] = spot
            tag = f"pin:{pin.name}"
            fill = PAD_FILL.get(pin.kind, PAD_OTHER)
            radius = pitch * 0.32
            if sev:
                # A ring in the severity colour shows at a glance, in colour and in grey print.
                shapes.append(
                    Shape(
                        "circle",
                        x,
                        y,
                        radius * 1.6,
                        fill=SEVERITY_COLOURS[sev],
                        outline=SEVERITY_COLOURS[sev],
                        tags=(tag, "mark"),
                    )
                )
            shapes.append(
                Shape("circle", x, y, radius, fill=fill, outline=TEXT, width=0.3, tags=(tag, "pad"))
            )
            label, rule_text = row_text(pin)
            inset = radius * 1.6 + 1.5
            # Both columns share the board's width: rule names that would run into the other
            # column's labels are cut to the first ones plus "+N", and all stay in the findings.
            room = rule_room[pin.name]
            shown = list(rules)
            while shown and _text_w(_rules_text(shown, len(rules)), text_size) * 1.08 > room:
                shown.pop()
            rule_text = _rules_text(shown, len(rules)) if rules else ""
            anchor = "w" if side == "left" else "e"
            tx = x + inset if side == "left" else x - inset
            colour = SEVERITY_COLOURS[sev] if sev else TEXT
            shapes.append(
                Shape(
                    "text",
                    tx,
                    y,
                    text=label,
                    size=text_size,
                    anchor=anchor,
                    fill=colour,
                    bold=bool(sev),
                    tags=(tag, "label"),
                )
            )
            if rule_text:
                # The rule names go beside the label, towards the middle of the board.
                offset = _text_w(label, text_size) * 1.08 + 1.5
                shapes.append(
                    Shape(
                        "text",
                        tx + offset if side == "left" else tx - offset,
                        y,
                        text=rule_text.strip(),
                        size=text_size,
                        anchor="w" if side == "left" else "e",
                        fill=colour,
                        bold=True,
                        tags=(tag, "rule"),
                    )
                )

    _place_parts(layout, diagram, pitch, text_size, board_x, board_w)
    _title_and_legend(layout, findings, diagram)
    return layout


def _place_parts(
    layout: PinoutLayout,
    diagram: Diagram | None,
    pitch: float,
    text_size: float,
    board_x: float,
    board_w: float,
) -> None:
    """Parts go beside the board, on the side most of their wires leave from, in the order of
    the pins they use, so wires run mostly straight across."""
    links = _board_links(layout.board, diagram)
    board_bottom = max(s.y + s.h for s in layout.shapes if s.kind == "rect" and "board" in s.tags)
    by_part: dict[str, list[tuple[str, str, str]]] = {}
    for pid, part_pin, board_pin, colour in links:
        if board_pin in layout.pins:
            by_part.setdefault(pid, []).append((part_pin, board_pin, colour))
    # Wokwi's "$serialMonitor" is the simulator's terminal, not a part on the breadboard.
    by_part = {pid: wires for pid, wires in by_part.items() if not pid.startswith("$")}
    if diagram is not None:
        layout.unplaced = [
            p.id for p in diagram.parts if p.id != diagram.board_part_id and p.id not in by_part
        ]
    layout.parts = list(by_part)

    sides: dict[str, list[str]] = {"left": [], "right": []}
    for pid, wires in by_part.items():
        n_left = sum(1 for _, bp, _ in wires if layout.pins[bp].side == "left")
        sides["left" if n_left * 2 >= len(wires) else "right"].append(pid)

    def mean_y(pid: str) -> float:
        ys = [layout.pins[bp].y for _, bp, _ in by_part[pid]]
        return sum(ys) / len(ys)

    shapes = layout.shapes
    wire_index = 0
    far_lane = 0  # wires that go round the bottom of the board, over both sides
    far_wires = sum(
        1
        for pid, wires in by_part.items()
        for _, bp, _ in wires
        if layout.pins[bp].side != ("left" if pid in sides["left"] else "right")
    )
    bottom_limit = layout.height - MARGIN - LEGEND_H - 4
    for side, pids in sides.items():
        pids.sort(key=mean_y)
        col_x = MARGIN if side == "left" else layout.width - MARGIN - PART_COL_W
        edge_x = col_x + PART_COL_W if side == "left" else col_x
        board_edge = board_x if side == "left" else board_x + board_w
        gap_lo, gap_hi = sorted((edge_x, board_edge))
        n_wires = sum(len(by_part[p]) for p in pids)
        next_y = MARGIN + TITLE_H + 6
        boxes: list[tuple[str, float, float]] = []
        for pid in pids:
            pins = list(dict.fromkeys(pp for pp, _, _ in by_part[pid]))
            box_h = 9 + len(pins) * pitch
            y0 = max(next_y, mean_y(pid) - box_h / 2)
            boxes.append((pid, y0, box_h))
            next_y = y0 + box_h + 4
        overflow = next_y - 4 - bottom_limit
        if overflow > 0:  # pushed below the page: slide the stack up, never above the title
            boxes = [(pid, y0 - overflow, h) for pid, y0, h in boxes]
            first = boxes[0][1] if boxes else 0.0
            floor = MARGIN + TITLE_H + 6
            if first < floor:
                boxes = [(pid, y0 + floor - first, h) for pid, y0, h in boxes]
        lane = 0
        for pid, y0, box_h in boxes:
            part = diagram.part(pid) if diagram is not None else None
            kind = part.type.removeprefix("wokwi-").removeprefix("board-") if part else ""
            shapes.append(
                Shape(
                    "rect",
                    col_x,
                    y0,
                    PART_COL_W,
                    box_h,
                    fill="#fff8e1",
                    outline="#8d6e63",
                    width=0.5,
                    tags=(f"part:{pid}",),
                )
            )
            shapes.append(
                Shape(
                    "text",
                    col_x + PART_COL_W / 2,
                    y0 + 4.2,
                    text=f"{pid} ({kind})",
                    size=text_size,
                    bold=True,
                    anchor="center",
                    tags=(f"part:{pid}",),
                )
            )
            pins = list(dict.fromkeys(pp for pp, _, _ in by_part[pid]))
            pin_y = {pp: y0 + 9 + (i + 0.5) * pitch for i, pp in enumerate(pins)}
            for pp, py in pin_y.items():
                anchor = "e" if side == "left" else "w"
                tx = edge_x - 2.5 if side == "left" else edge_x + 2.5
                shapes.append(
                    Shape(
                        "text",
                        tx,
                        py,
                        text=pp,
                        size=text_size,
                        anchor=anchor,
                        tags=(f"part:{pid}",),
                    )
                )
                shapes.append(
                    Shape(
                        "circle",
                        edge_x,
                        py,
                        pitch * 0.18,
                        fill="#8d6e63",
                        outline="#8d6e63",
                        tags=(f"part:{pid}",),
                    )
                )
            for part_pin, board_pin, colour_name in by_part[pid]:
                spot = layout.pins[board_pin]
                colour = _wire_colour(colour_name, wire_index)
                wire_index += 1
                # Each wire gets its own vertical lane in the gap, so no two wires run together.
                frac = (lane + 1) / (n_wires + 1)
                lane += 1
                lane_x = gap_lo + 4 + (gap_hi - gap_lo - 8) * frac
                py = pin_y[part_pin]
                pad_x = spot.x
                points: tuple[tuple[float, float], ...]
                if spot.side == side:
                    points = ((edge_x, py), (lane_x, py), (lane_x, spot.y), (pad_x, spot.y))
                else:  # a pin on the far column: go round the bottom of the board
                    step = min(1.5, (ROUTING_H - 4) / max(1, far_wires))
                    below = board_bottom + 3 + far_lane * step
                    far_x = pad_x + (6 + far_lane * 1.2) * (1 if spot.side == "right" else -1)
                    far_lane += 1
                    points = (
                        (edge_x, py),
                        (lane_x, py),
                        (lane_x, below),
                        (far_x, below),
                        (far_x, spot.y),
                        (pad_x, spot.y),
                    )
                layout.wires.append(WireSpot(pid, part_pin, board_pin, colour, points))
                shapes.append(
                    Shape(
                        "line",
                        points=points,
                        outline=colour,
                        width=0.7,
                        tags=(f"wire:{pid}:{part_pin}", f"pin:{board_pin}"),
                    )
                )
    # Pads above the wires, so a wire ends under its pin rather than across it.
    shapes.sort(key=lambda s: 0 if s.kind == "line" else 1)


def _title_and_legend(
    layout: PinoutLayout, findings: list[Finding], diagram: Diagram | None
) -> None:
    shapes = layout.shapes
    shapes.append(
        Shape(
            "text",
            MARGIN,
            MARGIN + 4,
            text=layout.title,
            size=14,
            bold=True,
            anchor="w",
            tags=("title",),
        )
    )
    n_err = sum(1 for f in findings if f.severity == "error")
    n_warn = sum(1 for f in findings if f.severity == "warning")
    source = f" — {diagram.source}" if diagram is not None and diagram.source else ""
    summary = (
        f"{n_err} error{'s' * (n_err != 1)}, {n_warn} warning{'s' * (n_warn != 1)}{source}"
        if findings
        else f"No problems found{source}"
    )
    shapes.append(
        Shape(
            "text",
            MARGIN,
            MARGIN + 11,
            text=summary,
            size=FONT_PT + 1,
            fill=MUTED,
            anchor="w",
            tags=("title",),
        )
    )
    y = layout.height - MARGIN - LEGEND_H / 2
    x = MARGIN
    items = [
        (SEVERITY_COLOURS["error"], "error: the board may not boot, or the part may break"),
        (SEVERITY_COLOURS["warning"], "warning: works with care"),
        (PAD_FILL["power"], "power"),
        (PAD_FILL["ground"], "ground"),
    ]
    for colour, text in items:
        shapes.append(Shape("circle", x + 2, y, 2.0, fill=colour, outline=TEXT, tags=("legend",)))
        shapes.append(
            Shape("text", x + 5.5, y, text=text, size=FONT_PT, anchor="w", tags=("legend",))
        )
        x += 5.5 + _text_w(text) + 8
    if layout.unplaced:
        shapes.append(
            Shape(
                "text",
                MARGIN,
                y + 6,
                size=FONT_PT,
                anchor="w",
                fill=MUTED,
                text="Not wired straight to the board: " + ", ".join(layout.unplaced),
                tags=("legend",),
            )
        )


# --- the printable file ----------------------------------------------------------------------
def _mpl_anchor(anchor: str) -> tuple[str, str]:
    ha = {"w": "left", "e": "right"}.get(anchor[-1:], "center") if anchor != "center" else "center"
    va = "top" if anchor.startswith("n") else "bottom" if anchor.startswith("s") else "center"
    return ha, va


def render_figure(layout: PinoutLayout, dpi: int = PRINT_DPI):
    """The layout as a matplotlib Figure (Agg canvas attached), page-sized at `dpi`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle, Rectangle

    # Whole pixels, rounded up: A4 at 150 dpi is 1753.9 px wide and must not lose that pixel.
    px_w, px_h = math.ceil(layout.width / 25.4 * dpi), math.ceil(layout.height / 25.4 * dpi)
    fig = Figure(figsize=(px_w / dpi, px_h / dpi), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, layout.width)
    ax.set_ylim(layout.height, 0)  # y grows downwards, as on the page and the Tk canvas
    ax.set_aspect("equal")
    ax.axis("off")
    pt = 72 / 25.4  # line widths: mm -> points
    for z, s in enumerate(layout.shapes):
        if s.kind == "rect":
            ax.add_patch(
                Rectangle(
                    (s.x, s.y),
                    s.w,
                    s.h,
                    facecolor=s.fill or "none",
                    edgecolor=s.outline or "none",
                    linewidth=s.width * pt,
                    zorder=z,
                )
            )
        elif s.kind == "circle":
            ax.add_patch(
                Circle(
                    (s.x, s.y),
                    s.w,
                    facecolor=s.fill or "none",
                    edgecolor=s.outline or "none",
                    linewidth=s.width * pt,
                    zorder=z,
                )
            )
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
            ax.text(
                s.x,
                s.y,
                s.text,
                fontsize=s.size,
                ha=ha,
                va=va,
                color=s.fill or TEXT,
                fontweight="bold" if s.bold else "normal",
                zorder=z,
            )
    return fig


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
