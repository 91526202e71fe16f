"""The Python API behind `iotkit check`: load the board, the diagram and the scripts, run every
registered rule, and hand back the findings.

Front ends (the CLI, the wiring panel, the docs generator and the tests) all go through here so
they cannot disagree on how a board is picked or which rules run. Importing this module imports
the rule modules, because a rule only exists once its `@rule` decorator has run.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from companion_app.boards import Board, load_board
from companion_app.errors import UsageError
from companion_app.wiring import diagram_rules, script_rules  # noqa: F401 (register rules)
from companion_app.wiring.codescan import scan_file, scan_source
from companion_app.wiring.diagram import Diagram, diagram_from_data, load_diagram
from companion_app.wiring.rules import Finding, run_checks

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


@dataclass
class CheckReport:
    """What one check found. `notes` are things to tell the user that are not rule findings."""

    board: Board
    findings: list[Finding]
    notes: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def to_json(self) -> dict[str, Any]:
        """The `iotkit check --json` document of CONTRACTS.md."""
        return {"board": self.board.id, "findings": [f.to_json() for f in self.findings]}


def pick_board(board_id: str | None, diagram: Diagram | None) -> tuple[Board, list[str]]:
    """--board wins, else the diagram's board part; without either the check cannot start."""
    notes: list[str] = []
    if board_id:
        board = load_board(board_id)
        if diagram is not None and diagram.board is not None and diagram.board.id != board.id:
            notes.append(
                f"{diagram.source} is drawn for {diagram.board.id}, but --board says {board.id}; "
                f"checking against {board.id}."
            )
        return board, notes
    if diagram is not None and diagram.board is not None:
        return diagram.board, notes
    if diagram is not None:
        raise UsageError(
            f"{diagram.source} has no board part this tool knows, so the board is unknown. "
            "Pass --board ID (run `iotkit boards` to list the ids)."
        )
    raise UsageError(
        "Which board is the script for? Pass --board ID (run `iotkit boards` to list the ids), "
        "or --wiring with a diagram.json that contains the board."
    )


def check(
    board_id: str | None,
    wiring: PathLike | None = None,
    scripts: Iterable[PathLike] = (),
) -> CheckReport:
    """Check scripts and/or a wiring file; raises UsageError for what the user must fix first."""
    script_list = list(scripts)
    if wiring is None and not script_list:
        raise UsageError(
            "Nothing to check: give one or more SCRIPT.py files, --wiring FILE, or both."
        )
    diagram = load_diagram(wiring) if wiring is not None else None
    board, notes = pick_board(board_id, diagram)
    scans = [scan_file(p) for p in script_list]
    return CheckReport(board=board, findings=run_checks(board, diagram, scans), notes=notes)


def rule_examples(entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every documented example of one rules.json entry.

    `examples` is one example or a list of them; `script_examples` holds the script side's
    examples of rules that both a diagram and a script can break (unknown-pin, flash-pin...), kept
    apart so that the two halves of the catalog can be edited independently.
    """
    found: list[dict[str, Any]] = []
    for key in ("examples", "script_examples"):
        value = entry.get(key)
        if isinstance(value, Mapping):
            found.append(dict(value))
        elif isinstance(value, list):
            found.extend(dict(v) for v in value)
    return found


def example_sources(example: Mapping[str, Any], side: str) -> tuple[str | None, Any | None]:
    """(script text, diagram dict) of one side of an example. A side is either
    {"script": ..., "diagram": ...} or a bare diagram.json object."""
    body = example[side]
    if "parts" in body:
        return None, body
    return body.get("script"), body.get("diagram")


def check_example(example: Mapping[str, Any], side: str) -> list[Finding]:
    """Run every rule on one side ("bad" or "good") of a rules.json example.

    Used by the docs generator and the example tests, so the documented message is whatever the
    checker really says. Sources are named main.py and diagram.json, as in a Wokwi project.
    """
    board = load_board(example["board"])
    script, diagram_data = example_sources(example, side)
    scans = [scan_source(script, "main.py")] if script is not None else []
    diagram = diagram_from_data(dict(diagram_data), "diagram.json") if diagram_data else None
    return run_checks(board, diagram, scans)


__all__ = [
    "CheckReport",
    "check",
    "check_example",
    "example_sources",
    "pick_board",
    "rule_examples",
]
