"""Read a Wokwi diagram.json, exactly as Wokwi writes it, into a wiring model.

Teachers draw circuits in Wokwi and hand out the diagram.json, so that file is our wiring format
(CONTRACTS.md, "Wiring file") and we accept it untouched. This module only answers "what is wired
to what"; deciding whether the wiring is *right* is the rules' job.

Nets are built from the wires alone (union-find over the "part:PIN" endpoints of each
connection). Parts in between, such as a resistor, are not looked through, and the board's own
internal ties (all its GND pins are one node) are not added: callers that care ask `power_of`,
which reads each board pin's kind.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from companion_app.boards import Board, BoardPin, board_for_part_type
from companion_app.errors import UsageError
from companion_app.inputs import parse_json_text, read_text_file

log = logging.getLogger(__name__)

# The most parts and wires a diagram may have. Beginner circuits have tens (an 8x8 matrix of
# single LEDs, about 100 parts and 200 wires, is a big one); some rules compare every pair, so
# 500 parts and 1000 wires keep a check under about a second.
MAX_PARTS = 500
MAX_CONNECTIONS = 1000
WIRING_FILE = "wiring file"  # how messages name it; also picks its size limit in inputs.py
WOKWI_HELP = "Export it from Wokwi (the diagram.json tab) or start from a bundled example."


class DiagramError(UsageError):
    """The wiring file cannot be read as a Wokwi diagram.json; the message says what to fix."""


@dataclass(frozen=True)
class Part:
    """One part of the diagram: a board, a sensor, an LED, a resistor..."""

    id: str
    type: str
    attrs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    top: float = 0.0
    left: float = 0.0


@dataclass(frozen=True)
class Connection:
    """One wire: Wokwi's ["a:PIN", "b:PIN", color, hints]. `index` counts from 1, for messages."""

    a: str
    b: str
    color: str = ""
    hints: tuple[str, ...] = ()
    index: int = 0

    @property
    def endpoints(self) -> tuple[str, str]:
        return (self.a, self.b)


def split_endpoint(endpoint: str) -> tuple[str, str]:
    """ "esp:D14" -> ("esp", "D14"). Pin names never hold a colon, part ids might, so split last."""
    part_id, sep, pin = endpoint.rpartition(":")
    if not sep:
        return endpoint, ""
    return part_id, pin


class UnionFind:
    """Endpoints joined into nets; `_parent` keeps the order endpoints were first seen."""

    _parent: dict[str, str]

    def _find(self, x: str) -> str:
        parent = self._parent
        parent.setdefault(x, x)
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def _union(self, a: str, b: str) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra != rb:
            self._parent[rb] = ra


class Diagram(UnionFind):
    """A loaded diagram.json. Build it with `load_diagram` or `parse_diagram`."""

    def __init__(
        self,
        parts: list[Part],
        connections: list[Connection],
        source: str,
        data: Mapping[str, Any],
    ) -> None:
        self.parts = parts
        self.connections = connections
        self.source = source
        self.version = data.get("version")
        self.author = data.get("author")
        self.editor = data.get("editor")
        self.dependencies = data.get("dependencies") or {}
        self._parts_by_id = {p.id: p for p in parts}

        self.board: Board | None = None
        self.board_part_id: str | None = None
        board_parts = [(p, board_for_part_type(p.type)) for p in parts]
        board_parts = [(p, b) for p, b in board_parts if b is not None]
        if board_parts:
            part, board = board_parts[0]
            self.board, self.board_part_id = board, part.id
            if len(board_parts) > 1:
                log.warning(
                    "%s has %d boards; checking against the first one, %s",
                    source,
                    len(board_parts),
                    part.id,
                )

        self._parent: dict[str, str] = {}
        for conn in connections:
            a, b = self._canonical(conn.a), self._canonical(conn.b)
            self._union(a, b)
        groups: dict[str, list[str]] = {}
        for endpoint in self._parent:  # insertion order = order of first mention
            groups.setdefault(self._find(endpoint), []).append(endpoint)
        self.nets: list[frozenset[str]] = [frozenset(g) for g in groups.values()]
        self._net_index = {e: net for net in self.nets for e in net}

    # -- parts -------------------------------------------------------------------------------

    def part(self, part_id: str) -> Part | None:
        return self._parts_by_id.get(part_id)

    def pins_of(self, part_id: str) -> list[str]:
        """The pins of one part that some wire touches, in the order the file mentions them."""
        pins: list[str] = []
        for endpoint in self._parent:
            pid, pin = split_endpoint(endpoint)
            if pid == part_id and pin not in pins:
                pins.append(pin)
        return pins

    def where(self, part_id: str, pin: str) -> str:
        """Location text for findings, "FILE: part:pin" as CONTRACTS.md asks."""
        return f"{self.source}: {part_id}:{pin}"

    # -- nets --------------------------------------------------------------------------------

    def net_of(self, endpoint: str) -> frozenset[str]:
        """Every endpoint wired to this one, itself included (alone if no wire touches it)."""
        key = self._canonical(endpoint)
        return self._net_index.get(key, frozenset({key}))

    def board_pins_on_net(self, endpoint: str) -> list[BoardPin]:
        """The board pins wired to this endpoint. More than one GPIO here means a short."""
        if self.board is None:
            return []
        pins = []
        for e in sorted(self.net_of(endpoint)):
            pid, pin_name = split_endpoint(e)
            if pid == self.board_part_id:
                pin = self.board.pin(pin_name)
                if pin is not None:
                    pins.append(pin)
        return pins

    def gpio_of(self, part_id: str, pin: str) -> int | None:
        """The board GPIO wired straight to this part pin (wires only, not through parts).

        If the net reaches several GPIOs (a wiring mistake), the lowest is returned so results
        stay stable; `board_pins_on_net` shows them all.
        """
        gpios = {
            p.gpio
            for p in self.board_pins_on_net(f"{part_id}:{pin}")
            if p.kind == "gpio" and p.gpio is not None
        }
        return min(gpios) if gpios else None

    def supplies_of(self, endpoint: str) -> frozenset[str]:
        """Every supply ("GND", "3V3", "5V"...) whose board pin is on this net."""
        return frozenset(p.supply for p in self.board_pins_on_net(endpoint) if p.supply is not None)

    def power_of(self, part_id: str, pin: str) -> str | None:
        """ "3V3", "5V" or "GND" when the pin is wired to that board supply pin, else None.

        If one net reaches several supplies (a short), the highest voltage is returned, since
        that is the one that can do harm; `supplies_of` shows them all.
        """
        pins = [p for p in self.board_pins_on_net(f"{part_id}:{pin}") if p.supply is not None]
        if not pins:
            return None
        powered = [p for p in pins if p.kind == "power"]
        if powered:
            return max(powered, key=lambda p: p.voltage or 0.0).supply
        return "GND"

    # -- internals ---------------------------------------------------------------------------

    def _canonical(self, endpoint: str) -> str:
        """Board pins are spelled as in the board file, so "esp:d14" and "esp:D14" are one."""
        pid, pin_name = split_endpoint(endpoint)
        if self.board is not None and pid == self.board_part_id:
            pin = self.board.pin(pin_name)
            if pin is not None:
                return f"{pid}:{pin.name}"
        return endpoint

    def __repr__(self) -> str:
        board = self.board.id if self.board else None
        return (
            f"Diagram(source={self.source!r}, board={board!r}, parts={len(self.parts)}, "
            f"connections={len(self.connections)})"
        )


def _fail(source: str, what: str, fix: str = WOKWI_HELP) -> DiagramError:
    return DiagramError(f"{source}: {what} {fix}")


def _parse_parts(raw_parts: Any, source: str) -> list[Part]:
    if not isinstance(raw_parts, list):
        raise _fail(source, '"parts" must be a list of parts.')
    parts: list[Part] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_parts, start=1):
        if not isinstance(raw, dict):
            raise _fail(source, f"part #{i} is not an object.")
        part_id, part_type = raw.get("id"), raw.get("type")
        if not isinstance(part_id, str) or not part_id:
            raise _fail(source, f'part #{i} has no "id".', "Give every part a unique id.")
        if not isinstance(part_type, str) or not part_type:
            raise _fail(
                source,
                f'part {part_id!r} has no "type".',
                'Give it a Wokwi part type such as "wokwi-led".',
            )
        if part_id in seen:
            raise _fail(
                source,
                f"two parts have the id {part_id!r}.",
                "Rename one of them; connections name parts by id.",
            )
        seen.add(part_id)
        attrs = raw.get("attrs", {})
        if attrs is None:
            attrs = {}
        if not isinstance(attrs, dict):
            raise _fail(
                source,
                f'part {part_id!r} has "attrs" that is not an object.',
                'Write it like "attrs": {"color": "red"}.',
            )
        parts.append(
            Part(
                id=part_id,
                type=part_type,
                attrs=MappingProxyType(dict(attrs)),
                top=_number(raw.get("top")),
                left=_number(raw.get("left")),
            )
        )
    return parts


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _parse_connections(raw_conns: Any, part_ids: set[str], source: str) -> list[Connection]:
    if raw_conns is None:
        return []
    if not isinstance(raw_conns, list):
        raise _fail(source, '"connections" must be a list of wires.')
    conns: list[Connection] = []
    for i, raw in enumerate(raw_conns, start=1):
        if (
            not isinstance(raw, list)
            or len(raw) < 2
            or not isinstance(raw[0], str)
            or not isinstance(raw[1], str)
        ):
            raise _fail(
                source,
                f"connection #{i} is not a wire.",
                'A wire looks like ["esp:D14", "dht1:SDA", "green", []].',
            )
        for endpoint in raw[:2]:
            part_id, pin = split_endpoint(endpoint)
            if not pin or not part_id:
                raise _fail(
                    source,
                    f"connection #{i} has the end {endpoint!r}, which is not of the form part:PIN.",
                    'Write it like "esp:D14".',
                )
            # "$serialMonitor" and friends are Wokwi's built-in instruments, not parts.
            if part_id not in part_ids and not part_id.startswith("$"):
                raise _fail(
                    source,
                    f"connection #{i} ({raw[0]} to {raw[1]}) names the part {part_id!r}, "
                    "but no part has that id.",
                    f'Add a part with "id": "{part_id}", or fix the id in the connection.',
                )
        color = raw[2] if len(raw) > 2 and isinstance(raw[2], str) else ""
        hints = raw[3] if len(raw) > 3 and isinstance(raw[3], list) else []
        conns.append(
            Connection(
                a=raw[0],
                b=raw[1],
                color=color,
                hints=tuple(str(h) for h in hints),
                index=i,
            )
        )
    return conns


def diagram_from_data(data: Any, source: str = "<diagram>") -> Diagram:
    """Build a Diagram from already-parsed JSON (a dict as Wokwi writes it)."""
    if not isinstance(data, dict):
        raise _fail(source, "the file holds JSON, but not a Wokwi diagram (an object).")
    if "parts" not in data:
        raise _fail(source, 'there is no "parts" list, so this is not a Wokwi diagram.json.')
    for key, most in (("parts", MAX_PARTS), ("connections", MAX_CONNECTIONS)):
        items = data.get(key)
        if isinstance(items, list) and len(items) > most:
            raise _fail(
                source,
                f"it has {len(items)} {key}, more than the {most} a wiring diagram can have here "
                "(the checks would take minutes).",
                "Check a smaller part of the circuit, one diagram at a time.",
            )
    parts = _parse_parts(data["parts"], source)
    connections = _parse_connections(data.get("connections"), {p.id for p in parts}, source)
    diagram = Diagram(parts, connections, source, data)
    log.debug("loaded %r", diagram)
    return diagram


def parse_diagram(text: str, source: str = "<diagram>") -> Diagram:
    """Build a Diagram from diagram.json text; `source` names it in error messages."""
    data = parse_json_text(
        text,
        source,
        WIRING_FILE,
        error=DiagramError,
        subject=f"{source}: this",
        hint="Fix that spot (a missing comma or quote is the usual cause), or export the file "
        "again from Wokwi.",
    )
    return diagram_from_data(data, source)


def load_diagram(source: str | os.PathLike[str] | Mapping[str, Any]) -> Diagram:
    """Load a diagram.json from a path (a project folder holding one also works) or a dict."""
    if isinstance(source, Mapping):
        return diagram_from_data(dict(source))
    path = Path(source)
    if path.is_dir():
        inside = path / "diagram.json"
        if not inside.is_file():
            raise DiagramError(
                f"{path} is a folder with no diagram.json in it. Give the path of the "
                "diagram.json file itself."
            )
        path = inside
    name = str(path)
    text = read_text_file(path, WIRING_FILE, error=DiagramError)
    return parse_diagram(text, name)


__all__ = [
    "Connection",
    "Diagram",
    "DiagramError",
    "Part",
    "diagram_from_data",
    "load_diagram",
    "parse_diagram",
    "split_endpoint",
]
