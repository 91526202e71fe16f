"""`iotkit sim`: run a virtual board until killed, printing the port to open."""

from __future__ import annotations

import argparse

from companion_app.errors import UsageError
from companion_app.inputs import check_output_file
from companion_app.simulator.endpoint import lan_note, serve_until_signalled
from companion_app.simulator.host import VirtualBoard, check_flash_dir


def _parse_wifi(values: list[str] | None) -> list[dict[str, str]] | None:
    """--wifi SSID:PASSWORD; SSID:- (stdin) and SSID alone ($IOTKIT_WIFI_PASSWORD) keep a real
    password out of `ps` (shared/CONTRACTS.md, "Secrets on the command line")."""
    if not values:
        return None
    from companion_app import secrets

    networks = []
    from_stdin = False
    for value in values:
        ssid, sep, password = value.partition(":")
        env = secrets.env_wifi_password()
        if not sep and ssid and env is not None:
            password = env  # `--wifi SSID` with IOTKIT_WIFI_PASSWORD: not visible in `ps`
        elif not sep or not ssid:
            raise UsageError(
                "--wifi takes SSID:PASSWORD, for example --wifi iotkit-lab:micropython; SSID:- "
                f"reads the password from stdin, and SSID alone uses ${secrets.ENV_WIFI_PASSWORD}"
            )
        elif password == secrets.FROM_STDIN:
            if from_stdin:
                raise UsageError("only one --wifi password can come from standard input (-)")
            from_stdin = True
            password = secrets.read_secret(f"Wi-Fi password for {ssid}")
        networks.append({"ssid": ssid, "password": password})
    return networks


def run_sim(args: argparse.Namespace) -> int:
    """`iotkit sim`: every argument is checked before the board starts, so a mistake leaves
    nothing behind (no half-started board, no temporary files)."""
    if args.baud is not None and args.baud <= 0:
        raise UsageError("--baud must be a positive number such as 115200")
    if args.flash_dir is not None:
        check_flash_dir(args.flash_dir)
    if args.port_file:
        check_output_file(args.port_file, "--port-file")
    lan = bool(getattr(args, "lan", False))
    board = VirtualBoard(
        board=args.board,
        wiring=args.wiring,
        flash_dir=args.flash_dir,
        baud=args.baud,
        tcp_port=args.tcp,
        wifi=_parse_wifi(args.wifi),
        lan=lan,
    )
    board.start()
    try:
        assert board.hardware is not None
        notes = [f"warning: {note}" for note in board.hardware.ignored]
        if lan:
            notes.append(lan_note())
        notes.append(f"virtual {board.board_id}, flash in {board.flash_dir}; Ctrl-C to stop")
        serve_until_signalled([board.pty_path, board.tcp_url], notes, args.port_file, board.port)
    finally:
        board.stop()
    return 0
