"""Ctrl-C never wedges the virtual board, whatever MicroPython was doing when it came.

The unix port's own SIGINT handler raises KeyboardInterrupt from inside the signal handler. In a
build with threads and no GIL, one that lands while the interpreter holds its qstr lock (while
compiling or interning a name) leaves the lock held, and the next compile waits forever; one
that lands in a garbage collection leaves the heap locked, and the front end dies with
"MemoryError: ... heap is locked" (a reboot). The host now turns SIGINT into a pending
KeyboardInterrupt that the VM raises between bytecodes, as a real board does, so neither can
happen. The workloads below spend most of their time inside those locks: before the change,
29 of 60 interrupts (interning) and 48 of 60 (GC) broke the board, and 54 of 300 board starts
with a client connecting while main.py imported its modules.
"""

from __future__ import annotations

import random
import time

import pytest
from sim_helpers import RawConsole

from companion_app.device.link import Link
from companion_app.simulator import VirtualBoard

# Every new name is looked up through thousands of interned ones, inside the qstr lock.
INTERNING_MAIN = """\
class O:
    pass
o = O()
for i in range(6000):
    getattr(o, "zz%d" % i, None)
print("go")
i = 0
while True:
    getattr(o, "yy%d" % i, None)
    i += 1
    if i % 100 == 0:
        exec("def g_%d(q_%d): return [q_%d] * 8" % (i, i, i), {})
"""

# A collection every 16 kB allocated, marking thousands of live objects each time.
GC_MAIN = """\
import gc
gc.threshold(16000)
keep = [[j] for j in range(5000)]
print("go")
i = 0
while True:
    n = i % 300
    exec("def f_%d(a_%d):\\n    return [a_%d] * 64\\nr = f_%d(%d)\\n" % (n, n, n, n, n), {})
    junk = [bytearray(100) for _ in range(20)]
    i += 1
"""


@pytest.fixture
def vboard(tmp_path):
    """A virtual ESP32 with a big heap, for the two workloads above.

    They keep thousands of names and objects alive to spend their time inside the qstr and GC
    locks, more than an ESP32's RAM holds (main.py would stop with MemoryError before "go").
    The test is about Ctrl-C and those locks, not about RAM.
    """
    board = VirtualBoard(flash_dir=tmp_path / "flash", heap=4 << 20)
    board.start()
    yield board
    board.stop()


def _interrupt_and_compute(console: RawConsole, board: VirtualBoard, rounds: int) -> None:
    """Ctrl-C main.py at a random moment, then compile and run new code, `rounds` times."""
    rng = random.Random(4242)
    boots = board.boots
    console.write(b"\x04")  # soft reset: boot.py, then main.py
    for n in range(rounds):
        console.read_until(b"go\r\n", timeout=5)
        time.sleep(rng.uniform(0.0, 0.03))  # on purpose: Ctrl-C at a random moment of the loop
        console.write(b"\x03")
        out = console.read_until(b">>> ", timeout=3)
        assert b"KeyboardInterrupt" in out
        # The deadlock showed here: this compile waited forever on the qstr lock.
        console.write(b"print(6*7)\r")
        console.read_until(b"42\r\n>>> ", timeout=3)
        assert board.boots == boots + n + 1, "the board rebooted on its own"
        console.write(b"\x04")
    console.read_until(b"go\r\n", timeout=5)
    console.write(b"\x03")
    console.read_until(b">>> ", timeout=3)


def test_ctrl_c_while_interning_names_never_deadlocks(vboard, console):
    (vboard.flash_dir / "main.py").write_text(INTERNING_MAIN)
    _interrupt_and_compute(console, vboard, rounds=30)


def test_ctrl_c_during_garbage_collection_leaves_the_heap_usable(vboard, console):
    (vboard.flash_dir / "main.py").write_text(GC_MAIN)
    _interrupt_and_compute(console, vboard, rounds=30)


def test_clients_connecting_while_main_py_imports_always_get_a_prompt(tmp_path):
    # As Thonny, mpremote and our Link do: Ctrl-C (twice) the moment the port opens, while
    # main.py is still compiling the modules it imports.
    rng = random.Random(7)
    for start in range(30):
        flash = tmp_path / f"flash{start}"
        (flash / "lib").mkdir(parents=True)
        for m in range(12):
            body = "".join(
                f"def fn_{start}_{m}_{f}(arg_{m}_{f}, *, opt_{f}=None):\n"
                f"    return {{'key_{m}_{f}': [arg_{m}_{f}] * 4, 'o': opt_{f}}}\n"
                for f in range(120)
            )
            (flash / "lib" / f"mod_{start}_{m}.py").write_text(body)
        (flash / "main.py").write_text("".join(f"import mod_{start}_{m}\n" for m in range(12)))
        with VirtualBoard(flash_dir=flash) as board:
            time.sleep(rng.uniform(0.0, 0.08))  # on purpose: connect at a random moment of boot
            with Link(board.port, timeout=3) as link:
                assert link.exec("print(6*7)", timeout=3).strip() == b"42"
            assert board.boots == 1, "the board rebooted on its own"


@pytest.mark.parametrize(
    "setup, blocking_call",
    [
        ("import time", "print('under way'); time.sleep(10)"),
        ("import time", "print('under way'); time.sleep_ms(10000)"),
        ("import sys", "print('under way'); sys.stdin.read(1)"),
        (
            "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            "s.bind(socket.getaddrinfo('127.0.0.1', 0)[0][-1])",
            "print('under way'); s.recv(10)",
        ),
    ],
    ids=["sleep", "sleep_ms", "stdin", "socket"],
)
def test_ctrl_c_still_interrupts_blocking_calls_at_once(console, vboard, setup, blocking_call):
    console.run(setup)
    console.write(blocking_call.encode() + b"\r")
    console.read_until(b"under way\r\n")  # printed just before the call blocks (not the echo)
    t0 = time.monotonic()
    console.write(b"\x03")
    out = console.read_until(b">>> ", timeout=3).decode()
    assert "KeyboardInterrupt" in out
    assert time.monotonic() - t0 < 1
    assert console.run("print(6*7)") == "42"
    assert vboard.boots == 1


def test_a_board_that_waits_legitimately_is_left_alone(console, vboard):
    # A long sleep, then a _thread lock held by another thread: no Ctrl-C, no restart. A Ctrl-C
    # during the lock wait takes effect when the lock is released, as on an ESP32.
    console.run("import time, _thread; lock = _thread.allocate_lock(); lock.acquire()")
    assert console.run("time.sleep(1.5); print('slept')", timeout=4) == "slept"
    console.run("_thread.start_new_thread(lambda: (time.sleep(1), lock.release()), ())")
    console.write(b"lock.acquire(); print('got it')\r")
    console.read_until(b"print('got it')\r\n")  # the echo: the board is at the lock (or past it)
    console.write(b"\x03")
    out = console.read_until(b">>> ", timeout=4).decode()
    assert "KeyboardInterrupt" in out or "got it" in out
    assert console.run("print(6*7)") == "42"
    assert vboard.boots == 1


def test_kbd_intr_minus_one_turns_ctrl_c_off_like_a_board(console, vboard):
    # Within the code that calls it: pyexec.c turns Ctrl-C back on before every execution
    # (mp_hal_set_interrupt_char(CHAR_CTRL_C) in parse_compile_execute), so on a board the
    # setting does not carry over to the next line typed.
    console.run("import micropython, time")
    console.write(b"micropython.kbd_intr(-1); print('off'); time.sleep(0.6); print('on')\r")
    console.read_until(b"off\r\n")  # Ctrl-C is off now; it lands in the board's 0.6 s sleep
    console.write(b"\x03")
    out = console.read_until(b">>> ", timeout=3).decode()
    assert "on\r\n" in out and "KeyboardInterrupt" not in out
    assert vboard.boots == 1  # it used to kill MicroPython: SIGINT was back to SIG_DFL
    # The next line has Ctrl-C again, as on a board.
    console.write(b"print('sleeping'); time.sleep(5)\r")
    console.read_until(b"sleeping\r\n")
    console.write(b"\x03")
    assert "KeyboardInterrupt" in console.read_until(b">>> ", timeout=3).decode()


def test_ctrl_c_storm_over_short_commands_keeps_the_repl_whole(console, vboard):
    # Interrupts that land just as the code ends, or after, must not disturb the front end.
    rng = random.Random(3)
    for _ in range(25):
        console.write(b"x = [i for i in range(3000)]\r")
        time.sleep(rng.uniform(0.0, 0.01))  # on purpose: Ctrl-C at a random moment
        console.write(b"\x03" * rng.randint(1, 3))
        console.read_until(b">>> ", timeout=3)
        console.drain(0.05)
    assert console.run("print(6*7)") == "42"
    assert vboard.boots == 1
