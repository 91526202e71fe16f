"""The script rules: what a MicroPython script asks of each pin, checked against the board data
and, when one is given, against the diagram.

The facts come from `codescan` (which decides nothing) and `boards` (which holds every pin fact
with its source); this module only compares the two, so a wrong verdict is fixed either in the
data or here, never in both. Messages quote the script's own call and line, because a beginner
recognises `Pin(34, Pin.OUT)` faster than "GPIO34 output".

Conventions shared by the rules below:

- A use whose pin the scan could not fold (`pin=None`, not a bus default) is skipped: guessing
  would produce findings about pins the script never uses.
- Bus signals left to the board's defaults (`note="default-pins"`) are resolved with
  `Board.default_bus`, but only the rules where the default itself is the problem use them
  (flash-pin: ESP32 UART(1) defaults to flash pins; pin-conflict; bus-pin-mismatch). Strapping and
  reserved warnings about a default the user never chose would be noise.
- The onboard LED and BOOT button are what beginners are told to use first, so `strapping-pin`
  and `code-wiring-mismatch` stay quiet about them.
- `ADC(n)` with a bare number arrives already resolved (`codescan.resolve_for_board`, run by
  `run_checks`): `pin` is the GPIO or board pin that channel reads, or None for an internal
  source such as the temperature sensor. No rule here reads a channel number as a GPIO.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from companion_app.boards import Board, BoardPin, GpioInfo
from companion_app.boards.parts import load_part
from companion_app.wiring.codescan import PinUse, ScanResult
from companion_app.wiring.diagram import Diagram, split_endpoint
from companion_app.wiring.diagram_rules import Netlist
from companion_app.wiring.rules import CheckContext, Finding, catalog, gpio_label, rule

_BUS_KINDS = {"i2c": "i2c", "softi2c": "i2c", "spi": "spi", "softspi": "spi", "uart": "uart"}
#: Uses that drive the pin (or need it to drive): impossible on an input-only GPIO. SPI MISO
#: and UART RX only listen, so they are fine there.
_DRIVING_KINDS = {"pwm", "neopixel", "dht", "onewire"}
_LISTENING_SIGNALS = {"miso", "rx"}
_DHT_TYPES = ("wokwi-dht22", "wokwi-dht11", "iotkit-dht11")
_DHT_DATA_PIN = "SDA"  # Wokwi names the DHT data pin SDA (CONTRACTS.md parts table)


@dataclass(frozen=True)
class _Use:
    """A script use with its GPIO resolved against the board."""

    scan: ScanResult
    use: PinUse
    gpio: int | None  # None: a named pin with no GPIO (Pico W "LED"), or unresolvable
    default: bool = False  # the pin came from the board's default bus pins

    @property
    def where(self) -> str:
        return f"{self.scan.path}:{self.use.line}"

    @property
    def call(self) -> str:
        """`Pin(34, Pin.OUT) on line 5`: how messages name the use."""
        return f"{_short(self.use.source)} on line {self.use.line}"


def _short(source: str, limit: int = 60) -> str:
    return source if len(source) <= limit else source[: limit - 3] + "..."


def _finding(name: str, u: _Use, message: str, fix: str, severity: str | None = None) -> Finding:
    return Finding(
        rule=name,
        severity=severity or catalog()[name]["severity"],
        pin=gpio_label(u.gpio) if u.gpio is not None else _name_pin(u.use.pin),
        where=u.where,
        message=message,
        fix=fix,
        line=u.use.line,
    )


def _name_pin(pin: int | str | None) -> str | None:
    return None if pin is None else str(pin)


def _is_led_name(board: Board, pin: str) -> bool:
    """`Pin("LED")`: the onboard LED's own name, which rp2 firmware defines on every board."""
    led = board.onboard_led or {}
    if not led:
        return False
    named = str(led.get("name", "")).casefold() == pin.casefold()
    return named or (board.chip.startswith("rp2") and pin.casefold() == "led")


def resolve_pin(board: Board, pin: int | str | None) -> int | None:
    """A script's pin value as a GPIO number: ints as they are; names ("LED", "D5") through the
    board's onboard LED and its Wokwi pin names. None when there is no GPIO behind the name."""
    if isinstance(pin, int) or pin is None:
        return pin
    if _is_led_name(board, pin):
        return (board.onboard_led or {}).get("gpio")
    found = board.pin(pin)
    return found.gpio if found is not None and found.kind == "gpio" else None


def _known_name(board: Board, use: PinUse) -> bool:
    """A pin name the firmware knows: the LED or a GPIO's name. An ADC-only input ("A0") has no
    name in the firmware; it only appears here because resolve_for_board turned ADC(0) into it."""
    pin = str(use.pin)
    if _is_led_name(board, pin):
        return True
    found = board.pin(pin)
    if found is not None and found.kind == "analog":
        return use.note == "adc-channel"
    return found is not None and found.kind == "gpio"


def _uses(ctx: CheckContext, defaults: bool = False) -> Iterator[_Use]:
    """Every use with a pin, in script order; bus defaults resolved only when asked for."""
    for scan in ctx.scans:
        if scan.syntax_error:
            continue
        for use in scan.uses:
            if use.kind == "wlan":
                continue
            if use.pin is None:
                if defaults and use.note == "default-pins" and use.kind in ("i2c", "spi", "uart"):
                    bus = ctx.board.default_bus(use.kind, use.bus_id or 0)
                    gpio = bus.pins.get(use.role) if bus is not None else None
                    if gpio is not None:
                        yield _Use(scan, use, gpio, default=True)
                continue
            yield _Use(scan, use, resolve_pin(ctx.board, use.pin))


def _suggest(board: Board, ok: Callable[[GpioInfo], bool], avoid: Iterable[int] = ()) -> str | None:
    """A free header GPIO that passes `ok`, for a fix ("such as GPIO25")."""
    skip = set(avoid)
    for gpio in board.free_gpios():
        if gpio not in skip and ok(board.gpio_info(gpio)):
            return f"GPIO{gpio}"
    return None


def _can_serve(board: Board, use: PinUse) -> Callable[[GpioInfo], bool]:
    """What a replacement pin must be able to do for this use, so that a fix never suggests
    moving an ADC read, PWM, touch or DAC to a pin that cannot do it."""
    if use.kind == "adc":
        return lambda i: i.adc is not None and i.adc.unit < 2 and not board.unusable_adc(i.adc.unit)
    if use.kind in ("pwm", "touch", "dac"):
        return lambda i: bool(getattr(i, use.kind))
    return lambda i: True


def _used_gpios(ctx: CheckContext) -> set[int]:
    return {u.gpio for u in _uses(ctx) if u.gpio is not None}


def _such_as(board: Board, ok: Callable[[GpioInfo], bool], ctx: CheckContext) -> str:
    pick = _suggest(board, ok, _used_gpios(ctx))
    return f", such as {pick}" if pick else ""


def _onboard(board: Board, gpio: int) -> bool:
    """The onboard LED or a button of the board itself (BOOT): fine to use with no wiring."""
    led = board.onboard_led or {}
    buttons = {b.get("gpio") for b in board.raw.get("buttons", ()) or ()}
    return gpio == led.get("gpio") or gpio == board.onboard_button or gpio in buttons


# --- rules ---------------------------------------------------------------------------------


@rule("script-syntax")
def script_syntax(ctx: CheckContext) -> Iterator[Finding]:
    for scan in ctx.scans:
        if not scan.syntax_error:
            continue
        line_text, _, what = scan.syntax_error.partition(": ")
        try:
            line = int(line_text.removeprefix("line "))
        except ValueError:
            line = 0
        yield Finding(
            rule="script-syntax",
            severity=catalog()["script-syntax"]["severity"],
            pin=None,
            where=f"{scan.path}:{line}",
            message=f"The script does not parse ({what} on line {line}), so its pins could not "
            "be checked.",
            fix="Fix the line (Thonny's Run button shows the same error), then check again.",
            line=line or None,
        )


@rule("unknown-pin")
def unknown_pin(ctx: CheckContext) -> Iterator[Finding]:
    board = ctx.board
    for u in _uses(ctx):
        if isinstance(u.use.pin, str):
            if not _known_name(board, u.use):
                yield _finding(
                    "unknown-pin",
                    u,
                    f"{u.call}: {board.name} has no pin called {u.use.pin!r}.",
                    "Use a GPIO number, as printed next to the header pin "
                    f"(run `iotkit boards` and check the {board.id} pinout).",
                )
            continue
        gpio = u.use.pin
        if gpio is None:
            continue
        info = board.gpio_info(gpio)
        pick = _such_as(board, _can_serve(board, u.use), ctx)
        if not info.exists:
            yield _finding(
                "unknown-pin",
                u,
                f"{u.call}: {board.name} has no GPIO{gpio}.",
                f"Use a GPIO this board has{pick}.",
            )
        elif not info.on_header and not (info.flash or info.reserved or _onboard(board, gpio)):
            yield _finding(
                "unknown-pin",
                u,
                f"{u.call}: GPIO{gpio} is not broken out on {board.name}, so nothing can be "
                "wired to it.",
                f"Use a GPIO that is on the header{pick}.",
            )


@rule("flash-pin")
def flash_pin(ctx: CheckContext) -> Iterator[Finding]:
    for u in _uses(ctx, defaults=True):
        if u.gpio is None:
            continue
        info = ctx.board.gpio_info(u.gpio)
        if not info.flash:
            continue
        how = " (the board's default pin for this bus)" if u.default else ""
        yield _finding(
            "flash-pin",
            u,
            f"{u.call}: GPIO{u.gpio}{how} is wired to the flash chip. {info.flash}",
            f"Use another pin{_such_as(ctx.board, _can_serve(ctx.board, u.use), ctx)}"
            + (", and pass the pins to the bus explicitly." if u.default else "."),
            severity=info.flash_severity,
        )


@rule("reserved-pin")
def reserved_pin(ctx: CheckContext) -> Iterator[Finding]:
    for u in _uses(ctx):
        if u.gpio is None:
            continue
        info = ctx.board.gpio_info(u.gpio)
        if info.reserved is None:
            continue
        if u.use.kind == "adc" and info.reserved.adc_read_ok:
            continue  # the board wires this pin up to be measured (Pico GPIO29: VSYS/3)
        yield _finding(
            "reserved-pin",
            u,
            f"{u.call}: the board uses GPIO{u.gpio} itself. {info.reserved.text}",
            f"Use another pin{_such_as(ctx.board, _can_serve(ctx.board, u.use), ctx)}.",
            severity=info.reserved.severity,
        )


def _drives(use: PinUse) -> str | None:
    """What about this use needs an output, or None when it only reads."""
    if use.kind == "pin":
        mode = use.role.split("+")[0]
        if mode in ("out", "open-drain", "alt", "alt-open-drain"):
            return "drives it as an output"
        if use.pull == "down":
            return "asks for a pull-down resistor, which it does not have"
        return None
    if use.kind in _DRIVING_KINDS:
        return {
            "pwm": "sends PWM on it",
            "neopixel": "drives NeoPixels from it",
            "dht": "needs to drive the DHT data line (it is bidirectional)",
            "onewire": "needs to drive the 1-Wire line (it is bidirectional)",
        }[use.kind]
    if use.kind in _BUS_KINDS and use.role not in _LISTENING_SIGNALS:
        return f"needs to drive the {use.role.upper()} line"
    return None


@rule("input-only")
def input_only(ctx: CheckContext) -> Iterator[Finding]:
    for u in _uses(ctx):
        if u.gpio is None:
            continue
        info = ctx.board.gpio_info(u.gpio)
        what = _drives(u.use)
        if not (info.exists and info.input_only and what):
            continue
        yield _finding(
            "input-only",
            u,
            f"{u.call}: GPIO{u.gpio} can only read, but this {what}.",
            "Use a pin that can output"
            f"{_such_as(ctx.board, lambda i: i.digital_out and i.pull_up, ctx)}; keep GPIO{u.gpio} "
            "for inputs such as a button with an external resistor, or ADC.",
        )


@rule("no-internal-pullup")
def no_internal_pullup(ctx: CheckContext) -> Iterator[Finding]:
    for u in _uses(ctx):
        if u.gpio is None or u.use.pull != "up":
            continue
        info = ctx.board.gpio_info(u.gpio)
        if not info.exists or info.pull_up:
            continue
        yield _finding(
            "no-internal-pullup",
            u,
            f"{u.call}: GPIO{u.gpio} has no internal pull-up, so PULL_UP does nothing and the "
            "pin floats.",
            "Add a 10 kOhm resistor from the pin to 3V3, or use a pin with a pull-up"
            f"{_such_as(ctx.board, lambda i: i.pull_up, ctx)}.",
        )


@rule("strapping-pin")
def strapping_pin(ctx: CheckContext) -> Iterator[Finding]:
    board = ctx.board
    for u in _uses(ctx):
        if u.gpio is None:
            continue
        info = board.gpio_info(u.gpio)
        if not info.strapping or _onboard(board, u.gpio):
            continue
        yield _finding(
            "strapping-pin",
            u,
            f"{u.call}: GPIO{u.gpio} is a boot strapping pin. {info.strapping}",
            f"Use a pin with no boot role{_such_as(board, _can_serve(board, u.use), ctx)}, or make "
            f"sure nothing wired to GPIO{u.gpio} pulls it the wrong way while the board resets.",
        )


def _adc_ids_text(board: Board) -> str:
    """What ADC(n) accepts on a board whose firmware reads n as a channel, for a fix."""
    said = []
    for n, target in board.adc_channels().items():
        reads = f"GPIO{target.gpio}" if target.gpio is not None else target.pin or target.internal
        said.append(f"ADC({n}) reads {reads}")
    return "; ".join(said)


@rule("adc-unavailable")
def adc_unavailable(ctx: CheckContext) -> Iterator[Finding]:
    board = ctx.board
    for scan in ctx.scans:
        if scan.syntax_error:
            continue
        for use in scan.uses:
            if use.kind == "adc" and use.note == "adc-no-such-id":
                u = _Use(scan, use, None)
                yield _finding(
                    "adc-unavailable",
                    u,
                    f"{u.call}: {board.name} has no ADC({use.adc_channel}), so the script stops "
                    "with ValueError.",
                    f"Use one that exists: {_adc_ids_text(board)}.",
                )
    for u in _uses(ctx):
        if u.use.kind != "adc" or u.gpio is None:
            continue
        info = board.gpio_info(u.gpio)
        if not info.exists:
            continue  # unknown-pin reports pins the board lacks
        pick = _such_as(board, _can_serve(board, u.use), ctx)
        if info.adc is None:
            yield _finding(
                "adc-unavailable",
                u,
                f"{u.call}: GPIO{u.gpio} has no ADC channel, so it cannot read a voltage.",
                f"Wire the analog signal to an ADC pin{pick}.",
            )
            continue
        unusable = board.unusable_adc(info.adc.unit)
        if unusable is not None:
            yield _finding(
                "adc-unavailable",
                u,
                f"{u.call}: GPIO{u.gpio} is on {info.adc.name}. {unusable.text}",
                f"Wire the analog signal to an ADC1 pin{pick}.",
                severity=unusable.severity,
            )


@rule("adc2-wifi")
def adc2_wifi(ctx: CheckContext) -> Iterator[Finding]:
    board = ctx.board
    for u in _uses(ctx):
        if u.use.kind != "adc" or u.gpio is None:
            continue
        gpio = u.gpio
        adc = board.gpio_info(gpio).adc
        if adc is None or adc.unit != 2 or board.unusable_adc(adc.unit) is not None:
            continue  # an ADC2 that never works is adc-unavailable's finding
        pick = _such_as(board, lambda i: i.adc is not None and i.adc.unit == 1, ctx)
        fix = f"Use an ADC1 pin{pick}: ADC1 works with Wi-Fi on."
        if u.scan.wlan_active:
            yield _finding(
                "adc2-wifi",
                u,
                f"{u.call}: GPIO{gpio} is on ADC2 ({adc.name}), and this script turns Wi-Fi on. "
                "ADC2 cannot be read while Wi-Fi runs, so read() fails or returns garbage.",
                fix,
                severity="error",
            )
        else:
            yield _finding(
                "adc2-wifi",
                u,
                f"{u.call}: GPIO{gpio} is on ADC2 ({adc.name}), which stops working whenever "
                "Wi-Fi is on (in this script, boot.py or a library).",
                fix + " Keep this pin only if the board never uses Wi-Fi.",
            )


@rule("pwm-unavailable")
def pwm_unavailable(ctx: CheckContext) -> Iterator[Finding]:
    for u in _uses(ctx):
        if u.use.kind != "pwm" or u.gpio is None:
            continue
        info = ctx.board.gpio_info(u.gpio)
        if not info.exists or info.pwm or info.input_only:  # input-only reports those
            continue
        yield _finding(
            "pwm-unavailable",
            u,
            f"{u.call}: GPIO{u.gpio} cannot output PWM.",
            f"Use a PWM-capable pin{_such_as(ctx.board, lambda i: i.pwm, ctx)}.",
        )


@rule("dac-unavailable")
def dac_unavailable(ctx: CheckContext) -> Iterator[Finding]:
    board = ctx.board
    dacs = [g for g in board.gpios() if board.gpio_info(g).dac is not None]
    for u in _uses(ctx):
        if u.use.kind != "dac" or u.gpio is None:
            continue
        info = board.gpio_info(u.gpio)
        if not info.exists or info.dac is not None:
            continue
        if dacs:
            listed = " or ".join(f"GPIO{g}" for g in dacs)
            message = f"{u.call}: GPIO{u.gpio} has no DAC; on {board.name} only {listed} do."
            fix = f"Wire the output to {listed}."
        else:
            message = f"{u.call}: {board.name} has no DAC at all."
            fix = "Use PWM with an RC filter for an analog-like output."
        yield _finding("dac-unavailable", u, message, fix)


@rule("touch-unavailable")
def touch_unavailable(ctx: CheckContext) -> Iterator[Finding]:
    board = ctx.board
    for u in _uses(ctx):
        if u.use.kind != "touch" or u.gpio is None:
            continue
        info = board.gpio_info(u.gpio)
        if not info.exists or info.touch is not None:
            continue
        pick = _suggest(board, lambda i: i.touch is not None, _used_gpios(ctx))
        has_touch = any(board.gpio_info(g).touch is not None for g in board.gpios())
        if has_touch:
            fix = f"Use a touch pin{', such as ' + pick if pick else ''}."
        else:
            fix = f"{board.name} has no touch sensor: use a push button on a GPIO instead."
        yield _finding("touch-unavailable", u, f"{u.call}: GPIO{u.gpio} has no touch sensor.", fix)


# --- pin-conflict ----------------------------------------------------------------------------


_JOBS = {"pwm": "out", "neopixel": "out", "dac": "dac", "adc": "analog", "touch": "touch"}


def _job(use: PinUse) -> str | None:
    """What a use does with its GPIO, coarsely; None when it does not say (`Pin(5)`)."""
    if use.kind == "pin":
        mode = use.role.split("+")[0]
        if mode in ("out", "open-drain", "alt", "alt-open-drain"):
            return "out"
        return mode or None
    return _JOBS.get(use.kind, "data")  # dht, onewire: a bidirectional data line


def _compatible(a: _Use, b: _Use) -> bool:
    """Whether two uses of one GPIO can both be right: one Pin object passed on, the same job
    twice (two scripts blinking one LED), or one bus shared by two modules."""
    ua, ub = a.use, b.use
    same_script = a.scan is b.scan
    bus_a, bus_b = _BUS_KINDS.get(ua.kind), _BUS_KINDS.get(ub.kind)
    if bus_a or bus_b:
        if bus_a != bus_b or ua.role != ub.role:
            return False
        # One call cannot use a GPIO for two signals; two calls may share a bus.
        return (ua.line, ua.col) != (ub.line, ub.col) or not same_script
    if same_script and (ua.kind == "pin") != (ub.kind == "pin"):
        # `led = Pin(2, Pin.OUT)` then `PWM(led)`: one Pin object that the scan reports twice.
        # A Pin written inside the peripheral's call (`DHT22(Pin(14))`) is a second object.
        # A bare number (`ADC(0)`, `ADC(26)`) is no Pin object either.
        peripheral = ub if ua.kind == "pin" else ua
        if "Pin(" not in peripheral.source and peripheral.note not in ("bare-id", "adc-channel"):
            return True
    ja, jb = _job(ua), _job(ub)
    return ja is None or jb is None or ja == jb


@rule("pin-conflict")
def pin_conflict(ctx: CheckContext) -> Iterator[Finding]:
    by_gpio: dict[int, list[_Use]] = {}
    for u in _uses(ctx, defaults=True):
        if u.gpio is not None:
            by_gpio.setdefault(u.gpio, []).append(u)
    for gpio, uses in by_gpio.items():
        clash = next(
            ((a, b) for i, a in enumerate(uses) for b in uses[i + 1 :] if not _compatible(a, b)),
            None,
        )
        if clash is None:
            continue
        first, second = clash
        where_first = (
            f"line {first.use.line}"
            if first.scan is second.scan
            else f"{first.scan.path} line {first.use.line}"
        )
        dflt = " (its default pins)" if second.default or first.default else ""
        yield _finding(
            "pin-conflict",
            second,
            f"GPIO{gpio} is used for two things: {_short(first.use.source)} on {where_first} "
            f"and {_short(second.use.source)} on line {second.use.line}{dflt}.",
            "Give one of them another pin"
            f"{_such_as(ctx.board, _can_serve(ctx.board, second.use), ctx)}.",
        )


# --- against the diagram ---------------------------------------------------------------------


def _wired_gpios(diagram: Diagram) -> dict[int, list[str]]:
    """GPIO -> what is wired to it ("dht1:SDA", or another board pin such as "esp:GND.1"), for
    every GPIO with a wire to something. A wire from a GPIO straight to another board pin is a
    net like any other: the script's use of that GPIO is then wired, if perhaps wrongly."""
    out: dict[int, list[str]] = {}
    board = diagram.board
    if board is None:
        return out
    for net in diagram.nets:
        gpios: dict[int, str] = {}
        others = []
        for endpoint in sorted(net):
            pid, pin = split_endpoint(endpoint)
            found = board.pin(pin) if pid == diagram.board_part_id else None
            if found is not None and found.kind == "gpio" and found.gpio is not None:
                gpios[found.gpio] = endpoint
            elif not pid.startswith("$"):
                others.append(endpoint)
        for gpio, endpoint in gpios.items():
            ends = others + [e for g, e in gpios.items() if g != gpio]
            if ends:
                out.setdefault(gpio, []).extend(ends)
    return out


def _dht_wiring(diagram: Diagram) -> list[tuple[str, int | None]]:
    """(part id, GPIO of its data pin) for every DHT in the diagram."""
    return [
        (p.id, diagram.gpio_of(p.id, _DHT_DATA_PIN)) for p in diagram.parts if p.type in _DHT_TYPES
    ]


def _diagram_ready(ctx: CheckContext) -> Diagram | None:
    d = ctx.diagram
    return d if d is not None and d.board is not None else None


@rule("code-wiring-mismatch")
def code_wiring_mismatch(ctx: CheckContext) -> Iterator[Finding]:
    diagram = _diagram_ready(ctx)
    if diagram is None:
        return
    board = ctx.board
    wired = _wired_gpios(diagram)
    dhts = _dht_wiring(diagram)
    bus_parts = {kind: _bus_wiring(diagram, kind) for kind in ("i2c", "spi", "uart")}
    name = diagram.source
    for u in _uses(ctx):
        if u.gpio is None:
            analog = board.pin(u.use.pin) if isinstance(u.use.pin, str) else None
            if analog is not None and analog.kind == "analog" and not _wired(diagram, analog):
                yield _finding(
                    "code-wiring-mismatch",
                    u,
                    f"{u.call}: the script reads {analog.label}, but nothing in {name} is wired "
                    "to it.",
                    f"Wire the analog signal to {analog.label} in the diagram, or read the pin it "
                    "is wired to.",
                )
            continue
        use = u.use
        if use.kind == "dht" and dhts and all(g != u.gpio for _, g in dhts):
            placed = ", ".join(
                f"{pid}:{_DHT_DATA_PIN} to GPIO{g}" if g is not None else f"{pid}:SDA to no GPIO"
                for pid, g in dhts
            )
            target = next((g for _, g in dhts if g is not None), None)
            if target is None:
                fix = f"Wire the DHT data pin (SDA) to GPIO{u.gpio}."
            elif not board.gpio_info(target).digital_out:
                # Never steer the script onto the pin that is itself the mistake.
                fix = (
                    f"Move the wire to GPIO{u.gpio}: GPIO{target} cannot drive a DHT's data "
                    "line."
                )
            else:
                fix = f"Change the script to Pin({target}), or move the wire to GPIO{u.gpio}."
            yield _finding(
                "code-wiring-mismatch",
                u,
                f"{u.call}: the script reads a DHT on GPIO{u.gpio}, but {name} wires {placed}.",
                fix,
            )
            continue
        bus = _BUS_KINDS.get(use.kind)
        if bus is not None and bus_parts[bus]:
            continue  # bus-pin-mismatch compares the bus signals
        if u.gpio in wired or _onboard(board, u.gpio):
            continue
        yield _finding(
            "code-wiring-mismatch",
            u,
            f"{u.call}: the script uses GPIO{u.gpio}, but nothing in {name} is wired to it.",
            f"Wire the part to GPIO{u.gpio} in the diagram, or change the pin in the script to "
            "the one the part is wired to.",
        )


def _wired(diagram: Diagram, pin: BoardPin) -> bool:
    """Whether any wire touches this board pin."""
    return len(diagram.net_of(f"{diagram.board_part_id}:{pin.name}")) > 1


#: Part pin names that carry each bus signal, for parts that do not list bus roles. UART pins
#: are named from the part's side: its RX receives what the board's TX sends.
_SIGNAL_PART_PINS = {
    "i2c": {"scl": ("SCL", "XCL"), "sda": ("SDA", "XDA")},
    "spi": {
        "sck": ("SCK", "CLK", "SCLK"),
        "mosi": ("MOSI", "DI", "DIN", "SDI"),
        "miso": ("MISO", "DO", "DOUT", "SDO"),
    },
    "uart": {"tx": ("RX", "RXD"), "rx": ("TX", "TXD")},
}
_I2C_ROLES = {"i2c-scl": "scl", "i2c-sda": "sda"}


def _bus_wiring(diagram: Diagram, kind: str) -> dict[str, list[tuple[str, int]]]:
    """signal -> [(part:pin, GPIO)] for the diagram's parts on this kind of bus."""
    out: dict[str, list[tuple[str, int]]] = {}
    for part in diagram.parts:
        if part.id == diagram.board_part_id or part.type in _DHT_TYPES:
            continue
        facts = load_part(part.type)
        for pin in diagram.pins_of(part.id):
            signal = None
            if kind == "i2c" and facts is not None:
                signal = _I2C_ROLES.get(facts.pin_role(pin) or "")
            elif kind != "i2c" or facts is None:
                for sig, names in _SIGNAL_PART_PINS[kind].items():
                    if pin.upper() in names:
                        signal = sig
            if signal is None:
                continue
            gpio = diagram.gpio_of(part.id, pin)
            if gpio is not None:
                out.setdefault(signal, []).append((f"{part.id}:{pin}", gpio))
    return out


@rule("bus-pin-mismatch")
def bus_pin_mismatch(ctx: CheckContext) -> Iterator[Finding]:
    diagram = _diagram_ready(ctx)
    if diagram is None:
        return
    calls: dict[tuple[int, str, int, int], list[_Use]] = {}
    for u in _uses(ctx, defaults=True):
        bus = _BUS_KINDS.get(u.use.kind)
        if bus is not None and u.gpio is not None:
            calls.setdefault((id(u.scan), bus, u.use.line, u.use.col), []).append(u)
    wiring = {kind: _bus_wiring(diagram, kind) for kind in ("i2c", "spi", "uart")}
    for (_, bus, _, _), uses in calls.items():
        wired = wiring[bus]
        if not wired:
            continue
        script = {u.use.role: u.gpio for u in uses}
        first = uses[0]
        defaults = [u for u in uses if u.default]
        how = (
            f" (no pins given, so the board's default pins for {bus.upper()}({first.use.bus_id or 0}))"
            if defaults
            else ""
        )
        if bus == "i2c" and "scl" in script and "sda" in script:
            sda_at = {g for _, g in wired.get("sda", [])}
            scl_at = {g for _, g in wired.get("scl", [])}
            if script["scl"] in sda_at and script["sda"] in scl_at and script["scl"] not in scl_at:
                yield _finding(
                    "bus-pin-mismatch",
                    first,
                    f"{first.call}: SDA and SCL are swapped: the script uses "
                    f"SCL=GPIO{script['scl']}, SDA=GPIO{script['sda']}{how}, but {diagram.source} "
                    f"wires SDA to GPIO{script['scl']} and SCL to GPIO{script['sda']}.",
                    f"Swap them in the script: scl=Pin({script['sda']}), "
                    f"sda=Pin({script['scl']}), or swap the two wires.",
                )
                continue
        wrong = []
        for signal, gpio in script.items():
            at = wired.get(signal)
            if at and gpio not in {g for _, g in at}:
                wrong.append((signal, gpio, at))
        if not wrong:
            continue
        said = ", ".join(f"{s.upper()}=GPIO{g}" for s, g, _ in wrong)
        placed = ", ".join(f"{ep} to GPIO{g}" for _, _, at in wrong for ep, g in at[:1])
        wanted = ", ".join(f"{s}=Pin({at[0][1]})" for s, _, at in wrong)
        bad = next(u for u in uses if u.use.role == wrong[0][0])
        yield _finding(
            "bus-pin-mismatch",
            bad,
            f"{first.call}: the script uses {said}{how}, but {diagram.source} wires {placed}.",
            f"Pass the wired pins ({wanted}), or move the wires to match the script.",
        )


# --- outputs tied to a supply ----------------------------------------------------------------


def _output_drive(use: PinUse) -> str | None:
    """How a use drives its pin: "push-pull" (it can drive high and low), "open-drain" (it only
    pulls low: open-drain pins, DHT, 1-Wire, I2C) or None when it only listens."""
    if use.kind == "pin":
        mode = use.role.split("+")[0]
        if mode in ("out", "alt"):
            return "push-pull"
        return "open-drain" if mode in ("open-drain", "alt-open-drain") else None
    if use.kind in ("pwm", "neopixel", "dac"):
        return "push-pull"
    if use.kind in ("dht", "onewire", "i2c", "softi2c"):
        return "open-drain"
    if use.kind in _BUS_KINDS and use.role not in _LISTENING_SIGNALS:
        return "push-pull"
    return None


def _shorted_by(drive: str, supplies: dict[str, float]) -> list[str]:
    """The supplies a driven pin fights: a push-pull output fights GND (when high) and every
    supply (when low); an open-drain one only the supplies it pulls low against."""
    return sorted(k for k, v in supplies.items() if drive == "push-pull" or v > 0)


@rule("power-short")
def output_tied_to_supply(ctx: CheckContext) -> Iterator[Finding]:
    """A GPIO the script drives that the diagram wires straight to GND or 3V3 (or to one through
    a pushbutton): the output fights the supply, a short, whenever it drives the other level."""
    diagram = _diagram_ready(ctx)
    if diagram is None or diagram.board_part_id is None:
        return
    nets = Netlist(diagram, ctx.board)
    seen: set[tuple[int, int]] = set()
    for u in _uses(ctx):
        drive = _output_drive(u.use) if u.gpio is not None else None
        if drive is None or (id(u.scan), u.gpio) in seen:
            continue
        for bp in ctx.board.pins_for_gpio(u.gpio):
            net = nets.net(f"{diagram.board_part_id}:{bp.name}")
            tied = _shorted_by(drive, nets.supplies(net))
            if tied:
                seen.add((id(u.scan), u.gpio))
                yield _finding(
                    "power-short",
                    u,
                    f"{u.call} drives GPIO{u.gpio}, but {diagram.source} wires {bp.name} straight "
                    f"to {' and '.join(tied)}: the output fights the supply, a short circuit "
                    "that can damage the pin.",
                    f"Remove the wire from {bp.name} to {tied[0]}, or, if the pin should read "
                    "that level, make it an input (Pin.IN).",
                )
                break
            for switch, other in nets.through_switches(net):
                tied = _shorted_by(drive, nets.supplies(other))
                if not tied:
                    continue
                seen.add((id(u.scan), u.gpio))
                yield _finding(
                    "power-short",
                    u,
                    f"{u.call} drives GPIO{u.gpio}, and {switch} joins {bp.name} to "
                    f"{' and '.join(tied)} when pressed: every press shorts the output.",
                    f"Read the button with Pin({u.gpio}, Pin.IN, "
                    f"Pin.{'PULL_UP' if 'GND' in tied else 'PULL_DOWN'}), or give the output "
                    "its own pin.",
                )
                break


@rule("onboard-button-output")
def onboard_button_output(ctx: CheckContext) -> Iterator[Finding]:
    """The board's own BOOT button ties its GPIO to GND when pressed; a script that drives that
    GPIO as an output shorts it on every press (board data: ``buttons[].pulls_to``)."""
    board = ctx.board
    buttons = {b.gpio: b for b in board.buttons() if b.gpio is not None and b.pulls_to}
    for u in _uses(ctx):
        button = buttons.get(u.gpio) if u.gpio is not None else None
        if button is None or _output_drive(u.use) != "push-pull":
            continue
        yield _finding(
            "onboard-button-output",
            u,
            f"{u.call} drives GPIO{u.gpio} as an output, but the board's {button.name} button "
            f"ties GPIO{u.gpio} to {button.pulls_to} when pressed: every press shorts the "
            "output.",
            f"Use another pin for the output{_such_as(board, lambda i: True, ctx)}; read "
            f"GPIO{u.gpio} only as an input (Pin({u.gpio}, Pin.IN, Pin.PULL_UP)) to use the "
            "button.",
        )


__all__ = ["resolve_pin"]
