"""Helpers for GUI tests under Xvfb: pump Tk without mainloop, type with real key events, grab
screenshots of a window.

Tests drive Tk by calling ``root.update()`` in a loop with a deadline instead of ``mainloop()``,
so a hang becomes a clear assertion failure rather than a stuck test run.
"""

from __future__ import annotations

import os
import threading
import tkinter as tk
from pathlib import Path
from typing import Callable

from waiting import wait_until_tk

REPO = Path(__file__).resolve().parent.parent
# The Windows-like pass (tests/windows_like/sitecustomize.py) runs beside the normal one in
# `make test`: its screenshots go to a folder of their own, so neither overwrites the other's.
ARTIFACTS = (
    REPO / "tests" / "artifacts" / ("windows-like" if os.environ.get("IOTKIT_WINDOWS_LIKE") else "")
)
DOC_IMAGES = REPO / "docs" / "images"

# Characters whose X keysym is not the character itself.
_KEYSYMS = {
    " ": "space",
    "(": "parenleft",
    ")": "parenright",
    "*": "asterisk",
    "+": "plus",
    "-": "minus",
    "=": "equal",
    ",": "comma",
    ".": "period",
    ":": "colon",
    ";": "semicolon",
    "'": "apostrophe",
    '"': "quotedbl",
    "_": "underscore",
    "[": "bracketleft",
    "]": "bracketright",
    "{": "braceleft",
    "}": "braceright",
    "<": "less",
    ">": "greater",
    "/": "slash",
    "\\": "backslash",
    "#": "numbersign",
    "!": "exclam",
    "?": "question",
    "%": "percent",
    "\n": "Return",
    "\t": "Tab",
}


def require_display() -> None:
    """Skip (never fail) GUI tests where there is no X display at all."""
    import pytest

    if not os.environ.get("DISPLAY"):
        pytest.skip("no display")


def pump(root: tk.Misc, until: Callable[[], object], timeout: float = 5.0) -> bool:
    """Run the Tk event loop until `until()` is true or `timeout` passes; returns `until()`.

    `until` is required: running the loop for a fixed time is a sleep in disguise, too short
    under load and wasted when fast. To show that something did NOT happen, wait for a later
    event instead (`wait_posted`).
    """
    try:
        return bool(wait_until_tk(root, until, timeout, "a GUI condition"))
    except AssertionError:
        return False


def wait_posted(root: tk.Misc, timeout: float = 5.0) -> None:
    """Post a marker through the window's one callback queue and wait until it has run.

    Why: a test that asserts something did NOT happen needs proof that the window had its
    turn, not a guess at how long that takes. By the time the marker runs, Tk has handled
    every event, idle task and posted callback that was queued before it.
    """
    from companion_app.gui.jobs import TkCalls

    ran: list[bool] = []
    TkCalls.of(root).post(ran.append, True)
    wait_until_tk(root, lambda: ran, timeout, "a marker posted to the Tk thread")


def type_text(widget: tk.Widget, text: str) -> None:
    """Type `text` into `widget` as X key events, one KeyPress/KeyRelease per character."""
    widget.focus_force()
    widget.update()
    for ch in text:
        keysym = _KEYSYMS.get(ch, ch)
        widget.event_generate("<KeyPress>", keysym=keysym, when="tail")
        widget.event_generate("<KeyRelease>", keysym=keysym, when="tail")
        widget.update()


def press_key(widget: tk.Widget, keysym: str, state: int = 0) -> None:
    widget.focus_force()
    widget.update()
    widget.event_generate("<KeyPress>", keysym=keysym, state=state, when="tail")
    widget.update()


def grab_window(root: tk.Tk, name: str, also_docs: bool = False):
    """Screenshot `root` from the X server (what a person would see) and save it as PNG.

    Saved to tests/artifacts/NAME.png; with IOTKIT_UPDATE_SCREENSHOTS=1 and `also_docs`, also to
    docs/images/NAME.png, which the user docs show.
    """
    from PIL import ImageGrab

    root.update_idletasks()
    root.update()
    x, y = root.winfo_rootx(), root.winfo_rooty()
    w, h = root.winfo_width(), root.winfo_height()
    image = ImageGrab.grab(bbox=(x, y, x + w, y + h), xdisplay=os.environ["DISPLAY"])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    image.save(ARTIFACTS / f"{name}.png")
    if also_docs and os.environ.get("IOTKIT_UPDATE_SCREENSHOTS") == "1":
        DOC_IMAGES.mkdir(parents=True, exist_ok=True)
        image.save(DOC_IMAGES / f"{name}.png")
    return image


def distinct_colours(image) -> int:
    colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    return len(colours) if colours is not None else 1 << 20


class ThreadCheckingTk:
    """Stands in for the Tcl interpreter object; records any use from a non-main thread.

    Set as ``root.tk`` before any widget is made (every widget copies it), then assert that
    ``offenders`` is empty: Tk must only ever be called from the Tk thread."""

    def __init__(self, real: object) -> None:
        self._real = real
        self.offenders: list[tuple[str, str]] = []

    def __getattr__(self, name: str):
        if threading.current_thread() is not threading.main_thread():
            self.offenders.append((threading.current_thread().name, name))
        return getattr(self._real, name)
