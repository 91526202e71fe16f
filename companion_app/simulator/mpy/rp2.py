# Emulated `rp2` module (Raspberry Pi Pico), enough for common scripts.
import _simhw


def bootsel_button():
    return 1 if _simhw.device_input("bootsel", "pressed", False) else 0


def country(code=None):
    return "XX" if code is None else None


class PIO:
    IN_LOW = 0
    IN_HIGH = 1
    OUT_LOW = 2
    OUT_HIGH = 3
    SHIFT_LEFT = 0
    SHIFT_RIGHT = 1
    IRQ_SM0 = 256

    def __init__(self, id):
        self._id = id

    def state_machine(self, id, *args, **kw):
        return StateMachine(id, *args, **kw)

    def remove_program(self, program=None):
        pass


class StateMachine:
    def __init__(self, id, program=None, *args, **kw):
        self._id = id

    def init(self, *args, **kw):
        pass

    def active(self, value=None):
        return 0 if value is None else None

    def put(self, value, shift=0):
        pass

    def get(self, buf=None, shift=0):
        return 0

    def rx_fifo(self):
        return 0

    def tx_fifo(self):
        return 0


def asm_pio(*args, **kw):
    def wrap(f):
        return f

    return wrap
