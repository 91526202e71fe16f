"""The wiring rules that look at a diagram only: pins, supplies, shorts, buses and LEDs.

Importing this module registers its rules with `companion_app.wiring.rules`. Each rule reads the
board data (`Board.gpio_info`) and the part data (`load_part`), never hard-coded pin numbers, so a
new board or part needs a data entry and no code.

Why a netlist of our own: `Diagram.nets` are built from wires alone, but a rule has to see what
the electrons see. A Wokwi breadboard joins its holes (a column of five) and its power rails, a
pushbutton's legs 1.l/1.r are one piece of metal, and every GND pin of the board is one node.
`Netlist` adds those joins on top of the diagram's nets, and can step across resistors, which is
how a rule tells a series resistor or a pull-up from a plain wire.

Breadboards are joined the way Wokwi's breadboard parts are: holes "<col>t.a".."<col>t.e" and
"<col>b.f".."<col>b.j" per column, and each rail ("tp", "tn", "bp", "bn") along its whole length.
Split rails (as on some real full-size boards) are not modelled.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Iterable, Iterator

from companion_app.boards import Board, BoardPin, GpioInfo, board_for_part_type
from companion_app.boards.parts import Part as PartInfo
from companion_app.boards.parts import load_part
from companion_app.wiring.diagram import Diagram, UnionFind, split_endpoint
from companion_app.wiring.rules import CheckContext, Finding, catalog, rule

BREADBOARD_PREFIX = "wokwi-breadboard"
RESISTOR = "wokwi-resistor"
LED = "wokwi-led"
_HOLE = re.compile(r"^(\d+)([tb])\.([a-j])$")
_RAIL = re.compile(r"^([tb][pn])\.(\d+)$")
#: Part pin roles that need the GPIO to drive the line (so an input-only GPIO cannot serve them).
_DRIVEN_ROLES = frozenset({"digital-in", "bidirectional", "i2c-sda", "i2c-scl", "pwm-in"})
_SUPPLY_ROLES = frozenset({"power", "ground", "nc"})
#: A GPIO high level above this harms a 3.3 V chip (ESP32 VIH max is VDD + 0.3 V).
_SAFE_MARGIN = 0.3


# -- the netlist ---------------------------------------------------------------------------------


class Netlist(UnionFind):
    """The diagram's nets with the joins inside parts added (breadboard strips, button legs, the
    board's own GND and supply pins), keyed by endpoint ("dht1:SDA")."""

    def __init__(
        self, diagram: Diagram, board: Board, untied: frozenset[str] = frozenset()
    ) -> None:
        """``untied`` names parts whose inside joins are left out, so a rule can see what each
        leg of a pushbutton is wired to on its own."""
        self.diagram = diagram
        self.board = board
        self.board_id = diagram.board_part_id
        self._parent: dict[str, str] = {}
        for net in diagram.nets:
            members = sorted(net)
            for e in members:
                self._union(members[0], e)
        for part in diagram.parts:
            if part.id == self.board_id:
                continue
            if part.type.startswith(BREADBOARD_PREFIX):
                for e in list(self._parent):
                    pid, pin = split_endpoint(e)
                    group = _breadboard_group(pin) if pid == part.id else None
                    if group:
                        self._union(e, f"{part.id}:#{group}")
                continue
            info = load_part(part.type)
            ties = info.tied_pins() if info and part.id not in untied else ()
            for tie in ties:
                for pin in tie[1:]:
                    self._union(f"{part.id}:{tie[0]}", f"{part.id}:{pin}")
        for e in list(self._parent):
            bp = self.board_pin(e)
            if bp is not None and bp.supply is not None:
                self._union(e, f"{self.board_id}:#{bp.supply}")
        groups: dict[str, set[str]] = {}
        for e in self._parent:
            groups.setdefault(self._find(e), set()).add(e)
        self._nets = {root: frozenset(members) for root, members in groups.items()}

    # -- lookups ---------------------------------------------------------------------------------

    def net(self, endpoint: str) -> frozenset[str]:
        """Every endpoint joined to this one (pseudo endpoints "x:#..." included)."""
        if endpoint not in self._parent:
            return frozenset({endpoint})
        return self._nets[self._find(endpoint)]

    def board_pin(self, endpoint: str) -> BoardPin | None:
        pid, pin = split_endpoint(endpoint)
        if self.board_id is None or pid != self.board_id or pin.startswith("#"):
            return None
        return self.board.pin(pin)

    def board_pins(self, net: Iterable[str]) -> list[BoardPin]:
        pins = {bp.name: bp for e in net if (bp := self.board_pin(e)) is not None}
        return [pins[n] for n in sorted(pins)]

    def io_pins(self, net: Iterable[str]) -> list[tuple[BoardPin, GpioInfo]]:
        """The GPIO (and ADC-only, such as ESP8266 A0) board pins on a net, with their facts."""
        found = []
        for bp in self.board_pins(net):
            if bp.kind in ("gpio", "analog"):
                info = self.board.pin_info(bp.name)
                if info is not None:
                    found.append((bp, info))
        return found

    def supplies(self, net: Iterable[str]) -> dict[str, float]:
        """Supply name -> volts of the board power pins on a net ("GND" -> 0.0)."""
        out: dict[str, float] = {}
        for bp in self.board_pins(net):
            if bp.supply is not None:
                out[bp.supply] = bp.voltage or 0.0
        return out

    def part_pins(self, net: Iterable[str]) -> list[tuple[str, str]]:
        """(part id, pin) of the real parts on a net: not the board, breadboards or pseudo ends."""
        out = []
        for e in sorted(net):
            pid, pin = split_endpoint(e)
            if pid == self.board_id or pin.startswith("#") or pid.startswith("$"):
                continue
            part = self.diagram.part(pid)
            if part is None or part.type.startswith(BREADBOARD_PREFIX):
                continue
            out.append((pid, pin))
        return out

    def through_resistors(self, net: frozenset[str]) -> list[tuple[str, frozenset[str]]]:
        """(resistor id, net on its other side) for each resistor with one leg on ``net``."""
        out = []
        for pid, pin in self.part_pins(net):
            part = self.diagram.part(pid)
            if part is not None and part.type == RESISTOR and pin in ("1", "2"):
                other = self.net(f"{pid}:{'2' if pin == '1' else '1'}")
                if other != net:
                    out.append((pid, other))
        return out

    def through_switches(self, net: frozenset[str]) -> list[tuple[str, frozenset[str]]]:
        """(part id, net on its other contact) for each switch (pushbutton) with a contact on
        ``net``: what the net is joined to while the part is pressed."""
        out = []
        for pid, pin in self.part_pins(net):
            part = self.diagram.part(pid)
            info = load_part(part.type) if part is not None else None
            if info is None:
                continue
            for a, b in info.switched_pairs():
                for here, there in ((a, b), (b, a)):
                    if self.net(f"{pid}:{here}") == net:
                        other = self.net(f"{pid}:{there}")
                        if other != net and (pid, other) not in out:
                            out.append((pid, other))
        return out

    def key(self, net: frozenset[str]) -> str:
        """A stable name for a net, to group by."""
        return min(net)


def _breadboard_group(pin: str) -> str | None:
    """The strip a breadboard hole belongs to: "12t.c" -> "12t", "bp.7" -> "bp"."""
    if m := _HOLE.match(pin):
        return f"{m.group(1)}{m.group(2)}"
    if m := _RAIL.match(pin):
        return m.group(1)
    return None


# -- shared helpers ------------------------------------------------------------------------------


@dataclass
class _Setup:
    ctx: CheckContext
    diagram: Diagram
    board: Board
    nets: Netlist

    def finding(
        self, name: str, pin: str | None, where: str, message: str, fix: str, severity: str = ""
    ) -> Finding:
        return Finding(
            rule=name,
            severity=severity or catalog()[name]["severity"],
            pin=pin,
            where=where,
            message=message,
            fix=fix,
        )

    def where(self, part_id: str, pin: str) -> str:
        return self.diagram.where(part_id, pin)

    def pin_words(self, part_id: str, pin: str) -> str:
        """A part's pin as a person reads it: "data pin (SDA)" for a DHT's SDA, whose Wokwi name
        suggests I2C; just "VCC pin" when the label is the name."""
        part = next((p for p in self.diagram.parts if p.id == part_id), None)
        info = load_part(part.type) if part is not None else None
        label = info.pin_label(pin) if info is not None else pin
        return f"{pin} pin" if label == pin else f"{label} pin ({pin})"

    def parts(self) -> Iterator[tuple[str, str, PartInfo]]:
        """(part id, type, part data) of every known non-board part."""
        for part in self.diagram.parts:
            if part.id == self.diagram.board_part_id:
                continue
            info = load_part(part.type)
            if info is not None:
                yield part.id, part.type, info

    def used_gpios(self) -> set[int]:
        return {
            bp.gpio
            for e in self.nets._parent
            if (bp := self.nets.board_pin(e)) is not None and bp.gpio is not None
        }

    def suggest(self, avoid: Iterable[int] = ()) -> str | None:
        """A free header pin to move a wire to, e.g. "D14 (GPIO14)", or None if none is left."""
        used = self.used_gpios() | set(avoid)
        for gpio in self.board.free_gpios():
            if gpio not in used:
                return pin_text(self.board, gpio)
        return None

    def move_fix(self, part_id: str, pin: str, avoid: Iterable[int] = ()) -> str:
        free = self.suggest(avoid)
        if free:
            return f"Move {part_id}:{pin} to a free GPIO such as {free}."
        return f"Move {part_id}:{pin} to another GPIO."


def _setup(ctx: CheckContext) -> _Setup | None:
    """None when there is nothing to check: no diagram, or a diagram without a board part."""
    diagram = ctx.diagram
    if diagram is None or diagram.board_part_id is None:
        return None
    return _Setup(ctx, diagram, ctx.board, Netlist(diagram, ctx.board))


def pin_text(board: Board, gpio: int) -> str:
    """How to name a GPIO to a beginner: the name on the board and the number for Pin()."""
    pins = board.pins_for_gpio(gpio)
    label = pins[0].name if pins else None
    if label and label.isdigit():
        label = pins[0].label  # ESP32-S3/C3 pins are named "4" in Wokwi, "IO4" on the board
    if not label or label == f"GPIO{gpio}":
        return f"GPIO{gpio}"
    return f"{label} (GPIO{gpio})"


def _pin_label(bp: BoardPin) -> str:
    return f"GPIO{bp.gpio}" if bp.gpio is not None else bp.label


def _bp_text(bp: BoardPin) -> str:
    if bp.gpio is None:
        return bp.label
    return f"{bp.name} (GPIO{bp.gpio})" if bp.name != f"GPIO{bp.gpio}" else bp.name


def _users(s: _Setup, bp: BoardPin) -> list[tuple[str, str]]:
    """The part pins wired to a board pin (resistors included), for a finding's 'where'."""
    return s.nets.part_pins(s.nets.net(f"{s.diagram.board_part_id}:{bp.name}"))


def _wired_io_pins(s: _Setup) -> list[BoardPin]:
    """Board GPIO/analog pins that some wire touches, in header order."""
    touched = {bp.name for e in s.nets._parent if (bp := s.nets.board_pin(e)) is not None}
    return [
        bp
        for bp in s.board.pins
        if bp.name in touched and bp.kind in ("gpio", "analog") and _users(s, bp)
    ]


def _where_for(s: _Setup, bp: BoardPin) -> tuple[str, str]:
    """(where, who) for a board pin: its first part pin, or the board pin itself."""
    net = s.nets.net(f"{s.diagram.board_part_id}:{bp.name}")
    users = [(pid, pin) for pid, pin, _ in _gpio_users(s, net)] or _users(s, bp)
    if users:
        pid, pin = users[0]
        return s.where(pid, pin), f"{pid}:{pin}"
    return s.where(s.diagram.board_part_id or "", bp.name), f"{s.diagram.board_part_id}:{bp.name}"


# -- pins that do not exist, flash, reserved, strapping ------------------------------------------


@rule("unknown-pin")
def unknown_pin(ctx: CheckContext) -> Iterator[Finding]:
    """Wires to board pins the board lacks (or has only as internal pads), and to part pins the
    part lacks: such a wire checks nothing and works nowhere, so it is the first thing to fix."""
    s = _setup(ctx)
    if s is None:
        return
    board_id = s.diagram.board_part_id
    names = [p.name for p in s.board.pins if p.header]
    for conn in s.diagram.connections:
        for endpoint in conn.endpoints:
            pid, pin = split_endpoint(endpoint)
            if pid == board_id:
                bp = s.board.pin(pin)
                if bp is not None and bp.header and bp.kind != "nc":
                    continue
                if bp is not None and bp.gpio is not None:
                    gi = s.board.gpio_info(bp.gpio)
                    if gi.flash or gi.reserved:
                        continue  # flash-pin / reserved-pin say it better
                yield _unknown_board_pin(s, endpoint, pin, bp, names)
            else:
                part = s.diagram.part(pid)
                info = load_part(part.type) if part is not None else None
                if info is None or pin in info.pins:
                    continue
                known = ", ".join(info.pins)
                yield s.finding(
                    "unknown-pin",
                    None,
                    s.where(pid, pin),
                    f"{pid} ({info.name}) has no pin called {pin!r}; its pins are {known}.",
                    f"Wire one of {known} instead of {pid}:{pin}.",
                )


def _unknown_board_pin(
    s: _Setup, endpoint: str, pin: str, bp: BoardPin | None, names: list[str]
) -> Finding:
    board = s.board
    if bp is not None and bp.kind == "nc":
        what = f"{pin} on the {board.name} is not connected to anything"
    elif bp is not None:
        what = f"{pin} on the {board.name} is not on the header ({bp.note or 'an internal pad'})"
    else:
        what = f"the {board.name} has no pin called {pin!r}"
        gpio = _gpio_in_name(board, pin)
        if gpio is not None:
            info = board.gpio_info(gpio)
            text = info.reserved.text if info.reserved else info.flash
            if text:
                what += f" (GPIO{gpio}: {text})"
    close = difflib.get_close_matches(pin, names, n=1)
    fix = f"Did you mean {close[0]}? " if close else ""
    fix += "Use a pin name printed in `iotkit boards` / the pinout picture"
    free = s.suggest()
    fix += f", for example {free}." if free else "."
    return s.finding("unknown-pin", pin, f"{s.diagram.source}: {endpoint}", f"{what}.", fix)


def _gpio_in_name(board: Board, name: str) -> int | None:
    """The GPIO number a pin name that is not on the board spells, if the board's own names
    spell GPIO numbers that way: "D24" is GPIO24 on an ESP32 DevKit (D14 is GPIO14), but "D9" on
    a NodeMCU is no GPIO9 (its D5 is GPIO14), so the number is not read as a GPIO there."""
    m = re.fullmatch(r"(?:GPIO|GP|IO)?(\d+)", name.strip(), re.IGNORECASE)
    prefix = ""
    if m is None:
        m = re.fullmatch(r"([A-Za-z]+)(\d+)", name.strip())
        if m is None:
            return None
        prefix = m.group(1).casefold()
        same = [
            p
            for p in board.gpio_pins(include_internal=True)
            if re.fullmatch(re.escape(prefix) + r"\d+", p.name.casefold())
        ]
        if not same or any(int(p.name[len(prefix) :]) != p.gpio for p in same):
            return None
    return int(m.group(m.lastindex or 1))


@rule("flash-pin")
def flash_pin(ctx: CheckContext) -> Iterator[Finding]:
    """Pins wired to the SPI flash / PSRAM: touching them crashes or bricks the running board."""
    s = _setup(ctx)
    if s is None:
        return
    for bp in _wired_io_pins(s):
        info = s.board.gpio_info(bp.gpio) if bp.gpio is not None else None
        if info is None or not info.flash:
            continue
        where, who = _where_for(s, bp)
        yield s.finding(
            "flash-pin",
            _pin_label(bp),
            where,
            f"{who} is wired to {_bp_text(bp)}, which the board uses for its flash memory: "
            f"{info.flash}",
            _move(s, who, bp),
            severity=info.flash_severity or "",
        )


def _move(s: _Setup, who: str, bp: BoardPin) -> str:
    free = s.suggest(avoid=[bp.gpio] if bp.gpio is not None else [])
    if free:
        return f"Move {who} to a free GPIO such as {free}."
    return f"Move {who} to another GPIO."


@rule("reserved-pin")
def reserved_pin(ctx: CheckContext) -> Iterator[Finding]:
    """Pins the board itself uses (wireless chip, USB, the REPL UART, camera...)."""
    s = _setup(ctx)
    if s is None:
        return
    for bp in _wired_io_pins(s):
        info = s.board.gpio_info(bp.gpio) if bp.gpio is not None else None
        if info is None or info.reserved is None or info.flash:
            continue
        where, who = _where_for(s, bp)
        yield s.finding(
            "reserved-pin",
            _pin_label(bp),
            where,
            f"{who} is wired to {_bp_text(bp)}, which the board already uses: "
            f"{info.reserved.text}",
            _move(s, who, bp),
            severity=info.reserved.severity,
        )


@rule("strapping-pin")
def strapping_pin(ctx: CheckContext) -> Iterator[Finding]:
    """Boot strapping pins: a part that holds them at the wrong level stops the board booting."""
    s = _setup(ctx)
    if s is None:
        return
    facts = s.board.strapping_pins()
    for bp in _wired_io_pins(s):
        fact = facts.get(bp.gpio) if bp.gpio is not None else None
        if fact is None:
            continue
        where, who = _where_for(s, bp)
        yield s.finding(
            "strapping-pin",
            _pin_label(bp),
            where,
            f"{who} is wired to {_bp_text(bp)}, a boot strapping pin. {fact.what_goes_wrong}",
            _move(s, who, bp)
            + " If it must stay there, make sure the part leaves the pin alone while the board "
            "resets" + (f" (boot level: {fact.boot_level})." if fact.boot_level else "."),
            severity=fact.severity,
        )


# -- what a GPIO can do --------------------------------------------------------------------------


def _io_of_part_pin(s: _Setup, part_id: str, pin: str) -> list[tuple[BoardPin, GpioInfo]]:
    return s.nets.io_pins(s.nets.net(f"{part_id}:{pin}"))


def _led_io(s: _Setup, part_id: str, pin: str) -> list[tuple[BoardPin, GpioInfo]]:
    """GPIOs an LED leg reaches straight or through one series resistor."""
    net = s.nets.net(f"{part_id}:{pin}")
    found = list(s.nets.io_pins(net))
    for _, other in s.nets.through_resistors(net):
        found += s.nets.io_pins(other)
    return found


@rule("input-only")
def input_only(ctx: CheckContext) -> Iterator[Finding]:
    """A part pin the GPIO must drive (DHT data, I2C, TRIG, servo PWM, an LED) on a pin that can
    only read: the part never gets its signal."""
    s = _setup(ctx)
    if s is None:
        return
    for part_id, part_type, info in s.parts():
        for pin, entry in info.pins.items():
            role = entry["role"]
            if part_type == LED:
                ios = _led_io(s, part_id, pin)
                need = "the LED needs a pin that can output current"
            elif role in _DRIVEN_ROLES:
                ios = _io_of_part_pin(s, part_id, pin)
                need = f"the {_short_name(info)} needs the board to drive this line"
            else:
                continue
            for bp, gi in ios:
                if not gi.input_only:
                    continue
                avoid = [bp.gpio] if bp.gpio is not None else []
                yield s.finding(
                    "input-only",
                    _pin_label(bp),
                    s.where(part_id, pin),
                    f"{part_id}'s {s.pin_words(part_id, pin)} is wired to {_bp_text(bp)}, which can only read: "
                    f"{need}.",
                    s.move_fix(part_id, pin, avoid),
                )


def _adc_ok(board: Board, gi: GpioInfo) -> bool:
    return gi.adc is not None and board.unusable_adc(gi.adc.unit) is None


def _free_adc_pin(s: _Setup) -> str | None:
    """A free header pin that can measure a voltage, for a fix: a GPIO with a working ADC, else
    an ADC-only input such as the ESP8266's A0."""
    used = s.used_gpios()
    for gpio in s.board.free_gpios():
        if gpio not in used and _adc_ok(s.board, s.board.gpio_info(gpio)):
            return pin_text(s.board, gpio)
    for pin in s.board.pins:
        info = s.board.pin_info(pin.name) if pin.kind == "analog" and pin.header else None
        if info is not None and info.adc is not None:
            return pin.label
    return None


@rule("adc-unavailable")
def analog_on_non_adc_pin(ctx: CheckContext) -> Iterator[Finding]:
    """A part's analog output (a potentiometer's wiper) wired to a GPIO that cannot measure a
    voltage, or whose ADC unit does not work on this chip (ESP32-C3 ADC2)."""
    s = _setup(ctx)
    if s is None:
        return
    for part_id, _, info in s.parts():
        for pin in info.pins_with_role("analog-out"):
            for bp, gi in _io_of_part_pin(s, part_id, pin):
                if _adc_ok(s.board, gi):
                    continue
                unusable = s.board.unusable_adc(gi.adc.unit) if gi.adc is not None else None
                if unusable is not None and gi.adc is not None:
                    what = f"{_bp_text(bp)}, which is on {gi.adc.name}. {unusable.text}"
                else:
                    what = f"{_bp_text(bp)}, which has no ADC channel, so it cannot measure it."
                free = _free_adc_pin(s)
                yield s.finding(
                    "adc-unavailable",
                    _pin_label(bp),
                    s.where(part_id, pin),
                    f"{part_id}:{pin} is an analog voltage, but it is wired to {what}",
                    f"Move {part_id}:{pin} to an ADC pin" + (f" such as {free}." if free else "."),
                    severity=unusable.severity if unusable is not None else "",
                )


def _short_name(info: PartInfo) -> str:
    """ "DHT22 / AM2302 temperature..." -> "DHT22"; "hobby servo (SG90 class)" -> "hobby servo"."""
    first = info.name.split()[0]
    return first if first[:1].isupper() else info.name.split(" (")[0]


def _pulled_up_externally(s: _Setup, net: frozenset[str]) -> bool:
    """A resistor from this net to a power pin (or to a net that holds one)."""
    return any(
        any(v > 0 for v in s.nets.supplies(other).values())
        for _, other in s.nets.through_resistors(net)
    )


@rule("no-internal-pullup")
def no_internal_pullup(ctx: CheckContext) -> Iterator[Finding]:
    """A part that needs a pull-up (DHT data, a button to GND) on a GPIO that has no internal
    pull-up, with no resistor to 3V3 either: the line floats and reads garbage."""
    s = _setup(ctx)
    if s is None:
        return
    for part_id, _, info in s.parts():
        for pin, net in _pull_up_needs(s, part_id, info):
            if _pulled_up_externally(s, net):
                continue
            for bp, gi in s.nets.io_pins(net):
                if gi.pull_up:
                    continue
                avoid = [bp.gpio] if bp.gpio is not None else []
                free = s.suggest(avoid)
                yield s.finding(
                    "no-internal-pullup",
                    _pin_label(bp),
                    s.where(part_id, pin),
                    f"{part_id}:{pin} needs a pull-up, but it is wired to {_bp_text(bp)}, which "
                    "has no internal pull-up, and no resistor pulls the line up to 3V3: it will "
                    "float and read random values.",
                    f"Add a {_pull_up_ohms_text(info, pin)} resistor from {_bp_text(bp)} to 3V3"
                    + (f", or move {part_id}:{pin} to {free}." if free else "."),
                )


def _pull_up_ohms_text(info: PartInfo, pin: str) -> str:
    """The pull-up the part's data asks for ("4.7 kOhm" for a DS18B20), 10 kOhm if it names
    none (a button or a DHT is happy with anything from about 4.7 to 10 kOhm)."""
    ohms = ((info.raw.get("pull_up") or {}).get(pin) or {}).get("ohms") or 10000
    return f"{ohms / 1000:g} kOhm" if ohms >= 1000 else f"{ohms:g} Ohm"


@rule("onewire-no-pullup")
def onewire_no_pullup(ctx: CheckContext) -> Iterator[Finding]:
    """A 1-Wire data line (DS18B20 DQ) with no resistor to a supply. Unlike a DHT or a button,
    the GPIO's own pull-up does not do: it is tens of kOhm, and the part data asks for an
    external one ("external": true), so this fires on every GPIO. One finding per bus, since
    one resistor serves every sensor on it."""
    s = _setup(ctx)
    if s is None:
        return
    seen: set[frozenset[str]] = set()
    for part_id, _, info in s.parts():
        for pin, fact in (info.raw.get("pull_up") or {}).items():
            if not (fact.get("needed") and fact.get("external")):
                continue
            net = s.nets.net(f"{part_id}:{pin}")
            if net in seen or _pulled_up_externally(s, net):
                continue
            seen.add(net)
            for bp, _ in s.nets.io_pins(net)[:1]:
                ohms = _pull_up_ohms_text(info, pin)
                yield s.finding(
                    "onewire-no-pullup",
                    _pin_label(bp),
                    s.where(part_id, pin),
                    f"{part_id}:{pin} is a 1-Wire data line on {_bp_text(bp)} with no pull-up "
                    f"resistor: the pin's own pull-up is too weak for 1-Wire, so scan() finds "
                    "no sensor or the readings fail.",
                    f"Add a {ohms} resistor from {_bp_text(bp)} to 3V3 (one for the whole bus).",
                )


def _pull_up_needs(s: _Setup, part_id: str, info: PartInfo) -> list[tuple[str, frozenset[str]]]:
    """(pin, net) of a part's lines that need a pull-up in this wiring.

    A pushbutton needs one on the side that goes to a GPIO when the other side goes to GND; its
    legs are joined in pairs, so the data names one leg and the wiring decides which side.
    """
    ties = (info.raw.get("internal_connections") or {}).get("value")
    if ties and info.needs_pull_up(ties[0][0]):
        sides = [(tie[0], s.nets.net(f"{part_id}:{tie[0]}")) for tie in ties]
        out = []
        for i, (_, net) in enumerate(sides):
            others = [n for j, (_, n) in enumerate(sides) if j != i]
            if s.nets.io_pins(net) and any("GND" in s.nets.supplies(n) for n in others):
                wired = _wired_pins_of(s, part_id)
                pins = [p for p in wired if s.nets.net(f"{part_id}:{p}") == net]
                out.append((pins[0] if pins else sides[i][0], net))
        return out
    return [(p, s.nets.net(f"{part_id}:{p}")) for p in info.pins if info.needs_pull_up(p)]


def _wired_pins_of(s: _Setup, part_id: str) -> list[str]:
    return s.diagram.pins_of(part_id)


# -- supplies and levels -------------------------------------------------------------------------


def _feed(s: _Setup, part_id: str, pins: Iterable[str]) -> dict[str, float]:
    """Supplies (name -> volts) that reach any of these pins by wire."""
    out: dict[str, float] = {}
    for pin in pins:
        out.update(s.nets.supplies(s.nets.net(f"{part_id}:{pin}")))
    return out


def _good_supplies(s: _Setup, info: PartInfo) -> list[str]:
    """Board power pins the part can run from, the one at the board's logic level first."""
    pins = [bp for bp in s.board.power_pins() if bp.voltage and info.accepts_supply(bp.voltage)]
    pins.sort(
        key=lambda bp: (
            abs((bp.voltage or 0) - s.board.logic_voltage),
            not bp.name.upper().startswith(bp.supply or "?"),  # "3V3" before "ADC_VREF"
        )
    )
    return [bp.name for bp in pins]


def _powered_volts(s: _Setup, part_id: str, info: PartInfo) -> dict[str, float]:
    """Power (not GND) supplies on a part's power pins."""
    return {k: v for k, v in _feed(s, part_id, info.power_pins()).items() if v > 0}


@rule("voltage-mismatch")
def voltage_mismatch(ctx: CheckContext) -> Iterator[Finding]:
    """5 V into a 3.3 V GPIO, or 5 V into a 3.3-V-only part: either one can burn the chip."""
    s = _setup(ctx)
    if s is None:
        return
    logic = s.board.logic_voltage
    for part_id, _, info in s.parts():
        fed = _powered_volts(s, part_id, info)
        # A 3.3-V-only part fed from 5 V.
        if info.supply_max is not None:
            for supply, volts in sorted(fed.items()):
                if volts > info.supply_max + 0.05:
                    pin = next(
                        p
                        for p in info.power_pins()
                        if supply in s.nets.supplies(s.nets.net(f"{part_id}:{p}"))
                    )
                    good = _good_supplies(s, info)
                    yield s.finding(
                        "voltage-mismatch",
                        supply,
                        s.where(part_id, pin),
                        f"{part_id} ({info.name}) is fed {supply} on its {pin} pin, but it takes "
                        f"at most {info.supply_max:g} V: it can be damaged.",
                        f"Wire {part_id}:{pin} to "
                        + (good[0] if good else f"a {info.supply_max:g} V supply")
                        + " instead.",
                    )
        if s.board.five_volt_tolerant:
            continue
        # A 5 V signal out of a part into a GPIO.
        for pin in info.pins:
            level = _signal_volts(s, part_id, info, pin, fed)
            if level is None or level <= logic + _SAFE_MARGIN:
                continue
            yield from _five_volt_signal(s, part_id, info, pin, level)
    if not s.board.five_volt_tolerant:
        yield from _five_volt_pull_ups(s)
        yield from _five_volt_wires(s)
        yield from _five_volt_leds(s)


def _io_nets(s: _Setup) -> list[frozenset[str]]:
    """Every net that holds a board GPIO (or ADC-only) pin, once each, wires between two board
    pins included: such a wire is a net like any other."""
    seen: set[str] = set()
    out = []
    for e in list(s.nets._parent):
        bp = s.nets.board_pin(e)
        if bp is None or bp.kind not in ("gpio", "analog"):
            continue
        net = s.nets.net(e)
        if s.nets.key(net) not in seen:
            seen.add(s.nets.key(net))
            out.append(net)
    return out


def _high_supplies(s: _Setup, net: Iterable[str]) -> dict[str, float]:
    """Supplies on a net above what a GPIO takes (5V, VIN, VBUS on a 3.3 V board)."""
    limit = s.board.logic_voltage + _SAFE_MARGIN
    return {k: v for k, v in s.nets.supplies(net).items() if v > limit}


def _supply_pin_name(s: _Setup, net: Iterable[str], supply: str) -> str:
    """The board pin that brings ``supply`` onto a net, named as printed ("VIN", "VBUS")."""
    return next((bp.name for bp in s.nets.board_pins(net) if bp.supply == supply), supply)


def _five_volt_wires(s: _Setup) -> Iterator[Finding]:
    """A wire from VIN/VBUS/5V straight to a GPIO, or a pushbutton that puts 5 V on one when
    pressed: the part-output check cannot see these, since no part drives the line."""
    logic = s.board.logic_voltage
    board_id = s.diagram.board_part_id or ""
    for net in _io_nets(s):
        ios = s.nets.io_pins(net)
        high = _high_supplies(s, net)
        if high:
            supply = max(high, key=lambda k: high[k])
            power = next(bp for bp in s.nets.board_pins(net) if bp.supply == supply)
            for bp, _ in ios:
                yield s.finding(
                    "voltage-mismatch",
                    _pin_label(bp),
                    s.where(board_id, bp.name),
                    f"{_bp_text(bp)} is wired straight to {power.name} ({high[supply]:g} V), but "
                    f"the {s.board.name} takes at most {logic:g} V on a GPIO: it can be damaged.",
                    f"Remove the wire between {bp.name} and {power.name}. To read a 5 V signal, "
                    "put a divider in between (e.g. 1 kOhm in series and 2 kOhm to GND).",
                )
            continue
        for switch, other in s.nets.through_switches(net):
            high = _high_supplies(s, other)
            if not high:
                continue
            supply = max(high, key=lambda k: high[k])
            power = _supply_pin_name(s, other, supply)
            leg = next((pin for pid, pin in s.nets.part_pins(net) if pid == switch), "")
            for bp, _ in ios:
                yield s.finding(
                    "voltage-mismatch",
                    _pin_label(bp),
                    s.where(switch, leg),
                    f"Pressing {switch} puts {power} ({high[supply]:g} V) on {_bp_text(bp)}, but "
                    f"the {s.board.name} takes at most {logic:g} V on a GPIO: it can be damaged.",
                    f"Wire the other side of {switch} to GND instead of {power}, and read the "
                    "button with Pin.PULL_UP (pressed reads 0).",
                )


def _five_volt_leds(s: _Setup) -> Iterator[Finding]:
    """An LED fed from 5 V whose cathode a GPIO sinks: while the pin is high (LED off) nothing
    blocks the 5 V, so the pin sees well above its 3.3 V (and current flows into the chip)."""
    logic = s.board.logic_voltage
    for part in s.diagram.parts:
        if part.type != LED:
            continue
        anode = s.nets.net(f"{part.id}:A")
        feeds: dict[str, tuple[float, str]] = {}
        for net in [anode] + [other for _, other in s.nets.through_resistors(anode)]:
            for supply, volts in _high_supplies(s, net).items():
                feeds[supply] = (volts, _supply_pin_name(s, net, supply))
        if not feeds or s.nets.io_pins(anode):
            continue  # a GPIO on the anode net itself is the wire rule's finding
        volts, power = max(feeds.values())
        for bp, _ in _led_io(s, part.id, "C"):
            yield s.finding(
                "voltage-mismatch",
                _pin_label(bp),
                s.where(part.id, "C"),
                f"{part.id} is fed from {power} ({volts:g} V) and its cathode goes to "
                f"{_bp_text(bp)}: while the pin is high (LED off) the LED does not hold the "
                f"{volts:g} V back, so {_bp_text(bp)} sees more than the {logic:g} V the "
                f"{s.board.name} takes, and can be damaged.",
                f"Feed {part.id}'s anode from 3V3 instead of {power} (keep the resistor), or "
                "switch a 5 V load with a transistor.",
            )


def _five_volt_pull_ups(s: _Setup) -> Iterator[Finding]:
    """A pull-up resistor from a GPIO to 5V/VIN (a DHT on 5 V, a button): the idle line sits at
    5 V."""
    logic = s.board.logic_voltage
    for bp in _wired_io_pins(s):
        net = s.nets.net(f"{s.diagram.board_part_id}:{bp.name}")
        for resistor, other in s.nets.through_resistors(net):
            high = {k: v for k, v in s.nets.supplies(other).items() if v > logic + _SAFE_MARGIN}
            if not high:
                continue
            supply = max(high, key=lambda k: high[k])
            yield s.finding(
                "voltage-mismatch",
                _pin_label(bp),
                _where_for(s, bp)[0],
                f"{resistor} pulls {_bp_text(bp)} up to {supply} ({high[supply]:g} V), but the "
                f"{s.board.name} takes at most {logic:g} V on a GPIO: it can be damaged.",
                f"Wire the free end of {resistor} to 3V3 instead of {supply}.",
            )


def _signal_volts(
    s: _Setup, part_id: str, info: PartInfo, pin: str, fed: dict[str, float]
) -> float | None:
    """The high level a part pin puts out in this wiring, when it is an output."""
    role = info.pin_role(pin)
    if role == "digital-out" and info.outputs_5v(pin):
        # The echo follows the part's supply: on 3V3 it is harmless (undervoltage says why it
        # will not work), unpowered or on 5 V it is 5 V.
        if fed and max(fed.values()) <= s.board.logic_voltage + _SAFE_MARGIN:
            return None
        return info.output_voltage(pin) or 5.0
    if role == "analog-out" and info.logic_level == "supply":
        # A potentiometer's wiper swings up to whatever its ends are wired to.
        ends = _feed(s, part_id, info.pins_with_role("passive"))
        top = max(ends.values(), default=0.0)
        return top or None
    return None


def _five_volt_signal(
    s: _Setup, part_id: str, info: PartInfo, pin: str, volts: float
) -> Iterator[Finding]:
    net = s.nets.net(f"{part_id}:{pin}")
    fix_data = ((info.raw.get("outputs_5v") or {}).get(pin) or {}).get("fix")
    for bp, _ in s.nets.io_pins(net):
        yield s.finding(
            "voltage-mismatch",
            _pin_label(bp),
            s.where(part_id, pin),
            f"{part_id}:{pin} puts out {volts:g} V and is wired straight to {_bp_text(bp)}, "
            f"but the {s.board.name} takes at most {s.board.logic_voltage:g} V on a GPIO: "
            "it can be damaged.",
            fix_data
            or f"Power {part_id} from 3V3, or put a divider between {part_id}:{pin} and "
            f"{_bp_text(bp)}.",
        )
    for resistor, other in s.nets.through_resistors(net):
        ios = s.nets.io_pins(other)
        if not ios:
            continue
        to_ground = any("GND" in s.nets.supplies(n) for _, n in s.nets.through_resistors(other))
        if to_ground:
            continue
        for bp, _ in ios:
            yield s.finding(
                "voltage-mismatch",
                _pin_label(bp),
                s.where(part_id, pin),
                f"{part_id}:{pin} puts out {volts:g} V and reaches {_bp_text(bp)} through "
                f"{resistor} alone: a series resistor does not lower the voltage, and the "
                f"{s.board.name} takes at most {s.board.logic_voltage:g} V.",
                f"Add a second resistor from {_bp_text(bp)} to GND (e.g. 2 kOhm with a 1 kOhm "
                f"{resistor}) so the two make a divider.",
            )


@rule("undervoltage")
def undervoltage(ctx: CheckContext) -> Iterator[Finding]:
    """A 5 V part (HC-SR04, servo, PIR) fed from 3V3: it does not work, or works erratically."""
    s = _setup(ctx)
    if s is None:
        return
    for part_id, _, info in s.parts():
        if info.supply_min is None:
            continue
        fed = _powered_volts(s, part_id, info)
        if not fed or max(fed.values()) >= info.supply_min - 0.05:
            continue
        supply, volts = max(fed.items(), key=lambda kv: kv[1])
        pin = next(
            p for p in info.power_pins() if supply in s.nets.supplies(s.nets.net(f"{part_id}:{p}"))
        )
        good = _good_supplies(s, info)
        note = (info.raw.get("supply") or {}).get("note")
        yield s.finding(
            "undervoltage",
            supply,
            s.where(part_id, pin),
            f"{part_id} ({info.name}) needs at least {info.supply_min:g} V but its {pin} pin is "
            f"fed {supply} ({volts:g} V)." + (f" {note}" if note else ""),
            (
                f"Wire {part_id}:{pin} to {good[0]}."
                if good
                else "Give it its own 5 V supply " "(with a common GND)."
            ),
        )


@rule("power-short")
def power_short(ctx: CheckContext) -> Iterator[Finding]:
    """A supply wired to GND (or to another supply): the regulator or the USB port overheats."""
    s = _setup(ctx)
    if s is None:
        return
    seen: set[str] = set()
    for e in list(s.nets._parent):
        net = s.nets.net(e)
        key = s.nets.key(net)
        if key in seen:
            continue
        seen.add(key)
        supplies = s.nets.supplies(net)
        powered = sorted(k for k, v in supplies.items() if v > 0)
        if not powered or (len(powered) < 2 and "GND" not in supplies):
            continue
        users = s.nets.part_pins(net)
        power_pins = [bp for bp in s.nets.board_pins(net) if bp.supply is not None]
        if users:
            where = s.where(*users[0])
        else:
            where = s.where(s.diagram.board_part_id or "", power_pins[0].name)
        joined = " and ".join(sorted(set(powered) | ({"GND"} & set(supplies))))
        yield s.finding(
            "power-short",
            power_pins[0].label if power_pins else None,
            where,
            f"{joined} are wired together ({', '.join(bp.name for bp in power_pins)}): that is "
            "a short circuit, which can burn the board's regulator or the USB port.",
            "Remove the wire that joins them: a part's VCC goes to 3V3 or 5V, its GND to GND, "
            "never both on one net.",
        )


@rule("missing-ground")
def missing_ground(ctx: CheckContext) -> Iterator[Finding]:
    """A part whose GND is not wired to the board's GND: it has no return path and cannot work."""
    s = _setup(ctx)
    if s is None:
        return
    for part_id, _, info in s.parts():
        grounds = info.ground_pins()
        if not grounds or "GND" in _feed(s, part_id, grounds):
            continue
        yield s.finding(
            "missing-ground",
            None,
            s.where(part_id, grounds[0]),
            f"{part_id}'s {grounds[0]} pin is not wired to GND, so the part cannot work "
            "(every part needs a common ground with the board).",
            f"Wire {part_id}:{grounds[0]} to a GND pin of the board.",
        )


@rule("missing-power")
def missing_power(ctx: CheckContext) -> Iterator[Finding]:
    """A part whose supply pin reaches no board power pin: it stays dead."""
    s = _setup(ctx)
    if s is None:
        return
    for part_id, _, info in s.parts():
        powers = info.power_pins()
        if not powers or _powered_volts(s, part_id, info):
            continue
        pin = powers[0]
        good = _good_supplies(s, info)
        on_gpio = _io_of_part_pin(s, part_id, pin)
        controls = [
            bp for bp in s.nets.board_pins(s.nets.net(f"{part_id}:{pin}")) if bp.kind == "control"
        ]
        instead = ""
        if controls:
            # EN, RUN, 3V3_EN look like supply pins on the header but are inputs: the part's
            # load pulls them low and resets (or switches off) the whole board.
            extra = (
                f" It is wired to {controls[0].label}: {controls[0].what_goes_wrong}"
                if controls[0].what_goes_wrong
                else f" It is wired to {controls[0].label}, a control input, not a supply."
            )
            instead = f" instead of {controls[0].label}"
        elif on_gpio:
            extra = f" It is wired to {_bp_text(on_gpio[0][0])}, a signal pin, not a supply."
        else:
            extra = ""
        yield s.finding(
            "missing-power",
            controls[0].label if controls else None,
            s.where(part_id, pin),
            f"{part_id}'s {s.pin_words(part_id, pin)} is not wired to a supply pin, so the part gets no power."
            + extra,
            f"Wire {part_id}:{pin} to {good[0] if good else 'a supply pin'}{instead}.",
        )


# -- sharing -------------------------------------------------------------------------------------


def _gpio_users(s: _Setup, net: frozenset[str]) -> list[tuple[str, str, str | None]]:
    """(part, pin, role) of parts that use a GPIO net: wired straight, or through one series
    resistor to a net with no board pin (an LED's resistor, a divider). Resistors themselves are
    not users: a pull-up is not a second device."""
    users = []
    seen_nets = [net]
    for _, other in s.nets.through_resistors(net):
        if not s.nets.board_pins(other):
            seen_nets.append(other)
    for n in seen_nets:
        for pid, pin in s.nets.part_pins(n):
            part = s.diagram.part(pid)
            if part is None or part.type == RESISTOR:
                continue
            info = load_part(part.type)
            role = info.pin_role(pin) if info else None
            if role in _SUPPLY_ROLES:
                continue
            users.append((pid, pin, role))
    return users


@rule("pin-conflict")
def pin_conflict(ctx: CheckContext) -> Iterator[Finding]:
    """Two parts on one GPIO (outside a shared I2C bus), or two GPIOs wired together."""
    s = _setup(ctx)
    if s is None:
        return
    seen: set[str] = set()
    for bp in _wired_io_pins(s):
        net = s.nets.net(f"{s.diagram.board_part_id}:{bp.name}")
        key = s.nets.key(net)
        if key in seen:
            continue
        seen.add(key)
        ios = [p for p, _ in s.nets.io_pins(net)]
        if len({p.gpio if p.gpio is not None else p.name for p in ios}) > 1:
            where, _ = _where_for(s, bp)
            names = " and ".join(_bp_text(p) for p in ios)
            yield s.finding(
                "pin-conflict",
                _pin_label(ios[0]),
                where,
                f"{names} are wired together: when one drives high and the other low, the "
                "pins fight and can be damaged.",
                "Remove the wire between them; give each part its own GPIO.",
            )
        users = _gpio_users(s, net)
        parts = sorted({pid for pid, _, _ in users})
        if len(parts) < 2:
            continue
        roles = {role for _, _, role in users}
        if roles in ({"i2c-sda"}, {"i2c-scl"}):
            continue  # a shared I2C bus is meant to be shared
        if _one_shared_bus(s, users):
            continue  # so is a 1-Wire bus (several DS18B20 on one GPIO)
        pid, pin, _ = users[-1]
        avoid = [bp.gpio] if bp.gpio is not None else []
        who = ", ".join(f"{p}:{q}" for p, q, _ in users)
        yield s.finding(
            "pin-conflict",
            _pin_label(bp),
            s.where(pid, pin),
            f"{who} all use {_bp_text(bp)}: one GPIO can serve only one part (outside an I2C "
            "bus), so the parts disturb each other.",
            s.move_fix(pid, pin, avoid),
        )


def _one_shared_bus(s: _Setup, users: list[tuple[str, str, str | None]]) -> bool:
    """Every user is a pin of one multi-drop bus the part data names ("bus": "1-wire")."""
    buses = set()
    for pid, pin, _ in users:
        part = s.diagram.part(pid)
        info = load_part(part.type) if part is not None else None
        pins = (info.raw.get("pins") or {}) if info is not None else {}
        buses.add((pins.get(pin) or {}).get("bus"))
    return len(buses) == 1 and None not in buses


@rule("i2c-address-conflict")
def i2c_address_conflict(ctx: CheckContext) -> Iterator[Finding]:
    """Two I2C parts on one bus with one address: both answer at once and neither reads right."""
    s = _setup(ctx)
    if s is None:
        return
    buses: dict[tuple[str, str, int], list[tuple[str, PartInfo]]] = {}
    for part_id, _, info in s.parts():
        if not info.is_i2c:
            continue
        sda = _bus_pin(info, "i2c-sda", "SDA")
        scl = _bus_pin(info, "i2c-scl", "SCL")
        sda_net = s.nets.net(f"{part_id}:{sda}")
        scl_net = s.nets.net(f"{part_id}:{scl}")
        if len(sda_net) < 2 or len(scl_net) < 2:
            continue  # not wired: nothing shares a bus with it
        address = _address(s, part_id, info)
        if address is None:
            continue
        key = (s.nets.key(sda_net), s.nets.key(scl_net), address)
        buses.setdefault(key, []).append((part_id, info))
    for (_, _, address), members in buses.items():
        if len(members) < 2:
            continue
        first = members[0][0]
        for part_id, info in members[1:]:
            alternates = [a for a in info.i2c_addresses if a != address]
            how = (info.raw.get("i2c") or {}).get("note")
            fix = (
                f"Set {part_id} to 0x{alternates[0]:02x}"
                + (f" ({how})" if how else "")
                + ", or put it on a second I2C bus."
                if alternates
                else f"{info.name} has a fixed address: put {part_id} on a second I2C bus "
                "(other SDA/SCL pins)."
            )
            yield s.finding(
                "i2c-address-conflict",
                None,
                s.where(part_id, _bus_pin(info, "i2c-sda", "SDA")),
                f"{part_id} and {first} are on the same I2C bus and both use address "
                f"0x{address:02x}: they answer at once and neither can be read.",
                fix,
            )


def _bus_pin(info: PartInfo, role: str, name: str) -> str:
    pins = info.pins_with_role(role)
    return name if name in pins else pins[0]


def _address(s: _Setup, part_id: str, info: PartInfo) -> int | None:
    """The part's I2C address: attrs pick it, or an address pin wired high (MPU6050 AD0)."""
    part = s.diagram.part(part_id)
    address = info.i2c_address(part.attrs if part else None)
    pin = (info.raw.get("i2c") or {}).get("address_pin")
    if pin and any(v > 0 for v in s.nets.supplies(s.nets.net(f"{part_id}:{pin}")).values()):
        alternates = [a for a in info.i2c_addresses if a != info.i2c_default_address]
        if alternates:
            return alternates[0]
    return address


@rule("led-no-resistor")
def led_no_resistor(ctx: CheckContext) -> Iterator[Finding]:
    """An LED wired straight between a GPIO and GND/3V3: too much current for the LED and pin."""
    s = _setup(ctx)
    if s is None:
        return
    for part in s.diagram.parts:
        if part.type != LED:
            continue
        sides = {}
        for pin in ("A", "C"):
            net = s.nets.net(f"{part.id}:{pin}")
            sides[pin] = (s.nets.io_pins(net), s.nets.supplies(net))
        (a_io, a_sup), (c_io, c_sup) = sides["A"], sides["C"]
        if not (a_io or a_sup) or not (c_io or c_sup):
            continue
        if not (a_io or c_io) and a_sup.keys() == c_sup.keys():
            continue
        gpio_side = "A" if a_io else "C" if c_io else "A"
        ios = a_io or c_io
        pin_label = _pin_label(ios[0][0]) if ios else (sorted(a_sup) or ["?"])[0]
        ends = [
            _bp_text(io[0][0]) if io else "/".join(sorted(sup))
            for io, sup in (sides["A"], sides["C"])
        ]
        yield s.finding(
            "led-no-resistor",
            pin_label,
            s.where(part.id, gpio_side),
            f"{part.id} sits straight between {ends[0]} (anode) and {ends[1]} (cathode) with no "
            "resistor: too much current flows, which can burn the LED and the pin.",
            f"Put a 220-330 Ohm resistor in series, e.g. between {part.id}:C and GND.",
        )


@rule("button-always-pressed")
def button_always_pressed(ctx: CheckContext) -> Iterator[Finding]:
    """A pushbutton wired across the two legs of one contact (1.l and 1.r), which are joined
    inside it: the GPIO is tied to the other end all the time, so the button reads as pressed
    whether it is pressed or not (and pressing it changes nothing)."""
    s = _setup(ctx)
    if s is None:
        return
    for part_id, _, info in s.parts():
        ties, pairs = info.tied_pins(), info.switched_pairs()
        if not ties or not pairs:
            continue
        wired = set(s.diagram.pins_of(part_id))
        loose: Netlist | None = None  # the wiring with this button's inside joins left out
        for tie in ties:
            legs = [p for p in tie if p in wired]
            if len(legs) < 2:
                continue
            loose = loose or Netlist(s.diagram, s.board, untied=frozenset({part_id}))
            ends: dict[str, tuple[str, list[tuple[BoardPin, GpioInfo]], dict[str, float]]] = {}
            for leg in legs:
                net = loose.net(f"{part_id}:{leg}")
                ios, sup = loose.io_pins(net), loose.supplies(net)
                if ios or sup:
                    ends.setdefault(loose.key(net), (leg, ios, sup))
            found = list(ends.values())
            gpio_end = next((e for e in found if e[1]), None)
            other_end = next((e for e in found if e is not gpio_end), None)
            if gpio_end is None or other_end is None:
                continue
            partner = next((b if a in tie else a for a, b in pairs if a in tie or b in tie), None)
            other_contact = next((t for t in ties if partner in t), ())
            bp = gpio_end[1][0][0]
            yield s.finding(
                "button-always-pressed",
                _pin_label(bp),
                s.where(part_id, other_end[0]),
                f"{part_id}:{gpio_end[0]} and {part_id}:{other_end[0]} are the two legs of one "
                f"contact, joined inside the button, so {_end_text(gpio_end)} and "
                f"{_end_text(other_end)} are connected all the time: the button reads as pressed "
                "whether it is pressed or not.",
                f"Move the wire on {part_id}:{other_end[0]} to "
                + (" or ".join(f"{part_id}:{p}" for p in other_contact) or "the other contact")
                + ": pressing the button joins one contact to the other.",
            )


def _end_text(end: tuple[str, list[tuple[BoardPin, GpioInfo]], dict[str, float]]) -> str:
    """What one leg of a button reaches: its GPIO, else its supplies ("GND")."""
    _, ios, supplies = end
    return _bp_text(ios[0][0]) if ios else "/".join(sorted(supplies))


# -- parts we do not know ------------------------------------------------------------------------


@rule("unknown-part")
def unknown_part(ctx: CheckContext) -> Iterator[Finding]:
    """Parts with no data: say so rather than pass them silently as checked (CONTRACTS.md)."""
    diagram = ctx.diagram
    if diagram is None:
        return
    for part in diagram.parts:
        if (
            part.id == diagram.board_part_id
            or part.type.startswith(BREADBOARD_PREFIX)
            or board_for_part_type(part.type) is not None
            or load_part(part.type) is not None
        ):
            continue
        pins = diagram.pins_of(part.id)
        yield Finding(
            rule="unknown-part",
            severity=catalog()["unknown-part"]["severity"],
            pin=None,
            where=diagram.where(part.id, pins[0] if pins else "*"),
            message=f"{part.id} is a {part.type}, a part type the checker does not know: its "
            "wiring is not checked.",
            fix="Check its pins against its datasheet by hand (supply voltage, GND, logic "
            "level).",
        )


__all__ = ["RULES", "Netlist", "pin_text"]

#: The rules this module registers (the lead imports the module; tests iterate these).
RULES = (
    "unknown-pin",
    "flash-pin",
    "reserved-pin",
    "input-only",
    "no-internal-pullup",
    "onewire-no-pullup",
    "strapping-pin",
    "adc-unavailable",
    "voltage-mismatch",
    "undervoltage",
    "power-short",
    "missing-ground",
    "missing-power",
    "pin-conflict",
    "i2c-address-conflict",
    "led-no-resistor",
    "button-always-pressed",
    "unknown-part",
)
