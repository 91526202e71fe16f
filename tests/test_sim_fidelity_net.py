"""The network module, sockets and the frozen network modules behave as on each board's port
(issue 13, item 3).

Checked against ports/esp32/network_wlan.c, ports/esp8266/network_wlan.c and the Pico W's
CYW43 driver at v1.28: what `active()` returns, the STAT_* codes, module-level and per-interface
`ipconfig()`. Sockets as ports/esp32/modsocket.c gives them: (host, port) tuples in and out,
getaddrinfo() 5-tuples, select.poll and asyncio on the board's sockets. The frozen modules of
the official builds (requests/urequests, umqtt.simple/robust, ntptime, webrepl) where the
board's firmware has them, against real servers on this computer.
"""

from __future__ import annotations

import http.server
import re
import socket
import threading
import time

import pytest
from sim_helpers import RawConsole, friendly_board
from waiting import wait_until

from companion_app.simulator import VirtualBoard, micropython_available

pytestmark = pytest.mark.skipif(not micropython_available(), reason="needs the virtual board")


def test_wlan_active_returns_the_new_state_as_on_the_esp32(console):
    out = console.run(
        "import network; w = network.WLAN(network.STA_IF); print(w.active(True), w.active(),"
        " w.active(False))"
    )
    assert out == "True True False", out


@pytest.mark.parametrize(
    "board_id, active, codes",
    [
        # (IDLE, CONNECTING, WRONG_PASSWORD, NO_AP_FOUND, GOT_IP) of each port, v1.28
        ("nodemcu", "None", "0 1 2 3 5"),
        ("pico-w", "None", "0 1 -3 -2 3"),
    ],
)
def test_wlan_status_codes_and_active_are_the_boards_ports(tmp_path, board_id, active, codes):
    """The ESP8266 (SDK STATION_*) and the Pico W (CYW43_LINK_*) number the states otherwise
    than the ESP32, and their WLAN.active(True) returns None."""
    with friendly_board(board=board_id, flash_dir=tmp_path / "flash") as (board, c):
        c.run("import network, time; w = network.WLAN(network.STA_IF)")
        assert c.run("print(w.active(True))") == active
        n = "network.STAT_"
        assert (
            c.run(f"print({n}IDLE, {n}CONNECTING, {n}WRONG_PASSWORD, {n}NO_AP_FOUND, {n}GOT_IP)")
            == codes
        )
        c.run("w.connect('iotkit-lab', 'wrong')")
        deadline = time.monotonic() + 10
        status = ""
        while status != codes.split()[2] and time.monotonic() < deadline:
            status = c.run("print(w.status())")
        assert status == codes.split()[2]  # STAT_WRONG_PASSWORD as that port numbers it


def test_module_level_ipconfig_reads_and_sets_the_dns_server(console):
    console.run("import network")
    assert console.run("network.ipconfig(dns='8.8.8.8'); print(network.ipconfig('dns'))") == (
        "8.8.8.8"
    )
    assert "ValueError: unexpected key" in console.run("network.ipconfig('mac')")
    assert "TypeError: must query one param" in console.run("network.ipconfig()")


def test_wlan_ipconfig_checks_its_keys_and_sets_a_static_address(console):
    console.run(
        "import network, time; w = network.WLAN(network.STA_IF); w.active(True)\n"
        "w.connect('iotkit-lab', 'micropython')"
    )
    assert console.run("print(w.ipconfig('dhcp4'))") == "True"
    assert "ValueError: unexpected key" in console.run("w.ipconfig('nope')")
    console.run("w.ipconfig(addr4='192.168.4.50/24', gw4='192.168.4.1')")
    assert console.run("print(w.ipconfig('addr4'), w.ipconfig('gw4'), w.ipconfig('dhcp4'))") == (
        "('192.168.4.50', '255.255.255.0') 192.168.4.1 False"
    )


# ---- sockets take and give address tuples, as on the ESP32 port -------------------------------


def board_exec(console: RawConsole, code: str, timeout: float = 10.0) -> str:
    """Run `code` in the raw REPL; its output, after checking that it raised nothing."""
    out, err = console.raw_exec(code, timeout)
    assert not err, err.decode(errors="replace")
    return out.decode(errors="replace").replace("\r\n", "\n")


def mapped_port(output: str, board_port: int) -> int:
    """The computer's port for a board port below 1024, as the board printed it."""
    found = re.search(rf"virtual board: port {board_port} is \S*?:(\d+)/? on this computer", output)
    assert found, output
    return int(found.group(1))


def test_getaddrinfo_gives_the_esp32_ports_5_tuples(console):
    out = board_exec(
        console,
        "import socket\n"
        "print(socket.getaddrinfo('0.0.0.0', 80))\n"
        "print(socket.getaddrinfo('', 8080))\n"
        "print(socket.getaddrinfo('localhost', '123', 0, socket.SOCK_DGRAM))\n"
        "try:\n"
        "    socket.getaddrinfo('no-such-host.invalid', 80)\n"
        "except OSError as e:\n"
        "    print('unknown', e.args)\n",
    )
    assert out.split("\n")[:4] == [
        "[(2, 1, 0, '', ('0.0.0.0', 80))]",  # type 0 becomes SOCK_STREAM, as modsocket.c says
        "[(2, 1, 0, '', ('0.0.0.0', 8080))]",  # "" is every interface
        "[(2, 2, 0, '', ('127.0.0.1', 123))]",
        "unknown (-202,)",  # lwIP's answer for a name it cannot resolve
    ], out


def test_getaddrinfo_on_the_esp8266_gives_modlwips_fixed_shape(tmp_path):
    """extmod/modlwip.c (ESP8266, RP2) answers SOCK_STREAM whatever type was asked, and
    OSError(-2) for a name it cannot resolve."""
    with friendly_board(board="nodemcu", flash_dir=tmp_path / "flash") as (board, c):
        out = board_exec(
            c,
            "import socket\n"
            "print(socket.getaddrinfo('localhost', 123, 0, socket.SOCK_DGRAM))\n"
            "try:\n"
            "    socket.getaddrinfo('no-such-host.invalid', 80)\n"
            "except OSError as e:\n"
            "    print('unknown', e.args)\n",
        )
    assert out.split("\n")[:2] == ["[(2, 1, 0, '', ('127.0.0.1', 123))]", "unknown (-2,)"], out


@pytest.mark.parametrize("host", ["0.0.0.0", ""])
def test_a_server_bound_to_port_80_is_served_on_the_port_the_board_prints(console, host):
    out = board_exec(
        console,
        f"import socket\ns = socket.socket()\ns.bind(({host!r}, 80))\ns.listen(1)\n",
    )
    port = mapped_port(out, 80)
    assert f"port 80 is http://127.0.0.1:{port}/" in out, out
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        console.write(b"cl, addr = s.accept(); cl.send(b'hello ' + repr(addr).encode())\r")
        c.settimeout(5)
        greeting = c.recv(100).decode()
        mine = c.getsockname()[1]
    # accept() gives (ip, port) of the computer's end: the port this test's socket has
    assert greeting == f"hello ('127.0.0.1', {mine})", greeting


def test_connect_takes_an_address_tuple_and_reaches_a_server_on_the_computer(console):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        out = board_exec(
            console,
            "import socket\n"
            "c = socket.socket()\n"
            f"c.connect(('127.0.0.1', {port}))\n"
            "c.send(b'ping')\n"
            "print('sent')\n",
        )
        assert "sent" in out
        server.settimeout(5)
        peer, _ = server.accept()
        with peer:
            peer.settimeout(5)
            assert peer.recv(4) == b"ping"


def test_a_board_reaches_its_own_port_80_server_by_its_board_port(console):
    out = board_exec(
        console,
        "import socket\n"
        "srv = socket.socket(); srv.bind(('0.0.0.0', 80)); srv.listen(1)\n"
        "c = socket.socket(); c.connect(('127.0.0.1', 80))\n"
        "cl, a = srv.accept(); c.send(b'ping')\n"
        "print(cl.recv(4), type(a).__name__, a[0], type(a[1]).__name__)\n",
    )
    assert "b'ping' tuple 127.0.0.1 int" in out, out


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port of this computer that nothing uses now."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_udp_sendto_and_recvfrom_use_address_tuples(console):
    port = free_port(socket.SOCK_DGRAM)
    out = board_exec(
        console,
        "import socket\n"
        "a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); a.bind(('0.0.0.0', 0))\n"
        f"b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); b.bind(('', {port}))\n"
        f"a.sendto(b'x', ('127.0.0.1', {port})); d, addr = b.recvfrom(8)\n"
        "print(d, addr[0], type(addr[1]).__name__)\n",
    )
    assert "b'x' 127.0.0.1 int" in out, out


def test_select_poll_hands_back_the_board_socket_that_was_registered(console):
    out = board_exec(
        console,
        "import socket, select\n"
        "srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(1)\n"
        "p = select.poll(); p.register(srv, select.POLLIN)\n"
        "print('idle', p.poll(0))\n",
    )
    assert "idle []" in out, out  # nothing to accept yet: not ready
    # The unix port cannot tell its port (no getsockname), so a second server on a known port.
    port = free_port()
    out = board_exec(
        console,
        f"srv2 = socket.socket(); srv2.bind(('127.0.0.1', {port})); srv2.listen(1)\n"
        "p.register(srv2, select.POLLIN)\n"
        f"c = socket.socket(); c.connect(('127.0.0.1', {port}))\n"
        "ready = p.poll(2000)\n"
        "print(len(ready), ready[0][0] is srv2, ready[0][1] & select.POLLIN)\n"
        "cl, a = srv2.accept(); c.send(b'x')\n"
        "q = select.poll(); q.register(cl, select.POLLIN)\n"
        "print([(s is cl, ev) for s, ev in q.ipoll(2000)])\n",
    )
    assert "1 True 1" in out, out
    assert "[(True, 1)]" in out, out


def test_an_asyncio_server_on_the_board_serves_the_computer(console):
    board_exec(
        console,
        "import asyncio\n"
        "async def echo(r, w):\n"
        "    line = await r.readline()\n"
        "    w.write(b'echo ' + line); await w.drain(); w.close(); await w.wait_closed()\n"
        "async def main():\n"
        "    await asyncio.start_server(echo, '0.0.0.0', 81)\n"
        "    await asyncio.sleep(30)\n",
    )
    console.write(b"asyncio.run(main())\r")
    port = mapped_port(console.read_until(b"on this computer", timeout=10).decode(), 81)
    for n in range(3):  # one client after the other: the server keeps serving
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(b"hi %d\n" % n)
            c.settimeout(5)
            assert c.recv(100) == b"echo hi %d\n" % n
    console.write(b"\x03")
    console.read_until(b"KeyboardInterrupt")


# ---- the firmware's frozen network modules ---------------------------------------------------


class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = b'{"temp": 21.5}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_requests_and_urequests_get_a_page_from_the_computer(console):
    server = http.server.HTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/data"
    try:
        out = board_exec(
            console,
            "import requests, urequests\n"
            f"r = urequests.get('{url}'); print(r.status_code, r.json()['temp']); r.close()\n"
            f"r = requests.get('{url}'); print(r.text); r.close()\n"
            "print(urequests.get is requests.get)\n",
        )
    finally:
        server.shutdown()
        server.server_close()
    assert out.split("\n")[:3] == ["200 21.5", '{"temp": 21.5}', "True"], out


def test_ntptime_settime_sets_the_board_clock_to_utc(console):
    before = board_exec(
        console,
        "import machine, time, ntptime\n"
        "machine.RTC().datetime((2000, 1, 1, 6, 0, 0, 0, 0))\n"
        "print(time.localtime()[0])\n",
    )
    assert before.strip() == "2000"  # a board's clock after power-on, before NTP
    out = board_exec(console, "ntptime.settime(); print(time.time(), ntptime.host)\n")
    board_time, host = out.split()
    assert host == "pool.ntp.org"
    # time.time() counts from 2000 on the ESP32; the host's UTC time, within a few seconds.
    assert abs(int(board_time) + 946684800 - time.time()) < 5, out
    assert board_exec(console, "print(time.localtime()[0])").strip() == str(time.gmtime()[0])


def test_umqtt_simple_and_robust_talk_to_a_real_broker(console):
    pytest.importorskip("amqtt")
    mqtt = pytest.importorskip("paho.mqtt.client")
    from mqtt_helpers import BrokerThread

    broker = BrokerThread.on_a_free_port()
    got: list[bytes] = []
    subscribed = threading.Event()
    host = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    host.on_message = lambda c, u, msg: got.append(msg.payload)
    host.on_subscribe = lambda *args: subscribed.set()
    host.connect("127.0.0.1", broker.port)
    host.subscribe("lab/board")
    host.loop_start()
    try:
        assert subscribed.wait(10)
        board_exec(
            console,
            "from umqtt.simple import MQTTClient\n"
            "from umqtt.robust import MQTTClient as Robust\n"
            "inbox = []\n"
            f"c = Robust('board1', '127.0.0.1', {broker.port}, keepalive=30)\n"
            "c.set_callback(lambda t, m: inbox.append((t, m)))\n"
            "c.connect(); c.subscribe(b'lab/host')\n"
            "c.publish(b'lab/board', b'21.5')\n"
            "print(issubclass(Robust, MQTTClient))\n",
        )
        wait_until(lambda: got, 10, "the board's message at the host")
        assert got == [b"21.5"]
        host.publish("lab/host", b"led on")
        out = ""
        deadline = time.monotonic() + 10
        while "led on" not in out and time.monotonic() < deadline:
            out = board_exec(console, "c.check_msg(); print(inbox)")
        assert "[(b'lab/host', b'led on')]" in out, out
    finally:
        host.loop_stop()
        host.disconnect()
        broker.close()


def test_webrepl_start_says_where_the_virtual_boards_webrepl_is(tmp_path):
    with VirtualBoard(flash_dir=tmp_path / "a", pty=False, tcp_port=0, webrepl_port=0) as board:
        c = RawConsole(board.tcp_url)
        try:
            c.friendly()
            out = c.run("import webrepl; webrepl.start()")
        finally:
            c.close()
        assert f"already serves WebREPL at {board.webrepl_url}" in out, out
    with friendly_board(flash_dir=tmp_path / "b") as (board, c):
        out = c.run("import webrepl, os; webrepl.start(); print(os.listdir('/'))")
        assert "iotkit sim --webrepl 8266" in out, out
        assert "['boot.py']" in out, out  # nothing of the virtual board's shows on its flash


@pytest.mark.parametrize(
    "board_id, present, absent",
    [
        # each board's v1.28 manifest (chips.json / board file "frozen_modules")
        ("esp32-devkit-v1", "ntptime webrepl urequests umqtt.simple umqtt.robust", ""),
        ("nodemcu", "ntptime webrepl urequests umqtt.simple umqtt.robust", ""),
        ("pico-w", "ntptime webrepl urequests", "umqtt.simple umqtt.robust"),
        ("pico", "", "ntptime webrepl urequests umqtt.simple umqtt.robust"),
    ],
)
def test_frozen_network_modules_are_there_as_on_the_boards_firmware(
    tmp_path, board_id, present, absent
):
    with friendly_board(board=board_id, flash_dir=tmp_path / "flash") as (board, c):
        for name in present.split():
            assert c.run(f"import {name}; print('ok')") == "ok", name
        for name in absent.split():
            assert "ImportError: no module named" in c.run(f"import {name}"), name


# What importing umqtt.simple needs free on a virtual NodeMCU, in bytes of the 64-bit heap:
# measured by bisection, about 13 KB from the precompiled module, about 35 KB compiling the
# source; the test leaves room between the two.
FROZEN_IMPORT_ROOM = 22 * 1024


@pytest.mark.parametrize("precompiled", [True, False], ids=["mpy", "source"])
def test_a_frozen_micropython_lib_module_costs_its_objects_not_a_compile(
    tmp_path, monkeypatch, precompiled
):
    """On a board, frozen bytecode stays in flash: `import umqtt.simple` on an ESP8266 does not
    compile anything. The virtual board imports the host's .mpy of it (board_network.py), so a
    NodeMCU with little free heap imports it; compiled from source it would not fit (the
    second case: without an mpy-cross for the interpreter the source is the fallback)."""
    from companion_app.simulator import board_network

    if not precompiled:
        monkeypatch.setattr(board_network, "INTERPRETER_MPY", (99, 0))  # no such mpy-cross
    with friendly_board(board="nodemcu", flash_dir=tmp_path / "flash") as (board, c):
        out = board_exec(
            c,
            "import gc\ngc.collect()\nx = []\n"
            f"while gc.mem_free() > {FROZEN_IMPORT_ROOM} + 1024:\n"
            "    x.append(bytearray(512))\n"
            "gc.collect()\n"
            "try:\n"
            "    from umqtt.simple import MQTTClient\n"
            "    print('imported', MQTTClient.__name__)\n"
            "except MemoryError:\n"
            "    print('MemoryError')\n"
            "import os\nprint(os.listdir('/'))\n",
            timeout=30,
        )
    if precompiled:
        assert "imported MQTTClient" in out, out
    else:
        assert "MemoryError" in out, out
    assert "['boot.py']" in out, out  # the module's mount is gone again


def test_each_frozen_module_is_compiled_once_for_every_board_and_boot(tmp_path, monkeypatch):
    """A class of virtual boards, each booting and soft-rebooting, needs the same frozen
    bytecode: mpy-cross runs once per module in the process, and every board still imports it."""
    from companion_app.simulator import board_network

    compiled: list[str] = []
    real = board_network._compile_mpy

    def counted(rel: str, source: bytes) -> bytes | None:
        compiled.append(rel)
        return real(rel, source)

    monkeypatch.setattr(board_network, "_fetches", {})  # as in a fresh `iotkit sim` process
    monkeypatch.setattr(board_network, "_compile_mpy", counted)
    for n in range(2):
        with friendly_board(board="esp32-devkit-v1", flash_dir=tmp_path / f"flash{n}") as (_, c):
            for _boot in range(2):
                out = board_exec(c, "from umqtt.robust import MQTTClient\nprint('imported')")
                assert out.strip() == "imported", out
                c.write(b"\x04")  # soft reboot at the friendly prompt: the board boots again
                c.read_until(b"soft reboot", 15)
                c.friendly()
    assert sorted(compiled) == ["umqtt/robust.py", "umqtt/simple.py"], compiled


def test_the_interpreter_loads_the_mpy_version_the_host_precompiles_for(console):
    from companion_app.simulator.board_network import INTERPRETER_MPY

    out = board_exec(
        console, "import sys\nm = sys.implementation._mpy\nprint(m & 0xff, (m >> 8) & 3)"
    )
    assert out.split() == [str(v) for v in INTERPRETER_MPY], out


def test_a_frozen_module_that_cannot_be_fetched_says_why_on_import(tmp_path, monkeypatch, console):
    """An empty library cache and no internet: the import fails with the reason and the fix."""
    import urllib.error

    from companion_app.device import libs

    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("no route to host")

    monkeypatch.setenv("IOTKIT_LIB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(libs.urllib.request, "urlopen", offline)
    with friendly_board(flash_dir=tmp_path / "flash") as (board, c):
        out = c.run("from umqtt.simple import MQTTClient", timeout=15)
    assert "ImportError: umqtt.simple: The library umqtt.simple is not built into" in out, out
    assert "downloading it from PyPI failed" in out and "IOTKIT_LIB_CACHE" in out, out


def test_ssl_wraps_a_board_socket_as_on_the_board(console, tmp_path):
    """C code that takes the socket as a stream (ssl; ota.py's HTTPS) works on the wrapper."""
    import shutil
    import ssl
    import subprocess

    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(10)

    def serve() -> None:
        conn, _ = server.accept()
        with context.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"over tls\n")

    threading.Thread(target=serve, daemon=True).start()
    try:
        out = board_exec(
            console,
            "import socket, ssl\n"
            f"s = socket.socket(); s.connect(('127.0.0.1', {server.getsockname()[1]}))\n"
            "c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); c.verify_mode = ssl.CERT_NONE\n"
            "t = c.wrap_socket(s, server_hostname='localhost'); print(t.readline()); t.close()\n",
        )
    finally:
        server.close()
    assert "b'over tls\\n'" in out, out
