"""DS18B20 on the virtual board: `onewire` and `ds18x20` as the official firmware has them.

Issue 13, item 3: the sensor is wired in the diagram (Wokwi part `wokwi-ds18b20`) and read the
way every beginner tutorial does it. The bus is emulated bit by bit, so the ROM search, the CRCs,
the 85.0 power-on value and the 750 ms conversion are the real sensor's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sim_helpers import RawConsole

from companion_app.errors import UsageError
from companion_app.simulator import VirtualBoard
from companion_app.simulator.hardware import hardware_from_diagram
from companion_app.wiring.diagram import load_diagram


def _crc8(data: bytes) -> int:
    """Dallas CRC-8, written from the datasheet's polynomial (x^8+x^5+x^4+1), for checking."""
    crc = 0
    for byte in data:
        for _ in range(8):
            mix = (crc ^ byte) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8C
            byte >>= 1
    return crc


def test_the_crc_used_for_checking_gives_the_datasheets_example():
    """The checker above is the same algorithm as the board's, so it is held to a known answer:
    Maxim application note 27's example ROM 02 1C B8 01 00 00 00 has the CRC A2."""
    assert _crc8(bytes([0x02, 0x1C, 0xB8, 0x01, 0x00, 0x00, 0x00])) == 0xA2


def _diagram(tmp_path: Path, sensors: list[tuple[str, dict]], pin: str = "D4") -> Path:
    parts = [{"type": "wokwi-esp32-devkit-v1", "id": "esp", "attrs": {}}]
    connections = []
    for sid, attrs in sensors:
        parts.append({"type": "wokwi-ds18b20", "id": sid, "attrs": attrs})
        connections += [
            [f"{sid}:DQ", f"esp:{pin}", "green", []],
            [f"{sid}:VCC", "esp:3V3", "red", []],
            [f"{sid}:GND", "esp:GND.1", "black", []],
        ]
    path = tmp_path / "diagram.json"
    path.write_text(
        json.dumps({"version": 1, "parts": parts, "connections": connections}), encoding="utf-8"
    )
    return path


@pytest.fixture
def two_sensors(tmp_path):
    wiring = _diagram(tmp_path, [("temp1", {}), ("temp2", {"deviceID": "111111111111"})])
    with VirtualBoard(flash_dir=tmp_path / "flash", wiring=wiring) as board:
        c = RawConsole(board.port)
        c.friendly()
        c.run("import onewire, ds18x20, time, machine")
        c.run("ds = ds18x20.DS18X20(onewire.OneWire(machine.Pin(4)))")
        yield board, c
        c.close()


def test_the_tutorial_program_reads_a_plausible_temperature(two_sensors):
    board, c = two_sensors
    c.run("roms = ds.scan(); ds.convert_temp(); time.sleep_ms(750)")
    value = float(c.run("print(ds.read_temp(roms[0]))"))
    assert -10.0 < value < 40.0 and value != 85.0
    # 12-bit resolution: a multiple of 1/16 degree, as the sensor reports it
    assert value * 16 == int(value * 16)


def test_sensors_on_one_bus_have_distinct_rom_codes_with_valid_crc(two_sensors):
    board, c = two_sensors
    roms = json.loads(c.run("import json; print(json.dumps([list(r) for r in ds.scan()]))"))
    assert len(roms) == 2
    assert roms[0] != roms[1]
    for rom in roms:
        assert rom[0] == 0x28 and _crc8(bytes(rom[:7])) == rom[7]
    # the deviceID attribute is the serial, as in Wokwi
    assert [0x11] * 6 in [rom[1:7] for rom in roms]


def test_reading_before_a_conversion_gives_the_power_on_85(two_sensors):
    board, c = two_sensors
    c.run("roms = ds.scan()")
    assert c.run("print(ds.read_temp(roms[0]))") == "85.0"
    # too early: the conversion runs for 750 ms and the register still holds the old value
    c.run("ds.convert_temp()")
    assert c.run("print(ds.read_temp(roms[1]))") == "85.0"


def test_set_input_warms_the_sensor_like_the_dht22(two_sensors):
    board, c = two_sensors
    board.set_input("temp1", temperature=31.25)
    board.set_input("temp2", temperature=-10.5)
    c.run("roms = ds.scan(); ds.convert_temp(); time.sleep_ms(750)")
    out = c.run("print(sorted(ds.read_temp(r) for r in roms))")
    assert out == "[-10.5, 31.25]"


def test_readings_vary_slowly(two_sensors):
    board, c = two_sensors
    c.run("roms = ds.scan(); r = []")
    for _ in range(3):
        c.run("ds.convert_temp(); time.sleep_ms(750); r.append(ds.read_temp(roms[0]))")
    values = [float(v) for v in c.run("print(*r)").split()]
    assert len(values) == 3 and max(values) - min(values) < 1.0


def test_the_conversion_takes_as_long_as_the_resolution_says(two_sensors):
    board, c = two_sensors
    c.run("roms = ds.scan()")
    # 9-bit resolution: at most 93.75 ms, and the value is a multiple of 0.5 degree. The bus reads 0
    # while ANY sensor still converts, so both are set to 9 bits.
    c.run("for r in roms: ds.write_scratch(r, b'\\x4b\\x46\\x1f')\n")
    c.run("ds.convert_temp(); t0 = time.ticks_ms(); ow = ds.ow")
    # the sensor holds the line low while it converts (datasheet "CONVERT T [44h]")
    c.run("exec('while not ow.readbit(): pass')")
    waited = int(c.run("print(time.ticks_diff(time.ticks_ms(), t0))"))
    assert 60 <= waited < 400
    value = float(c.run("print(ds.read_temp(roms[0]))"))
    assert value * 2 == int(value * 2)
    assert c.run("print(hex(ds.read_scratch(roms[0])[4]))") == "0x1f"


def test_nothing_wired_scans_empty_and_convert_raises_onewire_error(console):
    console.run("import onewire, ds18x20, machine")
    console.run("ds = ds18x20.DS18X20(onewire.OneWire(machine.Pin(4)))")
    assert console.run("print(ds.scan())") == "[]"
    assert "OneWireError" in console.run("ds.convert_temp()")


def test_a_wrong_device_id_is_refused_with_a_clear_message(tmp_path):
    wiring = _diagram(tmp_path, [("temp1", {"deviceID": "12"})])
    with pytest.raises(UsageError, match="12 hex digits"):
        hardware_from_diagram(load_diagram(wiring))


def test_the_diagram_maps_the_dq_pin_to_its_gpio(tmp_path):
    wiring = _diagram(tmp_path, [("temp1", {"temperature": "19.5"})], pin="D15")
    hw = hardware_from_diagram(load_diagram(wiring))
    dev = next(d for d in hw.devices if d["id"] == "temp1")
    assert dev["type"] == "ds18b20" and dev["gpio"] == 15 and dev["temperature"] == 19.5
    assert not any("temp1" in i for i in hw.ignored)


def test_the_rom_search_finds_every_sensor_even_with_shared_prefixes(tmp_path):
    # serials that differ late and early, so the search has to take several forks
    ids = ["000000000001", "000000000003", "800000000001", "0000000000FF", "7F0000000001"]
    wiring = _diagram(tmp_path, [(f"t{i}", {"deviceID": d}) for i, d in enumerate(ids)])
    with VirtualBoard(flash_dir=tmp_path / "flash", wiring=wiring) as board:
        c = RawConsole(board.port)
        c.friendly()
        c.run("import onewire, machine, json")
        c.run("ow = onewire.OneWire(machine.Pin(4))")
        roms = json.loads(c.run("print(json.dumps([list(r) for r in ow.scan()]))"))
        c.close()
    assert sorted(bytes(r[1:7]).hex().upper() for r in roms) == sorted(ids)
    assert all(_crc8(bytes(r)) == 0 for r in roms)


@pytest.mark.parametrize(
    "board_type,pin,vcc,gpio",
    [("wokwi-pi-pico", "GP15", "3V3", 15), ("iotkit-nodemcu", "D2", "3V3.1", 4)],
)
def test_the_pico_and_the_esp8266_have_the_frozen_drivers_too(tmp_path, board_type, pin, vcc, gpio):
    parts = [
        {"type": board_type, "id": "mcu", "attrs": {}},
        {"type": "wokwi-ds18b20", "id": "temp1", "attrs": {}},
    ]
    connections = [
        ["temp1:DQ", f"mcu:{pin}", "green", []],
        ["temp1:VCC", f"mcu:{vcc}", "red", []],
        ["temp1:GND", "mcu:GND.1", "black", []],
    ]
    wiring = tmp_path / "diagram.json"
    wiring.write_text(json.dumps({"version": 1, "parts": parts, "connections": connections}))
    with VirtualBoard(flash_dir=tmp_path / "flash", wiring=wiring) as board:
        board.set_input("temp1", temperature=18.5)
        c = RawConsole(board.port)
        c.friendly()
        c.run("import onewire, ds18x20, time, machine")
        c.run(f"ds = ds18x20.DS18X20(onewire.OneWire(machine.Pin({gpio})))")
        c.run("roms = ds.scan(); ds.convert_temp(); time.sleep_ms(750)")
        out = c.run("print(len(roms), ds.read_temp(roms[0]))")
        c.close()
    assert out == "1 18.5"
