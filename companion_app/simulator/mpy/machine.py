# Emulated `machine` module for the virtual board. Runs inside MicroPython (the unix port).
#
# It behaves like the ESP32/RP2 ports where a beginner would notice: invalid pins raise the same
# errors, a button wired to GND reads 1 with PULL_UP and 0 when pressed, I2C devices answer
# scan() and register reads at their address, and reset() reboots the board.
import sys
import errno
import os as _host_os  # the unix port's own os (the board's, _simos, has no system())
import _simhw
import _simtime  # registers itself as `time`: the board's clock, epoch and ticks period
import _simmicropython  # registers itself as `micropython`
import time

_EXIT_SOFT_FRIENDLY = 40
_EXIT_HARD = 42
_EXIT_DEEPSLEEP = 43

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

# machine.freq(): the values the port accepts, from the board's "micropython" profile, else the
# ports' own lists (ports/esp32/modmachine.c, ports/esp8266/modmachine.c at v1.28.0). The rp2
# port takes any frequency its PLL can make, so it has no list here.
_MHZ = 1000000
_FREQS_DEFAULT = {
    "esp32": (20 * _MHZ, 40 * _MHZ, 80 * _MHZ, 160 * _MHZ, 240 * _MHZ),
    "esp32s2": (20 * _MHZ, 40 * _MHZ, 80 * _MHZ, 160 * _MHZ, 240 * _MHZ),
    "esp32s3": (20 * _MHZ, 40 * _MHZ, 80 * _MHZ, 160 * _MHZ, 240 * _MHZ),
    "esp32c3": (20 * _MHZ, 40 * _MHZ, 80 * _MHZ, 160 * _MHZ),
    "esp32c6": (20 * _MHZ, 40 * _MHZ, 80 * _MHZ, 160 * _MHZ),
    "esp8266": (80 * _MHZ, 160 * _MHZ),
}
_FREQ_BOOT_DEFAULT = {"esp8266": 80 * _MHZ, "rp2040": 125 * _MHZ, "rp2350": 150 * _MHZ}
_CHIP = _simhw.board.get("chip", "esp32")
_PROFILE = _simhw.cfg.get("micropython", {})
_freq = [_PROFILE.get("freq_hz", _FREQ_BOOT_DEFAULT.get(_CHIP, 160 * _MHZ))]


def reset():
    sys.exit(_EXIT_HARD)


def soft_reset():
    sys.exit(_EXIT_SOFT_FRIENDLY)


def reset_cause():
    # What the chip's reset reason maps to, per port (chips.json); a soft reboot keeps it.
    causes = _simhw.cfg["hardware"].get("reset_causes", {})
    return causes.get(_simhw.cfg.get("cause"), PWRON_RESET)


def unique_id():
    given = _simhw.board.get("unique_id")  # the host's, one per board of a virtual classroom
    if given:
        import binascii

        return binascii.unhexlify(given)
    seed = _simhw.board.get("id", "board").encode()
    h = 0x2F
    out = bytearray()
    for i in range(6):
        for b in seed:
            h = (h * 31 + b + i) & 0xFF
        out.append(h)
    return bytes(out)


def _freq_error(valid):
    mhz = ["%dMHz" % (f // _MHZ) for f in valid]
    listed = " or ".join(mhz) if len(mhz) < 3 else ", ".join(mhz[:-1]) + " or " + mhz[-1]
    if _CHIP == "esp8266":
        return "frequency can only be either " + listed
    return "frequency must be " + listed


def freq(hz=None):
    if hz is None:
        return _freq[0]
    hz = int(hz)
    valid = _PROFILE.get("freqs_hz", _FREQS_DEFAULT.get(_CHIP))
    if valid:
        # The ports compare whole MHz (hz // 1000000), as here.
        mhz = hz // _MHZ
        if mhz not in [f // _MHZ for f in valid]:
            raise ValueError(_freq_error(valid))
        hz = mhz * _MHZ
    elif _CHIP.startswith("rp2") and not _rp2_pll_can_make(hz // 1000):
        raise ValueError("cannot change frequency")
    _freq[0] = hz


# The rp2 port asks the Pico SDK's set_sys_clock_khz(hz // 1000), which succeeds only for a
# frequency the PLL makes exactly: a 12 MHz crystal times a feedback divider, with the VCO at
# 750-1600 MHz, divided by two post dividers of 1-7 (pico-sdk src/rp2_common/hardware_clocks,
# check_sys_clock_khz).
_RP2_XOSC_KHZ = 12000
_RP2_VCO_KHZ = (750000, 1600000)


def _rp2_pll_can_make(khz):
    if khz <= 0:
        return False
    for fbdiv in range(_RP2_VCO_KHZ[0] // _RP2_XOSC_KHZ, _RP2_VCO_KHZ[1] // _RP2_XOSC_KHZ + 1):
        vco = fbdiv * _RP2_XOSC_KHZ
        if not _RP2_VCO_KHZ[0] <= vco <= _RP2_VCO_KHZ[1]:
            continue
        for pd1 in range(1, 8):
            for pd2 in range(1, pd1 + 1):
                if vco == khz * pd1 * pd2:
                    return True
    return False


def idle():
    time.sleep_ms(1)


def lightsleep(ms=None):
    if ms:
        time.sleep_ms(ms)


def deepsleep(ms=None):
    if ms:
        time.sleep_ms(ms)
    sys.exit(_EXIT_DEEPSLEEP)


def disable_irq():
    return 0


def enable_irq(state=0):
    pass


def bootloader(*args):
    raise OSError(errno.EPERM)


def _resolve_gpio(pin_id):
    if isinstance(pin_id, Pin):
        return pin_id._gpio
    if isinstance(pin_id, str):
        if pin_id in _simhw.pin_names:
            return _simhw.pin_names[pin_id]
        if pin_id.upper().startswith("GPIO") and pin_id[4:].isdigit():
            pin_id = int(pin_id[4:])
        elif pin_id.upper().startswith("GP") and pin_id[2:].isdigit():
            pin_id = int(pin_id[2:])
        else:
            raise ValueError('unknown named pin "%s"' % pin_id)
    if not isinstance(pin_id, int) or pin_id not in _simhw.gpios:
        raise ValueError("invalid pin")
    return pin_id


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    ALT = 2
    PULL_DOWN = 1
    PULL_UP = 2
    PULL_HOLD = 4
    IRQ_RISING = 1
    IRQ_FALLING = 2
    IRQ_LOW_LEVEL = 4
    IRQ_HIGH_LEVEL = 5
    WAKE_LOW = 4
    WAKE_HIGH = 5
    DRIVE_0 = 0
    DRIVE_1 = 1
    DRIVE_2 = 2
    DRIVE_3 = 3

    _outputs = {}

    def __init__(self, id, mode=-1, pull=-1, *, value=None, drive=None, alt=None, hold=None):
        self._gpio = _resolve_gpio(id)
        self._name = id if isinstance(id, str) else None
        self._mode = Pin.IN
        self._pull = None
        self._irq = None
        self._irq_obj = None
        self._flags = 0
        self._last = None
        self.init(mode, pull, value=value)

    def init(self, mode=-1, pull=-1, *, value=None, drive=None, alt=None, hold=None):
        if mode != -1 and mode is not None:
            if mode in (Pin.OUT, Pin.OPEN_DRAIN) and self._gpio in _simhw.input_only:
                raise ValueError("pin can only be input")
            self._mode = mode
        if pull != -1:
            if pull is not None and self._gpio in _simhw.no_pullup:
                # The chip has no pull resistor here; the real port silently ignores it, and
                # the wiring check (iotkit check) reports it as no-internal-pullup.
                pull = None
            self._pull = pull
        if value is not None:
            self.value(value)
        return None

    def _level(self):
        g = self._gpio
        if self._mode in (Pin.OUT, Pin.OPEN_DRAIN) and g in Pin._outputs:
            return Pin._outputs[g]
        for d in _simhw.devices_on(g, ("button",)):
            pressed = _simhw.device_input(d["id"], "pressed", False)
            if pressed:
                return 0 if d.get("other") == "GND" else 1
        for d in _simhw.devices_on(g, ("pir", "digital")):
            return 1 if _simhw.device_input(d["id"], "value", 0) else 0
        if self._pull == Pin.PULL_UP:
            return 1
        if self._pull == Pin.PULL_DOWN:
            return 0
        for d in _simhw.devices_on(g, ("button",)):
            return 1 if d.get("other") == "GND" and d.get("external_pullup") else 0
        return 0  # floating: a real pin would read noise; 0 is what most boards show

    def value(self, v=None):
        if v is None:
            level = self._level()
            self._check_irq(level)
            return level
        Pin._outputs[self._gpio] = 1 if v else 0
        return None

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def toggle(self):
        self.value(0 if Pin._outputs.get(self._gpio, 0) else 1)

    def low(self):
        self.value(0)

    def high(self):
        self.value(1)

    def irq(self, *args, **kw):
        # As on the ports, irq() with no arguments only returns the pin's IRQ object.
        if args or kw:
            self._irq_init(*args, **kw)
        if self._irq_obj is None:
            self._irq_obj = (_PinIRQFlags if _CHIP.startswith("rp2") else _PinIRQ)(self)
        return self._irq_obj

    def _irq_init(
        self, handler=None, trigger=IRQ_FALLING | IRQ_RISING, *, priority=1, wake=None, hard=False
    ):
        self._irq = (handler, trigger)
        self._last = self._level()
        _watch(self)

    def _check_irq(self, level):
        if not self._irq or self._last is None:
            self._last = level
            return
        handler, trigger = self._irq
        if self._last == 1 and level == 0:
            fire = trigger & Pin.IRQ_FALLING
        elif self._last == 0 and level == 1:
            fire = trigger & Pin.IRQ_RISING
        else:
            fire = 0
        self._last = level
        if fire:
            self._flags = fire
            if handler:
                handler(self)

    def mode(self, m=None):
        if m is None:
            return self._mode
        self.init(m)

    def pull(self, p=None):
        if p is None:
            return self._pull
        self.init(pull=p)

    def __repr__(self):
        if self._name is not None and not str(self._name).startswith("GP"):
            return "Pin(%s)" % self._name
        return "Pin(%d)" % self._gpio


class _PinIRQ:
    """What Pin.irq() returns on the ports: trigger() reads (and sets) the trigger, calling it runs
    the handler; the rp2 port's object (shared/runtime/mpirq.c) also has flags(), the edge that
    fired last. Code that keeps calling Pin methods on irq()'s result fails here as there."""

    def __init__(self, pin):
        self._pin = pin

    def trigger(self, new=None):
        handler, old = self._pin._irq or (None, 0)
        if new is not None:
            self._pin._irq = (handler, new)
        return old

    def __call__(self):
        handler = (self._pin._irq or (None, 0))[0]
        if handler:
            handler(self._pin)


class _PinIRQFlags(_PinIRQ):
    def flags(self):
        return self._pin._flags


# The unix port has no interrupts of its own. Once a pin has an IRQ, a helper thread asks the
# main thread every IRQ_POLL_MS, through micropython.schedule() (as a real port runs a soft IRQ),
# to look at the watched pins; an edge calls the handler there. The thread only schedules, so
# no Python state is shared between threads. A pin's value() read checks for an edge too.
IRQ_POLL_MS = 10
_watched = []
_ticker = []


def _watch(pin):
    if pin not in _watched:
        _watched.append(pin)
    if not _ticker:
        import _thread

        _ticker.append(False)  # True while a poll is scheduled
        _thread.start_new_thread(_irq_ticker, ())


def _irq_ticker():
    import micropython

    while True:
        time.sleep_ms(IRQ_POLL_MS)
        if _ticker[0]:
            continue  # the last poll has not run yet: one in the queue is enough
        try:
            _ticker[0] = True
            micropython.schedule(_poll_irqs, None)
        except RuntimeError:
            _ticker[0] = False  # the queue is full (user code scheduled work): try later


def _poll_irqs(_arg=None):
    _ticker[0] = False
    for p in _watched:
        p._check_irq(p._level())


class Signal:
    def __init__(self, pin, *args, invert=False, **kw):
        self._pin = pin if isinstance(pin, Pin) else Pin(pin, *args, **kw)
        self._invert = invert

    def value(self, v=None):
        if v is None:
            return self._pin.value() ^ self._invert
        self._pin.value((1 if v else 0) ^ self._invert)

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_9BIT = 0
    WIDTH_10BIT = 1
    WIDTH_11BIT = 2
    WIDTH_12BIT = 3
    CORE_TEMP = 4

    def __init__(self, pin, *, atten=None):
        self._gpio, self._internal = _adc_source(pin)
        self._atten = atten if atten is not None else ADC.ATTN_0DB
        self._bits = 10 if _CHIP == "esp8266" else 12

    def atten(self, a):
        self._atten = a

    def width(self, w):
        self._bits = 9 + w

    def _fraction(self):
        if self._internal:
            return INTERNAL_ADC_FRACTION
        for d in _simhw.devices_on(self._gpio, ("potentiometer", "analog")):
            v = _simhw.device_input(d["id"], "value", None)
            if v is None:
                v = 0.5 + 0.02 * _simhw.wave(d["id"], 0, 1, 30, 0.2)
            return min(1.0, max(0.0, v))
        return max(0.0, _simhw.wave("adc%d" % self._gpio, 0.05, 0.03, 7, 0.02))  # floating pin

    def read_u16(self):
        return int(self._fraction() * 65535)

    def read(self):
        return int(self._fraction() * ((1 << self._bits) - 1))

    def read_uv(self):
        full_scale = (1100000, 1500000, 2200000, 3300000)[self._atten & 3]
        return int(self._fraction() * full_scale)


# What an internal ADC source reads (the rp2 temperature sensor at about 27 C, the ESP8266's
# supply): a steady mid-scale value; only its presence matters to a program.
INTERNAL_ADC_FRACTION = 0.27


def _adc_source(pin):
    """(gpio, internal) for ADC(pin), refusing what the port refuses.

    - esp32*: a Pin or a GPIO number (machine_pin_find), which must be an ADC pin: "invalid pin".
    - esp8266: a channel only; 0 is the A0 pin, 1 the chip's supply: "ADC(n) doesn't exist".
    - rp2: an int below the channel count is a channel (0-3 = GPIO26-29, the last the temperature
      sensor), anything else a pin that must have an ADC: "Pin doesn't have ADC capabilities".
    The meaning of a bare number comes from chips.json's adc_ids, as `iotkit check` reads it.
    """
    hw = _simhw.cfg["hardware"]
    ids = hw.get("adc_ids") or {}
    channels = ids.get("channels") or {}
    meaning = ids.get("meaning")
    if meaning == "channel":
        if isinstance(pin, Pin) or str(pin) not in channels:
            raise ValueError("ADC(%s) doesn't exist" % (pin,))
        entry = channels[str(pin)]
        return _simhw.pin_names.get(entry.get("pin"), -1), "internal" in entry
    if meaning == "channel-or-gpio" and isinstance(pin, int) and str(pin) in channels:
        entry = channels[str(pin)]
        return entry.get("gpio", -1), "internal" in entry
    gpio = _resolve_gpio(pin)
    if gpio not in hw.get("adc_gpios", ()):
        if meaning == "channel-or-gpio":
            raise ValueError("Pin doesn't have ADC capabilities")
        raise ValueError("invalid pin")
    return gpio, False


class DAC:
    """The ESP32's two 8-bit DACs (GPIO25/26; GPIO17/18 on the S2), ports/esp32/machine_dac.c.
    Removed below on chips without one, where machine.DAC does not exist."""

    def __init__(self, pin, bits=8):
        gpio = _resolve_gpio(pin)
        if gpio not in _simhw.cfg["hardware"].get("dac_gpios", ()):
            raise ValueError("invalid Pin for DAC")
        self._gpio = gpio
        self._value = 0

    def write(self, value):
        if not 0 <= value <= 255:
            raise ValueError("value out of range")
        self._value = value
        Pin._outputs[self._gpio] = 1 if value >= 128 else 0


if not _simhw.cfg["hardware"].get("dac_gpios"):
    del DAC


class mem:
    """machine.mem8/16/32 (extmod/machine_mem.c): aligned reads and writes of registers. The
    virtual chip has no registers, so it remembers what was written and reads 0 elsewhere
    (never the host's own memory, which the unix port's mem32 would touch). The class is named
    `mem` and checks its index as the C type does, so repr() and the errors are the board's."""

    def __init__(self, width):
        self._width = width
        self._mask = (1 << (8 * width)) - 1

    def __repr__(self):
        return "<%d-bit memory>" % (8 * self._width)

    def _addr(self, addr):
        addr = _truncated_int(addr) & 0xFFFFFFFF
        if addr & (self._width - 1):
            raise ValueError("address %08x is not aligned to %d bytes" % (addr, self._width))
        return addr

    def __getitem__(self, addr):
        return _mem.get((self._width, self._addr(addr)), 0)

    def __setitem__(self, addr, value):
        _mem[(self._width, self._addr(addr))] = _truncated_int(value) & self._mask

    def __delitem__(self, addr):
        raise TypeError("'mem' object doesn't support item deletion")


def _truncated_int(value):
    # mp_obj_get_int_truncated(): an int (or bool) only; a str, a float or a slice is a TypeError
    # (int("0x10") style parsing would accept what the board refuses).
    if not isinstance(value, int):
        raise TypeError("can't convert %s to int" % type(value).__name__)
    return value


_mem = {}
mem8 = mem(1)
mem16 = mem(2)
mem32 = mem(4)
del mem  # the type is not a name in the board's machine module


class PWM:
    def __init__(self, pin, freq=None, duty=None, *, duty_u16=None, duty_ns=None, invert=False):
        self._pin = pin if isinstance(pin, Pin) else Pin(pin)
        if self._pin._gpio in _simhw.input_only:
            raise ValueError("pin can only be input")
        self._freq = 5000
        self._duty_u16 = 32768
        self.init(freq=freq, duty=duty, duty_u16=duty_u16, duty_ns=duty_ns)

    def init(self, *, freq=None, duty=None, duty_u16=None, duty_ns=None):
        if freq is not None:
            self.freq(freq)
        if duty is not None:
            self.duty(duty)
        if duty_u16 is not None:
            self.duty_u16(duty_u16)
        if duty_ns is not None:
            self.duty_ns(duty_ns)

    def freq(self, f=None):
        if f is None:
            return self._freq
        if not 1 <= f <= 40000000:
            raise ValueError("frequency must be from 1Hz to 40MHz")
        self._freq = int(f)

    # The esp32 port refuses a duty out of range (ports/esp32/machine_pwm.c, v1.28.0); other
    # ports clamp it.
    def duty(self, d=None):
        if d is None:
            return self._duty_u16 * 1023 // 65535
        if _CHIP.startswith("esp32") and not 0 <= int(d) <= 1023:
            raise ValueError("duty must be from 0 to 1023")
        self._duty_u16 = max(0, min(1023, int(d))) * 65535 // 1023

    def duty_u16(self, d=None):
        if d is None:
            return self._duty_u16
        if _CHIP.startswith("esp32") and not 0 <= int(d) <= 65535:
            raise ValueError("duty_u16 must be from 0 to 65536")
        self._duty_u16 = max(0, min(65535, int(d)))

    def duty_ns(self, ns=None):
        period_ns = 1000000000 // self._freq
        if ns is None:
            return self._duty_u16 * period_ns // 65535
        self._duty_u16 = max(0, min(65535, int(ns) * 65535 // period_ns))

    def deinit(self):
        pass


# ---- I2C ------------------------------------------------------------------------------------


class _RegisterDevice:
    """An I2C device as a register map: write sets the register pointer, reads auto-increment."""

    def __init__(self, spec):
        self.spec = spec
        self.address = spec["address"]
        self.regs = bytearray(256)
        self.ptr = 0

    def refresh(self):
        pass

    def write(self, data):
        if data:
            self.ptr = data[0]
            for i, b in enumerate(data[1:]):
                self.on_write((self.ptr + i) & 0xFF, b)

    def on_write(self, reg, value):
        self.regs[reg] = value

    def read(self, n):
        self.refresh()
        out = bytes(self.regs[(self.ptr + i) & 0xFF] for i in range(n))
        self.ptr = (self.ptr + n) & 0xFF
        return out


class _BME280(_RegisterDevice):
    # Calibration constants in the range real parts ship with (BME280 datasheet 4.2.2).
    T = (27504, 26435, -1000)
    P = (36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000)
    H = (75, 364, 0, 315, 50, 30)

    def __init__(self, spec):
        super().__init__(spec)
        self.regs[0xD0] = 0x60  # chip id
        import struct

        self.regs[0x88:0xA0] = struct.pack("<HhhHhhhhhhhh", *(self.T + self.P))
        self.regs[0xA1] = self.H[0]
        h4, h5 = self.H[3], self.H[4]
        self.regs[0xE1:0xE8] = struct.pack("<hB", self.H[1], self.H[2]) + bytes(
            ((h4 >> 4) & 0xFF, (h4 & 0x0F) | ((h5 & 0x0F) << 4), (h5 >> 4) & 0xFF, self.H[5])
        )

    def on_write(self, reg, value):
        if reg == 0xE0 and value == 0xB6:
            return  # soft reset
        self.regs[reg] = value

    def _t_fine(self, adc_t):
        t1, t2, t3 = self.T
        var1 = (((adc_t >> 3) - (t1 << 1)) * t2) >> 11
        var2 = (((((adc_t >> 4) - t1) * ((adc_t >> 4) - t1)) >> 12) * t3) >> 14
        return var1 + var2

    def _solve(self, f, target, lo, hi):
        # f is monotonic increasing in the raw ADC value: find the raw value for a reading.
        while lo < hi:
            mid = (lo + hi) // 2
            if f(mid) < target:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def _pressure(self, adc_p, t_fine):
        p1, p2, p3, p4, p5, p6, p7, p8, p9 = self.P
        var1 = t_fine / 2.0 - 64000.0
        var2 = var1 * var1 * p6 / 32768.0
        var2 = var2 + var1 * p5 * 2.0
        var2 = var2 / 4.0 + p4 * 65536.0
        var1 = (p3 * var1 * var1 / 524288.0 + p2 * var1) / 524288.0
        var1 = (1.0 + var1 / 32768.0) * p1
        p = 1048576.0 - adc_p
        p = ((p - var2 / 4096.0) * 6250.0) / var1
        var1 = p9 * p * p / 2147483648.0
        var2 = p * p8 / 32768.0
        return p + (var1 + var2 + p7) / 16.0

    def _humidity(self, adc_h, t_fine):
        h1, h2, h3, h4, h5, h6 = self.H
        h = t_fine - 76800.0
        h = (adc_h - (h4 * 64.0 + h5 / 16384.0 * h)) * (
            h2 / 65536.0 * (1.0 + h6 / 67108864.0 * h * (1.0 + h3 / 67108864.0 * h))
        )
        return h * (1.0 - h1 * h / 524288.0)

    def refresh(self):
        i = self.spec["id"]
        temp = _simhw.reading(i, "temperature", 22.0, 1.5, 600, 0.05)
        hum = _simhw.reading(i, "humidity", 45.0, 5.0, 900, 0.2, 1.0)
        pres = _simhw.reading(i, "pressure", 1013.0, 2.0, 1800, 0.05, 2.0)
        adc_t = self._solve(lambda a: (self._t_fine(a) * 5 + 128) >> 8, int(temp * 100), 0, 1 << 20)
        t_fine = self._t_fine(adc_t)
        adc_p = 1048576 - self._solve(
            lambda a: self._pressure(1048576 - a, t_fine), pres * 100, 0, 1 << 20
        )
        adc_h = self._solve(lambda a: self._humidity(a, t_fine), hum, 0, 1 << 16)
        self.regs[0xF7] = (adc_p >> 12) & 0xFF
        self.regs[0xF8] = (adc_p >> 4) & 0xFF
        self.regs[0xF9] = (adc_p << 4) & 0xF0
        self.regs[0xFA] = (adc_t >> 12) & 0xFF
        self.regs[0xFB] = (adc_t >> 4) & 0xFF
        self.regs[0xFC] = (adc_t << 4) & 0xF0
        self.regs[0xFD] = (adc_h >> 8) & 0xFF
        self.regs[0xFE] = adc_h & 0xFF
        self.regs[0xF3] = 0  # status: not measuring


_CHIP_IDS = {"bmp180": (0xD0, 0x55), "mpu6050": (0x75, 0x68)}


def _make_device(spec):
    if spec["type"] == "bme280":
        return _BME280(spec)
    dev = _RegisterDevice(spec)
    reg_id = _CHIP_IDS.get(spec["type"])
    if reg_id:
        dev.regs[reg_id[0]] = reg_id[1]
    return dev


_bus_devices = {}


# Hardware I2C buses per port (I2C_NUM_MAX in ports/esp32/machine_i2c.c, two on the rp2): any
# other id is "I2C(n) doesn't exist"; SoftI2C takes any pins instead. The esp32 port's id
# defaults to 0; the esp8266's machine.I2C is the software bus.
_I2C_BUSES = {
    "esp32": 2,
    "esp32s2": 2,
    "esp32s3": 2,
    "esp32c3": 1,
    "esp32c6": 1,
    "rp2040": 2,
    "rp2350": 2,
}


class I2C:
    def __init__(
        self,
        id=0 if _CHIP.startswith("esp32") else -1,
        *,
        scl=None,
        sda=None,
        freq=400000,
        timeout=50000
    ):
        buses = _I2C_BUSES.get(_CHIP)
        if buses is not None and type(self) is I2C and not 0 <= id < buses:
            raise ValueError("I2C(%d) doesn't exist" % id)
        defaults = _simhw.cfg["hardware"].get("i2c_defaults", {}).get(str(id), {})
        scl = scl if scl is not None else defaults.get("scl")
        sda = sda if sda is not None else defaults.get("sda")
        if scl is None or sda is None:
            raise ValueError("I2C needs scl and sda pins on this board")
        self._scl = _resolve_gpio(scl)
        self._sda = _resolve_gpio(sda)
        self._freq = freq
        key = (self._sda, self._scl)
        if key not in _bus_devices:
            _bus_devices[key] = {
                d["address"]: _make_device(d) for d in _simhw.i2c_devices(self._sda, self._scl)
            }
        self._devs = _bus_devices[key]

    def init(self, *args, **kw):
        pass

    def deinit(self):
        pass

    def scan(self):
        return sorted(self._devs)

    def _dev(self, addr):
        dev = self._devs.get(addr)
        if dev is None:
            raise OSError(errno.ENODEV)
        return dev

    def writeto(self, addr, buf, stop=True):
        self._dev(addr).write(bytes(buf))
        return len(buf)

    def readfrom(self, addr, nbytes, stop=True):
        return self._dev(addr).read(nbytes)

    def readfrom_into(self, addr, buf, stop=True):
        buf[:] = self.readfrom(addr, len(buf))

    def writevto(self, addr, vector, stop=True):
        data = b"".join(bytes(v) for v in vector)
        self.writeto(addr, data)
        return len(data)

    def readfrom_mem(self, addr, memaddr, nbytes, *, addrsize=8):
        dev = self._dev(addr)
        dev.write(bytes((memaddr & 0xFF,)))
        return dev.read(nbytes)

    def readfrom_mem_into(self, addr, memaddr, buf, *, addrsize=8):
        buf[:] = self.readfrom_mem(addr, memaddr, len(buf), addrsize=addrsize)

    def writeto_mem(self, addr, memaddr, buf, *, addrsize=8):
        self._dev(addr).write(bytes((memaddr & 0xFF,)) + bytes(buf))


class SoftI2C(I2C):
    """The bit-banged bus, with the primitive operations only it has (extmod/machine_i2c.c):
    start(), then write() of the address byte and data, readinto(), stop(). The devices see the
    transaction as the controller methods would give it to them."""

    def __init__(self, scl, sda, *, freq=400000, timeout=50000):
        super().__init__(-1, scl=scl, sda=sda, freq=freq, timeout=timeout)
        self._txn = None  # [device or None, reading, pending written bytes] after start()

    def _flush(self):
        if self._txn is not None and self._txn[0] is not None and self._txn[2]:
            self._txn[0].write(bytes(self._txn[2]))
            self._txn[2] = bytearray()

    def start(self):
        self._flush()  # a repeated start ends the write before it
        self._txn = [None, False, bytearray(), True]

    def stop(self):
        self._flush()
        self._txn = None

    def write(self, buf):
        """Send bytes, returning how many were acknowledged (it stops at the first NACK)."""
        txn = self._txn
        acks = 0
        for b in bytes(buf):
            if txn is None:
                return acks  # no start condition: nobody listens
            if txn[3]:  # the address byte
                txn[3] = False
                txn[0] = self._devs.get(b >> 1)
                txn[1] = bool(b & 1)
                if txn[0] is None:
                    return acks
            elif txn[0] is None or txn[1]:
                return acks
            else:
                txn[2].append(b)
            acks += 1
        return acks

    def readinto(self, buf, nack=True):
        txn = self._txn
        if txn is not None and txn[0] is not None and txn[1]:
            buf[:] = txn[0].read(len(buf))
        else:
            for i in range(len(buf)):
                buf[i] = 0xFF  # nobody drives SDA: the pull-ups read 1


# ---- the rest: enough not to break common scripts --------------------------------------------


class SPI:
    MSB = 0
    LSB = 1
    CONTROLLER = 0

    def __init__(
        self,
        id=1,
        baudrate=1000000,
        *,
        polarity=0,
        phase=0,
        bits=8,
        firstbit=0,
        sck=None,
        mosi=None,
        miso=None
    ):
        self._baud = baudrate

    def init(self, *args, **kw):
        pass

    def deinit(self):
        pass

    def read(self, nbytes, write=0):
        return bytes((0xFF,)) * nbytes

    def readinto(self, buf, write=0):
        for i in range(len(buf)):
            buf[i] = 0xFF

    def write(self, buf):
        return None

    def write_readinto(self, write_buf, read_buf):
        self.readinto(read_buf)


class SoftSPI(SPI):
    pass


# UARTs per port, v1.28.0 (UART_NUM_MAX on the esp32s, ports/esp8266 and ports/rp2 machine_uart.c).
_UART_COUNT = {
    "esp32": 3,
    "esp32s2": 2,
    "esp32s3": 3,
    "esp32c3": 2,
    "esp32c6": 3,
    "esp8266": 2,
    "rp2040": 2,
    "rp2350": 2,
}


class UART:
    INV_TX = 1
    INV_RX = 2
    RTS = 1
    CTS = 2

    def __init__(self, id, baudrate=115200, **kw):
        count = _UART_COUNT.get(_CHIP)
        if count is not None and not 0 <= id < count:
            word = "doesn't" if _CHIP.startswith("rp2") else "does not"
            raise ValueError("UART(%d) %s exist" % (id, word))
        self._id = id
        self._baud = baudrate
        self._rx = b""

    def init(self, baudrate=115200, **kw):
        self._baud = baudrate

    def deinit(self):
        pass

    def any(self):
        return len(self._rx)

    def read(self, n=None):
        return None

    def readline(self):
        return None

    def readinto(self, buf, n=None):
        return None

    def write(self, buf):
        return len(buf)

    def sendbreak(self):
        pass

    def flush(self):
        pass


class RTC:
    """The chip's clock: the same one time.time() and time.localtime() read (see _simtime.py),
    so setting it here moves them, as on the ports."""

    def __init__(self, id=0):
        pass

    def datetime(self, dt=None):
        if dt is None:
            t = _simtime.localtime()
            return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0)
        if len(dt) != 8:
            raise ValueError("requested length 8 but object has length %d" % len(dt))
        # (year, month, day, weekday, hours, minutes, seconds, subseconds): weekday is ignored.
        _simtime._set_seconds(_simtime.mktime((dt[0], dt[1], dt[2], dt[4], dt[5], dt[6])))

    def init(self, dt):
        self.datetime(dt)

    def memory(self, data=None):
        if data is None:
            return bytes(_rtc_mem)
        _rtc_mem[:] = bytes(data)


_rtc_mem = bytearray()


# ---- watchdog --------------------------------------------------------------------------------
# A real watchdog: not fed for its timeout, it resets the board, whatever runs (a busy loop, a
# blocked call, the idle >>> prompt). As on the chips, nothing stops it once started; a soft reboot
# (Ctrl-D) keeps it running, and only a hard reset (machine.reset(), its own bite, power) ends it.
#
# Per port (MicroPython ports/*/machine_wdt.c, as on its master branch in August 2026):
# - esp32*: the ESP-IDF task watchdog; any timeout > 0 ms, else ValueError("WDT timeout too short").
# - esp8266: the timeout is fixed; any value but the default 5000 is a ValueError. The SDK's soft
#   watchdog really bites after 1.6 to 3.2 s (a 1.6 s tick, a reset at the second unfed tick,
#   ports/esp8266/ets_alt_task.c): we bite at the earliest, so a program that lives here lives there.
# - rp2040 / rp2350: the hardware watchdog; at most 8388 / 16777 ms ("timeout exceeds ...").
WDT_DEFAULT_MS = 5000
WDT_ESP8266_BITE_MS = 1600
WDT_MAX_MS = {"rp2040": 8388, "rp2350": 16777}
WDT_POLL_MS = 50

_wdt = {"timeout": 0, "fed": 0, "woken": 0, "thread": False, "file": None, "can_wake": True}


def _wdt_file():
    """The host's state folder keeps the armed timeout across soft reboots (new processes).

    Opened at import, before the flash is mounted as / (no other path can be opened after that).
    """
    path = _simtime._state_path("watchdog")
    if path is None:
        return None
    try:
        return open(path, "r+b")
    except OSError:
        try:
            return open(path, "w+b")
        except OSError:
            return None


def _wdt_save(timeout):
    f = _wdt["file"]
    if f is not None:
        f.seek(0)
        f.write(b"%08d" % timeout)  # fixed width: no truncate needed
        f.flush()


def _wdt_arm(timeout):
    _wdt["timeout"] = timeout
    _wdt["fed"] = time.ticks_ms()
    _wdt_save(timeout)
    if not _wdt["thread"]:
        import _thread

        _wdt["thread"] = True
        _thread.start_new_thread(_wdt_watch, ())


def _wdt_can_wake():
    """Whether SIGUSR2 wakes the interpreter (host.py's launcher catches it) or would kill it.

    Read at import, before / is the flash. Where /proc is missing (macOS), the launcher is the
    one that catches it.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return int(line.split()[1], 16) & (1 << (12 - 1)) != 0  # SIGUSR2 is 12
    except (OSError, ValueError):
        pass
    return True


def _wdt_wake():
    # The front end waits for input in poll(); the signal makes the port run what is scheduled
    # (a Timer's callback that feeds us) as a real board's idle loop does.
    if _wdt["can_wake"]:
        _host_os.system("kill -USR2 $PPID 2>/dev/null")


def _wdt_watch():
    while True:
        time.sleep_ms(WDT_POLL_MS)
        timeout = _wdt["timeout"]
        now = time.ticks_ms()
        hungry = time.ticks_diff(now, _wdt["fed"])
        if hungry >= timeout:
            break
        # Wake from a quarter of the timeout on: a loaded computer may take a few hundred ms
        # to start the shell that sends the signal, and a board's Timer feeds at once.
        if hungry >= timeout // 4 and time.ticks_diff(now, _wdt["woken"]) >= timeout // 8:
            _wdt["woken"] = now
            _wdt_wake()
    if _simhw.board.get("chip", "").startswith("esp32"):
        sys.stdout.write(
            "E (%d) task_wdt: Task watchdog got triggered. The following tasks/users did not "
            "reset the watchdog in time:\nE (%d) task_wdt:  - mpy_machine_wdt\n" % (now, now)
        )
    # The whole process ends at once, as a chip's reset cuts everything short: an exception
    # would not do (a scheduled callback's is only printed, and a bare `except:` swallows it).
    # The signal tells the host (host.WATCHDOG_SIGNAL) to reboot with the watchdog's cause.
    _host_os.system("kill -USR1 $PPID")


class WDT:
    def __init__(self, id=0, timeout=WDT_DEFAULT_MS):
        chip = _simhw.board.get("chip", "esp32")
        if id != 0:
            if chip.startswith("rp2"):
                raise ValueError("WDT(%d) doesn't exist" % id)
            raise ValueError()
        if chip == "esp8266":
            if timeout != WDT_DEFAULT_MS:
                raise ValueError()
            timeout = WDT_ESP8266_BITE_MS
        elif chip in WDT_MAX_MS:
            if not 0 <= timeout <= WDT_MAX_MS[chip]:  # the port takes it as unsigned
                raise ValueError("timeout exceeds %d" % WDT_MAX_MS[chip])
        elif timeout <= 0:
            raise ValueError("WDT timeout too short")
        _wdt_arm(timeout)

    def feed(self):
        _wdt["fed"] = time.ticks_ms()


def _wdt_boot():
    """At every boot: a soft reboot keeps an armed watchdog running, a hard one ends it."""
    _wdt["can_wake"] = _wdt_can_wake()
    f = _wdt["file"] = _wdt_file()
    if f is None:
        return
    try:
        saved = int(f.read(8) or b"0")
    except ValueError:
        saved = 0
    if saved and _simhw.cfg.get("reset") == "soft":
        _wdt_arm(saved)
    elif saved:
        _wdt_save(0)


_wdt_boot()


# Timer ids per port (v1.28.0): the esp32 port has hardware timers only, an id is required and
# must be below SOC_TIMER_GROUP_TOTAL_TIMERS, and hard=True is refused (ports/esp32/
# machine_timer.c); rp2 has one virtual timer, id -1 (extmod/machine_timer.c), with hard
# callbacks; the esp8266 port takes any id.
_TIMER_COUNT = {"esp32": 4, "esp32s2": 4, "esp32s3": 4, "esp32c3": 2, "esp32c6": 2}
_NO_ID = object()


class Timer:
    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id=_NO_ID, **kw):
        count = _TIMER_COUNT.get(_CHIP)
        if count is not None:
            if id is _NO_ID:
                raise TypeError("function missing 1 required positional arguments")
            if not 0 <= id < count:
                raise ValueError("invalid Timer number")
        elif _CHIP.startswith("rp2") and id is not _NO_ID and id != -1:
            raise ValueError("Timer doesn't exist")
        self._running = False
        self._token = None
        if kw:
            self.init(**kw)

    def init(self, *, mode=PERIODIC, callback=None, period=-1, tick_hz=1000, freq=None, hard=False):
        import _thread
        import micropython

        if hard and _CHIP in _TIMER_COUNT:
            raise ValueError("hard Timers are not implemented")
        # A hard callback runs at once in the real interrupt; here it is scheduled like a soft
        # one (the unix port has no interrupts), which is as soon as the VM can run it.
        if freq is not None:
            period = int(1000 / freq)
        elif period >= 0:
            period = period * 1000 // tick_hz
        else:
            period = 1000
        period = max(1, period)
        if callback is None:
            self.deinit()
            return
        self.deinit()
        self._running = True
        token = object()
        self._token = token

        def run():
            while self._running and self._token is token:
                time.sleep_ms(period)
                if not (self._running and self._token is token):
                    break
                try:
                    micropython.schedule(callback, self)
                except RuntimeError:
                    pass  # schedule queue full: a real board drops the tick too
                if mode == Timer.ONE_SHOT:
                    break

        _thread.start_new_thread(run, ())

    def deinit(self):
        self._running = False
        self._token = None

    def value(self):
        return 0


def time_pulse_us(pin, pulse_level, timeout_us=1000000):
    return -2


class TouchPad:
    def __init__(self, pin):
        self._pin = pin

    def read(self):
        return 400

    def config(self, value):
        pass
