# The board's `time` module for the virtual board. Runs inside MicroPython (the unix port).
#
# Why: the unix port's `time` is the host's: time.time() is a float counted from 1970, localtime()
# applies the host's time zone and ignores machine.RTC, and ticks wrap at 2**62. A real ESP32 or
# ESP8266 counts time.time() as an int from 2000-01-01 (a Pico: an int from 1970), has one clock
# (localtime() == gmtime(), both what RTC().datetime() set) and wraps its ticks at 2**30, so a
# program that is wrong about any of these works here and fails there.
#
# How, in steps:
# 1. The unix port's `time` cannot be given attributes, and a file named time.py would shadow it
#    for good (it is an extensible module), so this module is registered in sys.modules as `time`
#    and `utime` when machine.py imports it, before any user code runs. asyncio keeps the host's
#    ticks (see below): its timing is internal, and user code sees the board's.
# 2. The board's clock is the host's wall clock (as if Thonny had set the RTC on connect) plus an
#    offset that RTC().datetime(...) sets. The offset is kept in the host's state folder, so it
#    survives soft and hard resets as the chip's RTC does.
# 3. Dates are converted here (proleptic Gregorian, like MicroPython's shared/timeutils) from the
#    port's epoch: the "micropython" profile's "epoch_year", 2000 unless it says otherwise.
# 4. ticks_ms/us/cpu wrap at the profile's "ticks_period" (2**30: MICROPY_PY_TIME_TICKS_PERIOD on
#    every 32-bit port), and ticks_diff/ticks_add use the same period.
import sys as _sys
import time as _host
import _simhw

# asyncio's C task queue (extmod/modasyncio.c) stamps tasks with the host's own ticks_ms, so its
# Python half (asyncio/core.py, which binds time.ticks_* at import) must keep the host's clock
# too, or a task would wait for the difference between the two. So it is imported here, before
# `time` becomes the board's. It costs about 4 KB of the 64-bit heap at boot.
_path = _sys.path[:]
_sys.path.append(".frozen")  # where the port's frozen modules are found; the boot path lacks it
try:
    import asyncio  # noqa: F401
except ImportError:
    asyncio = None  # a build without asyncio (Windows)
_sys.path[:] = _path
del _path

_sys.modules["time"] = _sys.modules["utime"] = _sys.modules["_simtime"]
globals()["__name__"] = "time"
globals().pop("__file__", None)  # a built-in module has no file

_EPOCH_YEAR_DEFAULT = 2000  # py/mpconfig.h: MICROPY_EPOCH_IS_2000 unless a port says 1970 (rp2)
_TICKS_PERIOD_DEFAULT = 1 << 30  # MICROPY_PY_TIME_TICKS_PERIOD: MP_SMALL_INT_POSITIVE_MASK + 1

_profile = _simhw.cfg.get("micropython", {})
_EPOCH_YEAR = int(_profile.get("epoch_year", _EPOCH_YEAR_DEFAULT))
_PERIOD = int(_profile.get("ticks_period", _TICKS_PERIOD_DEFAULT))
_MASK = _PERIOD - 1
_HALF = _PERIOD // 2
_DAYS_BEFORE_MONTH = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)

sleep = _host.sleep
sleep_ms = _host.sleep_ms
sleep_us = _host.sleep_us


def _leap(y):
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def _days_before_year(y):
    y -= 1
    return y * 365 + y // 4 - y // 100 + y // 400


def _day_number(y, m, d):
    """Days from 0001-01-01 (a Monday) to y-m-d; months out of range carry into the year."""
    y += (m - 1) // 12
    m = (m - 1) % 12 + 1
    n = _days_before_year(y) + _DAYS_BEFORE_MONTH[m - 1] + d - 1
    if m > 2 and _leap(y):
        n += 1
    return n


_EPOCH_DAY = _day_number(_EPOCH_YEAR, 1, 1)


def _seconds(t):
    y, mo, d, h, mi, s = t[:6]
    return (_day_number(y, mo, d) - _EPOCH_DAY) * 86400 + h * 3600 + mi * 60 + s


def _state_path(name):
    """The path of `name` in the host's state folder, the folder of the live inputs file.

    The folder is cut at the last "/" or "\\": MicroPython's Windows build gives paths with
    backslashes, and cutting at "/" alone gave a path inside the inputs file there, which no
    open() can create, so the RTC and the watchdog forgot their state at every reset.
    """
    inputs = _simhw.cfg.get("inputs_file")
    if not inputs:
        return None
    cut = max(inputs.rfind("/"), inputs.rfind("\\"))
    return (inputs[:cut] if cut >= 0 else ".") + "/" + name


def _rtc_file():
    # Opened at import, before the flash is mounted as / (no other path opens after that).
    path = _state_path("rtc")
    if path is None:
        return None
    for mode in ("r+b", "w+b"):
        try:
            return open(path, mode)
        except OSError:
            pass
    return None


_file = _rtc_file()
_offset = [0]
if _file is not None:
    try:
        _offset[0] = int(_file.read(24) or b"0")
    except ValueError:
        pass


def _host_wall():
    return _seconds(_host.localtime())


def _set_seconds(secs):
    """What machine.RTC().datetime(...) does: move the board's clock to `secs` from the epoch."""
    _offset[0] = int(secs) - _host_wall()
    if _file is not None:
        _file.seek(0)
        _file.write(b"%+023d\n" % _offset[0])  # fixed width: no truncate needed
        _file.flush()


def time():
    return _host_wall() + _offset[0]


def time_ns():
    return time() * 1000000000 + _host.time_ns() % 1000000000


def localtime(secs=None):
    secs = time() if secs is None else int(secs)
    days, rem = divmod(secs, 86400)
    n = days + _EPOCH_DAY
    y = n // 366 + 1
    while _days_before_year(y + 1) <= n:
        y += 1
    yday = n - _days_before_year(y)
    m = 12
    while _day_number(y, m, 1) > n:
        m -= 1
    d = n - _day_number(y, m, 1) + 1
    return (y, m, d, rem // 3600, rem // 60 % 60, rem % 60, n % 7, yday + 1)


gmtime = localtime


def mktime(t):
    return _seconds(t)


# The host's ticks, cut to the board's period (not restarted at boot): so they stay congruent
# with the ticks that the port's C code (asyncio's task queue, above) reads from the host.
def ticks_ms():
    return _host.ticks_ms() & _MASK


def ticks_us():
    return _host.ticks_us() & _MASK


def ticks_cpu():
    return _host.ticks_cpu() & _MASK


def ticks_diff(end, start):
    return ((end - start + _HALF) & _MASK) - _HALF


def _check_interval(delta):
    # extmod/modtime.c: a delta of half the period or more, either way, is refused, so that
    # ticks_diff(ticks_add(t, d), t) == d and ticks_diff(t, ticks_add(t, d)) == -d both hold
    # (-half is refused too: its negation does not fit).
    if not -_HALF < delta < _HALF:
        raise OverflowError("ticks interval overflow")


def ticks_add(ticks, delta):
    _check_interval(delta)
    return (ticks + delta) & _MASK


def _asyncio_ticks_add(ticks, delta):
    """asyncio's ticks_add: the host's ticks (see the top), refused as the board refuses them.

    asyncio.sleep_ms() of half the board's period or more raises OverflowError on a board; with
    the host's 2**62 period it slept for ever instead.
    """
    _check_interval(delta)
    return _host.ticks_add(ticks, delta)


def _board_seconds(host_secs):
    """A time stamp of the host's clock (seconds from 1970, as the port's C code writes file
    times) on the board's clock: its epoch, its one time zone and the RTC's offset.

    So os.stat() and a VfsLfs2's stat() give times that time.localtime() reads as on a board.
    """
    now = int(_host.time())
    return int(host_secs) + _seconds(_host.localtime(now)) - now + _offset[0]


if asyncio is not None:
    import asyncio.core

    asyncio.core.ticks_add = _asyncio_ticks_add
del asyncio
