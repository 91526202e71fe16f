"""The companion window under Xvfb, against a real virtual board (the MicroPython unix port).

Keys are typed as X key events into the Console, exactly as a person would; the window is
screenshotted and the picture is checked for being a real, unclipped window.
"""

from __future__ import annotations

import re
import tkinter as tk
from dataclasses import dataclass
from tkinter import ttk

import pytest
from gui_helpers import (
    distinct_colours,
    grab_window,
    press_key,
    pump,
    type_text,
    wait_posted,
)
from waiting import wait_until_tk

from companion_app.gui import look
from companion_app.gui.app import CompanionApp, DeviceConnection, PanelContext
from companion_app.gui.console import ConsolePanel, TerminalParser, paste_bytes

CONNECT_TIMEOUT = 30.0
CONTROL = 0x4  # the Control bit of an X key event's state


# --- pure parts: no display needed ------------------------------------------------------------
def test_parser_turns_erase_and_cursor_sequences_into_operations():
    ops = TerminalParser().feed(b">>> ab\x08\x1b[K\x1b[3D\x1b[2Cx\x1b[1;31mred\x1b[0m\r\n")
    assert ops == [
        ("text", ">>> ab"),
        ("left", 1),
        ("erase_line", 0),
        ("left", 3),
        ("right", 2),
        ("text", "x"),
        ("text", "red"),
        ("cr",),
        ("lf",),
    ]


def test_parser_keeps_escape_sequences_and_utf8_split_across_chunks():
    parser = TerminalParser()
    ops = parser.feed(b"a\x1b[") + parser.feed(b"K\xc3") + parser.feed(b"\xa9")
    assert ops == [("text", "a"), ("erase_line", 0), ("text", "é")]


def test_parser_replaces_bytes_that_are_not_utf8_instead_of_failing():
    ops = TerminalParser().feed(b"ok \xff\xfe garbage\r\n")
    assert ops[0] == ("text", "ok \ufffd\ufffd garbage")


def test_single_line_paste_is_sent_as_typed():
    assert paste_bytes("print(1)") == b"print(1)"
    assert paste_bytes("print(1)\n") == b"print(1)\r"


def test_multi_line_paste_uses_paste_mode_with_cr_line_ends():
    data = paste_bytes("def f():\r\n    return 1\r\n")
    assert data == b"\x05def f():\r    return 1\r\x04"


# --- fixtures ---------------------------------------------------------------------------------
@pytest.fixture
def app(root, tmp_path, monkeypatch):
    """The companion window with no hardware plugged in: it must start a virtual board."""
    from companion_app.simulator import VirtualBoard

    def virtual_board(board: str):
        return VirtualBoard(board=board, flash_dir=str(tmp_path / "flash"))

    app = CompanionApp(root, list_ports=lambda: [], virtual_board_factory=virtual_board)
    assert pump(root, lambda: app.connection.is_connected, CONNECT_TIMEOUT), app.status_var.get()
    console = app.panel("Console")
    # Wait until the board's REPL answers, whatever it printed before we connected.
    console.text.focus_force()
    type_text(console.text, "\n")
    assert pump(
        root, lambda: console.text_content().rstrip().endswith(">>>"), 10
    ), console.text_content()
    yield app
    app.close()


def console_of(app: CompanionApp) -> ConsolePanel:
    console = app.panel("Console")
    assert isinstance(console, ConsolePanel)
    return console


def wait_for(app: CompanionApp, needle: str, timeout: float = 10.0, after: int = 0) -> None:
    """Wait until the Console shows `needle` after position `after`; fails with what it shows."""
    console = console_of(app)
    try:
        wait_until_tk(
            app.root,
            lambda: needle in console.text_content()[after:],
            timeout,
            f"{needle!r} in the Console",
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}; it shows: {console.text_content()[after:]!r}") from None


def wait_looping(app: CompanionApp, start: int) -> None:
    """Wait until the board echoed the empty line that ends ``while True: pass``.

    The REPL echoes that line before it runs the block, so from here on the loop runs; no
    prompt may follow until someone interrupts it.
    """
    console = console_of(app)
    wait_until_tk(
        app.root,
        lambda: re.search(r"while True: pass\n\.\.\. *\n", console.text_content()[start:]),
        10,
        "the board to echo the end of the loop's block",
    )
    wait_posted(app.root)  # whatever the board sent with the echo has been shown
    shown = console.text_content()[start:]
    assert "KeyboardInterrupt" not in shown and not shown.rstrip().endswith(">>>"), shown


# --- the window against a virtual board -------------------------------------------------------
def test_typed_code_runs_on_the_virtual_board_and_the_window_looks_right(app):
    console = console_of(app)
    status = app.status_var.get()
    assert "virtual board esp32-devkit-v1" in status
    assert "no hardware found" in status
    assert app.virtual_board.port in status

    start = len(console.text_content())
    type_text(console.text, "print(6*7)\n")
    wait_for(app, "42", after=start)
    # The board echoed what was typed, so the line shows as typed, once.
    assert console.text_content()[start:].count("print(6*7)") == 1
    pump(app.root, lambda: console.text_content().rstrip().endswith(">>>"), 3)

    image = grab_window(app.root, "companion-console", also_docs=True)
    assert image.size == (app.root.winfo_width(), app.root.winfo_height())
    assert image.size[0] >= 640 and image.size[1] >= 400
    assert distinct_colours(image) > 30  # text, buttons, dark console: not a blank rectangle


def test_interrupt_button_stops_an_endless_loop(app):
    console = console_of(app)
    start = len(console.text_content())
    type_text(console.text, "while True: pass\n\n")
    wait_looping(app, start)
    console.interrupt_button.invoke()
    wait_for(app, "KeyboardInterrupt", after=start)
    # The REPL is usable again afterwards.
    mark = len(console.text_content())
    type_text(console.text, "print(1+1)\n")
    wait_for(app, "2\n", after=mark)

    # Ctrl-C typed in the console (nothing selected) interrupts too.
    mark = len(console.text_content())
    type_text(console.text, "while True: pass\n\n")
    wait_looping(app, mark)
    press_key(console.text, "c", state=CONTROL)
    wait_for(app, "KeyboardInterrupt", after=mark)


def test_multi_line_paste_defines_a_working_function(app):
    console = console_of(app)
    start = len(console.text_content())
    code = "def area(w, h):\n    if w < 0:\n        return 0\n    return w * h\n"
    app.root.clipboard_clear()
    app.root.clipboard_append(code)
    console.text.focus_force()
    console.text.event_generate("<<Paste>>")
    pump(app.root, lambda: console.text_content().rstrip().endswith(">>>"), 5)
    type_text(console.text, "print(area(6, 7))\n")
    wait_for(app, "42", after=start)
    shown = console.text_content()[start:]
    assert "IndentationError" not in shown and "SyntaxError" not in shown, shown
    # Paste mode shows each line once, with its own indentation only.
    assert "        return 0" in shown and "            return 0" not in shown, shown
    grab_window(app.root, "companion-paste")


def test_board_going_away_says_so_keeps_the_text_and_reconnects(app):
    console = console_of(app)
    type_text(console.text, "print('kept' + '!')\n")
    wait_for(app, "kept!")

    app.virtual_board.stop()
    assert pump(app.root, lambda: app.connection.state == "disconnected", 10)
    # The Console says so in its text and in a banner with a Reconnect button.
    assert pump(
        app.root,
        lambda: console.banner.winfo_ismapped() and "Disconnected" in console.text_content(),
    ), console.text_content()
    text = console.text_content()
    assert "kept!" in text  # nothing the user saw is lost
    assert "Disconnected" in text
    assert "Traceback" not in text
    assert "Disconnected from virtual board" in app.status_var.get()
    assert "Reconnect" in app.status_var.get()
    assert console.banner.winfo_ismapped()
    assert not console.next_row.winfo_ismapped()  # no "Next: Deploy" with no board to deploy to
    # The banner's red reads on the window's background (WCAG AA, 4.5:1).
    background = look.palette(console).background
    assert look.contrast_ratio(console, console.banner_label.cget("foreground"), background) >= 4.5
    grab_window(app.root, "companion-disconnected")

    console.reconnect_button.invoke()
    assert pump(app.root, lambda: app.connection.is_connected, CONNECT_TIMEOUT)
    type_text(console.text, "\n")
    mark = len(console.text_content())
    type_text(console.text, "print(6*7)\n")
    wait_for(app, "42", after=mark)
    assert "kept!" in console.text_content()
    assert console.next_row.winfo_ismapped()  # connected again: the next step is back


# --- the path through the tabs, and colours that read (issue 15) ------------------------------
def test_once_connected_the_console_points_to_deploy_in_one_line(app):
    from companion_app.gui.console import NEXT_PANEL, NEXT_STEP

    console = console_of(app)
    assert pump(app.root, console.next_row.winfo_ismapped, 5)
    assert console.next_label.cget("text") == NEXT_STEP
    # One quiet line: the label and its button side by side, no taller than a button.
    assert console.next_row.winfo_height() <= console.next_button.winfo_reqheight() + 8
    grab_window(app.root, "companion-console-next-step")
    console.next_button.invoke()
    assert app.notebook.tab(app.notebook.select(), "text") == NEXT_PANEL == "Deploy"
    assert isinstance(app.panel("Deploy"), tk.Widget)  # built on the way


def test_console_words_without_a_window_to_switch_tabs_in(root):
    from companion_app.gui.console import NEXT_STEP_NO_TABS

    connection = DeviceConnection(root)
    console = ConsolePanel(root, connection)  # no show_panel: words only
    console.pack(fill="both", expand=True)
    try:
        console._on_connection_event("connected", "socket://127.0.0.1:1")
        assert pump(root, console.next_row.winfo_ismapped, 5)
        assert console.next_button is None
        assert console.next_label.cget("text") == NEXT_STEP_NO_TABS
    finally:
        console.destroy()
        connection.close()


def test_console_notices_and_banner_reach_4_5_to_1_in_a_light_and_a_dark_theme(root):
    from companion_app.gui.console import TEXT_BACKGROUND

    connection = DeviceConnection(root)
    console = ConsolePanel(root, connection, show_panel=lambda title: True)
    console.pack(fill="both", expand=True)
    try:

        def ratios() -> list[float]:
            background = look.palette(console).background
            return [
                look.contrast_ratio(
                    console, console.text.tag_cget(tag, "foreground"), TEXT_BACKGROUND
                )
                for tag in ("notice", "error")
            ] + [
                look.contrast_ratio(console, console.banner_label.cget("foreground"), background),
                look.contrast_ratio(console, console.next_label.cget("foreground"), background),
            ]

        ttk.Style(root).theme_use("clam")
        root.update()
        assert min(ratios()) >= 4.5, ratios()
        style = ttk.Style(root)
        style.theme_create(
            "console-test-dark",
            parent="clam",
            settings={".": {"configure": {"background": "#2d2d2d", "foreground": "#dddddd"}}},
        )
        style.theme_use("console-test-dark")  # <<ThemeChanged>>, as Thonny's theme switch sends
        assert pump(root, lambda: min(ratios()) >= 4.5, 5), ratios()
        assert str(console.banner_label.cget("foreground")) == look.palette(console).error
    finally:
        console.destroy()
        connection.close()


# --- the port picker --------------------------------------------------------------------------
@dataclass
class FakeComport:
    """What pyserial's comports() yields for a USB-serial board."""

    device: str
    vid: int | None
    pid: int | None
    description: str = "USB serial"
    serial_number: str | None = None
    manufacturer: str | None = None


def test_port_picker_shows_board_hints_and_follows_hot_plug(root, monkeypatch):
    from companion_app.device import ports as ports_module

    plugged = [FakeComport("/dev/ttyIOTKITFAKE0", 0x10C4, 0xEA60)]  # CP2102, as on ESP32 DevKits
    real_list_ports = ports_module.list_ports
    monkeypatch.setattr(ports_module, "list_ports", lambda: real_list_ports(plugged))
    hint0 = ports_module.port_info_from_comport(plugged[0]).hint
    assert hint0

    app = CompanionApp(root, port_poll_s=0.1, auto_virtual=False)
    try:
        assert pump(root, lambda: len(app.port_combo.cget("values")) >= 2)
        values = list(app.port_combo.cget("values"))
        assert f"/dev/ttyIOTKITFAKE0 — {hint0}" in values
        assert any(v.startswith("Virtual board") for v in values)
        # The one board found is tried at start; it does not exist, so we get a plain message.
        assert pump(root, lambda: "Could not connect" in app.status_var.get(), 10)
        assert "/dev/ttyIOTKITFAKE0" in app.status_var.get()
        assert "Traceback" not in console_of(app).text_content()
        grab_window(root, "companion-port-picker")

        plugged.append(FakeComport("/dev/ttyIOTKITFAKE1", 0x1A86, 0x7523))  # CH340
        hint1 = ports_module.port_info_from_comport(plugged[1]).hint
        assert pump(
            root, lambda: f"/dev/ttyIOTKITFAKE1 — {hint1}" in app.port_combo.cget("values"), 3
        )
        plugged.clear()
        assert pump(root, lambda: len(app.port_combo.cget("values")) == 1, 3)
    finally:
        app.close()


def test_panels_can_be_added_and_are_built_lazily(root):
    built = []

    def factory(parent: tk.Misc, ctx: PanelContext) -> tk.Widget:
        built.append(ctx)
        return tk.Label(parent, text="hello from a panel")

    app = CompanionApp(root, list_ports=lambda: [], auto_virtual=False)
    try:
        frame = app.add_panel("Extra", factory, lazy=True)
        # The window had its turn: a build that adding the tab queued (an event, an idle task, a
        # post) would have run by now.
        wait_posted(root)
        assert built == []
        app.notebook.select(frame)
        assert pump(root, lambda: bool(built), 2)
        assert isinstance(built[0].connection, DeviceConnection)
        assert app.panel("Extra").cget("text") == "hello from a panel"
        assert [app.notebook.tab(t, "text") for t in app.notebook.tabs()] == [
            "Console",
            "Flash",
            "Wiring",
            "Deploy",
            "Plot",
            "Class",
            "Extra",
        ]
    finally:
        app.close()


def test_console_draws_backspace_erase_and_cursor_moves_like_a_terminal(root):
    class NoConnection:
        is_connected = False

        def add_listener(self, cb):
            pass

    panel = ConsolePanel(root, NoConnection())
    panel.pack()
    # What MicroPython's readline sends for: type "pritn", backspace twice, type "nt(1)".
    panel.feed(b">>> pritn\x08\x1b[K\x08\x1b[Knt(1)\r\n1\r\n>>> ")
    # History recall: the line is redrawn after moving the cursor back.
    panel.feed(b"abc\x1b[3D\x1b[Kxyz")
    assert panel.text_content() == ">>> print(1)\n1\n>>> xyz"


def test_panels_can_borrow_the_link_and_the_console_keeps_working(app):
    console = console_of(app)
    results = []
    app.connection.call_with_link(
        lambda link: link.eval("6 * 7"), lambda result, exc: results.append((result, exc))
    )
    assert pump(app.root, lambda: bool(results), 15), console.text_content()
    assert results == [(42, None)]
    mark = len(console.text_content())
    type_text(console.text, "\nprint('back' * 2)\n")
    wait_for(app, "backback", after=mark)


def test_a_flood_of_output_arrives_whole_in_order_and_in_few_bounded_pieces(root):
    """A board that prints faster than the window draws: its bytes reach the listeners joined
    into a few emits of at most about DATA_BUDGET each (so no tick freezes the window), none
    lost or reordered, and the disconnect that followed them comes after the last one. The link
    is a stand-in: a real board cannot be made to queue exactly this much before Tk runs."""
    import threading

    from companion_app.gui.app import DATA_BUDGET

    chunk_size, count = 32 * 1024, 40  # 1.25 MB: five budgets' worth
    chunks = [bytes([i]) * chunk_size for i in range(count)]
    drained = threading.Event()

    class FloodLink:
        def __init__(self, port: str) -> None:
            self.pending = list(chunks)

        def open(self) -> None:
            pass

        def read_available(self, timeout: float = 0.0) -> bytes:
            if self.pending:
                return self.pending.pop(0)
            drained.set()
            raise OSError("the board went away")

        def write(self, data: bytes) -> None:
            pass

        def close(self) -> None:
            pass

    events: list[tuple[str, object]] = []
    connection = DeviceConnection(root, link_factory=FloodLink)
    connection.add_listener(lambda event, payload: events.append((event, payload)))
    try:
        connection.connect("flood")
        assert drained.wait(10)  # the whole flood is waiting before the window draws any of it
        assert pump(root, lambda: events and events[-1][0] == "disconnected", 10), events[-3:]
    finally:
        connection.close()
    kinds = [kind for kind, _ in events]
    assert kinds[:2] == ["connecting", "connected"] and kinds[-1] == "disconnected"
    data = [payload for kind, payload in events if kind == "data"]
    assert kinds[2:-1] == ["data"] * len(data)
    assert b"".join(data) == b"".join(chunks)  # nothing lost, nothing reordered
    assert all(len(piece) <= DATA_BUDGET + chunk_size for piece in data)
    assert len(data) <= count * chunk_size // DATA_BUDGET + 1  # joined, not one emit per read


def test_closing_while_the_virtual_board_starts_stops_it(root):
    import threading

    started, stopped = threading.Event(), []

    class SlowBoard:
        port = "/dev/null"

        def __init__(self, board):
            self.board = board

        def start(self):
            started.set()
            threading.Event().wait(0.5)

        def stop(self):
            stopped.append(self)

    app = CompanionApp(root, list_ports=lambda: [], virtual_board_factory=SlowBoard)
    assert pump(root, started.is_set, 5)
    app.close()
    assert len(stopped) == 1


def test_ctrl_c_copies_the_selection_instead_of_interrupting(root):
    sent = []

    class RecordingConnection:
        is_connected = True

        def add_listener(self, cb):
            pass

        def write(self, data):
            sent.append(data)

    panel = ConsolePanel(root, RecordingConnection())
    panel.pack()
    panel.feed(b">>> print(6*7)\r\n42\r\n>>> ")
    panel.text.tag_add("sel", "1.4", "1.14")
    press_key(panel.text, "c", state=CONTROL)
    assert root.clipboard_get() == "print(6*7)"
    assert sent == []
    panel.text.tag_remove("sel", "1.0", "end")
    press_key(panel.text, "c", state=CONTROL)
    assert sent == [b"\x03"]
