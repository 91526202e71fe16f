"""Serial port listing: USB VID:PID hints and virtual-board ports."""

from __future__ import annotations

import json

import pytest
from serial.tools import list_ports
from serial.tools.list_ports_common import ListPortInfo

from companion_app.boards import list_boards
from companion_app.device import ports
from companion_app.device.ports import PortInfo, describe_port
from companion_app.device.ports import list_ports as iotkit_list_ports


def fake_port(device: str, vid: int | None = None, pid: int | None = None, **extra) -> ListPortInfo:
    port = ListPortInfo(device, skip_link_detection=True)
    port.vid, port.pid = vid, pid
    for key, value in extra.items():
        setattr(port, key, value)
    return port


def _only(port: ListPortInfo) -> PortInfo:
    (info,) = iotkit_list_ports([port])
    return info


def test_cp210x_is_probably_an_esp32_devkit():
    info = _only(
        fake_port(
            "/dev/ttyUSB0", 0x10C4, 0xEA60, description="CP2102 USB to UART", serial_number="0001"
        )
    )
    assert info.hint == "CP210x, probably an ESP32 DevKit"
    assert info.likely_board == "esp32-devkit-v1"
    assert info.usb_id == "10C4:EA60"
    assert info.kind == "serial"
    assert info.description == "CP2102 USB to UART"
    assert info.serial_number == "0001"


@pytest.mark.parametrize("pid", [0x7523, 0x55D4])
def test_wch_bridges_point_at_esp32_or_esp8266_boards(pid):
    info = _only(fake_port("/dev/ttyUSB1", 0x1A86, pid))
    assert "ESP32 or ESP8266" in info.hint
    assert "NodeMCU" in info.hint and "D1 mini" in info.hint
    assert {"nodemcu", "d1-mini"} <= set(info.likely_boards)


def test_pico_running_micropython():
    info = _only(fake_port("/dev/ttyACM0", 0x2E8A, 0x0005))
    assert info.hint.startswith("MicroPython on a Raspberry Pi Pico")
    assert info.likely_boards == ("pico", "pico-w", "pico2-w")


def test_pico_in_bootsel_is_a_drive_not_a_serial_port():
    info = _only(fake_port("/dev/sdb", 0x2E8A, 0x0003))
    assert info.kind == "drive"
    assert "BOOTSEL" in info.hint and ".uf2" in info.hint


def test_espressif_native_usb_ports():
    assert "USB-Serial/JTAG" in _only(fake_port("/dev/ttyACM0", 0x303A, 0x1001)).hint
    unknown_pid = _only(fake_port("/dev/ttyACM1", 0x303A, 0x8123))
    assert unknown_pid.hint.startswith("Espressif native USB")
    assert "303A:8123" in unknown_pid.hint
    assert unknown_pid.likely_board is None


def test_unknown_usb_and_non_usb_ports_say_so():
    assert "not a board this kit knows" in _only(fake_port("/dev/ttyUSB9", 0x1234, 0x5678)).hint
    plain = _only(fake_port("/dev/ttyS0"))
    assert plain.hint == ports.HINT_NO_USB
    assert plain.kind == "unknown"


def test_likely_boards_are_listed_first():
    listed = iotkit_list_ports(
        [
            fake_port("/dev/ttyS0"),
            fake_port("/dev/ttyACM3", 0x1234, 0x5678),
            fake_port("/dev/ttyUSB0", 0x10C4, 0xEA60),
        ]
    )
    assert [p.device for p in listed] == ["/dev/ttyUSB0", "/dev/ttyACM3", "/dev/ttyS0"]


def test_list_ports_reads_pyserial_comports(monkeypatch):
    monkeypatch.setattr(list_ports, "comports", lambda: [fake_port("/dev/ttyUSB7", 0x0403, 0x6001)])
    (info,) = iotkit_list_ports()
    assert info.device == "/dev/ttyUSB7"
    assert "FTDI" in info.hint


def test_to_json_has_the_cli_keys_and_serialises():
    info = _only(fake_port("/dev/ttyUSB0", 0x10C4, 0xEA60, manufacturer="Silicon Labs"))
    data = json.loads(json.dumps(info.to_json()))
    assert data["device"] == "/dev/ttyUSB0"
    assert data["hint"] == "CP210x, probably an ESP32 DevKit"
    assert data["vid"] == 0x10C4 and data["pid"] == 0xEA60 and data["usb_id"] == "10C4:EA60"
    assert data["likely_board"] == "esp32-devkit-v1"
    assert data["manufacturer"] == "Silicon Labs"


def test_describe_port_recognises_virtual_boards():
    tcp = describe_port("socket://127.0.0.1:5555", comports=[])
    assert tcp.kind == "virtual" and tcp.is_virtual
    assert tcp.hint.startswith("virtual board")
    pty = describe_port("/dev/pts/7", comports=[])
    assert pty.kind == "virtual" and "pseudo-terminal" in pty.hint


def test_describe_port_uses_comports_for_listed_devices(tmp_path):
    info = describe_port("/dev/ttyUSB0", comports=[fake_port("/dev/ttyUSB0", 0x1A86, 0x55D4)])
    assert info.hint.startswith("CH9102")
    assert info.likely_board == "m5stickc-plus2"


def test_describe_port_follows_symlinks_to_listed_devices(tmp_path):
    real = tmp_path / "ttyUSB0"
    real.touch()
    link = tmp_path / "by-id-esp32"
    link.symlink_to(real)
    info = describe_port(str(link), comports=[fake_port(str(real), 0x10C4, 0xEA60)])
    assert info.likely_board == "esp32-devkit-v1"


def test_describe_port_for_missing_and_plain_devices(tmp_path):
    missing = describe_port(str(tmp_path / "ttyUSB42"), comports=[])
    assert missing.kind == "missing" and "plug the board in" in missing.hint
    plain = tmp_path / "ttyS9"
    plain.touch()
    assert describe_port(str(plain), comports=[]).hint == ports.HINT_NO_USB


def test_usb_table_entries_have_sources_and_real_board_ids():
    devices, vendors = ports.usb_table()
    board_ids = {b.id for b in list_boards()}
    assert (0x10C4, 0xEA60) in devices and (0x2E8A, 0x0005) in devices
    for entry in [*devices.values(), *vendors.values()]:
        assert entry.source.strip(), entry
        assert entry.hint.strip(), entry
        assert set(entry.likely_boards) <= board_ids, entry
        assert entry.kind in ("serial", "drive")
