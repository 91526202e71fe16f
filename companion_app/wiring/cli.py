"""`iotkit check`: the static wiring and script checks on the command line.

Only argparse lives at import time; the engine loads when the command runs, so `iotkit --help`
stays fast. Output and exit codes follow shared/CONTRACTS.md: one `severity: where: message`
line per finding on stderr (like every other iotkit message) with its fix indented below, a
summary on stdout, and with --json the contract's document on stdout instead. Exit 1 when any
finding is an error, so a teacher's script or CI can gate on it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from companion_app.inputs import non_negative_float

EXIT_OK = 0
EXIT_FAILED = 1


def add_check_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `check` to the `iotkit` subcommands (`subparsers` from add_subparsers())."""
    p = subparsers.add_parser(
        "check",
        help="check scripts and a wiring diagram against the board's pins",
        description="Static checks: the pins a MicroPython script uses and the wires of a Wokwi "
        "diagram.json, against what the board can do. Exits 1 when an error is found.",
    )
    p.add_argument("--board", metavar="ID", help="board id (default: the diagram's board)")
    p.add_argument("--wiring", metavar="FILE", help="Wokwi diagram.json to check")
    p.add_argument("scripts", nargs="*", metavar="SCRIPT.py", help="MicroPython scripts to check")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    live = p.add_argument_group("live probe (a connected board)")
    live.add_argument(
        "--live",
        action="store_true",
        help="probe the board on --port: I2C scan, DHT read, button levels (with --wiring: "
        "against the diagram; without: the default I2C pins only)",
    )
    live.add_argument("--port", metavar="P", help="the board's serial port (with --live)")
    live.add_argument("--blink", action="store_true", help="with --live: blink each wired LED")
    live.add_argument(
        "--press-time",
        type=non_negative_float,
        default=5.0,
        metavar="S",
        help="with --live on a terminal: seconds to wait for each button press (0: no press check)",
    )
    p.set_defaults(func=run_check)
    return p


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def run_check(args: argparse.Namespace) -> int:
    """Run the check; UsageError propagates to the main CLI, which prints it and exits 2."""
    if getattr(args, "live", False):
        return run_live(args)
    for flag, given in (("--port", args.port), ("--blink", args.blink)):
        if given:
            from companion_app.errors import UsageError

            raise UsageError(f"{flag} goes with --live (probing a connected board).")
    from companion_app.wiring.check import check

    report = check(args.board, args.wiring, args.scripts)
    for note in report.notes:
        print(f"warning: {note}", file=sys.stderr)
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for f in report.findings:
            print(f"{f.severity}: {f.where}: {f.message}", file=sys.stderr)
            if f.fix:
                print(f"    fix: {f.fix}", file=sys.stderr)
        counts = {
            s: sum(1 for f in report.findings if f.severity == s)
            for s in ("error", "warning", "info")
        }
        checked = [*args.scripts, *([args.wiring] if args.wiring else [])]
        if report.findings:
            parts = [_plural(counts["error"], "error"), _plural(counts["warning"], "warning")]
            if counts["info"]:
                parts.append(f"{counts['info']} info")
            print(f"{', '.join(parts)} on {report.board.id} in {', '.join(map(str, checked))}.")
        else:
            print(f"No problems found on {report.board.id} in {', '.join(map(str, checked))}.")
    return EXIT_FAILED if report.errors else EXIT_OK


def _print_findings(findings: Any) -> None:
    for f in findings:
        print(f"{f.severity}: {f.where}: {f.message}", file=sys.stderr)
        if f.fix:
            print(f"    fix: {f.fix}", file=sys.stderr)


def _live_board(args: argparse.Namespace, diagram: Any, link: Any) -> tuple[Any, list[str]]:
    """--board, else the diagram's board, else what the firmware says it runs on.

    Asking the board is last because several boards share one firmware string; the note then
    names the alternatives so the person knows to pass --board.
    """
    from companion_app.boards import load_board
    from companion_app.errors import UsageError
    from companion_app.wiring.check import pick_board
    from companion_app.wiring.probe import board_for_machine, read_machine

    if args.board or (diagram is not None and diagram.board is not None):
        return pick_board(args.board, diagram)
    machine = read_machine(link)
    board, candidates = board_for_machine(machine)
    if board is None:
        where = f"{diagram.source} has no board part, and the" if diagram else "The"
        raise UsageError(
            f"{where} board on {args.port} says it is {machine!r}, which no known board matches. "
            "Pass --board ID (run `iotkit boards` to list the ids)."
        )
    notes = []
    if len(candidates) > 1:
        others = ", ".join(b.id for b in candidates[1:])
        notes.append(
            f"The board says {machine!r}; probing it as {board.id} (it could also be {others}: "
            "pass --board to choose)."
        )
    return load_board(board.id), notes


def run_live(args: argparse.Namespace) -> int:
    """`iotkit check --live --port P [--wiring FILE]`: probe the connected board."""
    from companion_app.device.link import Link
    from companion_app.errors import UsageError
    from companion_app.wiring.diagram import load_diagram
    from companion_app.wiring.probe import ProbeStep, probe

    if not args.port:
        raise UsageError("--live needs --port P: the serial port of the board to probe.")
    if args.scripts:
        raise UsageError(
            "--live probes the board, not scripts: run `iotkit check` on the scripts separately."
        )
    if args.press_time < 0:
        raise UsageError("--press-time must be 0 or more seconds.")
    diagram = load_diagram(args.wiring) if args.wiring else None

    def show(step: ProbeStep) -> None:
        if not args.json:
            print(f"{'ok  ' if step.ok else 'FAIL'} {step.summary}", flush=True)

    def ask(question: str) -> None:
        print(question, file=sys.stderr, flush=True)

    interactive = sys.stdin is not None and sys.stdin.isatty() and args.press_time > 0
    link = Link(args.port)
    link.open()
    try:
        board, notes = _live_board(args, diagram, link)
        for note in notes:
            print(f"warning: {note}", file=sys.stderr)
        report = probe(
            link,
            board,
            diagram,
            on_step=show,
            ask=ask if interactive else None,
            press_seconds=args.press_time,
            blink=args.blink,
        )
    finally:
        link.close()
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_FAILED if report.errors else EXIT_OK
    _print_findings(report.findings)
    counts = {
        s: sum(1 for f in report.findings if f.severity == s) for s in ("error", "warning", "info")
    }
    against = f"against {args.wiring}" if args.wiring else "(no wiring file: default I2C pins only)"
    if any(counts[s] for s in ("error", "warning")):
        print(
            f"{_plural(counts['error'], 'error')}, {_plural(counts['warning'], 'warning')} "
            f"probing {board.id} on {args.port} {against}."
        )
    else:
        print(f"No problems found probing {board.id} on {args.port} {against}.")
    return EXIT_FAILED if report.errors else EXIT_OK


__all__ = ["add_check_parser", "run_check", "run_live"]
