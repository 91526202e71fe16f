"""The one job runner (companion_app/gui/jobs.py), with a real Tk window under Xvfb."""

from __future__ import annotations

import logging
import threading
import time
import tkinter as tk

import pytest
from waiting import wait_until_tk

from companion_app.errors import IotkitError
from companion_app.gui.jobs import JobRunner, TkCalls, describe_error


def pump(root: tk.Tk, predicate, what: str) -> None:
    wait_until_tk(root, predicate, 5.0, what)


def one_more_round(root: tk.Tk) -> None:
    """Wait until a callback posted now has run: whatever was posted before it has run too."""
    ran = []
    TkCalls.of(root).post(ran.append, True)
    pump(root, lambda: ran, what="a later callback")


def test_on_done_runs_on_the_tk_thread_with_the_result(root):
    runner = JobRunner(root)
    seen = []
    work_thread = []

    def work():
        work_thread.append(threading.current_thread())
        return 42

    runner.run(work, lambda result, exc: seen.append((result, exc, threading.current_thread())))
    pump(root, lambda: seen, what="on_done")
    result, exc, thread = seen[0]
    assert (result, exc) == (42, None)
    assert thread is threading.main_thread()
    assert work_thread[0] is not threading.main_thread()
    assert runner.running() == []


def test_a_failure_reaches_on_done_and_is_logged_once_at_the_right_level(root, caplog):
    runner = JobRunner(root)
    seen = []
    caplog.set_level(logging.DEBUG, logger="companion_app.gui.jobs")

    def explained():
        raise IotkitError("The port is busy: close the other program.")

    def bug():
        raise ValueError("boom")

    runner.run(explained, lambda r, e: seen.append(e), name="explained")
    runner.run(bug, lambda r, e: seen.append(e), name="bug")
    pump(root, lambda: len(seen) == 2, what="both failures")
    texts = sorted(describe_error(e, what="flashing") for e in seen)
    assert texts == [
        "The port is busy: close the other program.",
        "Unexpected problem with flashing: boom (details are in the log)",
    ]
    levels = {r.getMessage(): r.levelno for r in caplog.records if "failed" in r.getMessage()}
    assert levels == {"explained failed": logging.DEBUG, "bug failed": logging.WARNING}


def test_close_drops_results_and_cleans_up_what_finished_meanwhile(root):
    runner = JobRunner(root)
    release = threading.Event()
    done, cleaned = [], []
    runner.run(
        lambda: release.wait(5) and "chip",
        lambda r, e: done.append(r),
        name="practice",
        on_cancelled=cleaned.append,
    )
    started = time.monotonic()
    runner.close()
    assert time.monotonic() - started < 0.1, "close() must not wait for the job"
    release.set()
    pump(root, lambda: cleaned, what="the cleanup of the result")
    assert cleaned == ["chip"]
    one_more_round(root)  # on_done, had it been posted, would have run by now
    assert done == []
    with pytest.raises(RuntimeError):
        runner.run(lambda: None)


def test_a_result_already_posted_is_cleaned_up_when_the_owner_closes_first(root):
    runner = JobRunner(root)
    done, cleaned = [], []
    job = runner.run(lambda: "board", lambda r, e: done.append(r), on_cancelled=cleaned.append)
    job.join(5)  # finished and posted, not yet delivered: no Tk tick has run
    runner.close()
    assert cleaned == ["board"]
    one_more_round(root)  # the result's delivery, already posted, has run now
    assert done == [] and cleaned == ["board"]


def test_latest_keeps_only_the_newest_progress_and_never_overtakes_done(root):
    calls = TkCalls.of(root)
    seen = []

    def feeder():  # all posted between two ticks
        for p in (1, 2, 3):
            calls.post(seen.append, f"progress {p}", latest="progress")
        calls.post(seen.append, "done")
        calls.post(seen.append, "progress 4", latest="progress")

    t = threading.Thread(target=feeder)
    t.start()
    t.join()
    pump(root, lambda: len(seen) >= 3, what="the posts")
    assert seen == ["progress 3", "done", "progress 4"]


def test_one_drain_per_window_and_a_failing_callback_does_not_stop_it(root, caplog):
    a, b = JobRunner(root), JobRunner(root)
    assert a.calls is b.calls is TkCalls.of(root)
    seen = []

    def broken():
        raise RuntimeError("a bug in a panel")

    a.post(broken)
    b.post(seen.append, "still running")
    pump(root, lambda: seen, what="the callback after the broken one")
    assert any("a callback on the Tk thread failed" in r.getMessage() for r in caplog.records)


def test_posts_of_a_closed_owner_are_dropped(root):
    a, b = JobRunner(root), JobRunner(root)
    seen = []
    a.post(seen.append, "a")
    a.close()
    b.post(seen.append, "b")
    pump(root, lambda: seen, what="b's post")
    assert seen == ["b"]


def test_a_new_window_gets_its_own_drain(root):
    first = TkCalls.of(root)
    other = tk.Tk()
    try:
        other.withdraw()
        assert TkCalls.of(other) is not first
        assert TkCalls.of(other).root is other
    finally:
        other.destroy()
