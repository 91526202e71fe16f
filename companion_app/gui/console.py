"""The Console panel: the board's own friendly REPL, shown in a Text widget like a tiny terminal.

Design choice: keys go to the board as they are typed, and the widget shows only what the board
sends back. A real MicroPython REPL echoes every byte, auto-indents after a colon, completes on
Tab and keeps its own history on the arrow keys; a host-side line editor would fight all of that
(doubled indentation, lost completions). So this is a terminal, not an editor:

- `TerminalParser` turns the byte stream into drawing operations. It decodes UTF-8 with
  ``errors="replace"`` (a board printing garbage at the wrong baud rate must not crash us) and
  understands the few VT100 sequences MicroPython's readline emits (``ESC[K``, ``ESC[nD``,
  ``ESC[nC``, backspace moves); other sequences, such as colours, are dropped.
- `TerminalView` applies those operations to a `tk.Text`, keeping a cursor mark.
- `ConsolePanel` adds the key bindings, the Interrupt/Soft reset buttons and safe paste: text
  with several lines goes through the REPL's paste mode (Ctrl-E … Ctrl-D), so auto-indent cannot
  double the indentation of a pasted function.
- Known secrets (companion_app/secrets.py: the Wi-Fi password of a deploy, IOTKIT_WIFI_PASSWORD)
  are masked as "***" in every form before the bytes reach the parser. A chunk that ends with
  what could be the start of a secret is held back until the next chunk, or until the board has
  been quiet for HOLD_MS; everything else shows at once, so typing stays instant.
"""

from __future__ import annotations

import codecs
import logging
import time
import tkinter as tk
from tkinter import font as tkfont
from tkinter import ttk
from typing import Any, Callable, Iterable, Protocol

from companion_app.gui.look import ZOOM_KEYS, WrapLabel, on_look_change, palette, readable, zoom
from companion_app.secrets import StreamMasker, mask_text

log = logging.getLogger(__name__)

CTRL_C = b"\x03"
CTRL_D = b"\x04"
CTRL_E = b"\x05"

# Keys that are not characters, as the byte sequences a VT100 terminal (and so MicroPython's
# readline) expects.
SPECIAL_KEYS: dict[str, bytes] = {
    "Return": b"\r",
    "KP_Enter": b"\r",
    "BackSpace": b"\x7f",
    "Tab": b"\t",
    "Up": b"\x1b[A",
    "Down": b"\x1b[B",
    "Right": b"\x1b[C",
    "Left": b"\x1b[D",
    "Home": b"\x1b[H",
    "End": b"\x1b[F",
    "Delete": b"\x1b[3~",
    "Escape": b"\x1b",
}

MAX_LINES = 5000  # older lines are dropped so an endless print loop cannot eat all memory
TAB_WIDTH = 8
HOLD_MS = 150  # a held-back possible start of a secret shows after this long of quiet
#: The console is a dark terminal in every theme; our own lines get colours readable on it.
TEXT_BACKGROUND = "#1e1e1e"
NOTICE_COLOUR = "#ffb454"
ERROR_COLOUR = "#ff6b6b"
#: The next step once a board is connected (issue 15, item 9: a path through the tabs).
NEXT_STEP = "Next: put a program on the board →"
NEXT_STEP_NO_TABS = "Next: put a program on the board with IoT Deploy."
NEXT_PANEL = "Deploy"


class TerminalParser:
    """Bytes from the board in, drawing operations out; keeps state across chunk boundaries.

    Operations are tuples: ``("text", str)``, ``("cr",)``, ``("lf",)``, ``("left", n)``,
    ``("right", n)``, ``("up", n)``, ``("down", n)``, ``("column", n)`` (0-based),
    ``("erase_line", mode)`` and ``("erase_below",)``.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._state = "text"  # text | esc | csi | osc
        self._params = ""

    def feed(self, data: bytes) -> list[tuple]:
        ops: list[tuple] = []
        run: list[str] = []

        def flush() -> None:
            if run:
                ops.append(("text", "".join(run)))
                run.clear()

        for ch in self._decoder.decode(data):
            state = self._state
            if state == "text":
                if ch >= " " and ch != "\x7f":
                    run.append(ch)
                    continue
                flush()
                if ch == "\x1b":
                    self._state = "esc"
                elif ch == "\r":
                    ops.append(("cr",))
                elif ch == "\n":
                    ops.append(("lf",))
                elif ch == "\b":
                    ops.append(("left", 1))
                elif ch == "\t":
                    ops.append(("tab",))
                # other control characters (bell, NUL, DEL, ...) are dropped
            elif state == "esc":
                if ch == "[":
                    self._state, self._params = "csi", ""
                elif ch == "]":
                    self._state = "osc"
                else:
                    self._state = "text"  # two-character sequence, e.g. ESC 7: ignored
            elif state == "csi":
                if "\x40" <= ch <= "\x7e":
                    self._state = "text"
                    op = self._csi(ch, self._params)
                    if op is not None:
                        ops.append(op)
                elif len(self._params) < 32:
                    self._params += ch
                else:  # a runaway sequence: give up on it rather than swallow output
                    self._state = "text"
            elif state == "osc":
                if ch == "\x07" or ch == "\x1b":
                    self._state = "text"
        flush()
        return ops

    @staticmethod
    def _csi(final: str, params: str) -> tuple | None:
        nums = [int(p) if p.isdigit() else 0 for p in params.lstrip("?").split(";")]
        n = nums[0] if nums and nums[0] > 0 else 1
        mode = nums[0] if nums else 0
        if final == "K":
            return ("erase_line", mode)
        if final == "D":
            return ("left", n)
        if final == "C":
            return ("right", n)
        if final == "A":
            return ("up", n)
        if final == "B":
            return ("down", n)
        if final == "G":
            return ("column", n - 1)
        if final == "J" and mode == 0:
            return ("erase_below",)
        return None  # colours (m), clear screen (2J: keep the user's history), modes, ...


class TerminalView:
    """Draws parser operations into a `tk.Text`, overwriting at a cursor mark like a terminal."""

    CURSOR = "iotkit_term"

    def __init__(self, text: tk.Text, max_lines: int = MAX_LINES) -> None:
        self.text = text
        self.max_lines = max_lines
        text.mark_set(self.CURSOR, "end-1c")
        text.mark_gravity(self.CURSOR, "right")

    def _col(self) -> int:
        return int(self.text.index(self.CURSOR).split(".")[1])

    def _line(self) -> int:
        return int(self.text.index(self.CURSOR).split(".")[0])

    def _last_line(self) -> int:
        return int(self.text.index("end-1c").split(".")[0])

    def _line_len(self, line: int) -> int:
        return int(self.text.index(f"{line}.0 lineend").split(".")[1])

    def _goto(self, line: int, col: int) -> None:
        """Move the cursor, padding with spaces where the line is shorter (as a screen would)."""
        text = self.text
        last = self._last_line()
        if line > last:
            text.insert("end-1c", "\n" * (line - last))
        length = self._line_len(line)
        if col > length:
            text.insert(f"{line}.{length}", " " * (col - length))
        text.mark_set(self.CURSOR, f"{line}.{col}")

    def write_text(self, s: str, tags: Iterable[str] = ()) -> None:
        text = self.text
        cur = self.CURSOR
        remaining = self._line_len(self._line()) - self._col()
        if remaining > 0:
            text.delete(cur, f"{cur} + {min(len(s), remaining)} chars")
        text.insert(cur, s, tuple(tags))

    def apply(self, ops: Iterable[tuple]) -> None:
        text = self.text
        cur = self.CURSOR
        at_bottom = text.yview()[1] >= 0.999
        for op in ops:
            kind = op[0]
            if kind == "text":
                self.write_text(op[1])
            elif kind == "cr":
                text.mark_set(cur, f"{cur} linestart")
            elif kind == "lf":
                line = self._line()
                if line >= self._last_line():
                    text.insert("end-1c", "\n")
                text.mark_set(cur, f"{line + 1}.0")
            elif kind == "left":
                text.mark_set(cur, f"{self._line()}.{max(0, self._col() - op[1])}")
            elif kind == "right":
                self._goto(self._line(), self._col() + op[1])
            elif kind == "column":
                self._goto(self._line(), op[1])
            elif kind == "up":
                self._goto(max(1, self._line() - op[1]), self._col())
            elif kind == "down":
                self._goto(self._line() + op[1], self._col())
            elif kind == "tab":
                self.write_text(" " * (TAB_WIDTH - self._col() % TAB_WIDTH))
            elif kind == "erase_line":
                line, col = self._line(), self._col()
                if op[1] == 0:
                    text.delete(cur, f"{cur} lineend")
                elif op[1] == 1:
                    text.delete(f"{line}.0", cur)
                    text.insert(f"{line}.0", " " * col)
                    text.mark_set(cur, f"{line}.{col}")
                else:
                    text.delete(f"{line}.0", f"{line}.0 lineend")
                    self._goto(line, col)
            elif kind == "erase_below":
                text.delete(cur, "end-1c")
        self._trim()
        text.mark_set("insert", cur)
        if at_bottom:
            text.see(cur)

    def notice(self, message: str, tag: str = "notice") -> None:
        """Put a message of ours (not the board's) on its own line at the end, in its colour."""
        text = self.text
        if text.index("end-1c linestart") != text.index("end-1c"):
            text.insert("end-1c", "\n")
        text.insert("end-1c", message + "\n", (tag,))
        text.mark_set(self.CURSOR, "end-1c")
        text.mark_set("insert", self.CURSOR)
        text.see(self.CURSOR)
        self._trim()

    def _trim(self) -> None:
        excess = self._last_line() - self.max_lines
        if excess > 0:
            self.text.delete("1.0", f"{excess + 1}.0")

    def clear(self) -> None:
        self.text.delete("1.0", "end")
        self.text.mark_set(self.CURSOR, "end-1c")


class ConsoleConnection(Protocol):
    """What the Console needs from the app's connection (see `app.DeviceConnection`)."""

    @property
    def is_connected(self) -> bool: ...

    def write(self, data: bytes) -> None: ...

    def add_listener(self, callback: Callable[[str, Any], None]) -> None: ...

    def reconnect(self) -> None: ...


def paste_bytes(text: str) -> bytes:
    """Encode pasted text the way a REPL receives it safely.

    One line is sent as if typed. Several lines go through paste mode: in normal mode the REPL
    auto-indents after every ``:`` line and the pasted indentation would come on top of it.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    body = text[:-1] if text.endswith("\n") else text
    if "\n" not in body:
        return text.replace("\n", "\r").encode("utf-8")
    return CTRL_E + body.replace("\n", "\r").encode("utf-8") + b"\r" + CTRL_D


class ConsolePanel(ttk.Frame):
    """The REPL of the connected board, typed into directly."""

    def __init__(
        self,
        master: tk.Misc,
        connection: ConsoleConnection,
        show_panel: Callable[[str], object] | None = None,
    ) -> None:
        """`show_panel(title)` brings another tab to the front (the window's
        `PanelContext.show_panel`); without it the next-step line is words only."""
        super().__init__(master)
        self.connection = connection
        self._show_panel = show_panel
        self.parser = TerminalParser()
        self.masker = StreamMasker()
        self._last_data = 0.0
        self._flush_id: str | None = None

        bar = ttk.Frame(self)
        bar.pack(side="top", fill="x", padx=4, pady=(4, 2))
        self._bar = bar
        self.interrupt_button = ttk.Button(
            bar, text="Interrupt (Ctrl-C)", command=lambda: self._send(CTRL_C)
        )
        self.interrupt_button.pack(side="left")
        self.reset_button = ttk.Button(
            bar, text="Soft reset (Ctrl-D)", command=lambda: self._send(CTRL_D)
        )
        self.reset_button.pack(side="left", padx=(4, 0))
        self.clear_button = ttk.Button(bar, text="Clear", command=self.clear)
        self.clear_button.pack(side="left", padx=(4, 0))
        WrapLabel(
            bar, text="Type at the >>> prompt. Paste with Ctrl-V, copy with Ctrl-Shift-C."
        ).pack(side="left", padx=(12, 0), fill="x", expand=True)

        # Shown once connected: one quiet line that points to the next tab.
        self.next_row = ttk.Frame(self)
        self.next_button: ttk.Button | None = None
        if show_panel is not None:
            self.next_button = ttk.Button(
                self.next_row, text=NEXT_PANEL, command=lambda: show_panel(NEXT_PANEL)
            )
            self.next_label = ttk.Label(self.next_row, text=NEXT_STEP)
            self.next_label.pack(side="left")
            self.next_button.pack(side="left", padx=(6, 0))
        else:
            self.next_label = WrapLabel(self.next_row, text=NEXT_STEP_NO_TABS)
            self.next_label.pack(side="left", fill="x", expand=True)

        # Shown when the board goes away; the console text above it is kept.
        self.banner = ttk.Frame(self)
        self.reconnect_button = ttk.Button(self.banner, text="Reconnect", command=self._reconnect)
        self.reconnect_button.pack(side="right", padx=4)
        self.banner_label = WrapLabel(self.banner)
        self.banner_label.pack(side="left", padx=4, fill="x", expand=True)

        body = ttk.Frame(self)
        body.pack(side="top", fill="both", expand=True, padx=4, pady=(2, 4))
        mono = tkfont.nametofont("TkFixedFont").copy()
        self._mono = mono
        self._size_mono()
        on_look_change(self, self._size_mono)
        self.text = tk.Text(
            body,
            wrap="char",
            font=mono,
            background=TEXT_BACKGROUND,
            foreground="#e8e8e8",
            insertbackground="#ffcc00",
            insertwidth=2,
            selectbackground="#3a5f8f",
            inactiveselectbackground="#3a5f8f",
            undo=False,
            width=80,
            height=24,
            borderwidth=0,
            highlightthickness=1,
            padx=6,
            pady=4,
        )
        scroll = ttk.Scrollbar(body, orient="vertical", command=self.text.yview)
        self.text.configure(yscrollcommand=scroll.set)
        scroll.pack(side="right", fill="y")
        self.text.pack(side="left", fill="both", expand=True)
        self.view = TerminalView(self.text)
        self._colour()
        on_look_change(self, self._colour)
        self._bind_keys()
        connection.add_listener(self._on_connection_event)
        if connection.is_connected:
            self._show_next_step()

    def _colour(self) -> None:
        """Our own lines and the banner in colours with 4.5:1 contrast on what is behind them:
        the dark console text, and the theme's background (light, or Thonny's dark)."""
        self.text.tag_configure("notice", foreground=readable(self, NOTICE_COLOUR, TEXT_BACKGROUND))
        self.text.tag_configure("error", foreground=readable(self, ERROR_COLOUR, TEXT_BACKGROUND))
        pal = palette(self)
        self.banner_label.configure(foreground=pal.error)
        self.next_label.configure(foreground=pal.muted)

    def _size_mono(self) -> None:
        """The console's text: at least 11 pt at zoom 1, and growing with the zoom."""
        fixed = abs(int(tkfont.nametofont("TkFixedFont", root=self).cget("size")))
        self._mono.configure(size=max(round(11 * zoom(self)), fixed))

    # --- input ------------------------------------------------------------------------------
    def _bind_keys(self) -> None:
        t = self.text
        t.bind("<KeyPress>", self._on_key)
        for seq in ("<Control-Shift-C>", "<Control-Shift-c>"):
            t.bind(seq, self._copy)
        # Tk turns Ctrl-C into <<Copy>> before our <KeyPress> binding sees it.
        t.bind("<<Copy>>", self._on_copy_event)
        for seq in ("<Control-v>", "<Control-V>", "<Control-Shift-V>", "<<Paste>>"):
            t.bind(seq, self._paste_clipboard)
        t.bind("<<PasteSelection>>", self._paste_selection)
        for seq in ("<<Cut>>", "<<Clear>>", "<<Undo>>", "<<Redo>>"):
            t.bind(seq, lambda e: "break")
        t.bind("<Button-1>", lambda e: t.focus_set())

    def _on_key(self, event: tk.Event) -> str:
        keysym = event.keysym
        ctrl = isinstance(event.state, int) and bool(event.state & 0x4)
        if ctrl and keysym in ("c", "C") and self.text.tag_ranges("sel"):
            return self._copy(event)  # Ctrl-C with a selection copies, as in Thonny's shell
        if ctrl and keysym in ZOOM_KEYS:
            # The window's zoom keys: the toplevel's bindings never see a key the console
            # breaks, so hand it over as the window's virtual event.
            self.winfo_toplevel().event_generate(ZOOM_KEYS[keysym])
            return "break"
        data = SPECIAL_KEYS.get(keysym)
        if data is None:
            ch = event.char
            if not ch:
                return "break"  # Shift, Ctrl and other keys with no character
            data = ch.encode("utf-8")
        self._send(data)
        return "break"

    def _on_copy_event(self, event: tk.Event) -> str:
        """Ctrl-C copies when text is selected and interrupts the board otherwise."""
        if self.text.tag_ranges("sel"):
            return self._copy(event)
        if getattr(event, "keysym", "") in ("c", "C"):
            self._send(CTRL_C)
        return "break"

    def _send(self, data: bytes) -> None:
        if not self.connection.is_connected:
            self.banner_label.configure(text="Not connected: press Connect (or Reconnect) first.")
            self._show_banner()
            self.text.bell()
            return
        self.connection.write(data)

    def _copy(self, event: tk.Event | None = None) -> str:
        try:
            selected = self.text.get("sel.first", "sel.last")
        except tk.TclError:
            return "break"
        self.clipboard_clear()
        self.clipboard_append(selected)
        return "break"

    def _paste_clipboard(self, event: tk.Event | None = None) -> str:
        try:
            self.paste(self.clipboard_get())
        except tk.TclError:
            pass  # empty clipboard, or not text
        return "break"

    def _paste_selection(self, event: tk.Event | None = None) -> str:
        try:
            self.paste(self.selection_get(selection="PRIMARY"))
        except tk.TclError:
            pass
        return "break"

    def paste(self, text: str) -> None:
        """Send text as if pasted by the user (see `paste_bytes` for why paste mode is used)."""
        if text:
            self._send(paste_bytes(text))

    def clear(self) -> None:
        self.view.clear()
        self.text.focus_set()

    def _reconnect(self) -> None:
        self._hide_banner()
        self.connection.reconnect()

    # --- output -----------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Show bytes from the board; safe with any bytes and with sequences split anywhere.

        Known secrets are masked, also when split across chunks (see the module docstring)."""
        shown = self.masker.feed(bytes(data))
        if shown:
            self.view.apply(self.parser.feed(shown))
        self._last_data = time.monotonic()
        if self.masker.pending and self._flush_id is None:
            self._flush_id = self.after(HOLD_MS, self._flush_held)

    def _flush_held(self) -> None:
        """Show what the masker held back once the board has been quiet for HOLD_MS."""
        self._flush_id = None
        quiet_ms = (time.monotonic() - self._last_data) * 1000
        if quiet_ms < HOLD_MS and self.masker.pending:
            self._flush_id = self.after(int(HOLD_MS - quiet_ms) + 1, self._flush_held)
            return
        rest = self.masker.flush()
        if rest:
            self.view.apply(self.parser.feed(rest))

    def _flush_held_now(self) -> None:
        rest = self.masker.flush()
        if rest:
            self.view.apply(self.parser.feed(rest))

    def _on_connection_event(self, event: str, payload: Any) -> None:
        if event == "data":
            self.feed(payload)
        elif event == "connected":
            self._hide_banner()
            self._show_next_step()
            self.view.notice(f"Connected to {payload}. Press Enter for a >>> prompt.")
            self.text.focus_set()
        elif event == "disconnected" and payload:
            self._hide_next_step()
            self._flush_held_now()
            self.view.notice(f"Disconnected: {mask_text(str(payload))}", "error")
            self.banner_label.configure(
                text="The board was disconnected. Your console text is kept; "
                "press Reconnect when the board is back."
            )
            self.reconnect_button.configure(text="Reconnect")
            self._show_banner()
        elif event == "disconnected":
            self._hide_next_step()
            self.view.notice("Disconnected.")
        elif event == "error":
            self._hide_next_step()
            self.view.notice(mask_text(str(payload)), "error")  # may quote board output
            self.banner_label.configure(
                text="Could not connect: the reason is shown below. Fix it, then try again."
            )
            self.reconnect_button.configure(text="Try again")
            self._show_banner()

    def _show_next_step(self) -> None:
        if not self.next_row.winfo_manager():
            self.next_row.pack(side="top", fill="x", padx=6, pady=(0, 2), after=self._bar)

    def _hide_next_step(self) -> None:
        self.next_row.pack_forget()

    def _show_banner(self) -> None:
        if not self.banner.winfo_ismapped():
            self.banner.pack(side="top", fill="x", padx=4, pady=2, after=self.winfo_children()[0])

    def _hide_banner(self) -> None:
        self.banner.pack_forget()

    def destroy(self) -> None:
        if self._flush_id is not None:
            try:
                self.after_cancel(self._flush_id)
            except tk.TclError:
                pass
            self._flush_id = None
        super().destroy()

    def text_content(self) -> str:
        """Everything the console shows, for tests and for "save console" features."""
        return self.text.get("1.0", "end-1c")
