"""RAM of each virtual board after boot, beside the real board's published figure.

For each board: start it as `iotkit sim` does (the board's own RAM, the default), then over the
raw REPL read gc.mem_free() after gc.collect(), and find the largest bytearray that can be
allocated (bisection to 64 bytes, the program run from a file on the board's flash so that only
its small bytecode is held meanwhile, not the raw REPL's compile of it). The real figure is
chips.json "micropython" heap_free with its source; the virtual one is expected to be that
times HEAP_SCALE_64BIT (the unix port's objects are twice as large; docs/virtual-board.md).

Prints one row per board; docs/virtual-board.md "RAM and flash of each board" has the table.

Usage: python benchmarks/board_ram.py [--board nodemcu --board pico ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from companion_app.boards import load_board
from companion_app.device.link import Link
from companion_app.simulator import VirtualBoard
from companion_app.simulator.host import HEAP_SCALE_64BIT, LARGEST_BYTEARRAY_PROGRAM

BOARDS = ("nodemcu", "esp32-devkit-v1", "pico")


def measure(board_id: str) -> dict[str, int | str]:
    """gc.mem_free() after boot and the largest bytearray, on a fresh virtual board."""
    with tempfile.TemporaryDirectory(prefix="iotkit-ram-") as tmp:
        flash = Path(tmp) / "flash"
        flash.mkdir()
        # On the flash and imported: the bisection runs with only its bytecode held.
        (flash / "ram_probe.py").write_text(LARGEST_BYTEARRAY_PROGRAM, encoding="utf-8")
        with VirtualBoard(board=board_id, flash_dir=flash) as board:
            link = Link(board.port)
            link.open()
            try:
                free = int(link.exec("import gc\ngc.collect()\nprint(gc.mem_free())"))
                largest = int(link.exec("import ram_probe\nprint(ram_probe.largest())"))
            finally:
                link.close()
    prof = load_board(board_id).micropython
    return {
        "board": board_id,
        "real_free": int(prof["heap_free"]),
        "source": str(prof["sources"]["heap_free"]),
        "virtual_free": free,
        "virtual_largest": largest,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--board", action="append", help="board id (default: %s)" % ", ".join(BOARDS))
    args = ap.parse_args()
    k = HEAP_SCALE_64BIT
    print(
        f"{'board':<16} {'real free':>10} {'x' + str(k):>8} {'virtual free':>13} "
        f"{'/' + str(k):>8} {'largest':>8} {'/' + str(k):>8} {'free/target':>11}"
    )
    for board_id in args.board or BOARDS:
        t = time.monotonic()
        r = measure(board_id)
        target = k * int(r["real_free"])
        print(
            f"{r['board']:<16} {r['real_free']:>10} {target:>8} {r['virtual_free']:>13} "
            f"{int(r['virtual_free']) // k:>8} {r['virtual_largest']:>8} "
            f"{int(r['virtual_largest']) // k:>8} {int(r['virtual_free']) / target:>11.3f}"
            f"   ({time.monotonic() - t:.1f} s)"
        )
        print(f"    real figure: {r['source'][:160]}")


if __name__ == "__main__":
    main()
