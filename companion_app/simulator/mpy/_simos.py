# `os` as a board's: the unix port's os, with what its VfsPosix leaves out of a real board's.
# Runs inside MicroPython; installed as sys.modules["os"] by the REPL front end.
import os as _os

for _name in dir(_os):
    if not _name.startswith("__"):
        globals()[_name] = getattr(_os, _name)

# A 2 MB filesystem partition, as on a 4 MB ESP32 with MicroPython's default partition table.
FS_BLOCK = 4096
FS_BLOCKS = 512
_S_IFDIR = 0x4000
_uname = None


def _join(a, b):
    return (a.rstrip("/") + "/" + b) if a else b


def norm(path):
    """An absolute path inside the flash: `..` stops at /, as on a board's filesystem.

    Without this, the unix port's VfsPosix would let `/../..` reach the computer's own files,
    and a student's os.remove() could delete them.
    """
    if isinstance(path, bytes):
        path = path.decode()
    if not path.startswith("/"):
        path = _join(_os.getcwd(), path)
    parts = []
    for part in path.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part and part != ".":
            parts.append(part)
    return "/" + "/".join(parts)


def _one_path(func):
    def wrapper(path, *args):
        return func(norm(path), *args)

    return wrapper


for _name in ("remove", "unlink", "mkdir", "rmdir", "stat", "chdir"):
    if hasattr(_os, _name):
        globals()[_name] = _one_path(getattr(_os, _name))


def listdir(path=None):
    return _os.listdir(norm(path) if path is not None else _os.getcwd())


def rename(old, new):
    # The unix port's VfsPosix builds both absolute host paths in one shared buffer, so the
    # first is overwritten by the second and rename(a, b) becomes rename(b, b): ENOENT.
    # Relative paths are passed through as they are, so rename from / without the slash.
    old, new = norm(old), norm(new)
    cwd = _os.getcwd()
    _os.chdir("/")
    try:
        return _os.rename(old[1:], new[1:])
    finally:
        _os.chdir(cwd)


def install_open():
    import builtins

    real_open = builtins.open

    def open(file, *args, **kwargs):
        if isinstance(file, (str, bytes)):
            file = norm(file)
        return real_open(file, *args, **kwargs)

    builtins.open = open


def ilistdir(path=None):
    base = norm(path) if path is not None else _os.getcwd()
    it = _os.ilistdir(base)
    for entry in it:
        if len(entry) >= 4:
            yield entry
        elif entry[1] == _S_IFDIR:
            yield (entry[0], entry[1], entry[2], 0)
        else:
            try:
                size = _os.stat(_join(base, entry[0]))[6]
            except OSError:
                size = 0
            yield (entry[0], entry[1], entry[2], size)


def _used_blocks(path):
    used = 0
    for entry in ilistdir(path):
        if entry[1] == _S_IFDIR:
            used += 1 + _used_blocks(_join(path, entry[0]))
        else:
            used += (entry[3] + FS_BLOCK - 1) // FS_BLOCK
    return used


def statvfs(path):
    free = max(0, FS_BLOCKS - _used_blocks("/"))
    return (FS_BLOCK, FS_BLOCK, FS_BLOCKS, free, free, 0, 0, 0, 0, 255)


def uname():
    import sys
    import _simhw

    b = _simhw.board
    v = sys.implementation.version
    release = "%d.%d.%d" % (v[0], v[1], v[2])
    chip = b["chip"]
    sysname = "rp2" if chip.startswith("rp") else chip if chip == "esp8266" else "esp32"
    from collections import namedtuple

    info = namedtuple("uname_result", ("sysname", "nodename", "release", "version", "machine"))
    return info(sysname, sysname, release, "v" + release, b["machine"])
