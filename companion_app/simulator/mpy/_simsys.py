# The board's `sys` for user code on the virtual board. Runs inside MicroPython (the unix port);
# the front end puts it in sys.modules as `sys` and `usys` (repl.py console_sys).
#
# Why, in steps:
# 1. User code needs a `sys` that differs from the unix port's in three values: the port's
#    platform ("esp32", not "linux"), stderr (the console: on a board stdout and stderr share one
#    UART, here fd 2 carries the front end's control lines) and argv ([]: a board is not started
#    from a command line). The built-in sys can't be given other values, but `import sys`
#    looks in sys.modules first.
# 2. A board's sys is a table in ROM: assigning a new name (`sys.x = 1`) is an AttributeError,
#    and only the names the port delegates (MICROPY_PY_SYS_ATTR_DELEGATION: path, ps1, ps2 and,
#    where built, tracebacklimit) can be assigned, which changes what the importer and the REPL
#    use. A Python module takes any assignment, and `sys.path = [...]` on it changed a copy the
#    importer never reads. So user code gets an object of a class named `module` that refuses
#    other names as the built-in does and hands the delegated ones to the real sys.
# 3. Everything else is the real sys's own objects (the same stdout, modules dict, exit...),
#    less what only the unix port has (_UNIX_ONLY).
import sys as _sys

# MICROPY_PY_SYS_ATTR_DELEGATION in py/modsys.c at v1.28.0: the names a program may assign.
_DELEGATED = ("path", "ps1", "ps2", "tracebacklimit")
# What the unix port's sys has and the esp32, esp8266 and rp2 builds don't: py/mpconfig.h at
# v1.28.0 defaults MICROPY_PY_SYS_ATEXIT, _EXC_INFO and _EXECUTABLE to 0, and only ports/unix
# (mpconfigport.h, variants/mpconfigvariant_common.h) turns them on.
_UNIX_ONLY = ("atexit", "exc_info", "executable")


def _no_attribute(name):
    return AttributeError("'module' object has no attribute '%s'" % name)


class module:
    """The built-in sys as a board has it (step 2); see make() for its values.

    No __getattr__: a name it lacks must be simply missing, so that `from sys import nope` is
    an ImportError, as for a module, and not the AttributeError a __getattr__ would raise.
    """

    def __setattr__(self, name, value):
        if name not in _DELEGATED:
            raise _no_attribute(name)
        setattr(_sys, name, value)  # what the importer and the REPL read (AttributeError if absent)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        raise _no_attribute(name)

    def __repr__(self):
        return "<module 'sys'>"


def make(**board):
    """A `sys` with the real sys's objects, and `board`'s values for the names given (step 1)."""
    board_sys = module()
    for name in dir(_sys):
        if not name.startswith("__") and name not in _UNIX_ONLY:
            object.__setattr__(board_sys, name, getattr(_sys, name))
    object.__setattr__(board_sys, "__name__", "sys")
    for name, value in board.items():
        object.__setattr__(board_sys, name, value)
    return board_sys
