"""`iotkit class deploy` and `iotkit class flash` against a virtual classroom: every board at
once, one failed board leaving the others alone, and a second run doing only what is left.

Real parts: virtual boards running the real MicroPython (simulator.classroom), virtual ROM
bootloaders driven by the real esptool, and Debian's mosquitto on loopback, to which the
deployed boards publish on their own topics. There is no real USB here: the test that finds a
board by its USB serial number hands the runner pyserial ListPortInfo-like objects.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from firmware_helpers import merged_image
from mosquitto_helpers import mosquitto  # noqa: F401 - a fixture
from secret_helpers import WIFI_PASSWORD, assert_no_secret
from waiting import wait_until

from companion_app.classroom import topics
from companion_app.classroom.classfile import load_class_file
from companion_app.classroom.runner import run_class, state_path
from companion_app.cli import main
from companion_app.simulator import micropython_available

pytestmark = pytest.mark.skipif(not micropython_available(), reason="needs the virtual board")

SSID = "iotkit-class-test"
ENV = "CLASS_TEST_WIFI"
MISSING_PORT = "/dev/ttyUSB-iotkit-missing"  # "a wrong port": no such device


def class_text(broker: str, ports: list[str], name: str = "lab-t") -> str:
    lines = [
        f'name = "{name}"',
        f'broker = "{broker}"',
        'templates = ["mqtt"]',
        "[settings]",
        f'wifi_ssid = "{SSID}"',
        f'wifi_password_env = "{ENV}"',
        "interval_s = 1",
    ]
    for i, port in enumerate(ports, start=1):
        lines += ["[[boards]]", f'name = "seat-{i:02d}"', f'port = "{port}"']
    return "\n".join(lines) + "\n"


@pytest.fixture
def classroom(tmp_path, monkeypatch):
    """Three virtual boards that can join the test's Wi-Fi network."""
    from companion_app.simulator.classroom import start_virtual_class, stop_virtual_class

    monkeypatch.setenv(ENV, WIFI_PASSWORD)
    boards = start_virtual_class(
        3, flash_dir=tmp_path / "flash", wifi=[{"ssid": SSID, "password": WIFI_PASSWORD}]
    )
    yield boards
    stop_virtual_class(boards)


def board_config(vb) -> dict:
    """/config.json as the board has it (its flash folder is its filesystem)."""
    return json.loads((Path(vb.flash_dir) / "config.json").read_text(encoding="utf-8"))


class Readings:
    """A paho subscriber on every board's readings topic of the class."""

    def __init__(self, port: int, class_name: str) -> None:
        import paho.mqtt.client as mqtt

        self.topics: dict[str, list[str]] = {}
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe(
            topics.class_filters(class_name)[0]
        )
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg) -> None:
        with self.lock:
            self.topics.setdefault(msg.topic, []).append(msg.payload.decode("utf-8", "replace"))

    def seen(self) -> set[str]:
        with self.lock:
            return set(self.topics)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_class_deploy_gives_each_board_its_name_and_topic_and_a_rerun_does_only_what_is_left(
    classroom, tmp_path, capsys, mosquitto  # noqa: F811
):
    ports = [classroom[0].port, MISSING_PORT, classroom[2].port]
    path = tmp_path / "class.toml"
    path.write_text(class_text(mosquitto.url, ports), encoding="utf-8")
    readings = Readings(mosquitto.port, "lab-t")
    try:
        assert readings.subscribed.wait(10)

        # First run: the board on the wrong port fails; the other two are deployed.
        code = main(["class", "deploy", "--file", str(path)])
        out, err = capsys.readouterr()
        assert code == 1, err
        rows = {line.split()[0]: line.split() for line in out.splitlines() if line[:5] == "seat-"}
        assert "FAILED" in rows["seat-02"] and "ok" in rows["seat-01"] and "ok" in rows["seat-03"]
        assert err.startswith("error: seat-02: ")
        assert "error: seat-01" not in err and "error: seat-03" not in err
        for seat, vb in (("seat-01", classroom[0]), ("seat-03", classroom[2])):
            cfg = board_config(vb)
            assert cfg["device_name"] == seat
            assert cfg["mqtt_topic"] == topics.readings_topic("lab-t", seat)
            assert cfg["mqtt_status_topic"] == topics.status_topic("lab-t", seat)
            assert cfg["wifi_password"] == WIFI_PASSWORD  # it reached the board, and only there
        assert not (Path(classroom[1].flash_dir) / "config.json").exists()
        # Each deployed board publishes to its own topic: a board on the wrong seat shows.
        wanted = {topics.readings_topic("lab-t", s) for s in ("seat-01", "seat-03")}
        wait_until(lambda: wanted <= readings.seen(), 60, "readings from seat-01 and seat-03")
        sample = readings.topics[topics.readings_topic("lab-t", "seat-01")][0]
        assert "temp_c:" in sample  # one reading line, the format our parser reads

        logs = tmp_path / "lab-t-logs"
        log_texts = [p.read_text(encoding="utf-8") for p in sorted(logs.glob("*.log"))]
        assert len(log_texts) == 3
        assert "not plugged in: no /dev/ttyUSB-iotkit-missing" in (logs / "seat-02.log").read_text(
            encoding="utf-8"
        )
        assert_no_secret(out, err, *log_texts, (logs / "state.json").read_text(encoding="utf-8"))

        # Second run, with the port corrected: the two done boards are skipped.
        path.write_text(
            class_text(mosquitto.url, [classroom[0].port, classroom[1].port, classroom[2].port]),
            encoding="utf-8",
        )
        code = main(["class", "deploy", "--file", str(path), "--json"])
        out, err = capsys.readouterr()
        assert code == 0, err
        doc = {r["board"]: r for r in json.loads(out)}
        assert [doc[s]["result"] for s in ("seat-01", "seat-02", "seat-03")] == [
            "skipped",
            "ok",
            "skipped",
        ]
        assert doc["seat-02"]["port"] == classroom[1].port
        assert doc["seat-02"]["log"] == str(logs / "seat-02.log")
        assert board_config(classroom[1])["device_name"] == "seat-02"
        wait_until(
            lambda: topics.readings_topic("lab-t", "seat-02") in readings.seen(),
            60,
            "readings from seat-02",
        )
        assert_no_secret(out, err)

        # --all redoes every board; a changed setting is redone without --all.
        cf = load_class_file(path)
        results = run_class(cf, "deploy", redo_all=True)
        assert [r.result for r in results] == ["ok", "ok", "ok"]
        path.write_text(
            path.read_text(encoding="utf-8").replace("interval_s = 1", "interval_s = 2"),
            encoding="utf-8",
        )
        results = run_class(load_class_file(path), "deploy")
        assert [r.result for r in results] == ["ok", "ok", "ok"]
        assert all(board_config(vb)["interval_s"] == 2 for vb in classroom)
    finally:
        readings.close()


def test_a_board_is_deployed_on_the_port_its_usb_serial_is_found_on(classroom, tmp_path):
    moved = classroom[0]
    path = tmp_path / "class.toml"
    path.write_text(
        class_text("mqtt://127.0.0.1:1883", ["/dev/ttyUSB-unplugged"]).replace(
            'port = "/dev/ttyUSB-unplugged"',
            'port = "/dev/ttyUSB-unplugged"\nusb_serial = "0001A2B3"',
        ),
        encoding="utf-8",
    )
    # What pyserial would list if the board had come back under another name (no real USB).
    comports = [
        SimpleNamespace(
            device=moved.port,
            description="CP2102 USB to UART Bridge Controller",
            vid=0x10C4,
            pid=0xEA60,
            serial_number="0001A2B3",
            manufacturer="Silicon Labs",
        )
    ]
    seen = []
    results = run_class(load_class_file(path), "deploy", comports=comports, on_progress=seen.append)
    assert results[0].result == "ok", results[0].error
    assert results[0].port == moved.port
    assert f"found on {moved.port} by its USB serial 0001A2B3" in (results[0].note or "")
    assert board_config(moved)["device_name"] == "seat-01"
    assert seen[0].result == "" and seen[-1].result == "ok"  # progress, then the result
    log_text = (tmp_path / "lab-t-logs" / "seat-01.log").read_text(encoding="utf-8")
    assert f"port: {moved.port} (found on" in log_text


def test_cancel_stops_every_board_and_records_nothing_as_done(classroom, tmp_path):
    path = tmp_path / "class.toml"
    path.write_text(class_text("mqtt://127.0.0.1:1883", [vb.port for vb in classroom]), "utf-8")
    cancel = threading.Event()

    def on_progress(p) -> None:
        if p.stage.startswith("sending"):
            cancel.set()  # as a teacher's Stop button would, mid-transfer

    cf = load_class_file(path)
    results = run_class(cf, "deploy", on_progress=on_progress, cancel=cancel)
    assert [r.result for r in results] == ["failed"] * 3
    # Mid-transfer ("Deploy stopped. … deploy again to finish."), or, for a board whose thread
    # had not yet begun when Stop came (a loaded machine), before it touched the board.
    assert all(r.error and "stopped" in r.error.lower() for r in results), results
    state = (
        json.loads(state_path(cf).read_text(encoding="utf-8")) if state_path(cf).exists() else {}
    )
    assert not state.get("deploy")


# ----------------------------------------------------------------------------- class flash


@pytest.fixture
def chips(tmp_path, env):
    from companion_app.simulator.bootloader import VirtualBootloader

    made = []
    for i in range(2):
        vb = VirtualBootloader("esp32", flash_image=tmp_path / f"chip-{i}.flash")
        vb.start()
        made.append(vb)
    yield made
    for vb in made:
        vb.stop()


def test_class_flash_writes_every_chip_and_a_bad_port_fails_alone(chips, tmp_path, capsys):
    fw = tmp_path / "fw.bin"
    fw.write_bytes(merged_image(0, 0x1000, app_payload=60_000))
    path = tmp_path / "class.toml"
    # No password variable set: a flash sends no config, so it needs none.
    path.write_text(
        class_text("mqtt://127.0.0.1:1883", [chips[0].port, MISSING_PORT, chips[1].port]),
        encoding="utf-8",
    )
    args = ["class", "flash", "--file", str(path), "--firmware", str(fw), "--yes"]
    assert main(args) == 1
    out, err = capsys.readouterr()
    assert err.strip().splitlines() == [
        "error: seat-02: not plugged in: no /dev/ttyUSB-iotkit-missing. Plug the board in "
        "(`iotkit ports` lists what is there) or correct its port in the class file."
    ]
    data = fw.read_bytes()
    for vb in chips:
        assert vb.read_flash()[0x1000 : 0x1000 + len(data)] == data
    assert "2 done, 1 failed" in out

    # Again: the two flashed chips are skipped, with no command sent to them.
    writes = [len(vb.destructive_commands()) for vb in chips]
    assert main([*args, "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert [r["result"] for r in doc] == ["skipped", "failed", "skipped"]
    assert [len(vb.destructive_commands()) for vb in chips] == writes


def test_class_flash_refuses_a_file_that_is_no_image_before_touching_any_board(
    chips, tmp_path, capsys
):
    fw = tmp_path / "notes.bin"
    fw.write_bytes(b"\x00hello" * 1000)
    path = tmp_path / "class.toml"
    path.write_text(class_text("mqtt://127.0.0.1:1883", [c.port for c in chips]), "utf-8")
    assert main(["class", "flash", "--file", str(path), "--firmware", str(fw), "--yes"]) == 1
    assert "not a firmware image" in capsys.readouterr().err
    assert all(vb.destructive_commands() == [] for vb in chips)


def test_class_flash_version_takes_the_image_for_the_class_board_type_from_the_cache(
    chips, tmp_path, capsys
):
    from companion_app.firmware.cache import FirmwareCache

    src = tmp_path / "ESP32_GENERIC-20241129-v1.24.1.bin"
    src.write_bytes(merged_image(0, 0x1000, app_payload=30_000))
    FirmwareCache().add("esp32-devkit-v1", src, "v1.24.1", "20241129")  # the env fixture's cache
    path = tmp_path / "class.toml"
    text = class_text("mqtt://127.0.0.1:1883", [c.port for c in chips])
    path.write_text(text, encoding="utf-8")
    args = ["class", "flash", "--file", str(path), "--version", "1.24.1", "--yes", "--json"]
    assert main(args) == 2  # no board type in the file: which image?
    assert 'add board = "esp32-devkit-v1"' in capsys.readouterr().err
    path.write_text(text.replace("[settings]", 'board = "esp32-devkit-v1"\n[settings]'), "utf-8")
    assert main(args) == 0, capsys.readouterr().err
    assert [r["result"] for r in json.loads(capsys.readouterr().out)] == ["ok", "ok"]
    data = src.read_bytes()
    assert all(vb.read_flash()[0x1000 : 0x1000 + len(data)] == data for vb in chips)
