"""Thonny IoT Kit's Thonny plugin: a thin host for the companion's panels.

Thonny imports this module at start and calls load_plugin(). Thonny 5.0.1 does not catch
exceptions from it, so it must stay cheap and must never raise: panels (and matplotlib or
esptool behind them) load only when a view is first opened.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def load_plugin() -> None:
    try:
        from thonny import get_workbench

        get_workbench()  # the plugin's views and commands are registered here by a later release
        log.info("Thonny IoT Kit plugin loaded")
    except Exception:  # never break Thonny's start
        log.exception("Thonny IoT Kit plugin failed to load")
