"""Walk a window's widgets and report what a person could not read or reach.

Used by the layout tests of every panel (companion tabs and Thonny views) at 1024×768, at zoom
1.0 and 1.5, and at 1366×768: a button or label narrower (or lower) than it asks to be is cut
off, unless it wraps its text; a widget that lies partly outside the window, or outside the
widget that holds it, cannot be seen unless that holder scrolls (a Canvas with the widget in a
window item, as `look.ScrolledFrame` and Thonny's view scroller are); a widget squeezed out of
its place by pack or grid is not mapped at all; a Treeview heading whose text is wider than
its column is clipped.

Only widgets that should show are checked: mapped ones, and ones managed by pack or grid whose
holder is on screen.
"""

from __future__ import annotations

import tkinter as tk
import tkinter.font as tkfont
from dataclasses import dataclass

#: Classes whose text must be shown whole.
TEXT_CLASSES = {
    "TButton",
    "Button",
    "TLabel",
    "Label",
    "TCheckbutton",
    "Checkbutton",
    "TRadiobutton",
    "Radiobutton",
    "TMenubutton",
    "Menubutton",
    "TLabelframe.Label",
}
SLACK = 1  # pixels of rounding tolerated


@dataclass(frozen=True)
class Problem:
    widget: str
    cls: str
    text: str
    what: str

    def __str__(self) -> str:
        return f"{self.what}: {self.cls} {self.text!r} ({self.widget})"


def _text(widget: tk.Misc) -> str:
    for option in ("text", "textvariable"):
        try:
            value = widget.cget(option)
        except tk.TclError:
            continue
        if option == "textvariable" and value:
            try:
                return str(widget.getvar(str(value)))
            except tk.TclError:
                return ""
        if value:
            return str(value)
    return ""


def _wraps(widget: tk.Misc) -> bool:
    try:
        return int(float(str(widget.cget("wraplength")) or 0)) > 0
    except (tk.TclError, ValueError):
        return False


def _scroller(widget: tk.Misc) -> tk.Misc | None:
    """The Canvas whose window item holds `widget` (a scrolled area), if any."""
    w = widget.master
    while w is not None:
        if w.winfo_class() == "Canvas":
            return w
        w = w.master
    return None


def _rect(widget: tk.Misc) -> tuple[int, int, int, int]:
    x, y = widget.winfo_rootx(), widget.winfo_rooty()
    return x, y, x + widget.winfo_width(), y + widget.winfo_height()


def _should_show(widget: tk.Misc) -> bool:
    if widget.winfo_ismapped():
        return True
    manager = widget.winfo_manager()
    master = widget.master
    return manager in ("pack", "grid") and master is not None and bool(master.winfo_viewable())


def check(root: tk.Misc, ignore: tuple[str, ...] = ()) -> list[Problem]:
    """Everything cut off, off-window or squeezed out under `root` (a window or a frame).

    `ignore`: widget path prefixes left out (a host's own widgets, for example)."""
    root.update_idletasks()
    problems: list[Problem] = []
    window = _rect(root)
    stack = list(root.winfo_children())
    while stack:
        widget = stack.pop()
        path = str(widget)
        if any(path.startswith(prefix) for prefix in ignore):
            continue
        if isinstance(widget, (tk.Toplevel, tk.Menu)):
            continue
        if not _should_show(widget):
            continue
        stack.extend(widget.winfo_children())
        cls = widget.winfo_class()
        text = _text(widget)

        def report(what: str) -> None:
            problems.append(Problem(path, cls, text, what))

        if not widget.winfo_ismapped():
            report("squeezed out (not shown at all)")
            continue
        scrolled = _scroller(widget)
        if cls in TEXT_CLASSES and text:
            if widget.winfo_width() + SLACK < widget.winfo_reqwidth() and not _wraps(widget):
                report(f"cut off: {widget.winfo_width()} px wide, needs {widget.winfo_reqwidth()}")
            elif widget.winfo_height() + SLACK < widget.winfo_reqheight():
                report(
                    f"cut off: {widget.winfo_height()} px high, needs {widget.winfo_reqheight()}"
                )
        if cls == "Treeview":
            problems.extend(_clipped_headings(widget))
        x0, y0, x1, y1 = _rect(widget)
        if scrolled is not None:
            # A scrolled area only scrolls the ways it has: text running past the right edge
            # of one that scrolls up and down only cannot be reached.
            cx0, _, cx1, _ = _rect(scrolled)
            if not str(scrolled.cget("xscrollcommand")) and (x1 > cx1 + SLACK or x0 < cx0 - SLACK):
                report(f"runs past the right edge of a scrolled area by {x1 - cx1} px")
            continue
        if x0 < window[0] - SLACK or y0 < window[1] - SLACK:
            report("starts outside the window")
        elif x1 > window[2] + SLACK or y1 > window[3] + SLACK:
            report(f"runs past the window's edge by {max(x1 - window[2], y1 - window[3])} px")
        else:
            master = widget.master
            if master is not None and master is not root and master.winfo_class() != "Canvas":
                mx0, my0, mx1, my1 = _rect(master)
                if x1 > mx1 + SLACK or y1 > my1 + SLACK:
                    report("runs past the edge of the widget that holds it")
    return problems


def _clipped_headings(tree: tk.Misc) -> list[Problem]:
    font = tkfont.nametofont("TkHeadingFont", root=tree)
    out = []
    for column in ("#0",) + tuple(tree.cget("columns")):
        if column == "#0" and "tree" not in str(tree.cget("show")):
            continue
        heading = str(tree.heading(column, "text"))
        width = int(tree.column(column, "width"))
        if heading and font.measure(heading) + 8 > width:
            out.append(
                Problem(
                    str(tree),
                    "Treeview",
                    heading,
                    f"heading cut off: column {width} px, text {font.measure(heading)} px",
                )
            )
    return out


def assert_fits(root: tk.Misc, where: str, ignore: tuple[str, ...] = ()) -> None:
    problems = check(root, ignore)
    assert not problems, (
        f"{where}: "
        + "; ".join(str(p) for p in problems[:12])
        + (f" … and {len(problems) - 12} more" if len(problems) > 12 else "")
    )
