"""Each entry of the esptool error table turns into advice a beginner can follow."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from companion_app.firmware.flasher import FlashError, translate_error

PORT = "/dev/ttyUSB0"


@pytest.mark.parametrize(
    "esptool_says, advice",
    [
        ("Failed to connect to ESP32: No serial data received.", "hold the BOOT button, press"),
        (
            "Failed to connect to Espressif device: Wrong boot mode detected (0x13)!",
            "hold the BOOT button",
        ),
        (
            "could not open port /dev/ttyUSB0: [Errno 13] Permission denied: '/dev/ttyUSB0'",
            "sudo usermod -aG dialout $USER",
        ),
        ("This chip is ESP32-S3, not ESP32. Wrong chip argument?", "different chip than expected"),
        ("Packet content transfer stopped (received 8 bytes)", "--baud 115200"),
        ("could not open port /dev/ttyUSB9: [Errno 2] No such file or directory", "iotkit ports"),
    ],
)
def test_esptool_failures_become_advice(esptool_says, advice):
    err = translate_error(Exception(esptool_says), PORT)
    assert isinstance(err, FlashError)
    assert advice in str(err)
    assert "Traceback" not in str(err)


@pytest.mark.pty
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="names holders via /proc")
def test_busy_port_names_the_process_holding_it(tmp_path):
    master, slave = os.openpty()
    port = os.ttyname(slave)
    holder = subprocess.Popen(  # holds the port open until killed
        [sys.executable, "-c", f"f = open({port!r}, 'rb'); print('open', flush=True); input()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline() == b"open\n"
        err = translate_error(Exception("[Errno 16] Device or resource busy"), port)
        assert f"(pid {holder.pid})" in str(err)
        assert "Close that connection" in str(err)
    finally:
        holder.kill()
        os.close(master)
        os.close(slave)


def test_unknown_failure_still_gets_a_next_step():
    err = translate_error(Exception("something new"), PORT)
    assert str(err).startswith(f"Flashing on {PORT} failed: something new.")
    assert "reset button" in str(err)
