"""`iotkit class dashboard`: every board of a class, live, from the class's MQTT broker.

A front end (it may open a window): the engine is `classroom.live.ClassLive`; the window is
`gui.class_dashboard`, imported only when one opens. `--headless --record OUT.csv --duration S`
is for scripts and tests: no window, the plot CSV with columns `<board>.<series>`, exit 0 (1 when
the broker could not be reached at all, so a script learns that its recording is empty).

`IOTKIT_DASHBOARD_TRACE=FILE` (window only) writes one line per reading the window has drawn:
board, time.time() at receipt and at draw, tab-separated; benchmarks/class_dashboard_bench.py
measures the delay from publish to drawn with it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from companion_app.errors import IotkitError, UsageError
from companion_app.inputs import positive_float

log = logging.getLogger(__name__)

TRACE_ENV = "IOTKIT_DASHBOARD_TRACE"
EXIT_OK = 0


def add_dashboard_parser(class_subparsers: Any) -> argparse.ArgumentParser:
    """Add `dashboard` to the `iotkit class` subcommands."""
    p = class_subparsers.add_parser(
        "dashboard",
        help="every board's readings and online state, live, from the class's MQTT broker",
        description="Subscribe to iotkit/<class>/+/readings and …/status on the class's broker "
        "and show every board: online or offline, the age of its last reading, a small plot "
        "per board and one plot of a series across boards.",
    )
    p.add_argument(
        "--file", default="class.toml", metavar="class.toml", help="the class file (class.toml)"
    )
    p.add_argument(
        "--broker", metavar="URL", help="use this MQTT broker instead of the class file's"
    )
    p.add_argument("--headless", action="store_true", help="no window: record, then exit")
    p.add_argument(
        "--record", metavar="OUT.csv", help="record every reading (columns <board>.<series>)"
    )
    p.add_argument(
        "--duration",
        type=positive_float,
        metavar="S",
        help="stop after S seconds (needed with --headless)",
    )
    p.set_defaults(func=run_dashboard)
    return p


def run_dashboard(args: argparse.Namespace) -> int:
    """The command; explained failures are raised as IotkitError (one `error:` line)."""
    from companion_app.classroom.classfile import load_class_file
    from companion_app.classroom.live import ClassLive
    from companion_app.readings.recorder import CsvRecorder

    headless = bool(args.headless)
    if headless and args.duration is None:
        raise UsageError("--headless needs --duration S (how many seconds to listen).")
    if args.record and Path(args.record).is_dir():
        raise UsageError(f"--record {args.record} is a folder; give a file name.")
    cf = load_class_file(args.file, need_wifi_password=False)  # the dashboard sends none
    broker = args.broker or cf.broker
    trace_path = os.environ.get(TRACE_ENV) or None
    recorder = CsvRecorder(args.record) if args.record else None
    try:
        live = ClassLive(
            cf.name,
            broker,
            [b.name for b in cf.boards],
            recorder=recorder,
            trace=bool(trace_path) and not headless,
        )
        if headless:
            return _run_headless(live, float(args.duration), recorder)
        from companion_app.gui.class_dashboard import run_window

        return run_window(cf, live, duration_s=args.duration, trace_path=trace_path)
    finally:
        if recorder is not None:
            recorder.close()


def _run_headless(live: Any, duration_s: float, recorder: Any) -> int:
    from companion_app.classroom.live import CONNECT_TIMEOUT_S

    start = time.monotonic()
    live.start()
    try:
        if not live.wait_connected(CONNECT_TIMEOUT_S):
            _state, message = live.state
            raise IotkitError(
                f"Could not reach the class's MQTT broker at {live.where()} within "
                f"{CONNECT_TIMEOUT_S:g} s, so nothing was recorded. {message}"
            )
        remaining = duration_s - (time.monotonic() - start)
        if remaining > 0:
            time.sleep(remaining)  # the listening itself happens in the MQTT thread
    finally:
        live.stop()
    _print_summary(live, recorder)
    if live.recorder_error:
        raise IotkitError(live.recorder_error)
    return EXIT_OK


def _print_summary(live: Any, recorder: Any) -> None:
    from companion_app.classroom.live import describe_age

    now = time.monotonic()
    for b in live.boards():
        mark = "" if b.in_class else " (not in class.toml)"
        values = ", ".join(f"{k} {v:g}" for k, v in b.values.items())
        seen = (
            f"{b.readings} readings, last {describe_age(b.age_s(now))}"
            if b.readings
            else ("no readings")
        )
        print(f"{b.name}{mark}: {b.status}, {seen}" + (f" ({values})" if values else ""))
    if recorder is not None:
        print(f"Recorded {recorder.rows_written} rows to {recorder.path}")
    sys.stdout.flush()
