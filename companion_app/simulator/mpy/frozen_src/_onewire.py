# Emulated `_onewire`, the C module under the official firmware's `onewire.py`. Runs inside
# MicroPython (the unix port).
#
# Why emulate the bus and not the driver: beginners' code and the official drivers talk to the
# sensor through these five primitives (reset, read/write a bit or a byte) plus crc8. Emulating
# the DS18B20 at that level means `onewire.OneWire.scan()`'s ROM search, MATCH/SKIP ROM, CONVERT T
# and READ SCRATCHPAD all go through the same bit exchanges a real bus carries, so hand-written
# 1-Wire code behaves as on a board too.
#
# Steps, per GPIO:
# 1. reset() answers with a presence pulse (True) when a DS18B20 is wired to that GPIO (per the
#    wiring file), and puts every device on the bus into "waiting for a ROM command".
# 2. Bits written are collected LSB first into commands; bits read are the wired-AND of what
#    every selected device drives, and 1 (the pull-up) when no device drives the line.
# 3. CONVERT T latches a new temperature only when the conversion time of the configured
#    resolution has passed (600 ms at 12 bits, within the datasheet's 750 ms maximum); before
#    the first conversion the scratchpad holds the power-on value 85.0 C, as on the real sensor
#    (DS18B20 datasheet, "Operation").
import time
import _simhw

_FAMILY_DS18B20 = 0x28
_POWER_ON_RAW = 0x0550  # 85.0 C, the temperature register after power-up (datasheet Table 1)
_TH_DEFAULT = 0x4B  # factory EEPROM values of TH/TL as shipped (datasheet, scratchpad figure)
_TL_DEFAULT = 0x46
_CONFIG_12BIT = 0x7F
# Max conversion time per resolution bits (datasheet "Configuration Register", Table 2), in ms.
# The emulated sensor finishes at 80 % of it: a real one is done before the maximum, so a program
# that waits exactly the documented maximum (time.sleep_ms(750)) always reads a fresh value.
_CONVERSION_MAX_MS = {9: 94, 10: 188, 11: 375, 12: 750}
_CONVERSION_SHARE = 0.8

_READ_ROM = 0x33
_MATCH_ROM = 0x55
_SKIP_ROM = 0xCC
_SEARCH_ROM = 0xF0
_ALARM_SEARCH = 0xEC
_CONVERT_T = 0x44
_WRITE_SCRATCHPAD = 0x4E
_READ_SCRATCHPAD = 0xBE
_COPY_SCRATCHPAD = 0x48
_RECALL_E2 = 0xB8
_READ_POWER_SUPPLY = 0xB4

_sensors = {}  # device id -> _Sensor (kept across OneWire objects: the sensor keeps its state)
_buses = {}  # gpio -> _Bus


def crc8(data):
    """Dallas/Maxim CRC-8 (polynomial x^8+x^5+x^4+1, reflected): 0 over data plus its CRC."""
    crc = 0
    for byte in bytes(data):
        for _ in range(8):
            mix = (crc ^ byte) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8C
            byte >>= 1
    return crc


def _unhex(text):
    return bytes(int(text[i : i + 2], 16) for i in range(0, len(text), 2))


class _Sensor:
    def __init__(self, dev):
        self.dev = dev
        serial = dev.get("serial")
        if serial:
            serial = _unhex(serial)
        else:
            # No deviceID in the diagram: a distinct, stable serial from the part id.
            h = 0x811C9DC5
            for b in dev["id"].encode():
                h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
            serial = bytes([h & 0xFF, (h >> 8) & 0xFF, (h >> 16) & 0xFF, (h >> 24) & 0xFF, 0, 0])
        rom = bytes([dev.get("family", _FAMILY_DS18B20)]) + serial[:6]
        self.rom = rom + bytes([crc8(rom)])
        self.raw = _POWER_ON_RAW
        self.th = _TH_DEFAULT
        self.tl = _TL_DEFAULT
        self.config = _CONFIG_12BIT
        self.converting_since = None

    def resolution_bits(self):
        return 9 + ((self.config >> 5) & 3)

    def busy(self):
        """True while a conversion runs; a finished one latches its temperature first."""
        if self.converting_since is None:
            return False
        need = int(_CONVERSION_MAX_MS[self.resolution_bits()] * _CONVERSION_SHARE)
        if time.ticks_diff(time.ticks_ms(), self.converting_since) < need:
            return True
        self.converting_since = None
        base = float(self.dev.get("temperature", 22.0))
        temp = _simhw.reading(self.dev["id"], "temperature", base, 0.8, 900, 0.05)
        temp = max(-55.0, min(125.0, float(temp)))
        raw = int(round(temp * 16)) & 0xFFFF
        # Lower resolutions leave the low bits undefined; the sensors in hand read them as 0.
        raw &= ~((1 << (12 - self.resolution_bits())) - 1) & 0xFFFF
        self.raw = raw
        return False

    def scratchpad(self):
        self.busy()
        pad = bytes(
            [self.raw & 0xFF, self.raw >> 8, self.th, self.tl, self.config, 0xFF, 0x0C, 0x10]
        )
        return pad + bytes([crc8(pad)])


def _sensor(dev):
    s = _sensors.get(dev["id"])
    if s is None:
        s = _sensors[dev["id"]] = _Sensor(dev)
    return s


class _Bus:
    """What the devices on one GPIO are doing between two resets."""

    def __init__(self, gpio):
        self.gpio = gpio
        self.idle()

    def idle(self):
        self.state = "idle"  # no reset yet: devices ignore the line
        self.active = []
        self.acc = 0
        self.nbits = 0
        self.tx = None  # bits the selected devices send next: list of per-device byte strings
        self.tx_pos = 0
        self.search_bit = 0
        self.search_phase = 0
        self.written = b""

    def reset(self):
        devs = _simhw.devices_on(self.gpio, ("ds18b20",))
        self.idle()
        self.active = [_sensor(d) for d in devs]
        if self.active:
            self.state = "rom"
        return bool(self.active)

    def _send(self, payloads):
        self.tx = payloads
        self.tx_pos = 0
        self.state = "tx"

    def readbit(self):
        if self.state == "tx":
            i = self.tx_pos
            bit = 1
            for data in self.tx:
                if i < 8 * len(data):
                    bit &= (data[i >> 3] >> (i & 7)) & 1
            self.tx_pos += 1
            return bit
        if self.state == "search":
            bits = [(s.rom[self.search_bit >> 3] >> (self.search_bit & 7)) & 1 for s in self.active]
            if self.search_phase == 0:
                self.search_phase = 1
                return 0 if 0 in bits else 1
            if self.search_phase == 1:
                self.search_phase = 2
                return 0 if 1 in bits else 1
            return 1
        if self.state == "converting":
            return 0 if any(s.busy() for s in self.active) else 1
        if self.state == "power":
            return 1  # powered through VCC, not parasitically
        return 1  # nobody drives the line: the pull-up reads 1

    def writebit(self, value):
        value = 1 if value else 0
        if self.state == "search":
            if self.search_phase == 2:
                i = self.search_bit
                self.active = [s for s in self.active if (s.rom[i >> 3] >> (i & 7)) & 1 == value]
                self.search_bit += 1
                self.search_phase = 0
                if self.search_bit == 64 or not self.active:
                    self.state = "function" if self.active else "idle"
            return
        if self.state == "match":
            i = self.nbits
            self.active = [s for s in self.active if (s.rom[i >> 3] >> (i & 7)) & 1 == value]
            self.nbits += 1
            if self.nbits == 64:
                self.nbits = 0
                self.state = "function" if self.active else "idle"
            return
        if self.state not in ("rom", "function", "write"):
            return  # a write slot while a device sends, or after the transaction: ignored
        self.acc |= value << self.nbits
        self.nbits += 1
        if self.nbits == 8:
            byte, self.acc, self.nbits = self.acc, 0, 0
            self._byte(byte)

    def _byte(self, byte):
        if self.state == "rom":
            if byte == _READ_ROM:
                self._send([s.rom for s in self.active])
            elif byte == _MATCH_ROM:
                self.state = "match"
            elif byte == _SKIP_ROM:
                self.state = "function"
            elif byte == _SEARCH_ROM:
                self.state = "search"
            elif byte == _ALARM_SEARCH:
                # Only sensors whose last reading is outside TH/TL take part.
                self.active = [s for s in self.active if _alarm(s)]
                self.state = "search" if self.active else "idle"
            else:
                self.state = "idle"
        elif self.state == "function":
            if byte == _CONVERT_T:
                now = time.ticks_ms()
                for s in self.active:
                    s.busy()  # latch a conversion that already ended
                    s.converting_since = now
                self.state = "converting"
            elif byte == _READ_SCRATCHPAD:
                self._send([s.scratchpad() for s in self.active])
            elif byte == _WRITE_SCRATCHPAD:
                self.written = b""
                self.state = "write"
            elif byte == _READ_POWER_SUPPLY:
                self.state = "power"
            else:  # COPY SCRATCHPAD, RECALL E2: nothing to emulate beyond a quiet bus
                self.state = "idle"
        elif self.state == "write":
            self.written += bytes([byte])
            if len(self.written) == 3:  # TH, TL, configuration (DS18B20)
                for s in self.active:
                    s.th, s.tl = self.written[0], self.written[1]
                    s.config = (self.written[2] & 0x60) | 0x1F
                self.state = "idle"


def _alarm(sensor):
    sensor.busy()
    t = sensor.raw >> 4 if sensor.raw < 0x8000 else (sensor.raw >> 4) - 4096
    th = sensor.th if sensor.th < 128 else sensor.th - 256
    tl = sensor.tl if sensor.tl < 128 else sensor.tl - 256
    return t >= th or t <= tl


def _bus(pin):
    gpio = pin._gpio
    b = _buses.get(gpio)
    if b is None:
        b = _buses[gpio] = _Bus(gpio)
    return b


def reset(pin):
    return _bus(pin).reset()


def readbit(pin):
    return _bus(pin).readbit()


def readbyte(pin):
    b = _bus(pin)
    value = 0
    for i in range(8):
        value |= b.readbit() << i
    return value


def writebit(pin, value):
    _bus(pin).writebit(value)


def writebyte(pin, value):
    b = _bus(pin)
    value = int(value)
    for _ in range(8):
        b.writebit(value & 1)
        value >>= 1
