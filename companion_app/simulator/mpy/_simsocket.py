# `socket` as the virtual board's programs see it. Runs inside MicroPython (the unix port);
# installed as sys.modules["socket"] by the REPL front end (repl.py).
#
# Why: the unix port's sockets are the computer's own, so a web dashboard that listens on
# 0.0.0.0, as on a real board, would be reachable from the whole lab network. Unless the virtual
# board was started with --lan, the "any address" a program asks for becomes the loopback one.
#
# On the unix port every address a program binds comes from getaddrinfo() (bind() takes only
# the sockaddr bytes it returns), and asyncio's start_server() and Microdot go through it too,
# so getaddrinfo() is the one place to decide. Code that builds addresses for bind() in another
# way (a board-style (host, port) tuple) must build them with this getaddrinfo().
import socket as _native
import _simhw

for _name in dir(_native):
    if not _name.startswith("__"):
        globals()[_name] = getattr(_native, _name)

# What a program writes for "every interface" -> what it gets when the board is loopback-only.
_LOOPBACK = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}


def lan():
    """True when the person started the virtual board with --lan."""
    return bool(_simhw.cfg.get("lan"))


def getaddrinfo(host, port, *args):
    text = host.decode() if isinstance(host, (bytes, bytearray)) else host
    if text in _LOOPBACK:
        host = "0.0.0.0" if text == "" and lan() else text if lan() else _LOOPBACK[text]
    return _native.getaddrinfo(host, port, *args)


def install():
    import sys

    sys.modules["socket"] = sys.modules["usocket"] = sys.modules[__name__]
