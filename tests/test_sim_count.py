"""`iotkit sim --count N` and start_virtual_class(): a virtual classroom of real interpreters.

Each board must be a board of its own (its own flash folder, its own chip id, so that 30 of
them can share one MQTT broker), all of them must stop with the process, and a mistake must
be one clear sentence that leaves nothing running.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess

import psutil
import pytest
from conftest import venv_bin
from waiting import wait_for_file, wait_until

from companion_app.device.link import Link

# Prints the board's chip id and its station MAC, both in hex, on one line.
CHIP_FACTS = (
    "import binascii, machine, network\n"
    "print(binascii.hexlify(machine.unique_id()).decode(),"
    " binascii.hexlify(network.WLAN(network.STA_IF).config('mac')).decode())\n"
)
MARKER = "only-on-board-1.txt"


def _chip_facts(port: str) -> tuple[str, str]:
    with Link(port, timeout=20) as link:
        link.connect()
        uid, mac = link.exec(CHIP_FACTS).decode().split()
    return uid, mac


def _still_running(pids: set[int]) -> set[int]:
    """Which of `pids` still run (a zombie has ended; its parent just did not reap it yet)."""
    alive = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.add(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def _own_interpreters() -> set[int]:
    """The virtual boards' processes this test process started (pipe_launcher and its child)."""
    return {
        p.pid
        for p in psutil.Process().children(recursive=True)
        if p.status() != psutil.STATUS_ZOMBIE
    }


@pytest.mark.parametrize("stop_signal", ["SIGTERM", "SIGINT"])
def test_sim_count_3_serves_three_separate_boards_and_a_signal_stops_them_all(
    tmp_path, stop_signal
):
    """Three ports in the port file, each a board that answers a raw-REPL exec with its own
    chip id and MAC and its own flash folder; the signal ends the process and every
    interpreter it started, exit 0."""
    port_file, flash = tmp_path / "ports", tmp_path / "flash"
    argv = [venv_bin("iotkit"), "sim", "--count", "3", "--port-file", str(port_file)]
    argv += ["--flash-dir", str(flash), "--endpoints-file", str(tmp_path / "ends.json")]
    sim = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ports = wait_for_file(port_file, sim, 60, "the class's port file").split()
        assert len(ports) == 3 and len(set(ports)) == 3, ports
        endpoints = json.loads((tmp_path / "ends.json").read_text("utf-8"))
        assert [e["pty"] or e["socket"] for e in endpoints] == ports
        facts = [_chip_facts(port) for port in ports]
        assert len({uid for uid, _ in facts}) == 3, facts
        assert len({mac for _, mac in facts}) == 3, facts

        with Link(ports[0], timeout=20) as link:
            link.connect()
            link.fs_write("/" + MARKER, b"seat 1\n")
        for port in ports[1:]:
            with Link(port, timeout=20) as link:
                link.connect()
                assert link.fs_stat("/" + MARKER) is None, port
        assert (flash / "board-01" / MARKER).read_bytes() == b"seat 1\n"
        assert not (flash / "board-02" / MARKER).exists()
        assert not (flash / "board-03" / MARKER).exists()

        started = {p.pid for p in psutil.Process(sim.pid).children(recursive=True)}
        assert len(started) >= 3, "each board runs at least one interpreter process"
        sim.send_signal(getattr(signal, stop_signal))
        out, err = sim.communicate(timeout=30)
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.communicate()
    assert sim.returncode == 0, err
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == ["1", "2", "3"], out
    assert [line.split()[1] for line in lines] == ports, out
    assert "virtual class of 3" in err
    wait_until(lambda: not _still_running(started), 15, "every interpreter of the class to end")


@pytest.mark.parametrize("count", ["0", "65"])
def test_a_class_size_out_of_range_is_a_usage_error_naming_the_range(tmp_path, capsys, count):
    from companion_app.cli import main

    code = main(["sim", "--count", count, "--flash-dir", str(tmp_path / "flash")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == f"error: --count takes 1 to 64 virtual boards; got {count}"
    assert not (tmp_path / "flash").exists()


def test_count_with_bootloader_is_a_usage_error(capsys):
    from companion_app.cli import main

    assert main(["sim", "--count", "2", "--bootloader", "esp32"]) == 2
    assert "--count starts several MicroPython boards" in capsys.readouterr().err


def test_a_taken_tcp_port_in_the_range_is_refused_before_any_board_starts(tmp_path, capsys):
    """--tcp P gives boards P, P+1, …: with P+1 taken, the error names board 2 and the port,
    and no board, flash folder or interpreter is left behind."""
    from companion_app.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        second = taken.getsockname()[1]
        with socket.socket() as probe:  # P must be free for the error to be about P+1
            try:
                probe.bind(("127.0.0.1", second - 1))
            except OSError:
                pytest.skip(f"port {second - 1} is in use by another program")
        before = _own_interpreters()
        code = main(
            ["sim", "--count", "3", "--tcp", str(second - 1), "--flash-dir", str(tmp_path / "f")]
        )
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"error: Virtual board 2 of 3 was to listen on --tcp port {second}:")
    assert "already in use" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "f").exists()
    assert _own_interpreters() == before


def test_count_1_is_the_single_board_sim(tmp_path):
    """--count 1 is today's `iotkit sim`: the flash folder itself, a bare port on stdout."""
    port_file, flash = tmp_path / "port", tmp_path / "flash"
    argv = [venv_bin("iotkit"), "sim", "--count", "1", "--port-file", str(port_file)]
    argv += ["--flash-dir", str(flash)]
    sim = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = wait_for_file(port_file, sim, 60, "the port file").strip()
        assert "\n" not in port
        assert (flash / "boot.py").exists() and not (flash / "board-01").exists()
        sim.terminate()
        out, err = sim.communicate(timeout=30)
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.communicate()
    assert sim.returncode == 0, err
    assert out.splitlines()[0] == port
    assert "virtual esp32-devkit-v1, flash in" in err


def test_python_api_starts_boards_with_own_ports_chips_and_flash_then_stops_them(tmp_path):
    from companion_app import secrets
    from companion_app.simulator.classroom import (
        chip_unique_id,
        start_virtual_class,
        stop_virtual_class,
    )

    boards = start_virtual_class(3, flash_dir=tmp_path, pty=False, tcp_port=0, webrepl_port=0)
    try:
        urls = [vb.tcp_url for vb in boards]
        assert len(set(urls)) == 3 and all(u and u.startswith("socket://") for u in urls)
        assert len({vb.webrepl_url for vb in boards}) == 3
        passwords = [vb.webrepl_password for vb in boards]
        assert all(p in secrets.known() for p in passwords)  # each masked in what we print
        assert [vb.flash_dir for vb in boards] == [tmp_path / f"board-0{i}" for i in (1, 2, 3)]
        for vb in boards:
            uid, _ = _chip_facts(vb.port)
            assert bytes.fromhex(uid) == chip_unique_id(vb.board_id, vb.flash_dir)
    finally:
        stop_virtual_class(boards)
    assert not any(vb.running for vb in boards)
    for url in urls:
        host, port = url.removeprefix("socket://").split(":")
        with pytest.raises(OSError):
            socket.create_connection((host, int(port)), timeout=2).close()


def test_chip_ids_differ_for_a_class_of_64_and_stay_the_same_for_one_flash_folder(tmp_path):
    from companion_app.simulator.classroom import MAX_CLASS_SIZE, chip_unique_id, class_flash_dirs

    dirs = class_flash_dirs(MAX_CLASS_SIZE, tmp_path)
    ids = [chip_unique_id("esp32-devkit-v1", d) for d in dirs]
    assert len(set(ids)) == MAX_CLASS_SIZE
    assert all(len(i) == 6 and i[0] & 0b11 == 0b10 for i in ids)  # local, unicast MAC
    assert chip_unique_id("esp32-devkit-v1", dirs[0]) == ids[0]


def test_default_class_folders_sit_beside_the_single_boards_flash_not_inside(env):
    from companion_app.simulator import default_flash_dir
    from companion_app.simulator.classroom import class_flash_dirs

    single = default_flash_dir("pico")
    dirs = class_flash_dirs(2, None, "pico")
    assert [d.name for d in dirs] == ["board-01", "board-02"]
    assert dirs[0].parent == single.parent / "class"
    assert not any(single in d.parents for d in dirs)


def test_one_board_failing_to_start_stops_the_others_and_names_it(tmp_path):
    """Board 2's flash folder cannot be made (a link to nowhere): one error naming board 2,
    and the boards that did start are powered off."""
    from companion_app.simulator.classroom import VirtualClassError, start_virtual_class

    (tmp_path / "board-02").symlink_to(tmp_path / "no-such-folder" / "flash")
    before = _own_interpreters()
    with pytest.raises(VirtualClassError) as caught:
        start_virtual_class(3, flash_dir=tmp_path, pty=False, tcp_port=0)
    message = str(caught.value)
    assert message.startswith("Virtual board 2 of 3 did not start: ")
    assert "board-02" in message and "\n" not in message
    wait_until(lambda: _own_interpreters() <= before, 15, "the started boards' interpreters to end")
