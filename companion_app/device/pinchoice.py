"""Which GPIOs to offer for each pin field of a deploy config (``sensor_pin``, ``i2c_sda``...).

A beginner who types 34 for a DHT22 on an ESP32, or 6 for anything, gets a board that reads
nothing or does not boot. The Deploy panel therefore offers only the pins that work for the board
*and* the part, and suggests the one the wiring diagram actually uses.

No pin fact lives here. Each field names the part it drives (data in ``parts.json``), and each
candidate GPIO is judged by the wiring checker itself: a tiny Wokwi diagram wires that part to
that GPIO (supply, ground, the LED's series resistor, the button's other side to GND, a pull-up
resistor when there is an external one) and the checker's pin rules run on it (`flash-pin`,
`reserved-pin`, `input-only`, `no-internal-pullup`, `strapping-pin`, `unknown-pin`). An error
(or any flash-pin finding) means the pin is not offered; a warning (strapping pin, the REPL UART)
offers it with a note. So
the panel and ``iotkit check`` can never disagree about a pin, and a new board or part needs data
only.

Suggestions, best first: the GPIO the diagram wires the part to; the board's own default (I2C(0)
pins, the on-board LED and button, from the board data); the value already in the config; the
first free GPIO (`GpioInfo.free`) that no other pin field uses.

No Tk here: the panel, the CLI and tests call `pin_choices`.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from companion_app.boards import Board, load_board
from companion_app.boards.parts import Part as PartInfo
from companion_app.boards.parts import load_part
from companion_app.wiring import diagram_rules  # noqa: F401 (registers the pin rules)
from companion_app.wiring.diagram import Diagram, diagram_from_data
from companion_app.wiring.diagram_rules import Netlist
from companion_app.wiring.rules import CheckContext, Finding, registered

log = logging.getLogger(__name__)

#: The wiring rules that judge one part pin on one GPIO (the others look at whole circuits).
PIN_RULES = (
    "unknown-pin",
    "flash-pin",
    "reserved-pin",
    "input-only",
    "no-internal-pullup",
    "strapping-pin",
)
DHT_TYPES = {"dht22": "wokwi-dht22", "dht11": "wokwi-dht11"}
BME280_TYPE = "iotkit-bme280"
BUTTON_TYPE = "wokwi-pushbutton"
LED_TYPE = "wokwi-led"
RESISTOR_TYPE = "wokwi-resistor"


@dataclass(frozen=True)
class FieldSpec:
    """What a config pin field drives: a part type (from parts.json) and the pin of it that goes
    to the GPIO. `also` lists part types a diagram may use for the same thing."""

    part_type: str
    signal: str
    what: str
    also: tuple[str, ...] = ()


def field_spec(name: str, config: Mapping[str, Any] | None = None) -> FieldSpec | None:
    """The part behind a config key, or None when the key is not a pin field."""
    cfg = config or {}
    if name == "sensor_pin":
        part_type = DHT_TYPES.get(str(cfg.get("sensor", "dht22")).lower(), DHT_TYPES["dht22"])
        return FieldSpec(
            part_type, "SDA", "DHT data", also=("wokwi-dht22", "wokwi-dht11", "iotkit-dht11")
        )
    if name == "i2c_sda":
        return FieldSpec(BME280_TYPE, "SDA", "I2C SDA", also=("board-ssd1306", "board-bmp180"))
    if name == "i2c_scl":
        return FieldSpec(BME280_TYPE, "SCL", "I2C SCL", also=("board-ssd1306", "board-bmp180"))
    if name == "button_pin":
        return FieldSpec(BUTTON_TYPE, "1.l", "button")
    if name == "led_pin":
        return FieldSpec(LED_TYPE, "A", "LED")
    return None


#: Every config key `pin_choices` knows, for a front end that asks "is this a pin field?".
PIN_FIELDS = ("sensor_pin", "i2c_sda", "i2c_scl", "button_pin", "led_pin")


def is_pin_field(name: str) -> bool:
    return name in PIN_FIELDS


@dataclass(frozen=True)
class PinChoices:
    """The GPIOs a pin field may take on one board, the best one, and what to know about each.

    ``valid`` is ascending. ``notes`` holds a warning or a hint per GPIO (strapping pin, REPL
    UART, the board's own LED, also used by another field). ``wired`` is the GPIO the diagram
    wires the part to (None without a diagram or when it is not wired); when that GPIO is not
    valid, ``problem`` says why and the suggestion is another pin.
    """

    valid: list[int]
    suggested: int | None
    notes: dict[int, str] = field(default_factory=dict)
    wired: int | None = None
    problem: str = ""
    why: str = ""  # where the suggestion comes from, for a tooltip
    warned: frozenset[int] = frozenset()  # GPIOs whose note is a warning, not just a hint

    def label(self, gpio: int, board: Board | str | None = None) -> str:
        """How a combobox shows a GPIO: "GPIO14 (D14)", the number the program uses and the pin
        printed on the board, with a warning mark when it has a note."""
        mark = "  ⚠" if gpio in self.warned or gpio in self.unusable() else ""
        return gpio_text(gpio, board) + mark

    def unusable(self) -> frozenset[int]:
        """The diagram's GPIO when the checker says it will not work (empty otherwise): the form
        still offers it, marked, so a person who knows better can keep the wiring."""
        if self.wired is not None and self.wired not in self.valid:
            return frozenset({self.wired})
        return frozenset()

    def offered(self) -> list[int]:
        """What the form's list holds: the valid GPIOs and the diagram's, ascending."""
        return sorted(set(self.valid) | self.unusable())

    def disagrees(self, gpio: int | None) -> bool:
        """True when the form's `gpio` is not the one the diagram wires the part to: Deploy
        then asks which one to use rather than contradict the wiring without a word."""
        return self.wired is not None and gpio is not None and gpio != self.wired


def _board_of(board: Board | str | None) -> Board | None:
    return load_board(board) if isinstance(board, str) else board


def pin_name(gpio: int, board: Board | str | None = None) -> str:
    """The name printed next to `gpio` on the board ("D34", "GP15", "VP"), else "GPIO34"."""
    b = _board_of(board)
    pins = b.pins_for_gpio(gpio, include_internal=True) if b is not None else []
    if pins and pins[0].name != str(gpio):
        return pins[0].name
    return f"GPIO{gpio}"


def gpio_text(gpio: int, board: Board | str | None = None) -> str:
    """A GPIO as the Deploy form says it: "GPIO14 (D14)" — the number the program uses first,
    then the name printed on the board, since a beginner wires by the one and configures by
    the other (just "GPIO0" where no header pin has a name of its own)."""
    name = pin_name(gpio, board)
    return f"GPIO{gpio}" if name == f"GPIO{gpio}" else f"GPIO{gpio} ({name})"


_GPIO_TEXT = re.compile(r"\s*(?:GPIO)?(\d+)\b")


def gpio_of_text(text: str) -> int | None:
    """The GPIO number in a form value: "GPIO14 (D14)  ⚠" or "14" -> 14; None if there is none."""
    match = _GPIO_TEXT.match(text or "")
    return int(match.group(1)) if match else None


# -- judging one GPIO with the wiring rules --------------------------------------------------


def _supply_pin(board: Board) -> str:
    """The board pin that gives the logic supply (3V3), so a probe part is powered right."""
    pins = [p for p in board.power_pins() if p.voltage == board.logic_voltage]
    pins.sort(key=lambda p: not p.name.upper().startswith("3V3"))  # "3V3" before "ADC_VREF"
    return (pins or board.power_pins())[0].name


def _probe_wiring(
    board: Board, part: PartInfo, signal: str, pin_name: str, pulled_up: bool
) -> dict[str, Any]:
    """A Wokwi diagram with `part` wired to one board pin the way a beginner would wire it."""
    vcc, gnd = _supply_pin(board), board.ground_pins()[0].name
    # Named after the part ("dht22", "led"), because the rules' messages quote the id.
    pid = part.type.split("-", 1)[-1] if "-" in part.type else part.type
    parts = [
        {"type": board.wokwi_types[0], "id": "board", "attrs": {}},
        {"type": part.type, "id": pid, "attrs": {}},
    ]
    conns: list[list[Any]] = []

    def wire(a: str, b: str) -> None:
        conns.append([a, b, "green", []])

    for p in part.power_pins():
        wire(f"{pid}:{p}", f"board:{vcc}")
    for p in part.ground_pins():
        wire(f"{pid}:{p}", f"board:{gnd}")
    ties = (part.raw.get("internal_connections") or {}).get("value") or ()
    joined = {p for tie in ties for p in tie if signal in tie}
    if (part.raw.get("needs_series_resistor") or {}).get("value"):
        parts.append({"type": RESISTOR_TYPE, "id": "rs", "attrs": {"value": "220"}})
        wire(f"{pid}:{signal}", "rs:1")
        wire("rs:2", f"board:{pin_name}")
    else:
        wire(f"{pid}:{signal}", f"board:{pin_name}")
    # The other side of a two-legged passive part (LED cathode, the button's far legs) to GND.
    for other, entry in part.pins.items():
        if other == signal or other in joined or entry["role"] != "passive":
            continue
        if ties and any(other in tie and tie[0] != other for tie in ties):
            continue  # only one leg per joined pair
        wire(f"{pid}:{other}", f"board:{gnd}")
    if pulled_up:
        parts.append({"type": RESISTOR_TYPE, "id": "rpu", "attrs": {"value": "10000"}})
        wire("rpu:1", f"board:{pin_name}")
        wire("rpu:2", f"board:{vcc}")
    return {"version": 1, "parts": parts, "connections": conns}


@functools.lru_cache(maxsize=4096)
def _judge(
    board_id: str, part_type: str, signal: str, gpio: int, pulled_up: bool, soldered: bool
) -> tuple[bool, tuple[str, ...], str]:
    """(usable, warning notes, why not) for one part pin on one GPIO, by the wiring rules."""
    board = load_board(board_id)
    part = load_part(part_type)
    pins = board.pins_for_gpio(gpio, include_internal=soldered)
    if soldered and not pins:
        return _judge_soldered(board, gpio)
    if part is None or not pins:
        return False, (), f"GPIO{gpio} is not a pin you can wire to on the {board.name}."
    data = _probe_wiring(board, part, signal, pins[0].name, pulled_up)
    diagram = diagram_from_data(data, "pin choice")
    ctx = CheckContext(board=board, diagram=diagram)
    funcs = registered()
    findings: list[Finding] = []
    for name in PIN_RULES:
        if soldered and name == "unknown-pin":
            continue  # the board's own LED / button: soldered on, never wired by hand
        for func in funcs.get(name, ()):
            findings.extend(func(ctx))
    # Flash pins are never offered, not even the S3's octal-PSRAM ones that the checker only
    # warns about: a beginner cannot tell which module they have, and a wrong guess crashes it.
    errors = [f for f in findings if f.severity == "error" or f.rule == "flash-pin"]
    if errors:
        return False, (), errors[0].message
    info = board.gpio_info(gpio)
    notes = []
    for f in findings:
        if f.rule == "strapping-pin" and info.strapping:
            notes.append(f"strapping pin: {info.strapping}")
        elif f.rule == "reserved-pin" and info.reserved:
            notes.append(f"used by the board: {info.reserved.text}")
        elif f.severity == "warning":
            notes.append(f.message)
    return True, tuple(dict.fromkeys(notes)), ""


def _judge_soldered(board: Board, gpio: int) -> tuple[bool, tuple[str, ...], str]:
    """The board's own LED or button on a GPIO with no pin to wire a probe to (the BOOT button
    on GPIO0 of an ESP32 DevKit): the board data already says it is there for this use, so only
    the facts that forbid any use count."""
    info = board.gpio_info(gpio)
    if not info.exists or info.flash:
        return False, (), info.flash or f"GPIO{gpio} does not exist on the {board.name}."
    if info.reserved is not None and info.reserved.severity == "error":
        return False, (), info.reserved.text
    notes = []
    if info.strapping:
        notes.append(f"strapping pin: {info.strapping}")
    if info.reserved is not None:
        notes.append(f"used by the board: {info.reserved.text}")
    return True, tuple(notes), ""


# -- the diagram side --------------------------------------------------------------------------


def _wired_gpio(diagram: Diagram | None, board: Board, spec: FieldSpec) -> int | None:
    """The GPIO the diagram wires the field's part to (first matching part), or None."""
    if diagram is None or diagram.board_part_id is None:
        return None
    wiring_board = diagram.board or board
    nets = Netlist(diagram, wiring_board)
    types = (spec.part_type, *spec.also)
    candidates = [p for p in diagram.parts if p.type in types]
    candidates.sort(key=lambda p: p.type != spec.part_type)  # the configured type first
    for part in candidates:
        info = load_part(part.type)
        if info is None:
            continue
        for pin in _signal_pins(info, spec):
            net = nets.net(f"{part.id}:{pin}")
            reach = [net] + [other for _, other in nets.through_resistors(net)]
            for n in reach:
                gpios = sorted(bp.gpio for bp, _ in nets.io_pins(n) if bp.gpio is not None)
                if gpios:
                    return gpios[0]
    return None


def _signal_pins(info: PartInfo, spec: FieldSpec) -> list[str]:
    """The part pins that count as the field's signal: the named one, its joined legs (a
    button's 1.r), and for a button the other side too (either side may go to the GPIO)."""
    if spec.signal in info.pins:
        first = [spec.signal]
    else:  # another part type of the same kind (an SSD1306 for I2C): same role
        role = (load_part(spec.part_type) or info).pin_role(spec.signal)
        first = info.pins_with_role(role) if role else []
    ties = (info.raw.get("internal_connections") or {}).get("value") or ()
    if ties and info.type == BUTTON_TYPE:
        return [p for tie in ties for p in tie]
    out = list(first)
    for tie in ties:
        if any(p in tie for p in first):
            out += [p for p in tie if p not in out]
    if info.type == LED_TYPE:
        out += [p for p in info.pins if p not in out]  # an active-low LED: GPIO on the cathode
    return out


def diagram_for(source: Any) -> Diagram | None:
    """A Diagram from whatever a caller has: a Diagram, a diagram.json dict or path, or None."""
    if source is None or isinstance(source, Diagram):
        return source
    from companion_app.wiring.diagram import load_diagram

    return load_diagram(source)


# -- the public function -----------------------------------------------------------------------


def _board_default(board: Board, name: str) -> tuple[int | None, str]:
    """The board's own answer for a field (from its data file), and where it comes from."""
    if name in ("i2c_sda", "i2c_scl"):
        bus = board.default_bus("i2c", 0)
        if bus is not None:
            gpio = bus.sda if name == "i2c_sda" else bus.scl
            return gpio, "MicroPython's default I2C(0) pins on this board"
    if name == "led_pin":
        led = board.onboard_led or {}
        if isinstance(led.get("gpio"), int):
            return led["gpio"], "the board's own LED"
    if name == "button_pin" and board.onboard_button is not None:
        return board.onboard_button, "the board's own button"
    return None, ""


def _other_fields(config: Mapping[str, Any], name: str) -> dict[int, str]:
    """GPIOs other pin fields of this config already use (so the suggestion avoids them)."""
    used: dict[int, str] = {}
    i2c = ("i2c_sda", "i2c_scl")
    for other in PIN_FIELDS:
        if other == name:
            continue
        if other == "sensor_pin" and str(config.get("sensor", "dht22")).lower() not in DHT_TYPES:
            continue
        bme280 = str(config.get("sensor", "")).lower() == "bme280"
        if other in i2c and not (bme280 or name in i2c):  # SDA and SCL never share a pin
            continue
        value = config.get(other)
        if isinstance(value, int) and not isinstance(value, bool):
            used.setdefault(value, other)
    return used


def pin_choices(
    board_id: str,
    field: str,
    config: Mapping[str, Any] | None = None,
    diagram: Any = None,
    *,
    external_pull_up: bool = False,
    other_fields: bool = True,
) -> PinChoices:
    """The GPIOs `field` may use on `board_id` for the part the config names, and the best one.

    `diagram` is a Diagram, a diagram.json dict or path, or None. `external_pull_up` says a
    resistor pulls the line up (a button on ESP32 GPIO34-39 then works). With `other_fields`, the
    GPIOs of the config's other pin fields get a note and are not suggested.
    """
    cfg = dict(config or {})
    spec = field_spec(field, cfg)
    if spec is None:
        raise ValueError(f"{field!r} is not a pin field; pin fields are {', '.join(PIN_FIELDS)}")
    board = load_board(board_id)
    diagram = diagram_for(diagram)
    default, default_why = _board_default(board, field)
    soldered = {g for g in (default,) if g is not None and field in ("led_pin", "button_pin")}

    valid: list[int] = []
    notes: dict[int, str] = {}
    warned: set[int] = set()
    problems: dict[int, str] = {}
    candidates = sorted({p.gpio for p in board.gpio_pins() if p.gpio is not None} | soldered)
    for gpio in candidates:
        own = gpio in soldered
        # The board's own button has its pull-up on the board (the BOOT button's 10 kOhm).
        pulled = external_pull_up or (own and field == "button_pin")
        ok, warnings, why_not = _judge(board.id, spec.part_type, spec.signal, gpio, pulled, own)
        if not ok:
            problems[gpio] = why_not
            continue
        valid.append(gpio)
        texts = []
        if own:
            texts.append(default_why)
        texts += list(warnings)
        if warnings:
            warned.add(gpio)
        if texts:
            notes[gpio] = "; ".join(texts)

    if field == "i2c_scl" and other_fields and cfg.get("i2c_sda") not in valid:
        # SDA will not keep its value here either: avoid the pin it will get instead.
        cfg["i2c_sda"] = pin_choices(board.id, "i2c_sda", cfg, diagram).suggested
    wired = _wired_gpio(diagram, board, spec)
    if diagram is not None and wired is None and diagram.board_part_id is not None:
        log.debug("%s: no %s wired in %s", field, spec.what, diagram.source)
    taken = _other_fields(cfg, field) if other_fields else {}
    for gpio, other in taken.items():
        if gpio in notes or gpio in valid:
            notes[gpio] = "; ".join(filter(None, (notes.get(gpio), f"also set as {other}")))
            warned.add(gpio)

    def clean(g: int | None) -> bool:
        return g is not None and g in valid and g not in taken

    problem = ""
    suggested: int | None = None
    why = ""
    if wired is not None:
        if wired in valid:
            suggested, why = wired, "wired in the diagram"
            notes[wired] = "; ".join(filter(None, ("wired in the diagram", notes.get(wired))))
        else:
            problem = problems.get(wired) or f"GPIO{wired} cannot be used for the {spec.what}."
    current = cfg.get(field)
    current = current if isinstance(current, int) and not isinstance(current, bool) else None
    free = [g for g in valid if board.gpio_info(g).free and g not in notes]
    for gpio, reason, quiet in (
        (default, default_why, False),  # the board's own LED may sit on a strapping pin
        (current, "the value in the config", True),
        (free[0] if free else None, "a free pin", True),
    ):
        if suggested is None and clean(gpio) and not (quiet and gpio in warned):
            suggested, why = gpio, reason
    if suggested is None and valid:
        quiet = [g for g in valid if g not in notes] or valid
        suggested, why = quiet[0], "the first usable pin"
    return PinChoices(
        valid=valid,
        suggested=suggested,
        notes=notes,
        wired=wired,
        problem=problem,
        why=why,
        warned=frozenset(warned),
    )


__all__ = [
    "PIN_FIELDS",
    "PIN_RULES",
    "FieldSpec",
    "PinChoices",
    "diagram_for",
    "field_spec",
    "gpio_of_text",
    "gpio_text",
    "is_pin_field",
    "pin_choices",
    "pin_name",
]
