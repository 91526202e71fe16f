"""The Wiring panel under Xvfb: a hand-written Wokwi diagram, the form, a script, the picture.

The panel runs on its own (no companion window, ctx=None) with real Tk, the real rule engine
and real matplotlib for the export, as a teacher would use it.
"""

from __future__ import annotations

import json
import tkinter as tk

import pytest
from gui_helpers import distinct_colours, grab_window, pump, require_display
from PIL import Image
from waiting import wait_until_tk

from companion_app.gui.wiring_panel import WiringPanel, default_part_id
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
    assert any(r[0] == "error" and r[1] == "input-only" and "dht1:SDA" in r[2] for r in rows)
    # The connection list shows the file's wires.
    assert "dht1:SDA  →  esp:D34" in panel.conn_list.get(0, "end")
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
    panel.part_type_var.set("wokwi-dht22")
    panel._on_part_type()
    assert panel.part_id_var.get() == "dht1"
    assert "SDA" in panel.part_pin_combo.cget("values")
    panel.part_pin_var.set("SDA")
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
        assert pump(root, lambda: not panel.probing, 10)
        assert calls == [("the-link", "esp32-devkit-v1", False)]  # never in the Tk thread
        assert len(panel.findings) == static + 1
        assert "Probe done" in panel.summary_var.get()
    finally:
        panel.close()
