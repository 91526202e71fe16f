"""The virtual board's machine.WDT resets the board like a chip's watchdog.

The OTA trial boot (test_device_ota_hardening.py) relies on it: a version that never gets to feed
the watchdog must be reset whatever it does, even sitting at the >>> prompt. As on ESP32, ESP8266
and RP2: nothing stops it once started, a soft reboot (Ctrl-D) keeps it running, a hard reset ends
it, and each port takes the timeouts its firmware takes (ports/*/machine_wdt.c).
"""

from __future__ import annotations

import time

import pytest
from sim_helpers import RawConsole
from waiting import wait_until

from companion_app.simulator import VirtualBoard

HARD_RESET_BANNER = b"rst:0xc (SW_CPU_RESET)"
BITE = b"task_wdt: Task watchdog got triggered"


def wait_for_boots(board: VirtualBoard, boots: int, timeout: float) -> float:
    """Seconds until board.boots reached `boots`; fails after `timeout`."""
    start = time.monotonic()
    wait_until(lambda: board.boots >= boots, timeout, f"boot number {boots}")
    return time.monotonic() - start


def test_an_unfed_watchdog_resets_the_board_even_at_the_prompt(vboard, console):
    boots = vboard.boots
    console.run("import machine; w = machine.WDT(timeout=1000)")
    armed = time.monotonic()
    out = console.read_until(b">>> ", timeout=10)  # the banner after the reset
    took = time.monotonic() - armed
    assert BITE in out and HARD_RESET_BANNER in out, out
    assert vboard.boots == boots + 1
    assert 0.9 <= took < 5, took
    # The hard reset ended it: no second reset comes.
    assert BITE not in console.drain(2.0)
    assert vboard.boots == boots + 1
    # And the board knows why it restarted, as an ESP32 does after its task watchdog.
    cause = console.run("import machine; print(machine.reset_cause() == machine.WDT_RESET)")
    assert cause.strip() == "True", cause


def test_feeding_keeps_the_board_running_past_many_timeouts(vboard, console):
    boots = vboard.boots
    out, err = console.raw_exec(
        "import machine, time\n"
        "w = machine.WDT(timeout=500)\n"
        "for i in range(30):\n"
        "    time.sleep_ms(100)\n"
        "    w.feed()\n"
        "print('fed for 3 s')\n",
        timeout=10,
    )
    assert out == b"fed for 3 s\r\n" and err == b""
    assert vboard.boots == boots
    wait_for_boots(vboard, boots + 1, timeout=5)  # then nobody feeds it


def test_a_timer_can_feed_it_while_the_prompt_waits(vboard, console):
    boots = vboard.boots
    # 2 s, not 1: at the prompt the virtual board runs a Timer's callback when the watchdog's
    # thread wakes the interpreter with a signal, through a shell; on a CI machine running two
    # test passes that can take a good part of a second (it bit at 1 s in 2 of 4 full runs).
    console.run("import machine; w = machine.WDT(timeout=2000)")
    console.run("t = machine.Timer(0, period=300, callback=lambda t: w.feed())")  # ESP32: 0-3
    quiet = console.drain(6.5)  # more than three timeouts with nothing typed
    assert BITE not in quiet
    assert vboard.boots == boots
    assert console.run("print('alive')").strip() == "alive"


def test_a_soft_reboot_keeps_it_running_and_a_busy_loop_cannot_catch_it(vboard, console):
    # After the soft reboot, main.py loops and swallows every exception: a watchdog bites anyway.
    (vboard.flash_dir / "main.py").write_text(
        "print('busy')\nwhile True:\n    try:\n        pass\n    except BaseException:\n"
        "        pass\n"
    )
    boots = vboard.boots
    console.run("import machine; w = machine.WDT(timeout=1500)")
    console.write(b"\x04")  # soft reboot: the watchdog goes on counting
    out = console.read_until(HARD_RESET_BANNER, timeout=10)
    assert b"MPY: soft reboot" in out and b"busy" in out and BITE in out, out
    wait_for_boots(vboard, boots + 2, timeout=5)  # the soft reboot, then the watchdog's


@pytest.mark.parametrize(
    "board, code, message",
    [
        ("esp32-devkit-v1", "machine.WDT(timeout=0)", "ValueError: WDT timeout too short"),
        ("pico", "machine.WDT(timeout=9000)", "ValueError: timeout exceeds 8388"),
        ("pico", "machine.WDT(1)", "ValueError: WDT(1) doesn't exist"),
        ("d1-mini", "machine.WDT(timeout=3000)", "ValueError"),  # ESP8266: 5000 only
    ],
)
def test_each_port_takes_only_its_own_timeouts(tmp_path, board, code, message):
    with VirtualBoard(board=board, flash_dir=tmp_path / "flash") as vb:
        console = RawConsole(vb.port)
        try:
            console.friendly()
            out = console.run(f"import machine; {code}")
            assert message in out, out
            boots = vb.boots
            assert b"rst:" not in console.drain(1.0)  # refused: nothing was armed
            assert vb.boots == boots
        finally:
            console.close()


def test_esp8266_bites_at_its_real_soft_watchdog_time(tmp_path):
    """WDT() on ESP8266 takes only 5000 ms, but its soft watchdog resets after 1.6 to 3.2 s."""
    with VirtualBoard(board="d1-mini", flash_dir=tmp_path / "flash") as vb:
        console = RawConsole(vb.port)
        try:
            console.friendly()
            boots = vb.boots
            console.run("import machine; w = machine.WDT()")
            took = wait_for_boots(vb, boots + 1, timeout=10)
        finally:
            console.close()
    assert 1.5 <= took < 4.0, took
