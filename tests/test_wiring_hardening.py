"""Issue 11, items 13 and 14: wiring mistakes that used to pass silently.

Item 13: `ADC(n)` is a channel on the ESP8266 and RP2 but a GPIO on ESP32 chips. The scan is
resolved against the board once (`codescan.resolve_for_board`, run by `run_checks`), so every
rule sees the pin the channel really reads. Item 14: one class of missed mistake per test group,
each with true positives and near misses on two boards or more.

Diagrams are written the way Wokwi saves them, and scripts are real MicroPython, so these tests
go through the same loader, scanner and rule engine as `iotkit check`.
"""

from __future__ import annotations

import textwrap

import pytest

from companion_app.boards import list_boards, load_board
from companion_app.wiring import docs
from companion_app.wiring.codescan import resolve_for_board, scan_source
from companion_app.wiring.diagram import diagram_from_data
from companion_app.wiring.rules import Finding, catalog, run_checks

#: board id -> (board part id, part type, a GPIO pin, its GPIO, 3V3 pin, 5 V pin, GND pin)
BOARDS = {
    "esp32-devkit-v1": ("esp", "wokwi-esp32-devkit-v1", "D14", 14, "3V3", "VIN", "GND.1"),
    "pico": ("pico", "wokwi-pi-pico", "GP15", 15, "3V3", "VBUS", "GND.8"),
    "nodemcu": ("esp", "iotkit-nodemcu", "D5", 14, "3V3.1", "VIN", "GND.1"),
    "esp32-c3-devkitm-1": ("esp", "board-esp32-c3-devkitm-1", "4", 4, "3V3.1", "5V.1", "GND.1"),
}
TWO = ["esp32-devkit-v1", "pico"]


class B:
    """Endpoint names of one board, for building diagrams."""

    def __init__(self, board_id: str) -> None:
        self.id = board_id
        self.pid, self.type, gpio, self.n, v3, v5, gnd = BOARDS[board_id]
        self.gpio = f"{self.pid}:{gpio}"
        self.v3, self.v5, self.gnd = (f"{self.pid}:{p}" for p in (v3, v5, gnd))

    def pin(self, name: str) -> str:
        return f"{self.pid}:{name}"


def part(part_id: str, part_type: str, **attrs) -> dict:
    return {"type": part_type, "id": part_id, "top": 10.0, "left": 120.5, "attrs": attrs}


def wire(a: str, b: str, color: str = "green") -> list:
    return [a, b, color, ["v0"]]


def diagram(b: B, parts: list[dict], connections: list[list]) -> dict:
    return {
        "version": 1,
        "author": "Anonymous maker",
        "editor": "wokwi",
        "parts": [{"type": b.type, "id": b.pid, "top": 0, "left": 0, "attrs": {}}, *parts],
        "connections": connections,
        "dependencies": {},
    }


def run(board: str, script: str | None = None, wiring: dict | None = None) -> list[Finding]:
    scans = [scan_source(textwrap.dedent(script), "main.py")] if script else []
    d = diagram_from_data(wiring, "diagram.json") if wiring else None
    return run_checks(load_board(board), d, scans)


def fired(findings: list[Finding], name: str) -> list[Finding]:
    return [f for f in findings if f.rule == name]


BTN = part("btn1", "wokwi-pushbutton", color="green")
LED = part("led1", "wokwi-led", color="red")
R1 = part("r1", "wokwi-resistor", value="220")
DHT = part("dht1", "wokwi-dht22")
POT = part("pot1", "wokwi-potentiometer")
P = "from machine import Pin\n"
A = "from machine import ADC, Pin\n"


# === item 13: ADC(n) is the pin the channel reads ==========================================


def _adc_use(board: str, script: str):
    scan = resolve_for_board(scan_source(A + script, "main.py"), load_board(board))
    (use,) = [u for u in scan.uses if u.kind == "adc"]
    return use


@pytest.mark.parametrize(
    "board,call,pin,channel,internal",
    [
        ("d1-mini", "ADC(0)", "A0", 0, None),
        ("nodemcu", "ADC(1)", None, 1, "the chip's own supply voltage (VCC)"),
        ("pico", "ADC(0)", 26, 0, None),
        ("pico", "ADC(3)", 29, 3, None),
        ("pico", "ADC(4)", None, 4, "the on-chip temperature sensor"),
        ("pico", "ADC(29)", 29, None, None),  # not a channel: MicroPython takes it as GPIO29
        ("pico2-w", "ADC(1)", 27, 1, None),
        ("esp32-devkit-v1", "ADC(34)", 34, None, None),  # a GPIO number on ESP32 chips
        ("pico", "ADC(Pin(0))", 0, None, None),  # a Pin is always a GPIO
        ("pico", 'ADC("GP1")', 1, None, None),  # a pin name, not channel 1
    ],
)
def test_adc_id_resolves_to_the_pin_it_reads(board, call, pin, channel, internal):
    use = _adc_use(board, f"a = {call}\n")
    assert (use.pin, use.adc_channel, use.internal) == (pin, channel, internal)


def test_resolving_twice_changes_nothing():
    board = load_board("pico")
    once = resolve_for_board(scan_source(A + "a = ADC(0)\n"), board)
    assert resolve_for_board(once, board) == once


@pytest.mark.parametrize(
    "board,script",
    [
        ("d1-mini", "a = ADC(0)\n"),  # was: strapping-pin warning about GPIO0
        ("nodemcu", "v = ADC(1)\n"),  # was: reserved-pin warning about the UART TX pin GPIO1
        ("pico", "v = ADC(29)\n"),  # was: a warning whose text said reading it is fine
        ("pico", "v = ADC(3)\n"),
        ("pico", "t = ADC(4)\n"),
    ],
)
def test_adc_channel_is_not_read_as_a_gpio(board, script):
    assert run(board, A + script) == []


@pytest.mark.parametrize(
    "board,script,rule",
    [
        ("d1-mini", P + "b = Pin(0, Pin.IN)\n", "strapping-pin"),
        ("nodemcu", P + "t = Pin(1, Pin.OUT)\n", "reserved-pin"),
        ("pico", P + "v = Pin(29, Pin.OUT)\n", "reserved-pin"),  # driving the divider is wrong
    ],
)
def test_the_same_numbers_as_gpios_still_warn(board, script, rule):
    assert fired(run(board, script), rule)


@pytest.mark.parametrize("board", ["pico", "pico2-w"])
def test_pin_conflict_sees_the_gpio_behind_a_channel(board):
    (f,) = fired(run(board, A + "pot = ADC(0)\nled = Pin(26, Pin.OUT)\n"), "pin-conflict")
    assert f.pin == "GPIO26" and "ADC(0)" in f.message
    assert not fired(run(board, A + "pot = ADC(0)\nled = Pin(27, Pin.OUT)\n"), "pin-conflict")


def test_reserved_pin_sees_the_gpio_behind_a_channel_on_pico_w():
    (f,) = fired(run("pico-w", A + "v = ADC(3)\n"), "reserved-pin")
    assert f.pin == "GPIO29" and f.severity == "error"
    assert "GPIO26" in f.fix  # the suggested pin can read a voltage too


@pytest.mark.parametrize("board", ["d1-mini", "nodemcu"])
def test_esp8266_adc_id_that_does_not_exist(board):
    (f,) = fired(run(board, A + "a = ADC(2)\n"), "adc-unavailable")
    assert "ADC(2)" in f.message and "ADC(0) reads A0" in f.fix
    assert not fired(run(board, A + "a = ADC(0)\n"), "adc-unavailable")


def test_code_wiring_mismatch_compares_the_channel_pin_with_the_wiring():
    b = B("pico")
    pot = [wire("pot1:VCC", b.v3, "red"), wire("pot1:GND", b.gnd, "black")]
    on_26 = diagram(b, [POT], pot + [wire("pot1:SIG", b.pin("GP26"))])
    on_27 = diagram(b, [POT], pot + [wire("pot1:SIG", b.pin("GP27"))])
    assert not fired(run("pico", A + "pot = ADC(0)\n", on_26), "code-wiring-mismatch")
    (f,) = fired(run("pico", A + "pot = ADC(0)\n", on_27), "code-wiring-mismatch")
    assert "GPIO26" in f.message


def test_code_wiring_mismatch_knows_the_esp8266_a0():
    b = B("nodemcu")
    pot = [wire("pot1:VCC", b.v3, "red"), wire("pot1:GND", b.gnd, "black")]
    on_a0 = diagram(b, [POT], pot + [wire("pot1:SIG", b.pin("A0"))])
    nothing = diagram(b, [LED], [wire("led1:A", b.gpio), wire("led1:C", b.gnd, "black")])
    assert not fired(run("nodemcu", A + "pot = ADC(0)\n", on_a0), "code-wiring-mismatch")
    (f,) = fired(run("nodemcu", A + "pot = ADC(0)\n", nothing), "code-wiring-mismatch")
    assert "reads A0" in f.message


# --- the same class: numbers that are not GPIOs ---------------------------------------------


@pytest.mark.parametrize("call", ["I2C(1)", "I2C(id=1)"])
def test_i2c_bus_id_given_as_keyword_picks_that_bus(call):
    scan = scan_source("from machine import I2C\nbus = " + call + "\n")
    assert {u.bus_id for u in scan.uses} == {1}
    # I2C(1)'s default SCL on a Pico is GP7, so a LED there clashes with the bus.
    script = f"from machine import I2C, Pin\nbus = {call}\nled = Pin(7, Pin.OUT)\n"
    assert fired(run("pico", script), "pin-conflict")
    assert not fired(run("pico", script.replace("Pin(7,", "Pin(8,")), "pin-conflict")


# === item 14: missed mistakes ===============================================================


# --- 5 V onto a GPIO by a wire or a pushbutton --------------------------------------------


@pytest.mark.parametrize("board_id", TWO)
def test_wire_from_5v_to_a_gpio(board_id):
    b = B(board_id)
    (f,) = fired(
        run(board_id, wiring=diagram(b, [], [wire(b.v5, b.gpio, "red")])), "voltage-mismatch"
    )
    assert f.severity == "error" and f.pin == f"GPIO{b.n}" and "wired straight to" in f.message
    # near miss: tying the input to 3V3 is safe
    assert not fired(
        run(board_id, wiring=diagram(b, [], [wire(b.v3, b.gpio, "red")])), "voltage-mismatch"
    )


@pytest.mark.parametrize("board_id", TWO)
def test_pushbutton_that_puts_5v_on_a_gpio(board_id):
    b = B(board_id)
    bad = diagram(b, [BTN], [wire(b.v5, "btn1:1.l", "red"), wire("btn1:2.l", b.gpio)])
    (f,) = fired(run(board_id, wiring=bad), "voltage-mismatch")
    assert f.where == "diagram.json: btn1:2.l" and "Pressing btn1" in f.message
    good = diagram(b, [BTN], [wire(b.gnd, "btn1:1.l", "black"), wire("btn1:2.l", b.gpio)])
    assert not fired(run(board_id, wiring=good), "voltage-mismatch")


# --- an LED fed from 5 V and sunk by a GPIO -------------------------------------------------


@pytest.mark.parametrize("board_id", TWO)
def test_led_fed_from_5v_and_sunk_by_a_gpio(board_id):
    b = B(board_id)
    chain = [wire("r1:2", "led1:A"), wire("led1:C", b.gpio)]
    bad = diagram(b, [LED, R1], [wire(b.v5, "r1:1", "red"), *chain])
    (f,) = fired(run(board_id, wiring=bad), "voltage-mismatch")
    assert f.where == "diagram.json: led1:C" and "LED off" in f.message and "3V3" in f.fix
    good = diagram(b, [LED, R1], [wire(b.v3, "r1:1", "red"), *chain])
    assert not fired(run(board_id, wiring=good), "voltage-mismatch")
    # near miss: the LED turned round blocks the 5 V (it never lights, but the pin is safe)
    backwards = diagram(
        b, [LED, R1], [wire(b.v5, "r1:1", "red"), wire("r1:2", "led1:C"), wire("led1:A", b.gpio)]
    )
    assert not fired(run(board_id, wiring=backwards), "voltage-mismatch")


# --- a GPIO the script drives, wired straight to GND or 3V3 --------------------------------


@pytest.mark.parametrize("board_id", TWO)
def test_driven_gpio_wired_straight_to_gnd_is_a_short(board_id):
    b = B(board_id)
    wiring = diagram(b, [], [wire(b.gpio, b.gnd, "black")])
    findings = run(board_id, P + f"led = Pin({b.n}, Pin.OUT)\nled.on()\n", wiring)
    (f,) = fired(findings, "power-short")
    assert f.where == "main.py:2" and f.severity == "error" and "GND" in f.message
    # the wire is a net like any other: no "nothing is wired to it"
    assert not fired(findings, "code-wiring-mismatch")
    # near miss: an input tied low is no short
    assert not fired(run(board_id, P + f"b = Pin({b.n}, Pin.IN)\n", wiring), "power-short")


@pytest.mark.parametrize("board_id", TWO)
def test_gpio_wired_to_3v3_shorts_when_driven_low(board_id):
    b = B(board_id)
    wiring = diagram(b, [], [wire(b.gpio, b.v3, "red")])
    assert fired(run(board_id, P + f"p = Pin({b.n}, Pin.OPEN_DRAIN)\n", wiring), "power-short")
    # near miss: an open-drain pin tied to GND only ever pulls low, which is no fight
    to_gnd = diagram(b, [], [wire(b.gpio, b.gnd, "black")])
    assert not fired(run(board_id, P + f"p = Pin({b.n}, Pin.OPEN_DRAIN)\n", to_gnd), "power-short")


@pytest.mark.parametrize("board_id", TWO)
def test_driven_gpio_behind_a_pushbutton_to_gnd(board_id):
    b = B(board_id)
    wiring = diagram(b, [BTN], [wire(b.gpio, "btn1:1.l"), wire("btn1:2.l", b.gnd, "black")])
    (f,) = fired(run(board_id, P + f"out = Pin({b.n}, Pin.OUT)\n", wiring), "power-short")
    assert "when pressed" in f.message
    reading = P + f"button = Pin({b.n}, Pin.IN, Pin.PULL_UP)\n"
    assert not fired(run(board_id, reading, wiring), "power-short")


# --- a part fed from an enable input --------------------------------------------------------


@pytest.mark.parametrize(
    "board_id,control", [("pico", "3V3_EN"), ("pico", "RUN"), ("esp32-devkit-v1", "EN")]
)
def test_part_fed_from_an_enable_input(board_id, control):
    b = B(board_id)
    rest = [wire("dht1:SDA", b.gpio), wire("dht1:GND", b.gnd, "black")]
    bad = diagram(b, [DHT], [wire("dht1:VCC", b.pin(control), "red"), *rest])
    (f,) = fired(run(board_id, wiring=bad), "missing-power")
    assert f.pin == control and f"wired to {control}" in f.message
    assert "not a supply" in f.message and f"instead of {control}" in f.fix
    good = diagram(b, [DHT], [wire("dht1:VCC", b.v3, "red"), *rest])
    assert not fired(run(board_id, wiring=good), "missing-power")


def test_every_enable_or_reset_pin_says_what_goes_wrong():
    for board in list_boards():
        for pin in board.pins:
            if pin.kind == "control":
                assert pin.what_goes_wrong and pin.raw.get("source"), (board.id, pin.name)


# --- a pushbutton across the two legs of one contact ---------------------------------------


@pytest.mark.parametrize(
    "board_id,legs", [("esp32-devkit-v1", ("1.l", "1.r")), ("pico", ("2.l", "2.r"))]
)
def test_pushbutton_across_one_contact_is_always_pressed(board_id, legs):
    b = B(board_id)
    a, c = legs
    bad = diagram(b, [BTN], [wire(b.gpio, f"btn1:{a}"), wire(f"btn1:{c}", b.gnd, "black")])
    (f,) = fired(run(board_id, wiring=bad), "button-always-pressed")
    assert f.severity == "error" and f.pin == f"GPIO{b.n}" and f.where == f"diagram.json: btn1:{c}"
    assert "pressed whether it is pressed or not" in f.message
    # near miss: across the two contacts, as Wokwi's docs show
    other = "2.r" if a.startswith("1") else "1.r"
    good = diagram(b, [BTN], [wire(b.gpio, f"btn1:{a}"), wire(f"btn1:{other}", b.gnd, "black")])
    assert not fired(run(board_id, wiring=good), "button-always-pressed")


@pytest.mark.parametrize("board_id", TWO)
def test_pushbutton_leg_used_to_pass_gnd_along_is_fine(board_id):
    """GND goes in on 1.l and on to an LED from 1.r; the GPIO is on contact 2: a real button."""
    b = B(board_id)
    wiring = diagram(
        b,
        [BTN, LED, R1],
        [
            wire(b.gnd, "btn1:1.l", "black"),
            wire("btn1:1.r", "led1:C", "black"),
            wire("led1:A", "r1:2"),
            wire("r1:1", b.v3, "red"),
            wire("btn1:2.l", b.gpio),
        ],
    )
    assert not fired(run(board_id, wiring=wiring), "button-always-pressed")


# --- the ESP32-C3's ADC2 --------------------------------------------------------------------


@pytest.mark.parametrize("call", ["ADC(Pin(5))", "ADC(5)"])
def test_esp32_c3_adc2_is_unusable_even_without_wifi(call):
    (f,) = fired(run("esp32-c3-devkitm-1", A + f"pot = {call}\n"), "adc-unavailable")
    assert f.severity == "error" and f.pin == "GPIO5" and "errata" in f.message
    assert "GPIO5" not in f.fix
    assert not fired(run("esp32-c3-devkitm-1", A + f"pot = {call}\n"), "adc2-wifi")
    assert not fired(run("esp32-c3-devkitm-1", A + "pot = ADC(Pin(4))\n"), "adc-unavailable")


def test_esp32_c3_adc2_fact_has_the_errata_as_source():
    fact = load_board("esp32-c3-devkitm-1").unusable_adc(2)
    assert fact is not None and "esp32-c3_errata" in fact.source
    assert load_board("esp32-devkit-v1").unusable_adc(2) is None


def test_esp32_adc2_stays_a_wifi_warning():
    """Near miss on the other chip: the classic ESP32's ADC2 works while Wi-Fi is off."""
    findings = run("esp32-devkit-v1", A + "pot = ADC(Pin(4))\n")
    assert fired(findings, "adc2-wifi") and not fired(findings, "adc-unavailable")


@pytest.mark.parametrize(
    "board_id,bad_pin,good_pin", [("esp32-c3-devkitm-1", "5", "4"), ("nodemcu", "D5", "A0")]
)
def test_potentiometer_on_a_pin_that_cannot_measure(board_id, bad_pin, good_pin):
    b = B(board_id)
    pot = [wire("pot1:VCC", b.v3, "red"), wire("pot1:GND", b.gnd, "black")]
    bad = diagram(b, [POT], pot + [wire("pot1:SIG", b.pin(bad_pin))])
    (f,) = fired(run(board_id, wiring=bad), "adc-unavailable")
    assert f.where == "diagram.json: pot1:SIG" and f.severity == "error"
    good = diagram(b, [POT], pot + [wire("pot1:SIG", b.pin(good_pin))])
    assert not fired(run(board_id, wiring=good), "adc-unavailable")


# --- driving the board's own BOOT button pin -----------------------------------------------


@pytest.mark.parametrize(
    "board_id,gpio", [("esp32-c3-devkitm-1", 9), ("esp32-devkit-v1", 0), ("esp32-s3-devkitc-1", 0)]
)
def test_driving_the_boot_button_pin(board_id, gpio):
    (f,) = fired(run(board_id, P + f"led = Pin({gpio}, Pin.OUT)\n"), "onboard-button-output")
    assert f.severity == "warning" and f.pin == f"GPIO{gpio}" and "BOOT" in f.message
    pwm = f"from machine import Pin, PWM\nbuzz = PWM(Pin({gpio}))\n"
    assert fired(run(board_id, pwm), "onboard-button-output")
    # near miss: reading the button is what it is for
    reading = P + f"boot = Pin({gpio}, Pin.IN, Pin.PULL_UP)\n"
    assert not fired(run(board_id, reading), "onboard-button-output")


def test_boards_without_a_boot_button_on_a_gpio_stay_quiet():
    assert not fired(run("pico", P + "led = Pin(0, Pin.OUT)\n"), "onboard-button-output")
    assert not fired(run("esp32-cam", P + "led = Pin(0, Pin.OUT)\n"), "onboard-button-output")


def test_boot_buttons_are_data_with_a_source():
    buttons = {b.id: [x for x in b.buttons() if x.pulls_to] for b in list_boards()}
    assert [x.gpio for x in buttons["esp32-c3-devkitm-1"]] == [9]
    assert [x.gpio for x in buttons["esp32-devkit-v1"]] == [0]
    assert all(x.source and x.pulls_to == "GND" for found in buttons.values() for x in found)


# === the reference shows the new findings ==================================================


NEW_RULES = ("button-always-pressed", "onboard-button-output")


@pytest.mark.parametrize("name", NEW_RULES)
def test_new_rules_are_in_the_catalog(name):
    entry = catalog()[name]
    assert entry["severity"] in ("error", "warning") and entry["meaning"] and entry["examples"]


def test_reference_shows_the_new_findings_as_the_checker_says_them():
    text = docs.render()
    for phrase in (
        "## button-always-pressed",
        "## onboard-button-output",
        "is wired straight to VBUS (5 V)",  # a 5 V wire
        "Pressing btn1 puts VIN (5 V) on D14",  # a 5 V pushbutton
        "while the pin is high (LED off)",  # an LED fed from 5 V
        "wires D14 straight to GND",  # a driven GPIO on GND
        "It is wired to 3V3_EN: 3V3_EN is the enable input",  # a part fed from an enable input
        "errata",  # the ESP32-C3's ADC2
        "has no ADC(2)",  # an ESP8266 ADC id that does not exist
    ):
        assert phrase in text, phrase


def test_unknown_pin_name_is_read_as_a_gpio_only_where_the_board_names_pins_so():
    """Same class as item 13: "D9" on a NodeMCU is not GPIO9 (its D5 is GPIO14), so the message
    must not call it a flash pin; "D6" on an ESP32 DevKit is GPIO6, which is one."""
    nodemcu = B("nodemcu")
    wiring = diagram(
        nodemcu, [LED], [wire("led1:A", nodemcu.pin("D9")), wire("led1:C", nodemcu.gnd)]
    )
    (f,) = fired(run("nodemcu", wiring=wiring), "unknown-pin")
    assert "no pin called 'D9'" in f.message and "GPIO9" not in f.message
    esp = B("esp32-devkit-v1")
    wiring = diagram(esp, [LED], [wire("led1:A", esp.pin("D6")), wire("led1:C", esp.gnd)])
    (f,) = fired(run("esp32-devkit-v1", wiring=wiring), "unknown-pin")
    assert "(GPIO6: SPI flash" in f.message


def test_a0_is_known_only_as_what_adc0_reads():
    """ADC(0) on an ESP8266 reads A0, but `Pin("A0")` is no pin the firmware has."""
    assert not fired(run("nodemcu", A + "pot = ADC(0)\n"), "unknown-pin")
    (f,) = fired(run("nodemcu", P + 'p = Pin("A0", Pin.IN)\n'), "unknown-pin")
    assert "no pin called 'A0'" in f.message
