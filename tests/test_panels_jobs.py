"""The Flash and Wiring panels on the one job runner (companion_app/gui/jobs.py), under Xvfb.

What the runner promises the panels, checked with the real parts: closing the Flash panel
never waits on the Tk thread, yet the flash it interrupts still stops and lets go of the port;
a practice chip that finishes starting after the panel closed does not outlive it; the window's
connection hands its port over with a wait that runs off the Tk thread; and the Wiring panel
drops the result of a check that a newer edit replaced.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import tkinter as tk
from pathlib import Path

import pytest
from firmware_helpers import merged_image
from waiting import wait_until, wait_until_tk

from companion_app.gui.flash_panel import FlashPanel
from companion_app.gui.jobs import TkCalls

BIG_PAYLOAD = 2_000_000  # about two seconds of writing: the flash is surely under way
CLOSE_AT_ONCE_S = 0.5


@pytest.fixture
def root(env, root):
    """conftest's window, with the practice chips' files in temp folders (`env`)."""
    return root


@pytest.fixture
def esp32_chip(tmp_path):
    from companion_app.simulator.bootloader import VirtualBootloader

    bl = VirtualBootloader("esp32", flash_image=tmp_path / "esp32-flash.bin").start()
    yield bl
    bl.stop()


def holds_port(port: str) -> bool:
    """Whether this process still has `port` open: a pty by its path, a socket:// port by a
    connection to it. (The virtual chip's own end is the pty master or the server socket,
    which neither check counts.)"""
    if port.startswith("socket://"):
        psutil = pytest.importorskip("psutil")
        tcp = int(port.rsplit(":", 1)[1])
        return any(
            c.raddr and c.raddr.port == tcp and c.status == psutil.CONN_ESTABLISHED
            for c in psutil.Process().net_connections(kind="tcp")
        )
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("no /proc/self/fd to see which files this process has open")
    for fd in fds.iterdir():
        try:
            if os.readlink(fd) == port:
                return True
        except OSError:  # closed while we looked
            continue
    return False


def port_is_gone(port: str) -> bool:
    """Whether nobody serves `port` any more: the pty node is removed, the TCP port refuses."""
    if port.startswith("socket://"):
        host, tcp = port.removeprefix("socket://").rsplit(":", 1)
        try:
            socket.create_connection((host, int(tcp)), timeout=1).close()
        except OSError:
            return True
        return False
    return not os.path.exists(port)


def flash_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "iotkit-flash" and t.is_alive()]


def settle(root: tk.Misc) -> None:
    """Let the Tk thread run everything posted so far (a marker posted now runs after it)."""
    marker = threading.Event()
    TkCalls.of(root).post(marker.set)
    wait_until_tk(root, marker.is_set, 10, "the Tk thread to handle what was posted")


def choose(root: tk.Misc, panel: FlashPanel, path: Path) -> None:
    panel.choose_image(path)
    wait_until_tk(root, lambda: panel.image is not None, 10, "the firmware file to be read")


def test_closing_the_flash_panel_mid_flash_returns_at_once_then_the_flash_stops_and_frees_the_port(
    root, esp32_chip, tmp_path
):
    panel = FlashPanel(root, None, list_ports=lambda: [])
    panel.pack(fill="both", expand=True)
    data = merged_image(0, 0x1000, app_payload=BIG_PAYLOAD)
    path = tmp_path / "fw.bin"
    path.write_bytes(data)
    panel.port_var.set(esp32_chip.port)
    panel._port_changed()
    choose(root, panel, path)

    # Hold the flash job inside a progress report mid-write: it then holds the port and
    # cannot see the Cancel event, the worst moment for a close that would wait for it.
    release, holding = threading.Event(), threading.Event()
    report = panel._progress_from_worker

    def hold_mid_write(p) -> None:
        report(p)
        if p.stage == "Writing" and (p.percent or 0) >= 10 and not holding.is_set():
            holding.set()
            release.wait(30)

    panel._progress_from_worker = hold_mid_write
    try:
        panel.flash_button.invoke()
        wait_until_tk(root, holding.is_set, 30, "the flash to be a tenth written")
        assert holds_port(esp32_chip.port)  # esptool has it open now
        assert len(flash_threads()) == 1

        t0 = time.monotonic()
        panel.close()
        closed_in = time.monotonic() - t0
    finally:
        release.set()
    assert closed_in < CLOSE_AT_ONCE_S, f"close() took {closed_in:.2f} s"

    # The flash job saw the Cancel event: it ends by itself and esptool closes the port.
    wait_until_tk(root, lambda: not flash_threads(), 30, "the flash thread to end")
    wait_until_tk(root, lambda: not holds_port(esp32_chip.port), 10, "the port to be released")
    assert esp32_chip.read_flash(0x1000, len(data)) != data  # stopped part-way
    settle(root)
    assert panel.outcome == ""  # the closed panel got no result


def test_a_practice_chip_that_finishes_starting_after_the_panel_closed_is_stopped(
    root, env, monkeypatch
):
    from companion_app.simulator.bootloader import VirtualBootloader

    gate, starting = threading.Event(), threading.Event()
    started: list[VirtualBootloader] = []
    stopped: list[VirtualBootloader] = []
    real_start, real_stop = VirtualBootloader.start, VirtualBootloader.stop

    def slow_start(self):
        starting.set()
        gate.wait(30)  # the chip takes its time: the panel closes meanwhile
        real_start(self)
        started.append(self)
        return self

    def recorded_stop(self):
        stopped.append(self)
        real_stop(self)

    monkeypatch.setattr(VirtualBootloader, "start", slow_start)
    monkeypatch.setattr(VirtualBootloader, "stop", recorded_stop)

    panel = FlashPanel(root, None, list_ports=lambda: [])
    panel.pack(fill="both", expand=True)
    try:
        path = env / "fw.bin"
        path.write_bytes(merged_image(0, 0x1000))
        choose(root, panel, path)
        panel.practice_check.invoke()
        assert str(panel.flash_button.cget("state")) == "normal"
        panel.flash_button.invoke()
        wait_until_tk(root, starting.is_set, 10, "the practice chip to start starting")
        t0 = time.monotonic()
        panel.close()
        assert time.monotonic() - t0 < CLOSE_AT_ONCE_S
    finally:
        gate.set()

    chip = wait_until(lambda: started and started[0], 30, "the practice chip to be up")
    wait_until_tk(root, lambda: chip in stopped, 10, "the late practice chip to be stopped")
    wait_until(lambda: port_is_gone(chip.port), 10, f"{chip.port} to go away")
    assert panel.practice_bootloader is None
    assert [name for name, _ in chip.destructive_commands()] == []  # nothing was flashed
    assert panel.outcome == ""


def test_the_window_connection_hands_its_port_over_with_a_wait_off_the_tk_thread(root, esp32_chip):
    """`release_port` disconnects at once; waiting for the link to close is the caller's."""
    from companion_app.gui.app import DeviceConnection

    conn = DeviceConnection(root)
    try:
        conn.connect(esp32_chip.port)
        wait_until_tk(root, lambda: conn.is_connected, 10, "the connection to open")
        assert holds_port(esp32_chip.port)
        wait_released = conn.release_port()
        assert conn.state == "disconnected" and conn.port is None
        answers: list[bool] = []
        waiter = threading.Thread(target=lambda: answers.append(wait_released(5.0)))
        waiter.start()
        wait_until_tk(root, lambda: answers, 10, "wait_released to return")
        assert answers == [True]
        assert not holds_port(esp32_chip.port)
        assert conn.release_port()(0.0) is True  # nothing connected: nothing to wait for
    finally:
        conn.close()


def test_the_wiring_panel_drops_the_result_of_a_check_a_newer_edit_replaced(root, monkeypatch):
    from companion_app.gui import wiring_panel
    from companion_app.gui.wiring_panel import WiringPanel

    real_check = wiring_panel.run_wiring_check
    gate = threading.Event()
    held: list[threading.Thread] = []

    def check(board_id, data, source, scripts, texts=()):
        if texts and texts[0][0] == "old.py":  # the check the test holds back
            held.append(threading.current_thread())
            gate.wait(30)
        return real_check(board_id, data, source, scripts, texts)

    monkeypatch.setattr(wiring_panel, "run_wiring_check", check)
    panel = WiringPanel(root)
    panel.pack(fill="both", expand=True)
    try:
        wait_until_tk(root, lambda: not panel.checking, 10, "the first check")
        # GPIO6 belongs to the ESP32's flash chip: the held-back check finds that.
        panel.check_text("from machine import Pin\nPin(6, Pin.OUT)\n", "old.py")
        wait_until(lambda: held, 10, "the held-back check to start")
        panel.check_text("from machine import Pin\nPin(4, Pin.OUT)\n", "new.py")
        wait_until_tk(root, lambda: not panel.checking, 10, "the newer check")
        newer = list(panel.findings)
        assert not any(f.rule == "flash-pin" for f in newer)

        gate.set()
        wait_until(lambda: not held[0].is_alive(), 10, "the held-back check to finish")
        settle(root)  # its result was posted before the thread ended: it was handled now
        assert panel.findings == newer
        assert not any(f.rule == "flash-pin" for f in panel.findings)
        assert not panel.checking
    finally:
        gate.set()
        panel.close()
