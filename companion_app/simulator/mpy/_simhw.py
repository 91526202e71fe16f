# Shared state of the emulated hardware. Runs inside MicroPython (the unix port).
#
# The host decides what is wired from a Wokwi diagram and passes it in the boot config as a list
# of devices, each on a GPIO or an I2C bus. Live inputs (a pressed button, a warmer room) come
# from a small JSON file the host rewrites in place; we keep it open from before the flash is
# mounted as /, because afterwards no path outside the flash can be opened.
import json
import time

cfg = {}
board = {}
devices = []
gpios = ()
input_only = ()
no_pullup = ()
pin_names = {}
_inputs_file = None
_inputs = {}
_inputs_checked = 0
INPUT_POLL_MS = 50


def init(config):
    global cfg, board, devices, gpios, input_only, no_pullup, pin_names, _inputs_file
    cfg = config
    board = config["board"]
    hw = config["hardware"]
    devices = hw["devices"]
    gpios = tuple(hw["gpios"])
    input_only = tuple(hw.get("input_only", ()))
    no_pullup = tuple(hw.get("no_pullup", ()))
    pin_names = hw.get("pin_names", {})
    try:
        _inputs_file = open(config["inputs_file"], "rb")
    except OSError:
        _inputs_file = None


def inputs():
    """The host's live inputs, re-read at most every INPUT_POLL_MS."""
    global _inputs, _inputs_checked
    now = time.ticks_ms()
    if _inputs_file is not None and time.ticks_diff(now, _inputs_checked) >= INPUT_POLL_MS:
        _inputs_checked = now
        try:
            _inputs_file.seek(0)
            data = _inputs_file.read()
            if data:
                _inputs = json.loads(data)
        except (OSError, ValueError):
            pass  # caught the host mid-write: keep the last good inputs
    return _inputs


def device_input(dev_id, key, default=None):
    return inputs().get(dev_id, {}).get(key, default)


def devices_on(gpio, types=None):
    return [d for d in devices if d.get("gpio") == gpio and (types is None or d["type"] in types)]


def i2c_devices(sda, scl):
    return [d for d in devices if d.get("bus") == "i2c" and d["sda"] == sda and d["scl"] == scl]


def reading(dev_id, key, base, amplitude, period_s, noise, phase=0.0):
    """What a sensor reports: the host's override if set, else a slowly varying value."""
    value = device_input(dev_id, key, None)
    if value is None:
        value = wave(dev_id, base, amplitude, period_s, noise, phase)
    return value


def uptime_s():
    return time.ticks_ms() / 1000


def wave(dev_id, base, amplitude, period_s, noise, phase=0.0):
    """A plausible, slowly varying reading: a slow sine plus a little deterministic jitter."""
    import math

    t = time.time()
    seed = sum(dev_id.encode()) + int(phase * 100)
    jitter = math.sin(t * 2.7 + seed) * noise
    return base + amplitude * math.sin(2 * math.pi * t / period_s + phase + seed) + jitter
