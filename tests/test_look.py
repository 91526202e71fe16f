"""companion_app.gui.look: the colours of a light and a dark theme, a row of buttons that wraps
instead of cutting, and a scrolled frame the mouse wheel moves."""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk

from gui_helpers import pump, wait_posted

from companion_app.gui import look

BUTTONS = ("Dry run", "Deploy", "Cancel", "Open dashboard", "Plot readings")


def _dark_theme(root: tk.Misc) -> None:
    """A dark ttk theme made the way Thonny's "Clean Dark" is: clam plus configured colours,
    and a "Text" style for the text areas."""
    style = ttk.Style(root)
    if "iotkit-test-dark" not in style.theme_names():
        style.theme_create(
            "iotkit-test-dark",
            "clam",
            {
                ".": {"configure": {"background": "#252525", "foreground": "#9b9b9b"}},
                "Text": {"configure": {"background": "#1d1d1d", "foreground": "#9b9b9b"}},
            },
        )
    style.theme_use("iotkit-test-dark")


def test_light_theme_palette_is_readable(root):
    ttk.Style(root).theme_use("clam")
    pal = look.palette(root)
    assert not pal.dark
    for colour in (pal.foreground, pal.muted, pal.accent, pal.error, pal.warning, pal.ok):
        assert look.contrast_ratio(root, colour, pal.background) >= look.MIN_CONTRAST, colour
    assert look.contrast_ratio(root, pal.field_text, pal.field) >= look.MIN_CONTRAST


def test_dark_theme_palette_and_a_listener_that_hears_the_switch(root):
    ttk.Style(root).theme_use("clam")
    canvas = tk.Canvas(root)
    canvas.pack()
    look.style_field(canvas)
    heard = []
    look.on_look_change(canvas, lambda: (heard.append(1), look.style_field(canvas)))
    root.update()
    _dark_theme(root)
    assert pump(root, lambda: heard)
    pal = look.palette(root)
    assert pal.dark and pal.field == "#1d1d1d"
    assert canvas.cget("background") == "#1d1d1d"
    for colour in (pal.foreground, pal.muted, pal.accent, pal.error, pal.warning, pal.ok):
        assert look.contrast_ratio(root, colour, pal.background) >= look.MIN_CONTRAST, colour
    text = tk.Text(root)
    look.style_field(text, pal)
    assert text.cget("background") == "#1d1d1d"
    assert look.contrast_ratio(root, text.cget("foreground"), "#1d1d1d") >= look.MIN_CONTRAST


def test_wrap_row_wraps_instead_of_cutting_and_unwraps_when_wide(root):
    root.geometry("320x300+0+0")
    row = look.WrapRow(root)
    row.pack(side="top", fill="x")
    buttons = [row.add(ttk.Button(row, text=t)) for t in BUTTONS]
    below = ttk.Label(root, text="below")
    below.pack(side="top")
    wait_posted(root)
    pump(root, lambda: len({b.winfo_y() for b in buttons}) > 1)
    for b in buttons:
        assert b.winfo_width() >= b.winfo_reqwidth()
        assert b.winfo_x() + b.winfo_width() <= row.winfo_width()
    assert below.winfo_y() >= max(b.winfo_y() + b.winfo_height() for b in buttons)
    root.geometry("900x300")
    assert pump(root, lambda: len({b.winfo_y() for b in buttons}) == 1)
    # Hidden and shown again, a button keeps its place in the order.
    row.set_visible(buttons[1], False)
    wait_posted(root)
    assert not buttons[1].winfo_ismapped()
    row.set_visible(buttons[1], True)
    assert pump(root, lambda: buttons[1].winfo_ismapped())
    assert buttons[0].winfo_x() < buttons[1].winfo_x() < buttons[2].winfo_x()


def test_wrap_row_reflows_when_the_zoom_grows_the_buttons(root):
    root.geometry("520x300+0+0")
    row = look.WrapRow(root)
    row.pack(side="top", fill="x")
    buttons = [row.add(ttk.Button(row, text=t)) for t in BUTTONS[:3]]
    assert pump(root, lambda: len({b.winfo_y() for b in buttons}) == 1)
    look.set_zoom(root, 2.0)
    try:
        assert pump(root, lambda: len({b.winfo_y() for b in buttons}) > 1)
        for b in buttons:
            assert b.winfo_x() + b.winfo_reqwidth() <= row.winfo_width()
    finally:
        look.set_zoom(root, 1.0)


def test_scrolled_frame_scrolls_with_the_wheel_over_its_content(root):
    root.geometry("300x200+0+0")
    frame = look.ScrolledFrame(root)
    frame.pack(fill="both", expand=True)
    labels = [ttk.Label(frame.inner, text=f"program {i}") for i in range(30)]
    for label in labels:
        label.pack(anchor="w")
    assert pump(root, lambda: frame.scrolls)
    assert frame.canvas.yview()[0] == 0.0
    # The wheel over a label inside (X11 sends Button-5 for "down").
    labels[2].event_generate("<Button-5>", x=5, y=5)
    assert pump(root, lambda: frame.canvas.yview()[0] > 0.0)
    # Windows and macOS send <MouseWheel> with a delta instead.
    labels[2].event_generate("<MouseWheel>", delta=120, x=5, y=5)
    labels[2].event_generate("<MouseWheel>", delta=120, x=5, y=5)
    assert pump(root, lambda: frame.canvas.yview()[0] == 0.0)
    frame.see(labels[-1])
    assert pump(root, lambda: frame.canvas.yview()[1] == 1.0)


def test_scrolled_frame_has_no_bar_when_everything_fits(root):
    root.geometry("300x400+0+0")
    frame = look.ScrolledFrame(root)
    frame.pack(fill="both", expand=True)
    ttk.Label(frame.inner, text="one program").pack()
    wait_posted(root)
    root.update_idletasks()
    assert not frame.scrolls
    assert not frame.ybar.winfo_ismapped()


def test_wrap_row_with_padding_and_a_button_whose_text_grows(root):
    root.geometry("400x300+0+0")
    row = look.WrapRow(root, padding=(8, 6))
    row.pack(side="top", fill="x")
    buttons = [row.add(ttk.Button(row, text=t)) for t in ("Flash", "Detect board")]
    assert pump(root, lambda: len({b.winfo_y() for b in buttons}) == 1)
    assert buttons[0].winfo_x() == 8 and buttons[0].winfo_y() == 6
    assert row.winfo_height() >= buttons[0].winfo_height() + 12
    buttons[0].configure(text="Cancel the flash that is running now, please")
    assert pump(root, lambda: len({b.winfo_y() for b in buttons}) == 2)
    for b in buttons:
        assert b.winfo_x() + b.winfo_width() <= row.winfo_width() - 8
    assert row.winfo_height() >= buttons[1].winfo_y() + buttons[1].winfo_height() + 6
    # A wrapping label with padding wraps inside its padding, never wider than it is.
    label = look.WrapLabel(root, text="word " * 60, padding=(10, 0))
    label.pack(side="top", fill="x")
    assert pump(root, lambda: int(str(label.cget("wraplength"))) > 40)
    assert pump(root, lambda: label.winfo_reqwidth() <= label.winfo_width())
