"""The `iotkit` command: thin argparse front end over the engine's Python API.

Each subcommand lives in a small `_cmd_*` function that imports its engine module lazily, so
`iotkit ports` does not pay for matplotlib or esptool. Exit codes and messages follow
shared/CONTRACTS.md and docs/cli.md, and `main` is the one place that decides how a failure is
shown, in steps:

1. A wrong command line (argparse's own complaints included) is one `error:` line, exit 2.
2. Errors a person can fix are raised as `IotkitError` subclasses: one `error:` line, their exit
   code.
3. Ctrl-C ends any command at once: one line, exit 130.
4. Anything else is our bug: one line saying so, exit 1; the traceback goes to the log (`-v`).
   Its message is not shown, because it might quote a password from a config.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Callable, NoReturn, Sequence

from companion_app.boards import DEFAULT_BOARD
from companion_app.errors import EXIT_INTERRUPTED, IotkitError, UsageError
from companion_app.inputs import positive_int, tcp_port

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class CommandLineParser(argparse.ArgumentParser):
    """argparse, but a mistake on the command line is the contract's one `error:` line.

    argparse itself prints the usage and `iotkit sim: error: ...` on two lines; raising
    UsageError instead lets `main` print it like every other message. Subcommand parsers are
    of this class too (add_subparsers uses the parent's class).
    """

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _print_json(obj: object) -> None:
    json.dump(obj, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _cmd_ports(args: argparse.Namespace) -> int:
    from companion_app.device.ports import list_ports, serial_permission_hint

    ports = list_ports()
    hint = serial_permission_hint(p.device for p in ports if not p.is_virtual)
    if hint:
        _say(f"warning: {hint}")
    if args.json:
        _print_json([p.to_json() for p in ports])
        return EXIT_OK
    if not ports:
        print("No serial ports found. Plug in a board, or run `iotkit sim` for a virtual one.")
        return EXIT_OK
    for p in ports:
        print(f"{p.device:<24} {p.hint}")
    return EXIT_OK


def _cmd_boards(args: argparse.Namespace) -> int:
    from companion_app.boards import list_boards

    boards = list_boards()
    if args.json:
        _print_json([{"id": b.id, "name": b.name, "chip": b.chip} for b in boards])
        return EXIT_OK
    for b in boards:
        print(f"{b.id:<20} {b.name} ({b.chip})")
    return EXIT_OK


def _cmd_sim(args: argparse.Namespace) -> int:
    if args.bootloader:
        if args.count is not None and args.count != 1:
            raise UsageError(
                "--count starts several MicroPython boards; --bootloader runs one chip in its "
                "ROM download mode: start one `iotkit sim --bootloader CHIP` per chip"
            )
        if args.wiring or args.baud or args.wifi or args.flash_dir or args.heap:
            raise UsageError(
                "--bootloader runs a chip in its ROM download mode: --wiring, --baud, --wifi, "
                "--heap and --flash-dir belong to the MicroPython board (use --flash-image for "
                "its flash)"
            )
        if args.webrepl is not None or args.webrepl_password:
            raise UsageError(
                "--bootloader runs a chip in its ROM download mode, which has no WebREPL: use "
                "--tcp or --rfc2217 to reach it without a pty"
            )
        from companion_app.simulator.bootloader import run_bootloader_sim

        return run_bootloader_sim(args)
    if args.flash_image or args.flash_size or args.mac or args.rfc2217 is not None:
        raise UsageError(
            "--flash-image, --flash-size, --mac and --rfc2217 go with --bootloader CHIP"
        )
    from companion_app.simulator.cli import run_sim

    return run_sim(args)


def _cmd_gui(args: argparse.Namespace) -> int:
    from companion_app.gui.app import main as gui_main

    return gui_main(port=getattr(args, "port", None), scale=getattr(args, "scale", None))


def build_parser() -> argparse.ArgumentParser:
    from companion_app.simulator.bootloader import known_chips  # the chips its data describes

    parser = CommandLineParser(
        prog="iotkit",
        description="Flash, wire, deploy and plot MicroPython boards. "
        "With no subcommand, opens the companion window.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    parser.add_argument("--port", help="open the companion window on this port")
    parser.add_argument(
        "--scale",
        type=float,
        metavar="S",
        help="open the companion window with every font, the pinout and the plots scaled by S "
        "(1.0 = the desktop's size; remembered, also in the View menu)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("ports", help="list serial ports with board hints")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_ports)

    p = sub.add_parser("boards", help="list known board ids")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_boards)

    p = sub.add_parser("sim", help="run a virtual MicroPython board until killed")
    p.add_argument("--board", default=DEFAULT_BOARD, help="board id (see `iotkit boards`)")
    p.add_argument("--wiring", metavar="FILE", help="Wokwi diagram.json deciding what is connected")
    p.add_argument("--flash-dir", metavar="DIR", help="the board's flash; persists between runs")
    p.add_argument(
        "--baud", type=positive_int, help="throttle the link to a real UART at this rate"
    )
    p.add_argument("--port-file", metavar="FILE", help="write the port name here once ready")
    p.add_argument(
        "--count",
        type=int,
        metavar="N",
        help="a virtual classroom: N boards (1 to 64) with these options, each with its own "
        "flash folder (DIR/board-01 …) and chip id; --port-file gets one port a line, "
        "--tcp/--webrepl P the ports P to P+N-1",
    )
    p.add_argument(
        "--heap",
        metavar="SIZE",
        help="give programs a heap of SIZE (at least 2M, e.g. --heap 4M) instead of the "
        "board's own RAM (the default: a NodeMCU runs out of memory where a real one would)",
    )
    p.add_argument(
        "--tcp",
        type=tcp_port,
        metavar="PORT",
        help="also serve socket://127.0.0.1:PORT (0 = any free port)",
    )
    p.add_argument(
        "--lan",
        action="store_true",
        help="let other computers on the network reach the virtual board's ports and the "
        "servers its programs start (default: this computer only)",
    )
    p.add_argument(
        "--no-pty",
        dest="pty",
        action="store_false",
        help="serve no pty (where the OS has none this is the only mode); give --tcp and/or "
        "--webrepl to reach the board",
    )
    p.add_argument(
        "--webrepl",
        type=tcp_port,
        metavar="PORT",
        help="also serve WebREPL on ws://127.0.0.1:PORT (0 = any free port), as Thonny's "
        "WebREPL connection and webrepl_cli.py reach a real board",
    )
    p.add_argument(
        "--webrepl-password",
        metavar="PW",
        help="the WebREPL password, 4 to 9 characters (default: $IOTKIT_WEBREPL_PASSWORD, or "
        "a random one written to --endpoints-file); - reads it from stdin without echo, so "
        "it does not show in `ps`",
    )
    p.add_argument(
        "--endpoints-file",
        metavar="FILE",
        help="once every server is ready, write the board's endpoints here as JSON "
        '{"pty", "socket", "webrepl", "webrepl_password"} (readable by you only)',
    )
    p.add_argument(
        "--wifi",
        action="append",
        metavar="SSID:PASSWORD",
        help="a network the virtual board can join (default: iotkit-lab:micropython); "
        "SSID:- reads the password from stdin without echo, SSID alone takes it from "
        "$IOTKIT_WIFI_PASSWORD, so it does not show in `ps`",
    )
    p.add_argument(
        "--bootloader",
        metavar="CHIP",
        help="a virtual chip in ROM download mode, for esptool and `iotkit flash` "
        f"({', '.join(known_chips())})",
    )
    p.add_argument("--flash-image", metavar="FILE", help="with --bootloader: the chip's flash")
    p.add_argument("--flash-size", metavar="SIZE", help="with --bootloader: e.g. 4MB")
    p.add_argument("--mac", help="with --bootloader: e.g. 24:0a:c4:12:34:56")
    p.add_argument(
        "--rfc2217",
        type=tcp_port,
        metavar="PORT",
        help="with --bootloader: also serve rfc2217://127.0.0.1:PORT, whose DTR/RTS reset the "
        "chip as on a DevKit (0 = any free port)",
    )
    p.set_defaults(func=_cmd_sim)

    from companion_app.readings.cli import add_plot_parser  # argparse only; engines load lazily

    add_plot_parser(sub)
    from companion_app.firmware.cli import add_flash_parser

    add_flash_parser(sub)
    from companion_app.wiring.cli import add_check_parser

    add_check_parser(sub)
    from companion_app.device.deploy_cli import add_deploy_parser

    add_deploy_parser(sub)
    from companion_app.classroom.broker_cli import add_broker_parser

    add_broker_parser(sub)
    from companion_app.classroom.cli import add_class_parser

    add_class_parser(sub)
    return parser


def _say(line: str) -> None:
    """One line on stderr; a closed stderr must not turn into a traceback of its own."""
    from companion_app.secrets import mask_text  # an error may quote board output

    try:
        print(mask_text(line), file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run `iotkit` with `argv` and return its exit code; never raises (see the module doc)."""
    try:
        return _run(argv)
    except KeyboardInterrupt:
        _say("error: stopped by Ctrl-C.")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output went away (`iotkit ports | head -1`): nobody is left to
        # tell, and Python's own flush at exit must not complain either.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_FAILED


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help and --version exit 0
        return int(exc.code or 0)
    except UsageError as exc:
        _say(f"error: {exc}")
        return exc.exit_code
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    func: Callable[[argparse.Namespace], int] = getattr(args, "func", _cmd_gui)
    try:
        return func(args)
    except IotkitError as exc:
        _say(f"error: {exc}")
        log.debug("details", exc_info=True)
        return exc.exit_code
    except (KeyboardInterrupt, BrokenPipeError):
        raise
    except Exception as exc:  # our bug: one line for the person, the traceback for the log
        log.debug("unexpected failure", exc_info=True)
        _say(
            f"error: iotkit failed unexpectedly ({type(exc).__name__}). Run the command again "
            "with -v to see the details, and please report them."
        )
        return EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
