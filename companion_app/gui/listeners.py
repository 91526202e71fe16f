"""The listener list a board connection keeps for its panels (the companion's and Thonny's)."""

from __future__ import annotations

import logging
from typing import Any, Callable

log = logging.getLogger(__name__)

Listener = Callable[[str, Any], None]


class Listeners:
    """Panels subscribe with ``add_listener(callback)``; ``_emit(event, payload)`` calls them all
    in the Tk thread. A panel whose callback raises is logged and the others still hear."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def add_listener(self, callback: Listener) -> None:
        if callback not in self._listeners:
            self._listeners.append(callback)

    def remove_listener(self, callback: Listener) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    def _emit(self, event: str, payload: Any) -> None:
        for callback in list(self._listeners):
            try:
                callback(event, payload)
            except Exception:  # noqa: BLE001 - one broken panel must not break the others
                log.exception("panel listener failed on %s", event)
