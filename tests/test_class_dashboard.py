"""The class dashboard's engine and `iotkit class dashboard --headless`, against a real mosquitto.

Boards are played by paho clients that behave like the mqtt template (tests/dashboard_publishers
.py): a retained "online" after connecting, "offline" as their last will, reading lines at a
steady rate. A board that must die without a word runs in a process of its own and is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dashboard_publishers import PlayedBoard
from mosquitto_helpers import mosquitto  # noqa: F401
from waiting import wait_until

from companion_app.classroom import live as live_mod
from companion_app.classroom.live import OFFLINE, ONLINE, UNKNOWN, ClassLive, describe_age
from companion_app.readings.recorder import read_csv
from companion_app.simulator import micropython_available

REPO = Path(__file__).resolve().parent.parent
CLASS = "lab-a"


def write_class_file(folder: Path, url: str, boards: list[str], name: str = CLASS) -> Path:
    lines = [
        f'name = "{name}"',
        f'broker = "{url}"',
        'templates = ["mqtt"]',
        "[settings]",
        'wifi_ssid = "lab-wifi"',
        'wifi_password = "Pw-not-shown-7"',
    ]
    for i, board in enumerate(boards):
        lines += ["[[boards]]", f'name = "{board}"', f'port = "socket://127.0.0.1:{40000 + i}"']
    path = folder / "class.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def played():
    boards: list[PlayedBoard] = []
    yield boards
    for b in boards:
        b.stop(clean=False)


def start_board(played: list[PlayedBoard], url: str, name: str, **kw) -> PlayedBoard:
    board = PlayedBoard(url, CLASS, name, **kw).start()
    played.append(board)
    wait_until(board.connected.is_set, 10, f"played board {name} connected")
    return board


def test_boards_of_the_class_show_from_the_start_and_go_online_with_their_readings(
    mosquitto, played  # noqa: F811
):
    live = ClassLive(CLASS, mosquitto.url, ["seat-01", "seat-02", "seat-03"])
    before = {b.name: (b.status, b.seen, b.in_class) for b in live.boards()}
    assert before == {n: (UNKNOWN, False, True) for n in ("seat-01", "seat-02", "seat-03")}
    live.start()
    try:
        assert live.wait_connected(10)
        assert live.state[0] == live_mod.CONNECTED
        assert live.client_id.startswith("iotkit-dashboard-")
        start_board(played, mosquitto.url, "seat-01")
        start_board(played, mosquitto.url, "seat-02", base=30.0)

        def two_with_readings():
            boards = {b.name: b for b in live.boards()}
            return all(boards[n].readings >= 3 for n in ("seat-01", "seat-02")) and boards

        boards = wait_until(two_with_readings, 10, "readings from seat-01 and seat-02")
        assert boards["seat-01"].status == ONLINE
        assert set(boards["seat-02"].values) == {"temp_c", "humidity"}
        assert 30.0 <= boards["seat-02"].values["temp_c"] < 31.0
        assert boards["seat-03"].status == UNKNOWN and not boards["seat-03"].seen
        assert live.series_names() == ["temp_c", "humidity"]
        t, v = live.series("seat-01", "humidity")
        assert len(t) >= 3 and all(40.0 <= x <= 46.0 for x in v)
        assert describe_age(boards["seat-01"].age_s()) in ("0 s ago", "1 s ago", "2 s ago")
    finally:
        live.stop()


def test_a_board_not_in_the_class_file_shows_marked(mosquitto, played):  # noqa: F811
    live = ClassLive(CLASS, mosquitto.url, ["seat-01"])
    live.start()
    try:
        assert live.wait_connected(10)
        start_board(played, mosquitto.url, "stranger")
        board = wait_until(
            lambda: (b := live.board("stranger")) and b.readings and b, 10, "the stranger's data"
        )
        assert board.in_class is False and board.status == ONLINE
        assert [b.name for b in live.boards()] == ["seat-01", "stranger"]
    finally:
        live.stop()


def test_a_killed_board_shows_offline_within_its_keepalive(mosquitto, played):  # noqa: F811
    keepalive = 2
    proc = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "tests" / "dashboard_publishers.py"),
            mosquitto.url,
            CLASS,
            "seat-01",
            "0.2",
            str(keepalive),
        ]
    )
    live = ClassLive(CLASS, mosquitto.url, ["seat-01"])
    live.start()
    try:
        wait_until(
            lambda: (b := live.board("seat-01")) and b.status == ONLINE and b.readings,
            15,
            "seat-01 online with readings",
        )
        os.kill(proc.pid, signal.SIGKILL)  # no DISCONNECT: only its last will can tell
        proc.wait(5)
        killed = time.monotonic()
        # The broker publishes the will once 1.5 keep-alive periods pass without a packet.
        wait_until(
            lambda: live.board("seat-01").status == OFFLINE,
            1.5 * keepalive + 3,
            "seat-01 offline after it was killed",
        )
        assert time.monotonic() - killed <= 1.5 * keepalive + 3
    finally:
        live.stop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_a_broker_restart_is_survived_by_the_dashboard(mosquitto, played, tmp_path):  # noqa: F811
    from companion_app.readings.recorder import CsvRecorder

    recorder = CsvRecorder(tmp_path / "live.csv")
    live = ClassLive(CLASS, mosquitto.url, ["seat-01"], recorder=recorder)
    live.start()
    try:
        assert live.wait_connected(10)
        board = start_board(played, mosquitto.url, "seat-01")
        wait_until(lambda: live.board("seat-01").readings >= 2, 10, "readings before the restart")
        mosquitto.stop()
        wait_until(lambda: not live.connected.is_set(), 10, "the dashboard noticing the loss")
        state, message = live.state
        assert state in (live_mod.LOST, live_mod.UNREACHABLE)
        assert f"127.0.0.1:{mosquitto.port}" in message and "retrying" in message.replace(
            "reconnecting", "retrying"
        )
        # The boards keep what was known while the broker is away. (Their status may have
        # turned "offline": mosquitto publishes its clients' wills as it shuts down.)
        kept = live.board("seat-01")
        assert kept.readings >= 2 and set(kept.values) == {"temp_c", "humidity"}
        before = kept.readings
        mosquitto.restart()
        assert live.wait_connected(20), live.state
        wait_until(board.connected.is_set, 20, "the played board back on the broker")
        wait_until(
            lambda: live.board("seat-01").readings >= before + 3, 15, "readings after the restart"
        )
        assert live.state[0] == live_mod.CONNECTED
        wait_until(lambda: live.board("seat-01").status == ONLINE, 10, "seat-01 online again")
    finally:
        live.stop()
        recorder.close()
    rows = read_csv(tmp_path / "live.csv")
    assert len(rows) >= before + 3
    assert all(set(values) == {"seat-01.temp_c", "seat-01.humidity"} for _, values in rows)


def test_an_unreachable_broker_is_a_state_the_window_can_show(tmp_path):
    from mqtt_helpers import free_port

    port = free_port()  # nobody listens there
    live = ClassLive(CLASS, f"mqtt://127.0.0.1:{port}", ["seat-01"])
    live.start()
    try:
        state, message = wait_until(
            lambda: live.state[0] == live_mod.UNREACHABLE and live.state, 10, "unreachable"
        )
        assert message.startswith(f"The MQTT broker at 127.0.0.1:{port} is unreachable")
        assert "retrying" in message
        assert live.board("seat-01").status == UNKNOWN
    finally:
        live.stop()


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "companion_app", "class", "dashboard", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


def test_headless_records_every_boards_readings_in_board_dot_series_columns(
    mosquitto, played, tmp_path  # noqa: F811
):
    class_file = write_class_file(tmp_path, mosquitto.url, ["seat-01", "seat-02", "seat-03"])
    for i, name in enumerate(("seat-01", "seat-02", "seat-03")):
        start_board(played, mosquitto.url, name, base=20.0 + 5 * i)
    out = tmp_path / "class.csv"
    result = run_cli(
        "--file", str(class_file), "--headless", "--record", str(out), "--duration", "3"
    )
    assert result.returncode == 0, result.stderr
    rows = read_csv(out)
    header = out.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[0] == "time"
    assert set(header[1:]) == {
        f"{b}.{s}" for b in ("seat-01", "seat-02", "seat-03") for s in ("temp_c", "humidity")
    }
    for i, name in enumerate(("seat-01", "seat-02", "seat-03")):
        temps = [v[f"{name}.temp_c"] for _, v in rows if f"{name}.temp_c" in v]
        assert len(temps) >= 5, f"{name} has {len(temps)} rows"
        assert all(20.0 + 5 * i <= t < 21.0 + 5 * i for t in temps)
    times = [t for t, _ in rows]
    assert times == sorted(times) and 0.0 <= times[0] < 3.0
    assert "seat-01: online" in result.stdout and f"to {out}" in result.stdout
    assert "Pw-not-shown-7" not in result.stdout + result.stderr


def test_headless_exits_1_with_one_clear_error_when_the_broker_cannot_be_reached(tmp_path):
    from mqtt_helpers import free_port

    port = free_port()
    class_file = write_class_file(tmp_path, f"mqtt://127.0.0.1:{port}", ["seat-01"])
    started = time.monotonic()
    result = run_cli("--file", str(class_file), "--headless", "--duration", "30")
    assert result.returncode == 1
    assert time.monotonic() - started < 25  # gave up after a few seconds, not the duration
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Could not reach the class's MQTT")
    assert f"127.0.0.1:{port}" in lines[0]


def test_headless_without_duration_is_a_usage_error(tmp_path):
    class_file = write_class_file(tmp_path, "mqtt://127.0.0.1:1883", ["seat-01"])
    result = run_cli("--file", str(class_file), "--headless")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: --headless needs --duration S (how many seconds to listen)."
    )


# ----------------------------------------------------------------- with virtual boards


@pytest.mark.skipif(not micropython_available(), reason="needs the virtual board")
def test_virtual_boards_running_the_deployed_template_fill_the_dashboard_and_go_offline(
    mosquitto, tmp_path, monkeypatch  # noqa: F811
):
    from secret_helpers import WIFI_PASSWORD

    from companion_app.classroom.classfile import load_class_file
    from companion_app.classroom.runner import run_class
    from companion_app.readings.recorder import CsvRecorder
    from companion_app.simulator.classroom import start_virtual_class, stop_virtual_class

    ssid, keepalive = "iotkit-dashboard-test", 2
    boards = start_virtual_class(
        2, flash_dir=tmp_path / "flash", wifi=[{"ssid": ssid, "password": WIFI_PASSWORD}]
    )
    recorder = CsvRecorder(tmp_path / "class.csv")
    live = None
    try:
        path = tmp_path / "class.toml"
        lines = [
            f'name = "{CLASS}"',
            f'broker = "{mosquitto.url}"',
            'templates = ["mqtt"]',
            "[settings]",
            f'wifi_ssid = "{ssid}"',
            f'wifi_password = "{WIFI_PASSWORD}"',
            "interval_s = 1",
            f"mqtt_keepalive_s = {keepalive}",
        ]
        for i, vb in enumerate(boards, start=1):
            lines += ["[[boards]]", f'name = "seat-{i:02d}"', f'port = "{vb.port}"']
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        cf = load_class_file(path)
        live = ClassLive(cf.name, cf.broker, [b.name for b in cf.boards], recorder=recorder)
        live.start()
        assert live.wait_connected(10)
        results = run_class(cf, "deploy")
        assert [r.result for r in results] == ["ok", "ok"], [r.error for r in results]

        def both_reading() -> bool:
            return all(
                (b := live.board(n)).readings >= 2 and b.status == ONLINE
                for n in ("seat-01", "seat-02")
            )

        wait_until(both_reading, 90, "readings from both virtual boards")
        assert set(live.board("seat-01").values) == {"temp_c", "humidity"}
        boards[1].stop()  # switched off without a word: only its last will tells
        stopped = time.monotonic()
        wait_until(
            lambda: live.board("seat-02").status == OFFLINE,
            1.5 * keepalive + 5,
            "seat-02 offline after it was switched off",
        )
        assert time.monotonic() - stopped <= 1.5 * keepalive + 5
        assert live.board("seat-01").status == ONLINE
    finally:
        if live is not None:
            live.stop()
        recorder.close()
        stop_virtual_class(boards)
    header = (tmp_path / "class.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert set(header[1:]) == {
        f"{b}.{s}" for b in ("seat-01", "seat-02") for s in ("temp_c", "humidity")
    }
