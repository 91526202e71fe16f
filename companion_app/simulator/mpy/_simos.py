# `os` as a board's: the unix port's os, with what its VfsPosix leaves out of a real board's.
# Runs inside MicroPython; installed as sys.modules["os"] by the REPL front end.
import os as _os

import _simflash  # ENOSPC at the board's flash size; imported while the libdir is on sys.path
import vfs as _vfs

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


def _resolve(path, cwd):
    """`path` made absolute against `cwd`, with `.` and `..` resolved (`..` stops at /)."""
    if isinstance(path, bytes):
        path = path.decode()
    if not path.startswith("/"):
        path = _join(cwd, path)
    parts = []
    for part in path.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part and part != ".":
            parts.append(part)
    return "/" + "/".join(parts)


def norm(path):
    """An absolute path inside the flash: `..` stops at /, as on a board's filesystem.

    Without this, the unix port's VfsPosix would let `/../..` reach the computer's own files,
    and a student's os.remove() could delete them.
    """
    return _resolve(path, _os.getcwd())


# The flash (the VfsPosix the front end mounts at /) and the current directory as the user
# set it. Kept here so that deciding whether a path is on the flash never calls a user
# filesystem's getcwd(): a board's os module doesn't, and a user filesystem may notice.
_flash = None
_cwd = "/"


def set_flash(fs):
    """Called by the front end once the flash is mounted at /."""
    global _flash, _cwd
    _flash = fs
    _cwd = "/"


def _owner(abspath):
    """The filesystem object mounted where `abspath` lives, or None."""
    best = None
    best_len = -1
    for fs, point in _vfs.mount():
        if point == "/" or abspath == point or abspath.startswith(point + "/"):
            if len(point) > best_len:
                best, best_len = fs, len(point)
    return best


def _on_flash(path):
    """Whether `path` (None: the current directory) is on the board's flash.

    Only there do paths need norm(): the VfsPosix behind it would let `..` out to the host.
    A filesystem the user mounted (vfs.mount() of a block device or of a Python object) gets
    its paths exactly as the user wrote them, as on a board.
    """
    owner = _owner(_resolve(_cwd if path is None else path, _cwd))
    if _flash is None:  # mounted by a harness, not the front end: the VfsPosix at / is the flash
        return isinstance(owner, _vfs.VfsPosix) and _owner("/") is owner
    return owner is _flash


def _one_path(func):
    def wrapper(path, *args):
        return func(norm(path) if _on_flash(path) else path, *args)

    return wrapper


for _name in ("remove", "unlink", "mkdir", "rmdir", "stat"):
    if hasattr(_os, _name):
        globals()[_name] = _one_path(getattr(_os, _name))


def chdir(path):
    global _cwd
    target = _resolve(path, _cwd)
    _os.chdir(norm(path) if _on_flash(path) else path)
    _cwd = target


def listdir(path=None):
    if _on_flash(path):
        return _os.listdir(norm(path) if path is not None else _os.getcwd())
    return _os.listdir() if path is None else _os.listdir(path)


def rename(old, new):
    if not (_on_flash(old) and _on_flash(new)):
        return _os.rename(old, new)
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
        if isinstance(file, (str, bytes)) and _on_flash(file):
            file = norm(file)
            # ENOSPC at the board's flash size (_simflash.py)
            mode = args[0] if args else kwargs.get("mode", "r")
            return _simflash.limit(real_open(file, *args, **kwargs), file, mode)
        return real_open(file, *args, **kwargs)

    builtins.open = open


def ilistdir(path=None):
    """As a board's: on the flash (LittleFS or FAT) entries are (name, type, inode, size).

    The unix port's VfsPosix gives 3-tuples, so the size is added there. Anywhere else the
    entries are what the mounted filesystem gives, passed through as the real port does (a
    user filesystem may give 3-tuples).
    """
    if not _on_flash(path):
        return _os.ilistdir() if path is None else _os.ilistdir(path)
    return _flash_ilistdir(norm(path) if path is not None else _os.getcwd())


def _flash_ilistdir(base):
    for entry in _os.ilistdir(base):
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
    for entry in _flash_ilistdir(path):
        if entry[1] == _S_IFDIR:
            used += 1 + _used_blocks(_join(path, entry[0]))
        else:
            used += (entry[3] + FS_BLOCK - 1) // FS_BLOCK
    return used


def statvfs(path):
    if not _on_flash(path):
        return _os.statvfs(path)  # a filesystem the user mounted: its own figures
    # The size of the board's filesystem partition (chips.json "micropython" fs_bytes); a 2 MB
    # partition when _os is used without a board (_simhw not loaded, as in a bare test runner).
    import sys

    hw = sys.modules.get("_simhw")
    prof = hw.cfg.get("micropython", {}) if hw else {}
    block = prof.get("fs_block", FS_BLOCK)
    blocks = prof.get("fs_bytes", FS_BLOCK * FS_BLOCKS) // block
    free = max(0, blocks - _used_blocks("/"))
    return (block, block, blocks, free, free, 0, 0, 0, 0, 255)


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
