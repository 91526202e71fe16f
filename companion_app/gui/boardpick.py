"""The board picker the Wiring and Deploy panels (and Thonny's options page) share.

A board is shown by the name a person knows first and our id second, "ESP32 DevKit V1 (DOIT) —
esp32-devkit-v1" (the id is what `iotkit --board` takes); `board_id_of` reads the id back.
"""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk
from typing import Any, Callable, Iterable

SEPARATOR = " — "


def board_label(board: Any) -> str:
    return f"{board.name}{SEPARATOR}{board.id}"


def board_id_of(label: str) -> str:
    return label.rsplit(SEPARATOR, 1)[-1].strip()


def board_combobox(
    parent: tk.Misc,
    boards: Iterable[Any],
    current: Any,
    on_pick: Callable[[], None],
    width: int = 34,
) -> tuple[tk.StringVar, ttk.Combobox]:
    """A read-only combobox of `boards` showing `current`; `on_pick()` runs when one is picked."""
    var = tk.StringVar(value=board_label(current))
    combo = ttk.Combobox(
        parent,
        textvariable=var,
        state="readonly",
        width=width,
        values=[board_label(b) for b in boards],
    )
    combo.bind("<<ComboboxSelected>>", lambda e: on_pick())
    return var, combo
