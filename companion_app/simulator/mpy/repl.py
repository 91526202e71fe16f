# The virtual board's REPL front end. This file runs INSIDE MicroPython (the unix port), not
# CPython. It speaks the same serial protocol as a real board's pyexec.c: the friendly REPL with
# paste mode, the raw REPL, raw-paste flow control and Ctrl-D soft reset, so that mpremote, Thonny
# and our own link cannot tell it from an ESP32 on a USB cable.
#
# The host (companion_app/simulator/host.py) runs one process per "boot": a soft or hard reset
# ends this process with an exit code and the host starts the next one, which is as clean as a
# real reboot. Plain pipes carry the bytes, on every OS (MicroPython's Windows build has no
# termios and no select): we tell the launcher (pipe_launcher.py) on stderr when user code
# runs, and it turns a Ctrl-C byte into an interrupt then, as a real board enables its
# interrupt character only then. It also turns "\n" into "\r\n" as a UART console does.
import sys
import os
import json
import io
import micropython

EXIT_SOFT_FRIENDLY = 40
EXIT_SOFT_RAW = 41
EXIT_HARD = 42
EXIT_DEEPSLEEP = 43

CTRL_A = 1
CTRL_B = 2
CTRL_C = 3
CTRL_D = 4
CTRL_E = 5

# Raw-paste buffer as on ESP32/RP2 (MICROPY_REPL_STDIN_BUFFER_MAX): the window is half of it.
RAW_PASTE_BUFFER = 256

_cfg = json.load(open(sys.argv[1]))
_SELF = _cfg["frontend"]
_LIBDIR = _cfg["libdir"]

_out = sys.stdout.buffer
_in = sys.stdin.buffer
# Control lines for pipe_launcher.py (its RUNNING / IDLE on stderr; RAW / COOKED in band).
_MARK = {True: "\x00iotkit:running\n", False: "\x00iotkit:idle\n"}
_OUT_MARK = {True: b"\x00iotkit:raw\n", False: b"\x00iotkit:cooked\n"}
_pending = b""
_pos = 0


class SoftReset(Exception):
    pass


def write(data):
    if isinstance(data, str):
        data = data.encode()
    _out.write(data)


def getc():
    """Next input byte, blocking."""
    global _pending, _pos, _ctrl_c_read
    while _pos >= len(_pending):
        # A pipe: read(n) waits for all n bytes, and there may be no select to ask first.
        _pending = _in.read(1)
        if not _pending:
            sys.exit(EXIT_SOFT_FRIENDLY)  # the host closed our stdin: it is stopping us
        _pos = 0
    c = _pending[_pos]
    _pos += 1
    if c == CTRL_C:
        _ctrl_c_read += 1
    return c


# Ctrl-C bytes read so far. The launcher learns that code runs a moment after it starts (our
# marker crosses a second pipe), so a Ctrl-C sent in between reaches us as a byte that nobody
# reads while the code runs. The running marker says how many we have read; the launcher
# compares with how many it passed on as bytes and interrupts the code for the unread ones.
_ctrl_c_read = 0


# Where the host says so (POSIX), Ctrl-C is also switched in the child itself, at once: an
# interrupt the launcher sends late, after the code ended, then finds it off and is dropped
# (host._LAUNCH's relay checks it), as a board's UART turns Ctrl-C into a byte at the prompt.
_GATE = _cfg.get("ctrl_c_gate", False)


def set_running(on):
    """Tell the launcher that user code runs (Ctrl-C interrupts it) or that it ended."""
    if on:
        if _GATE:
            micropython.kbd_intr(CTRL_C)
        sys.stderr.write("\x00iotkit:running %d\n" % _ctrl_c_read)
    else:
        if _GATE:
            micropython.kbd_intr(-1)
        sys.stderr.write(_MARK[False])


def raw_output(on):
    """Send bytes exactly as written (on) or with "\n" as "\r\n" (off, the usual).

    A board echoes paste mode byte for byte (pyexec.c: only "\r" becomes "\r\n=== "), and
    Thonny's WebREPL client checks that echo, so the "\n" it sends must come back bare. Only
    the front end writes while paste mode reads, so switching in between is exact: the pipe
    launcher reads the switch in band.
    """
    _out.write(_OUT_MARK[bool(on)])


def format_exception(e):
    buf = io.StringIO()
    sys.print_exception(e, buf)
    lines = []
    for line in buf.getvalue().split("\n"):
        if _SELF in line:
            continue  # our own frames: a real board's traceback has no front end in it
        lines.append(line.replace(_LIBDIR + "/", ""))
    return "\n".join(lines)


# The REPL's global namespace: boot.py, main.py and typed code share it, as on a real board.
# main() replaces it with the dict of the real `__main__` module (see _hand_over), so that
# `import __main__` and unittest.main() see the user's names.
_globals = {"__name__": "__main__"}


def stop_running():
    """Ctrl-C off, then drop one already on its way (pyexec.c drops it too after an exception).

    Ctrl-C is a pending KeyboardInterrupt, raised between bytecodes (see host.py), so one typed
    just before the launcher heard that it ended can still arrive here, not in the user's code.
    """
    while True:
        try:
            set_running(False)
            for _ in (0, 1):
                pass  # a backward jump: where the VM raises a pending exception
            return
        except KeyboardInterrupt:
            pass


def execute(code_src, filename, mode, raw=False):
    """Compile and run user code. Returns the exception text ('' on success).

    SystemExit from user code means a soft reset, as in pyexec.c.
    """
    try:
        code = compile(code_src, filename, mode)
    except BaseException as e:  # SyntaxError, MemoryError, ...
        return format_exception(e)
    try:
        try:
            # Inside the try: a Ctrl-C that was already on its way is raised as soon as the
            # launcher hears the code runs, which can be before exec() starts.
            set_running(True)
            exec(code, _globals)
        finally:
            stop_running()  # before the traceback, so a second Ctrl-C cannot cut it short
    except SystemExit as e:
        if e.args and e.args[0] in (EXIT_HARD, EXIT_DEEPSLEEP):
            raise  # machine.reset() / deepsleep(): the host reboots the whole board
        raise SoftReset()
    except BaseException as e:
        return format_exception(e)
    return ""


def run_file(name):
    try:
        with open(name) as f:
            src = f.read()
    except OSError:
        return
    err = execute(src, name, "exec")
    if err:
        write(err)


# ---- raw REPL -----------------------------------------------------------------------------


def raw_paste():
    """Receive a program with MicroPython's raw-paste flow control, then run it."""
    window = RAW_PASTE_BUFFER // 2
    write(b"R\x01" + bytes((window & 0xFF, window >> 8)) + b"\x01")
    data = bytearray()
    remain = window
    interrupted = False
    while True:
        c = getc()
        if c == CTRL_D or c == CTRL_C:
            write(b"\x04")
            interrupted = c == CTRL_C
            break
        data.append(c)
        remain -= 1
        if remain == 0:
            write(b"\x01")
            remain = window
    if interrupted:
        write(b"\x04Traceback (most recent call last):\nKeyboardInterrupt: \n\x04")
        return
    write(b"\x04" + raw_execute(bytes(data)) + b"\x04")


def raw_execute(src):
    """Run a raw-REPL program; returns its exception text as bytes.

    A program that ends with SystemExit still gets both end markers, empty exception text
    included, before the soft reboot (pyexec.c prints them before it looks at the exception):
    without them mpremote and MicroPython's run-tests.py wait for ever.
    """
    try:
        err = execute(src, "<stdin>", "exec")
    except SoftReset:
        write(b"\x04\x04")
        raise
    return err.encode()


def raw_repl():
    write("raw REPL; CTRL-B to exit\n")
    while True:
        write(">")
        line = bytearray()
        while True:
            c = getc()
            if c == CTRL_A:
                if len(line) == 2 and line[0] == CTRL_E:
                    if line[1] == ord("A"):
                        raw_paste()
                    else:
                        write(b"R\x00")
                    line = bytearray()
                    write(">")
                    continue
                write("raw REPL; CTRL-B to exit\n")  # Ctrl-A again resets the raw REPL
                line = bytearray()
                write(">")
            elif c == CTRL_B:
                write("\n")
                return "friendly"
            elif c == CTRL_C:
                line = bytearray()
            elif c == CTRL_D:
                break
            else:
                line.append(c)
        write("OK")
        if not line:
            write("\n")
            sys.exit(EXIT_SOFT_RAW)
        write(b"\x04" + raw_execute(bytes(line)) + b"\x04")


# ---- friendly REPL ------------------------------------------------------------------------

_COMPOUND = ("if", "while", "for", "try", "with", "def", "class", "@", "async")
_history = []


def needs_more(text):
    """Whether the REPL should ask for another line, with MicroPython's rules (repl.c)."""
    stripped = text.lstrip()
    first = stripped.split(None, 1)[0] if stripped else ""
    first = first.split("(")[0].rstrip(":")
    compound = first in _COMPOUND or stripped.startswith("@")
    depth = 0
    quote = None
    triple = False
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if triple and text[i : i + 3] == quote * 3:
                quote = None
                triple = False
                i += 3
                continue
            if not triple and ch == quote:
                quote = None
            elif not triple and ch == "\n":
                quote = None
        elif ch in "'\"":
            if text[i : i + 3] == ch * 3:
                quote, triple = ch, True
                i += 3
                continue
            quote = ch
        elif ch == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        i += 1
    if triple or depth > 0 or text.endswith("\\"):
        return True
    last = text.split("\n")[-1]
    return compound and last.strip() != ""


def _redraw(prompt, old, new):
    write("\r" + prompt + new + "\x1b[K")


def readline(prompt, indent=""):
    """Read one line with echo, backspace, history and left/right, as mp-readline does.

    Returns the line, or a control code (int) for Ctrl-A/B/C/D/E on an empty line.
    """
    write(prompt + indent)
    line = indent
    cur = len(line)
    hist = len(_history)
    while True:
        c = getc()
        if c in (CTRL_A, CTRL_B, CTRL_E) and not line.strip():
            return c
        if c == CTRL_C:
            return CTRL_C
        if c == CTRL_D:
            if not line:
                return CTRL_D
            continue
        if c == 13 or c == 10:
            write("\n")
            if line.strip():
                _history.append(line)
                del _history[:-20]
            return line
        if c == 8 or c == 127:
            if cur > 0:
                line = line[: cur - 1] + line[cur:]
                cur -= 1
                write("\b" + line[cur:] + " " + "\b" * (len(line) - cur + 1))
            continue
        if c == 27:
            seq = getc()
            if seq in (ord("["), ord("O")):
                k = getc()
                while k in b"0123456789;":
                    k = getc()
                if k == ord("A") and hist > 0:
                    hist -= 1
                    line = _history[hist]
                elif k == ord("B") and hist < len(_history):
                    hist += 1
                    line = _history[hist] if hist < len(_history) else ""
                elif k == ord("D") and cur > 0:
                    cur -= 1
                    write("\b")
                    continue
                elif k == ord("C") and cur < len(line):
                    write(line[cur])
                    cur += 1
                    continue
                elif k == ord("H"):
                    write("\b" * cur)
                    cur = 0
                    continue
                elif k == ord("F"):
                    write(line[cur:])
                    cur = len(line)
                    continue
                else:
                    continue
                cur = len(line)
                _redraw(prompt, "", line)
            continue
        if c == 9:
            before = line[:cur]
            insert = complete(before, prompt + line)
            if insert is None:
                write("\n" + prompt + line + "\b" * (len(line) - cur))
                continue
            line = line[:cur] + insert + line[cur:]
            cur += len(insert)
            write(line[cur - len(insert) :] + "\b" * (len(line) - cur))
            continue
        if c >= 32:
            ch = chr(c) if c < 128 else "?"
            line = line[:cur] + ch + line[cur:]
            cur += 1
            write(line[cur - 1 :] + "\b" * (len(line) - cur))


def complete(before, shown):
    """Tab completion as mp-readline does it: names in the REPL's globals, or attributes.

    Returns the text to insert, or None after printing the candidates on their own line.
    """
    i = len(before)
    while i > 0 and (before[i - 1].isalpha() or before[i - 1].isdigit() or before[i - 1] in "_."):
        i -= 1
    word = before[i:]
    if not word.strip():
        return "    "  # nothing to complete: indent, as a real board does
    obj_path, dot, prefix = word.rpartition(".")
    if dot:
        try:
            names = dir(eval(obj_path, _globals))
        except Exception:
            return ""
    else:
        import builtins

        names = list(_globals) + dir(builtins)
    matches = sorted(set(n for n in names if n.startswith(prefix) and not n.startswith("__")))
    if not matches:
        return ""
    common = matches[0]
    for m in matches[1:]:
        while not m.startswith(common):
            common = common[:-1]
    if len(matches) == 1:
        extra = common[len(prefix) :]
        try:
            value = eval(obj_path + "." + common if dot else common, _globals)
            if callable(value) and not isinstance(value, type):
                extra += "("
        except Exception:
            pass
        return extra
    if len(common) > len(prefix):
        return common[len(prefix) :]
    write("\n")
    for k in range(0, len(matches), 4):
        write("".join(m + " " * max(1, 16 - len(m)) for m in matches[k : k + 4]).rstrip() + "\n")
    return None


def _auto_indent(previous):
    spaces = len(previous) - len(previous.lstrip(" "))
    if previous.rstrip().endswith(":"):
        spaces += 4
    if not previous.strip():
        spaces = 0
    return " " * spaces


def paste_mode():
    write("\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\n=== ")
    buf = bytearray()
    raw_output(True)
    try:
        while True:
            c = getc()
            if c == CTRL_C:
                write(b"\r\n")
                return
            if c == CTRL_D:
                write(b"\r\n")
                break
            buf.append(c)
            # The echo of pyexec.c: every byte as it came, "\r" as "\r\n=== ".
            write(b"\r\n=== " if c == 13 else bytes((c,)))
    finally:
        raw_output(False)
    # The lexer takes "\r\n" and a lone "\r" as line ends; say so plainly all the same.
    err = execute(bytes(buf).replace(b"\r\n", b"\n").replace(b"\r", b"\n"), "<stdin>", "exec")
    write(err)


def banner():
    v = sys.implementation.version
    release = "v%d.%d.%d" % (v[0], v[1], v[2])
    if len(v) > 3 and v[3]:
        release += "-" + v[3]
    date = sys.version.rsplit(" on ", 1)[-1] if " on " in sys.version else ""
    if _cfg.get("banner_version"):  # the version of the image flashed on a virtual chip
        release, date = _cfg["banner_version"]
    write("MicroPython %s on %s; %s\n" % (release, date, _cfg["board"]["machine"]))
    write('Type "help()" for more information.\n')


def friendly_repl():
    banner()
    while True:
        r = readline(">>> ")
        if r == CTRL_A:
            write("\n")
            return "raw"
        if r == CTRL_B:
            write("\n")
            banner()
            continue
        if r == CTRL_C:
            write("\n")
            continue
        if r == CTRL_D:
            write("\n")
            sys.exit(EXIT_SOFT_FRIENDLY)
        if r == CTRL_E:
            paste_mode()
            continue
        text = r
        while needs_more(text):
            nxt = readline("... ", _auto_indent(text.split("\n")[-1]))
            if nxt == CTRL_C:
                write("\n")
                text = None
                break
            if isinstance(nxt, int):
                continue
            text += "\n" + nxt
        if not text or not text.strip():
            continue
        if "\n" in text:
            text += "\n"
        write(execute(text, "<stdin>", "single"))


# ---- boot -----------------------------------------------------------------------------------


def mount_flash():
    """Make the flash directory the board's / with / and /lib on sys.path, as on a real board."""
    try:
        os.umount("/")
    except OSError:
        pass
    flash = os.VfsPosix(_cfg["flash_dir"])
    os.mount(flash, "/")
    os.chdir("/")
    _simos.set_flash(flash)
    sys.path[:] = ["", ".frozen", "/lib"]
    sys.modules["os"] = sys.modules["uos"] = _simos
    _simos.install_open()


def console_sys():
    """Give user code a `sys` whose stderr is the console, as on a board (one UART for both).

    The unix port's sys.stderr is file descriptor 2, which carries our control lines to the
    pipe launcher and goes to the log, so a user's print(..., file=sys.stderr) never reached
    the port. The built-in sys can't be assigned to, but `import sys` looks in sys.modules
    first: user code gets _simsys (which _simprofile may already have filled, with the board's
    platform), stderr there is stdout itself, so the bytes keep their order. The front end
    keeps the real sys, and its control lines.
    """
    import _simsys

    if sys.modules.get("sys") is not _simsys:
        for name in dir(sys):
            if not name.startswith("__"):
                setattr(_simsys, name, getattr(sys, name))
    _simsys.__name__ = "sys"  # what `print(sys)` and sys.__dict__["__name__"] say on a board
    _simsys.__dict__.pop("__file__", None)  # a built-in module has no file (nor a host path)
    _simsys.stderr = sys.stdout
    _simsys.argv = []  # a board is not started from a command line: the host's paths stay out
    sys.modules["sys"] = sys.modules["usys"] = _simsys


def load_hardware():
    # The emulated hardware modules live outside the flash. Import them before / is remounted,
    # so `import machine` finds them in sys.modules, as a built-in module would be found.
    sys.path.insert(0, _LIBDIR)
    import _simhw

    _simhw.init(_cfg)
    try:
        import _simsocket  # servers bind loopback unless --lan (see _simsocket.py)
    except ImportError:
        pass  # a build without `socket` (MicroPython's Windows build): no network, still a board
    else:
        _simsocket.install()
    for name in _cfg["modules"]:
        try:
            __import__(name)
        except ImportError as exc:
            # A module this build cannot offer is absent, as on firmware built without it;
            # the log says which (stderr is the host's log, not the board's port).
            sys.stderr.write("virtual board: no %s on this build (%s)\n" % (name, exc))
    global _simos
    import _simos
    import _simprofile  # the board's sys.platform and free heap (chips.json "micropython")

    _simprofile.apply(_cfg)
    console_sys()  # after the profile's platform, while _LIBDIR is still on sys.path


_mode = _cfg["mode"]


def repl_forever():
    global _mode
    while True:
        if _mode == "raw":
            _mode = raw_repl()
        else:
            _mode = friendly_repl()


def main(main_globals):
    """Boot the board: hardware, flash, boot.py and main.py, then the REPL for ever.

    main_globals is the dict of the real `__main__` module, emptied by _hand_over: user code
    runs in it, as a board runs boot.py, main.py and typed lines in its `__main__`.
    """
    global _globals
    _globals = main_globals
    load_hardware()
    mount_flash()
    reset = _cfg["reset"]
    set_running(False)
    if reset == "soft":
        write("MPY: soft reboot\n")
    elif reset == "hard" and _cfg["board"]["chip"].startswith("esp"):
        write("rst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\n")
    sys.modules["_simprofile"].reserve_heap(_cfg)  # last: the heap user code gets is the board's
    try:
        run_file("boot.py")
        if _mode == "friendly":
            run_file("main.py")
        while True:
            try:
                repl_forever()
            except KeyboardInterrupt:
                # A Ctrl-C that raced the end of user code: carry on, like a real board.
                set_running(False)
    except SoftReset:
        pass
    sys.exit(EXIT_SOFT_RAW if _mode == "raw" else EXIT_SOFT_FRIENDLY)


def _hand_over():
    """Run the front end as a module of its own, and give `__main__` to the user's code.

    This file is the script MicroPython was started with, so it is `__main__`, and
    `import __main__` in a user's program would see the front end's names and not the user's
    (unittest.main() would find no tests). A module can't be made from Python code in
    MicroPython, so: import this same file again as an ordinary module, empty this script's
    globals, and let that module run the board with them. The module is then taken out of
    sys.modules, so a student's own repl.py on the flash is imported as on a board.
    """
    main_globals = globals()
    sys.path.insert(0, _LIBDIR)
    front = __import__("repl")
    del sys.modules["repl"]
    del sys.path[0]
    run = front.main
    main_globals.clear()
    main_globals["__name__"] = "__main__"
    run(main_globals)


if __name__ == "__main__":
    _hand_over()
