"""The live probe behind `iotkit check --live`: ask a connected board what is really wired.

The static checks can only say whether a diagram is *possible*; a beginner's real trouble is that
the breadboard differs from the diagram (a wire one hole off, SDA and SCL crossed, a button
turned 90 degrees). So we run a few tiny MicroPython snippets on the board, one exec per step,
and compare what the hardware answers with what the diagram expects:

1. an I2C scan on each bus the diagram wires (SoftI2C when the hardware bus refuses the pins),
   retried with SDA/SCL swapped when a device is missing;
2. a DHT11/DHT22 `measure()`, and when it stays silent a one-shot search of the free pins, so
   "the sensor is on GPIO14, not GPIO27" can be said instead of a bare timeout;
3. each button's idle level with the pull the wiring implies, and on request a "press it now"
   check through the `ask` callback;
4. on request (`blink=True`) each LED toggled three times so the person can see it.

Every snippet catches its own exceptions and prints one `PROBE:<repr>` line, so a board-side
failure becomes a finding instead of a traceback, and stray output (a running program's prints)
cannot be mistaken for the answer. Link failures that end the session (board unplugged) are left
to propagate: they are already worded for the person holding the cable.

This module is engine code: no Tk, no Thonny; front ends pass callbacks.
"""

from __future__ import annotations

import ast
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from companion_app.boards import Board
from companion_app.boards.parts import Part as PartInfo
from companion_app.boards.parts import load_part
from companion_app.device.errors import DeviceExecError, ExecTimeoutError
from companion_app.device.link import Link
from companion_app.wiring.diagram import Diagram
from companion_app.wiring.diagram_rules import Netlist
from companion_app.wiring.rules import SEVERITIES, Finding, catalog

log = logging.getLogger(__name__)

MARKER = "PROBE:"
DHT_TYPES = {"wokwi-dht22": "DHT22", "wokwi-dht11": "DHT11", "iotkit-dht11": "DHT11"}
# What each sensor can report; a reading outside it means garbled data (DHT11 read as DHT22...).
DHT_RANGES = {"DHT22": ((-40.0, 80.0), (0.0, 100.0)), "DHT11": ((0.0, 50.0), (0.0, 100.0))}
BUTTON = "wokwi-pushbutton"
LED = "wokwi-led"
# A scan where SDA is held low "finds" every address; more than this many means a stuck bus.
STUCK_BUS_COUNT = 100
BLINKS = 3

Ask = Callable[[str], None]
OnStep = Callable[["ProbeStep"], None]


@dataclass(frozen=True)
class ProbeStep:
    """One thing done on the board, for progress output and the JSON report.

    `ok` is False when the step produced an error or warning finding, or could not run; `result`
    is the board's raw answer (plain literals), kept for --json and for debugging by a teacher.
    """

    kind: str  # "i2c-scan", "dht-read", "dht-search", "button-idle", "button-press", "led-blink"
    target: str  # what was probed: "dht1", "SDA=21/SCL=22"
    ok: bool
    summary: str
    result: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target": self.target,
            "ok": self.ok,
            "summary": self.summary,
            "result": self.result,
        }


@dataclass
class ProbeReport:
    """Findings in the same shape as the static check's, plus the steps that produced them."""

    board: Board
    findings: list[Finding] = field(default_factory=list)
    steps: list[ProbeStep] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def to_json(self) -> dict[str, Any]:
        """The `iotkit check --json` document of CONTRACTS.md, extended with the steps."""
        return {
            "board": self.board.id,
            "findings": [f.to_json() for f in self.findings],
            "steps": [s.to_json() for s in self.steps],
        }


# -- talking to the board ----------------------------------------------------------------------


class _StepFailed(Exception):
    """A snippet could not run or did not answer; the text says what the board said."""


def _wrap(body: str) -> str:
    """Indent a snippet into a try block that always prints exactly one PROBE line."""
    inner = "\n".join("    " + line if line else "" for line in body.strip("\n").splitlines())
    return (
        "r = None\n"
        "try:\n"
        f"{inner}\n"
        "except Exception as e:\n"
        "    r = ('err', repr(e))\n"
        f"print({MARKER!r} + repr(r))\n"
    )


def run_snippet(link: Link, body: str, timeout: float | None = None) -> Any:
    """Run one probe snippet (which sets `r`) and return `r`, rebuilt here.

    Board-side exceptions come back as ('err', text); a snippet that cannot even start, or that
    the link had to interrupt, raises _StepFailed. Disconnects propagate as LinkError.
    """
    try:
        out = link.exec(_wrap(body), timeout=timeout)
    except (DeviceExecError, ExecTimeoutError) as exc:
        raise _StepFailed(str(exc)) from exc
    lines = out.decode("utf-8", "replace").splitlines()
    answer = next((ln for ln in reversed(lines) if ln.startswith(MARKER)), None)
    if answer is None:
        raise _StepFailed(f"the board gave no answer (it printed {out[-200:]!r})")
    try:
        return ast.literal_eval(answer[len(MARKER) :].strip())
    except (ValueError, SyntaxError) as exc:
        raise _StepFailed(f"unreadable answer from the board: {answer[:200]!r}") from exc


def _i2c_scan_body(sda: int, scl: int) -> str:
    # Hardware I2C first (what scripts usually use); ports that refuse these pins for I2C(0)
    # (RP2 pin groups, ESP8266 with no hardware I2C) get a SoftI2C, which takes any pins.
    return f"""
from machine import Pin
try:
    from machine import I2C
    b = I2C(0, scl=Pin({scl}), sda=Pin({sda}))
    hw = 1
except Exception:
    from machine import SoftI2C
    b = SoftI2C(scl=Pin({scl}), sda=Pin({sda}))
    hw = 0
r = ('ok', b.scan(), hw)
"""


def _dht_body(model: str, gpio: int, retry_ms: int) -> str:
    # A DHT that was just powered, or read less than its interval ago, may miss one read.
    return f"""
import dht, time
from machine import Pin
s = dht.{model}(Pin({gpio}))
err = None
for i in range(2):
    try:
        s.measure()
        r = ('ok', s.temperature(), s.humidity())
        break
    except Exception as e:
        err = repr(e)
        if i == 0:
            time.sleep_ms({retry_ms})
if r is None:
    r = ('err', err)
"""


def _dht_search_body(model: str, gpios: list[int]) -> str:
    return f"""
import dht
from machine import Pin
found = []
for g in {gpios!r}:
    try:
        s = dht.{model}(Pin(g))
        s.measure()
        found.append(g)
    except Exception:
        pass
    try:
        Pin(g, Pin.IN)
    except Exception:
        pass
r = ('ok', found)
"""


def _pull_expr(pull: str | None) -> str:
    return {"up": "Pin.PULL_UP", "down": "Pin.PULL_DOWN"}.get(pull or "", "None")


def _button_idle_body(gpio: int, pull: str | None) -> str:
    return f"""
import time
from machine import Pin
p = Pin({gpio}, Pin.IN, {_pull_expr(pull)})
v = []
for i in range(10):
    v.append(p.value())
    time.sleep_ms(5)
r = ('ok', v)
"""


def _button_press_body(gpio: int, pull: str | None, pressed: int, ms: int) -> str:
    return f"""
import time
from machine import Pin
p = Pin({gpio}, Pin.IN, {_pull_expr(pull)})
t0 = time.ticks_ms()
r = ('none', {ms})
while time.ticks_diff(time.ticks_ms(), t0) < {ms}:
    if p.value() == {pressed}:
        r = ('pressed', time.ticks_diff(time.ticks_ms(), t0))
        break
    time.sleep_ms(10)
"""


def _blink_body(gpio: int, on: int, times: int, ms: int) -> str:
    return f"""
import time
from machine import Pin
p = Pin({gpio}, Pin.OUT)
for i in range({times}):
    p.value({on})
    time.sleep_ms({ms})
    p.value({1 - on})
    time.sleep_ms({ms})
r = ('ok', {times})
"""


# -- what the diagram expects ------------------------------------------------------------------


@dataclass(frozen=True)
class _I2CDevice:
    part_id: str
    name: str
    address: int
    alternates: tuple[int, ...]
    note: str | None


@dataclass
class _Bus:
    sda: int
    scl: int
    devices: list[_I2CDevice] = field(default_factory=list)
    sda_where: str = ""

    @property
    def text(self) -> str:
        return f"SDA={self.sda}/SCL={self.scl}"


def short_name(info: PartInfo) -> str:
    """ "BME280 temperature, humidity..." -> "BME280", the name printed on the module."""
    first = info.name.split()[0]
    return first if first[:1].isupper() else info.name.split(" (")[0]


def _signal_pin(info: PartInfo, role: str, name: str) -> str | None:
    pins = info.pins_with_role(role)
    if not pins:
        return None
    return name if name in pins else pins[0]


class _Wiring:
    """The diagram read for probing: which GPIO each part pin reaches, through breadboards and
    (for LEDs) one series resistor, using the same netlist as the static rules."""

    def __init__(self, diagram: Diagram, board: Board) -> None:
        self.diagram = diagram
        self.board = board
        self.nets = Netlist(diagram, board)

    def parts(self) -> Iterable[tuple[str, str, PartInfo | None]]:
        for part in self.diagram.parts:
            if part.id != self.diagram.board_part_id:
                yield part.id, part.type, load_part(part.type)

    def gpio(self, part_id: str, pin: str) -> int | None:
        gpios = sorted(
            bp.gpio
            for bp, _ in self.nets.io_pins(self.nets.net(f"{part_id}:{pin}"))
            if bp.gpio is not None
        )
        return gpios[0] if gpios else None

    def gpio_through_resistor(self, part_id: str, pin: str) -> int | None:
        gpio = self.gpio(part_id, pin)
        if gpio is not None:
            return gpio
        for _, other in self.nets.through_resistors(self.nets.net(f"{part_id}:{pin}")):
            gpios = sorted(bp.gpio for bp, _ in self.nets.io_pins(other) if bp.gpio is not None)
            if gpios:
                return gpios[0]
        return None

    def supplies(self, part_id: str, pin: str) -> dict[str, float]:
        return self.nets.supplies(self.nets.net(f"{part_id}:{pin}"))

    def pulled_externally(self, part_id: str, pin: str) -> bool:
        """A resistor from the GPIO's net to a supply: the pin needs no internal pull."""
        net = self.nets.net(f"{part_id}:{pin}")
        return any(self.nets.supplies(other) for _, other in self.nets.through_resistors(net))

    def used_gpios(self) -> set[int]:
        used: set[int] = set()
        for net in {self.nets.net(e) for wire in self.diagram.connections for e in wire.endpoints}:
            used.update(bp.gpio for bp, _ in self.nets.io_pins(net) if bp.gpio is not None)
        return used

    def i2c_address(self, part_id: str, info: PartInfo) -> int | None:
        """attrs pick the address, or an address pin wired high (MPU6050 AD0 -> 0x69)."""
        part = self.diagram.part(part_id)
        address = info.i2c_address(part.attrs if part else None)
        pin = (info.raw.get("i2c") or {}).get("address_pin")
        if pin and any(v > 0 for v in self.supplies(part_id, pin).values()):
            alternates = [a for a in info.i2c_addresses if a != info.i2c_default_address]
            if alternates:
                return alternates[0]
        return address

    def i2c_buses(self) -> tuple[list[_Bus], list[str]]:
        """The buses to scan, and the I2C parts that cannot be probed (SDA/SCL on no GPIO)."""
        buses: dict[tuple[int, int], _Bus] = {}
        skipped: list[str] = []
        for part_id, _, info in self.parts():
            if info is None or not info.is_i2c:
                continue
            sda_pin = _signal_pin(info, "i2c-sda", "SDA")
            scl_pin = _signal_pin(info, "i2c-scl", "SCL")
            sda = self.gpio(part_id, sda_pin) if sda_pin else None
            scl = self.gpio(part_id, scl_pin) if scl_pin else None
            address = self.i2c_address(part_id, info)
            if sda is None or scl is None or address is None:
                skipped.append(part_id)
                continue
            bus = buses.setdefault(
                (sda, scl), _Bus(sda, scl, sda_where=self.diagram.where(part_id, str(sda_pin)))
            )
            bus.devices.append(
                _I2CDevice(
                    part_id,
                    short_name(info),
                    address,
                    tuple(a for a in info.i2c_addresses if a != address),
                    (info.raw.get("i2c") or {}).get("note"),
                )
            )
        return list(buses.values()), skipped


# -- the probe ---------------------------------------------------------------------------------


class _Prober:
    def __init__(
        self,
        link: Link,
        board: Board,
        diagram: Diagram | None,
        on_step: OnStep | None,
        ask: Ask | None,
        press_seconds: float,
        blink: bool,
        search_other_pins: bool,
    ) -> None:
        self.link = link
        self.board = board
        self.diagram = diagram
        self.wiring = _Wiring(diagram, board) if diagram is not None else None
        self.on_step = on_step
        self.ask = ask
        self.press_seconds = press_seconds
        self.blink = blink
        self.search_other_pins = search_other_pins
        self.report = ProbeReport(board=board)

    # -- bookkeeping -----------------------------------------------------------------------

    def step(self, kind: str, target: str, ok: bool, summary: str, result: Any = None) -> None:
        s = ProbeStep(kind, target, ok, summary, result)
        self.report.steps.append(s)
        if self.on_step is not None:
            self.on_step(s)

    def find(self, rule: str, pin: str | None, where: str, message: str, fix: str) -> None:
        self.report.findings.append(
            Finding(rule, catalog()[rule]["severity"], pin, where, message, fix)
        )

    def where(self, part_id: str, pin: str) -> str:
        if self.diagram is not None:
            return self.diagram.where(part_id, pin)
        return f"{self.link.port}: {part_id}"

    def failed(
        self, kind: str, target: str, pin: str | None, where: str, what: str, why: str | None
    ) -> None:
        """A step that could not run: a finding, so it is never silently skipped."""
        self.find(
            "probe-failed",
            pin,
            where,
            f"Could not {what}: {why}",
            "Check the pin numbers in the diagram against the board; if the board seems stuck, "
            "press its reset button and probe again.",
        )
        self.step(kind, target, False, f"could not {what}: {why}")

    def snippet(self, body: str, timeout: float | None = None) -> tuple[Any, str | None]:
        """(answer, None), or (None, why) when the step failed on the board."""
        try:
            answer = run_snippet(self.link, body, timeout)
        except _StepFailed as exc:
            return None, str(exc)
        if isinstance(answer, tuple) and answer and answer[0] == "err":
            return None, f"the board raised {answer[1] if len(answer) > 1 else 'an error'}"
        return answer, None

    # -- run -------------------------------------------------------------------------------

    def run(self) -> ProbeReport:
        if self.wiring is None:
            self.probe_default_i2c()
        else:
            self.probe_i2c()
            self.probe_dhts()
            self.probe_buttons()
            if self.blink:
                self.blink_leds()
        order = {s: i for i, s in enumerate(SEVERITIES)}
        self.report.findings.sort(key=lambda f: order[f.severity])
        return self.report

    # -- I2C -------------------------------------------------------------------------------

    def scan(self, sda: int, scl: int) -> tuple[list[int] | None, str | None]:
        answer, why = self.snippet(_i2c_scan_body(sda, scl))
        if answer is None:
            return None, why
        try:
            return [int(a) for a in answer[1]], None
        except (TypeError, ValueError, IndexError):
            return None, f"unexpected scan result {answer!r}"

    def stuck(self, bus_text: str, found: list[int], pin: str, where: str) -> bool:
        if len(found) < STUCK_BUS_COUNT:
            return False
        self.find(
            "i2c-bus-stuck",
            pin,
            where,
            f"Every address answered the I2C scan on {bus_text} ({len(found)} of them): the "
            "SDA line is held low, so no device can be told apart.",
            "Look for SDA touching GND, a part powered the wrong way round, or a broken "
            "module; unplug the I2C parts one by one and scan again.",
        )
        self.step("i2c-scan", bus_text, False, f"{bus_text}: SDA is held low", found)
        return True

    def probe_i2c(self) -> None:
        assert self.wiring is not None
        buses, skipped = self.wiring.i2c_buses()
        for part_id in skipped:
            self.step("i2c-scan", part_id, True, f"{part_id}: SDA/SCL reach no GPIO, not scanned")
        for bus in buses:
            pin = f"GPIO{bus.sda}"
            found, why = self.scan(bus.sda, bus.scl)
            if found is None:
                self.failed(
                    "i2c-scan", bus.text, pin, bus.sda_where, f"scan the I2C bus {bus.text}", why
                )
                continue
            if self.stuck(bus.text, found, pin, bus.sda_where):
                continue
            self.compare_bus(bus, found)

    def compare_bus(self, bus: _Bus, found: list[int]) -> None:
        expected = {d.address for d in bus.devices}
        missing = [d for d in bus.devices if d.address not in found]
        explained: set[int] = set()
        swapped: list[int] | None = None
        if missing:
            swapped, _ = self.scan(bus.scl, bus.sda)
            if swapped is not None and len(swapped) >= STUCK_BUS_COUNT:
                swapped = None
        swapped_text = f"SDA={bus.scl}/SCL={bus.sda}"
        for dev in missing:
            where = self.where(dev.part_id, "SDA")
            elsewhere = [a for a in dev.alternates if a in found and a not in expected]
            if swapped is not None and dev.address in swapped:
                self.find(
                    "i2c-swapped",
                    f"GPIO{bus.sda}",
                    where,
                    f"{dev.name} ({dev.part_id}) expected at 0x{dev.address:02x} on {bus.text} "
                    f"did not answer there, but answered with SDA and SCL swapped "
                    f"({swapped_text}).",
                    f"Swap the two wires: {dev.part_id}:SDA goes to GPIO{bus.sda} and "
                    f"{dev.part_id}:SCL to GPIO{bus.scl} (or change the diagram and the script "
                    f"to sda=Pin({bus.scl}), scl=Pin({bus.sda})).",
                )
            elif elsewhere:
                explained.add(elsewhere[0])
                self.find(
                    "i2c-missing",
                    f"GPIO{bus.sda}",
                    where,
                    f"{dev.name} ({dev.part_id}) expected at 0x{dev.address:02x} on {bus.text}, "
                    f"but a device answered at 0x{elsewhere[0]:02x} instead: probably the "
                    f"{dev.name} set to its other address.",
                    f"Use address 0x{elsewhere[0]:02x} in the script and the diagram"
                    + (f" ({dev.note})" if dev.note else "")
                    + ".",
                )
            else:
                others = [a for a in found if a not in expected]
                bus_state = (
                    f"(other devices answered: {_hex_list(found)}, so the bus itself works)"
                    if found
                    else "nothing answered"
                )
                self.find(
                    "i2c-missing",
                    f"GPIO{bus.sda}",
                    where,
                    f"{dev.name} ({dev.part_id}) expected at 0x{dev.address:02x}, "
                    + (
                        f"nothing answered on {bus.text}"
                        if not found
                        else f"it did not answer on {bus.text} {bus_state}"
                    )
                    + ": check SDA/SCL and power.",
                    f"Check that {dev.part_id}:SDA goes to GPIO{bus.sda} and {dev.part_id}:SCL to "
                    f"GPIO{bus.scl}, that VCC and GND are connected, and the module's address"
                    + (f" ({dev.note})" if dev.note else "")
                    + "."
                    + (" " + _other_candidates(others) if others else ""),
                )
        for address in found:
            if address in expected or address in explained:
                continue
            self.find(
                "i2c-unexpected",
                f"GPIO{bus.sda}",
                bus.sda_where,
                f"A device answered at 0x{address:02x} on {bus.text}, which the diagram does "
                f"not have{_maybe(address)}.",
                "Add the part to the diagram, or ignore this if it is on purpose.",
            )
        names = ", ".join(f"{d.part_id} 0x{d.address:02x}" for d in bus.devices)
        ok = not missing
        self.step(
            "i2c-scan",
            bus.text,
            ok,
            f"I2C {bus.text}: found {_hex_list(found) or 'nothing'}; expected {names}",
            {"found": found, "swapped": swapped} if swapped is not None else {"found": found},
        )

    def probe_default_i2c(self) -> None:
        """No diagram: scan the board's default I2C(0) pins and say what answered."""
        bus = self.board.default_bus("i2c", 0)
        if bus is None or bus.sda is None or bus.scl is None:
            self.step(
                "i2c-scan",
                "I2C(0)",
                True,
                f"{self.board.name} has no default I2C pins; give --wiring to probe its parts",
            )
            return
        text = f"SDA={bus.sda}/SCL={bus.scl}"
        where = f"{self.link.port}: I2C(0)"
        found, why = self.scan(bus.sda, bus.scl)
        if found is None:
            self.failed("i2c-scan", text, f"GPIO{bus.sda}", where, f"scan I2C(0) {text}", why)
            return
        if self.stuck(text, found, f"GPIO{bus.sda}", where):
            return
        for address in found:
            self.find(
                "i2c-found",
                f"GPIO{bus.sda}",
                where,
                f"A device answered at 0x{address:02x} on the default I2C pins {text}"
                f"{_maybe(address)}.",
                "Give --wiring with a diagram.json to check it against what you meant to wire.",
            )
        self.step(
            "i2c-scan",
            text,
            True,
            f"I2C(0) {text} (the default pins): found {_hex_list(found) or 'nothing'}",
            {"found": found},
        )

    # -- DHT -------------------------------------------------------------------------------

    def probe_dhts(self) -> None:
        assert self.wiring is not None
        for part_id, part_type, info in self.wiring.parts():
            model = DHT_TYPES.get(part_type)
            if model is None:
                continue
            gpio = self.wiring.gpio(part_id, "SDA")
            if gpio is None:
                self.step("dht-read", part_id, True, f"{part_id}: SDA reaches no GPIO, not read")
                continue
            interval = (info.min_read_interval_s if info else None) or 2.0
            self.read_dht(part_id, model, gpio, int(interval * 1000) + 100)

    def read_dht(self, part_id: str, model: str, gpio: int, retry_ms: int) -> None:
        where = self.where(part_id, "SDA")
        pin = f"GPIO{gpio}"
        answer, why = self.snippet(_dht_body(model, gpio, retry_ms))
        if answer is not None:
            self.check_dht_values(part_id, model, gpio, answer, where)
            return
        assert why is not None
        if "ETIMEDOUT" not in why and "OSError" not in why and "checksum" not in why.lower():
            self.failed("dht-read", part_id, pin, where, f"read the {model} on {pin}", why)
            return
        if "checksum" in why.lower():
            self.find(
                "dht-bad-reading",
                pin,
                where,
                f"The {model} ({part_id}) on {pin} answered, but its data was garbled "
                "(checksum error).",
                "Keep the data wire short, add a 10 kOhm pull-up from data to 3V3, and wait "
                f"at least {retry_ms / 1000:g} s between reads.",
            )
            self.step("dht-read", part_id, False, f"{part_id} on {pin}: checksum error", why)
            return
        self.step("dht-read", part_id, False, f"{part_id} on {pin}: no answer", why)
        others = self.search_dht(part_id, model, gpio)
        if others:
            other = others[0]
            self.find(
                "dht-no-answer",
                pin,
                where,
                f"The {model} ({part_id}) expected on {pin} did not answer, but a DHT answered "
                f"on GPIO{other}: its data wire is on the wrong pin.",
                f"Move the data wire from GPIO{other} to {pin}, or change the diagram and the "
                f"script to Pin({other}).",
            )
        else:
            self.find(
                "dht-no-answer",
                pin,
                where,
                f"The {model} ({part_id}) expected on {pin} did not answer: check its data wire "
                f"and that the script uses Pin({gpio}).",
                f"Check that the sensor's data pin goes to {pin}, that VCC goes to 3V3 and GND "
                "to GND, and that the module has a pull-up (3-pin modules do; a bare 4-pin "
                "sensor needs 10 kOhm from data to 3V3).",
            )

    def search_dht(self, part_id: str, model: str, gpio: int) -> list[int]:
        """Free, unwired pins where a DHT answers: the usual one-hole-off mistake."""
        if not self.search_other_pins or self.wiring is None:
            return []
        used = self.wiring.used_gpios() | {gpio}
        candidates = [
            g
            for g in self.board.free_gpios()
            if g not in used and not self.board.gpio_info(g).input_only
        ]
        if not candidates:
            return []
        answer, why = self.snippet(_dht_search_body(model, candidates))
        if answer is None:
            self.step("dht-search", part_id, False, f"could not search other pins: {why}")
            return []
        found = [int(g) for g in answer[1]]
        summary = (
            f"a DHT answers on {', '.join(f'GPIO{g}' for g in found)}"
            if found
            else f"no DHT on the {len(candidates)} free pins"
        )
        self.step("dht-search", part_id, not found, summary, {"tried": candidates, "found": found})
        return found

    def check_dht_values(
        self, part_id: str, model: str, gpio: int, answer: Any, where: str
    ) -> None:
        pin = f"GPIO{gpio}"
        try:
            temp, hum = float(answer[1]), float(answer[2])
        except (TypeError, ValueError, IndexError):
            self.failed("dht-read", part_id, pin, where, f"read the {model}", repr(answer))
            return
        (tlo, thi), (hlo, hhi) = DHT_RANGES[model]
        if not (tlo <= temp <= thi and hlo <= hum <= hhi):
            other = "DHT11" if model == "DHT22" else "DHT22"
            self.find(
                "dht-bad-reading",
                pin,
                where,
                f"The {model} ({part_id}) on {pin} answered {temp:g} °C and {hum:g} %, which "
                f"a {model} cannot measure: it is probably a {other} read as a {model}.",
                f"Check the sensor's label: use dht.{other} in the script (and the matching "
                "part in the diagram) if it is one.",
            )
            self.step("dht-read", part_id, False, f"{part_id} on {pin}: {temp:g} °C, {hum:g} %")
            return
        self.step(
            "dht-read",
            part_id,
            True,
            f"{part_id} ({model}) on {pin}: {temp:g} °C, {hum:g} %",
            {"temperature": temp, "humidity": hum},
        )

    # -- buttons ---------------------------------------------------------------------------

    def button_wiring(self, part_id: str) -> tuple[int, str, str, str | None] | None:
        """(GPIO, the button pin on it, "GND"/"VCC" of the other side, pull to use), or None
        when the button is not wired between a GPIO and a supply."""
        assert self.wiring is not None
        sides = (("1.l", "1.r"), ("2.l", "2.r"))
        for side, other in (sides, sides[::-1]):
            wired = [(g, p) for p in side if (g := self.wiring.gpio(part_id, p)) is not None]
            if not wired:
                continue
            gpio, leg = wired[0]
            supplies: dict[str, float] = {}
            for p in other:
                supplies.update(self.wiring.supplies(part_id, p))
            if not supplies:
                return None
            to = "GND" if "GND" in supplies else "VCC"
            info = self.board.gpio_info(gpio)
            external = any(self.wiring.pulled_externally(part_id, p) for p in side)
            if external:
                pull = None
            elif to == "GND":
                pull = "up" if info.pull_up else None
            else:
                pull = "down" if info.pull_down else None
            return gpio, leg, to, pull
        return None

    def probe_buttons(self) -> None:
        assert self.wiring is not None
        for part_id, part_type, _ in self.wiring.parts():
            if part_type != BUTTON:
                continue
            wired = self.button_wiring(part_id)
            if wired is None:
                self.step(
                    "button-idle",
                    part_id,
                    True,
                    f"{part_id}: not wired between a GPIO and GND/3V3, not read",
                )
                continue
            gpio, leg, to, pull = wired
            idle, pressed = (1, 0) if to == "GND" else (0, 1)
            where = self.where(part_id, leg)
            if self.read_button_idle(part_id, gpio, where, pull, idle, pressed) and self.ask:
                self.press_check(part_id, gpio, where, pull, pressed)

    def read_button_idle(
        self, part_id: str, gpio: int, where: str, pull: str | None, idle: int, pressed: int
    ) -> bool:
        """True when the button reads released, so a press check makes sense."""
        pin = f"GPIO{gpio}"
        answer, why = self.snippet(_button_idle_body(gpio, pull))
        if answer is None:
            self.failed("button-idle", part_id, pin, where, f"read {part_id} on {pin}", why)
            return False
        values = [int(v) for v in answer[1]]
        pull_text = {"up": " with PULL_UP", "down": " with PULL_DOWN"}.get(pull or "", "")
        if all(v == idle for v in values):
            self.step(
                "button-idle",
                part_id,
                True,
                f"{part_id} on {pin} reads {idle} at rest{pull_text}, as it should",
                values,
            )
            return True
        if all(v == pressed for v in values):
            self.find(
                "button-stuck",
                pin,
                where,
                f"{part_id} on {pin} reads {pressed} (pressed) with nothing pressing it"
                f"{pull_text}; released it should read {idle}.",
                "Let go of it, then check its legs: the two legs on one side (1.l and 1.r) are "
                "always connected, so wire across the button, one side to the GPIO and the "
                "other side to " + ("GND." if pressed == 0 else "3V3."),
            )
            self.step("button-idle", part_id, False, f"{part_id} on {pin} reads pressed", values)
            return False
        self.find(
            "button-floating",
            pin,
            where,
            f"{part_id} on {pin} flips between 0 and 1 at rest{pull_text}: the pin floats.",
            "Use Pin.PULL_UP (button to GND) in the script, or add a 10 kOhm resistor from the "
            "pin to 3V3; check the wire to the button.",
        )
        self.step("button-idle", part_id, False, f"{part_id} on {pin} floats", values)
        return False

    def press_check(
        self, part_id: str, gpio: int, where: str, pull: str | None, pressed: int
    ) -> None:
        assert self.ask is not None
        pin = f"GPIO{gpio}"
        seconds = self.press_seconds
        self.ask(f"Press {part_id} (on {pin}) now; watching it for {seconds:g} s.")
        ms = int(seconds * 1000)
        answer, why = self.snippet(
            _button_press_body(gpio, pull, pressed, ms), timeout=seconds + 10.0
        )
        if answer is None:
            self.failed("button-press", part_id, pin, where, f"watch {part_id} on {pin}", why)
            return
        if answer[0] == "pressed":
            self.step(
                "button-press",
                part_id,
                True,
                f"{part_id} on {pin}: press seen after {int(answer[1]) / 1000:.1f} s",
                {"after_ms": int(answer[1])},
            )
            return
        self.find(
            "button-no-press",
            pin,
            where,
            f"No press of {part_id} reached {pin} in {seconds:g} s.",
            "Check the button's wire to the pin and that it sits across the breadboard gap; a "
            "button turned 90 degrees is always closed or never closes.",
        )
        self.step("button-press", part_id, False, f"{part_id} on {pin}: no press seen")

    # -- LEDs ------------------------------------------------------------------------------

    def blink_leds(self) -> None:
        assert self.wiring is not None
        for part_id, part_type, _ in self.wiring.parts():
            if part_type != LED:
                continue
            gpio = self.wiring.gpio_through_resistor(part_id, "A")
            on = 1
            if gpio is None:
                gpio = self.wiring.gpio_through_resistor(part_id, "C")
                on = 0  # the GPIO sinks the current: low lights it
            if gpio is None:
                self.step("led-blink", part_id, True, f"{part_id}: reaches no GPIO, not blinked")
                continue
            pin = f"GPIO{gpio}"
            answer, why = self.snippet(_blink_body(gpio, on, BLINKS, 300))
            if answer is None:
                where = self.where(part_id, "A" if on else "C")
                self.failed("led-blink", part_id, pin, where, f"blink {part_id} on {pin}", why)
                continue
            self.step(
                "led-blink",
                part_id,
                True,
                f"{part_id} on {pin} blinked {BLINKS} times: if it stayed dark, check its "
                "direction (long leg to the GPIO side) and its resistor",
            )


def _hex_list(addresses: Iterable[int]) -> str:
    return ", ".join(f"0x{a:02x}" for a in addresses)


def _maybe(address: int) -> str:
    """ " (a BME280 or BMP180 uses it)" from the part data, to help name a found device."""
    from companion_app.boards.parts import list_parts

    names = sorted({short_name(p) for p in list_parts() if address in p.i2c_addresses})
    return f" (maybe a {' or '.join(names)})" if names else ""


def _other_candidates(addresses: list[int]) -> str:
    return f"Something else answered at {_hex_list(addresses)}."


def probe(
    link: Link,
    board: Board,
    diagram: Diagram | None,
    on_step: OnStep | None = None,
    ask: Ask | None = None,
    press_seconds: float = 5.0,
    blink: bool = False,
    search_other_pins: bool = True,
) -> ProbeReport:
    """Probe a connected board (the link must be open) against a diagram, or alone.

    `on_step` sees each step as it finishes, so a front end can show progress. With `ask`, each
    button that reads released at rest gets a "press it now" check: `ask(question)` tells the
    person, then the pin is watched for `press_seconds`. `blink` toggles each wired LED.
    `search_other_pins` lets a silent DHT be looked for on the free, unwired pins.
    """
    if not link.in_raw_repl:
        link.connect()  # stops whatever program runs, so it cannot fight the probe for pins
    return _Prober(
        link, board, diagram, on_step, ask, press_seconds, blink, search_other_pins
    ).run()


def board_for_machine(machine: str) -> tuple[Board | None, list[Board]]:
    """The board whose firmware prints this `os.uname().machine`, and every other candidate.

    Several boards run the same firmware (both ESP32 dev kits print "Generic ESP32 module with
    ESP32"), so the first board that lists it as its main string wins, and the caller says which
    others it could have been.
    """
    from companion_app.boards import list_boards

    boards = list_boards()
    primary = [b for b in boards if b.machine == machine]
    candidates = primary + [b for b in boards if machine in b.machine_variants and b not in primary]
    return (candidates[0] if candidates else None), candidates


def read_machine(link: Link) -> str:
    """`os.uname().machine` of the connected board."""
    value = link.eval("__import__('os').uname().machine")
    return str(value)


__all__ = [
    "ProbeReport",
    "ProbeStep",
    "board_for_machine",
    "probe",
    "read_machine",
    "run_snippet",
]
