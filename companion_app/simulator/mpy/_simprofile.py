# The board's MicroPython profile (chips.json "micropython", host.py passes it as
# cfg["micropython"]): its free heap, taken once the front end has booted (its sys.platform is
# applied by the board's sys, _simsys.py). Runs inside MicroPython.
#
# Why after boot: the front end is compiled from source at every boot, and its peak (the
# compiler's parse trees) is far above what it keeps. So the heap starts large enough to boot,
# and then a ballast of heap is taken, once, so that gc.mem_free() is what the real board has
# free (times the measured 64-bit factor, see host.virtual_heap_bytes).
import gc

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


def reserve_heap(cfg):
    """The last step of boot, before boot.py: leave the board's free heap (host.py decides)."""
    if cfg.get("heap_free_target"):
        _reserve(cfg["heap_free_target"])
