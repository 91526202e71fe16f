# The board's `vfs` module for the virtual board. Runs inside MicroPython (the unix port); the
# front end registers it as sys.modules["vfs"] for user code (repl.py mount_flash).
#
# Why, in steps:
# 1. The unix port's vfs has VfsPosix (the computer's own files), VfsLfs1 and VfsRom, which no
#    official build of esp32, esp8266 or rp2 has (ports/esp32/esp32_common.cmake and
#    ports/rp2/mpconfigport.h at v1.28.0 turn on MICROPY_VFS_FAT and MICROPY_VFS_LFS2 only;
#    VfsRom is in one ESP8266 variant, FLASH_2M_ROMFS, not the generic build). A program that
#    used them ran here and stopped with AttributeError on the board.
# 2. VfsLfs2 stamps files with the time of the port's C clock, the host's (seconds from 1970),
#    where a board uses its own (epoch 2000 on ESP32/ESP8266, moved by RTC().datetime()). So
#    VfsLfs2 here is the real driver behind a thin front whose stat() gives the board's times;
#    everything else is the driver's own. It is a wrapper, not a subclass: the vfs layer hands a
#    native filesystem type's instance to C code directly, which a Python subclass is not.
import vfs as _vfs

globals()["__name__"] = "vfs"
globals().pop("__file__", None)  # a built-in module has no file

mount = _vfs.mount
umount = _vfs.umount
VfsFat = _vfs.VfsFat


def _board_stat(st):
    """A stat tuple whose times (host seconds from 1970) are on the board's clock.

    A time of 0 (none stored: a file written with mtime=False) stays 0, as on a board.
    """
    import sys

    clock = sys.modules.get("_simtime")
    if clock is None:  # no board's clock loaded (a bare test runner): the host's times
        return st
    return tuple(st[:7]) + tuple(clock._board_seconds(t) if t else 0 for t in st[7:10])


class VfsLfs2:
    """vfs.VfsLfs2 (extmod/vfs_lfs.c) with the board's clock in stat() (step 2)."""

    mkfs = staticmethod(_vfs.VfsLfs2.mkfs)

    # Every call goes to the driver with its arguments as given: its defaults and its errors.
    def __init__(self, *args, **kwargs):
        self._fs = _vfs.VfsLfs2(*args, **kwargs)

    def mount(self, *args):
        return self._fs.mount(*args)

    def umount(self):
        return self._fs.umount()

    def open(self, *args):
        return self._fs.open(*args)

    def ilistdir(self, *args):
        return self._fs.ilistdir(*args)

    def mkdir(self, *args):
        return self._fs.mkdir(*args)

    def rmdir(self, *args):
        return self._fs.rmdir(*args)

    def remove(self, *args):
        return self._fs.remove(*args)

    def rename(self, *args):
        return self._fs.rename(*args)

    def chdir(self, *args):
        return self._fs.chdir(*args)

    def getcwd(self):
        return self._fs.getcwd()

    def statvfs(self, *args):
        return self._fs.statvfs(*args)

    def stat(self, *args):
        return _board_stat(self._fs.stat(*args))
