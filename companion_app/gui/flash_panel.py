"""The Flash panel: put MicroPython on an ESP board, or rehearse it on a virtual chip.

Flashing is the first thing a beginner does and the easiest place to break a board, so the panel
walks through it in order (board, firmware, flash) and refuses a firmware file that does not fit
the detected chip before the Flash button is even enabled. The engine is
`companion_app.firmware.flasher.Flasher`; this module only arranges it for people.

Threads: every Tk call happens in the Tk thread. Detecting the board, inspecting a file, reading
the firmware cache, starting the virtual chip and flashing are jobs of the panel's
`companion_app.gui.jobs.JobRunner`: each runs in its own thread and names the method that gets
its result on the Tk thread (``_flash_done`` for a flash). esptool's progress callbacks run in
the flash job, so they only ``post`` to the Tk thread: every line worth logging is posted, and
of the progress figures only the newest is drawn. No job ever calls Tk.

Closing the panel never waits for a job: it sets the Cancel event (esptool stops between two
blocks and closes the port in its own thread) and closes the runner, so no result reaches a
closed panel. A practice chip that finishes starting after that is stopped by its job's
``on_cancelled``.

The serial port is handed over, as Thonny does with its backend: if the window's connection
uses the port being flashed, it is closed first (the link opens ports exclusively, and esptool
needs the board in its bootloader anyway) and reopened when flashing ends.

A class with no internet still finishes a practice run (issue 15): with the practice chip
ticked, the firmware list offers the practice firmware, which our own code makes
(`companion_app.firmware.practice`), and picks it when the cache has nothing for the chip. A real
port refuses that file before Flash is enabled. After a flash that worked, the panel names the
next step and offers a button to the Deploy panel (``ctx.show_panel``; words alone when the host
has no such hook).

Layout: the panel scrolls as a whole when its place is too short (a projector at zoom 1.5,
Thonny's side column), its rows of controls wrap (`look.WrapRow`), long sentences wrap to the
width, and every colour comes from the theme (`look.palette`), Thonny's dark one included.

The companion imports this module only when the Flash tab is first opened, and the engine imports
esptool only when it first talks to a board, so the window and the Thonny plugin start without
it. The virtual chip's module is imported on first use too: it needs pseudo-terminals (POSIX).
"""

from __future__ import annotations

import logging
import os
import threading
import tkinter as tk
from dataclasses import dataclass
from pathlib import Path
from tkinter import filedialog, ttk
from typing import Any, Callable

from companion_app.boards import CHIPS, flash_mode, load_board
from companion_app.device.ports import looks_like_board
from companion_app.firmware.flasher import FlashCancelled, Flasher, Progress, describe_board
from companion_app.firmware.image import (
    ImageError,
    check_compatible,
    chip_name,
    inspect_image,
    targets,
)
from companion_app.firmware.practice import (
    PRACTICE_LABEL,
    is_practice_image,
    practice_firmware_file,
)
from companion_app.gui import look
from companion_app.gui.jobs import JobRunner, OnDone, describe_error

log = logging.getLogger(__name__)

DEFAULT_PRACTICE_CHIP = "esp32"


def practice_chips() -> list[str]:
    """The chips a practice chip can be: those the ROM emulation knows (chips_rom.json) that
    a board of ours has (boards.CHIPS), so that what is flashed there can run somewhere."""
    from companion_app.simulator.bootloader import known_chips

    return [chip for chip in known_chips() if chip in CHIPS]


NOT_DETECTED = "not detected yet: press Detect board"
MIN_WRAP_PX = 80  # a wrapping label never gets narrower than this
MIN_LOG_LINES = 3  # the log's height when the steps need the room; it takes what they leave
MAX_LOG_LINES = 2000  # a long session of flashes must not grow the log without end
RELEASE_WAIT_S = 2.0  # how long a job waits for the Console's link to let go of the port
# The board-type picker's first entry: no board chosen, so the words come from the chip.
NO_BOARD = "not chosen (general steps)"
# The bar's colour says the state at a glance: the theme's grey bar on a grey trough does not
# (a full grey bar at 100 % looked empty in the screenshots).
BAR_COLOURS = {"Flash": "#3b78c9", "FlashDone": "#2e8b3c", "FlashFailed": "#c0392b"}
BAR_THICKNESS = 16  # pixels at the usual font size; the bar grows with the fonts
INCOMPLETE = "Flash incomplete — flash again"
# The engine's advice for a link that breaks down is "flash again with a lower rate": offer it.
BAUD_RATES = ("460800", "230400", "115200")
# The words before the firmware list: with a practice chip it also holds the practice firmware.
CACHE_WORDS = "or from the cache:"
PICK_WORDS = "or pick one:"
NOTHING_CACHED = "(nothing cached for this chip)"
LIST_MIN_CHARS = 20  # the firmware list asks for this much and takes the row's whole width
# After a flash that worked, the next step of the beginner's loop: put a program on the board.
NEXT_PANEL = "Deploy"
NEXT_BUTTON = "Open Deploy"
NEXT_REAL = "Next: put a program on the board."
NEXT_PRACTICE = "Next: put a program on a virtual board."
NEXT_NO_PANEL = "Next: put a program on the board with the Deploy panel."
PRACTICE_ON_REAL_BOARD = (
    "{name} is the practice firmware, made on this computer for the practice chip: a real "
    "board would not start with it. Choose the MicroPython .bin for your board "
    "(micropython.org/download) or one from the cache, or tick Practice on a virtual board."
)


def format_eta(seconds: float | None) -> str:
    """ "about 12 s left": rounded, because a beginner wants a feeling, not a stopwatch."""
    if seconds is None:
        return ""
    if seconds < 1:
        return "less than a second left"
    if seconds < 60:
        return f"about {round(seconds)} s left"
    minutes, rest = divmod(round(seconds), 60)
    return f"about {minutes} min {rest:02d} s left"


def progress_text(stage: str, percent: float | None, eta_s: float | None) -> str:
    """The one line under the progress bar: stage, percent and time left when known."""
    parts = [stage]
    if percent is not None:
        parts.append(f"{percent:.0f} %")
    eta = format_eta(eta_s) if percent is not None and percent < 100 else ""
    if eta:
        parts.append(eta)
    return " — ".join(parts)


@dataclass
class _CacheEntry:
    board_id: str
    version: str
    label: str


class FlashPanel(ttk.Frame):
    """Board → firmware → Flash, with progress, a log, Cancel and a practice chip.

    `ctx` is the companion's `PanelContext` (None when the panel runs on its own). `cache` is a
    `FirmwareCache` (a test passes one on a temp folder, the Thonny plugin the folder from its
    options); `list_ports` lists serial ports for the port picker. `compact` stacks the widest
    rows (board facts, the cache picker, speed and buttons) so the panel fits a narrow Thonny
    view, about 460 pixels, instead of the companion's 800.
    """

    def __init__(
        self,
        parent: tk.Misc,
        ctx: Any | None = None,
        *,
        cache: Any | None = None,
        list_ports: Callable[[], Any] | None = None,
        compact: bool = False,
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._compact = compact
        self._cache = cache
        self._list_ports = list_ports
        self._runner = JobRunner(self)
        self._cancel = threading.Event()
        self._closed = False
        self.board: Any = None  # BoardInfo of the last detection
        self._board_port: str | None = None  # the port that detection was on
        self.image: Any = None  # ImageInfo of the chosen file
        self._image_error: str | None = None
        self._fit_error: str | None = None
        self._cache_entries: list[_CacheEntry] = []
        self._choice_seq = 0  # counts files chosen, so a late pick from the list cannot undo one
        self._boards: list[Any] = []  # the board types the picker offers (loaded in _build)
        self._practice: Any = None  # the running VirtualBootloader
        self._practice_chip: str | None = None
        self._real_port = ""  # the port field's text before practice mode took it over
        self._handed_over: str | None = None  # the Console's port, to reopen after flashing
        self._last_decile = -1  # the flash job's: which 10 % of a stage was logged last
        self.task = "idle"  # idle | detecting | flashing
        self.outcome = ""  # "done" | "incomplete" | "failed" | "refused" after a flash

        self._build()
        self._set_default_board_type()
        self._set_default_port()
        self._update_buttons()
        self._refresh_ports()

    # --- layout -----------------------------------------------------------------------------
    def _build(self) -> None:
        # Everything scrolls, with the wheel too, when the panel is taller than its place (a
        # 1024×768 projector at zoom 1.5, Thonny's side column); rows of buttons wrap instead of
        # running past the edge, and long sentences wrap to the width (issue 15, item 1).
        self.scroller = look.ScrolledFrame(self)
        self.scroller.pack(side="top", fill="both", expand=True)
        body = self.scroller.inner

        board = ttk.LabelFrame(body, text="1. Board", padding=(8, 2))
        board.pack(side="top", fill="x", padx=6, pady=(4, 1))
        row = look.WrapRow(board)
        row.pack(side="top", fill="x")
        pair = ttk.Frame(row)
        ttk.Label(pair, text="Port:").pack(side="left")
        self.port_var = tk.StringVar()
        self.port_combo = ttk.Combobox(
            pair,
            textvariable=self.port_var,
            width=20 if self._compact else 28,
            postcommand=self._refresh_ports,
        )
        self.port_combo.pack(side="left", padx=(4, 2))
        row.add(pair)
        self.port_combo.bind("<<ComboboxSelected>>", lambda e: self._port_changed())
        self.port_combo.bind("<FocusOut>", lambda e: self._port_changed())
        self.detect_button = ttk.Button(row, text="Detect board", command=self.detect)
        row.add(self.detect_button)
        row = look.WrapRow(board)
        row.pack(side="top", fill="x", pady=(2, 0))
        self.practice_var = tk.BooleanVar(value=False)
        self.practice_check = ttk.Checkbutton(
            row,
            text="Practice on a virtual board",
            variable=self.practice_var,
            command=self._practice_changed,
        )
        row.add(self.practice_check)
        self.chip_var = tk.StringVar(value=DEFAULT_PRACTICE_CHIP)
        self.chip_combo = ttk.Combobox(
            row, textvariable=self.chip_var, values=practice_chips(), width=9, state="readonly"
        )
        row.add(self.chip_combo)
        self.chip_combo.bind("<<ComboboxSelected>>", lambda e: self._practice_changed())
        # The board type decides the words for "put it in download mode": an ESP32-CAM has no
        # BOOT button, a NodeMCU calls it FLASH.
        row = look.WrapRow(board)
        row.pack(side="top", fill="x", pady=(2, 0))
        from companion_app.boards import list_boards
        from companion_app.gui.boardpick import board_label

        self._boards = list_boards()
        self.board_type_var = tk.StringVar(value=NO_BOARD)
        row.add(ttk.Label(row, text="Board type:"))
        self.board_type_combo = ttk.Combobox(
            row,
            textvariable=self.board_type_var,
            state="readonly",
            width=24 if self._compact else 40,
            values=[NO_BOARD] + [board_label(b) for b in self._boards],
        )
        row.add(self.board_type_combo)
        self.board_type_combo.bind("<<ComboboxSelected>>", lambda e: self._board_type_changed())
        self.boot_hint_var = tk.StringVar(value="")
        self.boot_hint_label = look.WrapLabel(board, textvariable=self.boot_hint_var, anchor="w")

        self.facts_row = facts = look.WrapRow(board, gap=12)
        facts.pack(side="top", fill="x", pady=(2, 0))
        # Just under the board type, whose steps it shows.
        _show_only_with_text(
            self.boot_hint_label, self.boot_hint_var, side="top", fill="x", before=facts
        )
        self.chip_info = tk.StringVar(value=NOT_DETECTED)
        self.mac_info = tk.StringVar(value="")
        self.size_info = tk.StringVar(value="")
        for label, var in (
            ("Chip:", self.chip_info),
            ("MAC:", self.mac_info),
            ("Flash:", self.size_info),
        ):
            fact = ttk.Frame(facts)
            name = ttk.Label(fact, text=label)
            name.pack(side="left", padx=(0, 4), anchor="n")
            value = ttk.Label(fact, textvariable=var, justify="left")
            value.pack(side="left")
            facts.add(fact)
            # A value as long as the row ("not detected yet: …" in a narrow view with large
            # fonts) wraps within the row instead of running past its edge.
            facts.bind(
                "<Configure>",
                lambda e, n=name, v=value: v.configure(
                    wraplength=max(MIN_WRAP_PX, e.width - n.winfo_reqwidth() - 8)
                ),
                add="+",
            )
        self._reflow_on_resize(facts)  # the facts change with each detection

        fw = ttk.LabelFrame(body, text="2. Firmware", padding=(8, 2))
        fw.pack(side="top", fill="x", padx=6, pady=1)
        row = look.WrapRow(fw)
        row.pack(side="top", fill="x")
        pair = ttk.Frame(row)
        ttk.Label(pair, text="File:").pack(side="left")
        self.path_var = tk.StringVar()
        self.path_entry = ttk.Entry(
            pair, textvariable=self.path_var, state="readonly", width=16 if self._compact else 24
        )
        self.path_entry.pack(side="left", padx=(4, 2))
        row.add(pair)
        self.browse_button = ttk.Button(row, text="Choose file…", command=self._on_browse)
        row.add(self.browse_button)
        # The list gets a row of its own and all of its width: its entries are long.
        row = ttk.Frame(fw)
        row.pack(side="top", fill="x", pady=(2, 0))
        self.list_label = ttk.Label(row, text=CACHE_WORDS)
        self.list_label.pack(side="left", padx=(0, 4))
        self.cache_var = tk.StringVar()
        self.cache_combo = ttk.Combobox(
            row,
            textvariable=self.cache_var,
            width=LIST_MIN_CHARS,
            state="readonly",
            postcommand=self.refresh_cache,
        )
        self.cache_combo.pack(side="left", fill="x", expand=True)
        self.cache_combo.bind("<<ComboboxSelected>>", lambda e: self._on_cache_selected())
        self.image_var = tk.StringVar(value="Choose a .bin file for an ESP board.")
        self.image_label = look.WrapLabel(fw, textvariable=self.image_var, anchor="w")
        self.image_label.pack(side="top", fill="x", pady=(2, 0))
        self.refusal_var = tk.StringVar(value="")
        # Refusals are long sentences: wrapped to the panel's width rather than cut off.
        self.refusal_label = look.WrapLabel(fw, textvariable=self.refusal_var, anchor="w")
        _show_only_with_text(self.refusal_label, self.refusal_var, side="top", fill="x")

        go = ttk.LabelFrame(body, text="3. Flash", padding=(8, 2))
        go.pack(side="top", fill="both", expand=True, padx=6, pady=(1, 4))
        row = look.WrapRow(go)
        row.pack(side="top", fill="x")
        self.erase_var = tk.BooleanVar(value=False)
        self.erase_check = ttk.Checkbutton(
            row, text="Erase the whole flash first", variable=self.erase_var
        )
        row.add(self.erase_check)
        pair = ttk.Frame(row)
        ttk.Label(pair, text="Speed:").pack(side="left", padx=(0, 4))
        self.baud_var = tk.StringVar(value=BAUD_RATES[0])
        self.baud_combo = ttk.Combobox(
            pair, textvariable=self.baud_var, values=BAUD_RATES, width=8, state="readonly"
        )
        self.baud_combo.pack(side="left")
        ttk.Label(pair, text="baud").pack(side="left", padx=(4, 0))
        row.add(pair)
        self.flash_button = ttk.Button(row, text="Flash", command=self.flash)
        row.add(self.flash_button)
        self.cancel_button = ttk.Button(row, text="Cancel", command=self.cancel)
        row.add(self.cancel_button)

        bar_row = ttk.Frame(go)
        bar_row.pack(side="top", fill="x", pady=(4, 0))
        self.progress = ttk.Progressbar(
            bar_row,
            orient="horizontal",
            maximum=100.0,
            value=0.0,
            style="Flash.Horizontal.TProgressbar",
        )
        self.progress.pack(side="top", fill="x")
        self.stage_var = tk.StringVar(value="")
        look.WrapLabel(bar_row, textvariable=self.stage_var, anchor="w").pack(side="top", fill="x")
        self.outcome_var = tk.StringVar(value="")
        self._outcome_kind: str | None = None  # "error" | "ok": its colour follows the theme
        self.outcome_label = look.WrapLabel(go, textvariable=self.outcome_var, anchor="w")

        # After a flash that worked: what to do next, and a button that goes there.
        self.next_row = look.WrapRow(go)
        self.next_var = tk.StringVar(value="")
        self.next_label = ttk.Label(self.next_row, textvariable=self.next_var)
        self.next_row.add(self.next_label)
        self.next_button = ttk.Button(self.next_row, text=NEXT_BUTTON, command=self.go_next)
        self.next_row.add(self.next_button)
        self._reflow_on_resize(self.next_row)

        self.log_frame = ttk.Frame(go)
        self.log_frame.pack(side="bottom", fill="both", expand=True, pady=(4, 0))
        self.log_text = tk.Text(
            self.log_frame, height=MIN_LOG_LINES, wrap="word", state="disabled", borderwidth=1
        )
        log_bar = ttk.Scrollbar(self.log_frame, orient="vertical", command=self.log_text.yview)
        self.log_text.configure(yscrollcommand=log_bar.set)
        log_bar.pack(side="right", fill="y")
        self.log_text.pack(side="left", fill="both", expand=True)
        # Packed ahead of the log, so a long error (the board's own steps) is never cut off:
        # the log gives up lines first.
        _show_only_with_text(
            self.outcome_label, self.outcome_var, side="top", fill="x", before=self.log_frame
        )
        self._restyle()
        look.on_look_change(self, self._restyle)
        self._log_fit_pending = False
        for widget in (self.scroller.canvas, self.scroller.inner):
            widget.bind("<Configure>", lambda e: self._schedule_log_fit(), add="+")

    def _schedule_log_fit(self) -> None:
        if not self._log_fit_pending:
            self._log_fit_pending = True
            self.after_idle(self._fit_log)

    def _fit_log(self) -> None:
        """Give the log the height the steps leave free. The scrolled area keeps its content at
        the height it asks for, so the log asks for as many lines as fill the panel, and for
        `MIN_LOG_LINES` once the steps need the room (then the panel scrolls)."""
        self._log_fit_pending = False
        height = self.scroller.canvas.winfo_height()
        if height <= 1:
            return
        font = self.log_text.cget("font")
        line = max(1, int(self.tk.call("font", "metrics", font, "-linespace")))
        lines = int(self.log_text.cget("height"))
        log_height = self.log_text.winfo_reqheight()
        steps = self.scroller.inner.winfo_reqheight() - log_height
        chrome = log_height - lines * line  # border and padding around the lines
        want = max(MIN_LOG_LINES, (height - steps - chrome) // line)
        if want != lines:
            self.log_text.configure(height=want)
            self.log_text.see("end")  # the newest lines stay in view

    @staticmethod
    def _reflow_on_resize(row: look.WrapRow) -> None:
        """Lay `row` out again whenever one of its children changes size (new words, fonts):
        a child's new requested width is known only once Tk has measured it."""
        for child in row.winfo_children():
            child.bind("<Configure>", lambda e: row.reflow(), add="+")

    def _restyle(self) -> None:
        """The theme's colours (Thonny's dark theme too): bar troughs, the log, the words."""
        pal = look.palette(self)
        style = ttk.Style(self)
        for name, colour in BAR_COLOURS.items():
            style.configure(
                f"{name}.Horizontal.TProgressbar",
                background=colour,
                lightcolor=colour,
                darkcolor=colour,
                troughcolor=pal.field,
                bordercolor=pal.background,
                thickness=max(BAR_THICKNESS, look.ui_font_px(self) - 2),
            )
        look.style_field(self.log_text, pal)
        self.log_text.configure(highlightbackground=pal.background)
        self.boot_hint_label.configure(foreground=pal.muted)
        self.refusal_label.configure(foreground=pal.error)
        self._colour_outcome()

    # --- board type -------------------------------------------------------------------------
    def _set_default_board_type(self) -> None:
        """The host's board (Thonny's IoT Kit option, the companion's virtual board), if any."""
        hook = getattr(self.ctx, "board_id", None) if self.ctx is not None else None
        board_id = None
        if callable(hook):
            try:
                board_id = hook()
            except Exception:  # noqa: BLE001 - a host's hook must not break the panel
                log.debug("board_id() failed", exc_info=True)
        if board_id:
            self.set_board_type(board_id)

    def set_board_type(self, board_id: str | None) -> None:
        """Pick the board type by id (None: not chosen); an unknown id is not chosen."""
        from companion_app.gui.boardpick import board_label

        board = next((b for b in self._boards if b.id == board_id), None)
        self.board_type_var.set(board_label(board) if board is not None else NO_BOARD)
        self._board_type_changed()

    def board_type(self) -> str | None:
        """The picked board id, or None when the person has not chosen one."""
        from companion_app.gui.boardpick import board_id_of

        label = self.board_type_var.get()
        return None if label == NO_BOARD or not label else board_id_of(label)

    def _board_type_changed(self) -> None:
        self._show_boot_hint()
        self._check_fit()
        self.refresh_cache()

    def _board_for_flasher(self) -> str | None:
        """The picked board, unless the detected chip says it is another board."""
        board_id = self.board_type()
        if board_id is None or self.board is None:
            return board_id
        picked = next((b for b in self._boards if b.id == board_id), None)
        return board_id if picked is not None and picked.chip == self.board.chip else None

    def boot_hint(self) -> str:
        """The steps the panel shows for the picked board ("" when none is chosen)."""
        return self.boot_hint_var.get()

    def _show_boot_hint(self) -> None:
        """The picked board's own "how to flash it"; a practice chip needs no buttons."""
        board_id = self.board_type()
        if board_id is None or self.practice_var.get():
            self.boot_hint_var.set("")
            return
        self.boot_hint_var.set(f"How to flash it: {flash_mode(board_id).enter}")

    # --- ports ------------------------------------------------------------------------------
    def _set_default_port(self) -> None:
        """The window's board port; with only the virtual MicroPython board, practise instead.

        The companion's virtual board runs MicroPython and has no bootloader to flash, so a
        class with no hardware starts with the practice chip ticked.
        """
        if self.ctx is None:
            return
        conn = self.ctx.connection
        port = conn.port or conn.last_port
        if port and port == self._app_virtual_port():
            self.practice_var.set(True)
            self._practice_changed()
            return
        if port:
            self.port_var.set(port)

    def _app_virtual_port(self) -> str | None:
        """The host's virtual MicroPython board (no bootloader to flash), if it has one.

        The companion has it as ``ctx.app.virtual_board``; another host (Thonny) may offer a
        ``ctx.virtual_board_port()`` hook instead.
        """
        if self.ctx is None:
            return None
        hook = getattr(self.ctx, "virtual_board_port", None)
        if callable(hook):
            try:
                port = hook()
            except Exception:  # noqa: BLE001 - a host's hook must not break the panel
                log.debug("virtual_board_port() failed", exc_info=True)
                port = None
            if port:
                return port
        app = getattr(self.ctx, "app", None)
        return getattr(getattr(app, "virtual_board", None), "port", None)

    def _refresh_ports(self) -> None:
        """List serial ports off the Tk thread (USB enumeration can take a while)."""
        if self._closed or self._runner.running("ports"):
            return

        def work() -> tuple[list[str], list[str]]:
            """(every serial port, the ones that look like boards) for the default choice."""

            if self._list_ports is not None:
                ports = list(self._list_ports())
            else:
                from companion_app.device.ports import list_ports

                ports = list_ports()
            usable = [p for p in ports if getattr(p, "kind", "serial") not in ("drive", "missing")]
            boards = [p for p in usable if not isinstance(p, str) and looks_like_board(p)]
            return [getattr(p, "device", p) for p in usable], [p.device for p in boards]

        self._start("ports", work, self._ports_done)

    def port(self) -> str:
        """The port the buttons act on: the practice chip's, or the one typed or picked."""
        if self.practice_var.get():
            return self._practice.port if self._practice is not None else ""
        return self.port_var.get().strip()

    def _port_changed(self) -> None:
        if not self.practice_var.get() and self._board_port not in (None, self.port()):
            self._set_board(None, None)
        self._update_buttons()

    # --- practice chip ----------------------------------------------------------------------
    def _practice_changed(self) -> None:
        """Tick/untick or another chip: the old practice chip goes, its board facts too."""
        chip = self.chip_var.get() if self.practice_var.get() else None
        if chip != self._practice_chip:
            self._stop_practice()
            self._set_board(None, None)
        if chip is not None and self._practice_chip is None:
            self._real_port = self.port_var.get()  # given back when practice is unticked
        elif chip is None and self._practice_chip is not None:
            self.port_var.set(self._real_port)
        self._practice_chip = chip
        if chip is not None:
            self.port_var.set(f"virtual {chip_label(chip)}")
        if chip is not None:
            self.log(
                f"Practice mode: a virtual {chip_label(chip)} in download mode takes the place "
                "of a board. Nothing is written to real hardware."
            )
        self._show_boot_hint()
        self._check_fit()
        self._update_buttons()
        self.refresh_cache()

    def _practice_flash_file(self, chip: str) -> Path:
        from companion_app.simulator.bootloader import default_flash_image

        return default_flash_image(chip)

    def _run_on_target(
        self,
        name: str,
        practice_chip: str | None,
        port: str,
        work: Callable[[str], Any],
        on_done: OnDone,
    ) -> None:
        """Run ``work(port)`` as job `name`, then ``on_done``; in practice mode on the practice
        chip's port, after starting the chip in a job of its own if it is not running yet.

        The chip starts in its own job so that one which is still starting when the panel
        closes is stopped (`_stop_chip` as ``on_cancelled``) instead of outliving the window.
        """
        if not practice_chip:
            self._start(name, lambda: work(port), on_done)
            return
        if self._practice is not None:
            where = self._practice.port
            self._start(name, lambda: work(where), on_done)
            return

        def started(bl: Any, exc: BaseException | None) -> None:  # Tk thread
            if exc is not None:
                on_done(None, exc)
                return
            self._practice_started(practice_chip, bl)
            if self._practice is bl:
                self._start(name, lambda: work(bl.port), on_done)
            else:  # switched off meanwhile: the job ends as if cancelled
                self._cancel.set()
                on_done(None, FlashCancelled())

        self._start(
            "practice",
            lambda: self._start_practice_chip(practice_chip),
            started,
            on_cancelled=_stop_chip,
        )

    def _start_practice_chip(self, chip: str) -> Any:
        """Job thread: start a virtual `chip` in download mode and return it."""
        from companion_app.simulator.bootloader import VirtualBootloader

        path = self._practice_flash_file(chip)
        path.parent.mkdir(parents=True, exist_ok=True)
        return VirtualBootloader(chip, flash_image=path).start()

    def _practice_started(self, chip: str, bl: Any) -> None:
        if self._practice_chip != chip or self._practice is not None:
            _stop_chip(bl)  # unticked or switched meanwhile
            return
        self._practice = bl
        self.port_var.set(bl.port)
        self.log(f"Virtual {chip_label(chip)} ready in download mode on {bl.port}")

    def _stop_practice(self) -> None:
        bl, self._practice = self._practice, None
        if bl is not None:
            _stop_chip(bl)

    @property
    def practice_bootloader(self) -> Any:
        """The running virtual chip of practice mode (tests read its flash), or None."""
        return self._practice

    # --- detect -----------------------------------------------------------------------------
    def detect(self) -> None:
        """Ask the board who it is; runs esptool in a worker, never in the Tk thread."""
        if self.task != "idle":
            return
        target = self._target()
        if target is None:
            return
        practice_chip, port = target
        self.task = "detecting"
        self._cancel = threading.Event()
        self._show_facts("detecting…", "", "")
        wait_released = self._hand_over(port, "detecting the board")
        self._update_buttons()
        cancel = self._cancel

        board_id = None if practice_chip else self.board_type()

        def work(where: str) -> tuple[str, Any]:
            if wait_released is not None:
                wait_released(RELEASE_WAIT_S)
            flasher = Flasher(
                where, on_progress=self._progress_from_worker, cancel=cancel, board=board_id
            )
            return where, flasher.detect()

        self._run_on_target("detect", practice_chip, port, work, self._detect_done)

    def _target(self) -> tuple[str | None, str] | None:
        """(practice chip, port) for the next job, or None after saying what is missing."""
        if self.practice_var.get():
            return self.chip_var.get(), ""
        port = self.port()
        if not port:
            self._say("Type or pick the board's port first (or tick Practice on a virtual board).")
            return None
        if port == self._app_virtual_port():
            self._say(
                f"{port} is the virtual MicroPython board, which has no bootloader to flash. "
                "Tick Practice on a virtual board to rehearse flashing instead."
            )
            return None
        return None, port

    def _hand_over(self, port: str, doing: str = "flashing") -> Callable[[float], bool] | None:
        """Close the Console's connection if it holds `port`; returns ``wait_released(timeout)``
        for the job's thread, true once the port is free (None: nothing was handed over).

        The connection's ``release_port()`` disconnects and says how to wait: the window's
        link opens the port exclusively and closes it in its own thread, so esptool must wait
        for that, off the Tk thread. A host whose connection is someone else's port (Thonny's
        backend) words the log lines itself through the connection's optional
        ``handover_text(port, doing)`` and ``giveback_text(port)``.
        """
        if self.ctx is None or not port:
            return None
        conn = self.ctx.connection
        if conn.port != port or conn.state not in ("connected", "connecting"):
            return None
        describe = getattr(conn, "handover_text", None)
        if callable(describe):
            line = describe(port, doing)
        else:
            line = f"Closing the Console's connection to {port} while {doing}"
        wait_released = conn.release_port()
        self._handed_over = port
        # After disconnecting: the window's own "Disconnected, press Connect" would hide it.
        self.log(line)
        self.ctx.set_status(line)
        return wait_released

    def _give_back(self) -> None:
        port, self._handed_over = self._handed_over, None
        if port is None or self.ctx is None or self._closed:
            return
        conn = self.ctx.connection
        describe = getattr(conn, "giveback_text", None)
        self.log(
            describe(port)
            if callable(describe)
            else f"Reopening the Console's connection to {port}"
        )
        conn.connect(port)

    # --- image ------------------------------------------------------------------------------
    def _on_browse(self) -> None:
        path = filedialog.askopenfilename(
            parent=self,
            title="Choose the MicroPython firmware",
            filetypes=[("Firmware", "*.bin *.uf2"), ("All files", "*")],
        )
        if path:
            self.choose_image(path)

    def choose_image(self, path: str | os.PathLike[str]) -> None:
        """Inspect `path` in a worker; the result (or why it is no image) shows below it."""
        path = os.fspath(path)
        self._choice_seq += 1
        self.path_var.set(path)
        self.path_entry.xview_moveto(1.0)  # the file's name matters more than its folder
        self.image = None
        self._image_error = None
        self.image_var.set("Checking the file…")
        self.refusal_var.set("")
        self._update_buttons()

        def work() -> Any:
            return inspect_image(path)

        self._start("inspect", work, lambda result, exc: self._inspect_done(path, result, exc))

    def set_cache(self, cache: Any | None) -> None:
        """Use another `FirmwareCache` (None: the default one), e.g. after the Thonny plugin's
        cache folder option changed, and list its firmware again."""
        self._cache = cache
        self.refresh_cache()

    def refresh_cache(self) -> None:
        """List cached MicroPython versions for boards with the chip at hand (worker thread)."""
        if self._closed or self._runner.running("cache"):
            return
        chip = self._known_chip()

        def work() -> tuple[str | None, list[_CacheEntry]]:
            from companion_app.boards import list_boards
            from companion_app.firmware.cache import FirmwareCache

            cache = self._cache if self._cache is not None else FirmwareCache()
            esp = targets()["esp"]
            entries: list[_CacheEntry] = []
            seen: set[str] = set()
            for b in list_boards():
                if b.chip not in esp or (chip is not None and b.chip != chip):
                    continue
                for item in cache.versions(b.id):
                    if str(item.path) in seen:
                        continue  # one file cached for several boards of the same chip
                    seen.add(str(item.path))
                    date = f", {item.date}" if item.date else ""
                    label = f"{item.version} for {b.id}{date}"
                    entries.append(_CacheEntry(b.id, item.version, label))
            return chip, entries

        self._start("cache", work, self._cache_done)

    def _on_cache_selected(self) -> None:
        label = self.cache_var.get()
        if label == PRACTICE_LABEL and self.practice_var.get():
            self._pick_practice_firmware(self.chip_var.get())
            return
        entry = next((e for e in self._cache_entries if e.label == label), None)
        if entry is None:
            return
        self.image_var.set("Checking the cached file…")
        seq = self._choice_seq

        def work() -> str:
            from companion_app.firmware.cache import FirmwareCache

            cache = self._cache if self._cache is not None else FirmwareCache()
            # verify() reads the whole file: never in the Tk thread (the cache may be a share).
            return str(cache.find(entry.board_id, entry.version, download=False).path)

        self._start("cache_pick", work, lambda path, exc: self._cache_pick_done(path, exc, seq))

    def _pick_practice_firmware(self, chip: str) -> None:
        """Make the practice firmware for the practice chip (a job: it writes a file) and choose
        it, so a class with no internet and an empty cache can still flash."""
        self.cache_var.set(PRACTICE_LABEL)
        self.image_var.set("Making the practice firmware…")
        seq = self._choice_seq

        def work() -> str:
            return str(practice_firmware_file(chip))

        self._start(
            "practice_firmware", work, lambda path, exc: self._cache_pick_done(path, exc, seq)
        )

    def _offer_practice_firmware(self, cached: bool) -> None:
        """With a practice chip, pick the practice firmware unasked when nothing is chosen and
        the cache has nothing for the chip, or when the one chosen is for another chip."""
        if not self.practice_var.get() or self.task != "idle":
            return
        chip = self.chip_var.get()
        image = self.image
        other_chip = image is not None and is_practice_image(image) and image.chip != chip
        if other_chip or (not self.path_var.get().strip() and not cached):
            self._pick_practice_firmware(chip)

    def _known_chip(self) -> str | None:
        """The chip a file must fit: detected, else the practice chip's, else the board type's."""
        if self.board is not None:
            return self.board.chip
        if self.practice_var.get():
            return self.chip_var.get()
        picked = self.board_type()
        board = next((b for b in self._boards if b.id == picked), None)
        return board.chip if board is not None else None

    def _check_fit(self) -> None:
        """Refuse, in red, a file that does not fit the board: before Flash can be pressed."""
        self._fit_error = None
        if self.image is None:
            self.refusal_var.set(self._image_error or "")
            self._update_buttons()
            return
        chip = self._known_chip()
        size = self.board.flash_size if self.board is not None else None
        try:
            if is_practice_image(self.image) and not self.practice_var.get():
                name = os.path.basename(self.image.path)
                raise ImageError(PRACTICE_ON_REAL_BOARD.format(name=name))
            if chip is not None and chip not in targets()["esp"]:
                # Only a board type gets here (a Pico): it is flashed as a drive, not by esptool,
                # and its own steps are shown just under the board type.
                picked = self.board_type()
                name = load_board(picked).name if picked else chip_label(chip)
                raise ImageError(
                    f"This panel flashes ESP boards over serial; the {name} takes a .uf2 file "
                    "copied onto its BOOTSEL drive (see the steps under Board type)."
                )
            if chip is not None:
                check_compatible(self.image, chip, size)
            elif self.image.kind == "uf2":
                raise ImageError(
                    f"{os.path.basename(self.image.path)} is a UF2 file for Pico boards. This "
                    "panel flashes ESP boards over serial: choose the .bin file for your ESP board."
                )
        except ImageError as exc:
            self._fit_error = str(exc)
        self.refusal_var.set(self._fit_error or "")
        self._update_buttons()

    # --- flash ------------------------------------------------------------------------------
    def flash(self) -> None:
        """Write the chosen file; the engine checks it against the chip again before writing."""
        if self.task != "idle" or self.image is None or self._fit_error:
            return
        target = self._target()
        if target is None:
            return
        practice_chip, port = target
        image_path, erase = self.image.path, bool(self.erase_var.get())
        baud = int(self.baud_var.get() or BAUD_RATES[0])
        self.task = "flashing"
        self.outcome = ""
        self._cancel = threading.Event()
        self._last_decile = -1
        self.progress.configure(value=0.0, style="Flash.Horizontal.TProgressbar")
        self.stage_var.set("Connecting")
        self._set_outcome("", None)
        self._show_next(False)
        what = f"a virtual {chip_label(practice_chip)}" if practice_chip else port
        self.log(f"Flashing {os.path.basename(image_path)} to {what}")
        wait_released = self._hand_over(port)
        if wait_released is None and self.ctx is not None:
            self.ctx.set_status(f"Flashing {os.path.basename(image_path)} to {what}…")
        self._update_buttons()
        cancel = self._cancel
        board_id = None if practice_chip else self._board_for_flasher()
        if practice_chip and self._practice is None:
            stage = "Starting the virtual chip"
            self._progress_from_worker(Progress(stage, message=stage))

        def work(where: str) -> Any:
            if wait_released is not None:
                wait_released(RELEASE_WAIT_S)
            flasher = Flasher(
                where,
                baud=baud,
                on_progress=self._progress_from_worker,
                cancel=cancel,
                board=board_id,
            )
            # A virtual chip has no MicroPython to start: no reset, and no "press EN" note.
            return flasher.flash(image_path, erase=erase, reset=not practice_chip)

        self._run_on_target("flash", practice_chip, port, work, self._flash_done)

    def cancel(self) -> None:
        """Stop between two blocks; the board then needs a new flash, and the panel says so."""
        if self.task == "idle" or self._cancel.is_set():
            return
        self._cancel.set()
        self.log("Cancelling…")
        self.stage_var.set("Cancelling…")
        self._update_buttons()

    # --- jobs (these two, and `_start_practice_chip`, run in a job's thread) -------------------
    def _progress_from_worker(self, progress: Progress) -> None:
        """esptool's thread: post the report to the Tk thread, touch nothing else.

        A line worth logging is posted in order; the figure for the bar is posted with
        ``latest``, so that only the newest of a burst is drawn (no redraw storm).
        """
        line = self._progress_line(progress)
        if line:
            self._runner.post(self.log, line)
        self._runner.post(self._show_progress, progress, latest="progress")

    def _progress_line(self, p: Progress) -> str:
        """esptool's lines go to the log; its progress bar only every 10 %, not every block.

        Runs in the one detect or flash job at a time, which alone keeps `_last_decile`.
        """
        if not p.message:
            return ""
        if p.percent is None:
            self._last_decile = -1
            return p.message
        decile = int(p.percent // 10)
        if decile == self._last_decile:
            return ""
        self._last_decile = decile
        return f"{p.message} ({p.percent:.0f} %)"

    def _start(
        self,
        name: str,
        func: Callable[[], Any],
        on_done: OnDone,
        on_cancelled: Callable[[Any], None] | None = None,
    ) -> None:
        """Run `func` as the panel's job `name`; nothing starts once the panel is closed."""
        if not self._closed:
            self._runner.run(func, on_done, name=name, on_cancelled=on_cancelled)

    # --- results, on the Tk thread ----------------------------------------------------------
    def _ports_done(
        self, result: tuple[list[str], list[str]] | None, exc: BaseException | None
    ) -> None:
        if exc is not None or result is None:
            return
        ports, boards = result
        self.port_combo.configure(values=ports)
        # Only a port that looks like a board is picked unasked: never a built-in UART (ttyS0).
        if boards and not self.port_var.get().strip() and not self.practice_var.get():
            self.port_var.set(boards[0])
            self._update_buttons()

    def _cache_done(
        self, result: tuple[str | None, list[_CacheEntry]] | None, exc: BaseException | None
    ) -> None:
        chip, entries = result if result is not None else (None, [])
        if exc is not None:
            self.log(f"The firmware cache could not be read: {_message(exc)}")
        elif chip != self._known_chip():
            self.refresh_cache()  # the chip changed while the cache was read: again
            return
        self._cache_entries = entries
        labels = [e.label for e in entries]
        practice = bool(self.practice_var.get())
        if practice:
            labels.insert(0, PRACTICE_LABEL)
        words = PICK_WORDS if practice else CACHE_WORDS
        self.list_label.configure(text=words)
        self.cache_combo.configure(values=labels or [NOTHING_CACHED])
        self._offer_practice_firmware(cached=bool(entries))

    def _cache_pick_done(self, result: str | None, exc: BaseException | None, seq: int) -> None:
        if seq != self._choice_seq:
            return  # a file was chosen meanwhile: that choice stands
        if exc is not None:
            self.image = None
            self.image_var.set("")
            self._image_error = _message(exc)
            self._check_fit()
            return
        assert result is not None
        self.choose_image(result)

    def _inspect_done(self, path: str, result: Any, exc: BaseException | None) -> None:
        if self.path_var.get() != path:
            return  # another file was chosen meanwhile
        if exc is not None:
            self.image = None
            self.image_var.set("")
            self._image_error = _message(exc)
        else:
            self.image = result
            self._image_error = None
            described = result.describe()
            if is_practice_image(result):
                described = f"Practice firmware: {described}"
            self.image_var.set(described)
        self._check_fit()

    def _detect_done(self, result: Any, exc: BaseException | None) -> None:
        self.task = "idle"
        self._give_back()
        if exc is not None:
            self._set_board(None, None)
            self._show_facts("not detected", "", "")
            self._say("Detection cancelled." if self._cancel.is_set() else _message(exc))
        else:
            port, board = result
            self._set_board(board, port)
            self.log(f"Detected {describe_board(board)}")
            self._say("")
            picked = self.board_type()
            if picked is not None and self._board_for_flasher() is None:
                self.log(
                    f"Note: the board type {picked} has another chip than the "
                    f"{chip_label(board.chip)} found; pick the board type that matches."
                )
        self._check_fit()
        self.refresh_cache()

    def _flash_done(self, result: Any, exc: BaseException | None) -> None:
        self.task = "idle"
        if exc is None:
            self.outcome = "done"
            if result.board is not None:
                self._set_board(result.board, result.port)
            self.progress.configure(value=100.0, style="FlashDone.Horizontal.TProgressbar")
            self.stage_var.set(f"Done in {result.seconds:.1f} s")
            running = getattr(result, "micropython_version", None)
            image = result.image
            if running:
                text = f"Done: the board restarted with MicroPython {running}."
            elif image is not None and is_practice_image(image):
                text = (
                    f"Done: the practice firmware (MicroPython {image.micropython_version}) is "
                    "written and verified."
                )
            elif image is not None and image.micropython_version:
                text = f"Done: MicroPython {image.micropython_version} is written and verified."
            else:
                text = "Done: the firmware is written and verified."
            for note in result.notes:
                self.log(f"Note: {note}")
            self._set_outcome(text, "ok")
            self.log(text)
            if self.ctx is not None:
                self.ctx.set_status(text)
            self._show_next(True)
        elif isinstance(exc, FlashCancelled) or self._cancel.is_set():
            self.outcome = "incomplete"
            self.progress.configure(style="FlashFailed.Horizontal.TProgressbar")
            self.stage_var.set(INCOMPLETE)
            self._set_outcome(
                f"{INCOMPLETE}: the board will not start MicroPython until a flash finishes.",
                "error",
            )
            self.log(INCOMPLETE)
            if self.ctx is not None:
                self.ctx.set_status(f"{INCOMPLETE}.")
        else:
            cause = exc.__cause__
            if isinstance(exc, ImageError) or isinstance(cause, ImageError):
                # The engine refused the file after detecting the chip: nothing was written.
                self.outcome = "refused"
                text = str(exc if isinstance(exc, ImageError) else cause)
                self._fit_error = text
                self.refusal_var.set(text)
            else:
                self.outcome = "failed"
                text = _message(exc)
            self.stage_var.set("Not flashed")
            self._set_outcome(text, "error")
            self.log(text)
            if self.ctx is not None:
                self.ctx.set_status(text)
        self._give_back()
        self._update_buttons()

    # --- showing things ---------------------------------------------------------------------
    def _show_progress(self, p: Any) -> None:
        if self.task != "flashing" or self._cancel.is_set():
            return
        if p.percent is not None:
            self.progress.configure(value=max(0.0, min(100.0, p.percent)))
        self.stage_var.set(progress_text(p.stage, p.percent, p.eta_s))

    def log(self, line: str) -> None:
        """Add one line to the panel's log (Tk thread)."""
        self.log_text.configure(state="normal")
        self.log_text.insert("end", line.rstrip() + "\n")
        lines = int(self.log_text.index("end-1c").split(".")[0])
        if lines > MAX_LOG_LINES:
            self.log_text.delete("1.0", f"{lines - MAX_LOG_LINES}.0")
        self.log_text.configure(state="disabled")
        self.log_text.see("end")

    def log_content(self) -> str:
        return self.log_text.get("1.0", "end-1c")

    def _say(self, text: str) -> None:
        """A one-line message about the last action, also in the window's status bar."""
        self._set_outcome(text, "error" if text else None)
        if text:
            self.log(text)
            if self.ctx is not None:
                self.ctx.set_status(text)

    def _set_outcome(self, text: str, kind: str | None) -> None:
        """The line under the bar; `kind` ("error", "ok" or None) picks the theme's colour."""
        self.outcome_var.set(text)
        self._outcome_kind = kind
        self._colour_outcome()

    def _colour_outcome(self) -> None:
        pal = look.palette(self)
        colour = {"error": pal.error, "ok": pal.ok}.get(self._outcome_kind or "", "")
        self.outcome_label.configure(foreground=colour)

    # --- the next step ----------------------------------------------------------------------
    def _show_next(self, show: bool) -> None:
        """After a flash that worked, say what comes next, with a button that goes there when
        the host can switch panels (`ctx.show_panel`), in words alone when it cannot."""
        if not show:
            if self.next_row.winfo_manager():
                self.next_row.pack_forget()
            return
        practice = bool(self.practice_var.get())
        can = self._can_show_panels()
        self.next_var.set((NEXT_PRACTICE if practice else NEXT_REAL) if can else NEXT_NO_PANEL)
        self.next_row.set_visible(self.next_button, can)
        if not self.next_row.winfo_manager():
            self.next_row.pack(side="top", fill="x", pady=(2, 0), before=self.log_frame)

    def _can_show_panels(self) -> bool:
        return callable(getattr(self.ctx, "show_panel", None))

    def go_next(self) -> None:
        """The next-step button: bring the Deploy panel (Thonny's IoT Deploy view) forward."""
        hook = getattr(self.ctx, "show_panel", None)
        shown = False
        if callable(hook):
            try:
                shown = bool(hook(NEXT_PANEL))
            except Exception:  # noqa: BLE001 - a host's hook must not break the panel
                log.debug("show_panel(%r) failed", NEXT_PANEL, exc_info=True)
        if not shown:
            self.next_var.set(NEXT_NO_PANEL)
            self.next_row.set_visible(self.next_button, False)

    def _set_board(self, board: Any, port: str | None) -> None:
        self.board, self._board_port = board, port
        if board is None:
            self._show_facts(NOT_DETECTED, "", "")
        else:
            chip = f"{chip_label(board.chip)} ({board.description})"
            self._show_facts(chip, board.mac, _size_text(board.flash_size))

    def _show_facts(self, chip: str, mac: str, size: str) -> None:
        self.chip_info.set(chip)
        self.mac_info.set(mac)
        self.size_info.set(size)

    def _update_buttons(self) -> None:
        idle = self.task == "idle"
        practice = bool(self.practice_var.get())
        has_port = practice or bool(self.port_var.get().strip())
        ready = idle and has_port and self.image is not None and not self._fit_error
        self.flash_button.configure(state="normal" if ready else "disabled")
        self.detect_button.configure(state="normal" if idle and has_port else "disabled")
        busy = not idle and not self._cancel.is_set()
        self.cancel_button.configure(state="normal" if busy else "disabled")
        self.port_combo.configure(state="disabled" if practice or not idle else "normal")
        self.practice_check.configure(state="normal" if idle else "disabled")
        self.chip_combo.configure(state="readonly" if idle and practice else "disabled")
        self.board_type_combo.configure(state="readonly" if idle else "disabled")
        self.baud_combo.configure(state="readonly" if idle else "disabled")
        self.erase_check.configure(state="normal" if idle else "disabled")
        # A new file cannot be taken while one is being written (issue 15, item 8).
        self.browse_button.configure(state="normal" if idle else "disabled")
        self.cache_combo.configure(state="readonly" if idle else "disabled")
        self.next_button.configure(state="normal" if idle else "disabled")

    # --- closing ----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop a running flash between blocks and the practice chip; returns at once.

        Nothing is joined here, on the Tk thread: the flash job sees the Cancel event and
        esptool closes the port in that job's thread; a practice chip still starting is
        stopped by its job's ``on_cancelled`` when it is up.
        """
        if self._closed:
            return
        self._closed = True
        self._cancel.set()
        self._runner.close()
        self._stop_practice()


def _show_only_with_text(label: ttk.Label, var: tk.StringVar, **pack: Any) -> None:
    """Pack `label` only while `var` holds text, so an empty message leaves no blank gap."""

    def update(*_: object) -> None:
        if var.get():
            if not label.winfo_manager():
                label.pack(**pack)
        elif label.winfo_manager():
            label.pack_forget()

    var.trace_add("write", update)
    update()


def _stop_chip(bl: Any) -> None:
    """Stop a practice chip; one that stopped already is no error."""
    try:
        bl.stop()
    except Exception:  # noqa: BLE001 - it may have stopped already
        log.debug("stopping the practice chip failed", exc_info=True)


def _message(exc: BaseException) -> str:
    return describe_error(exc, what="flashing")


def _size_text(size: int | None) -> str:
    if not size:
        return "size unknown"
    if size >= 1024 * 1024:
        return f"{size // (1024 * 1024)} MB"
    return f"{size // 1024} KB"


def chip_label(chip: str | None) -> str:
    """ "ESP32-S3" for "esp32s3": the name printed on the module, which people recognise."""
    if not chip:
        return "board"
    return chip_name(chip)
