"""`iotkit sim`: run a virtual board until killed, printing the port to open."""

from __future__ import annotations

import argparse
import os
from typing import Any

from companion_app.errors import UsageError
from companion_app.inputs import check_output_file
from companion_app.simulator.endpoint import lan_note, serve_until_signalled
from companion_app.simulator.host import (
    VirtualBoard,
    check_flash_dir,
    parse_heap_size,
    pty_supported,
)


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


ENV_WEBREPL_PASSWORD = "IOTKIT_WEBREPL_PASSWORD"


def _webrepl_password(args: argparse.Namespace) -> str | None:
    """--webrepl-password PW, "-" (stdin, without echo), or $IOTKIT_WEBREPL_PASSWORD; None lets
    the board make up one. Checked (4 to 9 characters) and masked in everything we print."""
    from companion_app import secrets
    from companion_app.simulator.webrepl import check_password

    given = getattr(args, "webrepl_password", None)
    if given is not None and getattr(args, "webrepl", None) is None:
        raise UsageError("--webrepl-password goes with --webrepl PORT")
    if given == secrets.FROM_STDIN:
        if any(value.endswith(":" + secrets.FROM_STDIN) for value in args.wifi or []):
            raise UsageError(
                "only one password can come from standard input (-): give the other one in "
                f"${ENV_WEBREPL_PASSWORD} or ${secrets.ENV_WIFI_PASSWORD}"
            )
        try:
            given = secrets.read_secret("WebREPL password")
        except UsageError:
            raise UsageError(
                "the WebREPL password was to come from standard input (-), but none came: type "
                f"it when asked, or pipe it in, or set ${ENV_WEBREPL_PASSWORD}"
            ) from None
    elif given is None:
        given = os.environ.get(ENV_WEBREPL_PASSWORD) or None
    if given is None:
        return None
    secrets.remember(given)
    return check_password(given)


def run_sim(args: argparse.Namespace) -> int:
    """`iotkit sim`: every argument is checked before the board starts, so a mistake leaves
    nothing behind (no half-started board, no temporary files). With `--count N` (N > 1) it
    runs a virtual classroom instead (run_class)."""
    count = getattr(args, "count", None)
    if count is not None:
        from companion_app.simulator.classroom import check_class_size

        check_class_size(count)
    if args.baud is not None and args.baud <= 0:
        raise UsageError("--baud must be a positive number such as 115200")
    if args.flash_dir is not None:
        check_flash_dir(args.flash_dir)
    if args.port_file:
        check_output_file(args.port_file, "--port-file")
    endpoints_file = getattr(args, "endpoints_file", None)
    if endpoints_file:
        check_output_file(endpoints_file, "--endpoints-file")
    use_pty = bool(getattr(args, "pty", True))
    webrepl = getattr(args, "webrepl", None)
    tcp = args.tcp
    if use_pty and not pty_supported():
        # This OS has no pty (Windows): serve loopback TCP instead of failing, as if the person
        # had typed --no-pty --tcp 0.
        use_pty = False
        if tcp is None and webrepl is None:
            tcp = 0
    if not use_pty and tcp is None and webrepl is None:
        raise UsageError(
            "--no-pty leaves no way to reach the board: add --tcp 0 and/or --webrepl 0"
        )
    password = _webrepl_password(args)
    lan = bool(getattr(args, "lan", False))
    heap = getattr(args, "heap", None)
    options: dict[str, Any] = dict(
        board=args.board,
        wiring=args.wiring,
        baud=args.baud,
        tcp_port=tcp,
        pty=use_pty,
        wifi=_parse_wifi(args.wifi),
        lan=lan,
        webrepl_port=webrepl,
        webrepl_password=password,
        heap=parse_heap_size(heap) if heap is not None else None,
    )
    if count is not None and count > 1:
        return run_class(count, args.flash_dir, options, args.port_file, endpoints_file)
    board = VirtualBoard(flash_dir=args.flash_dir, **options)
    if board.webrepl_password:
        from companion_app import secrets

        secrets.remember(board.webrepl_password)  # masked in every log record and message
    board.start()
    try:
        assert board.hardware is not None
        notes = [f"warning: {note}" for note in board.hardware.ignored]
        if lan:
            notes.append(lan_note())
        notes.append(f"virtual {board.board_id}, flash in {board.flash_dir}; Ctrl-C to stop")
        serve_until_signalled(
            [board.pty_path, board.tcp_url, board.webrepl_url],
            notes,
            args.port_file,
            board.port,
            endpoints_file=endpoints_file,
            endpoints=board.endpoints(),
        )
    finally:
        board.stop()
    return 0


def run_class(
    count: int,
    flash_dir: str | None,
    options: dict[str, Any],
    port_file: str | None,
    endpoints_file: str | None,
) -> int:
    """`iotkit sim --count N`: N boards with the same `options` (VirtualBoard's), served
    until a signal, then all stopped. Stdout gets one line per board, `INDEX PORT [OTHER…]`
    (the port a client should use first); the port file one port per line, in order; the
    endpoints file a JSON list of the boards' endpoint objects, in order."""
    from companion_app.simulator.classroom import start_virtual_class, stop_virtual_class

    boards = start_virtual_class(count, flash_dir=flash_dir, **options)
    try:
        first = boards[0]
        assert first.hardware is not None
        notes = [f"warning: {note}" for note in first.hardware.ignored]
        if options.get("lan"):
            notes.append(lan_note())
        notes.append(
            f"virtual class of {count} {first.board_id} boards, flash in {first.flash_dir} … "
            f"{boards[-1].flash_dir.name}; Ctrl-C to stop"
        )
        lines = []
        for index, vb in enumerate(boards, start=1):
            urls = [url for url in (vb.pty_path, vb.tcp_url, vb.webrepl_url) if url]
            lines.append(" ".join([str(index), *urls]))
        serve_until_signalled(
            lines,
            notes,
            port_file,
            "\n".join(vb.port for vb in boards),
            endpoints_file=endpoints_file,
            endpoints=[vb.endpoints() for vb in boards],
        )
    finally:
        stop_virtual_class(boards)
    return 0
