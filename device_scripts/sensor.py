# sensor.py - read a DHT22, DHT11 or BME280 and print plot-friendly lines.
#
# From the REPL:            import sensor, config
#                           sensor.read(config.load())  ->  {'temp_c': 22.5, 'humidity': 41.0}
# From main.py (a task):    asyncio.create_task(sensor.run(cfg))
#
# Every interval_s, run() prints one line such as   temp_c:22.5,humidity:41.0
# Thonny's plotter and `iotkit plot` turn each name:value pair into a line on the chart.
# Other programs (web, mqtt, logger) read the newest values from `sensor.latest`.
import errno
import time
import asyncio
import machine

# What the datasheets allow: a DHT22 gives a new value at most every 2 s, a DHT11 every 1 s.
# Reading faster returns old or failing values, so a shorter interval_s is raised to these.
# (config.json may set "min_interval_s" to go lower, e.g. on the virtual board in tests.)
MIN_INTERVAL_S = {"dht22": 2.0, "dht11": 1.0, "bme280": 0.1}

BME280_ADDRESSES = (0x76, 0x77)  # 0x76 when its SDO pin is at GND, 0x77 when at 3V3
BME280_CHIP_ID = 0x60
REG_CHIP_ID = 0xD0
REG_CTRL_HUM = 0xF2
REG_STATUS = 0xF3
REG_CTRL_MEAS = 0xF4
REG_DATA = 0xF7  # 8 bytes: pressure (3), temperature (3), humidity (2)
OVERSAMPLE_X1 = 1
MODE_FORCED = 1  # measure once, then sleep: low power and self-heating stays tiny
STATUS_MEASURING = 0x08
MEASURE_TIMEOUT_MS = 50

PLOT_KEYS = ("temp_c", "humidity", "pressure_hpa")  # the order of the printed line

latest = {}  # the newest reading, e.g. {"temp_c": 22.5, "humidity": 41.0}
latest_time = None  # time.ticks_ms() when `latest` was read
error = None  # the last problem as text, or None when the last reading worked

_device = None  # the driver object, made on the first read
_device_key = None


def _signed(value, bits):
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


class BME280:
    """Bosch BME280: temperature, humidity, pressure over I2C (datasheet section 4 and 8.1)."""

    def __init__(self, i2c, address):
        self.i2c, self.address = i2c, address
        # Calibration constants, written into each chip at the factory.
        c = i2c.readfrom_mem(address, 0x88, 24)
        u16 = lambda i: c[i] | c[i + 1] << 8
        s16 = lambda i: _signed(u16(i), 16)
        self.t = (u16(0), s16(2), s16(4))
        self.p = (u16(6),) + tuple(s16(i) for i in range(8, 24, 2))
        h = i2c.readfrom_mem(address, 0xE1, 7)
        self.h = (
            i2c.readfrom_mem(address, 0xA1, 1)[0],  # H1
            _signed(h[0] | h[1] << 8, 16),  # H2
            h[2],  # H3
            _signed(h[3], 8) * 16 | (h[4] & 0x0F),  # H4: 12 bits over two registers
            _signed(h[5], 8) * 16 | (h[4] >> 4),  # H5
            _signed(h[6], 8),  # H6
        )

    def read(self):
        i2c, a = self.i2c, self.address
        i2c.writeto_mem(a, REG_CTRL_HUM, bytes([OVERSAMPLE_X1]))  # must come before CTRL_MEAS
        meas = OVERSAMPLE_X1 << 5 | OVERSAMPLE_X1 << 2 | MODE_FORCED  # temperature, pressure
        i2c.writeto_mem(a, REG_CTRL_MEAS, bytes([meas]))
        start = time.ticks_ms()
        while i2c.readfrom_mem(a, REG_STATUS, 1)[0] & STATUS_MEASURING:
            if time.ticks_diff(time.ticks_ms(), start) > MEASURE_TIMEOUT_MS:
                raise OSError(errno.ETIMEDOUT)  # the chip never finished measuring
            time.sleep_ms(2)
        d = i2c.readfrom_mem(a, REG_DATA, 8)
        adc_p = d[0] << 12 | d[1] << 4 | d[2] >> 4
        adc_t = d[3] << 12 | d[4] << 4 | d[5] >> 4
        adc_h = d[6] << 8 | d[7]
        # The datasheet's compensation formulas (floating-point version, section 8.1).
        t1, t2, t3 = self.t
        var1 = (adc_t / 16384.0 - t1 / 1024.0) * t2
        var2 = (adc_t / 131072.0 - t1 / 8192.0) ** 2 * t3
        t_fine = var1 + var2  # "fine temperature", used by the two other formulas
        p1, p2, p3, p4, p5, p6, p7, p8, p9 = self.p
        var1 = t_fine / 2.0 - 64000.0
        var2 = var1 * var1 * p6 / 32768.0 + var1 * p5 * 2.0
        var2 = var2 / 4.0 + p4 * 65536.0
        var1 = (p3 * var1 * var1 / 524288.0 + p2 * var1) / 524288.0
        var1 = (1.0 + var1 / 32768.0) * p1
        pressure = 0.0
        if var1:  # 0 only with broken calibration data; avoid dividing by zero
            pressure = (1048576.0 - adc_p - var2 / 4096.0) * 6250.0 / var1
            var1 = p9 * pressure * pressure / 2147483648.0
            pressure += (var1 + pressure * p8 / 32768.0 + p7) / 16.0
        h1, h2, h3, h4, h5, h6 = self.h
        x = t_fine - 76800.0
        x = (adc_h - (h4 * 64.0 + h5 / 16384.0 * x)) * (
            h2 / 65536.0 * (1.0 + h6 / 67108864.0 * x * (1.0 + h3 / 67108864.0 * x))
        )
        x = x * (1.0 - h1 * x / 524288.0)
        return {
            "temp_c": round(t_fine / 5120.0, 1),
            "humidity": round(min(100.0, max(0.0, x)), 1),
            "pressure_hpa": round(pressure / 100.0, 1),  # Pa -> hPa
        }


def _make_device(cfg):
    kind = cfg["sensor"]
    if kind in ("dht22", "dht11"):
        import dht

        pin = machine.Pin(cfg["sensor_pin"])
        return dht.DHT22(pin) if kind == "dht22" else dht.DHT11(pin)
    if kind == "bme280":
        # SoftI2C works on any two pins of any board; a sensor needs no more speed.
        i2c = machine.SoftI2C(scl=machine.Pin(cfg["i2c_scl"]), sda=machine.Pin(cfg["i2c_sda"]))
        found = [a for a in i2c.scan() if a in BME280_ADDRESSES]
        if not found:
            raise OSError(errno.ENODEV)  # nothing answers at 0x76 or 0x77
        if i2c.readfrom_mem(found[0], REG_CHIP_ID, 1)[0] != BME280_CHIP_ID:
            raise OSError(errno.ENODEV)  # something else is at that address (a BMP180?)
        return BME280(i2c, found[0])
    raise ValueError("unknown sensor %r in config.json: use dht22, dht11, bme280 or none" % kind)


def read(cfg):
    """One reading as a dict. Raises OSError when the sensor does not answer."""
    global _device, _device_key
    key = (cfg["sensor"], cfg["sensor_pin"], cfg["i2c_sda"], cfg["i2c_scl"])
    if _device is None or _device_key != key:
        _device = None  # if _make_device raises, the next read tries again
        _device, _device_key = _make_device(cfg), key
    if isinstance(_device, BME280):
        return _device.read()
    _device.measure()
    return {"temp_c": float(_device.temperature()), "humidity": float(_device.humidity())}


def plot_line(reading):
    """{'temp_c': 22.5, 'humidity': 41.0} -> 'temp_c:22.5,humidity:41.0'"""
    return ",".join("%s:%s" % (k, reading[k]) for k in PLOT_KEYS if k in reading)


def describe(cfg):
    """Where the sensor should be, in words, e.g. 'DHT22 on GPIO14'."""
    if cfg["sensor"] == "bme280":
        return "BME280 on I2C (SDA GPIO%s, SCL GPIO%s)" % (cfg["i2c_sda"], cfg["i2c_scl"])
    return "%s on GPIO%s" % (cfg["sensor"].upper(), cfg["sensor_pin"])


def interval_s(cfg):
    """interval_s from config.json, raised to the sensor's minimum if it is shorter."""
    wanted = float(cfg["interval_s"])
    minimum = cfg.get("min_interval_s", MIN_INTERVAL_S.get(cfg["sensor"], 0))
    if wanted < minimum:
        print(
            "sensor: warning - a %s needs %s s between readings, so interval_s %s is raised"
            " to that" % (cfg["sensor"].upper(), minimum, wanted)
        )
        return minimum
    return wanted


async def run(cfg):
    """Read every interval_s forever; a failed reading is reported and the loop goes on."""
    global latest_time, error
    if cfg["sensor"] == "none":
        print('sensor: none configured (sensor is "none" in config.json)')
        return
    if cfg["sensor"] not in MIN_INTERVAL_S:
        print(
            "sensor: unknown sensor %r in config.json: use dht22, dht11, bme280 or none"
            % cfg["sensor"]
        )
        return
    wait_ms = int(interval_s(cfg) * 1000)
    while True:
        try:
            reading = read(cfg)
        except OSError as e:  # e.g. [Errno 110] ETIMEDOUT: nothing answered on the pin
            error = "sensor: %s did not answer (OSError: %s)" % (describe(cfg), e)
        except Exception as e:  # e.g. a DHT checksum error: a bad bit on a long wire
            error = "sensor: %s sent a bad reading (read error: %s)" % (describe(cfg), e)
        else:
            latest.clear()  # update in place, so `from sensor import latest` stays current
            latest.update(reading)
            latest_time = time.ticks_ms()
            error = None
            print(plot_line(reading))
        if error:
            print(error, "- check the wiring")
        await asyncio.sleep_ms(wait_ms)
