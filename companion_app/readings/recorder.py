"""Recording readings to the wide CSV of CONTRACTS.md ("Plot recording"), and reading it back.

The format, exactly:
- header row: `time`, then one column per series in order of first appearance;
- `time` is seconds since the recording started, a float;
- one row per line that produced at least one value; an empty cell where that line had no value;
- values are floats (`repr`, so they read back bit for bit); `nan`, `inf` and `-inf` as such.

Why it is written the way it is: a recording is worth most when the program or the machine
falls over, so each row reaches the operating system before `write()` returns (or within
`flush_interval_s` when the caller asked for batching); a SIGKILL then loses nothing. When a new
series appears, the header must grow; the file is rewritten into a temporary file in the same
directory and swapped in with `os.replace`, which is atomic, so at every instant the file on disk
is a complete CSV whose header names every column.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Mapping

from companion_app.errors import IotkitError

log = logging.getLogger(__name__)

TIME_COLUMN = "time"


class RecordingError(IotkitError):
    """The recording file cannot be written or read; the message names the file and the cause."""


def format_value(x: float) -> str:
    """Floats as Python's shortest round-trip text; nan/inf/-inf spelt as the contract says."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(x)


def format_time(x: float) -> str:
    """Seconds with microsecond resolution: `0.3`, not `0.30000000000000004`."""
    return repr(round(float(x), 6))


def _header_text(names: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([TIME_COLUMN, *(_sanitize(n) for n in names)])
    return buf.getvalue()


class CsvRecorder:
    """The wide CSV of CONTRACTS.md. Flushes every row (or every ~0.2 s batch) so a crash loses
    nothing; when a new series appears, the file is rewritten with the wider header (temp file +
    os.replace), so the header always names every column.

    `t0` is the time origin of the `time` column, in the caller's time base; when it is None,
    the first row written defines it (that row gets time 0.0). `flush_interval_s` 0 flushes
    every row; a positive value lets rows wait at most that long in our buffer, checked at each
    write and at `flush()`/`close()` (used for fast file replays, where the source file
    still exists if we crash).

    Thread-safe enough for one writer thread; the session serialises writes.
    """

    def __init__(
        self, path: str | os.PathLike[str], t0: float | None = None, flush_interval_s: float = 0.0
    ) -> None:
        self.path = Path(path)
        self.t0 = t0
        self.flush_interval_s = max(0.0, float(flush_interval_s))
        self.columns: list[str] = []
        self._index: dict[str, int] = {}
        self.rows_written = 0
        self._pending = 0
        self._last_flush = time.monotonic()
        self._closed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "w", encoding="utf-8", newline="")
            self._file.write(_header_text(self.columns))
            self._file.flush()
        except OSError as exc:
            raise RecordingError(
                f"Cannot write the recording {self.path}: {exc.strerror or exc}. "
                "Choose a folder you can write to."
            ) from exc

    # ------------------------------------------------------------------ writing

    def write(self, t: float, values: Mapping[str, float]) -> None:
        """One row. Rows with no values are not written (the contract: lines with data only)."""
        if self._closed:
            raise RecordingError(f"The recording {self.path} is already closed.")
        if not values:
            return
        new = [name for name in values if name not in self._index]
        if new:
            self._widen(new)
        if self.t0 is None:
            self.t0 = float(t)
        cells = [""] * len(self.columns)
        index = self._index
        for name, value in values.items():
            cells[index[name]] = format_value(value)
        line = format_time(float(t) - self.t0) + "," + ",".join(cells) + "\n"
        try:
            self._file.write(line)
            self._pending += 1
            self.rows_written += 1
            if self.flush_interval_s == 0.0:
                self._file.flush()
                self._pending = 0
            else:
                now = time.monotonic()
                if now - self._last_flush >= self.flush_interval_s:
                    self._file.flush()
                    self._pending = 0
                    self._last_flush = now
        except OSError as exc:
            raise RecordingError(
                f"Writing the recording {self.path} failed: {exc.strerror or exc}."
            ) from exc

    def flush(self) -> None:
        if not self._closed and self._pending:
            self._file.flush()
            self._pending = 0
            self._last_flush = time.monotonic()

    def _widen(self, new: list[str]) -> None:
        """Add columns: rewrite the file with the wider header, padding the earlier rows."""
        old_count = len(self.columns)
        for name in new:
            self._index[name] = len(self.columns)
            self.columns.append(name)
        self._file.flush()
        self._file.close()
        pad = "," * (len(self.columns) - old_count)
        directory = self.path.parent
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        try:
            with open(fd, "w", encoding="utf-8", newline="") as out, open(
                self.path, encoding="utf-8", newline=""
            ) as old:
                out.write(_header_text(self.columns))
                old.readline()  # the old header; our names never contain a newline
                for row in old:
                    out.write(row.rstrip("\n") + pad + "\n")
                out.flush()
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        finally:
            self._file = open(self.path, "a", encoding="utf-8", newline="")
        log.debug("recording %s now has columns %s", self.path, self.columns)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._file.flush()
            self._file.close()
        except OSError:
            log.warning("closing the recording %s failed", self.path, exc_info=True)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> CsvRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _sanitize(name: str) -> str:
    """A series name as a header cell: no line breaks (they would split the header line)."""
    return name.replace("\r", " ").replace("\n", " ")


def read_csv(path: str | os.PathLike[str]) -> list[tuple[float, dict[str, float]]]:
    """Rows of a recording as (time, {series: value}); empty cells are simply absent.

    Lenient where a crash or a hand edit may have left marks: a row whose time is not a number
    is skipped, a cell that is not a number is treated as empty. The first column is taken as
    the time whatever its name, so CSVs from other tools with a time first column open too.
    """
    p = Path(path)
    try:
        f = open(p, encoding="utf-8", newline="", errors="replace")
    except FileNotFoundError as exc:
        raise RecordingError(f"The recording {p} does not exist.") from exc
    except OSError as exc:
        raise RecordingError(f"Cannot read the recording {p}: {exc.strerror or exc}.") from exc
    rows: list[tuple[float, dict[str, float]]] = []
    with f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header or not header[0].strip():
            raise RecordingError(
                f"{p} is not a plot recording: its first line should be a header like "
                "`time,temp,hum`."
            )
        names = [h.strip() for h in header[1:]]
        for cells in reader:
            if not cells:
                continue
            try:
                t = float(cells[0])
            except ValueError:
                continue
            values: dict[str, float] = {}
            for name, cell in zip(names, cells[1:]):
                cell = cell.strip()
                if not cell:
                    continue
                try:
                    values[name] = float(cell)
                except ValueError:
                    continue
            if values:
                rows.append((t, values))
    return rows
