"""SeriesStore: bounded memory over unlimited history, spikes survive decimation, exact stats."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest

from companion_app.readings.store import SeriesStore, decimate_minmax


def test_names_are_in_order_of_first_appearance():
    store = SeriesStore()
    store.add(0.0, {"hum": 40.0, "temp": 22.0})
    store.add(1.0, {"temp": 22.1, "light": 300.0})
    store.add(2.0, {"hum": 41.0})
    assert store.names == ["hum", "temp", "light"]


def test_series_returns_the_rows_of_that_series_only():
    store = SeriesStore()
    store.add(0.0, {"a": 1.0})
    store.add(1.0, {"b": 5.0})
    store.add(2.0, {"a": 2.0, "b": 6.0})
    t, v = store.series("a")
    assert t.tolist() == [0.0, 2.0]
    assert v.tolist() == [1.0, 2.0]
    assert t.dtype == np.float64 and v.dtype == np.float64
    empty_t, empty_v = store.series("nope")
    assert len(empty_t) == 0 and len(empty_v) == 0


def test_series_time_window_is_inclusive_and_spans_chunks():
    store = SeriesStore(chunk_points=16, full_resolution_points=1000)
    for i in range(100):
        store.add(float(i), {"x": float(i)})
    t, v = store.series("x", t_min=10.0, t_max=40.0)
    assert t[0] == 10.0 and t[-1] == 40.0
    assert v.tolist() == [float(i) for i in range(10, 41)]
    t, _ = store.series("x", t_min=95.0)
    assert t.tolist() == [95.0, 96.0, 97.0, 98.0, 99.0]


def test_decimation_keeps_a_one_sample_spike_and_the_minimum():
    store = SeriesStore()
    n = 100_000
    t = np.arange(n, dtype=float) * 0.01
    v = np.sin(t)
    v[37_123] = 50.0  # one-sample spike
    v[81_777] = -50.0  # one-sample dip
    store.add_columns(t, {"s": v})
    dt, dv = store.series("s", max_points=2000)
    assert len(dt) <= 2000
    assert dv.max() == 50.0 and dv.min() == -50.0
    assert dt[np.argmax(dv)] == t[37_123]
    assert np.all(np.diff(dt) >= 0), "decimated points stay in time order"
    # The envelope of the rest is kept too.
    assert dv[(dv < 2) & (dv > -2)].max() == pytest.approx(1.0, abs=1e-3)


def test_decimate_minmax_returns_input_when_already_small_enough():
    t = np.arange(10.0)
    v = np.arange(10.0)
    out_t, out_v = decimate_minmax(t, v, 100)
    assert out_t is t and out_v is v


def test_nan_and_inf_are_gaps_left_out_of_series_and_stats():
    store = SeriesStore()
    store.add(0.0, {"x": 1.0})
    store.add(1.0, {"x": math.nan})
    store.add(2.0, {"x": 3.0})
    store.add(3.0, {"x": math.inf})
    t, v = store.series("x")
    assert t.tolist() == [0.0, 2.0]
    assert v.tolist() == [1.0, 3.0]
    s = store.stats("x")
    assert (s.count, s.min, s.max, s.mean, s.last) == (2, 1.0, 3.0, 2.0, 3.0)


def test_stats_cover_all_data_even_after_old_points_were_folded():
    store = SeriesStore(full_resolution_points=1000, chunk_points=256)
    rng = np.random.default_rng(1)
    values = rng.normal(20.0, 5.0, 50_000)
    values[123] = 999.0  # far in the folded past
    for i in range(0, len(values), 1000):
        store.add_columns(np.arange(i, i + 1000, dtype=float), {"x": values[i : i + 1000]})
    s = store.stats("x")
    assert s.count == 50_000
    assert s.max == 999.0
    assert s.min == values.min()
    assert s.mean == pytest.approx(values.mean(), rel=1e-12)
    assert s.last == values[-1]
    # The folded spike is still visible in the full-history view.
    _, v = store.series("x", max_points=500)
    assert v.max() == 999.0


def test_stats_of_an_unknown_or_all_nan_series_have_count_zero():
    store = SeriesStore()
    store.add(0.0, {"x": math.nan})
    assert store.stats("x").count == 0
    assert math.isnan(store.stats("x").mean)
    assert store.stats("missing").count == 0


def test_memory_stays_bounded_after_five_million_points():
    store = SeriesStore(full_resolution_points=200_000)
    batch = 250_000
    for start in range(0, 5_000_000, batch):
        t = np.arange(start, start + batch, dtype=float) * 0.001
        store.add_columns(t, {"a": np.sin(t), "b": np.cos(t)})
    stored = store.stored_points("a")
    # full resolution (200k + one chunk) + coarse buckets (2 x chunk): far below 5M.
    assert stored <= 200_000 + 65_536 + 2 * 65_536 + 65_536
    assert store.nbytes() < 2 * 16 * (200_000 + 5 * 65_536)
    assert store.stats("a").count == 5_000_000
    assert store.time_range() == (0.0, pytest.approx(4999.999))
    # The newest 200k points are still at full resolution.
    t, _ = store.series("a", t_min=4800.0)
    assert len(t) == 200_000


def test_row_by_row_adds_fold_the_same_way_as_bulk_adds():
    store = SeriesStore(full_resolution_points=100, chunk_points=32)
    for i in range(20_000):
        store.add(float(i), {"x": float(i % 97)})
    assert store.stored_points("x") <= 100 + 32 + 2 * 32 + 32
    s = store.stats("x")
    assert s.count == 20_000 and s.min == 0.0 and s.max == 96.0
    t, v = store.series("x")
    assert t[-1] == 19_999.0 and v.max() == 96.0 and v.min() == 0.0


def test_time_never_goes_backwards_in_the_store():
    store = SeriesStore()
    store.add(5.0, {"x": 1.0})
    store.add(3.0, {"x": 2.0})
    t, _ = store.series("x")
    assert t.tolist() == [5.0, 5.0]


def test_version_bumps_on_every_change_and_clear_empties():
    store = SeriesStore()
    v0 = store.version
    store.add(0.0, {"x": 1.0})
    v1 = store.version
    store.add(1.0, {})  # an empty row changes nothing
    assert store.version == v1 > v0
    store.add_many([(1.0, {"x": 2.0}), (2.0, {"y": 3.0})])
    assert store.version > v1
    assert store.time_range() == (0.0, 2.0)
    store.clear()
    assert store.names == [] and store.time_range() is None
    assert store.stats("x").count == 0


def test_series_for_eight_series_of_100k_points_is_fast():
    store = SeriesStore()
    n = 100_000
    t = np.arange(n, dtype=float) * 0.01
    store.add_columns(t, {f"s{i}": np.random.default_rng(i).normal(size=n) for i in range(8)})
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        for i in range(8):
            store.series(f"s{i}", max_points=2000)
        best = min(best, time.perf_counter() - start)
    assert best < 0.030, f"{best * 1000:.1f} ms for 8 series"


def test_a_reader_thread_sees_consistent_data_while_a_writer_adds():
    store = SeriesStore(full_resolution_points=5_000, chunk_points=1024)
    stop = threading.Event()
    problems: list[str] = []

    def writer() -> None:
        i = 0
        while not stop.is_set() and i < 300_000:
            store.add(float(i), {"a": float(i), "b": -float(i)})
            i += 1

    def reader() -> None:
        while not stop.is_set():
            for name in ("a", "b"):
                t, v = store.series(name, max_points=300)
                if len(t) != len(v):
                    problems.append("length mismatch")
                if len(t) and np.any(np.diff(t) < 0):
                    problems.append("time went backwards")
                if len(t) and name == "a" and not np.array_equal(t, v):
                    problems.append("a value was not paired with its time")
            store.stats("a")
            store.time_range()

    w = threading.Thread(target=writer)
    readers = [threading.Thread(target=reader) for _ in range(2)]
    w.start()
    for r in readers:
        r.start()
    w.join(timeout=60)
    stop.set()
    for r in readers:
        r.join(timeout=10)
    assert not problems, problems[:5]
    s = store.stats("a")
    assert s.count == 300_000 and s.max == 299_999.0
    assert store.stats("b").min == -299_999.0
