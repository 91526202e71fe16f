"""Electrical facts of the parts a wiring diagram may hold, read from ``parts.json``.

Rules such as voltage-mismatch, no-internal-pullup and i2c-address-conflict need to know what a
part's pins are and what they want; that knowledge is data (like the board files), so adding a part
means adding an entry, and every fact names the datasheet or Wokwi page it comes from.

Schema of ``parts.json``: one object per diagram.json part type ("_comment" is skipped)::

    name               str   human name
    alias_of           str   optional: another part type with the same facts (iotkit-dht11)
    supply             obj   {"min": V, "max": V, "note"?, "source"} or null for passive parts
    logic_level        obj   {"value": 3.3 | 5 | "supply", "note"?, "source"}; "supply" means the
                             signal level follows whatever the part is powered from
    pins               obj   Wokwi pin name -> {"role": one of PIN_ROLES, "note"?,
                             "output_voltage"?: V the pin drives high, "bus"?: a multi-drop
                             bus such as "1-wire" that several parts may share on one GPIO,
                             "label"?: the words a person reads for the pin ("data" for the
                             DHT's pin that Wokwi calls "SDA", which suggests I2C), with
                             "label_source": where those words come from and why}
                             The Wokwi name stays the key: diagram.json is written with it.
    pins_source        str   where the pin names come from (Wokwi docs / board.json)
    pull_up            obj   optional, pin -> {"needed": bool, "ohms"?, "note", "source"}
    i2c                obj   optional, {"default_address": int, "alternate_addresses": [int],
                             "address_attr"?: diagram attrs key, "address_pin"?, "note", "source"}
    min_read_interval_s obj  optional, {"value": seconds, "source"}
    outputs_5v         obj   optional, pin -> {"value": true, "fix", "source"}
    needs_series_resistor, forward_voltage, internal_connections, attrs, micropython: optional
                             facts, each {"value" or other fields, "source"}
    switch             obj   optional, {"value": [[pin, pin]], "note", "source"}: pressing the part
                             joins the contact of the first pin to the contact of the second
                             (a pushbutton); the rules see it as open, and as closed when pressed

Every fact object carries a "source"; ``validate_part_data`` checks that, and the tests run it on
every entry.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Mapping

from companion_app.boards import BoardDataError, _freeze, _thaw

log = logging.getLogger(__name__)

#: What a part pin does, from the wiring rules' point of view.
PIN_ROLES = frozenset(
    {
        "power",
        "ground",
        "digital-out",
        "digital-in",
        "bidirectional",
        "i2c-sda",
        "i2c-scl",
        "analog-out",
        "pwm-in",
        "passive",
        "nc",
    }
)
_FACT_KEYS = (
    "supply",
    "logic_level",
    "min_read_interval_s",
    "needs_series_resistor",
    "forward_voltage",
    "internal_connections",
    "switch",
    "micropython",
    "i2c",
)
_PER_PIN_FACT_KEYS = ("pull_up", "outputs_5v", "attrs")


@dataclass(frozen=True)
class Part:
    """One part type's electrical facts; build it with `load_part`."""

    type: str
    name: str
    supply_min: float | None
    supply_max: float | None
    logic_level: float | str
    pins: Mapping[str, Mapping[str, Any]]
    raw: Mapping[str, Any] = field(compare=False, hash=False, repr=False)

    @property
    def alias_of(self) -> str | None:
        """The part type this one repeats (iotkit-dht11 is wokwi-dht11), or None."""
        value = self.raw.get("alias_of")
        return str(value) if value else None

    def pin_label(self, pin: str) -> str:
        """What a person reads for a pin: its label ("data" for a DHT's "SDA"), else its
        Wokwi name. Only for showing; diagram.json keeps the Wokwi name."""
        entry = self.pins.get(pin) or {}
        return str(entry.get("label") or pin)

    def pin_named(self, text: str) -> str | None:
        """The Wokwi pin name for what a person typed or picked: a label ("data") or the Wokwi
        name itself ("SDA"), case and spaces aside; None when the part has no such pin."""
        wanted = " ".join(text.split()).casefold()
        for name in self.pins:
            if wanted in (name.casefold(), self.pin_label(name).casefold()):
                return name
        return None

    def pin_role(self, pin: str) -> str | None:
        """The role of a pin by its Wokwi name, or None when the part has no such pin."""
        entry = self.pins.get(pin)
        return entry["role"] if entry else None

    def pins_with_role(self, *roles: str) -> list[str]:
        return [name for name, entry in self.pins.items() if entry["role"] in roles]

    def power_pins(self) -> list[str]:
        return self.pins_with_role("power")

    def ground_pins(self) -> list[str]:
        return self.pins_with_role("ground")

    def signal_pins(self) -> list[str]:
        """Pins that go to a GPIO (not supply, ground, passive or unconnected)."""
        return [
            n for n, e in self.pins.items() if e["role"] not in ("power", "ground", "passive", "nc")
        ]

    def needs_pull_up(self, pin: str) -> bool:
        """True when the pin needs a pull-up that the part itself does not have (DHT data)."""
        return bool((self.raw.get("pull_up") or {}).get(pin, {}).get("needed", False))

    def output_voltage(self, pin: str) -> float | None:
        """The level an output pin drives high, when the data knows it (HC-SR04 ECHO: 5 V)."""
        value = (self.pins.get(pin) or {}).get("output_voltage")
        return float(value) if value is not None else None

    def outputs_5v(self, pin: str) -> bool:
        return bool((self.raw.get("outputs_5v") or {}).get(pin, {}).get("value", False)) or (
            (self.output_voltage(pin) or 0) > 3.6
        )

    def switched_pairs(self) -> list[tuple[str, str]]:
        """Pin pairs that pressing the part joins (a pushbutton's two contacts)."""
        pairs = (self.raw.get("switch") or {}).get("value") or ()
        return [(a, b) for a, b in pairs]

    def tied_pins(self) -> list[tuple[str, ...]]:
        """Groups of pins joined inside the part at all times (a pushbutton's 1.l and 1.r)."""
        ties = (self.raw.get("internal_connections") or {}).get("value") or ()
        return [tuple(tie) for tie in ties]

    @property
    def is_i2c(self) -> bool:
        return self.raw.get("i2c") is not None

    @property
    def i2c_default_address(self) -> int | None:
        i2c = self.raw.get("i2c")
        return int(i2c["default_address"]) if i2c else None

    @property
    def i2c_addresses(self) -> tuple[int, ...]:
        """Every address the part can answer on, default first."""
        i2c = self.raw.get("i2c")
        if not i2c:
            return ()
        return (int(i2c["default_address"]), *(int(a) for a in i2c.get("alternate_addresses", ())))

    def i2c_address(self, attrs: Mapping[str, Any] | None = None) -> int | None:
        """The address this part instance uses: its diagram ``attrs`` may choose an alternate
        ("0x3d", "61"); anything unreadable falls back to the default."""
        i2c = self.raw.get("i2c")
        if not i2c:
            return None
        key = i2c.get("address_attr")
        value = (attrs or {}).get(key) if key else None
        if value is not None:
            try:
                return int(str(value), 0)
            except ValueError:
                log.debug("unreadable I2C address %r on %s", value, self.type)
        return int(i2c["default_address"])

    @property
    def min_read_interval_s(self) -> float | None:
        fact = self.raw.get("min_read_interval_s")
        return float(fact["value"]) if fact else None

    def accepts_supply(self, volts: float) -> bool:
        """False when the part cannot run from ``volts`` (undervoltage / overvoltage rules)."""
        if self.supply_min is None or self.supply_max is None:
            return True
        return self.supply_min - 0.05 <= volts <= self.supply_max + 0.05

    def source_of(self, fact: str) -> str | None:
        """Where a fact is written, for a finding's "why"."""
        entry = self.raw.get(fact)
        return entry.get("source") if isinstance(entry, Mapping) else None

    def to_json(self) -> dict[str, Any]:
        return _thaw(self.raw)


def _fact_problems(where: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, Mapping):
        return [f"{where} must be an object"]
    return [] if value.get("source") else [f"{where} has no source"]


def _label_problems(part_type: str, pins: Mapping[str, Any]) -> list[str]:
    """Pin labels must be words with a source, and must name one pin only: `Part.pin_named`
    turns a label back into the Wokwi name, so no label may be another pin's label or name."""
    problems: list[str] = []
    seen: dict[str, str] = {str(name).casefold(): str(name) for name in pins}
    for name, entry in pins.items():
        if not isinstance(entry, Mapping) or "label" not in entry:
            continue
        label = entry.get("label")
        if not isinstance(label, str) or not label.strip():
            problems.append(f"{part_type}: pin {name!r} has an empty label")
            continue
        if not entry.get("label_source"):
            problems.append(f"{part_type}: pin {name!r} has a label but no label_source")
        key = " ".join(label.split()).casefold()
        if seen.get(key, name) != name:
            problems.append(f"{part_type}: the label {label!r} of pin {name!r} names another pin")
        seen[key] = str(name)
    return problems


def validate_part_data(part_type: str, data: Any) -> list[str]:
    """Problems with one parts.json entry, as sentences; empty when it is good."""
    if not isinstance(data, Mapping):
        return [f"{part_type}: the entry must be an object"]
    problems: list[str] = []
    if not isinstance(data.get("name"), str):
        problems.append(f'{part_type}: "name" is missing')
    pins = data.get("pins")
    if not isinstance(pins, Mapping) or not pins:
        problems.append(f'{part_type}: "pins" must name the part\'s pins')
        pins = {}
    for name, entry in pins.items():
        if not isinstance(entry, Mapping) or entry.get("role") not in PIN_ROLES:
            problems.append(f"{part_type}: pin {name!r} needs a role, one of {sorted(PIN_ROLES)}")
    problems += _label_problems(part_type, pins)
    if not data.get("pins_source"):
        problems.append(f'{part_type}: "pins_source" is missing')
    if "supply" not in data:
        problems.append(f'{part_type}: "supply" is missing (null for passive parts)')
    supply = data.get("supply")
    if supply is not None and not (
        isinstance(supply, Mapping)
        and isinstance(supply.get("min"), (int, float))
        and isinstance(supply.get("max"), (int, float))
        and supply["min"] <= supply["max"]
    ):
        problems.append(f'{part_type}: "supply" needs "min" <= "max" in volts')
    level = (data.get("logic_level") or {}).get("value")
    if not (level == "supply" or isinstance(level, (int, float))):
        problems.append(f'{part_type}: "logic_level" must be a voltage or "supply"')
    for key in _FACT_KEYS:
        problems += _fact_problems(f"{part_type}: {key}", data.get(key))
    for key in _PER_PIN_FACT_KEYS:
        section = data.get(key) or {}
        for pin, fact in section.items():
            if key != "attrs" and pin not in pins:
                problems.append(f"{part_type}: {key} names pin {pin!r}, which the part lacks")
            problems += _fact_problems(f"{part_type}: {key} {pin}", fact)
    i2c = data.get("i2c")
    if i2c is not None:
        addresses = [i2c.get("default_address"), *i2c.get("alternate_addresses", [])]
        if not all(isinstance(a, int) and 0x08 <= a <= 0x77 for a in addresses):
            problems.append(f"{part_type}: I2C addresses must be 7-bit addresses 0x08-0x77")
        if not {"i2c-sda", "i2c-scl"} <= {e.get("role") for e in pins.values()}:
            problems.append(f"{part_type}: an I2C part needs i2c-sda and i2c-scl pins")
    return problems


@functools.lru_cache(maxsize=1)
def _all_parts() -> dict[str, Part]:
    """Read parts.json once; it never changes while the program runs."""
    text = resources.files("companion_app.boards").joinpath("parts.json").read_text("utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BoardDataError(
            f"parts.json is not valid JSON (line {exc.lineno}: {exc.msg}). "
            "Fix the file, or reinstall thonny-iotkit."
        ) from exc
    parts: dict[str, Part] = {}
    for part_type, entry in data.items():
        if part_type.startswith("_"):
            continue
        problems = validate_part_data(part_type, entry)
        if problems:
            raise BoardDataError(
                f"parts.json is broken: {'; '.join(problems)}. "
                "Fix the file, or reinstall thonny-iotkit."
            )
        supply = entry.get("supply") or {}
        parts[part_type] = Part(
            type=part_type,
            name=entry["name"],
            supply_min=supply.get("min"),
            supply_max=supply.get("max"),
            logic_level=entry["logic_level"]["value"],
            pins=_freeze(entry["pins"]),
            raw=_freeze(entry),
        )
    return parts


def raw_parts_data() -> dict[str, Any]:
    """parts.json as written (for tests and docs generation)."""
    text = resources.files("companion_app.boards").joinpath("parts.json").read_text("utf-8")
    return json.loads(text)


def load_part(part_type: str) -> Part | None:
    """The part with this diagram.json type, or None for a type we know nothing about (the
    rules then report it as unknown instead of guessing)."""
    return _all_parts().get(part_type.strip())


def list_parts() -> list[Part]:
    return [p for _, p in sorted(_all_parts().items())]


def listed_parts() -> list[Part]:
    """The parts a person picks from, by human name: an alias (iotkit-dht11, the same part as
    wokwi-dht11) is left out, so no part is offered twice."""
    return sorted(
        (p for p in _all_parts().values() if not p.alias_of), key=lambda p: p.name.casefold()
    )


def part_text(part: Part) -> str:
    """How a part is offered: its human name first, Wokwi's type id second, in brackets
    ("DHT22 / AM2302 temperature and humidity sensor (wokwi-dht22)")."""
    return f"{part.name} ({part.type})"


__all__ = [
    "PIN_ROLES",
    "Part",
    "list_parts",
    "listed_parts",
    "load_part",
    "part_text",
    "raw_parts_data",
    "validate_part_data",
]
