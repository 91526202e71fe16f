"""The script rules: each one fires on a real mistake and stays quiet on its near miss, on at
least two boards, with messages that quote the script's own call and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from companion_app.boards import load_board
from companion_app.wiring.check import check
from companion_app.wiring.codescan import scan_file, scan_source
from companion_app.wiring.diagram import diagram_from_data
from companion_app.wiring.rules import Finding, registered, run_checks

SCRIPTS = Path(__file__).parent / "data" / "scripts"


def run(board: str, *scripts: str, diagram: dict | None = None) -> list[Finding]:
    scans = [
        scan_source(textwrap.dedent(text), f"s{i}.py" if i else "main.py")
        for i, text in enumerate(scripts)
    ]
    d = diagram_from_data(diagram, "diagram.json") if diagram else None
    return run_checks(load_board(board), d, scans)


def fired(rule: str, board: str, *scripts: str, diagram: dict | None = None) -> list[Finding]:
    return [f for f in run(board, *scripts, diagram=diagram) if f.rule == rule]


def one(rule: str, board: str, *scripts: str, diagram: dict | None = None) -> Finding:
    found = fired(rule, board, *scripts, diagram=diagram)
    assert len(found) == 1, found
    return found[0]


P = "from machine import Pin\n"


def test_every_script_rule_is_registered():
    for name in ("script-syntax", "unknown-pin", "pin-conflict", "bus-pin-mismatch"):
        assert any(f.__module__.endswith("script_rules") for f in registered()[name])


# --- script-syntax -------------------------------------------------------------------------


@pytest.mark.parametrize("board", ["esp32-devkit-v1", "pico"])
def test_syntax_error_is_reported_with_its_line(board):
    f = one("script-syntax", board, P + "led = Pin(2, Pin.OUT\n")
    assert f.severity == "error" and f.where == "main.py:2" and f.line == 2
    assert "does not parse" in f.message


@pytest.mark.parametrize("board", ["esp32-devkit-v1", "pico"])
def test_valid_script_has_no_syntax_finding(board):
    assert not fired("script-syntax", board, P + "led = Pin(2, Pin.OUT)\n")


# --- unknown-pin ---------------------------------------------------------------------------


@pytest.mark.parametrize("board,gpio", [("esp32-devkit-v1", 40), ("pico", 30), ("nodemcu", 20)])
def test_gpio_the_board_lacks(board, gpio):
    f = one("unknown-pin", board, P + f"led = Pin({gpio}, Pin.OUT)\n")
    assert f.pin == f"GPIO{gpio}" and f.where == "main.py:2"
    assert f"Pin({gpio}, Pin.OUT) on line 2" in f.message
    assert "such as GPIO" in f.fix


def test_led_name_on_a_board_without_one():
    f = one("unknown-pin", "esp32-devkit-v1", P + 'led = Pin("LED", Pin.OUT)\n')
    assert "'LED'" in f.message


@pytest.mark.parametrize(
    "board,script",
    [
        ("pico-w", 'led = Pin("LED", Pin.OUT)\n'),
        ("pico", 'led = Pin("LED", Pin.OUT)\n'),
        ("esp32-devkit-v1", "b = Pin(39, Pin.IN)\n"),
        ("esp32-devkit-v1", "boot = Pin(0, Pin.IN)\n"),  # BOOT button: not on the header
        ("pico", "led = Pin(29, Pin.IN)\n"),
    ],
)
def test_pins_the_board_has_are_known(board, script):
    assert not fired("unknown-pin", board, P + script)


# --- flash-pin -----------------------------------------------------------------------------


@pytest.mark.parametrize("board,gpio", [("esp32-devkit-v1", 6), ("esp32-c3-devkitm-1", 12)])
def test_flash_pin(board, gpio):
    f = one("flash-pin", board, P + f"led = Pin({gpio}, Pin.OUT)\n")
    assert f.severity == "error" and "flash" in f.message
    assert not fired("unknown-pin", board, P + f"led = Pin({gpio}, Pin.OUT)\n")


def test_uart1_default_pins_are_flash_pins_on_esp32():
    found = fired("flash-pin", "esp32-devkit-v1", "from machine import UART\nu = UART(1, 9600)\n")
    assert {f.pin for f in found} == {"GPIO9", "GPIO10"}
    assert "default" in found[0].message and "explicitly" in found[0].fix


@pytest.mark.parametrize(
    "board,script",
    [
        ("esp32-devkit-v1", "led = Pin(5, Pin.OUT)\n"),
        ("esp32-devkit-v1", "from machine import UART\nu = UART(1, 9600, tx=17, rx=16)\n"),
        ("pico", "led = Pin(6, Pin.OUT)\n"),
    ],
)
def test_no_flash_pin(board, script):
    assert not fired("flash-pin", board, P + script)


# --- reserved-pin --------------------------------------------------------------------------


def test_pico_w_wireless_pin_is_an_error():
    f = one("reserved-pin", "pico-w", P + "led = Pin(25, Pin.OUT)\n")
    assert f.severity == "error" and "wireless" in f.message


@pytest.mark.parametrize("board,gpio", [("esp32-devkit-v1", 1), ("esp32-s3-devkitc-1", 20)])
def test_repl_and_usb_pins_warn(board, gpio):
    f = one("reserved-pin", board, P + f"x = Pin({gpio}, Pin.OUT)\n")
    assert f.severity == "warning"


@pytest.mark.parametrize(
    "board,script",
    [("pico-w", 'led = Pin("LED", Pin.OUT)\n'), ("esp32-devkit-v1", "x = Pin(23, Pin.OUT)\n")],
)
def test_not_reserved(board, script):
    assert not fired("reserved-pin", board, P + script)


# --- input-only ----------------------------------------------------------------------------


@pytest.mark.parametrize("board", ["esp32-devkit-v1", "esp32-devkitc"])
@pytest.mark.parametrize(
    "script",
    [
        "led = Pin(34, Pin.OUT)\n",
        "import dht\ns = dht.DHT22(Pin(35))\n",
        "from machine import PWM\np = PWM(Pin(39))\n",
        "from machine import I2C\ni = I2C(0, scl=Pin(22), sda=Pin(36))\n",
        "b = Pin(34, Pin.IN, Pin.PULL_DOWN)\n",
    ],
)
def test_input_only(board, script):
    f = one("input-only", board, P + script)
    assert "can only read" in f.message and "such as GPIO" in f.fix


def test_input_only_message_reads_like_the_contract():
    f = one("input-only", "esp32-devkit-v1", P + "\n\n\nled = Pin(34, Pin.OUT)\n")
    assert f.message.startswith("Pin(34, Pin.OUT) on line 5: GPIO34 can only read")
    assert f.where == "main.py:5" and f.pin == "GPIO34"


@pytest.mark.parametrize("board", ["esp32-devkit-v1", "esp32-devkitc"])
@pytest.mark.parametrize(
    "script",
    [
        "b = Pin(34, Pin.IN)\n",
        "from machine import ADC\na = ADC(Pin(34))\n",
        "from machine import UART\nu = UART(2, tx=Pin(17), rx=Pin(34))\n",
        "from machine import SPI\ns = SPI(1, sck=Pin(14), mosi=Pin(13), miso=Pin(39))\n",
    ],
)
def test_reading_an_input_only_pin_is_fine(board, script):
    assert not fired("input-only", board, P + script)


# --- no-internal-pullup --------------------------------------------------------------------


@pytest.mark.parametrize("board,gpio", [("esp32-devkit-v1", 35), ("nodemcu", 16), ("d1-mini", 16)])
def test_pull_up_where_there_is_none(board, gpio):
    f = one("no-internal-pullup", board, P + f"b = Pin({gpio}, Pin.IN, Pin.PULL_UP)\n")
    assert "10 kOhm" in f.fix


@pytest.mark.parametrize(
    "board,script",
    [
        ("esp32-devkit-v1", "b = Pin(35, Pin.IN)\n"),
        ("esp32-devkit-v1", "b = Pin(27, Pin.IN, Pin.PULL_UP)\n"),
        ("nodemcu", "b = Pin(14, Pin.IN, Pin.PULL_UP)\n"),
    ],
)
def test_pull_up_available(board, script):
    assert not fired("no-internal-pullup", board, P + script)


# --- strapping-pin -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "board,gpio", [("esp32-devkit-v1", 12), ("nodemcu", 15), ("esp32-c3-devkitm-1", 2)]
)
def test_strapping_pin_warns_with_what_goes_wrong(board, gpio):
    f = one("strapping-pin", board, P + f"b = Pin({gpio}, Pin.IN)\n")
    info = load_board(board).gpio_info(gpio)
    assert f.severity == "warning" and info.strapping in f.message


@pytest.mark.parametrize(
    "board,script",
    [
        ("esp32-devkit-v1", "led = Pin(2, Pin.OUT)\n"),  # the onboard LED
        ("esp32-devkit-v1", "boot = Pin(0, Pin.IN, Pin.PULL_UP)\n"),  # the BOOT button
        ("esp32-devkit-v1", "b = Pin(13, Pin.IN)\n"),
        ("nodemcu", "led = Pin(2, Pin.OUT)\n"),
        ("nodemcu", "b = Pin(14, Pin.IN)\n"),
    ],
)
def test_onboard_parts_and_plain_pins_do_not_warn(board, script):
    assert not fired("strapping-pin", board, P + script)


# --- adc-unavailable -----------------------------------------------------------------------

A = "from machine import ADC, Pin\n"


@pytest.mark.parametrize(
    "board,script",
    [
        ("esp32-devkit-v1", "a = ADC(Pin(23))\n"),
        ("pico", "a = ADC(Pin(15))\n"),
        ("nodemcu", "a = ADC(2)\n"),
        ("esp32-s3-devkitc-1", "a = ADC(Pin(40))\n"),
    ],
)
def test_adc_unavailable(board, script):
    assert one("adc-unavailable", board, A + script).severity == "error"


@pytest.mark.parametrize(
    "board,script",
    [
        ("esp32-devkit-v1", "a = ADC(Pin(34))\n"),
        ("esp32-devkit-v1", "a = ADC(34)\n"),
        ("pico", "a = ADC(0)\n"),
        ("pico", "t = ADC(4)\n"),
        ("pico", "a = ADC(Pin(26))\n"),
        ("pico", "a = ADC(27)\n"),
        ("nodemcu", "a = ADC(0)\n"),
    ],
)
def test_adc_available(board, script):
    assert not fired("adc-unavailable", board, A + script)


# --- adc2-wifi -----------------------------------------------------------------------------

WIFI = "import network\nnetwork.WLAN(network.STA_IF).active(True)\n"


@pytest.mark.parametrize("board,gpio", [("esp32-devkit-v1", 4), ("esp32-s3-devkitc-1", 12)])
def test_adc2_warns_and_errs_with_wifi(board, gpio):
    assert one("adc2-wifi", board, A + f"a = ADC(Pin({gpio}))\n").severity == "warning"
    f = one("adc2-wifi", board, A + WIFI + f"a = ADC(Pin({gpio}))\n")
    assert f.severity == "error" and "ADC1" in f.fix


def test_wifi_turned_on_inside_a_function_counts():
    script = (SCRIPTS / "wifi_connect.py").read_text() + "\n" + A + "a = ADC(Pin(14))\n"
    assert one("adc2-wifi", "esp32-devkit-v1", script).severity == "error"


@pytest.mark.parametrize("board,gpio", [("esp32-devkit-v1", 32), ("esp32-s3-devkitc-1", 1)])
def test_adc1_is_fine_with_wifi(board, gpio):
    assert not fired("adc2-wifi", board, A + WIFI + f"a = ADC(Pin({gpio}))\n")


def test_pico_adc_is_not_adc2():
    assert not fired("adc2-wifi", "pico-w", A + WIFI + "a = ADC(Pin(26))\n")


# --- pwm / dac / touch ---------------------------------------------------------------------


@pytest.mark.parametrize("board", ["nodemcu", "d1-mini"])
def test_pwm_unavailable(board):
    f = one("pwm-unavailable", board, "from machine import PWM, Pin\np = PWM(Pin(16))\n")
    assert "PWM" in f.message
    assert not fired("pwm-unavailable", board, "from machine import PWM, Pin\np = PWM(Pin(14))\n")


def test_pwm_on_input_only_is_input_only_not_pwm_unavailable():
    found = run("esp32-devkit-v1", "from machine import PWM, Pin\np = PWM(Pin(34))\n")
    assert [f.rule for f in found] == ["input-only"]


D = "from machine import DAC, Pin\n"


@pytest.mark.parametrize("board", ["esp32-devkit-v1", "esp32-devkitc"])
def test_dac(board):
    f = one("dac-unavailable", board, D + "d = DAC(Pin(27))\n")
    assert "GPIO25 or GPIO26" in f.fix
    assert not fired("dac-unavailable", board, D + "d = DAC(Pin(25))\n")
    assert not fired("dac-unavailable", board, D + "d = DAC(Pin(26))\n")


def test_no_dac_on_the_c3():
    f = one("dac-unavailable", "esp32-c3-devkitm-1", D + "d = DAC(Pin(2))\n")
    assert "no DAC at all" in f.message


T = "from machine import TouchPad, Pin\n"


@pytest.mark.parametrize(
    "board,bad,good", [("esp32-devkit-v1", 23, 27), ("esp32-s3-devkitc-1", 16, 4)]
)
def test_touch(board, bad, good):
    assert one("touch-unavailable", board, T + f"t = TouchPad(Pin({bad}))\n")
    assert not fired("touch-unavailable", board, T + f"t = TouchPad(Pin({good}))\n")


def test_no_touch_on_the_c3():
    f = one("touch-unavailable", "esp32-c3-devkitm-1", T + "t = TouchPad(Pin(4))\n")
    assert "no touch sensor" in f.fix


# --- pin-conflict --------------------------------------------------------------------------


@pytest.mark.parametrize("board", ["esp32-devkit-v1", "pico"])
def test_two_jobs_on_one_gpio(board):
    f = one(
        "pin-conflict",
        board,
        "import dht\n" + P + "s = dht.DHT22(Pin(14))\nled = Pin(14, Pin.OUT)\n",
    )
    assert f.where == "main.py:4" and f.pin == "GPIO14" and "line 3" in f.message


@pytest.mark.parametrize("board", ["esp32-devkit-v1", "pico"])
def test_conflict_across_two_scripts(board):
    f = one("pin-conflict", board, P + "led = Pin(5, Pin.OUT)\n", P + "b = Pin(5, Pin.IN)\n")
    assert f.where == "s1.py:2" and "main.py line 2" in f.message


def test_bus_default_pins_conflict_with_a_led():
    script = "from machine import I2C, Pin\ni2c = I2C(0)\nled = Pin(18, Pin.OUT)\n"
    f = one("pin-conflict", "esp32-devkit-v1", script)
    assert "default" in f.message


def test_one_gpio_for_two_signals_of_one_bus():
    script = "from machine import I2C, Pin\ni2c = I2C(0, scl=Pin(21), sda=Pin(21))\n"
    assert one("pin-conflict", "esp32-devkit-v1", script)


@pytest.mark.parametrize("board", ["esp32-devkit-v1", "pico"])
@pytest.mark.parametrize(
    "scripts",
    [
        (P + "from machine import PWM\nled = Pin(2, Pin.OUT)\npwm = PWM(led)\n",),
        (P + "led = Pin(2, Pin.OUT)\n", P + "led = Pin(2, Pin.OUT)\n"),
        (
            "from machine import I2C, Pin\ni2c = I2C(0, scl=Pin(17), sda=Pin(16))\n",
            "from machine import I2C, Pin\nbus = I2C(0, scl=Pin(17), sda=Pin(16))\n",
        ),
        (P + "b = Pin(3, Pin.IN)\nb.irq(handler=print)\n",),
    ],
)
def test_same_object_same_job_or_shared_bus_is_fine(board, scripts):
    assert not fired("pin-conflict", board, *scripts)


# --- against a diagram ---------------------------------------------------------------------


def esp_diagram(*wires: tuple[str, str], parts: list[dict] | None = None) -> dict:
    return {
        "version": 1,
        "parts": [{"id": "esp", "type": "wokwi-esp32-devkit-v1", "attrs": {}}, *(parts or [])],
        "connections": [[a, b, "green", []] for a, b in wires],
    }


def pico_diagram(*wires: tuple[str, str], parts: list[dict] | None = None) -> dict:
    return {
        "version": 1,
        "parts": [{"id": "pico", "type": "wokwi-pi-pico", "attrs": {}}, *(parts or [])],
        "connections": [[a, b, "green", []] for a, b in wires],
    }


DHT = [{"id": "dht1", "type": "wokwi-dht22", "attrs": {}}]
OLED = [{"id": "oled1", "type": "board-ssd1306", "attrs": {}}]
LED = [
    {"id": "led1", "type": "wokwi-led", "attrs": {}},
    {"id": "r1", "type": "wokwi-resistor", "attrs": {"value": "220"}},
]
DHT_SCRIPT = "import dht\n" + P + "s = dht.DHT22(Pin({}))\n"


def test_dht_on_another_pin_than_the_diagram():
    diagram = esp_diagram(("esp:D14", "dht1:SDA"), parts=DHT)
    f = one("code-wiring-mismatch", "esp32-devkit-v1", DHT_SCRIPT.format(4), diagram=diagram)
    assert "GPIO4" in f.message and "dht1:SDA to GPIO14" in f.message and "Pin(14)" in f.fix
    assert not fired(
        "code-wiring-mismatch", "esp32-devkit-v1", DHT_SCRIPT.format(14), diagram=diagram
    )


def test_dht_mismatch_on_the_pico():
    diagram = pico_diagram(("pico:GP15", "dht1:SDA"), parts=DHT)
    assert one("code-wiring-mismatch", "pico", DHT_SCRIPT.format(16), diagram=diagram)
    assert not fired("code-wiring-mismatch", "pico", DHT_SCRIPT.format(15), diagram=diagram)


@pytest.mark.parametrize(
    "board,diagram,gpio,wired",
    [
        ("esp32-devkit-v1", esp_diagram(("esp:D5", "r1:1"), ("r1:2", "led1:A"), parts=LED), 27, 5),
        ("pico", pico_diagram(("pico:GP5", "r1:1"), ("r1:2", "led1:A"), parts=LED), 6, 5),
    ],
)
def test_pin_nothing_is_wired_to(board, diagram, gpio, wired):
    f = one("code-wiring-mismatch", board, P + f"led = Pin({gpio}, Pin.OUT)\n", diagram=diagram)
    assert "nothing" in f.message
    # Through the resistor counts as wired.
    assert not fired(
        "code-wiring-mismatch", board, P + f"led = Pin({wired}, Pin.OUT)\n", diagram=diagram
    )


@pytest.mark.parametrize(
    "board,diagram,script",
    [
        (
            "esp32-devkit-v1",
            esp_diagram(("esp:D14", "dht1:SDA"), parts=DHT),
            "led = Pin(2, Pin.OUT)\n",
        ),
        (
            "esp32-devkit-v1",
            esp_diagram(("esp:D14", "dht1:SDA"), parts=DHT),
            "b = Pin(0, Pin.IN)\n",
        ),
        ("pico", pico_diagram(("pico:GP15", "dht1:SDA"), parts=DHT), "led = Pin(25, Pin.OUT)\n"),
    ],
)
def test_onboard_led_and_button_need_no_wire(board, diagram, script):
    assert not fired("code-wiring-mismatch", board, P + script, diagram=diagram)


def test_no_diagram_no_wiring_rules():
    assert not fired("code-wiring-mismatch", "esp32-devkit-v1", P + "led = Pin(27, Pin.OUT)\n")
    assert not fired("bus-pin-mismatch", "esp32-devkit-v1", "from machine import I2C\ni = I2C(0)\n")


I2C_SCRIPT = "from machine import I2C, Pin\ni2c = I2C(0, scl=Pin({}), sda=Pin({}))\n"
OLED_ESP = esp_diagram(("esp:D21", "oled1:SDA"), ("esp:D22", "oled1:SCL"), parts=OLED)
OLED_PICO = pico_diagram(("pico:GP4", "oled1:SDA"), ("pico:GP5", "oled1:SCL"), parts=OLED)


@pytest.mark.parametrize(
    "board,diagram,scl,sda", [("esp32-devkit-v1", OLED_ESP, 22, 21), ("pico", OLED_PICO, 5, 4)]
)
def test_i2c_swapped_wrong_and_right(board, diagram, scl, sda):
    f = one("bus-pin-mismatch", board, I2C_SCRIPT.format(sda, scl), diagram=diagram)
    assert "swapped" in f.message
    f = one("bus-pin-mismatch", board, I2C_SCRIPT.format(scl + 4, sda + 4), diagram=diagram)
    assert "swapped" not in f.message and f"scl=Pin({scl})" in f.fix
    assert not fired("bus-pin-mismatch", board, I2C_SCRIPT.format(scl, sda), diagram=diagram)
    assert not fired("code-wiring-mismatch", board, I2C_SCRIPT.format(scl, sda), diagram=diagram)


def test_default_i2c_pins_resolved_from_the_board():
    script = "from machine import I2C\ni2c = I2C(0)\n"
    # ESP32 I2C(0) defaults to scl=18, sda=19: not where the OLED is wired.
    f = one("bus-pin-mismatch", "esp32-devkit-v1", script, diagram=OLED_ESP)
    assert "default" in f.message and "GPIO18" in f.message
    # The Pico's I2C(0) defaults are GP5/GP4: exactly the wiring.
    assert not fired("bus-pin-mismatch", "pico", script, diagram=OLED_PICO)


# --- the seed scripts ----------------------------------------------------------------------

SEED_DIAGRAM = esp_diagram(
    ("esp:D14", "dht1:SDA"),
    ("esp:3V3", "dht1:VCC"),
    ("esp:GND.1", "dht1:GND"),
    ("esp:D21", "oled1:SDA"),
    ("esp:D22", "oled1:SCL"),
    ("esp:3V3", "oled1:VCC"),
    ("esp:GND.1", "oled1:GND"),
    ("esp:D15", "servo1:PWM"),
    ("esp:VIN", "servo1:V+"),
    ("esp:GND.1", "servo1:GND"),
    ("esp:D5", "r1:1"),
    ("r1:2", "led1:A"),
    ("led1:C", "esp:GND.1"),
    ("esp:D23", "r2:1"),
    ("r2:2", "led2:A"),
    ("led2:C", "esp:GND.1"),
    parts=[
        *DHT,
        *OLED,
        {"id": "servo1", "type": "wokwi-servo", "attrs": {}},
        *LED,
        {"id": "led2", "type": "wokwi-led", "attrs": {}},
        {"id": "r2", "type": "wokwi-resistor", "attrs": {"value": "220"}},
    ],
)


def test_seed_scripts_give_no_false_errors(tmp_path):
    seeds = sorted(p for p in SCRIPTS.glob("*.py") if p.name != "broken.py")
    assert len(seeds) >= 6
    diagram = diagram_from_data(SEED_DIAGRAM, "diagram.json")
    board = load_board("esp32-devkit-v1")
    findings = run_checks(board, diagram, [scan_file(p) for p in seeds])
    assert [f for f in findings if f.severity == "error"] == []
    # One at a time too: each seed alone is as clean.
    for p in seeds:
        alone = run_checks(board, diagram, [scan_file(p)])
        assert [f for f in alone if f.severity == "error"] == [], p.name


def test_broken_seed_is_reported_not_raised(tmp_path):
    diagram = tmp_path / "diagram.json"
    import json

    diagram.write_text(json.dumps(SEED_DIAGRAM))
    report = check(None, diagram, [SCRIPTS / "broken.py"])
    assert report.board.id == "esp32-devkit-v1"
    assert [f.rule for f in report.errors] == ["script-syntax"]


def test_dht_mismatch_fix_does_not_steer_the_script_onto_an_input_only_pin(tmp_path):
    import json

    from wiring_helpers import DHT_ON_D34

    from companion_app.wiring.check import check

    diagram = DHT_ON_D34
    wiring = tmp_path / "diagram.json"
    wiring.write_text(json.dumps(diagram))
    script = tmp_path / "main.py"
    script.write_text("import dht\nfrom machine import Pin\nd = dht.DHT22(Pin(14))\n")
    report = check(None, wiring, [script])
    (finding,) = [f for f in report.findings if f.rule == "code-wiring-mismatch"]
    assert finding.fix == "Move the wire to GPIO14: GPIO34 cannot drive a DHT's data line."
