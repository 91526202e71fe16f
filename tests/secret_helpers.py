"""The Wi-Fi password tests use, and the check that it never shows up anywhere."""

from __future__ import annotations

# Distinctive, so a leak cannot hide behind a common word.
WIFI_PASSWORD = "pw-Zq7!not-for-your-eyes"


def assert_no_secret(*texts: str | bytes | None, secret: str = WIFI_PASSWORD) -> None:
    """Fail if `secret` is in any of `texts` (output, logs, error messages, files sent back)."""
    needle = secret.encode()
    for text in texts:
        if text is None:
            continue
        data = text if isinstance(text, bytes) else str(text).encode("utf-8", "replace")
        assert needle not in data, f"the Wi-Fi password leaked into: {data[:300]!r}"
