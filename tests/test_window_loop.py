"""The runner of a command's own window (companion_app/gui/window_loop.py): Ctrl-C closes it
at once, even when the exception it raises is swallowed by the code it lands in."""

from __future__ import annotations

import os
import signal
import time
import tkinter as tk
from tkinter import ttk

import pytest
from gui_helpers import require_display

from companion_app.gui import window_loop

pytestmark = pytest.mark.skipif(os.name == "nt", reason="sends itself SIGINT with os.kill")


def _window() -> tuple[tk.Tk, ttk.Frame]:
    require_display()
    root = tk.Tk()
    panel = ttk.Frame(root)
    panel.pack()
    return root, panel


def test_a_ctrl_c_that_code_swallows_still_closes_the_window_at_once():
    """As inside matplotlib's C++ drawing: the exception the SIGINT handler raises is caught
    there and turned into something else, and the window must close all the same."""
    root, panel = _window()
    seen: list[str] = []
    sent: list[float] = []

    def frame_that_swallows_errors() -> None:
        try:
            sent.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)  # the handler runs in here, and its exception goes no further
        except BaseException as exc:  # noqa: BLE001 - what the C code does with it
            seen.append(type(exc).__name__)

    root.after(100, frame_that_swallows_errors)
    interrupted = window_loop.run_window(
        root, panel, duration_s=10, at_ctrl_c=lambda: seen.append("at_ctrl_c")
    )
    took = time.monotonic() - sent[0]
    assert interrupted
    assert seen == ["at_ctrl_c", "Interrupted"]
    assert took < 1.0, f"closed {took:.2f} s after Ctrl-C"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(tk.TclError):
        root.winfo_exists()  # destroyed


def test_the_window_ends_by_its_duration_with_sigint_as_before():
    root, panel = _window()
    before = signal.getsignal(signal.SIGINT)
    started = time.monotonic()
    assert window_loop.run_window(root, panel, duration_s=0.3) is False
    assert 0.3 <= time.monotonic() - started < 5
    assert signal.getsignal(signal.SIGINT) is before
