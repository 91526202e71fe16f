"""The virtual board's WebREPL endpoint (issue 12, item 2) and `iotkit sim`'s transports.

Clients are real: the `websockets` package's own client, Thonny's WebReplConnection (what
Thonny's Shell and Files view use), and mpremote over the socket URL of a real `iotkit sim`
subprocess. The protocol facts come from MicroPython's extmod/modwebrepl.c and webrepl_cli.py.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import venv_bin
from waiting import wait_for_file, wait_until

pytest.importorskip("websockets")
from websockets.sync.client import connect  # noqa: E402

from companion_app.errors import UsageError  # noqa: E402
from companion_app.simulator import VirtualBoard  # noqa: E402
from companion_app.simulator.webrepl import check_password, flash_path  # noqa: E402

PASSWORD = "pico1234"
REQUEST = "<2sBBQLH64s"
PUT, GET, VERSION = 1, 2, 3


@pytest.fixture
def board(tmp_path):
    """A virtual board with no pty, reachable on TCP and WebREPL."""
    b = VirtualBoard(
        flash_dir=tmp_path / "flash",
        pty=False,
        tcp_port=0,
        webrepl_port=0,
        webrepl_password=PASSWORD,
    )
    b.start()
    yield b
    b.stop()


def recv_text_until(ws, marker: str, timeout: float = 10) -> str:
    """Text frames until `marker` shows up (binary frames are not expected here)."""
    got = ""
    deadline = time.monotonic() + timeout
    while marker not in got:
        left = deadline - time.monotonic()
        assert left > 0, f"no {marker!r} in {got!r}"
        message = ws.recv(timeout=left)
        assert isinstance(message, str), message
        got += message
    return got


def recv_binary(ws, timeout: float = 10) -> bytes:
    """The next binary frame, skipping REPL text (a real board interleaves them too)."""
    deadline = time.monotonic() + timeout
    while True:
        message = ws.recv(timeout=max(0.01, deadline - time.monotonic()))
        if isinstance(message, bytes):
            return message


def login(board: VirtualBoard):
    ws = connect(board.webrepl_url)
    assert ws.recv(timeout=10) == "Password: "
    ws.send(PASSWORD + "\r")
    recv_text_until(ws, "WebREPL connected")
    return ws


def status(ws) -> int:
    data = recv_binary(ws)
    signature, code = struct.unpack("<2sH", data)
    assert signature == b"WB"
    return code


def put(ws, name: str, data: bytes) -> tuple[int, int]:
    fname = name.encode()
    header = struct.pack(REQUEST, b"WA", PUT, 0, 0, len(data), len(fname), fname)
    ws.send(header[:10])  # split as webrepl_cli.py and Thonny do: a byte stream, not messages
    ws.send(header[10:])
    first = status(ws)
    if first:
        return first, -1
    for i in range(0, len(data), 1024):
        ws.send(data[i : i + 1024])
    return first, status(ws)


def get(ws, name: str) -> tuple[int, bytes]:
    fname = name.encode()
    ws.send(struct.pack(REQUEST, b"WA", GET, 0, 0, 0, len(fname), fname))
    first = status(ws)
    if first:
        return first, b""
    out = b""
    while True:
        ws.send(b"\0")
        chunk = recv_binary(ws)
        (size,) = struct.unpack("<H", chunk[:2])
        assert size == len(chunk) - 2 and size <= 256
        if size == 0:
            break
        out += chunk[2:]
    assert status(ws) == 0
    return first, out


def test_password_accepted_and_repl_runs_code(board):
    with login(board) as ws:
        ws.send("print(6*7)\r")
        assert "\r\n42\r\n" in recv_text_until(ws, "42\r\n")


def test_wrong_password_is_refused_and_the_connection_closed(board):
    from websockets.exceptions import ConnectionClosed

    with connect(board.webrepl_url) as ws:
        assert ws.recv(timeout=10) == "Password: "
        ws.send("wrong99\n")
        assert ws.recv(timeout=10) == "\r\nAccess denied\r\n"
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)


def test_put_20kb_and_get_it_back_byte_for_byte(board):
    blob = os.urandom(20 * 1024)
    with login(board) as ws:
        assert put(ws, "/data/../blob.bin", blob) == (0, 0)
        assert (board.flash_dir / "blob.bin").read_bytes() == blob
        assert get(ws, "/blob.bin") == (0, blob)
        # The REPL still works after the file protocol, and sees the same file.
        ws.send("import os; print(os.stat('/blob.bin')[6])\r")
        recv_text_until(ws, "20480\r\n")


def test_get_of_a_missing_file_answers_an_error_status(board):
    with login(board) as ws:
        code, data = get(ws, "/no-such-file.py")
        assert code != 0 and data == b""
        ws.send("print('still here')\r")
        recv_text_until(ws, "still here\r\n")


def test_dotdot_paths_stay_inside_the_flash_folder(board, tmp_path):
    with login(board) as ws:
        assert put(ws, "../../../escaped.txt", b"x") == (0, 0)
    assert (board.flash_dir / "escaped.txt").read_bytes() == b"x"
    assert not (tmp_path / "escaped.txt").exists()
    assert not (board.flash_dir.parent.parent / "escaped.txt").exists()
    assert flash_path(Path("/f"), "/a/../../../b") == Path("/f/b")
    assert flash_path(Path("/f"), "..") == Path("/f")


def test_version_op_answers_three_bytes(board):
    with login(board) as ws:
        ws.send(struct.pack(REQUEST, b"WA", VERSION, 0, 0, 0, 0, b""))
        version = recv_binary(ws)
    assert len(version) == 3 and version[0] == 1


def test_text_from_webrepl_and_tcp_share_one_board_stream(board):
    import socket

    host, port = board.tcp_url.removeprefix("socket://").split(":")
    with login(board) as ws, socket.create_connection((host, int(port))) as tcp:
        tcp.sendall(b"print('from' + ' tcp')\r")
        recv_text_until(ws, "from tcp\r\n")


def unmasked_payloads(raw: bytes) -> bytes:
    """The payloads of the whole server frames (unmasked, RFC 6455) at the start of `raw`."""
    out = b""
    while len(raw) >= 2:
        assert raw[0] in (0x81, 0x82), raw[:2]  # final text or binary frames
        size, head = raw[1] & 0x7F, 2
        assert size != 127, "no 64-bit lengths expected here"
        if size == 126:
            if len(raw) < 4:
                break
            size, head = struct.unpack(">H", raw[2:4])[0], 4
        if len(raw) < head + size:
            break
        out += raw[head : head + size]
        raw = raw[head + size :]
    return out


def test_unmasked_frames_and_a_lenient_handshake_as_webrepl_cli_sends_them(board):
    """webrepl_cli.py's client: key "foo", no version, unmasked frames, password in binary."""
    import socket

    host, port = board.webrepl_url.removeprefix("ws://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            b"Sec-WebSocket-Key: foo\r\n\r\n"
        )
        got = b""
        while b"Password: " not in got:
            chunk = s.recv(4096)
            assert chunk, got
            got += chunk
        assert got.startswith(b"HTTP/1.1 101")
        s.sendall(bytes([0x82, len(PASSWORD) + 1]) + PASSWORD.encode() + b"\r")
        s.sendall(bytes([0x81, 11]) + b"print(6*7)\r")
        # The text arrives in frames cut wherever the board's output was cut ("42" and "\r\n"
        # can be two frames), so look at their payloads, as webrepl_cli.py does, not the bytes.
        raw = b""
        while b"42\r\n" not in unmasked_payloads(raw):
            chunk = s.recv(4096)
            assert chunk, raw
            raw += chunk
        text = unmasked_payloads(raw)
        assert b"WebREPL connected" in text


def test_thonny_webrepl_connection_round_trips_bytes(board):
    from thonny.plugins.micropython.webrepl_connection import WebReplConnection

    conn = WebReplConnection(board.webrepl_url, PASSWORD)
    try:
        conn.read_until(b"WebREPL connected", timeout=10)
        conn.write(b"print('thonny', 6*7)\r")
        assert b"thonny 42" in conn.read_until(b"thonny 42\r\n", timeout=10)
        # Thonny's Files view: its binary put, as bare_metal_backend.py sends it.
        conn.set_text_mode(False)
        payload = bytes(range(256)) * 8
        header = struct.pack(REQUEST, b"WA", PUT, 0, 0, len(payload), 6, b"/t.bin")
        conn.write(header[:10])
        conn.write(header[10:])
        conn.read_until(b"WB", timeout=10)
        assert conn.read(2, timeout=10) == b"\0\0"
        conn.write(payload)
        conn.read_until(b"WB", timeout=10)
        assert conn.read(2, timeout=10) == b"\0\0"
        conn.set_text_mode(True)
        assert (board.flash_dir / "t.bin").read_bytes() == payload
    finally:
        conn.stop_reader()


def test_endpoints_has_exactly_the_contract_keys_and_a_random_password(tmp_path):
    board = VirtualBoard(flash_dir=tmp_path / "flash", pty=False, tcp_port=0, webrepl_port=0)
    board.start()
    try:
        endpoints = board.endpoints()
        assert set(endpoints) == {"pty", "socket", "webrepl", "webrepl_password"}
        assert endpoints["pty"] is None
        assert endpoints["socket"].startswith("socket://127.0.0.1:")
        assert endpoints["webrepl"].startswith("ws://127.0.0.1:")
        assert len(board.webrepl_password) == 8
        assert endpoints["webrepl_password"] == board.webrepl_password
    finally:
        board.stop()
    other = VirtualBoard(flash_dir=tmp_path / "f2", webrepl_port=0)
    assert other.webrepl_password != board.webrepl_password


@pytest.mark.parametrize("bad", ["abc", "abcdefghij", "tab\tpw"])
def test_password_length_is_checked_as_a_board_does(bad):
    with pytest.raises(UsageError, match="4 to 9"):
        check_password(bad)


def start_sim_without_pty(tmp_path: Path, env: dict, *more: str):
    """`iotkit sim --no-pty --tcp 0 --webrepl 0 --endpoints-file F` in the background, until it
    has written F: (the process, the endpoints read from F)."""
    endpoints_file = tmp_path / "endpoints.json"
    proc = subprocess.Popen(
        [
            venv_bin("iotkit"),
            "sim",
            "--no-pty",
            "--tcp",
            "0",
            "--webrepl",
            "0",
            "--endpoints-file",
            str(endpoints_file),
            "--flash-dir",
            str(tmp_path / "flash"),
            *more,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        text = wait_for_file(endpoints_file, proc, 30, "iotkit sim's endpoints file")
    except AssertionError:
        proc.kill()
        proc.communicate()
        raise
    return proc, json.loads(text)


def test_iotkit_sim_no_pty_writes_endpoints_and_mpremote_execs_over_the_socket(tmp_path):
    endpoints_file = tmp_path / "endpoints.json"
    port_file = tmp_path / "port"
    env = {**os.environ, "IOTKIT_WEBREPL_PASSWORD": PASSWORD}
    proc, endpoints = start_sim_without_pty(tmp_path, env, "--port-file", str(port_file))
    try:
        assert endpoints["pty"] is None
        assert endpoints["socket"].startswith("socket://127.0.0.1:")
        assert endpoints["webrepl"].startswith("ws://127.0.0.1:")
        assert endpoints["webrepl_password"] == PASSWORD
        if sys.platform != "win32":
            assert endpoints_file.stat().st_mode & 0o077 == 0  # it holds a password
        assert port_file.read_text(encoding="utf-8").strip() == endpoints["socket"]
        result = subprocess.run(
            [venv_bin("mpremote"), "connect", endpoints["socket"], "exec", "print(6*7)"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.stdout.strip() == "42", result.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert PASSWORD.encode() not in out + err  # printed nowhere


def test_iotkit_sim_reads_the_webrepl_password_from_stdin(tmp_path):
    endpoints_file = tmp_path / "endpoints.json"
    proc = subprocess.Popen(
        [
            venv_bin("iotkit"),
            "sim",
            "--no-pty",
            "--webrepl",
            "0",
            "--webrepl-password",
            "-",
            "--endpoints-file",
            str(endpoints_file),
            "--flash-dir",
            str(tmp_path / "flash"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        proc.stdin.write(b"fromin12\n")
        proc.stdin.flush()
        text = wait_for_file(endpoints_file, proc, 20, "iotkit sim's endpoints file")
        endpoints = json.loads(text)
        assert endpoints["webrepl_password"] == "fromin12"
        assert endpoints["socket"] is None
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    assert proc.returncode == 0


def test_endpoints_and_webrepl_import_and_serve_without_posix_modules(tmp_path):
    """Where termios, tty, pty and fcntl do not exist (Windows), the client side still works."""
    code = (
        "import sys\n"
        "for name in ('termios', 'tty', 'pty', 'fcntl'):\n"
        "    sys.modules[name] = None\n"
        "from companion_app.simulator.endpoint import ClientPorts, endpoints_record\n"
        "import companion_app.simulator.webrepl, companion_app.simulator.cli\n"
        "ports = ClientPorts(pty=False, tcp_port=0)\n"
        "ports.accept_sessions()\n"
        "print(ports.tcp_url)\n"
        "ports.close()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("socket://127.0.0.1:")


def test_practice_chip_no_pty_writes_its_endpoints(tmp_path):
    endpoints_file = tmp_path / "endpoints.json"
    proc = subprocess.Popen(
        [
            venv_bin("iotkit"),
            "sim",
            "--bootloader",
            "esp32",
            "--no-pty",
            "--tcp",
            "0",
            "--flash-image",
            str(tmp_path / "flash.bin"),
            "--endpoints-file",
            str(endpoints_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        text = wait_for_file(endpoints_file, proc, 20, "iotkit sim --bootloader's endpoints file")
        endpoints = json.loads(text)
        assert endpoints == {
            "pty": None,
            "socket": endpoints["socket"],
            "webrepl": None,
            "webrepl_password": None,
        }
        assert endpoints["socket"].startswith("socket://127.0.0.1:")
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "esptool",
                "--port",
                endpoints["socket"],
                "--before",
                "no-reset",
                "--after",
                "no-reset",
                "chip-id",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "ESP32" in result.stdout, result.stdout + result.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    assert proc.returncode == 0


def test_a_newer_login_takes_over_from_an_older_one(board):
    from websockets.exceptions import ConnectionClosed

    first = login(board)
    try:
        with login(board) as second:
            second.send("print('second' + ' one')\r")
            recv_text_until(second, "second one\r\n")
            with pytest.raises(ConnectionClosed):
                while True:
                    first.recv(timeout=10)
    finally:
        first.close()


def test_a_webrepl_client_that_stops_reading_never_stalls_the_board(board):
    """A logged-in client that reads nothing: the TCP client still gets all of its output."""
    import socket

    # A raw client (the websockets client would buffer everything in a thread of its own).
    host, port = board.webrepl_url.removeprefix("ws://").split(":")
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect((host, int(port)))
    stalled.sendall(
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    header = bytes([0x81, 0x80 | (len(PASSWORD) + 1), 0, 0, 0, 0])  # masked, zero mask
    stalled.sendall(header + PASSWORD.encode() + b"\r")
    wait_until(  # logged in: the relay has the session
        lambda: board._ports.session is not None, 10, "the WebREPL login to reach the board"
    )
    try:
        host, port = board.tcp_url.removeprefix("socket://").split(":")
        with socket.create_connection((host, int(port)), timeout=20) as tcp:
            # More than every buffer between the board and the stalled client holds.
            tcp.sendall(b"for i in range(40000): print('x' * 200)\r\rprint('end' + 'ed')\r")
            got = b""
            deadline = time.monotonic() + 60
            while b"ended\r\n" not in got:
                assert time.monotonic() < deadline, got[-200:]
                chunk = tcp.recv(65536)
                assert chunk
                got += chunk
            assert got.count(b"x" * 200 + b"\r\n") == 40000  # not a line lost
    finally:
        stalled.close()
