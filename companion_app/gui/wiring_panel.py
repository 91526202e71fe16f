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
from pathlib import Path
from tkinter import filedialog, ttk
from typing import Any, Callable, Sequence

from companion_app.boards import DEFAULT_BOARD, Board, list_boards, load_board
from companion_app.boards.parts import list_parts
from companion_app.errors import IotkitError
from companion_app.gui.boardpick import board_combobox, board_id_of, board_label
from companion_app.gui.jobs import JobRunner, describe_error
from companion_app.inputs import read_json_file
from companion_app.wiring.check import pick_board
from companion_app.wiring.codescan import scan_file, scan_source
from companion_app.wiring.diagram import WIRING_FILE, Diagram, DiagramError, diagram_from_data
from companion_app.wiring.pinout import HIGHLIGHT, PinoutLayout, layout_pinout, pins_of_finding
from companion_app.wiring.pinout import render as render_pinout
from companion_app.wiring.rules import Finding, run_checks

log = logging.getLogger(__name__)

FORM_SOURCE = "wiring form"
BOARD_PART_ID = "esp"
PT_TO_PX = 96 / 72  # Tk font sizes in pixels, from the layout's points at screen resolution
# Pixels per layout unit (mm) below which the 8 px floor of the labels makes neighbouring pin
# labels overlap (measured: none overlap from 2.3 on).
MIN_LEGIBLE_SCALE = 2.5


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
        self._centred: tuple[int, int] | None = None  # compact picture: centred at this size
        self._runner = JobRunner(self)
        self._gen = 0  # the latest check; results of older ones are dropped
        self._closed = False
        self.boards = list_boards()
        self.board = load_board(DEFAULT_BOARD)
        self.wiring: dict[str, Any] = empty_wiring(self.board)
        self.source = FORM_SOURCE
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
        bar = ttk.Frame(self, padding=(6, 4))
        bar.pack(side="top", fill="x")
        ttk.Label(bar, text="Board:").pack(side="left")
        self.board_var, self.board_combo = board_combobox(
            bar, self.boards, self.board, self._on_board_picked
        )
        self.board_combo.pack(side="left", padx=(4, 8))
        if self._compact:
            bar = ttk.Frame(self, padding=(6, 0, 6, 4))
            bar.pack(side="top", fill="x")
        labels = (
            ("Open diagram…", "Check script…", "Export PNG…", "Probe board")
            if self._compact
            else ("Open diagram…", "Check this script…", "Export pinout PNG…", "Probe the board")
        )
        ttk.Button(bar, text=labels[0], command=self._on_open).pack(side="left")
        ttk.Button(bar, text=labels[1], command=self._on_script).pack(side="left", padx=4)
        ttk.Button(bar, text=labels[2], command=self._on_export).pack(side="left")
        if _probe_module() is not None:
            self.probe_button = ttk.Button(bar, text=labels[3], command=self.probe)
            self.probe_button.pack(side="left", padx=4)

        body = ttk.PanedWindow(self, orient="horizontal")
        body.pack(side="top", fill="both", expand=True, padx=6, pady=(0, 4))
        left = ttk.Frame(body)
        right = ttk.Frame(body)
        if self._compact:  # the form keeps its natural width, the picture gets the rest
            body.bind("<Configure>", lambda e: self._place_sash(body, left), add="+")
        for pane, weight in ((right, 1), (left, 0)) if self._compact else ((left, 0), (right, 1)):
            body.add(pane, weight=weight)
        narrow = 12 if self._compact else 22  # the form's fields, in characters

        form = ttk.LabelFrame(left, text="Build a wiring", padding=(6, 4))
        form.pack(side="top", fill="x")
        self.part_type_var = tk.StringVar()
        self.part_id_var = tk.StringVar()
        self.part_pin_var = tk.StringVar()
        self.board_pin_var = tk.StringVar()
        self.part_types = sorted(p.type for p in list_parts())
        rows = (
            (
                "Part:",
                ttk.Combobox(
                    form,
                    textvariable=self.part_type_var,
                    state="readonly",
                    values=self.part_types,
                    width=narrow,
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
        self.part_type_combo.bind("<<ComboboxSelected>>", lambda e: self._on_part_type())
        buttons = ttk.Frame(form)
        buttons.grid(row=len(rows), column=0, columnspan=2, sticky="ew", pady=(4, 0))
        self.add_button = ttk.Button(buttons, text="Add", command=self._on_add)
        self.add_button.pack(side="left")
        ttk.Button(buttons, text="Remove", command=self._on_remove).pack(side="left", padx=4)
        ttk.Button(buttons, text="Clear", command=self._on_clear).pack(side="left")
        self.form_error = tk.StringVar()
        ttk.Label(form, textvariable=self.form_error, foreground="#b00000", wraplength=230).grid(
            row=len(rows) + 1, column=0, columnspan=2, sticky="w"
        )

        conns = ttk.LabelFrame(left, text="Connections", padding=(6, 4))
        conns.pack(side="top", fill="both", expand=True, pady=(4, 0))
        self.source_var = tk.StringVar(value=FORM_SOURCE)
        ttk.Label(conns, textvariable=self.source_var, foreground="#555555").pack(anchor="w")
        self.conn_list = tk.Listbox(conns, height=8, width=narrow + 8, activestyle="none")
        self.conn_list.pack(side="top", fill="both", expand=True)

        if self._compact:  # a picture that may be bigger than its place: scroll bars, drag
            picture = ttk.Frame(right)
            picture.pack(side="top", fill="both", expand=True)
            self.canvas = tk.Canvas(
                picture, background="white", highlightthickness=0, height=240, width=200
            )
            xbar = ttk.Scrollbar(picture, orient="horizontal", command=self.canvas.xview)
            ybar = ttk.Scrollbar(picture, orient="vertical", command=self.canvas.yview)
            self.canvas.configure(xscrollcommand=xbar.set, yscrollcommand=ybar.set)
            self.canvas.grid(row=0, column=0, sticky="nsew")
            ybar.grid(row=0, column=1, sticky="ns")
            xbar.grid(row=1, column=0, sticky="ew")
            picture.rowconfigure(0, weight=1)
            picture.columnconfigure(0, weight=1)
            self.canvas.bind("<ButtonPress-1>", lambda e: self.canvas.scan_mark(e.x, e.y))
            self.canvas.bind("<B1-Motion>", lambda e: self.canvas.scan_dragto(e.x, e.y, gain=1))
        else:
            self.canvas = tk.Canvas(right, background="white", highlightthickness=0, height=300)
            self.canvas.pack(side="top", fill="both", expand=True)
        self.canvas.bind("<Configure>", lambda e: self._draw())
        table = ttk.Frame(right)
        table.pack(side="top", fill="x", pady=(4, 0))
        self.tree = ttk.Treeview(
            table,
            columns=("severity", "rule", "where", "message"),
            show="headings",
            height=5,
            selectmode="browse",
        )
        # Compact (a Thonny side view): narrower columns, so severity, rule and where stay
        # readable and the message takes what is left instead of running off the edge.
        widths = (74, 86, 76, 160) if self._compact else (70, 140, 200, 300)
        for (col, text), width in zip(
            (
                ("severity", "Severity"),
                ("rule", "Rule"),
                ("where", "Where"),
                ("message", "Message"),
            ),
            widths,
        ):
            self.tree.heading(col, text=text)
            stretch = col == ("where" if self._compact else "message")
            self.tree.column(col, width=width, minwidth=40, stretch=stretch)
        if self._compact:  # the message is shown in full under the table when one is picked
            self.tree.configure(displaycolumns=("severity", "rule", "where"))
        self.tree.tag_configure("error", foreground="#b71c1c")
        self.tree.tag_configure("warning", foreground="#a04800")
        scroll = ttk.Scrollbar(table, orient="vertical", command=self.tree.yview)
        self.tree.configure(yscrollcommand=scroll.set)
        scroll.pack(side="right", fill="y")  # packed first: a wide table cannot push it out
        self.tree.pack(side="left", fill="x", expand=True)
        self.tree.bind("<<TreeviewSelect>>", lambda e: self._on_finding_selected())
        self.tree.bind("<Double-1>", lambda e: self._notify_finding_click())
        self.fix_var = tk.StringVar(value="")
        self.fix_label = ttk.Label(right, textvariable=self.fix_var, anchor="nw", justify="left")
        self.fix_label.pack(side="top", fill="x", pady=(2, 0))
        self.fix_label.bind(
            "<Configure>", lambda e: self.fix_label.configure(wraplength=max(200, e.width - 8))
        )
        self.summary_var = tk.StringVar(value="")
        summary = ttk.Label(right, textvariable=self.summary_var, anchor="w", justify="left")
        summary.pack(side="top", fill="x")
        summary.bind("<Configure>", lambda e: summary.configure(wraplength=max(200, e.width - 8)))

    def _place_sash(self, body: ttk.PanedWindow, form_pane: tk.Misc) -> None:
        """Once, when the panel first has its size (compact layout only)."""
        width = body.winfo_width()
        if getattr(self, "_sash_placed", False) or width < 200:
            return
        self._sash_placed = True
        try:
            body.sashpos(0, max(width // 3, width - form_pane.winfo_reqwidth() - 6))
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
        names = [p.name for p in self.board.pins if p.header]
        self.board_pin_combo.configure(values=names)
        self.conn_list.delete(0, "end")
        for a, b, *_ in self.wiring["connections"]:
            self.conn_list.insert("end", f"{a}  →  {b}")
        self.source_var.set(self.source)

    def _on_part_type(self) -> None:
        from companion_app.boards.parts import load_part

        part_type = self.part_type_var.get()
        part = load_part(part_type)
        self.part_pin_combo.configure(values=list(part.pins) if part else [])
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
        try:
            self.add_connection(
                self.part_type_var.get(),
                self.part_id_var.get(),
                self.part_pin_var.get(),
                self.board_pin_var.get(),
            )
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

    def export_png(self, path: str | os.PathLike[str]) -> Path:
        """Write the printable pinout (A4 landscape, 150 dpi; .svg also works)."""
        layout = self.layout or layout_pinout(self.board, self.diagram, self.findings)
        out = render_pinout(layout, path)
        self._status(f"Pinout saved to {out}")
        return out

    def _on_export(self) -> None:
        path = filedialog.asksaveasfilename(
            parent=self,
            title="Export the pinout",
            defaultextension=".png",
            initialfile=f"pinout-{self.board.id}.png",
            filetypes=[("PNG image", "*.png"), ("SVG drawing", "*.svg")],
        )
        if path:
            try:
                self.export_png(path)
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
        self.summary_var.set("Probing the board…")

        def on_step(step: Any) -> None:  # the connection's worker: only post, never Tk
            runner.post(self._show_probe_step, getattr(step, "summary", str(step)))

        def on_done(result: Any, exc: BaseException | None) -> None:  # Tk thread
            self.probing = False
            if self._closed:
                return
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

    def _show_probe_step(self, summary: str) -> None:
        if self.probing:
            self.summary_var.set(f"Probing: {summary}")

    def _show_findings(self, findings: list[Finding]) -> None:
        self.findings = findings
        self.tree.delete(*self.tree.get_children())
        for i, f in enumerate(findings):
            self.tree.insert(
                "",
                "end",
                iid=str(i),
                values=(f.severity, f.rule, f.where, f.message),
                tags=(f.severity,),
            )
        self.fix_var.set("Click a finding to see its fix and its pin." if findings else "")
        n_err = sum(1 for f in findings if f.severity == "error")
        n_warn = sum(1 for f in findings if f.severity == "warning")
        if findings:
            self.summary_var.set(f"{n_err} error(s), {n_warn} warning(s) on {self.board.id}.")
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
    def _draw(self) -> None:
        """Draw the shared layout with canvas primitives, scaled to fit the canvas.

        Compact layout: the drawing (not the printable page around it) is fitted, but never
        below `MIN_LEGIBLE_SCALE`, where the pin labels would run into each other; a bigger
        drawing scrolls (scroll bars, or drag it) and starts centred on the board's pins.
        """
        c = self.canvas
        layout = self.layout
        if layout is None:
            c.delete("all")
            return
        w, h = max(c.winfo_width(), 100), max(c.winfo_height(), 100)
        scale = min(w / layout.width, h / layout.height)
        ox, oy = (w - layout.width * scale) / 2, (h - layout.height * scale) / 2
        if not self._compact:
            self._draw_at(scale, ox, oy)
            return
        self._draw_at(scale, 0.0, 0.0)  # to measure the drawing without the page's margins
        box = c.bbox("all")
        if box is None:
            return
        bw, bh = max(box[2] - box[0], 1), max(box[3] - box[1], 1)
        pad = 8
        fit = scale * min((w - 2 * pad) / bw, (h - 2 * pad) / bh)
        big = max(fit, MIN_LEGIBLE_SCALE)
        k = big / scale
        # Where the drawing starts once scaled, so that it sits centred (or at the margin).
        dw, dh = bw * k, bh * k
        ox = -box[0] * k + max(pad, (w - dw) / 2)
        oy = -box[1] * k + max(pad, (h - dh) / 2)
        self._draw_at(big, ox, oy)
        region = (0, 0, max(w, dw + 2 * pad), max(h, dh + 2 * pad))
        c.configure(scrollregion=region)
        scrolls = dw + 2 * pad > w or dh + 2 * pad > h
        if scrolls and self._centred != (w, h):  # new size: the board's pins in the middle
            self._centred = (w, h)
            pads = c.bbox("pad") or c.bbox("all")
            if pads is not None:
                self._scroll_to((pads[0] + pads[2]) / 2, (pads[1] + pads[3]) / 2)
        elif not scrolls:
            c.xview_moveto(0)
            c.yview_moveto(0)

    def _scroll_to(self, x: float, y: float) -> None:
        """Scroll the compact picture so that canvas point (x, y) is in the middle."""
        c = self.canvas
        region = [float(v) for v in str(c.cget("scrollregion")).split()] or [0, 0, 1, 1]
        rw, rh = max(region[2], 1.0), max(region[3], 1.0)
        c.xview_moveto(max(0.0, (x - c.winfo_width() / 2) / rw))
        c.yview_moveto(max(0.0, (y - c.winfo_height() / 2) / rh))

    def _draw_at(self, scale: float, ox: float, oy: float) -> None:
        c = self.canvas
        c.delete("all")
        layout = self.layout
        assert layout is not None

        def X(v: float) -> float:
            return ox + v * scale

        def Y(v: float) -> float:
            return oy + v * scale

        mm_per_pt = 25.4 / 72
        for s in layout.shapes:
            tags = s.tags
            lw = max(1.0, s.width * scale)
            if s.kind == "rect":
                c.create_rectangle(
                    X(s.x),
                    Y(s.y),
                    X(s.x + s.w),
                    Y(s.y + s.h),
                    fill=s.fill or "",
                    outline=s.outline or "",
                    width=lw,
                    tags=tags,
                )
            elif s.kind == "circle":
                c.create_oval(
                    X(s.x - s.w),
                    Y(s.y - s.w),
                    X(s.x + s.w),
                    Y(s.y + s.w),
                    fill=s.fill or "",
                    outline=s.outline or "",
                    width=1,
                    tags=tags,
                )
            elif s.kind == "line":
                flat = [v for x, y in s.points for v in (X(x), Y(y))]
                c.create_line(*flat, fill=s.outline or "black", width=lw, tags=tags)
            elif s.kind == "text":
                # 8 px is the smallest size Tk draws legibly; the layout leaves room for it.
                px = max(8, round(s.size * mm_per_pt * scale))
                font = ("DejaVu Sans", -px, "bold" if s.bold else "normal")
                c.create_text(
                    X(s.x),
                    Y(s.y),
                    text=s.text,
                    anchor=s.anchor,
                    font=font,
                    fill=s.fill or "#111111",
                    tags=tags,
                )
        for name in self._highlighted:
            self._paint_highlight(name)

    def _show_highlighted(self) -> None:
        """Compact layout: scroll the picture to the highlighted pins."""
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
        if self._compact and names:
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
        self.fix_var.set(f"{f.message}\nFix: {f.fix}" if f.fix else f.message)
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


__all__ = ["WiringPanel", "default_part_id", "empty_wiring", "run_wiring_check"]
