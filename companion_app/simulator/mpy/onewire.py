# `onewire` as the official firmware has it (frozen on ESP32, ESP8266 and RP2); the code is in
# frozen_src/onewire.py and runs on first use, so it costs heap only when used (_simfrozen.py).
import _onewire  # noqa: F401 (the C module's stand-in, reachable now, before / is remounted)
import _simfrozen

__getattr__ = _simfrozen.lazy(globals())
