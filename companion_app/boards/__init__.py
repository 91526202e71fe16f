"""Board pinouts, read from the JSON data files in ``data/``.

The facts live in data files, not code, so that adding a board means adding one file (esptool keeps
its chip facts apart in the same way), and so that every fact can carry its source for a teacher
to check.

Board file schema (``data/<id>.json``, the file name is the id)::

    id               str   the board id used by ``--board`` (CONTRACTS.md)
    name             str   human name
    chip             str   one of CHIPS
    machine          str   MicroPython banner text after "; " on the current release,
                           e.g. "Generic ESP32 module with ESP32"
    machine_variants list  other banner texts that firmware for this board prints (SPIRAM/OTA
                           variants, newer releases); optional
    wokwi_types      list  diagram.json part types that are this board
    wokwi_board      str   folder of Wokwi's wokwi-boards repo whose board.json the pin names
                           come from; optional (absent for our own part types)
    logic_voltage    num   GPIO high level in volts
    onboard_led      obj   {"gpio": int} or {"name": "LED"} plus optional color, type,
                           active_low, note; null when the board has no user LED
    onboard_button   int   GPIO of the user-readable button (BOOT on ESP dev kits); null if none
    buttons          list  optional, every button: {"name", "gpio" (int or null), "note"}
    pins             list  every pin of the board (see below)
    internal         list  optional, GPIOs the board itself uses: {"gpio": int, "use": str}
    sources          list  {"fact": str, "source": URL or document section}

Each pin::

    name     str   the Wokwi pin name, as used in diagram.json ("D14", "GND.1", "GP15")
    label    str   what is printed next to the pin
    gpio     int   the number machine.Pin() takes; null unless kind is "gpio"
    kind     str   one of PIN_KINDS
    voltage  num   required for kind "power"
    header   bool  optional, false for pins that exist in Wokwi but are not on the header
                   (test pads, the board's own LED lines); default true
    note     str   optional
    source   str   optional, when a pin's fact has its own source

More keys (capabilities such as ADC, touch, strapping) may be added later; the loader keeps
every key in ``raw``.
"""

from __future__ import annotations

import difflib
import functools
import json
import logging
import re
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any, Mapping

from companion_app.errors import IotkitError, UsageError

log = logging.getLogger(__name__)

CHIPS = frozenset({"esp32", "esp32s3", "esp32c3", "esp8266", "rp2040", "rp2350"})

#: gpio: usable with machine.Pin; analog: an ADC-only input with no GPIO number (ESP8266 A0);
#: wireless: a line of the wireless chip (Pico W WL_GPIOn); power/ground: supply pins;
#: control: reset/enable lines; nc: not connected.
PIN_KINDS = frozenset({"gpio", "analog", "wireless", "power", "ground", "control", "nc"})

_REQUIRED_FIELDS: dict[str, type | tuple[type, ...]] = {
    "id": str,
    "name": str,
    "chip": str,
    "machine": str,
    "wokwi_types": list,
    "logic_voltage": (int, float),
    "pins": list,
    "sources": list,
}


class UnknownBoardError(UsageError):
    """A board id that no data file defines; the message lists the known ids."""


class BoardDataError(IotkitError):
    """A board data file is broken. Only someone editing the data files can cause this."""


def _freeze(value: Any) -> Any:
    """Read-only copy, so a caller cannot change the cached board for everyone else."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    """Plain dicts and lists again, for json.dumps."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def supply_name(voltage: float) -> str:
    """Name a supply the way board silkscreens do: 3.3 -> "3V3", 5 -> "5V", 3.7 -> "3V7"."""
    volts = float(voltage)
    if volts.is_integer():
        return f"{int(volts)}V"
    whole, frac = f"{volts:g}".split(".")
    return f"{whole}V{frac}"


@dataclass(frozen=True)
class BoardPin:
    """One pin of a board, named as in Wokwi's board.json so diagrams can refer to it."""

    name: str
    label: str
    gpio: int | None
    kind: str
    voltage: float | None = None
    header: bool = True
    note: str | None = None
    raw: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, hash=False, repr=False
    )

    def to_json(self) -> dict[str, Any]:
        """The pin as written in its data file (plain dict, ready for json.dumps)."""
        return _thaw(self.raw)

    @property
    def supply(self) -> str | None:
        """ "GND" for ground pins, "3V3"/"5V"/... for power pins, None for signal pins."""
        if self.kind == "ground":
            return "GND"
        if self.kind == "power" and self.voltage is not None:
            return supply_name(self.voltage)
        return None


@dataclass(frozen=True)
class Board:
    """A board's identity and pinout; build it with `load_board`, not by hand."""

    id: str
    name: str
    chip: str
    machine: str
    wokwi_types: tuple[str, ...]
    pins: tuple[BoardPin, ...]
    onboard_led: Mapping[str, Any] | None
    onboard_button: int | None
    logic_voltage: float
    raw: Mapping[str, Any] = field(compare=False, hash=False, repr=False)

    @property
    def machine_variants(self) -> tuple[str, ...]:
        return tuple(self.raw.get("machine_variants", ()))

    @property
    def machines(self) -> tuple[str, ...]:
        """Every banner text firmware for this board may print, most likely first."""
        return (self.machine, *self.machine_variants)

    def to_json(self) -> dict[str, Any]:
        """The whole data file content (plain dict, ready for json.dumps)."""
        return _thaw(self.raw)

    def pin(self, name: str) -> BoardPin | None:
        """Find a pin by its Wokwi name.

        Lenient because people type diagrams by hand: case does not matter ("gp15", "gnd.1"),
        and a bare "GND" or "3V3" means the first pin of that name (they are one net anyway).
        """
        index = self._index()
        key = name.strip()
        found = index["exact"].get(key) or index["folded"].get(key.casefold())
        if found is None:
            first = index["folded"].get(key.casefold() + ".1")
            if first is not None and first.kind in ("power", "ground"):
                found = first
        return found

    def gpio_pins(self, include_internal: bool = False) -> list[BoardPin]:
        """Pins a part can be wired to and driven with machine.Pin, in header order.

        Internal pins (test pads, the board's own LED lines) are left out unless asked for,
        because a beginner cannot wire to them.
        """
        return [
            p
            for p in self.pins
            if p.kind == "gpio" and p.gpio is not None and (p.header or include_internal)
        ]

    def pins_for_gpio(self, gpio: int, include_internal: bool = False) -> list[BoardPin]:
        """Every pin wired to this GPIO: a script says Pin(14), a diagram says "D14"."""
        return [p for p in self.gpio_pins(include_internal) if p.gpio == gpio]

    def power_pins(self) -> list[BoardPin]:
        return [p for p in self.pins if p.kind == "power"]

    def ground_pins(self) -> list[BoardPin]:
        return [p for p in self.pins if p.kind == "ground"]

    def _index(self) -> dict[str, dict[str, BoardPin]]:
        cached = self.__dict__.get("_pin_index")
        if cached is None:
            cached = {
                "exact": {p.name: p for p in self.pins},
                "folded": {p.name.casefold(): p for p in self.pins},
            }
            object.__setattr__(self, "_pin_index", cached)
        return cached


def validate_board_data(data: Any, expected_id: str | None = None) -> list[str]:
    """Problems with one board file's content, as sentences; empty when it is good.

    Kept separate from loading so tests (and someone adding a board) get every problem at once.
    """
    if not isinstance(data, dict):
        return ["the file must hold one JSON object"]
    problems: list[str] = []
    for key, typ in _REQUIRED_FIELDS.items():
        if key not in data:
            problems.append(f'"{key}" is missing')
        elif not isinstance(data[key], typ) or isinstance(data[key], bool):
            problems.append(f'"{key}" has the wrong type')
    if problems:
        return problems
    if expected_id is not None and data["id"] != expected_id:
        problems.append(f'"id" is {data["id"]!r} but the file is named {expected_id}.json')
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", data["id"]):
        problems.append(f'"id" {data["id"]!r} must be lowercase letters, digits and dashes')
    if data["chip"] not in CHIPS:
        problems.append(f'"chip" {data["chip"]!r} is not one of {sorted(CHIPS)}')
    if not all(isinstance(t, str) and t for t in data["wokwi_types"]):
        problems.append('"wokwi_types" must be a list of part type names')
    for key in ("machine_variants",):
        if key in data and not all(isinstance(m, str) for m in data[key]):
            problems.append(f'"{key}" must be a list of strings')
    button = data.get("onboard_button")
    if button is not None and (not isinstance(button, int) or isinstance(button, bool)):
        problems.append('"onboard_button" must be a GPIO number or null')
    led = data.get("onboard_led")
    if led is not None and not (
        isinstance(led, dict)
        and (isinstance(led.get("gpio"), int) or isinstance(led.get("name"), str))
    ):
        problems.append('"onboard_led" must be null or an object with "gpio" or "name"')

    seen: set[str] = set()
    for i, pin in enumerate(data["pins"]):
        where = f"pin #{i + 1}"
        if not isinstance(pin, dict) or not isinstance(pin.get("name"), str) or not pin["name"]:
            problems.append(f'{where} needs a "name"')
            continue
        name = pin["name"]
        where = f"pin {name!r}"
        if name.casefold() in seen:
            problems.append(f"{where} appears twice")
        seen.add(name.casefold())
        if not isinstance(pin.get("label"), str):
            problems.append(f'{where} needs a "label"')
        kind = pin.get("kind")
        if kind not in PIN_KINDS:
            problems.append(f"{where} has kind {kind!r}, not one of {sorted(PIN_KINDS)}")
        gpio = pin.get("gpio")
        if kind == "gpio":
            if not isinstance(gpio, int) or isinstance(gpio, bool) or gpio < 0:
                problems.append(f"{where} is a gpio pin without a GPIO number")
        elif gpio is not None:
            problems.append(f"{where} is {kind!r} but has a GPIO number")
        if kind == "power":
            volts = pin.get("voltage")
            if not isinstance(volts, (int, float)) or isinstance(volts, bool) or volts <= 0:
                problems.append(f'{where} is a power pin without a "voltage"')
        if "header" in pin and not isinstance(pin["header"], bool):
            problems.append(f'{where}: "header" must be true or false')
    kinds = {p.get("kind") for p in data["pins"] if isinstance(p, dict)}
    if "ground" not in kinds:
        problems.append("the board has no ground pin")
    if "power" not in kinds:
        problems.append("the board has no power pin")
    for i, src in enumerate(data["sources"]):
        if not (isinstance(src, dict) and src.get("fact") and src.get("source")):
            problems.append(f'source #{i + 1} needs "fact" and "source"')
    return problems


def _board_from_data(data: dict[str, Any]) -> Board:
    pins = tuple(
        BoardPin(
            name=p["name"],
            label=p["label"],
            gpio=p.get("gpio"),
            kind=p["kind"],
            voltage=float(p["voltage"]) if p.get("voltage") is not None else None,
            header=p.get("header", True),
            note=p.get("note"),
            raw=_freeze(p),
        )
        for p in data["pins"]
    )
    return Board(
        id=data["id"],
        name=data["name"],
        chip=data["chip"],
        machine=data["machine"],
        wokwi_types=tuple(data["wokwi_types"]),
        pins=pins,
        onboard_led=_freeze(data.get("onboard_led")),
        onboard_button=data.get("onboard_button"),
        logic_voltage=float(data["logic_voltage"]),
        raw=_freeze(data),
    )


@functools.lru_cache(maxsize=1)
def _all_boards() -> dict[str, Board]:
    """Read every data file once; boards never change while the program runs."""
    boards: dict[str, Board] = {}
    data_dir = resources.files(__name__).joinpath("data")
    for entry in sorted(data_dir.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        board_id = entry.name[: -len(".json")]
        try:
            data = json.loads(entry.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise BoardDataError(
                f"The board file {entry.name} is not valid JSON (line {exc.lineno}, column "
                f"{exc.colno}: {exc.msg}). Fix the file, or reinstall thonny-iotkit."
            ) from exc
        problems = validate_board_data(data, expected_id=board_id)
        if problems:
            raise BoardDataError(
                f"The board file {entry.name} is broken: {'; '.join(problems)}. "
                "Fix the file, or reinstall thonny-iotkit."
            )
        boards[board_id] = _board_from_data(data)
    log.debug("loaded %d boards", len(boards))
    return dict(sorted(boards.items()))


@functools.lru_cache(maxsize=1)
def _by_part_type() -> dict[str, Board]:
    table: dict[str, Board] = {}
    for board in _all_boards().values():
        for part_type in board.wokwi_types:
            if part_type in table:
                raise BoardDataError(
                    f"The part type {part_type!r} is claimed by both {table[part_type].id} and "
                    f"{board.id}. Each diagram part type must map to one board."
                )
            table[part_type] = board
    return table


def list_boards() -> list[Board]:
    """Every known board, sorted by id."""
    return list(_all_boards().values())


def load_board(board_id: str) -> Board:
    """The board with this id; case and surrounding spaces are forgiven."""
    boards = _all_boards()
    key = board_id.strip().lower()
    if key in boards:
        return boards[key]
    known = ", ".join(boards)
    close = difflib.get_close_matches(key, list(boards), n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    raise UnknownBoardError(
        f"Unknown board {board_id!r}.{hint} Known boards: {known}. "
        "Run `iotkit boards` to see their names."
    )


def board_for_part_type(part_type: str) -> Board | None:
    """The board a diagram.json part type stands for, or None when it is not a known board."""
    return _by_part_type().get(part_type)


__all__ = [
    "CHIPS",
    "PIN_KINDS",
    "Board",
    "BoardDataError",
    "BoardPin",
    "UnknownBoardError",
    "board_for_part_type",
    "list_boards",
    "load_board",
    "supply_name",
    "validate_board_data",
]
