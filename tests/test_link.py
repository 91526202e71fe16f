"""The link against the virtual board: the real MicroPython interpreter speaking the real protocol.

The cross-checks at the end use the official `mpremote` as the reference client: a file our link
writes must read back identically through mpremote, and the other way round.
"""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from companion_app.device.errors import DeviceExecError
from companion_app.device.link import FileInfo, Link
from companion_app.simulator import VirtualBoard

MPREMOTE = Path(sys.executable).with_name("mpremote")


@pytest.fixture
def board(tmp_path):
    with VirtualBoard(flash_dir=tmp_path / "flash") as vb:
        yield vb


@pytest.fixture
def link(board):
    with Link(board.port, timeout=10.0) as link:
        link.connect()
        yield link


def random_blob(size: int, seed: int = 7) -> bytes:
    """Every byte value, including \\x00-\\x06 and \\r\\n, which break naive framing."""
    rnd = random.Random(seed)
    return bytes(range(256)) + bytes(rnd.randrange(256) for _ in range(size - 256))


def test_exec_streams_output_while_the_code_still_runs(link):
    chunks: list[tuple[float, bytes]] = []
    start = time.monotonic()
    out = link.exec(
        "import time\nfor i in range(3):\n print('tick', i)\n time.sleep(0.3)\n",
        on_output=lambda b: chunks.append((time.monotonic() - start, b)),
    )
    took = time.monotonic() - start
    assert out.replace(b"\r\n", b"\n") == b"tick 0\ntick 1\ntick 2\n"
    assert b"".join(c for _, c in chunks) == out
    assert chunks[0][0] < took - 0.4, "the first line must arrive before the program ends"


def test_eval_returns_python_values(link):
    assert link.eval("1 + 1") == 2
    assert link.eval("{'a': [1, 2.5, None], 'b': b'\\x00\\x04'}") == {
        "a": [1, 2.5, None],
        "b": b"\x00\x04",
    }
    link.exec("x = 'kept between execs'")
    assert link.eval("x") == "kept between execs"


def test_syntax_error_raises_device_exec_error_with_the_boards_traceback(link):
    with pytest.raises(DeviceExecError) as info:
        link.exec("def broken(:\n pass\n")
    assert "SyntaxError" in info.value.remote_traceback
    assert "SyntaxError" in str(info.value)
    assert link.exec("print('still fine')").strip() == b"still fine"


def test_exception_on_the_board_names_the_last_line_and_errno(link):
    with pytest.raises(DeviceExecError) as info:
        link.exec("print('before')\nopen('/no/such/file.txt')")
    err = info.value
    assert "Traceback" in err.remote_traceback
    assert err.last_line.startswith("OSError")
    assert err.errno == 2
    assert "OSError" in str(err) and err.last_line in str(err)
    assert err.stdout.strip() == b"before"


def test_fs_round_trip_of_20kb_random_binary_is_byte_exact(link, board):
    data = random_blob(20 * 1024)
    progress: list[tuple[int, int]] = []
    link.fs_mkdir("/data/sub")
    link.fs_mkdir("/data/sub")  # exist_ok=True by default
    link.fs_write("/data/sub/blob.bin", data, progress=lambda n, t: progress.append((n, t)))
    assert progress[0] == (0, len(data)) and progress[-1] == (len(data), len(data))
    assert len(progress) >= 3, "written in several chunks, progress after each"

    assert link.fs_read("/data/sub/blob.bin") == data
    assert link.fs_stat("/data/sub/blob.bin") == FileInfo("blob.bin", len(data), False)
    assert link.fs_stat("/data/sub") == FileInfo("sub", 0, True)
    assert link.fs_stat("/data/nothing") is None
    assert FileInfo("sub", 0, True) in link.fs_listdir("/data")
    assert link.fs_listdir("/data/sub") == [FileInfo("blob.bin", len(data), False)]
    on_host = Path(board.flash_dir) / "data" / "sub" / "blob.bin"
    assert on_host.read_bytes() == data, "the virtual board's flash holds the same bytes"

    with pytest.raises(DeviceExecError) as info:
        link.fs_rmdir("/data/sub")
    assert "Removing the directory /data/sub failed on the board" in str(info.value)
    link.fs_remove("/data/sub/blob.bin")
    assert link.fs_stat("/data/sub/blob.bin") is None
    link.fs_rmdir("/data/sub")
    assert link.fs_listdir("/data") == []


def test_empty_and_text_files_round_trip(link):
    link.fs_write("/empty.txt", b"")
    assert link.fs_read("/empty.txt") == b""
    text = "print('héllo')\r\nline\n\x04\x03\x01".encode()
    link.fs_write("/t.py", text)
    assert link.fs_read("/t.py") == text


def test_fs_errors_say_what_failed_and_why(link):
    with pytest.raises(DeviceExecError) as info:
        link.fs_read("/missing.txt")
    assert "Reading /missing.txt failed on the board" in str(info.value)
    assert info.value.errno_name == "ENOENT" or info.value.errno == 2
    link.fs_mkdir("/d")
    with pytest.raises(DeviceExecError) as info:
        link.fs_mkdir("/d", exist_ok=False)
    assert info.value.errno == 17


def test_fs_hash_many_equals_sha256_of_local_data_in_one_exec(link, monkeypatch):
    files = {"/a.bin": random_blob(5000, 1), "/b.txt": b"hello\n", "/e": b""}
    for path, data in files.items():
        link.fs_write(path, data)
    execs = []
    real_exec = link.exec
    monkeypatch.setattr(link, "exec", lambda *a, **k: execs.append(a) or real_exec(*a, **k))
    hashes = link.fs_hash_many([*files, "/missing.bin"])
    assert len(execs) == 1
    assert hashes == {
        **{p: hashlib.sha256(d).hexdigest() for p, d in files.items()},
        "/missing.bin": None,
    }


def test_soft_reset_shows_boot_and_main_output(link):
    link.fs_write("/boot.py", b"print('boot says hi')\n")
    link.fs_write("/main.py", b"print('main says hi')\n")
    out = link.soft_reset()
    assert "boot says hi" in out and "main says hi" in out
    assert out.index("boot says hi") < out.index("main says hi")
    assert 'Type "help()"' not in out, "the banner is not part of the programs' output"
    assert not link.in_raw_repl
    assert link.eval("2 * 21") == 42, "exec re-enters the raw REPL by itself"


def test_plain_raw_mode_round_trip_when_raw_paste_is_off(link):
    """Flag-driven: we set the link's raw-paste flag to False, as after an "R\\x00" answer.

    The "R\\x00" detection itself is tested against a fake board in test_link_faults.py.
    """
    link._use_raw_paste = False
    data = random_blob(6000, 3)
    link.fs_write("/plain.bin", data)
    assert link.fs_read("/plain.bin") == data
    with pytest.raises(DeviceExecError) as info:
        link.exec("1/0")
    assert "ZeroDivisionError" in info.value.remote_traceback
    assert link._use_raw_paste is False


def test_console_passthrough_talks_to_the_friendly_repl(link):
    link.exit_raw()
    link.write(b"print(6 * 7)\r\n")
    seen = b""
    end = time.monotonic() + 5
    while b"42" not in seen and time.monotonic() < end:
        seen += link.read_available(0.1)
    assert b"42" in seen
    assert link.read_available(0.05) is not None
    assert link.eval("'back in raw'") == "back in raw"


def test_hard_reset_on_a_pty_resets_the_board_and_it_comes_back(link):
    link.exec("import sys\nsys.modules['marker'] = 1")
    link.hard_reset()
    assert link.eval("'marker' in __import__('sys').modules") is False
    assert link.eval("3 + 4") == 7


def test_socket_port_works_like_a_pty(tmp_path):
    with VirtualBoard(flash_dir=tmp_path / "flash", tcp_port=0) as vb:
        url = vb.tcp_url  # vb.port stays the pty when both exist
        assert url.startswith("socket://")
        with Link(url) as link:
            data = random_blob(8000, 5)
            link.fs_write("/s.bin", data)
            assert link.fs_read("/s.bin") == data
            assert link.eval("len('abc')") == 3


def _mpremote(port: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(MPREMOTE), "connect", port, *args],
        capture_output=True,
        timeout=60,
        check=True,
    )


def test_file_written_by_our_link_reads_back_identically_with_mpremote(board, tmp_path):
    data = random_blob(20 * 1024, 11)
    with Link(board.port) as link:
        link.fs_write("/ours.bin", data)
    local = tmp_path / "via_mpremote.bin"
    _mpremote(board.port, "fs", "cp", ":/ours.bin", str(local))
    assert local.read_bytes() == data


def test_file_written_by_mpremote_reads_back_identically_with_our_link(board, tmp_path):
    data = random_blob(20 * 1024, 13)
    local = tmp_path / "theirs.bin"
    local.write_bytes(data)
    _mpremote(board.port, "fs", "cp", str(local), ":/theirs.bin")
    with Link(board.port) as link:
        assert link.fs_read("/theirs.bin") == data
        assert link.fs_hash_many(["/theirs.bin"]) == {
            "/theirs.bin": hashlib.sha256(data).hexdigest()
        }
