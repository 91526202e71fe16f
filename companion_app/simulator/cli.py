"""`iotkit sim`: run a virtual board until killed, printing the port to open."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from companion_app.errors import UsageError
from companion_app.simulator.host import VirtualBoard


def _parse_wifi(values: list[str] | None) -> list[dict[str, str]] | None:
    if not values:
        return None
    networks = []
    for value in values:
        ssid, sep, password = value.partition(":")
        if not sep or not ssid:
            raise UsageError("--wifi takes SSID:PASSWORD, for example --wifi iotkit-lab:micropython")
        networks.append({"ssid": ssid, "password": password})
    return networks


def run_sim(args: argparse.Namespace) -> int:
    if args.baud is not None and args.baud <= 0:
        raise UsageError("--baud must be a positive number such as 115200")
    board = VirtualBoard(
        board=args.board,
        wiring=args.wiring,
        flash_dir=args.flash_dir,
        baud=args.baud,
        tcp_port=args.tcp,
        wifi=_parse_wifi(args.wifi),
    )
    board.start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    try:
        if board.pty_path:
            print(board.pty_path, flush=True)
        if board.tcp_url:
            print(board.tcp_url, flush=True)
        assert board.hardware is not None
        for note in board.hardware.ignored:
            print(f"warning: {note}", file=sys.stderr)
        print(
            f"virtual {board.board_id}, flash in {board.flash_dir}; Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        if args.port_file:
            tmp = args.port_file + ".tmp"
            with open(tmp, "w") as f:
                f.write(board.port + "\n")
            os.replace(tmp, args.port_file)  # readers never see a half-written name
        stop.wait()
    finally:
        board.stop()
    return 0
