"""The Deploy panel under Xvfb, deploying the real templates to a real virtual board.

Nothing is faked between the panel and the board: the companion window starts a virtual ESP32
(the MicroPython unix port), the panel runs the deploy engine in the window's connection worker,
and the tests read the board's flash folder, fetch the dashboard the board serves, and look at
every widget for the Wi-Fi password. The one stand-in is `webbrowser.open`, which only records
the address (a real browser under Xvfb would prove nothing); the address is then fetched.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tkinter as tk
import urllib.request
import webbrowser
from pathlib import Path

import pytest
from gui_helpers import (
    ThreadCheckingTk,
    distinct_colours,
    grab_window,
    pump,
    require_display,
    type_text,
    wait_posted,
)
from secret_helpers import WIFI_PASSWORD, assert_no_secret
from waiting import wait_until_tk
from wiring_helpers import DHT_ON_D34

from companion_app.device.pinchoice import gpio_of_text
from companion_app.gui.app import CompanionApp
from companion_app.gui.deploy_panel import DeployPanel, dashboard_url, short_note

SSID = "iotkit-lab"
CONNECT_TIMEOUT = 30.0
DEPLOY_TIMEOUT = 60.0


# --- pure parts: no display needed ------------------------------------------------------------
def test_dashboard_address_comes_from_the_boards_words_or_its_ip_and_the_port():
    out = "wifi: connected to 'lab', IP 10.0.0.7\nweb: dashboard at http://10.0.0.7:8080/\n"
    assert dashboard_url(out) == "http://10.0.0.7:8080/"
    assert dashboard_url("wifi: connected to 'lab', IP 10.0.0.7\n", {"web_port": 8080}) == (
        "http://10.0.0.7:8080/"
    )
    assert dashboard_url("wifi: connected to 'lab', IP 10.0.0.7\n", {"web_port": 80}) == (
        "http://10.0.0.7/"
    )
    assert dashboard_url("main: starting wifi\n", {"web_port": 80}) is None
    # A virtual board serves port 80 on a high port of the computer and says which.
    virtual = (
        "wifi: connected to 'lab', IP 127.0.0.1\n"
        "virtual board: port 80 is http://127.0.0.1:8080/ on this computer\n"
    )
    assert dashboard_url(virtual + "web: dashboard at http://127.0.0.1/\n") == (
        "http://127.0.0.1:8080/"
    )
    assert dashboard_url(virtual + "web: dashboard at http://127.0.0.1:80/\n") == (
        "http://127.0.0.1:8080/"
    )
    assert dashboard_url(virtual, {"web_port": 80}) == "http://127.0.0.1:8080/"
    assert dashboard_url(virtual + "web: dashboard at http://127.0.0.1:5000/\n") == (
        "http://127.0.0.1:5000/"
    )


def test_pin_notes_are_shortened_for_the_form():
    assert short_note("strapping pin: Sampled at reset: must be LOW") == "strapping pin"
    assert short_note("⚠ used by the board: UART0 TX: the REPL") == "⚠ UART0 TX"
    assert short_note("the board's own button; also set as led_pin") == (
        "board's button, also the LED pin"
    )
    assert (
        short_note("strapping pin: x; used by the board: UART0 TX: y") == "strapping pin, UART0 TX"
    )


def test_the_window_does_not_import_the_deploy_engine_until_the_deploy_tab_is_opened():
    code = (
        "import sys, companion_app.gui.app as a\n"
        "print([t for t, *_ in a.default_panels()])\n"
        "print('companion_app.device.deploy' in sys.modules,"
        " 'companion_app.gui.deploy_panel' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0] == "['Console', 'Flash', 'Wiring', 'Deploy', 'Plot', 'Class']"
    assert out[1] == "False False"


# --- fixtures ---------------------------------------------------------------------------------
def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def window(tmp_path, monkeypatch):
    """The companion window on a virtual ESP32 whose Wi-Fi network has the test password, with
    Tk watched for calls from worker threads and the saved settings in a temp folder."""
    require_display()
    from companion_app.simulator import VirtualBoard

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    flash = tmp_path / "flash"
    root = tk.Tk()
    root.geometry("960x640+0+0")
    checker = ThreadCheckingTk(root.tk)
    root.tk = checker

    def virtual_board(board: str):
        wifi = [{"ssid": SSID, "password": WIFI_PASSWORD}]
        return VirtualBoard(board=board, flash_dir=str(flash), wifi=wifi)

    app = CompanionApp(root, list_ports=lambda: [], virtual_board_factory=virtual_board)
    assert pump(root, lambda: app.connection.is_connected, CONNECT_TIMEOUT), app.status_var.get()
    # The board's REPL answers (and the Console, which takes the focus on connecting, is done).
    console = app.panel("Console")
    type_text(console.text, "\n")
    assert pump(root, lambda: console.text_content().rstrip().endswith(">>>"), 10)
    yield app, flash, tmp_path
    app.close()
    try:
        root.destroy()
    except tk.TclError:
        pass
    assert checker.offenders == [], "Tk was called from a worker thread"


def open_deploy(app: CompanionApp) -> DeployPanel:
    assert app.panel("Deploy") is None  # lazy: built when its tab is first shown
    assert app.show_panel("Deploy")
    assert pump(app.root, lambda: app.panel("Deploy") is not None, 5)
    panel = app.panel("Deploy")
    assert isinstance(panel, DeployPanel)
    return panel


def offered_pins(panel: DeployPanel, key: str) -> list[int]:
    """The GPIO numbers a pin field's list offers ("GPIO14 (D14)" -> 14)."""
    values = panel.field_widgets[key].cget("values")
    assert all(v.startswith("GPIO") for v in values), values
    return [gpio_of_text(v) for v in values]


def selected_tab(app: CompanionApp) -> str:
    return app.notebook.tab(app.notebook.select(), "text")


def retype(entry: tk.Widget, text: str) -> None:
    """Clear a field and type into it with key events, once the X focus really is there."""
    entry.delete(0, "end")
    for _ in range(3):  # the Console takes the focus when the board connects: ask again
        entry.focus_force()
        if pump(entry, lambda: entry.focus_get() == entry, 1):
            break
    assert entry.focus_get() == entry, entry.focus_get()
    type_text(entry, text)
    assert entry.get() == text


def wait_idle(panel: DeployPanel, timeout: float = DEPLOY_TIMEOUT) -> None:
    """Wait until the panel's deploy or dry run has finished; fails with its status line."""
    try:
        wait_until_tk(panel, lambda: panel.running is None, timeout, "the deploy to finish")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the panel says: {panel.status_var.get()}") from None


def all_widget_texts(widget: tk.Misc, skip: tk.Misc) -> list[str]:
    """What every widget of the window shows: labels, buttons, entries, comboboxes, texts,
    list and tree items, and the window title."""
    texts: list[str] = []
    if widget is skip:
        return texts
    if isinstance(widget, tk.Tk):
        texts.append(widget.title())
    for option in ("text", "values"):
        try:
            texts.append(str(widget.cget(option)))
        except tk.TclError:
            pass
    if isinstance(widget, tk.Text):
        texts.append(widget.get("1.0", "end"))
    elif isinstance(widget, (tk.Entry, tk.ttk.Entry)):  # ttk.Combobox is an Entry too
        texts.append(widget.get())
    elif isinstance(widget, tk.Listbox):
        texts.extend(str(x) for x in widget.get(0, "end"))
    elif isinstance(widget, tk.ttk.Treeview):
        for item in widget.get_children():
            texts.append(str(widget.item(item)))
    for var in ("textvariable",):
        try:
            name = str(widget.cget(var))
        except tk.TclError:
            continue
        if name:
            texts.append(str(widget.getvar(name)))
    for child in widget.winfo_children():
        texts.extend(all_widget_texts(child, skip))
    return texts


# --- the panel against a virtual board -------------------------------------------------------
def test_sensor_and_web_deploy_to_the_virtual_board_and_serve_the_dashboard(window, monkeypatch):
    app, flash, tmp_path = window
    panel = open_deploy(app)
    assert panel.board.id == "esp32-devkit-v1"  # the window's virtual board, unasked

    # Choose sensor and web by clicking: web needs wifi, which is ticked for it and locked.
    panel.template_checks["sensor"].invoke()
    panel.template_checks["web"].invoke()
    assert panel.chosen() == ["wifi", "sensor", "web"]
    assert panel.template_vars["wifi"].get()
    assert panel.template_checks["wifi"].instate(["disabled"])
    assert "needed by web" in panel.template_checks["wifi"].cget("text")

    # The form: typed like a person would. The password entry shows bullets only.
    port = free_tcp_port()
    retype(panel.field_widgets["device_name"], "lab-board")
    retype(panel.field_widgets["wifi_ssid"], SSID)
    retype(panel.field_widgets["wifi_password"], WIFI_PASSWORD)
    retype(panel.field_widgets["web_port"], str(port))
    secret_entry = panel.field_widgets["wifi_password"]
    assert secret_entry.cget("show") == "•"
    assert panel.values["wifi_password"].get() == WIFI_PASSWORD
    panel.extra_widgets["wifi_password"].invoke()  # "show": readable while ticked
    assert secret_entry.cget("show") == ""
    panel.extra_widgets["wifi_password"].invoke()
    assert secret_entry.cget("show") == "•"

    # The DHT pin offers only pins a DHT works on, with GPIO14 (where it is wired) chosen.
    dht_pins = offered_pins(panel, "sensor_pin")
    assert 14 in dht_pins and not {6, 7, 8, 9, 10, 11, 34, 35, 36, 39} & set(dht_pins)
    assert panel.values["sensor_pin"].get() == "14"
    assert panel.field_widgets["i2c_sda"].instate(["disabled"])  # no BME280 chosen

    # Dry run: the plan and the masked config, nothing written.
    before = sorted(p.name for p in flash.iterdir())
    panel.dry_button.invoke()
    wait_idle(panel)
    plan = panel.log_content()
    # An ESP32's RAM fits wifi+sensor+web only precompiled (issue 13 item 4): the panel says so
    # and sends .mpy files (main.py and boot.py stay source: the board runs them by name).
    assert "Precompiling to .mpy" in plan, plan
    for dest in ("/web.mpy", "/sensor.mpy", "/wifi.mpy", "/lib/microdot/microdot.mpy"):
        assert f"add       {dest}" in plan, plan
    assert "add       /config.json" in plan, plan
    assert '"wifi_password": "***"' in plan
    assert f'"web_port": {port}' in plan
    assert "Dry run: nothing was sent" in panel.status_var.get()
    assert_no_secret(plan, panel.status_var.get(), app.status_var.get())
    assert sorted(p.name for p in flash.iterdir()) == before

    # Deploy; a second click while it runs is ignored.
    panel.deploy_button.focus_set()  # as a click does
    panel.deploy_button.invoke()
    assert panel.running == "deploy"
    assert panel.cancel_button.instate(["!disabled"])
    assert panel.deploy_button.instate(["disabled"])
    panel.deploy()
    wait_idle(panel)
    log_text = panel.log_content()
    assert log_text.count("Deploying: wifi, sensor, web") == 1
    assert "Deployed 11 changed files" in panel.status_var.get(), panel.status_var.get()

    # The files are on the board, and its config.json has the form's values.
    for name in ("boot.py", "main.py", "config.mpy", "wifi.mpy", "sensor.mpy", "web.mpy"):
        assert (flash / name).is_file(), name
    assert (flash / "lib" / "microdot" / "microdot.mpy").is_file()
    config = json.loads((flash / "config.json").read_text())
    assert config["wifi_ssid"] == SSID
    assert config["device_name"] == "lab-board"
    assert config["web_port"] == port
    assert config["parts"] == ["wifi", "sensor", "web"]
    assert config["wifi_password"] == WIFI_PASSWORD  # on the board it is needed, nowhere else

    # The log shows what the board said first, after its restart.
    first = panel.last_result.first_output
    assert "main: starting wifi, sensor, web" in first
    assert "main: starting wifi, sensor, web" in log_text

    # Open dashboard: the board's own address for it, and the board really serves it.
    assert pump(panel, lambda: panel.dashboard_button.instate(["!disabled"]), 15), log_text
    # What the screenshot shows: the board's first words and the dashboard's address (later
    # readings go to the Console, not to this log).
    assert f"Dashboard: http://127.0.0.1:{port}/" in panel.log_content(), panel.log_content()

    # The screenshot a person looks at: the panel after the deploy.
    image = grab_window(app.root, "deploy-panel", also_docs=True)
    assert image.size[0] >= 640 and image.size[1] >= 400
    assert distinct_colours(image) > 30

    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: opened.append(url) or True)
    panel.dashboard_button.invoke()
    assert pump(panel, lambda: bool(opened), 5)
    assert opened == [f"http://127.0.0.1:{port}/"]
    with urllib.request.urlopen(opened[0], timeout=10) as reply:
        page = reply.read().decode("utf-8", "replace")
        assert reply.status == 200
    assert "<html" in page.lower() and "lab-board" in page

    # The password is in no widget anywhere in the window (the console included), except the
    # masked entry it was typed into.
    texts = all_widget_texts(app.root, skip=secret_entry)
    assert any(SSID in t for t in texts)  # the walk does see the form's values
    assert_no_secret(*texts)

    # The settings are kept for next time, without the password.
    saved = Path(tmp_path / "config" / "thonny-iotkit" / "deploy" / "esp32-devkit-v1.json")
    data = json.loads(saved.read_text())
    assert data["config"]["wifi_ssid"] == SSID and "wifi_password" not in data["config"]
    assert data["templates"] == ["sensor", "web"]
    assert_no_secret(saved.read_text())

    # Plot readings brings the Plot tab to the front.
    panel.plot_button.invoke()
    assert pump(app.root, lambda: selected_tab(app) == "Plot", 5)


def test_cancel_stops_the_deploy_and_a_bad_value_is_refused_before_sending(window):
    app, flash, _ = window
    panel = open_deploy(app)
    panel.template_checks["sensor"].invoke()
    assert panel.chosen() == ["sensor"]

    # A value that is not a number: said in the status, the field has the focus, nothing sent.
    retype(panel.field_widgets["interval_s"], "soon")
    panel.deploy_button.invoke()
    assert panel.running is None
    assert "Read every (s) must be a whole number" in panel.status_var.get()
    assert "whole number" in panel.log_content()
    # The engine's own range check comes back named after the field too.
    retype(panel.field_widgets["interval_s"], "0")
    panel.deploy_button.invoke()
    assert panel.running is None
    assert panel.status_var.get().startswith("Read every (s) must be at least 1")
    assert not (flash / "sensor.py").exists()

    # Cancel right after Deploy: the engine stops before the first file and says so.
    retype(panel.field_widgets["interval_s"], "3")
    panel.deploy_button.invoke()
    panel.cancel_button.invoke()
    wait_idle(panel)
    assert "Deploy stopped" in panel.status_var.get(), panel.status_var.get()
    assert not (flash / "sensor.py").exists()

    # Deploying again finishes the job.
    panel.deploy_button.invoke()
    wait_idle(panel)
    assert "Deployed" in panel.status_var.get(), panel.status_var.get()
    assert json.loads((flash / "config.json").read_text())["interval_s"] == 3
    assert panel.dashboard_button.instate(["disabled"])  # no web program, no dashboard


def test_pins_follow_the_diagram_the_wiring_tab_holds(window, tmp_path):
    app, _, _ = window
    diagram = {
        "version": 1,
        "parts": [
            {"type": "wokwi-esp32-devkit-v1", "id": "esp", "attrs": {}},
            {"type": "wokwi-dht22", "id": "dht1", "attrs": {}},
            {"type": "wokwi-led", "id": "led1", "attrs": {}},
            {"type": "wokwi-resistor", "id": "r1", "attrs": {"value": "220"}},
        ],
        "connections": [
            ["dht1:VCC", "esp:3V3", "red", []],
            ["dht1:GND", "esp:GND.1", "black", []],
            ["dht1:SDA", "esp:D27", "green", []],
            ["led1:A", "r1:1", "green", []],
            ["r1:2", "esp:D25", "green", []],
            ["led1:C", "esp:GND.2", "black", []],
        ],
    }
    path = tmp_path / "diagram.json"
    path.write_text(json.dumps(diagram))

    panel = open_deploy(app)
    panel.choose("sensor", "button_led")
    assert panel.values["sensor_pin"].get() == "14"  # no diagram yet: the config's pin
    assert panel.values["led_pin"].get() == "2"  # the DevKit's own LED
    assert "board's defaults" in panel.wiring_var.get()

    assert app.show_panel("Wiring")
    assert pump(app.root, lambda: app.panel("Wiring") is not None, 5)
    wiring = app.panel("Wiring")
    wiring.open_diagram(path)
    assert pump(app.root, lambda: wiring.diagram is not None, 10)

    # Back on the Deploy tab, the pins are the ones the parts are wired to.
    assert app.show_panel("Deploy")
    assert pump(app.root, lambda: panel.values["sensor_pin"].get() == "27", 5)
    assert panel.values["led_pin"].get() == "25"
    assert "wired in the diagram" in panel.hint_vars["sensor_pin"].get()
    assert "diagram.json" in panel.wiring_var.get()
    # The button is not in the diagram: the BOOT button is suggested, and 34-39 are not offered
    # until the button has a pull-up of its own.
    button_pins = offered_pins(panel, "button_pin")
    assert panel.values["button_pin"].get() == "0" and 34 not in button_pins
    panel.extra_widgets["button_pin"].invoke()  # "the button has its own pull-up resistor"
    assert panel.pull_up_var.get()
    button_pins = offered_pins(panel, "button_pin")
    assert 34 in button_pins
    with pytest.raises(ValueError):
        panel.set_pin("sensor_pin", 34)
    panel.set_pin("sensor_pin", 26)
    assert panel.values["sensor_pin"].get() == "26"
    assert panel.collect()["sensor_pin"] == 26
    # Coming back to the tab keeps the person's pick while the wiring stays the same.
    app.show_panel("Console")
    assert pump(app.root, lambda: not panel.winfo_ismapped())
    app.show_panel("Deploy")
    # The tab's <Map> handler re-reads the wiring: it has run once the panel is mapped again and
    # the window has had a turn after that.
    assert pump(app.root, panel.winfo_ismapped)
    wait_posted(app.root)
    assert panel.values["sensor_pin"].get() == "26"


def test_a_board_of_another_family_than_the_pins_are_for_is_pointed_out(window):
    from companion_app.device.deploy import BoardInfo, DeployResult

    app, _, _ = window
    panel = open_deploy(app)
    panel.set_board("pico")
    assert panel.board.id == "pico"

    def result(platform: str) -> DeployResult:
        return DeployResult([], 0, 0, 0.0, "", True, board=BoardInfo(platform=platform))

    panel._check_platform(result("rp2"))
    assert "runs MicroPython for" not in panel.log_content()
    panel._check_platform(result("esp32"))  # what a real ESP32 says in sys.platform
    assert "runs MicroPython for esp32, but the pins were chosen for the Raspberry Pi Pico" in (
        panel.log_content()
    )


# --- issue 15: a projector's 1024x768 at zoom 1.5, and the form against the diagram -----------
@pytest.fixture
def projector(tmp_path, monkeypatch):
    """The Deploy panel alone in a 1024x768 window at zoom 1.5 (every named font 1.5 times)."""
    require_display()
    from companion_app.gui import look

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    root = tk.Tk()
    root.geometry("1024x768+0+0")
    look.set_zoom(root, 1.5)
    panel = DeployPanel(root, None, config_dir=tmp_path / "config")
    panel.pack(fill="both", expand=True)
    assert pump(root, lambda: panel.winfo_ismapped() and panel.winfo_width() > 900, 10)
    wait_posted(root)
    yield root, panel
    panel.close()
    root.destroy()


def in_view(scroller, widget) -> bool:
    """Whether `widget`, inside a look.ScrolledFrame, is wholly in its visible part."""
    scroller.update_idletasks()
    top = scroller.canvas.winfo_rooty()
    bottom = top + scroller.canvas.winfo_height()
    return top <= widget.winfo_rooty() and widget.winfo_rooty() + widget.winfo_height() <= bottom


def test_at_zoom_1_5_on_1024x768_nothing_is_cut_and_the_programs_list_scrolls_with_the_wheel(
    projector, tmp_path
):
    from layout_check import check

    root, panel = projector
    assert check(root) == []
    # Every button of the deploy row is whole ("Open dashboard" was "Oper"), wrapping if need be.
    for button in (panel.dry_button, panel.deploy_button, panel.cancel_button):
        assert button.winfo_width() >= button.winfo_reqwidth()
    for button in (panel.dashboard_button, panel.plot_button):
        assert button.winfo_ismapped() and button.winfo_width() >= button.winfo_reqwidth()
    grab_window(root, "deploy-panel-1024x768-zoom1.5")

    # The last programs are below the list's edge; the list scrolls, and the wheel scrolls it
    # wherever the pointer is over it (X11 sends Button-5 for "down", Windows <MouseWheel>).
    scroller = panel.programs_scroller
    last = panel.summaries["button_led"]  # the list's very end
    assert scroller.scrolls and not in_view(scroller, last)
    assert scroller.canvas.yview()[0] == 0.0
    panel.summaries["wifi"].event_generate("<Button-5>", x=5, y=5)
    assert pump(root, lambda: scroller.canvas.yview()[0] > 0.0)
    for _ in range(40):
        if in_view(scroller, last):
            break
        panel.summaries["sensor"].event_generate("<Button-5>", x=5, y=5)
        root.update()
    assert in_view(scroller, last) and in_view(scroller, panel.template_checks["button_led"])
    grab_window(root, "deploy-panel-programs-scrolled")
    down = scroller.canvas.yview()[0]
    panel.template_checks["logger"].event_generate("<MouseWheel>", delta=120, x=5, y=5)
    assert pump(root, lambda: scroller.canvas.yview()[0] < down)
    # Ticked from there, they are in the form.
    panel.template_checks["button_led"].invoke()
    assert "button_led" in panel.chosen() and "led_pin" in panel.field_widgets

    # Everything ticked, with a diagram the form disagrees with: still nothing cut off.
    path = tmp_path / "diagram.json"
    path.write_text(json.dumps(DHT_ON_D34))
    panel.use_diagram(path)
    panel.choose(*panel.templates)
    wait_posted(root)
    assert panel.pin_notes["sensor_pin"].text
    assert check(root) == []
    grab_window(root, "deploy-panel-1024x768-zoom1.5-all-programs")


def test_colours_follow_the_theme_and_descriptions_are_readable_on_a_dark_one(projector):
    from companion_app.gui import look

    root, panel = projector
    style = tk.ttk.Style(root)
    style.configure(".", background="#2b2b2b", foreground="#e0e0e0", fieldbackground="#1e1e1e")
    style.configure("TFrame", background="#2b2b2b")
    style.configure("TLabel", background="#2b2b2b", foreground="#e0e0e0")
    panel.event_generate("<<ThemeChanged>>")
    wait_posted(root)
    pal = look.palette(panel)
    assert pal.dark
    for summary in panel.summaries.values():
        colour = str(summary.cget("foreground"))
        assert colour == pal.muted
        assert look.contrast_ratio(root, colour, pal.background) >= 4.5
    # The log is no white block, and its coloured lines are readable on it.
    assert panel.log_text.cget("background") == pal.field
    for tag in ("error", "ok", "warn", "board", "next"):
        colour = str(panel.log_text.tag_cget(tag, "foreground"))
        assert look.contrast_ratio(root, colour, pal.field) >= 4.5, tag
    # The tooltip of a shortened hint takes the theme's field colours, not "#ffffe0".
    panel.choose("sensor")
    wait_posted(root)
    label = panel.hint_labels["sensor_pin"]
    tip = panel.tooltips["sensor_pin"]
    assert tip.widget is label
    panel.hint_full["sensor_pin"] = "a note long enough to need its tooltip"
    tip.show()
    shown = tip.tip.winfo_children()[0]
    assert str(shown.cget("background")) == pal.field
    assert look.contrast_ratio(root, str(shown.cget("foreground")), pal.field) >= 4.5
    tip.hide()


def test_each_pin_field_names_the_gpio_and_the_board_pin_of_every_choice(projector, tmp_path):
    root, panel = projector
    panel.choose("sensor", "button_led")
    values = panel.field_widgets["sensor_pin"].cget("values")
    assert "GPIO14 (D14)" in values and "GPIO36 (VP)" not in values
    assert panel.field_widgets["sensor_pin"].get() == "GPIO14 (D14)"
    assert panel.field_widgets["led_pin"].get().startswith("GPIO2 (D2)")  # ⚠: a strapping pin
    # The BOOT button has no header pin: just its GPIO.
    assert panel.field_widgets["button_pin"].get().startswith("GPIO0")

    # With the DHT's data on D34 the form keeps GPIO14 and says so, with the diagram's pin,
    # why it may not work, and a button that takes it anyway.
    path = tmp_path / "diagram.json"
    path.write_text(json.dumps(DHT_ON_D34))
    panel.use_diagram(path)
    wait_posted(root)
    assert panel.values["sensor_pin"].get() == "14"
    note = panel.pin_notes["sensor_pin"]
    assert note.text.startswith("⚠ Deploy will use GPIO14 (D14); the diagram wires the DHT data")
    assert "to GPIO34 (D34), which may not work:" in note.text and "can only read" in note.text
    assert note.button.winfo_ismapped() and note.button.cget("text") == "Use D34 from the diagram"
    # The list offers the diagram's pin too, marked.
    assert "GPIO34 (D34)  ⚠" in panel.field_widgets["sensor_pin"].cget("values")
    grab_window(root, "deploy-panel-pin-disagrees")
    note.button.invoke()
    assert panel.values["sensor_pin"].get() == "34"
    assert panel.collect()["sensor_pin"] == 34
    assert panel.pin_disagreements() == []
    assert panel.pin_notes["sensor_pin"].text.startswith(
        "⚠ Deploy will use GPIO34 (D34), the diagram's pin, but it may not work:"
    )
    assert not panel.pin_notes["sensor_pin"].button.winfo_ismapped()
    # Another pin picked by hand goes back to asking.
    panel.set_pin("sensor_pin", 27)
    assert [key for key, *_ in panel.pin_disagreements()] == ["sensor_pin"]


def test_deploy_asks_when_the_form_and_the_diagram_disagree_and_writes_nothing_before(window):
    app, flash, tmp_path = window
    panel = open_deploy(app)
    path = tmp_path / "diagram.json"
    path.write_text(json.dumps(DHT_ON_D34))
    panel.use_diagram(path)
    panel.choose("sensor")
    assert panel.values["sensor_pin"].get() == "14"
    before = sorted(p.name for p in flash.iterdir())

    # Deploy: a question, nothing sent; the buttons wait for the answer.
    panel.deploy_button.invoke()
    question = panel.pin_question
    assert question is not None and panel.running is None
    text = question.label.cget("text")
    assert "the form says GPIO14 (D14), the diagram says GPIO34 (D34)" in text
    assert "may not work" in text
    assert {k: b.cget("text") for k, b in question.buttons.items()} == {
        "form": "Deploy with GPIO14",
        "diagram": "Use the diagram's pin (GPIO34)",
        "cancel": "Cancel",
    }
    assert panel.deploy_button.instate(["disabled"]) and panel.dry_button.instate(["disabled"])
    grab_window(question.window, "deploy-pin-question", also_docs=True)
    wait_posted(app.root)
    assert sorted(p.name for p in flash.iterdir()) == before

    # Escape is Cancel: nothing written, the form as it was.
    question.buttons["form"].event_generate("<KeyPress-Escape>")
    assert pump(app.root, lambda: panel.pin_question is None)
    assert not question.window.winfo_exists()
    assert "nothing was sent" in panel.status_var.get()
    wait_posted(app.root)
    assert sorted(p.name for p in flash.iterdir()) == before
    assert panel.deploy_button.instate(["!disabled"])

    # "Deploy with GPIO14": the form's pin is what the board gets.
    panel.deploy_button.invoke()
    panel.pin_question.buttons["form"].invoke()
    assert panel.running == "deploy"
    wait_idle(panel)
    assert json.loads((flash / "config.json").read_text())["sensor_pin"] == 14

    # After a deploy with the sensor, the next step: watch the readings in the Plot.
    assert "Next: watch the readings" in panel.log_content()
    assert panel.plot_button.cget("style") == "Next.TButton"
    assert panel.focus_lastfor() == panel.plot_button

    # "Use the diagram's pin": the form takes GPIO34 and the board gets it.
    panel.deploy_button.invoke()
    panel.pin_question.buttons["diagram"].invoke()
    assert panel.values["sensor_pin"].get() == "34"
    wait_idle(panel)
    assert json.loads((flash / "config.json").read_text())["sensor_pin"] == 34
    # Now they agree: Deploy asks nothing.
    panel.deploy_button.invoke()
    assert panel.pin_question is None and panel.running == "deploy"
    wait_idle(panel)


def test_a_dry_run_does_not_ask_but_says_what_deploy_will_ask_about(window):
    app, _flash, tmp_path = window
    panel = open_deploy(app)
    path = tmp_path / "diagram.json"
    path.write_text(json.dumps(DHT_ON_D34))
    panel.use_diagram(path)
    panel.choose("sensor")
    panel.dry_button.invoke()
    assert panel.pin_question is None
    wait_idle(panel)
    log_text = panel.log_content()
    assert "DHT data pin: the form says GPIO14 (D14), the diagram says GPIO34 (D34)." in log_text
    assert "Next:" not in log_text  # a dry run is not a success to go on from
