"""A question in a small window over the main one, answered exactly once.

Why not tkinter's simpledialog or a wait_window loop: those block the caller until the answer,
and our panels never block the Tk loop (a running deploy still reports, a test presses the
buttons like a person). So a dialog here reports through `on_answer`, once: a button, Escape
and closing the window all end it, and a second answer is ignored. The panels build their own
widgets in `frame`; this class owns the window's life: made hidden, placed over its owner (a
third from the top, as the desktop's own dialogs sit), then grabbing input until it is answered.
"""

from __future__ import annotations

import logging
import tkinter as tk
from tkinter import ttk
from typing import Any, Callable

log = logging.getLogger(__name__)


class ModalQuestion:
    """The window of a non-blocking question; subclasses fill `frame` and call `show()`."""

    def __init__(self, parent: tk.Misc, title: str, on_answer: Callable[[Any], None]) -> None:
        self._on_answer: Callable[[Any], None] | None = on_answer
        self._parent = parent
        top = self.window = tk.Toplevel(parent)
        top.withdraw()  # shown by show(), once it has its size and place
        top.title(title)
        top.transient(parent.winfo_toplevel())
        self.frame = ttk.Frame(top, padding=12)  # the theme's background, also in a dark theme
        self.frame.pack(fill="both", expand=True)

    def show(self, focus: tk.Widget, cancel: Any) -> None:
        """Place the window over its owner, focus `focus`, and take the input. Escape and the
        window's close button answer `cancel`."""
        top = self.window
        top.bind("<Escape>", lambda e: self.finish(cancel))
        top.protocol("WM_DELETE_WINDOW", lambda: self.finish(cancel))
        top.update_idletasks()
        owner = self._parent.winfo_toplevel()
        x = owner.winfo_rootx() + max(0, (owner.winfo_width() - top.winfo_reqwidth()) // 2)
        y = owner.winfo_rooty() + max(0, (owner.winfo_height() - top.winfo_reqheight()) // 3)
        top.geometry(f"+{x}+{y}")
        top.deiconify()
        top.lift()
        focus.focus_set()
        try:
            top.grab_set()  # the window waits for the answer
        except tk.TclError:  # another grab, or not viewable yet: the dialog still works
            log.debug("no grab for the dialog %r", top.title(), exc_info=True)

    def finish(self, answer: Any) -> None:
        """Close the window and report `answer`, once."""
        callback, self._on_answer = self._on_answer, None
        try:
            self.window.grab_release()
            self.window.destroy()
        except tk.TclError:
            pass
        if callback is not None:
            callback(answer)
