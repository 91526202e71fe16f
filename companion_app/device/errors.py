"""Errors of the device link, worded for the person holding the cable.

Every failure of opening a port or talking to a board maps to one of these classes, so the GUI
and the `iotkit` command can show `str(exc)` as is. The mapping from what pyserial and the OS
raise lives here too (`describe_open_error`), so it can be tested without any hardware.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import sys

from companion_app.device.ports import group_advice, has_no_modem_lines
from companion_app.errors import IotkitError, UsageError

log = logging.getLogger(__name__)

_CABLE_HINT = (
    "Check that the board is plugged in and that the USB cable carries data: a charge-only "
    "cable is the classic cause (the board lights up but no port appears)."
)

# Short explanations for the errno names MicroPython prints, e.g. "OSError: [Errno 2] ENOENT".
ERRNO_HINTS = {
    "ENOENT": "no such file or directory on the board",
    "EEXIST": "it already exists on the board",
    "EISDIR": "it is a directory, not a file",
    "ENOTDIR": "a part of the path is a file, not a directory",
    "ENOTEMPTY": "the directory is not empty",
    "ENOSPC": "the board's flash is full: remove files you no longer need",
    "ENOMEM": "the board ran out of memory",
    "EACCES": "permission denied",
    "EROFS": "the board's file system is read-only",
    "EIO": "the board reported an input/output error in its flash",
    "EINVAL": "invalid argument",
}


class LinkError(IotkitError):
    """Base of every failure of the device link."""


class PortNotFoundError(LinkError):
    """The port name points at nothing: unplugged board, typo, or a charge-only cable."""

    def __init__(self, port: str, available: list[str] | None = None, detail: str = "") -> None:
        self.port = port
        self.available = list(available) if available is not None else _list_ports()
        if port.startswith(("socket://", "rfc2217://")):
            what = f"Nothing answers at {port}"
            hint = "Start the virtual board (iotkit sim --tcp PORT) or check the address."
        else:
            what = f"Serial port {port} does not exist"
            hint = _CABLE_HINT
        if self.available:
            found = "Ports found: " + ", ".join(self.available) + "."
        else:
            found = "No serial ports were found at all."
        text = f"{what}{f' ({detail})' if detail else ''}. {found} {hint}"
        super().__init__(text)


class PortPermissionError(LinkError):
    """The OS refuses us the port; on Linux nearly always a missing group membership."""

    def __init__(self, port: str, detail: str = "") -> None:
        self.port = port
        if sys.platform.startswith("linux"):
            advice = group_advice()
            hint = f"{advice[0].upper()}{advice[1:]}."
        elif sys.platform == "darwin":
            hint = "Check the port's permissions, or unplug and replug the board."
        else:
            hint = "Check that no other program uses the port and that you may open it."
        super().__init__(
            f"No permission to open serial port {port}{f' ({detail})' if detail else ''}. {hint}"
        )


class PortBusyError(LinkError):
    """Another program holds the port; we name it when the OS lets us see who."""

    def __init__(self, port: str, holders: list[str] | None = None) -> None:
        self.port = port
        self.holders = list(holders) if holders is not None else find_port_holders(port)
        if self.holders:
            who = ", ".join(self.holders)
        else:
            who = "another program such as Thonny, mpremote or a serial monitor"
        super().__init__(
            f"Serial port {port} is in use by {who}. Close that program (or stop its "
            "connection to the board), then try again."
        )


class PortSharedError(LinkError):
    """Another program has the port open without locking it, and reads the board's answers.

    pyserial's exclusive lock only keeps out programs that lock too; `cat /dev/ttyUSB0`, a
    serial monitor or a script with a plain open() still read the same bytes, and what they
    take never reaches us. Without this, the failure looks like a board that stopped answering.
    """

    ADVICE = "Close that program (or stop its connection to the board), then try again."

    def __init__(self, port: str, holders: list[str]) -> None:
        self.port = port
        self.holders = list(holders)
        # `reason` is the sentence without advice, for messages that give their own.
        self.reason = (
            f"another program has serial port {port} open too and takes the board's answers: "
            f"{', '.join(self.holders)}"
        )
        super().__init__(f"{self.reason[0].upper()}{self.reason[1:]}. {self.ADVICE}")


def shared_port_error(port: str) -> PortSharedError | None:
    """A PortSharedError if other processes have `port` open (Linux; None elsewhere or when
    nobody else has it). Called when a link fails, to tell a stolen answer from a dead board."""
    others = find_port_holders(port, exclude_self=True)
    return PortSharedError(port, others) if others else None


class NoResponseError(LinkError):
    """Nothing MicroPython-like answered, or the board stopped answering."""

    DEFAULT_HINT = (
        "Press the board's reset (EN/RST) button, check the baud rate (115200), "
        "or flash MicroPython first."
    )

    def __init__(self, port: str, what: str | None = None, hint: str | None = None) -> None:
        self.port = port
        what = what or f"No MicroPython answered on {port}"
        super().__init__(f"{what}. {hint or self.DEFAULT_HINT}")


class DeviceDisconnectedError(LinkError):
    """The board went away in the middle of an operation.

    The OS's own wording ("device reports readiness to read but returned no data") helps nobody
    at a lab bench, so it goes to `detail` and the log, not into the message.
    """

    def __init__(self, port: str, path: str | None = None, detail: str = "") -> None:
        self.port = port
        self.path = path
        self.detail = detail
        if detail:
            log.debug("%s disconnected: %s", port, detail)
        virtual = has_no_modem_lines(port)
        if virtual:
            text = f"The board on {port} stopped answering: the virtual board was closed"
            advice = "Reconnect to start it again"
        else:
            text = f"The board on {port} was disconnected"
            advice = "Check the USB cable and plug the board back in"
        if path:
            advice += f". The file {path} may be incomplete on the board, so write it again"
        super().__init__(f"{text}. {advice}.")


class ExecTimeoutError(LinkError):
    """Code on the board ran longer than allowed without printing; it was interrupted."""

    def __init__(self, port: str, seconds: float, interrupted: bool) -> None:
        self.port = port
        self.seconds = seconds
        done = (
            "It was stopped with Ctrl-C."
            if interrupted
            else "Stopping it with Ctrl-C did not work either: press the board's reset button."
        )
        super().__init__(
            f"The code on the board ran for more than {seconds:g} s without any output. {done}"
        )


class DeviceExecError(LinkError):
    """Code ran on the board and raised; carries the board's own traceback text."""

    def __init__(
        self, remote_traceback: str, stdout: bytes = b"", context: str | None = None
    ) -> None:
        self.remote_traceback = remote_traceback
        self.stdout = stdout
        self.context = context
        lines = [ln.strip() for ln in remote_traceback.strip().splitlines() if ln.strip()]
        self.last_line = lines[-1] if lines else "unknown error"
        self.errno_name, self.errno = _parse_errno(self.last_line)
        text = self.last_line
        if self.errno_name in ERRNO_HINTS:
            text += f" ({ERRNO_HINTS[self.errno_name]})"
        if context:
            text = f"{context} failed on the board: {text}"
        else:
            text = f"The code on the board raised {text}"
        super().__init__(text)


def _parse_errno(line: str) -> tuple[str | None, int | None]:
    """Read "OSError: [Errno 2] ENOENT" or the bare "OSError: 2" of small ports."""
    m = re.search(r"OSError: \[Errno (\d+)\] (E[A-Z]+)", line)
    if m:
        return m.group(2), int(m.group(1))
    m = re.search(r"OSError: (-?\d+)\s*$", line)
    if m:
        num = int(m.group(1))
        return errno.errorcode.get(abs(num)), abs(num)
    return None, None


def _list_ports() -> list[str]:
    try:
        from serial.tools import list_ports

        return sorted(p.device for p in list_ports.comports())
    except Exception:  # listing is a courtesy in an error message; never mask the real error
        log.debug("could not list serial ports", exc_info=True)
        return []


_FRIENDLY_NAMES = (
    ("thonny", "Thonny"),
    ("mpremote", "mpremote"),
    ("miniterm", "pyserial miniterm"),
    ("esptool", "esptool"),
    ("arduino", "the Arduino IDE"),
    ("screen", "screen"),
    ("minicom", "minicom"),
    ("picocom", "picocom"),
    ("putty", "PuTTY"),
    ("iotkit", "iotkit"),
)


def find_port_holders(port: str, exclude_self: bool = False) -> list[str]:
    """Name the processes holding `port` open, e.g. ["Thonny (pid 1234)"].

    Only Linux exposes this cheaply (/proc/*/fd); elsewhere, and for processes of other users,
    we return what we can see, possibly nothing. `exclude_self` leaves this process out.
    """
    if not sys.platform.startswith("linux") or "://" in port:
        return []
    try:
        target = os.path.realpath(port)
        st = os.stat(target)
    except OSError:
        return []
    holders: list[str] = []
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return []
    for pid in pids:
        if exclude_self and int(pid) == os.getpid():
            continue
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if link != target:
                continue
            try:
                fst = os.stat(f"{fd_dir}/{fd}")
                if fst.st_rdev != st.st_rdev:
                    continue
            except OSError:
                pass
            holders.append(_describe_process(int(pid)))
            break
    return holders


def _describe_process(pid: int) -> str:
    if pid == os.getpid():
        return f"this program (pid {pid})"
    name = ""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").lower()
    except OSError:
        cmdline = ""
    for key, friendly in _FRIENDLY_NAMES:
        if key in cmdline:
            name = friendly
            break
    if not name:
        try:
            with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
                name = f.read().strip()
        except OSError:
            name = "a program"
    return f"{name} (pid {pid})"


def describe_open_error(port: str, exc: BaseException) -> LinkError:
    """Turn what pyserial/the OS raised when opening `port` into an explained LinkError.

    pyserial wraps OS errors in SerialException(errno, text) for local ports, and in a bare
    SerialException(text) for socket:// URLs, so we look at both the errno and the text.
    """
    num = getattr(exc, "errno", None)
    text = str(exc)
    if isinstance(exc, OSError) and num is None and exc.args and isinstance(exc.args[0], int):
        num = exc.args[0]
    low = text.lower()
    if num in (errno.ENOENT, errno.ENODEV, errno.ENXIO) or "filenotfounderror" in low:
        return PortNotFoundError(port)
    if num in (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK) or "exclusively lock" in low:
        return PortBusyError(port)
    if sys.platform == "win32" and ("access is denied" in low or "permissionerror" in low):
        # Windows reports a port held by another program as "Access is denied".
        return PortBusyError(port)
    if num in (errno.EACCES, errno.EPERM) or "permission denied" in low:
        return PortPermissionError(port)
    if "://" in port:
        detail = "connection refused" if "refused" in low else text
        return PortNotFoundError(port, detail=detail)
    if "could not configure port" in low or num == errno.ENOTTY:
        return NoResponseError(
            port,
            what=f"{port} is not a serial port ({text})",
            hint="Pick the board's port from the list of ports.",
        )
    log.debug("unmapped open error on %s: %r", port, exc)
    return PortNotFoundError(port, detail=text)


class DeployError(IotkitError):
    """A deploy could not be done; the message says what to do."""


class DeployUsageError(DeployError, UsageError):
    """The request itself is wrong: unknown template, bad config value, missing folder."""

    exit_code = 2
