"""`iotkit check` as CONTRACTS.md says: text and --json output, exit codes 0/1/2."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from companion_app import cli as main_cli
from companion_app.errors import IotkitError
from companion_app.wiring.check import check
from companion_app.wiring.cli import add_check_parser, run_check

SCRIPTS = Path(__file__).parent / "data" / "scripts"

DHT_DIAGRAM = {
    "version": 1,
    "author": "iotkit",
    "editor": "wokwi",
    "parts": [
        {"type": "wokwi-esp32-devkit-v1", "id": "esp", "top": 0, "left": 0, "attrs": {}},
        {"type": "wokwi-dht22", "id": "dht1", "top": -9.3, "left": 148.2, "attrs": {}},
    ],
    "connections": [
        ["dht1:VCC", "esp:3V3", "red", ["v0"]],
        ["dht1:SDA", "esp:D14", "green", ["v0"]],
        ["dht1:GND", "esp:GND.1", "black", ["v0"]],
    ],
    "dependencies": {},
}


def iotkit_check(argv: list[str]) -> int:
    """`iotkit check ...`: through the real CLI once it has the subcommand, else the same way."""
    parser = main_cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "check" in sub.choices:
        return main_cli.main(["check", *argv])
    local = argparse.ArgumentParser(prog="iotkit")
    add_check_parser(local.add_subparsers(dest="command"))
    try:
        args = local.parse_args(["check", *argv])
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        return run_check(args)
    except IotkitError as exc:
        import sys

        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "diagram.json").write_text(json.dumps(DHT_DIAGRAM))
    (tmp_path / "good.py").write_text((SCRIPTS / "dht22_reader.py").read_text())
    (tmp_path / "wrong_pin.py").write_text(
        "import dht\nfrom machine import Pin\n\nsensor = dht.DHT22(Pin(4))\n"
    )
    (tmp_path / "output_on_34.py").write_text(
        "from machine import Pin\n\n\n\nled = Pin(34, Pin.OUT)\n"
    )
    return tmp_path


def test_clean_project_exits_0(project, capsys):
    rc = iotkit_check(["--wiring", str(project / "diagram.json"), str(project / "good.py")])
    out, err = capsys.readouterr()
    assert rc == 0
    assert "No problems found on esp32-devkit-v1" in out
    assert "error:" not in err


def test_errors_exit_1_with_one_line_each_and_a_fix(project, capsys):
    rc = iotkit_check(["--board", "esp32-devkit-v1", str(project / "output_on_34.py")])
    out, err = capsys.readouterr()
    assert rc == 1
    lines = [l for l in err.splitlines() if not l.startswith("WARNING")]
    where = f"{project / 'output_on_34.py'}:5"
    assert lines[0].startswith(f"error: {where}: Pin(34, Pin.OUT) on line 5: GPIO34 can only read")
    assert lines[1].startswith("    fix: Use a pin that can output, such as GPIO")
    assert "1 error, 0 warnings on esp32-devkit-v1" in out


def test_warnings_only_exit_0(tmp_path, capsys):
    script = tmp_path / "main.py"
    script.write_text("from machine import Pin\nb = Pin(12, Pin.IN)\n")
    assert iotkit_check(["--board", "esp32-devkit-v1", str(script)]) == 0
    out, err = capsys.readouterr()
    assert f"warning: {script}:2: " in err and "0 errors, 1 warning" in out


def test_json_shape(project, capsys):
    rc = iotkit_check(
        ["--wiring", str(project / "diagram.json"), str(project / "wrong_pin.py"), "--json"]
    )
    out, _ = capsys.readouterr()
    assert rc == 1
    doc = json.loads(out)
    assert doc["board"] == "esp32-devkit-v1"
    assert set(doc) == {"board", "findings"}
    (f,) = [f for f in doc["findings"] if f["rule"] == "code-wiring-mismatch"]
    assert set(f) == {"rule", "severity", "pin", "where", "message", "fix"}
    assert f["severity"] == "error" and f["pin"] == "GPIO4"
    assert f["where"] == f"{project / 'wrong_pin.py'}:4"
    for finding in doc["findings"]:
        assert finding["severity"] in ("error", "warning", "info")


def test_json_clean_is_an_empty_list(project, capsys):
    rc = iotkit_check(["--board", "pico", str(SCRIPTS / "blink.py"), "--json"])
    assert rc == 0
    assert json.loads(capsys.readouterr().out) == {"board": "pico", "findings": []}


def test_board_comes_from_the_diagram_and_board_flag_wins(project):
    assert check(None, project / "diagram.json", []).board.id == "esp32-devkit-v1"
    report = check("esp32-devkitc", project / "diagram.json", [])
    assert report.board.id == "esp32-devkitc" and report.notes


@pytest.mark.parametrize(
    "argv,text",
    [
        (["tests/data/scripts/blink.py"], "--board"),
        (["--board", "esp33", "tests/data/scripts/blink.py"], "Unknown board"),
        (["--board", "esp32-devkit-v1", "no/such/script.py"], "does not exist"),
        (["--board", "esp32-devkit-v1"], "Nothing to check"),
        (["--wiring", "no/such/diagram.json"], "does not exist"),
        (["--bogus-flag"], ""),
    ],
)
def test_usage_errors_exit_2(argv, text, capsys):
    assert iotkit_check(argv) == 2
    err = capsys.readouterr().err
    assert text in err
    if text:
        assert any(line.startswith("error: ") for line in err.splitlines())


def test_diagram_without_a_known_board_asks_for_board(tmp_path, capsys):
    path = tmp_path / "diagram.json"
    path.write_text(json.dumps({"version": 1, "parts": [], "connections": []}))
    assert iotkit_check(["--wiring", str(path)]) == 2
    assert "--board" in capsys.readouterr().err


def test_syntax_error_is_a_finding_not_a_crash(capsys):
    rc = iotkit_check(["--board", "esp32-devkit-v1", str(SCRIPTS / "broken.py"), "--json"])
    assert rc == 1
    doc = json.loads(capsys.readouterr().out)
    assert [f["rule"] for f in doc["findings"]] == ["script-syntax"]
    assert doc["findings"][0]["where"].endswith("broken.py:3")
