"""The series store: every reading of a plotting session, with unlimited history in bounded memory.

Why this shape: a board printing 8 values 100 times a second for a day makes 70 million points,
which as Python floats would not fit in a laptop. So the recent points (`full_resolution_points`
per series) stay at full resolution in fixed-size numpy chunks, and each chunk that falls out of
that window is folded into min/max buckets (two points per bucket: the lowest and the highest,
in time order). When the buckets fill their budget, neighbouring buckets are merged pairwise, so
old data gets coarser but never disappears and a spike stays a spike. The per-series memory is
therefore bounded by about `(full_resolution_points + chunk_points + 2 * chunk_points) * 16`
bytes whatever the run length.

Statistics (`stats`) are exact over all data ever added: they are accumulated when a chunk is
sealed, before any folding happens.

Non-finite values (nan, inf) are kept in the arrays as gaps: they are left out of `series()`
(which returns finite points only) and out of the statistics.

The number of series is capped (`MAX_SERIES`): a stream of ever-new names (garbled text at a
wrong baud rate, a program that prints changing labels) must not make thousands of series, each
with its own buffers and its own line in the plot. Values for names beyond the cap are dropped
and counted (`dropped_names`); the session tells the person once.

All public methods take one lock, so a source thread may `add` while the Tk thread reads.
Readers hold the lock only while copying out the points they need; decimation runs outside it.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_CHUNK_POINTS = 65_536
#: At most this many series per store; a line gives at most 100 values (parser), so a real
#: board never gets near it, and a plot of more is unreadable anyway.
MAX_SERIES = 200


@dataclass
class SeriesStats:
    """Over every finite value the series ever had (not only what is still at full resolution)."""

    last: float
    min: float
    max: float
    mean: float
    count: int


class _Series:
    """One series: full-resolution chunks plus the coarse min/max buckets of older data."""

    __slots__ = (
        "name",
        "chunk_points",
        "keep_points",
        "coarse_cap",
        "sealed_t",
        "sealed_v",
        "cur_t",
        "cur_v",
        "n",
        "coarse_t",
        "coarse_v",
        "coarse_n",
        "bucket",
        "count",
        "total",
        "vmin",
        "vmax",
        "last",
    )

    def __init__(self, name: str, chunk_points: int, keep_points: int) -> None:
        self.name = name
        self.chunk_points = chunk_points
        self.keep_points = keep_points
        self.sealed_t: list[np.ndarray] = []
        self.sealed_v: list[np.ndarray] = []
        # np.empty does not touch the pages, so an unused chunk costs no resident memory.
        self.cur_t = np.empty(chunk_points, dtype=np.float64)
        self.cur_v = np.empty(chunk_points, dtype=np.float64)
        self.n = 0
        # The coarse level holds at most 2 * chunk_points points (= chunk_points buckets).
        self.coarse_cap = 2 * chunk_points
        self.coarse_t = np.empty(0, dtype=np.float64)
        self.coarse_v = np.empty(0, dtype=np.float64)
        self.coarse_n = 0
        # Original points per coarse bucket; a power of two that divides chunk_points.
        self.bucket = max(1, min(64, chunk_points // 2))
        self.count = 0
        self.total = 0.0
        self.vmin = math.inf
        self.vmax = -math.inf
        self.last = math.nan

    # ------------------------------------------------------------------ writing

    def append(self, t: float, v: float) -> None:
        i = self.n
        if i == self.chunk_points:
            self._seal()
            i = 0
        self.cur_t[i] = t
        self.cur_v[i] = v
        self.n = i + 1
        if math.isfinite(v):
            self.last = v

    def extend(self, t: np.ndarray, v: np.ndarray) -> None:
        pos = 0
        total = len(t)
        while pos < total:
            if self.n == self.chunk_points:
                self._seal()
            take = min(total - pos, self.chunk_points - self.n)
            self.cur_t[self.n : self.n + take] = t[pos : pos + take]
            self.cur_v[self.n : self.n + take] = v[pos : pos + take]
            self.n += take
            pos += take
        finite = v[np.isfinite(v)]
        if len(finite):
            self.last = float(finite[-1])

    def _seal(self) -> None:
        """Close the full current chunk: account its stats, then fold the oldest if over budget."""
        t, v = self.cur_t, self.cur_v
        self._account(v)
        self.sealed_t.append(t)
        self.sealed_v.append(v)
        spare: tuple[np.ndarray, np.ndarray] | None = None
        while len(self.sealed_t) * self.chunk_points > self.keep_points:
            spare = (self.sealed_t.pop(0), self.sealed_v.pop(0))
            self._fold(*spare)
        # Reuse a folded chunk's buffers: steady state then allocates nothing, which keeps the
        # C allocator from fragmenting over a long run.
        if spare is not None:
            self.cur_t, self.cur_v = spare
        else:
            self.cur_t = np.empty(self.chunk_points, dtype=np.float64)
            self.cur_v = np.empty(self.chunk_points, dtype=np.float64)
        self.n = 0

    def _account(self, v: np.ndarray) -> None:
        finite = v[np.isfinite(v)]
        if len(finite):
            self.count += len(finite)
            self.total += float(finite.sum())
            self.vmin = min(self.vmin, float(finite.min()))
            self.vmax = max(self.vmax, float(finite.max()))

    def _fold(self, t: np.ndarray, v: np.ndarray) -> None:
        """Turn one full chunk into min/max buckets of `self.bucket` points each."""
        ct, cv = _minmax_buckets(t, v, self.bucket)
        need = self.coarse_n + len(ct)
        if need > len(self.coarse_t):
            # Allocated once at full size; pages are only resident once written.
            size = max(need, self.coarse_cap + 2 * self.chunk_points)
            self.coarse_t = _grow(self.coarse_t, self.coarse_n, size)
            self.coarse_v = _grow(self.coarse_v, self.coarse_n, size)
        self.coarse_t[self.coarse_n : need] = ct
        self.coarse_v[self.coarse_n : need] = cv
        self.coarse_n = need
        while self.coarse_n > self.coarse_cap:
            self._merge_coarse()

    def _merge_coarse(self) -> None:
        """Halve the coarse level: every two neighbouring buckets (4 points) become one (2)."""
        n = self.coarse_n
        pairs = n // 4
        t4 = self.coarse_t[: pairs * 4]
        v4 = self.coarse_v[: pairs * 4]
        mt, mv = _minmax_buckets(t4, v4, 4)
        rest = n - pairs * 4  # an odd bucket at the end stays as it is
        m = len(mt)
        tail_t = self.coarse_t[pairs * 4 : n].copy()
        tail_v = self.coarse_v[pairs * 4 : n].copy()
        self.coarse_t[:m] = mt
        self.coarse_v[:m] = mv
        self.coarse_t[m : m + rest] = tail_t
        self.coarse_v[m : m + rest] = tail_v
        self.coarse_n = m + rest
        self.bucket *= 2

    # ------------------------------------------------------------------ reading

    def copy_range(self, t_min: float | None, t_max: float | None) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the stored points (coarse + full) with t_min <= t <= t_max, in time order."""
        parts_t: list[np.ndarray] = []
        parts_v: list[np.ndarray] = []
        blocks = [(self.coarse_t[: self.coarse_n], self.coarse_v[: self.coarse_n])]
        blocks += list(zip(self.sealed_t, self.sealed_v))
        blocks.append((self.cur_t[: self.n], self.cur_v[: self.n]))
        for t, v in blocks:
            if not len(t):
                continue
            if t_min is not None and t[-1] < t_min:
                continue
            if t_max is not None and t[0] > t_max:
                continue
            lo = 0 if t_min is None or t[0] >= t_min else int(np.searchsorted(t, t_min, "left"))
            hi = (
                len(t)
                if t_max is None or t[-1] <= t_max
                else int(np.searchsorted(t, t_max, "right"))
            )
            if hi > lo:
                parts_t.append(t[lo:hi])
                parts_v.append(v[lo:hi])
        if not parts_t:
            return np.empty(0), np.empty(0)
        return np.concatenate(parts_t), np.concatenate(parts_v)

    def stats(self) -> SeriesStats:
        count, total, vmin, vmax = self.count, self.total, self.vmin, self.vmax
        cur = self.cur_v[: self.n]
        finite = cur[np.isfinite(cur)]
        if len(finite):
            count += len(finite)
            total += float(finite.sum())
            vmin = min(vmin, float(finite.min()))
            vmax = max(vmax, float(finite.max()))
        if count == 0:
            return SeriesStats(math.nan, math.nan, math.nan, math.nan, 0)
        return SeriesStats(self.last, vmin, vmax, total / count, count)

    def stored_points(self) -> int:
        return self.coarse_n + len(self.sealed_t) * self.chunk_points + self.n

    def nbytes(self) -> int:
        arrays = [self.coarse_t, self.coarse_v, self.cur_t, self.cur_v, *self.sealed_t]
        arrays += self.sealed_v
        return sum(a.nbytes for a in arrays)


def _grow(a: np.ndarray, used: int, size: int) -> np.ndarray:
    b = np.empty(size, dtype=a.dtype)
    b[:used] = a[:used]
    return b


def _minmax_buckets(t: np.ndarray, v: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Buckets of k consecutive points -> 2 points each: the min and the max, in time order.

    Non-finite values never win a bucket unless the whole bucket is non-finite; such a bucket
    keeps a non-finite point, so a gap stays a gap after folding.
    """
    n = len(t)
    rows = n // k
    out_t: list[np.ndarray] = []
    out_v: list[np.ndarray] = []
    if rows:
        tt = t[: rows * k].reshape(rows, k)
        vv = v[: rows * k].reshape(rows, k)
        out = _pick_minmax(tt, vv)
        out_t.append(out[0])
        out_v.append(out[1])
    if n - rows * k:
        tt = t[rows * k :].reshape(1, -1)
        vv = v[rows * k :].reshape(1, -1)
        out = _pick_minmax(tt, vv)
        out_t.append(out[0])
        out_v.append(out[1])
    if not out_t:
        return np.empty(0), np.empty(0)
    return np.concatenate(out_t), np.concatenate(out_v)


def _pick_minmax(tt: np.ndarray, vv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of points -> for each row its min and max points, earlier one first (flattened)."""
    rows = tt.shape[0]
    finite = np.isfinite(vv)
    if finite.all():
        imin = vv.argmin(axis=1)
        imax = vv.argmax(axis=1)
    else:
        imin = np.where(finite, vv, np.inf).argmin(axis=1)
        imax = np.where(finite, vv, -np.inf).argmax(axis=1)
    first = np.minimum(imin, imax)
    second = np.maximum(imin, imax)
    r = np.arange(rows)
    out_t = np.empty(2 * rows)
    out_v = np.empty(2 * rows)
    out_t[0::2] = tt[r, first]
    out_t[1::2] = tt[r, second]
    out_v[0::2] = vv[r, first]
    out_v[1::2] = vv[r, second]
    return out_t, out_v


def decimate_minmax(t: np.ndarray, v: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most `max_points` points that keep the lowest and highest point of every bucket.

    A plain stride (every n-th point) would make a one-sample spike vanish; min/max buckets draw
    the same envelope as the full data at screen resolution.
    """
    n = len(t)
    if max_points <= 0 or n <= max_points:
        return t, v
    if max_points < 2:
        return t[-1:], v[-1:]
    buckets = max_points // 2
    k = -(-n // buckets)  # ceil: at most `buckets` buckets of k points
    out_t, out_v = _minmax_buckets(t, v, k)
    # A bucket whose min and max are the same point gives it twice; that is harmless for
    # drawing, but drop the duplicates so callers see distinct samples.
    keep = np.ones(len(out_t), dtype=bool)
    keep[1::2] = out_t[1::2] != out_t[0::2]
    keep[1::2] |= out_v[1::2] != out_v[0::2]
    return out_t[keep], out_v[keep]


class SeriesStore:
    """Thread-safe. Unlimited history, bounded memory: recent points at full resolution in
    chunked numpy arrays; older data decimated to min/max pairs.

    Times must not go backwards (the session makes device times monotonic); a time earlier than
    the latest one is clamped to it, so the chunks stay sorted and windowed reads stay
    binary searches.
    """

    def __init__(
        self,
        full_resolution_points: int = 200_000,
        *,
        chunk_points: int = DEFAULT_CHUNK_POINTS,
        max_series: int = MAX_SERIES,
    ) -> None:
        if chunk_points < 4:
            raise ValueError("chunk_points must be at least 4")
        self.max_series = max(1, int(max_series))
        self.dropped_names = 0  # times a value came for a new name while the store was full
        self._lock = threading.Lock()
        self._chunk_points = int(chunk_points)
        self._keep_points = max(int(full_resolution_points), 0)
        self._series: dict[str, _Series] = {}
        self._names: list[str] = []
        self._version = 0
        self._t_first: float | None = None
        self._t_last: float | None = None

    # ------------------------------------------------------------------ writing

    def add(self, t: float, values: Mapping[str, float]) -> None:
        """One row: the values a line carried at time t. An empty row changes nothing."""
        if not values:
            return
        with self._lock:
            self._add_locked(float(t), values)
            self._version += 1

    def add_many(self, rows: Iterable[tuple[float, Mapping[str, float]]]) -> None:
        """Many rows under one lock acquisition (a file replay, or a burst from a source)."""
        with self._lock:
            added = False
            for t, values in rows:
                if values:
                    self._add_locked(float(t), values)
                    added = True
            if added:
                self._version += 1

    def add_columns(self, t: np.ndarray, columns: Mapping[str, np.ndarray]) -> None:
        """Vectorised bulk add: `t` sorted, each column as long as `t` (NaN where absent).

        For loading a recording or a benchmark: millions of points without a Python loop.
        """
        t = np.asarray(t, dtype=np.float64)
        if not len(t) or not columns:
            return
        with self._lock:
            if self._t_last is not None and t[0] < self._t_last:
                t = np.maximum(t, self._t_last)
            for name, col in columns.items():
                v = np.asarray(col, dtype=np.float64)
                if len(v) != len(t):
                    raise ValueError(f"column {name!r} has {len(v)} values for {len(t)} times")
                s = self._get(name)
                if s is not None:
                    s.extend(t, v)
            if self._t_first is None:
                self._t_first = float(t[0])
            self._t_last = float(t[-1])
            self._version += 1

    def _add_locked(self, t: float, values: Mapping[str, float]) -> None:
        if self._t_last is not None and t < self._t_last:
            t = self._t_last
        series = self._series
        for name, value in values.items():
            s = series.get(name)
            if s is None:
                s = self._get(name)
                if s is None:
                    continue
            s.append(t, float(value))
        if self._t_first is None:
            self._t_first = t
        self._t_last = t

    def _get(self, name: str) -> _Series | None:
        """The series `name`, made if needed; None when it is new and the store is full."""
        s = self._series.get(name)
        if s is None:
            if len(self._names) >= self.max_series:
                self.dropped_names += 1
                return None
            s = _Series(name, self._chunk_points, self._keep_points)
            self._series[name] = s
            self._names.append(name)
        return s

    def admit(self, name: str) -> bool:
        """Whether values for `name` will be kept: it is a series already, or there is room
        (then it becomes one). The session asks before recording, so the CSV has the same
        columns as the store."""
        with self._lock:
            if self._get(name) is None:
                return False
            self._version += 1
            return True

    def clear(self) -> None:
        with self._lock:
            self._series.clear()
            self._names.clear()
            self._t_first = self._t_last = None
            self._version += 1

    # ------------------------------------------------------------------ reading

    @property
    def names(self) -> list[str]:
        """Series names in order of first appearance (a copy)."""
        with self._lock:
            return list(self._names)

    @property
    def version(self) -> int:
        """Bumps on every change; a redraw timer compares it to skip idle frames."""
        return self._version

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._series

    def series(
        self,
        name: str,
        t_min: float | None = None,
        t_max: float | None = None,
        max_points: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Times and values (float64, finite values only) with t_min <= t <= t_max.

        With `max_points`, min/max-decimated to at most that many points, so a spike that lasted
        one sample is still drawn. An unknown name gives two empty arrays.
        """
        with self._lock:
            s = self._series.get(name)
            if s is None:
                return np.empty(0), np.empty(0)
            t, v = s.copy_range(t_min, t_max)
        finite = np.isfinite(v)
        if not finite.all():
            t, v = t[finite], v[finite]
        if max_points is not None:
            t, v = decimate_minmax(t, v, int(max_points))
        return t, v

    def stats(self, name: str) -> SeriesStats:
        """last, min, max, mean and count over every finite value; NaNs and count 0 if none."""
        with self._lock:
            s = self._series.get(name)
            if s is None:
                return SeriesStats(math.nan, math.nan, math.nan, math.nan, 0)
            return s.stats()

    def time_range(self) -> tuple[float, float] | None:
        """(first, last) time of any row, or None before the first row."""
        with self._lock:
            if self._t_first is None or self._t_last is None:
                return None
            return (self._t_first, self._t_last)

    def stored_points(self, name: str | None = None) -> int:
        """How many points are held in memory (full-resolution + coarse); for memory checks."""
        with self._lock:
            if name is not None:
                s = self._series.get(name)
                return s.stored_points() if s else 0
            return sum(s.stored_points() for s in self._series.values())

    def nbytes(self) -> int:
        """Bytes of numpy buffers held (allocated, not necessarily touched)."""
        with self._lock:
            return sum(s.nbytes() for s in self._series.values())
