"""The independent check: the official, unmodified mpremote works against `iotkit sim`."""

from __future__ import annotations

import json
import os
import signal

import pytest
from sim_helpers import mpremote, start_cli_sim
from waiting import wait_for_file


@pytest.fixture
def sim_port(tmp_path):
    """`iotkit sim --port-file p &`, as the acceptance text does it."""
    port_file = tmp_path / "p"
    proc = start_cli_sim(tmp_path, "--endpoints-file", str(tmp_path / "endpoints.json"))
    port = wait_for_file(port_file, proc, 10, "iotkit sim's port file").strip()
    yield port, proc, tmp_path / "flash"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=5)


def test_mpremote_exec_reads_the_emulated_dht22(sim_port):
    port, _, _ = sim_port
    out = mpremote(
        port,
        "exec",
        "import dht,machine; d=dht.DHT22(machine.Pin(14)); d.measure(); print(d.temperature())",
    )
    assert 10.0 < float(out.strip()) < 35.0


def test_mpremote_fs_cp_round_trips_20kb_binary_byte_for_byte(sim_port, tmp_path):
    port, _, flash = sim_port
    data = os.urandom(20 * 1024)
    src, back = tmp_path / "blob.bin", tmp_path / "back.bin"
    src.write_bytes(data)
    mpremote(port, "fs", "cp", str(src), ":blob.bin")
    assert (flash / "blob.bin").read_bytes() == data
    mpremote(port, "fs", "cp", ":blob.bin", str(back))
    assert back.read_bytes() == data
    listing = mpremote(port, "fs", "ls")
    assert f"{len(data)} blob.bin" in " ".join(listing.split())
    mpremote(port, "fs", "rm", ":blob.bin")
    assert not (flash / "blob.bin").exists()
    assert "blob.bin" not in mpremote(port, "fs", "ls")


def test_mpremote_eval_run_and_soft_reset(sim_port, tmp_path):
    port, _, flash = sim_port
    assert mpremote(port, "eval", "6*7").strip() == "42"
    script = tmp_path / "hello.py"
    script.write_text("import sys\nprint('hello from', sys.implementation.name)\n")
    assert mpremote(port, "run", str(script)).strip() == "hello from micropython"
    # Variables survive between execs until a soft reset clears them, as on a board.
    out = mpremote(port, "exec", "x = 1", "+", "soft-reset", "+", "exec", "print('x' in globals())")
    assert out.strip() == "False"


def test_mpremote_works_over_the_socket_transport(sim_port, tmp_path):
    _, _, _ = sim_port
    # The endpoints file is written once every server is ready (there is a pty only where the
    # OS has one, so the socket URL is not always the second line printed).
    url = json.loads((tmp_path / "endpoints.json").read_text(encoding="utf-8"))["socket"]
    assert url.startswith("socket://127.0.0.1:")
    assert mpremote(url, "eval", "1+1").strip() == "2"
