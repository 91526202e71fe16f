"""`iotkit flash`: one board, or a classroom's worth in parallel, with the image checked first."""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import sys
from pathlib import Path
from typing import Any

from companion_app.errors import IotkitError, UsageError
from companion_app.inputs import confirm_replace, positive_int


def add_flash_parser(sub: Any) -> None:
    p = sub.add_parser(
        "flash",
        help="write MicroPython to a board (the image is checked against the chip first)",
        description="Flash MicroPython. The image is checked against the detected chip and its "
        "flash size before anything is erased or written.",
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="the board's serial port (a BOOTSEL drive for .uf2)")
    where.add_argument("--ports", help="several ports, comma-separated: flash them in parallel")
    p.add_argument("--firmware", metavar="FILE", help="a .bin or .uf2 file")
    p.add_argument(
        "--board",
        metavar="ID",
        help="the board (see `iotkit boards`): its own steps when it does not answer; "
        "without --firmware, the image for it comes from the cache",
    )
    p.add_argument("--version", help="with --board: a MicroPython version such as 1.24.1")
    p.add_argument("--cache", metavar="DIR", help="the firmware cache folder (a lab's share)")
    p.add_argument(
        "--erase",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="erase the whole flash first (default: only what is written)",
    )
    p.add_argument(
        "--baud", type=positive_int, default=460800, help="transfer speed (default 460800)"
    )
    p.add_argument("--yes", action="store_true", help="do not ask before writing")
    p.add_argument("--json", action="store_true", help="machine-readable result")
    p.set_defaults(func=run_flash)


def _resolve_image(args: argparse.Namespace) -> str:
    if args.firmware is None and args.board is None:
        raise UsageError("say what to flash: --firmware FILE, or --board ID for the cached image")
    if args.firmware is not None:
        if args.version:
            raise UsageError("--version goes with --board, not with --firmware")
        if not args.firmware.strip():
            raise UsageError("--firmware needs a file name: the .bin or .uf2 to flash")
        return args.firmware
    from companion_app.firmware.cache import FirmwareCache

    def progress(done: int, total: int) -> None:
        if total and not args.json:
            print(f"\rdownloading {done * 100 // total}%", end="", file=sys.stderr, flush=True)

    item = FirmwareCache(args.cache).find(args.board, args.version, progress=progress)
    return str(item.path)


def _progress_printer(prefix: str, quiet: bool) -> Any:
    last: list[str] = [""]

    def show(p: Any) -> None:
        if quiet:
            return
        if p.percent is None:
            line = f"{prefix}{p.stage}…"
        else:
            eta = f", {p.eta_s:.0f} s left" if p.eta_s is not None else ""
            line = f"{prefix}{p.stage} {p.percent:3.0f}%{eta}"
        if line != last[0]:
            last[0] = line
            print(f"\r{line:<60}", end="", file=sys.stderr, flush=True)

    return show


def run_flash(args: argparse.Namespace) -> int:
    from companion_app.firmware.image import inspect_image

    if args.port is not None and not args.port.strip():
        raise UsageError("--port needs a port name (`iotkit ports` lists them)")
    if args.board is not None:
        from companion_app.boards import load_board

        args.board = load_board(args.board).id  # an unknown id is a usage error, said first
    image = _resolve_image(args)
    info = inspect_image(image)  # a non-image is refused before any port is opened
    if info.kind == "uf2":
        return _flash_uf2(args, image, info)
    if args.ports:
        ports = [p.strip() for p in args.ports.split(",") if p.strip()]
        if len(set(ports)) != len(ports) or not ports:
            raise UsageError("--ports takes distinct ports separated by commas")
        confirm_replace(f"Write {info.describe()} to {len(ports)} boards?", args.yes, "them")
        return _flash_batch(args, image, ports)
    confirm_replace(f"Write {info.describe()} to the board on {args.port}?", args.yes)
    return _flash_one(args, image)


def _flash_one(args: argparse.Namespace, image: str) -> int:
    from companion_app.firmware.flasher import Flasher, describe_board

    flasher = Flasher(
        args.port,
        baud=args.baud,
        board=args.board,
        on_progress=_progress_printer("", args.json or not sys.stderr.isatty()),
    )
    result = flasher.flash(image, erase=args.erase)
    if not (args.json or not sys.stderr.isatty()):
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    assert result.board is not None and result.image is not None
    print(
        f"Flashed {result.image.describe()} to {describe_board(result.board)} on {args.port} "
        f"in {result.seconds:.1f} s."
    )
    version = getattr(result, "micropython_version", None)
    if version:
        print(f"The board started MicroPython {version}.")
    for note in result.notes:
        print(f"note: {note}")
    return 0


def _flash_batch(args: argparse.Namespace, image: str, ports: list[str]) -> int:
    """Every board in its own thread; one summary line per board, failures included."""
    from companion_app.firmware.flasher import Flasher, FlashResult

    def one(port: str) -> FlashResult:
        try:
            return Flasher(port, baud=args.baud, board=args.board).flash(image, erase=args.erase)
        except IotkitError as exc:
            return FlashResult(port=port, ok=False, seconds=0.0, error=str(exc))

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(ports)) as pool:
        results = list(pool.map(one, ports))
    if args.json:
        print(json.dumps([r.to_json() for r in results], indent=2))
    else:
        width = max(len("port"), *(len(p) for p in ports))
        print(f"{'port':<{width}}  {'chip':<9} {'MAC':<17}  {'result':<6} time")
        for r in results:
            chip = r.board.chip if r.board else "?"
            mac = r.board.mac if r.board else "?"
            status = "ok" if r.ok else "FAILED"
            print(f"{r.port:<{width}}  {chip:<9} {mac:<17}  {status:<6} {r.seconds:5.1f} s")
        for r in results:
            if not r.ok:
                print(f"error: {r.port}: {r.error}", file=sys.stderr)
    return 0 if all(r.ok for r in results) else 1


def _flash_uf2(args: argparse.Namespace, image: str, info: Any) -> int:
    """Copy a .uf2 onto a BOOTSEL drive: the one --port names, else any one mounted."""
    from serial.tools.list_ports import comports

    from companion_app.boards import flash_mode, load_board
    from companion_app.firmware.image import check_compatible, targets
    from companion_app.firmware.uf2 import find_bootsel_drives, wait_for_new_port

    if args.ports:
        raise UsageError("UF2 files are copied to one BOOTSEL drive at a time; use --port")
    name = os.path.basename(image)
    if args.board is not None:  # an ESP board, or a Pico of the other chip, is refused here
        check_compatible(info, load_board(args.board).chip)
    rp2 = info.chip if info.chip in targets()["uf2"] else "rp2040"
    steps = flash_mode(args.board, rp2).enter
    if os.path.isdir(args.port):
        drives = find_bootsel_drives([Path(args.port)])
        if not drives:
            raise IotkitError(
                f"{args.port} is a folder but not a BOOTSEL drive (it has no "
                f"INFO_UF2.TXT). {steps}"
            )
    else:
        drives = find_bootsel_drives()
        if not drives:
            raise IotkitError(
                f"{name} is a UF2 file, which is copied onto a board's BOOTSEL drive ({args.port} "
                f"is not one), and no BOOTSEL drive is mounted. {steps}"
            )
    drive = drives[0]
    confirm_replace(f"Copy {os.path.basename(image)} to {drive.path}?", args.yes)
    from companion_app.firmware.uf2 import copy_uf2

    before = [p.device for p in comports()]

    def progress(n: int, total: int) -> None:
        if not args.json:
            print(f"\rcopying {n * 100 // total}%", end="", file=sys.stderr, flush=True)

    copy_uf2(image, drive, progress=progress)
    port = wait_for_new_port(before, lambda: [p.device for p in comports()])
    if args.json:
        print(json.dumps({"drive": str(drive.path), "port": port, "ok": True}))
    else:
        print(f"\nFlashed {os.path.basename(image)}; MicroPython is on {port}.")
    return 0
