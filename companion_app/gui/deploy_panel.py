"""The Deploy panel: put ready-made programs (sensor, web dashboard, MQTT...) on the board.

A beginner picks what the board should do, fills a short form (Wi-Fi, which sensor on which
pin) and presses Deploy; the engine (`companion_app.device.deploy`) works out which files changed
and sends only those. The form guards the two mistakes that cost a lesson: a pin that cannot
work (the pin fields offer only what `companion_app.device.pinchoice` allows for the board and
the part, and suggest the pin the wiring diagram really uses) and a Wi-Fi password that ends up
on the projector (it is masked, never logged, and the dry run shows the masked config).

Threads: every Tk call happens in the Tk thread. The dry run and the deploy run in the window's
connection worker through ``ctx.connection.call_with_link``, so the Console and the Deploy share
one open port and the engine's ``deploy(link, ...)`` holds it while it works. The engine's
events (`DeployEvent`) are posted from that worker to the Tk thread through the panel's
`JobRunner` (companion_app/gui/jobs.py, the one way work reports to Tk); the result comes back
through ``call_with_link``'s ``on_done`` and is posted the same way, so it is shown after every
event the deploy sent before it, whichever host's connection delivered it.

The programs and settings of the last deploy are kept per board type by the engine
(`companion_app.device.settings`, which never writes a password), so ``iotkit deploy --saved``
reuses them.

The panel depends only on its `ctx` (the companion's `PanelContext`, or Thonny's): the
connection, ``set_status``, and the optional hooks ``ctx.wiring_diagram()``, ``ctx.board_id()``
and ``ctx.show_panel(title)``; a host without them still gets a working panel.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import tkinter as tk
import urllib.parse
import webbrowser
from dataclasses import dataclass
from pathlib import Path
from tkinter import filedialog
from tkinter import font as tkfont
from tkinter import ttk
from tkinter.scrolledtext import ScrolledText
from typing import Any, Callable

from companion_app import secrets
from companion_app.boards import DEFAULT_BOARD, list_boards, load_board
from companion_app.device import settings as saved_settings
from companion_app.device.pinchoice import (
    PIN_FIELDS,
    PinChoices,
    field_spec,
    gpio_of_text,
    gpio_text,
    pin_choices,
    pin_name,
)
from companion_app.errors import IotkitError
from companion_app.gui import look
from companion_app.gui.boardpick import board_combobox, board_id_of, board_label
from companion_app.gui.dialog import ModalQuestion
from companion_app.gui.jobs import JobRunner, describe_error

log = logging.getLogger(__name__)

MAX_LOG_LINES = 2000
SENSORS = ("dht22", "dht11", "bme280", "none")
MASK = "•"
SECRET_SHOWN = secrets.MASK  # what a secret becomes if some text would otherwise carry it
# Text colours by role: the palette of the theme in use gives each one (companion_app/gui/look.py).
ERROR_COLOUR = "error"
OK_COLOUR = "ok"
WARN_COLOUR = "warning"
HINT_COLOUR = "muted"
#: The deploy part (buttons, status, log) may take this share of the right side's height: at
#: large fonts its buttons wrap onto more lines, and the settings above it scroll anyway.
BOTTOM_MAX_SHARE = 0.7
BOARD_COMBO_CHARS = 34  # the board list's width when there is room
SASH_SLACK = 2  # pixels a sash may drift before it is put back
HINT_MIN_CHARS = 16  # a hint narrower than this many digits goes under its field instead
BAR_COLOURS = {"Deploy": "#3b78c9", "DeployDone": "#2e8b3c", "DeployFailed": "#c0392b"}
#: Keys the engine fills itself: never a form field.
HIDDEN_KEYS = frozenset({"parts"})
#: What the form calls each config key (the key itself for keys not listed).
LABELS = {
    "device_name": "Device name",
    "wifi_ssid": "Wi-Fi name (SSID)",
    "wifi_password": "Wi-Fi password",
    "sensor": "Sensor",
    "sensor_pin": "DHT data pin",
    "i2c_sda": "I2C SDA pin",
    "i2c_scl": "I2C SCL pin",
    "interval_s": "Read every (s)",
    "web_port": "Web port",
    "mqtt_broker": "MQTT broker",
    "mqtt_topic": "MQTT topic",
    "mqtt_status_topic": "MQTT status topic",
    "mqtt_keepalive_s": "MQTT keep-alive (s)",
    "ota_url": "OTA URL",
    "button_pin": "Button pin",
    "led_pin": "LED pin",
    "log_file": "Log file",
    "log_max_bytes": "Log size cap (bytes)",
    "log_keep": "Old logs kept",
}
#: sys.platform of the MicroPython port that runs each chip family.
PLATFORMS = {"esp32": "esp32", "esp8266": "esp8266", "rp2": "rp2"}
DASHBOARD_RE = re.compile(r"web: dashboard at (https?://[^\s'\"]+)")
WIFI_IP_RE = re.compile(r"wifi: .*?\bIP (\d{1,3}(?:\.\d{1,3}){3})")
# A virtual board serves a port below 1024 on a high port of the computer and says so.
VIRTUAL_PORT_RE = re.compile(r"virtual board: port (\d+) is (https?://[^\s'\"]+) on this computer")


def dashboard_url(output: str, config: dict[str, Any] | None = None) -> str | None:
    """The dashboard's address: what web.py printed ("web: dashboard at http://IP:PORT/"), else
    the IP the Wi-Fi program printed with the configured port, else None. On a virtual board a
    port below 1024 is served on a high port of this computer, which the board printed."""
    text = output or ""
    mapped = {int(port): url for port, url in VIRTUAL_PORT_RE.findall(text)}
    found = DASHBOARD_RE.findall(text)
    ips = WIFI_IP_RE.findall(text)
    if found:
        url = found[-1]
    elif ips and config is not None:
        port = int(config.get("web_port", 80) or 80)
        url = f"http://{ips[-1]}/" if port == 80 else f"http://{ips[-1]}:{port}/"
    else:
        return None
    parts = urllib.parse.urlsplit(url)
    if parts.port in mapped or (parts.port is None and 80 in mapped):
        url = mapped[parts.port or 80]
    return url if url.endswith("/") else url + "/"


def short_note(note: str) -> str:
    """ "⚠ strapping pin: Sampled at reset..." -> "⚠ strapping pin": the form's column is narrow;
    the whole note is the hint's tooltip."""
    mark = ""
    if note[:2] in ("⚠ ", "✓ "):
        mark, note = note[:2], note[2:]
    parts = []
    for part in note.split("; "):
        part = part.removeprefix("used by the board: ").replace("the board's own ", "board's ")
        head = part.split(":")[0].strip()
        for key, label in LABELS.items():
            name = label if label[1:2].isupper() else label[:1].lower() + label[1:]  # "LED pin"
            head = head.replace(f"also set as {key}", f"also the {name}")
        if head and head not in parts:
            parts.append(head)
    text = ", ".join(parts)
    return mark + (text if len(text) <= 34 else text[:32].rstrip() + "…")


def size_text(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KB"


class FormError(ValueError):
    """A form value the engine would refuse; `key` says which field to fix."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _engine() -> Any:
    """The deploy engine, imported on first use (it pulls in the library cache and mpy-cross)."""
    from companion_app.device import deploy

    return deploy


class _Tooltip:
    """The whole text of a shortened hint, shown while the mouse rests on it."""

    def __init__(self, widget: tk.Widget, text: Callable[[], str]) -> None:
        self.widget, self.text = widget, text
        self.tip: tk.Toplevel | None = None
        widget.bind("<Enter>", lambda e: self.show(), add="+")
        widget.bind("<Leave>", lambda e: self.hide(), add="+")

    def show(self) -> None:
        text = self.text()
        if not text or self.tip is not None:
            return
        self.tip = tk.Toplevel(self.widget)
        self.tip.wm_overrideredirect(True)
        x = self.widget.winfo_rootx()
        y = self.widget.winfo_rooty() + self.widget.winfo_height() + 2
        self.tip.wm_geometry(f"+{x}+{y}")
        pal = look.palette(self.widget)
        self.tip.configure(background=pal.foreground)  # a thin frame in the text colour
        tk.Label(
            self.tip,
            text=text,
            background=pal.field,
            foreground=pal.field_text,
            relief="flat",
            borderwidth=0,
            wraplength=360,
            justify="left",
            padx=4,
            pady=2,
        ).pack(padx=1, pady=1)

    def hide(self) -> None:
        if self.tip is not None:
            self.tip.destroy()
            self.tip = None


@dataclass(frozen=True)
class PinQuestion:
    """What Deploy asks when the form and the diagram disagree: a title, the sentences, the
    three answers' button texts by key ("form", "diagram", "cancel"), and the one to focus."""

    title: str
    text: str
    answers: dict[str, str]
    default: str


class PinDialog(ModalQuestion):
    """The pin question as a small dialog over the window. It does not block: the answer comes
    through `on_answer`, exactly once (Escape and closing the window answer "cancel"), so the Tk
    loop runs on and a test presses its buttons like a person."""

    def __init__(
        self, parent: tk.Misc, question: PinQuestion, on_answer: Callable[[str], None]
    ) -> None:
        super().__init__(parent, question.title, on_answer)
        self.question = question
        frame = self.frame
        width = tkfont.nametofont("TkDefaultFont").measure("0") * 60
        self.label = ttk.Label(frame, text=question.text, justify="left", wraplength=width)
        self.label.pack(side="top", fill="x")
        row = ttk.Frame(frame)
        row.pack(side="top", fill="x", pady=(12, 0))
        self.buttons: dict[str, ttk.Button] = {}
        for key in ("form", "diagram", "cancel"):
            button = ttk.Button(
                row, text=question.answers[key], command=lambda k=key: self.answer(k)
            )
            button.pack(side="left", padx=(0, 6))
            button.bind("<Return>", lambda e, k=key: self.answer(k))
            self.buttons[key] = button
        self.show(self.buttons[question.default], "cancel")

    def lift_to_front(self) -> None:
        if self.window.winfo_exists():
            self.window.lift()
            self.buttons[self.question.default].focus_set()

    def answer(self, key: str) -> None:
        """Close the dialog and report `key` ("form", "diagram" or "cancel"), once."""
        self.finish(key)


class _PinNote:
    """The note row under one pin field: a wrapping sentence and, when it applies, a button that
    takes the diagram's pin. Gridded only while it has something to say."""

    def __init__(self, frame: ttk.Frame, label: ttk.Label, button: ttk.Button, row: int) -> None:
        self.frame, self.label, self.button, self.row = frame, label, button, row

    def show(self, text: str, colour: str, offer: str) -> None:
        self.label.configure(text=text, foreground=colour)
        if offer:
            self.button.configure(text=offer)
            self.button.pack(side="top", anchor="w", pady=(1, 2))
        else:
            self.button.pack_forget()
        if text:
            self.frame.grid(row=self.row, column=0, columnspan=4, sticky="ew", pady=(0, 4))
        else:
            self.frame.grid_remove()

    @property
    def text(self) -> str:
        return str(self.label.cget("text")) if self.frame.winfo_manager() else ""


class DeployPanel(ttk.Frame):
    """Programs to install, their settings, and the dry run / deploy with progress and log."""

    #: The panel shows its messages in a status line of its own; a host whose status line sits
    #: right under the panel (Thonny's view) need not show them a second time.
    own_status_line = True

    def __init__(
        self,
        parent: tk.Misc,
        ctx: Any | None = None,
        *,
        config_dir: str | Path | None = None,
        compact: bool = False,
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        # A narrow host (a Thonny side view): the dashboard and plot buttons get their own row
        # and the programs column may be narrower, so nothing is cut off at about 600 pixels.
        self._compact = compact
        self.engine = _engine()
        self._config_dir = Path(config_dir) if config_dir is not None else None
        self._runner = JobRunner(self)  # the engine's events and results reach Tk through it
        self._cancel = threading.Event()
        self._closed = False
        self.running: str | None = None  # "dry run" | "deploy" while the worker has the link
        self.last_result: Any = None
        self.last_plan_text = ""
        self.next_step = ""  # what the log suggests after a deploy, e.g. "Next: watch the readings"
        self.dashboard: str | None = None
        self._deployed_web = False
        self._deployed_config: dict[str, Any] = {}
        self._line_buffer = ""
        self._output_seen = ""
        self._board_picked = False  # the person chose the board: connections no longer change it
        self._diagram_file: Any = None  # a diagram.json opened here, over the Wiring tab's
        self._last_diagram: Any = None  # the diagram the pins were last taken from
        self._sashes_placed = False
        self._resize_pending = False
        # The programs column's share of the width: set when the sashes are first placed and
        # when a person drags the sash; whatever else moves it (a font change while the view is
        # hidden, a pane's new requested size) is undone.
        self._programs_share: float | None = None
        self.secret_entry: ttk.Entry | None = None
        self.extra_widgets: dict[str, tk.Widget] = {}  # "show" and "has its own pull-up"
        self.templates: list[str] = list(self.engine.template_names())
        self.infos = {name: self.engine.template_info(name) for name in self.templates}
        self._user_chosen: set[str] = set()
        self.template_vars: dict[str, tk.BooleanVar] = {}
        self.template_checks: dict[str, ttk.Checkbutton] = {}
        self.values: dict[str, tk.StringVar] = {}  # every config key ever shown, kept on re-layout
        self.field_widgets: dict[str, tk.Widget] = {}
        self.hint_vars: dict[str, tk.StringVar] = {}
        self.hint_full: dict[str, str] = {}  # the whole note; the form shows its short form
        self.hint_labels: dict[str, ttk.Label] = {}
        self.tooltips: dict[str, _Tooltip] = {}  # the whole note of a shortened hint
        self._hint_rows: dict[str, int] = {}
        # Under a pin field, when the form and the diagram disagree: which pin will be used, and
        # a button that takes the diagram's.
        self.pin_notes: dict[str, _PinNote] = {}
        self.pin_choices: dict[str, PinChoices] = {}
        self._pin_source: dict[str, str] = {}  # field -> "auto" | "user" | "saved"
        self.pull_up_var = tk.BooleanVar(value=False)
        # How Deploy asks when the form and the diagram disagree: (question, on_answer) -> the
        # open question, which calls on_answer("form" | "diagram" | "cancel") once. A dialog
        # here; a host or a test may put its own (non-blocking) asker in its place.
        self.ask_pins: Callable[[PinQuestion, Callable[[str], None]], Any] = self._ask_pins_dialog
        self.pin_question: Any = None
        self.show_secret_var = tk.BooleanVar(value=False)
        self.boards = list_boards()
        self.board = load_board(self._initial_board())
        self._build()
        self._load_saved(self.board.id)
        self._relayout()
        if ctx is not None:
            ctx.connection.add_listener(self._on_connection_event)
        self.bind("<Map>", lambda e: self._on_shown(), add="+")

    # --- layout -----------------------------------------------------------------------------
    def _build(self) -> None:
        # Each row that could run out of width wraps instead (a projector at 1024x768 with
        # large fonts cut "Open dashboard" to "Oper"), and what is taller than its place
        # scrolls, with the mouse wheel too (companion_app/gui/look.py).
        bar = look.WrapRow(self, gap=4)  # (a WrapRow's own padding would not be counted)
        bar.pack(side="top", fill="x", padx=6, pady=4)
        board_box = ttk.Frame(bar)
        ttk.Label(board_box, text="Board type:").pack(side="left")
        self.board_var, self.board_combo = board_combobox(
            board_box, self.boards, self.board, self._on_board_picked
        )
        self.board_combo.pack(side="left", padx=(4, 4))
        bar.add(board_box)
        self._board_label_box, self._top_row = board_box, bar
        bar.bind("<Configure>", self._fit_board_combo, add="+")
        bar.add(ttk.Button(bar, text="Use diagram.json…", command=self._on_open_diagram))
        # "Pins: as wired in diagram.json (…)": a line of its own, wrapped at the panel's width.
        self.wiring_var = tk.StringVar(value="")
        self.wiring_label = look.WrapLabel(self, textvariable=self.wiring_var, padding=(6, 0, 6, 2))
        self.wiring_label.pack(side="top", fill="x")

        # Programs on the left, full height (their summaries need the room); settings and the
        # deploy log share the right side.
        body = ttk.PanedWindow(self, orient="horizontal")
        body.pack(side="top", fill="both", expand=True, padx=6, pady=(0, 4))
        programs_box = ttk.LabelFrame(body, text="1. Programs", padding=(4, 2))
        right = ttk.PanedWindow(body, orient="vertical")
        body.add(programs_box, weight=2)
        body.add(right, weight=3)
        settings = ttk.LabelFrame(right, text="2. Settings", padding=(6, 2))
        bottom = ttk.Frame(right)
        right.add(settings, weight=3)
        right.add(bottom, weight=2)
        self._panes = (body, right)
        self.after_idle(self._place_sashes)
        body.bind("<Configure>", self._on_body_resized, add="+")
        programs_box.bind("<Configure>", self._on_body_resized, add="+")
        body.bind("<ButtonRelease-1>", self._on_sash_dragged, add="+")
        self._bottom = bottom
        self._small_font = tkfont.Font(self)
        self._bold_font = tkfont.Font(self)
        self._fit_fonts()

        # The list of programs scrolls (bar and wheel): at large fonts not all seven fit.
        self.programs_scroller = look.ScrolledFrame(programs_box)
        self.programs_scroller.pack(fill="both", expand=True)
        programs = self.programs_scroller.inner
        self.programs_scroller.canvas.bind("<Configure>", self._wrap_program_names, add="+")
        self.summaries: dict[str, ttk.Label] = {}
        for row, name in enumerate(self.templates):
            var = tk.BooleanVar(value=False)
            check = ttk.Checkbutton(
                programs,
                text=name,
                variable=var,
                style="Template.TCheckbutton",
                command=lambda n=name: self._on_template(n),
            )
            check.grid(row=2 * row, column=0, sticky="w", pady=(3, 0))
            summary = look.WrapLabel(
                programs, text=self.infos[name].get("summary", ""), font=self._small_font
            )
            summary.grid(row=2 * row + 1, column=0, sticky="ew", padx=(22, 0))
            self.template_vars[name] = var
            self.template_checks[name] = check
            self.summaries[name] = summary
        programs.columnconfigure(0, weight=1)

        # The form scrolls: with every program chosen it has more rows than the window is tall.
        self.form_scroller = look.ScrolledFrame(settings)
        self.form_scroller.pack(fill="both", expand=True)
        self.form_canvas = self.form_scroller.canvas
        self.form = self.form_scroller.inner
        self.form_canvas.bind("<Configure>", lambda e: self._place_hints(), add="+")

        go = ttk.LabelFrame(bottom, text="3. Deploy", padding=(6, 2))
        go.pack(side="top", fill="both", expand=True)
        self.button_row = row = look.WrapRow(go, gap=4)
        row.pack(side="top", fill="x")
        self.dry_button = ttk.Button(row, text="Dry run", command=self.dry_run)
        self.deploy_button = ttk.Button(row, text="Deploy", command=self.deploy)
        self.cancel_button = ttk.Button(row, text="Cancel", command=self.cancel, state="disabled")
        self.dashboard_button = ttk.Button(
            row, text="Open dashboard", command=self.open_dashboard, state="disabled"
        )
        self.plot_button = ttk.Button(row, text="Plot readings", command=self.plot_readings)
        for button in (
            self.dry_button,
            self.deploy_button,
            self.cancel_button,
            self.dashboard_button,
            self.plot_button,
        ):
            row.add(button)
        self.progress = ttk.Progressbar(
            go, orient="horizontal", mode="determinate", style="Deploy.Horizontal.TProgressbar"
        )
        self.progress.pack(side="top", fill="x", pady=(4, 0))
        self.status_var = tk.StringVar(value="Choose the programs, fill the settings, then Deploy.")
        self.status_label = look.WrapLabel(go, textvariable=self.status_var, anchor="w")
        self.status_label.pack(side="top", fill="x")
        self.log_text = ScrolledText(go, height=3, wrap="word", state="disabled")
        self.log_text.pack(side="top", fill="both", expand=True, pady=(2, 0))
        self._status_role = ""
        self._placeholder: ttk.Label | None = None  # "Tick a program…" while none is ticked
        self._restyle()
        look.on_look_change(self, self._on_look_change)

    def _fit_board_combo(self, event: tk.Event) -> None:
        """The board list gets narrower rather than run past a narrow panel (Thonny's column at
        large fonts): the whole name shows when its list is open."""
        label = self._board_label_box.winfo_children()[0]
        char = max(1, tkfont.nametofont("TkDefaultFont", root=self).measure("0"))
        room = event.width - label.winfo_reqwidth() - 40  # the arrow and the paddings
        width = max(12, min(BOARD_COMBO_CHARS, room // char))
        if int(self.board_combo.cget("width")) != width:
            self.board_combo.configure(width=width)
            self.after_idle(self._top_row.reflow)  # the button beside it moves up or down

    def _fit_fonts(self) -> None:
        """The summaries' smaller font and the bold names and headings, from the UI font's size
        now (the zoom and Thonny's font options change it)."""
        base = tkfont.nametofont("TkDefaultFont", root=self).actual()
        size = int(base["size"])
        smaller = size + 1 if size < 0 else max(8, size - 1)
        self._small_font.configure(family=base["family"], size=smaller)
        self._bold_font.configure(family=base["family"], size=size, weight="bold")
        style = ttk.Style(self)
        style.configure("Template.TCheckbutton", font=self._bold_font)
        style.configure("Next.TButton", font=self._bold_font)

    def _restyle(self) -> None:
        """Colours from the theme in use (the companion's, or Thonny's light or dark one), each
        text colour readable on its background."""
        pal = self._pal = look.palette(self)
        style = ttk.Style(self)
        for name, colour in BAR_COLOURS.items():
            style.configure(
                f"{name}.Horizontal.TProgressbar", background=colour, troughcolor=pal.field
            )
        self.wiring_label.configure(foreground=pal.muted)
        for summary in self.summaries.values():
            summary.configure(foreground=pal.muted)
        look.style_field(self.log_text, pal)
        for tag, role in (
            ("error", "error"),
            ("ok", "ok"),
            ("warn", "warning"),
            ("board", "accent"),
            ("next", "ok"),
        ):
            self.log_text.tag_configure(tag, foreground=pal.on_field(self, getattr(pal, role)))
        self.log_text.tag_configure("head", font=self._bold_font)
        self.log_text.tag_configure("next", font=self._bold_font)
        self.status_label.configure(foreground=self._fg(self._status_role))
        if self._placeholder is not None and self._placeholder.winfo_exists():
            self._placeholder.configure(foreground=pal.muted)

    def _fg(self, role: str) -> str:
        """A text colour by its role ("error", "warning", "ok", "muted"; "" = the theme's own)
        from the current palette."""
        return "" if not role else str(getattr(self._pal, role))

    def _on_look_change(self) -> None:
        self._fit_fonts()
        self._restyle()
        self._refresh_pins()  # the hints' colours
        self.button_row.reflow()

    def _place_sashes(self) -> None:
        """Programs get about 38 % of the width (their summaries wrap in two lines there), the
        settings about 55 % of the right side's height, and the deploy part below them at least
        the height of its buttons, status line and a few lines of log."""
        body, right = self._panes
        try:
            width, height = body.winfo_width(), right.winfo_height()
            if width > 100:
                body.sashpos(0, max(self._programs_min_width(width), int(width * 0.38)))
                self._programs_share = body.sashpos(0) / width
            if height > 100:
                need = self._bottom.winfo_reqheight()
                least = int(height * (1 - BOTTOM_MAX_SHARE))
                right.sashpos(0, max(least, min(int(height * 0.55), height - need)))
        except tk.TclError:  # not mapped yet: the first <Map> places them
            pass

    def _widest_name(self) -> int:
        """The width of the longest program name with its tick box, in pixels."""
        longest = max((self._bold_font.measure(n) for n in self.templates), default=100)
        return longest + 2 * tkfont.nametofont("TkDefaultFont", root=self).measure("0") + 8

    def _programs_min_width(self, width: int) -> int:
        """The narrowest the programs column may get: its longest program name, but never
        more than half the panel."""
        return min(self._widest_name() + 40, width // 2)

    def _wrap_program_names(self, event: tk.Event) -> None:
        """A program's name and its "(needed by …)" wrap at the list's width, never cut."""
        wrap = max(80, event.width - 12)
        style = ttk.Style(self)
        if str(style.lookup("Template.TCheckbutton", "wraplength")) != str(wrap):
            style.configure("Template.TCheckbutton", wraplength=wrap)

    def _on_body_resized(self, event: tk.Event) -> None:
        """Keep the programs column and the deploy part usable when the panel or a pane is
        resized: Thonny's IoT Deploy view was seen with its programs column at about 100 px
        after switching to another view and back, its entries cut. Whatever moved the sash (a
        1-px configure of a hidden view, a pane's new requested size, a drag), the programs
        column never gets narrower than its widest program name, nor the deploy part lower
        than its buttons and status line; otherwise a person's own sash position is kept."""
        if event.widget is self._panes[0] and (event.width <= 100 or event.height <= 100):
            return  # being hidden or laid out: nothing to keep yet
        if not self._resize_pending:
            self._resize_pending = True
            self.after_idle(self._keep_panes)

    def _on_sash_dragged(self, event: tk.Event) -> None:
        body = self._panes[0]
        width = body.winfo_width()
        if width > 100:
            self._programs_share = body.sashpos(0) / width
            self._on_body_resized(event)

    def _keep_panes(self) -> None:
        self._resize_pending = False
        body, right = self._panes
        try:
            width, height = body.winfo_width(), right.winfo_height()
            if width > 100:
                least = self._programs_min_width(width)
                want = (
                    least if self._programs_share is None else round(width * self._programs_share)
                )
                want = max(least, want)
                if abs(body.sashpos(0) - want) > SASH_SLACK:
                    body.sashpos(0, want)
            if height > 100:
                need = min(self._bottom.winfo_reqheight(), int(height * BOTTOM_MAX_SHARE))
                if height - right.sashpos(0) < need:
                    right.sashpos(0, height - need)
        except tk.TclError:
            pass

    # --- board and wiring -------------------------------------------------------------------
    def _initial_board(self) -> str:
        """The connected board if the host knows it, else the diagram's board, else a default."""
        hook = getattr(self.ctx, "board_id", None)
        known = hook() if callable(hook) else None
        if known:
            return known
        diagram = self.diagram()
        if diagram is not None and getattr(diagram, "board", None) is not None:
            return diagram.board.id
        return DEFAULT_BOARD

    def diagram(self) -> Any | None:
        """The wiring to take pin suggestions from: a file opened here, else the Wiring tab's."""
        if self._diagram_file is not None:
            return self._diagram_file
        hook = getattr(self.ctx, "wiring_diagram", None)
        try:
            return hook() if callable(hook) else None
        except Exception:  # noqa: BLE001 - a host's hook must not break the form
            log.debug("wiring_diagram() failed", exc_info=True)
            return None

    def set_board(self, board_id: str, picked: bool = True) -> None:
        """Pick the board: the pin fields then offer its pins, and its saved settings return."""
        board = load_board(board_id)
        self._board_picked = self._board_picked or picked
        if board.id == self.board.id:
            return
        self.board = board
        self.board_var.set(board_label(board))
        self._load_saved(board.id)
        self._relayout()

    def _on_board_picked(self) -> None:
        self.set_board(board_id_of(self.board_var.get()))

    def use_diagram(self, path: str | os.PathLike[str] | None) -> None:
        """Take pin suggestions from this diagram.json (None: back to the Wiring tab's)."""
        if path is None:
            self._diagram_file = None
        else:
            from companion_app.wiring.diagram import load_diagram

            try:
                self._diagram_file = load_diagram(path)
            except IotkitError as exc:
                self._say(str(exc), error=True)
                return
        self._refresh_pins(wiring_changed=True)

    def _on_open_diagram(self) -> None:
        path = filedialog.askopenfilename(
            parent=self,
            title="Take the pins from a Wokwi diagram.json",
            filetypes=[("Wokwi diagram", "*.json"), ("All files", "*")],
        )
        if path:
            self.use_diagram(path)

    def _on_shown(self) -> None:
        """The tab came to the front: the Wiring tab may hold a new diagram since last time."""
        if not self._closed:
            if not self._sashes_placed:
                self._sashes_placed = True
                self.after(50, self._place_sashes)
            elif not self._resize_pending:  # fonts or the theme may have changed meanwhile
                self._resize_pending = True
                self.after_idle(self._keep_panes)
            self._refresh_pins()

    def _on_connection_event(self, event: str, payload: Any) -> None:
        if event == "connected" and not self._board_picked:
            hook = getattr(self.ctx, "board_id", None)
            known = hook() if callable(hook) else None
            if known:
                self.set_board(known, picked=False)
        elif event == "data" and self._deployed_web:
            self._watch_output(payload)

    # --- programs ---------------------------------------------------------------------------
    def chosen(self) -> list[str]:
        """The templates that will be installed: the ticked ones and what they need."""
        if not self._user_chosen:
            return []
        resolved = list(self.engine.resolve_templates(sorted(self._user_chosen)))
        order = {name: i for i, name in enumerate(self.templates)}  # the manifest's order
        return sorted(resolved, key=lambda n: order.get(n, len(order)))

    def choose(self, *names: str) -> None:
        """Tick these programs (what a click does), e.g. choose("sensor", "web")."""
        for name in names:
            if name not in self.infos:
                raise ValueError(f"unknown template {name!r}; known: {', '.join(self.templates)}")
            self._user_chosen.add(name)
        self._relayout()

    def _on_template(self, name: str) -> None:
        if self.template_vars[name].get():
            self._user_chosen.add(name)
        else:
            self._user_chosen.discard(name)
        self._relayout()

    def _show_templates(self) -> None:
        resolved = set(self.chosen())
        for name in self.templates:
            needed_by = sorted(
                n for n in self._user_chosen if name in self.infos[n].get("needs", ()) and n != name
            )
            needed = name in resolved and name not in self._user_chosen
            self.template_vars[name].set(name in resolved)
            text = name
            if needed or (needed_by and name in self._user_chosen):
                text = f"{name}  (needed by {', '.join(needed_by) or 'another program'})"
            # A program another one needs stays ticked until that one is unticked.
            self.template_checks[name].configure(
                text=text, state="disabled" if needed else "normal"
            )
        # "wifi  (needed by mqtt, ota, web)" wraps at the column's width (the style's
        # wraplength); the column asks for room for the longest name, and the sash follows.
        self.programs_scroller.canvas.configure(width=self._widest_name() + 24)
        if not self._resize_pending:
            self._resize_pending = True
            self.after_idle(self._keep_panes)

    # --- the form ---------------------------------------------------------------------------
    def config_keys(self) -> list[str]:
        """The settings of the chosen programs, in manifest order, each once."""
        keys: list[str] = []
        for name in self.chosen():
            for key in self.infos[name].get("config", ()):
                if key not in keys and key not in HIDDEN_KEYS:
                    keys.append(key)
        return keys

    def _defaults(self) -> dict[str, Any]:
        return dict(self.engine.build_config(self.chosen() or self.templates[:1]))

    def _relayout(self) -> None:
        """Rebuild the form for the chosen programs; typed values survive (they live on in
        `values` even while their program is unticked)."""
        self._show_templates()
        for child in self.form.winfo_children():
            child.destroy()
        self.field_widgets.clear()
        self.extra_widgets.clear()
        self.hint_vars.clear()
        self.hint_labels.clear()
        self._hint_rows.clear()
        self.tooltips.clear()
        self.pin_notes.clear()
        keys = self.config_keys()
        defaults = self._defaults()
        for key in keys:
            if key not in self.values:
                value = defaults.get(key, "")
                self.values[key] = tk.StringVar(value="" if value is None else str(value))
                if key in PIN_FIELDS:
                    self._pin_source.setdefault(key, "auto")
        if not keys:
            self._placeholder = look.WrapLabel(
                self.form,
                text="Tick a program on the left to see its settings.",
                foreground=self._fg(HINT_COLOUR),
            )
            self._placeholder.grid(row=0, column=0, columnspan=4, sticky="ew", pady=4)
        row = 0
        for key in keys:
            ttk.Label(self.form, text=LABELS.get(key, key) + ":").grid(
                row=row, column=0, sticky="w", pady=1, padx=(0, 6)
            )
            widget = self._make_field(key, defaults.get(key))
            widget.grid(row=row, column=1, sticky="ew", pady=1)
            self.field_widgets[key] = widget
            extra = self._make_extra(key)
            if extra is not None:
                self.extra_widgets[key] = extra
            if extra is not None and key == "button_pin":  # a line of its own: it is long
                extra.grid(row=row + 2, column=0, columnspan=4, sticky="w", padx=(12, 0))
            elif extra is not None:
                extra.grid(row=row, column=2, sticky="w", padx=(4, 0))
            hint = tk.StringVar(value="")
            label = look.WrapLabel(self.form, textvariable=hint, foreground=self._fg(HINT_COLOUR))
            self.hint_vars[key], self.hint_labels[key] = hint, label
            self._hint_rows[key] = row
            self.tooltips[key] = _Tooltip(label, lambda k=key: self.hint_full.get(k, ""))
            if key in PIN_FIELDS:
                self.pin_notes[key] = self._make_pin_note(key, row + 3)
            # Rows: the field (and its hint when there is room), its hint when there is not,
            # the button's pull-up line, the pin's note. Empty rows take no room.
            row += 4
        self.form.columnconfigure(1, weight=0, minsize=150)
        self.form.columnconfigure(0, weight=0)
        self.form.columnconfigure(3, weight=1)
        self._refresh_pins()
        self._update_buttons()

    def _place_hints(self) -> None:
        """A hint goes beside its field where the settings pane has room for it, else on a line
        of its own under the field (at large fonts, or in Thonny's side column): never cut."""
        width = self.form_canvas.winfo_width()
        if width <= 1 or not self.hint_labels:
            return
        # The columns' padding, and room for a hint to read as one line or two.
        need = 16 + tkfont.nametofont("TkDefaultFont", root=self).measure("0" * HINT_MIN_CHARS)
        for column in (0, 1, 2):
            slaves = [
                w
                for w in self.form.grid_slaves(column=column)
                if int(w.grid_info().get("columnspan", 1)) == 1
            ]
            need += max((w.winfo_reqwidth() for w in slaves), default=0)
        beside = need <= width
        # Beside: the hints take the spare width. Under: the fields do, and give way first.
        self.form.columnconfigure(1, weight=0 if beside else 1)
        self.form.columnconfigure(3, weight=1 if beside else 0)
        for key, label in self.hint_labels.items():
            row = self._hint_rows[key]
            if beside:
                label.grid(row=row, column=3, columnspan=1, sticky="ew", padx=(6, 0))
            elif self.hint_vars[key].get():
                label.grid(row=row + 1, column=1, columnspan=3, sticky="ew", padx=(0, 0))
            else:
                label.grid_remove()

    def _make_pin_note(self, key: str, row: int) -> _PinNote:
        frame = ttk.Frame(self.form)
        label = look.WrapLabel(frame, anchor="w")
        label.pack(side="top", fill="x")
        button = ttk.Button(frame, command=lambda: self.use_diagram_pin(key))
        note = _PinNote(frame, label, button, row)
        return note

    def _make_field(self, key: str, default: Any) -> tk.Widget:
        var = self.values[key]
        if secrets.is_secret_key(key):
            entry = ttk.Entry(self.form, textvariable=var, show=MASK, width=18)
            self.secret_entry = entry
            return entry
        if key == "sensor":
            sensors = tuple(getattr(self.engine, "SENSORS", SENSORS))
            combo = ttk.Combobox(
                self.form, textvariable=var, state="readonly", values=sensors, width=16
            )
            combo.bind("<<ComboboxSelected>>", lambda e: self._refresh_pins())
            return combo
        if key in PIN_FIELDS:
            combo = ttk.Combobox(self.form, state="readonly", width=16)
            combo.bind("<<ComboboxSelected>>", lambda e, k=key: self._on_pin_picked(k))
            return combo
        return ttk.Entry(self.form, textvariable=var, width=18)

    def _make_extra(self, key: str) -> tk.Widget | None:
        if secrets.is_secret_key(key):
            return ttk.Checkbutton(
                self.form, text="show", variable=self.show_secret_var, command=self._toggle_secret
            )
        if key == "button_pin":
            return ttk.Checkbutton(
                self.form,
                text="the button has its own pull-up resistor",
                variable=self.pull_up_var,
                command=self._refresh_pins,
            )
        return None

    def _toggle_secret(self) -> None:
        entry = self.secret_entry
        if entry is not None and entry.winfo_exists():
            entry.configure(show="" if self.show_secret_var.get() else MASK)

    # --- pins -------------------------------------------------------------------------------
    def _active_pin_fields(self) -> list[str]:
        sensor = self.values["sensor"].get() if "sensor" in self.values else "dht22"
        keys = self.config_keys()
        active = []
        for key in PIN_FIELDS:
            if key not in keys:
                continue
            if key == "sensor_pin" and sensor not in ("dht22", "dht11"):
                continue
            if key in ("i2c_sda", "i2c_scl") and sensor != "bme280":
                continue
            active.append(key)
        return active

    def _pin_value(self, key: str) -> int | None:
        try:
            return int(self.values[key].get())
        except (KeyError, ValueError):
            return None

    def _refresh_pins(self, wiring_changed: bool = False) -> None:
        """Offer each pin field the pins valid for this board and part; pick the best one.

        A value the person picked (or saved last time) stays while it is valid; a pin the diagram
        wires the part to wins when the wiring changes; otherwise the suggestion is taken.
        """
        diagram = self.diagram()
        # A diagram that was not there before (or another one) wins over earlier picks, once.
        wiring_changed = wiring_changed or diagram is not self._last_diagram
        self._last_diagram = diagram
        self._show_wiring_source(diagram)
        keys = [k for k in PIN_FIELDS if k in self.field_widgets]
        active = self._active_pin_fields()
        config = {k: self.values[k].get() for k in ("sensor",) if k in self.values}
        for key in keys:
            if key not in active:
                continue
            current = self._pin_value(key)
            if current is not None:
                config[key] = current
        for key in keys:
            combo = self.field_widgets[key]
            if key not in active:
                value = self._pin_value(key)
                combo.configure(state="disabled")
                combo.set("" if value is None else str(value))  # kept, greyed, for later
                sensor = config.get("sensor", "")
                self.hint_vars[key].set("not used" if sensor else "")
                self.hint_full[key] = f"Not used with the sensor {sensor}." if sensor else ""
                self._hint_colour(key, HINT_COLOUR)
                self._hide_pin_note(key)
                continue
            try:
                choices = pin_choices(
                    self.board.id,
                    key,
                    config,
                    diagram,
                    external_pull_up=key == "button_pin" and self.pull_up_var.get(),
                )
            except IotkitError as exc:
                self.hint_vars[key].set(str(exc))
                self._hide_pin_note(key)
                continue
            self.pin_choices[key] = choices
            current = self._pin_value(key)
            source = self._pin_source.get(key, "auto")
            if choices.wired is not None and choices.wired in choices.valid:
                if wiring_changed or source == "auto" or current not in choices.valid:
                    current = choices.wired
            elif source == "diagram" and current is not None and current == choices.wired:
                pass  # the diagram's pin, chosen although the checker says it will not work
            elif source == "auto" or current not in choices.valid:
                current = choices.suggested
            labels = [choices.label(g, self.board) for g in choices.offered()]
            combo.configure(values=labels, state="readonly")
            if current is not None:
                self.values[key].set(str(current))
                combo.set(choices.label(current, self.board))
                config[key] = current
            else:
                self.values[key].set("")
                combo.set("")
            self._show_pin_hint(key, choices, current)
        self._place_hints()

    def _show_pin_hint(self, key: str, choices: PinChoices, gpio: int | None) -> None:
        spec = field_spec(key)
        what = spec.what if spec else key
        # Where the form and the diagram disagree, the note under the field says it all; the
        # hint beside the field keeps to the chosen pin's own notes.
        self._show_pin_note(key, choices, gpio, what)
        if gpio is None:
            text, colour = f"no pin on this board can take the {what}", ERROR_COLOUR
        elif choices.problem and gpio == choices.wired:
            text, colour = "⚠ the diagram's pin, may not work", ERROR_COLOUR
        elif gpio == choices.wired:
            text, colour = "✓ wired in the diagram", OK_COLOUR
        elif gpio in choices.warned:
            text, colour = "⚠ " + choices.notes.get(gpio, ""), WARN_COLOUR
        else:
            text, colour = choices.notes.get(gpio, ""), HINT_COLOUR
        self.hint_full[key] = text
        self.hint_vars[key].set(short_note(text))
        self._hint_colour(key, colour)

    def _show_pin_note(self, key: str, choices: PinChoices, gpio: int | None, what: str) -> None:
        """The line under a pin field that says which pin Deploy will use when the diagram wires
        the part elsewhere, why the diagram's pin may not work, and offers it anyway."""
        note = self.pin_notes.get(key)
        if note is None:
            return
        wired = choices.wired
        text, offer, colour = "", False, WARN_COLOUR
        if wired is not None and gpio is not None and gpio != wired:
            text = (
                f"⚠ Deploy will use {gpio_text(gpio, self.board)}; the diagram wires the {what} "
                f"to {gpio_text(wired, self.board)}"
            )
            text += f", which may not work: {choices.problem}" if choices.problem else "."
            offer = True
        elif wired is not None and gpio == wired and choices.problem:
            text = (
                f"⚠ Deploy will use {gpio_text(wired, self.board)}, the diagram's pin, but it may "
                f"not work: {choices.problem}"
            )
            colour = ERROR_COLOUR
        offer_text = ""
        if offer and wired is not None:
            offer_text = f"Use {pin_name(wired, self.board)} from the diagram"
        note.show(text, self._fg(colour), offer_text)

    def _hide_pin_note(self, key: str) -> None:
        note = self.pin_notes.get(key)
        if note is not None:
            note.show("", "", "")

    def _hint_colour(self, key: str, colour: str) -> None:
        label = self.hint_labels.get(key)
        if label is not None:
            label.configure(foreground=self._fg(colour))

    def _on_pin_picked(self, key: str) -> None:
        gpio = gpio_of_text(self.field_widgets[key].get())
        if gpio is not None:
            self.values[key].set(str(gpio))
            choices = self.pin_choices.get(key)
            wired = choices is not None and gpio == choices.wired
            self._pin_source[key] = "diagram" if wired else "user"
        self._refresh_pins()

    def set_pin(self, key: str, gpio: int) -> None:
        """Pick a pin as a click in the combobox would; refused if the list does not offer it
        (the diagram's pin is offered even where the checker says it will not work)."""
        choices = self.pin_choices.get(key)
        if choices is None or gpio not in choices.offered():
            raise ValueError(f"GPIO{gpio} is not offered for {key} on {self.board.id}")
        self.field_widgets[key].set(choices.label(gpio, self.board))
        self._on_pin_picked(key)

    def use_diagram_pin(self, key: str) -> None:
        """The form takes the pin the diagram wires this field's part to (its "Use D34 from
        the diagram" button), even one the checker warns about: the person has been told why."""
        choices = self.pin_choices.get(key)
        if choices is None or choices.wired is None:
            return
        self.set_pin(key, choices.wired)

    def pin_disagreements(self) -> list[tuple[str, int, PinChoices]]:
        """(field, the form's GPIO, its choices) for every active pin field whose GPIO is not
        the one the diagram wires the part to: what Deploy asks about before writing."""
        found = []
        for key in self._active_pin_fields():
            choices = self.pin_choices.get(key)
            gpio = self._pin_value(key)
            if choices is not None and gpio is not None and choices.disagrees(gpio):
                found.append((key, gpio, choices))
        return found

    def _show_wiring_source(self, diagram: Any) -> None:
        if diagram is None:
            self.wiring_var.set("Pins: the board's defaults (no wiring diagram)")
            return
        where = "opened here" if self._diagram_file is not None else "Wiring tab"
        name = Path(str(getattr(diagram, "source", "") or "diagram")).name
        drawn = getattr(getattr(diagram, "board", None), "id", None)
        other = f", drawn for {drawn}" if drawn and drawn != self.board.id else ""
        self.wiring_var.set(f"Pins: as wired in {name} ({where}{other})")

    # --- reading the form -------------------------------------------------------------------
    def collect(self) -> dict[str, Any]:
        """The form as a config dict for the engine; raises FormError naming the bad field."""
        defaults = self._defaults()
        overrides: dict[str, Any] = {}
        for key in self.config_keys():
            text = self.values[key].get().strip()
            default = defaults.get(key)
            label = LABELS.get(key, key)
            if key in PIN_FIELDS:
                if key not in self._active_pin_fields():
                    value = self._pin_value(key)
                    overrides[key] = default if value is None else value
                    continue
                value = self._pin_value(key)
                choices = self.pin_choices.get(key)
                if value is None or (choices is not None and value not in choices.offered()):
                    raise FormError(key, f"{label}: choose a pin from the list.")
                overrides[key] = value
            elif isinstance(default, int) and not isinstance(default, bool):
                try:
                    overrides[key] = int(text)
                except ValueError:
                    raise FormError(key, f"{label} must be a whole number.") from None
            else:
                overrides[key] = text
        try:
            # The engine checks the ranges (ports, pins, interval) with its own rules.
            return dict(self.engine.build_config(self.chosen(), overrides=overrides))
        except IotkitError as exc:
            text = str(exc)
            key = next((k for k in overrides if text.startswith(k + " ")), "")
            if key:
                raise FormError(key, LABELS.get(key, key) + text[len(key) :]) from None
            raise

    def _collect_or_say(self) -> dict[str, Any] | None:
        if not self.chosen():
            self._say("Tick at least one program first.", error=True)
            return None
        try:
            return self.collect()
        except FormError as exc:
            self._say(str(exc), error=True)
            widget = self.field_widgets.get(exc.key)
            if widget is not None:
                widget.focus_set()
            return None
        except IotkitError as exc:
            self._say(self._scrub(str(exc)), error=True)
            return None

    # --- dry run and deploy -----------------------------------------------------------------
    def dry_run(self) -> None:
        """Show what Deploy would send (add/update/unchanged, sizes) and the masked config."""
        self._start("dry run")

    def deploy(self) -> None:
        """Send the changed files and /config.json, restart the board, show its first words."""
        self._start("deploy")

    def _start(self, what: str, *, asked: bool = False) -> None:
        if self.running is not None:
            return  # a second click while the board is busy is ignored
        if self.pin_question is not None:
            self.pin_question.lift_to_front()  # still waiting for the answer
            return
        config = self._collect_or_say()
        if config is None:
            return
        disagreements = self.pin_disagreements()
        if disagreements and what == "deploy" and not asked:
            # The form would contradict the wiring: ask first, write nothing before the answer.
            self._set_status("The form and the diagram disagree about a pin: which one?")
            self.pin_question = self.ask_pins(
                self._pin_question(disagreements), self._on_pin_answer
            )
            self._update_buttons()
            return
        names = self.chosen()
        engine = self.engine
        self._cancel = threading.Event()
        cancel = self._cancel
        runner = self._runner
        dry = what == "dry run"

        def on_event(event: Any) -> None:  # the connection's worker thread: posts only
            # Only the newest of a run of progress figures is worth drawing.
            latest = (id(self), "progress") if getattr(event, "kind", "") == "progress" else None
            runner.post(self._on_event, event, latest=latest)

        def work(link: Any) -> Any:  # the connection's worker thread
            result, _used = engine.deploy_templates(
                link, names, config, dry_run=dry, reset=True, on_event=on_event, cancel=cancel
            )
            return result

        self.running = what
        # Known to the whole process from now on: the Console, the Plot and the logs mask it too.
        secrets.remember(*secrets.secret_values(config))
        self._deployed_config = engine.masked(config)
        self.progress.configure(value=0, maximum=1, style="Deploy.Horizontal.TProgressbar")
        self._clear_log()
        self.next_step = ""
        self.plot_button.configure(style="TButton")
        self._log(
            f"{'Dry run' if dry else 'Deploying'}: {', '.join(names)} to {self.board.name}", "head"
        )
        for key, gpio, choices in disagreements:
            if dry:  # the dry run writes nothing: it says what Deploy will ask about
                self._log(self._disagreement_line(key, gpio, choices), "warn")
        self._set_status("Checking what is on the board…" if dry else "Deploying…")
        self._update_buttons()
        if self.ctx is None:
            self._finish(what, names, None, IotkitError("No board connection in this window."))
            return
        # Posted, not called: the result is shown after the events the deploy posted before it
        # returned, even where the host's connection delivers results by another route.
        self.ctx.connection.call_with_link(
            work, lambda result, exc: runner.post(self._finish, what, names, result, exc)
        )

    # --- asking when the form and the diagram disagree ----------------------------------------
    def _disagreement_line(self, key: str, gpio: int, choices: PinChoices) -> str:
        assert choices.wired is not None
        line = (
            f"{LABELS.get(key, key)}: the form says {gpio_text(gpio, self.board)}, "
            f"the diagram says {gpio_text(choices.wired, self.board)}."
        )
        if choices.problem:
            line += f" The diagram's pin may not work: {choices.problem}"
        return line

    def _pin_question(self, found: list[tuple[str, int, PinChoices]]) -> PinQuestion:
        """The words of the question Deploy asks, and which answer is the better one."""
        lines = [self._disagreement_line(key, gpio, choices) for key, gpio, choices in found]
        single = len(found) == 1
        wired = [choices.wired for _, _, choices in found]
        form_answer = f"Deploy with GPIO{found[0][1]}" if single else "Deploy with the form's pins"
        diagram_answer = (
            f"Use the diagram's pin (GPIO{wired[0]})" if single else "Use the diagram's pins"
        )
        # The better answer has the focus: the diagram's pin unless the checker says it fails.
        broken = any(choices.problem for _, _, choices in found)
        return PinQuestion(
            title="The form and the diagram disagree",
            text="\n\n".join(
                [
                    *lines,
                    "Either answer deploys with the pins it names; Cancel writes nothing.",
                ]
            ),
            answers={"form": form_answer, "diagram": diagram_answer, "cancel": "Cancel"},
            default="form" if broken else "diagram",
        )

    def _ask_pins_dialog(
        self, question: PinQuestion, on_answer: Callable[[str], None]
    ) -> PinDialog:
        return PinDialog(self, question, on_answer)

    def _on_pin_answer(self, answer: str) -> None:
        """The person answered the pin question ("form", "diagram" or "cancel")."""
        found = self.pin_disagreements()
        self.pin_question = None
        if self._closed:
            return
        log.info("deploy pin question answered: %s", answer)
        if answer == "diagram":
            for key, _gpio, _choices in found:
                self.use_diagram_pin(key)
            self._start("deploy", asked=True)
        elif answer == "form":
            self._start("deploy", asked=True)
        else:
            self._update_buttons()
            self._set_status("Deploy cancelled: nothing was sent to the board.")

    def cancel(self) -> None:
        """Stop the deploy between two files; the board keeps what it had for the rest."""
        if self.running is not None:
            self._cancel.set()
            self._set_status("Cancelling after the current file…")

    def _finish(self, what: str, names: list[str], result: Any, exc: BaseException | None) -> None:
        """The worker is done (Tk thread, posted from call_with_link's on_done)."""
        if self._closed:
            return
        self.running = None
        if exc is not None:
            text = self._scrub(describe_error(exc, what="the deploy"))
            self.progress.configure(style="DeployFailed.Horizontal.TProgressbar")
            self._say(text, error=True)
            self._update_buttons()
            return
        self.last_result = result
        if what == "dry run":
            self._show_plan(result)
        else:
            self._show_deployed(result, names)
        self._update_buttons()

    def _check_platform(self, result: Any) -> None:
        """Say so when the board is of another family than the board type the pins are for."""
        platform = str(getattr(getattr(result, "board", None), "platform", "") or "")
        chip = self.board.chip
        family = "rp2" if chip.startswith("rp2") else "esp8266" if chip == "esp8266" else "esp32"
        if platform in PLATFORMS and platform != family:
            self._log(
                f"The connected board runs MicroPython for {platform}, but the pins were chosen "
                f"for the {self.board.name}: pick the right board type at the top.",
                "error",
            )

    def _show_plan(self, result: Any) -> None:
        self._check_platform(result)
        changes = list(getattr(result, "changes", []) or [])
        lines = [self._change_line(c) for c in changes]
        sending = [c for c in changes if c.action != "unchanged"]
        total = sum(int(c.size) for c in sending)
        summary = (
            f"Deploy would send {len(sending)} of {len(changes)} files ({size_text(total)}); "
            f"{len(changes) - len(sending)} are already up to date."
        )
        config_text = json.dumps(self._deployed_config, indent=2, sort_keys=True)
        for line in lines:
            self._log(line)
        self._log("/config.json (passwords masked):", "head")
        for line in config_text.splitlines():
            self._log("  " + line)
        self._log(summary, "ok")
        self.last_plan_text = "\n".join([*lines, config_text, summary])
        self.progress.configure(value=0)
        self._set_status(f"Dry run: nothing was sent. {summary}")

    @staticmethod
    def _change_line(change: Any) -> str:
        return f"{change.action:<9} {change.dest:<34} {size_text(int(change.size)):>9}"

    def _show_deployed(self, result: Any, names: list[str]) -> None:
        self._check_platform(result)
        changes = list(getattr(result, "changes", []) or [])
        sent = [c for c in changes if c.action != "unchanged"]
        seconds = float(getattr(result, "seconds", 0.0) or 0.0)
        summary = (
            f"Deployed {len(sent)} changed file{'s' * (len(sent) != 1)} "
            f"({size_text(int(getattr(result, 'sent_bytes', 0) or 0))}) in {seconds:.1f} s; "
            f"{len(changes) - len(sent)} unchanged."
        )
        self.progress.configure(
            value=self.progress.cget("maximum"), style="DeployDone.Horizontal.TProgressbar"
        )
        output = self._scrub(str(getattr(result, "first_output", "") or ""))
        if output.strip() and output.strip() not in self._output_seen:
            self._log("The board says:", "head")
            for line in output.strip().splitlines():
                self._log("  " + line, "board")
        self._output_seen += output
        self._log(summary, "ok")
        self._deployed_web = "web" in names
        self.dashboard = None
        if self._deployed_web:
            self.dashboard = dashboard_url(self._output_seen, self._deployed_config)
            if self.dashboard:
                self._log(f"Dashboard: {self.dashboard}", "ok")
        self._set_status(summary)
        self._save(self.board.id)
        self._show_next_step(names)

    def _show_next_step(self, names: list[str]) -> None:
        """After a deploy, where to go next: the readings the sensor program prints go to the
        Plot, so its button is made prominent and takes the focus (Space/Enter presses it)."""
        if "sensor" in names:
            self.next_step = "Next: watch the readings → press Plot readings."
            self._log(self.next_step, "next")
            self.plot_button.configure(style="Next.TButton")
            self.plot_button.focus_set()
        else:
            self.next_step = "Next: the Console shows what the board prints."
            self._log(self.next_step, "next")

    def _watch_output(self, data: bytes) -> None:
        """After a deploy with the web program, the board's later lines may name the dashboard."""
        text = self._line_buffer + data.decode("utf-8", "replace")
        *lines, self._line_buffer = text.split("\n")
        self._line_buffer = self._line_buffer[-4096:]
        for line in lines:
            if "web: dashboard at" in line or WIFI_IP_RE.search(line):
                self._output_seen += line + "\n"
                url = dashboard_url(self._output_seen, self._deployed_config)
                if url and url != self.dashboard:
                    self.dashboard = url
                    self._log(f"Dashboard: {url}", "ok")
                    self._update_buttons()

    def dashboard_address(self) -> str | None:
        """Where Open dashboard goes: the board's own words, else its IP with the config's port."""
        if self.dashboard:
            return self.dashboard
        if self._deployed_web:
            return dashboard_url(self._output_seen, self._deployed_config)
        return None

    def open_dashboard(self) -> None:
        url = self.dashboard_address()
        if not url:
            self._say(
                "The board has not said its address yet: wait until it joins the Wi-Fi "
                "(the Console shows 'web: dashboard at …').",
                error=True,
            )
            return
        self._set_status(f"Opening {url} in the browser…")
        # A browser launch can take a moment: never in the Tk thread.
        self._runner.run(lambda: webbrowser.open(url), name="open the dashboard")

    def plot_readings(self) -> None:
        hook = getattr(self.ctx, "show_panel", None)
        if not (callable(hook) and hook("Plot")):
            self._say("This window has no Plot panel.", error=True)

    # --- events from the worker (posted to the Tk thread by the runner) ----------------------
    def _on_event(self, event: Any) -> None:
        kind = getattr(event, "kind", "")
        text = self._scrub(str(getattr(event, "text", "") or ""))
        if kind == "progress":
            total = int(getattr(event, "total", 0) or 0)
            done = int(getattr(event, "done", 0) or 0)
            if total > 0:
                self.progress.configure(maximum=total, value=min(done, total))
                percent = 100 * done // total
                self._set_status(f"{text or 'Sending'} — {percent} %")
        elif kind == "stage":
            self._log(text, "head")
            self._set_status(text)
        elif kind == "file":
            path = getattr(event, "path", None) or ""
            self._log(f"  {text} {path}".rstrip())
        elif kind == "output":
            self._output_seen += text + ("" if text.endswith("\n") else "\n")
            for line in text.rstrip("\n").splitlines():
                self._log("  " + line, "board")
        # "done": the panel writes its own summary when the result arrives.

    # --- log, status and buttons ------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        """Whatever reaches a widget or the log: every known secret, and the one typed in the
        form (not yet deployed), is masked in every form a program can print it."""
        return secrets.mask_text(text, extra=self._secrets_in_form())

    def _secrets_in_form(self) -> set[str]:
        return {var.get() for key, var in self.values.items() if secrets.is_secret_key(key)}

    def _log(self, line: str, tag: str = "") -> None:
        line = self._scrub(line)
        self.log_text.configure(state="normal")
        self.log_text.insert("end", line.rstrip() + "\n", (tag,) if tag else ())
        lines = int(self.log_text.index("end-1c").split(".")[0])
        if lines > MAX_LOG_LINES:
            self.log_text.delete("1.0", f"{lines - MAX_LOG_LINES}.0")
        self.log_text.configure(state="disabled")
        self.log_text.see("end")

    def _clear_log(self) -> None:
        self.log_text.configure(state="normal")
        self.log_text.delete("1.0", "end")
        self.log_text.configure(state="disabled")
        self._output_seen = ""

    def log_content(self) -> str:
        return self.log_text.get("1.0", "end-1c")

    def _set_status(self, text: str) -> None:
        text = self._scrub(text)
        self.status_var.set(text)
        self._status_role = ""
        self.status_label.configure(foreground="")
        if self.ctx is not None:
            self.ctx.set_status(text)

    def _say(self, text: str, error: bool = False) -> None:
        self._set_status(text)
        if error:
            self._status_role = ERROR_COLOUR
            self.status_label.configure(foreground=self._fg(ERROR_COLOUR))
            self._log(text, "error")

    def _update_buttons(self) -> None:
        busy = self.running is not None or self.pin_question is not None
        ready = "disabled" if busy or not self._user_chosen else "normal"
        self.dry_button.configure(state=ready)
        self.deploy_button.configure(state=ready)
        self.cancel_button.configure(state="normal" if self.running == "deploy" else "disabled")
        web = self._deployed_web and self.dashboard_address() is not None and self.running is None
        self.dashboard_button.configure(state="normal" if web else "disabled")

    # --- saved settings (kept by the engine: companion_app/device/settings.py) ---------------
    def _save(self, board_id: str) -> None:
        """Keep this board's programs and settings for the next session; the engine drops every
        secret before anything is written."""
        keys = self.config_keys()
        values = {k: v.get() for k, v in self.values.items() if k in keys}
        try:
            saved_settings.save_settings(board_id, self._user_chosen, values, self._config_dir)
        except OSError as exc:
            log.debug("could not save the deploy settings: %s", exc)

    def _load_saved(self, board_id: str) -> None:
        saved = saved_settings.load_settings(board_id, self._config_dir)
        if saved is None:
            for key in PIN_FIELDS:
                self._pin_source[key] = "auto"
            return
        chosen = [n for n in saved.programs if n in self.infos]
        if chosen:
            self._user_chosen = set(chosen)
        for key, value in saved.values.items():
            self.values.setdefault(key, tk.StringVar()).set(str(value))
            if key in PIN_FIELDS:
                self._pin_source[key] = "saved"

    # --- closing ----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop a running deploy between two files; nothing the worker posts reaches us after."""
        self._closed = True
        self._cancel.set()
        if self.pin_question is not None and hasattr(self.pin_question, "answer"):
            self.pin_question.answer("cancel")  # the question goes with the panel
        self._runner.close()
        if self.ctx is not None:
            self.ctx.connection.remove_listener(self._on_connection_event)


__all__ = ["DeployPanel", "FormError", "dashboard_url"]
