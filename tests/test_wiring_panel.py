"""The Wiring panel under Xvfb: a hand-written Wokwi diagram, the form, a script, the picture.

The panel runs on its own (no companion window, ctx=None) with real Tk, the real rule engine
and real matplotlib for the export, as a teacher would use it.
"""

from __future__ import annotations

import json
import tkinter as tk
import tkinter.font as tkfont
from tkinter import ttk

import layout_check
import pytest
from gui_helpers import distinct_colours, grab_window, pump, require_display
from PIL import Image
from waiting import wait_until_tk

from companion_app.gui import look
from companion_app.gui.wiring_panel import PICK_HINT, WiringPanel, default_part_id
from companion_app.wiring.pinout import HIGHLIGHT

# Written by hand in Wokwi's exact format: "esp:D34", "dht1:SDA", "GND.1", wire hints.
DIAGRAM = {
    "version": 1,
    "author": "A teacher",
    "editor": "wokwi",
    "parts": [
        {"type": "wokwi-esp32-devkit-v1", "id": "esp", "top": 0, "left": 0, "attrs": {}},
        {"type": "wokwi-dht22", "id": "dht1", "top": -19.5, "left": 129.3, "attrs": {}},
        {"type": "wokwi-led", "id": "led1", "top": 34.8, "left": -92.2, "attrs": {"color": "red"}},
    ],
    "connections": [
        ["esp:TX0", "$serialMonitor:RX", "", []],
        ["esp:RX0", "$serialMonitor:TX", "", []],
        ["dht1:VCC", "esp:3V3", "red", ["v0"]],
        ["dht1:SDA", "esp:D34", "green", ["v0"]],
        ["dht1:GND", "esp:GND.1", "black", ["v0"]],
        ["led1:A", "esp:D12", "green", ["h0"]],
        ["led1:C", "esp:GND.2", "black", ["h0"]],
    ],
    "dependencies": {},
}

FORM_WIRES = [
    ("wokwi-dht22", "dht1", "VCC", "3V3"),
    ("wokwi-dht22", "dht1", "SDA", "D34"),
    ("wokwi-dht22", "dht1", "GND", "GND.1"),
    ("wokwi-led", "led1", "A", "D12"),
    ("wokwi-led", "led1", "C", "GND.2"),
]


@pytest.fixture
def root():
    require_display()
    r = tk.Tk()
    r.geometry("1100x760")
    yield r
    r.destroy()


@pytest.fixture
def panel(root):
    p = WiringPanel(root)
    p.pack(fill="both", expand=True)
    assert pump(root, lambda: not p.checking, 10)
    yield p
    p.close()


def wait_checked(root, panel) -> None:
    """Wait until the latest check finished and its results are shown.

    `checking` turns false in the same Tk callback that fills the findings, the summary and the
    picture, so nothing is left to wait for after it.
    """
    wait_until_tk(root, lambda: not panel.checking, 10, "the wiring check to finish")


def open_diagram(root, panel, tmp_path):
    path = tmp_path / "diagram.json"
    path.write_text(json.dumps(DIAGRAM, indent=2))
    panel.open_diagram(path)
    wait_checked(root, panel)


def key(findings):
    """What must match between the form and the diagram: the file name may differ."""
    return sorted((f.rule, f.severity, f.pin, f.where.rsplit(": ", 1)[-1]) for f in findings)


def test_default_part_ids_look_like_wokwi_ones():
    assert default_part_id("wokwi-dht22", set()) == "dht1"
    assert default_part_id("wokwi-led", {"led1"}) == "led2"


def test_hand_written_diagram_shows_findings_and_screenshot(root, panel, tmp_path):
    open_diagram(root, panel, tmp_path)
    assert panel.board.id == "esp32-devkit-v1"
    rules = {(f.rule, f.pin) for f in panel.findings}
    assert ("input-only", "GPIO34") in rules
    rows = [panel.tree.item(i, "values") for i in panel.tree.get_children()]
    # Where: the DHT's pin by its role ("data", not Wokwi's "SDA"), as the form offers it.
    assert any(r[0] == "error" and r[1] == "input-only" and r[2] == "dht1 data" for r in rows)
    # The connection list shows the file's wires in the same words, and where they came from.
    wires = panel.conn_list.get(0, "end")
    assert "dht1 data  →  D34 · GPIO34" in wires
    assert "led1 anode (+)  →  D12 · GPIO12" in wires
    assert "$serialMonitor:RX" in " ".join(wires)  # an end we know nothing about: as written
    assert panel.source_label.winfo_manager() == "pack"
    assert panel.source_var.get() == f"From {(tmp_path / 'diagram.json').resolve()}"
    index = next(i for i, f in enumerate(panel.findings) if f.rule == "input-only")
    panel.select_finding(index)
    assert pump(root, lambda: "Fix:" in panel.fix_var.get(), 2)
    assert "D4" in panel.fix_var.get()
    image = grab_window(root, "wiring-panel", also_docs=True)
    assert distinct_colours(image) > 50


def test_clicking_a_finding_highlights_its_pin(root, panel, tmp_path):
    open_diagram(root, panel, tmp_path)
    pad = panel.pad_item("D34")
    before = panel.canvas.itemcget(pad, "fill")
    index = next(i for i, f in enumerate(panel.findings) if f.rule == "input-only")
    # A real click on the finding's row, as a user does it.
    panel.tree.see(str(index))
    assert pump(root, lambda: panel.tree.bbox(str(index), "rule"), 2)  # the row is on screen
    x, y, w, h = panel.tree.bbox(str(index), "rule")
    panel.tree.event_generate("<ButtonPress-1>", x=x + 5, y=y + h // 2)
    panel.tree.event_generate("<ButtonRelease-1>", x=x + 5, y=y + h // 2)
    assert pump(root, lambda: panel.tree.selection() == (str(index),), 2)
    pad = panel.pad_item("D34")
    after = panel.canvas.itemcget(pad, "fill")
    assert before != after and after == HIGHLIGHT
    # Another pin was not highlighted.
    assert panel.canvas.itemcget(panel.pad_item("D23"), "fill") != HIGHLIGHT


def test_export_pinout_png_is_print_size_and_not_blank(root, panel, tmp_path, artifacts):
    open_diagram(root, panel, tmp_path)
    path = panel.export_png(artifacts / "pinout.png")
    image = Image.open(path)
    assert image.size[0] >= 1754 and image.size[1] >= 1240
    assert distinct_colours(image) > 50
    # Not blank: a fair share of the page is drawn on.
    grey = image.convert("L")
    dark = sum(grey.histogram()[:200])
    assert dark > 0.01 * image.size[0] * image.size[1]


def test_form_wiring_gives_the_same_findings_as_the_diagram(root, panel, tmp_path):
    open_diagram(root, panel, tmp_path)
    from_diagram = key(panel.findings)
    assert from_diagram
    panel._on_clear()
    wait_checked(root, panel)
    assert panel.findings == []
    for part_type, part_id, part_pin, board_pin in FORM_WIRES:
        panel.add_connection(part_type, part_id, part_pin, board_pin)
    wait_checked(root, panel)
    assert key(panel.findings) == from_diagram
    assert panel.conn_list.size() == len(FORM_WIRES)


def test_form_widgets_add_a_wire(root, panel):
    panel.part_type_var.set("wokwi-dht22")  # a Wokwi type set by hand still works
    panel._on_part_type()
    assert panel.part_id_var.get() == "dht1"
    assert "data" in panel.part_pin_combo.cget("values")
    panel.part_pin_var.set("SDA")  # and so does Wokwi's pin name, typed
    panel.board_pin_var.set("D34")
    panel.add_button.invoke()
    wait_checked(root, panel)
    assert any(f.rule == "input-only" for f in panel.findings)
    panel.part_pin_var.set("")
    panel.add_button.invoke()
    assert "Choose" in panel.form_error.get()


def test_check_this_script_shows_flash_pin(root, panel, tmp_path):
    script = tmp_path / "main.py"
    script.write_text("from machine import Pin\nled = Pin(6, Pin.OUT)\nled.value(1)\n")
    panel.check_script(script)
    wait_checked(root, panel)
    flash = [f for f in panel.findings if f.rule == "flash-pin"]
    assert flash and flash[0].pin == "GPIO6" and flash[0].line == 2
    rows = [panel.tree.item(i, "values") for i in panel.tree.get_children()]
    assert any(r[1] == "flash-pin" for r in rows)
    panel.select_finding(panel.findings.index(flash[0]))
    assert "Fix:" in panel.fix_var.get()


def test_changing_the_board_rechecks(root, panel, tmp_path):
    script = tmp_path / "main.py"
    script.write_text("from machine import Pin\nled = Pin(6, Pin.OUT)\n")
    panel.check_script(script)
    wait_checked(root, panel)
    assert any(f.rule == "flash-pin" for f in panel.findings)
    panel.set_board("pico")
    wait_checked(root, panel)
    assert panel.board.id == "pico"
    assert not any(f.rule == "flash-pin" for f in panel.findings)  # GPIO6 is free on a Pico


def test_a_broken_diagram_is_reported_not_raised(root, panel, tmp_path):
    path = tmp_path / "diagram.json"
    path.write_text("{not json")
    panel.open_diagram(path)
    assert "Cannot open" in panel.summary_var.get()


class _FakeConnection:
    """Stands in for DeviceConnection: runs func(link) in a worker, on_done back in Tk."""

    def __init__(self, root: tk.Misc) -> None:
        self.root = root
        self.threads: list[str] = []

    def call_with_link(self, func, on_done) -> None:
        import queue
        import threading

        done: "queue.Queue[tuple]" = queue.Queue()

        def work() -> None:
            self.threads.append(threading.current_thread().name)
            try:
                done.put((func("the-link"), None))
            except Exception as exc:  # noqa: BLE001
                done.put((None, exc))

        threading.Thread(target=work, daemon=True).start()

        def poll() -> None:
            try:
                result, exc = done.get_nowait()
            except queue.Empty:
                self.root.after(20, poll)
                return
            on_done(result, exc)

        self.root.after(20, poll)


def test_probe_runs_through_the_connection_worker(root, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from companion_app.wiring import probe as probe_module
    from companion_app.wiring.rules import Finding

    calls = []

    def fake_probe(link, board, diagram, on_step=None, **kw):
        import threading

        calls.append((link, board.id, threading.current_thread() is threading.main_thread()))
        on_step(SimpleNamespace(summary="DHT22 on GPIO34: no answer"))
        found = Finding(
            "dht-no-answer",
            "error",
            "GPIO34",
            "diagram.json: dht1:SDA",
            "dht1 did not answer",
            "check the wire",
        )
        return SimpleNamespace(findings=[found], steps=[1])

    monkeypatch.setattr(probe_module, "probe", fake_probe)
    ctx = SimpleNamespace(connection=_FakeConnection(root), set_status=lambda text: None)
    panel = WiringPanel(root, ctx)
    panel.pack(fill="both", expand=True)
    try:
        assert panel.probe_button is not None
        open_diagram(root, panel, tmp_path)
        static = len(panel.findings)
        panel.probe_button.invoke()
        assert panel.probe_button.instate(["disabled"])  # no second probe while one runs
        assert pump(root, lambda: not panel.probing, 10)
        assert panel.probe_button.instate(["!disabled"])
        assert calls == [("the-link", "esp32-devkit-v1", False)]  # never in the Tk thread
        assert len(panel.findings) == static + 1
        assert "Probe done" in panel.summary_var.get()
    finally:
        panel.close()


# --- plain words, the details pane, and the layout at every size -------------------------------
DHT22_TEXT = "DHT22 / AM2302 temperature and humidity sensor (wokwi-dht22)"


def test_parts_are_offered_by_human_name_once(root, panel):
    values = panel.part_type_combo.cget("values")
    assert DHT22_TEXT in values
    # The Wokwi id comes second, in brackets; no entry is an id alone.
    assert not any(v.startswith(("wokwi-", "board-", "iotkit-")) for v in values)
    # iotkit-dht11 is the same part as wokwi-dht11: offered once.
    assert [v for v in values if v.startswith("DHT11")] == [
        "DHT11 temperature and humidity sensor (wokwi-dht11)"
    ]
    assert len(set(values)) == len(values)


def test_the_dht_data_pin_is_offered_as_data_and_written_as_sda(root, panel):
    # As a person does it: pick the part by name, its "data" pin, and "D34 · GPIO34".
    panel.part_type_var.set(DHT22_TEXT)
    panel.part_type_combo.event_generate("<<ComboboxSelected>>")
    assert pump(root, lambda: panel.part_id_var.get() == "dht1", 2)
    pins = panel.part_pin_combo.cget("values")
    assert "data" in pins and "SDA" not in pins
    panel.part_pin_var.set("data")
    panel.board_pin_var.set("D34 · GPIO34")
    panel.add_button.invoke()
    wait_checked(root, panel)
    assert panel.form_error.get() == ""
    # diagram.json keeps Wokwi's names, so Wokwi and `iotkit check` read the same file.
    assert panel.wiring["connections"][0][:2] == ["dht1:SDA", "esp:D34"]
    assert {"type": "wokwi-dht22", "id": "dht1"}.items() <= panel.wiring["parts"][1].items()
    assert panel.conn_list.get(0) == "dht1 data  →  D34 · GPIO34"
    # The wiring form gives no caption: there is no file to name.
    assert panel.source_label.winfo_manager() == ""
    found = [f for f in panel.findings if f.rule == "input-only"]
    assert found and found[0].where.endswith("dht1:SDA")  # the engine's words stay Wokwi's
    rows = [panel.tree.item(i, "values") for i in panel.tree.get_children()]
    assert any(r[1] == "input-only" and r[2] == "dht1 data" for r in rows)


def test_board_pins_show_the_d_name_and_the_gpio(root, panel):
    values = panel.board_pin_combo.cget("values")
    assert "D4 · GPIO4" in values and "D34 · GPIO34" in values
    # Two pins print "GND": each keeps its Wokwi name, so every entry names one pin.
    assert "GND (GND.1)" in values and len(set(values)) == len(values)
    panel.set_board("esp32-c3-devkitm-1")
    wait_checked(root, panel)
    values = panel.board_pin_combo.cget("values")
    assert "IO4 · GPIO4" in values
    panel.part_type_var.set("LED (wokwi-led)")
    panel._on_part_type()
    panel.part_pin_var.set("anode (+)")
    panel.board_pin_var.set("IO4 · GPIO4")
    panel.add_button.invoke()
    wait_checked(root, panel)
    assert panel.wiring["connections"][-1][:2] == ["led1:A", "esp:4"]  # C3 pin names: "4"
    # A GPIO number typed by hand, as Deploy asks for them, finds its header pin.
    panel.set_board("esp32-devkit-v1")
    wait_checked(root, panel)
    panel.part_pin_var.set("cathode (-)")
    panel.board_pin_var.set("GPIO4")
    panel.add_button.invoke()
    wait_checked(root, panel)
    assert panel.wiring["connections"][-1][:2] == ["led1:C", "esp:D4"]


def test_details_show_the_message_of_the_selected_finding(root, panel, tmp_path):
    open_diagram(root, panel, tmp_path)
    # Before any click: the first finding, whole, so the message is there at any width.
    first = panel.findings[0]
    assert first.message in panel.fix_var.get()
    assert panel.summary_var.get().endswith(PICK_HINT)
    index = next(i for i, f in enumerate(panel.findings) if f.rule == "input-only")
    chosen = panel.findings[index]
    panel.select_finding(index)
    text = panel.fix_var.get()
    assert text.startswith("Error · input-only · dht1 data\n")
    assert chosen.message in text and f"Fix: {chosen.fix}" in text
    # The details box shows that text, wrapped at its width, scrolled when it is longer.
    shown = panel.details.get("1.0", "end-1c")
    assert shown == text
    assert panel.details.cget("wrap") == "word"
    assert "error" in panel.details.tag_names("1.0")  # the heading in the error colour
    # No finding, no details: the room goes to the picture.
    panel._on_clear()
    wait_checked(root, panel)
    assert panel.fix_var.get() == "" and panel._details_frame.winfo_manager() == ""


def test_compact_details_show_the_message_the_table_leaves_out(root, tmp_path):
    panel = WiringPanel(root, compact=True)
    panel.pack(fill="both", expand=True)
    try:
        open_diagram(root, panel, tmp_path)
        assert "message" not in panel.tree.cget("displaycolumns")
        index = next(i for i, f in enumerate(panel.findings) if f.rule == "input-only")
        panel.select_finding(index)
        assert panel.findings[index].message in panel.details.get("1.0", "end")
    finally:
        panel.close()


def _layout_root(size: str, zoom: float) -> tk.Tk:
    require_display()
    window = tk.Tk()
    window.geometry(f"{size}+0+0")
    look.set_zoom(window, zoom)
    return window


@pytest.mark.parametrize(
    "compact, size, zoom",
    [
        (False, "1024x768", 1.0),
        (False, "1024x768", 1.5),
        (False, "960x640", 1.0),
        (True, "480x760", 1.0),  # Thonny's side column
        (True, "480x760", 1.5),
    ],
)
def test_nothing_is_cut_at_small_sizes_and_large_fonts(compact, size, zoom, tmp_path):
    window = _layout_root(size, zoom)
    panel = WiringPanel(window, compact=compact)
    panel.pack(fill="both", expand=True)
    try:
        open_diagram(window, panel, tmp_path)
        assert panel.probe_button is not None  # all four buttons, the probe's too
        assert pump(window, lambda: not layout_check.check(window), 5), "; ".join(
            str(p) for p in layout_check.check(window)
        )
        for button in panel._top_buttons:
            assert button.winfo_ismapped()
            assert button.winfo_width() >= button.winfo_reqwidth()
        # Every heading, "Severity" first, fits its column at this font size.
        heading = tkfont.nametofont("TkHeadingFont", root=window)
        for col, text in (("severity", "Severity"), ("rule", "Rule"), ("where", "Where")):
            assert int(panel.tree.column(col, "width")) >= heading.measure(text) + 8
        # Rows as tall as the font (set_zoom sets it in the companion; Thonny sets its own).
        rowheight = int(ttk.Style(window).lookup("Treeview", "rowheight") or 0)
        assert rowheight >= tkfont.nametofont("TkDefaultFont", root=window).metrics("linespace")
        kind = "compact" if compact else "wide"
        grab_window(window, f"wiring-layout-{kind}-{size}-{zoom}")
    finally:
        panel.close()
        window.destroy()


def test_colours_follow_the_theme_and_stay_readable(root, panel, tmp_path):
    """A dark theme (as Thonny's "Clean Dark"): the table's red and orange are made readable on
    its dark field, the list takes the field colours, the form's error the theme's red."""
    open_diagram(root, panel, tmp_path)
    style = ttk.Style(root)
    style.theme_use("alt")
    for name in ("TFrame", "TLabel", "Treeview", "TEntry"):
        style.configure(name, background="#2b2b2b", foreground="#e0e0e0")
    style.configure("Treeview", fieldbackground="#202020")
    style.configure("TEntry", fieldbackground="#202020")

    def readable() -> bool:
        return all(
            look.contrast_ratio(root, panel.tree.tag_configure(tag, "foreground"), "#202020") >= 4.5
            for tag in ("error", "warning")
        )

    assert pump(root, readable, 3), [
        panel.tree.tag_configure(t, "foreground") for t in ("error", "warning")
    ]
    pal = look.palette(root)
    assert pal.dark
    assert str(panel.conn_list.cget("background")) == pal.field
    assert str(panel.form_error_label.cget("foreground")) == pal.error
    assert look.contrast_ratio(root, str(panel.details.cget("foreground")), pal.background) >= 4.5


def test_the_part_list_drops_down_wide_enough_for_the_names(root, panel):
    combo = panel.part_type_combo
    assert pump(root, lambda: combo.winfo_ismapped(), 2)
    font = tkfont.nametofont("TkTextFont", root=root)
    longest = max(font.measure(v) for v in combo.cget("values"))
    assert combo.winfo_width() < longest  # the box itself is narrower than the names
    root.tk.call("ttk::combobox::Post", str(combo))  # as a click on the arrow does
    try:
        popdown = root.tk.eval(f"ttk::combobox::PopdownWindow {combo}")  # Tk's own widget

        def popdown_width() -> int:
            if not int(root.tk.call("winfo", "ismapped", popdown)):
                return 0
            return int(root.tk.call("winfo", "width", popdown))

        room = root.winfo_screenwidth() - combo.winfo_rootx()
        assert pump(root, lambda: popdown_width() >= min(longest, room), 2), popdown_width()
    finally:
        root.tk.call("ttk::combobox::Unpost", str(combo))


def test_zooming_in_moves_the_buttons_under_the_board_box_uncut(tmp_path):
    window = _layout_root("1024x768", 1.0)
    panel = WiringPanel(window)
    panel.pack(fill="both", expand=True)
    try:
        open_diagram(window, panel, tmp_path)
        row = panel.button_row
        assert pump(window, lambda: row.grid_info().get("row") == 0, 5)  # beside the box
        look.set_zoom(window, 1.5)  # View → Zoom in, twice and more
        assert pump(window, lambda: row.grid_info().get("row") == 1, 5)  # a row of its own
        assert pump(window, lambda: not layout_check.check(window), 5), "; ".join(
            str(p) for p in layout_check.check(window)
        )
        look.set_zoom(window, 1.0)
        assert pump(window, lambda: row.grid_info().get("row") == 0, 5)
    finally:
        panel.close()
        window.destroy()
