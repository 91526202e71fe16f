# config.py - the settings every IoT Kit program reads, from /config.json on the board.
#
# `iotkit deploy` (or the Deploy panel) writes /config.json. You can also edit it in
# Thonny: open it from the board, change a value, save. Missing keys get the defaults
# below, so an old config.json keeps working after an update.
#
# Usage:
#     import config
#     cfg = config.load()
#     print(cfg["interval_s"])

import json

CONFIG_FILE = "/config.json"

DEFAULTS = {
    "device_name": "iotkit",
    "wifi_ssid": "",
    "wifi_password": "",  # never printed by any of our programs
    "sensor": "dht22",  # dht22 | dht11 | bme280 | none
    "sensor_pin": 14,  # DHT data pin
    "i2c_sda": 21,  # BME280 on I2C
    "i2c_scl": 22,
    "interval_s": 2,
    "mqtt_broker": "",  # host or host:port
    "mqtt_topic": "iotkit/readings",  # each reading, as a line: temp_c:22.5,humidity:41.0
    "mqtt_status_topic": "",  # "online"/"offline" (retained); "" = mqtt_topic's .../status
    "mqtt_keepalive_s": 60,  # the broker declares the board offline after 1.5 times this
    "ota_url": "",  # where ota.py finds manifest.json
    "ota_check_s": 3600,  # how often ota.py looks for a new version
    "ota_timeout_s": 30,  # the longest the manifest download may take (a file: more by size)
    "ota_good_after_s": 30,  # how long a new version must run well before it is kept
    "ota_watchdog_ms": 5000,  # the watchdog of a trial boot (ESP8266: 5000 only; RP2040: <= 8388)
    "web_port": 80,
    # Our extensions (shared/CONTRACTS.md allows them):
    "parts": [],  # which programs main.py starts, e.g. ["wifi", "sensor", "web"]
    "button_pin": 0,
    "led_pin": 2,
    "log_file": "/log/readings.csv",
    "log_max_bytes": 32768,  # rotate the log when it grows past this
    "log_keep": 3,  # how many rotated files to keep
}


def load(path=CONFIG_FILE):
    """Return the settings: DEFAULTS overlaid with what /config.json says."""
    cfg = dict(DEFAULTS)
    try:
        with open(path) as f:
            cfg.update(json.load(f))
    except OSError:
        print("config: no", path, "- using defaults")
    except ValueError:
        # A broken file must not stop the board from booting.
        print("config:", path, "is not valid JSON - using defaults")
    return cfg


def public(cfg):
    """A copy that is safe to print or send: secrets are replaced by '***'."""
    safe = dict(cfg)
    for key in safe:
        if "password" in key.lower() and safe[key]:
            safe[key] = "***"
    return safe
