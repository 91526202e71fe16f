# Emulated `network` module. Runs inside MicroPython (the unix port).
#
# The host lists the networks in range (SSID and password) in the boot config. connect()
# returns at once and the link comes up about a second later, as on a real ESP32, so a script
# that does not wait for isconnected() fails here as it would on a board. The address is the
# loopback one, so a web server on the board is reachable from the host.
import time

import _simhw

STA_IF = 0
AP_IF = 1

# The status codes differ by port (v1.28): the ESP32's are its own numbers and ESP-IDF's
# WIFI_REASON_* (ports/esp32/modnetwork.h, modnetwork_globals.h), the ESP8266's are the SDK's
# STATION_* (ports/esp8266/modnetwork_globals.h; user_interface.h: 0..5), the Pico W's are
# CYW43_LINK_* (extmod/modnetwork.c; cyw43.h: down 0, join 1, up 3, fail -1, nonet -2,
# badauth -3). A script that prints status() sees the number its board would show.
_STATUS = {
    "esp32": {
        "IDLE": 1000,
        "CONNECTING": 1001,
        "GOT_IP": 1010,
        "BEACON_TIMEOUT": 200,
        "NO_AP_FOUND": 201,
        "WRONG_PASSWORD": 202,
        "ASSOC_FAIL": 203,
        "CONNECT_FAIL": 203,
        "HANDSHAKE_TIMEOUT": 204,
    },
    "esp8266": {
        "IDLE": 0,
        "CONNECTING": 1,
        "WRONG_PASSWORD": 2,
        "NO_AP_FOUND": 3,
        "CONNECT_FAIL": 4,
        "GOT_IP": 5,
    },
    "rp2": {
        "IDLE": 0,
        "CONNECTING": 1,
        "GOT_IP": 3,
        "CONNECT_FAIL": -1,
        "NO_AP_FOUND": -2,
        "WRONG_PASSWORD": -3,
    },
}


def _port():
    chip = _simhw.cfg.get("board", {}).get("chip", "esp32")
    return "esp8266" if chip == "esp8266" else "rp2" if chip.startswith("rp2") else "esp32"


for _key, _value in _STATUS[_port()].items():
    globals()["STAT_" + _key] = _value
del _key, _value
# WLAN.active(x) returns the new state only on the ESP32 (network_wlan.c); the ESP8266
# (network_wlan.c esp_active) and the Pico W (network_cyw43.c) return None.
_ACTIVE_RETURNS_STATE = _port() == "esp32"

AUTH_OPEN = 0
AUTH_WEP = 1
AUTH_WPA_PSK = 2
AUTH_WPA2_PSK = 3
AUTH_WPA_WPA2_PSK = 4

MODE_11B = 1
MODE_11G = 2
MODE_11N = 4

CONNECT_DELAY_MS = 900
FAIL_DELAY_MS = 1500

_hostname = ["mpy-esp32"]
_interfaces = {}


def hostname(name=None):
    if name is None:
        return _hostname[0]
    _hostname[0] = name


_dns = ["127.0.0.1"]


def ipconfig(*args, **kwargs):
    """Module-level ipconfig of v1.28 (esp_network_ipconfig in the ESP32 port's
    network_common.c): only the DNS server, read with ipconfig("dns") or set with dns=."""
    if not kwargs:
        if len(args) != 1:
            raise TypeError("must query one param")
        if args[0] == "dns":
            return _dns[0]
        raise ValueError("unexpected key")
    if args:
        raise TypeError("can't specify pos and kw args")
    for key, value in kwargs.items():
        if key != "dns":
            raise ValueError("unexpected key")
        parts = str(value).split(".")
        if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
            raise ValueError("invalid arguments as dns server")
        _dns[0] = value
    return None


def country(code=None):
    return "XX" if code is None else None


def _networks():
    return _simhw.cfg.get("wifi", [])


class WLAN:
    IF_STA = STA_IF
    IF_AP = AP_IF
    PM_NONE = 0
    PM_PERFORMANCE = 1
    PM_POWERSAVE = 2

    def __new__(cls, interface=STA_IF):
        # One object per interface, as on the real port: WLAN(STA_IF) twice is the same radio.
        if interface not in _interfaces:
            obj = object.__new__(cls)
            obj._init(interface)
            _interfaces[interface] = obj
        return _interfaces[interface]

    def __init__(self, interface=STA_IF):
        pass

    def _init(self, interface):
        self._if = interface
        self._active = False
        self._status = STAT_IDLE
        self._ssid = None
        self._since = 0
        self._outcome = STAT_IDLE
        self._ap_essid = "MPY-ESP32"
        self._ap_password = ""
        self._pm = 0
        self._static = None  # (ip, netmask, gateway, dns) set by ifconfig()/ipconfig()

    def active(self, is_active=None):
        if is_active is None:
            return self._active
        self._active = bool(is_active)
        if not self._active:
            self._status = STAT_IDLE
            self._outcome = STAT_IDLE
        return self._active if _ACTIVE_RETURNS_STATE else None

    def connect(self, ssid=None, key=None, *, bssid=None):
        if not self._active:
            raise OSError("Wifi Not Started")
        if self._if != STA_IF:
            raise OSError("STA required")
        ssid = ssid.decode() if isinstance(ssid, bytes) else ssid
        key = key.decode() if isinstance(key, bytes) else (key or "")
        self._ssid = ssid
        self._since = time.ticks_ms()
        self._status = STAT_CONNECTING
        for net in _networks():
            if net["ssid"] == ssid:
                self._outcome = STAT_GOT_IP if net["password"] == key else STAT_WRONG_PASSWORD
                break
        else:
            self._outcome = STAT_NO_AP_FOUND

    def disconnect(self):
        self._status = STAT_IDLE
        self._outcome = STAT_IDLE

    def status(self, param=None):
        if param == "rssi":
            if not self.isconnected():
                raise OSError("STA must be connected")
            return -58
        if param is not None:
            raise ValueError("unknown status param")
        if self._status == STAT_CONNECTING:
            waited = time.ticks_diff(time.ticks_ms(), self._since)
            delay = CONNECT_DELAY_MS if self._outcome == STAT_GOT_IP else FAIL_DELAY_MS
            if waited >= delay:
                self._status = self._outcome
        return self._status

    def isconnected(self):
        if self._if == AP_IF:
            return self._active
        return self._active and self.status() == STAT_GOT_IP

    def scan(self):
        if not self._active:
            raise OSError("Wifi Not Started")
        out = []
        for i, net in enumerate(_networks()):
            bssid = bytes((0x24, 0x6F, 0x28, 0x10, 0x20, 0x30 + i))
            out.append((net["ssid"].encode(), bssid, 6, -50 - 7 * i, AUTH_WPA2_PSK, False))
        return out

    def ifconfig(self, config=None):
        if config is not None:
            if len(config) != 4:
                raise ValueError("invalid arguments")
            self._static = tuple(config)
            return None
        if self._static is not None and (self._if == AP_IF or self._active):
            return self._static
        if self._if == AP_IF and self._active:
            return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")
        if self.isconnected():
            return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")
        return ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")

    def ipconfig(self, *args, **kwargs):
        """As esp_ipconfig in the ESP32 port's network_common.c: one key to read, or keywords
        (addr4, gw4, dhcp4) to set; anything else is the port's ValueError."""
        if not kwargs:
            if len(args) != 1:
                raise TypeError("must query one param")
            key = args[0]
            if key == "addr4":
                addr = self.ifconfig()
                return (addr[0], addr[1])
            if key == "gw4":
                return self.ifconfig()[2]
            if key == "dhcp4" and self._if == STA_IF:
                return self._static is None
            raise ValueError("unexpected key")
        if args:
            raise TypeError("can't specify pos and kw args")
        for key in kwargs:
            if key not in ("addr4", "gw4") and not (key == "dhcp4" and self._if == STA_IF):
                raise ValueError("unexpected key")
        current = list(self.ifconfig())
        if "dhcp4" in kwargs and kwargs["dhcp4"]:
            self._static = None
            return None
        if "addr4" in kwargs:
            addr = kwargs["addr4"]
            if isinstance(addr, str):
                ip, _, bits = addr.partition("/")
                current[0] = ip
                if bits:
                    mask = (0xFFFFFFFF << (32 - int(bits))) & 0xFFFFFFFF
                    current[1] = ".".join(str((mask >> s) & 0xFF) for s in (24, 16, 8, 0))
            else:
                current[0], current[1] = addr
        if "gw4" in kwargs:
            current[2] = kwargs["gw4"]
        self._static = tuple(current)
        return None

    def config(self, *args, **kwargs):
        if kwargs:
            if "essid" in kwargs or "ssid" in kwargs:
                self._ap_essid = kwargs.get("essid", kwargs.get("ssid"))
            if "password" in kwargs or "key" in kwargs:
                self._ap_password = kwargs.get("password", kwargs.get("key"))
            if "pm" in kwargs:
                self._pm = kwargs["pm"]
            if "hostname" in kwargs or "dhcp_hostname" in kwargs:
                hostname(kwargs.get("hostname", kwargs.get("dhcp_hostname")))
            return None
        key = args[0]
        if key == "mac":
            import machine

            mac = bytearray(machine.unique_id())
            mac[5] = (mac[5] + self._if) & 0xFF
            return bytes(mac)
        if key in ("essid", "ssid"):
            return self._ap_essid if self._if == AP_IF else (self._ssid or "")
        if key in ("hostname", "dhcp_hostname"):
            return hostname()
        if key == "channel":
            return 6
        if key == "pm":
            return self._pm
        if key == "txpower":
            return 20
        if key == "security" or key == "authmode":
            return AUTH_WPA2_PSK if self._ap_password else AUTH_OPEN
        raise ValueError("unknown config param")
