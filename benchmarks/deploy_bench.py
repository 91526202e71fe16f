"""`iotkit deploy` of a template against `mpremote fs cp -r` of the same files, in one run.

The `web` template (with what it needs: wifi, sensor, the common files, /config.json and the
microdot library) is staged in a temp folder. Each client then copies exactly those files onto
a fresh virtual board (the same flash contents at the start), throttled like a UART at --baud,
and every copy is compared byte for byte with the staged files so a fast-but-wrong run cannot
pass. Then each client runs again with nothing changed.

Prints, each as a ratio against the mpremote anchor measured in the same run:
    first deploy: our engine in-process, and the `iotkit deploy DIR` command (process start
                  included, like mpremote's figure)
    redeploy with nothing changed
    wire-speed limits: bytes x 10 / baud for what we put on the wire, and for the raw files

Usage: python benchmarks/deploy_bench.py [--baud 115200] [--template web] [--mpy]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from companion_app.device import deploy as engine
from companion_app.device.link import Link
from companion_app.simulator import VirtualBoard

BIN = Path(sys.executable).parent


def stage(files: list[engine.LocalFile], folder: Path) -> None:
    for f in files:
        path = folder / f.dest.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f.data)


def check_copy(flash: Path, files: list[engine.LocalFile], who: str) -> None:
    for f in files:
        got = (flash / f.dest.lstrip("/")).read_bytes()
        assert got == f.data, f"{who}: {f.dest} came out different"


def fresh_board(root: Path, name: str, baud: int, tcp: bool = False) -> VirtualBoard:
    flash = root / name
    if flash.exists():
        shutil.rmtree(flash)
    if tcp:  # served on socket:// only, as on Windows
        return VirtualBoard(flash_dir=flash, baud=baud, pty=False, tcp_port=0).start()
    return VirtualBoard(flash_dir=flash, baud=baud).start()


def timed(argv: list[str], cwd: Path | None = None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed: {proc.stderr.strip()[-500:]}")
    return took


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baud", type=int, default=115200, help="the virtual board's UART speed")
    ap.add_argument("--template", default="web", help="template(s) to deploy, comma-separated")
    ap.add_argument("--mpy", action="store_true", help="also time our deploy with --mpy")
    ap.add_argument("--tcp", action="store_true", help="serve the board on socket:// (no pty)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    names = engine.resolve_templates(args.template.split(","))
    cfg = engine.build_config(names, base={"wifi_ssid": "iotkit-lab"})
    files = engine.template_files(names, cfg)
    raw = sum(len(f.data) for f in files)
    rate = args.baud / 10  # bytes per second on a UART: start + 8 data + stop bits

    with tempfile.TemporaryDirectory(prefix="iotkit-deploy-bench-") as tmp:
        root = Path(tmp)
        staged = root / "stage"
        stage(files, staged)
        entries = sorted(p.name for p in staged.iterdir())

        # Ours, in-process: the engine as the GUI calls it.
        board = fresh_board(root, "flash-engine", args.baud, args.tcp)
        try:
            t0 = time.perf_counter()
            with Link(board.port) as link:
                first = engine.deploy(link, files, reset=False)
            ours = time.perf_counter() - t0
            check_copy(board.flash_dir, files, "ours")
            t0 = time.perf_counter()
            with Link(board.port) as link:
                again = engine.deploy(link, files, reset=False)
            ours_again = time.perf_counter() - t0
            assert again.sent_bytes == 0
        finally:
            board.stop()

        # Ours, the command a person types (a project folder holding the same staged files).
        board = fresh_board(root, "flash-cli", args.baud, args.tcp)
        try:
            cmd = [
                str(BIN / "iotkit"),
                "deploy",
                "--port",
                board.port,
                str(staged),
                "--no-reset",
                "--baud",
                str(args.baud),
            ]
            ours_cli = timed(cmd)
            check_copy(board.flash_dir, files, "iotkit deploy")
            ours_cli_again = timed(cmd)
        finally:
            board.stop()

        # The anchor: mpremote copying the same staged files.
        board = fresh_board(root, "flash-mpremote", args.baud, args.tcp)
        try:
            cmd = [str(BIN / "mpremote"), "connect", board.port, "fs", "cp", "-r", *entries, ":"]
            theirs = timed(cmd, cwd=staged)
            check_copy(board.flash_dir, files, "mpremote")
            theirs_again = timed(cmd, cwd=staged)
        finally:
            board.stop()

        ours_mpy = None
        if args.mpy:
            board = fresh_board(root, "flash-mpy", args.baud, args.tcp)
            try:
                t0 = time.perf_counter()
                with Link(board.port) as link:
                    mpy_result = engine.deploy(link, files, reset=False, mpy=True)
                ours_mpy = time.perf_counter() - t0
            finally:
                board.stop()

    limit_ours = first.wire_bytes / rate
    limit_raw = raw / rate
    print(
        f"virtual board at {args.baud} baud on {'socket://' if args.tcp else 'a pty'}; template(s) {', '.join(names)}: "
        f"{len(files)} files, {raw / 1024:.1f} KB"
    )
    heap = engine._heap_as_32bit(first.board)  # what the engine sizes window and chunk by
    chunk = engine.CHUNK_BIG if heap >= engine.ROOMY_HEAP else engine.CHUNK_SMALL
    print(
        f"ours: {first.execs} execs, {first.sent_bytes / 1024:.1f} KB of compressed file data "
        f"({first.sent_bytes / raw:.2f} of raw), {first.wire_bytes / 1024:.1f} KB on the wire "
        f"(zlib window {2 ** engine._wbits(heap)} B, chunk {chunk} B)"
    )
    print(f"{'figure':<44} {'ours':>9} {'mpremote':>9} {'ratio':>6}")
    rows = [
        ("first deploy, engine in-process", ours, theirs),
        ("first deploy, `iotkit deploy DIR` command", ours_cli, theirs),
        ("redeploy, nothing changed, in-process", ours_again, theirs_again),
        ("redeploy, nothing changed, command", ours_cli_again, theirs_again),
        ("wire-speed limit of our wire bytes", limit_ours, theirs),
        ("wire-speed limit of the raw file bytes", limit_raw, theirs),
    ]
    if ours_mpy is not None:
        rows.insert(1, ("first deploy with --mpy, in-process", ours_mpy, theirs))
    for label, a, b in rows:
        print(f"{label:<44} {a:>8.2f}s {b:>8.2f}s {a / b:>6.2f}")
    print(
        f"goals: first deploy <= 0.5x mpremote (engine {ours / theirs:.2f}, command "
        f"{ours_cli / theirs:.2f}); redeploy <= 1.0 s (engine {ours_again:.2f} s, command "
        f"{ours_cli_again:.2f} s); our time is {ours / limit_ours:.2f}x our wire-speed limit"
    )
    if ours_mpy is not None:
        print(f"--mpy: {mpy_result.sent_bytes / 1024:.1f} KB of data sent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
