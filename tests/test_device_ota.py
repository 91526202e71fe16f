"""Safe OTA updates (device_scripts/ota.py) on a virtual board, from a real local web server.

The board fetches manifest.json and the files over real sockets from an http.server thread;
reboots are real (soft resets, and machine.reset() restarting the board's interpreter); the
test then looks at the board's flash folder from the host.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from device_helpers import start_main, wait_ready
from secret_helpers import WIFI_PASSWORD, assert_no_secret
from sim_helpers import RawConsole

from companion_app.device.link import Link
from companion_app.simulator import VirtualBoard

DEVICE_SCRIPTS = Path(__file__).resolve().parent.parent / "device_scripts"
SSID = "iotkit-lab"
BANNER_END = b'Type "help()" for more information.\r\n>>> '

APP_V1 = b"print('app v1')\n"
APP_V2 = b"import ota\nprint('app v2')\nota.mark_good()\n"
APP_V2_NO_MARK = b"print('app v2')\n"
APP_V2_CRASH = b"raise RuntimeError('v2 is broken')\n"
HELPER_V2 = b"# a module that version 2 brings\nVALUE = 2\n"


# ---- the update server ---------------------------------------------------------------------


class UpdateServer:
    """A web server in a thread, serving `files` (path -> bytes) as ota_url.

    `cut[path] = n` sends the full Content-Length but only n bytes, then hangs up.
    `trickle[path] = s` sends the body one byte every s seconds, as a server that never
    quite stops; `trickling` is set while it does, `trickles_ended` once the client gave up.
    `requests` lists every path asked for, in order.
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cut: dict[str, int] = {}
        self.trickle: dict[str, float] = {}
        self.trickling = threading.Event()
        self.trickles_ended = threading.Event()
        self.closing = threading.Event()
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                path = self.path.lstrip("/")
                server.requests.append(path)
                body = server.files.get(path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if path in server.trickle:
                    self.send_slowly(body, server.trickle[path])
                    return
                self.wfile.write(body[: server.cut.get(path, len(body))])

            def send_slowly(self, body: bytes, every_s: float) -> None:
                server.trickling.set()
                try:
                    for i in range(len(body)):
                        self.wfile.write(body[i : i + 1])
                        self.wfile.flush()
                        if server.closing.wait(every_s):  # the pace of the slow server
                            return
                except OSError:  # the board hung up: it gave up on us
                    pass
                finally:
                    server.trickling.clear()
                    server.trickles_ended.set()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/updates"

    def publish(self, version: str, files: dict[str, bytes], **entry_changes: dict) -> dict:
        """Serve `files` and a manifest.json describing them (entry_changes: per-path edits)."""
        entries = []
        for path, data in files.items():
            entry = {"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            entry.update(entry_changes.get(path, {}))
            entries.append(entry)
        manifest = {"version": version, "files": entries}
        self.files = {f"updates/{p}": d for p, d in files.items()}
        self.files["updates/manifest.json"] = json.dumps(manifest).encode()
        self.requests.clear()
        return manifest

    def publish_manifest(self, manifest: object) -> None:
        self.files = {"updates/manifest.json": json.dumps(manifest).encode()}
        self.requests.clear()

    def close(self) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = UpdateServer()
    yield s
    s.close()


# ---- the board -----------------------------------------------------------------------------


def install(flash: Path, config: dict, main: bytes = APP_V1, extra: dict | None = None) -> None:
    flash.mkdir(parents=True, exist_ok=True)
    for name in ("config.py", "boot.py", "ota.py"):
        shutil.copyfile(DEVICE_SCRIPTS / name, flash / name)
    (flash / "main.py").write_bytes(main)
    for name, data in (extra or {}).items():
        (flash / name).write_bytes(data)
    (flash / "config.json").write_text(json.dumps(config))


# These tests drive the trial boots by hand (soft resets from the test), so the watchdog a
# trial boot arms must not bite between two of their steps: they give it two minutes. The
# watchdog's own part, a board that recovers with nobody there, is in test_device_ota_recovery.py.
MANUAL_WATCHDOG_MS = 120_000


def board_config(server: UpdateServer, **more: object) -> dict:
    return {
        "device_name": "ota-test",
        "wifi_ssid": SSID,
        "wifi_password": WIFI_PASSWORD,
        "ota_url": server.url,
        "parts": [],
        "ota_watchdog_ms": MANUAL_WATCHDOG_MS,
        **more,
    }


class Board:
    """A started virtual board with the OTA program, and the ways the tests drive it.

    It powers on with an empty flash and the programs are installed afterwards, so the first
    Ctrl-C a test sends finds it idle at its prompt, never importing a module. The unix port
    raises KeyboardInterrupt straight from its SIGINT handler; one that lands while the
    interpreter holds its qstr or GC lock (compiling, allocating) leaves that lock taken and the
    virtual board hung for good. A real board checks for Ctrl-C only between bytecodes.
    """

    def __init__(self, flash: Path, install_files, heap: int | None = None) -> None:
        self.flash = flash
        wifi = [{"ssid": SSID, "password": WIFI_PASSWORD}]
        self.vb = VirtualBoard(flash_dir=flash, wifi=wifi, heap=heap)
        self.vb.start()
        wait_ready(self.vb.port)
        install_files(flash)
        self.link = Link(self.vb.port, timeout=20)
        self.link.open()

    def exec(self, code: str) -> str:
        out = self.link.exec(code).decode().replace("\r\n", "\n")
        assert_no_secret(out)
        return out

    def update(self) -> tuple[bool, str]:
        out = self.exec("import ota, config\nprint('->', ota.update(config.load()))")
        result = re.search(r"^-> (True|False)$", out, re.M)
        assert result, out
        return result.group(1) == "True", out

    def reboot(self) -> str:
        """Soft reset (Ctrl-D): boot.py, then main.py; what they printed."""
        out = self.link.soft_reset(timeout=20).replace("\r\n", "\n")
        assert_no_secret(out)
        return out

    def exec_until_rebooted(self, code: str) -> str:
        """Run code that resets the board; return everything up to the prompt after the boot."""
        self.link.close()
        console = RawConsole(self.vb.port)
        try:
            console.write(b"\r\x03\x03\x01")
            console.read_until(b"raw REPL; CTRL-B to exit\r\n>")
            console.write(code.encode() + b"\x04")
            out = console.read_until(BANNER_END, timeout=30)
        finally:
            console.close()
            self.link.open()
        text = out.decode("utf-8", "replace").replace("\r\n", "\n")
        assert_no_secret(text)
        return text

    def state(self) -> dict:
        path = self.flash / "ota_state.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def file(self, path: str) -> bytes | None:
        p = self.flash / path
        return p.read_bytes() if p.exists() else None

    def leftovers(self) -> list[str]:
        return sorted(
            str(p.relative_to(self.flash))
            for name in ("ota_tmp", "ota_backup")
            for p in (self.flash / name).rglob("*")
            if p.is_file()
        )

    def close(self) -> None:
        self.link.close()
        self.vb.stop()


@pytest.fixture
def make_board(tmp_path):
    boards = []

    def make(
        config: dict,
        main: bytes = APP_V1,
        extra: dict | None = None,
        install_files=None,
        heap: int | None = None,
    ):
        """install_files(flash), when given, installs instead of install(); heap: see Board."""
        flash = tmp_path / f"flash{len(boards)}"
        board = Board(flash, install_files or (lambda f: install(f, config, main, extra)), heap)
        boards.append(board)
        return board

    yield make
    for board in boards:
        board.close()


def max_trial_boots() -> int:
    text = (DEVICE_SCRIPTS / "ota.py").read_text()
    return int(re.search(r"^MAX_TRIAL_BOOTS = (\d+)", text, re.M).group(1))


def assert_old_version_untouched(board: Board) -> None:
    assert board.file("main.py") == APP_V1
    assert board.file("lib/helper.py") is None
    assert not (board.flash / "ota_tmp").exists(), board.leftovers()
    assert not (board.flash / "ota_backup").exists(), board.leftovers()
    assert not board.state().get("pending")


# ---- installing ------------------------------------------------------------------------------


def test_update_installs_checked_files_on_trial_and_mark_good_keeps_them(server, make_board):
    board = make_board(board_config(server))
    server.publish("2", {"main.py": APP_V2, "lib/helper.py": HELPER_V2})

    installed, out = board.update()
    assert installed, out
    assert "ota: version 2 is available" in out and "ota: version 2 installed" in out
    assert server.requests == ["updates/manifest.json", "updates/main.py", "updates/lib/helper.py"]
    assert board.file("main.py") == APP_V2
    assert board.file("lib/helper.py") == HELPER_V2
    assert board.file("ota_backup/main.py") == APP_V1  # the way back
    assert not (board.flash / "ota_tmp").exists()
    state = board.state()
    assert state["version"] == "2" and state["pending"] is True and state["boots"] == 0
    assert board.exec("import ota\nprint(ota.pending())").strip() == "True"

    out = board.reboot()  # the new main.py runs, and calls ota.mark_good()
    assert f"ota: trying version 2 (boot 1 of {max_trial_boots()})" in out
    assert "app v2" in out
    assert "ota: version 2 works - marked good, backup deleted" in out
    assert not (board.flash / "ota_backup").exists()
    assert board.state()["pending"] is False
    assert board.exec("import ota\nprint(ota.pending(), ota.installed_version())").strip() == (
        "False 2"
    )

    out = board.reboot()
    assert "app v2" in out and "ota: trying" not in out

    server.requests.clear()
    installed, out = board.update()  # same version again: nothing downloaded
    assert not installed
    assert "ota: version 2 is installed and up to date" in out
    assert server.requests == ["updates/manifest.json"]


def test_no_update_while_the_new_version_is_on_trial(server, make_board):
    board = make_board(board_config(server))
    server.publish("2", {"main.py": APP_V2_NO_MARK})
    assert board.update()[0]
    server.publish("3", {"main.py": APP_V1})
    installed, out = board.update()
    assert not installed
    assert "ota: version 2 is still on trial" in out
    assert board.file("main.py") == APP_V2_NO_MARK


# ---- refusing bad downloads ---------------------------------------------------------------------


def test_a_wrong_sha256_refuses_the_update_and_keeps_the_old_files(server, make_board):
    board = make_board(board_config(server))
    # helper.py downloads fine first; main.py's hash is wrong: nothing at all may change.
    server.publish(
        "2",
        {"lib/helper.py": HELPER_V2, "main.py": APP_V2},
        **{"main.py": {"sha256": hashlib.sha256(b"something else").hexdigest()}},
    )
    installed, out = board.update()
    assert not installed
    assert "ota: update to 2 failed: main.py: its sha256 is" in out
    assert "the old files are unchanged" in out
    assert "updates/main.py" in server.requests  # it was downloaded, then rejected
    assert_old_version_untouched(board)
    assert "app v1" in board.reboot()


@pytest.mark.parametrize(
    "how, expected",
    [
        ("cut", "main.py: got 10 of"),  # the server hangs up after 10 bytes
        ("shorter", "main.py: got"),  # the file is shorter than the manifest says
        ("longer", "main.py is longer than the"),  # ... or longer
    ],
)
def test_a_download_of_the_wrong_length_is_refused(server, make_board, how, expected):
    board = make_board(board_config(server))
    if how == "cut":
        server.publish("2", {"lib/helper.py": HELPER_V2, "main.py": APP_V2})
        server.cut["updates/main.py"] = 10
    else:
        size = len(APP_V2) + (5 if how == "shorter" else -5)
        server.publish(
            "2", {"lib/helper.py": HELPER_V2, "main.py": APP_V2}, **{"main.py": {"size": size}}
        )
    installed, out = board.update()
    assert not installed
    assert expected in out and "the old files are unchanged" in out
    assert_old_version_untouched(board)


BAD_PATHS = [
    "../boot.py",
    "/boot.py",
    "lib/../../boot.py",
    "./main.py",
    "boot.py",
    "ota.py",
    "config.json",
    "ota_state.json",
    "www/index.html",
    "main.exe",
    "lib\\evil.py",
    "my file.py",
    "",
]


def test_unsafe_paths_in_the_manifest_refuse_the_whole_update(server, make_board, tmp_path):
    board = make_board(board_config(server))
    boot_py = board.file("boot.py")
    for bad in BAD_PATHS:
        files = {"main.py": APP_V2, bad: b"print('owned')\n"}
        server.publish("2", files)
        installed, out = board.update()
        assert not installed, bad
        assert f"ota: update refused: {bad!r}" in out, out
        assert server.requests == ["updates/manifest.json"], bad  # not one file fetched
        assert board.file("boot.py") == boot_py and board.file("main.py") == APP_V1
    assert not (board.flash.parent / "boot.py").exists()  # nothing written outside the flash
    assert not (board.flash / "ota_tmp").exists()


@pytest.mark.parametrize(
    "manifest, expected",
    [
        ("not json at all", "manifest.json is not valid JSON"),
        ({"files": []}, "it has no version"),
        ({"version": "2", "files": []}, "it lists no files"),
        (
            {"version": "2", "files": [{"path": "a.py", "size": 1, "sha256": "zz" * 32}]},
            "sha256 must be 64 hex digits",
        ),
        (
            {"version": "2", "files": [{"path": "a.py", "size": -1, "sha256": "0" * 64}]},
            "size must be",
        ),
        (
            {"version": "2", "files": [{"path": "a.py", "size": 1, "sha256": "0" * 64}] * 2},
            "listed twice",
        ),
    ],
)
def test_malformed_manifests_are_refused(server, make_board, manifest, expected):
    board = make_board(board_config(server))
    if isinstance(manifest, str):
        server.files = {"updates/manifest.json": manifest.encode()}
        server.requests.clear()
    else:
        server.publish_manifest(manifest)
    installed, out = board.update()
    assert not installed
    assert expected in out and "nothing was changed" in out
    assert server.requests == ["updates/manifest.json"]
    assert_old_version_untouched(board)


def test_an_unreachable_server_changes_nothing(server, make_board):
    board = make_board(board_config(server, ota_url="http://127.0.0.1:9/nothing-here"))
    installed, out = board.update()
    assert not installed and "ota: cannot reach http://127.0.0.1:9/nothing-here" in out
    assert_old_version_untouched(board)


# ---- trial and rollback -------------------------------------------------------------------------


def test_an_update_that_crashes_is_rolled_back_after_the_trial_boots(server, make_board):
    board = make_board(board_config(server))
    server.publish("2", {"main.py": APP_V2_CRASH, "lib/helper.py": HELPER_V2})
    assert board.update()[0]
    trials = max_trial_boots()
    for n in range(1, trials + 1):
        out = board.reboot()
        assert f"ota: trying version 2 (boot {n} of {trials})" in out
        assert "RuntimeError: v2 is broken" in out
        assert board.state()["boots"] == n
        assert board.file("main.py") == APP_V2_CRASH

    boots_before = board.vb.boots
    out = board.reboot()  # one boot too many: back to version 1, and a real reset
    assert f"ota: version 2 was not marked good in {trials} boots - restoring" in out
    assert "ota: back on version (before updates); version 2 will not be installed again" in out
    assert "rst:0xc (SW_CPU_RESET)" in out  # machine.reset() after the rollback
    assert "app v1" in out.split("rst:0xc")[1]  # the old main.py runs again
    assert board.vb.boots == boots_before + 2  # the soft reset, then machine.reset()
    assert board.file("main.py") == APP_V1
    assert board.file("lib/helper.py") is None  # version 1 had no such file
    assert board.leftovers() == []
    state = board.state()
    assert state["pending"] is False and state["failed"] == ["2"] and state["version"] is None

    server.requests.clear()
    installed, out = board.update()  # never retried automatically
    assert not installed
    assert "ota: version 2 failed before and was rolled back - not installing it again" in out
    assert server.requests == ["updates/manifest.json"]

    server.publish("2.1", {"main.py": APP_V2, "lib/helper.py": HELPER_V2})  # the fixed one
    assert board.update()[0]
    assert "app v2" in board.reboot()


# ---- power cuts ---------------------------------------------------------------------------------

# Code run on the board: os.FUNC() is cut off by a reset ("power cut") at its K-th call.
POWER_CUT = """\
import os, machine, ota, config
_real = os.{fn}
_calls = [0]
def _cut(*args):
    _calls[0] += 1
    if _calls[0] == {k}:
        print('POWER CUT before os.{fn}', args)
        machine.reset()
    _real(*args)
os.{fn} = _cut
{call}
"""
UPDATE = "ota.update(config.load())"


def test_a_power_cut_during_the_download_leaves_the_old_version(server, make_board):
    board = make_board(board_config(server))
    server.publish("2", {"main.py": APP_V2_NO_MARK, "lib/helper.py": HELPER_V2})
    # mkdir 1 is /ota_tmp, mkdir 2 is /ota_tmp/lib: main.py is downloaded, helper.py not yet.
    out = board.exec_until_rebooted(POWER_CUT.format(fn="mkdir", k=2, call=UPDATE))
    assert "POWER CUT before os.mkdir ('/ota_tmp/lib',)" in out
    assert "app v1" in out.split("rst:0xc")[1]
    assert_old_version_untouched(board)  # and the half download is cleaned away at boot


def publish_and_install_1_5(server: UpdateServer, board: Board) -> None:
    """A first update (same main.py) marked good, so the board has a state file."""
    server.publish("1.5", {"main.py": APP_V1})
    assert board.update()[0]
    board.exec("import ota\nota.mark_good()")
    assert board.state()["version"] == "1.5" and board.state()["pending"] is False


# The update of main.py (replaced) and lib/helper.py (new) renames, in this order:
# 1 journal (ota_state.json.new -> ota_state.json), 2 main.py -> backup,
# 3 new main.py into place, 4 new lib/helper.py into place, 5 state "trial".
SWAP_RENAMES = 5


@pytest.mark.parametrize("first_update", [True, False], ids=["first-update", "later-update"])
@pytest.mark.parametrize("k", range(1, SWAP_RENAMES + 1))
def test_a_power_cut_during_the_swap_ends_in_one_whole_version(server, make_board, k, first_update):
    board = make_board(board_config(server))
    if not first_update:
        publish_and_install_1_5(server, board)
    server.publish("2", {"main.py": APP_V2_NO_MARK, "lib/helper.py": HELPER_V2})
    out = board.exec_until_rebooted(POWER_CUT.format(fn="rename", k=k, call=UPDATE))
    assert "POWER CUT before os.rename" in out
    after_boot = out.split("rst:0xc")[1]
    if k == 1 and not first_update:
        # Cut before the journal replaced the old state file: the update never happened.
        assert "app v1" in after_boot and "ota:" not in after_boot
        assert_old_version_untouched(board)
        assert board.state()["version"] == "1.5"
        assert not (board.flash / "ota_state.json.new").exists()
        return
    # The journal is complete (for a first update, the unrenamed ota_state.json.new is:
    # it is written only after every download was checked), so the swap is finished.
    assert "ota: finishing the update to 2 that was cut off" in after_boot
    assert "ota: trying version 2 (boot 1 of" in after_boot
    assert "app v2" in after_boot
    assert board.file("main.py") == APP_V2_NO_MARK
    assert board.file("lib/helper.py") == HELPER_V2
    assert board.leftovers() == ["ota_backup/main.py"]
    assert board.file("ota_backup/main.py") == APP_V1
    state = board.state()
    assert state["version"] == "2" and state["pending"] is True and state["step"] == "trial"
    assert state["previous"] == (None if first_update else "1.5")
    assert not (board.flash / "ota_state.json.new").exists()


def test_a_file_system_error_during_the_swap_puts_the_old_files_back_at_once(server, make_board):
    board = make_board(board_config(server))
    server.publish("2", {"main.py": APP_V2_NO_MARK, "lib/helper.py": HELPER_V2})
    # The 3rd rename (the new main.py into place, after the old one went to the backup) fails.
    out = board.exec(
        "import os, ota, config\n"
        "_real, _calls = os.rename, [0]\n"
        "def _failing(a, b):\n"
        "    _calls[0] += 1\n"
        "    if _calls[0] == 3:\n"
        "        raise OSError(28)\n"
        "    _real(a, b)\n"
        "os.rename = _failing\n"
        "print('->', ota.update(config.load()))\n"
    )
    assert "ota: installing 2 failed (OSError(28,)) - putting the old files back" in out
    assert "-> False" in out
    assert_old_version_untouched(board)
    assert board.state()["failed"] == ["2"]
    assert "app v1" in board.reboot()


def test_a_half_written_journal_and_half_a_download_are_cleaned_away(server, make_board):
    """The state the power can leave mid-write, set up on the flash by hand: the update is off."""
    board = make_board(board_config(server))
    (board.flash / "ota_tmp" / "lib").mkdir(parents=True)
    (board.flash / "ota_tmp" / "main.py").write_bytes(APP_V2_NO_MARK)
    (board.flash / "ota_tmp" / "lib" / "helper.py").write_bytes(HELPER_V2[:10])
    (board.flash / "ota_state.json.new").write_text('{"version": "2", "pending": true, "ste')
    out = board.reboot()
    assert "app v1" in out and "ota:" not in out
    assert_old_version_untouched(board)
    assert not (board.flash / "ota_state.json.new").exists()


# The rollback of that update renames: 1 journal ("rollback"), 2 backup -> main.py,
# 3 state "idle" (lib/helper.py is deleted, not renamed).
ROLLBACK_RENAMES = 3


@pytest.mark.parametrize("k", range(1, ROLLBACK_RENAMES + 1))
def test_a_power_cut_during_a_rollback_still_ends_on_the_old_version(server, make_board, k):
    board = make_board(board_config(server))
    server.publish("2", {"main.py": APP_V2_NO_MARK, "lib/helper.py": HELPER_V2})
    assert board.update()[0]
    for _ in range(max_trial_boots()):
        assert "app v2" in board.reboot()  # ...but never marked good
    # The next boot rolls back; the power goes in the middle of it.
    out = board.exec_until_rebooted(POWER_CUT.format(fn="rename", k=k, call="ota.on_boot()"))
    assert "POWER CUT before os.rename" in out
    after_cut = out.split("POWER CUT")[1]
    if k == 1:  # cut before the rollback's journal: the next boot decides again, the same way
        assert "ota: version 2 was not marked good in" in after_cut
    else:
        assert "ota: finishing the rollback from 2 that was cut off" in after_cut
    assert "app v1" in after_cut.split("ota: back on version")[1]
    assert "ota: back on version (before updates); version 2 will not be installed again" in out
    assert board.file("main.py") == APP_V1
    assert board.file("lib/helper.py") is None
    assert board.leftovers() == []
    assert board.state()["failed"] == ["2"] and board.state()["pending"] is False
    assert "app v1" in board.reboot()


# ---- with main.py: the whole loop ---------------------------------------------------------------

HELLO_V1 = b"async def run(cfg):\n    print('hello v1')\n"
HELLO_V2 = b"async def run(cfg):\n    print('hello v2')\n"
HELLO_V2_CRASH = b"async def run(cfg):\n    raise ValueError('hello v2 is broken')\n"


def main_board(server: UpdateServer, make_board) -> Board:
    config = board_config(
        server, parts=["wifi", "hello", "ota"], ota_good_after_s=1, ota_check_s=3600
    )
    board = make_board(
        config,
        main=(DEVICE_SCRIPTS / "main.py").read_bytes(),
        extra={"wifi.py": (DEVICE_SCRIPTS / "wifi.py").read_bytes(), "hello.py": HELLO_V1},
    )
    board.link.close()  # start_main talks to the port itself
    return board


def test_main_runs_ota_which_updates_reboots_and_keeps_a_good_version(server, make_board):
    board = main_board(server, make_board)
    server.publish("2", {"hello.py": HELLO_V2})
    run = start_main(board.vb.port)
    try:
        text = run.read_for(40, until="ota: version 2 works - marked good")
    finally:
        text = run.stop()
    assert_no_secret(text)
    first, _, second = text.partition("rst:0xc")
    assert "hello v1" in first and "ota: version 2 installed" in first
    assert "ota: restarting into version 2" in first
    assert "ota: trying version 2 (boot 1 of" in second and "hello v2" in second
    assert "ota: version 2 works - marked good" in second
    assert board.file("hello.py") == HELLO_V2
    assert board.state()["pending"] is False and board.leftovers() == []


def test_main_rolls_back_a_version_whose_part_keeps_failing(server, make_board):
    board = main_board(server, make_board)
    server.publish("2", {"hello.py": HELLO_V2_CRASH})
    trials = max_trial_boots()
    run = start_main(board.vb.port)
    try:
        text = run.read_for(120, until=r"ota: back on version [^\n]*\n(.|\n)*hello v1")
    finally:
        text = run.stop()
    assert_no_secret(text)
    assert text.count("ValueError: hello v2 is broken") == trials
    assert f"ota: version 2 was not marked good in {trials} boots - restoring" in text
    assert "hello v1" in text.split("ota: back on version")[1]
    assert board.file("hello.py") == HELLO_V1
    assert board.state()["failed"] == ["2"] and board.leftovers() == []
