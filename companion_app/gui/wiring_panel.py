"""The Wiring panel: check a wiring and a script against the board's pins, and see where.

A beginner rarely knows that D34 cannot drive a DHT22 or that GPIO6 belongs to the flash chip;
this panel tells them before the board refuses to boot. The wiring comes from a Wokwi
diagram.json (what teachers hand out) or from a small form, which builds the same Wokwi data,
so both go through exactly the same checks. Findings are listed with their fix, and the pinout
picture (`companion_app.wiring.pinout`, the same layout that is exported for printing) shows
where each problem is; clicking a finding highlights its pin.

Threads: every Tk call happens in the Tk thread. Checks are jobs of the panel's
`companion_app.gui.jobs.JobRunner` (a script scan reads files, and a panel must never freeze on
I/O): each runs in its own thread and `_check_done` gets its result on the Tk thread. A
generation counter drops results of checks that a newer edit has already replaced. The live
probe runs in the connection's worker (``call_with_link``) and posts each step's summary
through the same runner.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tkinter as tk
import tkinter.font as tkfont
from pathlib import Path
from tkinter import filedialog, ttk
from typing import Any, Callable, Sequence

from companion_app.boards import DEFAULT_BOARD, Board, list_boards, load_board
from companion_app.boards.parts import Part, listed_parts, load_part, part_text
from companion_app.errors import IotkitError
from companion_app.gui import look
from companion_app.gui.boardpick import board_combobox, board_id_of, board_label
from companion_app.gui.jobs import JobRunner, describe_error
from companion_app.inputs import read_json_file
from companion_app.wiring.check import pick_board
from companion_app.wiring.codescan import scan_file, scan_source
from companion_app.wiring.diagram import (
    WIRING_FILE,
    Diagram,
    DiagramError,
    diagram_from_data,
    split_endpoint,
)
from companion_app.wiring.pinout import (
    BOARD_FILL,
    DARK_FILLS,
    HIGHLIGHT,
    MM_PER_PT,
    MUTED,
    PAGE_TEXT,
    PART_FILL,
    PIN_TEXT_MAX_PT,
    TEXT,
    PinoutLayout,
    layout_pinout,
    pin_text,
    pins_of_finding,
)
from companion_app.wiring.pinout import render as render_pinout
from companion_app.wiring.rules import Finding, run_checks

log = logging.getLogger(__name__)

FORM_SOURCE = "wiring form"
BOARD_PART_ID = "esp"
#: A GPIO typed by number into the Board pin box: "GPIO4", "gpio 4" or "4".
GPIO_TYPED = re.compile(r"(?:gpio)?\s*(\d+)", re.IGNORECASE)
#: The board picker's width in characters when space is short; it grows to show the whole
#: name when there is room, and the buttons move to a row of their own before it shrinks more.
BOARD_COMBO_CHARS = 20
#: Findings table: the columns, their headings, and which one takes the spare width.
COLUMNS = (("severity", "Severity"), ("rule", "Rule"), ("where", "Where"), ("message", "Message"))
PART_COMBO_STYLE = "IotkitPart.TCombobox"  # the Part box: its list drops down wider (postoffset)
#: A wrapping label's width until it has its place: a long message must not make the panel
#: ask for a window as wide as the message.
WRAP_START = 200
#: Columns left out of a table too narrow for their headings, in this order.
DROPPED_FIRST = ("message", "rule")
#: The Message column shows when it gets at least this many characters' width; else the
#: table leaves it out and the details under the table carry it.
MESSAGE_CHARS = 20
DETAIL_LINES = 4  # the details box's height in lines; longer texts scroll in it
PICK_HINT = "Click one to read it above and see its pin."
#: The table's height in rows: as many as there are findings, within these bounds, so a short
#: list leaves its height to the picture.
TABLE_ROWS = (2, 5)
CELL_PAD = 16  # pixels around a cell's text: ttk's cell padding and the heading's separator
WHERE_CHARS = 24  # the Where column's starting width, in characters of the UI font
#: The export dialog's file types: A4 for printing, or 1920×1080 for a projector.
EXPORT_PRINT = "PNG for printing (A4)"
EXPORT_PROJECTOR = "PNG for a projector (1920×1080)"
PICTURE_PAD = 8  # pixels round the pinout picture on its canvas
#: The picture grows to fill spare room, up to this times its legible size (then it would
#: only be big, not clearer), when the room is at least `PICTURE_GROW_FROM` times what it
#: needs, aiming a little under the room (font sizes are whole pixels).
PICTURE_MAX_GROW = 2.0
PICTURE_GROW_FROM = 1.05
PICTURE_FIT_SLACK = 0.97
PICTURE_WHEEL_UNITS = 2  # scroll steps per wheel notch over the picture
#: A font's pixel size / its line height (DejaVu Sans: 0.86), rounded down: where the search
#: for the legible pixel size starts.
LINESPACE_TO_PX = 0.7
#: Wires on the theme's page background: non-text graphics need 3:1 (WCAG 1.4.11).
LINE_CONTRAST = 3.0


def _probe_module() -> Any | None:
    """The live probe engine, if this install has it (it is written separately)."""
    try:
        from companion_app.wiring import probe  # type: ignore[attr-defined]
    except ImportError:
        return None
    return probe if callable(getattr(probe, "probe", None)) else None


def default_part_id(part_type: str, taken: set[str]) -> str:
    """ "wokwi-dht22" -> "dht1": short ids as Wokwi gives them, the first one not taken."""
    stem = re.sub(r"[^a-z]", "", part_type.removeprefix("wokwi-").removeprefix("board-"))[:8]
    stem = stem or "part"
    n = 1
    while f"{stem}{n}" in taken:
        n += 1
    return f"{stem}{n}"


def empty_wiring(board: Board) -> dict[str, Any]:
    """A Wokwi diagram.json holding just the board, for the form to add parts and wires to."""
    return {
        "version": 1,
        "author": "Thonny IoT Kit",
        "editor": "wokwi",
        "parts": [
            {"type": board.wokwi_types[0], "id": BOARD_PART_ID, "top": 0, "left": 0, "attrs": {}}
        ],
        "connections": [],
        "dependencies": {},
    }


def board_pin_text(board: Board, name: str) -> str:
    """A board pin as a person reads it: "D4 · GPIO4", the label printed on the board and the
    number ``machine.Pin()`` takes (`pinout.pin_text`, as on the picture). Pins that print the
    same ("GND" twice) keep their Wokwi name in brackets, "GND (GND.1)", so each can be told
    apart. A name the board does not have is shown as it is."""
    pin = board.pin(name)
    if pin is None:
        return name
    text = pin_text(pin)
    if any(p.name != pin.name and p.header and pin_text(p) == text for p in board.pins):
        return f"{text} ({pin.name})"
    return text


def board_pin_name(board: Board, text: str) -> str:
    """The Wokwi pin name for what the Board pin box holds: a text from `board_pin_text`, a
    name typed by hand ("D34", "gnd.1"), or a GPIO number as Deploy asks for them ("GPIO4",
    "4"); anything else is passed on as typed (the checker then reports it as an unknown
    pin)."""
    text = text.strip()
    for pin in board.pins:
        if pin.header and board_pin_text(board, pin.name) == text:
            return pin.name
    pin = board.pin(text)
    if pin is not None:
        return pin.name
    number = GPIO_TYPED.fullmatch(text)
    if number is not None:
        gpio = int(number.group(1))
        header = [p for p in board.pins if p.header and p.gpio == gpio]
        if header:
            return header[0].name
    return text


def endpoint_text(endpoint: str, part_types: dict[str, str], board: Board, board_part: str) -> str:
    """ "dht1:SDA" -> "dht1 data", "esp:D34" -> "D34 · GPIO34": a wire's end in the words
    the form offers; an end we know nothing about ("$serialMonitor:RX") is shown as written."""
    part_id, pin = split_endpoint(endpoint)
    if not pin:
        return endpoint
    if part_id == board_part:
        return board_pin_text(board, pin)
    part = load_part(part_types.get(part_id, ""))
    if part is None or pin not in part.pins:
        return endpoint
    return f"{part_id} {part.pin_label(pin)}"


def run_wiring_check(
    board_id: str,
    data: dict[str, Any] | None,
    source: str,
    scripts: list[str],
    texts: Sequence[tuple[str, str]] = (),
) -> tuple[Board, Diagram | None, list[Finding]]:
    """The check the panel runs: the picked board wins over the diagram's, as with --board.

    `texts` are scripts that are not files, as (name, text): an editor's unsaved buffer (the
    Thonny plugin's "Check wiring of this script"). Their findings say "name:LINE".
    """
    diagram = diagram_from_data(data, source) if data and data.get("connections") else None
    board, _notes = pick_board(board_id, diagram)
    scans = [scan_file(p) for p in scripts] + [scan_source(t, name) for name, t in texts]
    return board, diagram, run_checks(board, diagram, scans)


class WiringPanel(ttk.Frame):
    """Board picker, wiring (diagram or form), findings with fixes, and the pinout picture.

    `on_finding_click(finding)` is called when a person selects a finding (or double-clicks
    it again): the Thonny plugin moves the editor's cursor to a script finding's line with it.
    `compact` is for a narrow host (a Thonny side view, about 560 pixels instead of the
    companion's 960): the picture and the findings come first, left of a narrower wiring form,
    and the buttons get a row of their own under the board picker.
    """

    def __init__(
        self,
        parent: tk.Misc,
        ctx: Any | None = None,
        on_finding_click: Callable[[Finding], None] | None = None,
        compact: bool = False,
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.on_finding_click = on_finding_click
        self._compact = compact
        self._runner = JobRunner(self)
        self._gen = 0  # the latest check; results of older ones are dropped
        self._closed = False
        self.boards = list_boards()
        self.board = load_board(DEFAULT_BOARD)
        self.wiring: dict[str, Any] = empty_wiring(self.board)
        self.source = FORM_SOURCE
        self.source_path: Path | None = None  # the diagram.json the wires came from
        self.scripts: list[str] = []
        self.script_texts: list[tuple[str, str]] = []  # (name, text): scripts not in a file
        self.diagram: Diagram | None = None
        self.findings: list[Finding] = []
        self.layout: PinoutLayout | None = None
        self.checking = False
        self.probing = False
        self.probe_findings: list[Finding] = []
        self.probe_button: ttk.Button | None = None
        self._highlighted: list[str] = []
        self._build()
        self._refresh_form_choices()
        self.recheck()

    # --- layout -----------------------------------------------------------------------------
    def _build(self) -> None:
        top = ttk.Frame(self, padding=(6, 4))
        top.pack(side="top", fill="x")
        top.columnconfigure(1, weight=1)
        self._board_caption = ttk.Label(top, text="Board:")
        self._board_caption.grid(row=0, column=0, sticky="w")
        self.board_var, self.board_combo = board_combobox(
            top, self.boards, self.board, self._on_board_picked, width=BOARD_COMBO_CHARS
        )
        self.board_combo.grid(row=0, column=1, sticky="ew", padx=(4, 8))
        labels = (
            ("Open diagram…", "Check script…", "Export PNG…", "Probe board")
            if self._compact
            else ("Open diagram…", "Check this script…", "Export pinout PNG…", "Probe the board")
        )
        # The buttons wrap rather than being cut (a projector at 1024×768 and zoom 1.5 showed
        # "Expo" and no probe button at all); `_place_buttons` puts them beside the board
        # picker when all fit there, else on rows of their own.
        self.button_row = look.WrapRow(top)
        self._top_buttons: list[ttk.Button] = []
        commands: list[tuple[str, Callable[[], None]]] = [
            (labels[0], self._on_open),
            (labels[1], self._on_script),
            (labels[2], self._on_export),
        ]
        if _probe_module() is not None:
            commands.append((labels[3], self.probe))
        for text, command in commands:
            button = ttk.Button(self.button_row, text=text, command=command)
            self.button_row.add(button)
            self._top_buttons.append(button)
        if len(self._top_buttons) == 4:
            self.probe_button = self._top_buttons[3]
        self._buttons_beside: bool | None = None
        top.bind("<Configure>", lambda e: self._place_buttons(e.width), add="+")
        self._place_buttons(0)

        body = ttk.PanedWindow(self, orient="horizontal")
        body.pack(side="top", fill="both", expand=True, padx=6, pady=(0, 4))
        left = ttk.Frame(body)
        right = ttk.Frame(body)
        self._body, self._form_pane = body, left
        if self._compact:  # the form keeps its natural width, the picture gets the rest
            body.bind("<Configure>", lambda e: self._place_sash(body, left), add="+")
        for pane, weight in ((right, 1), (left, 0)) if self._compact else ((left, 0), (right, 1)):
            body.add(pane, weight=weight)
        narrow = 12 if self._compact else 22  # the form's fields, in characters

        form = ttk.LabelFrame(left, text="Build a wiring", padding=(6, 4))
        form.pack(side="top", fill="x")
        form.columnconfigure(1, weight=1)
        self.part_type_var = tk.StringVar()
        self.part_id_var = tk.StringVar()
        self.part_pin_var = tk.StringVar()
        self.board_pin_var = tk.StringVar()
        # Parts by their human name, Wokwi's id in brackets; aliases are not offered twice.
        listed = listed_parts()
        self.part_types = [p.type for p in listed]
        self._part_by_text = {part_text(p): p for p in listed}
        self._board_pin_texts: list[str] = []
        rows = (
            (
                "Part:",
                ttk.Combobox(
                    form,
                    textvariable=self.part_type_var,
                    state="readonly",
                    values=list(self._part_by_text),
                    width=narrow,
                    style=PART_COMBO_STYLE,
                ),
            ),
            ("Name:", ttk.Entry(form, textvariable=self.part_id_var, width=narrow + 2)),
            ("Part pin:", ttk.Combobox(form, textvariable=self.part_pin_var, width=narrow)),
            ("Board pin:", ttk.Combobox(form, textvariable=self.board_pin_var, width=narrow)),
        )
        for r, (text, widget) in enumerate(rows):
            ttk.Label(form, text=text).grid(row=r, column=0, sticky="w", pady=1)
            widget.grid(row=r, column=1, sticky="ew", pady=1)
        self.part_type_combo, self.part_id_entry, self.part_pin_combo, self.board_pin_combo = (
            w for _, w in rows
        )
        self.part_type_combo.configure(postcommand=self._widen_part_list)
        self.part_type_combo.bind("<<ComboboxSelected>>", lambda e: self._on_part_type())
        # Compact: the form's width is the sash's, so its buttons wrap when it is narrow. In
        # the companion the form is as wide as it asks, and asks for the three in one row.
        buttons = look.WrapRow(form) if self._compact else ttk.Frame(form)
        buttons.grid(row=len(rows), column=0, columnspan=2, sticky="ew", pady=(4, 0))
        for i, (text, command) in enumerate(
            (("Add", self._on_add), ("Remove", self._on_remove), ("Clear", self._on_clear))
        ):
            button = ttk.Button(buttons, text=text, command=command)
            if isinstance(buttons, look.WrapRow):
                buttons.add(button)
            else:
                button.pack(side="left", padx=(0, 4))
            if i == 0:
                self.add_button = button
        self.form_error = tk.StringVar()
        self.form_error_label = look.WrapLabel(
            form, textvariable=self.form_error, wraplength=WRAP_START
        )
        self.form_error_label.grid(row=len(rows) + 1, column=0, columnspan=2, sticky="ew")

        conns = ttk.LabelFrame(left, text="Connections", padding=(6, 4))
        conns.pack(side="top", fill="both", expand=True, pady=(4, 0))
        # Where the wires came from, shown only when it says something (an opened file).
        self.source_var = tk.StringVar(value="")
        self.source_label = look.WrapLabel(
            conns, textvariable=self.source_var, wraplength=WRAP_START
        )
        # A short panel (Thonny's side column, large fonts) shows only some wires: it scrolls.
        self._conn_frame = ttk.Frame(conns)
        self._conn_frame.pack(side="bottom", fill="both", expand=True)
        self.conn_list = tk.Listbox(
            self._conn_frame, height=8, width=narrow + 8, activestyle="none"
        )
        conn_bar = ttk.Scrollbar(self._conn_frame, orient="vertical", command=self.conn_list.yview)
        self.conn_list.configure(yscrollcommand=conn_bar.set)
        conn_bar.pack(side="right", fill="y")
        self.conn_list.pack(side="left", fill="both", expand=True)

        picture_widget = self._build_picture(right)
        table = ttk.Frame(right)
        self.tree = ttk.Treeview(
            table,
            columns=tuple(col for col, _ in COLUMNS),
            show="headings",
            height=TABLE_ROWS[0],
            selectmode="browse",
        )
        # Compact (a Thonny side view): severity, rule and where; the message is in the
        # details under the table, which every layout has (a Message column can be off-screen).
        for col, text in COLUMNS:
            self.tree.heading(col, text=text)
        self.tree.bind("<Configure>", lambda e: self._share_columns(), add="+")
        if self._compact:
            self.tree.configure(displaycolumns=("severity", "rule", "where"))
        else:
            self.tree.configure(displaycolumns=tuple(col for col, _ in COLUMNS))
        scroll = ttk.Scrollbar(table, orient="vertical", command=self.tree.yview)
        self.tree.configure(yscrollcommand=scroll.set)
        scroll.pack(side="right", fill="y")  # packed first: a wide table cannot push it out
        self.tree.pack(side="left", fill="x", expand=True)
        self.tree.bind("<<TreeviewSelect>>", lambda e: self._on_finding_selected())
        self.tree.bind("<Double-1>", lambda e: self._notify_finding_click())
        # The details of one finding: severity, where, the whole message and its fix. It
        # shows the first finding until one is picked, so the message is there at any width
        # (in Thonny's side column the table has no Message column at all). A few lines high,
        # wrapped at its width, and scrolled (the wheel too) when a message is longer: a
        # label that grows with its text would push the picture out of a short panel.
        self.fix_var = tk.StringVar(value="")
        details = ttk.Frame(right)
        self.details = tk.Text(
            details,
            height=DETAIL_LINES,
            width=20,  # asks for little: it gets the column's width
            wrap="word",
            font="TkDefaultFont",
            relief="flat",
            borderwidth=0,
            highlightthickness=0,
            padx=2,
            pady=2,
            takefocus=0,
            state="disabled",
        )
        self.details.tag_configure("head", font="TkHeadingFont")
        self._details_bar = ttk.Scrollbar(details, orient="vertical", command=self.details.yview)
        # Always there: a bar shown only when needed flickered on and off, as Tk's Text
        # reports its extent from estimates while it re-wraps at a new width.
        self.details.configure(yscrollcommand=self._details_bar.set)
        self._details_bar.pack(side="right", fill="y")
        self.details.pack(side="left", fill="both", expand=True)
        self.fix_var.trace_add("write", lambda *_: self._show_details())
        self.summary_var = tk.StringVar(value="")
        summary = look.WrapLabel(
            right, textvariable=self.summary_var, anchor="w", wraplength=WRAP_START
        )
        # Packed from the bottom, before the picture: when the panel is short, the picture
        # gives up its height, not the summary, the details or the table.
        summary.pack(side="bottom", fill="x", before=picture_widget)
        table.pack(side="bottom", fill="x", pady=(4, 0), before=picture_widget)
        self._details_frame, self._table_frame = details, table  # shown with a finding only
        self._restyle()
        look.on_look_change(self, self._restyle)

    def _show_details(self) -> None:
        """Copy `fix_var` into the details box: its first line (severity, rule, where) as a
        heading in the severity's colour."""
        text = self.fix_var.get()
        box = self.details
        frame = self._details_frame
        if not text:  # no finding: the room goes to the picture
            frame.pack_forget()
        elif not frame.winfo_manager():
            frame.pack(side="bottom", fill="x", pady=(2, 0), before=self._table_frame)
        box.configure(state="normal")
        box.delete("1.0", "end")
        head, sep, rest = text.partition("\n")
        severity = head.split(" · ", 1)[0].lower() if " · " in head else ""
        box.insert("end", head, ("head", severity) if severity else ("head",))
        box.insert("end", sep + rest)
        box.configure(state="disabled")
        box.yview_moveto(0)

    def _place_buttons(self, width: int) -> None:
        """The top buttons beside the board picker when they all fit there at its narrowest,
        else under it (where they wrap); compact hosts always put them under it."""
        row = self.button_row
        need = sum(b.winfo_reqwidth() + row.gap for b in self._top_buttons)
        beside_width = self._board_caption.winfo_reqwidth() + self.board_combo.winfo_reqwidth()
        beside = not self._compact and width >= beside_width + 12 + need
        if beside == self._buttons_beside:
            return
        self._buttons_beside = beside
        top = row.master
        if beside:  # room for one line: keep it (a row that wrapped once asks for less)
            top.columnconfigure(2, minsize=need)
            row.grid(row=0, column=2, sticky="ew")
        else:
            top.columnconfigure(2, minsize=0)
            row.grid(row=1, column=0, columnspan=3, sticky="ew", pady=(4, 0))

    def _widen_part_list(self) -> None:
        """The Part list drops down as wide as its longest name (within the screen), not as
        narrow as the box: the names are long ("DHT22 / AM2302 temperature and humidity
        sensor") and a cut name is no plainer than an id. Ttk sizes the list from the box
        plus the style's `postoffset`, so the extra width goes there."""
        combo = self.part_type_combo
        try:
            font = tkfont.nametofont(str(combo.cget("font")) or "TkTextFont", root=combo)
        except (tk.TclError, RuntimeError):
            font = tkfont.nametofont("TkDefaultFont", root=combo)
        longest = max((font.measure(t) for t in self._part_by_text), default=0)
        room = combo.winfo_screenwidth() - combo.winfo_rootx() - combo.winfo_width()
        extra = max(0, min(longest + 3 * CELL_PAD - combo.winfo_width(), room))
        ttk.Style(combo).configure(PART_COMBO_STYLE, postoffset=(0, 0, extra, 0))

    def _restyle(self) -> None:
        """Colours from the theme, column widths from the fonts (zoom or a Thonny theme)."""
        pal = look.palette(self)
        self.form_error_label.configure(foreground=pal.error)
        # The details read as text on the panel, not as a box to type in.
        self.details.configure(
            background=pal.background,
            foreground=pal.foreground,
            selectbackground=pal.select,
            selectforeground=pal.select_text,
            inactiveselectbackground=pal.select,
        )
        for severity, colour in (("error", pal.error), ("warning", pal.warning)):
            self.details.tag_configure(severity, foreground=colour)
        self.source_label.configure(foreground=pal.muted)
        look.style_field(self.conn_list, pal)
        # Tree rows sit on the field background, so their colours must be readable there.
        field = ttk.Style(self).lookup("Treeview", "fieldbackground") or pal.field
        self.tree.tag_configure("error", foreground=look.readable(self, pal.error, field))
        self.tree.tag_configure("warning", foreground=look.readable(self, pal.warning, field))
        self._fit_columns()
        self._buttons_beside = None  # the buttons' widths follow the fonts: place them again
        self._place_buttons(self.button_row.master.winfo_width())
        self.after_idle(self._refit_sash)

    def _refit_sash(self) -> None:
        """After a zoom or font change the form asks for another width, but a paned window
        keeps its panes' sizes: give the form its new width (compact: place the sash again)."""
        if self._closed or not self._body.winfo_ismapped():
            return
        self.update_idletasks()  # the new fonts' sizes reach the form's frames in idle passes
        if self._compact:
            self._sash_placed = False
            self._place_sash(self._body, self._form_pane)
            return
        try:
            self._body.sashpos(0, self._form_pane.winfo_reqwidth())
        except tk.TclError:
            log.debug("no sash to place yet", exc_info=True)

    def _fit_columns(self) -> None:
        """Column widths from the fonts in use, so "Severity" is never cut and the columns
        grow with the zoom; `_share_columns` then fits them to the table's width."""
        head = look.style_font(self, "Treeview.Heading", "TkHeadingFont")
        body = look.style_font(self, "Treeview", "TkDefaultFont")
        most = body.measure("0" * WHERE_CHARS)  # a long Where is read in the details
        words = self._endpoint_words()
        values: dict[str, list[str]] = {
            "severity": ["warning", "error", "info"],
            "rule": [f.rule for f in self.findings] or ["input-only"],
            "where": [self.where_text(f, words) for f in self.findings],
            "message": [],
        }
        sizes: dict[str, tuple[int, int]] = {}
        for col, text in COLUMNS:
            least = head.measure(text) + CELL_PAD
            width = max([least] + [body.measure(v) + CELL_PAD for v in values[col]])
            sizes[col] = (least, min(width, most) if col == "where" else width)
        self._column_sizes = sizes
        self._message_least = body.measure("0" * MESSAGE_CHARS) + CELL_PAD
        self._share_columns()

    def _share_columns(self) -> None:
        """Fit the shown columns to the table's width: the stretching column (Message, or
        Where in the compact table) takes what is left; when that is not enough, Where, then
        Rule and Message give up width down to their heading's. Severity never does. Message
        is left out when it would show only a few words, and when even the headings do not
        fit, Rule too (the details under the table say both), rather than cutting the table
        at its edge.
        (Ttk only stretches columns when the table is resized, and never below their width.)"""
        sizes = getattr(self, "_column_sizes", None)
        if not sizes:
            return
        shown = [c for c, _ in COLUMNS if c != "message" or not self._compact]
        widths = {c: sizes[c][1] for c in sizes}
        room = self.tree.winfo_width() - 4  # the table's border
        if "message" in shown and room > 40:  # a few words of a message only mislead
            rest = room - sum(widths[c] for c in shown if c != "message")
            if rest < self._message_least:
                shown.remove("message")
        for col in DROPPED_FIRST:
            if room > 40 and sum(sizes[c][0] for c in shown) > room and col in shown:
                shown.remove(col)
        if tuple(shown) != tuple(str(c) for c in self.tree.cget("displaycolumns")):
            self.tree.configure(displaycolumns=tuple(shown))
        if room > 40:
            stretch = "message" if "message" in shown else "where"
            rest = room - sum(widths[c] for c in shown if c != stretch)
            widths[stretch] = max(sizes[stretch][0], rest)
            over = sum(widths[c] for c in shown) - room
            for col in ("where", "rule", "message"):
                if over <= 0:
                    break
                if col in shown:
                    cut = min(over, widths[col] - sizes[col][0])
                    widths[col] -= cut
                    over -= cut
        for col, (least, _) in sizes.items():
            self.tree.column(col, width=widths[col], minwidth=least, stretch=False)

    def _place_sash(self, body: ttk.PanedWindow, form_pane: tk.Misc) -> None:
        """Once, when the panel first has its size (compact layout only)."""
        width = body.winfo_width()
        if getattr(self, "_sash_placed", False) or width < 200:
            return
        self._sash_placed = True
        try:
            # The picture and the findings get at least half: a narrow form wraps its buttons
            # and shrinks its boxes, while a narrow picture is unreadable.
            body.sashpos(0, max(width // 2, width - form_pane.winfo_reqwidth() - 6))
        except tk.TclError:
            self._sash_placed = False

    # --- board and form ---------------------------------------------------------------------
    def set_board(self, board_id: str) -> None:
        """Pick a board; the wiring's board part follows, so the form offers its pins."""
        self.board = load_board(board_id)
        self.board_var.set(board_label(self.board))
        for part in self.wiring["parts"]:
            if part.get("id") == self._board_part_id():
                part["type"] = self.board.wokwi_types[0]
        self._refresh_form_choices()
        self.recheck()

    def _on_board_picked(self) -> None:
        self.set_board(board_id_of(self.board_var.get()))

    def _board_part_id(self) -> str:
        diagram = diagram_from_data(self.wiring, self.source)
        return diagram.board_part_id or BOARD_PART_ID

    def _refresh_form_choices(self) -> None:
        # Board pins by both names, "D4 · GPIO4", as on the picture and in Deploy.
        self._board_pin_texts = [
            board_pin_text(self.board, p.name) for p in self.board.pins if p.header
        ]
        self.board_pin_combo.configure(values=self._board_pin_texts)
        self.conn_list.delete(0, "end")
        words = self._endpoint_words()
        for a, b, *_ in self.wiring["connections"]:
            self.conn_list.insert("end", f"{words(a)}  →  {words(b)}")
        if self.source_path is not None:
            self.source_var.set(f"From {self.source_path}")
            self.source_label.pack(side="top", fill="x", before=self._conn_frame)
        else:
            self.source_var.set("")
            self.source_label.pack_forget()

    def _endpoint_words(self) -> Callable[[str], str]:
        """`endpoint_text` for the current wiring (its parts and board part read once)."""
        types = {str(p.get("id", "")): str(p.get("type", "")) for p in self.wiring["parts"]}
        board, board_part = self.board, self._board_part_id()
        return lambda endpoint: endpoint_text(endpoint, types, board, board_part)

    def where_text(self, finding: Finding, words: Callable[[str], str] | None = None) -> str:
        """A finding's place in the form's words: "dht1 data" for "diagram.json: dht1:SDA";
        a script's "main.py:2" stays as it is."""
        source = self.diagram.source if self.diagram is not None else self.source
        prefix = f"{source}: "
        if not finding.where.startswith(prefix):
            return finding.where
        return (words or self._endpoint_words())(finding.where[len(prefix) :])

    def details_text(self, finding: Finding) -> str:
        """What the details under the table say about a finding: severity, rule and place on
        the first line, then the whole message and its fix."""
        head = f"{finding.severity.capitalize()} · {finding.rule} · {self.where_text(finding)}"
        text = f"{head}\n{finding.message}"
        return f"{text}\nFix: {finding.fix}" if finding.fix else text

    def picked_part(self) -> Part | None:
        """The part the Part box holds (its human name, or a Wokwi type typed or set)."""
        text = self.part_type_var.get().strip()
        return self._part_by_text.get(text) or load_part(text)

    def _on_part_type(self) -> None:
        part = self.picked_part()
        part_type = part.type if part is not None else self.part_type_var.get().strip()
        # Pins by their role words ("data" for the DHT pin Wokwi calls "SDA").
        self.part_pin_combo.configure(values=[part.pin_label(n) for n in part.pins] if part else [])
        existing = [p["id"] for p in self.wiring["parts"] if p.get("type") == part_type]
        taken = {p["id"] for p in self.wiring["parts"]}
        self.part_id_var.set(existing[-1] if existing else default_part_id(part_type, taken))
        self.part_pin_var.set("")

    def add_connection(self, part_type: str, part_id: str, part_pin: str, board_pin: str) -> None:
        """Add one wire, part pin → board pin, as a Wokwi connection; the part is added once."""
        part_id, part_pin, board_pin = part_id.strip(), part_pin.strip(), board_pin.strip()
        if not (part_type and part_id and part_pin and board_pin):
            raise ValueError("Choose a part, its pin and a board pin first.")
        if ":" in part_id:
            raise ValueError("A part name cannot contain ':'.")
        parts = {p["id"]: p for p in self.wiring["parts"]}
        if part_id in parts and parts[part_id].get("type") != part_type:
            raise ValueError(f"{part_id} is already a {parts[part_id].get('type')}.")
        if part_id not in parts:
            self.wiring["parts"].append(
                {"type": part_type, "id": part_id, "top": 0, "left": 0, "attrs": {}}
            )
        self.wiring["connections"].append(
            [f"{part_id}:{part_pin}", f"{self._board_part_id()}:{board_pin}", "green", []]
        )
        self._refresh_form_choices()
        self.recheck()

    def _on_add(self) -> None:
        """The form's words back to Wokwi's names: diagram.json gets "dht1:SDA" and "esp:D34"
        for "data" and "D34 · GPIO34"."""
        part = self.picked_part()
        part_type = part.type if part is not None else self.part_type_var.get().strip()
        pin_text_ = self.part_pin_var.get()
        part_pin = (part.pin_named(pin_text_) if part is not None else None) or pin_text_
        board_pin = self.board_pin_var.get()
        board_pin = board_pin_name(self.board, board_pin) if board_pin.strip() else ""
        try:
            self.add_connection(part_type, self.part_id_var.get(), part_pin, board_pin)
        except ValueError as exc:
            self.form_error.set(str(exc))
        else:
            self.form_error.set("")

    def _on_remove(self) -> None:
        chosen = self.conn_list.curselection()
        if chosen:
            del self.wiring["connections"][chosen[0]]
            self._refresh_form_choices()
            self.recheck()

    def _on_clear(self) -> None:
        self.wiring = empty_wiring(self.board)
        self.source = FORM_SOURCE
        self.source_path = None
        self._refresh_form_choices()
        self.recheck()

    # --- files ------------------------------------------------------------------------------
    def open_diagram(self, path: str | os.PathLike[str]) -> None:
        """Load a Wokwi diagram.json; its board becomes the picked board when we know it."""
        path = Path(path)
        try:
            # The one reader of users' files: size limit, UTF-8 and nesting checked as in `iotkit`.
            data = read_json_file(path, WIRING_FILE, error=DiagramError)
            diagram = diagram_from_data(data, path.name)
        except (OSError, ValueError, IotkitError) as exc:  # DiagramError is an IotkitError
            self._show_error(f"Cannot open {path.name}: {exc}")
            return
        self.wiring = data
        self.source = path.name
        self.source_path = path.resolve()
        if diagram.board is not None:
            self.board = diagram.board
            self.board_var.set(board_label(self.board))
        self._refresh_form_choices()
        self.recheck()

    def _on_open(self) -> None:
        path = filedialog.askopenfilename(
            parent=self,
            title="Open a Wokwi diagram.json",
            filetypes=[("Wokwi diagram", "*.json"), ("All files", "*")],
        )
        if path:
            self.open_diagram(path)

    def check_script(self, path: str | os.PathLike[str]) -> None:
        """Check this script (with the wiring, if any) in a worker thread."""
        self.scripts = [str(path)]
        self.script_texts = []
        self.recheck()

    def check_text(self, text: str, name: str, board_id: str | None = None) -> None:
        """Check a script that is not a file (an editor's buffer, saved or not) as `name`,
        on `board_id` if given; it replaces the script checked before."""
        self.scripts = []
        self.script_texts = [(name, text)]
        if board_id is not None and board_id != self.board.id:
            self.set_board(board_id)  # rechecks
        else:
            self.recheck()

    def _on_script(self) -> None:
        path = filedialog.askopenfilename(
            parent=self,
            title="Check a MicroPython script",
            filetypes=[("Python", "*.py"), ("All files", "*")],
        )
        if path:
            self.check_script(path)

    def export_png(self, path: str | os.PathLike[str], size: str = "a4") -> Path:
        """Write the pinout: `size` "a4" is printable (A4 landscape, 150 dpi), "projector" is
        1920×1080 with large text; a .svg name writes a drawing that scales."""
        layout = self.layout or layout_pinout(self.board, self.diagram, self.findings)
        out = render_pinout(layout, path, size=size)
        self._status(f"Pinout saved to {out}")
        return out

    def _on_export(self) -> None:
        kind = tk.StringVar(self, value=EXPORT_PRINT)  # which file type the person picked
        path = filedialog.asksaveasfilename(
            parent=self,
            title="Export the pinout",
            defaultextension=".png",
            initialfile=f"pinout-{self.board.id}.png",
            filetypes=[
                (EXPORT_PRINT, "*.png"),
                (EXPORT_PROJECTOR, "*.png"),
                ("SVG drawing (A4, scales)", "*.svg"),
            ],
            typevariable=kind,
        )
        if path:
            size = "projector" if kind.get() == EXPORT_PROJECTOR else "a4"
            try:
                self.export_png(path, size=size)
            except (OSError, ValueError) as exc:
                self._show_error(f"Could not save the pinout: {exc}")

    # --- checking ---------------------------------------------------------------------------
    def recheck(self) -> None:
        """Run the check in a job; results older than the latest edit are dropped."""
        if self._closed:
            return
        self._gen += 1
        gen = self._gen
        self.checking = True
        self.probe_findings = []  # they were about the wiring before this edit
        board_id = self.board.id
        data = json.loads(json.dumps(self.wiring))  # the job gets its own copy
        source, scripts, texts = self.source, list(self.scripts), list(self.script_texts)
        self.summary_var.set("Checking…")
        self._runner.run(
            lambda: run_wiring_check(board_id, data, source, scripts, texts),
            lambda result, exc: self._check_done(gen, result, exc),
            name="check",
        )

    def _check_done(self, gen: int, result: Any, exc: BaseException | None) -> None:
        if gen != self._gen:
            return  # a newer edit replaced this check
        self.checking = False
        if exc is not None:
            self._show_error(describe_error(exc, what="checking the wiring"))
            return
        board, self.diagram, findings = result
        self.board = board
        self._show_findings(findings)

    def probe(self) -> None:
        """Ask the connected board: I2C scan, DHT read, button levels (`wiring.probe`).

        It runs in the connection's worker through ``call_with_link``, so the Console's reading
        pauses and the port stays open; each step's summary is posted to the Tk thread.
        """
        module = _probe_module()
        if module is None or self.ctx is None:
            self._show_error("Connect a board first: the probe uses the window's connection.")
            return
        if not (self.diagram is not None and self.diagram.connections):
            self._show_error(
                "Open a diagram.json or add connections first: the probe checks "
                "the board against the wiring."
            )
            return
        board, diagram, runner = self.board, self.diagram, self._runner
        self.probing = True
        self._probe_button_state("disabled")  # one probe at a time: a second click cannot act
        self.summary_var.set("Probing the board…")

        def on_step(step: Any) -> None:  # the connection's worker: only post, never Tk
            runner.post(self._show_probe_step, getattr(step, "summary", str(step)))

        def on_done(result: Any, exc: BaseException | None) -> None:  # Tk thread
            self.probing = False
            if self._closed:
                return
            self._probe_button_state("!disabled")
            if exc is not None:
                self._show_error(
                    f"The probe did not finish: {describe_error(exc, what='the probe')}"
                )
                return
            static = [f for f in self.findings if f not in self.probe_findings]
            self.probe_findings = list(result.findings)
            self._show_findings(static + self.probe_findings)
            n = len(result.findings)
            self.summary_var.set(
                f"Probe done on the board: {n} finding{'s' * (n != 1)} from "
                f"{len(result.steps)} step{'s' * (len(result.steps) != 1)}."
            )

        self.ctx.connection.call_with_link(
            lambda link: module.probe(link, board, diagram, on_step=on_step), on_done
        )

    def _probe_button_state(self, state: str) -> None:
        if self.probe_button is not None:
            self.probe_button.state([state])

    def _show_probe_step(self, summary: str) -> None:
        if self.probing:
            self.summary_var.set(f"Probing: {summary}")

    def _show_findings(self, findings: list[Finding]) -> None:
        self.findings = findings
        self.tree.delete(*self.tree.get_children())
        words = self._endpoint_words()
        for i, f in enumerate(findings):
            self.tree.insert(
                "",
                "end",
                iid=str(i),
                values=(f.severity, f.rule, self.where_text(f, words), f.message),
                tags=(f.severity,),
            )
        self._fit_columns()
        # The first finding's details until one is picked: the message at any width.
        self.fix_var.set(self.details_text(findings[0]) if findings else "")
        low, high = TABLE_ROWS
        self.tree.configure(height=max(low, min(high - self._compact, len(findings))))
        n_err = sum(1 for f in findings if f.severity == "error")
        n_warn = sum(1 for f in findings if f.severity == "warning")
        if findings:
            self.summary_var.set(
                f"{n_err} error(s), {n_warn} warning(s) on {self.board.id}. {PICK_HINT}"
            )
        elif self.diagram is None and not self.scripts and not self.script_texts:
            self.summary_var.set("Add connections, open a diagram.json or check a script.")
        else:
            self.summary_var.set(f"No problems found on {self.board.id}.")
        self.layout = layout_pinout(self.board, self.diagram, findings)
        self._highlighted = []
        self._draw()

    def _show_error(self, text: str) -> None:
        self.checking = False
        self.summary_var.set(text)
        self._status(text)

    def _status(self, text: str) -> None:
        if self.ctx is not None:
            self.ctx.set_status(text)

    # --- the picture ------------------------------------------------------------------------
    def _build_picture(self, parent: tk.Misc) -> ttk.Frame:
        """The pinout canvas in a frame with scroll bars, which show when the picture at a
        legible size is bigger than its place; drag it or use the mouse wheel to scroll."""
        picture = ttk.Frame(parent)
        picture.pack(side="top", fill="both", expand=True)
        size = {"height": 240, "width": 200} if self._compact else {"height": 300}
        self.canvas = tk.Canvas(picture, highlightthickness=0, borderwidth=0, **size)
        self._xbar = ttk.Scrollbar(picture, orient="horizontal", command=self.canvas.xview)
        self._ybar = ttk.Scrollbar(picture, orient="vertical", command=self.canvas.yview)
        self.canvas.configure(xscrollcommand=self._xbar.set, yscrollcommand=self._ybar.set)
        self.canvas.grid(row=0, column=0, sticky="nsew")
        picture.rowconfigure(0, weight=1)
        picture.columnconfigure(0, weight=1)
        self._picture = picture
        self._bars: tuple[bool, bool] = (False, False)
        self._fonts: dict[tuple[str, int, bool], tkfont.Font] = {}
        self.screen_layout: PinoutLayout | None = None  # what the canvas shows, in mm
        self.picture_scrolls = False
        self._view: tuple[int, int, int] | None = None  # the picture and size last scrolled
        c = self.canvas
        c.bind("<ButtonPress-1>", lambda e: c.scan_mark(e.x, e.y))
        c.bind("<B1-Motion>", lambda e: c.scan_dragto(e.x, e.y, gain=1))
        for sequence in ("<MouseWheel>", "<Button-4>", "<Button-5>"):
            c.bind(sequence, self._on_wheel)
            c.bind(f"<Shift-{sequence.strip('<>')}>", lambda e: self._on_wheel(e, "x"))
        picture.bind("<Configure>", lambda e: self._draw())
        look.on_look_change(c, self._draw)
        return picture

    def _on_wheel(self, event: tk.Event, axis: str = "y") -> str:
        """The wheel scrolls a picture that is bigger than its place (Shift: sideways)."""
        if not self.picture_scrolls:
            return "break"
        num = getattr(event, "num", None)
        delta = int(getattr(event, "delta", 0) or 0)
        units = -1 if num == 4 or delta > 0 else 1 if num == 5 or delta < 0 else 0
        view = self.canvas.xview_scroll if axis == "x" else self.canvas.yview_scroll
        view(units * PICTURE_WHEEL_UNITS, "units")
        return "break"

    def _font_family(self) -> str:
        """The UI font's family: pin labels are measured and drawn in it, so "as large as the
        UI font" is exact."""
        try:
            return str(tkfont.nametofont("TkDefaultFont", root=self).actual("family"))
        except (tk.TclError, RuntimeError):
            return "DejaVu Sans"

    def _font(self, family: str, px: int, bold: bool) -> tkfont.Font:
        key = (family, px, bold)
        if key not in self._fonts:
            weight = "bold" if bold else "normal"
            self._fonts[key] = tkfont.Font(root=self, family=family, size=-px, weight=weight)
        return self._fonts[key]

    def _legible_px(self, family: str) -> int:
        """The smallest pixel size of `family` whose lines are as tall as the UI font's."""
        want = look.ui_font_px(self)
        px = max(1, round(want * LINESPACE_TO_PX))  # a size a little under the answer
        while px < 4 * want and self._font(family, px, False).metrics("linespace") < want:
            px += 1
        return px

    def _draw(self) -> None:
        """Draw the picture with canvas primitives, its pin labels at least as large as the
        UI font (so it grows with the zoom); bigger than its place, it scrolls.

        The layout is made again for the canvas's own fonts (`CanvasFonts`), at the picture's
        natural size: every label has the room it is drawn with, so none runs into another.
        Where there is room to spare the picture grows to fill it (up to `PICTURE_MAX_GROW`).
        """
        c = self.canvas
        if self.layout is None:
            c.delete("all")
            self.screen_layout = None
            return
        fw, fh = max(self._picture.winfo_width(), 100), max(self._picture.winfo_height(), 100)
        family = self._font_family()
        pin_pt = PIN_TEXT_MAX_PT
        legible = self._legible_px(family) / (pin_pt * MM_PER_PT)  # px per mm
        fonts = CanvasFonts(self, family, legible)
        layout = self.layout.relayout(fonts, page=None, pin_pt=pin_pt)
        fit = min((fw - 2 * PICTURE_PAD) / layout.width, (fh - 2 * PICTURE_PAD) / layout.height)
        if fit > legible * PICTURE_GROW_FROM:  # room to spare: bigger, laid out for its fonts
            grow = min(fit * PICTURE_FIT_SLACK, legible * PICTURE_MAX_GROW)
            big = CanvasFonts(self, family, grow)
            bigger = self.layout.relayout(big, page=None, pin_pt=pin_pt)
            # Font sizes are whole pixels: keep it only if it really fits.
            if bigger.width * big.scale <= fw - 2 * PICTURE_PAD and (
                bigger.height * big.scale <= fh - 2 * PICTURE_PAD
            ):
                fonts, layout = big, bigger
        scale = fonts.scale
        dw, dh = layout.width * scale + 2 * PICTURE_PAD, layout.height * scale + 2 * PICTURE_PAD
        # Which scroll bars: decided from the frame's size, so showing one does not redraw
        # into a different answer.
        bar = self._ybar.winfo_reqwidth()
        need_y = dh > fh
        need_x = dw > fw - (bar if need_y else 0)
        need_y = need_y or (need_x and dh > fh - bar)
        self._show_bars(need_x, need_y)
        w, h = fw - (bar if need_y else 0), fh - (bar if need_x else 0)
        ox, oy = max(PICTURE_PAD, (w - dw) / 2 + PICTURE_PAD), max(
            PICTURE_PAD, (h - dh) / 2 + PICTURE_PAD
        )
        self.screen_layout = layout
        self._draw_at(layout, fonts, ox, oy)
        c.configure(scrollregion=(0, 0, max(w, dw), max(h, dh)))
        self.picture_scrolls = need_x or need_y
        view = (id(self.layout), fw, fh)
        if self.picture_scrolls and self._view != view:
            self._view = view  # a new picture or size: start at the top left, unless that
            # hides the board's pins: then at the board's left edge, or its top
            board = c.bbox("board", "pad") or (0, 0, 0, 0)
            x0 = 0 if board[2] <= w else board[0] - PICTURE_PAD
            y0 = 0 if board[1] <= h / 3 else board[1] - PICTURE_PAD
            c.xview_moveto(max(0.0, x0 / max(w, dw)))
            c.yview_moveto(max(0.0, y0 / max(h, dh)))
        elif not self.picture_scrolls:
            self._view = None
            c.xview_moveto(0)
            c.yview_moveto(0)

    def _show_bars(self, x: bool, y: bool) -> None:
        if self._bars == (x, y):
            return
        self._bars = (x, y)
        if y:
            self._ybar.grid(row=0, column=1, sticky="ns")
        else:
            self._ybar.grid_remove()
        if x:
            self._xbar.grid(row=1, column=0, sticky="ew")
        else:
            self._xbar.grid_remove()

    def _scroll_to(self, x: float, y: float) -> None:
        """Scroll the picture so that canvas point (x, y) is in the middle."""
        c = self.canvas
        region = [float(v) for v in str(c.cget("scrollregion")).split()] or [0, 0, 1, 1]
        rw, rh = max(region[2], 1.0), max(region[3], 1.0)
        c.xview_moveto(max(0.0, (x - c.winfo_width() / 2) / rw))
        c.yview_moveto(max(0.0, (y - c.winfo_height() / 2) / rh))

    def _draw_at(self, layout: PinoutLayout, fonts: CanvasFonts, ox: float, oy: float) -> None:
        """Draw `layout` at `fonts.scale` pixels per mm from (ox, oy), in the theme's colours:
        the canvas takes the page background and text on it the theme's text colours; on a
        dark theme the board and the parts turn dark (`DARK_FILLS`) and the text on them light
        enough to read (4.5:1), so the picture is no bright block. Pads keep their colours."""
        c = self.canvas
        c.delete("all")
        pal = look.palette(self)
        look.style_field(c, pal)
        page_text = {
            TEXT: pal.field_text,
            MUTED: look.readable(self, pal.muted, pal.field),
            None: pal.field_text,
        }
        fills = DARK_FILLS if pal.dark else {}
        readable: dict[tuple[str, str, float], str] = {}

        def on(colour: str, background: str, ratio: float = look.MIN_CONTRAST) -> str:
            key = (colour, background, ratio)
            if key not in readable:
                readable[key] = look.readable(self, colour, background, ratio)
            return readable[key]

        scale = fonts.scale

        def X(v: float) -> float:
            return ox + v * scale

        def Y(v: float) -> float:
            return oy + v * scale

        for s in layout.shapes:
            tags = s.tags
            lw = max(1.0, s.width * scale)
            if s.kind == "rect":
                outline = s.outline or ""
                if fills and outline:
                    outline = on(outline, pal.field, LINE_CONTRAST)
                c.create_rectangle(
                    X(s.x),
                    Y(s.y),
                    X(s.x + s.w),
                    Y(s.y + s.h),
                    fill=fills.get(s.fill or "", s.fill or ""),
                    outline=outline,
                    width=lw,
                    tags=tags,
                )
            elif s.kind == "circle":
                outline = s.outline or ""
                if "legend" in tags and outline == TEXT:
                    outline = pal.field_text
                c.create_oval(
                    X(s.x - s.w),
                    Y(s.y - s.w),
                    X(s.x + s.w),
                    Y(s.y + s.w),
                    fill=s.fill or "",
                    outline=outline,
                    width=1,
                    tags=tags,
                )
            elif s.kind == "line":
                colour = on(s.outline or TEXT, pal.field, LINE_CONTRAST)  # wires on the page
                flat = [v for x, y in s.points for v in (X(x), Y(y))]
                c.create_line(*flat, fill=colour, width=lw, tags=tags)
            elif s.kind == "text":
                colour = s.fill or TEXT
                if PAGE_TEXT in tags:
                    colour = page_text.get(s.fill) or on(colour, pal.field)
                elif fills and "badge" not in tags:  # on the board or on a part, made dark
                    part = any(t.startswith("part:") for t in tags)
                    colour = on(colour, fills[PART_FILL if part else BOARD_FILL])
                c.create_text(
                    X(s.x),
                    Y(s.y),
                    text=s.text,
                    anchor=s.anchor,
                    font=fonts.spec(s.size, s.bold),
                    fill=colour,
                    tags=tags,
                )
        for name in self._highlighted:
            self._paint_highlight(name)

    def _show_highlighted(self) -> None:
        """Scroll a picture bigger than its place to the highlighted pins."""
        box = self.canvas.bbox("highlight")
        if box is None:
            boxes = [self.canvas.bbox(i) for n in self._highlighted if (i := self.pad_item(n))]
            box = boxes[0] if boxes and boxes[0] else None
        if box is not None:
            self._scroll_to((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)

    def highlight_pin(self, names: list[str]) -> None:
        """Paint these pins' pads in the highlight colour (the previous ones go back)."""
        self._highlighted = list(names)
        self._draw()
        if self.picture_scrolls and names:
            self._show_highlighted()

    def _paint_highlight(self, name: str) -> None:
        for item in self.canvas.find_withtag(f"pin:{name}"):
            tags = self.canvas.gettags(item)
            if "pad" in tags:
                self.canvas.itemconfigure(item, fill=HIGHLIGHT, width=3)
            elif "label" in tags:
                self.canvas.itemconfigure(item, fill="#000000")
                x0, y0, x1, y1 = self.canvas.bbox(item)
                box = self.canvas.create_rectangle(
                    x0 - 2, y0 - 1, x1 + 2, y1 + 1, fill=HIGHLIGHT, outline="", tags=("highlight",)
                )
                self.canvas.tag_lower(box, item)

    def pad_item(self, name: str) -> int | None:
        """The canvas item of a pin's pad, for tests and for scrolling to it."""
        for item in self.canvas.find_withtag(f"pin:{name}"):
            if "pad" in self.canvas.gettags(item):
                return item
        return None

    def select_finding(self, index: int) -> None:
        self.tree.selection_set(str(index))
        self.tree.see(str(index))
        self._on_finding_selected()

    def _on_finding_selected(self) -> None:
        chosen = self.tree.selection()
        if not chosen:
            return
        f = self.findings[int(chosen[0])]
        self.fix_var.set(self.details_text(f))
        board_part = self.diagram.board_part_id if self.diagram is not None else None
        names = pins_of_finding(self.board, f, board_part)
        self.highlight_pin(names)
        if not names and f.pin:
            self.fix_var.set(self.fix_var.get() + f"  ({f.pin} is not on the header pins.)")
        self._notify_finding_click()

    def _notify_finding_click(self) -> None:
        chosen = self.tree.selection()
        if self.on_finding_click is None or not chosen:
            return
        try:
            self.on_finding_click(self.findings[int(chosen[0])])
        except Exception:  # noqa: BLE001 - the host's callback must not break the panel
            log.exception("on_finding_click failed")

    # --- closing ----------------------------------------------------------------------------
    def close(self) -> None:
        """Drop the results of running checks and probe steps; returns at once."""
        self._closed = True
        self._runner.close()


class CanvasFonts:
    """`pinout.TextMetrics` for the Tk canvas at `scale` pixels per millimetre: the layout
    measures its text with the very fonts `WiringPanel._draw_at` draws it in, so the room it
    leaves is the room the text takes."""

    def __init__(self, panel: WiringPanel, family: str, scale: float) -> None:
        self.panel = panel
        self.family = family
        self.scale = scale

    def px(self, size: float) -> int:
        """The pixel size of text of `size` points at this scale."""
        return max(1, round(size * MM_PER_PT * self.scale))

    def spec(self, size: float, bold: bool = False) -> tuple[str, int, str]:
        """The Tk font description to draw text of `size` points with."""
        return (self.family, -self.px(size), "bold" if bold else "normal")

    def width(self, text: str, size: float, bold: bool = False) -> float:
        return self.panel._font(self.family, self.px(size), bold).measure(text) / self.scale

    def height(self, size: float, bold: bool = False) -> float:
        font = self.panel._font(self.family, self.px(size), bold)
        return font.metrics("linespace") / self.scale


__all__ = ["CanvasFonts", "WiringPanel", "default_part_id", "empty_wiring", "run_wiring_check"]
