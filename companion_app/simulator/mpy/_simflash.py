# A full flash, as on a board: a write that would take the filesystem past the board's size
# (chips.json "micropython" fs_bytes, _simos.statvfs) fails with OSError(ENOSPC), as LittleFS
# does. Runs inside MicroPython; _simos.install_open wraps files opened for writing on the
# flash. Without it a virtual NodeMCU would take 6 MB into a "3 MB" filesystem and a beginner
# would never meet "flash is full" before the real board.
#
# The budget is taken once, at open (statvfs walks the tree, too slow for every write): the
# file may grow to its own blocks at open plus every block then free. Several files written at
# once each get the whole budget, so the limit is exact only for one writer at a time.
import io

ENOSPC = 28
_WRITE_MODES = "wax+"


class FlashFile(io.IOBase):
    """A file on the flash that refuses to grow past the free space. An io.IOBase, so C code
    that writes to a stream (json.dump, print(file=...)) goes through write() too."""

    def __init__(self, f, limit):
        self._f = f
        self._limit = limit

    def write(self, data):
        n = len(data.encode()) if isinstance(data, str) else len(data)
        if self._f.tell() + n > self._limit:
            raise OSError(ENOSPC)
        return self._f.write(data)

    def readinto(self, buf, *args):
        return self._f.readinto(buf, *args)

    def read(self, *args):
        return self._f.read(*args)

    def readline(self, *args):
        return self._f.readline(*args)

    def readlines(self, *args):
        return self._f.readlines(*args)

    def seek(self, *args):
        return self._f.seek(*args)

    def tell(self):
        return self._f.tell()

    def flush(self):
        return self._f.flush()

    def close(self):
        return self._f.close()

    def ioctl(self, req, arg):
        return 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()

    def __iter__(self):
        return iter(self._f)

    def __getattr__(self, name):
        return getattr(self._f, name)


def limit(f, path, mode):
    """f itself when not opened for writing, else a FlashFile that stops at the free space."""
    if not any(c in _WRITE_MODES for c in mode):
        return f
    import _simos

    st = _simos.statvfs("/")
    block, free = st[0], st[3]
    try:
        size = _simos.stat(path)[6]
    except OSError:
        size = 0
    own = (size + block - 1) // block
    return FlashFile(f, (free + own) * block)
