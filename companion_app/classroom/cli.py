"""`iotkit class init | flash | deploy | dashboard`: a whole lab from one class file.

A front end over classroom.classfile and classroom.runner (the dashboard's own front end is
classroom.dashboard_cli). Why it looks the way it does, in steps:

1. `init` writes a commented class.toml from what is plugged in now, so a teacher edits a file
   instead of writing one; virtual boards (which comports() never lists) come from --ports or
   the port file `iotkit sim --count N --port-file FILE` writes. It never overwrites a file
   unless --force, and then keeps the old one as class.toml.bak.
2. `flash` and `deploy` run every board at once (runner.run_class) in a worker thread; the main
   thread draws the summary table (board, port, stage, result, time): redrawn in place on a
   terminal, one line per change otherwise (a log file, CI), then the final table. Ctrl-C
   stops every board at its next safe point.
3. A failed board is an `error: <board>: …` line on stderr and exit code 1; the other boards
   are done all the same. --json prints one document instead of the table.
"""

from __future__ import annotations

import argparse
import json
import logging
import queue
import re
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from companion_app.errors import IotkitError, UsageError
from companion_app.inputs import confirm_replace
from companion_app.secrets import ENV_WIFI_PASSWORD

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
REDRAW_S = 0.1  # how often the live table is redrawn on a terminal
COLUMNS = ("board", "port", "stage", "result", "time")


def add_class_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `class` with its subcommands (argparse only; the engines load when one runs)."""
    from companion_app.classroom.classfile import DEFAULT_CLASS_NAME, DEFAULT_FILE_NAME

    p = subparsers.add_parser(
        "class",
        help="a whole class of boards from one class file: init, flash, deploy, dashboard",
        description="Flash and deploy every board listed in a class file (class.toml) at once, "
        "each with its own name and MQTT topic, and watch them all live.",
    )
    sub = p.add_subparsers(dest="class_command", metavar="COMMAND")
    sub.required = True

    init = sub.add_parser(
        "init",
        help="write a class file listing the boards plugged in now",
        description="Write a commented class file with one [[boards]] entry per board plugged "
        "in now (seat-01, seat-02 …), to edit before the first deploy.",
    )
    init.add_argument("--file", default=DEFAULT_FILE_NAME, help="where to write it")
    init.add_argument("--name", help=f"the class name (default: {DEFAULT_CLASS_NAME})")
    where = init.add_mutually_exclusive_group()
    where.add_argument(
        "--ports", metavar="P1,P2,…", help="these ports instead of the boards found (e.g. virtual)"
    )
    where.add_argument(
        "--port-file",
        metavar="FILE",
        help="the ports in this file, one a line (as `iotkit sim --count N --port-file` writes)",
    )
    init.add_argument(
        "--force", action="store_true", help="replace an existing file (kept as FILE.bak)"
    )
    init.set_defaults(func=run_init)

    flash = sub.add_parser(
        "flash",
        help="flash every board of the class in parallel",
        description="Write one MicroPython image to every board of the class at once.",
    )
    _common(flash, DEFAULT_FILE_NAME)
    what = flash.add_mutually_exclusive_group(required=True)
    what.add_argument("--firmware", metavar="FILE", help="the .bin image to write")
    what.add_argument(
        "--version",
        metavar="V",
        help="a MicroPython version from the firmware cache, for the class's board type",
    )
    flash.add_argument("--yes", action="store_true", help="do not ask before writing")
    flash.set_defaults(func=run_flash)

    deploy = sub.add_parser(
        "deploy",
        help="deploy the class's templates to every board in parallel",
        description="Deploy the class's templates and settings to every board at once, each "
        "with its own device name and MQTT topic (iotkit/<class>/<board>/readings).",
    )
    _common(deploy, DEFAULT_FILE_NAME)
    deploy.set_defaults(func=run_deploy)

    from companion_app.classroom.dashboard_cli import add_dashboard_parser

    add_dashboard_parser(sub)
    return p


def _common(p: argparse.ArgumentParser, default_file: str) -> None:
    p.add_argument("--file", default=default_file, metavar="class.toml", help="the class file")
    p.add_argument(
        "--all",
        action="store_true",
        help="redo every board, also those a previous run finished with the same inputs",
    )
    p.add_argument("--json", action="store_true", help="one JSON document instead of the table")


# ----------------------------------------------------------------------------- init


def _ports_from_args(args: argparse.Namespace) -> list[tuple[str, str | None]] | None:
    """(port, usb serial) of the ports named on the command line; None when none were."""
    from companion_app.device.ports import describe_port
    from companion_app.inputs import read_text_file

    if args.ports is not None:
        names = [p.strip() for p in args.ports.split(",") if p.strip()]
        if not names:
            raise UsageError("--ports takes port names separated by commas")
    elif args.port_file is not None:
        text = read_text_file(args.port_file, "port file")
        names = [line.strip() for line in text.splitlines() if line.strip()]
        if not names:
            raise UsageError(
                f"The port file {args.port_file} lists no ports: start the boards first "
                "(`iotkit sim --count N --port-file FILE`)."
            )
    else:
        return None
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        verb = "is" if len(twice) == 1 else "are"
        raise UsageError(
            f"{', '.join(twice)} {verb} listed twice: each board needs a port of its own."
        )
    return [(n, describe_port(n).serial_number) for n in names]


def run_init(args: argparse.Namespace) -> int:
    from companion_app.classroom import classfile

    path = Path(args.file)
    name = args.name if args.name is not None else classfile.DEFAULT_CLASS_NAME
    classfile.check_new_class_file(path, name, args.force)  # before looking for boards
    given = _ports_from_args(args)
    boards = given if given is not None else classfile.plugged_in_boards()
    if not boards:
        raise IotkitError(classfile.NO_BOARDS)
    from companion_app.device.ports import describe_port, serial_permission_hint

    hint = serial_permission_hint(port for port, _serial in boards)
    if hint:
        print(f"warning: {hint}", file=sys.stderr, flush=True)
    virtual = all(describe_port(port).is_virtual for port, _serial in boards)
    written = classfile.write_class_file(path, boards, name=name, force=args.force, virtual=virtual)
    if written.backup is not None:
        print(f"The old {path.name} is kept as {written.backup}.")
    print(f"Wrote {path} with {len(boards)} board{'s' if len(boards) != 1 else ''}:")
    for board, (port, serial) in zip(written.class_file.boards, boards):
        extra = f" (USB serial {serial})" if serial else ""
        print(f"  {board.name}  {port}{extra}")
    if virtual:
        print(
            f"Next: start `iotkit broker` (its broker), export {ENV_WIFI_PASSWORD}=micropython "
            f"(the virtual boards' Wi-Fi), then `iotkit class deploy --file {path}`."
        )
    else:
        print(
            f"Next: check wifi_ssid and broker in it, export {ENV_WIFI_PASSWORD}=..., then "
            f"`iotkit class deploy --file {path}`."
        )
    return EXIT_OK


# ----------------------------------------------------------------------------- flash, deploy


def run_flash(args: argparse.Namespace) -> int:
    from companion_app.classroom.classfile import load_class_file

    cf = load_class_file(args.file, need_wifi_password=False)  # a flash sends no config
    if args.firmware is not None and not args.firmware.strip():
        raise UsageError("--firmware needs a file name: the .bin to flash")
    what = args.firmware or f"MicroPython {args.version}"
    confirm_replace(f"Write {what} to the {len(cf.boards)} boards of {cf.name}?", args.yes, "them")
    return _run(args, cf, "flash", firmware=args.firmware, version=args.version)


def run_deploy(args: argparse.Namespace) -> int:
    from companion_app.classroom.classfile import load_class_file

    cf = load_class_file(args.file)
    return _run(args, cf, "deploy")


def _run(args: argparse.Namespace, cf: Any, action: str, **kwargs: Any) -> int:
    from companion_app.classroom.runner import run_class

    updates: queue.Queue[Any] = queue.Queue()
    cancel = threading.Event()
    finished = threading.Event()
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["results"] = run_class(
                cf,
                action,
                redo_all=args.all,
                on_progress=updates.put,
                cancel=cancel,
                **kwargs,
            )
        except BaseException as exc:  # handed to the main thread below
            box["error"] = exc
        finally:
            finished.set()

    table = None if args.json else SummaryTable(sys.stdout, [b.name for b in cf.boards])
    worker = threading.Thread(target=work, name=f"iotkit-class-{action}", daemon=True)
    worker.start()
    while not finished.is_set():
        try:
            finished.wait(REDRAW_S)
        except KeyboardInterrupt:
            if not cancel.is_set():
                print("\nstopping every board at its next safe point…", file=sys.stderr)
            cancel.set()
        _drain(updates, table)
        if table is not None and table.drawn:
            table.show()  # the time of the boards still running goes on
    _drain(updates, table)
    if "error" in box:
        raise box["error"]
    results = box["results"]
    if args.json:
        json.dump([r.to_json() for r in results], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        assert table is not None
        table.final(results)
    for r in results:
        if r.result == "failed":
            print(f"error: {r.board}: {r.error}", file=sys.stderr)
    if cancel.is_set():
        raise KeyboardInterrupt
    return EXIT_FAILED if any(r.result == "failed" for r in results) else EXIT_OK


def _drain(updates: queue.Queue[Any], table: SummaryTable | None) -> None:
    changed = False
    while True:
        try:
            p = updates.get_nowait()
        except queue.Empty:
            break
        if table is not None:
            table.update(p)
            changed = True
    if changed and table is not None:
        table.show()


_NUMBERS = re.compile(r"\d+%?")


class SummaryTable:
    """The live summary: redrawn in place on a terminal (ANSI), one line per change otherwise.

    Only the main thread calls it (the workers' progress arrives through a queue).
    """

    def __init__(self, out: TextIO, boards: list[str]) -> None:
        self.out = out
        # In place only when the whole table fits the terminal: the cursor cannot move back
        # above the top of the screen, so a taller table would be drawn again and again.
        self.tty = out.isatty() and len(boards) + 2 <= shutil.get_terminal_size().lines
        self.rows: dict[str, Any] = {}
        self.order = list(boards)
        self.drawn = 0  # lines of the live table on screen (terminal)
        self.said: dict[str, tuple[str, str]] = {}  # what the line mode said last, per board
        self.started = time.monotonic()

    def update(self, p: Any) -> None:
        self.rows[p.board] = p
        if self.tty:
            return
        # Line mode: a change of stage or result, not every percent of it.
        key = (_NUMBERS.sub("#", p.stage), p.result)
        if self.said.get(p.board) != key:
            self.said[p.board] = key
            result = f" - {_shown_result(p.result)}" if p.result else ""
            self.out.write(f"{p.board}: {p.stage}{result} ({p.seconds:.1f} s)\n")
            self.out.flush()

    def _lines(self) -> list[str]:
        rows = [self.rows[b] for b in self.order if b in self.rows]
        now = time.monotonic() - self.started
        cells = [
            (
                (r.board, r.port or "?", r.stage, _shown_result(r.result), f"{r.seconds:5.1f} s")
                if r.result or not self.tty
                else (r.board, r.port or "?", r.stage, "…", f"{max(now, r.seconds):5.1f} s")
            )
            for r in rows
        ]
        widths = [max(len(c[i]) for c in [COLUMNS, *cells]) for i in range(len(COLUMNS))]
        widths[-1] = 0  # the last column is not padded
        return [
            "  ".join(f"{c:<{w}}" for c, w in zip(row, widths)).rstrip()
            for row in [COLUMNS, *cells]
        ]

    def show(self) -> None:
        if not self.tty:
            return
        lines = self._lines()
        if self.drawn:
            self.out.write(f"\x1b[{self.drawn}F")  # back to the table's first line
        for line in lines:
            self.out.write(f"\x1b[2K{line}\n")
        self.drawn = len(lines)
        self.out.flush()

    def final(self, results: list[Any]) -> None:
        for r in results:
            self.rows[r.board] = r
        if self.tty and self.drawn:
            self.show()  # the live table becomes the final one
        else:
            for line in self._lines():
                self.out.write(line + "\n")
        for r in results:
            if r.note:
                self.out.write(f"note: {r.board}: {r.note}\n")
        done = sum(1 for r in results if r.result == "ok")
        skipped = sum(1 for r in results if r.result == "skipped")
        failed = sum(1 for r in results if r.result == "failed")
        parts = [f"{done} done"]
        if skipped:
            parts.append(f"{skipped} already done before (--all redoes them)")
        if failed:
            parts.append(f"{failed} failed (run again to retry only those)")
        self.out.write(", ".join(parts) + f"; logs in {_logs_dir(results)}\n")
        self.out.flush()


def _shown_result(result: str) -> str:
    return {"": "…", "failed": "FAILED"}.get(result, result)


def _logs_dir(results: list[Any]) -> str:
    for r in results:
        if r.log:
            return str(Path(r.log).parent)
    return "?"
