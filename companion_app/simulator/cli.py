"""`iotkit sim`: run a virtual board until killed, printing the port to open."""

from __future__ import annotations

import argparse

from companion_app.errors import UsageError
from companion_app.simulator.endpoint import serve_until_signalled
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
    try:
        assert board.hardware is not None
        notes = [f"warning: {note}" for note in board.hardware.ignored]
        notes.append(f"virtual {board.board_id}, flash in {board.flash_dir}; Ctrl-C to stop")
        serve_until_signalled([board.pty_path, board.tcp_url], notes, args.port_file, board.port)
    finally:
        board.stop()
    return 0
