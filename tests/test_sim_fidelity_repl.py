"""Issue 13 item 2: the virtual board's raw REPL and runtime edge cases behave as a board's.

Each case here was a test of MicroPython's own suite (tests/run-tests.py at v1.28.0) that
passed on the bare interpreter and failed through the virtual board. They are checked again
with our own code, on the real virtual board, since CI cannot fetch MicroPython's tests.
"""

from __future__ import annotations

import subprocess

from conftest import venv_bin

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"


def enter_raw(console) -> None:
    console.write(b"\r\x03\x01")
    console.read_until(RAW_BANNER)


def test_sys_exit_in_raw_repl_sends_both_end_markers_then_soft_reboots(console):
    # pyexec.c prints the end of output and the (empty) exception's end before it looks at
    # the exception, then the board soft-reboots and comes back in the raw REPL.
    enter_raw(console)
    console.write(b"print(1)\nimport sys\nsys.exit()\x04")
    out = console.read_until(RAW_BANNER, timeout=15)
    assert out.startswith(b"OK1\r\n\x04\x04"), out
    assert b"MPY: soft reboot" in out[len(b"OK1\r\n\x04\x04") :], out


def test_sys_exit_in_raw_paste_mode_sends_both_end_markers(console):
    enter_raw(console)
    console.write(b"\x05A\x01")
    head = console.read_until(b"R\x01\x80\x00\x01", timeout=5)  # window 128, two open
    assert head == b"R\x01\x80\x00\x01", head
    console.write(b"print('bye')\nraise SystemExit\x04")
    out = console.read_until(RAW_BANNER, timeout=15)
    # "\x04": the end of the data, echoed; then output, "\x04", empty exception, "\x04".
    assert out.startswith(b"\x04bye\r\n\x04\x04"), out
    assert b"MPY: soft reboot" in out, out


def test_mpremote_exec_of_a_program_that_calls_sys_exit_returns(vboard):
    # Before the fix the real mpremote waited for ever for the end markers.
    result = subprocess.run(
        [venv_bin("mpremote"), "connect", vboard.port, "exec", "print(1); import sys; sys.exit()"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"


def test_a_program_after_sys_exit_runs_on_the_rebooted_board(console):
    enter_raw(console)
    console.write(b"x = 1\nraise SystemExit\x04")
    console.read_until(RAW_BANNER, timeout=15)
    console.write(b"print('x' in globals())\x04")
    out = console.read_until(b"\x04>", timeout=10)
    assert out == b"OKFalse\r\n\x04\x04>", out  # a soft reboot starts a clean __main__


def test_user_code_runs_in_the_real___main__(console):
    out, err = console.raw_exec("x = 5\nimport __main__\nprint(hasattr(__main__, 'x'))")
    assert err == b""
    assert out == b"True\r\n"


def test_discovery_through___main___finds_the_callers_names(console):
    # What unittest.main() does: import the module named "__main__" and look for TestCase
    # subclasses in it.
    code = (
        "class TestThing:\n    pass\n"
        "def helper():\n    pass\n"
        "m = __import__('__main__')\n"
        "print([n for n in dir(m) if n.startswith('Test')], m.helper is helper)"
    )
    out, err = console.raw_exec(code)
    assert err == b""
    assert out == b"['TestThing'] True\r\n"


def test_the_front_ends_own_names_are_not_in___main__(console):
    console.write(b"\x04")  # soft reboot: a board's __main__ starts empty
    console.read_until(b">>> ", timeout=15)
    out, err = console.raw_exec(
        "import __main__\n"
        "print(sorted(n for n in dir(__main__) if n[:2] != '__'), __main__.__name__)"
    )
    assert err == b""
    assert out == b"[] __main__\r\n"


def test_a_flash_file_named_like_the_front_end_is_imported(console):
    # The front end runs as a module of its own for a moment: it must leave no trace that
    # would shadow a student's module of the same name.
    console.raw_exec("open('repl.py', 'w').write('WHO = \"student\"\\n')")
    out, err = console.raw_exec("import repl\nprint(repl.WHO)")
    assert err == b""
    assert out == b"student\r\n"


def test_stderr_reaches_the_port_in_order_with_stdout(console):
    code = (
        "import sys\n"
        "print('one')\n"
        "print('two', file=sys.stderr)\n"
        "sys.stderr.write('three\\n')\n"
        "print('four')\n"
        "import usys\n"
        "print('five', file=usys.stderr)"
    )
    out, err = console.raw_exec(code)
    assert err == b""
    assert out == b"one\r\ntwo\r\nthree\r\nfour\r\nfive\r\n"


def test_sys_argv_is_empty_as_on_a_board(console):
    out, _ = console.raw_exec("import sys\nprint(sys.argv)")
    assert out == b"[]\r\n"  # the host's paths to the front end stay out


USER_FS = """
import os, vfs
calls = []
class UserFS:
    def mount(self, readonly, mkfs):
        pass
    def umount(self):
        pass
    def ilistdir(self, path):
        calls.append(('ilistdir', path))
        return iter([('a', 0x8000, 0), ('b', 0x4000, 0)])
    def chdir(self, path):
        calls.append(('chdir', path))
    def getcwd(self):
        calls.append(('getcwd',))
        return ''
    def stat(self, path):
        calls.append(('stat', path))
        return (0x8000, 0, 0, 0, 0, 0, 3, 0, 0, 0)
    def statvfs(self, path):
        return (512, 512, 7, 7, 7, 0, 0, 0, 0, 255)
vfs.mount(UserFS(), '/user')
"""


def test_listdir_inside_a_user_mounted_filesystem(console):
    out, err = console.raw_exec(
        USER_FS + "print(os.listdir('/user'))\n"
        "print(list(os.ilistdir('/user')))\n"
        "print(os.stat('/user/a')[6], os.statvfs('/user')[2])\n"
        "vfs.umount('/user')"
    )
    assert err == b"", err
    lines = out.decode().splitlines()
    assert lines[0] == "['a', 'b']"
    # The entries exactly as the filesystem gave them: 3-tuples, as the real port passes on.
    assert lines[1] == "[('a', 32768, 0), ('b', 16384, 0)]"
    assert lines[2] == "3 7"


def test_relative_paths_in_a_user_filesystem_never_ask_it_for_its_cwd(console):
    out, err = console.raw_exec(
        USER_FS + "os.chdir('/user')\n"
        "calls.clear()\n"
        "print(os.listdir(), os.listdir('sub'))\n"
        "print(calls)\n"
        "os.chdir('/')\n"
        "vfs.umount('/user')"
    )
    assert err == b"", err
    lines = out.decode().splitlines()
    assert lines[0] == "['a', 'b'] ['a', 'b']"
    # A board's os.listdir() goes straight to the filesystem: no getcwd() call first.
    assert lines[1] == "[('ilistdir', ''), ('ilistdir', 'sub')]"


def test_a_littlefs_on_a_ram_block_device_mounts_and_lists(console):
    code = (
        "import os, vfs\n"
        "class RAMBlockDev:\n"
        "    def __init__(self, n):\n"
        "        self.data = bytearray(n * 512)\n"
        "    def readblocks(self, b, buf, off=0):\n"
        "        a = b * 512 + off\n"
        "        buf[:] = self.data[a:a + len(buf)]\n"
        "    def writeblocks(self, b, buf, off=None):\n"
        "        a = b * 512 + (off or 0)\n"
        "        self.data[a:a + len(buf)] = buf\n"
        "    def ioctl(self, op, arg):\n"
        "        if op == 4: return len(self.data) // 512\n"
        "        if op == 5: return 512\n"
        "        if op == 6: return 0\n"
        "bdev = RAMBlockDev(50)\n"
        "vfs.VfsLfs2.mkfs(bdev)\n"
        "vfs.mount(vfs.VfsLfs2(bdev), '/ram')\n"
        "with open('/ram/hello.txt', 'w') as f:\n"
        "    f.write('hi')\n"
        "os.chdir('/ram')\n"
        "print(os.listdir(), os.listdir('/ram'), open('hello.txt').read())\n"
        "print(os.statvfs('/ram')[2])\n"
        "os.chdir('/')\n"
        "vfs.umount('/ram')\n"
        "print('hello.txt' in os.listdir('/'))"
    )
    out, err = console.raw_exec(code)
    assert err == b"", err
    assert out.decode().splitlines() == ["['hello.txt'] ['hello.txt'] hi", "50", "False"]


def test_the_flash_still_lists_board_style_entries_and_keeps_dotdot_inside(console):
    out, err = console.raw_exec(
        "import os\n"
        "open('f.txt', 'w').write('12345')\n"
        "print([e for e in os.ilistdir('/') if e[0] == 'f.txt'][0][3])\n"
        "print(os.listdir('/../..') == os.listdir('/'))\n"
        "os.remove('f.txt')"
    )
    assert err == b"", err
    assert out.decode().splitlines() == ["5", "True"]


def test_sys_exit_at_the_friendly_prompt_soft_reboots(console):
    console.write(b"import sys; sys.exit()\r")
    out = console.read_until(b">>> ", timeout=15)
    assert b"MPY: soft reboot" in out, out


def test_sys_looks_like_the_built_in_module(console):
    out, err = console.raw_exec("import sys\nprint(sys.__name__, sys, sys.__dict__['__name__'])")
    assert err == b""
    assert out == b"sys <module 'sys'> sys\r\n"  # no host path of the module standing in for it
