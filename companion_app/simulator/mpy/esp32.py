# Emulated `esp32` module, enough for common scripts.
import time
import errno

WAKEUP_ALL_LOW = False
WAKEUP_ANY_HIGH = True
HEAP_DATA = 4
HEAP_EXEC = 1


def raw_temperature():
    return 120


def mcu_temperature():
    return 40


def wake_on_touch(wake):
    pass


def wake_on_ext0(pin, level):
    pass


def wake_on_ext1(pins, level):
    pass


def idf_heap_info(capabilities):
    return [(237568, 2048, 200000, 180000)]


class NVS:
    _store = {}

    def __init__(self, namespace):
        self._ns = NVS._store.setdefault(namespace, {})

    def set_i32(self, key, value):
        self._ns[key] = int(value)

    def get_i32(self, key):
        if key not in self._ns:
            raise OSError(errno.ENOENT)
        return self._ns[key]

    def set_blob(self, key, value):
        self._ns[key] = bytes(value)

    def get_blob(self, key, buffer):
        if key not in self._ns:
            raise OSError(errno.ENOENT)
        data = self._ns[key]
        buffer[: len(data)] = data
        return len(data)

    def erase_key(self, key):
        if key not in self._ns:
            raise OSError(errno.ENOENT)
        del self._ns[key]

    def commit(self):
        pass


class Partition:
    BOOT = 0
    RUNNING = 1
    TYPE_APP = 0
    TYPE_DATA = 1

    def __init__(self, id, block_size=4096):
        self._id = id

    def info(self):
        return (0, 0, 0x10000, 0x1F0000, "factory", False)

    @staticmethod
    def find(type=0, subtype=255, label=None, block_size=4096):
        return [Partition(0)]

    @staticmethod
    def mark_app_valid_cancel_rollback():
        pass

    def get_next_update(self):
        raise OSError(errno.ENOENT)


class RMT:
    def __init__(self, channel, *, pin=None, clock_div=8, **kw):
        pass

    def write_pulses(self, duration, data=True):
        time.sleep_ms(1)

    def wait_done(self, *, timeout=0):
        return True

    def deinit(self):
        pass
