"""Random bytes (a wrong baud rate) through `iotkit plot --record`, against anchors in the same run.

Issue 11, item 8: at a wrong baud rate every garbled run of bytes became a series and the CSV was
rewritten for each new one (200 KB took 13 s; 2 MB did not finish in 120 s). The goal is
2 MB of random bytes through `iotkit plot --from-file F --record out.csv --headless` in < 3 s.

Figures, each the median of --repeat runs of the real command in a fresh process (so Python's
start and the imports count, as they do for a person):

1. garbage: 2 MB of random bytes (seeded) -> `plot --from-file --record --headless`.
2. printable: 2 MB of random printable ASCII, digits, `:`/`=`/`,` and newlines (garbled 7-bit
   text: it passes the garbled-line test, so the name rules and the series cap must hold it).
3. names: 2 MB of printable lines that each bring a series never seen before (`reading123: 4.5`),
   the worst case for the series cap and the rewrite budget.
4. anchor: 2 MB of ordinary `temp:22.51,hum:45.1` lines through the same command, the figure a
   working board gives.
5. start: `iotkit plot --from-file` on an empty file (Python, imports, an empty CSV): the floor.

    .venv/bin/python benchmarks/plot_garbage_bench.py
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SIZE = 2_000_000
GOAL_S = 3.0


def random_bytes(size: int, seed: int = 11) -> bytes:
    return random.Random(seed).randbytes(size)


def printable_garbage(size: int, seed: int = 12) -> bytes:
    alphabet = string.ascii_letters + string.digits + " :=,.\n"
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(size)).encode()


def new_name_lines(size: int) -> bytes:
    out, total, i = [], 0, 0
    while total < size:
        line = f"reading{i}: {i % 97}.5\n"
        out.append(line)
        total += len(line)
        i += 1
    return "".join(out).encode()[:size]


def valid_lines(size: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    out, total = [], 0
    while total < size:
        line = f"temp:{22 + rng.random():.2f},hum:{45 + rng.random():.1f}\n"
        out.append(line)
        total += len(line)
    return "".join(out).encode()[:size]


def run_plot(capture: Path, out: Path) -> tuple[float, str]:
    """Seconds for one `iotkit plot` in a fresh process, and the summary's last line."""
    command = [sys.executable, "-m", "companion_app.cli", "plot", "--from-file", str(capture)]
    command += ["--record", str(out), "--headless"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - start
    return elapsed, done.stdout.strip().splitlines()[-1]


def median_run(capture: Path, out: Path, repeat: int) -> tuple[float, str]:
    runs = [run_plot(capture, out) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), runs[-1][1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inputs = {
            "garbage": random_bytes(SIZE),
            "printable": printable_garbage(SIZE),
            "names": new_name_lines(SIZE),
            "anchor": valid_lines(SIZE),
            "start": b"",
        }
        results = {}
        for name, data in inputs.items():
            capture = folder / f"{name}.bin"
            capture.write_bytes(data)
            results[name] = median_run(capture, folder / f"{name}.csv", args.repeat)
            seconds, summary = results[name]
            print(f"{name:9s} {len(data) / 1e6:4.1f} MB  {seconds:6.2f} s  ({summary})")
        anchor = results["anchor"][0]
        start = results["start"][0]
        garbage = results["garbage"][0]
        print()
        print(
            f"2 MB random bytes: {garbage:.2f} s (goal < {GOAL_S:g} s), "
            f"{garbage / anchor:.2f}x the 2 MB of valid lines ({anchor:.2f} s), "
            f"{garbage / start:.2f}x an empty file ({start:.2f} s)"
        )
        for name, what in (("printable", "printable garbage"), ("names", "ever-new names")):
            seconds = results[name][0]
            print(f"2 MB of {what}: {seconds:.2f} s, {seconds / anchor:.2f}x the valid lines")
        return 0 if garbage < GOAL_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
