"""The Thonny adapter's shape (issue 14, items 1 and 2), checked without starting Thonny.

- Its modules import each other in one direction only: the accessor of the plug-in's state and
  the view ids sit in leaf modules, and only the package's ``load_plugin`` imports host.py.
- The port handover runs its task as a job of the one job runner (companion_app/gui/jobs.py):
  the result comes back on the Tk thread with the handover's timings, and closing the
  connection returns at once while a task still runs, whose result is then dropped.

What the adapter does inside real Thonny is tests/test_thonny_plugin.py's business.
"""

from __future__ import annotations

import threading
import time
import tkinter as tk

import pytest
from test_architecture import cycles, import_graph
from waiting import wait_until_tk

from companion_app.errors import IotkitError

PACKAGE = "thonnycontrib.iotkit"
PORT = "socket://127.0.0.1:1"  # never opened: the link is the test's own


def plugin_graph() -> dict[str, set[str]]:
    graph = import_graph()
    return {
        name: {t for t in targets if t.startswith(PACKAGE)}
        for name, targets in graph.items()
        if name.startswith(PACKAGE)
    }


def test_the_plugins_modules_import_each_other_in_one_direction_only():
    graph = plugin_graph()
    assert f"{PACKAGE}.virtual_board" in graph and f"{PACKAGE}.editor_check" in graph
    assert cycles(graph) == []
    # The leaves everyone may import: no import of the plug-in in them, lazily or not.
    for leaf in ("state", "ids", "settings", "messages", "shell_lines", "ports"):
        assert graph[f"{PACKAGE}.{leaf}"] == set(), leaf
    importers_of_host = sorted(n for n, targets in graph.items() if f"{PACKAGE}.host" in targets)
    assert importers_of_host == [PACKAGE]  # load_plugin, and nothing else
    importers_of_package = sorted(n for n, targets in graph.items() if PACKAGE in targets)
    assert importers_of_package == []  # VIEW_IDS comes from ids.py, not from __init__


def test_the_view_ids_are_the_view_classes_names():
    pytest.importorskip("thonny")
    from thonnycontrib.iotkit import VIEW_IDS
    from thonnycontrib.iotkit.views import VIEW_CLASSES

    assert VIEW_IDS == {cls.title: cls.__name__ for cls in VIEW_CLASSES}


class RecordingLink:
    """The test's link: records what the handover does with it (the port is never opened)."""

    def __init__(self, port: str, baud: int) -> None:
        self.port, self.baud = port, baud
        self.events: list[tuple[str, str]] = []

    def open(self) -> None:
        self.events.append(("open", threading.current_thread().name))

    def close(self) -> None:
        self.events.append(("close", threading.current_thread().name))

    def soft_reset(self) -> None:
        self.events.append(("soft_reset", threading.current_thread().name))


@pytest.fixture
def connection(root, monkeypatch):
    """A ThonnyConnection whose Thonny backend "holds" PORT; outside Thonny its runner is None,
    so stopping and restarting the backend do nothing."""
    pytest.importorskip("thonny")
    from thonnycontrib.iotkit import ports
    from thonnycontrib.iotkit.connection import ThonnyConnection

    monkeypatch.setattr(ports, "held_port", lambda: PORT)
    links: list[RecordingLink] = []

    def factory(port: str, baud: int) -> RecordingLink:
        links.append(RecordingLink(port, baud))
        return links[-1]

    conn = ThonnyConnection(lambda: root, baud=lambda: 57600, link_factory=factory)
    conn.links = links  # type: ignore[attr-defined]
    yield conn
    conn.close()


def pump(root: tk.Tk, predicate, what: str = "the Tk thread") -> None:
    wait_until_tk(root, predicate, 10.0, what)


def test_a_handover_runs_its_task_as_a_job_and_reports_on_the_tk_thread(root, connection):
    done: list[tuple] = []

    def task(link):
        link.soft_reset()  # as a deploy does: the board's program restarts
        return threading.current_thread().name, link.baud

    connection.call_with_link(
        task, lambda result, exc: done.append((result, exc, threading.current_thread().name))
    )
    assert connection.state == "busy"
    busy: list[BaseException | None] = []
    connection.call_with_link(lambda link: None, lambda result, exc: busy.append(exc))
    assert isinstance(busy[0], IotkitError) and "already using the board" in str(busy[0])

    pump(root, lambda: done, what="the task's on_done")
    ((result, exc, thread),) = done
    assert exc is None and thread == threading.main_thread().name
    worker, baud = result
    assert worker != thread and baud == 57600  # ran off the Tk thread, at the options' baud
    (link,) = connection.links
    assert [e for e, _ in link.events] == ["open", "soft_reset", "close"]
    assert {t for _, t in link.events} == {worker}
    timing = connection.timings[-1]
    assert set(timing) == {"release_s", "task_s", "open_s", "total_s"}
    assert 0 <= timing["open_s"] <= timing["task_s"] <= timing["total_s"]
    assert connection.state != "busy" and not connection.busy
    assert connection._rerun_after_ready  # main.py runs again once Thonny's prompt is back
    assert any("done in" in line for line in connection.handover_log)


def test_a_failed_task_is_worded_once_and_still_closes_the_link(root, connection):
    done: list[BaseException | None] = []

    def task(link):
        raise IotkitError("The board did not answer; press EN and try again.")

    connection.call_with_link(task, lambda result, exc: done.append(exc))
    pump(root, lambda: done, what="the failed task's on_done")
    assert str(done[0]) == "The board did not answer; press EN and try again."
    assert [e for e, _ in connection.links[0].events] == ["open", "close"]
    assert any(
        "failed (The board did not answer; press EN and try again.)" in line
        for line in connection.handover_log
    )
    assert not connection._rerun_after_ready  # nothing to run again after a failure


def test_closing_does_not_wait_for_a_running_task_and_drops_its_result(root, connection):
    release = threading.Event()
    done: list[tuple] = []

    def task(link):
        release.wait(10)
        return "late"

    connection.call_with_link(task, lambda result, exc: done.append((result, exc)))
    pump(root, lambda: connection.links and connection.links[0].events, what="the link open")
    started = time.monotonic()
    connection.close()
    assert time.monotonic() - started < 0.5  # no join on the Tk thread
    release.set()
    pump(root, lambda: [e for e, _ in connection.links[0].events][-1:] == ["close"])
    pump(root, lambda: not connection._runner().running(), what="the job to end")
    root.update()
    assert done == []  # the result of a closed connection reaches nobody
    refused: list[BaseException | None] = []
    connection.call_with_link(lambda link: None, lambda result, exc: refused.append(exc))
    assert isinstance(refused[0], IotkitError) and "closing" in str(refused[0])
