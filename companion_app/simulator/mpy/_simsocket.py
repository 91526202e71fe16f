# `socket` as the virtual board's programs see it. Runs inside MicroPython (the unix port);
# installed as sys.modules["socket"] and ["usocket"] by the REPL front end (repl.py).
#
# Why, in steps:
# 1. Addresses as on the board. The unix port's sockets take and give raw sockaddr bytes; the
#    ESP32 port (ports/esp32/modsocket.c, v1.28) takes and gives (host, port) tuples, and every
#    beginner's script is written for that: getaddrinfo() gives [(af, type, proto, '',
#    ('a.b.c.d', port))] (type 0 means SOCK_STREAM, host '' means 0.0.0.0, an unknown name
#    raises OSError(-202) as lwIP answers), bind/connect/sendto take tuples, accept/recvfrom
#    give them. The ESP8266 and RP2 ports (extmod/modlwip.c) answer getaddrinfo() with type
#    SOCK_STREAM whatever was asked, and OSError(-2) for an unknown name. So `socket` here is a
#    class of ours that HOLDS the unix port's socket and converts at the edge.
# 2. It wraps, it does not subclass: a Python subclass of the native socket hands the instance,
#    not the native object inside it, to the native stream code, so select.poll read the wrong
#    memory and the web dashboard's idle clients were dropped. The wrapper is an io.IOBase
#    instead, so C code sees a stream (ssl can wrap it, select.poll can register it), and its
#    ioctl gives the native socket's file descriptor (MP_STREAM_GET_FILENO): the unix port's
#    select.poll then polls that descriptor itself, with no Python call per poll, and hands
#    back the wrapper, so asyncio (which matches poll results by id()) and microdot just work.
# 3. Loopback unless --lan. The sockets are the computer's own, so a web server that listens on
#    0.0.0.0, as on a real board, would be reachable from the whole lab network. Unless the
#    virtual board was started with --lan, bind() turns "every interface" into 127.0.0.1.
# 4. Ports below 1024 (a tutorial's port 80) need administrator rights on the computer, and two
#    virtual boards cannot share one. So bind() to such a port gets 8000 + that port (80 ->
#    8080), or a free high port when that one is taken, and the board prints the real URL
#    ("virtual board: port 80 is http://127.0.0.1:8080/ on this computer"), which the person
#    opens and a test reads. A connect() or sendto() to the board's own address and that port
#    goes to the computer's port, as a board reaches its own server.
# 5. The emulated Wi-Fi has its own NTP server (host.py starts one on loopback and writes its
#    address as cfg["ntp"]), so getaddrinfo("pool.ntp.org", 123) answers with that address:
#    ntptime and a program's own NTP code get the computer's UTC time, with or without internet.
import io
import socket as _native

import _simhw

for _name in dir(_native):
    if not _name.startswith("__"):
        globals()[_name] = getattr(_native, _name)

# What a program writes for "every interface" -> what it gets when the board is loopback-only.
_LOOPBACK = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}
# The board's own addresses, as a program may write them to reach its own servers.
_SELF = ("127.0.0.1", "localhost", "0.0.0.0", "")
# Ports the computer reserves for administrators, and where the board's ones go instead.
PRIVILEGED_BELOW = 1024
MAPPED_BASE = 8000
RANDOM_PORTS = (49152, 65000)
# lwIP's getaddrinfo() answer for a name it cannot resolve: EAI_FAIL through the ESP32's
# modsocket.c, the DNS callback's -2 through extmod/modlwip.c (the ESP8266 and RP2 ports).
EAI_FAIL = -202
MODLWIP_NOT_FOUND = -2
# sys.platform of the ports whose socket module is extmod/modlwip.c (v1.28 mpconfigport.h).
MODLWIP_PORTS = ("esp8266", "rp2")
NTP_PORT = 123
NTP_HOSTS = ("pool.ntp.org",)  # and any *.pool.ntp.org
# py/stream.h
_STREAM_POLL = 3
_STREAM_CLOSE = 4
_STREAM_GET_FILENO = 10
_EINVAL = 22

# Board port -> computer port, for every privileged port a program bound (step 4).
_port_map = {}
_resolved = {}  # (host, port, type) -> sockaddr bytes; addresses repeat (a sendto loop)


def lan():
    """True when the person started the virtual board with --lan."""
    return bool(_simhw.cfg.get("lan"))


def _text(host):
    return host.decode() if isinstance(host, (bytes, bytearray)) else host


def _address(sockaddr):
    """Raw unix-port sockaddr bytes -> ("a.b.c.d", port), as the ESP32 port gives them."""
    family, ip, port = _native.sockaddr(sockaddr)
    return (_native.inet_ntop(family, ip), port)


def _ntp_server(host, port):
    if port != NTP_PORT or not _simhw.cfg.get("ntp"):
        return None
    if host in NTP_HOSTS or host.endswith(".pool.ntp.org"):
        return tuple(_simhw.cfg["ntp"])
    return None


def _sockaddr(address, socktype):
    """("host", port) -> raw sockaddr bytes for the unix port's bind/connect/sendto."""
    if isinstance(address, (bytes, bytearray)):
        return address  # code written for the unix port
    if not isinstance(address, (tuple, list)) or len(address) != 2:
        raise TypeError("address must be a (host, port) tuple")
    key = (_text(address[0]), address[1], socktype)
    raw = _resolved.get(key)
    if raw is None:
        ip, port = _resolve(key[0], key[1], socktype)
        raw = _native.getaddrinfo(ip, port, 0, socktype)[0][-1]
        if len(_resolved) > 16:
            _resolved.clear()
        _resolved[key] = raw
    return raw


def _resolve(host, port, socktype):
    """(ip, port) for a host name, as lwIP resolves it; OSError(-202) when it cannot."""
    host = host or "0.0.0.0"
    ntp = _ntp_server(host, port)
    if ntp:
        return ntp
    try:
        for info in _native.getaddrinfo(host, port, 0, socktype or _native.SOCK_STREAM):
            if info[0] == _native.AF_INET:
                return _address(info[-1])
    except OSError:
        pass
    raise OSError(MODLWIP_NOT_FOUND if _modlwip() else EAI_FAIL)


def _modlwip():
    return _simhw.cfg.get("micropython", {}).get("platform") in MODLWIP_PORTS


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    """As the board's port: [(AF_INET, type, proto, '', ('a.b.c.d', port))] (step 1)."""
    socktype = type or _native.SOCK_STREAM  # modsocket.c: 0 would be invalid in a result
    if _modlwip():
        socktype, proto = _native.SOCK_STREAM, 0  # modlwip.c answers one fixed shape
    if isinstance(port, str):
        port = int(port)
    return [(_native.AF_INET, socktype, proto, "", _resolve(_text(host), port, socktype))]


class socket(io.IOBase):
    """A socket that takes and gives address tuples, holding the unix port's one (step 2)."""

    def __init__(self, af=_native.AF_INET, type=_native.SOCK_STREAM, proto=0, _sock=None):
        self._s = _native.socket(af, type, proto) if _sock is None else _sock
        self._type = type

    def bind(self, address):
        if isinstance(address, (bytes, bytearray)):
            address = _address(address)
        host, port = _text(address[0]), address[1]
        if host in _LOOPBACK and not lan():
            host = _LOOPBACK[host]
        if not 0 < port < PRIVILEGED_BELOW:
            self._s.bind(_sockaddr((host, port), self._type))
            return
        self._bind_mapped(host or "0.0.0.0", port)

    def _bind_mapped(self, host, port):
        # Step 4. No getsockname() on the unix port, so the board picks the computer's port:
        # 8000 + the board's port when free (easy to remember), else a random high one. The
        # port may still hold connections of a program that ended (TIME_WAIT): reuse it then.
        import errno
        import random

        self._s.setsockopt(_native.SOL_SOCKET, _native.SO_REUSEADDR, 1)
        first = MAPPED_BASE + port
        for attempt in range(50):
            real = first if attempt == 0 else random.randint(*RANDOM_PORTS)
            try:
                self._s.bind(_sockaddr((host, real), self._type))
                break
            except OSError as exc:
                if exc.args[0] != errno.EADDRINUSE or _port_map.get(port) == real:
                    raise  # this board holds it already: EADDRINUSE, as on the board
        else:
            raise OSError(errno.EADDRINUSE)
        _port_map[port] = real
        shown = "127.0.0.1" if host in ("127.0.0.1", "0.0.0.0") else host
        if self._type == _native.SOCK_STREAM and port in (80, 8080):
            where = "http://%s:%d/" % (shown, real)
        else:
            where = "%s:%d" % (shown, real)
        print("virtual board: port %d is %s on this computer" % (port, where))

    def connect(self, address):
        self._s.connect(_sockaddr(_own(address), self._type))

    def accept(self):
        sock, sockaddr = self._s.accept()
        return socket(_sock=sock, type=self._type), _address(sockaddr)

    def sendto(self, data, address):
        return self._s.sendto(data, _sockaddr(_own(address), self._type))

    def recvfrom(self, size):
        data, sockaddr = self._s.recvfrom(size)
        return data, _address(sockaddr)

    def makefile(self, *args, **kwargs):
        return self  # as on the ESP32: the socket is its own stream

    def ioctl(self, request, arg):
        """The stream protocol's ioctl, which C code (select.poll, ssl) calls (step 2)."""
        if request == _STREAM_GET_FILENO:
            return self._s.fileno()
        if request == _STREAM_POLL:
            import select

            poller = select.poll()
            poller.register(self._s, arg)
            ready = poller.poll(0)
            return ready[0][1] if ready else 0
        if request == _STREAM_CLOSE:
            self._s.close()
            return 0
        return -_EINVAL

    # The rest is the unix port's socket as it is.
    def listen(self, *args):
        self._s.listen(*args)

    def send(self, data):
        return self._s.send(data)

    def sendall(self, data):
        return self._s.sendall(data)

    def recv(self, size, *args):
        return self._s.recv(size, *args)

    def read(self, *args):
        return self._s.read(*args)

    def readinto(self, *args):
        return self._s.readinto(*args)

    def readline(self, *args):
        return self._s.readline(*args)

    def write(self, *args):
        return self._s.write(*args)

    def setblocking(self, flag):
        self._s.setblocking(flag)

    def settimeout(self, value):
        self._s.settimeout(value)

    def setsockopt(self, *args):
        self._s.setsockopt(*args)

    def fileno(self):
        return self._s.fileno()

    def close(self):
        self._s.close()


def _own(address):
    """A connect()/sendto() to the board's own port below 1024 goes to its computer port."""
    if isinstance(address, tuple) and len(address) == 2 and address[1] in _port_map:
        if _text(address[0]) in _SELF:
            return ("127.0.0.1", _port_map[address[1]])
    return address


def install():
    import sys

    sys.modules["socket"] = sys.modules["usocket"] = sys.modules[__name__]
    # The firmware's frozen network modules sit on these sockets (a build without sockets
    # has none, as a board without Wi-Fi), and go into sys.modules before "/" is the flash.
    import _simfrozen

    _simfrozen.install(_simhw.cfg)
