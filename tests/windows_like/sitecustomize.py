"""A Windows-like Python on Linux, for the second CI pass (`make test-windows-like`).

Why: most lab PCs run Windows, where `termios`, `tty`, `pty` and `fcntl` do not exist and
`os.openpty` is missing. Nobody here can run the suite on Windows for every change, so this
file makes Linux behave like Windows in the one way that broke the project before: POSIX-only
imports. Put this folder first on PYTHONPATH and Python runs it at start-up, in the test
process and in every `iotkit` subprocess the tests start.

How, in steps:
1. `builtins.__import__` is wrapped. An import of one of the blocked modules fails with
   ModuleNotFoundError (as on Windows) when the frame that asks for it is one of the project's
   own files (under companion_app/, thonnycontrib/ or tests/ of this checkout). Third-party
   code (pyserial, Thonny, matplotlib, the standard library) may still import them: on Windows
   those libraries take their own Windows paths, which we cannot imitate here, and blocking
   them would only test our imitation.
2. `os.openpty` raises OSError for every caller: no pty exists on Windows.
3. `IOTKIT_WINDOWS_LIKE=1` is set so that tests and logs can say which pass they are in.

Limits, said honestly: `importlib.import_module("termios")` and a module already imported by
someone else and fetched with `sys.modules[...]` are not caught; the project uses neither.
"""

from __future__ import annotations

import builtins
import os
import sys

BLOCKED = frozenset({"termios", "tty", "pty", "fcntl"})
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_OWN = tuple(
    os.path.join(_ROOT, part) + os.sep for part in ("companion_app", "thonnycontrib", "tests")
)
_HERE = os.path.abspath(__file__)
_real_import = builtins.__import__


def _asked_by_project(depth: int = 2) -> bool:
    """Whether the code that runs the import statement is one of the project's files."""
    try:
        frame = sys._getframe(depth)
    except ValueError:
        return False
    filename = os.path.abspath(frame.f_code.co_filename)
    return filename != _HERE and filename.startswith(_OWN)


def _windows_like_import(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0 and name.partition(".")[0] in BLOCKED and _asked_by_project():
        raise ModuleNotFoundError(f"No module named {name!r} (Windows-like test pass)", name=name)
    return _real_import(name, globals, locals, fromlist, level)


def _no_openpty():
    raise OSError("os.openpty is not available (Windows-like test pass: no ptys)")


builtins.__import__ = _windows_like_import
os.openpty = _no_openpty
os.environ["IOTKIT_WINDOWS_LIKE"] = "1"
