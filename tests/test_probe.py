"""The live probe (`iotkit check --live`) against the real virtual board.

Each test starts a VirtualBoard whose own diagram decides what is "physically" wired, and probes
it with a second diagram: what the person *thinks* is wired. Where they differ, the probe must
say so with the right rule, address and pins; where they agree, it must stay quiet.
"""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from companion_app import cli as main_cli
from companion_app.boards import load_board
from companion_app.device.link import Link
from companion_app.simulator import VirtualBoard, micropython_available
from companion_app.wiring.diagram import diagram_from_data
from companion_app.wiring.probe import ProbeReport, board_for_machine, probe
from companion_app.wiring.rules import catalog

pytestmark = pytest.mark.skipif(not micropython_available(), reason="needs the virtual board")

BOARD = {"type": "wokwi-esp32-devkit-v1", "id": "esp", "top": 0, "left": 0, "attrs": {}}


def part(part_id: str, part_type: str, **attrs: Any) -> dict[str, Any]:
    return {"type": part_type, "id": part_id, "top": 0, "left": 0, "attrs": attrs}


def wire(a: str, b: str, color: str = "green") -> list[Any]:
    return [a, b, color, []]


def diagram(parts: list[dict[str, Any]], connections: list[list[Any]]) -> dict[str, Any]:
    return {
        "version": 1,
        "author": "iotkit tests",
        "editor": "wokwi",
        "parts": [BOARD, *parts],
        "connections": connections,
        "dependencies": {},
    }


def dht(pin: str = "D14") -> tuple[list[dict[str, Any]], list[list[Any]]]:
    return [part("dht1", "wokwi-dht22")], [
        wire("dht1:VCC", "esp:3V3", "red"),
        wire("dht1:GND", "esp:GND.1", "black"),
        wire("dht1:SDA", f"esp:{pin}"),
    ]


def i2c(
    part_id: str, part_type: str, sda: str = "D21", scl: str = "D22", **attrs: Any
) -> tuple[list[dict[str, Any]], list[list[Any]]]:
    return [part(part_id, part_type, **attrs)], [
        wire(f"{part_id}:VCC", "esp:3V3", "red"),
        wire(f"{part_id}:GND", "esp:GND.2", "black"),
        wire(f"{part_id}:SDA", f"esp:{sda}"),
        wire(f"{part_id}:SCL", f"esp:{scl}"),
    ]


def button(pin: str = "D4") -> tuple[list[dict[str, Any]], list[list[Any]]]:
    return [part("btn1", "wokwi-pushbutton")], [
        wire("btn1:1.l", f"esp:{pin}"),
        wire("btn1:2.l", "esp:GND.1", "black"),
    ]


def led(pin: str = "D23") -> tuple[list[dict[str, Any]], list[list[Any]]]:
    return [part("led1", "wokwi-led", color="red"), part("r1", "wokwi-resistor", value="220")], [
        wire("led1:A", "r1:1"),
        wire("r1:2", f"esp:{pin}"),
        wire("led1:C", "esp:GND.1", "black"),
    ]


def build(*pieces: tuple[list[dict[str, Any]], list[list[Any]]]) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    conns: list[list[Any]] = []
    for p, c in pieces:
        parts += p
        conns += c
    return diagram(parts, conns)


# The bench: a DHT22 on GPIO14, an SSD1306 on 21/22, a button on GPIO4, an LED on GPIO23.
BENCH = build(dht(), i2c("oled1", "board-ssd1306"), button(), led())


@pytest.fixture
def bench(tmp_path: Path):
    """A virtual board wired as BENCH, and a factory for probe diagrams written to files."""
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(BENCH))
    vb = VirtualBoard(wiring=path, flash_dir=tmp_path / "flash")
    vb.start()
    yield vb
    vb.stop()


def write(tmp_path: Path, data: dict[str, Any], name: str = "diagram.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def run_probe(vb: VirtualBoard, data: dict[str, Any] | None, **kw: Any) -> ProbeReport:
    d = diagram_from_data(copy.deepcopy(data), "diagram.json") if data is not None else None
    with Link(vb.port) as link:
        return probe(link, load_board("esp32-devkit-v1"), d, **kw)


def rules(report: ProbeReport) -> list[str]:
    return [f.rule for f in report.findings]


# -- the engine ------------------------------------------------------------------------------


def test_right_wiring_gives_no_findings(bench):
    steps = []
    report = run_probe(bench, BENCH, on_step=steps.append, blink=True)
    assert report.findings == []
    assert [s.kind for s in steps] == ["i2c-scan", "dht-read", "button-idle", "led-blink"]
    assert all(s.ok for s in report.steps)
    assert report.steps[0].result == {"found": [0x3C]}
    assert "GPIO23 blinked 3 times" in report.steps[-1].summary


def test_missing_i2c_device_names_address_and_pins(bench):
    expected = build(dht(), i2c("oled1", "board-ssd1306"), i2c("bme1", "iotkit-bme280"))
    report = run_probe(bench, expected)
    missing = [f for f in report.findings if f.rule == "i2c-missing"]
    assert len(missing) == 1 and missing[0].severity == "error"
    f = missing[0]
    assert "BME280" in f.message and "0x76" in f.message
    assert "SDA=21/SCL=22" in f.message and "check SDA/SCL and power" in f.message
    assert f.where == "diagram.json: bme1:SDA" and f.pin == "GPIO21"
    assert rules(report) == ["i2c-missing"]  # the SSD1306 that is there is not reported


def test_missing_device_on_an_empty_bus_says_nothing_answered(bench):
    expected = build(dht(), i2c("bme1", "iotkit-bme280", sda="D25", scl="D26"))
    report = run_probe(bench, expected)
    (f,) = report.findings
    assert f.rule == "i2c-missing"
    assert f.message.startswith(
        "BME280 (bme1) expected at 0x76, nothing answered on SDA=25/SCL=26: check SDA/SCL"
    )


def test_i2c_device_at_its_other_address(bench, tmp_path):
    expected = build(dht(), i2c("oled1", "board-ssd1306", i2cAddress="0x3d"))
    report = run_probe(bench, expected)
    (f,) = report.findings
    assert f.rule == "i2c-missing"
    assert "answered at 0x3c instead" in f.message and "0x3c" in f.fix


def test_swapped_sda_scl_is_found_and_said(tmp_path):
    board_wiring = build(i2c("oled1", "board-ssd1306", sda="D22", scl="D21"))
    path = write(tmp_path, board_wiring, "bench.json")
    with VirtualBoard(wiring=path, flash_dir=tmp_path / "flash") as vb:
        report = run_probe(vb, build(i2c("oled1", "board-ssd1306")))
    (f,) = report.findings
    assert f.rule == "i2c-swapped" and f.severity == "error"
    assert "SDA=22/SCL=21" in f.message and "Swap the two wires" in f.fix


def test_unexpected_i2c_device_is_info(bench):
    report = run_probe(bench, build(dht(), i2c("bme1", "iotkit-bme280")))
    unexpected = [f for f in report.findings if f.rule == "i2c-unexpected"]
    assert len(unexpected) == 1 and unexpected[0].severity == "info"
    assert "0x3c" in unexpected[0].message and "SSD1306" in unexpected[0].message


def test_dht_on_the_wrong_pin(bench):
    # The diagram says GPIO27; on the bench the sensor is on GPIO14.
    report = run_probe(bench, build(dht("D27"), i2c("oled1", "board-ssd1306")))
    (f,) = report.findings
    assert f.rule == "dht-no-answer" and f.severity == "error" and f.pin == "GPIO27"
    assert "DHT22 (dht1) expected on GPIO27 did not answer" in f.message
    assert "GPIO14" in f.message and "Pin(14)" in f.fix
    kinds = [s.kind for s in report.steps]
    assert kinds.index("dht-read") < kinds.index("dht-search")


def test_dht_missing_altogether(tmp_path):
    path = write(tmp_path, build(button()), "bench.json")
    with VirtualBoard(wiring=path, flash_dir=tmp_path / "flash") as vb:
        report = run_probe(vb, build(dht(), button()))
    (f,) = report.findings
    assert f.rule == "dht-no-answer"
    assert f.message == (
        "The DHT22 (dht1) expected on GPIO14 did not answer: check its data wire and that the "
        "script uses Pin(14)."
    )


def test_dht11_read_as_dht22_is_a_bad_reading(tmp_path):
    bench = diagram(
        [part("dht1", "wokwi-dht11")],
        [wire("dht1:VCC", "esp:3V3"), wire("dht1:GND", "esp:GND.1"), wire("dht1:SDA", "esp:D14")],
    )
    path = write(tmp_path, bench, "bench.json")
    with VirtualBoard(wiring=path, flash_dir=tmp_path / "flash") as vb:
        report = run_probe(vb, build(dht()))
    assert rules(report) == ["dht-bad-reading"]
    assert "DHT11" in report.findings[0].fix


def test_button_idle_and_press(bench):
    questions: list[str] = []

    def ask(question: str) -> None:
        questions.append(question)
        threading.Timer(0.3, bench.set_input, args=("btn1",), kwargs={"pressed": True}).start()

    report = run_probe(bench, BENCH, ask=ask, press_seconds=5)
    assert report.findings == []
    assert questions == ["Press btn1 (on GPIO4) now; watching it for 5 s."]
    idle, press = [s for s in report.steps if s.kind.startswith("button")]
    assert idle.result == [1] * 10 and "reads 1 at rest with PULL_UP" in idle.summary
    assert press.ok and press.kind == "button-press" and press.result["after_ms"] >= 200


def test_button_never_pressed(bench):
    report = run_probe(bench, BENCH, ask=lambda q: None, press_seconds=0.5)
    (f,) = report.findings
    assert f.rule == "button-no-press" and f.severity == "warning"
    assert f.where == "diagram.json: btn1:1.l" and f.pin == "GPIO4"


def test_button_held_at_idle_is_stuck(bench):
    bench.set_input("btn1", pressed=True)
    asked: list[str] = []
    report = run_probe(bench, BENCH, ask=asked.append)
    (f,) = report.findings
    assert f.rule == "button-stuck" and f.severity == "warning"
    assert "reads 0 (pressed)" in f.message
    assert asked == []  # no press check on a button that already reads pressed


def test_invalid_pin_is_a_probe_failure_not_a_crash(bench):
    # GPIO34 is input-only: Pin(34, Pin.OUT) raises on the board, and the board's words stay.
    report = run_probe(bench, build(led("D34")), blink=True)
    (f,) = report.findings
    assert f.rule == "probe-failed" and f.severity == "error"
    assert "blink led1 on GPIO34" in f.message and "pin can only be input" in f.message
    assert not report.steps[-1].ok


def test_without_diagram_scans_the_default_bus(tmp_path):
    path = write(tmp_path, build(i2c("bme1", "iotkit-bme280", sda="D19", scl="D18")), "b.json")
    with VirtualBoard(wiring=path, flash_dir=tmp_path / "flash") as vb:
        report = run_probe(vb, None)
    assert [s.kind for s in report.steps] == ["i2c-scan"]
    (f,) = report.findings
    assert f.rule == "i2c-found" and f.severity == "info"
    assert "0x76" in f.message and "SDA=19/SCL=18" in f.message and "BME280" in f.message


def test_live_rules_are_in_the_catalog():
    for name, severity in [
        ("i2c-missing", "error"),
        ("i2c-swapped", "error"),
        ("i2c-unexpected", "info"),
        ("dht-no-answer", "error"),
        ("button-stuck", "warning"),
        ("probe-failed", "error"),
    ]:
        assert catalog()[name]["severity"] == severity


def test_board_for_machine():
    board, candidates = board_for_machine("Generic ESP32 module with ESP32")
    assert board is not None and board.id == "esp32-devkit-v1"
    assert "esp32-devkitc" in [b.id for b in candidates]
    board, _ = board_for_machine("Raspberry Pi Pico W with RP2040")
    assert board is not None and board.id == "pico-w"
    assert board_for_machine("Toaster with 8051") == (None, [])


# -- the command line ------------------------------------------------------------------------


def test_cli_right_wiring_exits_0(bench, tmp_path, capsys):
    path = write(tmp_path, BENCH)
    rc = main_cli.main(["check", "--live", "--port", bench.port, "--wiring", str(path)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "ok   dht1 (DHT22) on GPIO14" in out
    assert f"No problems found probing esp32-devkit-v1 on {bench.port}" in out


def test_cli_json_shape_and_exit_1(bench, tmp_path, capsys):
    path = write(tmp_path, build(dht("D27"), i2c("bme1", "iotkit-bme280")))
    rc = main_cli.main(["check", "--live", "--port", bench.port, "--wiring", str(path), "--json"])
    out, err = capsys.readouterr()
    assert rc == 1
    doc = json.loads(out)
    assert doc["board"] == "esp32-devkit-v1"
    assert {f["rule"] for f in doc["findings"]} >= {"i2c-missing", "dht-no-answer"}
    for f in doc["findings"]:
        assert set(f) == {"rule", "severity", "pin", "where", "message", "fix"}
        assert f["where"].startswith(f"{path}: ")
    assert all({"kind", "target", "ok", "summary", "result"} == set(s) for s in doc["steps"])


def test_cli_board_from_the_firmware_without_diagram(bench, capsys):
    rc = main_cli.main(["check", "--live", "--port", bench.port, "--json"])
    out, err = capsys.readouterr()
    assert rc == 0
    assert json.loads(out)["board"] == "esp32-devkit-v1"
    assert "pass --board to choose" in err  # several boards run this firmware


def test_cli_board_flag_wins(bench, capsys):
    rc = main_cli.main(["check", "--live", "--port", bench.port, "--board", "esp32-devkitc"])
    out, err = capsys.readouterr()
    assert rc == 0 and "probing esp32-devkitc" in out and "pass --board" not in err


@pytest.mark.parametrize(
    "argv,text",
    [
        (["check", "--live"], "--live needs --port"),
        (["check", "--port", "/dev/null", "--board", "pico"], "--port goes with --live"),
        (["check", "--live", "--port", "/dev/null", "x.py"], "probes the board, not scripts"),
    ],
)
def test_cli_usage_errors_exit_2(argv, text, capsys):
    assert main_cli.main(argv) == 2
    assert text in capsys.readouterr().err


def test_cli_missing_port_exits_1(capsys):
    rc = main_cli.main(["check", "--live", "--port", "/dev/iotkit-no-such-port"])
    assert rc == 1
    assert capsys.readouterr().err.startswith("error: ")
