# `os` as a board's: the unix port's os, with what its VfsPosix leaves out of a real board's.
# Runs inside MicroPython; installed as sys.modules["os"] by the REPL front end.
import os as _os

import _simflash  # ENOSPC at the board's flash size; imported while the libdir is on sys.path
import _simvfs  # the board's `vfs`: no VfsPosix, VfsLfs1 or VfsRom; file times on its clock
import vfs as _vfs

# What the unix port's os has and no official build of the ports we emulate (esp32, esp8266,
# rp2) has: the host's environment and shell, errno(), and the filesystems a board has no
# driver for (extmod/modos.c at v1.28.0: these are MICROPY_PY_OS_GETENV_PUTENV_UNSETENV,
# _SYSTEM, _ERRNO, MICROPY_VFS_LFS1 and _POSIX, which ports/unix/variants/
# mpconfigvariant_common.h turns on and ports/{esp32,esp8266,rp2} leave off). A program that
# used them ran here and stopped with AttributeError on the board; MicroPython's own tests of
# VfsPosix and VfsLfs1 now skip here as they skip on a board. The front end and the emulated
# hardware keep the real os for their own use.
_UNIX_ONLY = ("errno", "getenv", "putenv", "unsetenv", "system", "VfsLfs1", "VfsPosix")

for _name in dir(_os):
    if not _name.startswith("__") and _name not in _UNIX_ONLY:
        globals()[_name] = getattr(_os, _name)
VfsLfs2 = _simvfs.VfsLfs2  # os.VfsLfs2 is vfs.VfsLfs2 on a board (deprecated alias)
globals()["__name__"] = "os"  # print(os) is <module 'os'>, as on a board
globals().pop("__file__", None)  # a built-in module has no file (nor a host path)

# The order of extmod/modos.c's table at v1.28.0 as the ESP32 port builds it, which help(os)
# follows on a board (see repl.py install_help). The names of this stand-in that are not here
# (install_open) are the front end's and are not listed.
_ROM_ORDER = (
    "__name__",
    "sync",
    "uname",
    "urandom",
    "sep",
    "chdir",
    "getcwd",
    "listdir",
    "mkdir",
    "remove",
    "rename",
    "rmdir",
    "unlink",
    "stat",
    "statvfs",
    "dupterm",
    "dupterm_notify",
    "ilistdir",
    "mount",
    "umount",
    "VfsFat",
    "VfsLfs2",
)

# A 2 MB filesystem partition, as on a 4 MB ESP32 with MicroPython's default partition table.
_FS_BLOCK = 4096
_FS_BLOCKS = 512
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


def _norm(path):
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


def _set_flash(fs):
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

    Only there do paths need _norm(): the VfsPosix behind it would let `..` out to the host.
    A filesystem the user mounted (vfs.mount() of a block device or of a Python object) gets
    its paths exactly as the user wrote them, as on a board.
    """
    owner = _owner(_resolve(_cwd if path is None else path, _cwd))
    if _flash is None:  # mounted by a harness, not the front end: the VfsPosix at / is the flash
        return isinstance(owner, _vfs.VfsPosix) and _owner("/") is owner
    return owner is _flash


def _one_path(func):
    def wrapper(path, *args):
        return func(_norm(path) if _on_flash(path) else path, *args)

    return wrapper


for _name in ("remove", "unlink", "mkdir", "rmdir"):
    if hasattr(_os, _name):
        globals()[_name] = _one_path(getattr(_os, _name))


def stat(path):
    if _on_flash(path):
        # File times on the board's clock (see _simvfs._board_stat)
        return _simvfs._board_stat(_os.stat(_norm(path)))
    return _os.stat(path)


def sync():
    """As on a board (MICROPY_PY_OS_SYNC): the flash is written through, nothing is pending."""


def chdir(path):
    global _cwd
    target = _resolve(path, _cwd)
    _os.chdir(_norm(path) if _on_flash(path) else path)
    _cwd = target


def listdir(path=None):
    if _on_flash(path):
        return _os.listdir(_norm(path) if path is not None else _os.getcwd())
    return _os.listdir() if path is None else _os.listdir(path)


def rename(old, new):
    if not (_on_flash(old) and _on_flash(new)):
        return _os.rename(old, new)
    # The unix port's VfsPosix builds both absolute host paths in one shared buffer, so the
    # first is overwritten by the second and rename(a, b) becomes rename(b, b): ENOENT.
    # Relative paths are passed through as they are, so rename from / without the slash.
    old, new = _norm(old), _norm(new)
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
            file = _norm(file)
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
    return _flash_ilistdir(_norm(path) if path is not None else _os.getcwd())


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
            used += (entry[3] + _FS_BLOCK - 1) // _FS_BLOCK
    return used


def statvfs(path):
    if not _on_flash(path):
        return _os.statvfs(path)  # a filesystem the user mounted: its own figures
    # The size of the board's filesystem partition (chips.json "micropython" fs_bytes); a 2 MB
    # partition when _os is used without a board (_simhw not loaded, as in a bare test runner).
    import sys

    hw = sys.modules.get("_simhw")
    prof = hw.cfg.get("micropython", {}) if hw else {}
    block = prof.get("fs_block", _FS_BLOCK)
    blocks = prof.get("fs_bytes", _FS_BLOCK * _FS_BLOCKS) // block
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
