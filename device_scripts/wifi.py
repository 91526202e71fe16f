# wifi.py - join your Wi-Fi network, stay joined, or open an access point if it cannot.
#
# From the REPL:            import wifi, config
#                           wifi.connect(config.load())   ->  '192.168.1.42'  (or None)
# From main.py (a task):    asyncio.create_task(wifi.run(cfg))
#
# Many examples wait with `while not sta.isconnected(): pass`. With a wrong password that loop
# never ends and the board looks dead. Here every wait has a time limit, and the reason for a
# failure is printed in words. The password itself is never printed.
import time
import asyncio

try:
    import network
except ImportError:  # a Raspberry Pi Pico (not the W) and other boards without Wi-Fi
    network = None

CONNECT_TIMEOUT_S = 20  # connect() gives up after this long, all tries together
TRIES = 3  # a network that is not found may just be slow to start: try again
RETRY_PAUSE_MS = 500
POLL_MS = 100  # how often we look at the connection status while waiting
CHECK_EVERY_S = 5  # run(): how often we check that we are still connected
BACKOFF_FIRST_S = 5  # run(): wait before reconnecting, doubling after each failure...
BACKOFF_MAX_S = 120  # ...up to this
AP_PASSWORD_MIN_LEN = 8  # WPA2 needs at least 8 characters; shorter means an open network

ip = None  # the board's address, or None
mode = None  # "sta" (joined your network), "ap" (its own access point) or None
_tried = False  # connect() has run (run() need not make you wait for it twice)

# Status codes in words. The names exist on ESP32, ESP8266 and the Pico W, with other numbers.
_REASONS = (
    ("STAT_WRONG_PASSWORD", "wrong password - check wifi_password in config.json"),
    ("STAT_NO_AP_FOUND", "no network with that name is in range - check wifi_ssid"),
    ("STAT_CONNECT_FAIL", "the connection failed"),
    ("STAT_ASSOC_FAIL", "the network refused the board"),
    ("STAT_HANDSHAKE_TIMEOUT", "no answer to the password handshake (wrong password?)"),
    ("STAT_BEACON_TIMEOUT", "the network stopped answering"),
)


def _reason(status):
    for name, words in _REASONS:
        if getattr(network, name, None) == status:
            return words
    return "status %s" % status


def _failed(sta):
    """None while still trying, else the status that says why it failed."""
    status = sta.status()
    for name, _ in _REASONS:
        if getattr(network, name, None) == status:
            return status
    return None


def _start(cfg, attempt):
    sta = network.WLAN(network.STA_IF)
    sta.active(True)
    if attempt == 1:
        print("wifi: connecting to %r" % cfg["wifi_ssid"])
    else:
        print("wifi: trying again to join %r" % cfg["wifi_ssid"])
    sta.connect(cfg["wifi_ssid"], cfg["wifi_password"])
    return sta


def _joined(sta, cfg):
    global ip, mode
    ip, mode = sta.ifconfig()[0], "sta"
    print("wifi: connected to %r, IP %s" % (cfg["wifi_ssid"], ip))
    return ip


def connect(cfg, timeout_s=CONNECT_TIMEOUT_S):
    """Join cfg's network. Returns the IP address, or None after timeout_s at most."""
    global ip, mode, _tried
    _tried = True
    if network is None:
        print("wifi: this board has no Wi-Fi (there is no network module)")
        return None
    if not cfg["wifi_ssid"]:
        print("wifi: wifi_ssid is empty in config.json")
        return None
    sta = network.WLAN(network.STA_IF)
    if sta.active() and sta.isconnected():
        return _joined(sta, cfg)  # already connected, e.g. by an earlier call
    deadline = time.ticks_add(time.ticks_ms(), int(timeout_s * 1000))
    left = lambda: time.ticks_diff(deadline, time.ticks_ms())
    for attempt in range(1, TRIES + 1):
        sta = _start(cfg, attempt)
        status = None
        while left() > 0 and not sta.isconnected():
            status = _failed(sta)
            if status is not None:
                break
            time.sleep_ms(POLL_MS)
        if sta.isconnected():
            return _joined(sta, cfg)
        sta.disconnect()  # stop trying in the background
        print(
            "wifi: joining %r failed: %s"
            % (cfg["wifi_ssid"], _reason(status) if status is not None else "no answer in time")
        )
        if status == getattr(network, "STAT_WRONG_PASSWORD", None) or left() <= RETRY_PAUSE_MS:
            break  # trying the same password again will not help
        time.sleep_ms(RETRY_PAUSE_MS)
    ip, mode = None, None
    return None


def start_ap(cfg):
    """Open the board's own access point, named after device_name, so you can still reach it."""
    global ip, mode
    ap = network.WLAN(network.AP_IF)
    ap.active(True)
    password = cfg.get("ap_password", "")
    if len(password) >= AP_PASSWORD_MIN_LEN:
        ap.config(
            essid=cfg["device_name"],
            password=password,
            authmode=getattr(network, "AUTH_WPA2_PSK", 3),
        )
    else:
        ap.config(essid=cfg["device_name"])  # an open network: anyone nearby can join it
    ip, mode = ap.ifconfig()[0], "ap"
    print("wifi: started access point %r - join it and open http://%s/" % (cfg["device_name"], ip))
    return ip


async def run(cfg):
    """Stay connected: reconnect with growing pauses; meanwhile keep an access point open."""
    global ip, mode
    if network is None:
        print("wifi: this board has no Wi-Fi (there is no network module)")
        return
    sta = network.WLAN(network.STA_IF)
    if not _tried:  # main.py has usually called connect() already
        connect(cfg)
    if mode is None:
        start_ap(cfg)  # no luck: open an access point so you can still reach the board
    backoff = BACKOFF_FIRST_S
    while True:
        if sta.isconnected():
            await asyncio.sleep(CHECK_EVERY_S)
            continue
        if mode == "sta":
            print("wifi: lost the connection to %r" % cfg["wifi_ssid"])
            ip, mode = None, None
        if not cfg["wifi_ssid"]:
            await asyncio.sleep(CHECK_EVERY_S)  # nothing to join: the access point stays open
            continue
        await asyncio.sleep(backoff)
        sta = _start(cfg, 1)
        for _ in range(CONNECT_TIMEOUT_S * 1000 // POLL_MS):  # wait, but let other tasks run
            if sta.isconnected() or _failed(sta) is not None:
                break
            await asyncio.sleep_ms(POLL_MS)
        if sta.isconnected():
            _joined(sta, cfg)
            network.WLAN(network.AP_IF).active(False)  # back on your network: close the AP
            backoff = BACKOFF_FIRST_S
            continue
        sta.disconnect()
        print("wifi: joining %r failed again - next try in %d s" % (cfg["wifi_ssid"], backoff))
        backoff = min(backoff * 2, BACKOFF_MAX_S)
        if mode is None:
            start_ap(cfg)
