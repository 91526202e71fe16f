import gc
import logging
import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from gui_helpers import ARTIFACTS  # noqa: E402  (needs the line above)

# A run started in the background by a non-interactive shell (`make test &`) begins with SIGINT
# ignored, and every command the tests start inherits that, so the tests of what Ctrl-C does
# could only fail. Put the usual handler back (a child then gets the default action).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


# --- one X display per test process --------------------------------------------------------------
# Under pytest-xdist the workers of one pass shared the Xvfb display xvfb-run made, so a window
# of one worker could lie over another's and be in its screenshot (a light plot window was seen
# in a "dark Thonny" screenshot), or take the focus a test was waiting for. Each worker starts its
# own Xvfb, the size of xvfb-run's, and everything it starts (Thonny too) inherits DISPLAY.
_OWN_XVFB = None


def _start_own_display() -> None:
    global _OWN_XVFB
    import os
    import shutil
    import subprocess

    if not (os.environ.get("PYTEST_XDIST_WORKER") and os.environ.get("DISPLAY")):
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        return  # keep the shared display: the screenshots may then show a neighbour's window
    read_fd, write_fd = os.pipe()
    screen = os.environ.get("IOTKIT_TEST_SCREEN", "1400x1050x24")
    _OWN_XVFB = subprocess.Popen(
        [xvfb, "-displayfd", str(write_fd), "-screen", "0", screen, "-nolisten", "tcp", "-ac"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as reader:
        number = reader.readline().strip()  # Xvfb writes it once it accepts connections
    if not number.isdigit():
        _OWN_XVFB.kill()
        _OWN_XVFB = None
        return
    os.environ["DISPLAY"] = f":{number}"


def pytest_configure(config):
    _start_own_display()


def pytest_unconfigure(config):
    if _OWN_XVFB is not None:
        _OWN_XVFB.terminate()
        try:
            _OWN_XVFB.wait(timeout=10)
        except Exception:  # noqa: BLE001 - it is going anyway
            _OWN_XVFB.kill()


@pytest.fixture(autouse=True)
def collect_tk_garbage_in_main_thread():
    """Collect each test's garbage here, in the main thread.

    Tk objects left in reference cycles by a closed window would otherwise be collected by
    whichever thread next triggers the cyclic GC: a serial worker, say. Tk must only be touched
    from the main thread; a Tcl interpreter freed from another one aborts the process
    ("Tcl_AsyncDelete: async handler deleted by the wrong thread").
    """
    yield
    gc.collect()


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Practice chips' flash files and the firmware cache in temp folders, not the user's."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("IOTKIT_FIRMWARE_CACHE", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture
def checked_root(env):
    """A real Tk window whose every Tcl call is watched for calls from worker threads:
    (root, checker); assert ``checker.offenders == []`` at the end."""
    import tkinter as tk

    from gui_helpers import ThreadCheckingTk, require_display

    require_display()
    root = tk.Tk()
    root.geometry("960x640+0+0")
    checker = ThreadCheckingTk(root.tk)
    root.tk = checker  # every widget made from here on copies this object
    yield root, checker
    try:
        root.destroy()
    except tk.TclError:
        pass


@pytest.fixture
def root():
    """A real Tk window (under Xvfb in `make test`), destroyed after the test.

    A test file may define its own `root` for a different size or a checked Tk; this is the
    usual one. GUI tests are skipped, never failed, where there is no X display at all.
    """
    import tkinter as tk

    from gui_helpers import require_display

    require_display()
    window = tk.Tk()
    window.geometry("960x640+0+0")
    yield window
    try:
        window.destroy()
    except tk.TclError:  # the test closed it itself
        pass


@pytest.fixture(autouse=True)
def secrets_of_one_test_stay_in_it():
    """The secrets a test's deploys and boards taught this process are forgotten after it: a
    password such as "micropython" would otherwise mask that word in every later test."""
    yield
    from companion_app import secrets

    secrets.forget_all()


@pytest.fixture(autouse=True)
def wifi_password_never_logged(caplog):
    """Every test: no log record anywhere carries the test Wi-Fi password."""
    from secret_helpers import assert_no_secret

    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += repr(record.exc_info[1])
        assert_no_secret(text)


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def vboard(tmp_path):
    """A virtual ESP32 with the default wiring and a fresh flash."""
    from companion_app.simulator import VirtualBoard

    board = VirtualBoard(flash_dir=tmp_path / "flash")
    board.start()
    yield board
    board.stop()


@pytest.fixture
def console(vboard):
    from sim_helpers import RawConsole

    c = RawConsole(vboard.port)
    c.friendly()
    yield c
    c.close()


def venv_bin(name: str) -> str:
    """A console script installed beside the running interpreter (mpremote, iotkit)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked `pty` are about pseudo-terminals: on an OS without them (Windows, or the
    Windows-like pass of tests/windows_like/) they are skipped, with the reason, not failed."""
    if item.get_closest_marker("pty") is None:
        return
    from companion_app.simulator.host import pty_supported

    if not pty_supported():
        pytest.skip("needs a pty (termios, os.openpty), which this OS or test pass does not have")
