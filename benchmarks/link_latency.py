"""Our raw-REPL link against mpremote's transport, on one virtual board, in one run.

Prints:
    exec round-trip: ours X ms, mpremote Y ms, ratio X/Y      (median; p90 on the next line)
    fs_write 20 KB:  ours X KB/s, mpremote Y KB/s, ratio ...  (ratio of times, lower is better)

Both clients face the same board and the same data; each written file is read back and compared
so a fast-but-wrong result cannot pass. `--baud 115200` throttles the virtual board like a real
UART, which is where the per-exec overhead and the encoding size show most.

Usage: python benchmarks/link_latency.py [--n 50] [--size 20480] [--baud 115200]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from companion_app.device.link import Link
from companion_app.simulator import VirtualBoard


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def bench_ours(port: str, n: int, data: bytes) -> tuple[list[float], float]:
    with Link(port, timeout=30.0) as link:
        link.connect()
        for _ in range(3):
            link.exec("print(1)")
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            out = link.exec("print(1)")
            times.append(time.perf_counter() - t0)
            assert out.strip() == b"1", out
        t0 = time.perf_counter()
        link.fs_write("/bench_ours.bin", data)
        write_time = time.perf_counter() - t0
        assert link.fs_read("/bench_ours.bin") == data, "our write came back different"
    return times, write_time


def bench_mpremote(port: str, n: int, data: bytes) -> tuple[list[float], float]:
    from mpremote.transport_serial import SerialTransport

    transport = SerialTransport(port, baudrate=115200)
    try:
        transport.enter_raw_repl(soft_reset=False)
        for _ in range(3):
            transport.exec("print(1)")
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            out = transport.exec("print(1)")
            times.append(time.perf_counter() - t0)
            assert out.strip() == b"1", out
        t0 = time.perf_counter()
        transport.fs_writefile("/bench_mpremote.bin", data)
        write_time = time.perf_counter() - t0
        digest = transport.fs_hashfile("/bench_mpremote.bin", "sha256")
        assert digest == hashlib.sha256(data).digest(), "mpremote's write came back different"
        transport.exit_raw_repl()
    finally:
        transport.close()
    return times, write_time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50, help="exec round trips per client")
    ap.add_argument("--size", type=int, default=20 * 1024, help="bytes of the fs_write test")
    ap.add_argument("--baud", type=int, default=None, help="throttle the board like a UART")
    ap.add_argument("--tcp", action="store_true", help="use the board's socket:// port")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    data = os.urandom(args.size)
    with tempfile.TemporaryDirectory() as tmp:
        with VirtualBoard(
            flash_dir=Path(tmp) / "flash", baud=args.baud, tcp_port=0 if args.tcp else None
        ) as vb:
            ours, ours_write = bench_ours(vb.port, args.n, data)
            theirs, theirs_write = bench_mpremote(vb.port, args.n, data)

    speed = f"baud {args.baud}" if args.baud else "unthrottled"
    print(f"virtual board ({speed}), port {'socket' if args.tcp else 'pty'}, N={args.n}")
    med_o, med_t = statistics.median(ours) * 1e3, statistics.median(theirs) * 1e3
    p90_o, p90_t = _percentile(ours, 0.9) * 1e3, _percentile(theirs, 0.9) * 1e3
    print(
        f"exec round-trip: ours {med_o:.1f} ms, mpremote {med_t:.1f} ms, ratio {med_o / med_t:.2f}"
    )
    print(
        f"exec round-trip p90: ours {p90_o:.1f} ms, mpremote {p90_t:.1f} ms, ratio {p90_o / p90_t:.2f}"
    )
    kb = args.size / 1024
    print(
        f"fs_write {kb:.0f} KB: ours {ours_write * 1e3:.0f} ms ({kb / ours_write:.1f} KB/s), "
        f"mpremote {theirs_write * 1e3:.0f} ms ({kb / theirs_write:.1f} KB/s), "
        f"ratio {ours_write / theirs_write:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
