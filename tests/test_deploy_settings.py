"""Saved deploy settings (companion_app/device/settings.py): one file per board type, written
by the Deploy panel after a deploy, read back by the panel and by `iotkit deploy --saved`, and
never holding a password."""

from __future__ import annotations

import json
import tkinter as tk
from pathlib import Path

import pytest
from gui_helpers import pump, require_display
from secret_helpers import WIFI_PASSWORD, assert_no_secret

from companion_app import cli
from companion_app.device import settings

BOARD = "esp32-devkit-v1"


@pytest.fixture
def config_home(tmp_path, monkeypatch) -> Path:
    """The user's config folder, in a temp dir (platformdirs reads XDG_CONFIG_HOME)."""
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


# --- the file ---------------------------------------------------------------------------------
def test_the_file_is_where_the_panel_always_kept_it(config_home):
    import platformdirs

    expected = Path(platformdirs.user_config_dir("thonny-iotkit")) / "deploy" / f"{BOARD}.json"
    assert settings.settings_file(BOARD) == expected
    assert str(expected).startswith(str(config_home))


def test_a_file_written_by_an_earlier_version_still_loads(config_home):
    path = settings.settings_file(BOARD)
    path.parent.mkdir(parents=True)
    # Byte for byte what the panel wrote before the settings moved to the engine.
    path.write_text(
        json.dumps(
            {"templates": ["sensor", "web"], "config": {"sensor_pin": "14", "wifi_ssid": "lab"}},
            indent=2,
            sort_keys=True,
        ),
        encoding="utf-8",
    )
    saved = settings.load_settings(BOARD)
    assert saved == settings.SavedSettings(
        ["sensor", "web"], {"sensor_pin": "14", "wifi_ssid": "lab"}
    )


def test_saving_drops_every_secret_and_keeps_the_format(tmp_path):
    values = {"wifi_ssid": "lab", "wifi_password": WIFI_PASSWORD, "AP_Password": "hunter22", "x": 1}
    path = settings.save_settings(BOARD, {"web", "sensor"}, values, base=tmp_path)
    assert path == tmp_path / f"{BOARD}.json"
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == {
        "templates": ["sensor", "web"],
        "config": {"wifi_ssid": "lab", "x": 1},
    }
    assert "hunter22" not in text
    assert_no_secret(text)


def test_a_password_added_to_the_file_by_hand_is_not_loaded(tmp_path):
    path = tmp_path / f"{BOARD}.json"
    path.write_text(
        json.dumps({"templates": ["wifi"], "config": {"wifi_password": WIFI_PASSWORD}}),
        encoding="utf-8",
    )
    assert settings.load_settings(BOARD, base=tmp_path) == settings.SavedSettings(["wifi"], {})


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"templates": "web"}'])
def test_a_damaged_file_counts_as_nothing_saved(tmp_path, content):
    (tmp_path / f"{BOARD}.json").write_text(content, encoding="utf-8")
    assert settings.load_settings(BOARD, base=tmp_path) is None
    assert settings.load_settings("pico", base=tmp_path) is None  # no file at all


@pytest.mark.parametrize("bad", ["../escape", "a/b", ".hidden", ""])
def test_a_board_id_never_names_a_file_outside_the_folder(bad):
    with pytest.raises(ValueError):
        settings.settings_file(bad)


# --- the command line -------------------------------------------------------------------------
def test_saved_without_settings_says_what_to_do(config_home, capsys):
    code = cli.main(["deploy", "--port", "socket://127.0.0.1:9", "--saved", BOARD])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: No deploy settings are saved for esp32-devkit-v1 yet")
    assert "Deploy panel" in err


def test_saved_takes_a_known_board_id_and_not_a_folder(config_home, tmp_path, capsys):
    assert cli.main(["deploy", "--port", "socket://127.0.0.1:9", "--saved", "esp33"]) == 2
    assert "Unknown board 'esp33'" in capsys.readouterr().err
    code = cli.main(["deploy", "--port", "socket://127.0.0.1:9", "--saved", BOARD, str(tmp_path)])
    assert code == 2
    assert "--saved go with --template" in capsys.readouterr().err


# --- from the panel to the command line, on a virtual board ------------------------------------
def test_what_the_panel_saved_is_what_the_cli_deploys_and_never_the_password(
    vboard, config_home, capsys, monkeypatch
):
    require_display()
    from companion_app.gui.app import CompanionApp
    from companion_app.gui.deploy_panel import DeployPanel

    monkeypatch.delenv("IOTKIT_WIFI_PASSWORD", raising=False)
    root = tk.Tk()
    try:
        app = CompanionApp(root, port=vboard.port, list_ports=lambda: [], auto_virtual=False)
        assert pump(root, lambda: app.connection.is_connected, 30), app.status_var.get()
        assert app.show_panel("Deploy")
        assert pump(root, lambda: app.panel("Deploy") is not None, 10)
        panel = app.panel("Deploy")
        assert isinstance(panel, DeployPanel) and panel.board.id == BOARD
        panel.choose("wifi", "button_led")
        panel.values["device_name"].set("bench-7")
        panel.values["wifi_ssid"].set("lab-net")
        panel.values["wifi_password"].set(WIFI_PASSWORD)
        panel.set_pin("led_pin", 4)
        panel.deploy()
        assert pump(root, lambda: panel.running is None, 90), panel.status_var.get()
        assert panel.status_var.get().startswith("Deployed"), panel.status_var.get()
        app.close()  # releases the port for the command line
    finally:
        try:
            root.destroy()
        except tk.TclError:
            pass

    text = settings.settings_file(BOARD).read_text(encoding="utf-8")
    assert_no_secret(text)
    assert "wifi_password" not in text

    capsys.readouterr()
    code = cli.main(["deploy", "--port", vboard.port, "--saved", BOARD, "--dry-run", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    assert doc["templates"] == ["wifi", "button_led"]
    config = doc["config"]
    assert (config["device_name"], config["wifi_ssid"], config["led_pin"]) == (
        "bench-7",
        "lab-net",
        4,
    )
    assert config["wifi_password"] == ""  # the password was never saved, so none is deployed
    # Only /config.json differs from what the panel sent (the password is not in it now).
    changed = {c["path"] for c in doc["changes"] if c["action"] != "unchanged"}
    assert changed == {"/config.json"}, doc["changes"]

    # --set and --template still win over what was saved.
    code = cli.main(
        ["deploy", "--port", vboard.port, "--saved", BOARD, "--template", "wifi"]
        + ["--set", "device_name=bench-8", "--dry-run", "--json"]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    assert doc["templates"] == ["wifi"]
    assert doc["config"]["device_name"] == "bench-8" and doc["config"]["wifi_ssid"] == "lab-net"
