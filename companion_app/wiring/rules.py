"""The wiring rule engine: small rule functions over the board data, the diagram and the scripts.

Each rule is a function registered with `@rule("name")` that yields `Finding`s. What a rule
means, its severity and its documented examples live in `rules.json` (data, not code), and
`docs/wiring-rules.md` is generated from that file, so the reference cannot drift from the rules.
Rule names are the stable ids of shared/CONTRACTS.md's catalog.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Callable, Iterable

from companion_app.boards import Board
from companion_app.wiring.codescan import ScanResult, resolve_for_board
from companion_app.wiring.diagram import Diagram

log = logging.getLogger(__name__)

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    pin: str | None  # "GPIO34", or a board pin label when there is no GPIO
    where: str  # "FILE:LINE" for scripts, "FILE: part:pin" for diagrams
    message: str
    fix: str
    line: int | None = None  # for scripts: lets an editor jump there

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "pin": self.pin,
            "where": self.where,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass
class CheckContext:
    """Everything a rule may look at. `diagram` and `scans` may be absent."""

    board: Board
    diagram: Diagram | None = None
    scans: list[ScanResult] = field(default_factory=list)


RuleFunc = Callable[[CheckContext], Iterable[Finding]]
# One catalog name may have several functions: the script side and the diagram side of
# `unknown-pin` live in different modules, and neither may replace the other.
_RULES: dict[str, list[RuleFunc]] = {}


@lru_cache(maxsize=1)
def catalog() -> dict[str, dict[str, Any]]:
    """rules.json: name -> {severity, meaning, example, ...}."""
    text = (
        resources.files("companion_app.wiring").joinpath("rules.json").read_text(encoding="utf-8")
    )
    return json.loads(text)["rules"]


def rule(name: str) -> Callable[[RuleFunc], RuleFunc]:
    """Register a rule function under its catalog name."""

    def register(func: RuleFunc) -> RuleFunc:
        if name not in catalog():
            raise KeyError(f"rule {name!r} is not in rules.json")
        funcs = _RULES.setdefault(name, [])
        key = (func.__module__, func.__qualname__)
        # A reloaded module (tests do this) replaces its own function instead of doubling it.
        funcs[:] = [f for f in funcs if (f.__module__, f.__qualname__) != key] + [func]
        return func

    return register


def registered() -> dict[str, list[RuleFunc]]:
    """Rule name -> the functions that check it (script side, diagram side)."""
    return {name: list(funcs) for name, funcs in _RULES.items()}


def gpio_label(gpio: int | None) -> str | None:
    return None if gpio is None else f"GPIO{gpio}"


def run_checks(
    board: Board, diagram: Diagram | None = None, scans: Iterable[ScanResult] = ()
) -> list[Finding]:
    """All findings, errors first, in a stable order.

    The scans are first resolved against the board (`resolve_for_board`: what `ADC(n)` really
    reads), so no rule ever reads a channel number as a GPIO.
    """
    resolved = [resolve_for_board(scan, board) for scan in scans]
    ctx = CheckContext(board=board, diagram=diagram, scans=resolved)
    findings: list[Finding] = []
    for name, funcs in _RULES.items():
        for func in funcs:
            try:
                findings.extend(func(ctx))
            except Exception:  # a broken rule must not hide the others' findings
                log.exception("rule %s failed (%s.%s)", name, func.__module__, func.__qualname__)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    unique: dict[tuple[Any, ...], Finding] = {}
    for f in findings:
        unique.setdefault((f.rule, f.where, f.pin, f.message), f)
    return sorted(unique.values(), key=lambda f: (order[f.severity], f.where, f.rule))
