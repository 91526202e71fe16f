# The board's MicroPython profile (chips.json "micropython", host.py passes it as
# cfg["micropython"]), applied once the front end has booted. Runs inside MicroPython.
#
# Why after boot: the front end is compiled from source at every boot, and its peak (the
# compiler's parse trees) is far above what it keeps. So the heap starts large enough to boot,
# and then a ballast of heap is taken, once, so that gc.mem_free() is what the real board has
# free (times the measured 64-bit factor, see host.virtual_heap_bytes).
import gc
import sys

_ballast = None


def _reserve(free_target):
    # Boot leaves a heap full of holes. 1) Fill it: large pieces first, halving the size, then
    # one-block objects (floats) in the holes too small for a bytearray, so that nothing is free.
    # 2) Give back the largest piece and take it again less the target: the allocator takes the
    # lowest free address first, so what is left free is one piece of the target's size, and
    # both gc.mem_free() and the largest allocation are the target, as on a fresh board.
    global _ballast
    gc.collect()
    size = gc.mem_free()
    fillers = [None] * (size // 32)  # a slot per possible GC block (32 bytes on 64-bit)
    pieces = []
    while size >= 64:
        try:
            pieces.append(bytearray(size))
        except MemoryError:
            size //= 2
    n = 0
    try:
        while n < len(fillers):
            fillers[n] = n + 0.5  # a float is one GC block
            n += 1
    except MemoryError:
        pass
    _ballast = [fillers, pieces]
    if not pieces:
        return
    largest = max(range(len(pieces)), key=lambda i: len(pieces[i]))
    keep = len(pieces[largest]) - free_target
    pieces[largest] = None
    gc.collect()
    if keep > 0:
        pieces[largest] = bytearray(keep)
    gc.collect()


def _platform_sys(platform):
    # The built-in sys cannot be assigned to (sys.platform = ... is AttributeError), but
    # `import sys` looks in sys.modules first. So user code gets a module whose attributes are
    # the real sys's own objects (the same stdout, path list, modules dict, exit...) except
    # platform.
    import _simsys

    for name in dir(sys):
        if not name.startswith("__"):
            setattr(_simsys, name, getattr(sys, name))
    _simsys.platform = platform
    sys.modules["sys"] = _simsys


def apply(cfg):
    """At boot, while the libdir is on sys.path: the board's sys.platform."""
    profile = cfg.get("micropython") or {}
    if profile.get("platform"):
        _platform_sys(profile["platform"])


def reserve_heap(cfg):
    """The last step of boot, before boot.py: leave the board's free heap (host.py decides)."""
    if cfg.get("heap_free_target"):
        _reserve(cfg["heap_free_target"])
