# Emulated `esp` module (ESP32 and ESP8266 ports), enough for common scripts.
SLEEP_NONE = 0
SLEEP_LIGHT = 1
SLEEP_MODEM = 2


def osdebug(level, *args):
    pass


def flash_size():
    return 4 * 1024 * 1024


def flash_user_start():
    return 0x200000


def sleep_type(t=None):
    return SLEEP_NONE if t is None else None


def gpio_matrix_in(*args):
    pass


def gpio_matrix_out(*args):
    pass
