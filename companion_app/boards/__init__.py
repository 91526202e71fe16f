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
    right_column     obj   optional {"order", "source"}: the order in which ``pins`` lists the
                           right header column. ``pins`` holds the left column top to bottom,
                           then the right column; "top-down" (the default) lists that too top to
                           bottom, "bottom-up" from the bottom pin upwards, the way DIP pins are
                           numbered round the board (Pico pins 21-40). The source is where the
                           pins sit, e.g. the y positions in Wokwi's board.json. The pinout
                           picture (``companion_app/wiring/pinout.py``) draws the rows from it.
    onboard_led      obj   {"gpio": int} or {"name": "LED"} plus optional color, type,
                           active_low, note; null when the board has no user LED
    onboard_button   int   GPIO of the user-readable button (BOOT on ESP dev kits); null if none
    buttons          list  optional, every button: {"name", "gpio" (int or null), "note"}, plus
                           "pulls_to" ("GND") and "source" when the button ties its GPIO
                           straight to that supply (a BOOT button): driving that GPIO as an
                           output shorts it whenever the button is pressed
    pins             list  every pin of the board (see below)
    internal         list  optional, GPIOs the board itself uses: {"gpio": int, "use": str}
    sources          list  {"fact": str, "source": URL or document section}
    flash_mode       obj   optional {"enter", "run", "source", "note"?}: how to put this board in
                           its bootloader and start MicroPython again, laid over the chip's
                           ``flash_mode`` in chips.json, itself over ``_default_flash_mode``
                           there (see `flash_mode`)

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
    what_goes_wrong str  optional, for "control" pins (EN, RUN, 3V3_EN): what happens when a
                   part is fed from it as if it were a supply; needs a "source"

Pin capabilities (what a rule engine checks a wiring or a script against)
-------------------------------------------------------------------------
Facts that hold for every board of a chip live once in ``chips.json``, keyed by chip; facts of one
board (camera, PSRAM and wireless-chip pins, module quirks) live in the board file. The loader
merges them, board over chip, so a new ESP32 board needs no capability table of its own. ``raw``
stays the board file exactly as written; the merged view is ``Board.capabilities``.

Keys, in a chip entry of ``chips.json`` and (all optional) in a board file::

    micropython   obj  what the official firmware gives the board (see Board.micropython):
                       platform (sys.platform), heap_free (bytes a program can allocate after
                       boot on the real 32-bit board), fs_bytes and fs_block (the filesystem
                       partition), freqs_hz (valid machine.freq() values, null: no fixed list),
                       ticks_period, epoch_year, frozen_modules, and sources {key: source}. A
                       board entry overrides single keys (PSRAM, a larger flash).
    gpio_defaults obj  chip only: {"digital_in", "digital_out", "input_only", "pull_up",
                       "pull_down", "pwm"} booleans that hold for every GPIO unless its entry says
                       otherwise
    gpio_sources  obj  chip only: one source per capability kind ("exists", "input_only", "pull",
                       "adc", "dac", "touch", "pwm"), which covers that fact for every GPIO
    gpio          obj  keyed by GPIO number as a string; the keys are the GPIOs the chip has. Each
                       entry overrides the defaults: input_only, pull_up, pull_down, pwm (bool),
                       adc {"unit": 1|2 on ESP32 chips, 0 on single-ADC chips, "channel": int},
                       dac (channel 1|2), touch (channel), note, source. A board entry merges
                       over the chip entry key by key; {"exists": false} removes a GPIO the
                       module does not connect. A board entry that sets a capability needs a source.
    strapping     obj  GPIO -> {"boot_level", "what_goes_wrong", "severity", "source", "note"?}
    flash_pins    obj  GPIO -> {"use", "what_goes_wrong", "severity", "source", "note"?}
                       (SPI flash and PSRAM lines)
    reserved      obj  GPIO -> {"use", "what_goes_wrong", "severity", "source", "note"?}
                       (pins the board or firmware uses: wireless chip, USB, REPL UART, camera...);
                       a reserved entry may set "adc_read_ok": true when the board wires the pin
                       up to be measured (Pico GPIO29, VSYS/3), so reading it is no mistake
    buses         obj  {"i2c"|"spi"|"uart": {id: {"scl","sda" | "sck","mosi","miso" | "tx","rx",
                       "name"?, "note"?, "source"}}}: MicroPython's default pins for I2C(id) etc.
    bus_notes     obj  {"i2c"|...: {"note", "source"}}, e.g. "software I2C only" on the ESP8266
    five_volt_tolerant obj  chip only: {"value": bool, "note", "source"}
    analog_inputs obj  chip only: pin name -> {"adc", "max_voltage", "note", "source"} for ADC
                       inputs that are not GPIOs (ESP8266 A0)
    adc_ids       obj  chip only: what a bare number in machine.ADC(n) means, {"meaning",
                       "channels", "source"}. Absent: n is a GPIO number (ESP32 chips).
                       "channel": n must be a key of "channels" (ESP8266); "channel-or-gpio": a
                       key of "channels" is a channel, any other n a GPIO number (RP2). Each
                       channel is {"gpio": int} | {"pin": board pin name} | {"internal": what
                       it measures}, plus an optional "note".
    adc_units     obj  chip only: unit ("2") -> {"usable": false, "severity", "what_goes_wrong",
                       "source"} for an ADC unit that cannot be used at all (ESP32-C3 ADC2)

For strapping, flash_pins, reserved and buses a board entry replaces the chip entry of the same
key (GPIO or bus id); ``null`` deletes it. ``severity`` is "error" or "warning", the severity the
matching rule (flash-pin, reserved-pin, strapping-pin) reports. An ``analog`` header pin may carry
``adc`` and ``max_voltage`` itself.

Where sources disagree the data takes the safer reading and says so in a ``note`` next to the
fact (ESP32 GPIO9/10 are flash pins although ESPHome only warns; ESP8266 GPIOs are treated as not
5 V tolerant).
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
from typing import Any, Mapping, NamedTuple

from companion_app.errors import IotkitError, UsageError

log = logging.getLogger(__name__)

CHIPS = frozenset({"esp32", "esp32s3", "esp32c3", "esp8266", "rp2040", "rp2350"})

#: The board every command, panel and virtual board starts with when none is chosen: the ESP32
#: DevKit V1 most beginner kits and tutorials use (the default wiring is drawn for it).
DEFAULT_BOARD = "esp32-devkit-v1"

#: gpio: usable with machine.Pin; analog: an ADC-only input with no GPIO number (ESP8266 A0);
#: wireless: a line of the wireless chip (Pico W WL_GPIOn); power/ground: supply pins;
#: control: reset/enable lines; nc: not connected.
PIN_KINDS = frozenset({"gpio", "analog", "wireless", "power", "ground", "control", "nc"})

#: How a board file lists its right header column (``right_column.order``); the first is the
#: default for a file without the key.
RIGHT_COLUMN_ORDERS = ("top-down", "bottom-up")

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


#: Severities a board fact may give the rule it feeds; "info" is for findings, not for pin facts.
FACT_SEVERITIES = frozenset({"error", "warning"})
#: Bus kinds in ``buses`` and the signal names each one uses.
BUS_SIGNALS: dict[str, tuple[str, ...]] = {
    "i2c": ("scl", "sda"),
    "spi": ("sck", "mosi", "miso"),
    "uart": ("tx", "rx"),
}
_CAPABILITY_FLAGS = ("digital_in", "digital_out", "input_only", "pull_up", "pull_down", "pwm")
#: gpio_sources keys, and the per-GPIO keys each one vouches for.
_SOURCE_KINDS = {
    "exists": ("exists", "digital_in", "digital_out"),
    "input_only": ("input_only",),
    "pull": ("pull_up", "pull_down"),
    "adc": ("adc",),
    "dac": ("dac",),
    "touch": ("touch",),
    "pwm": ("pwm",),
}
_GPIO_KEYS = frozenset(k for keys in _SOURCE_KINDS.values() for k in keys) | {"note", "source"}
_PIN_SECTIONS = ("strapping", "flash_pins", "reserved")


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
    def what_goes_wrong(self) -> str | None:
        """For a control pin (EN, RUN, 3V3_EN): what happens when a part is fed from it."""
        return self.raw.get("what_goes_wrong")

    @property
    def supply(self) -> str | None:
        """ "GND" for ground pins, "3V3"/"5V"/... for power pins, None for signal pins."""
        if self.kind == "ground":
            return "GND"
        if self.kind == "power" and self.voltage is not None:
            return supply_name(self.voltage)
        return None


class AdcChannel(NamedTuple):
    """Which ADC reads a pin: ``unit`` 1 or 2 on ESP32 chips (ADC2 stops while Wi-Fi runs), 0 on
    chips with a single ADC (RP2, ESP8266)."""

    unit: int
    channel: int

    @property
    def name(self) -> str:
        """The name datasheets use: "ADC2_CH0" on ESP32 chips, "ADC3" on the RP2040."""
        return f"ADC{self.unit}_CH{self.channel}" if self.unit else f"ADC{self.channel}"


#: adc_ids meanings: what a bare number in machine.ADC(n) stands for (module docstring).
ADC_ID_MEANINGS = frozenset({"channel", "channel-or-gpio"})


class AdcTarget(NamedTuple):
    """What ``machine.ADC(n)`` with a bare number really reads on a board.

    A number is a GPIO on ESP32 chips but a channel on the ESP8266 and RP2, so every rule must
    look at this, never at ``n``. Exactly one of ``gpio``, ``pin`` (a board pin with no GPIO
    number, the ESP8266's A0) and ``internal`` (the temperature sensor, the supply voltage) is
    set, or none when the firmware has no such id (it raises ValueError). ``channel`` is ``n``
    when ``n`` was read as a channel.
    """

    channel: int | None
    gpio: int | None = None
    pin: str | None = None
    internal: str | None = None
    note: str | None = None

    @property
    def exists(self) -> bool:
        return self.gpio is not None or self.pin is not None or self.internal is not None


class UnusableAdc(NamedTuple):
    """An ADC unit that cannot be read at all on a chip (the ESP32-C3's ADC2), with the source."""

    severity: str
    text: str
    source: str


@dataclass(frozen=True)
class BoardButton:
    """A button soldered on the board. ``pulls_to`` ("GND") is set when pressing it ties its
    GPIO straight to that supply, so a script that drives the GPIO shorts it on every press."""

    name: str
    gpio: int | None
    pulls_to: str | None = None
    note: str | None = None
    source: str | None = None


class Reserved(NamedTuple):
    """A pin the board itself uses, with how bad it is to take it over. ``adc_read_ok`` marks a
    pin the board wires up to be measured (the Pico's VSYS/3 on GPIO29): reading it with the ADC
    is its purpose, only driving it is wrong."""

    severity: str
    text: str
    adc_read_ok: bool = False


@dataclass(frozen=True)
class PinFact:
    """One strapping, flash/PSRAM or reserved pin: what goes wrong, and where that is written."""

    gpio: int
    kind: str  # "strapping", "flash_pins" or "reserved"
    what_goes_wrong: str
    severity: str
    source: str
    use: str | None = None
    boot_level: str | None = None
    note: str | None = None

    @property
    def text(self) -> str:
        """One sentence for a finding: the use (if any) and what goes wrong."""
        return f"{self.use}: {self.what_goes_wrong}" if self.use else self.what_goes_wrong


@dataclass(frozen=True)
class BusPins:
    """MicroPython's default pins for one bus, e.g. I2C(0) on an ESP32 is scl=18 sda=19.

    ``pins`` maps the signal names of BUS_SIGNALS to GPIOs (None where the bus has no such line,
    such as the ESP8266's TX-only UART1).
    """

    kind: str
    id: int
    pins: Mapping[str, int | None]
    source: str
    name: str | None = None
    note: str | None = None

    def __getattr__(self, signal: str) -> int | None:
        # bus.scl, bus.tx ...: read-only sugar over ``pins`` for the signals of this kind.
        if signal in BUS_SIGNALS.get(self.__dict__.get("kind", ""), ()):
            return self.pins.get(signal)
        raise AttributeError(signal)


@dataclass(frozen=True)
class GpioInfo:
    """Everything a rule needs to know about one GPIO of one board, chip facts and board facts
    merged, so that rules never read the data files themselves.

    ``exists`` is whether the chip (as fitted on this board) has the GPIO; ``on_header`` whether a
    part can be wired to it. ``strapping`` and ``flash`` are the what-goes-wrong texts, ``reserved``
    is (severity, text); each is None when the pin is not one.
    """

    gpio: int | None
    exists: bool
    on_header: bool = False
    digital_in: bool = False
    digital_out: bool = False
    input_only: bool = False
    pull_up: bool = False
    pull_down: bool = False
    adc: AdcChannel | None = None
    dac: int | None = None
    touch: int | None = None
    pwm: bool = False
    strapping: str | None = None
    flash: str | None = None
    flash_severity: str | None = None
    reserved: Reserved | None = None
    notes: tuple[str, ...] = ()

    @property
    def free(self) -> bool:
        """A pin a beginner can use for anything: bidirectional and not strapping, flash or
        reserved."""
        return (
            self.exists
            and self.digital_out
            and not self.input_only
            and self.strapping is None
            and self.flash is None
            and self.reserved is None
        )


def _adc(value: Any) -> AdcChannel | None:
    if isinstance(value, Mapping):
        return AdcChannel(int(value["unit"]), int(value["channel"]))
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
    def right_column_order(self) -> str:
        """ "top-down" or "bottom-up": how ``pins`` lists the right header column.

        A fact of the board's layout (where its pins sit), so it is data with a source rather
        than a list of board ids in the code that draws the pinout.
        """
        entry = self.raw.get("right_column") or {}
        return str(entry.get("order", RIGHT_COLUMN_ORDERS[0]))

    @property
    def machines(self) -> tuple[str, ...]:
        """Every banner text firmware for this board may print, most likely first."""
        return (self.machine, *self.machine_variants)

    @property
    def micropython(self) -> dict[str, Any]:
        """What the official MicroPython firmware gives this board: heap, filesystem, platform...

        The chip's ``micropython`` entry of chips.json with the board file's ``micropython``
        entry laid over it key by key (``sources`` merged too), because most boards differ from
        their chip only where they add PSRAM or a larger flash. The virtual board runs with
        these figures, so a program that would not fit the real board does not fit it either.
        """
        chip = _thaw(_chips().get(self.chip, {}).get("micropython") or {})
        board = _thaw(self.raw.get("micropython") or {})
        merged = {**chip, **board}
        merged["sources"] = {**chip.get("sources", {}), **board.get("sources", {})}
        return merged

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

    # -- capabilities: chips.json merged with the board file -------------------------------

    @property
    def capabilities(self) -> Mapping[str, Any]:
        """The merged capability data (see the module docstring), GPIO keys as ints, read-only."""
        cached = self.__dict__.get("_capabilities")
        if cached is None:
            cached = _freeze(merge_capabilities(_chips().get(self.chip, {}), _thaw(self.raw)))
            object.__setattr__(self, "_capabilities", cached)
        return cached

    @property
    def five_volt_tolerant(self) -> bool:
        """Whether a 5 V signal may reach a GPIO; the data takes the safe answer where sources
        disagree."""
        return bool((self.capabilities.get("five_volt_tolerant") or {}).get("value", False))

    def gpios(self) -> list[int]:
        """Every GPIO the chip has on this board, header or not, ascending."""
        return sorted(self.capabilities["gpio"])

    def gpio_info(self, gpio: int) -> GpioInfo:
        """What GPIO ``gpio`` can do on this board; ``exists`` is False if the chip lacks it."""
        caps = self.capabilities
        entry = caps["gpio"].get(gpio)
        if entry is None:
            return GpioInfo(gpio=gpio, exists=False)
        facts = {kind: caps[kind].get(gpio) for kind in _PIN_SECTIONS}
        reserved = facts["reserved"]
        flash = facts["flash_pins"]
        return GpioInfo(
            gpio=gpio,
            exists=True,
            on_header=bool(self.pins_for_gpio(gpio)),
            digital_in=bool(entry.get("digital_in")),
            digital_out=bool(entry.get("digital_out")) and not entry.get("input_only"),
            input_only=bool(entry.get("input_only")),
            pull_up=bool(entry.get("pull_up")),
            pull_down=bool(entry.get("pull_down")),
            adc=_adc(entry.get("adc")),
            dac=entry.get("dac"),
            touch=entry.get("touch"),
            pwm=bool(entry.get("pwm")) and not entry.get("input_only"),
            strapping=facts["strapping"]["what_goes_wrong"] if facts["strapping"] else None,
            flash=_fact_text(flash) if flash else None,
            flash_severity=flash["severity"] if flash else None,
            reserved=(
                Reserved(
                    reserved["severity"], _fact_text(reserved), bool(reserved.get("adc_read_ok"))
                )
                if reserved
                else None
            ),
            notes=tuple(entry.get("notes", ())),
        )

    def pin_info(self, name: str) -> GpioInfo | None:
        """Capabilities of a header pin by its Wokwi name; covers ADC-only pins such as the
        ESP8266's A0, which have no GPIO number. None for supply, control and unknown pins."""
        pin = self.pin(name)
        if pin is None:
            return None
        if pin.kind == "gpio" and pin.gpio is not None:
            return self.gpio_info(pin.gpio)
        if pin.kind == "analog":
            chip_entry = (self.capabilities.get("analog_inputs") or {}).get(pin.name, {})
            adc = _adc(pin.raw.get("adc")) or _adc(chip_entry.get("adc"))
            notes = tuple(n for n in (pin.note, chip_entry.get("note")) if n)
            return GpioInfo(
                gpio=None, exists=True, on_header=pin.header, input_only=True, adc=adc, notes=notes
            )
        return None

    def pin_facts(self, kind: str) -> dict[int, PinFact]:
        """The strapping, flash_pins or reserved pins of this board, by GPIO."""
        if kind not in _PIN_SECTIONS:
            raise ValueError(f"kind must be one of {_PIN_SECTIONS}, not {kind!r}")
        return {
            gpio: PinFact(
                gpio=gpio,
                kind=kind,
                what_goes_wrong=e["what_goes_wrong"],
                severity=e["severity"],
                source=e["source"],
                use=e.get("use"),
                boot_level=e.get("boot_level"),
                note=e.get("note"),
            )
            for gpio, e in sorted(self.capabilities[kind].items())
        }

    def strapping_pins(self) -> dict[int, PinFact]:
        return self.pin_facts("strapping")

    def flash_pins(self) -> dict[int, PinFact]:
        return self.pin_facts("flash_pins")

    def reserved_pins(self) -> dict[int, PinFact]:
        return self.pin_facts("reserved")

    def adc_id(self, number: int) -> AdcTarget:
        """What ``machine.ADC(number)`` reads on this board (see AdcTarget), from adc_ids."""
        ids = self.capabilities.get("adc_ids")
        if not ids:
            return AdcTarget(channel=None, gpio=number)
        entry = (ids.get("channels") or {}).get(number)
        if entry is None:
            if ids.get("meaning") == "channel-or-gpio":
                return AdcTarget(channel=None, gpio=number)
            return AdcTarget(channel=number)
        return AdcTarget(
            channel=number,
            gpio=entry.get("gpio"),
            pin=entry.get("pin"),
            internal=entry.get("internal"),
            note=entry.get("note"),
        )

    def adc_channels(self) -> dict[int, AdcTarget]:
        """Every channel number ADC(n) accepts as a channel on this board; empty where ADC(n)
        takes GPIO numbers only."""
        ids = self.capabilities.get("adc_ids") or {}
        return {n: self.adc_id(n) for n in sorted(ids.get("channels") or {})}

    def unusable_adc(self, unit: int) -> UnusableAdc | None:
        """The fact that an ADC unit cannot be used on this chip, or None when it can."""
        entry = (self.capabilities.get("adc_units") or {}).get(unit)
        if not entry or entry.get("usable", True):
            return None
        return UnusableAdc(entry["severity"], entry["what_goes_wrong"], entry["source"])

    def buttons(self) -> list[BoardButton]:
        """The board's own buttons, from the ``buttons`` list of its data file."""
        return [
            BoardButton(
                name=b.get("name", ""),
                gpio=b.get("gpio"),
                pulls_to=b.get("pulls_to"),
                note=b.get("note"),
                source=b.get("source"),
            )
            for b in self.raw.get("buttons") or ()
        ]

    def input_only_gpios(self) -> list[int]:
        return [g for g in self.gpios() if self.gpio_info(g).input_only]

    def adc_pins(self, unit: int | None = None) -> dict[int, AdcChannel]:
        """GPIOs with an ADC channel, optionally of one unit only."""
        found = {g: self.gpio_info(g).adc for g in self.gpios()}
        return {
            g: a for g, a in found.items() if a is not None and (unit is None or a.unit == unit)
        }

    def adc2_pins(self) -> dict[int, AdcChannel]:
        """ESP32 ADC2 pins: they cannot be read while Wi-Fi is on (rule adc2-wifi)."""
        return self.adc_pins(unit=2)

    def free_gpios(self, header_only: bool = True) -> list[int]:
        """GPIOs to suggest in a fix ("use GPIO23 instead"): see GpioInfo.free."""
        return [
            g
            for g in self.gpios()
            if self.gpio_info(g).free and (self.pins_for_gpio(g) or not header_only)
        ]

    def default_bus(self, kind: str, bus_id: int | str = 0) -> BusPins | None:
        """MicroPython's default pins for I2C(id)/SPI(id)/UART(id) on this board; None when the
        firmware has no such bus or no default pins (ESP8266 I2C is software only)."""
        entry = (self.capabilities["buses"].get(kind.lower()) or {}).get(int(bus_id))
        if entry is None:
            return None
        return _bus_pins(kind.lower(), int(bus_id), entry)

    def default_buses(self, kind: str) -> list[BusPins]:
        entries = self.capabilities["buses"].get(kind.lower()) or {}
        return [_bus_pins(kind.lower(), i, e) for i, e in sorted(entries.items())]

    def bus_note(self, kind: str) -> str | None:
        """A note about a bus kind as a whole, e.g. "I2C is software only" on the ESP8266."""
        return ((self.capabilities.get("bus_notes") or {}).get(kind.lower()) or {}).get("note")

    def _index(self) -> dict[str, dict[str, BoardPin]]:
        cached = self.__dict__.get("_pin_index")
        if cached is None:
            cached = {
                "exact": {p.name: p for p in self.pins},
                "folded": {p.name.casefold(): p for p in self.pins},
            }
            object.__setattr__(self, "_pin_index", cached)
        return cached


def _fact_text(entry: Mapping[str, Any]) -> str:
    use = entry.get("use")
    return f"{use}: {entry['what_goes_wrong']}" if use else entry["what_goes_wrong"]


def _bus_pins(kind: str, bus_id: int, entry: Mapping[str, Any]) -> BusPins:
    return BusPins(
        kind=kind,
        id=bus_id,
        pins=MappingProxyType({sig: entry.get(sig) for sig in BUS_SIGNALS.get(kind, ())}),
        source=entry.get("source", ""),
        name=entry.get("name"),
        note=entry.get("note"),
    )


def _int_keys(section: Any) -> dict[int, Any]:
    """JSON object keys are strings; GPIO numbers and bus ids are ints everywhere else."""
    if not isinstance(section, Mapping):
        return {}
    return {int(k): v for k, v in section.items() if str(k).isdigit()}


def merge_capabilities(chip: Mapping[str, Any], board: Mapping[str, Any]) -> dict[str, Any]:
    """Chip facts with the board's own facts laid over them (rules in the module docstring).

    Plain dicts with int keys; notes of the chip and the board entry are both kept, in a
    ``notes`` list, because each says something true about the pin.
    """
    defaults = dict(chip.get("gpio_defaults") or {})
    gpio: dict[int, dict[str, Any]] = {}
    for n, entry in _int_keys(chip.get("gpio")).items():
        gpio[n] = {**defaults, **entry, "notes": [entry["note"]] if entry.get("note") else []}
        gpio[n].pop("note", None)
    for n, entry in _int_keys(board.get("gpio")).items():
        if not isinstance(entry, Mapping):
            continue
        if entry.get("exists") is False:
            gpio.pop(n, None)
            continue
        merged = gpio.setdefault(n, {**defaults, "notes": []})
        merged.update({k: v for k, v in entry.items() if k not in ("note", "source", "exists")})
        if entry.get("note"):
            merged["notes"] = [*merged["notes"], entry["note"]]
    out: dict[str, Any] = {"gpio": gpio}
    for kind in _PIN_SECTIONS:
        merged_section = {n: dict(e) for n, e in _int_keys(chip.get(kind)).items()}
        for n, entry in _int_keys(board.get(kind)).items():
            if entry is None:
                merged_section.pop(n, None)
            else:
                merged_section[n] = dict(entry)
        # A fact about a GPIO the board does not have would only confuse a rule.
        out[kind] = {n: e for n, e in merged_section.items() if n in gpio}
    buses: dict[str, dict[int, Any]] = {}
    for kind in BUS_SIGNALS:
        merged_bus = {i: dict(e) for i, e in _int_keys((chip.get("buses") or {}).get(kind)).items()}
        for i, entry in _int_keys((board.get("buses") or {}).get(kind)).items():
            if entry is None:
                merged_bus.pop(i, None)
            else:
                merged_bus[i] = dict(entry)
        buses[kind] = merged_bus
    out["buses"] = buses
    out["bus_notes"] = {**(chip.get("bus_notes") or {}), **(board.get("bus_notes") or {})}
    out["five_volt_tolerant"] = board.get("five_volt_tolerant", chip.get("five_volt_tolerant"))
    out["analog_inputs"] = dict(chip.get("analog_inputs") or {})
    ids = chip.get("adc_ids")
    out["adc_ids"] = (
        {**ids, "channels": _int_keys(ids.get("channels"))} if isinstance(ids, Mapping) else None
    )
    out["adc_units"] = _int_keys(chip.get("adc_units"))
    out["gpio_sources"] = dict(chip.get("gpio_sources") or {})
    return out


@functools.lru_cache(maxsize=1)
def _chips() -> dict[str, Any]:
    """chips.json, read once (the virtual board reads it on its own; it is only data)."""
    text = resources.files(__name__).joinpath("chips.json").read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BoardDataError(
            f"chips.json is not valid JSON (line {exc.lineno}: {exc.msg}). "
            "Fix the file, or reinstall thonny-iotkit."
        ) from exc


def chip_data(chip: str) -> Mapping[str, Any]:
    """The raw chips.json entry of one chip (read-only), for tools that show a fact's source."""
    return _freeze(_chips().get(chip, {}))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_gpio_entry(where: str, entry: Any, from_board: bool) -> list[str]:
    if not isinstance(entry, dict):
        return [f"{where} must be an object"]
    problems = [f"{where} has an unknown key {k!r}" for k in entry if k not in _GPIO_KEYS]
    for key in (*_CAPABILITY_FLAGS, "exists"):
        if key in entry and not isinstance(entry[key], bool):
            problems.append(f'{where}: "{key}" must be true or false')
    adc = entry.get("adc")
    if adc is not None and not (
        isinstance(adc, dict) and _is_int(adc.get("unit")) and _is_int(adc.get("channel"))
    ):
        problems.append(f'{where}: "adc" must be {{"unit": int, "channel": int}} or null')
    for key in ("dac", "touch"):
        if entry.get(key) is not None and not _is_int(entry[key]):
            problems.append(f'{where}: "{key}" must be a channel number or null')
    sets_fact = any(k not in ("note", "source") for k in entry)
    if from_board and sets_fact and not entry.get("source"):
        problems.append(f"{where} changes a capability of the chip but gives no source")
    return problems


def _check_fact_entry(where: str, kind: str, entry: Any) -> list[str]:
    if entry is None:
        return []
    if not isinstance(entry, dict):
        return [f"{where} must be an object or null"]
    problems = []
    required = ("what_goes_wrong", "severity", "source") + (("use",) if kind != "strapping" else ())
    for key in required:
        if not isinstance(entry.get(key), str) or not entry[key]:
            problems.append(f'{where} needs "{key}"')
    if "severity" in entry and entry["severity"] not in FACT_SEVERITIES:
        problems.append(
            f"{where} has severity {entry['severity']!r}, not one of {sorted(FACT_SEVERITIES)}"
        )
    return problems


def _check_sections(data: Mapping[str, Any], label: str, from_board: bool) -> list[str]:
    """Shape of the capability sections, the same for a chips.json entry and a board file."""
    problems: list[str] = []
    gpio = data.get("gpio", {})
    if not isinstance(gpio, dict):
        return [f'{label}: "gpio" must be an object keyed by GPIO number']
    for key, entry in gpio.items():
        if not str(key).isdigit():
            problems.append(f'{label}: "gpio" key {key!r} is not a GPIO number')
            continue
        problems += _check_gpio_entry(f"{label}: gpio {key}", entry, from_board)
    for kind in _PIN_SECTIONS:
        section = data.get(kind, {})
        if not isinstance(section, dict):
            problems.append(f'{label}: "{kind}" must be an object keyed by GPIO number')
            continue
        for key, entry in section.items():
            if not str(key).isdigit():
                problems.append(f'{label}: "{kind}" key {key!r} is not a GPIO number')
                continue
            problems += _check_fact_entry(f"{label}: {kind} GPIO{key}", kind, entry)
    buses = data.get("buses", {})
    if not isinstance(buses, dict):
        return problems + [f'{label}: "buses" must be an object']
    for kind, entries in buses.items():
        if kind not in BUS_SIGNALS:
            problems.append(f"{label}: bus kind {kind!r} is not one of {sorted(BUS_SIGNALS)}")
            continue
        if not isinstance(entries, dict):
            problems.append(f'{label}: "buses.{kind}" must be an object keyed by bus id')
            continue
        for bus_id, entry in entries.items():
            where = f"{label}: {kind.upper()}({bus_id})"
            if not str(bus_id).isdigit():
                problems.append(f"{where}: the bus id must be a number")
            if entry is None:
                continue
            if not isinstance(entry, dict) or not entry.get("source"):
                problems.append(f'{where} needs a "source"')
                continue
            for sig in BUS_SIGNALS[kind]:
                if sig not in entry or not (entry[sig] is None or _is_int(entry[sig])):
                    problems.append(f'{where}: "{sig}" must be a GPIO number or null')
    return problems


def validate_chip_data(chip: str, data: Any) -> list[str]:
    """Problems with one chips.json entry, as sentences; empty when it is good."""
    if not isinstance(data, dict):
        return [f"chip {chip}: the entry must be an object"]
    label = f"chip {chip}"
    problems = _check_sections(data, label, from_board=False)
    defaults = data.get("gpio_defaults")
    if not isinstance(defaults, dict) or set(defaults) != set(_CAPABILITY_FLAGS):
        problems.append(f'{label}: "gpio_defaults" must set exactly {list(_CAPABILITY_FLAGS)}')
    sources = data.get("gpio_sources")
    if not isinstance(sources, dict) or set(sources) != set(_SOURCE_KINDS):
        problems.append(
            f'{label}: "gpio_sources" must give a source for each of {list(_SOURCE_KINDS)}'
        )
    elif not all(isinstance(v, str) and v for v in sources.values()):
        problems.append(f'{label}: every "gpio_sources" value must be a source text')
    if not data.get("gpio"):
        problems.append(f'{label}: "gpio" lists no GPIOs')
    five = data.get("five_volt_tolerant")
    if not (isinstance(five, dict) and isinstance(five.get("value"), bool) and five.get("source")):
        problems.append(f'{label}: "five_volt_tolerant" needs "value" and "source"')
    return problems + _check_adc_ids(data, label) + _check_adc_units(data, label)


def _check_adc_ids(data: Mapping[str, Any], label: str) -> list[str]:
    ids = data.get("adc_ids")
    if ids is None:
        return []
    where = f'{label}: "adc_ids"'
    if not isinstance(ids, dict) or not ids.get("source"):
        return [f'{where} must be an object with a "source"']
    problems = []
    if ids.get("meaning") not in ADC_ID_MEANINGS:
        problems.append(f'{where}: "meaning" must be one of {sorted(ADC_ID_MEANINGS)}')
    channels = ids.get("channels")
    if not isinstance(channels, dict) or not channels:
        return problems + [f'{where}: "channels" must list the channels']
    gpio = data.get("gpio") or {}
    for key, entry in channels.items():
        at = f"{where} channel {key}"
        if not str(key).isdigit() or not isinstance(entry, dict):
            problems.append(f"{at} must be a channel number with an object")
            continue
        targets = [k for k in ("gpio", "pin", "internal") if entry.get(k) is not None]
        if len(targets) != 1:
            problems.append(f'{at} needs exactly one of "gpio", "pin", "internal"')
        elif targets == ["gpio"]:
            adc = (gpio.get(str(entry["gpio"])) or {}).get("adc")
            if not adc or adc.get("channel") != int(key):
                problems.append(f"{at} says GPIO{entry['gpio']}, but that GPIO has no such channel")
    return problems


def _check_adc_units(data: Mapping[str, Any], label: str) -> list[str]:
    units = data.get("adc_units")
    if units is None:
        return []
    if not isinstance(units, dict):
        return [f'{label}: "adc_units" must be an object keyed by unit']
    problems = []
    for key, entry in units.items():
        at = f'{label}: "adc_units" {key}'
        if not str(key).isdigit() or not isinstance(entry, dict):
            problems.append(f"{at} must be a unit number with an object")
            continue
        if not isinstance(entry.get("usable"), bool):
            problems.append(f'{at} needs "usable" true or false')
        if entry.get("severity") not in FACT_SEVERITIES:
            problems.append(f"{at} needs a severity, one of {sorted(FACT_SEVERITIES)}")
        for k in ("what_goes_wrong", "source"):
            if not entry.get(k):
                problems.append(f'{at} needs "{k}"')
    return problems


def _validate_board_capabilities(data: dict[str, Any], chips: Mapping[str, Any]) -> list[str]:
    problems = _check_sections(data, "board", from_board=True)
    chip = chips.get(data["chip"])
    if not isinstance(chip, Mapping) or not chip.get("gpio"):
        return problems + [f"chips.json has no GPIO table for chip {data['chip']!r}"]
    try:
        caps = merge_capabilities(chip, data)
    except (TypeError, ValueError, AttributeError):
        return problems  # shapes too broken to merge; the shape problems say why
    gpio = caps["gpio"]
    for pin in data["pins"]:
        if not isinstance(pin, dict):
            continue
        if pin.get("kind") == "gpio" and _is_int(pin.get("gpio")) and pin["gpio"] not in gpio:
            problems.append(
                f"pin {pin.get('name')!r} (GPIO{pin['gpio']}) has no capability data: the chip "
                f"table of {data['chip']} has no such GPIO"
            )
        if pin.get("kind") == "analog":
            adc = pin.get("adc") or (caps["analog_inputs"].get(pin.get("name")) or {}).get("adc")
            if not adc:
                problems.append(f"analog pin {pin.get('name')!r} has no ADC channel")
            elif "adc" in pin and not pin.get("source"):
                problems.append(
                    f"analog pin {pin.get('name')!r} gives an ADC channel but no source"
                )
    # A flash pin is never free: not the board's LED or button, not a bus default without a note,
    # and not also "reserved" (two rules with two severities for one pin would contradict).
    flash = caps["flash_pins"]
    for n in flash:
        if n in caps["reserved"]:
            problems.append(f"GPIO{n} is both a flash pin and a reserved pin")
    led = data.get("onboard_led") or {}
    for what, n in (
        ("onboard_led", led.get("gpio")),
        ("onboard_button", data.get("onboard_button")),
    ):
        if _is_int(n) and n in flash:
            problems.append(f"{what} GPIO{n} is a flash pin")
        if _is_int(n) and n not in gpio:
            problems.append(f"{what} GPIO{n} has no capability data")
    for kind, entries in caps["buses"].items():
        for bus_id, entry in entries.items():
            for sig in BUS_SIGNALS[kind]:
                n = entry.get(sig)
                if _is_int(n) and n in flash and not entry.get("note"):
                    problems.append(
                        f"{kind.upper()}({bus_id}) {sig} defaults to flash pin GPIO{n} "
                        "without a note"
                    )
                if _is_int(n) and n not in gpio:
                    problems.append(f"{kind.upper()}({bus_id}) {sig} GPIO{n} does not exist")
    return problems


def _check_right_column(entry: Any) -> list[str]:
    """Problems with the optional ``right_column`` entry (see the board file schema)."""
    if entry is None:
        return []
    if not isinstance(entry, dict):
        return ['"right_column" must be an object with "order" and "source"']
    problems: list[str] = []
    if entry.get("order") not in RIGHT_COLUMN_ORDERS:
        problems.append(f'"right_column" "order" must be one of {list(RIGHT_COLUMN_ORDERS)}')
    if not isinstance(entry.get("source"), str) or not entry["source"].strip():
        problems.append('"right_column" needs a "source" (where the pins sit on the board)')
    return problems


def validate_board_data(
    data: Any, expected_id: str | None = None, chips: Mapping[str, Any] | None = None
) -> list[str]:
    """Problems with one board file's content, as sentences; empty when it is good.

    Kept separate from loading so tests (and someone adding a board) get every problem at once.
    The capability checks merge the board with its chip's entry in ``chips`` (chips.json unless
    given): every header GPIO needs capability data, every fact a source, every severity is
    error or warning, and no flash pin may be offered as free.
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
    problems += _check_right_column(data.get("right_column"))
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
        if "what_goes_wrong" in pin:
            if kind != "control":
                problems.append(f'{where}: only a control pin has "what_goes_wrong"')
            if not pin.get("source"):
                problems.append(f'{where} gives "what_goes_wrong" but no "source"')
    for i, b in enumerate(data.get("buttons") or ()):
        where = f"button #{i + 1}"
        if not isinstance(b, dict) or not isinstance(b.get("name"), str):
            problems.append(f'{where} needs a "name"')
            continue
        if b.get("gpio") is not None and not _is_int(b["gpio"]):
            problems.append(f'{where} ({b["name"]}): "gpio" must be a GPIO number or null')
        if "pulls_to" in b:
            if b["pulls_to"] != "GND":
                problems.append(f'{where} ({b["name"]}): "pulls_to" must be "GND"')
            if not b.get("source"):
                problems.append(f'{where} ({b["name"]}) gives "pulls_to" but no "source"')
    kinds = {p.get("kind") for p in data["pins"] if isinstance(p, dict)}
    if "ground" not in kinds:
        problems.append("the board has no ground pin")
    if "power" not in kinds:
        problems.append("the board has no power pin")
    for i, src in enumerate(data["sources"]):
        if not (isinstance(src, dict) and src.get("fact") and src.get("source")):
            problems.append(f'source #{i + 1} needs "fact" and "source"')
    if data["chip"] in CHIPS:
        problems += _validate_board_capabilities(data, _chips() if chips is None else chips)
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


#: The keys of a ``flash_mode`` entry (a chips.json chip, a board file, ``_default_flash_mode``).
FLASH_MODE_KEYS = ("enter", "run", "source")


@dataclass(frozen=True)
class FlashMode:
    """How a person gets this board into its bootloader, and back to MicroPython afterwards.

    ``enter`` is the advice when the chip does not answer the flasher; ``run`` when the flasher
    could not restart it. ``basis`` says whose words they are: a board id, a chip id, or "" for
    the general ESP text used when neither is known.
    """

    enter: str
    run: str
    source: str
    basis: str


def flash_mode(board: Board | str | None = None, chip: str | None = None) -> FlashMode:
    """The bootloader steps for `board` (an id or a Board), else for `chip`, else general ones.

    The words are data: the chip's ``flash_mode`` in chips.json, with the board file's
    ``flash_mode`` laid over it key by key, because "hold BOOT, press EN" is wrong for a board
    with no BOOT button (ESP32-CAM) or one flashed as a USB drive (Pico). An unknown board id
    raises `UnknownBoardError`; an unknown chip gets the general text.
    """
    if isinstance(board, str):
        board = load_board(board)
    chips = _chips()
    if board is not None:
        chip = board.chip
    chip_entry = chips.get(chip, {}) if chip else {}
    merged: dict[str, str] = dict(chips.get("_default_flash_mode") or {})
    basis = ""
    if isinstance(chip_entry, Mapping) and chip_entry.get("flash_mode"):
        merged.update(chip_entry["flash_mode"])
        basis = str(chip)
    board_entry = board.raw.get("flash_mode") if board is not None else None
    if board_entry:
        merged.update(_thaw(board_entry))
        basis = board.id if board is not None else basis
    missing = [k for k in FLASH_MODE_KEYS if not merged.get(k)]
    if missing:
        raise BoardDataError(
            f"chips.json has no flash_mode {', '.join(missing)} for {basis or 'any chip'}. "
            "Reinstall thonny-iotkit."
        )
    return FlashMode(merged["enter"], merged["run"], merged["source"], basis)


__all__ = [
    "BUS_SIGNALS",
    "CHIPS",
    "FACT_SEVERITIES",
    "FLASH_MODE_KEYS",
    "FlashMode",
    "flash_mode",
    "PIN_KINDS",
    "RIGHT_COLUMN_ORDERS",
    "ADC_ID_MEANINGS",
    "AdcChannel",
    "AdcTarget",
    "Board",
    "BoardButton",
    "BoardDataError",
    "BoardPin",
    "BusPins",
    "GpioInfo",
    "PinFact",
    "Reserved",
    "UnusableAdc",
    "chip_data",
    "merge_capabilities",
    "validate_chip_data",
    "UnknownBoardError",
    "board_for_part_type",
    "list_boards",
    "load_board",
    "supply_name",
    "validate_board_data",
]
