"""Recording readings to the wide CSV of CONTRACTS.md ("Plot recording"), and reading it back.

The format, exactly:
- header row: `time`, then one column per series in order of first appearance;
- `time` is seconds since the recording started, a float;
- one row per line that produced at least one value; an empty cell where that line had no value;
- values are floats (`repr`, so they read back bit for bit); `nan`, `inf` and `-inf` as such.

Why it is written the way it is, in steps:

1. A recording is worth most when the program or the machine falls over, so each row reaches
   the operating system before `write()` returns (or within `flush_interval_s` when the caller
   asked for batching); a SIGKILL then loses nothing.
2. When a new series appears, the header must grow and every earlier row needs one more empty
   cell. The file is rewritten into a temporary file in the same directory and swapped in with
   `os.replace`, which is atomic, so the file on disk is always a complete CSV whose header
   names every column.
3. Rewriting costs the whole file, so a stream that keeps bringing new series (a wrong baud rate,
   changing labels) would make recording quadratic. Rewrites therefore share a budget: all the
   bytes ever copied stay below `REWRITE_FACTOR` times the bytes ever recorded plus
   `REWRITE_FREE_BYTES`. Small recordings never hit it, so for them step 2 holds exactly.
4. Over budget, the main file stays as it is (complete and valid, with the columns it has) and
   the new rows go, flushed just the same, to a side file `.NAME.pending` next to it (format in
   `PENDING_FORMAT`). It is merged into the main file as soon as the budget allows, and always
   at `close()` (a normal end and Ctrl-C both close), so the finished file holds every row.
   After a SIGKILL in that state the newest rows are in the side file, and `read_csv` reads
   them from there too.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path
from typing import Mapping

from companion_app.errors import IotkitError

log = logging.getLogger(__name__)

TIME_COLUMN = "time"
#: Rewrites may copy at most this many times the bytes recorded so far ...
REWRITE_FACTOR = 2
#: ... plus this much, so a small recording is rewritten at once for every new series.
REWRITE_FREE_BYTES = 16 * 1024 * 1024
PENDING_FORMAT = """Lines of the side file, in order:
`#start,N`: its first row is row N of the recording (0 = the first row after the header);
`#columns,NAME,...`: the series names from then on (CSV quoting), written whenever they grow;
anything else: a row exactly as in the main file, but with only the cells of the columns known
when it was written (the merge pads the rest)."""
_COPY_BLOCK = 1024 * 1024


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


def _csv_line(cells: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


def _header_text(names: list[str]) -> str:
    return _csv_line([TIME_COLUMN, *(_sanitize(n) for n in names)])


def pending_path(path: str | os.PathLike[str]) -> Path:
    """The side file that holds rows waiting for a header rewrite (see the module docstring)."""
    p = Path(path)
    return p.with_name(f".{p.name}.pending")


class CsvRecorder:
    """The wide CSV of CONTRACTS.md. Flushes every row (or every ~0.2 s batch) so a crash loses
    nothing; new series widen the header by a rewrite within a budget, so a stream of new series
    stays linear (module docstring, steps 2-4).

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
        self.rewrites = 0  # header rewrites done (merges included), for tests and benchmarks
        self._pending = 0
        self._last_flush = time.monotonic()
        self._closed = False
        self._main_columns = 0  # columns the main file's header names
        self._main_chars = 0  # size of the main file (characters; rows are ASCII)
        self._recorded_chars = 0  # every row ever written, main or side file
        self._copied_chars = 0  # every character copied by rewrites
        self._side: io.TextIOWrapper | None = None
        self._side_path = pending_path(self.path)
        self._side_chars = 0
        self._side_columns = 0  # columns named by the side file's latest #columns line
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "w", encoding="utf-8", newline="")
            header = _header_text(self.columns)
            self._file.write(header)
            self._file.flush()
            self._main_chars = len(header)
            if self._side_path.exists():  # a leftover of an earlier recording to this name
                self._side_path.unlink()
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
        index = self._index
        try:
            for name in values:
                if name not in index:
                    index[name] = len(self.columns)
                    self.columns.append(name)
            if len(self.columns) != self._main_columns and self._side is None:
                self._widen()
            if self.t0 is None:
                self.t0 = float(t)
            cells = [""] * len(self.columns)
            for name, value in values.items():
                cells[index[name]] = format_value(value)
            line = format_time(float(t) - self.t0) + "," + ",".join(cells) + "\n"
            side = self._side
            if side is None:
                self._file.write(line)
                self._main_chars += len(line)
            else:
                if len(self.columns) != self._side_columns:
                    self._write_side_columns()
                side.write(line)
                self._side_chars += len(line)
            self._recorded_chars += len(line)
            self._pending += 1
            self.rows_written += 1
            if self.flush_interval_s == 0.0:
                self._flush_files()
            else:
                now = time.monotonic()
                if now - self._last_flush >= self.flush_interval_s:
                    self._flush_files()
                    self._last_flush = now
            if side is not None and self._may_copy(self._main_chars + self._side_chars):
                self._rewrite()
        except OSError as exc:
            raise RecordingError(
                f"Writing the recording {self.path} failed: {exc.strerror or exc}."
            ) from exc

    def flush(self) -> None:
        if not self._closed and self._pending:
            self._flush_files()
            self._last_flush = time.monotonic()

    def _flush_files(self) -> None:
        self._file.flush()
        if self._side is not None:
            self._side.flush()
        self._pending = 0

    def _may_copy(self, chars: int) -> bool:
        """Whether a rewrite of `chars` fits the budget (module docstring, step 3)."""
        budget = REWRITE_FACTOR * self._recorded_chars + REWRITE_FREE_BYTES
        return self._copied_chars + chars <= budget

    def _widen(self) -> None:
        """New columns: rewrite now if the budget allows, else start the side file."""
        if self._may_copy(self._main_chars):
            self._rewrite()
            return
        log.info(
            "recording %s: new series while over the rewrite budget; rows wait in %s",
            self.path,
            self._side_path,
        )
        self._side = open(self._side_path, "w", encoding="utf-8", newline="")
        self._side.write(f"#start,{self.rows_written}\n")
        self._side_chars = 0
        self._write_side_columns()

    def _write_side_columns(self) -> None:
        assert self._side is not None
        self._side.write(_csv_line(["#columns", *(_sanitize(n) for n in self.columns)]))
        self._side_columns = len(self.columns)

    def _rewrite(self) -> None:
        """One new file: the full header, the main rows and the side file's rows, all padded to
        every column; swapped in atomically, then the side file goes."""
        width = len(self.columns)
        self._file.flush()
        self._file.close()
        side = self._side
        if side is not None:
            side.flush()
            side.close()
        directory = self.path.parent
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        try:
            with open(fd, "wb") as out:
                header = _header_text(self.columns).encode("utf-8")
                out.write(header)
                size = len(header)
                with open(self.path, "rb") as old:
                    old.readline()  # the old header; our names never contain a newline
                    size += _copy_padded(old, out, width - self._main_columns)
                if side is not None:
                    with open(self._side_path, "rb") as rows:
                        size += _copy_side_rows(rows, out, width)
            # mkstemp makes the file private (0600); the recording keeps the mode it had.
            os.chmod(tmp, stat.S_IMODE(os.stat(self.path).st_mode))
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            self._file = open(self.path, "a", encoding="utf-8", newline="")
            if side is not None:
                self._side = open(self._side_path, "a", encoding="utf-8", newline="")
            raise
        self._file = open(self.path, "a", encoding="utf-8", newline="")
        if side is not None:
            self._side = None
            self._side_columns = 0
            self._side_chars = 0
            try:
                self._side_path.unlink()
            except OSError:
                log.warning("could not remove %s", self._side_path, exc_info=True)
        self._copied_chars += size
        self._main_chars = size
        self._main_columns = width
        self.rewrites += 1
        log.debug("recording %s now has %d columns", self.path, width)

    def close(self) -> None:
        """Merge waiting rows (so the file holds every row) and close. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._side is not None:
                self._rewrite()
            self._file.flush()
            self._file.close()
        except OSError:
            log.warning("closing the recording %s failed", self.path, exc_info=True)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def waiting_rows_file(self) -> Path | None:
        """The side file while rows wait in it (module docstring, step 4), else None."""
        return self._side_path if self._side is not None else None

    def __enter__(self) -> CsvRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _copy_padded(src: io.BufferedReader, dst: io.BufferedWriter, pad: int) -> int:
    """Rows from src to dst, each with `pad` more empty cells; returns the bytes written.

    Cells are numbers, so a newline only ever ends a row: whole blocks are padded with one
    bytes.replace, which keeps a rewrite of a big recording at disk speed.
    """
    if pad <= 0:
        start = dst.tell()
        shutil.copyfileobj(src, dst, _COPY_BLOCK)
        return dst.tell() - start
    tail = b"," * pad + b"\n"
    written = 0
    rest = b""
    while True:
        block = src.read(_COPY_BLOCK)
        if not block:
            break
        block = rest + block
        cut = block.rfind(b"\n") + 1
        rest = block[cut:]
        out = block[:cut].replace(b"\n", tail)
        dst.write(out)
        written += len(out)
    if rest:  # a torn last row (we were killed mid-write once): keep it, completed
        out = rest + tail
        dst.write(out)
        written += len(out)
    return written


def _copy_side_rows(src: io.BufferedReader, dst: io.BufferedWriter, width: int) -> int:
    """The side file's rows, padded to `width` value cells; its `#` lines are left out."""
    written = 0
    for line in src:
        if line.startswith(b"#"):
            continue
        row = line.rstrip(b"\r\n")
        if not row:
            continue
        out = row + b"," * (width - row.count(b",")) + b"\n"
        dst.write(out)
        written += len(out)
    return written


def _sanitize(name: str) -> str:
    """A series name as a header cell: no line breaks (they would split the header line)."""
    return name.replace("\r", " ").replace("\n", " ")


def read_csv(path: str | os.PathLike[str]) -> list[tuple[float, dict[str, float]]]:
    """Rows of a recording as (time, {series: value}); empty cells are simply absent.

    Lenient where a crash or a hand edit may have left marks: a row whose time is not a number
    is skipped, a cell that is not a number is treated as empty. The first column is taken as
    the time whatever its name, so CSVs from other tools with a time first column open too.
    Rows that a killed recorder left in its side file (`pending_path`) are read after the
    file's own rows, unless the file already holds them.
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
        lines = 0
        for cells in reader:
            if cells:
                lines += 1
                _add_row(rows, names, cells)
    _read_side_file(pending_path(p), lines, rows)
    return rows


def _add_row(
    rows: list[tuple[float, dict[str, float]]], names: list[str], cells: list[str]
) -> None:
    try:
        t = float(cells[0])
    except ValueError:
        return
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


def _read_side_file(side: Path, main_rows: int, rows: list[tuple[float, dict[str, float]]]) -> None:
    """Rows a recorder killed while over its rewrite budget left beside the file."""
    try:
        f = open(side, encoding="utf-8", newline="", errors="replace")
    except OSError:
        return
    with f:
        names: list[str] = []
        for cells in csv.reader(f):
            if not cells:
                continue
            if cells[0] == "#start":
                try:
                    if int(cells[1]) < main_rows:
                        return  # merged already: the main file has these rows
                except (IndexError, ValueError):
                    return
            elif cells[0] == "#columns":
                names = [c.strip() for c in cells[1:]]
            else:
                _add_row(rows, names, cells)
