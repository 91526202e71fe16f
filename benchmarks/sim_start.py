"""Virtual board start-to-REPL-ready time, against a bare MicroPython start in the same run.

Ours: VirtualBoard.start(), open the port, press Enter, until the `>>> ` prompt arrives.
Anchor: the same MicroPython unix port (same launcher) starting, printing one line and exiting.

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
from companion_app.simulator.host import _LAUNCH


def board_ready_time(flash_dir: str) -> float:
    t0 = time.perf_counter()
    board = VirtualBoard(flash_dir=flash_dir).start()
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
    subprocess.run([sys.executable, "-c", _LAUNCH, "-c", "print(1)"], check=True,
                   capture_output=True)
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
    print(f"virtual board start-to-REPL: ours {m_ours * 1000:.0f} ms, "
          f"bare MicroPython start {m_anchor * 1000:.0f} ms, ratio {m_ours / m_anchor:.2f} "
          f"(median of {args.runs})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
