"""pipe_launcher.py learns that a program ended before the host can answer its last output.

The front end says "running" and "idle" on stderr, a second pipe that can lag behind stdout.
A host that read a program's last output at once and sent its next Ctrl-C (a deploy entering
the raw REPL again) found the launcher still believing the program ran: the Ctrl-C became an
interrupt, which reached the NEXT program (a deploy's survey failed with KeyboardInterrupt in
two full test runs). The front end now also says "ended N" in band, before that output.

Here a stand-in front end (a small Python child; the launcher runs whatever IOTKIT_MP_RUNNER
holds) says "running", prints, says "ended" in band, prints "done", and holds its stderr
"idle" back for a long time: the worst lag. A Ctrl-C sent after "done" must arrive as a byte.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from companion_app.simulator import pipe_launcher

FRONT_END = r"""
import os, signal, time
signal.signal(signal.SIGINT, lambda *a: os.write(1, b"SIGINT\n"))
os.write(2, b"\x00iotkit:running 0 1\n")
time.sleep(0.3)                      # the launcher's stderr reader has long seen "running"
os.write(1, b"output of the program\n\x00iotkit:ended 0000000001\ndone\n")
time.sleep(1.5)                      # stderr's "idle" comes this late
os.write(2, b"\x00iotkit:idle\n")
import select
if select.select([0], [], [], 5)[0]:  # a byte within 5 s, or none (it became a signal)
    os.write(1, b"got %02x\n" % os.read(0, 1)[0])
else:
    os.write(1, b"got nothing\n")
time.sleep(0.5)                      # a SIGINT sent meanwhile would be printed by now
os.write(1, b"END\n")
"""


def _run(front_end: str) -> bytes:
    env = dict(os.environ, IOTKIT_MP_RUNNER=front_end)
    launcher = subprocess.Popen(
        [sys.executable, pipe_launcher.__file__],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    seen = b""
    try:
        while b"done" not in seen:
            chunk = os.read(launcher.stdout.fileno(), 4096)
            assert chunk, f"the launcher ended early: {seen!r}"
            seen += chunk
        launcher.stdin.write(b"\x03")  # the host answers the program's last output at once
        launcher.stdin.flush()
        # Read on while the stand-in runs (closing our end would power the board off).
        while not seen.endswith((b"END\r\n", b"END\n")):
            chunk = os.read(launcher.stdout.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
    finally:
        launcher.kill()
        launcher.wait(timeout=10)
    return seen


@pytest.mark.skipif(os.name == "nt", reason="the stand-in counts a POSIX SIGINT")
def test_a_ctrl_c_after_the_programs_last_output_is_a_byte_not_an_interrupt():
    out = _run(FRONT_END)
    assert b"ended" not in out  # the in-band line is the launcher's, never the host's
    assert b"got 03" in out, out
    assert b"SIGINT" not in out, out


@pytest.mark.skipif(os.name == "nt", reason="the stand-in counts a POSIX SIGINT")
def test_while_the_program_runs_a_ctrl_c_still_interrupts_it():
    """The other side: before "ended", a Ctrl-C is the running program's interrupt."""
    running = r"""
import os, signal, sys, time
got = []
signal.signal(signal.SIGINT, lambda *a: got.append(1))
os.write(2, b"\x00iotkit:running 0 1\n")
time.sleep(0.3)
os.write(1, b"done\n")
deadline = time.monotonic() + 10
while not got and time.monotonic() < deadline:
    time.sleep(0.01)
os.write(1, b"SIGINT\n" if got else b"no interrupt\n")
os.write(1, b"END\n")
"""
    out = _run(running)
    assert b"SIGINT" in out, out
