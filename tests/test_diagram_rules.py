"""The diagram rules: a true positive and a near miss for every rule, on two boards or more.

Diagrams are written the way Wokwi saves them (part ids, "esp:D14", "GND.1", color and hints), so
a teacher's file and these tests exercise the same loader.
"""

from __future__ import annotations

import pytest

import companion_app.wiring.diagram_rules as diagram_rules
from companion_app.boards import load_board
from companion_app.wiring import load_diagram
from companion_app.wiring.rules import Finding, catalog, registered, run_checks

#: board id -> (part id, part type, GPIO pin, another GPIO pin, 3V3 pin, 5 V pin, GND pin)
BOARDS = {
    "esp32-devkit-v1": ("esp", "wokwi-esp32-devkit-v1", "D14", "D27", "3V3", "VIN", "GND.1"),
    "pico-w": ("pico", "wokwi-pi-pico-w", "GP15", "GP14", "3V3", "VBUS", "GND.8"),
    "nodemcu": ("esp", "iotkit-nodemcu", "D5", "D6", "3V3.1", "VIN", "GND.1"),
    "esp32-s3-devkitc-1": ("esp", "board-esp32-s3-devkitc-1", "14", "13", "3V3.1", "5V", "GND.1"),
}
TWO = ["esp32-devkit-v1", "pico-w"]
ALL = list(BOARDS)


class B:
    """Pin names of one board for the diagram builders below."""

    def __init__(self, board_id: str) -> None:
        self.id = board_id
        self.pid, self.type, gpio, gpio2, v3, v5, gnd = BOARDS[board_id]
        self.gpio, self.gpio2 = f"{self.pid}:{gpio}", f"{self.pid}:{gpio2}"
        self.v3, self.v5, self.gnd = f"{self.pid}:{v3}", f"{self.pid}:{v5}", f"{self.pid}:{gnd}"

    def pin(self, name: str) -> str:
        return f"{self.pid}:{name}"


def wire(a: str, b: str, color: str = "green") -> list:
    return [a, b, color, ["v0", "h-19.2"]]


def part(part_id: str, part_type: str, **attrs) -> dict:
    return {"type": part_type, "id": part_id, "top": 10.0, "left": 120.5, "attrs": attrs}


def diagram(b: B, parts: list[dict], connections: list[list]) -> dict:
    return {
        "version": 1,
        "author": "Anonymous maker",
        "editor": "wokwi",
        "parts": [{"type": b.type, "id": b.pid, "top": 0, "left": 0, "attrs": {}}, *parts],
        "connections": connections,
        "dependencies": {},
    }


def check(b: B, parts: list[dict], connections: list[list]) -> list[Finding]:
    return run_checks(load_board(b.id), load_diagram(diagram(b, parts, connections)))


def fired(findings: list[Finding], name: str) -> list[Finding]:
    return [f for f in findings if f.rule == name]


DHT = part("dht1", "wokwi-dht22")
LED = part("led1", "wokwi-led", color="red")
R1 = part("r1", "wokwi-resistor", value="220")
R2 = part("r2", "wokwi-resistor", value="2000")
BTN = part("btn1", "wokwi-pushbutton", color="green")
SONAR = part("sonar1", "wokwi-hc-sr04")


def dht(b: B, data: str, vcc: str | None = None, gnd: str | None = None) -> list[list]:
    return [
        wire("dht1:VCC", vcc or b.v3, "red"),
        wire("dht1:SDA", data),
        wire("dht1:GND", gnd or b.gnd, "black"),
    ]


def led(b: B, gpio: str, resistor: bool = True) -> list[list]:
    if not resistor:
        return [wire(gpio, "led1:A"), wire("led1:C", b.gnd, "black")]
    return [wire(gpio, "r1:1"), wire("r1:2", "led1:A"), wire("led1:C", b.gnd, "black")]


def sonar(b: B, echo: list[list], vcc: str | None = None) -> list[list]:
    return [
        wire("sonar1:VCC", vcc or b.v5, "red"),
        wire("sonar1:GND", b.gnd, "black"),
        wire("sonar1:TRIG", b.gpio2),
        *echo,
    ]


# -- registration --------------------------------------------------------------------------------


def test_importing_the_module_registers_every_diagram_rule():
    assert set(diagram_rules.RULES) <= set(registered())
    assert catalog()["unknown-part"]["severity"] == "info"


def test_a_good_esp32_dht22_diagram_has_no_findings():
    b = B("esp32-devkit-v1")
    findings = check(b, [DHT], dht(b, b.gpio) + [wire("esp:TX0", "$serialMonitor:RX", "")])
    assert findings == []


@pytest.mark.parametrize("board_id", ALL)
def test_a_good_led_and_dht_wiring_is_clean_on_every_board(board_id):
    b = B(board_id)
    assert check(b, [DHT, LED, R1], dht(b, b.gpio) + led(b, b.gpio2)) == []


# -- unknown-pin ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "board_id,bad", [("esp32-devkit-v1", "D24"), ("pico-w", "GP23"), ("nodemcu", "D9")]
)
def test_unknown_pin_fires_for_a_pin_the_board_lacks(board_id, bad):
    b = B(board_id)
    found = fired(check(b, [DHT], dht(b, b.pin(bad))), "unknown-pin")
    assert len(found) == 1
    assert found[0].severity == "error"
    assert found[0].pin == bad
    assert found[0].where == f"<diagram>: {b.pid}:{bad}"
    assert "no pin called" in found[0].message


@pytest.mark.parametrize("board_id", TWO)
def test_unknown_pin_near_miss_lower_case_names_are_forgiven(board_id):
    b = B(board_id)
    assert not fired(check(b, [DHT], dht(b, b.gpio.lower(), gnd=b.gnd.lower())), "unknown-pin")


def test_unknown_pin_pico_w_gp23_mentions_the_wireless_chip():
    b = B("pico-w")
    (f,) = fired(check(b, [DHT], dht(b, "pico:GP23")), "unknown-pin")
    assert "wireless" in f.message


@pytest.mark.parametrize("board_id", TWO)
def test_unknown_pin_fires_for_a_part_pin_the_part_lacks(board_id):
    b = B(board_id)
    conns = dht(b, b.gpio)
    conns[1] = wire("dht1:DATA", b.gpio)
    (f,) = fired(check(b, [DHT], conns), "unknown-pin")
    assert f.where == "<diagram>: dht1:DATA"


# -- flash-pin -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "board_id,pin,gpio",
    [("nodemcu", "SD2", 9), ("nodemcu", "CLK", 6)],
)
def test_flash_pin_fires_on_nodemcu(board_id, pin, gpio):
    b = B(board_id)
    (f,) = fired(check(b, [LED, R1], led(b, b.pin(pin))), "flash-pin")
    assert (f.pin, f.severity, f.where) == (f"GPIO{gpio}", "error", "<diagram>: led1:A")
    assert "flash" in f.message
    assert f.fix.startswith("Move led1:A to a free GPIO such as ")


def test_flash_pin_fires_on_esp32_devkitc():
    board = load_board("esp32-devkitc")
    d = {
        "version": 1,
        "parts": [part("esp", "board-esp32-devkit-c-v4"), DHT],
        "connections": [
            wire("dht1:SDA", "esp:CMD"),
            wire("dht1:VCC", "esp:3V3", "red"),
            wire("dht1:GND", "esp:GND.1", "black"),
        ],
    }
    (f,) = fired(run_checks(board, load_diagram(d)), "flash-pin")
    assert f.pin == "GPIO11" and f.where == "<diagram>: dht1:SDA"
    d["connections"][0] = wire("dht1:SDA", "esp:14")
    assert not fired(run_checks(board, load_diagram(d)), "flash-pin")


@pytest.mark.parametrize("board_id", ["nodemcu", "esp32-devkit-v1"])
def test_flash_pin_near_miss(board_id):
    b = B(board_id)
    assert not fired(check(b, [LED, R1], led(b, b.gpio)), "flash-pin")


# -- reserved-pin --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "board_id,pin,gpio,severity",
    [
        ("esp32-devkit-v1", "TX0", 1, "warning"),
        ("esp32-s3-devkitc-1", "19", 19, "warning"),
        ("nodemcu", "RX", 3, "warning"),
    ],
)
def test_reserved_pin_fires(board_id, pin, gpio, severity):
    b = B(board_id)
    (f,) = fired(check(b, [LED, R1], led(b, b.pin(pin))), "reserved-pin")
    assert (f.pin, f.severity) == (f"GPIO{gpio}", severity)


def test_reserved_pin_pico_w_wireless_line_is_an_error():
    b = B("pico-w")
    (f,) = fired(check(b, [DHT], dht(b, "pico:$gpio24")), "reserved-pin")
    assert f.severity == "error" and "wireless" in f.message
    assert not fired(check(b, [DHT], dht(b, "pico:$gpio24")), "unknown-pin")


@pytest.mark.parametrize("board_id", ["esp32-devkit-v1", "esp32-s3-devkitc-1"])
def test_reserved_pin_near_miss_wokwi_serial_monitor_is_not_a_part(board_id):
    b = B(board_id)
    tx = "esp:TX0" if board_id == "esp32-devkit-v1" else "esp:TX"
    conns = led(b, b.gpio) + [wire(tx, "$serialMonitor:RX", "")]
    assert not fired(check(b, [LED, R1], conns), "reserved-pin")


# -- input-only ----------------------------------------------------------------------------------


def test_input_only_fires_for_dht_on_gpio34_with_a_fix():
    b = B("esp32-devkit-v1")
    (f,) = fired(check(b, [DHT], dht(b, "esp:D34")), "input-only")
    assert (f.pin, f.where) == ("GPIO34", "<diagram>: dht1:SDA")
    assert "only read" in f.message
    assert f.fix.startswith("Move dht1:SDA to a free GPIO such as ")


def test_input_only_fires_for_i2c_on_esp32_devkitc_and_for_led_on_nodemcu_a0():
    board = load_board("esp32-devkitc")
    d = {
        "version": 1,
        "parts": [part("esp", "board-esp32-devkit-c-v4"), part("oled1", "board-ssd1306")],
        "connections": [
            wire("oled1:SDA", "esp:35"),
            wire("oled1:SCL", "esp:22"),
            wire("oled1:VCC", "esp:3V3", "red"),
            wire("oled1:GND", "esp:GND.1", "black"),
        ],
    }
    (f,) = fired(run_checks(board, load_diagram(d)), "input-only")
    assert f.pin == "GPIO35"
    b = B("nodemcu")
    (f,) = fired(check(b, [LED, R1], led(b, "esp:A0")), "input-only")
    assert f.pin == "A0"


@pytest.mark.parametrize("board_id", ["esp32-devkit-v1", "nodemcu"])
def test_input_only_near_miss_potentiometer_and_pulled_up_button_may_read(board_id):
    b = B(board_id)
    pin = b.pin("D34") if board_id == "esp32-devkit-v1" else b.pin("A0")
    pot = part("pot1", "wokwi-potentiometer")
    conns = [
        wire("pot1:SIG", pin),
        wire("pot1:VCC", b.v3, "red"),
        wire("pot1:GND", b.gnd, "black"),
    ]
    assert not fired(check(b, [pot], conns), "input-only")


# -- no-internal-pullup --------------------------------------------------------------------------


@pytest.mark.parametrize("board_id,pin", [("esp32-devkit-v1", "D35"), ("nodemcu", "D0")])
def test_no_internal_pullup_fires_for_a_button_to_gnd(board_id, pin):
    b = B(board_id)
    conns = [wire("btn1:1.l", b.pin(pin)), wire("btn1:2.r", b.gnd, "black")]
    (f,) = fired(check(b, [BTN], conns), "no-internal-pullup")
    assert f.where == "<diagram>: btn1:1.l"
    assert "10 kOhm" in f.fix


def test_no_internal_pullup_fires_for_a_dht_on_nodemcu_d0():
    b = B("nodemcu")
    (f,) = fired(check(b, [DHT], dht(b, "esp:D0")), "no-internal-pullup")
    assert f.pin == "GPIO16"


@pytest.mark.parametrize("board_id,pin", [("esp32-devkit-v1", "D35"), ("nodemcu", "D0")])
def test_no_internal_pullup_near_miss_external_resistor_to_3v3(board_id, pin):
    b = B(board_id)
    r = part("r1", "wokwi-resistor", value="10000")
    conns = [
        wire("btn1:1.l", b.pin(pin)),
        wire("btn1:2.r", b.gnd, "black"),
        wire("r1:1", b.pin(pin)),
        wire("r1:2", b.v3, "red"),
    ]
    assert not fired(check(b, [BTN, r], conns), "no-internal-pullup")


@pytest.mark.parametrize("board_id", ["pico-w", "nodemcu"])
def test_no_internal_pullup_near_miss_pin_with_internal_pull_up(board_id):
    b = B(board_id)
    conns = [wire("btn1:1.l", b.gpio), wire("btn1:2.r", b.gnd, "black")]
    assert not fired(check(b, [BTN], conns), "no-internal-pullup")


# -- strapping-pin -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "board_id,pin,gpio",
    [("esp32-devkit-v1", "D12", 12), ("nodemcu", "D8", 15), ("esp32-s3-devkitc-1", "0", 0)],
)
def test_strapping_pin_warns_and_says_what_goes_wrong(board_id, pin, gpio):
    b = B(board_id)
    conns = [wire("btn1:1.l", b.pin(pin)), wire("btn1:2.r", b.gnd, "black")]
    (f,) = fired(check(b, [BTN], conns), "strapping-pin")
    assert (f.pin, f.severity) == (f"GPIO{gpio}", "warning")
    board = load_board(board_id)
    assert board.strapping_pins()[gpio].what_goes_wrong in f.message


@pytest.mark.parametrize("board_id", ["esp32-devkit-v1", "nodemcu", "pico-w"])
def test_strapping_pin_near_miss(board_id):
    b = B(board_id)
    conns = [wire("btn1:1.l", b.gpio), wire("btn1:2.r", b.gnd, "black")]
    assert not fired(check(b, [BTN], conns), "strapping-pin")


# -- voltage-mismatch ----------------------------------------------------------------------------


def divider(b: B) -> list[list]:
    return [
        wire("sonar1:ECHO", "r1:1"),
        wire("r1:2", b.gpio),
        wire("r2:1", b.gpio),
        wire("r2:2", b.gnd, "black"),
    ]


@pytest.mark.parametrize("board_id", TWO)
def test_voltage_mismatch_echo_straight_to_gpio(board_id):
    b = B(board_id)
    (f,) = fired(check(b, [SONAR], sonar(b, [wire("sonar1:ECHO", b.gpio)])), "voltage-mismatch")
    assert f.where == "<diagram>: sonar1:ECHO" and f.severity == "error"
    assert "divider" in f.fix


@pytest.mark.parametrize("board_id", TWO)
def test_voltage_mismatch_series_resistor_alone_is_not_a_divider(board_id):
    b = B(board_id)
    echo = divider(b)[:2]
    (f,) = fired(check(b, [SONAR, R1], sonar(b, echo)), "voltage-mismatch")
    assert "r1" in f.message


@pytest.mark.parametrize("board_id", TWO)
def test_voltage_mismatch_near_miss_with_a_divider(board_id):
    b = B(board_id)
    assert not fired(check(b, [SONAR, R1, R2], sonar(b, divider(b))), "voltage-mismatch")


@pytest.mark.parametrize("board_id", TWO)
def test_voltage_mismatch_3v3_only_part_on_5v(board_id):
    b = B(board_id)
    bme = part("bme1", "iotkit-bme280")
    conns = [
        wire("bme1:VCC", b.v5, "red"),
        wire("bme1:GND", b.gnd, "black"),
        wire("bme1:SDA", b.gpio),
        wire("bme1:SCL", b.gpio2),
    ]
    (f,) = fired(check(b, [bme], conns), "voltage-mismatch")
    assert f.where == "<diagram>: bme1:VCC" and "3V3" in f.fix
    conns[0] = wire("bme1:VCC", b.v3, "red")
    assert not fired(check(b, [bme], conns), "voltage-mismatch")


def test_voltage_mismatch_potentiometer_on_5v_into_an_adc():
    b = B("esp32-devkit-v1")
    pot = part("pot1", "wokwi-potentiometer")
    conns = [wire("pot1:SIG", "esp:D34"), wire("pot1:VCC", b.v5), wire("pot1:GND", b.gnd)]
    assert fired(check(b, [pot], conns), "voltage-mismatch")
    conns[1] = wire("pot1:VCC", b.v3)
    assert not fired(check(b, [pot], conns), "voltage-mismatch")


# -- undervoltage --------------------------------------------------------------------------------


@pytest.mark.parametrize("board_id", TWO)
def test_undervoltage_hc_sr04_and_servo_on_3v3(board_id):
    b = B(board_id)
    (f,) = fired(check(b, [SONAR, R1, R2], sonar(b, divider(b), vcc=b.v3)), "undervoltage")
    assert (f.severity, f.pin, f.where) == ("warning", "3V3", "<diagram>: sonar1:VCC")
    five = [p.name for p in load_board(board_id).power_pins() if p.voltage == 5.0]
    assert any(name in f.fix for name in five)
    servo = part("servo1", "wokwi-servo")
    conns = [wire("servo1:V+", b.v3), wire("servo1:GND", b.gnd), wire("servo1:PWM", b.gpio)]
    assert fired(check(b, [servo], conns), "undervoltage")


@pytest.mark.parametrize("board_id", TWO)
def test_undervoltage_near_miss_on_5v(board_id):
    b = B(board_id)
    assert not fired(check(b, [SONAR, R1, R2], sonar(b, divider(b))), "undervoltage")


# -- power-short ---------------------------------------------------------------------------------


@pytest.mark.parametrize("board_id", TWO)
def test_power_short_vcc_and_gnd_on_one_net(board_id):
    b = B(board_id)
    conns = dht(b, b.gpio) + [wire("dht1:VCC", b.gnd, "black")]
    (f,) = fired(check(b, [DHT], conns), "power-short")
    assert f.severity == "error" and "3V3" in f.message and "GND" in f.message


@pytest.mark.parametrize("board_id", TWO)
def test_power_short_through_a_breadboard_rail(board_id):
    b = B(board_id)
    bb = part("bb1", "wokwi-breadboard-half")
    conns = [wire("bb1:tp.1", b.v3, "red"), wire("bb1:tp.12", b.gnd, "black")]
    assert fired(check(b, [bb], conns), "power-short")


@pytest.mark.parametrize("board_id", TWO)
def test_power_short_near_miss_separate_rails(board_id):
    b = B(board_id)
    bb = part("bb1", "wokwi-breadboard-half")
    conns = [
        wire("bb1:tp.1", b.v3, "red"),
        wire("bb1:tn.1", b.gnd, "black"),
        wire("dht1:VCC", "bb1:tp.5", "red"),
        wire("dht1:GND", "bb1:tn.7", "black"),
        wire("dht1:SDA", b.gpio),
    ]
    findings = check(b, [bb, DHT], conns)
    assert not fired(findings, "power-short")
    assert not fired(findings, "missing-power") and not fired(findings, "missing-ground")


# -- missing-ground / missing-power --------------------------------------------------------------


@pytest.mark.parametrize("board_id", TWO)
def test_missing_ground(board_id):
    b = B(board_id)
    (f,) = fired(check(b, [DHT], dht(b, b.gpio)[:2]), "missing-ground")
    assert f.where == "<diagram>: dht1:GND"
    assert not fired(check(b, [DHT], dht(b, b.gpio)), "missing-ground")


@pytest.mark.parametrize("board_id", TWO)
def test_missing_power_and_its_fix_names_3v3(board_id):
    b = B(board_id)
    (f,) = fired(check(b, [DHT], dht(b, b.gpio)[1:]), "missing-power")
    assert f.where == "<diagram>: dht1:VCC"
    assert f.fix == f"Wire dht1:VCC to {b.v3.split(':')[1]}."
    assert not fired(check(b, [DHT], dht(b, b.gpio)), "missing-power")


@pytest.mark.parametrize("board_id", TWO)
def test_missing_power_vcc_on_a_gpio_is_not_a_supply(board_id):
    b = B(board_id)
    (f,) = fired(check(b, [DHT], dht(b, b.gpio, vcc=b.gpio2)), "missing-power")
    assert "signal pin" in f.message


@pytest.mark.parametrize("board_id", TWO)
def test_missing_power_near_miss_leds_buttons_and_resistors_need_no_supply(board_id):
    b = B(board_id)
    conns = led(b, b.gpio) + [wire("btn1:1.l", b.gpio2), wire("btn1:2.l", b.gnd, "black")]
    findings = check(b, [LED, R1, BTN], conns)
    assert not fired(findings, "missing-power") and not fired(findings, "missing-ground")


# -- pin-conflict --------------------------------------------------------------------------------


@pytest.mark.parametrize("board_id", TWO)
def test_pin_conflict_dht_and_led_on_one_gpio(board_id):
    b = B(board_id)
    (f,) = fired(check(b, [DHT, LED, R1], dht(b, b.gpio) + led(b, b.gpio)), "pin-conflict")
    assert "dht1:SDA" in f.message and "led1:A" in f.message


@pytest.mark.parametrize("board_id", TWO)
def test_pin_conflict_button_and_led(board_id):
    b = B(board_id)
    conns = led(b, b.gpio) + [wire("btn1:1.l", b.gpio), wire("btn1:2.l", b.gnd, "black")]
    assert fired(check(b, [LED, R1, BTN], conns), "pin-conflict")


@pytest.mark.parametrize("board_id", TWO)
def test_pin_conflict_two_gpios_wired_together(board_id):
    b = B(board_id)
    assert fired(check(b, [DHT], dht(b, b.gpio) + [wire(b.gpio, b.gpio2)]), "pin-conflict")


@pytest.mark.parametrize("board_id", TWO)
def test_pin_conflict_near_miss_shared_i2c_bus_and_pull_up(board_id):
    b = B(board_id)
    parts = [part("oled1", "board-ssd1306"), part("bme1", "iotkit-bme280")]
    conns = []
    for p in ("oled1", "bme1"):
        conns += [
            wire(f"{p}:SDA", b.gpio),
            wire(f"{p}:SCL", b.gpio2),
            wire(f"{p}:VCC", b.v3),
            wire(f"{p}:GND", b.gnd),
        ]
    assert not fired(check(b, parts, conns), "pin-conflict")
    r = part("r1", "wokwi-resistor", value="10000")
    conns = dht(b, b.gpio) + [wire("r1:1", b.gpio), wire("r1:2", b.v3)]
    assert not fired(check(b, [DHT, r], conns), "pin-conflict")


# -- i2c-address-conflict ------------------------------------------------------------------------


def i2c_pair(b: B, type_: str, attrs1: dict, attrs2: dict) -> tuple[list[dict], list[list]]:
    parts = [part("s1", type_, **attrs1), part("s2", type_, **attrs2)]
    conns = []
    for p in ("s1", "s2"):
        conns += [
            wire(f"{p}:SDA", b.gpio),
            wire(f"{p}:SCL", b.gpio2),
            wire(f"{p}:VCC", b.v3),
            wire(f"{p}:GND", b.gnd),
        ]
    return parts, conns


@pytest.mark.parametrize("board_id", TWO)
@pytest.mark.parametrize("type_", ["board-ssd1306", "iotkit-bme280"])
def test_i2c_address_conflict(board_id, type_):
    b = B(board_id)
    (f,) = fired(check(b, *i2c_pair(b, type_, {}, {})), "i2c-address-conflict")
    assert "s1" in f.message and "s2" in f.message and "0x" in f.fix


@pytest.mark.parametrize("board_id", TWO)
def test_i2c_address_conflict_near_miss_other_address_or_other_bus(board_id):
    b = B(board_id)
    parts, conns = i2c_pair(b, "board-ssd1306", {"i2cAddress": "0x3c"}, {"i2cAddress": "0x3d"})
    assert not fired(check(b, parts, conns), "i2c-address-conflict")
    parts, conns = i2c_pair(b, "iotkit-bme280", {}, {"address": "0x77"})
    assert not fired(check(b, parts, conns), "i2c-address-conflict")


def test_i2c_address_conflict_mpu6050_ad0_high_changes_the_address():
    b = B("esp32-devkit-v1")
    parts, conns = i2c_pair(b, "wokwi-mpu6050", {}, {})
    assert fired(check(b, parts, conns), "i2c-address-conflict")
    assert not fired(check(b, parts, conns + [wire("s2:AD0", b.v3)]), "i2c-address-conflict")


# -- led-no-resistor -----------------------------------------------------------------------------


@pytest.mark.parametrize("board_id", TWO)
def test_led_no_resistor(board_id):
    b = B(board_id)
    (f,) = fired(check(b, [LED], led(b, b.gpio, resistor=False)), "led-no-resistor")
    assert f.severity == "warning" and f.where == "<diagram>: led1:A"


@pytest.mark.parametrize("board_id", TWO)
def test_led_no_resistor_near_miss(board_id):
    b = B(board_id)
    assert not fired(check(b, [LED, R1], led(b, b.gpio)), "led-no-resistor")
    # a resistor on the cathode side counts too
    conns = [wire(b.gpio, "led1:A"), wire("led1:C", "r1:1"), wire("r1:2", b.gnd)]
    assert not fired(check(b, [LED, R1], conns), "led-no-resistor")
    # one leg left open: nothing flows
    assert not fired(check(b, [LED], [wire(b.gpio, "led1:A")]), "led-no-resistor")


# -- unknown-part --------------------------------------------------------------------------------


@pytest.mark.parametrize("board_id", TWO)
def test_unknown_part_is_reported_as_info(board_id):
    b = B(board_id)
    lcd = part("lcd1", "wokwi-lcd1602")
    (f,) = fired(check(b, [lcd], [wire("lcd1:VDD", b.v3)]), "unknown-part")
    assert f.severity == "info" and f.where == "<diagram>: lcd1:VDD"


@pytest.mark.parametrize("board_id", TWO)
def test_unknown_part_near_miss_known_parts_and_breadboards(board_id):
    b = B(board_id)
    bb = part("bb1", "wokwi-breadboard")
    assert not fired(check(b, [bb, DHT], dht(b, b.gpio)), "unknown-part")


# -- the documented examples ---------------------------------------------------------------------


@pytest.mark.parametrize("name", diagram_rules.RULES)
def test_rules_json_example_bad_fires_and_good_does_not(name):
    examples = catalog()[name]["examples"]
    for example in examples if isinstance(examples, list) else [examples]:
        board = load_board(example["board"])
        assert fired(run_checks(board, load_diagram(example["bad"])), name)
        assert not fired(run_checks(board, load_diagram(example["good"])), name)


@pytest.mark.parametrize("board_id", TWO)
def test_voltage_mismatch_pull_up_to_5v(board_id):
    b = B(board_id)
    r = part("r1", "wokwi-resistor", value="10000")
    conns = dht(b, b.gpio, vcc=b.v5) + [wire("r1:1", b.gpio), wire("r1:2", b.v5, "red")]
    (f,) = fired(check(b, [DHT, r], conns), "voltage-mismatch")
    assert f.where == "<diagram>: dht1:SDA" and "3V3" in f.fix
    # near miss: the DHT runs from 5 V but its pull-up goes to 3V3
    conns[-1] = wire("r1:2", b.v3, "red")
    assert not fired(check(b, [DHT, r], conns), "voltage-mismatch")
