"""The Class panel under Xvfb, running the real class engine on real virtual boards.

Nothing is faked between the panel and the boards: a class file in tmp_path lists two virtual
ESP32s (the MicroPython unix port, started as a virtual classroom) and a third seat whose port
does not exist; Deploy all runs `companion_app.classroom.runner.run_class`, which deploys the mqtt
template to each board in its own thread, and the test reads each board's flash folder. Tk is
watched for calls from those threads (`ThreadCheckingTk`), the Wi-Fi password is looked for in
every widget, and the panel is screenshotted at 1024×768, zoom 1.0 and 1.5, light and dark.
"""

from __future__ import annotations

import json
import tkinter as tk
from pathlib import Path
from tkinter import ttk

import pytest
from gui_helpers import ThreadCheckingTk, grab_window, pump, require_display, wait_posted
from layout_check import check
from mosquitto_helpers import mosquitto  # noqa: F401
from secret_helpers import WIFI_PASSWORD, assert_no_secret

from companion_app.gui import look
from companion_app.gui.class_panel import ClassPanel, PanelPrefs, run_summary, summary_text

RUN_TIMEOUT = 180.0  # two deploys side by side on a loaded two-core machine
LOAD_TIMEOUT = 20.0
WRONG_PORT = "/dev/ttyIOTKIT-not-here"
SSID = "iotkit-lab"


def class_text(ports: list[str], broker_port: int = 1883) -> str:
    seats = [
        f'[[boards]]\nname = "seat-{i + 1:02d}"\nport = "{port}"\n' for i, port in enumerate(ports)
    ]
    return (
        'name = "lab-c6"\n'
        f'broker = "mqtt://127.0.0.1:{broker_port}"\n'
        'templates = ["mqtt"]\n'
        "[settings]\n"
        f'wifi_ssid = "{SSID}"\n'
        f"wifi_password = {json.dumps(WIFI_PASSWORD)}\n"
        'sensor = "dht22"\n'
        "sensor_pin = 14\n" + "".join(seats)
    )


def all_texts(widget: tk.Misc) -> list[str]:
    """Every text a person can see in `widget`: labels, entries, buttons, table cells."""
    found = []
    stack = [widget]
    while stack:
        w = stack.pop()
        stack.extend(w.winfo_children())
        for option in ("text", "textvariable"):
            try:
                value = w.cget(option)
            except tk.TclError:
                continue
            if option == "textvariable" and value:
                found.append(str(w.getvar(str(value))))
            elif value:
                found.append(str(value))
        if w.winfo_class() == "TEntry":
            found.append(w.get())
        if w.winfo_class() == "Treeview":
            for iid in w.get_children():
                found.extend(str(v) for v in w.item(iid, "values"))
        if w.winfo_class() == "Text":
            found.append(w.get("1.0", "end-1c"))
    return found


# --- pure parts: no display needed ------------------------------------------------------------
class _Board:
    def __init__(self, board: str, result: str, error: str | None = None) -> None:
        self.board, self.result, self.error = board, result, error


def test_the_run_summary_counts_results_and_names_the_first_failure():
    results = [
        _Board("seat-01", "ok"),
        _Board("seat-02", "failed", "not plugged in: no /dev/ttyUSB9."),
        _Board("seat-03", "skipped"),
        _Board("seat-04", "failed", "timeout"),
    ]
    text = run_summary("deploy", results, 12.34)
    assert text.startswith("Deploy: 1 ok, 2 failed, 1 skipped in 12.3 s.")
    assert "seat-02: not plugged in: no /dev/ttyUSB9." in text
    assert "and 1 more" in text
    assert run_summary("flash", results[:1], 1.0) == "Flash: 1 ok, 0 failed, 0 skipped in 1.0 s."


def test_the_summary_names_the_network_but_never_the_password(tmp_path):
    from companion_app.classroom.classfile import load_class_file

    path = tmp_path / "class.toml"
    path.write_text(class_text(["/dev/ttyUSB0", "/dev/ttyUSB1"]), encoding="utf-8")
    text = summary_text(load_class_file(path))
    assert text == (
        f"Class lab-c6 · broker mqtt://127.0.0.1:1883 · programs: mqtt · 2 boards · Wi-Fi {SSID}"
    )
    assert_no_secret(text)


def test_the_remembered_class_file_survives_a_missing_or_broken_prefs_file(tmp_path):
    prefs = PanelPrefs(tmp_path / "cfg")
    assert prefs.load_class_path() is None  # no file yet
    prefs.save_class_path(tmp_path / "class.toml")
    assert PanelPrefs(tmp_path / "cfg").load_class_path() == tmp_path / "class.toml"
    prefs.path.write_text("{not json", encoding="utf-8")
    assert prefs.load_class_path() is None


# --- fixtures ---------------------------------------------------------------------------------
@pytest.fixture
def window(env, monkeypatch):
    """A 1024×768 window (maximised on a projector) whose Tcl calls are watched for calls from
    worker threads."""
    require_display()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(env / "config"))
    root = tk.Tk()
    root.geometry("1024x738+0+0")
    style = ttk.Style(root)
    if "clam" in style.theme_names():
        style.theme_use("clam")  # as the companion window does
    checker = ThreadCheckingTk(root.tk)
    root.tk = checker
    yield root, checker
    try:
        root.destroy()
    except tk.TclError:
        pass


@pytest.fixture
def panel(window, tmp_path):
    root, _checker = window
    p = ClassPanel(root, config_dir=tmp_path / "prefs")
    p.pack(fill="both", expand=True)
    yield p
    p.close()


@pytest.fixture
def virtual_class(tmp_path):
    """Two virtual ESP32s, each with its own flash folder."""
    from companion_app.simulator.classroom import start_virtual_class, stop_virtual_class

    boards = start_virtual_class(2, flash_dir=tmp_path / "flash")
    yield boards
    stop_virtual_class(boards)


def load(panel: ClassPanel, path: Path, remember: bool = False) -> None:
    panel.open_class_file(path, remember=remember)
    assert pump(
        panel, lambda: panel.class_file is not None or panel.error is not None, LOAD_TIMEOUT
    ), panel.status_var.get()


def run_to_end(panel: ClassPanel) -> None:
    """Call right after pressing the button, which starts the run before it returns."""
    assert panel.running is not None, panel.status_var.get()
    assert pump(panel, lambda: panel.running is None, RUN_TIMEOUT), panel.status_var.get()


def row(panel: ClassPanel, board: str) -> dict[str, str]:
    values = panel.tree.item(board, "values")
    return dict(zip(("board", "port", "stage", "result", "time"), (str(v) for v in values)))


# --- the run ----------------------------------------------------------------------------------
def test_deploy_all_sends_the_class_to_every_board_and_a_wrong_port_fails_alone(
    window, panel, virtual_class, tmp_path
):
    root, checker = window
    path = tmp_path / "lab" / "class.toml"
    path.parent.mkdir()
    ports = [vb.port for vb in virtual_class] + [WRONG_PORT]
    path.write_text(class_text(ports), encoding="utf-8")
    load(panel, path)
    assert panel.error is None, panel.error
    assert [row(panel, b)["port"] for b in ("seat-01", "seat-02", "seat-03")] == ports
    assert str(panel.deploy_button.cget("state")) == "normal"

    seen: list[tuple[str, str, str]] = []  # every update the table got, in order
    show_row = panel._show_row

    def watch(p):
        seen.append((p.board, p.stage, p.result))
        show_row(p)

    panel._show_row = watch
    panel.deploy_button.invoke()
    assert str(panel.stop_button.cget("state")) == "normal"
    assert str(panel.deploy_button.cget("state")) == "disabled"
    run_to_end(panel)

    # Live rows: each good board went through stages before its result.
    for board in ("seat-01", "seat-02"):
        stages = [stage for b, stage, result in seen if b == board and not result]
        assert len(set(stages)) >= 2, (board, stages)
        assert row(panel, board)["result"] == "ok", (row(panel, board), panel.details_text(board))
        assert row(panel, board)["time"].endswith(" s")
    # The wrong port fails alone, and says why under the table (it is selected for that).
    bad = row(panel, "seat-03")
    assert bad["result"] == "failed"
    assert panel.selected_board() == "seat-03"
    details = panel.details_var.get()
    assert "seat-03" in details and "not plugged in" in details and WRONG_PORT in details
    assert "1 failed" in panel.status_var.get() and "2 ok" in panel.status_var.get()
    # Each board got its own name and topic (the class file's, not a shared one).
    for i, vb in enumerate(virtual_class, start=1):
        config = json.loads((tmp_path / "flash" / f"board-{i:02d}" / "config.json").read_text())
        assert config["device_name"] == f"seat-{i:02d}"
        assert config["mqtt_topic"] == f"iotkit/lab-c6/seat-{i:02d}/readings"
    # The log of a board opens in a window of its own.
    panel.tree.selection_set("seat-01")
    wait_posted(root)
    assert str(panel.log_button.cget("state")) == "normal"
    panel.log_button.invoke()
    assert pump(root, lambda: panel.log_window is not None, 10), panel.status_var.get()
    assert "class deploy" in panel.log_window.content()
    assert_no_secret(panel.log_window.content())
    panel.log_window.window.destroy()

    for text in all_texts(panel):
        assert_no_secret(text)
    assert checker.offenders == []
    # Nothing cut off at 1024×768, zoom 1.0 and 1.5, light and dark; a screenshot of each.
    shots = screenshots_in_every_look(root, panel)
    assert all(Path(s).is_file() for s in shots)

    # Running again does only what is left: the two good boards are skipped, the bad one fails.
    panel.deploy_button.invoke()
    run_to_end(panel)
    assert [row(panel, b)["result"] for b in ("seat-01", "seat-02", "seat-03")] == [
        "skipped",
        "skipped",
        "failed",
    ]
    assert checker.offenders == []


def screenshots_in_every_look(root: tk.Tk, panel: ClassPanel) -> list[Path]:
    """The panel at zoom 1.0 and 1.5, in the light theme and a dark one: nothing cut off
    (layout_check), and a screenshot of each for a person to look at."""
    from gui_helpers import ARTIFACTS
    from test_plot_look import near_white_share, use_dark_theme

    shots = []
    problems = []
    for theme in ("light", "dark"):
        if theme == "dark":
            use_dark_theme(root)
        for zoom in (1.0, 1.5):
            look.set_zoom(root, zoom)
            wait_posted(root)
            root.update_idletasks()
            wait_posted(root)
            tag = f"class-tab-{theme}-zoom{zoom:g}"
            image = grab_window(root, tag, also_docs=(theme, zoom) == ("light", 1.0))
            problems += [f"{tag}: {p}" for p in check(root)]
            if theme == "dark":
                assert near_white_share(image) < 0.05, tag
                # The red lines follow the theme: readable on its dark background.
                pal = look.palette(panel)
                for label in (panel.status_label, panel.details_label):
                    colour = str(label.cget("foreground")) or pal.foreground
                    assert look.contrast_ratio(panel, colour, pal.background) >= 4.5, (tag, label)
            shots.append(ARTIFACTS / f"{tag}.png")
    look.set_zoom(root, 1.0)
    assert not problems, "\n".join(problems)
    return shots


# --- a broken class file ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, words",
    [
        ('name = "lab"\nbroker = "mqtt://127.0.0.1:1883"\ntemplates = ["mqtt"\n', "not valid TOML"),
        (class_text(["/dev/ttyUSB0", "/dev/ttyUSB0"]), "same port"),
        (
            class_text(["/dev/ttyUSB0", "/dev/ttyUSB1"]).replace('"seat-02"', '"seat-01"'),
            "used twice",
        ),
    ],
    ids=["malformed", "duplicate-port", "duplicate-name"],
)
def test_a_broken_class_file_is_one_clear_sentence_in_the_panel(
    window, panel, tmp_path, text, words
):
    root, checker = window
    path = tmp_path / "class.toml"
    path.write_text(text, encoding="utf-8")
    load(panel, path)
    assert panel.class_file is None
    error = panel.error_var.get()
    assert words in error, error
    assert str(path) in error and "\n" not in error.strip()
    assert panel.error_label.winfo_ismapped()
    # In the theme's error colour, and not a dialog: no other window opened.
    assert str(panel.error_label.cget("foreground")) == look.palette(panel).error
    assert not [w for w in root.winfo_children() if isinstance(w, tk.Toplevel)]
    for button in (panel.deploy_button, panel.flash_button, panel.dashboard_button):
        assert str(button.cget("state")) == "disabled"
    assert panel.tree.get_children() == ()
    for shown in all_texts(panel):
        assert_no_secret(shown)
    # Fixed and reloaded: the error goes, the boards come.
    path.write_text(class_text(["/dev/ttyUSB0", "/dev/ttyUSB1"]), encoding="utf-8")
    panel.reload_button.invoke()
    assert pump(panel, lambda: panel.class_file is not None, LOAD_TIMEOUT), panel.error
    assert panel.error_var.get() == "" and not panel.error_label.winfo_ismapped()
    assert panel.tree.get_children() == ("seat-01", "seat-02")
    assert checker.offenders == []


def test_the_class_file_is_remembered_for_the_next_session(window, tmp_path):
    root, _checker = window
    path = tmp_path / "class.toml"
    path.write_text(class_text(["/dev/ttyUSB0"]), encoding="utf-8")
    first = ClassPanel(root, config_dir=tmp_path / "prefs")
    load(first, path, remember=True)
    first.close()
    first.destroy()
    again = ClassPanel(root, config_dir=tmp_path / "prefs")
    again.pack(fill="both", expand=True)
    assert pump(again, lambda: again.class_file is not None, LOAD_TIMEOUT), again.status_var.get()
    assert again.path_var.get() == str(path)
    assert again.tree.get_children() == ("seat-01",)
    again.close()


# --- Flash all… -------------------------------------------------------------------------------
def test_flash_all_asks_for_the_firmware_and_that_answer_is_the_confirmation(
    window, panel, tmp_path
):
    root, checker = window
    path = tmp_path / "class.toml"
    path.write_text(class_text(["/dev/ttyUSB0", "/dev/ttyUSB1"]), encoding="utf-8")
    load(panel, path)
    panel.flash_button.invoke()
    dialog = panel.flash_question
    assert dialog is not None and dialog.window.winfo_exists()
    assert str(dialog.flash_button.cget("text")) == "Flash 2 boards"
    assert str(panel.deploy_button.cget("state")) == "disabled"  # one question at a time
    # Nothing chosen: the dialog says so and stays.
    dialog.flash_button.invoke()
    assert "firmware file" in dialog.problem_var.get()
    assert panel.flash_question is dialog
    # Cancel touches no board.
    dialog.cancel_button.invoke()
    assert panel.flash_question is None and panel.running is None
    assert "cancelled" in panel.status_var.get()
    assert row(panel, "seat-01")["result"] == ""
    # A file that is no firmware is refused before any board is touched: one sentence.
    junk = tmp_path / "notes.bin"
    junk.write_bytes(b"this is not a firmware image" * 10)
    panel.flash_button.invoke()
    panel.flash_question.file_var.set(str(junk))
    panel.flash_question.flash_button.invoke()
    assert pump(panel, lambda: panel.running is None and panel.status_var.get(), RUN_TIMEOUT)
    status = panel.status_var.get()
    assert str(panel.status_label.cget("foreground")) == look.palette(panel).error, status
    assert "notes.bin" in status or "image" in status.lower(), status
    assert row(panel, "seat-01")["result"] == ""  # the rows say nothing ran
    assert str(panel.flash_button.cget("state")) == "normal"
    # A version needs the board type, which this class file does not give: it says how.
    panel.flash_button.invoke()
    panel.flash_question.kind.set("version")
    panel.flash_question.version_var.set("1.24.1")
    panel.flash_question.flash_button.invoke()
    run_to_end(panel)
    assert "board type" in panel.status_var.get() and "board =" in panel.status_var.get()
    assert row(panel, "seat-02")["result"] == ""
    assert checker.offenders == []


def test_a_missing_wifi_password_stops_deploy_all_with_one_sentence_before_any_board(
    window, panel, tmp_path, monkeypatch
):
    """The file names an environment variable for the password that is not set: the class
    still opens (flashing and the dashboard need no password), but Deploy all says what to do
    and touches no board."""
    root, checker = window
    monkeypatch.delenv("IOTKIT_C6_UNSET_PASSWORD", raising=False)
    text = class_text(["/dev/ttyUSB0", "/dev/ttyUSB1"]).replace(
        f"wifi_password = {json.dumps(WIFI_PASSWORD)}",
        'wifi_password_env = "IOTKIT_C6_UNSET_PASSWORD"',
    )
    path = tmp_path / "class.toml"
    path.write_text(text, encoding="utf-8")
    load(panel, path)
    assert panel.error is None and panel.class_file is not None, panel.error
    panel.deploy_button.invoke()
    run_to_end(panel)
    status = panel.status_var.get()
    assert "IOTKIT_C6_UNSET_PASSWORD" in status and "not set" in status, status
    assert str(panel.status_label.cget("foreground")) == look.palette(panel).error
    assert [row(panel, b)["result"] for b in ("seat-01", "seat-02")] == ["", ""]
    assert not (tmp_path / "lab-c6-logs").exists()  # no board was started
    assert checker.offenders == []


# --- New from the boards plugged in… ----------------------------------------------------------
def fake_usb_boards(serials: list[str]) -> list:
    """What pyserial would list with these USB boards plugged in (CP210x on /dev/ttyUSB3, 4, …).
    There is no USB here: the port list is the one part made up; the panel, the engine and the
    file it writes are real."""
    from serial.tools import list_ports_common

    found = []
    for i, serial in enumerate(serials):
        info = list_ports_common.ListPortInfo(f"/dev/ttyUSB{3 + i}", skip_link_detection=True)
        info.vid, info.pid, info.serial_number = 0x10C4, 0xEA60, serial
        info.description = "CP2102 USB to UART Bridge Controller"
        found.append(info)
    return found


def test_new_from_the_boards_plugged_in_writes_a_class_file_and_opens_it(
    window, panel, tmp_path, monkeypatch
):
    root, checker = window
    target = tmp_path / "lab" / "class.toml"
    from serial.tools import list_ports

    plugged: list[str] = []
    monkeypatch.setattr(list_ports, "comports", lambda *a, **k: fake_usb_boards(plugged))
    # Nothing plugged in: the engine's own sentence, and no file.
    panel.new_class_file(target)
    assert pump(panel, lambda: "No boards" in panel.status_var.get(), 60), panel.status_var.get()
    assert str(panel.status_label.cget("foreground")) == look.palette(panel).error
    assert not target.exists() and panel.class_file is None
    # One USB board plugged in (as the command sees it): one seat, with its USB serial number
    # so that it is found again when its port name changes.
    plugged.append("0001A2B3")
    panel.new_class_file(target, name="lab-b")
    assert pump(panel, lambda: panel.class_file is not None, 60), panel.status_var.get()
    cf = panel.class_file
    assert cf.name == "lab-b" and cf.path == target
    assert [(b.name, b.port, b.usb_serial) for b in cf.boards] == [
        ("seat-01", "/dev/ttyUSB3", "0001A2B3")
    ]
    assert panel.tree.get_children() == ("seat-01",)
    assert PanelPrefs(tmp_path / "prefs").load_class_path() == target  # remembered
    # Again: the old file is kept beside the new one.
    panel.new_class_file(target, name="lab-c")
    assert pump(panel, lambda: panel.class_file.name == "lab-c", 60), panel.status_var.get()
    assert (target.parent / "class.toml.bak").is_file()
    assert checker.offenders == []


# --- Open dashboard ---------------------------------------------------------------------------
class Publisher:
    """Publishes as a board does, on the real broker: a retained status, then readings."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt

        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.last = 0.0

    def publish(self, topic: str, payload: str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def reading_now_and_then(self, topic: str, line: str, every_s: float = 0.5) -> None:
        import time

        if time.monotonic() - self.last >= every_s:
            self.last = time.monotonic()
            self.publish(topic, line)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_open_dashboard_shows_the_class_live_in_a_window_of_its_own(
    window, panel, tmp_path, mosquitto, monkeypatch  # noqa: F811 - the fixture
):
    """The dashboard is `iotkit class dashboard` in its own process: it draws the readings a
    board publishes (its draw trace says so), and Close in the panel ends it."""
    from companion_app.classroom import topics

    root, checker = window
    trace = tmp_path / "drawn.tsv"
    monkeypatch.setenv("IOTKIT_DASHBOARD_TRACE", str(trace))  # one line per reading drawn
    path = tmp_path / "class.toml"
    path.write_text(class_text(["/dev/ttyUSB0", "/dev/ttyUSB1"], mosquitto.port), "utf-8")
    load(panel, path)
    assert str(panel.dashboard_button.cget("state")) == "normal"
    panel.dashboard_button.invoke()
    board = Publisher(mosquitto.port)
    try:
        board.publish(topics.status_topic("lab-c6", "seat-02"), topics.ONLINE, retain=True)

        def drawn() -> bool:
            board.reading_now_and_then(
                topics.readings_topic("lab-c6", "seat-02"), "temp_c:22.5,humidity:41.0"
            )
            return trace.is_file() and "seat-02" in trace.read_text(encoding="utf-8")

        assert pump(root, drawn, 60), panel.status_var.get()
    finally:
        board.close()
    process = panel.dashboard
    assert process is not None and process.poll() is None  # its window is open
    # Open dashboard again: no second window.
    panel.dashboard_button.invoke()
    assert panel.dashboard is process and "open already" in panel.status_var.get()
    panel.close_dashboard()
    assert pump(root, lambda: process.poll() is not None, 20)
    wait_posted(root)
    assert panel.dashboard is None
    assert "stopped" not in panel.status_var.get()  # closed, not failed
    assert checker.offenders == []


def test_a_dashboard_that_cannot_start_says_why_in_the_panel(window, panel, tmp_path):
    root, checker = window
    path = tmp_path / "class.toml"
    path.write_text(class_text(["/dev/ttyUSB0"]), "utf-8")
    load(panel, path)
    path.write_text("name = [", "utf-8")  # broken after it was opened: the command says so
    panel.dashboard_button.invoke()
    assert pump(root, lambda: "The dashboard stopped" in panel.status_var.get(), 60)
    assert "not valid TOML" in panel.status_var.get()
    assert panel.dashboard is None
    assert checker.offenders == []


# --- in the companion window ------------------------------------------------------------------
def test_the_class_tab_borrows_the_consoles_board_for_a_run_and_gives_it_back(
    window, tmp_path, monkeypatch
):
    """The Console is connected to one of the class's boards: Deploy all closes that connection
    (the run opens every port itself), deploys, and the Console is connected again after."""
    from companion_app.gui.app import CompanionApp
    from companion_app.simulator import VirtualBoard

    root, checker = window
    app = CompanionApp(
        root,
        list_ports=lambda: [],
        virtual_board_factory=lambda board: VirtualBoard(
            board=board, flash_dir=str(tmp_path / "flash")
        ),
    )
    try:
        assert pump(root, lambda: app.connection.is_connected, 30), app.status_var.get()
        port = app.connection.port
        path = tmp_path / "class.toml"
        path.write_text(class_text([port]), encoding="utf-8")
        assert app.show_panel("Class")
        panel = app.panel("Class")
        assert isinstance(panel, ClassPanel)
        load(panel, path)
        panel.deploy_button.invoke()
        assert not app.connection.is_connected  # handed over before the run started
        run_to_end(panel)
        assert row(panel, "seat-01")["result"] == "ok", panel.details_text("seat-01")
        assert pump(root, lambda: app.connection.is_connected, 30), app.status_var.get()
        assert app.connection.port == port
        config = json.loads((tmp_path / "flash" / "config.json").read_text(encoding="utf-8"))
        assert config["device_name"] == "seat-01"
    finally:
        app.close()
    assert checker.offenders == []


def test_stop_ends_a_run_between_two_chunks_and_every_board_says_so(window, panel, tmp_path):
    """Boards as slow as a real UART at 9600 baud: Stop during the transfer ends the run soon,
    each board's row says it failed because it was stopped, and the boards keep whole files."""
    from companion_app.simulator.classroom import start_virtual_class, stop_virtual_class

    root, checker = window
    boards = start_virtual_class(2, flash_dir=tmp_path / "flash", baud=9600)
    try:
        path = tmp_path / "class.toml"
        path.write_text(class_text([vb.port for vb in boards]), encoding="utf-8")
        load(panel, path)
        panel.deploy_button.invoke()

        def sending() -> bool:
            return any(str(p.stage).startswith("sending") for p in panel.progress.values())

        assert pump(root, sending, 60), [p.stage for p in panel.progress.values()]
        panel.stop_button.invoke()
        assert "Stopping" in panel.status_var.get()
        assert pump(root, lambda: panel.running is None, 30), panel.status_var.get()
        results = {b: row(panel, b)["result"] for b in ("seat-01", "seat-02")}
        assert set(results.values()) <= {"failed", "ok"} and "failed" in results.values()
        for board, result in results.items():
            if result == "failed":
                assert "stopped" in panel.details_text(board).lower(), panel.details_text(board)
        assert str(panel.deploy_button.cget("state")) == "normal"
    finally:
        stop_virtual_class(boards)
    assert checker.offenders == []
