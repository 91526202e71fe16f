"""The code scan reports the pins a MicroPython script uses, exactly, and decides nothing."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from companion_app.errors import UsageError
from companion_app.wiring.codescan import PinUse, ScanResult, scan_file, scan_source

SCRIPTS = Path(__file__).parent / "data" / "scripts"


def scan(text: str) -> ScanResult:
    result = scan_source(textwrap.dedent(text), "main.py")
    assert result.syntax_error is None, result.syntax_error
    return result


def brief(result: ScanResult) -> list[tuple]:
    """The facts the rule engine keys on, without the source text."""
    return [(u.kind, u.role, u.pin, u.line) for u in result.uses]


def only(result: ScanResult) -> PinUse:
    assert len(result.uses) == 1, result.uses
    return result.uses[0]


# --- the seed-style beginner scripts, exact --------------------------------------------------


def test_seed_dht22_reader():
    result = scan_file(SCRIPTS / "dht22_reader.py")
    assert result == ScanResult(
        path=str(SCRIPTS / "dht22_reader.py"),
        uses=[PinUse("dht", "data", 14, 5, 9, "dht.DHT22(machine.Pin(14))")],
        wlan_active=False,
        unresolved=[],
        syntax_error=None,
    )


def test_seed_button_with_pull_up_and_irq():
    result = scan_file(SCRIPTS / "button_irq.py")
    assert result.uses == [
        PinUse("pin", "in+pull_up", 0, 12, 9, "Pin(0, Pin.IN, Pin.PULL_UP)", pull="up", irq=True)
    ]
    assert result.unresolved == [] and not result.wlan_active


def test_seed_led_blink():
    result = scan_file(SCRIPTS / "blink.py")
    assert result.uses == [PinUse("pin", "out", 2, 4, 6, "Pin(2, Pin.OUT)")]


def test_seed_i2c_oled():
    result = scan_file(SCRIPTS / "oled_i2c.py")
    source = "I2C(0, scl=Pin(22), sda=Pin(21), freq=400000)"
    assert result.uses == [
        PinUse("i2c", "scl", 22, 4, 6, source, bus_id=0),
        PinUse("i2c", "sda", 21, 4, 6, source, bus_id=0),
    ]


def test_seed_wlan_connect_inside_a_function():
    result = scan_file(SCRIPTS / "wifi_connect.py")
    assert result.wlan_active
    assert result.uses == [PinUse("wlan", "", None, 9, 10, "network.WLAN(network.STA_IF)")]
    assert result.unresolved == []


def test_constants_fixture():
    result = scan_file(SCRIPTS / "constants.py")
    assert [(u.kind, u.role, u.pin, u.line, u.constant) for u in result.uses] == [
        ("pin", "out", 2, 12, "LED_PIN"),
        ("pin", "in+pull_up", 0, 13, "BUTTON_PIN"),
        ("pwm", "out", 15, 14, "SERVO_PIN"),
        ("pin", "out", 5, 15, "LEDS[1]"),
        ("pwm", "out", 23, 16, 'PINS["buzzer"]'),
        ("i2c", "scl", 22, 17, "SCL"),
        ("i2c", "sda", 21, 17, "SDA"),
    ]
    assert result.unresolved == []


def test_broken_script_reports_instead_of_raising():
    result = scan_file(SCRIPTS / "broken.py")
    assert result.syntax_error is not None and result.syntax_error.startswith("line 3: ")
    assert result.uses == [] and result.unresolved == [] and not result.wlan_active


def test_syntax_error_from_text():
    result = scan_source("if True\n    pass\n", "x.py")
    assert result.syntax_error == "line 1: expected ':'"
    assert scan_source("a = 1\0\n").syntax_error is not None


def test_missing_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="script .*nope.py does not exist"):
        scan_file(tmp_path / "nope.py")


# --- Pin ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, role, pin, pull",
    [
        ("Pin(2, Pin.OUT)", "out", 2, None),
        ("Pin(4, Pin.IN)", "in", 4, None),
        ("Pin(5, Pin.OPEN_DRAIN)", "open-drain", 5, None),
        ("Pin(0, Pin.IN, Pin.PULL_UP)", "in+pull_up", 0, "up"),
        ("Pin(15, Pin.IN, Pin.PULL_DOWN)", "in+pull_down", 15, "down"),
        ("Pin(id=2, mode=Pin.IN, pull=Pin.PULL_UP)", "in+pull_up", 2, "up"),
        ("Pin(13, mode=Pin.OUT, value=0)", "out", 13, None),
        ("Pin(12, pull=Pin.PULL_UP)", "in+pull_up", 12, "up"),
        ("Pin(14)", "", 14, None),
        ('Pin("LED", Pin.OUT)', "out", "LED", None),
        ('Pin("GP15", Pin.OUT)', "out", 15, None),
        ('Pin("GPIO5")', "", 5, None),
        ('Pin("D5", Pin.OUT)', "out", "D5", None),
        ('Pin("WL_GPIO0", Pin.OUT)', "out", "WL_GPIO0", None),
    ],
)
def test_pin_forms(call, role, pin, pull):
    use = only(scan(f"from machine import Pin\np = {call}\n"))
    assert (use.kind, use.role, use.pin, use.pull, use.line, use.col) == (
        "pin",
        role,
        pin,
        pull,
        2,
        4,
    )
    assert use.source == call


@pytest.mark.parametrize(
    "imports, call",
    [
        ("import machine", "machine.Pin(2, machine.Pin.OUT)"),
        ("import machine as m", "m.Pin(2, m.Pin.OUT)"),
        ("from machine import Pin as P", "P(2, P.OUT)"),
        ("from machine import *", "Pin(2, Pin.OUT)"),
        ("import machine\nPin = machine.Pin", "Pin(2, Pin.OUT)"),
        ("", "Pin(2, Pin.OUT)"),  # a pasted fragment with the import missing
    ],
)
def test_pin_aliases(imports, call):
    use = only(scan(f"{imports}\nled = {call}\n"))
    assert (use.kind, use.role, use.pin) == ("pin", "out", 2)


def test_a_class_of_our_own_named_pin_is_not_machine_pin():
    result = scan("""
        class Pin:
            def __init__(self, n):
                self.n = n
        p = Pin(2)
        """)
    assert result.uses == []


def test_unrelated_calls_are_ignored():
    result = scan("""
        import time, ssd1306
        time.sleep(1)
        print(len("abc"))
        oled = ssd1306.SSD1306_I2C(128, 64, None)
        """)
    assert result.uses == [] and result.unresolved == []


def test_irq_chained_and_on_attribute_variables():
    result = scan("""
        from machine import Pin
        Pin(0, Pin.IN, Pin.PULL_UP).irq(handler=print)
        class Button:
            def __init__(self):
                self.pin = Pin(4, Pin.IN)
                self.pin.irq(trigger=Pin.IRQ_RISING, handler=self.cb)
            def cb(self, p):
                pass
        other = Pin(5, Pin.IN)
        """)
    assert [(u.pin, u.irq) for u in result.uses] == [(0, True), (4, True), (5, False)]


def test_irq_on_a_global_used_before_its_assignment_in_source_order():
    result = scan("""
        from machine import Pin
        def setup():
            button.irq(handler=print)
        button = Pin(0, Pin.IN)
        setup()
        """)
    assert only(result).irq


def test_a_parameter_hides_the_global_of_the_same_name():
    result = scan("""
        from machine import Pin
        button = Pin(0, Pin.IN)
        def arm(button):
            button.irq(handler=print)
        """)
    assert not only(result).irq


def test_mode_constants_fold_like_numbers():
    result = scan("""
        from machine import Pin
        MODE = Pin.IN
        PULL = Pin.PULL_DOWN
        b = Pin(3, MODE, PULL)
        """)
    assert (only(result).role, only(result).pull) == ("in+pull_down", "down")


# --- peripherals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, kind, role, pin, note",
    [
        ("ADC(Pin(34))", "adc", "in", 34, None),
        ("ADC(34)", "adc", "in", 34, "bare-id"),
        ("ADC(0)", "adc", "in", 0, "bare-id"),
        ("ADC(Pin(26), atten=ADC.ATTN_11DB)", "adc", "in", 26, None),
        ("PWM(Pin(2), freq=1000, duty=512)", "pwm", "out", 2, None),
        ("PWM(dest=Pin(4))", "pwm", "out", 4, None),
        ("DAC(Pin(25))", "dac", "out", 25, None),
        ("TouchPad(Pin(4))", "touch", "in", 4, None),
    ],
)
def test_single_pin_peripherals(call, kind, role, pin, note):
    use = only(scan(f"from machine import Pin, ADC, PWM, DAC, TouchPad\nx = {call}\n"))
    assert (use.kind, use.role, use.pin, use.note, use.line) == (kind, role, pin, note, 2)
    assert use.source == call


@pytest.mark.parametrize(
    "header, call, kind, role, pin",
    [
        ("import dht", "dht.DHT11(Pin(4))", "dht", "data", 4),
        ("import dht", "dht.DHT22(Pin(14))", "dht", "data", 14),
        ("from dht import DHT22", "DHT22(Pin(27))", "dht", "data", 27),
        ("import neopixel", "neopixel.NeoPixel(Pin(5), 8)", "neopixel", "out", 5),
        ("from neopixel import NeoPixel", "NeoPixel(Pin(16), 30, bpp=4)", "neopixel", "out", 16),
        ("import onewire", "onewire.OneWire(Pin(4))", "onewire", "data", 4),
        ("import esp32", "esp32.TouchPad(Pin(13))", "touch", "in", 13),
    ],
)
def test_part_drivers(header, call, kind, role, pin):
    use = only(scan(f"from machine import Pin\n{header}\nx = {call}\n"))
    assert (use.kind, use.role, use.pin, use.line) == (kind, role, pin, 3)


def test_ds18x20_reports_its_onewire_pin_once():
    result = scan("""
        import machine, onewire, ds18x20
        ds = ds18x20.DS18X20(onewire.OneWire(machine.Pin(4)))
        ow = onewire.OneWire(machine.Pin(15))
        ds2 = ds18x20.DS18X20(ow)
        """)
    assert brief(result) == [("onewire", "data", 4, 3), ("onewire", "data", 15, 4)]


def test_pull_of_a_nested_pin_is_kept():
    use = only(
        scan("from machine import Pin\nimport dht\nd = dht.DHT22(Pin(4, Pin.IN, Pin.PULL_UP))\n")
    )
    assert (use.kind, use.pull) == ("dht", "up")


def test_pin_variable_passed_to_a_peripheral():
    result = scan("""
        from machine import Pin, PWM
        LED_PIN = 2
        led = Pin(LED_PIN, Pin.OUT)
        same = led
        pwm = PWM(led, freq=500)
        pwm2 = PWM(same)
        """)
    assert [(u.kind, u.role, u.pin, u.line, u.constant) for u in result.uses] == [
        ("pin", "out", 2, 4, "LED_PIN"),
        ("pwm", "out", 2, 6, "LED_PIN"),
        ("pwm", "out", 2, 7, "LED_PIN"),
    ]


# --- buses -------------------------------------------------------------------------------------


def test_i2c_forms():
    result = scan("""
        from machine import Pin, I2C, SoftI2C
        a = I2C(1, scl=Pin(22), sda=Pin(21))
        b = I2C(scl=Pin(5), sda=Pin(4), freq=100000)
        c = I2C(0)
        d = SoftI2C(scl=Pin(5), sda=Pin(4))
        e = SoftI2C(Pin(18), Pin(19))
        f = I2C(0, sda=Pin(0), scl=Pin(1))
        """)
    assert [(u.kind, u.role, u.pin, u.bus_id, u.note, u.line) for u in result.uses] == [
        ("i2c", "scl", 22, 1, None, 3),
        ("i2c", "sda", 21, 1, None, 3),
        ("i2c", "scl", 5, None, None, 4),
        ("i2c", "sda", 4, None, None, 4),
        ("i2c", "scl", None, 0, "default-pins", 5),
        ("i2c", "sda", None, 0, "default-pins", 5),
        ("softi2c", "scl", 5, None, None, 6),
        ("softi2c", "sda", 4, None, None, 6),
        ("softi2c", "scl", 18, None, None, 7),
        ("softi2c", "sda", 19, None, None, 7),
        ("i2c", "scl", 1, 0, None, 8),
        ("i2c", "sda", 0, 0, None, 8),
    ]
    # Default pins are not "unresolved": the board knows them.
    assert result.unresolved == []


def test_spi_and_softspi():
    result = scan("""
        from machine import Pin, SPI, SoftSPI
        s = SPI(1, 10000000, sck=Pin(14), mosi=Pin(13), miso=Pin(12))
        t = SPI(2, baudrate=80000000, sck=Pin(18), mosi=Pin(23))
        u = SoftSPI(baudrate=100000, sck=Pin(0), mosi=Pin(2), miso=Pin(4))
        """)
    assert [(u.kind, u.role, u.pin, u.bus_id, u.note) for u in result.uses] == [
        ("spi", "sck", 14, 1, None),
        ("spi", "mosi", 13, 1, None),
        ("spi", "miso", 12, 1, None),
        ("spi", "sck", 18, 2, None),
        ("spi", "mosi", 23, 2, None),
        ("spi", "miso", None, 2, "default-pins"),
        ("softspi", "sck", 0, None, None),
        ("softspi", "mosi", 2, None, None),
        ("softspi", "miso", 4, None, None),
    ]


def test_uart_with_numbers_and_pins():
    result = scan("""
        import machine
        TX = 17
        u = machine.UART(2, 9600, tx=TX, rx=machine.Pin(16))
        v = machine.UART(1, baudrate=115200)
        """)
    assert [(u.kind, u.role, u.pin, u.bus_id, u.constant, u.note) for u in result.uses] == [
        ("uart", "tx", 17, 2, "TX", None),
        ("uart", "rx", 16, 2, None, None),
        ("uart", "tx", None, 1, None, "default-pins"),
        ("uart", "rx", None, 1, None, "default-pins"),
    ]


# --- WLAN --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, active",
    [
        ("network.WLAN(network.STA_IF).active(True)", True),
        ("sta = network.WLAN(network.STA_IF)\nsta.active(True)", True),
        ("ap = network.WLAN(network.AP_IF)\nap.active(1)", True),
        ("sta = network.WLAN(network.STA_IF)\nsta.active(False)", False),
        ("sta = network.WLAN(network.STA_IF)\nprint(sta.active())", False),
        ("sta = network.WLAN(network.STA_IF)", False),
    ],
)
def test_wlan_activation(body, active):
    result = scan(f"import network\n{body}\n")
    assert result.wlan_active is active
    assert [(u.kind, u.role, u.pin) for u in result.uses] == [("wlan", "", None)]


def test_wlan_held_on_self():
    result = scan("""
        from network import WLAN, STA_IF
        class Net:
            def __init__(self):
                self.wlan = WLAN(STA_IF)
            def up(self):
                self.wlan.active(True)
        """)
    assert result.wlan_active


def test_active_on_something_else_is_not_wlan():
    assert not scan("import machine\nx = machine.Pin(2)\nx.active(True)\n").wlan_active


# --- constants ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "definitions, argument, pin",
    [
        ("LED_PIN = 2", "LED_PIN", 2),
        ("from micropython import const\nLED_PIN = const(2)", "LED_PIN", 2),
        ("import micropython\nLED_PIN = micropython.const(2)", "LED_PIN", 2),
        ("LED_PIN: int = 2", "LED_PIN", 2),
        ("BASE = 10\nOFFSET = 3", "BASE + OFFSET * 2 - 1", 15),
        ("LEDS = [2, 4, 5]\nI = 2", "LEDS[I]", 5),
        ("LEDS = (2, 4, 5)", "LEDS[-1]", 5),
        ('PINS = {"led": 2}', 'PINS["led"]', 2),
        ('PINS = {"led": 2}', 'PINS.get("led")', 2),
        ('CFG = {"pins": {"led": (2, 4)}}', 'CFG["pins"]["led"][1]', 4),
        ("SDA, SCL = 21, 22", "SCL", 22),
        ("class Cfg:\n    LED = 18", "Cfg.LED", 18),
        ('NAME = "GP" + "25"', "NAME", 25),
        ("A = 4\nB = A", "B", 4),
    ],
)
def test_constants(definitions, argument, pin):
    result = scan(f"from machine import Pin\n{definitions}\nled = Pin({argument}, Pin.OUT)\n")
    use = only(result)
    assert (use.pin, use.constant) == (pin, argument)
    assert result.unresolved == []


def test_local_constant_in_a_function():
    result = scan("""
        from machine import Pin
        def main():
            led_pin = 13
            led = Pin(led_pin, Pin.OUT)
        main()
        """)
    assert (only(result).pin, only(result).constant) == (13, "led_pin")


def test_global_constant_seen_from_a_function_defined_before_it():
    result = scan("""
        from machine import Pin
        def make():
            return Pin(LED, Pin.OUT)
        LED = 2
        """)
    assert only(result).pin == 2


# --- unresolved ----------------------------------------------------------------------------


def test_unresolved_arguments_are_listed_not_guessed():
    result = scan("""
        import json
        from machine import Pin, PWM, I2C
        import dht
        cfg = json.load(open("config.json"))
        def make_led(pin):
            return Pin(pin, Pin.OUT)
        for p in (4, 5):
            Pin(p, Pin.OUT)
        LED = 2
        LED = 4
        sensor = dht.DHT22(Pin(cfg["sensor_pin"]))
        led = Pin(LED)
        bus = I2C(0, scl=Pin(cfg["scl"]), sda=Pin(21))
        """)
    assert brief(result) == [
        ("pin", "out", None, 7),
        ("pin", "out", None, 9),
        ("dht", "data", None, 12),
        ("pin", "", None, 13),
        ("i2c", "scl", None, 14),
        ("i2c", "sda", 21, 14),
    ]
    assert result.unresolved == [
        (7, "pin"),
        (9, "p"),
        (12, 'cfg["sensor_pin"]'),
        (13, "LED"),
        (14, 'cfg["scl"]'),
    ]


def test_unresolved_pin_variable_is_listed_once():
    result = scan("""
        from machine import Pin, PWM
        def fade(n):
            led = Pin(n, Pin.OUT)
            pwm = PWM(led)
        """)
    assert brief(result) == [("pin", "out", None, 4), ("pwm", "out", None, 5)]
    assert result.unresolved == [(4, "n")]


# --- positions ---------------------------------------------------------------------------------


def test_line_and_column_point_at_the_call_in_characters():
    result = scan("""
        from machine import Pin
        label = "température"; led = Pin(2,
                                           Pin.OUT)
        """)
    use = only(result)
    assert (use.line, use.col) == (3, 29)
    assert use.source == "Pin(2, Pin.OUT)"


def test_scan_file_reads_utf8_with_bom(tmp_path):
    script = tmp_path / "main.py"
    script.write_bytes(
        "\ufefffrom machine import Pin\nled = Pin(2, Pin.OUT)  # é\n".encode("utf-8")
    )
    result = scan_file(script)
    assert result.path == str(script)
    assert brief(result) == [("pin", "out", 2, 2)]


def test_arguments_hidden_in_star_args_are_unresolved_not_defaults():
    result = scan("""
        from machine import Pin, I2C, ADC
        cfg = {}
        Pin(*args)
        I2C(0, scl=Pin(1), **cfg)
        Pin()
        ADC()
        """)
    assert [(u.kind, u.role, u.pin, u.note) for u in result.uses] == [
        ("pin", "", None, None),
        ("i2c", "scl", 1, None),
        ("i2c", "sda", None, None),
        ("pin", "", None, "missing"),
        ("adc", "in", None, "missing"),
    ]
    assert result.unresolved == [(4, "*args"), (5, "**cfg")]


def test_engine_module_imports_no_gui():
    source = Path(__file__).parent.parent / "companion_app" / "wiring" / "codescan.py"
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in (
            node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")]
        )
    }
    assert not imported & {"tkinter", "thonny", "thonnycontrib"}
