# `onewire` as the official ESP32, ESP8266 and RP2 firmware freeze it (micropython-lib
# "onewire", required by ports/*/boards/manifest.py of v1.28): a Python class over the C module
# `_onewire`. Runs inside MicroPython (the unix port); our `_onewire` emulates the bus, so this
# layer only has to offer the same names and behave the same (written here, not copied).
import _onewire


class OneWireError(Exception):
    pass


class OneWire:
    SEARCH_ROM = 0xF0
    MATCH_ROM = 0x55
    SKIP_ROM = 0xCC

    def __init__(self, pin):
        # The firmware drives the data line open-drain with the internal pull-up on.
        self.pin = pin
        self.pin.init(pin.OPEN_DRAIN, pin.PULL_UP)

    def reset(self, required=False):
        present = _onewire.reset(self.pin)
        if required and not present:
            raise OneWireError
        return present

    def readbit(self):
        return _onewire.readbit(self.pin)

    def readbyte(self):
        return _onewire.readbyte(self.pin)

    def readinto(self, buf):
        for i in range(len(buf)):
            buf[i] = _onewire.readbyte(self.pin)

    def writebit(self, value):
        return _onewire.writebit(self.pin, value)

    def writebyte(self, value):
        return _onewire.writebyte(self.pin, value)

    def write(self, buf):
        for byte in buf:
            _onewire.writebyte(self.pin, byte)

    def select_rom(self, rom):
        self.reset()
        self.writebyte(self.MATCH_ROM)
        self.write(rom)

    def scan(self):
        """Every ROM code on the bus, found with the 1-Wire binary search (SEARCH ROM)."""
        found = []
        last_fork = 65
        rom = False
        for _ in range(0xFF):
            rom, last_fork = self._search_rom(rom, last_fork)
            if rom:
                found.append(rom)
            if last_fork == 0:
                break
        return found

    def _search_rom(self, previous, last_fork):
        if not self.reset():
            return None, 0
        self.writebyte(self.SEARCH_ROM)
        if not previous:
            previous = bytearray(8)
        rom = bytearray(8)
        next_fork = 0
        bit_no = 64
        for byte_no in range(8):
            value = 0
            for bit in range(8):
                first = self.readbit()
                second = self.readbit()
                if first and second:  # nobody answered: the search ends with nothing
                    return None, 0
                if not first and not second:  # a fork: devices differ at this bit
                    # Take 1 past the last fork, 0 at it, and repeat the previous ROM before
                    # it; a 1 taken is a fork the next pass still has to try with 0.
                    took_one = previous[byte_no] & (1 << bit)
                    if last_fork > bit_no or (took_one and last_fork != bit_no):
                        first = 1
                        next_fork = bit_no
                self.writebit(first)
                if first:
                    value |= 1 << bit
                bit_no -= 1
            rom[byte_no] = value
        return rom, next_fork

    def crc8(self, data):
        return _onewire.crc8(data)
