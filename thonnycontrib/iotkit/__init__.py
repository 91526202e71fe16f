"""Thonny IoT Kit's Thonny plugin: a thin host for the companion's panels.

Thonny imports this module at start and calls load_plugin(). Thonny 5.0.1 does not catch
exceptions from it, so it must stay cheap and must never raise: panels (and matplotlib, numpy
or esptool behind them) load only when a view is first opened.

What it adds (see docs/thonny.md): the views "IoT Flash", "IoT Wiring", "IoT Deploy",
"IoT Plot" and "IoT Class" (ids in `VIEW_IDS`), six Tools-menu commands, the "IoT Kit" options
page, a port handover with Thonny's MicroPython backend, Shell output as plot input, and
virtual boards.
The running state is `thonnycontrib.iotkit.state.plugin_state()` (also importable from
`thonnycontrib.iotkit.host`); host.py says which module holds which concern.
"""

from __future__ import annotations

import logging
import time

# View ids are the view classes' names (Thonny's rule); the panels' titles are the keys.
from thonnycontrib.iotkit.ids import VIEW_IDS

log = logging.getLogger(__name__)

__all__ = ["VIEW_IDS", "load_plugin"]


def load_plugin() -> None:
    t0 = time.perf_counter()
    try:
        from thonnycontrib.iotkit import host

        host.load()
        log.info("Thonny IoT Kit plugin loaded in %.0f ms", (time.perf_counter() - t0) * 1000)
    except Exception:  # never break Thonny's start
        log.exception("Thonny IoT Kit plugin failed to load")
