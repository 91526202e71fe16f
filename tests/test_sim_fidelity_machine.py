"""The virtual board's machine, time and micropython modules behave as the real ports' (v1.28.0).

Issue 13: a script that the real ESP32/RP2/ESP8266 port refuses must fail here too, and an API the
port has must be here. Each test runs MicroPython code on a real virtual board and compares with
what the port's C source does (ports/esp32, ports/rp2, ports/esp8266, extmod, shared/runtime).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from sim_helpers import RawConsole, error_of, run
from waiting import wait_until

from companion_app.simulator import VirtualBoard

ESP32_WIRING = {
    "version": 1,
    "parts": [
        {"type": "wokwi-esp32-devkit-v1", "id": "esp", "attrs": {}},
        {"type": "iotkit-bme280", "id": "bme", "attrs": {}},
    ],
    "connections": [
        ["bme:SDA", "esp:D21", "blue", []],
        ["bme:SCL", "esp:D22", "yellow", []],
        ["bme:VCC", "esp:3V3", "red", []],
        ["bme:GND", "esp:GND.1", "black", []],
    ],
}

PICO_WIRING = {
    "version": 1,
    "parts": [
        {"type": "wokwi-pi-pico", "id": "pico", "attrs": {}},
        {"type": "wokwi-potentiometer", "id": "pot", "attrs": {}},
    ],
    "connections": [
        ["pot:SIG", "pico:GP26", "green", []],
        ["pot:VCC", "pico:3V3", "red", []],
        ["pot:GND", "pico:GND.8", "black", []],
    ],
}


def _start(tmp: Path, board: str, wiring: dict[str, Any] | None) -> VirtualBoard:
    path = None
    if wiring is not None:
        path = tmp / "diagram.json"
        path.write_text(json.dumps(wiring), encoding="utf-8")
    return VirtualBoard(board=board, wiring=path, flash_dir=tmp / "flash").start()


def _board_and_console(
    tmp_path_factory, board_id: str, wiring: dict | None
) -> Iterator[tuple[VirtualBoard, RawConsole]]:
    board = _start(tmp_path_factory.mktemp(board_id), board_id, wiring)
    console = RawConsole(board.port)
    console.friendly()
    yield board, console
    console.close()
    board.stop()


@pytest.fixture(scope="module")
def esp32(tmp_path_factory) -> Iterator[tuple[VirtualBoard, RawConsole]]:
    yield from _board_and_console(tmp_path_factory, "esp32-devkit-v1", ESP32_WIRING)


@pytest.fixture(scope="module")
def pico(tmp_path_factory) -> Iterator[tuple[VirtualBoard, RawConsole]]:
    yield from _board_and_console(tmp_path_factory, "pico", PICO_WIRING)


@pytest.fixture(scope="module")
def nodemcu(tmp_path_factory) -> Iterator[tuple[VirtualBoard, RawConsole]]:
    yield from _board_and_console(tmp_path_factory, "nodemcu", None)


# ---- 1. APIs the ports have --------------------------------------------------------------------


def test_alloc_emergency_exception_buf_is_there_as_in_every_irq_example(esp32):
    _, console = esp32
    assert run(console, "import micropython\nprint(micropython.alloc_emergency_exception_buf(100))")
    assert error_of(console, "micropython.alloc_emergency_exception_buf('x')").startswith(
        "TypeError"
    )
    # The rest of the built-in module is still there, and `import micropython` is the same module.
    assert run(
        console,
        "import micropython, sys\nprint(sys.modules['micropython'] is micropython, "
        "callable(micropython.schedule), micropython.const(3))",
    ) == ["True True 3"]


def test_mem32_reads_back_what_was_written_and_refuses_unaligned_addresses(esp32):
    _, console = esp32
    lines = run(
        console,
        "import machine\nmachine.mem32[0x3FF44004] = 0x1_0000_1234\n"
        "print(hex(machine.mem32[0x3FF44004]), machine.mem8[0x3FF44100], "
        "machine.mem16[0x3FF44102])",
    )
    assert lines == ["0x1234 0 0"]  # 32 bits kept; never-written registers read 0
    assert (
        error_of(console, "machine.mem32[0x3FF44006]")
        == "ValueError: address 3ff44006 is not aligned to 4 bytes"
    )
    assert error_of(console, "machine.mem16[0x3FF44001]").startswith("ValueError: address")


def test_dac_exists_on_the_esp32_for_gpio25_and_26_only_and_not_on_a_pico(esp32, pico):
    _, console = esp32
    assert run(console, "d = machine.DAC(machine.Pin(25))\nd.write(255)\nprint(d.write(0))") == [
        "None"
    ]
    assert run(console, "print(machine.DAC(26) is not None)") == ["True"]
    assert error_of(console, "machine.DAC(machine.Pin(5))") == "ValueError: invalid Pin for DAC"
    assert error_of(console, "machine.DAC(25).write(256)") == "ValueError: value out of range"
    _, pico_console = pico
    assert run(pico_console, "import machine\nprint(hasattr(machine, 'DAC'))") == ["False"]


def test_timers_take_the_ids_and_hard_flag_each_port_takes(esp32, pico):
    _, console = esp32
    # ESP32: hardware timers 0-3 only, an id is required, and hard=True is refused.
    assert error_of(console, "machine.Timer(-1)") == "ValueError: invalid Timer number"
    assert error_of(console, "machine.Timer(4)") == "ValueError: invalid Timer number"
    assert error_of(console, "machine.Timer()").startswith("TypeError")
    assert (
        error_of(console, "machine.Timer(0, period=10, callback=print, hard=True)")
        == "ValueError: hard Timers are not implemented"
    )
    # RP2: one virtual timer (-1), which runs hard callbacks.
    _, pico_console = pico
    assert error_of(pico_console, "machine.Timer(0)") == "ValueError: Timer doesn't exist"
    lines = run(
        pico_console,
        "import machine, time\nhits = []\n"
        "t = machine.Timer(mode=machine.Timer.ONE_SHOT, period=20, hard=True, "
        "callback=lambda t: hits.append(1))\n"
        "start = time.ticks_ms()\n"
        "while not hits and time.ticks_diff(time.ticks_ms(), start) < 3000:\n"
        "    time.sleep_ms(5)\n"
        "print(hits)",
    )
    assert lines == ["[1]"]


def test_soft_i2c_start_write_readinto_stop_read_a_register(esp32):
    _, console = esp32
    lines = run(
        console,
        "i2c = machine.SoftI2C(scl=machine.Pin(22), sda=machine.Pin(21))\n"
        "buf = bytearray(1)\n"
        "i2c.start()\nacks = i2c.write(bytes((0x76 << 1, 0xD0)))\n"  # BME280: chip id register
        "i2c.start()\nacks2 = i2c.write(bytes(((0x76 << 1) | 1,)))\n"
        "i2c.readinto(buf)\ni2c.stop()\n"
        "i2c.start()\nnobody = i2c.write(bytes((0x10 << 1, 0)))\ni2c.stop()\n"
        "print(acks, acks2, hex(buf[0]), nobody)",
    )
    assert lines == ["2 1 0x60 0"]  # an absent address is not acknowledged


# ---- 2. Pin.irq() --------------------------------------------------------------------------------


def test_pin_irq_returns_an_irq_object_with_the_ports_methods(esp32, pico):
    _, console = esp32
    lines = run(
        console,
        "hits = []\np = machine.Pin(4, machine.Pin.IN)\n"
        "irq = p.irq(handler=lambda pin: hits.append(pin), trigger=machine.Pin.IRQ_RISING)\n"
        "print(irq is p, irq.trigger() == machine.Pin.IRQ_RISING, hasattr(irq, 'flags'))\n"
        "irq()\nprint(hits == [p], p.irq() is irq)",
    )
    assert lines == ["False True False", "True True"]
    assert error_of(console, "p.irq().value()").startswith("AttributeError")
    # RP2: flags() says which edge fired.
    _, pico_console = pico
    lines = run(
        pico_console,
        "import machine, time\nhits = []\np = machine.Pin(15, machine.Pin.OUT, value=0)\n"
        "irq = p.irq(handler=lambda pin: hits.append(1), trigger=machine.Pin.IRQ_RISING)\n"
        "p.value(1)\nstart = time.ticks_ms()\n"
        "while not hits and time.ticks_diff(time.ticks_ms(), start) < 3000:\n"
        "    time.sleep_ms(5)\n"
        "print(hits, irq.flags() == machine.Pin.IRQ_RISING)",
    )
    assert lines == ["[1] True"]


# ---- 3. argument checks --------------------------------------------------------------------------


def test_machine_freq_takes_only_the_frequencies_the_port_takes(esp32, pico, nodemcu):
    _, console = esp32
    assert error_of(console, "machine.freq(123)") == (
        "ValueError: frequency must be 20MHz, 40MHz, 80MHz, 160MHz or 240MHz"
    )
    assert run(console, "machine.freq(240_000_000)\nprint(machine.freq())") == ["240000000"]
    _, console = nodemcu
    assert error_of(console, "import machine; machine.freq(240_000_000)") == (
        "ValueError: frequency can only be either 80MHz or 160MHz"
    )
    assert run(console, "machine.freq(160_000_000)\nprint(machine.freq())") == ["160000000"]
    _, console = pico
    assert error_of(console, "machine.freq(123)") == "ValueError: cannot change frequency"
    assert run(console, "machine.freq(133_000_000)\nprint(machine.freq())") == ["133000000"]


def test_adc_takes_only_adc_pins_and_a_bare_number_means_what_the_port_says(esp32, pico, nodemcu):
    _, console = esp32
    assert error_of(console, "machine.ADC(machine.Pin(5))") == "ValueError: invalid pin"
    assert error_of(console, "machine.ADC(5)") == "ValueError: invalid pin"
    assert run(console, "print(0 <= machine.ADC(34).read() < 4096)") == ["True"]  # GPIO34
    # RP2: ADC(0) is channel 0, which is GP26, where the knob is; ADC(4) the temperature sensor.
    board, console = pico
    board.set_input("pot", value=0.25)
    wait_until(
        lambda: run(console, "print(abs(machine.ADC(0).read_u16() - 16383) < 200)") == ["True"],
        timeout=3,
        what="the knob's reading on channel 0",
    )
    assert run(console, "print(abs(machine.ADC(26).read_u16() - 16383) < 200)") == ["True"]
    assert run(console, "print(0 < machine.ADC(4).read_u16() < 65535)") == ["True"]
    assert error_of(console, "machine.ADC(machine.Pin(5))") == (
        "ValueError: Pin doesn't have ADC capabilities"
    )
    # ESP8266: channels 0 (A0) and 1 (the supply) only.
    _, console = nodemcu
    assert run(console, "print(0 <= machine.ADC(0).read() < 1024)") == ["True"]
    assert error_of(console, "machine.ADC(2)") == "ValueError: ADC(2) doesn't exist"


def test_pwm_duty_and_i2c_and_uart_ids_out_of_range_are_refused_as_on_the_port(esp32, pico):
    _, console = esp32
    run(console, "pwm = machine.PWM(machine.Pin(13), freq=1000)")
    assert error_of(console, "pwm.duty(1024)") == "ValueError: duty must be from 0 to 1023"
    assert error_of(console, "pwm.duty_u16(70000)") == (
        "ValueError: duty_u16 must be from 0 to 65536"
    )
    assert error_of(console, "machine.I2C(2)") == "ValueError: I2C(2) doesn't exist"
    assert error_of(console, "machine.UART(3)") == "ValueError: UART(3) does not exist"
    assert run(console, "print(machine.UART(2, 9600).write(b'hi'))") == ["2"]
    assert run(console, "print(machine.I2C(scl=22, sda=21).scan())") == ["[118]"]  # id 0
    _, console = pico
    assert error_of(console, "machine.I2C(-1, scl=1, sda=0)") == "ValueError: I2C(-1) doesn't exist"


# ---- 4. one clock: RTC, time, ticks --------------------------------------------------------------


def test_rtc_datetime_sets_the_clock_that_time_reads_and_keeps_it_over_a_soft_reboot(esp32):
    board, console = esp32
    lines = run(
        console,
        "import time\nmachine.RTC().datetime((2030, 1, 2, 2, 3, 4, 5, 0))\n"
        "print(time.localtime()[:5], time.gmtime()[:3], machine.RTC().datetime()[:6])\n"
        "t = time.time()\n"
        "print(type(t).__name__, 0 <= t - time.mktime((2030, 1, 2, 3, 4, 5, 0, 0)) < 3)",
    )
    assert lines == ["(2030, 1, 2, 3, 4) (2030, 1, 2) (2030, 1, 2, 2, 3, 4)", "int True"]
    boots = board.boots
    console.write(b"\x04")  # soft reboot: a new interpreter, the same RTC
    console.read_until(b">>> ")
    assert board.boots == boots + 1
    assert run(console, "import time\nprint(time.localtime()[:3])") == ["(2030, 1, 2)"]


def test_time_counts_from_2000_as_an_int(esp32):
    _, console = esp32
    lines = run(
        console,
        "import time\nprint(time.gmtime(0), time.mktime((2000, 1, 1, 0, 0, 0, 0, 0)))\n"
        "print(time.localtime(86400 * 366), time.mktime((2024, 2, 29, 12, 0, 0, 0, 0)))",
    )
    assert lines == [
        "(2000, 1, 1, 0, 0, 0, 5, 1) 0",  # a Saturday, day 1
        "(2001, 1, 1, 0, 0, 0, 0, 1) 762523200",  # 2000 was a leap year
    ]


def test_ticks_wrap_at_2_to_the_30_and_ticks_diff_agrees(esp32):
    _, console = esp32
    lines = run(
        console,
        "import time\nP = 1 << 30\n"
        "print(time.ticks_add(P - 1, 1), time.ticks_diff(0, P - 1), time.ticks_diff(P - 1, 0))\n"
        "print(time.ticks_ms() < P, time.ticks_us() < P, time.ticks_cpu() < P)\n"
        "print(time.ticks_add(5, -10) == P - 5)",
    )
    assert lines == ["0 1 -1", "True True True", "True"]
    assert error_of(console, "time.ticks_add(0, 1 << 29)") == (
        "OverflowError: ticks interval overflow"
    )


def test_the_micropython_profile_keys_set_freqs_epoch_and_ticks_period(tmp_path, monkeypatch):
    """What the "profiles" helper passes as cfg["micropython"] wins over the port defaults."""
    real_config = VirtualBoard._config

    def config(self, mode: str, reset: str) -> dict[str, Any]:
        cfg = real_config(self, mode, reset)
        profile = dict(cfg.get("micropython") or {})
        profile.update(freqs_hz=[80_000_000], epoch_year=1970, ticks_period=1 << 20)
        cfg["micropython"] = profile
        return cfg

    monkeypatch.setattr(VirtualBoard, "_config", config)
    board = VirtualBoard(flash_dir=tmp_path / "flash").start()
    console = RawConsole(board.port)
    try:
        console.friendly()
        assert error_of(console, "import machine; machine.freq(160_000_000)") == (
            "ValueError: frequency must be 80MHz"
        )
        assert run(console, "import time\nprint(time.gmtime(0)[:3], time.ticks_add(0, -1))") == [
            "(1970, 1, 1) 1048575"
        ]
    finally:
        console.close()
        board.stop()


# ---- 5. watchdog ---------------------------------------------------------------------------------


def test_an_unfed_watchdog_resets_the_board_and_reset_cause_says_wdt(tmp_path):
    board = VirtualBoard(flash_dir=tmp_path / "flash").start()
    console = RawConsole(board.port)
    try:
        console.friendly()
        boots = board.boots
        console.run("import machine; w = machine.WDT(timeout=1000)")
        wait_until(lambda: board.boots > boots, 10, "the watchdog's reset")
        console.read_until(b">>> ", timeout=10)
        console.drain(0.1)
        assert console.run("import machine; print(machine.reset_cause() == machine.WDT_RESET)") == (
            "True"
        )
    finally:
        console.close()
        board.stop()
