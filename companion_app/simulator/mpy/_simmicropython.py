# The board's `micropython` module for the virtual board. Runs inside MicroPython (the unix port).
#
# Why: the unix port is built without the emergency exception buffer, so the line that starts most
# IRQ examples, micropython.alloc_emergency_exception_buf(100), is an AttributeError here and fine
# on an ESP32, ESP8266 or Pico. The built-in module cannot be given attributes, so this one copies
# it and is registered in sys.modules as `micropython` (see _simtime.py for the same approach).
import sys
from micropython import *  # noqa: F401,F403 (the built-in's functions, the same objects)

sys.modules["micropython"] = sys.modules["_simmicropython"]
globals()["__name__"] = "micropython"
globals().pop("__file__", None)  # a built-in module has no file


def alloc_emergency_exception_buf(size):
    # The unix port needs no buffer; the size is checked as the ports check it (an int).
    if not isinstance(size, int):
        raise TypeError("can't convert %s to int" % type(size).__name__)
