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
    p.set_defaults(func=run_check)
    return p


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def run_check(args: argparse.Namespace) -> int:
    """Run the check; UsageError propagates to the main CLI, which prints it and exits 2."""
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


__all__ = ["add_check_parser", "run_check"]
