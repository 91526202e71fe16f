# `webrepl` as the official firmware freezes it (ESP32, ESP8266, Pico W): start(), stop(),
# start_foreground(). On the virtual board the WebREPL server is the host's own
# (companion_app/simulator/webrepl.py), on when the board was started with --webrepl, so these
# only say where it is; the password is the one the board was started with.
import _simhw

_SETUP = "iotkit sim --webrepl 8266"


def _where():
    return _simhw.cfg.get("webrepl_url")


def start(port=8266, password=None, accept_handler=None):
    url = _where()
    if url:
        print("WebREPL: this virtual board already serves WebREPL at %s" % url)
        if password is not None:
            print("WebREPL: its password was set when the board started; this one is not used")
    else:
        print(
            "WebREPL: this virtual board serves no WebREPL; start it with `%s` "
            "(or the companion's WebREPL option) and connect to the URL it prints" % _SETUP
        )


def start_foreground(port=8266, password=None):
    start(port, password)


def stop():
    pass
