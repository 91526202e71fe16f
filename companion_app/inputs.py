"""What a person hands us: text files we read whole, and numbers given on the command line.

Why one module: every reader of a user's file (a wiring diagram, a deploy config, a script to
check) must refuse the same mistakes the same way, with one clear sentence and no traceback:

1. The path may be missing, a folder, or something endless such as /dev/zero or a pipe: we
   look with stat() first and never read more than the limit.
2. The file may be huge (a 50 MB "diagram" once took 37 s and 826 MB): each kind of input has a
   size limit far above any real file of that kind, checked before it is read.
3. The bytes may not be UTF-8 (a config saved as Latin-1): the message names the line, never
   the text, because a config may hold the Wi-Fi password.
4. JSON may nest deeper than Python's parser recurses (`[` * 100000): RecursionError becomes an
   explained error, and anything deeper than MAX_JSON_DEPTH is refused before other code, which
   may itself recurse, ever sees it.

Files that are streamed (`plot --from-file`) or sent as they are (a project folder's files,
firmware images) have their own checks where they are read.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import stat
import sys
from pathlib import Path
from typing import Any, Callable

from companion_app.errors import IotkitError, UsageError

log = logging.getLogger(__name__)

KB = 1024
MB = 1024 * KB

# The largest file of each kind we read whole. Real ones are far smaller (Wokwi's biggest
# example diagrams are about 30 KB, a deploy config under 1 KB, a MicroPython script rarely
# over 100 KB, since it must fit a board's RAM to be compiled there); the limits only stop a
# wrong file from eating the memory and minutes of a lab PC.
SIZE_LIMITS = {
    "wiring file": 2 * MB,
    "config file": 256 * KB,
    "script": 1 * MB,
    "class file": 256 * KB,
}
DEFAULT_SIZE_LIMIT = 1 * MB
# A project folder is sent as it is, so its limit is what the largest board could hold: the
# filesystem of a 16 MB ESP32-S3 is about 14 MB. More than this is the wrong folder.
PROJECT_FOLDER_LIMIT = 16 * MB

# Wokwi diagrams nest 4 levels deep, a deploy config 2: a document deeper than this is not one.
MAX_JSON_DEPTH = 64

ErrorFactory = Callable[[str], IotkitError]


class InputFileError(UsageError):
    """A file given on the command line cannot be used as it is (exit code 2)."""


def human_size(n: int) -> str:
    """1536 -> "1.5 KB", 52428800 -> "50 MB": sizes as a person reads them."""
    if n < KB:
        return f"{n} bytes"
    if n < MB:
        return f"{n / KB:.3g} KB"
    if n < 1024 * MB:
        return f"{n / MB:.3g} MB"
    return f"{n / (1024 * MB):.3g} GB"


def size_limit(what: str) -> int:
    """The size limit of one kind of input (a key of SIZE_LIMITS, e.g. "wiring file")."""
    return SIZE_LIMITS.get(what, DEFAULT_SIZE_LIMIT)


def read_text_file(
    path: str | os.PathLike[str],
    what: str,
    limit: int | None = None,
    error: ErrorFactory = InputFileError,
    strict: bool = True,
) -> str:
    """The whole text of a user's file, or `error(message)` saying why it cannot be used.

    `what` names the kind of file in messages ("wiring file", "config file", "script") and
    picks its size limit from SIZE_LIMITS unless `limit` is given. A leading UTF-8 BOM (as
    Windows Notepad writes) is dropped. `strict=False` turns bytes that are not UTF-8 into
    U+FFFD instead of refusing the file (a script's comment in Latin-1 should not stop a check).
    """
    p = Path(path)
    limit = size_limit(what) if limit is None else limit
    try:
        st = p.stat()
    except FileNotFoundError:
        raise error(f"The {what} {p} does not exist. Check the path.") from None
    except PermissionError:
        raise error(
            f"The {what} {p} cannot be read: permission denied. Copy it somewhere you own, or "
            "fix its permissions."
        ) from None
    except OSError as exc:
        raise error(f"The {what} {p} cannot be read: {exc.strerror or exc}.") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{p} is a folder, not a {what}. Give the path of the file itself.")
    if stat.S_ISREG(st.st_mode) and st.st_size > limit:
        raise error(_too_big(p, what, limit, st.st_size))
    try:
        with open(p, "rb") as f:
            data = f.read(limit + 1)  # a pipe or a device has no size: read one byte too many
    except PermissionError:
        raise error(f"The {what} {p} cannot be read: permission denied.") from None
    except OSError as exc:
        raise error(f"The {what} {p} cannot be read: {exc.strerror or exc}.") from None
    if len(data) > limit:
        raise error(_too_big(p, what, limit, None))
    if not strict:
        return data.decode("utf-8-sig", errors="replace")
    return decode_text(data, p, what, error)


def _too_big(path: Path, what: str, limit: int, size: int | None) -> str:
    size_text = f"{human_size(size)}, " if size is not None else ""
    return (
        f"The {what} {path} is {size_text}larger than {human_size(limit)}: far more than a "
        f"{what} holds, so it is probably the wrong file. Check the path."
    )


def decode_text(data: bytes, path: str | os.PathLike[str], what: str, error: ErrorFactory) -> str:
    """UTF-8 text (a BOM is dropped), or an error naming the line; never quoting the text."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise error(
            f"The {what} {path} is not a text file in UTF-8 (an invalid byte on line {line}). "
            "If it is the right file, save it as UTF-8 in your editor (in Notepad: Save As, "
            "Encoding UTF-8)."
        ) from None


def parse_json_text(
    text: str,
    source: str,
    what: str,
    error: ErrorFactory = InputFileError,
    hint: str = "",
    subject: str | None = None,
) -> Any:
    """Parsed JSON of a user's file, or `error(message)`. The message names the spot by line
    and column and quotes nothing, because a config may hold a password. `hint` is appended to
    messages about the JSON text (what to do about a missing comma, for instance); `subject`
    replaces "The {what} {source}" at their start."""
    subject = subject or f"The {what} {source}"
    if not text.strip():
        raise error(f"{subject} is empty.")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(
            f"{subject} is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}.{hint and ' ' + hint}"
        ) from None
    except RecursionError:
        raise error(_too_deep(what, source)) from None
    if json_depth(value) > MAX_JSON_DEPTH:
        raise error(_too_deep(what, source))
    return value


def _too_deep(what: str, source: str) -> str:
    return (
        f"The {what} {source} nests lists or objects more than {MAX_JSON_DEPTH} levels deep, "
        f"so it is not a real {what}. Check the path."
    )


def json_depth(value: Any) -> int:
    """How deeply lists and dicts nest in `value` (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
            if deepest > MAX_JSON_DEPTH:
                return deepest
        stack.extend((child, depth) for child in children)
    return deepest


def read_json_file(
    path: str | os.PathLike[str],
    what: str,
    limit: int | None = None,
    error: ErrorFactory = InputFileError,
    hint: str = "",
) -> Any:
    """read_text_file() then parse_json_text(): a user's JSON file, or one explained error."""
    text = read_text_file(path, what, limit, error)
    return parse_json_text(text, str(path), what, error, hint)


def check_output_file(path: str | os.PathLike[str], what: str) -> Path:
    """A file we are about to write for the person: refuse a folder, or a folder that does not
    exist, before any work starts (so nothing is left half-done)."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(
            f"{p} is a folder; the {what} needs a file name, such as {p / 'port.txt'}."
        )
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"The folder {parent} for the {what} does not exist. Create it first.")
    return p


# -- numbers on the command line (argparse `type=` functions) ----------------------------------

TCP_PORT_MAX = 65535


def tcp_port(text: str) -> int:
    """A TCP port number, 0 meaning any free port."""
    value = _int(text, "a TCP port")
    if not 0 <= value <= TCP_PORT_MAX:
        raise argparse.ArgumentTypeError(
            f"a TCP port is a number from 1 to {TCP_PORT_MAX} (or 0 for any free port), "
            f"not {value}"
        )
    return value


def positive_int(text: str) -> int:
    """A whole number above zero, such as a baud rate."""
    value = _int(text, "a whole number")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a whole number above 0, not {value}")
    return value


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text}")
    return value


def non_negative_float(text: str) -> float:
    """Seconds to wait and the like: 0 or more, and finite."""
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def positive_float(text: str) -> float:
    """A duration or an interval: more than 0, and finite."""
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def _int(text: str, what: str) -> int:
    try:
        return int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, not {text!r}") from None


__all__ = [
    "InputFileError",
    "MAX_JSON_DEPTH",
    "PROJECT_FOLDER_LIMIT",
    "SIZE_LIMITS",
    "check_output_file",
    "decode_text",
    "human_size",
    "json_depth",
    "non_negative_float",
    "parse_json_text",
    "positive_float",
    "positive_int",
    "read_json_file",
    "read_text_file",
    "size_limit",
    "tcp_port",
]


def confirm_replace(text: str, yes: bool, what: str = "the board") -> None:
    """Ask before a command overwrites boards (`flash`, `class flash`); --yes, or no terminal
    to ask on (a script, CI), means go on. A "no" is an explained stop that wrote nothing."""
    if yes or not sys.stdin.isatty():
        return
    answer = input(f"{text} Everything on {what} is replaced. Continue? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise IotkitError("Nothing was written.")
