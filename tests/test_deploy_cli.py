"""`iotkit deploy` end to end on a virtual board: output, --json, exit codes, the password."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import venv_bin
from secret_helpers import WIFI_PASSWORD, assert_no_secret

from companion_app import cli


def snapshot(flash: Path) -> dict[str, bytes]:
    return {
        p.relative_to(flash).as_posix(): p.read_bytes()
        for p in sorted(flash.rglob("*"))
        if p.is_file()
    }


def iotkit(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["deploy", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_dry_run_shows_the_plan_and_changes_nothing(vboard, capsys):
    before = snapshot(vboard.flash_dir)
    code, out, err = iotkit(capsys, "--port", vboard.port, "--template", "web", "--dry-run")
    assert code == 0, err
    assert snapshot(vboard.flash_dir) == before
    assert out.startswith(f"Would deploy templates wifi, sensor, web to {vboard.port}\n")
    # An ESP32's RAM fits the web template only precompiled (issue 13 item 4, template_fit.py):
    # the plan says so and lists the .mpy files.
    assert "  add       /lib/microdot/microdot.mpy" in out
    assert "Precompiling to .mpy" in err
    assert "  update    /boot.py" in out  # a fresh board has its own boot.py
    assert "Dry run:" in out and "Nothing was changed on the board." in out


def test_deploy_prints_plan_progress_summary_and_first_output(vboard, capsys):
    code, out, err = iotkit(
        capsys, "--port", vboard.port, "--template", "button_led", "--output-seconds", "1.5"
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"Deploying templates button_led to {vboard.port}"
    assert any(line.startswith("  add       /button_led.py") for line in lines)
    summary = next(line for line in lines if line.startswith("Sent "))
    assert " in " in summary and " s" in summary and "on the wire" in summary
    assert "Checking the files on the board…" in err and "Restarting the board…" in err
    assert "sent /button_led.py" in err
    assert (vboard.flash_dir / "button_led.py").exists()
    # Again: nothing to send.
    code, out, err = iotkit(capsys, "--port", vboard.port, "--template", "button_led", "--no-reset")
    assert code == 0 and "Nothing to send: all" in out


def test_json_has_the_contract_shape_and_a_masked_config(vboard, capsys, tmp_path):
    cfg = tmp_path / "class.json"
    cfg.write_text(json.dumps({"wifi_ssid": "lab", "wifi_password": WIFI_PASSWORD}))
    code, out, err = iotkit(
        capsys,
        "--port",
        vboard.port,
        "--template",
        "sensor,wifi",
        "--config",
        str(cfg),
        "--set",
        "sensor_pin=4",
        "--json",
        "--output-seconds",
        "1",
    )
    assert code == 0, err
    doc = json.loads(out)
    assert {
        "port",
        "templates",
        "dry_run",
        "changes",
        "sent_bytes",
        "seconds",
        "first_output",
        "config",
    } <= set(doc)
    assert doc["port"] == vboard.port and doc["dry_run"] is False
    assert doc["templates"] == ["sensor", "wifi"]  # as asked; needs would come first
    assert all(set(c) == {"path", "action", "size"} for c in doc["changes"])
    assert {c["path"] for c in doc["changes"]} >= {"/wifi.py", "/sensor.py", "/config.json"}
    assert doc["sent_bytes"] > 0 and isinstance(doc["seconds"], float)
    assert doc["config"]["wifi_password"] == "***" and doc["config"]["sensor_pin"] == 4
    assert_no_secret(out, err)
    on_board = json.loads((vboard.flash_dir / "config.json").read_text())
    assert on_board["wifi_password"] == WIFI_PASSWORD and on_board["sensor_pin"] == 4
    assert on_board["wifi_ssid"] == "lab" and on_board["parts"] == ["sensor", "wifi"]


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--template", "web", "--set", "sensor_pin=fourteen"], "sensor_pin must be a whole"),
        (["--template", "web", "--set", "sensor=dht33"], "dht22, dht11, bme280, none"),
        (["--template", "web", "--set", "colour=red"], "Unknown config key colour"),
        (["--template", "web", "--set", "sensor_pin"], "KEY=VALUE"),
        (["--template", "wbe"], "Unknown template 'wbe'. Templates: wifi, sensor, web"),
        ([], "--template NAME"),
    ],
)
def test_usage_errors_exit_2_with_one_line_and_leave_the_board_alone(vboard, capsys, argv, words):
    before = snapshot(vboard.flash_dir)
    code, out, err = iotkit(capsys, "--port", vboard.port, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and words in err
    assert snapshot(vboard.flash_dir) == before


def test_a_bad_password_value_is_not_echoed(vboard, capsys, tmp_path):
    cfg = tmp_path / "class.json"
    cfg.write_text('{"wifi_password": "%s", }' % WIFI_PASSWORD)  # trailing comma: not JSON
    code, out, err = iotkit(
        capsys, "--port", vboard.port, "--template", "wifi", "--config", str(cfg)
    )
    assert code == 2 and "not valid JSON" in err
    assert_no_secret(out, err)


def test_project_folder_sync_keeps_what_is_only_on_the_board(vboard, capsys, tmp_path):
    (vboard.flash_dir / "mine.txt").write_text("keep me")
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "main.py").write_text("print('project main')\n")
    (proj / "lib").mkdir()
    (proj / "lib" / "util.py").write_text("def f():\n    return 1\n")
    code, out, err = iotkit(capsys, "--port", vboard.port, str(proj), "--output-seconds", "1.5")
    assert code == 0, err
    assert out.startswith(f"Deploying folder {proj} to {vboard.port}\n")
    assert "project main" in out
    files = snapshot(vboard.flash_dir)
    assert files["mine.txt"] == b"keep me"
    assert files["lib/util.py"] == b"def f():\n    return 1\n"


def test_a_missing_project_folder_is_a_usage_error(vboard, capsys, tmp_path):
    code, out, err = iotkit(capsys, "--port", vboard.port, str(tmp_path / "nope"))
    assert code == 2 and err.startswith("error: The project folder") and "does not exist" in err


def test_a_missing_port_is_explained(capsys, tmp_path):
    code, out, err = iotkit(capsys, "--port", str(tmp_path / "ttyUSB9"), "--template", "wifi")
    assert code == 1
    assert err.count("\n") == 1 and "does not exist" in err and "cable" in err
    code, out, err = iotkit(capsys, "--template", "wifi")
    assert code == 2 and err.startswith("error: --port is needed")


def test_the_installed_iotkit_command_deploys(vboard):
    proc = subprocess.run(
        [
            venv_bin("iotkit"),
            "deploy",
            "--port",
            vboard.port,
            "--template",
            "button_led",
            "--no-reset",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert {
        "path": "/button_led.py",
        "action": "add",
        "size": (vboard.flash_dir / "button_led.py").stat().st_size,
    } in doc["changes"]


def test_ctrl_c_stops_between_chunks_and_leaves_only_whole_files(tmp_path):
    import signal
    import time

    from companion_app.simulator import VirtualBoard

    # At 115200 baud the web template takes seconds, so Ctrl-C lands mid-deploy. A big heap,
    # not the ESP32's: with its own RAM the deploy precompiles web to .mpy (a third of the
    # bytes, over before the Ctrl-C); this test is about Ctrl-C between chunks, not RAM.
    with VirtualBoard(flash_dir=tmp_path / "flash", baud=115200, heap=4 << 20) as board:
        before = snapshot(board.flash_dir)
        proc = subprocess.Popen(
            [venv_bin("iotkit"), "deploy", "--port", board.port, "--template", "web", "--no-reset"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        seen = ""
        deadline = time.monotonic() + 30
        while "sent /lib/microdot/__init__.py" not in seen and time.monotonic() < deadline:
            seen += proc.stderr.readline()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        err = seen + err
        assert proc.returncode == 1, err
        assert "error: Deploy stopped." in err and "deploy again to finish" in err
        after = snapshot(board.flash_dir)
        assert not [p for p in after if ".iotkit-" in p], "a temp file was left behind"
        assert after["boot.py"] == before["boot.py"], "boot.py goes last: it was not reached"
        assert "lib/microdot/__init__.py" in after and "web.py" not in after
