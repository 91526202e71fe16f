# `_onewire` as the official firmware has it (the C module under onewire.py); the code is in
# frozen_src/_onewire.py and runs on first use, so it costs heap only when used (_simfrozen.py).
import _simfrozen

__getattr__ = _simfrozen.lazy(globals())
