"""What the virtual board has connected, decided by a Wokwi diagram.json.

The diagram is read with the wiring model; each part we can emulate becomes a plain dict (its
type, GPIO or I2C bus, address) that the MicroPython side (`mpy/_simhw.py`) understands. Parts
we cannot emulate are listed in `ignored` so the caller can say so instead of silently pretending.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from companion_app.boards import Board, load_board
from companion_app.errors import UsageError
from companion_app.wiring.diagram import Diagram, load_diagram, split_endpoint

log = logging.getLogger(__name__)

DEFAULT_WIRING = "default-wiring.json"

# Wokwi part type -> (our device type, signal pin)
_GPIO_PARTS = {
    "wokwi-dht22": ("dht22", "SDA"),
    "wokwi-dht11": ("dht11", "SDA"),
    "iotkit-dht11": ("dht11", "SDA"),
    "wokwi-potentiometer": ("potentiometer", "SIG"),
    "wokwi-slide-potentiometer": ("potentiometer", "SIG"),
    "wokwi-pir-motion-sensor": ("pir", "OUT"),
    "wokwi-servo": ("servo", "PWM"),
    "wokwi-ds18b20": ("ds18b20", "DQ"),
}
# Wokwi part type -> (our device type, default address, attribute holding the address)
_I2C_PARTS = {
    "iotkit-bme280": ("bme280", 0x76, "address"),
    "board-bmp180": ("bmp180", 0x77, "address"),
    "board-ssd1306": ("ssd1306", 0x3C, "i2cAddress"),
    "wokwi-mpu6050": ("mpu6050", 0x68, "address"),
}


@dataclass
class Hardware:
    board: Board
    devices: list[dict[str, Any]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def to_config(self) -> dict[str, Any]:
        chip = chip_facts(self.board.chip)
        gpios = sorted({p.gpio for p in self.board.pins if p.gpio is not None})
        # Internal GPIOs (flash, onboard LED/button) exist on the chip even if not on a header.
        for entry in self.board.raw.get("internal", ()):
            if isinstance(entry.get("gpio"), int) and entry["gpio"] not in gpios:
                gpios.append(entry["gpio"])
        for extra in (self.board.onboard_button, (self.board.onboard_led or {}).get("gpio")):
            if isinstance(extra, int) and extra not in gpios:
                gpios.append(extra)
        pin_names = {}
        led = self.board.onboard_led or {}
        if isinstance(led.get("gpio"), int):
            pin_names["LED"] = led["gpio"]
        elif led.get("name") == "LED":
            pin_names["LED"] = -1  # on the wireless chip (Pico W): a pin with no GPIO number
            gpios.append(-1)
        # The pin facts come from the board's capability table, the same data the wiring rules
        # read, so the virtual board refuses what `iotkit check` warns about.
        info = {g: self.board.gpio_info(g) for g in gpios}
        return {
            "gpios": sorted(gpios),
            "input_only": [g for g in gpios if info[g].input_only],
            "no_pullup": [g for g in gpios if info[g].exists and not info[g].pull_up],
            "i2c_defaults": {
                str(bus.id): {"scl": bus.pins.get("scl"), "sda": bus.pins.get("sda")}
                for bus in self.board.default_buses("i2c")
            },
            "reset_causes": chip.get("reset_causes", {}),
            # machine.ADC/DAC refuse the pins the real port refuses, from the same capability
            # table; adc_ids says what a bare number in ADC(n) means on this chip.
            "adc_gpios": [g for g in gpios if info[g].adc is not None],
            "dac_gpios": [g for g in gpios if info[g].dac is not None],
            "adc_ids": chip.get("adc_ids"),
            "pin_names": pin_names,
            "devices": self.devices,
        }


def chip_facts(chip: str) -> dict[str, Any]:
    chips_file = resources.files("companion_app.boards").joinpath("chips.json")
    data = json.loads(chips_file.read_text("utf-8"))
    return data.get(chip, {})


def _gpio_through_resistor(diagram: Diagram, part_id: str, pin: str) -> int | None:
    """The GPIO behind a part pin, directly or through one series resistor (LED wiring)."""
    gpio = diagram.gpio_of(part_id, pin)
    if gpio is not None:
        return gpio
    for endpoint in diagram.net_of(f"{part_id}:{pin}"):
        rid, rpin = split_endpoint(endpoint)
        part = diagram.part(rid)
        if part is not None and part.type == "wokwi-resistor" and rpin in ("1", "2"):
            other = "2" if rpin == "1" else "1"
            gpio = diagram.gpio_of(rid, other)
            if gpio is not None:
                return gpio
    return None


def hardware_from_diagram(diagram: Diagram, board_id: str | None = None) -> Hardware:
    board = diagram.board
    if board_id is not None and (board is None or board.id != board_id):
        requested = load_board(board_id)
        if board is not None:
            log.warning(
                "%s wires a %s, but the virtual board is a %s; using the diagram's pins by name",
                diagram.source,
                board.id,
                requested.id,
            )
        board = board or requested
    if board is None:
        raise UsageError(
            f"{diagram.source} has no board part the virtual board knows. Add one such as "
            "wokwi-esp32-devkit-v1 or wokwi-pi-pico (see `iotkit boards`)."
        )
    hw = Hardware(board=board)
    for part in diagram.parts:
        if part.id == diagram.board_part_id:
            continue
        if part.type in _GPIO_PARTS:
            kind, pin = _GPIO_PARTS[part.type]
            gpio = diagram.gpio_of(part.id, pin)
            if gpio is None:
                hw.ignored.append(f"{part.id} ({part.type}): its {pin} pin reaches no GPIO")
                continue
            device: dict[str, Any] = {"id": part.id, "type": kind, "gpio": gpio}
            if kind == "ds18b20":
                device.update(_ds18b20_attrs(part.id, part.attrs))
            hw.devices.append(device)
        elif part.type == "wokwi-pushbutton":
            _add_button(diagram, part.id, hw)
        elif part.type == "wokwi-led":
            gpio = _gpio_through_resistor(diagram, part.id, "A")
            active_low = False
            if gpio is None:
                gpio = _gpio_through_resistor(diagram, part.id, "C")
                active_low = True
            if gpio is not None:
                hw.devices.append(
                    {"id": part.id, "type": "led", "gpio": gpio, "active_low": active_low}
                )
        elif part.type in _I2C_PARTS:
            kind, default_addr, attr = _I2C_PARTS[part.type]
            sda = diagram.gpio_of(part.id, "SDA")
            scl = diagram.gpio_of(part.id, "SCL")
            if sda is None or scl is None:
                hw.ignored.append(f"{part.id} ({part.type}): SDA/SCL are not both wired to GPIOs")
                continue
            addr = part.attrs.get(attr, default_addr)
            if isinstance(addr, str):
                addr = int(addr, 0)
            if kind == "mpu6050" and diagram.power_of(part.id, "AD0") not in (None, "GND"):
                addr = 0x69
            hw.devices.append(
                {
                    "id": part.id,
                    "type": kind,
                    "bus": "i2c",
                    "sda": sda,
                    "scl": scl,
                    "address": int(addr),
                }
            )
        elif part.type not in ("wokwi-resistor",) and not part.type.startswith("wokwi-breadboard"):
            hw.ignored.append(f"{part.id} ({part.type}): not emulated by the virtual board")
    _add_onboard(board, hw)
    return hw


def _ds18b20_attrs(part_id: str, attrs: dict[str, Any]) -> dict[str, Any]:
    """The 1-Wire identity and start temperature Wokwi's DS18B20 takes from its attributes.

    Wokwi documents `deviceID` (12 hex digits), `familyCode` (hex, "28") and `temperature`
    ("22"), https://docs.wokwi.com/parts/wokwi-ds18b20. A part without a deviceID gets a serial
    made from its id on the board side, so two sensors on one bus never share a ROM code.
    """
    out: dict[str, Any] = {}
    serial = str(attrs.get("deviceID", "")).strip()
    if serial:
        if len(serial) != 12 or any(c not in "0123456789abcdefABCDEF" for c in serial):
            raise UsageError(
                f"The DS18B20 {part_id!r} has deviceID {serial!r}; Wokwi expects 12 hex digits "
                "such as 010203040506."
            )
        out["serial"] = serial
    try:
        out["family"] = int(str(attrs.get("familyCode", "28")), 16)
        out["temperature"] = float(attrs.get("temperature", 22.0))
    except ValueError:
        raise UsageError(
            f"The DS18B20 {part_id!r} has a familyCode or temperature that is not a number; "
            'use for example "28" and "22".'
        ) from None
    return out


def _add_button(diagram: Diagram, part_id: str, hw: Hardware) -> None:
    # A pushbutton's 1.l/1.r are one side, 2.l/2.r the other; one side goes to a GPIO.
    sides = (("1.l", "1.r"), ("2.l", "2.r"))
    for side, other_side in (sides, sides[::-1]):
        gpio = next((g for g in (diagram.gpio_of(part_id, p) for p in side) if g is not None), None)
        if gpio is None:
            continue
        supply = next(
            (s for s in (diagram.power_of(part_id, p) for p in other_side) if s is not None), None
        )
        hw.devices.append(
            {
                "id": part_id,
                "type": "button",
                "gpio": gpio,
                "other": "GND" if supply == "GND" else ("VCC" if supply else None),
            }
        )
        return
    hw.ignored.append(f"{part_id} (wokwi-pushbutton): neither side reaches a GPIO")


def _add_onboard(board: Board, hw: Hardware) -> None:
    """The BOOT button and the LED soldered on the board are always there."""
    used = {d.get("gpio") for d in hw.devices}
    if board.onboard_button is not None and board.onboard_button not in used:
        # Dev boards pull the BOOT pin up with a resistor and the button shorts it to GND.
        hw.devices.append(
            {
                "id": "boot",
                "type": "button",
                "gpio": board.onboard_button,
                "other": "GND",
                "external_pullup": True,
            }
        )
    led = board.onboard_led or {}
    if isinstance(led.get("gpio"), int) and led["gpio"] not in used:
        hw.devices.append({"id": "onboard-led", "type": "led", "gpio": led["gpio"]})


def _default_wiring() -> Any:
    """The default wiring (a DHT22 on the board its diagram names: the default board)."""
    wiring_file = resources.files("companion_app.simulator").joinpath(DEFAULT_WIRING)
    return load_diagram(json.loads(wiring_file.read_text("utf-8")))


def load_hardware(wiring: str | None, board_id: str | None) -> Hardware:
    """The virtual board's hardware: the given diagram, or the default wiring for the board."""
    if wiring is not None:
        return hardware_from_diagram(load_diagram(wiring), board_id)
    default = _default_wiring()
    if board_id is None or (default.board is not None and board_id == default.board.id):
        return hardware_from_diagram(default, board_id)
    # Other boards with no wiring file: only what is soldered on the board.
    hw = Hardware(board=load_board(board_id))
    _add_onboard(hw.board, hw)
    return hw
