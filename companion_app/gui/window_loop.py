"""A command's own window (`iotkit plot`, `iotkit class dashboard`) runs until it is closed,
its --duration has passed, or Ctrl-C is pressed in the terminal that started it.

Ctrl-C is the part that needs care. Python's SIGINT handler raises KeyboardInterrupt inside
whatever Python code runs; inside a Tk callback (a frame being drawn) Tkinter reports it and
carries on, so the window would stay open and print a traceback. Here SIGINT raises
`Interrupted`, a SystemExit, which Tkinter lets through, so `mainloop()` ends at once, even
in the middle of a slow frame. Errors a callback reports after that are side effects of
closing and are logged, not printed.

Raised inside C code that calls back into Python, the exception can be lost: matplotlib's
C++ drawing turns it into a ValueError of its own, which its callback registry prints and
swallows. So the handler also sets a flag that a timer checks every `POLL_MS`: the window
closes then, whatever happened to the exception.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any, Callable

from companion_app.errors import EXIT_INTERRUPTED

log = logging.getLogger(__name__)

POLL_MS = 100


class Interrupted(SystemExit):
    """Ctrl-C while the window runs (see the module's text)."""

    def __init__(self) -> None:
        super().__init__(EXIT_INTERRUPTED)


def run_window(
    root: Any,
    panel: Any,
    duration_s: float | None = None,
    *,
    at_ctrl_c: Callable[[], None] | None = None,
    before_close: Callable[[], None] | None = None,
) -> bool:
    """Run Tk's main loop for `panel` in `root`; True when Ctrl-C ended it.

    `at_ctrl_c` runs in the signal handler, before the loop is left (it should stop drawing,
    quickly); `before_close` runs after Ctrl-C left the loop, before the window is destroyed.
    """
    import tkinter as tk

    closing = threading.Event()
    report = root.report_callback_exception

    def report_unless_closing(*exc_info: Any) -> None:
        # Ctrl-C raises inside whatever Python code runs. When that is a Tcl command of ours
        # nested in a Tcl call (matplotlib's blit, while a frame is drawn), Tcl turns it into a
        # TclError of the frame's callback: a side effect of closing, not a failure to show.
        if closing.is_set():
            log.debug("while closing after Ctrl-C", exc_info=exc_info)
            return
        report(*exc_info)

    root.report_callback_exception = report_unless_closing

    def close() -> None:
        try:
            panel.destroy()
        finally:
            root.destroy()

    def interrupted(signum: int, frame: Any) -> None:
        closing.set()
        if at_ctrl_c is not None:
            at_ctrl_c()
        raise Interrupted()

    def poll() -> None:
        if closing.is_set():
            raise Interrupted()  # from a plain timer callback: Tkinter lets it end the loop
        root.after(POLL_MS, poll)

    root.protocol("WM_DELETE_WINDOW", close)
    if duration_s is not None:
        root.after(int(duration_s * 1000), close)
    root.after(POLL_MS, poll)
    previous = None
    if threading.current_thread() is threading.main_thread():  # only there can it be caught
        previous = signal.signal(signal.SIGINT, interrupted)
    try:
        root.mainloop()
    except (KeyboardInterrupt, Interrupted):
        if previous is not None:
            signal.signal(signal.SIGINT, previous)  # a second Ctrl-C while closing: the default
            previous = None
        closing.set()
        if before_close is not None:
            before_close()
        try:
            close()
        except tk.TclError:
            pass  # already destroyed
        return True
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return False
