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
import gc
import micropython
import time as _rom_time  # the built-in modules, kept before stand-ins replace them (install_help)
import vfs as _rom_vfs

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
# One byte at a time from a pipe, into a buffer made once: reading input never allocates, so
# the board still hears Ctrl-C and the next program when user code has filled the heap.
_inbuf = bytearray(1)
_have = 0  # bytes of _inbuf not yet taken (0 or 1)


class SoftReset(Exception):
    pass


def write(data):
    if isinstance(data, str):
        data = data.encode()
    _out.write(data)


def getc():
    """Next input byte, blocking."""
    global _have, _ctrl_c_read
    while not _have:
        # A pipe: read(n) waits for all n bytes, and there may be no select to ask first.
        _have = _in.readinto(_inbuf) or 0
        if not _have:
            sys.exit(EXIT_SOFT_FRIENDLY)  # the host closed our stdin: it is stopping us
    _have = 0
    c = _inbuf[0]
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


# A Ctrl-C the launcher sent while the previous code ran is a SIGINT that waits, blocked, until
# host._LAUNCH's relay thread takes it. On a busy computer the OS can run that thread late,
# after this code has started and switched Ctrl-C on: the relay would then interrupt the wrong
# code (a deploy's first check failed with KeyboardInterrupt). Linux shows the waiting signals
# in /proc/self/status, so before Ctrl-C goes on the front end waits (up to LATE_CTRL_C_MS)
# until the relay has taken it and, finding Ctrl-C off, dropped it. On a board, a Ctrl-C that
# came before the code started is a byte at the prompt. Without /proc (macOS) nothing waits.
LATE_CTRL_C_MS = 1000
_status = None  # /proc/self/status, kept open: read again from 0, the kernel writes it anew
if _GATE:
    try:
        _status = os.VfsPosix("/proc/self").open("/status", "rb")
    except (AttributeError, OSError):
        pass
_status_buf = bytearray(2048 if _status is not None else 0)  # the masks are ~650 bytes in


def _sigint_waiting():
    """Whether a SIGINT waits for a thread to take it (False when that cannot be known).

    It runs before every program, so it allocates nothing: the masks are read in place. A
    mask is 16 hex digits, and SIGINT (signal 2) is the 2 bit of the last one.
    """
    buf = _status_buf
    try:
        _status.seek(0)
        n = _status.readinto(buf)
    except OSError:
        return False
    for key in (b"\nShdPnd:", b"\nSigPnd:"):
        at = buf.find(key, 0, n)
        end = buf.find(b"\n", at + 1, n) if at >= 0 else -1
        if end > 0:
            digit = buf[end - 1]
            value = digit - 48 if digit <= 57 else (digit | 32) - 87
            if value & 2:
                return True
    return False


def _let_a_late_ctrl_c_go():
    if _status is None or not _sigint_waiting():
        return
    start = _rom_time.ticks_ms()
    while _rom_time.ticks_diff(_rom_time.ticks_ms(), start) < LATE_CTRL_C_MS:
        _rom_time.sleep_ms(1)
        if not _sigint_waiting():
            break
    _rom_time.sleep_ms(2)  # the relay has just taken it: let it finish dropping it


def set_running(on):
    """Tell the launcher that user code runs (Ctrl-C interrupts it) or that it ended."""
    if on:
        _let_a_late_ctrl_c_go()
        # An interrupt pending before code starts is stale: the launcher sent it while it still
        # thought the previous code ran (its idle line not read yet). The byte was taken out of
        # the stream, so on a board it would have been a Ctrl-C at the prompt: drop it.
        try:
            for _ in (0, 1):
                pass  # a backward jump: where the VM raises a pending exception
        except KeyboardInterrupt:
            pass
        if _GATE:
            micropython.kbd_intr(CTRL_C)
        global _runs
        _runs += 1
        sys.stderr.write("\x00iotkit:running %d %d\n" % (_ctrl_c_read, _runs))
    else:
        if _GATE:
            micropython.kbd_intr(-1)
        sys.stderr.write(_MARK[False])


# Runs of user code so far, and the in-band line that says run N ended: "idle" + 10 digits.
# The launcher reads RUNNING and IDLE on stderr, a second pipe that can lag behind stdout: a
# host that read a program's last output at once sent its next Ctrl-C while the launcher still
# thought the program ran, so the Ctrl-C became an interrupt of the next program (a deploy's
# check then failed with KeyboardInterrupt). The same end, said in band before that output,
# reaches the launcher first. Made once and filled with digits in place: no allocation, since
# the program may have filled the heap.
_runs = 0
_idle_line = bytearray(b"\x00iotkit:ended 0000000000\n")
_IDLE_DIGITS = len(b"\x00iotkit:ended ")


def say_ended():
    """In band on stdout: run number `_runs` has ended (before any output that follows it)."""
    n = _runs
    for i in range(_IDLE_DIGITS + 9, _IDLE_DIGITS - 1, -1):
        _idle_line[i] = 48 + n % 10
        n //= 10
    _out.write(_idle_line)


def raw_output(on):
    """Send bytes exactly as written (on) or with "\n" as "\r\n" (off, the usual).

    A board echoes paste mode byte for byte (pyexec.c: only "\r" becomes "\r\n=== "), and
    Thonny's WebREPL client checks that echo, so the "\n" it sends must come back bare. Only
    the front end writes while paste mode reads, so switching in between is exact: the pipe
    launcher reads the switch in band.
    """
    _out.write(_OUT_MARK[bool(on)])


# The front end's own working memory. User code shares the heap with the front end, as on a
# board, where pyexec.c's buffers are static RAM. A program that fills the heap must get its
# MemoryError reported, and the board must read the next program, as a board does; without
# room the front end itself failed and the board rebooted under the client (a deploy's
# raw-paste then met a banner). So the front end holds a reserve, taken before the board's
# heap is measured out (the ballast of _simprofile.py), frees it when it runs out itself, and
# takes it back at the next prompt.
RESERVE_BYTES = 8 * 1024
_reserve = None


def take_reserve():
    """At a prompt: take the reserve back if an out-of-memory report used it."""
    global _reserve
    if _reserve is None:
        gc.collect()
        try:
            _reserve = bytearray(RESERVE_BYTES)
        except MemoryError:
            pass  # the user's objects hold the heap; try again at the next prompt


def use_reserve():
    """The front end ran out of memory: free its reserve for its own work (a report)."""
    global _reserve
    _reserve = None
    gc.collect()


# The last resort when even the reserve is not enough to format the traceback.
_OOM_TEXT = "Traceback (most recent call last):\nMemoryError: memory allocation failed\n"


def format_exception(e):
    try:
        return _format_exception(e)
    except MemoryError:
        use_reserve()
        try:
            return _format_exception(e)
        except MemoryError:
            return _OOM_TEXT


def _format_exception(e):
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
            say_ended()
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
    except MemoryError as e:  # a board compiles it as it reads, and reports the same
        write(format_exception(e))
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
    full = None  # a MemoryError while receiving: the rest is read and dropped, then reported
    while True:
        c = getc()
        if c == CTRL_D or c == CTRL_C:
            write(b"\x04")
            interrupted = c == CTRL_C
            break
        if full is None:
            full = append(data, c)
        remain -= 1
        if remain == 0:
            write(b"\x01")
            remain = window
    if interrupted:
        write(b"\x04Traceback (most recent call last):\nKeyboardInterrupt: \n\x04")
        return
    raw_reply(data, full)


def append(buf, c):
    """Add an input byte to buf; None, or the MemoryError when not even the reserve has room."""
    try:
        buf.append(c)
    except MemoryError:
        use_reserve()
        try:
            buf.append(c)
        except MemoryError as e:
            return e
    return None


def raw_reply(data, full):
    """Run a received raw-REPL program and send its end markers, in pieces (no concatenation)."""
    if full is not None:
        err = format_exception(full).encode()  # the program did not fit: as a board's compile
    else:
        err = raw_execute(bytes(data))
    write(b"\x04")
    write(err)
    write(b"\x04")


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
        take_reserve()
        write(">")
        line = bytearray()
        full = None
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
                full = None
                write(">")
            elif c == CTRL_B:
                write("\n")
                return "friendly"
            elif c == CTRL_C:
                line = bytearray()
                full = None
            elif c == CTRL_D:
                break
            elif full is None:
                full = append(line, c)
        write("OK")
        if not line and full is None:
            write("\n")
            sys.exit(EXIT_SOFT_RAW)
        raw_reply(line, full)


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


_echo = bytearray(1)


def paste_mode():
    write("\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\n=== ")
    buf = bytearray()
    full = None
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
            if full is None:
                full = append(buf, c)
            # The echo of pyexec.c: every byte as it came, "\r" as "\r\n=== ".
            _echo[0] = c
            write(b"\r\n=== " if c == 13 else _echo)
    finally:
        raw_output(False)
    if full is not None:
        write(format_exception(full))
        return
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
        try:
            take_reserve()
            if friendly_line():
                return "raw"
        except MemoryError as e:
            # Reading or echoing the line itself ran out (the user's objects fill the heap):
            # report it as a board's REPL does, and give a new prompt.
            use_reserve()
            write("\n")
            write(format_exception(e))


def friendly_line():
    """Read and run one REPL entry; True when Ctrl-A asks for the raw REPL."""
    r = readline(">>> ")
    if r == CTRL_A:
        write("\n")
        return True
    if r == CTRL_B:
        write("\n")
        banner()
        return False
    if r == CTRL_C:
        write("\n")
        return False
    if r == CTRL_D:
        write("\n")
        sys.exit(EXIT_SOFT_FRIENDLY)
    if r == CTRL_E:
        paste_mode()
        return False
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
        return False
    if "\n" in text:
        text += "\n"
    write(execute(text, "<stdin>", "single"))
    return False


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
    _simos._set_flash(flash)
    sys.path[:] = ["", ".frozen", "/lib"]
    sys.modules["os"] = sys.modules["uos"] = _simos
    sys.modules["vfs"] = sys.modules["_simvfs"]  # the board's filesystems only (_simvfs.py)
    _simos.install_open()
    install_help()


# help(module) prints a value the way py/builtinhelp.c does; a function of a stand-in module is a
# built-in one on a board, which prints as "<function>" (not "<function name at 0x...>").
_FUNCTION_TYPES = ("function", "closure", "bound_method")


def install_help():
    """help() of a stand-in module lists its names as help() of the board's built-in does.

    `micropython`, `time`, `sys`, `os` and `vfs` are Python modules here (see their files), and
    help() lists a module's names in the order of its dict: a board's built-in module is a table
    in ROM, so help() gives them in the order of the C source, `__name__` first; a Python
    module's come out in hash order, with the stand-in's own helpers among them. This help()
    gives the built-in's order, or the stand-in's _ROM_ORDER (the board's table, where it differs
    from the unix port's), and leaves out the stand-in's helpers.
    """
    import builtins

    rom = {"micropython": micropython, "time": _rom_time, "sys": sys, "os": os, "vfs": _rom_vfs}
    stand_ins = [(sys.modules[n], m) for n, m in rom.items() if sys.modules.get(n) not in (m, None)]
    builtin_help = builtins.help

    def help(*args):
        if len(args) == 1 and args[0] is help:
            return builtin_help(builtin_help)  # help(help) is about the built-in function
        for module, builtin in stand_ins:
            if len(args) == 1 and args[0] is module:
                return _help_stand_in(module, builtin)
        return builtin_help(*args)

    builtins.help = help


def _help_stand_in(module, builtin):
    order = getattr(module, "_ROM_ORDER", None)
    if order:  # the board's table, complete: the stand-in's other names are not the board's
        shown = [n for n in order if hasattr(module, n)]
    else:
        order = list(builtin.__dict__)
        shown = [n for n in order if n in module.__dict__]
        # Names of the stand-in's own, but not the ones the built-in keeps outside its table
        # (sys.path: MICROPY_PY_SYS_ATTR_DELEGATION), which a board's help() doesn't list.
        shown += [
            n
            for n in module.__dict__
            if n not in order and not n.startswith("_") and not hasattr(builtin, n)
        ]
    print("object %s is of type module" % module)
    for name in shown:
        value = module.__dict__[name]
        text = "<function>" if type(value).__name__ in _FUNCTION_TYPES else str(value)
        print("  %s -- %s" % (name, text))


def console_sys():
    """Give user code the board's `sys` (_simsys.py): the port's platform, stderr on the console.

    The unix port's sys.stderr is file descriptor 2, which carries our control lines to the
    pipe launcher and goes to the log, so a user's print(..., file=sys.stderr) never reached
    the port: in the board's sys, stderr is stdout itself, so the bytes keep their order, as on
    a board's single UART. The platform is the board profile's (chips.json "micropython"). The
    front end keeps the real sys, and its control lines.
    """
    import _simsys

    platform = (_cfg.get("micropython") or {}).get("platform") or sys.platform
    board_sys = _simsys.make(platform=platform, stderr=sys.stdout, argv=[])
    sys.modules["sys"] = sys.modules["usys"] = board_sys


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
    import _simprofile  # the board's free heap (chips.json "micropython"), taken at the end

    console_sys()  # while _LIBDIR is still on sys.path


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
    take_reserve()  # the front end's working memory comes out of the firmware's share
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
