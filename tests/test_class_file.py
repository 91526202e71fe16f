"""The class file (class.toml): what a good one gives each board, and one clear error, naming the
file and the line, for each mistake a teacher makes; `iotkit class init`; finding a board by
its USB serial number.

There is no real USB here: the ports with USB serial numbers are pyserial ListPortInfo-like
objects handed to the code (the `comports` parameter, or `ports._comports` patched), as
pyserial's own list_ports would give them.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from secret_helpers import WIFI_PASSWORD, assert_no_secret

from companion_app.classroom import topics
from companion_app.classroom.classfile import ClassFileError, load_class_file
from companion_app.classroom.runner import BoardFailed, find_port
from companion_app.cli import main
from companion_app.errors import IotkitError

ENV = "LAB_A_WIFI"

GOOD = """\
name = "lab-a"
broker = "mqtt://192.168.1.10:1883"
templates = ["mqtt"]
board = "esp32-devkit-v1"

[settings]
wifi_ssid = "lab-wifi"
wifi_password_env = "LAB_A_WIFI"
sensor = "dht22"
sensor_pin = 14

[[boards]]
name = "seat-01"
port = "/dev/ttyUSB0"
[boards.settings]
sensor_pin = 4

[[boards]]
name = "seat-02"
usb_serial = "0001A2B3"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "class.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ClassFileError) as info:
        load_class_file(path)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message  # one sentence, one line
    return message


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """The 1-based line number of the nth line holding `needle`."""
    hits = [i for i, line in enumerate(text.splitlines(), start=1) if needle in line]
    return hits[nth - 1]


@pytest.fixture
def password(monkeypatch):
    monkeypatch.setenv(ENV, WIFI_PASSWORD)
    return WIFI_PASSWORD


# ----------------------------------------------------------------------------- a good file


def test_a_good_class_file_gives_each_board_its_name_topics_and_overrides(tmp_path, password):
    cf = load_class_file(write(tmp_path, GOOD))
    assert cf.name == "lab-a" and cf.broker == "mqtt://192.168.1.10:1883"
    assert cf.templates == ("mqtt",) and cf.board_id == "esp32-devkit-v1" and cf.baud == 115200
    assert [b.name for b in cf.boards] == ["seat-01", "seat-02"]
    seat1, seat2 = cf.boards
    assert (seat1.port, seat1.usb_serial) == ("/dev/ttyUSB0", None)
    assert (seat2.port, seat2.usb_serial) == (None, "0001A2B3")
    cfg = cf.board_config(seat1)
    assert cfg["device_name"] == "seat-01"
    assert cfg["mqtt_broker"] == "192.168.1.10:1883"
    assert cfg["mqtt_topic"] == topics.readings_topic("lab-a", "seat-01")
    assert cfg["mqtt_status_topic"] == topics.status_topic("lab-a", "seat-01")
    assert cfg["sensor_pin"] == 4  # the board's override
    assert cf.board_config(seat2)["sensor_pin"] == 14  # the class's setting
    assert cfg["wifi_password"] == password  # from the environment variable the file names
    assert cf.board("seat-02") is seat2
    assert cf.logs_dir == tmp_path / "lab-a-logs"
    assert_no_secret(repr(cf))  # a ClassFile printed or logged does not show the password


def test_an_inline_password_is_masked_from_the_moment_it_is_read(tmp_path):
    from companion_app import secrets

    text = GOOD.replace('wifi_password_env = "LAB_A_WIFI"', f'wifi_password = "{WIFI_PASSWORD}"')
    cf = load_class_file(write(tmp_path, text))
    assert cf.settings["wifi_password"] == WIFI_PASSWORD
    assert secrets.mask_text(f"pw={WIFI_PASSWORD}") == "pw=***"


# ----------------------------------------------------------------------------- one clear error


def test_a_toml_syntax_error_names_the_line(tmp_path, password):
    text = GOOD.replace('sensor = "dht22"', 'sensor = "dht22')
    message = error_of(write(tmp_path, text))
    assert "not valid TOML" in message
    assert f"line {line_of(text, 'sensor = ')}" in message


@pytest.mark.parametrize(
    "old, new, needle, hint",
    [
        ('board = "esp32-devkit-v1"', 'bord = "esp32-devkit-v1"', "bord", "Did you mean board?"),
        ("sensor_pin = 14", "sensr_pin = 14", "sensr_pin", "Did you mean sensor_pin?"),
        ('port = "/dev/ttyUSB0"', 'prt = "/dev/ttyUSB0"', "prt =", "Did you mean port?"),
        ("sensor_pin = 4", "sensor_pn = 4", "sensor_pn", "Did you mean sensor_pin?"),
    ],
)
def test_an_unknown_key_names_its_line_and_the_key_meant(
    tmp_path, password, old, new, needle, hint
):
    text = GOOD.replace(old, new)
    message = error_of(write(tmp_path, text))
    assert "unknown key" in message and hint in message
    assert f"line {line_of(text, needle)}:" in message


def test_a_duplicate_board_name_names_the_line_of_the_second(tmp_path, password):
    text = GOOD.replace('name = "seat-02"', 'name = "seat-01"')
    message = error_of(write(tmp_path, text))
    assert "'seat-01' is used twice" in message
    assert f"line {line_of(text, 'name = ', nth=3)}:" in message
    assert f"first on line {line_of(text, 'name = ', nth=2)}" in message


def test_a_board_with_neither_port_nor_usb_serial_names_its_entry(tmp_path, password):
    text = GOOD.replace('usb_serial = "0001A2B3"\n', "")
    message = error_of(write(tmp_path, text))
    assert "'seat-02' has neither port nor usb_serial" in message
    assert f"line {line_of(text, '[[boards]]', nth=2)}:" in message


def test_two_boards_on_one_port_are_refused(tmp_path, password):
    text = GOOD.replace('usb_serial = "0001A2B3"', 'port = "/dev/ttyUSB0"')
    message = error_of(write(tmp_path, text))
    assert "same port '/dev/ttyUSB0'" in message
    assert f"line {line_of(text, 'port = ', nth=2)}:" in message


@pytest.mark.parametrize(
    "old, new, what",
    [
        ('name = "seat-01"', 'name = "seat/01"', "board"),
        ('name = "seat-01"', 'name = "seat+01"', "board"),
        ('name = "lab-a"', 'name = "lab#a"', "class"),
    ],
)
def test_a_name_that_cannot_be_a_topic_level_is_refused(tmp_path, password, old, new, what):
    text = GOOD.replace(old, new)
    message = error_of(write(tmp_path, text))
    assert f"the {what} name" in message and "cannot be part of an MQTT topic" in message
    assert f"line {line_of(text, new)}:" in message


def test_a_missing_password_says_how_to_give_one(tmp_path):
    text = GOOD.replace('wifi_password_env = "LAB_A_WIFI"\n', "")
    message = error_of(write(tmp_path, text))
    assert "wifi_ssid is set but there is no Wi-Fi password" in message
    assert "wifi_password_env" in message
    assert f"line {line_of(text, 'wifi_ssid')}:" in message


def test_an_unset_password_variable_says_export_it(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    text = GOOD
    message = error_of(write(tmp_path, text))
    assert f"`export {ENV}=...`" in message
    assert f"line {line_of(text, 'wifi_password_env')}:" in message


def test_the_dashboard_and_flash_do_not_need_the_password(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    cf = load_class_file(write(tmp_path, GOOD), need_wifi_password=False)
    assert "wifi_password" not in cf.board_config(cf.boards[0])


def test_an_unknown_template_is_refused_with_the_known_ones(tmp_path, password):
    text = GOOD.replace('templates = ["mqtt"]', 'templates = ["mqtt", "radar"]')
    message = error_of(write(tmp_path, text))
    assert "radar" in message and "mqtt" in message
    assert f"line {line_of(text, 'templates')}:" in message


@pytest.mark.parametrize(
    "url, expected",
    [
        ("http://192.168.1.10", "should start with mqtt://"),
        ("mqtt://:1883", "has no host"),
        ("mqtt://host:99999", "invalid port"),
        ("mqtts://host", "not TLS"),
    ],
)
def test_a_bad_broker_url_is_refused(tmp_path, password, url, expected):
    text = GOOD.replace("mqtt://192.168.1.10:1883", url)
    message = error_of(write(tmp_path, text))
    assert expected in message
    assert f"line {line_of(text, 'broker')}:" in message


def test_a_broker_password_is_never_shown(tmp_path, password):
    text = GOOD.replace("mqtt://192.168.1.10:1883", f"mqtt://teacher:{WIFI_PASSWORD}@host:1883")
    message = error_of(write(tmp_path, text))
    assert "cannot log in" in message
    assert_no_secret(message)


def test_a_bad_setting_value_gets_the_deploy_engines_message_and_line(tmp_path, password):
    text = GOOD.replace("sensor_pin = 14", "sensor_pin = 99")
    message = error_of(write(tmp_path, text))
    assert "sensor_pin must be a GPIO number from 0 to 48, not 99" in message
    assert f"line {line_of(text, 'sensor_pin = 99')}:" in message


def test_the_class_file_sets_each_boards_name_and_topic_itself(tmp_path, password):
    text = GOOD.replace("sensor_pin = 14", 'sensor_pin = 14\nmqtt_topic = "x/y"')
    message = error_of(write(tmp_path, text))
    assert "mqtt_topic cannot be set in a class file" in message
    assert f"line {line_of(text, 'mqtt_topic')}:" in message


def test_an_error_in_a_file_with_an_inline_password_never_quotes_it(tmp_path):
    text = GOOD.replace(
        'wifi_password_env = "LAB_A_WIFI"', f'wifi_password = "{WIFI_PASSWORD}"'
    ).replace(
        'sensor = "dht22"', f'sensor = "{WIFI_PASSWORD}'
    )  # a syntax error on that line
    assert_no_secret(error_of(write(tmp_path, text)))


def test_a_bad_class_file_is_one_error_line_and_exit_code_2(tmp_path, capsys, password):
    path = write(tmp_path, GOOD.replace('name = "seat-02"', 'name = "seat-01"'))
    assert main(["class", "deploy", "--file", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: The class file") and err.count("\n") == 1


def test_a_missing_class_file_says_so(tmp_path, capsys):
    assert main(["class", "deploy", "--file", str(tmp_path / "nope.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err


# ----------------------------------------------------------------------------- class init


def test_init_from_a_port_file_writes_a_file_that_loads_back(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("IOTKIT_WIFI_PASSWORD", WIFI_PASSWORD)
    ports = tmp_path / "ports.txt"
    ports.write_text("socket://127.0.0.1:4001\nsocket://127.0.0.1:4002\n", encoding="utf-8")
    path = tmp_path / "lab" / "class.toml"
    code = main(["class", "init", "--file", str(path), "--port-file", str(ports), "--name", "7b"])
    assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "Wrote" in out and "start `iotkit broker`" in out  # what is left to do
    text = path.read_text(encoding="utf-8")
    assert text.count("\n# ") >= 3  # a commented file, for a teacher to edit
    cf = load_class_file(path)
    assert cf.name == "7b" and cf.templates == ("mqtt",)
    assert [(b.name, b.port) for b in cf.boards] == [
        ("seat-01", "socket://127.0.0.1:4001"),
        ("seat-02", "socket://127.0.0.1:4002"),
    ]
    # Virtual boards only: a file that works as written, with the network every virtual board
    # offers and the broker `iotkit broker` starts on this PC.
    assert cf.broker == "mqtt://127.0.0.1:1883"
    assert cf.settings["wifi_ssid"] == "iotkit-lab"
    assert cf.settings["wifi_password"] == WIFI_PASSWORD  # wifi_password_env names that variable


def test_init_never_overwrites_unless_forced_and_then_keeps_a_backup(tmp_path, capsys):
    path = write(tmp_path, "# my own\n")
    args = ["class", "init", "--file", str(path), "--ports", "socket://127.0.0.1:4001"]
    assert main(args) == 1
    assert "exists already" in capsys.readouterr().err
    assert path.read_text(encoding="utf-8") == "# my own\n"
    assert main([*args, "--force"]) == 0
    assert (tmp_path / "class.toml.bak").read_text(encoding="utf-8") == "# my own\n"
    assert "[[boards]]" in path.read_text(encoding="utf-8")


def _usb_port(device: str, serial: str) -> SimpleNamespace:
    """What pyserial's list_ports gives for a CP2102 board (no real USB in this test)."""
    return SimpleNamespace(
        device=device,
        description="CP2102 USB to UART Bridge Controller",
        vid=0x10C4,
        pid=0xEA60,
        serial_number=serial,
        manufacturer="Silicon Labs",
    )


def test_init_lists_the_boards_plugged_in_with_their_usb_serials(tmp_path, capsys, monkeypatch):
    from companion_app.device import ports

    found = [_usb_port("/dev/ttyUSB0", "0001A2B3"), _usb_port("/dev/ttyUSB1", "0001C4D5")]
    builtin = SimpleNamespace(device="/dev/ttyS0", description="n/a", vid=None, pid=None)
    monkeypatch.setattr(ports, "_comports", lambda: [builtin, *found])
    path = tmp_path / "class.toml"
    assert main(["class", "init", "--file", str(path)]) == 0, capsys.readouterr().err
    cf = load_class_file(path, need_wifi_password=False)
    assert [(b.name, b.port, b.usb_serial) for b in cf.boards] == [
        ("seat-01", "/dev/ttyUSB0", "0001A2B3"),
        ("seat-02", "/dev/ttyUSB1", "0001C4D5"),
    ]


def test_init_with_no_boards_says_how_to_get_some(tmp_path, capsys, monkeypatch):
    from companion_app.device import ports

    monkeypatch.setattr(ports, "_comports", lambda: [])
    assert main(["class", "init", "--file", str(tmp_path / "class.toml")]) == 1
    err = capsys.readouterr().err
    assert "No boards are plugged in" in err and "iotkit sim --count N" in err
    assert not (tmp_path / "class.toml").exists()


# ----------------------------------------------------------------------------- finding a board


def _board(port: str | None, serial: str | None):
    from companion_app.classroom.classfile import ClassBoard

    return ClassBoard("seat-01", port, serial, {}, None)


def test_a_board_is_found_by_its_usb_serial_when_its_port_name_changed():
    comports = [_usb_port("/dev/ttyUSB3", "0001A2B3"), _usb_port("/dev/ttyUSB4", "0001FFFF")]
    port, note = find_port(_board("/dev/ttyUSB0", "0001A2B3"), comports)
    assert port == "/dev/ttyUSB3"
    assert note is not None and "found on /dev/ttyUSB3 by its USB serial 0001A2B3" in note


def test_a_port_that_is_there_is_used_as_written(tmp_path):
    there = tmp_path / "ttyUSB0"
    there.write_bytes(b"")  # stands in for a device node that exists
    assert find_port(_board(str(there), "0001A2B3"), []) == (str(there), None)
    assert find_port(_board("COM5", None), [_usb_port("COM5", "X")]) == ("COM5", None)


def test_a_board_not_plugged_in_says_what_was_looked_for():
    with pytest.raises(BoardFailed) as info:
        find_port(_board("/dev/ttyUSB3", "0001A2B3"), [_usb_port("/dev/ttyUSB4", "0001FFFF")])
    assert str(info.value).startswith("not plugged in: no /dev/ttyUSB3 and no USB serial 0001A2B3.")


def test_the_written_class_file_format_is_valid_toml_for_odd_names(tmp_path):
    from companion_app.classroom.classfile import class_file_text

    text = class_file_text('lab "ä"', "mqtt://127.0.0.1:1883", [("C:\\odd\\port", None)], True)
    path = write(tmp_path, textwrap.dedent(text))
    cf = load_class_file(path, need_wifi_password=False)
    assert cf.name == 'lab "ä"' and cf.boards[0].port == "C:\\odd\\port"


def test_init_refuses_a_class_name_that_cannot_be_a_topic_level(tmp_path, capsys):
    args = ["class", "init", "--file", str(tmp_path / "class.toml"), "--name", "lab/a"]
    assert main([*args, "--ports", "socket://127.0.0.1:4001"]) == 2
    assert "The class name 'lab/a' cannot be part of an MQTT topic" in capsys.readouterr().err
    assert not (tmp_path / "class.toml").exists()


def test_init_names_a_port_listed_twice(tmp_path, capsys):
    args = ["class", "init", "--file", str(tmp_path / "class.toml")]
    assert main([*args, "--ports", "COM3,COM4,COM3"]) == 2
    err = capsys.readouterr().err
    assert err == "error: COM3 is listed twice: each board needs a port of its own.\n", err
    assert not (tmp_path / "class.toml").exists()


def test_write_class_file_is_the_engine_the_class_tab_uses(tmp_path):
    from companion_app.classroom.classfile import write_class_file

    boards = [("/dev/ttyUSB0", "0001A2B3"), ("/dev/ttyUSB1", None)]
    written = write_class_file(tmp_path / "c.toml", boards, name="lab-c", broker="mqtt://h:1884")
    cf = written.class_file
    assert written.backup is None and cf.name == "lab-c" and cf.broker == "mqtt://h:1884"
    assert cf.settings["wifi_ssid"] == "lab-wifi"  # real boards: the teacher names the network
    assert [(b.name, b.port, b.usb_serial) for b in cf.boards] == [
        ("seat-01", "/dev/ttyUSB0", "0001A2B3"),
        ("seat-02", "/dev/ttyUSB1", None),
    ]
    with pytest.raises(IotkitError, match="exists already"):  # never overwrites by itself
        write_class_file(tmp_path / "c.toml", boards, name="lab-c")
    again = write_class_file(tmp_path / "c.toml", boards[:1], name="lab-c", force=True)
    assert again.backup == tmp_path / "c.toml.bak" and len(again.class_file.boards) == 1


class _Terminal:
    """A stream that says it is a terminal, and keeps what was written."""

    def __init__(self) -> None:
        self.text = ""

    def isatty(self) -> bool:
        return True

    def write(self, s: str) -> None:
        self.text += s

    def flush(self) -> None:
        pass


def test_the_summary_table_is_redrawn_in_place_on_a_terminal():
    from companion_app.classroom.cli import SummaryTable
    from companion_app.classroom.runner import BoardProgress

    out = _Terminal()
    table = SummaryTable(out, ["seat-01", "seat-02"])
    table.update(BoardProgress("seat-01", "/dev/ttyUSB0", "sending 10%", "", 1.0))
    table.update(BoardProgress("seat-02", "/dev/ttyUSB1", "connecting", "", 0.5))
    table.show()
    first = out.text
    assert first.count("\n") == 3 and "\x1b[" + "3F" not in first  # header + 2 rows, drawn once
    table.update(BoardProgress("seat-01", "/dev/ttyUSB0", "sending 90%", "", 2.0))
    table.show()
    redraw = out.text[len(first) :]
    assert redraw.startswith("\x1b[3F")  # back up over the 3 lines, then draw them again
    assert "sending 90%" in redraw and redraw.count("\x1b[2K") == 3


def test_log_files_are_named_for_the_board_on_every_os(tmp_path, password):
    text = GOOD.replace('name = "seat-01"', 'name = "Anna: Müller?"')
    cf = load_class_file(write(tmp_path, text))
    assert cf.log_path(cf.boards[0]) == tmp_path / "lab-a-logs" / "Anna_ Müller_.log"
    assert cf.log_path(cf.boards[1]) == tmp_path / "lab-a-logs" / "seat-02.log"


def test_two_swapped_boards_are_each_found_by_their_usb_serial(tmp_path):
    """Both ports exist, but the boards were plugged in the other way round."""
    usb0, usb1 = tmp_path / "ttyUSB0", tmp_path / "ttyUSB1"
    usb0.write_bytes(b"")
    usb1.write_bytes(b"")
    comports = [_usb_port(str(usb0), "BBBB"), _usb_port(str(usb1), "AAAA")]
    port, note = find_port(_board(str(usb0), "AAAA"), comports)
    assert port == str(usb1) and note is not None and f"the class file says {usb0}" in note
    assert find_port(_board(str(usb1), "AAAA"), comports) == (str(usb1), None)


def test_a_misspelt_table_names_its_header_line(tmp_path, password):
    text = GOOD.replace("[settings]", "[setings]")
    message = error_of(write(tmp_path, text))
    assert "unknown key 'setings' at the top level. Did you mean settings?" in message
    assert f"line {line_of(text, '[setings]')}:" in message


def test_a_boards_table_without_its_s_says_so(tmp_path, password):
    text = GOOD.replace('board = "esp32-devkit-v1"\n', "").replace("[[boards]]", "[[board]]")
    message = error_of(write(tmp_path, text))
    assert "[[boards]] entries (with an s)" in message
    assert f"line {line_of(text, '[[board]]')}:" in message
