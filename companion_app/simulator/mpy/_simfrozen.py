# The Python modules the official firmware freezes into flash, loaded on first use: the 1-Wire
# drivers (onewire, ds18x20, over the emulated C module `_onewire`) and the network modules
# (ntptime, webrepl, requests/urequests, umqtt.simple/robust) where the board's firmware has
# them. Runs inside MicroPython (the unix port).
#
# Why, in steps:
# 1. After boot the flash folder is the board's "/", so a folder of the computer cannot be on
#    sys.path (and a second mount would show up in os.listdir("/")). The modules are therefore
#    put in sys.modules at boot (the stubs onewire.py, ds18x20.py and _onewire.py sit beside
#    the other hardware modules; the network ones are made by install() below from one stub
#    file, _simfrozenstub.py), as the firmware's frozen modules are always there.
# 2. On a real board frozen bytecode stays in flash and costs no heap until used. Compiling all
#    of them at boot would take several KB of a 36 KB ESP8266 heap, so each one starts as a
#    stub (a module-level __getattr__) and its code is compiled the first time a name is taken
#    from it: ours from frozen_src/NAME.py, micropython-lib's from the file the host wrote into
#    cfg["frozen_dir"] (companion_app/simulator/board_network.py), both read through an
#    unmounted VfsPosix.
# 3. The host may still be downloading a micropython-lib module when a program first uses it
#    (an empty cache): then the board waits for the file, or for NAME.error, whose text (what
#    failed, what to do) becomes the ImportError.
import os

# This file's folder, cut at "/" or "\\": MicroPython's Windows build gives C:\...\mpy\ paths.
_cut = max(__file__.rfind("/"), __file__.rfind("\\"))
_here = __file__[:_cut] if _cut >= 0 else "."
_src = os.VfsPosix(_here + "/frozen_src")


def lazy(g):
    """A module __getattr__ that compiles the module's real code on first use (step 2).

    Names a program set before that (`module.setting = ...`) keep the program's value.
    """
    stub = set(g)
    stub.add("__getattr__")

    def load(name):
        if not g.get("_sim_loaded"):
            mine = {k: v for k, v in g.items() if k not in stub}
            name_ = g["__name__"]
            path = "/" + name_.replace(".", "/") + ".py"
            source = _host_source(name_) if name_ in _from_host else _read(_src, path)
            g["_sim_loaded"] = True
            real = _import_mpy(name_) if name_ in _from_host else None
            if real is None:
                exec(compile(source, path, "exec"), g)
            else:
                del source
                for k in dir(real):
                    if not k.startswith("__"):
                        g[k] = getattr(real, k)
            source = None
            g.update(mine)
        if name in g:
            return g[name]
        raise AttributeError(name)

    return load


# ---- the network modules (step 1) ------------------------------------------------------------

_from_host = set()  # module names whose code is a file the host writes (step 2)
_host = None  # VfsPosix of cfg["frozen_dir"]
_host_dir = None
HOST_WAIT_MS = 40000  # libs.DOWNLOAD_TIMEOUT_S and some: the host gives up before we do
HOST_POLL_MS = 50


def _read(vfs, path):
    with vfs.open(path, "r") as f:
        return f.read()


def _host_source(name):
    """The code of a micropython-lib module, once the host has written it (step 3)."""
    import time

    waited = 0
    while True:
        try:
            return _read(_host, "/" + name + ".py")
        except OSError:
            pass
        try:
            raise ImportError(_read(_host, "/" + name + ".error"))
        except OSError:
            pass
        if waited >= HOST_WAIT_MS:
            raise ImportError(
                "%s: the virtual board is still downloading it from PyPI; try again in a moment"
                % name
            )
        time.sleep_ms(HOST_POLL_MS)
        waited += HOST_POLL_MS


# Where the host's precompiled modules are mounted while one is imported (board_network.py,
# step 3): a name no program uses, and mounted only for the import itself.
_MPY_MOUNT = "/.sim-frozen"
_mounted = 0  # nested imports (umqtt.robust imports umqtt.simple) share one mount


def _import_mpy(name):
    """micropython-lib's module `name` from the host's .mpy: a frozen module's cost, not a
    compile's. None when there is no .mpy (no mpy-cross) or it does not load (the source is
    then compiled). The stubs in sys.modules step aside for the import and come back after."""
    import sys

    global _mounted
    try:
        _host.stat("/mpy/" + name.replace(".", "/") + ".mpy")
    except OSError:
        return None
    names = [name]
    while "." in names[-1]:
        names.append(names[-1].rpartition(".")[0])
    saved = {n: sys.modules.pop(n) for n in names if n in sys.modules}
    if not _mounted:
        os.mount(os.VfsPosix(_host_dir + "/mpy"), _MPY_MOUNT)
        sys.path.insert(0, _MPY_MOUNT)
    _mounted += 1
    try:
        __import__(name)
        return sys.modules[name]
    except (ImportError, ValueError):  # ValueError: an .mpy this interpreter does not load
        return None
    finally:
        _mounted -= 1
        if not _mounted:
            sys.path.remove(_MPY_MOUNT)
            os.umount(_MPY_MOUNT)
        for n in names:
            sys.modules.pop(n, None)
        sys.modules.update(saved)


def _module(name):
    """A fresh stub module named `name` (importing the stub file again makes a new module)."""
    import sys

    mod = __import__("_simfrozenstub")
    del sys.modules["_simfrozenstub"]
    mod.__name__ = name
    try:
        del mod.__file__  # a frozen module has no file on the computer
    except AttributeError:
        pass
    sys.modules[name] = mod
    parent, dot, leaf = name.rpartition(".")
    if dot:  # umqtt.simple: a package umqtt, with the module as its attribute
        top = sys.modules.get(parent)
        if top is None:
            top = _module(parent)
            del top.__getattr__  # a package of frozen modules: nothing to compile itself
        setattr(top, leaf, mod)
    return mod


def _alias(target):
    def forward(name):
        return getattr(__import__(target), name)

    return forward


def install(cfg):
    """Put the network modules the host offers for this board (cfg["frozen"]) in sys.modules.

    Called at boot, before "/" becomes the flash. A module the board's firmware lacks is not
    offered, so importing it raises ImportError, as on that firmware.
    """
    global _host, _host_dir
    offered = cfg.get("frozen") or {}
    if cfg.get("frozen_dir"):
        _host = os.VfsPosix(cfg["frozen_dir"])
        _host_dir = cfg["frozen_dir"]
    for name in offered:
        how = offered[name]
        if how == "interpreter":
            continue  # frozen into the interpreter itself: found in ".frozen", as on the board
        mod = _module(name)
        if how.startswith("alias:"):
            mod.__getattr__ = _alias(how[6:])
        elif how == "host":
            _from_host.add(name)
