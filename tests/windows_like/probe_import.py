"""A project file that imports termios: the Windows-like blocker must refuse it (see
tests/test_windows_like.py). Not a test module and not imported by the project."""

import termios  # noqa: F401
