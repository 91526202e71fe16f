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

STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_BEACON_TIMEOUT = 200
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_ASSOC_FAIL = 203
STAT_HANDSHAKE_TIMEOUT = 204

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

    def active(self, is_active=None):
        if is_active is None:
            return self._active
        self._active = bool(is_active)
        if not self._active:
            self._status = STAT_IDLE
            self._outcome = STAT_IDLE
        return None

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
            return None
        if self._if == AP_IF and self._active:
            return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")
        if self.isconnected():
            return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")
        return ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")

    def ipconfig(self, key=None, **kw):
        if key == "addr4":
            addr = self.ifconfig()
            return (addr[0], addr[1])
        if key == "dhcp4":
            return True
        if key == "gw4":
            return self.ifconfig()[2]
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
