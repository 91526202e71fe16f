# Emulated `dht` module. Runs inside MicroPython (the unix port).
#
# A DHT sensor wired to the pin (per the wiring file) produces the five bytes a real one sends;
# the driver class decodes them with its own format, so a DHT11 object reading a DHT22 gets the
# same nonsense a real board would. Nothing wired: OSError(ETIMEDOUT), as on a real board.
import errno
import _simhw

_MODELS = ("dht11", "dht22")


def _sensor_bytes(dev):
    i = dev["id"]
    temp = _simhw.reading(i, "temperature", 22.5, 1.5, 600, 0.1)
    hum = min(99.9, max(0.0, _simhw.reading(i, "humidity", 45.0, 6.0, 900, 0.3, 1.0)))
    if dev["type"] == "dht22":
        h = int(round(hum * 10))
        t = int(round(abs(temp) * 10))
        b = [h >> 8, h & 0xFF, (t >> 8) | (0x80 if temp < 0 else 0), t & 0xFF]
    else:  # DHT11: whole degrees and percent, 0..50 C
        t = int(max(0, min(50, temp)))
        b = [int(hum), 0, t, int((temp - t) * 10) if temp > 0 else 0]
    b.append(sum(b) & 0xFF)
    return bytes(b)


class DHTBase:
    def __init__(self, pin):
        self.pin = pin
        self.buf = bytearray(5)

    def measure(self):
        gpio = self.pin._gpio
        devs = _simhw.devices_on(gpio, _MODELS)
        if not devs:
            raise OSError(errno.ETIMEDOUT)
        buf = _sensor_bytes(devs[0])
        if (buf[0] + buf[1] + buf[2] + buf[3]) & 0xFF != buf[4]:
            raise Exception("checksum error")
        self.buf[:] = buf


class DHT11(DHTBase):
    def humidity(self):
        return self.buf[0]

    def temperature(self):
        return self.buf[2]


# The unix port computes in double precision, where 224 * 0.1 prints as 22.400000000000002;
# a board's single-precision float prints 22.4, so round to what the sensor resolves.
class DHT22(DHTBase):
    def humidity(self):
        return round((self.buf[0] << 8 | self.buf[1]) * 0.1, 1)

    def temperature(self):
        t = round(((self.buf[2] & 0x7F) << 8 | self.buf[3]) * 0.1, 1)
        if self.buf[2] & 0x80:
            t = -t
        return t
