"""The "IoT Kit" page of Tools → Options: default board, firmware cache folder, baud rate.

Thonny's page helpers bind the workbench's option variables directly, so an edit would apply
even on Cancel. This page keeps its own variables and writes the options in `apply()` (OK),
then tells the built panels (through `state.plugin_state()`, which imports nothing back).
"""

from __future__ import annotations

import logging
import tkinter as tk
from tkinter import filedialog, ttk
from typing import Any

from thonny import get_workbench
from thonny.config_ui import ConfigurationPage

from companion_app.boards import DEFAULT_BOARD
from companion_app.gui.boardpick import board_id_of
from thonnycontrib.iotkit.state import plugin_state

log = logging.getLogger(__name__)

BAUD_CHOICES = ("115200", "230400", "460800", "921600", "57600", "9600")


def _board_choices() -> list[str]:
    from companion_app.boards import list_boards
    from companion_app.gui.boardpick import board_label

    return [board_label(b) for b in list_boards()]


class IotkitConfigPage(ConfigurationPage):
    def __init__(self, master: tk.Misc) -> None:
        super().__init__(master)
        from companion_app.gui.look import palette

        # The theme's colours, readable in Thonny's light and dark themes alike.
        pal = palette(self)
        wb = get_workbench()
        self.columnconfigure(1, weight=1)

        ttk.Label(self, text="Default board:").grid(row=0, column=0, sticky="w", pady=(0, 4))
        try:
            choices = _board_choices()
        except Exception:  # noqa: BLE001 - the page must open anyway
            log.exception("listing boards failed")
            choices = []
        board = str(wb.get_option("iotkit.board") or "")
        current = next((c for c in choices if board_id_of(c) == board), board)
        self.board_var = tk.StringVar(value=current)
        self.board_combo = ttk.Combobox(
            self, textvariable=self.board_var, values=choices, state="readonly", width=44
        )
        self.board_combo.grid(row=0, column=1, columnspan=2, sticky="w", pady=(0, 4))
        ttk.Label(
            self,
            text="Used by Check wiring of this script, the IoT Deploy form and the virtual board.",
            foreground=pal.muted,
        ).grid(row=1, column=0, columnspan=3, sticky="w", pady=(0, 10))

        ttk.Label(self, text="Firmware cache folder:").grid(row=2, column=0, sticky="w")
        self.cache_var = tk.StringVar(value=str(wb.get_option("iotkit.firmware_cache") or ""))
        self.cache_entry = ttk.Entry(self, textvariable=self.cache_var, width=40)
        self.cache_entry.grid(row=2, column=1, sticky="we", padx=(0, 4))
        ttk.Button(self, text="Browse…", command=self._browse).grid(row=2, column=2, sticky="w")
        ttk.Label(
            self,
            text="Empty: your own cache folder (or $IOTKIT_FIRMWARE_CACHE). A lab can point "
            "every PC at one shared folder.",
            foreground=pal.muted,
            wraplength=600,
            justify="left",
        ).grid(row=3, column=0, columnspan=3, sticky="w", pady=(0, 10))

        ttk.Label(self, text="Baud rate:").grid(row=4, column=0, sticky="w")
        self.baud_var = tk.StringVar(value=str(wb.get_option("iotkit.baud") or "115200"))
        self.baud_combo = ttk.Combobox(
            self, textvariable=self.baud_var, values=BAUD_CHOICES, width=10
        )
        self.baud_combo.grid(row=4, column=1, sticky="w")
        ttk.Label(
            self,
            text="The board's REPL speed when IoT Kit opens the port itself (MicroPython: "
            "115200).",
            foreground=pal.muted,
            wraplength=600,
            justify="left",
        ).grid(row=5, column=0, columnspan=3, sticky="w")
        self.error_var = tk.StringVar()
        ttk.Label(self, textvariable=self.error_var, foreground=pal.error).grid(
            row=6, column=0, columnspan=3, sticky="w", pady=(8, 0)
        )

    def _browse(self) -> None:
        folder = filedialog.askdirectory(
            parent=self, title="Firmware cache folder", initialdir=self.cache_var.get() or None
        )
        if folder:
            self.cache_var.set(folder)

    def values(self) -> dict[str, Any]:
        """The options as the page would write them; ValueError says what is wrong."""
        board = board_id_of(self.board_var.get())
        try:
            baud = int(self.baud_var.get().strip())
        except ValueError:
            raise ValueError("The baud rate must be a number, such as 115200.") from None
        if baud <= 0:
            raise ValueError("The baud rate must be a positive number, such as 115200.")
        return {
            "iotkit.board": board or DEFAULT_BOARD,
            "iotkit.firmware_cache": self.cache_var.get().strip(),
            "iotkit.baud": baud,
        }

    def apply(self) -> Any:
        try:
            values = self.values()
        except ValueError as exc:
            self.error_var.set(str(exc))
            return False  # keeps the dialog open
        wb = get_workbench()
        for name, value in values.items():
            wb.set_option(name, value)
        try:
            state = plugin_state()
            if state is not None:
                state.options_changed()
        except Exception:  # noqa: BLE001
            log.exception("applying the IoT Kit options to the views failed")
        return None
