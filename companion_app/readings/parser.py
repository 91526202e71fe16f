"""Turn what a board prints into named numeric readings, one `ParsedLine` per line of output.

Beginners print readings in every shape (Arduino `temp:22.5,hum:40`, `name=value`, bare numbers,
`Temp: 22.5 Humidity: 41`, Mu tuples, JSON, CSV with a header), and the same serial stream also
carries REPL prompts, echo, boot banners and tracebacks. The parser picks a format per line and
never turns that noise into a series, because one bogus series ruins the plot's y-axis.

Lines: `\n`, `\r\n` and a lone `\r` each end a line. Bytes are split before decoding (UTF-8,
undecodable bytes become U+FFFD), so a chunk may end anywhere, even inside a character. A line
longer than MAX_LINE_BYTES (64 KB) is dropped whole, however it arrives, so a device printing
without newlines cannot grow memory.

Rules, in the order `LineParser.parse_line` applies them to a stripped line:

1. Blank line: nothing, and no state change.
2. A garbled line gives nothing: more than GARBLED_FRACTION (a quarter) of its characters are
   U+FFFD (bytes that were not UTF-8) or control characters that are not whitespace. That is
   what a wrong baud rate looks like. Otherwise ANSI escape sequences and control characters
   are removed; the ones str.split() treats as whitespace become spaces; tabs stay.
3. Noise, giving nothing: a line starting with `>>>`, `...`, `Traceback`, `File "`,
   `MicroPython v`, `MPY:`, `soft reboot`, `raw REPL`, `Type "help()"`, `paste mode`, `===`;
   a line containing `Errno` or `Traceback (most recent call last)`; a line starting with an
   exception name (`OSError:`, `KeyboardInterrupt:`, `ValueError`…, a word ending in Error,
   Exception, Interrupt, Exit, Iteration or Warning, with at least one letter before it, so a
   PID loop's `Error: 0.5` still plots); ESP32 ROM/bootloader and ESP-IDF log lines
   (`ets Jun  8 2016`, `rst:0x1`, `load:0x…`, `entry 0x…`, `I (523) cpu_start: …`).
4. `{…}`: one JSON object. Series are its keys: numeric values only (bools, strings, even
   numeric strings, and null are ignored); nested objects and arrays are flattened with dots
   (`{"acc": {"x": 1}, "v": [1, 2]}` -> `acc.x`, `v.0`, `v.1`). A line that starts with `{` but
   is not valid JSON goes to free text (rule 9).
5. `(…)` or `[…]` holding only numbers: a Mu-style tuple -> `value 1`, `value 2`, … Otherwise
   free text.
6. Bare numbers separated by commas (empty cells allowed, they are skipped but keep their
   position) or by spaces/tabs -> `value 1`, `value 2`, … by position, or the CSV header's names
   (rule 8) while a header is active and the row has the header's column count. A numeric row
   with another column count ends the header.
7. `label:value` / `label=value` pairs, separated by commas, tabs or spaces (a trailing
   separator is fine; with spaces, `Temp: 22.5` and `a = 1` are pairs too, as `print("Temp:", t)`
   writes them); every piece must be a pair with a number -> series named by the label, trimmed.
8. CSV header: two or more comma- (or tab-) separated names, each starting with a letter or
   `_`, not numeric, without `:`/`=`. It is only a *candidate*: it becomes the active header
   when the very next non-blank line is a numeric row (rule 6) with the same column count;
   any other line drops the candidate. So a text line like `Hello, world` names nothing unless a
   two-column numeric row follows it at once.
9. Free text (`Temp: 22.5 Humidity: 41`): each number's label is the text between it and the
   previous number, trimmed of spaces, `,;:=|{}[]()"'` and U+FFFD (`value N` when empty; the last 64
   characters when longer). Letters glued after a number are its unit (`22.5C`, `41%`) and are
   not part of the next label. Not numbers: digits glued to letters before them (`ESP32`, `v1`),
   versions and addresses (`1.22.0`, `192.168.1.5`), dates and clock times (`2024-01-01`,
   `12:30:45`), fractions (`3/4`), hex/binary/octal literals (`0x1F`), and a number right before
   `:` or `=` (it belongs to the label: `Sensor 1: 22.5`). A free-text line that contains the
   word error, fail, failed, failure, exception or warning gives nothing.

A line giving nothing (noise, text) leaves an active CSV header in place; any line that gives
values in another format (rules 4, 5, 7, 9) ends it.

Everywhere: a label names a series only if `is_series_name` accepts it (1 to 64 printable
characters, no U+FFFD, at least one letter or digit); a pair whose label is not a name makes the
line free text, a JSON key that is not a name is skipped, and a free-text number whose label is
not a name is no reading. A series named `t` or `time` (any case) becomes `ParsedLine.t` instead
of a series (the last one wins). Numbers are what `float()` accepts, ASCII only, no `_`
separators: scientific notation, signs, `nan` and `inf` (kept as float values). A label repeated
in one line gets ` 2`, ` 3`… appended. A line gives at most MAX_VALUES_PER_LINE values. A line
with no values is skipped (the result has no entry for it).

Speed: `feed()` splits a chunk once and decodes all its complete lines in one call. The rules
remember the shape of the last `label:value` or bare-number line they parsed (a signature: the
labels, separators and field count). Runs of lines of that shape are then parsed up to 512 at a
time with str methods in C (split the whole run, rebuild it from the signature's format string
and compare, so every ":" and "," is where the rules would find it; `float()` over the value
columns); a run that does not fit is halved, and single lines are checked against the signature
before the rules run. For the lines it takes, this path gives exactly what the rules give.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Sequence

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 64 * 1024
MAX_VALUES_PER_LINE = 100
MAX_LABEL_CHARS = 64
#: A line whose characters are more than this fraction U+FFFD or control characters is noise.
GARBLED_FRACTION = 0.25
_JSON_MAX_DEPTH = 8

_NOISE_PREFIXES = (
    ">>>",
    "...",
    "Traceback",
    'File "',
    "MicroPython v",
    "MPY:",
    "soft reboot",
    "raw REPL",
    'Type "help()"',
    "paste mode",
    "===",
)
_NOISE_RE = re.compile(
    r"Errno|Traceback \(most recent call last\)"
    r"|^[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit|Iteration|Warning)\b"
    r"|^(?:ets \w{3} |rst:0x|configsip: |clk_drv:|mode:(?:DIO|QIO|DOUT|QOUT)|load:0x"
    r"|ho \d+ tail|entry 0x|[IWEDV] \(\d+\) )"
)
_FREE_NOISE_RE = re.compile(r"(?i)\b(?:error|fail|failed|failure|exception|warning)\b")
_CTRL_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]?|[\x00-\x08\x0e-\x1b\x7f]")
# Controls that str.split() and float() treat as whitespace become spaces, so a line means the
# same to the rules as to the fast path.
# Controls that are not whitespace to str.split()/float(): what the fast path never accepts.
_C0_RE = re.compile(r"[\x00-\x08\x0e-\x1b\x7f]")
_CTRL_SPACE_RE = re.compile(r"[\x0a-\x0d\x1c-\x1f]")
_SEGMENT_LINES = 512
_MIN_BULK_LINES = 16
_FREE_NUM_RE = re.compile(
    r"(?<![\w.+\-])(?<!\d[:/])"  # not glued to a word, a dot, a sign, or a time/fraction
    r"([-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
    r"|(?:nan|NaN|inf(?:inity)?|Inf(?:inity)?)(?![A-Za-z])))"
    r"(?![.:/\-]?\d)"  # not a version, an address, a date, a clock time or a fraction
    r"(?!\s*[:=])"  # "Sensor 1: 22": the 1 belongs to the label
    r"([^\s,;|:=(){}\[\]\"']*)"  # a unit glued to the number: 22.5C, 41%
)
_LABEL_STRIP = " \t,;:=|{}[]()\"'\ufffd"  # \ufffd: bytes that were not UTF-8
_HEX_PREFIX = frozenset("xXbBoO")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_TIME_NAMES = frozenset(("t", "time"))

_PAIRS = 1
_BARE = 2


@dataclass(slots=True)
class ParsedLine:
    """The values one line carried. `values` keeps the order of the line."""

    values: dict[str, float]
    t: float | None = None  # device-provided time (a `t` or `time` field), seconds


def _num(text: str) -> float | None:
    """A strict number: what float() accepts, minus underscores and non-ASCII digits."""
    try:
        value = float(text)
    except ValueError:
        return None
    if "_" in text or not text.isascii():
        return None
    return value


def is_series_name(label: str) -> bool:
    """Whether a label looks like a name a person gave a reading, so it may name a series.

    One definition for every format (pairs, JSON keys, CSV headers, free text). Why: at a wrong
    baud rate a board's output arrives as binary garbage, and every garbled run of bytes before
    a digit would otherwise become a series of its own (thousands of them, which made recording
    quadratic and the plot useless). A name is 1 to MAX_LABEL_CHARS characters, all printable,
    none of them U+FFFD (the stand-in for bytes that were not UTF-8), with at least one letter
    or digit. Every label in the real captures and in CONTRACTS.md passes (`temp_c`, `acc.x`,
    `speed, m/s`, `Température`, `温度`).
    """
    return (
        0 < len(label) <= MAX_LABEL_CHARS
        and label.isprintable()
        and "\ufffd" not in label
        and any(c.isalnum() for c in label)
    )


def _garbled(line: str, controls: int) -> bool:
    """Whether a line is mostly bytes that were not text: the sign of a wrong baud rate.

    `controls` is how many control characters (not whitespace, see _C0_RE) the line had. A
    real line with one glitched byte still parses; a line of noise gives nothing, not even
    `value N` readings of stray digits.
    """
    return (line.count("\ufffd") + controls) > GARBLED_FRACTION * len(line)


def _series_name(label: str) -> str | None:
    """The name a label gets; None means the device time."""
    return None if label.lower() in _TIME_NAMES else label


def _dedupe(names: list[str | None]) -> list[str | None]:
    seen: set[str] = set()
    out: list[str | None] = []
    for name in names:
        if name is not None:
            if name in seen:
                k = 2
                while f"{name} {k}" in seen:
                    k += 1
                name = f"{name} {k}"
            seen.add(name)
        out.append(name)
    return out


def _positional(n: int) -> list[str | None]:
    return [f"value {i}" for i in range(1, n + 1)]


def _same(a: float, b: float) -> bool:
    return a == b or (a != a and b != b)


def _build(names: Sequence[str | None], values: Sequence[float | None]) -> ParsedLine | None:
    """Pair names with values; None name = device time, None value = empty cell."""
    d: dict[str, float] = {}
    t = None
    for name, value in zip(names, values):
        if value is None:
            continue
        if name is None:
            t = value
        else:
            d[name] = value
    return ParsedLine(d, t) if d else None


def _flatten(path: str, v: Any, names: list[str | None], vals: list[float], depth: int) -> None:
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return
    if isinstance(v, (int, float)):
        if not is_series_name(path):
            return
        try:
            vals.append(float(v))
        except OverflowError:
            return
        names.append(path)
    elif isinstance(v, dict) and depth < _JSON_MAX_DEPTH:
        for k, sub in v.items():
            _flatten(f"{path}.{str(k).strip()}", sub, names, vals, depth + 1)
    elif isinstance(v, list) and depth < _JSON_MAX_DEPTH:
        for i, sub in enumerate(v):
            _flatten(f"{path}.{i}", sub, names, vals, depth + 1)


def _json_fields(s: str) -> tuple[list[str | None], list[float]] | None:
    try:
        obj = json.loads(s)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    names: list[str | None] = []
    vals: list[float] = []
    for k, v in obj.items():
        key = str(k).strip()
        if not is_series_name(key):
            continue
        if key.lower() in _TIME_NAMES:
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                try:
                    vals.append(float(v))
                except OverflowError:
                    continue
                names.append(None)
            continue
        _flatten(key, v, names, vals, 1)
    return names, vals


def _tuple_fields(s: str) -> list[float] | None:
    fields = s[1:-1].split(",")
    if len(fields) > 1 and not fields[-1].strip():
        fields.pop()  # (1,) is a one-element tuple
    vals = []
    for f in fields:
        v = _num(f)
        if v is None:
            return None
        vals.append(v)
    return vals


def _bare_fields(s: str) -> list[float | None] | None:
    """Numbers separated by commas (empty cells allowed) or by whitespace."""
    if "," in s:
        vals: list[float | None] = []
        any_value = False
        for f in s.split(","):
            if not f.strip():
                vals.append(None)
                continue
            v = _num(f)
            if v is None:
                return None
            vals.append(v)
            any_value = True
        return vals if any_value else None
    out: list[float | None] = []
    for f in s.split():
        v = _num(f)
        if v is None:
            return None
        out.append(v)
    return out


def _pair_fields(s: str) -> tuple[list[str], list[float], str, str] | None:
    """label:value / label=value pieces; returns labels, values, the kv char, the separator."""
    if "," in s:
        sep = ","
        pieces = s.split(",")
    elif "\t" in s:
        sep = "\t"
        pieces = s.split("\t")
    else:
        sep = " "
        # `print("Temp:", 22.5)` puts a space after the colon: "Temp:" and "22.5" are one pair.
        pieces = []
        for tok in s.split():
            if pieces and (
                pieces[-1][-1] in ":="
                or (tok[0] in ":=" and ":" not in pieces[-1] and "=" not in pieces[-1])
            ):
                pieces[-1] += tok
            else:
                pieces.append(tok)
    labels: list[str] = []
    vals: list[float] = []
    kvs = set()
    for p in pieces:
        if not p.strip():
            continue
        ic = p.find(":")
        ie = p.find("=")
        i = ic if ie < 0 or (0 <= ic < ie) else ie
        if i < 0:
            return None
        label = p[:i].strip()
        v = _num(p[i + 1 :])
        if v is None or not is_series_name(label):
            return None
        kvs.add(p[i])
        labels.append(label)
        vals.append(v)
    if not labels:
        return None
    return labels, vals, (kvs.pop() if len(kvs) == 1 else ""), sep


def _header_fields(s: str) -> list[str] | None:
    if "," in s:
        fields = s.split(",")
    elif "\t" in s:
        fields = s.split("\t")
    else:
        return None
    names = []
    for f in fields:
        name = f.strip().strip("\"'").strip()
        if (
            not is_series_name(name)
            or not (name[0].isalpha() or name[0] == "_")
            or ":" in name
            or "=" in name
            or _num(name) is not None
        ):
            return None
        names.append(name)
    return names if len(names) >= 2 else None


def _free_fields(s: str) -> tuple[list[str | None], list[float]] | None:
    if _FREE_NOISE_RE.search(s):
        return None
    names: list[str | None] = []
    vals: list[float] = []
    prev = 0
    for m in _FREE_NUM_RE.finditer(s):
        number = m.group(1)
        unit = m.group(2)
        if (
            unit
            and number.lstrip("+-") == "0"
            and unit[0] in _HEX_PREFIX
            and len(unit) > 1
            and unit[1] in _HEX_DIGITS
        ):
            prev = m.end()
            continue  # 0x1F, 0b101: not a reading
        try:
            value = float(number)
        except ValueError:
            continue
        label = s[prev : m.start()].strip(_LABEL_STRIP)
        if len(label) > MAX_LABEL_CHARS:
            label = label[-MAX_LABEL_CHARS:].strip(_LABEL_STRIP)
        prev = m.end()
        if not label:
            names.append(f"value {len(vals) + 1}")
        elif is_series_name(label):
            names.append(_series_name(label))
        else:
            continue  # garbled text before a number (a wrong baud rate): not a reading
        vals.append(value)
        if len(vals) >= MAX_VALUES_PER_LINE:
            break
    return (names, vals) if vals else None


class LineParser:
    """Stateful: remembers a CSV header and splits byte chunks into lines.

    Not thread-safe; give each source its own parser.
    """

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self._pending = bytearray()
        self._discarding = False  # inside a runaway line, dropping bytes until its newline
        self._warned_runaway = False
        self._header: list[str | None] | None = None
        self._candidate: list[str | None] | None = None
        # Signature of the last line parsed by the rules, for the fast path (see _parse_lines):
        # (_PAIRS, kv, sep, line_format, names, field_count, simple, has_t) or
        # (_BARE, None, sep, None, names, field_count, True, has_t) or None.
        # line_format rebuilds a line from its values ("temp:%s,hum:%s"): a line is taken by the
        # fast path only if it is exactly that text, so ":" and "," sit where the rules put them.
        self._sig: tuple[Any, ...] | None = None
        self._segment_formats: dict[tuple[str, int], str] = {}

    # -- bytes in, lines out ------------------------------------------------------------------

    def feed(self, chunk: bytes | str) -> list[ParsedLine]:
        """Parse every line `chunk` completes; keep a partial last line for the next call."""
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8", "surrogatepass")
        if not chunk:
            return []
        if b"\r" in chunk:  # \r\n and a lone \r both end a line
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = chunk.rfind(b"\n")
        if end < 0:
            if not self._discarding:
                self._pending += chunk
                if len(self._pending) > self.max_line_bytes:
                    self._drop_runaway()
            return []
        block: bytes | bytearray
        if self._discarding:
            nl = chunk.find(b"\n")  # the runaway line ends here
            block = chunk[nl + 1 : end] if nl < end else b""
            self._discarding = False
        elif self._pending:
            self._pending += chunk[:end]
            block = self._pending
        else:
            block = chunk[:end]
        self._pending = bytearray(chunk[end + 1 :])
        if len(self._pending) > self.max_line_bytes:
            self._drop_runaway()
        return self._parse_block(block)

    def flush(self) -> list[ParsedLine]:
        """The buffered partial line, at end of input."""
        block = self._pending
        self._pending = bytearray()
        if self._discarding:
            self._discarding = False
            return []
        return self._parse_block(block) if block else []

    def _drop_runaway(self) -> None:
        """Memory stays bounded when a device prints without newlines: drop that line."""
        self._pending = bytearray()
        self._discarding = True
        self._note_runaway()

    def _note_runaway(self) -> None:
        if not self._warned_runaway:
            self._warned_runaway = True
            log.warning("dropped a line longer than %d bytes", self.max_line_bytes)

    def _parse_block(self, block: bytes | bytearray) -> list[ParsedLine]:
        """Complete lines joined by b"\\n" -> results. Decoded in one call: \\n is ASCII, so
        a multi-byte sequence never spans a line break and this equals decoding per line."""
        if len(block) > self.max_line_bytes:
            lines_b = block.split(b"\n")
            if max(map(len, lines_b)) > self.max_line_bytes:
                self._note_runaway()
                block = b"\n".join(b for b in lines_b if len(b) <= self.max_line_bytes)
        lines = block.decode("utf-8", "replace").split("\n")
        out: list[ParsedLine] = []
        for i in range(0, len(lines), _SEGMENT_LINES):
            self._parse_segment(lines[i : i + _SEGMENT_LINES], out)
        return out

    def _parse_segment(self, segment: list[str], out: list[ParsedLine]) -> None:
        """Bulk when every line fits the signature; else halves, so that one REPL prompt in a
        fast stream costs a few small segments rather than the whole chunk."""
        if self._sig is not None and len(segment) >= _MIN_BULK_LINES:
            done = self._parse_bulk("\n".join(segment), len(segment))
            if done is not None:
                out += done
                return
            if len(segment) >= 2 * _MIN_BULK_LINES:
                half = len(segment) // 2
                self._parse_segment(segment[:half], out)
                self._parse_segment(segment[half:], out)
                return
        self._parse_lines(segment, out)

    def _parse_bulk(self, text: str, n: int) -> list[ParsedLine] | None:
        """All n lines at once when every one matches the current signature, else None.

        Splits the whole text with the line breaks turned into marker fields; the markers must
        sit exactly every `count` fields, so each line has exactly the fields the per-line fast
        path would check, and the keys and values are checked column by column in C.
        """
        kind, kv, sep, line_format, names, count, simple, has_t = self._sig  # type: ignore[misc]
        if not simple or not text.isascii() or "_" in text:
            return None
        if kind == _PAIRS:
            if text.count(kv) != n * (count // 2) or (sep == " " and "\t" in text):
                return None
            fields = text.replace(kv, sep).replace("\n", sep).split(sep)
            if len(fields) != n * count:
                return None
            raw = fields[1::2]
            if self._segment_format(line_format, n) % tuple(raw) != text:
                return None
            try:
                vals = list(map(float, raw))
            except ValueError:
                return None
            width = count // 2
            cols = [vals[j::width] for j in range(width)]
            return self._rows(names, cols, has_t)
        if sep is None:
            if "\x00" in text:
                return None
            marker = "\x00"
            fields = text.replace("\n", " \x00 ").split()
        else:
            marker = "\n"
            if kind == _PAIRS:
                text = text.replace(kv, sep)
            fields = text.replace("\n", sep + "\n" + sep).split(sep)
        stride = count + 1
        if len(fields) != n * stride - 1 or fields[count::stride] != [marker] * (n - 1):
            return None
        try:
            cols = [list(map(float, fields[j::stride])) for j in range(count)]
        except ValueError:
            return None
        return self._rows(names, cols, has_t)

    def _segment_format(self, line_format: str, n: int) -> str:
        key = (line_format, n)
        fmt = self._segment_formats.get(key)
        if fmt is None:
            if len(self._segment_formats) > 8:
                self._segment_formats.clear()
            fmt = self._segment_formats[key] = "\n".join([line_format] * n)
        return fmt

    @staticmethod
    def _rows(names: tuple[Any, ...], cols: list[list[float]], has_t: bool) -> list[ParsedLine]:
        """Columns -> one ParsedLine per row; a None name is the device time (has_t)."""
        make = ParsedLine
        if has_t:
            out = []
            for row in zip(*cols):
                d = dict(zip(names, row))
                out.append(make(d, d.pop(None)))
            return out
        if len(names) == 1:
            (a,) = names
            return [make({a: x}) for x in cols[0]]
        if len(names) == 2:
            a, b = names
            return [make({a: x, b: y}) for x, y in zip(*cols)]
        return [make(dict(zip(names, row))) for row in zip(*cols)]

    def _parse_lines(self, lines: list[str], out: list[ParsedLine]) -> None:
        """One line at a time: the previous line's signature first, then the rules."""
        append = out.append
        make = ParsedLine
        sig = self._sig
        kind = 0
        if sig is not None:
            kind, kv, sep, line_format, names, count, simple, has_t = sig
        for s in lines:
            if not s:
                continue
            # Fast path: same labels (or the same number of bare numbers) as the previous line.
            if kind == _PAIRS:
                f = s.replace(kv, sep).split(sep)
                if len(f) == count:
                    raw = f[1::2]
                    if simple:
                        ok = s.isascii() and "_" not in s
                    else:
                        joined = "".join(raw)
                        ok = joined.isascii() and "_" not in joined
                    if ok and line_format % tuple(raw) == s and (sep != " " or "\t" not in s):
                        try:
                            d = dict(zip(names, map(float, raw)))
                        except ValueError:
                            pass
                        else:
                            if has_t:
                                append(make(d, d.pop(None)))
                            else:
                                append(make(d))
                            continue
            elif kind == _BARE:
                f = s.split(sep)
                if len(f) == count and s.isascii() and "_" not in s:
                    try:
                        d = dict(zip(names, map(float, f)))
                    except ValueError:
                        pass
                    else:
                        if has_t:
                            append(make(d, d.pop(None)))
                        else:
                            append(make(d))
                        continue
            p = self.parse_line(s)
            if p is not None:
                append(p)
            if self._sig is not sig:
                sig = self._sig
                if sig is None:
                    kind = 0
                else:
                    kind, kv, sep, line_format, names, count, simple, has_t = sig

    # -- one line -----------------------------------------------------------------------------

    def parse_line(self, line: str) -> ParsedLine | None:
        """Apply the rules in the module docstring to one line (without its newline)."""
        s = line.strip()
        if not s:
            return None
        # A line that gives nothing and changes no state keeps the fast-path signature.
        sig = self._sig
        self._sig = None
        candidate = self._candidate
        self._candidate = None
        clean = s.isprintable() or s.replace("\t", " ").isprintable()
        if not clean:
            if _garbled(s, len(_C0_RE.findall(s))):
                self._sig = sig
                return None
            s = _CTRL_SPACE_RE.sub(" ", _CTRL_RE.sub("", s)).strip()
            if not s:
                self._sig = sig
                return None
        elif "\ufffd" in s and _garbled(s, 0):
            self._sig = sig
            return None
        if s.startswith(_NOISE_PREFIXES) or _NOISE_RE.search(s):
            self._sig = sig
            return None
        first = s[0]
        if first == "{":
            fields = _json_fields(s)
            if fields is not None:
                self._header = None
                return _build(_dedupe(fields[0]), fields[1][:MAX_VALUES_PER_LINE])
            return self._free(s)
        if first in "([":
            vals = _tuple_fields(s) if s[-1] in ")]" else None
            if vals is not None:
                self._header = None
                vals = vals[:MAX_VALUES_PER_LINE]
                return _build(_positional(len(vals)), vals)
            return self._free(s)

        bare = _bare_fields(s)
        if bare is not None:
            n = len(bare)
            if candidate is not None and len(candidate) == n:
                self._header = candidate
            header = self._header
            if header is not None and len(header) != n:
                self._header = header = None
            names = header if header is not None else _positional(n)
            bare = bare[:MAX_VALUES_PER_LINE]
            result = _build(names, bare)
            if result is not None and clean and n <= MAX_VALUES_PER_LINE and None not in bare:
                self._bare_sig(line, names, bare)
            return result

        pairs = _pair_fields(s)
        if pairs is not None:
            labels, vals, kv, sep = pairs
            self._header = None
            names = _dedupe([_series_name(label) for label in labels])
            labels = labels[:MAX_VALUES_PER_LINE]
            result = _build(names, vals[:MAX_VALUES_PER_LINE])
            if result is not None and clean and kv and len(labels) == len(vals):
                self._pairs_sig(line, kv, sep, labels, names, vals)
            return result

        header_names = _header_fields(s)
        if header_names is not None:
            self._candidate = _dedupe([_series_name(h) for h in header_names])
            return None
        result = self._free(s)
        if result is None:
            self._sig = sig
        return result

    def _free(self, s: str) -> ParsedLine | None:
        fields = _free_fields(s)
        if fields is None:
            return None
        self._header = None
        return _build(_dedupe(fields[0]), fields[1])

    # -- fast-path signatures -----------------------------------------------------------------

    def _pairs_sig(
        self,
        line: str,
        kv: str,
        sep: str,
        labels: list[str],
        names: list[str | None],
        vals: list[float],
    ) -> None:
        """Remember this line's shape if the fast path splits it exactly as the rules did."""
        f = line.replace(kv, sep).split(sep)
        if len(f) != 2 * len(labels):
            return
        keys = f[0::2]
        if [k.strip() for k in keys] != labels:
            return
        if any(":" in k or "=" in k for k in keys) or (sep == " " and "\t" in line):
            return
        raw = f[1::2]
        joined = "".join(raw)
        if not joined.isascii() or "_" in joined:
            return
        try:
            if not all(_same(float(r), v) for r, v in zip(raw, vals)):
                return
        except ValueError:
            return
        key_text = "".join(keys)
        simple = key_text.isascii() and "_" not in key_text
        line_format = sep.join(k.replace("%", "%%") + kv + "%s" for k in keys)
        if line_format % tuple(raw) != line:
            return
        has_t = None in names
        self._sig = (_PAIRS, kv, sep, line_format, tuple(names), len(f), simple, has_t)

    def _bare_sig(self, line: str, names: list[str | None], vals: list[float | None]) -> None:
        sep = "," if "," in line else None
        f = line.split(sep)
        if len(f) != len(vals) or not line.isascii() or "_" in line:
            return
        try:
            if not all(_same(float(r), v) for r, v in zip(f, vals)):  # type: ignore[arg-type]
                return
        except ValueError:
            return
        self._sig = (_BARE, None, sep, None, tuple(names), len(f), True, None in names)
