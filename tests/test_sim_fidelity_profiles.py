"""Board profiles: the virtual board has the RAM, flash and sys.platform of the board it names.

Issue 13 item 1. The figures come from chips.json "micropython" (with sources); these tests
check that the running virtual board applies them, not the figures themselves.
"""

from __future__ import annotations

import pytest
from sim_helpers import RawConsole
from waiting import wait_for_file

from companion_app.boards import load_board
from companion_app.simulator import VirtualBoard
from companion_app.simulator.host import (
    HEAP_SCALE_64BIT,
    LARGEST_BYTEARRAY_PROGRAM,
    free_heap_target,
    virtual_heap_bytes,
)

BOARDS = ("nodemcu", "esp32-devkit-v1", "pico")
ALL_BOARDS = (
    "nodemcu",
    "d1-mini",
    "esp32-devkit-v1",
    "esp32-s3-devkitc-1",
    "esp32-c3-devkitm-1",
    "pico",
    "pico-w",
    "pico2-w",
    "esp32-cam",
)


@pytest.fixture(params=BOARDS)
def board_console(request, tmp_path):
    # No heap or board_ram argument: the board's own RAM is the default (issue 13 item 1).
    board = VirtualBoard(board=request.param, flash_dir=tmp_path / "flash")
    board.start()
    console = RawConsole(board.port)
    console.friendly()
    yield request.param, console
    console.close()
    board.stop()


def _value(console: RawConsole, expr: str, timeout: float = 20.0) -> str:
    out, err = console.raw_exec(f"print(repr({expr}))", timeout=timeout)
    assert not err, err
    return out.decode().strip()


def test_every_chip_profile_has_the_keys_other_parts_read():
    keys = ("platform", "heap_free", "fs_bytes", "freqs_hz", "ticks_period", "epoch_year")
    for board_id in ALL_BOARDS:
        prof = load_board(board_id).micropython
        for key in keys + ("frozen_modules",):
            assert key in prof, (board_id, key)
            assert prof["sources"].get(key), (board_id, key, "has no source")


def test_psram_board_overrides_the_chip_heap():
    assert load_board("esp32-cam").micropython["heap_free"] > 1_000_000
    assert load_board("esp32-devkit-v1").micropython["heap_free"] < 200_000


def test_free_heap_after_boot_is_the_real_boards_times_the_64bit_factor(board_console):
    board_id, console = board_console
    real = load_board(board_id).micropython["heap_free"]
    out, err = console.raw_exec("import gc\ngc.collect()\nprint(gc.mem_free())", timeout=20)
    assert not err, err
    free = int(out)
    # The ballast leaves the target free, less what boot.py and this exec hold.
    assert abs(free - HEAP_SCALE_64BIT * real) < 4096, (board_id, free, real)


def test_the_free_heap_is_one_piece(board_console):
    # A fresh board's free heap is one piece: the largest bytearray is all of it but what the
    # raw REPL's compile of this very program holds (about 20 KB on the 64-bit heap, more when
    # a collection happens to leave a hole).
    board_id, console = board_console
    target = HEAP_SCALE_64BIT * load_board(board_id).micropython["heap_free"]
    out, err = console.raw_exec(LARGEST_BYTEARRAY_PROGRAM + "print(largest())\n", timeout=30)
    assert not err, err
    assert target - 32 * 1024 < int(out) <= target, (board_id, int(out), target)


def test_sys_platform_is_the_ports(board_console):
    board_id, console = board_console
    want = load_board(board_id).micropython["platform"]
    assert _value(console, "__import__('sys').platform") == repr(want)
    # everything else is the real sys's own object
    out, err = console.raw_exec("import sys\nsys.stdout.write('ok\\n')\nprint(len(sys.path) > 0)")
    assert not err and out.split() == [b"ok", b"True"]


def test_statvfs_reports_the_boards_filesystem(board_console):
    board_id, console = board_console
    prof = load_board(board_id).micropython
    st = eval(_value(console, "__import__('os').statvfs('/')"))
    assert st[0] * st[2] == prof["fs_bytes"] - prof["fs_bytes"] % prof["fs_block"]


def test_nodemcu_runs_out_of_memory_where_a_real_one_would(tmp_path):
    # 64 KB of ints (32-bit: 16 K ints x 4 bytes) is more than a NodeMCU's ~36 KB heap.
    board = VirtualBoard(board="nodemcu", flash_dir=tmp_path / "flash")
    board.start()
    try:
        console = RawConsole(board.port)
        console.friendly()
        out, err = console.raw_exec("a = list(range(16 * 1024))", timeout=20)
        assert b"MemoryError" in err
        # ...while a list a real ESP8266 holds (4 K ints, 16 KB on 32-bit) fits.
        out, err = console.raw_exec(
            "import gc; gc.collect(); a = list(range(4 * 1024)); print(len(a))"
        )
        assert not err and out.strip() == b"4096"
        console.close()
    finally:
        board.stop()


def test_an_explicit_heap_gives_the_whole_heap(tmp_path):
    board = VirtualBoard(board="nodemcu", flash_dir=tmp_path / "flash", heap=4 * 1024 * 1024)
    board.start()
    try:
        console = RawConsole(board.port)
        console.friendly()
        assert int(_value(console, "__import__('gc').mem_free()")) > 3_500_000
        console.close()
    finally:
        board.stop()


def test_iotkit_sim_heap_gives_a_big_heap_and_refuses_one_too_small_to_boot(tmp_path):
    import subprocess
    import sys

    port_file = tmp_path / "port"
    argv = ["--board", "nodemcu", "--heap", "4M", "--flash-dir", str(tmp_path / "flash")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "companion_app", "sim", *argv, "--port-file", str(port_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        console = RawConsole(wait_for_file(port_file, proc, 30, "the port file").strip())
        console.friendly()
        assert int(_value(console, "__import__('gc').mem_free()")) > 3_500_000
        console.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    small = subprocess.run(
        [sys.executable, "-m", "companion_app", "sim", "--heap", "100K"]
        + ["--flash-dir", str(tmp_path / "flash2")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert small.returncode == 2
    assert "too small to boot" in small.stderr and "--heap" in small.stderr
    assert not (tmp_path / "flash2").exists()


def test_heap_size_is_enough_to_boot_and_to_leave_the_target():
    prof = load_board("esp32-cam").micropython
    assert virtual_heap_bytes(prof) > free_heap_target(prof)
    assert virtual_heap_bytes({}) == 2 * 1024 * 1024 and free_heap_target({}) is None


FILL_FLASH = """
import os
chunk = bytes(16384)
written = 0
err = None
try:
    with open('/big.bin', 'wb') as f:
        while written < 16 * 1024 * 1024:
            f.write(chunk)
            written += len(chunk)
except OSError as e:
    err = e.errno
print(written, err, os.statvfs('/')[3])
"""


def test_writing_past_the_flash_fails_with_enospc(tmp_path):
    board = VirtualBoard(board="pico", flash_dir=tmp_path / "flash")
    board.start()
    try:
        console = RawConsole(board.port)
        console.friendly()
        out, err = console.raw_exec(FILL_FLASH, timeout=60)
        assert not err, err
        written, errno, free = out.decode().split()
        fs_bytes = load_board("pico").micropython["fs_bytes"]
        assert errno == "28"
        # boot.py takes a block; the flash is full to within one chunk
        assert fs_bytes - 16384 - 4096 <= int(written) <= fs_bytes
        assert int(free) * 4096 < 16384
        # a new file cannot be written either, and deleting the big one frees the space
        out, err = console.raw_exec(
            "try:\n open('/x.txt','w').write('x' * 20000)\nexcept OSError as e:\n print(e.errno)"
        )
        assert out.strip() == b"28"
        out, err = console.raw_exec(
            "import os\nos.remove('/big.bin')\nprint(open('/x.txt','w').write('hi'))"
        )
        assert not err and out.strip() == b"2"
        console.close()
    finally:
        board.stop()


FILL_HEAP_AND_KEEP = """
hog = []
while True:
    hog.append(bytearray(256))
"""
FILL_HEAP_IN_A_CALL = """
def fill():
    hog = []
    while True:
        hog.append(bytearray(256))
fill()
"""


def test_a_program_that_fills_the_heap_gets_memory_error_and_the_board_carries_on(tmp_path):
    # A board's REPL survives a MemoryError in user code and reports it. The front end shares
    # the heap with user code; before it kept a reserve of its own, formatting the traceback
    # failed, MicroPython ended and the host rebooted the board under the client (a deploy's
    # raw-paste then met a banner). Board RAM is the default: no board_ram= here.
    from companion_app.device.errors import DeviceExecError
    from companion_app.device.link import Link

    with VirtualBoard(board="nodemcu", flash_dir=tmp_path / "flash") as board:
        link = Link(board.port)
        link.open()
        try:
            free_before = int(link.exec("import gc\ngc.collect()\nprint(gc.mem_free())"))
            boots = board.boots
            with pytest.raises(DeviceExecError) as info:
                link.exec(FILL_HEAP_AND_KEEP)  # `hog` stays in the globals: the heap stays full
            assert info.value.last_line.startswith("MemoryError"), info.value.remote_traceback
            assert "repl.py" not in info.value.remote_traceback  # no front-end frames
            # With the heap still full: a program bigger than any reserve, over raw-paste, and
            # a small one; each is answered (MemoryError or not), none restarts the board.
            with pytest.raises(DeviceExecError) as info:
                link.exec("x = 1\n" + "#" * 30000 + "\n")
            assert info.value.last_line.startswith("MemoryError")
            try:
                link.exec("y = 2")
            except DeviceExecError as exc:
                assert exc.last_line.startswith("MemoryError")
            assert board.boots == boots, "the board rebooted: the front end ran out itself"
            # A soft reset frees the heap as on a board; memory a call held comes back whole.
            link.soft_reset(timeout=1)
            with pytest.raises(DeviceExecError) as info:
                link.exec(FILL_HEAP_IN_A_CALL)
            assert info.value.last_line.startswith("MemoryError")
            free_after = int(link.exec("import gc\ngc.collect()\nprint(gc.mem_free())"))
            assert abs(free_after - free_before) < 1024, (free_before, free_after)
        finally:
            link.close()


def test_the_friendly_repl_reports_memory_error_and_gives_a_prompt(tmp_path):
    with VirtualBoard(board="nodemcu", flash_dir=tmp_path / "flash") as board:
        console = RawConsole(board.port)
        try:
            console.friendly()
            boots = board.boots
            assert "MemoryError" in console.run("z = 'x' * 200000", timeout=20)
            console.run("hog = []")
            # A loop that keeps what it takes: the heap is full when the traceback is printed.
            console.write(b"while True: hog.append(bytearray(256))\r\r")
            assert b"MemoryError" in console.read_until(b"\r\n>>> ", timeout=20)
            # Typing with a full heap: each entry is answered, and the REPL goes on.
            console.write(b"print(6 * 7)\r")
            assert b"MemoryError" in console.read_until(b">>> ", timeout=20)
            console.write(b"\x04")  # Ctrl-D: a soft reset frees the heap, as on a board
            assert b"soft reboot" in console.read_until(b"information.\r\n>>> ", timeout=20)
            assert console.run("print(6 * 7)") == "42"
            assert board.boots == boots + 1  # the soft reset, and nothing else
        finally:
            console.close()
