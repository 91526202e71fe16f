"""The Wi-Fi passwords tests use, and the check that they never show up anywhere, in any form."""

from __future__ import annotations

import json
from collections.abc import Iterable

# Distinctive, so a leak cannot hide behind a common word.
WIFI_PASSWORD = "pw-Zq7!not-for-your-eyes"
# A quote of each kind, a backslash, a non-ASCII letter and one beyond the BMP: every escaping
# (JSON with and without ensure_ascii, CPython's and MicroPython's repr) changes how it prints.
TRICKY_PASSWORD = "Tr1\"ck\\y-\u20ac'pw\U0001f600-Zq8"


def printed_forms(secret: str) -> set[str]:
    """How CPython prints `secret` (computed with the real functions, not the masker's code):
    as is, json.dumps with and without ensure_ascii, repr, ascii (= MicroPython's repr),
    repr of its UTF-8 bytes. What MicroPython prints is checked on the real interpreter."""
    return {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
        ascii(secret)[1:-1],
        repr(secret.encode("utf-8"))[2:-1],
    }


def assert_no_secret(
    *texts: str | bytes | None,
    secret: str | Iterable[str] = (WIFI_PASSWORD, TRICKY_PASSWORD),
) -> None:
    """Fail if `secret`, in any printed form, is in any of `texts` (output, logs, errors…)."""
    secrets = [secret] if isinstance(secret, str) else list(secret)
    needles = {form.encode("utf-8") for s in secrets for form in printed_forms(s)}
    for text in texts:
        if text is None:
            continue
        data = text if isinstance(text, bytes) else str(text).encode("utf-8", "replace")
        for needle in needles:
            assert needle not in data, f"a Wi-Fi password leaked into: {data[:300]!r}"
