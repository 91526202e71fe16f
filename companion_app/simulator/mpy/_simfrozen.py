# The Python modules the official firmware freezes into flash, loaded on first use: today the
# 1-Wire drivers (onewire, ds18x20, over the emulated C module `_onewire`). Runs inside
# MicroPython (the unix port).
#
# Why, in steps:
# 1. After boot the flash folder is the board's "/", so a folder of the computer cannot be on
#    sys.path (and a second mount would show up in os.listdir("/")). The modules are therefore
#    put in sys.modules at boot (the stubs onewire.py, ds18x20.py and _onewire.py sit beside
#    the other hardware modules), as the firmware's frozen modules are always there.
# 2. On a real board frozen bytecode stays in flash and costs no heap until used. Compiling all
#    of them at boot would take several KB of a 36 KB ESP8266 heap, so each one starts as a
#    stub (a module-level __getattr__) and its code (frozen_src/NAME.py, read through an
#    unmounted VfsPosix) is compiled the first time a name is taken from it.
import os

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
_src = os.VfsPosix(_here + "/frozen_src")


def lazy(g):
    """A module __getattr__ that compiles the module's real code on first use (step 2).

    Names a program set before that (`module.setting = ...`) keep the program's value.
    """
    stub = set(g)
    stub.add("__getattr__")

    def load(name):
        if not g.get("_sim_loaded"):
            g["_sim_loaded"] = True
            mine = {k: v for k, v in g.items() if k not in stub}
            path = "/" + g["__name__"].replace(".", "/") + ".py"
            with _src.open(path, "r") as f:
                source = f.read()
            exec(compile(source, path, "exec"), g)
            del source
            g.update(mine)
        if name in g:
            return g[name]
        raise AttributeError(name)

    return load
