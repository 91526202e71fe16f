"""Practice flashing works offline (issue 15, item 5): the practice firmware is made here.

An offline classroom with an empty firmware cache ticks "Practice on a virtual board" in the
Flash panel and still finishes Detect board → firmware → Flash → "written and verified": the
panel offers the practice firmware (`companion_app.firmware.practice`, built by our own code),
the real esptool writes it to the virtual ROM bootloader, and the chip then boots it into a
virtual board (the real MicroPython interpreter) whose banner says "practice".

The image itself is checked against every reader it must satisfy: our `inspect_image` and
`check_compatible`, and esptool's own image loader (checksum and SHA-256 digest).
"""

from __future__ import annotations

import re
import socket
import struct
import urllib.error
import urllib.request

import pytest
from gui_helpers import grab_window, pump
from test_virtual_chip_boot import open_console, press_en, read_until

from companion_app.firmware.image import (
    PARTITION_TABLE_OFFSET,
    bootloader_offset,
    check_compatible,
    inspect_image,
    targets,
)
from companion_app.firmware.practice import (
    PRACTICE_LABEL,
    PRACTICE_VERSION,
    is_practice_image,
    practice_firmware_file,
    practice_image,
)
from companion_app.gui.flash_panel import NEXT_PRACTICE, FlashPanel, practice_chips
from companion_app.simulator.host import micropython_available

FLASH_TIMEOUT = 60.0
FOUR_MB = 4 * 1024 * 1024
APP_AT = 0x10000
BANNER = re.compile(rb"MicroPython (v\S+) on (\S+); ([^\r\n]+)\r\n")
LOOPBACK = ("127.0.0.1", "::1", "localhost")


# --- the image ----------------------------------------------------------------------------------
@pytest.mark.parametrize("chip", practice_chips())
def test_the_practice_image_is_a_valid_image_for_its_chip(chip):
    data = practice_image(chip)
    assert data == practice_image(chip)  # the same bytes every time: nothing random in it

    info = inspect_image(data, name=f"practice-{chip}.bin")
    assert (info.kind, info.chip) == ("esp", chip)
    assert info.micropython_version == PRACTICE_VERSION and is_practice_image(info)
    assert info.offset == bootloader_offset(chip)
    assert check_compatible(info, chip, FOUR_MB) == bootloader_offset(chip)

    # esptool's own loader reads each ESP image in it, with a valid checksum and digest.
    from esptool.bin_image import LoadFirmwareImage

    images = [data]
    if chip != "esp8266":  # the ESP32 family's layout: bootloader, partition table, app
        base = bootloader_offset(chip)
        table = data[PARTITION_TABLE_OFFSET - base :]
        rows = [struct.unpack_from("<HBBII16s", table, i) for i in range(0, 4 * 32, 32)]
        apps = [(offset, name.rstrip(b"\0")) for _, kind, _, offset, _, name in rows if kind == 0]
        assert apps == [(APP_AT, b"factory")]
        images.append(data[APP_AT - base :])
    for image in images:
        loaded = LoadFirmwareImage(chip, image)
        assert loaded.checksum == loaded.calculate_checksum()
        if chip != "esp8266":
            assert loaded.stored_digest == loaded.calc_digest
            assert loaded.chip_id == targets()["esp"][chip]["image_chip_id"]
    assert b"MicroPython " + PRACTICE_VERSION.encode() in images[-1]


def test_the_practice_image_is_refused_by_another_chip():
    from companion_app.firmware.image import ImageError

    info = inspect_image(practice_image("esp32s3"))
    with pytest.raises(ImageError, match="Wrong firmware"):
        check_compatible(info, "esp32", FOUR_MB)


def test_the_practice_firmware_file_is_written_once_and_mended_if_changed(tmp_path):
    path = practice_firmware_file("esp32", tmp_path)
    assert path.read_bytes() == practice_image("esp32")
    stamp = path.stat().st_mtime_ns
    assert practice_firmware_file("esp32", tmp_path) == path
    assert path.stat().st_mtime_ns == stamp  # the same bytes: not written again
    path.write_bytes(b"damaged")
    assert practice_firmware_file("esp32", tmp_path).read_bytes() == practice_image("esp32")


# --- the Flash panel, offline -------------------------------------------------------------------
@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to reach past this computer is recorded and fails, as in a room with no
    internet; loopback (the virtual chip's and the virtual board's ports) still works."""
    attempts: list[str] = []
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        if host not in LOOPBACK:
            attempts.append(f"resolve {host}")
            raise socket.gaierror(f"no network in this test: {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in LOOPBACK:
            attempts.append(f"connect {address}")
            raise OSError(f"no network in this test: {address}")
        return real_connect(self, address)

    def urlopen(url, *args, **kwargs):
        attempts.append(f"urlopen {getattr(url, 'full_url', url)}")
        raise urllib.error.URLError("no network in this test")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return attempts


@pytest.fixture
def window(checked_root):
    """The companion window with no hardware, on its Flash tab, every Tk call checked."""
    from companion_app.gui.app import CompanionApp

    root, checker = checked_root
    app = CompanionApp(root, list_ports=lambda: [], auto_virtual=False)
    app.show_panel("Flash")
    assert pump(root, lambda: app.panel("Flash") is not None, 5)
    yield app, app.panel("Flash")
    app.close()
    assert checker.offenders == [], "Tk was called from a worker thread"


def test_offline_with_an_empty_cache_the_practice_chip_is_flashed_and_boots_practice(
    window, env, no_network
):
    app, panel = window
    assert isinstance(panel, FlashPanel)
    assert not (env / "cache").exists() or not any((env / "cache").iterdir())  # empty cache

    # Step 1: practice chip. Step 2 offers the practice firmware and, with nothing cached for
    # the chip, picks it.
    panel.practice_check.invoke()
    assert pump(app.root, lambda: panel.image is not None, 20), panel.image_var.get()
    assert panel.cache_var.get() == PRACTICE_LABEL
    assert list(panel.cache_combo.cget("values"))[0] == PRACTICE_LABEL
    assert panel.image_var.get().startswith(f"Practice firmware: MicroPython {PRACTICE_VERSION}")
    assert panel.refusal_var.get() == ""

    panel.detect_button.invoke()
    assert pump(app.root, lambda: panel.task == "idle" and panel.board is not None, 30), (
        panel.outcome_var.get() or panel.log_content()
    )
    assert panel.chip_info.get().startswith("ESP32")
    assert panel.path_var.get().endswith("practice-firmware-esp32.bin")  # still chosen

    # Step 3: Flash, to "written and verified".
    assert str(panel.flash_button.cget("state")) == "normal"
    panel.flash_button.invoke()
    assert pump(app.root, lambda: panel.outcome != "", FLASH_TIMEOUT), panel.log_content()
    assert panel.outcome == "done", panel.outcome_var.get()
    outcome = panel.outcome_var.get()
    assert "practice firmware" in outcome and "written and verified" in outcome, outcome
    assert "Hash of data verified" in panel.log_content()
    chip = panel.practice_bootloader
    data = practice_image("esp32")
    assert chip.read_flash(0x1000, len(data)) == data

    # The next step is offered, and it goes to the Deploy tab.
    assert panel.next_row.winfo_ismapped() and panel.next_var.get() == NEXT_PRACTICE
    grab_window(app.root, "flash-practice-offline-done", also_docs=True)
    panel.next_button.invoke()
    assert app.notebook.tab(app.notebook.select(), "text") == "Deploy"
    assert no_network == [], no_network

    if not micropython_available():
        pytest.skip("MicroPython's unix port is not here: the boot cannot be watched")
    # The board boots it: press EN on the same flash (a chip on RFC 2217 has the EN line).
    from companion_app.simulator.bootloader import VirtualBootloader

    flash_file = chip.flash_image
    panel.practice_check.invoke()  # the panel's chip stops, its flash stays in the file
    assert panel.practice_bootloader is None
    board = VirtualBootloader("esp32", flash_image=flash_file, pty=False, rfc2217_port=0).start()
    try:
        console = open_console(board.rfc2217_url)
        try:
            press_en(console)
            found, _ = read_until(console, BANNER, timeout=30, prod=b"\r\x02")
        finally:
            console.close()
        assert found.group(1).decode() == PRACTICE_VERSION  # "v1.28.0-practice"
        assert board.app_version == PRACTICE_VERSION
    finally:
        board.stop()
    assert no_network == [], no_network


def test_another_practice_chip_gets_its_own_practice_firmware(window, no_network):
    app, panel = window
    panel.practice_check.invoke()
    assert pump(app.root, lambda: panel.image is not None, 20), panel.image_var.get()
    assert panel.image.chip == "esp32"

    panel.chip_var.set("esp32s3")
    panel.chip_combo.event_generate("<<ComboboxSelected>>")
    assert pump(app.root, lambda: panel.image is not None and panel.image.chip == "esp32s3", 20), (
        panel.image_var.get(),
        panel.refusal_var.get(),
    )
    assert is_practice_image(panel.image)
    assert panel.path_var.get().endswith("practice-firmware-esp32s3.bin")
    assert pump(app.root, lambda: panel.refusal_var.get() == "", 5), panel.refusal_var.get()
    assert str(panel.flash_button.cget("state")) == "normal"
    assert no_network == []
