"""How the plug-in tells a person something: errors, handover lines, and guarding Thonny.

- An error (`Messages.report`) is masked (it may quote what the board printed), logged to
  Thonny's frontend.log, kept in `Messages.errors` (the tests read it), and shown in the view
  it belongs to, else in the Shell.
- A handover line (`Messages.announce`) goes to the Shell's notice bar and to every view's
  status line; an empty line takes it away again, but leaves a panel's own message alone.
- `guarded` wraps every command and event handler the plug-in registers: Thonny shows a modal
  dialog for an exception from one, so none may escape. How a failure is worded and logged is
  decided in one place for the whole project, `companion_app.gui.jobs`.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Callable, Mapping

from companion_app.gui.jobs import describe_error, log_failure
from companion_app.secrets import mask_text

log = logging.getLogger("thonnycontrib.iotkit")

MAX_ERRORS = 200
MAX_ANNOUNCED = 20


def _shell() -> Any:
    from thonny import get_shell

    return get_shell()


class Messages:
    """The errors and handover lines of the plug-in, shown in the views of `views` (by title)."""

    def __init__(self, views: Mapping[str, Any]) -> None:
        self.views = views  # the live mapping of the view registry: views built later count
        self.errors: list[str] = []
        self._announced: list[str] = []  # handover lines shown in the views, cleared after

    def record_error(self, text: str) -> None:
        self.errors.append(text)
        del self.errors[:-MAX_ERRORS]

    def report(self, text: str, view: str | None = None) -> None:
        """An error for a person: kept, logged, and shown in the view or else the Shell."""
        text = mask_text(text)  # an error may quote board output
        log.warning("%s", text)
        self.record_error(text)
        target = self.views.get(view) if view else None
        if target is not None:
            target.show_status(text, error=True)
            return
        try:
            _shell().print_error(f"\nIoT Kit: {text}\n")
        except Exception:  # noqa: BLE001
            log.debug("could not print to the Shell", exc_info=True)

    def announce(self, line: str) -> None:
        """Handover messages: the Shell's notice bar (empty text hides it) and the views."""
        try:
            _shell().set_notice(line or None)
        except Exception:  # noqa: BLE001
            log.debug("could not show the Shell notice", exc_info=True)
        for view in self.views.values():
            if line:
                view.show_status(line)
            elif view.status_var.get() in self._announced:
                view.show_status("")  # the handover is over; a panel's own message stays
        if line:
            self._announced.append(line)
            del self._announced[:-MAX_ANNOUNCED]
        else:
            self._announced.clear()


def guarded(
    what: str, func: Callable[..., Any], report: Callable[[str], None]
) -> Callable[..., Any]:
    """`func` as Thonny may call it: a failure is logged and reported, never raised.

    `what` names the command or event for the person ("Check wiring of this script").
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - Thonny would show a modal dialog
            log_failure("%s failed", exc, what)
            report(describe_error(exc, what=f'"{what}"'))
            return None

    return wrapper
