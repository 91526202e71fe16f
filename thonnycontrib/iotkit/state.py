"""Where the plug-in's running state is found: `plugin_state()`.

Thonny creates a view (views.py) or an options page (options.py) by calling its class, and
those need the plug-in's state to build a panel or to apply the options. They find it here,
in a module that imports nothing of the plug-in, so no module has to import back the one that
registers everything (host.py) and no import cycle can form.
"""

from __future__ import annotations

from typing import Any

_STATE: Any = None


def plugin_state() -> Any:
    """The plug-in's `host.PluginState`, or None before it loaded or when loading failed.

    Typed ``Any`` on purpose: naming the class would mean importing host.py back.
    """
    return _STATE


def set_plugin_state(state: Any) -> None:
    """Called once by ``host.load()`` (and with None by tests that unload it)."""
    global _STATE
    _STATE = state
