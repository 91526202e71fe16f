"""The Class panel: a whole lab's boards flashed and deployed at once from one class file.

A teacher with 24 boards should not do anything 24 times. The class file (``class.toml``,
`companion_app.classroom.classfile`) lists the boards, the broker, the programs and settings;
this panel shows it and runs the engine (`companion_app.classroom.runner.run_class`) on every
board at once, one table row per board that changes live as each board moves through its
stages. It is only the front end: which port a board is on, what "already done" means and how
the boards run in parallel are the engine's business, as in ``iotkit class flash|deploy``.

Steps, as a lesson goes:

1. Open… a class file (or New from the boards plugged in… writes one, as ``iotkit class
   init`` does). The path is remembered for the next session. A broken file is one sentence in
   the panel, in the theme's error colour, never a dialog: the teacher edits the file and
   presses Reload.
2. Flash all… asks for a firmware file or a version, and that dialog's button is the
   confirmation (it says how many boards it will overwrite). Deploy all needs no question: it
   only adds the class's programs. "Redo all" runs every board again; otherwise a second run
   does only what is left. Each run reads the file again (the teacher may have edited it); a
   deploy needs the Wi-Fi password, so one that is missing (its environment variable not set)
   is one sentence in the status line, while opening the file and flashing never need it.
3. A failed board's row says "failed"; selecting it shows its error (and the path of its log)
   under the table; Open log shows the log itself. Stop cancels: boards that have not started
   are skipped, the others finish their current step.
4. Open dashboard opens the class's live dashboard in a window of its own, for the projector:
   the process of ``iotkit class dashboard`` (`dashboard_command` says why a process).

The Wi-Fi password is never shown: the summary names the network only, and every text that
reaches a widget is masked (`companion_app.secrets`).

Threads: every Tk call happens in the Tk thread. Loading a class file, writing one, reading a
log and the run itself are jobs of the panel's `JobRunner` (companion_app/gui/jobs.py).
``run_class`` calls ``on_progress`` from its worker threads, so that callback only *posts* the
progress to the Tk thread (the newest per board, keyed), and the table is changed there.

The same class runs in the companion's Class tab and in Thonny's "IoT Class" view; its only
needs from `ctx` are ``set_status`` and, when it has one, the shared ``connection``, which is
closed first when it holds one of the class's ports (the runner opens every port itself) and
opened again afterwards.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import tkinter as tk
import tkinter.font as tkfont
from pathlib import Path
from tkinter import filedialog, ttk
from typing import Any, Callable

from companion_app import secrets
from companion_app.gui import look
from companion_app.gui.dialog import ModalQuestion
from companion_app.gui.jobs import JobRunner, describe_error

log = logging.getLogger(__name__)

#: The table's columns: (id, heading).
COLUMNS = (
    ("board", "Board"),
    ("port", "Port"),
    ("stage", "Stage"),
    ("result", "Result"),
    ("time", "Time"),
)
#: What each column should have room for at least, in digits, besides its heading.
COLUMN_CHARS = {"board": 8, "port": 12, "stage": 10, "result": 7, "time": 7}
CELL_PAD = 16  # pixels around a cell's text
TABLE_ROWS = 8  # the table's height before it is fitted to the panel
MIN_TABLE_ROWS = 3  # below this the panel scrolls instead of the table shrinking
RESULT_WAITING = "…"  # a row's result while its board has not finished
NO_PORT = "—"
#: Text colours of a row by its result (the theme's own colours: look.palette).
RESULT_COLOURS = {"ok": "ok", "failed": "error", "skipped": "muted"}
#: Where the panel remembers the last class file, in the user's config folder.
PREFS_KIND = "class"
PREFS_FILE = "panel.json"
CLASS_FILE_TYPES = [("Class file", "*.toml"), ("All files", "*")]
FIRMWARE_TYPES = [("Firmware", "*.bin *.uf2"), ("All files", "*")]
DASHBOARD_STARTING = "starting"  # `dashboard` until its process has started
NO_CLASS = "No class file yet: Open… one, or make one with New from the boards plugged in…"


def _engine() -> Any:
    """The class file's module, imported on first use (like every engine behind a panel)."""
    from companion_app.classroom import classfile

    return classfile


def _runner_module() -> Any:
    from companion_app.classroom import runner

    return runner


def write_class_file(path: Path, name: str | None = None) -> Path:
    """Write a class file listing the boards plugged in now, as ``iotkit class init --force``
    does (the engine's one definition of a new class file; an older file is kept as
    ``.bak``). Blocking: run it in a job."""
    classfile = _engine()
    boards = classfile.plugged_in_boards()
    written = classfile.write_class_file(
        path, boards, name=name or classfile.DEFAULT_CLASS_NAME, force=True
    )
    return Path(written.class_file.path)


def dashboard_command(class_path: Path) -> list[str]:
    """``iotkit class dashboard --file CLASS``, run by this Python.

    Why a process of its own, not a window of this one: the dashboard redraws 30 boards live,
    and in its own process that work never slows the companion or Thonny (nor they it); it is
    exactly what the teacher gets from the command line (its zoom keys, its remembered zoom);
    and the window module it runs (gui/class_dashboard.py) imports the companion's window
    module, which imports this panel, so importing it here would be an import cycle."""
    return [sys.executable, "-m", "companion_app", "class", "dashboard", "--file", str(class_path)]


def summary_text(cf: Any) -> str:
    """One line about the class for the panel: name, broker, programs, boards and the Wi-Fi
    network, never its password."""
    boards = len(cf.boards)
    templates = ", ".join(cf.templates) or "none"
    parts = [
        f"Class {cf.name}",
        f"broker {cf.broker}",
        f"programs: {templates}",
        f"{boards} board{'s' * (boards != 1)}",
    ]
    ssid = cf.settings.get("wifi_ssid")
    if ssid:
        parts.append(f"Wi-Fi {ssid}")
    return " · ".join(parts)


def time_text(seconds: float | None) -> str:
    return "" if not seconds else f"{seconds:.1f} s"


def run_summary(action: str, results: list[Any], seconds: float) -> str:
    """ "Deploy: 2 ok, 1 failed, 0 skipped in 12.3 s." and the first failure's board."""
    counts = {r: sum(1 for p in results if p.result == r) for r in ("ok", "failed", "skipped")}
    text = (
        f"{action.capitalize()}: {counts['ok']} ok, {counts['failed']} failed, "
        f"{counts['skipped']} skipped in {seconds:.1f} s."
    )
    failed = [p for p in results if p.result == "failed"]
    if failed:
        first = failed[0]
        text += f" {first.board}: {first.error or 'failed'}"
        if len(failed) > 1:
            text += f" (and {len(failed) - 1} more: select a row to see why)"
    return text


class PanelPrefs:
    """The panel's remembered settings (the last class file), in the user's config folder, as
    the Deploy panel keeps its own; never a password."""

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        if folder is None:
            from companion_app.paths import config_dir

            folder = config_dir(PREFS_KIND)
        self.path = Path(folder) / PREFS_FILE

    def load_class_path(self) -> Path | None:
        try:
            value = json.loads(self.path.read_text(encoding="utf-8")).get("class_file")
        except (OSError, ValueError, AttributeError):
            return None  # no file yet, or one we cannot read: start with none
        return Path(value) if isinstance(value, str) and value else None

    def save_class_path(self, path: Path | None) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            data = {"class_file": str(path) if path is not None else ""}
            self.path.write_text(json.dumps(data) + "\n", encoding="utf-8")
        except OSError:
            log.warning("could not remember the class file in %s", self.path, exc_info=True)


class FlashDialog(ModalQuestion):
    """Flash all's question: a firmware file or a MicroPython version, and the confirmation
    (its button names how many boards it overwrites). Like the Deploy panel's pin question, it
    does not block: the answer comes through `on_answer` once, as ``(firmware, version)`` or
    None for Cancel, so a test presses its buttons like a person."""

    def __init__(
        self,
        parent: tk.Misc,
        class_name: str,
        boards: int,
        on_answer: Callable[[tuple[str | None, str | None] | None], None],
    ) -> None:
        super().__init__(parent, f"Flash every board of {class_name}", on_answer)
        top, frame = self.window, self.frame
        width = tkfont.nametofont("TkDefaultFont").measure("0") * 48
        words = (
            f"This writes MicroPython to all {boards} board{'s' * (boards != 1)} of class "
            f"{class_name}, at once: whatever is on them now is replaced. Choose the firmware:"
        )
        ttk.Label(frame, text=words, justify="left", wraplength=width).pack(side="top", fill="x")
        self.kind = tk.StringVar(value="file")
        row = ttk.Frame(frame)
        row.pack(side="top", fill="x", pady=(8, 0))
        ttk.Radiobutton(row, text="A firmware file:", variable=self.kind, value="file").pack(
            side="left"
        )
        self.file_var = tk.StringVar()
        self.file_entry = ttk.Entry(row, textvariable=self.file_var, width=28)
        self.file_entry.pack(side="left", padx=(4, 4), fill="x", expand=True)
        ttk.Button(row, text="Choose…", command=self._choose).pack(side="left")
        row = ttk.Frame(frame)
        row.pack(side="top", fill="x", pady=(4, 0))
        ttk.Radiobutton(
            row, text="A MicroPython version:", variable=self.kind, value="version"
        ).pack(side="left")
        self.version_var = tk.StringVar()
        self.version_entry = ttk.Entry(row, textvariable=self.version_var, width=12)
        self.version_entry.pack(side="left", padx=(4, 0))
        self.version_entry.bind("<FocusIn>", lambda e: self.kind.set("version"), add="+")
        self.file_entry.bind("<FocusIn>", lambda e: self.kind.set("file"), add="+")
        self.problem_var = tk.StringVar(value="")
        self.problem = ttk.Label(
            frame, textvariable=self.problem_var, foreground=look.palette(top).error
        )
        self.problem.pack(side="top", fill="x", pady=(6, 0))
        row = ttk.Frame(frame)
        row.pack(side="top", fill="x", pady=(8, 0))
        self.flash_button = ttk.Button(
            row, text=f"Flash {boards} board{'s' * (boards != 1)}", command=self.confirm
        )
        self.flash_button.pack(side="left", padx=(0, 6))
        self.cancel_button = ttk.Button(row, text="Cancel", command=lambda: self.finish(None))
        self.cancel_button.pack(side="left")
        self.show(self.cancel_button, None)  # overwriting 24 boards is never the default

    def _choose(self) -> None:
        path = filedialog.askopenfilename(
            parent=self.window, title="Choose the MicroPython firmware", filetypes=FIRMWARE_TYPES
        )
        if path:
            self.kind.set("file")
            self.file_var.set(path)

    def confirm(self) -> None:
        """Flash with what is filled in, or say what is missing (the dialog stays)."""
        if self.kind.get() == "file":
            path = self.file_var.get().strip()
            if not path:
                self.problem_var.set("Choose a firmware file first.")
                return
            self.finish((path, None))
        else:
            version = self.version_var.get().strip()
            if not version:
                self.problem_var.set("Type a MicroPython version, e.g. 1.24.1.")
                return
            self.finish((None, version))


class LogWindow:
    """One board's log in a window of its own (masked: a log may quote the board's config)."""

    def __init__(self, parent: tk.Misc, title: str, text: str) -> None:
        top = self.window = tk.Toplevel(parent)
        top.title(title)
        frame = ttk.Frame(top, padding=6)
        frame.pack(fill="both", expand=True)
        self.text = tk.Text(frame, wrap="word", width=90, height=24, borderwidth=1)
        bar = ttk.Scrollbar(frame, orient="vertical", command=self.text.yview)
        self.text.configure(yscrollcommand=bar.set)
        bar.pack(side="right", fill="y")
        self.text.pack(side="left", fill="both", expand=True)
        look.style_field(self.text)
        self.text.insert("1.0", text)
        self.text.configure(state="disabled")
        self.text.see("end")
        top.bind("<Escape>", lambda e: top.destroy())

    def content(self) -> str:
        return self.text.get("1.0", "end-1c")


class ClassPanel(ttk.Frame):
    """A class file, its boards in a table, and the buttons that act on all of them at once."""

    #: The panel shows its messages in a status line of its own; a host whose status line sits
    #: right under the panel (Thonny's view) need not show them a second time.
    own_status_line = True

    def __init__(
        self,
        parent: tk.Misc,
        ctx: Any | None = None,
        *,
        config_dir: str | os.PathLike[str] | None = None,
        compact: bool = False,
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._compact = compact
        self._prefs = PanelPrefs(config_dir)
        self._runner = JobRunner(self)
        self._cancel = threading.Event()
        self._closed = False
        self.class_file: Any = None  # the loaded ClassFile, or None
        self.path: Path | None = None  # the file shown (also when it failed to load)
        self.error: str | None = None  # why the file did not load
        self.running: str | None = None  # "flash" | "deploy" while a run is going
        self.progress: dict[str, Any] = {}  # board name -> its latest BoardProgress
        self.last_results: list[Any] = []
        self.flash_question: FlashDialog | None = None
        # The dashboard's process (DASHBOARD_STARTING at first); its job sets it, under the lock.
        self.dashboard: Any = None
        self._dashboard_lock = threading.Lock()
        self.log_window: LogWindow | None = None
        self._handed_over: str | None = None  # the window's port, closed for the run
        self._handover_line = ""  # what closing it said, shown with the run's first line
        self._status_error = False  # the status line shows an error (its colour follows the theme)
        self._column_sizes: dict[str, tuple[int, int]] = {}
        self._build()
        self._restyle()
        look.on_look_change(self, self._restyle)
        self._update_buttons()
        remembered = self._prefs.load_class_path()
        if remembered is not None:
            self.open_class_file(remembered, remember=False)

    # --- layout -----------------------------------------------------------------------------
    def _build(self) -> None:
        self.scroller = look.ScrolledFrame(self)
        self.scroller.pack(side="top", fill="both", expand=True)
        body = self.scroller.inner

        top = ttk.LabelFrame(body, text="Class file", padding=(8, 2))
        top.pack(side="top", fill="x", padx=6, pady=(4, 1))
        row = ttk.Frame(top)
        row.pack(side="top", fill="x")
        self.path_var = tk.StringVar(value="")
        self.path_entry = ttk.Entry(row, textvariable=self.path_var, state="readonly")
        self.path_entry.pack(side="left", fill="x", expand=True)
        row = look.WrapRow(top)
        row.pack(side="top", fill="x", pady=(2, 0))
        self.open_button = ttk.Button(row, text="Open…", command=self._on_open)
        row.add(self.open_button)
        self.new_button = ttk.Button(
            row, text="New from the boards plugged in…", command=self._on_new
        )
        row.add(self.new_button)
        self.reload_button = ttk.Button(row, text="Reload", command=self.reload)
        row.add(self.reload_button)
        self.summary_var = tk.StringVar(value=NO_CLASS)
        self.summary_label = look.WrapLabel(top, textvariable=self.summary_var, anchor="w")
        self.summary_label.pack(side="top", fill="x", pady=(2, 0))
        self.error_var = tk.StringVar(value="")
        self.error_label = look.WrapLabel(top, textvariable=self.error_var, anchor="w")
        self.error_var.trace_add("write", lambda *_: self._show_error_line())

        boards = ttk.LabelFrame(body, text="Boards", padding=(8, 2))
        boards.pack(side="top", fill="both", expand=True, padx=6, pady=(1, 4))
        row = look.WrapRow(boards)
        row.pack(side="top", fill="x")
        self.flash_button = ttk.Button(row, text="Flash all…", command=self.ask_flash)
        row.add(self.flash_button)
        self.deploy_button = ttk.Button(row, text="Deploy all", command=self.deploy_all)
        row.add(self.deploy_button)
        self.stop_button = ttk.Button(row, text="Stop", command=self.stop)
        row.add(self.stop_button)
        self.redo_var = tk.BooleanVar(value=False)
        self.redo_check = ttk.Checkbutton(row, text="Redo all", variable=self.redo_var)
        row.add(self.redo_check)
        self.log_button = ttk.Button(row, text="Open log", command=self.open_log)
        row.add(self.log_button)
        self.dashboard_button = ttk.Button(row, text="Open dashboard", command=self.open_dashboard)
        row.add(self.dashboard_button)

        table = ttk.Frame(boards)
        table.pack(side="top", fill="both", expand=True, pady=(4, 0))
        self.tree = ttk.Treeview(
            table,
            columns=tuple(col for col, _ in COLUMNS),
            show="headings",
            height=4 if self._compact else TABLE_ROWS,
            selectmode="browse",
        )
        for col, text in COLUMNS:
            self.tree.heading(col, text=text, anchor="w")
            self.tree.column(col, stretch=False, anchor="w")
        scroll = ttk.Scrollbar(table, orient="vertical", command=self.tree.yview)
        self.tree.configure(yscrollcommand=scroll.set)
        scroll.pack(side="right", fill="y")  # first: a wide table cannot push it out
        self.tree.pack(side="left", fill="both", expand=True)
        self.tree.bind("<Configure>", lambda e: self._share_columns(), add="+")
        self.tree.bind("<<TreeviewSelect>>", lambda e: self._on_select())
        self.tree.bind("<Double-1>", lambda e: self.open_log())

        self.details_var = tk.StringVar(value="")
        self.details_label = look.WrapLabel(boards, textvariable=self.details_var, anchor="w")
        self.details_label.pack(side="top", fill="x", pady=(4, 0))
        self.status_var = tk.StringVar(value="")
        self.status_label = look.WrapLabel(body, textvariable=self.status_var, anchor="w")
        self.status_label.pack(side="top", fill="x", padx=8, pady=(0, 4))
        self._table_fit_pending = False
        for widget in (self.scroller.canvas, self.scroller.inner):
            widget.bind("<Configure>", lambda e: self._schedule_table_fit(), add="+")

    def _schedule_table_fit(self) -> None:
        if not self._table_fit_pending:
            self._table_fit_pending = True
            self.after_idle(self._fit_table)

    def _fit_table(self) -> None:
        """Give the table the height the rest leaves free, so a class of 24 shows whole on a
        projector. The scrolled area keeps its content at the height it asks for, so the table
        asks for as many rows as fill the panel, and for `MIN_TABLE_ROWS` once the rest needs
        the room (then the panel scrolls)."""
        self._table_fit_pending = False
        if self._closed:
            return
        height = self.scroller.canvas.winfo_height()
        if height <= 1:
            return
        try:
            row = int(ttk.Style(self).lookup("Treeview", "rowheight") or 0)
        except (tk.TclError, ValueError):
            row = 0
        row = row or look.ui_font_px(self) + 4
        rows = int(self.tree.cget("height"))
        tree_height = self.tree.winfo_reqheight()
        rest = self.scroller.inner.winfo_reqheight() - tree_height
        chrome = tree_height - rows * row  # the heading and the border
        want = max(MIN_TABLE_ROWS, (height - rest - chrome) // row)
        if want != rows:
            self.tree.configure(height=want)

    def _show_error_line(self) -> None:
        if self.error_var.get():
            if not self.error_label.winfo_manager():
                self.error_label.pack(side="top", fill="x", pady=(2, 0))
        elif self.error_label.winfo_manager():
            self.error_label.pack_forget()

    def _restyle(self) -> None:
        """The theme's colours (Thonny's dark one too), and column widths for the fonts."""
        pal = look.palette(self)
        self.error_label.configure(foreground=pal.error)
        self.status_label.configure(foreground=pal.error if self._status_error else "")
        self.summary_label.configure(foreground="")
        field = ttk.Style(self).lookup("Treeview", "fieldbackground") or pal.field
        for result, role in RESULT_COLOURS.items():
            colour = getattr(pal, role)
            self.tree.tag_configure(result, foreground=look.readable(self, colour, field))
        self._show_details()
        self._fit_columns()

    def _fit_columns(self) -> None:
        """Column widths from the fonts in use (headings never cut, growing with the zoom);
        `_share_columns` then fits them to the table's width."""
        head = look.style_font(self, "Treeview.Heading", "TkHeadingFont")
        body = look.style_font(self, "Treeview", "TkDefaultFont")
        sizes = {}
        for index, (col, text) in enumerate(COLUMNS):
            least = head.measure(text) + CELL_PAD
            cells = [str(self.tree.set(iid, col)) for iid in self.tree.get_children()]
            want = max(
                [least, body.measure("0" * COLUMN_CHARS[col]) + CELL_PAD]
                + [body.measure(c) + CELL_PAD for c in cells]
            )
            sizes[col] = (least, want)
        self._column_sizes = sizes
        self._share_columns()

    def _share_columns(self) -> None:
        """Fit the columns to the table: Port takes what is left, with width Stage lends it in a
        narrow view (Stage's long texts are read in the details anyway), or gives up width down
        to its heading's; when even that is too wide, Port is left out (the details under the
        table name it) rather than a column cut at the table's edge."""
        sizes = self._column_sizes
        room = self.tree.winfo_width() - 4
        if not sizes or room <= 4:
            return
        widths = {c: sizes[c][1] for c in sizes}
        shown = [c for c, _ in COLUMNS]
        others = sum(widths[c] for c in shown if c != "port")
        rest = room - others
        if rest < widths["port"]:  # a narrow view: Stage lends width down to its heading's
            lend = min(widths["port"] - rest, widths["stage"] - sizes["stage"][0])
            if lend > 0:
                widths["stage"] -= lend
                rest += lend
        if rest >= sizes["port"][0]:
            widths["port"] = rest
        else:
            shown.remove("port")
            spare = room - others
            if spare > 0:  # the stage column gets the slack
                widths["stage"] += spare
        for col in shown:
            self.tree.column(col, width=max(1, widths[col]))
        display = tuple(shown)
        if tuple(self.tree.cget("displaycolumns")) != display:
            self.tree.configure(displaycolumns=display)

    # --- the class file ---------------------------------------------------------------------
    def _on_open(self) -> None:
        path = filedialog.askopenfilename(
            parent=self, title="Open a class file", filetypes=CLASS_FILE_TYPES
        )
        if path:
            self.open_class_file(path)

    def _on_new(self) -> None:
        path = filedialog.asksaveasfilename(
            parent=self,
            title="Write a class file for the boards plugged in now",
            initialfile="class.toml",
            defaultextension=".toml",
            filetypes=CLASS_FILE_TYPES,
        )
        if path:
            self.new_class_file(path)

    def new_class_file(self, path: str | os.PathLike[str], name: str | None = None) -> None:
        """Write a class file listing the boards plugged in now (``iotkit class init``), in a
        job, then open it."""
        target = Path(path)
        if self.running:
            return
        self._say(f"Looking for boards and writing {target.name}…")

        def work() -> Path:
            return write_class_file(target, name)

        self._runner.run(work, lambda result, exc: self._new_done(target, exc), name="init")

    def _new_done(self, target: Path, exc: BaseException | None) -> None:
        if exc is not None:
            self._say(describe_error(exc, what="writing the class file"), error=True)
            return
        self.open_class_file(target)

    def reload(self) -> None:
        """Read the same file again (after the teacher edited it)."""
        if self.path is not None:
            self.open_class_file(self.path, remember=False)

    def open_class_file(self, path: str | os.PathLike[str], remember: bool = True) -> None:
        """Load `path` in a job; the summary and the table follow, or one sentence says why
        the file cannot be used."""
        if self.running:
            self._say("Wait until the boards are done, or press Stop.", error=True)
            return
        target = Path(path)
        self.path = target
        self.path_var.set(str(target))
        self.path_entry.xview_moveto(1.0)  # the file's name matters more than its folder
        if remember:
            self._prefs.save_class_path(target)
        self._say(f"Reading {target.name}…")

        def work() -> Any:
            # Shown without the Wi-Fi password (a flash and the dashboard need none); Deploy
            # all reads the file again with it, and says so if it is missing.
            return _engine().load_class_file(target, need_wifi_password=False)

        self._runner.run(
            work, lambda cf, exc: self._loaded(target, cf, exc), name="load class file"
        )

    def _loaded(self, target: Path, cf: Any, exc: BaseException | None) -> None:
        if self._closed or target != self.path:
            return  # another file was opened meanwhile
        if exc is not None:
            self.class_file = None
            self.error = describe_error(exc, what=f"reading {target.name}")
            self.error_var.set(self._scrub(self.error))
            self.summary_var.set(f"{target.name} could not be used: fix it, then press Reload.")
            self._fill_table()
            self._say("")
            self._update_buttons()
            return
        self.class_file = cf
        self.error = None
        self.error_var.set("")
        self.summary_var.set(self._scrub(summary_text(cf)))
        self.progress = {}
        self.last_results = []
        self._fill_table()
        self._say(f"{target.name}: {len(cf.boards)} boards. Press Flash all… or Deploy all.")
        self._update_buttons()

    def _fill_table(self) -> None:
        self.tree.delete(*self.tree.get_children())
        cf = self.class_file
        if cf is not None:
            for board in cf.boards:
                port = board.port or (f"USB {board.usb_serial}" if board.usb_serial else NO_PORT)
                self.tree.insert("", "end", iid=board.name, values=(board.name, port, "", "", ""))
        self._fit_columns()
        self._show_details()

    # --- running ----------------------------------------------------------------------------
    def ask_flash(self) -> None:
        """Flash all…: the firmware question, which is also the confirmation."""
        cf = self.class_file
        if cf is None or self.running or self.flash_question is not None:
            return
        self.flash_question = FlashDialog(self, cf.name, len(cf.boards), self._flash_answer)
        self._update_buttons()

    def _flash_answer(self, answer: tuple[str | None, str | None] | None) -> None:
        self.flash_question = None
        if self._closed:
            return
        self._update_buttons()
        if answer is None:
            self._say("Flash cancelled: no board was touched.")
            return
        firmware, version = answer
        self.start("flash", firmware=firmware, version=version)

    def deploy_all(self) -> None:
        self.start("deploy")

    def start(
        self, action: str, *, firmware: str | None = None, version: str | None = None
    ) -> None:
        """Run `action` ("flash" or "deploy") on every board of the class, in a job."""
        cf = self.class_file
        if cf is None or self.running:
            return
        self.running = action
        self._cancel = threading.Event()
        cancel = self._cancel
        redo = bool(self.redo_var.get())
        self.progress = {}
        self.last_results = []
        for iid in self.tree.get_children():
            values = list(self.tree.item(iid, "values"))
            self.tree.item(
                iid, values=(values[0], values[1], "waiting", RESULT_WAITING, ""), tags=()
            )
        self._show_details()
        wait_released = self._release_ports(cf, action)
        runner = self._runner
        started = time.monotonic()
        what = "Flashing" if action == "flash" else "Deploying to"
        handover, self._handover_line = self._handover_line, ""
        self._say(f"{what} {len(cf.boards)} boards at once… {handover}".strip())

        def on_progress(progress: Any) -> None:  # the runner's worker threads
            runner.post(self._on_progress, progress, latest=("class-board", progress.board))

        def work() -> list[Any]:
            # Read again: the teacher may have edited it, and a deploy needs the password.
            fresh = _engine().load_class_file(cf.path, need_wifi_password=action == "deploy")
            if wait_released is not None and not wait_released(5.0):
                log.warning("the window's connection did not release its port in time")
            return _runner_module().run_class(
                fresh,
                action,
                firmware=firmware,
                version=version,
                redo_all=redo,
                on_progress=on_progress,
                cancel=cancel,
            )

        self._runner.run(
            work,
            lambda results, exc: self._run_done(action, started, results, exc),
            name="class run",
        )
        self._update_buttons()

    def stop(self) -> None:
        """Boards that have not started are skipped; the others end after their current step."""
        if self.running:
            self._cancel.set()
            self._say("Stopping: boards already under way finish their current step…")

    def _release_ports(self, cf: Any, action: str) -> Callable[[float], bool] | None:
        """Close the window's connection when it holds a port of the class (the run opens
        each port itself), as the Flash panel hands its port over; it is opened again when the
        run ends. Returns ``wait_released(timeout)`` for the job's thread, or None."""
        conn = getattr(self.ctx, "connection", None)
        port = getattr(conn, "port", None)
        if conn is None or not port or conn.state not in ("connected", "connecting"):
            return None
        if port not in {b.port for b in cf.boards if b.port}:
            return None
        doing = f"the class {action} uses it"
        describe = getattr(conn, "handover_text", None)  # Thonny words it for its backend
        line = (
            describe(port, doing)
            if callable(describe)
            else (f"Closing the Console's connection to {port}: {doing}.")
        )
        wait_released = conn.release_port()
        self._handed_over = port
        self._handover_line = line
        return wait_released

    def _give_back(self) -> None:
        port, self._handed_over = self._handed_over, None
        conn = getattr(self.ctx, "connection", None)
        if not port or conn is None or self._closed or conn.is_connected:
            return
        try:
            conn.connect(port)
        except Exception:  # noqa: BLE001 - the run's result matters more than the console
            log.warning("could not reopen %s after the class run", port, exc_info=True)

    def _on_progress(self, progress: Any) -> None:
        """One board moved on (Tk thread, posted by the job's on_progress)."""
        if self._closed:
            return
        self.progress[progress.board] = progress
        self._show_row(progress)
        selected = self.tree.selection()
        if selected and selected[0] == progress.board:
            self._show_details()

    def _show_row(self, p: Any) -> None:
        if not self.tree.exists(p.board):
            self.tree.insert("", "end", iid=p.board, values=(p.board, "", "", "", ""))
        old = list(self.tree.item(p.board, "values"))
        port = p.port or (old[1] if len(old) > 1 else "") or NO_PORT
        result = p.result or RESULT_WAITING
        values = (p.board, port, p.stage, result, time_text(p.seconds))
        self.tree.item(p.board, values=values, tags=(p.result,) if p.result else ())

    def _run_done(
        self, action: str, started: float, results: Any, exc: BaseException | None
    ) -> None:
        self.running = None
        self._give_back()
        if exc is not None:  # nothing ran (a bad image, say): the rows say so again
            for iid in self.tree.get_children():
                if iid not in self.progress:
                    values = list(self.tree.item(iid, "values"))
                    self.tree.item(iid, values=(values[0], values[1], "", "", ""), tags=())
            self._say(describe_error(exc, what=f"the class {action}"), error=True)
            self._update_buttons()
            return
        self.last_results = list(results or [])
        for p in self.last_results:
            self.progress[p.board] = p
            self._show_row(p)
        self._fit_columns()
        failed = [p for p in self.last_results if p.result == "failed"]
        if failed:  # its error is under the table at once
            self.tree.selection_set(failed[0].board)
            self.tree.see(failed[0].board)
        self._show_details()
        self._say(
            run_summary(action, self.last_results, time.monotonic() - started), error=bool(failed)
        )
        self._update_buttons()

    # --- one board --------------------------------------------------------------------------
    def selected_board(self) -> str | None:
        selected = self.tree.selection()
        return str(selected[0]) if selected else None

    def _on_select(self) -> None:
        self._show_details()
        self._update_buttons()

    def details_text(self, board: str) -> str:
        """What the details line says about one board: its port, stage, and why it failed."""
        p = self.progress.get(board)
        values = list(self.tree.item(board, "values")) if self.tree.exists(board) else []
        port = (p.port if p is not None else None) or (values[1] if len(values) > 1 else "")
        text = f"{board} on {port or NO_PORT}"
        if p is None:
            return text + ": not run yet."
        if p.result == "failed":
            text += f" failed at {p.stage or 'the start'}: {p.error or 'no reason given'}"
        elif p.result:
            text += f": {p.result} ({p.stage}, {time_text(p.seconds) or '0 s'})."
        else:
            text += f": {p.stage}…"
        note = getattr(p, "note", None)  # "found on /dev/ttyUSB3 by its USB serial …"
        if note:
            text += f"\n{note[:1].upper()}{note[1:]}."
        if p.log is not None:
            text += f"\nLog: {p.log}"
        return text

    def _show_details(self) -> None:
        board = self.selected_board()
        if board is None or not self.tree.exists(board):
            self.details_var.set(
                "Select a board to see its details and its log." if self.tree.get_children() else ""
            )
            self.details_label.configure(foreground="")
            return
        self.details_var.set(self._scrub(self.details_text(board)))
        p = self.progress.get(board)
        failed = p is not None and p.result == "failed"
        self.details_label.configure(foreground=look.palette(self).error if failed else "")

    def open_log(self) -> None:
        """Show the selected board's log in a window (read in a job)."""
        board = self.selected_board()
        p = self.progress.get(board) if board else None
        if p is None or p.log is None:
            self._say("Select a board that has run: its log is written during a run.", error=True)
            return
        path = Path(p.log)

        def work() -> str:
            return path.read_text(encoding="utf-8", errors="replace")

        self._runner.run(work, lambda text, exc: self._log_read(board, path, text, exc), name="log")

    def _log_read(self, board: str, path: Path, text: Any, exc: BaseException | None) -> None:
        if exc is not None:
            self._say(f"Could not read the log of {board} ({path}): {exc}", error=True)
            return
        if self.log_window is not None:
            try:
                self.log_window.window.destroy()
            except tk.TclError:
                pass
        self.log_window = LogWindow(self, f"Log of {board}", self._scrub(str(text)))

    # --- the dashboard ----------------------------------------------------------------------
    def open_dashboard(self) -> None:
        """The class's live dashboard in a window of its own, for the projector: the process
        of ``iotkit class dashboard --file CLASS`` (see `dashboard_command`), started and
        watched in a job."""
        cf = self.class_file
        if cf is None:
            return
        if self.dashboard is not None:
            self._say(f"The dashboard of {cf.name} is open already, in its own window.")
            return
        command = dashboard_command(cf.path)
        self.dashboard = DASHBOARD_STARTING
        self._say(f"Opening the dashboard of {cf.name} in its own window…")

        def work() -> tuple[int, str]:
            import subprocess
            import tempfile

            with tempfile.TemporaryFile() as errors:
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=errors,
                    creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
                )
                with self._dashboard_lock:  # close() terminates what it finds here
                    closed = self._closed
                    if not closed:
                        self.dashboard = process
                if closed:
                    process.terminate()
                code = process.wait()
                errors.seek(0)
                said = errors.read().decode("utf-8", "replace")
            return code, said

        self._runner.run(work, self._dashboard_ended, name="class dashboard")

    def _dashboard_ended(self, result: Any, exc: BaseException | None) -> None:
        """The dashboard's window was closed (or it could not start): say why if it failed."""
        with self._dashboard_lock:
            self.dashboard = None
        if exc is not None:
            self._say(describe_error(exc, what="the class dashboard"), error=True)
            return
        code, said = result
        lines = [line.strip() for line in said.splitlines() if line.strip()]
        errors = [line[len("error:") :].strip() for line in lines if line.startswith("error:")]
        if code not in (0, -15) and errors:  # -15: closed from here (SIGTERM)
            self._say(f"The dashboard stopped: {errors[-1]}", error=True)
        elif code not in (0, -15, 1):
            log.warning("the class dashboard ended with exit code %s: %s", code, said[-2000:])

    def close_dashboard(self) -> None:
        """Close the dashboard's window (its process ends; the job watching it reports)."""
        with self._dashboard_lock:
            process, self.dashboard = self.dashboard, None
        if process is not None and process is not DASHBOARD_STARTING:
            try:
                process.terminate()  # returns at once; the watching job collects it
            except OSError:
                log.debug("the dashboard had ended already", exc_info=True)

    # --- status and buttons -----------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        """Every text that reaches a widget: the class's Wi-Fi password (and every other
        secret this process knows) masked in every form a program can print it."""
        extra = secrets.secret_values(self.class_file.settings) if self.class_file else []
        return secrets.mask_text(text, extra=extra)

    def _say(self, text: str, error: bool = False) -> None:
        text = self._scrub(text)
        self.status_var.set(text)
        self._status_error = error
        self.status_label.configure(foreground=look.palette(self).error if error else "")
        if self.ctx is not None and text:
            self.ctx.set_status(text)

    def _update_buttons(self) -> None:
        loaded = self.class_file is not None
        busy = self.running is not None or self.flash_question is not None
        ready = "normal" if loaded and not busy else "disabled"
        self.flash_button.configure(state=ready)
        self.deploy_button.configure(state=ready)
        self.stop_button.configure(state="normal" if self.running else "disabled")
        idle = "disabled" if self.running else "normal"
        for button in (self.open_button, self.new_button):
            button.configure(state=idle)
        self.reload_button.configure(state=idle if self.path is not None else "disabled")
        board = self.selected_board()
        p = self.progress.get(board) if board else None
        self.log_button.configure(state="normal" if p is not None and p.log else "disabled")
        self.dashboard_button.configure(state="normal" if loaded else "disabled")

    # --- closing ----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the run (boards not started are skipped); no result reaches a closed panel."""
        with self._dashboard_lock:  # a dashboard starting now is stopped by its own job
            self._closed = True
        self._cancel.set()
        if self.flash_question is not None:
            self.flash_question._answer(None)
        self.close_dashboard()
        self._runner.close()


__all__ = ["ClassPanel", "FlashDialog", "PanelPrefs", "run_summary", "summary_text"]
