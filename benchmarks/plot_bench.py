"""Live plotting figures, each against an anchor measured in the same run.

1. parser: lines/s of `LineParser.feed` on 2-series `label:value` lines in 64 KB chunks, vs a
   Thonny-style plotter parse of the same bytes (split each line with a number regex, convert
   the numeric parts, label each with the text before it). Goal >= 250k lines/s and >= 1x.
2. frame: ms per frame with 8 series x 100k points, the blitting path of the real `PlotPanel`
   (under a display; else the same `PlotRenderer` on a `FigureCanvasAgg`), vs a naive full
   redraw of the same figure size (all points, `canvas.draw()`). Goal <= 30 ms.
3. cpu: share of one core (process CPU time / wall time) while the panel ingests 1,000
   lines/s through a `ChunkSource` with live redraw, for --cpu-seconds; anchor: the same with
   redraw switched off. Goal < 30 %.
4. rss: resident memory added by 2M points per series x 8 series in a `SeriesStore`, in a fresh
   process; anchor: its RSS before adding. Goal <= 150 MB.

    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python benchmarks/plot_bench.py
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CHUNK = 64 * 1024
N_SERIES = 8
N_POINTS = 100_000


# --- 1. parser ---------------------------------------------------------------------------------
def make_lines(n: int, seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    temp = 22.5 + np.cumsum(rng.normal(0, 0.05, n))
    hum = 45.0 + np.cumsum(rng.normal(0, 0.1, n))
    return "".join(f"temp:{t:.2f},hum:{h:.1f}\n" for t, h in zip(temp, hum)).encode()


def chunks_of(data: bytes, size: int = CHUNK) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


# The approach of Thonny's plotter (written here from its description, not copied): split the
# line on numbers with a capturing regex; odd parts are numbers, the text before each a label.
NUMBER_SPLIT = re.compile(r"(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)")


def thonny_style_parse(chunks: list[bytes]) -> int:
    rows = 0
    pending = ""
    for chunk in chunks:
        text = pending + chunk.decode("utf-8", errors="replace")
        lines = text.split("\n")
        pending = lines.pop()
        for line in lines:
            parts = NUMBER_SPLIT.split(line.rstrip("\r"))
            if len(parts) < 3:
                continue
            values = {}
            for i in range(1, len(parts), 2):
                label = parts[i - 1].strip(" ,:=\t") or f"value {i // 2 + 1}"
                values[label] = float(parts[i])
            rows += 1
    return rows


def our_parse(chunks: list[bytes]) -> int:
    from companion_app.readings.parser import LineParser

    parser = LineParser()
    rows = 0
    for chunk in chunks:
        rows += len(parser.feed(chunk))
    rows += len(parser.flush())
    return rows


def best_rate(func, chunks: list[bytes], n_lines: int, repeats: int = 3) -> float:
    best = 0.0
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        rows = func(chunks)
        elapsed = time.perf_counter() - t0
        assert rows == n_lines, f"{func.__name__} parsed {rows} of {n_lines} lines"
        best = max(best, n_lines / elapsed)
    return best


def bench_parser(n_lines: int) -> None:
    chunks = chunks_of(make_lines(n_lines))
    ours = best_rate(our_parse, chunks, n_lines)
    anchor = best_rate(thonny_style_parse, chunks, n_lines)
    ok = ours >= 250_000 and ours >= anchor
    print(
        f"parser: ours {ours / 1000:.0f}k lines/s, Thonny-style regex {anchor / 1000:.0f}k "
        f"lines/s, ratio {ours / anchor:.2f} (goal >= 250k and >= 1x) {'OK' if ok else 'MISSED'}"
    )


# --- 2. frame time -----------------------------------------------------------------------------
def filled_store(n_points: int = N_POINTS, n_series: int = N_SERIES):
    from companion_app.readings.store import SeriesStore

    rng = np.random.default_rng(2)
    t = np.arange(n_points) * 0.01
    store = SeriesStore()
    store.add_columns(
        t,
        {
            f"s{i}": 20
            + 3 * i
            + np.cumsum(rng.normal(0, 0.05, n_points))
            + rng.normal(0, 0.2, n_points)
            for i in range(n_series)
        },
    )
    return store, float(t[-1])


def _frames(step, n: int) -> list[float]:
    times = []
    for k in range(n):
        t0 = time.perf_counter()
        step(k)
        times.append(time.perf_counter() - t0)
    return times


def bench_frame(n_frames: int) -> None:
    from companion_app.gui.plot_widgets import ViewSettings

    store, t_end = filled_store()
    settings_all = ViewSettings(window_s=None)
    names = store.names

    def add_row(k: int) -> None:
        store.add(t_end + 0.01 * (k + 1), {n: 25.0 + (k % 7) * 0.1 for n in names})

    if os.environ.get("DISPLAY"):
        import tkinter as tk

        from matplotlib.backends.backend_tkagg import FigureCanvasTkAgg
        from matplotlib.figure import Figure

        from companion_app.gui.plot_panel import PlotPanel

        where = "PlotPanel under X (TkAgg)"
        root = tk.Tk()
        root.geometry("1000x700+0+0")
        panel = PlotPanel(root, None, store=store)
        panel.pack(fill="both", expand=True)
        panel.window_var.set("all")
        root.update()
        panel.redraw(force=True)
        root.update()
        r = panel.renderer
        before = (r.full_draws, r.blits)

        def ours_step(k: int) -> None:
            add_row(k)
            panel.redraw()
            root.update_idletasks()

        ours = _frames(ours_step, n_frames)
        full = r.full_draws - before[0]

        def forced_step(k: int) -> None:
            add_row(n_frames + k)
            panel.redraw(force=True)
            root.update_idletasks()

        forced = _frames(forced_step, 5)
        size = panel.figure.get_size_inches()
        panel.close()
        panel.destroy()
        # Anchor: the same figure size in the same kind of canvas, every point, full draw.
        frame = tk.Frame(root)
        frame.pack(fill="both", expand=True)
        fig = Figure(figsize=size, dpi=100, layout="constrained")
        canvas = FigureCanvasTkAgg(fig, master=frame)
        canvas.get_tk_widget().pack(fill="both", expand=True)
        draw = canvas.draw

        def finish() -> None:
            root.update_idletasks()

    else:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        from companion_app.gui.plot_widgets import PlotRenderer

        where = "PlotRenderer on FigureCanvasAgg (no display)"
        fig0 = Figure(figsize=(10, 5.6), dpi=100, layout="constrained")
        renderer = PlotRenderer(fig0, FigureCanvasAgg(fig0))
        renderer.update(store, settings_all)
        before = (renderer.full_draws, renderer.blits)

        def ours_step(k: int) -> None:
            add_row(k)
            renderer.update(store, settings_all)

        ours = _frames(ours_step, n_frames)
        full = renderer.full_draws - before[0]
        forced = _frames(
            lambda k: (add_row(n_frames + k), renderer.update(store, settings_all, force=True)), 5
        )
        fig = Figure(figsize=(10, 5.6), dpi=100, layout="constrained")
        canvas = FigureCanvasAgg(fig)
        draw = canvas.draw

        def finish() -> None:
            pass

    ax = fig.add_subplot(1, 1, 1)
    lines = {}
    for n in names:
        t, v = store.series(n)
        (lines[n],) = ax.plot(t, v, lw=1.0, label=n)
    ax.legend(loc="upper left")
    ax.set_xlabel("time (s)")
    draw()

    def naive_step(k: int) -> None:
        add_row(2 * n_frames + k)
        for n, line in lines.items():
            line.set_data(*store.series(n))
        ax.relim()
        ax.autoscale_view()
        draw()
        finish()

    anchor = _frames(naive_step, max(5, n_frames // 4))
    m_ours, m_anchor = statistics.median(ours) * 1000, statistics.median(anchor) * 1000
    mean_ours = statistics.fmean(ours) * 1000
    ok = m_ours <= 30
    print(
        f"frame (8 series x 100k points, {where}): ours {m_ours:.1f} ms median "
        f"({mean_ours:.1f} ms mean over {len(ours)} frames, {full} full redraws; a forced full "
        f"redraw {statistics.median(forced) * 1000:.0f} ms), naive full "
        f"redraw {m_anchor:.0f} ms, ratio {m_ours / m_anchor:.3f} (goal <= 30 ms) "
        f"{'OK' if ok else 'MISSED'}"
    )


# --- 3. CPU share ------------------------------------------------------------------------------
def cpu_share(seconds: float, redraw: bool, rate: int = 1000) -> tuple[float, int, int]:
    """Run a Plot panel fed `rate` lines/s in the Tk thread (as the companion does)."""
    import tkinter as tk

    from companion_app.gui.plot_panel import PlotPanel

    root = tk.Tk()
    root.geometry("1000x700+0+0")
    panel = PlotPanel(root, None)
    panel.pack(fill="both", expand=True)
    if not redraw:
        panel.redraw = lambda force=False: "skipped"  # type: ignore[method-assign]
    root.update()
    lines = make_lines(int(rate * seconds) + rate).split(b"\n")
    period_ms = 20  # the companion's connection delivers serial data every 20 ms
    state = {"i": 0, "start": time.perf_counter()}

    def feed() -> None:
        elapsed = time.perf_counter() - state["start"]
        due = min(int(elapsed * rate), len(lines) - 1)
        if due > state["i"]:
            panel.ingest_chunk(b"\n".join(lines[state["i"] : due]) + b"\n")
            state["i"] = due
        if elapsed < seconds:
            root.after(period_ms, feed)
        else:
            root.quit()

    cpu0, wall0 = time.process_time(), time.perf_counter()
    state["start"] = wall0
    root.after(period_ms, feed)
    root.mainloop()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    r = panel.renderer
    frames = r.full_draws + r.blits
    points = panel.live_store.stats("temp").count
    panel.close()
    root.destroy()
    return cpu / wall, frames, points


def bench_cpu(seconds: float) -> None:
    if not os.environ.get("DISPLAY"):
        print("cpu: skipped (needs a display; run under xvfb-run)")
        return
    ours, frames, points = cpu_share(seconds, redraw=True)
    anchor, _, points_anchor = cpu_share(seconds, redraw=False)
    ok = ours < 0.30
    print(
        f"cpu (1,000 lines/s for {seconds:.0f} s, {frames} frames drawn, {points} points "
        f"stored): ours {ours * 100:.1f} % of one core, same ingest without redraw "
        f"{anchor * 100:.1f} % ({points_anchor} points), ratio {ours / max(anchor, 1e-9):.2f} "
        f"(goal < 30 %) {'OK' if ok else 'MISSED'}"
    )


# --- 4. RSS ------------------------------------------------------------------------------------
RSS_CHILD = r"""
import gc, sys, numpy as np
sys.path.insert(0, sys.argv[1])
from companion_app.readings.store import SeriesStore

def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024

n, series, batch = int(sys.argv[2]), 8, 65_536
store = SeriesStore()
rng = np.random.default_rng(3)
gc.collect()
before = rss()
for start in range(0, n, batch):
    m = min(batch, n - start)
    t = (start + np.arange(m)) * 0.001
    store.add_columns(t, {f"s{i}": rng.normal(20 + i, 1.0, m) for i in range(series)})
gc.collect()
after = rss()
print(before, after, store.stored_points(), store.stats("s0").count)
"""


def bench_rss(points: int) -> None:
    out = subprocess.run(
        [sys.executable, "-c", RSS_CHILD, str(REPO), str(points)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    before, after, stored, count = (int(x) for x in out)
    added = (after - before) / 2**20
    ok = added <= 150
    print(
        f"rss ({points / 1e6:.0f}M points x 8 series = {8 * points / 1e6:.0f}M added, "
        f"{stored / 1e6:.2f}M kept): +{added:.0f} MB (after {after / 2**20:.0f} MB, anchor "
        f"before adding {before / 2**20:.0f} MB), raw float64 pairs would be "
        f"{8 * points * 16 / 2**20:.0f} MB (goal <= 150 MB added) {'OK' if ok else 'MISSED'}"
    )
    assert count == points


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=500_000, help="lines for the parser figure")
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--cpu-seconds", type=float, default=10.0)
    ap.add_argument("--points", type=int, default=2_000_000, help="points per series (rss)")
    ap.add_argument(
        "--only", choices=("parser", "frame", "cpu", "rss"), action="append", default=None
    )
    args = ap.parse_args()
    only = set(args.only or ("parser", "frame", "cpu", "rss"))
    if "parser" in only:
        bench_parser(args.lines)
    if "frame" in only:
        bench_frame(args.frames)
    if "cpu" in only:
        bench_cpu(args.cpu_seconds)
    if "rss" in only:
        bench_rss(args.points)
    return 0


if __name__ == "__main__":
    sys.exit(main())
