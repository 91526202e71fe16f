"""The one way tests wait: for a condition, with a deadline.

Why not a fixed ``time.sleep``: a sleep long enough for a loaded CI machine (two cores shared by
boards, Thonny and pip) wastes time on every fast run, and one short enough for a fast run fails
under load. Waiting for the very thing the test then asserts on is both fast and steady, and a
deadline turns a hang into one clear failure that names what never happened.

``wait_until`` polls a predicate; ``wait_until_tk`` does the same while pumping a Tk root, for GUI
tests whose condition only comes true when Tk runs its ``after()`` callbacks; ``wait_for_file``
waits for a file that a process the test started writes once it is ready (``--port-file``,
``--endpoints-file``), and fails at once with its stderr if the process dies first. The short
sleep between polls is the only polling sleep the tests need.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, TypeVar

if TYPE_CHECKING:  # GUI-free tests never import tkinter through here
    import tkinter

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.02) -> T:
    """Poll `predicate` until it returns something truthy, and return that value.

    Raises AssertionError("waited {timeout} s for {what}") when the deadline passes; `what`
    says in words what never happened, so the failure explains itself. The deadline is looked
    at only after a poll, so the last poll ends at or after it: a slow predicate gets its full
    time.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(interval)


def wait_until_tk(
    root: tkinter.Misc,
    predicate: Callable[[], T],
    timeout: float,
    what: str,
    interval: float = 0.01,
) -> T:
    """Like `wait_until`, but run Tk's event loop (``root.update()``) between polls.

    GUI tests drive Tk without ``mainloop()``; the panels report through ``after()`` callbacks,
    which only run while someone pumps the loop.
    """

    def pumped() -> T:
        root.update()
        return predicate()

    return wait_until(pumped, timeout, what, interval)


def wait_for_file(
    path: Path, proc: subprocess.Popen, timeout: float, what: str, text: str = ""
) -> str:
    """Wait until `path` holds `text` (any text, when empty) and return its content.

    `proc` is the process that writes it. If it exits first, waiting on is pointless: the
    failure says so at once and carries the process's stderr (if it was piped).
    """

    def written() -> str | None:
        try:
            content = path.read_text(encoding="utf-8")
        except OSError:  # not there yet
            content = ""
        if text in content if text else content.strip():
            return content
        if proc.poll() is not None:
            try:
                _, err = proc.communicate(timeout=5)
            except (subprocess.TimeoutExpired, ValueError, OSError):  # a child holds the pipe,
                err = ""  # or the test closed the process's stdin itself
            if isinstance(err, bytes):
                err = err.decode(errors="replace")
            raise AssertionError(
                f"the process exited ({proc.returncode}) before {what}: {(err or '').strip()}"
            )
        return None

    return wait_until(written, timeout, what, interval=0.05)
