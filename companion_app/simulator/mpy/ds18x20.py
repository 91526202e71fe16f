# `ds18x20` as the official firmware has it (frozen on ESP32, ESP8266 and RP2); the code is in
# frozen_src/ds18x20.py and runs on first use, so it costs heap only when used (_simfrozen.py).
import _simfrozen

__getattr__ = _simfrozen.lazy(globals())
