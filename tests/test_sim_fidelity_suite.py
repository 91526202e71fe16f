"""What MicroPython's own test suite found where the virtual board differed from a board.

Issue 13 item 2: run MicroPython v1.28.0's tests (basics, float, micropython, extmod) through the
virtual board and bare on the interpreter it runs; each test that passed bare and failed through
the board pointed at a difference. These are our own regression tests for the ones fixed, each
checked against what the port's C source does (extmod/modtime.c, extmod/machine_mem.c,
extmod/modos.c, extmod/vfs_lfs.c, py/builtinhelp.c). docs/virtual-board.md has the comparison.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from conftest import venv_bin
from sim_helpers import RawConsole, error_of, run

import companion_app.simulator
from companion_app.simulator import VirtualBoard

MPY_DIR = Path(companion_app.simulator.__file__).parent / "mpy"
HALF_PERIOD = 1 << 29  # half of the ESP32's ticks period, 2**30

# A RAM block device as MicroPython's vfs tests write one: what a program mounts for VfsLfs2.
RAM_BDEV = (
    "class RAM:\n"
    "    def __init__(self, blocks):\n"
    "        self.data = bytearray(blocks * 1024)\n"
    "    def readblocks(self, n, buf, off):\n"
    "        buf[:] = self.data[n * 1024 + off : n * 1024 + off + len(buf)]\n"
    "    def writeblocks(self, n, buf, off):\n"
    "        self.data[n * 1024 + off : n * 1024 + off + len(buf)] = buf\n"
    "    def ioctl(self, op, arg):\n"
    "        return {4: len(self.data) // 1024, 5: 1024, 6: 0}.get(op)\n"
)


@pytest.fixture(scope="module")
def esp32(tmp_path_factory) -> Iterator[RawConsole]:
    board = VirtualBoard(
        board="esp32-devkit-v1", flash_dir=tmp_path_factory.mktemp("suite") / "flash"
    ).start()
    console = RawConsole(board.port)
    console.friendly()
    run(console, "import machine, micropython, os, sys, time, vfs")  # names error_of() uses
    yield console
    console.close()
    board.stop()


# ---- time: ticks_add's range, in user code and in asyncio -----------------------------------


def test_ticks_add_refuses_half_the_period_both_ways_so_ticks_diff_can_undo_it(esp32):
    # extmod/modtime.c: |delta| >= period/2 is an OverflowError; -period/2 was let through.
    assert error_of(esp32, f"time.ticks_add(0, {-HALF_PERIOD})").startswith("OverflowError")
    assert error_of(esp32, f"time.ticks_add(0, {HALF_PERIOD})").startswith("OverflowError")
    lines = run(
        esp32,
        f"import time\nd = {HALF_PERIOD - 1}\n"
        "for t in (0, 10, time.ticks_add(0, -1)):\n"
        "    print(time.ticks_diff(time.ticks_add(t, -d), t) == -d, "
        "time.ticks_diff(t, time.ticks_add(t, d)) == -d)",
    )
    assert lines == ["True True"] * 3


def test_asyncio_sleep_of_half_the_ticks_period_is_an_overflow_error_not_a_sleep_for_ever(esp32):
    # Before, asyncio kept the host's 2**62 ticks and slept; the timeout turns that into output.
    lines = run(
        esp32,
        "import asyncio\n"
        "async def main():\n"
        "    try:\n"
        f"        await asyncio.wait_for_ms(asyncio.sleep_ms({HALF_PERIOD}), 300)\n"
        "        print('slept')\n"
        "    except OverflowError:\n"
        "        print('OverflowError')\n"
        "    except asyncio.TimeoutError:\n"
        "        print('timeout')\n"
        "    await asyncio.sleep_ms(5)\n"
        "    print('short sleeps still work')\n"
        "asyncio.run(main())",
    )
    assert lines == ["OverflowError", "short sleeps still work"]


# ---- machine.mem8/16/32 ------------------------------------------------------------------------


def test_mem_objects_print_and_refuse_indexes_as_the_c_type_does(esp32):
    assert run(esp32, "import machine\nprint(machine.mem8, repr(machine.mem32))") == [
        "<8-bit memory> <32-bit memory>"
    ]
    # A str was parsed as a number (int('hello') -> ValueError); the port takes ints only.
    assert error_of(esp32, "machine.mem8['hello']") == "TypeError: can't convert str to int"
    assert error_of(esp32, "machine.mem8[0:1]").startswith("TypeError")
    assert error_of(esp32, "machine.mem8[0] = 1.5") == "TypeError: can't convert float to int"
    assert error_of(esp32, "del machine.mem8[0]").startswith("TypeError")
    assert run(esp32, "print(hasattr(machine, 'mem'))") == ["False"]


# ---- os and vfs: what the firmware has, file times on the board's clock ------------------------


def test_os_and_vfs_have_the_boards_filesystems_and_not_the_unix_ports(esp32):
    lines = run(
        esp32,
        "import os, vfs\n"
        "print([n for n in ('VfsPosix', 'VfsLfs1', 'VfsRom') if hasattr(vfs, n)])\n"
        "print([n for n in ('VfsPosix', 'VfsLfs1', 'system', 'getenv', 'putenv', 'unsetenv', "
        "'errno') if hasattr(os, n)])\n"
        "print(os.sync(), os.VfsLfs2 is vfs.VfsLfs2, vfs.VfsFat is os.VfsFat)\n"
        "print(os, vfs)",
    )
    assert lines == ["[]", "[]", "None True True", "<module 'os'> <module 'vfs'>"]
    # Nothing of the front end's shows in dir(os) beyond what the ESP32 build's os has (less
    # dupterm, which the virtual board lacks), but for install_open, which the front end calls.
    (names,) = run(esp32, "print(' '.join(n for n in dir(os) if not n.startswith('_')))")
    esp32_os = set(
        "remove sep VfsFat VfsLfs2 chdir getcwd ilistdir listdir mkdir mount rename rmdir stat "
        "statvfs sync umount unlink urandom uname dupterm dupterm_notify".split()
    )
    assert set(names.split()) - esp32_os == {"install_open"}


def test_a_vfslfs2_on_a_ram_device_works_and_stamps_files_with_the_boards_clock(esp32):
    lines = run(
        esp32,
        RAM_BDEV + "import os, vfs, time, machine\n"
        "machine.RTC().datetime((2031, 5, 6, 1, 7, 8, 9, 0))\n"
        "bdev = RAM(30)\nvfs.VfsLfs2.mkfs(bdev)\nvfs.mount(vfs.VfsLfs2(bdev), '/ram')\n"
        "with open('/ram/a.txt', 'w') as f:\n    f.write('hello')\n"
        "st = os.stat('/ram/a.txt')\n"
        "print(os.listdir('/ram'), st[6], open('/ram/a.txt').read())\n"
        "print(time.localtime(st[8])[:3], abs(st[8] - time.time()) <= 2)\n"
        "vfs.umount('/ram')\n"
        "fs = vfs.VfsLfs2(bdev, mtime=False)\n"
        "print(fs.stat('a.txt') == st, type(fs).__name__)",
    )
    assert lines == ["['a.txt'] 5 hello", "(2031, 5, 6) True", "True VfsLfs2"]


def test_a_file_on_the_flash_has_its_time_on_the_boards_clock(esp32):
    # Before, os.stat() gave the host's seconds from 1970, so time.localtime() of a file's time
    # was some thirty years after the board's date.
    lines = run(
        esp32,
        "import os, time, machine\n"
        "machine.RTC().datetime((2032, 3, 4, 3, 5, 6, 7, 0))\n"
        "with open('stamped.txt', 'w') as f:\n    f.write('x')\n"
        "st = os.stat('stamped.txt')\n"
        "print(time.localtime(st[8])[:3], abs(st[8] - time.time()) <= 2)\n"
        "os.remove('stamped.txt')",
    )
    assert lines == ["(2032, 3, 4) True"]


# ---- sys: a built-in module's rules ------------------------------------------------------------


def test_sys_refuses_new_names_as_a_built_in_module_does(esp32):
    # basics/module2.py: the board's sys is a table in ROM; a Python module took `sys.x = 1`.
    assert error_of(esp32, "sys.x = 1") == "AttributeError: 'module' object has no attribute 'x'"
    # The ESP32 build has no sys.tracebacklimit, so assigning it fails as there.
    assert error_of(esp32, "sys.tracebacklimit = 1000").startswith("AttributeError")
    assert error_of(esp32, "sys.platform = 'linux'").startswith("AttributeError")
    # A name it lacks is missing as from a module: `from sys import ...` is an ImportError.
    assert error_of(esp32, "from sys import nothing_here") == (
        "ImportError: can't import name nothing_here"
    )
    assert run(esp32, "print(sys, sys.platform, sys.argv, sys.stderr is sys.stdout)") == [
        "<module 'sys'> esp32 [] True"
    ]
    # What only the unix port's sys has is not there, as on the ESP32 build.
    assert run(
        esp32, "print([n for n in ('atexit', 'exc_info', 'executable') if hasattr(sys, n)])"
    ) == ["[]"]


def test_assigning_sys_path_changes_where_import_looks(esp32):
    # extmod/vfs_rom.py: `sys.path = [...]` changed a copy that the importer never read.
    lines = run(
        esp32,
        "import os\ntry:\n    os.mkdir('/sub')\nexcept OSError:\n    pass\n"
        "with open('/sub/only_in_sub.py', 'w') as f:\n    f.write('x = 42')\n"
        "old = sys.path\nsys.path = ['/sub']\n"
        "try:\n    import only_in_sub\n    print(only_in_sub.x, sys.path)\n"
        "finally:\n    sys.path = old\n"
        "print(sys.path is old)\nos.remove('/sub/only_in_sub.py')\nos.rmdir('/sub')",
    )
    assert lines == ["42 ['/sub']", "True"]


# ---- help() of the stand-in modules ------------------------------------------------------------


def test_help_of_micropython_lists_the_boards_table_in_its_order(esp32):
    lines = run(esp32, "import micropython\nhelp(micropython)")
    assert lines[:4] == [
        "object <module 'micropython'> is of type module",
        "  __name__ -- micropython",
        "  const -- <function>",
        "  opt_level -- <function>",
    ]
    names = [line.split(" -- ")[0].strip() for line in lines[1:]]
    assert "alloc_emergency_exception_buf" in names
    # The unix port's memory statistics are not on any of the three ports; nor is our `sys`.
    assert not {"mem_total", "mem_current", "mem_peak", "sys"} & set(names)
    assert all(line.endswith("<function>") for line in lines if "mem_info" in line)
    assert run(esp32, "print(hasattr(micropython, 'mem_total'))") == ["False"]


def test_help_of_os_and_time_shows_no_host_path_or_front_end_helper(esp32):
    lines = run(esp32, "import os, time\nhelp(os)\nhelp(time)")
    text = "\n".join(lines)
    assert "object <module 'os'> is of type module" in text
    assert "object <module 'time'> is of type module" in text
    assert str(MPY_DIR) not in text
    for helper in ("norm", "install_open", "set_flash", "board_seconds", "state_path", "_host"):
        assert f"  {helper} --" not in text
    assert "  ticks_add -- <function>" in text and "  listdir -- <function>" in text


# ---- paths in the Windows build's form ---------------------------------------------------------

BACKSLASH_RUNNER = """\
import sys
sys.path.insert(0, sys.argv[1])
import _simhw
_simhw.init({"board": {"chip": "esp32", "machine": "ESP32"},
             "hardware": {"devices": [], "gpios": list(range(40))},
             "inputs_file": sys.argv[2] + "\\\\inputs.json", "micropython": {}})
import machine, time
machine.RTC().datetime((2030, 1, 2, 3, 4, 5, 6, 0))
machine.WDT(timeout=60000)
print("files", machine._wdt["file"] is not None, time._file is not None)
"""


def run_micropython(tmp_path, program: str, *args: str) -> subprocess.CompletedProcess:
    """`program` run by the bare MicroPython interpreter with `args`, as the board's own code."""
    runner = tmp_path / "runner.py"
    runner.write_text(program, encoding="utf-8")
    return subprocess.run(
        [venv_bin("micropython"), str(runner), *args], capture_output=True, timeout=60
    )


def test_rtc_and_watchdog_state_files_are_found_from_a_backslash_path(tmp_path):
    """MicroPython's Windows build gives the inputs file as C:\\...\\inputs.json: the RTC and
    watchdog files beside it must still open (cutting at "/" alone pointed inside that file)."""
    state = tmp_path / "state"
    state.mkdir()
    result = run_micropython(tmp_path, BACKSLASH_RUNNER, str(MPY_DIR), str(state))
    assert b"files True True" in result.stdout, result.stdout + result.stderr
    assert (state / "rtc").read_bytes().strip() != b""  # the RTC's offset was kept
    assert (state / "watchdog").read_bytes() == b"00060000"  # the armed timeout was kept


FROZEN_RUNNER = """\
import sys
mpy, folder = sys.argv[1], sys.argv[2]
with open(mpy + "/_simfrozen.py") as f:
    source = f.read()
g = {"__name__": "_simfrozen", "__file__": folder + "\\\\_simfrozen.py"}
exec(compile(source, "_simfrozen.py", "exec"), g)
print("here", g["_here"])
with g["_src"].open("/probe.py", "r") as f:
    print("read", f.read())
"""


def test_the_frozen_modules_folder_is_found_from_a_backslash_path(tmp_path):
    """_simfrozen.py finds frozen_src/ beside itself from the Windows build's __file__."""
    folder = tmp_path / "mpy"
    (folder / "frozen_src").mkdir(parents=True)
    (folder / "frozen_src" / "probe.py").write_text("x = 1", encoding="utf-8")
    result = run_micropython(tmp_path, FROZEN_RUNNER, str(MPY_DIR), str(folder))
    assert result.stdout.decode().splitlines() == [f"here {folder}", "read x = 1"], (
        result.stdout + result.stderr
    )
