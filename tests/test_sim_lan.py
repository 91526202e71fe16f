"""Virtual boards and practice chips listen on loopback unless `--lan` (issue 11, item 4).

The virtual board runs MicroPython's unix port, whose sockets are this computer's own: a web
dashboard that binds 0.0.0.0, as it must on a real board, would be reachable from the whole lab
network. These tests look at the real listening addresses (psutil, or /proc/net/tcp) and try
the computer's own network address, for every server: the board program's, `iotkit sim --tcp`,
and the practice chip's TCP and RFC 2217 ports.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest
from conftest import venv_bin
from device_helpers import DEVICE_SCRIPTS, start_main, wait_ready
from waiting import wait_until

from companion_app.simulator import VirtualBoard, micropython_available
from companion_app.simulator.bootloader import VirtualBootloader
from companion_app.simulator.endpoint import lan_address

pytestmark = pytest.mark.skipif(not micropython_available(), reason="needs MicroPython's unix port")

LOOPBACK = {"127.0.0.1"}
EVERYWHERE = {"0.0.0.0"}


def listening_on(port: int) -> set[str]:
    """The local addresses of the TCP sockets listening on `port`, seen from the OS."""
    try:
        import psutil

        return {
            c.laddr.ip
            for c in psutil.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port
        }
    except ImportError:
        pass
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hexport = local.split(":")
            if state == "0A" and int(hexport, 16) == port:  # 0A: LISTEN
                if len(address) == 8:
                    found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
                else:
                    found.add("::" if int(address, 16) == 0 else address)
    if not found and not Path("/proc/net/tcp").exists():
        pytest.skip("no way to list listening sockets here (install psutil)")
    return found


def reachable_from_the_network(port: int) -> bool | None:
    """Whether a connection to this computer's network address reaches `port` (None when the
    computer has no network address)."""
    address = lan_address()
    if address is None:
        return None
    try:
        with socket.create_connection((address, port), timeout=2):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def install_web(flash: Path, port: int) -> None:
    """The web template with its Wi-Fi and sensor parts, as a deploy would leave it."""
    import microdot

    for name in (
        "config.py",
        "boot.py",
        "main.py",
        "wifi.py",
        "sensor.py",
        "web.py",
        "web_index.html",
    ):
        shutil.copyfile(DEVICE_SCRIPTS / name, flash / name)
    lib = flash / "lib" / "microdot"
    lib.mkdir(parents=True, exist_ok=True)
    for name in ("__init__.py", "microdot.py", "helpers.py"):
        shutil.copyfile(Path(microdot.__file__).parent / name, lib / name)
    config = {
        "device_name": "lan-test",
        "wifi_ssid": "iotkit-lab",
        "wifi_password": "lan-test-password",
        "parts": ["wifi", "sensor", "web"],
        "web_port": port,
        "interval_s": 1,
        "sensor": "dht22",
        "sensor_pin": 14,
    }
    (flash / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("lan", [False, True], ids=["default", "lan"])
def test_the_web_dashboard_of_a_virtual_board_listens_on_loopback_unless_lan(tmp_path, lan):
    """device_scripts/web.py binds 0.0.0.0; on the virtual board that lands on 127.0.0.1."""
    flash = tmp_path / "flash"
    flash.mkdir()
    port = free_port()
    with VirtualBoard(flash_dir=flash, lan=lan) as board:
        wait_ready(board.port)
        install_web(flash, port)
        run = start_main(board.port)
        try:
            text = run.read_for(30, until=r"web: dashboard at http://\S+/")
            assert "web: dashboard at http://" in text, text
            wait_until(lambda: listening_on(port), 10, "the dashboard to listen")
            assert listening_on(port) == (EVERYWHERE if lan else LOOPBACK)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as resp:
                assert resp.status == 200  # this computer still reaches it
            reached = reachable_from_the_network(port)
            if reached is not None:
                assert reached is lan
        finally:
            run.stop()
            run.console.close()


@pytest.mark.parametrize("lan", [False, True], ids=["default", "lan"])
def test_iotkit_sim_tcp_listens_on_loopback_unless_lan(tmp_path, lan):
    argv = [venv_bin("iotkit"), "sim", "--tcp", "0", "--flash-dir", str(tmp_path / "flash")]
    proc = subprocess.Popen(
        argv + (["--lan"] if lan else []),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = ""
        while not url.startswith("socket://"):
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            url = line.strip()
        assert url.startswith("socket://127.0.0.1:")  # what a client on this computer opens
        port = int(url.rsplit(":", 1)[1])
        assert listening_on(port) == (EVERYWHERE if lan else LOOPBACK)
        reached = reachable_from_the_network(port)
        if reached is not None:
            assert reached is lan
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert ("warning: --lan: other computers on the network can reach" in err) is lan


@pytest.mark.parametrize("lan", [False, True], ids=["default", "lan"])
def test_a_practice_chip_listens_on_loopback_unless_lan(tmp_path, lan):
    chip = VirtualBootloader(
        "esp32",
        flash_image=tmp_path / "flash.bin",
        pty=False,
        tcp_port=0,
        rfc2217_port=0,
        lan=lan,
    )
    with chip:
        for url in (chip.tcp_url, chip.rfc2217_url):
            assert url is not None and "://127.0.0.1:" in url
            port = int(url.rsplit(":", 1)[1])
            assert listening_on(port) == (EVERYWHERE if lan else LOOPBACK), url


@pytest.mark.parametrize("lan", [False, True], ids=["default", "lan"])
def test_a_board_program_binding_every_interface_gets_loopback_unless_lan(tmp_path, lan):
    """The rule at its source: bind(("0.0.0.0" or "", port)) on the virtual board binds the
    loopback address (mpy/_simsocket.py), so any server a program starts stays on this
    computer; getaddrinfo() still answers 0.0.0.0, as the ESP32 port does."""
    from sim_helpers import RawConsole

    ports = [free_port(), free_port()]
    with VirtualBoard(flash_dir=tmp_path / "flash", lan=lan) as board:
        console = RawConsole(board.port)
        try:
            console.friendly()
            out = console.run(
                "import socket; s = [socket.socket(), socket.socket()]; "
                f"s[0].bind(socket.getaddrinfo('0.0.0.0', {ports[0]})[0][-1]); "
                f"s[1].bind(('', {ports[1]})); s[0].listen(1); s[1].listen(1); "
                f"print(socket.getaddrinfo('0.0.0.0', {ports[0]})[0][-1])"
            )
            assert out == f"('0.0.0.0', {ports[0]})", out
            for port in ports:
                wait_until(lambda p=port: listening_on(p), 10, "the program's server to listen")
                assert listening_on(port) == (EVERYWHERE if lan else LOOPBACK), port
        finally:
            console.close()
