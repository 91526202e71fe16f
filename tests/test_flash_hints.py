"""Flash hints that know the board (issue 11, item 12) and clear bad-input messages (item 10).

"Hold the BOOT button, press EN" is wrong for an ESP32-CAM (no BOOT button, no USB: IO0 is
jumpered to GND through a USB-serial adapter) and for a Pico (BOOTSEL and a USB drive). The
words live in the board data (companion_app/boards/data/*.json over chips.json) and reach every
place that shows them: the error when the chip does not answer, the note after a flash the tool
could not restart, and the Flash panel.

The port that does not answer is a real pseudo-terminal with nobody on the other side, driven
by the real esptool; the practice chip is the virtual ROM bootloader.
"""

from __future__ import annotations

import json
import os
import sys
from importlib import resources
from pathlib import Path

import pytest
from firmware_helpers import esp_app_image, merged_image, uf2_image

from companion_app.boards import (
    FLASH_MODE_KEYS,
    UnknownBoardError,
    flash_mode,
    list_boards,
    load_board,
)
from companion_app.cli import main
from companion_app.firmware.flasher import (
    PRESS_EN_NOTE,
    Flasher,
    FlashError,
    no_banner_note,
    translate_error,
)

CHIPS_JSON = json.loads(
    resources.files("companion_app.boards").joinpath("chips.json").read_text(encoding="utf-8")
)
NO_ANSWER = "No serial data received."
RP2040_FAMILY = 0xE48BFF56
RP2350_FAMILY = 0xE48BFF59

needs_pty = pytest.mark.pty


def image_for_chip(chip: str) -> bytes:
    """A MicroPython-shaped image the given chip accepts (chip ids: esptool's targets)."""
    return {
        "esp32": lambda: merged_image(0, 0x1000),
        "esp32s3": lambda: merged_image(9, 0x0),
        "esp32c3": lambda: merged_image(5, 0x0),
        "esp8266": lambda: esp_app_image(None, payload=8192, flash_code=0x40),
        "rp2040": lambda: uf2_image(RP2040_FAMILY),
        "rp2350": lambda: uf2_image(RP2350_FAMILY),
    }[chip]()


def firmware_file(tmp_path: Path, chip: str) -> str:
    suffix = ".uf2" if chip.startswith("rp2") else ".bin"
    path = tmp_path / f"fw-{chip}{suffix}"
    path.write_bytes(image_for_chip(chip))
    return str(path)


@pytest.fixture
def silent_port():
    """A serial port that exists but never answers, as a board that is not in download mode."""
    from companion_app.simulator.host import pty_supported

    if not pty_supported():
        pytest.skip("needs a pseudo-terminal, which this OS or test pass does not have")
    master, slave = os.openpty()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(master)
        os.close(slave)


@pytest.fixture
def no_mounted_drives(monkeypatch):
    """This PC's own USB drives must not count as a Pico in BOOTSEL mode."""
    import companion_app.firmware.uf2 as uf2

    monkeypatch.setattr(uf2, "_candidate_mounts", lambda: [])


def fake_bootsel_drive(folder: Path, model: str, board_id: str) -> Path:
    """A folder that looks like a Pico's BOOTSEL drive (the bootrom serves INFO_UF2.TXT)."""
    folder.mkdir()
    (folder / "INFO_UF2.TXT").write_text(
        f"UF2 Bootloader v3.0\nModel: {model}\nBoard-ID: {board_id}\n", encoding="utf-8"
    )
    return folder


# --- the data ----------------------------------------------------------------------------------
@pytest.mark.parametrize("chip", [c for c in CHIPS_JSON if not c.startswith("_")])
def test_every_chip_has_its_bootloader_steps_with_a_source(chip):
    entry = CHIPS_JSON[chip]["flash_mode"]
    assert all(isinstance(entry[k], str) and entry[k] for k in FLASH_MODE_KEYS), chip
    assert flash_mode(chip=chip).basis == chip


def test_the_general_steps_are_data_too_and_point_to_naming_the_board():
    general = flash_mode()
    assert general.basis == ""
    assert general.enter == CHIPS_JSON["_default_flash_mode"]["enter"]
    assert "--board" in general.enter and "Board type" in general.enter


@pytest.mark.parametrize("board", [b.id for b in list_boards()])
def test_a_board_entry_overrides_its_chip_and_names_its_source(board):
    own = load_board(board).raw.get("flash_mode")
    steps = flash_mode(board)
    if own is None:
        assert steps == flash_mode(chip=load_board(board).chip)  # Picos: the chip says it all
    else:
        assert steps.basis == board
        assert steps.enter == own["enter"] and steps.run == own["run"]
        assert own["source"].startswith("http") or "," in own["source"]


def test_an_unknown_chip_gets_the_general_steps_and_an_unknown_board_is_a_usage_error():
    assert flash_mode(chip="esp32s2") == flash_mode()
    with pytest.raises(UnknownBoardError):
        flash_mode("esp32-kam")


# --- the error when the chip does not answer ----------------------------------------------------
# What each board's hint must say, and what it must never say.
ESP_BOARD_WORDS = {
    "esp32-devkit-v1": (["hold the BOOT button", "press and release EN"], []),
    "esp32-devkitc": (["hold the Boot button", "press and release EN"], []),
    "esp32-s3-devkitc-1": (["marked UART", "marked USB", "new port name", "RST"], []),
    "esp32-c3-devkitm-1": (["Boot button", "Reset", "USB-to-UART"], ["EN"]),
    "esp32-cam": (["USB-serial adapter", "IO0 to GND", "RST"], ["BOOT", "Boot", "EN ", "(EN)"]),
    "nodemcu": (["FLASH button", "RST"], ["BOOT"]),
    "d1-mini": (["D3 (GPIO0) to GND", "reset button"], ["BOOT", "FLASH"]),
    "m5stickc-plus2": (["G0", "GND", "power button"], ["BOOT"]),
}


def test_every_esp_board_of_the_contract_has_expected_words():
    esp = {b.id for b in list_boards() if not b.chip.startswith("rp2")}
    assert set(ESP_BOARD_WORDS) == esp


@pytest.mark.parametrize("board", sorted(ESP_BOARD_WORDS))
def test_an_unanswering_board_gets_its_own_steps_from_iotkit_flash(
    board, silent_port, tmp_path, capsys
):
    fw = firmware_file(tmp_path, load_board(board).chip)
    code = main(["flash", "--port", silent_port, "--firmware", fw, "--board", board, "--yes"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"error: The board on {silent_port} did not answer as a bootloader. ")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    hint = err.split("did not answer as a bootloader. ", 1)[1]
    assert hint.strip() == flash_mode(board).enter
    must, never = ESP_BOARD_WORDS[board]
    for words in must:
        assert words in hint, (board, words)
    for words in never:
        assert words not in hint, (board, words)


def test_the_esp32_cam_hint_is_the_seed_tutorials_procedure():
    """IO0 jumpered to GND and RST pressed to flash; jumper out and RST again to run."""
    steps = flash_mode("esp32-cam")
    assert "boot" not in steps.enter.lower() and "boot" not in steps.run.lower()
    assert steps.enter.index("IO0 to GND") < steps.enter.index("press the RST button")
    assert steps.run.startswith("Remove the IO0-to-GND jumper") and "press RST" in steps.run


@pytest.mark.parametrize(
    "chip, words",
    [
        ("esp32", ["hold the BOOT button", "EN (RST)", "GPIO0 to GND"]),
        ("esp32s3", ["S3's own USB", "new port name", "iotkit ports"]),
        ("esp32c3", ["GPIO9", "C3's own USB", "hold BOOT while you plug"]),
        ("esp8266", ["GPIO0 at GND", "FLASH button"]),
    ],
)
def test_with_no_board_the_chip_of_the_image_decides_the_words(chip, words):
    err = translate_error(
        Exception(f"Failed to connect to Espressif device: {NO_ANSWER}"), "/dev/ttyUSB0", chip=chip
    )
    for w in words:
        assert w in str(err), (chip, w)


@needs_pty
def test_iotkit_flash_with_no_board_falls_back_to_the_images_chip(silent_port, tmp_path, capsys):
    fw = firmware_file(tmp_path, "esp32c3")
    assert main(["flash", "--port", silent_port, "--firmware", fw, "--yes"]) == 1
    err = capsys.readouterr().err
    assert flash_mode(chip="esp32c3").enter in err and "GPIO9" in err


@needs_pty
def test_detect_with_nothing_known_gives_the_general_steps(silent_port):
    with pytest.raises(FlashError) as caught:
        Flasher(silent_port).detect()
    assert str(caught.value).endswith(flash_mode().enter)


@pytest.mark.parametrize(
    "board, drive", [("pico", "RPI-RP2"), ("pico-w", "RPI-RP2"), ("pico2-w", "RP2350")]
)
def test_a_pico_that_is_not_in_bootsel_mode_gets_bootsel_words(
    board, drive, tmp_path, capsys, no_mounted_drives
):
    fw = firmware_file(tmp_path, load_board(board).chip)
    not_a_drive = tmp_path / "Downloads"
    not_a_drive.mkdir()
    code = main(["flash", "--port", str(not_a_drive), "--firmware", fw, "--board", board, "--yes"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "not a BOOTSEL drive" in err and "INFO_UF2.TXT" in err
    assert "hold its BOOTSEL button while you plug" in err and f"called {drive}" in err
    assert "BOOT button" not in err and "EN" not in err


# --- how to run it after flashing ---------------------------------------------------------------
@needs_pty
@pytest.mark.parametrize("board", [None, "esp32-cam", "nodemcu"])
def test_after_a_flash_it_could_not_restart_the_note_is_the_boards(board, tmp_path):
    from companion_app.simulator.bootloader import VirtualBootloader

    chip = load_board(board).chip if board else "esp32"
    bl = VirtualBootloader(chip, flash_image=tmp_path / "flash.bin").start()
    try:
        result = Flasher(bl.port, board=board).flash(firmware_file(tmp_path, chip))
    finally:
        bl.stop()
    steps = flash_mode(board, chip)
    run = steps.run[0].lower() + steps.run[1:]
    assert result.ok
    assert f"This port has no reset lines, so the board was not restarted: {run}" in result.notes
    if board is None:
        assert PRESS_EN_NOTE in result.notes  # the chip's words are the general ones
    if board == "esp32-cam":
        assert "IO0-to-GND jumper" in " ".join(result.notes)
        assert "EN/RST" not in " ".join(result.notes)


def test_the_no_banner_note_carries_the_boards_run_step():
    note = no_banner_note(flash_mode("d1-mini"))
    assert "did not answer within" in note and "remove any D3-to-GND wire" in note


# --- a board picked together with a file --------------------------------------------------------
@needs_pty
def test_a_file_for_another_chip_than_the_picked_board_is_refused_before_the_port_is_opened(
    silent_port, tmp_path, capsys
):
    fw = firmware_file(tmp_path, "esp32")
    code = main(
        ["flash", "--port", silent_port, "--firmware", fw, "--board", "esp32-s3-devkitc-1", "--yes"]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "Wrong firmware" in err and "ESP32-S3" in err and "did not answer" not in err


def test_a_bin_for_a_pico_board_says_it_takes_a_uf2_and_how(tmp_path, capsys):
    fw = firmware_file(tmp_path, "esp32")
    code = main(["flash", "--port", "/dev/ttyACM0", "--firmware", fw, "--board", "pico", "--yes"])
    err = capsys.readouterr().err
    assert code == 1
    assert "takes a .uf2 file" in err and "BOOTSEL" in err and "There is no port" not in err


# --- item 10: a .bin onto a UF2 drive, and the reverse ------------------------------------------
def test_a_bin_onto_a_bootsel_drive_names_the_drives_board_and_the_file_it_wants(tmp_path, capsys):
    drive = fake_bootsel_drive(tmp_path / "RPI-RP2", "Raspberry Pi RP2", "RPI-RP2")
    fw = firmware_file(tmp_path, "esp32")
    code = main(["flash", "--port", str(drive), "--firmware", fw, "--yes"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "There is no port" not in err
    assert "BOOTSEL drive of a Raspberry Pi RP2 (Board-ID RPI-RP2)" in err
    assert "takes a .uf2 file" in err and "fw-esp32.bin is MicroPython" in err
    assert "for ESP32" in err and "ESP image" in err
    assert sorted(p.name for p in drive.iterdir()) == ["INFO_UF2.TXT"]  # nothing copied


def test_a_bin_onto_a_plain_folder_says_it_is_a_folder(tmp_path, capsys):
    fw = firmware_file(tmp_path, "esp32")
    code = main(["flash", "--port", str(tmp_path), "--firmware", fw, "--yes"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"{tmp_path} is a folder, not a serial port" in err


@needs_pty
def test_a_uf2_aimed_at_an_esp_serial_port_is_explained_and_nothing_is_sent(
    tmp_path, capsys, no_mounted_drives
):
    from companion_app.simulator.bootloader import VirtualBootloader

    bl = VirtualBootloader("esp32", flash_image=tmp_path / "flash.bin").start()
    try:
        fw = firmware_file(tmp_path, "rp2040")
        code = main(["flash", "--port", bl.port, "--firmware", fw, "--yes"])
        commands = bl.commands()
    finally:
        bl.stop()
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "fw-rp2040.uf2 is a UF2 file" in err and f"({bl.port} is not one)" in err
    assert "no BOOTSEL drive is mounted" in err and "hold its BOOTSEL button" in err
    assert [c for c in commands if c != "POWER_ON"] == []  # the ESP chip was never spoken to


def test_a_uf2_with_an_esp_board_is_refused_with_the_reason(tmp_path, capsys):
    fw = firmware_file(tmp_path, "rp2040")
    code = main(
        ["flash", "--port", "/dev/ttyUSB0", "--firmware", fw, "--board", "esp32-cam", "--yes"]
    )
    err = capsys.readouterr().err
    assert code == 1 and "takes a .bin file written over serial" in err


# --- the same class: other bad inputs to `iotkit flash` -----------------------------------------
def _bad_inputs(tmp_path: Path) -> list[tuple[list[str], int, str]]:
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    text = tmp_path / "notes.bin"
    text.write_text("hello\n", encoding="utf-8")
    huge = tmp_path / "disk.img"
    with open(huge, "wb") as f:  # sparse: 65 MB on paper, nothing on disk
        f.truncate(65 * 1024 * 1024)
    fw = firmware_file(tmp_path, "esp32")
    cases = [
        (["--firmware", str(tmp_path)], 1, "is a folder, not a firmware file"),
        (["--firmware", str(empty)], 1, "is empty (0 bytes)"),
        (["--firmware", str(text)], 1, "is not a firmware image: it is a text file"),
        (["--firmware", str(huge)], 1, "far bigger than any MicroPython firmware"),
        (["--firmware", str(tmp_path / "missing.bin")], 1, "does not exist"),
        (["--firmware", ""], 2, "--firmware needs a file name"),
        ([], 2, "say what to flash"),
        (["--firmware", fw, "--baud", "0"], 2, "must be a whole number above 0"),
        (["--firmware", fw, "--baud", "fast"], 2, "--baud"),
        (["--firmware", fw, "--board", "esp32-kam"], 2, "Did you mean esp32-cam?"),
        (["--board", "esp32-cam", "--cache", str(text)], 1, "is a file, not a folder"),
        (
            ["--board", "esp32-cam", "--version", "banana", "--cache", str(tmp_path / "cache")],
            1,
            "'banana' is not a MicroPython version",
        ),
    ]
    if sys.platform != "win32":
        cases.append((["--firmware", "/dev/zero"], 1, "is not a regular file"))
    return cases


def test_bad_firmware_arguments_get_one_clear_line_and_no_traceback(tmp_path, capsys):
    for extra, want_code, words in _bad_inputs(tmp_path):
        code = main(["flash", "--port", "/dev/ttyUSB0", *extra, "--yes"])
        err = capsys.readouterr().err
        assert code == want_code, (extra, err)
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, (extra, err)
        assert words in err, (extra, err)
        assert "Traceback" not in err


def test_an_empty_port_name_is_a_usage_error(tmp_path, capsys):
    fw = firmware_file(tmp_path, "esp32")
    assert main(["flash", "--port", "", "--firmware", fw, "--yes"]) == 2
    assert "--port needs a port name" in capsys.readouterr().err


def test_the_engine_refuses_a_baud_rate_below_one_too():
    with pytest.raises(FlashError, match="positive baud rate"):
        Flasher("/dev/ttyUSB0", baud=0)


# --- the Flash panel ----------------------------------------------------------------------------
@pytest.fixture
def flash_tab(tmp_path, monkeypatch):
    """The companion window with no hardware, on its Flash tab (under Xvfb)."""
    from gui_helpers import pump, require_display

    require_display()
    import tkinter as tk

    from companion_app.gui.app import CompanionApp

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("IOTKIT_FIRMWARE_CACHE", str(tmp_path / "cache"))
    root = tk.Tk()
    root.geometry("960x680+0+0")
    app = CompanionApp(root, list_ports=lambda: [], auto_virtual=False)
    app.notebook.select(app.notebook.tabs()[1])
    assert pump(root, lambda: app.panel("Flash") is not None, 5)
    yield app, app.panel("Flash")
    app.close()
    try:
        root.destroy()
    except tk.TclError:
        pass


def pick_board_type(panel, board_id: str | None) -> None:
    """As a person does: choose the entry in the Board type list."""
    from companion_app.gui.boardpick import board_label
    from companion_app.gui.flash_panel import NO_BOARD

    label = board_label(load_board(board_id)) if board_id else NO_BOARD
    assert label in panel.board_type_combo.cget("values")
    panel.board_type_combo.set(label)
    panel.board_type_combo.event_generate("<<ComboboxSelected>>")


@needs_pty
def test_the_flash_panel_shows_and_reports_the_picked_boards_own_steps(
    flash_tab, silent_port, tmp_path
):
    from gui_helpers import grab_window, pump

    app, panel = flash_tab
    assert panel.board_type() is None and panel.boot_hint() == ""
    assert not panel.boot_hint_label.winfo_ismapped()  # no board chosen: no hint, no gap
    pick_board_type(panel, "esp32-cam")
    assert pump(app.root, lambda: panel.boot_hint_label.winfo_ismapped(), 5)
    hint = panel.boot_hint()
    assert hint == f"How to flash it: {flash_mode('esp32-cam').enter}"
    assert "IO0 to GND" in hint and "BOOT" not in hint

    panel.choose_image(firmware_file(tmp_path, "esp32"))
    assert pump(app.root, lambda: panel.image is not None, 10)
    panel.port_var.set(silent_port)
    panel._port_changed()
    assert str(panel.flash_button.cget("state")) == "normal"
    panel.flash_button.invoke()
    assert pump(
        app.root, lambda: panel.task == "idle" and panel.outcome == "failed", 30
    ), panel.log_content()
    shown = panel.outcome_var.get()
    assert shown == (
        f"The board on {silent_port} did not answer as a bootloader. "
        f"{flash_mode('esp32-cam').enter}"
    )
    assert "BOOT" not in shown
    grab_window(app.root, "flash-board-hint")


def test_the_flash_panel_refuses_a_bin_for_a_picked_pico_with_bootsel_words(flash_tab, tmp_path):
    from gui_helpers import grab_window, pump

    app, panel = flash_tab
    panel.choose_image(firmware_file(tmp_path, "esp32"))
    assert pump(app.root, lambda: panel.image is not None, 10)
    panel.port_var.set("/dev/ttyACM0")
    panel._port_changed()
    assert str(panel.flash_button.cget("state")) == "normal"
    pick_board_type(panel, "pico2-w")
    assert pump(app.root, lambda: bool(panel.refusal_var.get()), 5)
    assert "Raspberry Pi Pico 2 W takes a .uf2 file" in panel.refusal_var.get()
    assert "BOOTSEL drive" in panel.refusal_var.get()
    assert "called RP2350" in panel.boot_hint()
    assert str(panel.flash_button.cget("state")) == "disabled"
    grab_window(app.root, "flash-board-hint-pico")
    pick_board_type(panel, None)  # back to "not chosen": the file fits again
    assert pump(app.root, lambda: not panel.refusal_var.get(), 5)
    assert str(panel.flash_button.cget("state")) == "normal" and panel.boot_hint() == ""


def test_the_flash_panel_starts_with_the_hosts_board(tmp_path):
    """Thonny's IoT Kit board option (ctx.board_id()) is the panel's first board type."""
    from gui_helpers import require_display

    require_display()
    import tkinter as tk
    from types import SimpleNamespace

    from companion_app.gui.flash_panel import FlashPanel

    root = tk.Tk()
    try:
        conn = SimpleNamespace(port=None, last_port=None)
        ctx = SimpleNamespace(
            connection=conn, set_status=lambda text: None, board_id=lambda: "nodemcu"
        )
        panel = FlashPanel(root, ctx, list_ports=lambda: [])
        assert panel.board_type() == "nodemcu"
        assert "FLASH button" in panel.boot_hint()
        panel.close()
    finally:
        root.destroy()


def test_the_flashing_guide_lists_every_board_in_its_download_mode_table():
    guide = (Path(__file__).parents[1] / "docs" / "flashing.md").read_text(encoding="utf-8")
    table = guide.split("## How each board goes into download mode", 1)[1].split("\n## ", 1)[0]
    for board in list_boards():
        assert f"`{board.id}`" in table, board.id
    assert "IO0 to GND" in table and "RPI-RP2" in table and "RP2350" in table


def test_a_file_or_a_closed_socket_as_the_port_gets_one_line_that_says_so(tmp_path, capsys):
    import socket

    fw = firmware_file(tmp_path, "esp32")
    assert main(["flash", "--port", fw, "--firmware", fw, "--yes"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        f"error: {fw} is a file, not a serial port. Give the board's serial "
        "port (`iotkit ports` lists them)."
    )
    with socket.socket() as s:  # a loopback port that was free a moment ago: nobody listens
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    url = f"socket://127.0.0.1:{free}"
    assert main(["flash", "--port", url, "--firmware", fw, "--yes"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: Nothing is listening at {url}. Start the virtual chip first")
    assert len(err.strip().splitlines()) == 1


def test_an_unknown_esptool_failure_is_still_one_line():
    err = translate_error(Exception("Could not open x\n(Could not configure port: (25, 'x'))"), "x")
    assert "\n" not in str(err) and str(err).endswith(
        "Press the board's reset button and try " "again."
    )
