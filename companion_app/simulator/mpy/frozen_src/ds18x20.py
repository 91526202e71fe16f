# `ds18x20` as the official ESP32, ESP8266 and RP2 firmware freeze it (micropython-lib
# "ds18x20"): DS18S20/DS1822/DS18B20 over a `onewire.OneWire`. Runs inside MicroPython (the unix
# port). Written here with the same names and results as the frozen driver; the sensor itself is
# emulated below it, in `_onewire`, so the 85.0 power-on value and the 750 ms conversion show.
from micropython import const

_CONVERT = const(0x44)
_RD_SCRATCH = const(0xBE)
_WR_SCRATCH = const(0x4E)
_FAMILIES = (0x10, 0x22, 0x28)  # DS18S20, DS1822, DS18B20


class DS18X20:
    def __init__(self, onewire):
        self.ow = onewire
        self.buf = bytearray(9)

    def scan(self):
        return [rom for rom in self.ow.scan() if rom[0] in _FAMILIES]

    def convert_temp(self):
        # Every sensor on the bus starts converting; none there raises onewire.OneWireError.
        self.ow.reset(True)
        self.ow.writebyte(self.ow.SKIP_ROM)
        self.ow.writebyte(_CONVERT)

    def read_scratch(self, rom):
        self.ow.reset()
        self.ow.select_rom(rom)
        self.ow.writebyte(_RD_SCRATCH)
        self.ow.readinto(self.buf)
        if self.ow.crc8(self.buf):
            raise Exception("CRC error")
        return self.buf

    def write_scratch(self, rom, buf):
        self.ow.select_rom(rom)
        self.ow.writebyte(_WR_SCRATCH)
        self.ow.write(buf)

    def read_temp(self, rom):
        buf = self.read_scratch(rom)
        if rom[0] == 0x10:  # DS18S20: half degrees plus COUNT_REMAIN for more resolution
            whole = buf[0] >> 1
            if buf[1]:
                whole -= 128
            return whole - 0.25 + (buf[7] - buf[6]) / buf[7]
        if rom[0] in (0x22, 0x28):
            raw = buf[1] << 8 | buf[0]
            if raw & 0x8000:
                raw -= 0x10000
            return raw / 16
        return None
