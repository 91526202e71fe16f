"""Secrets (the Wi-Fi password and its kin): which config keys hold one, which values this
process knows, and how every printable form of them is masked as "***".

Why one module: the predicate "is this config key a secret" and the masker used to exist twice
(the deploy engine and the Deploy panel) and had drifted; a program on the board that printed
its config escaped (`json.dumps`, `repr`, a dict) slipped past both. Everything that shows
board output or writes a log imports this module, so there is one rule and one masker.

How it works, in steps:

1. `is_secret_key(key)` is the one predicate: a key whose name contains one of
   SECRET_KEY_WORDS, in any case. The board's own `config.public()` (device_scripts/config.py)
   follows the same rule; a test checks that they agree.
2. Known secrets are process-wide (`remember`, `known`), kept only in memory. They come from:
   - every deploy's config, the /config.json it sends (deploy.deploy);
   - the board's /config.json as it was before the deploy, read by the deploy's survey, so a
     folder deploy (`iotkit deploy DIR`) knows the password its main.py may print;
   - the Deploy panel's form when a deploy starts;
   - the environment variable IOTKIT_WIFI_PASSWORD, and a password typed on stdin
     (`--set wifi_password=-`, `iotkit sim --wifi SSID:-`).
   Values shorter than MIN_SECRET_LEN are not masked: "***" in place of every "ab" of the
   output would hide more than it protects, and no Wi-Fi (8+) or WebREPL (4+) password is
   that short.
3. `secret_forms(value)` lists every form a program can print a value in: as is; JSON-escaped
   the CPython way with and without ensure_ascii (\\" \\\\ \\u20ac, surrogate pairs above the
   BMP) and the MicroPython way (only " \\ and control characters escaped); repr-escaped the
   CPython way (non-ASCII as is) and the MicroPython way (which is CPython's ascii(): \\u20ac),
   with either quote character; the repr of its UTF-8 bytes; and each of those escaped once
   more (`repr(json.dumps(cfg))`, `print(repr(f.read()))` of a JSON file).
4. `mask_text` masks a whole text (str or bytes); `StreamMasker` masks a stream that arrives
   in chunks: it holds back the end of a chunk while that end could be the start of a secret
   form, so a password split across two reads is still masked, and `flush()` gives the rest.
5. Logs: the first `remember()` installs a log-record factory that masks every record's
   message (and traceback) before any handler sees it. No secret known, no cost.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any, AnyStr

log = logging.getLogger(__name__)

__all__ = [
    "MASK",
    "SECRET_KEY_WORDS",
    "MIN_SECRET_LEN",
    "ENV_WIFI_PASSWORD",
    "FROM_STDIN",
    "is_secret_key",
    "secret_values",
    "masked",
    "secret_forms",
    "remember",
    "known",
    "forget_all",
    "mask_text",
    "StreamMasker",
    "install_log_masking",
    "env_wifi_password",
    "read_secret",
]

MASK = "***"
#: A config key holds a secret when its name contains one of these (any case).
SECRET_KEY_WORDS = ("password",)
#: Shorter values are not masked (see step 2 of the module docstring).
MIN_SECRET_LEN = 4
#: Used for the Wi-Fi password when none is given (shared/CONTRACTS.md).
ENV_WIFI_PASSWORD = "IOTKIT_WIFI_PASSWORD"
#: A password given as this value is read from standard input, so it never shows in `ps`.
FROM_STDIN = "-"
#: How many escapings deep a form is looked for: 2 covers repr() of a JSON text.
NESTING = 2


# ----------------------------------------------------------------------------- which keys


def is_secret_key(key: object) -> bool:
    """True for config keys whose value must never be shown (wifi_password, ap_password…)."""
    return isinstance(key, str) and any(word in key.lower() for word in SECRET_KEY_WORDS)


def secret_values(cfg: Mapping[Any, Any]) -> list[str]:
    """The non-empty values of the secret keys of a config, as text."""
    return [str(v) for k, v in cfg.items() if is_secret_key(k) and v not in (None, "")]


def masked(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """A copy safe to show, log or print as JSON: secret values become "***"."""
    return {k: (MASK if is_secret_key(k) and v not in (None, "") else v) for k, v in cfg.items()}


# ----------------------------------------------------------------------------- the forms


def _json_cpython(s: str) -> str:
    return json.dumps(s)[1:-1]


def _json_cpython_unicode(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)[1:-1]


_MPY_JSON_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _json_micropython(s: str) -> str:
    """MicroPython's json.dumps (py/objstr.c mp_str_print_json): only " \\ and controls."""
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch >= " ":
            out.append(ch)
        else:
            out.append(_MPY_JSON_NAMED.get(ch) or "\\u%04x" % ord(ch))
    return "".join(out)


_REPR_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _code_escape(o: int) -> str:
    return "\\x%02x" % o if o < 0x100 else "\\u%04x" % o if o < 0x10000 else "\\U%08x" % o


def _repr_body(s: str, quote: str, ascii_only: bool) -> str:
    """repr() between its quotes. ascii_only: CPython's ascii(), which is also MicroPython's
    repr (py/objstrunicode.c uni_print_quoted escapes everything outside 32..126)."""
    out = []
    for ch in s:
        if ch == quote:
            out.append("\\" + ch)
        elif ch in _REPR_NAMED:
            out.append(_REPR_NAMED[ch])
        elif (" " <= ch <= "~") if ascii_only else ch.isprintable():
            out.append(ch)
        else:
            o = ord(ch)
            out.append(_code_escape(o))
    return "".join(out)


def _bytes_repr_body(s: str, quote: str) -> str:
    """repr() of the UTF-8 bytes between b' and ' (a file read in binary and printed)."""
    out = []
    for b in s.encode("utf-8", "surrogatepass"):
        ch = chr(b)
        if ch == quote:
            out.append("\\" + ch)
        elif ch in _REPR_NAMED:
            out.append(_REPR_NAMED[ch])
        elif 32 <= b <= 126:
            out.append(ch)
        else:
            out.append("\\x%02x" % b)
    return "".join(out)


_ESCAPES: tuple[Callable[[str], str], ...] = (
    _json_cpython,
    _json_cpython_unicode,
    _json_micropython,
    *(functools.partial(_repr_body, quote=q, ascii_only=a) for q in "'\"" for a in (False, True)),
    *(functools.partial(_bytes_repr_body, quote=q) for q in "'\""),
)


def _split_surrogates(s: str) -> str:
    """What MicroPython's json.load makes of a character beyond the BMP written as a \\ud83d
    \\ude00 pair (CPython's ensure_ascii): two lone surrogates, which it prints as 3 bytes
    each (checked on the virtual board's interpreter)."""
    out = []
    for ch in s:
        o = ord(ch)
        if o > 0xFFFF:
            o -= 0x10000
            out += [chr(0xD800 + (o >> 10)), chr(0xDC00 + (o & 0x3FF))]
        else:
            out.append(ch)
    return "".join(out)


def _has_surrogates(s: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in s)


@functools.lru_cache(maxsize=64)
def secret_forms(value: str) -> frozenset[str]:
    """Every text a program can print `value` as (step 3 of the module docstring)."""
    forms = {value, _split_surrogates(value)}
    level = set(forms)
    for _ in range(NESTING):
        level = {escape(text) for text in level for escape in _ESCAPES} - forms
        forms |= level
    # Lone surrogates arrive as bytes that a host decoding with errors="replace" shows as
    # U+FFFD: the text a person would see then.
    forms |= {
        f.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        for f in forms
        if _has_surrogates(f)
    }
    return frozenset(f for f in forms if f)


# ----------------------------------------------------------------------------- the registry

_lock = threading.Lock()
_known: dict[str, None] = {}  # insertion-ordered set


def remember(*values: object) -> None:
    """Add secrets this process must mask from now on (kept in memory only, never logged)."""
    added = False
    with _lock:
        for value in values:
            if value is None:
                continue
            text = str(value)
            if len(text) >= MIN_SECRET_LEN and text not in _known:
                _known[text] = None
                added = True
    if added:
        install_log_masking()


def env_wifi_password() -> str | None:
    """IOTKIT_WIFI_PASSWORD, when set and not empty."""
    return os.environ.get(ENV_WIFI_PASSWORD) or None


def known() -> tuple[str, ...]:
    """The secrets masked now: those remembered, and IOTKIT_WIFI_PASSWORD when set."""
    env = env_wifi_password()
    if env is not None and env not in _known:
        remember(env)
    with _lock:
        return tuple(_known)


def forget_all() -> None:
    """Forget every remembered secret (tests start from a clean process state with it)."""
    with _lock:
        _known.clear()


# ----------------------------------------------------------------------------- masking


class _Matcher:
    """The forms of some secrets as one regex (longest first) and the set of their prefixes;
    all str, or all bytes."""

    def __init__(self, forms: list[Any], mask: Any) -> None:
        forms = sorted(set(forms), key=len, reverse=True)
        self.mask: Any = mask
        bar: Any = b"|" if isinstance(mask, bytes) else "|"
        self.regex: re.Pattern[Any] = re.compile(bar.join(map(re.escape, forms)))
        self.prefixes: frozenset[Any] = frozenset(f[:k] for f in forms for k in range(1, len(f)))
        self.longest = len(forms[0])

    def split(self, text: Any, final: bool) -> tuple[Any, Any]:
        """(masked text that is safe to show now, raw tail to hold until more arrives)."""
        pieces: list[Any] = []
        end = 0
        last = None
        for m in self.regex.finditer(text):
            pieces += [text[end : m.start()], self.mask]
            end = m.end()
            last = m
        hold = 0
        if not final:
            if last is not None and end == len(text) and text[last.start() :] in self.prefixes:
                # A whole form at the very end may be the start of a longer one: wait.
                del pieces[-2:]
                end = last.start()
            tail = text[end:]
            for k in range(min(len(tail), self.longest - 1), 0, -1):
                if tail[-k:] in self.prefixes:
                    hold = k
                    break
        cut = len(text) - hold
        pieces.append(text[end:cut])
        return text[:0].join(pieces), text[cut:]


@functools.lru_cache(maxsize=16)
def _matchers(values: tuple[str, ...]) -> tuple[_Matcher, _Matcher] | None:
    forms = [f for v in values for f in secret_forms(v)]
    if not forms:
        return None
    return (
        _Matcher(forms, MASK),
        _Matcher([f.encode("utf-8", "surrogatepass") for f in forms], MASK.encode()),
    )


def _matcher_for(text: str | bytes, extra: Iterable[str]) -> _Matcher | None:
    values = known()
    more = tuple(str(v) for v in extra if v and len(str(v)) >= MIN_SECRET_LEN)
    pair = _matchers(tuple(sorted({*values, *more})))
    if pair is None:
        return None
    return pair[1] if isinstance(text, bytes) else pair[0]


def mask_text(text: AnyStr, extra: Iterable[str] = ()) -> AnyStr:
    """`text` (str or bytes) with every form of every known secret, and of `extra`, masked."""
    if not text:
        return text
    matcher = _matcher_for(text, extra)
    if matcher is None:
        return text
    return matcher.split(text, final=True)[0]


class StreamMasker:
    """Masks a stream of chunks (all str or all bytes), whatever the chunk boundaries.

    `feed()` returns what can be shown now; the end of a chunk that could be the start of a
    secret form is held back until the next chunk tells. `flush()` returns what is held (masked)
    when the stream ends or has been quiet for a while; `pending` says whether anything is held.
    Only held text that matches the start of a secret form waits; everything else passes at once.
    """

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self.extra = tuple(extra)
        self._held: str | bytes | None = None

    @property
    def pending(self) -> bool:
        return bool(self._held)

    def feed(self, data: AnyStr) -> AnyStr:
        held: Any = self._held if self._held is not None else data[:0]
        if isinstance(held, bytes) != isinstance(data, bytes):  # a stream that changed type
            held = held.encode() if isinstance(data, bytes) else held.decode("utf-8", "replace")
        text = held + data  # type: ignore[operator]
        matcher = _matcher_for(text, self.extra)
        if matcher is None:
            self._held = None
            return text
        shown, self._held = matcher.split(text, final=False)
        return shown

    def flush(self) -> Any:
        held: Any = self._held
        self._held = None
        if held is None:
            return ""
        return mask_text(held, self.extra) if held else held


# ----------------------------------------------------------------------------- logs

_factory_installed = False


def _mask_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: the handler reports it as usual
        return
    safe = mask_text(message)
    if safe != message:
        record.msg, record.args = safe, None
    if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        safe = mask_text(text)
        if safe != text:
            record.exc_text = safe


def install_log_masking() -> None:
    """Mask known secrets in every log record of this process, for every handler.

    A record factory rather than a handler filter: it also covers handlers added later (Thonny's
    own, pytest's), and records of any library. Installed once, on the first remembered secret.
    """
    global _factory_installed
    with _lock:
        if _factory_installed:
            return
        _factory_installed = True
        previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _known:
            _mask_record(record)
        return record

    logging.setLogRecordFactory(factory)


# ----------------------------------------------------------------------------- input


def read_secret(what: str, stdin: Any = None) -> str:
    """A password given as "-": typed without echo on a terminal, else one line of stdin.

    The value is remembered (masked from now on). Raises UsageError when nothing came.
    """
    from companion_app.errors import UsageError

    stream = stdin if stdin is not None else sys.stdin
    if stream is not None and stream.isatty():
        import getpass

        try:
            value = getpass.getpass(f"{what}: ")
        except EOFError:
            value = ""
    else:
        line = stream.readline() if stream is not None else ""
        value = line.rstrip("\r\n")
    if not value:
        raise UsageError(
            f"{what} was to come from standard input (-), but none came: type it when asked, "
            f"or pipe it in, or set {ENV_WIFI_PASSWORD}"
        )
    remember(value)
    return value
