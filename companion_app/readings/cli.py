"""`iotkit plot`: live plot of readings from a board, MQTT, HTTP or a file (CONTRACTS.md).

`--headless` draws no window: it reads the whole file, or for `--duration` seconds, writes
`--record` (the contract CSV) and/or `--png` (matplotlib's Agg renderer, no Tk), prints a short
summary per series and exits 0. Without it, a Tk window hosts the same Plot panel as the
companion. The command's own code is thin: sources, session, store and recorder do the work.

Ctrl-C ends either mode within a second (exit 130) with the recording closed, so complete: the
session drops what is still in flight and waits only briefly for the source's thread, and the
window turns SIGINT into an exception that Tkinter does not swallow.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path
from typing import Any

from companion_app.errors import EXIT_INTERRUPTED, IotkitError, UsageError
from companion_app.inputs import positive_float

log = logging.getLogger(__name__)

EXIT_OK = 0
#: After Ctrl-C, how long to wait for a source's thread. It is a daemon, so one stuck in a read
#: cannot keep the process alive; the recording is closed (complete) whatever it does.
INTERRUPT_WAIT_S = 0.3

#: With --headless and no --record, the PNG still needs a reasonable amount of detail.
PNG_POINTS = 4000


def add_plot_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `plot` to the `iotkit` subcommands (`subparsers` from add_subparsers())."""
    p = subparsers.add_parser(
        "plot",
        help="live plot of readings (serial, MQTT, HTTP or a file)",
        description="Plot the readings a board prints (temp:22.5,hum:41 / name=value / numbers "
        "/ JSON / CSV lines). Give exactly one source.",
    )
    src = p.add_argument_group("source (exactly one)")
    src.add_argument("--port", metavar="P", help="the board's serial port (or socket://host:port)")
    src.add_argument("--mqtt", metavar="URL", help="MQTT broker, e.g. mqtt://192.168.1.10:1883")
    src.add_argument("--topic", metavar="T", help="MQTT topic to subscribe to (with --mqtt)")
    src.add_argument("--http", metavar="URL", help="poll this URL for JSON readings")
    src.add_argument(
        "--interval",
        type=positive_float,
        default=1.0,
        metavar="S",
        help="seconds between HTTP polls (default 1)",
    )
    src.add_argument("--from-file", metavar="FILE", help="replay a capture or an earlier recording")
    p.add_argument("--record", metavar="OUT.csv", help="record the readings to this CSV file")
    p.add_argument("--png", metavar="OUT.png", help="save the plot as a PNG image at the end")
    p.add_argument("--headless", action="store_true", help="no window: read, write files, exit")
    p.add_argument(
        "--duration",
        type=positive_float,
        metavar="S",
        help="stop after S seconds (needed with --headless for live sources)",
    )
    p.set_defaults(func=run_plot)
    return p


# ---------------------------------------------------------------------- source from arguments


def _chosen_sources(args: argparse.Namespace) -> list[str]:
    chosen = []
    for option, attr in (
        ("--port", "port"),
        ("--mqtt", "mqtt"),
        ("--http", "http"),
        ("--from-file", "from_file"),
    ):
        if getattr(args, attr, None):
            chosen.append(option)
    return chosen


def make_source(args: argparse.Namespace) -> Any:
    """The one source the arguments name; UsageError (exit 2) when there is not exactly one."""
    chosen = _chosen_sources(args)
    if not chosen:
        raise UsageError(
            "plot needs a source: --port P, --mqtt URL --topic T, --http URL or --from-file FILE."
        )
    if len(chosen) > 1:
        raise UsageError(f"plot reads one source at a time, but got {' and '.join(chosen)}.")
    if getattr(args, "topic", None) and not args.mqtt:
        raise UsageError("--topic goes with --mqtt URL.")

    from companion_app.readings import sources

    if args.port:
        return sources.SerialSource(args.port)
    if args.mqtt:
        if not args.topic:
            raise UsageError("--mqtt needs --topic T (the topic the device publishes on).")
        try:
            return sources.MqttSource(args.mqtt, args.topic)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    if args.http:
        try:
            return sources.HttpSource(args.http, interval_s=getattr(args, "interval", 1.0))
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    path = Path(args.from_file)
    if not path.exists():
        raise UsageError(f"The file {path} does not exist.")
    if path.is_dir():
        raise UsageError(f"{path} is a folder; give a capture or recording file.")
    if not (path.is_file() or path.is_fifo()):
        raise UsageError(f"{path} is not a file.")
    return sources.FileSource(path)


# ---------------------------------------------------------------------- the command


def run_plot(args: argparse.Namespace) -> int:
    """`iotkit plot`; returns the exit code, raises IotkitError for explained failures."""
    headless = bool(getattr(args, "headless", False))
    duration = getattr(args, "duration", None)
    source = make_source(args)
    from companion_app.readings.sources import FileSource

    is_file = isinstance(source, FileSource)
    if headless and not is_file and duration is None:
        raise UsageError(
            "--headless with a live source needs --duration S (how many seconds to read)."
        )
    for option in ("record", "png"):
        target = getattr(args, option, None)
        if target and Path(target).is_dir():
            raise UsageError(f"--{option} {target} is a folder; give a file name.")

    from companion_app.readings.recorder import CsvRecorder
    from companion_app.readings.store import SeriesStore

    store = SeriesStore()
    recorder = None
    if args.record:
        # A file replay delivers rows as fast as it can: batch the flushes (the input survives a
        # crash anyway). Live sources flush every row.
        recorder = CsvRecorder(args.record, flush_interval_s=0.2 if is_file else 0.0)
    try:
        if headless:
            code = _run_headless(args, source, store, recorder, duration)
        else:
            code = _run_window(args, source, store, recorder, duration)
    finally:
        if recorder is not None:
            recorder.close()
    if args.png:
        save_png(store, args.png, title=source.describe())
    if headless:
        _print_summary(store, recorder, args)
    return code


def _run_headless(
    args: argparse.Namespace, source: Any, store: Any, recorder: Any, duration: float | None
) -> int:
    from companion_app.readings.session import PlotSession

    session = PlotSession(source, store, recorder)
    session.start()
    interrupted = False
    try:
        if duration is None:
            source.done.wait()
        else:
            source.done.wait(duration)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if interrupted:
            # Ctrl-C: stop now; run_plot then closes the recording, which leaves it complete.
            session.stop(INTERRUPT_WAIT_S, discard=True)
        else:
            session.stop()
    # A source that ended by itself with an error (port gone, file unreadable) failed.
    if getattr(source, "failed", None):
        if session.rows:
            _warn_all(session.errors[:-1])
        raise IotkitError(source.failed)
    if session.errors:
        if not session.rows:
            raise IotkitError(session.errors[-1])
        _warn_all(session.errors)
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


def _warn_all(messages: list[str]) -> None:
    seen: set[str] = set()
    for message in messages:
        if message not in seen:
            seen.add(message)
            print(f"warning: {message}", file=sys.stderr)


def _print_summary(store: Any, recorder: Any, args: argparse.Namespace) -> None:
    names = store.names
    if not names:
        print("No readings were found.")
    for name in names:
        s = store.stats(name)
        print(
            f"{name}: {s.count} values, last {s.last:g}, min {s.min:g}, max {s.max:g}, "
            f"mean {s.mean:.4g}"
        )
    if recorder is not None:
        print(f"Recorded {recorder.rows_written} rows to {recorder.path}")
    if args.png:
        print(f"Saved the plot to {args.png}")


def _run_window(
    args: argparse.Namespace, source: Any, store: Any, recorder: Any, duration: float | None
) -> int:
    try:
        import tkinter as tk
    except ImportError as exc:  # Python built without Tk
        raise IotkitError(
            "This Python has no Tk, so no window can open. Use --headless with --record/--png."
        ) from exc
    try:
        root = tk.Tk()
    except tk.TclError as exc:
        raise IotkitError(
            f"Cannot open a window ({exc}). Use --headless with --record/--png instead."
        ) from exc
    root.title(f"iotkit plot — {source.describe()}")
    root.geometry("1000x640")
    try:
        from companion_app.gui.plot_panel import PlotPanel
    except ImportError as exc:
        root.destroy()
        raise IotkitError(f"The plot window is not available: {exc}") from exc
    panel = PlotPanel(root, ctx=None, store=store)
    panel.pack(fill="both", expand=True)
    set_window = getattr(panel, "set_window", None)
    if set_window is not None and getattr(source, "synthetic_time", False):
        set_window("all")  # a replayed file is looked at whole, not as a live tail
    attach = getattr(panel, "attach_source", None)
    if attach is not None:
        # The panel's own session: its Record button and status line then cover this source.
        # The source starts only once --record is attached, so a fast replay loses no row.
        held = _StartLater(source)
        session = attach(held)
        if recorder is not None:
            session.recorder = recorder
        held.begin()
    else:
        from companion_app.readings.session import PlotSession

        session = PlotSession(source, store, recorder)
        session.start()

    from companion_app.gui.window_loop import run_window

    interrupted = run_window(
        root,
        panel,
        duration,
        at_ctrl_c=panel.stop_drawing,
        before_close=lambda: session.stop(INTERRUPT_WAIT_S, discard=True),
    )
    if interrupted:
        session.stop(INTERRUPT_WAIT_S, discard=True)
    else:
        session.stop()
    if getattr(source, "failed", None) and not session.rows:
        raise IotkitError(source.failed)
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


class _StartLater:
    """A source stand-in whose start() waits for begin(): wiring first, then the first line."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.on_lines: Any = None
        self.on_error: Any = None

    def __getattr__(self, name: str) -> Any:  # synthetic_time, done, failed, describe, ...
        return getattr(self.source, name)

    def start(self) -> None:
        pass

    def begin(self) -> None:
        self.source.on_lines = self.on_lines
        self.source.on_error = self.on_error
        self.source.start()

    def stop(self, timeout: float = 3.0) -> None:
        self.source.stop(timeout)


# ---------------------------------------------------------------------- PNG without Tk


def save_png(store: Any, path: str | Path, title: str = "", max_points: int = PNG_POINTS) -> None:
    """Draw every series of `store` against time into a PNG (Agg, no Tk, no pyplot).

    Series whose scales differ by more than ~50x get their own stacked axes, so a 0..1 signal
    next to a 0..4095 ADC reading is still readable. Like the panel, it draws at most
    MAX_DRAWN_SERIES series on at most MAX_SUBPLOTS axes, so noise names cannot make the
    image hundreds of plots tall.
    """
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        # Only when nothing in this process uses pyplot: switching would close its figures.
        # The drawing below needs no global backend anyway (Figure + FigureCanvasAgg).
        matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from companion_app.gui.plot_widgets import MAX_DRAWN_SERIES, MAX_SUBPLOTS

    names = store.names[:MAX_DRAWN_SERIES]
    groups = _scale_groups(store, names)
    if len(groups) > MAX_SUBPLOTS:
        groups[MAX_SUBPLOTS - 1 :] = [[n for g in groups[MAX_SUBPLOTS - 1 :] for n in g]]
    fig = Figure(figsize=(10, 3.2 + 1.8 * max(0, len(groups) - 1)), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(max(1, len(groups)), 1, sharex=True, squeeze=False)[:, 0]
    if not groups:
        axes[0].text(0.5, 0.5, "no readings", ha="center", va="center", transform=axes[0].transAxes)
    for ax, group in zip(axes, groups):
        for name in group:
            t, v = store.series(name, max_points=max_points)
            last = store.stats(name).last
            label = f"{name} ({last:.4g})" if math.isfinite(last) else name
            ax.plot(t, v, label=label, linewidth=1.2)
        ax.set_ylabel(group[0] if len(group) == 1 else "value")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize="small")
    axes[-1].set_xlabel("time (s)")
    if title:
        axes[0].set_title(title)
    try:
        fig.savefig(path, format="png")
    except OSError as exc:
        raise IotkitError(f"Cannot write the image {path}: {exc.strerror or exc}.") from exc


def _scale_groups(store: Any, names: list[str]) -> list[list[str]]:
    """Series grouped by similar magnitude (max |value|), in order of first appearance."""
    groups: list[tuple[float, list[str]]] = []
    for name in names:
        s = store.stats(name)
        if s.count == 0:
            continue
        mag = max(abs(s.min), abs(s.max), 1e-12)
        for i, (gmag, members) in enumerate(groups):
            if max(mag, gmag) / min(mag, gmag) <= 50:
                members.append(name)
                groups[i] = (max(gmag, mag), members)
                break
        else:
            groups.append((mag, [name]))
    return [members for _, members in groups]


def main(argv: list[str] | None = None) -> int:
    """Run `plot` on its own (python -m companion_app.readings.cli ...), e.g. before wiring."""
    parser = argparse.ArgumentParser(prog="iotkit")
    sub = parser.add_subparsers(dest="command")
    add_plot_parser(sub)
    try:
        args = parser.parse_args(["plot", *(argv if argv is not None else sys.argv[1:])])
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        return run_plot(args)
    except IotkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
