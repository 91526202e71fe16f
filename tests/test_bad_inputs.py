"""Every `iotkit` subcommand against a catalog of bad inputs: one clear `error:` line, a non-zero
exit, no traceback, nothing left behind (issue 11, items 10 and 11).

The catalog is keyed by subcommand (and by the variants that read different inputs: `sim
--bootloader`, `check --live`, `deploy DIR`). The subcommands come from the real argparse parser,
so a new subcommand without a catalog entry fails `test_every_subcommand_has_a_catalog_entry`.

Each case runs as a real `iotkit` process, with TMPDIR and the user data folder pointed at an
empty folder of the test's own, so "nothing left behind" can be checked. The cases run in
parallel threads (each one is a separate process), so the whole catalog takes seconds.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import serial
from conftest import venv_bin
from firmware_helpers import merged_image
from waiting import wait_for_file

from companion_app import cli
from companion_app.inputs import MAX_JSON_DEPTH, SIZE_LIMITS
from companion_app.simulator import VirtualBoard, micropython_available
from companion_app.simulator.host import pty_supported

# The busy ports are pseudo-terminals, which Windows does not have.
pytestmark = pytest.mark.skipif(os.name != "posix", reason="the busy serial ports are ptys")

IOTKIT = venv_bin("iotkit")
WORKERS = 4  # processes at once: enough to hide start-up time on 2 cores, not enough to thrash
CASE_TIMEOUT_S = 60


@dataclass(frozen=True)
class Case:
    """One bad input. `argv` may hold {placeholders} filled from the bench's files; `says` are
    words the one error line must contain (case-insensitive); `code` is the exit code."""

    argv: tuple[str, ...]
    says: tuple[str, ...]
    code: int


def case(argv: str, *says: str, code: int) -> Case:
    return Case(tuple(argv.split()), says, code)


# Bad inputs, by kind: MISSING (no such file), FOLDER, EMPTY, LATIN1 (not UTF-8), NESTED
# (`[` * 100000), DEEP (valid JSON, 100 levels), HUGE (50 MB, sparse), CROWDED (a small diagram
# with 6000 parts), BIG_DIR (a project folder over the size limit), numbers out of range,
# TCP_BUSY (a port another program listens on), BUSY (a serial port another program holds
# locked) and SHARED (a board's port another program reads without locking it).
CATALOG: dict[str, list[Case]] = {
    "ports": [case("ports --bogus", "unrecognized arguments", code=2)],
    "boards": [case("boards extra", "unrecognized arguments", code=2)],
    "sim": [
        case("sim --wiring {MISSING}", "does not exist", code=2),
        case("sim --wiring {FOLDER}", "folder", code=2),
        case("sim --wiring {EMPTY}", "empty", code=2),
        case("sim --wiring {LATIN1}", "UTF-8", code=2),
        case("sim --wiring {NESTED}", "levels deep", code=2),
        case("sim --wiring {HUGE}", "larger than", code=2),
        case("sim --flash-dir {FILE}", "is a file", code=2),
        case("sim --tcp 99999", "65535", code=2),
        case("sim --tcp -1", "65535", code=2),
        case("sim --tcp {TCP_BUSY} --flash-dir {NEW_FLASH}", "already in use", code=1),
        case("sim --port-file {FOLDER}", "folder", code=2),
        case("sim --baud 0", "above 0", code=2),
        case("sim --board esp99", "unknown board", code=2),
        case("sim --webrepl 99999", "65535", code=2),
        case("sim --webrepl 0 --webrepl-password abc", "4 to 9", code=2),
        case("sim --webrepl 0 --webrepl-password abcdefghij", "4 to 9", code=2),
        case("sim --webrepl-password abcd1", "goes with --webrepl", code=2),
        case("sim --no-pty", "no way to reach", code=2),
        case("sim --endpoints-file {FOLDER}", "folder", code=2),
        case("sim --webrepl {TCP_BUSY} --flash-dir {NEW_FLASH}", "already in use", code=1),
    ],
    "sim --bootloader": [
        case("sim --bootloader esp32 --flash-image {FOLDER}", "is a folder", code=1),
        case("sim --bootloader esp32 --tcp {TCP_BUSY} --flash-image {NEW_IMAGE}", "in use", code=1),
        case("sim --bootloader esp32 --rfc2217 70000", "65535", code=2),
        case("sim --bootloader esp99", "chip name", code=2),
        case("sim --bootloader esp32 --port-file {FOLDER}", "folder", code=2),
        case("sim --bootloader esp32 --endpoints-file {FOLDER}", "folder", code=2),
        case("sim --bootloader esp32 --webrepl 0", "no WebREPL", code=2),
        case("sim --bootloader esp32 --no-pty", "needs a pty", code=2),
        case("sim --bootloader esp32 --flash-size 3MB", "cannot exist", code=1),
    ],
    "flash": [
        case("flash --port {BUSY} --firmware {MISSING}", "does not exist", code=1),
        case("flash --port {BUSY} --firmware {FOLDER}", "folder", code=1),
        case("flash --port {BUSY} --firmware {EMPTY}", "empty", code=1),
        case("flash --port {BUSY} --firmware {HUGE}", "firmware", code=1),
        case("flash --port {BUSY} --firmware {FIRMWARE} --baud -5", "above 0", code=2),
        case("flash --port {BUSY} --firmware {FIRMWARE} --yes", "in use", code=1),
    ],
    "check": [
        case("check --wiring {MISSING}", "does not exist", code=2),
        case("check --wiring {FOLDER}", "folder", code=2),
        case("check --wiring {EMPTY}", "empty", code=2),
        case("check --wiring {LATIN1}", "UTF-8", code=2),
        case("check --wiring {NESTED}", "levels deep", code=2),
        case("check --wiring {DEEP}", "levels deep", code=2),
        case("check --wiring {HUGE}", "larger than", code=2),
        case("check --wiring {CROWDED}", "more than the 500", code=2),
        case("check --wiring /dev/zero", "larger than", code=2),
        case("check --board pico {HUGE}", "larger than", code=2),
        case("check --board pico {FOLDER}", "folder", code=2),
        case("check --board pico {MISSING}", "does not exist", code=2),
    ],
    "check --live": [
        case("check --live --port {MISSING}", "does not exist", code=1),
        case("check --live --port {BUSY}", "in use", code=1),
        case("check --live --port {BUSY} --wiring {NESTED}", "levels deep", code=2),
        case("check --live --port {BUSY} --press-time -1", "0 or more", code=2),
        case("check --live --port {SHARED} --board esp32-devkit-v1", "another program", code=1),
    ],
    "deploy": [
        case("deploy --port {BUSY} --template web --config {MISSING}", "does not exist", code=2),
        case("deploy --port {BUSY} --template web --config {FOLDER}", "folder", code=2),
        case("deploy --port {BUSY} --template web --config {EMPTY}", "empty", code=2),
        case("deploy --port {BUSY} --template web --config {LATIN1}", "UTF-8", code=2),
        case("deploy --port {BUSY} --template web --config {NESTED}", "levels deep", code=2),
        case("deploy --port {BUSY} --template web --config {HUGE}", "larger than", code=2),
        case("deploy --port {BUSY} --template web --baud 0", "above 0", code=2),
        case("deploy --port {BUSY} --template nope", "unknown template", code=2),
        case("deploy --port {BUSY} --template web", "in use", code=1),
        case("deploy --port {SHARED} --template sensor --no-reset", "another program", code=1),
    ],
    "deploy DIR": [
        case("deploy --port {BUSY} {MISSING}", "does not exist", code=2),
        case("deploy --port {BUSY} {FILE}", "not a folder", code=2),
        case("deploy --port {BUSY} {FOLDER}", "no files", code=2),
        case("deploy --port {BUSY} {BIG_DIR}", "more than", code=2),
        case("deploy --port {BUSY} {PROJECT}", "in use", code=1),
    ],
    "plot": [
        case("plot --headless --from-file {MISSING}", "does not exist", code=2),
        case("plot --headless --from-file {FOLDER}", "folder", code=2),
        case("plot --headless --from-file {FILE} --record {FOLDER}", "folder", code=2),
        case("plot --headless --from-file {FILE} --duration -1", "more than 0", code=2),
        case("plot --headless --duration 1 --port {BUSY}", "in use", code=1),
    ],
    "class": [
        case("class deploy --file {MISSING}", "does not exist", code=2),
        case("class deploy --file {FOLDER}", "folder", code=2),
        case("class deploy --file {EMPTY}", "no class name", code=2),
        case("class deploy --file {LATIN1}", "UTF-8", code=2),
        case("class deploy --file {HUGE}", "larger than", code=2),
        case("class deploy --file {FILE}", "not valid TOML", "line 1", code=2),
        case("class flash --file {MISSING} --firmware {FIRMWARE} --yes", "does not exist", code=2),
        case("class flash --file {FILE} --firmware {FIRMWARE} --version 1", "not allowed", code=2),
        case("class init --file {FOLDER} --ports P", "folder", code=2),
        case("class init --file {NEW_CLASS} --port-file {MISSING}", "does not exist", code=2),
        case("class init --file {NEW_CLASS} --name a/b --ports P", "topic", code=2),
    ],
    "broker": [
        case("broker --port 70000", "65535", code=2),
        case("broker --port {TCP_BUSY}", "is taken", code=1),
        case("broker --port 0 --port-file {FOLDER}", "folder", code=2),
    ],
}


def subcommands() -> list[str]:
    """The subcommand names of the real `iotkit` parser."""
    parser = cli.build_parser()
    actions = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    assert len(actions) == 1
    return sorted(actions[0].choices)


def test_every_subcommand_has_a_catalog_entry():
    names = subcommands()
    assert {"ports", "boards", "sim", "flash", "check", "deploy", "plot"} <= set(names)
    for name in names:
        assert CATALOG.get(name), f"`iotkit {name}` has no bad-input cases in CATALOG"
    for key in CATALOG:
        assert key.split()[0] in names, f"CATALOG has {key!r}, which is not a subcommand"


def test_docs_cli_md_names_every_subcommand_and_option():
    """docs/cli.md is the full reference: a new option of the real parser must be in it."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text(encoding="utf-8")
    parser = cli.build_parser()
    missing = []

    def walk(p, name):
        for action in p._actions:
            if action.__class__.__name__ == "_SubParsersAction":
                for sub_name, sub in action.choices.items():
                    if f"## `{name} {sub_name}" not in text:  # also ### `iotkit class init`
                        missing.append(f"section for {name} {sub_name}")
                    walk(sub, f"{name} {sub_name}")
                continue
            for option in action.option_strings:
                if f"`{option}" not in text and f" {option}" not in text:
                    missing.append(f"{name} {option}")

    walk(parser, "iotkit")
    assert missing == []


# -- the bench: files and ports the cases refer to ------------------------------------------------


class Bench:
    """The files, ports and processes the cases use; `run_all` runs every case in parallel."""

    def __init__(self, root: Path) -> None:
        self.root = root
        files = root / "files"
        files.mkdir()
        self.places: dict[str, str] = {}

        def place(name: str, path: Path) -> None:
            self.places[name] = str(path)

        place("MISSING", files / "no-such-file.json")
        (files / "folder").mkdir()
        place("FOLDER", files / "folder")
        (files / "empty.json").write_bytes(b"")
        place("EMPTY", files / "empty.json")
        (files / "latin1.json").write_bytes('{"device_name": "caf\u00e9"}'.encode("latin-1"))
        place("LATIN1", files / "latin1.json")
        (files / "nested.json").write_text("[" * 100_000)
        place("NESTED", files / "nested.json")
        # Valid JSON that Python parses, but 100 levels deep: refused before any rule recurses.
        (files / "deep.json").write_text('{"parts": ' + "[" * 100 + "]" * 100 + "}")
        place("DEEP", files / "deep.json")
        with open(files / "huge.json", "wb") as f:
            f.truncate(50 * 1024 * 1024)  # sparse: no disk, but stat() says 50 MB
        place("HUGE", files / "huge.json")
        # Small, but 6000 LEDs on one pin: the rules compare pairs, so it took 147 s to check.
        leds = [{"type": "wokwi-led", "id": f"l{i}", "attrs": {}} for i in range(6000)]
        board = {"type": "wokwi-esp32-devkit-v1", "id": "esp", "attrs": {}}
        wires = [[f"l{i}:A", "esp:D2", "green", []] for i in range(6000)]
        crowded = {"version": 1, "parts": [board, *leds], "connections": wires}
        (files / "crowded.json").write_text(json.dumps(crowded))
        place("CROWDED", files / "crowded.json")
        (files / "readings.txt").write_text("temp:21.5\n")
        place("FILE", files / "readings.txt")
        (files / "firmware.bin").write_bytes(merged_image(0, 0x1000))
        place("FIRMWARE", files / "firmware.bin")
        project = files / "project"
        project.mkdir()
        (project / "main.py").write_text("print('hello')\n")
        place("PROJECT", project)
        big = files / "big-project"
        big.mkdir()
        (big / "main.py").write_text("print('hello')\n")
        with open(big / "video.bin", "wb") as f:
            f.truncate(20 * 1024 * 1024)
        place("BIG_DIR", big)
        place("NEW_FLASH", root / "new-flash")
        place("NEW_IMAGE", root / "new-image.bin")
        place("NEW_CLASS", root / "new-class.toml")
        self.home = root / "home"
        self.home.mkdir()
        self.tmp = root / "tmp"
        self.tmp.mkdir()

        # A TCP port another program listens on.
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.places["TCP_BUSY"] = str(self.listener.getsockname()[1])

        # A serial port another program holds with a lock (as Thonny and mpremote do): a pty,
        # so only where the OS has them; elsewhere the {BUSY} cases are skipped.
        self.master: int | None = None
        self.holder: serial.Serial | None = None
        if pty_supported():
            import pty
            import tty

            self.master, slave = pty.openpty()
            tty.setraw(slave)
            busy = os.ttyname(slave)
            os.close(slave)
            self.holder = serial.Serial(busy, exclusive=True)
            self.places["BUSY"] = busy

        # A virtual board whose port another program reads without locking it.
        self.board: VirtualBoard | None = None
        self.reader: subprocess.Popen[bytes] | None = None

    def share_a_board(self) -> None:
        self.board = VirtualBoard(flash_dir=self.root / "shared-flash").start()
        self.reader = subprocess.Popen([sys.executable, "-c", _READER, self.board.port])
        self.places["SHARED"] = self.board.port

    def close(self) -> None:
        if self.reader is not None:
            self.reader.kill()
            self.reader.wait()
        if self.board is not None:
            self.board.stop()
        if self.holder is not None:
            self.holder.close()
        if self.master is not None:
            os.close(self.master)
        self.listener.close()

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "TMPDIR": str(self.tmp),
            "HOME": str(self.home),
            "XDG_DATA_HOME": str(self.home / "data"),
            "XDG_CACHE_HOME": str(self.home / "cache"),
            "XDG_CONFIG_HOME": str(self.home / "config"),
        }

    def argv(self, c: Case) -> list[str]:
        return [part.format(**self.places) for part in c.argv]

    def run(self, c: Case) -> tuple[subprocess.CompletedProcess[str] | None, float]:
        start = time.monotonic()
        try:
            result = subprocess.run(
                [IOTKIT, *self.argv(c)],
                capture_output=True,
                text=True,
                timeout=CASE_TIMEOUT_S,
                env=self.env(),
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            result = None
        return result, time.monotonic() - start


# Reads a port without locking it, as `cat /dev/ttyUSB0` or a serial monitor would.
_READER = """
import os, select, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
while True:
    if select.select([fd], [], [], 1)[0]:
        try:
            os.read(fd, 4096)
        except OSError:
            time.sleep(0.05)
"""

ALL_CASES = [(key, c) for key, cases in CATALOG.items() for c in cases]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Every case, run once, in parallel: {Case: (CompletedProcess or None, seconds)}."""
    bench = Bench(tmp_path_factory.mktemp("bad-inputs"))
    try:
        if micropython_available() and pty_supported():
            bench.share_a_board()
        shared = [c for _, c in ALL_CASES if "{SHARED}" in " ".join(c.argv)]
        alone = [c for _, c in ALL_CASES if c not in shared]
        if "BUSY" not in bench.places:
            alone = [c for c in alone if "{BUSY}" not in " ".join(c.argv)]
        with ThreadPoolExecutor(WORKERS) as pool:
            outcomes = dict(zip(alone, pool.map(bench.run, alone)))
        if bench.board is not None:  # one at a time: each would see the other on the port
            outcomes.update((c, bench.run(c)) for c in shared)
        leftovers = sorted(p.name for p in bench.tmp.iterdir())
        made = sorted(
            name
            for name in ("NEW_FLASH", "NEW_IMAGE", "NEW_CLASS")
            if Path(bench.places[name]).exists()
        )
        yield outcomes, leftovers, made, bench
    finally:
        bench.close()


@pytest.mark.parametrize(
    "key, c", ALL_CASES, ids=[f"{key}: {' '.join(c.argv)}" for key, c in ALL_CASES]
)
def test_a_bad_input_gets_one_clear_error_line(results, key, c):
    outcomes, _, _, bench = results
    if c not in outcomes:
        if "{BUSY}" in " ".join(c.argv):
            pytest.skip("needs a pty to stand for a busy serial port, which this OS lacks")
        pytest.skip("needs the virtual board (MicroPython's unix port) on this machine")
    result, _ = outcomes[c]
    assert result is not None, f"iotkit {' '.join(bench.argv(c))} did not end in {CASE_TIMEOUT_S} s"
    stderr = result.stderr
    assert "Traceback" not in stderr and "Traceback" not in result.stdout
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    line = errors[0]
    assert stderr.rstrip().endswith(line), f"the error line is not the last word: {stderr}"
    assert "unexpectedly" not in line, f"a bad input reached our catch-all: {line}"
    for word in c.says:
        assert word.lower() in line.lower(), line
    assert result.returncode == c.code, (result.returncode, line)


def test_bad_inputs_leave_nothing_behind(results):
    """No temporary file (a port file's .tmp, a virtual board's state folder), and no flash
    folder or flash image made for a virtual device that could not start."""
    _, leftovers, made, _ = results
    assert leftovers == []
    assert made == []


def test_the_catalog_covers_every_kind_of_bad_input():
    used = " ".join(" ".join(c.argv) for _, c in ALL_CASES)
    for kind in (
        "MISSING",
        "FOLDER",
        "EMPTY",
        "LATIN1",
        "NESTED",
        "HUGE",
        "CROWDED",
        "BUSY",
        "TCP_BUSY",
        "SHARED",
        "BIG_DIR",
        "99999",
        "-1",
    ):
        assert kind in used, kind


def test_a_script_nested_too_deeply_to_parse_is_a_finding_not_a_crash(tmp_path):
    """`x = ----…1` (100000 deep) exhausts Python's parser (RecursionError, not SyntaxError)."""
    script = tmp_path / "deep.py"
    script.write_text("x = " + "-" * 100_000 + "1\n")
    result = subprocess.run(
        [IOTKIT, "check", "--board", "pico", str(script)],
        capture_output=True,
        text=True,
        timeout=CASE_TIMEOUT_S,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"error: {script}:0: The script does not parse" in result.stderr
    assert "nests too deeply" in result.stderr


def test_size_limits_and_depth_are_far_above_real_files():
    """The limits must never refuse a real file: every diagram of the rules catalog (real
    beginner circuits), the bundled default wiring and the device programs are far below."""
    from companion_app.inputs import json_depth
    from companion_app.wiring.check import example_sources, rule_examples
    from companion_app.wiring.diagram import MAX_CONNECTIONS, MAX_PARTS
    from companion_app.wiring.rules import catalog

    root = Path(__file__).resolve().parent.parent
    diagrams = [json.loads((root / "companion_app/simulator/default-wiring.json").read_text())]
    for entry in catalog().values():
        for example in rule_examples(entry):
            for side in ("bad", "good"):
                if side in example:
                    diagram = example_sources(example, side)[1]
                    if diagram:
                        diagrams.append(diagram)
    assert len(diagrams) > 20
    for diagram in diagrams:
        assert len(json.dumps(diagram)) * 100 < SIZE_LIMITS["wiring file"]
        assert json_depth(diagram) * 4 <= MAX_JSON_DEPTH
        assert len(diagram["parts"]) * 10 < MAX_PARTS
        assert len(diagram.get("connections", [])) * 10 < MAX_CONNECTIONS
    scripts = list((root / "device_scripts").glob("*.py"))
    assert max(p.stat().st_size for p in scripts) * 10 < SIZE_LIMITS["script"]


# -- Ctrl-C ---------------------------------------------------------------------------------------

# A subcommand -> argv that parses, for the Ctrl-C test of `main` (the command itself is replaced).
PARSEABLE = {
    "ports": [],
    "boards": [],
    "sim": [],
    "flash": ["--port", "P", "--firmware", "f.bin"],
    "check": ["main.py"],
    "deploy": ["--port", "P", "--template", "web"],
    "plot": ["--from-file", "f.txt"],
    "broker": [],
    "class": ["deploy", "--file", "class.toml"],
}


@pytest.mark.parametrize("name", subcommands())
def test_ctrl_c_in_any_subcommand_is_one_line_and_exit_130(name, monkeypatch, capsys):
    assert name in PARSEABLE, f"add `iotkit {name}` to PARSEABLE"
    real = cli.build_parser

    def interrupted(args):
        raise KeyboardInterrupt

    def interrupt_all(parser):  # subcommands of subcommands too (`iotkit class deploy`)
        for action in parser._actions:
            if action.__class__.__name__ == "_SubParsersAction":
                for sub in action.choices.values():
                    sub.set_defaults(func=interrupted)
                    interrupt_all(sub)

    def build():
        parser = real()
        interrupt_all(parser)
        return parser

    monkeypatch.setattr(cli, "build_parser", build)
    assert cli.main([name, *PARSEABLE[name]]) == cli.EXIT_INTERRUPTED
    err = capsys.readouterr().err
    assert err == "error: stopped by Ctrl-C.\n"


def test_a_bug_of_ours_is_one_line_without_the_exception_text(monkeypatch, capsys):
    """An unexpected exception: one line naming its type, not its text (which might quote a
    password), exit 1; the traceback only in the log."""

    def broken(args):
        raise ValueError("secret-in-the-message")

    real = cli.build_parser

    def build():
        parser = real()
        parser.set_defaults(func=broken)
        for action in parser._actions:
            if action.__class__.__name__ == "_SubParsersAction":
                action.choices["boards"].set_defaults(func=broken)
        return parser

    monkeypatch.setattr(cli, "build_parser", build)
    assert cli.main(["boards"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: iotkit failed unexpectedly (ValueError)")
    assert "secret-in-the-message" not in err


def _start(argv: list[str], err: Path) -> subprocess.Popen[str]:
    # Started from Python, not a shell: a shell's background job would ignore SIGINT.
    with open(err, "w") as f:
        return subprocess.Popen(
            [IOTKIT, *argv], stdout=subprocess.DEVNULL, stderr=f, stdin=subprocess.DEVNULL
        )


def _interrupt(proc: subprocess.Popen[str], err: Path, expect: int) -> float:
    """Ctrl-C (SIGINT, as a terminal sends it); how long the command took to end."""
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return float("inf")
    seconds = time.monotonic() - start
    text = err.read_text()
    assert "Traceback" not in text, text
    assert proc.returncode == expect, (proc.returncode, text)
    return seconds


@pytest.mark.skipif(not micropython_available(), reason="needs MicroPython's unix port")
def test_ctrl_c_ends_long_running_commands_within_a_second(tmp_path):
    """Commands that run until stopped, or wait a long time, end within 1 s of Ctrl-C without a
    traceback: a virtual board, a virtual chip, and a deploy showing the board's output (it
    waited out its --output-seconds before)."""
    timings = {}
    port_file = tmp_path / "port"
    sim_err = tmp_path / "sim.err"
    sim = _start(
        ["sim", "--flash-dir", str(tmp_path / "flash"), "--port-file", str(port_file)], sim_err
    )
    try:
        wait_for_file(port_file, sim, 30, "iotkit sim's port file")
        deploy_err = tmp_path / "deploy.err"
        deploy = _start(
            [
                "deploy",
                "--port",
                port_file.read_text().strip(),
                "--template",
                "sensor",
                "--output-seconds",
                "30",
            ],
            deploy_err,
        )
        try:
            wait_for_file(deploy_err, deploy, 30, "the deploy to restart the board", "Restarting")
            timings["deploy"] = _interrupt(deploy, deploy_err, expect=0)
        finally:
            deploy.kill()
            deploy.wait()
    finally:
        timings["sim"] = _interrupt(sim, sim_err, expect=0)
    chip_port = tmp_path / "chip-port"
    chip_err = tmp_path / "chip.err"
    chip = _start(
        [
            "sim",
            "--bootloader",
            "esp32",
            "--flash-image",
            str(tmp_path / "chip.bin"),
            "--port-file",
            str(chip_port),
        ],
        chip_err,
    )
    wait_for_file(chip_port, chip, 30, "the virtual chip's port file")
    timings["sim --bootloader"] = _interrupt(chip, chip_err, expect=0)
    assert all(t < 1.0 for t in timings.values()), timings
