"""The Flash panel under Xvfb, flashing the real virtual ROM bootloader with the real esptool.

Nothing is faked between the panel and the chip: `FlashPanel` runs our `Flasher`, which drives
esptool, which speaks SLIP to `VirtualBootloader` over a pty. The tests then read the virtual
chip's flash back, look at its command log, and screenshot the window mid-progress and after
success (tests/artifacts/flash-progress.png, flash-done.png).

Every Tk call is checked to come from the main thread: the Tk interpreter object that all widgets
share is wrapped before the window is built, and any use from another thread is recorded.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from firmware_helpers import merged_image
from gui_helpers import distinct_colours, grab_window, pump

from companion_app.gui import look
from companion_app.gui.flash_panel import INCOMPLETE, FlashPanel, format_eta, progress_text

BIG_PAYLOAD = 2_000_000  # ~2 MB of random bytes: about two seconds of writing on a pty
SMALL_PAYLOAD = 64 * 1024
FLASH_TIMEOUT = 60.0


# --- pure parts: no display needed --------------------------------------------------------------
def test_time_left_is_rounded_for_people():
    assert format_eta(None) == ""
    assert format_eta(0.4) == "less than a second left"
    assert format_eta(12.6) == "about 13 s left"
    assert format_eta(75) == "about 1 min 15 s left"


def test_progress_line_names_stage_percent_and_time_left():
    assert progress_text("Writing", 42.4, 3.2) == "Writing — 42 % — about 3 s left"
    assert progress_text("Connecting", None, None) == "Connecting"
    assert progress_text("Done", 100.0, 0.0) == "Done — 100 %"


def test_the_companion_window_does_not_import_esptool_until_the_flash_tab_is_opened():
    code = (
        "import sys, companion_app.gui.app as a\n"
        "print([t for t, *_ in a.default_panels()])\n"
        "print('esptool' in sys.modules, 'companion_app.gui.flash_panel' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert "'Flash'" in out[0]
    assert out[1] == "False False"


def test_the_thread_checker_catches_tk_use_from_a_worker(checked_root):
    """Without this, an empty offenders list could mean the checker sees nothing at all."""
    root, checker = checked_root
    root.update()
    assert checker.offenders == []
    worker = threading.Thread(target=lambda: root.tk.call, name="some-worker")  # no call made
    worker.start()
    worker.join()
    assert checker.offenders == [("some-worker", "call")]


# --- fixtures -----------------------------------------------------------------------------------
@pytest.fixture
def companion(checked_root):
    """The companion window with no hardware and no virtual board, on its Flash tab."""
    from companion_app.gui.app import CompanionApp

    root, checker = checked_root
    app = CompanionApp(root, list_ports=lambda: [], auto_virtual=False)
    tabs = app.notebook.tabs()
    titles = [app.notebook.tab(t, "text") for t in tabs]
    assert titles[:2] == ["Console", "Flash"]
    assert app.panel("Flash") is None  # lazy: not built before its tab is opened
    app.notebook.select(tabs[1])
    assert pump(root, lambda: app.panel("Flash") is not None, 5)
    panel = app.panel("Flash")
    assert isinstance(panel, FlashPanel)
    yield app, panel, checker
    app.close()
    assert checker.offenders == [], "Tk was called from a worker thread"


@pytest.fixture
def esp32_chip(tmp_path):
    from companion_app.simulator.bootloader import VirtualBootloader

    bl = VirtualBootloader("esp32", flash_image=tmp_path / "esp32-flash.bin").start()
    yield bl
    bl.stop()


def write_image(tmp_path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def detect(panel: FlashPanel, port: str) -> None:
    panel.port_var.set(port)
    panel._port_changed()
    panel.detect_button.invoke()
    assert pump(panel, lambda: panel.task == "idle" and panel.board is not None, 20), (
        panel.outcome_var.get() or panel.log_content()
    )


def choose(panel: FlashPanel, path: str) -> None:
    panel.choose_image(path)
    assert pump(panel, lambda: panel.image is not None or bool(panel.refusal_var.get()), 10)


def flash_state(panel: FlashPanel) -> str:
    return str(panel.flash_button.cget("state"))


# --- the panel against the virtual chip ---------------------------------------------------------
def test_flashing_the_virtual_esp32_shows_progress_and_writes_the_image_exactly(
    companion, esp32_chip, tmp_path
):
    app, panel, checker = companion
    data = merged_image(0, 0x1000, app_payload=BIG_PAYLOAD)
    path = write_image(tmp_path, "ESP32_GENERIC-20241129-v1.24.1.bin", data)

    detect(panel, esp32_chip.port)
    assert panel.chip_info.get().startswith("ESP32 (ESP32-D0WD")
    assert panel.mac_info.get() == esp32_chip.mac.hex(":")
    assert panel.size_info.get() == "4 MB"

    choose(panel, path)
    assert panel.image_var.get() == "MicroPython v1.24.1 for ESP32 (2.0 MB, written at 0x1000)"
    assert panel.refusal_var.get() == ""
    assert flash_state(panel) == "normal"

    panel.erase_var.set(False)

    def mid_write() -> bool:
        value = float(panel.progress.cget("value"))
        return panel.stage_var.get().startswith("Writing") and 5 <= value <= 95

    # Hold the flashing worker inside its progress report once it is a third of the way, so
    # the screenshot shows the window mid-write however loaded the machine is.
    release, holding = threading.Event(), threading.Event()
    report = panel._progress_from_worker

    def hold_mid_write(p) -> None:
        report(p)
        if p.stage == "Writing" and 30 <= (p.percent or 0) <= 70 and not holding.is_set():
            holding.set()
            release.wait(30)

    panel._progress_from_worker = hold_mid_write
    try:
        panel.flash_button.invoke()
        assert flash_state(panel) == "disabled"  # no second flash while one runs
        assert pump(app.root, lambda: holding.is_set() and mid_write(), 30), panel.stage_var.get()
        grab_window(app.root, "flash-progress", also_docs=True)
        shown = float(panel.progress.cget("value"))  # grab_window drew this value, then grabbed
        stage = panel.stage_var.get()
    finally:
        release.set()
    assert 5 <= shown <= 99, shown
    assert stage.startswith("Writing — ") and "%" in stage, stage

    assert pump(app.root, lambda: panel.outcome != "", FLASH_TIMEOUT), panel.log_content()
    assert panel.outcome == "done", panel.outcome_var.get()
    image = grab_window(app.root, "flash-done", also_docs=True)
    assert distinct_colours(image) > 50  # a drawn window, not a blank rectangle

    assert esp32_chip.read_flash(0x1000, len(data)) == data
    assert float(panel.progress.cget("value")) == 100.0
    assert panel.outcome_var.get().startswith("Done: ")
    assert "v1.24.1" in panel.outcome_var.get()
    log_text = panel.log_content()
    assert "Hash of data verified" in log_text
    assert "Compressed" in log_text
    writes = [name for name, _ in esp32_chip.destructive_commands()]
    assert "FLASH_DEFL_BEGIN" in writes and "ERASE_FLASH" not in writes
    assert flash_state(panel) == "normal"  # ready for the next board
    assert checker.offenders == []


def test_wrong_chip_image_is_refused_in_red_and_nothing_is_written(companion, esp32_chip, tmp_path):
    app, panel, _ = companion
    s3 = write_image(tmp_path, "ESP32_GENERIC_S3.bin", merged_image(9, 0, SMALL_PAYLOAD))

    # Before detection the chip is unknown: Flash is allowed, and the engine refuses the file
    # after asking the chip what it is, before any erase or write.
    panel.port_var.set(esp32_chip.port)
    panel._port_changed()
    choose(panel, s3)
    assert "for ESP32-S3" in panel.image_var.get()
    assert flash_state(panel) == "normal"
    panel.flash_button.invoke()
    assert pump(app.root, lambda: panel.outcome != "", FLASH_TIMEOUT), panel.log_content()
    assert panel.outcome == "refused"
    refusal = panel.refusal_var.get()
    assert refusal.startswith("Wrong firmware: ESP32_GENERIC_S3.bin is ")
    assert "the board is an ESP32" in refusal and "Nothing was written" in refusal
    # In the theme's error colour, readable on its background (Thonny's dark theme too).
    pal = look.palette(panel)
    assert str(panel.refusal_label.cget("foreground")) == pal.error
    assert look.contrast_ratio(panel, pal.error, pal.background) >= look.MIN_CONTRAST
    assert esp32_chip.destructive_commands() == []

    # Once the board is detected, the same file is refused before Flash can be pressed.
    detect(panel, esp32_chip.port)
    assert panel.refusal_var.get().startswith("Wrong firmware: ESP32_GENERIC_S3.bin is ")
    assert flash_state(panel) == "disabled"
    grab_window(app.root, "flash-wrong-chip")
    assert esp32_chip.destructive_commands() == []


def test_cancel_mid_write_says_flash_incomplete_and_flashing_again_works(
    companion, esp32_chip, tmp_path
):
    app, panel, _ = companion
    data = merged_image(0, 0x1000, app_payload=BIG_PAYLOAD)
    path = write_image(tmp_path, "fw.bin", data)
    detect(panel, esp32_chip.port)
    choose(panel, path)
    panel.flash_button.invoke()
    assert pump(app.root, lambda: float(panel.progress.cget("value")) >= 10, 30)
    panel.cancel_button.invoke()
    assert pump(app.root, lambda: panel.outcome != "", FLASH_TIMEOUT), panel.log_content()

    assert panel.outcome == "incomplete"
    assert panel.stage_var.get() == INCOMPLETE == "Flash incomplete — flash again"
    assert panel.outcome_var.get().startswith(INCOMPLETE)
    assert esp32_chip.read_flash(0x1000, len(data)) != data  # stopped part-way
    assert flash_state(panel) == "normal"
    grab_window(app.root, "flash-cancelled")

    panel.flash_button.invoke()
    assert pump(app.root, lambda: panel.outcome != "", FLASH_TIMEOUT), panel.log_content()
    assert panel.outcome == "done", panel.outcome_var.get()
    assert esp32_chip.read_flash(0x1000, len(data)) == data


def test_console_connection_on_the_port_is_closed_while_flashing_and_reopened(
    companion, esp32_chip, tmp_path
):
    app, panel, _ = companion
    conn = app.connection
    events: list[tuple[str, object]] = []
    conn.add_listener(lambda event, payload: events.append((event, payload)))
    conn.connect(esp32_chip.port)
    assert pump(app.root, lambda: conn.is_connected, 10), app.status_var.get()

    data = merged_image(0, 0x1000, app_payload=SMALL_PAYLOAD)
    panel.port_var.set(esp32_chip.port)
    panel._port_changed()
    choose(panel, write_image(tmp_path, "fw.bin", data))
    panel.flash_button.invoke()
    line = f"Closing the Console's connection to {esp32_chip.port} while flashing"
    assert line in panel.log_content()
    assert app.status_var.get() == line
    assert conn.state == "disconnected"
    assert pump(app.root, lambda: panel.outcome != "", FLASH_TIMEOUT), panel.log_content()
    assert panel.outcome == "done", panel.outcome_var.get()
    assert esp32_chip.read_flash(0x1000, len(data)) == data
    assert pump(app.root, lambda: conn.is_connected and conn.port == esp32_chip.port, 10)
    kinds = [e for e, _ in events]
    assert kinds[kinds.index("disconnected") :][:3] == ["disconnected", "connecting", "connected"]
    assert f"Reopening the Console's connection to {esp32_chip.port}" in panel.log_content()


def test_practice_on_a_virtual_board_flashes_a_virtual_chip_with_no_port(companion, env):
    app, panel, _ = companion
    data = merged_image(9, 0, app_payload=SMALL_PAYLOAD)
    s3 = write_image(env, "ESP32_GENERIC_S3.bin", data)
    choose(panel, s3)

    panel.practice_check.invoke()
    assert panel.practice_var.get()
    assert str(panel.port_combo.cget("state")) == "disabled"
    assert panel.port_var.get() == "virtual ESP32"
    # The practice chip is known at once, so the wrong file is refused before Flash is enabled.
    assert panel.refusal_var.get().startswith("Wrong firmware")
    assert flash_state(panel) == "disabled"

    panel.chip_var.set("esp32s3")
    panel.chip_combo.event_generate("<<ComboboxSelected>>")
    assert pump(app.root, lambda: flash_state(panel) == "normal", 5), panel.refusal_var.get()
    assert panel.refusal_var.get() == ""
    panel.flash_button.invoke()
    assert pump(app.root, lambda: panel.outcome != "", FLASH_TIMEOUT), panel.log_content()
    assert panel.outcome == "done", panel.outcome_var.get()

    chip = panel.practice_bootloader
    assert chip is not None and chip.chip == "esp32s3"
    assert chip.read_flash(0, len(data)) == data
    assert str(chip.flash_image).startswith(str(env / "data"))  # the user's data dir
    assert panel.chip_info.get().startswith("ESP32-S3")
    # On its pty where the OS has ptys, else on loopback TCP (Windows, the Windows-like pass).
    assert f"Virtual ESP32-S3 ready in download mode on {chip.port}" in panel.log_content()
    assert chip.port.startswith(("/dev/", "socket://127.0.0.1:"))
    grab_window(app.root, "flash-practice")

    panel.practice_check.invoke()  # unticked: the virtual chip goes away
    assert panel.practice_bootloader is None
    assert panel.chip_info.get().startswith("not detected")


def test_cached_firmware_for_the_detected_chip_can_be_picked(companion, esp32_chip, env):
    from companion_app.firmware.cache import FirmwareCache

    app, panel, _ = companion
    cache = FirmwareCache(env / "cache")
    src = write_image(env, "ESP32_GENERIC-20241129-v1.24.1.bin", merged_image(0, 0x1000))
    cache.add("esp32-devkit-v1", src, "v1.24.1", "20241129")
    s3src = write_image(env, "ESP32_GENERIC_S3-20241129-v1.24.1.bin", merged_image(9, 0))
    cache.add("esp32-s3-devkitc-1", s3src, "v1.24.1", "20241129")

    detect(panel, esp32_chip.port)
    label = "v1.24.1 for esp32-devkit-v1, 20241129"
    assert pump(app.root, lambda: list(panel.cache_combo.cget("values")) == [label], 10), list(
        panel.cache_combo.cget("values")
    )  # only the ESP32's firmware, not the S3's
    panel.cache_var.set(label)
    panel.cache_combo.event_generate("<<ComboboxSelected>>")
    assert pump(app.root, lambda: panel.image is not None, 10), panel.refusal_var.get()
    assert panel.path_var.get() == str(env / "cache" / "ESP32_GENERIC-20241129-v1.24.1.bin")
    assert panel.image_var.get().startswith("MicroPython v1.24.1 for ESP32")
    assert flash_state(panel) == "normal"


def test_a_file_that_is_no_firmware_is_explained_and_cannot_be_flashed(companion, env):
    app, panel, _ = companion
    panel.port_var.set("/dev/ttyUSB0")
    choose(panel, write_image(env, "index.html", b"<!DOCTYPE html><html>Not found</html>"))
    assert panel.image is None
    assert "saved an HTML page instead of the firmware" in panel.refusal_var.get()
    assert flash_state(panel) == "disabled"


def test_with_only_the_virtual_micropython_board_the_panel_starts_in_practice_mode(
    checked_root, env
):
    """That board runs MicroPython, not a bootloader: the class should rehearse instead."""
    from types import SimpleNamespace

    root, checker = checked_root
    statuses: list[str] = []
    connection = SimpleNamespace(port="/dev/pts/77", last_port="/dev/pts/77", state="connected")
    app = SimpleNamespace(virtual_board=SimpleNamespace(port="/dev/pts/77"))
    ctx = SimpleNamespace(connection=connection, app=app, set_status=statuses.append, root=root)
    panel = FlashPanel(root, ctx, list_ports=lambda: [])
    panel.pack(fill="both", expand=True)
    try:
        assert panel.practice_var.get()
        assert panel.port_var.get() == "virtual ESP32"
        assert "Practice mode: a virtual ESP32" in panel.log_content()
        data = merged_image(0, 0x1000, app_payload=SMALL_PAYLOAD)
        choose(panel, write_image(env, "fw.bin", data))
        panel.flash_button.invoke()
        assert pump(root, lambda: panel.outcome != "", FLASH_TIMEOUT), panel.log_content()
        assert panel.outcome == "done", panel.outcome_var.get()
        assert panel.port_var.get() == panel.practice_bootloader.port
        assert panel.practice_bootloader.read_flash(0x1000, len(data)) == data
        assert "press the board's EN/RST" not in panel.log_content()  # nothing to restart
        assert statuses[-1].startswith("Done: MicroPython v1.24.1")
        # Unticking gives the port field back (empty: the window's port was the virtual board).
        panel.practice_check.invoke()
        assert panel.port_var.get() == ""
        assert panel.practice_bootloader is None
    finally:
        panel.close()
    assert checker.offenders == []


# --- issue 15: keyboard, practice firmware, the next step ----------------------------------------
def test_choose_file_and_the_firmware_list_are_disabled_while_flashing(
    companion, esp32_chip, tmp_path
):
    app, panel, _ = companion
    data = merged_image(0, 0x1000, app_payload=BIG_PAYLOAD)
    detect(panel, esp32_chip.port)
    choose(panel, write_image(tmp_path, "fw.bin", data))
    assert str(panel.browse_button.cget("state")) == "normal"
    assert str(panel.cache_combo.cget("state")) == "readonly"

    release, holding = threading.Event(), threading.Event()
    report = panel._progress_from_worker

    def hold_mid_write(p) -> None:
        report(p)
        if p.stage == "Writing" and not holding.is_set():
            holding.set()
            release.wait(30)

    panel._progress_from_worker = hold_mid_write
    try:
        panel.flash_button.invoke()
        assert pump(app.root, holding.is_set, 30), panel.log_content()
        assert panel.task == "flashing"
        # Nothing that cannot act now takes a click (or a Space from the keyboard).
        for widget in (panel.browse_button, panel.detect_button, panel.flash_button):
            assert str(widget.cget("state")) == "disabled", widget
        assert str(panel.cache_combo.cget("state")) == "disabled"
        assert str(panel.cancel_button.cget("state")) == "normal"
    finally:
        release.set()
    assert pump(app.root, lambda: panel.outcome != "", FLASH_TIMEOUT), panel.log_content()
    assert panel.outcome == "done", panel.outcome_var.get()
    assert str(panel.browse_button.cget("state")) == "normal"
    assert str(panel.cache_combo.cget("state")) == "readonly"


def test_the_practice_firmware_is_refused_for_a_real_port_and_not_offered_there(companion, env):
    from companion_app.firmware.practice import PRACTICE_LABEL, practice_firmware_file

    app, panel, _ = companion
    panel.port_var.set("/dev/ttyUSB0")
    panel._port_changed()
    panel.refresh_cache()
    assert pump(app.root, lambda: not panel._runner.running("cache"), 10)
    assert PRACTICE_LABEL not in panel.cache_combo.cget("values")  # only the practice chip's

    practice = practice_firmware_file("esp32", env / "made")
    choose(panel, str(practice))
    refusal = panel.refusal_var.get()
    assert refusal.startswith("practice-firmware-esp32.bin is the practice firmware"), refusal
    assert "a real board would not start with it" in refusal
    assert flash_state(panel) == "disabled"
    grab_window(app.root, "flash-practice-refused")

    # The same file is fine for the practice chip, and refused again once practice is off.
    panel.practice_check.invoke()
    assert pump(app.root, lambda: flash_state(panel) == "normal", 10), panel.refusal_var.get()
    assert panel.path_var.get() == str(practice)  # the chosen file stays chosen
    panel.practice_check.invoke()
    assert panel.refusal_var.get().startswith("practice-firmware-esp32.bin is the practice")
    assert flash_state(panel) == "disabled"


def test_without_a_way_to_switch_panels_the_next_step_is_words_only(checked_root, env):
    """A host with no ``show_panel`` (or one that has no Deploy panel) gets the sentence,
    not a button that does nothing."""
    from types import SimpleNamespace

    from companion_app.gui.flash_panel import NEXT_BUTTON, NEXT_NO_PANEL

    root, _ = checked_root
    connection = SimpleNamespace(port=None, last_port=None, state="disconnected")
    ctx = SimpleNamespace(connection=connection, app=None, set_status=lambda text: None)
    panel = FlashPanel(root, ctx, list_ports=lambda: [])
    panel.pack(fill="both", expand=True)
    try:
        assert not panel.next_row.winfo_ismapped()  # nothing flashed yet: no next step
        panel.practice_check.invoke()
        assert pump(root, lambda: panel.image is not None, 20), panel.image_var.get()
        panel.flash_button.invoke()
        assert pump(root, lambda: panel.outcome != "", FLASH_TIMEOUT), panel.log_content()
        assert panel.outcome == "done", panel.outcome_var.get()
        assert pump(root, panel.next_row.winfo_ismapped, 5)
        assert panel.next_var.get() == NEXT_NO_PANEL
        assert not panel.next_row.is_visible(panel.next_button)
        assert str(panel.next_button.cget("text")) == NEXT_BUTTON

        # With a hook that cannot show Deploy, pressing the button says so in words.
        ctx.show_panel = lambda title: False
        panel._show_next(True)
        assert panel.next_row.is_visible(panel.next_button)
        panel.next_button.invoke()
        assert panel.next_var.get() == NEXT_NO_PANEL
        assert not panel.next_row.is_visible(panel.next_button)
    finally:
        panel.close()


def test_escape_closes_the_choose_file_dialog(companion):
    """The panel's only dialog is Tk's file chooser; Escape cancels it and nothing changes."""
    app, panel, _ = companion
    dialog = f"{panel}.__tk_filedialog"  # where Tk's own file dialog (tkfbox) puts itself
    tk_call = app.root.tk.call
    seen: list[str] = []
    deadline = time.monotonic() + 20

    def shown() -> bool:
        return bool(int(tk_call("winfo", "exists", dialog))) and bool(
            int(tk_call("winfo", "viewable", dialog))
        )

    def give_up(why: str) -> None:  # end the test with a failure rather than hang it
        seen.append(why)
        if int(tk_call("winfo", "exists", dialog)):
            tk_call("destroy", dialog)

    def still_open() -> None:
        if shown():
            give_up("Escape did not close it")

    def press_escape() -> None:
        if shown():
            seen.append("open")
            tk_call("focus", "-force", dialog)
            tk_call("event", "generate", dialog, "<Escape>")
            app.root.after(10_000, still_open)
        elif time.monotonic() > deadline:
            give_up("never opened")
        else:
            app.root.after(50, press_escape)

    app.root.after(50, press_escape)
    panel.browse_button.invoke()  # returns once the dialog is closed
    assert seen == ["open"]
    assert not shown()
    assert panel.path_var.get() == ""  # cancelled: no file chosen
