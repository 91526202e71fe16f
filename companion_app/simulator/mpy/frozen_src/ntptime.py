# `ntptime` as the official firmware freezes it (micropython-lib's ntptime, in the
# bundle-networking of the ESP32, ESP8266 and Pico W builds): host, timeout, time() and
# settime(). Written here from the protocol (RFC 5905; not copied): a 48-byte client request,
# the server's transmit timestamp at offset 40 in seconds from 1900, converted to the port's
# epoch (2000, or 1970 on rp2). On the virtual board pool.ntp.org is the host's NTP responder
# (companion_app/simulator/board_network.py), which gives the computer's UTC time.
import socket
import struct
import time as _time

host = "pool.ntp.org"
timeout = 1

_NTP_PORT = 123
_REQUEST_HEAD = 0x1B  # leap indicator 0, version 3, mode 3 (client)
_TRANSMIT_AT = 40
_NTP_TO_1970 = 2208988800  # seconds from 1900-01-01 to 1970-01-01
_1970_TO_2000 = 946684800


def time():
    """Seconds from the board's epoch, UTC, as the NTP server at `host` says."""
    request = bytearray(48)
    request[0] = _REQUEST_HEAD
    address = socket.getaddrinfo(host, _NTP_PORT)[0][-1]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.sendto(request, address)
        reply = s.recv(48)
    finally:
        s.close()
    seconds = struct.unpack("!I", reply[_TRANSMIT_AT : _TRANSMIT_AT + 4])[0]
    if seconds < 0x80000000:
        seconds += 0x100000000  # NTP era 1: from 2036-02-07 the 32-bit count starts again
    since_1970 = seconds - _NTP_TO_1970
    return since_1970 - _1970_TO_2000 if _time.gmtime(0)[0] == 2000 else since_1970


def settime():
    """Set the RTC (and so time.localtime()) to UTC from the NTP server, as on the board."""
    import machine

    t = _time.gmtime(time())
    machine.RTC().datetime((t[0], t[1], t[2], t[6] + 1, t[3], t[4], t[5], 0))
