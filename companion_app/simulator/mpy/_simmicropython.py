# The board's `micropython` module for the virtual board. Runs inside MicroPython (the unix port).
#
# Why: the unix port is built without the emergency exception buffer, so the line that starts most
# IRQ examples, micropython.alloc_emergency_exception_buf(100), is an AttributeError here and fine
# on an ESP32, ESP8266 or Pico. The built-in module cannot be given attributes, so this one copies
# it and is registered in sys.modules as `micropython` (see _simtime.py for the same approach).
# The unix port's memory statistics (mem_total, mem_current, mem_peak: MICROPY_MEM_STATS, which
# ports/unix turns on and esp32, esp8266 and rp2 leave off) are left out: a program using them
# stopped with AttributeError on the board only.
import sys as _sys
from micropython import *  # noqa: F401,F403 (the built-in's functions, the same objects)

for _name in ("mem_total", "mem_current", "mem_peak"):
    globals().pop(_name, None)
del _name

_sys.modules["micropython"] = _sys.modules["_simmicropython"]
globals()["__name__"] = "micropython"
globals().pop("__file__", None)  # a built-in module has no file

# The order of py/modmicropython.c's table at v1.28.0, which help(micropython) follows on a board
# (a Python module's names come out in hash order instead; see repl.py install_help).
_ROM_ORDER = (
    "__name__",
    "const",
    "opt_level",
    "mem_info",
    "qstr_info",
    "stack_use",
    "alloc_emergency_exception_buf",
    "heap_lock",
    "heap_unlock",
    "kbd_intr",
    "RingIO",
    "schedule",
)


def alloc_emergency_exception_buf(size):
    # The unix port needs no buffer; the size is checked as the ports check it (an int).
    if not isinstance(size, int):
        raise TypeError("can't convert %s to int" % type(size).__name__)
