"""`iotkit` exit codes and messages follow CONTRACTS.md: one `error:` line, 2 for usage."""

from __future__ import annotations

import json
import subprocess

from conftest import venv_bin
from test_boards import CONTRACT_BOARD_IDS


def iotkit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([venv_bin("iotkit"), *args], capture_output=True, text=True, timeout=30)


def test_boards_json_lists_every_contract_board_id():
    result = iotkit("boards", "--json")
    assert result.returncode == 0
    ids = {b["id"] for b in json.loads(result.stdout)}
    assert ids == CONTRACT_BOARD_IDS


def test_ports_json_is_a_list_with_hints():
    result = iotkit("ports", "--json")
    assert result.returncode == 0
    ports = json.loads(result.stdout)
    assert isinstance(ports, list)
    assert all("device" in p and "hint" in p for p in ports)


def test_sim_with_an_unknown_board_is_a_usage_error_naming_the_known_ones():
    result = iotkit("sim", "--board", "esp99")
    assert result.returncode == 2
    assert result.stderr.startswith("error: Unknown board 'esp99'")
    assert "esp32-devkit-v1" in result.stderr
    assert "Traceback" not in result.stderr


def test_sim_with_a_missing_wiring_file_says_so():
    result = iotkit("sim", "--wiring", "/no/such/diagram.json")
    assert result.returncode == 2
    assert "error: The wiring file /no/such/diagram.json does not exist" in result.stderr


def test_sim_rejects_a_malformed_wifi_option():
    result = iotkit("sim", "--wifi", "no-colon-here")
    assert result.returncode == 2
    assert "error: --wifi takes SSID:PASSWORD" in result.stderr


def test_unknown_subcommand_is_a_usage_error():
    result = iotkit("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_sim_wifi_error_never_echoes_what_may_be_a_password():
    result = iotkit("sim", "--wifi", "hunter2secret")
    assert result.returncode == 2
    assert "hunter2secret" not in result.stderr + result.stdout
