"""Secrets are masked in every form a program prints them, everywhere board output is shown
(issue 11, items 1, 2 and 5).

The forms are taken from the real interpreters: MicroPython (the virtual board's own binary)
and CPython. The deploys run on the virtual board through the real `iotkit` command.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import venv_bin
from secret_helpers import TRICKY_PASSWORD, WIFI_PASSWORD, assert_no_secret, printed_forms

from companion_app import cli, secrets
from companion_app.device import deploy as engine

# A program that prints the password every way a beginner might: the dict, json.dumps of the
# dict and of the value, repr of the value, the value itself, and repr of the file's text.
PRINTS_CONFIG = (
    "import json\n"
    "with open('/config.json') as f:\n"
    "    text = f.read()\n"
    "c = json.loads(text)\n"
    "print('dict:', c)\n"
    "print('json:', json.dumps(c))\n"
    "print('value-json:', json.dumps(c['wifi_password']))\n"
    "print('value-repr:', repr(c['wifi_password']))\n"
    "print('value:', c['wifi_password'])\n"
    "print('file-repr:', repr(text))\n"
)
MARKERS = ("dict:", "json:", "value-json:", "value-repr:", "value:", "file-repr:")


@pytest.fixture(autouse=True)
def no_secret_known(monkeypatch):
    """Each test starts in a process that knows no secret: what it masks, it had to learn."""
    monkeypatch.delenv(secrets.ENV_WIFI_PASSWORD, raising=False)
    secrets.forget_all()
    yield
    secrets.forget_all()


def micropython_prints(password: str) -> bytes:
    """What the real MicroPython prints for PRINTS_CONFIG-like statements, without a board."""
    code = (
        "import json\n"
        f"p = {ascii(password)}\n"
        "c = {'wifi_password': p, 'n': 1}\n"
        "print(p)\nprint(c)\nprint(json.dumps(c))\nprint(json.dumps(p))\nprint(repr(p))\n"
        "print(repr(json.dumps(c)))\nprint(p.encode())\n"
    )
    micropython = venv_bin("micropython")
    if shutil.which(micropython) is None:
        pytest.skip("the micropython interpreter is not installed")
    return subprocess.run(
        [micropython, "-c", code], capture_output=True, timeout=30, check=True
    ).stdout


# ------------------------------------------------------------------------------- the masker


def test_micropython_escapes_a_password_in_ways_the_literal_text_does_not_match():
    out = micropython_prints(TRICKY_PASSWORD)
    # The facts the masker relies on, as the real interpreter shows them:
    assert b"Tr1\\\"ck\\\\y-\xe2\x82\xac'pw" in out  # json.dumps: " and \ escaped, UTF-8 as is
    assert b"Tr1\"ck\\\\y-\\u20ac\\'pw\\U0001f600" in out  # repr: ascii()-style escapes
    assert b"\\xe2\\x82\\xac" in out  # repr of the bytes
    assert out.count(TRICKY_PASSWORD.encode()) == 1  # only the plain print shows it literally


def test_every_form_micropython_prints_is_masked():
    out = micropython_prints(TRICKY_PASSWORD)
    secrets.remember(TRICKY_PASSWORD)
    shown = secrets.mask_text(out)
    lines = shown.decode().splitlines()
    assert len(lines) == 7
    assert all("***" in line for line in lines), lines
    assert '"wifi_password": "***"' in lines[2] and "'wifi_password': '***'" in lines[1]
    assert_no_secret(shown)
    for form in printed_forms(TRICKY_PASSWORD):
        assert form.encode() not in shown
    assert secrets.mask_text(out.decode()) == shown.decode()  # str and bytes alike


def test_every_form_cpython_prints_is_masked():
    p = TRICKY_PASSWORD
    c = {"wifi_password": p}
    printed = [
        p,
        str(c),
        json.dumps(c),
        json.dumps(c, ensure_ascii=False),
        repr(p),
        ascii(c),
        repr(p.encode()),
        repr(json.dumps(c)),
        json.dumps(json.dumps(c)),
    ]
    secrets.remember(p)
    for text in printed:
        shown = secrets.mask_text(text)
        assert "***" in shown, text
        assert_no_secret(shown)


def test_nothing_is_masked_before_a_secret_is_known_and_short_values_never():
    assert secrets.mask_text("pw is " + WIFI_PASSWORD) == "pw is " + WIFI_PASSWORD
    secrets.remember("abc")  # shorter than MIN_SECRET_LEN: would hide every "abc"
    assert secrets.mask_text("abcdef") == "abcdef"
    secrets.remember(WIFI_PASSWORD)
    assert secrets.mask_text("pw is " + WIFI_PASSWORD) == "pw is ***"


def test_the_environment_variable_is_a_known_secret(monkeypatch):
    monkeypatch.setenv(secrets.ENV_WIFI_PASSWORD, TRICKY_PASSWORD)
    assert secrets.mask_text(json.dumps({"p": TRICKY_PASSWORD})) == '{"p": "***"}'


def test_a_stream_split_anywhere_is_masked_like_the_whole_text():
    out = micropython_prints(TRICKY_PASSWORD)
    secrets.remember(TRICKY_PASSWORD)
    whole = secrets.mask_text(out)
    for cut in range(1, len(out)):
        masker = secrets.StreamMasker()
        got = masker.feed(out[:cut]) + masker.feed(out[cut:]) + masker.flush()
        assert got == whole, cut
    masker = secrets.StreamMasker()
    got = b"".join(masker.feed(out[i : i + 1]) for i in range(len(out))) + masker.flush()
    assert got == whole


def test_a_stream_holds_back_only_what_could_start_a_secret():
    secrets.remember(WIFI_PASSWORD)
    masker = secrets.StreamMasker()
    assert masker.feed(">>> print('hello')\r\n") == ">>> print('hello')\r\n"
    assert not masker.pending
    assert masker.feed("value: pw-Zq") == "value: "
    assert masker.pending
    assert masker.feed("7!not-for-your-eyes\n") == "***\n"
    assert masker.feed("pw-Z") == ""
    assert masker.flush() == "pw-Z"  # the stream ended: a prefix alone is no secret


def test_logs_are_masked_in_message_and_traceback(caplog):
    logger = logging.getLogger("iotkit.test.secrets")
    secrets.remember(TRICKY_PASSWORD)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        logger.warning("board said %r and %s", TRICKY_PASSWORD, json.dumps(TRICKY_PASSWORD))
        try:
            raise ValueError("config", {"wifi_password": TRICKY_PASSWORD})
        except ValueError:
            logger.debug("details", exc_info=True)
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "board said '***' and \"***\"" in text and "ValueError" in text
    assert_no_secret(text, *(r.getMessage() for r in caplog.records))


def test_one_predicate_decides_what_is_a_secret():
    from companion_app.gui import deploy_panel

    assert not hasattr(deploy_panel, "is_secret")  # no alias of its own: it asks secrets
    assert engine.masked is secrets.masked
    assert secrets.is_secret_key("wifi_password") and secrets.is_secret_key("AP_Password")
    assert not secrets.is_secret_key("wifi_ssid") and not secrets.is_secret_key(7)
    cfg = {"wifi_ssid": "lab", "wifi_password": WIFI_PASSWORD, "ap_password": ""}
    assert secrets.masked(cfg) == {"wifi_ssid": "lab", "wifi_password": "***", "ap_password": ""}


def test_the_board_masks_the_same_keys_as_the_host():
    """device_scripts/config.py public() runs on the board and cannot import the host's rule:
    it must agree with it on every key of the bundled config."""
    import importlib.util

    from device_scripts import scripts_dir

    spec = importlib.util.spec_from_file_location("board_config", scripts_dir() / "config.py")
    board = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(board)
    cfg = {k: "value-1234" for k in [*board.DEFAULTS, "ap_password", "mqtt_password"]}
    public = board.public(cfg)
    assert {k for k in cfg if public[k] == "***"} == {k for k in cfg if secrets.is_secret_key(k)}


# ------------------------------------------------------------------ deploys on the board


def _tricky_templates(tmp_path: Path, monkeypatch) -> None:
    """The bundled templates, with a boot.py that prints the config every way (a template
    program that shows its settings: the case the masking must survive)."""
    from device_scripts import scripts_dir

    folder = tmp_path / "templates"
    shutil.copytree(scripts_dir(), folder, ignore=shutil.ignore_patterns("__pycache__"))
    boot = folder / "boot.py"
    same = f"print('same on the board:', c['wifi_password'] == {ascii(TRICKY_PASSWORD)})\n"
    boot.write_text(
        boot.read_text(encoding="utf-8") + "\n" + PRINTS_CONFIG + same, encoding="utf-8"
    )
    monkeypatch.setattr(engine, "_scripts_dir", lambda: folder)


def _assert_masked_output(first_output: str) -> None:
    for marker in MARKERS:
        line = next((x for x in first_output.splitlines() if x.startswith(marker)), None)
        assert line is not None, f"{marker} missing from {first_output!r}"
        assert "***" in line, line
    assert_no_secret(first_output)


def test_template_deploy_masks_every_form_in_text_and_json(vboard, capsys, tmp_path, monkeypatch):
    _tricky_templates(tmp_path, monkeypatch)
    cfg = tmp_path / "class.json"
    cfg.write_text(json.dumps({"wifi_ssid": "lab", "wifi_password": TRICKY_PASSWORD}))
    argv = ["deploy", "--port", vboard.port, "--template", "wifi", "--config", str(cfg)]
    code = cli.main([*argv, "--output-seconds", "2"])
    out, err = capsys.readouterr()
    assert code == 0, err
    _assert_masked_output(out.split("--- the board's first output ---", 1)[1])
    assert "same on the board: True" in out  # the emoji survived MicroPython's json.load
    assert_no_secret(out, err)
    on_board = json.loads((vboard.flash_dir / "config.json").read_text(encoding="utf-8"))
    assert on_board["wifi_password"] == TRICKY_PASSWORD

    secrets.forget_all()  # the --json run must learn it again, from its own config
    code = cli.main([*argv, "--json", "--output-seconds", "2"])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    _assert_masked_output(doc["first_output"])
    assert doc["config"]["wifi_password"] == "***"
    assert_no_secret(out, err)


def test_folder_deploy_learns_the_secrets_of_the_boards_config(vboard, capsys, tmp_path):
    # The board already holds a /config.json (a person, or an older deploy, put it there),
    # written with \u escapes: MicroPython decodes the emoji's surrogate pair as two lone
    # surrogates and prints them as such, which must be masked too.
    (vboard.flash_dir / "config.json").write_text(
        json.dumps({"wifi_ssid": "lab", "wifi_password": TRICKY_PASSWORD}), encoding="utf-8"
    )
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.py").write_text(PRINTS_CONFIG, encoding="utf-8")
    argv = ["deploy", "--port", vboard.port, str(project), "--output-seconds", "2"]
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    _assert_masked_output(out.split("--- the board's first output ---", 1)[1])
    assert_no_secret(out, err)

    secrets.forget_all()
    code = cli.main([*argv, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    assert doc["changes"][0]["action"] == "unchanged"  # nothing sent: the survey alone knew it
    _assert_masked_output(doc["first_output"])
    assert_no_secret(out, err)


# ------------------------------------------------------------------ passwords not in argv


def _iotkit() -> list[str]:
    return [sys.executable, "-m", "companion_app"]


def _run_watching_ps(argv: list[str], stdin_text: str | None, env: dict) -> tuple[int, str, str]:
    """Run the real CLI; while it runs, look at every process's command line (`ps`) for the
    password, again and again until it ends."""
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out_f, stderr=err_f, env=env)
        assert proc.stdin is not None
        if stdin_text is not None:
            proc.stdin.write(stdin_text.encode("utf-8"))
        proc.stdin.close()
        looks = 0
        deadline = time.monotonic() + 120
        while proc.poll() is None:
            assert time.monotonic() < deadline, "the command did not end"
            if shutil.which("ps"):
                ps = subprocess.run(["ps", "-eo", "args"], capture_output=True).stdout
                assert_no_secret(ps)
                looks += 1
        proc.wait()
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read().decode("utf-8"), err_f.read().decode("utf-8")
    assert looks > 0 or not shutil.which("ps")
    return proc.returncode, out, err


def _env(**more: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != secrets.ENV_WIFI_PASSWORD}
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(more)
    return env


def test_set_password_from_stdin(vboard, tmp_path):
    argv = [*_iotkit(), "-v", "deploy", "--port", vboard.port, "--template", "wifi"]
    argv += ["--set", "wifi_ssid=lab", "--set", "wifi_password=-", "--output-seconds", "0.5"]
    code, out, err = _run_watching_ps(argv, TRICKY_PASSWORD + "\n", _env())
    assert code == 0, err
    on_board = json.loads((vboard.flash_dir / "config.json").read_text(encoding="utf-8"))
    assert on_board["wifi_password"] == TRICKY_PASSWORD and on_board["wifi_ssid"] == "lab"
    assert_no_secret(out, err)  # -v: the debug log is on stderr too


def test_set_password_from_stdin_with_nothing_there_is_a_usage_error(vboard):
    argv = [*_iotkit(), "deploy", "--port", vboard.port, "--template", "wifi"]
    proc = subprocess.run(
        [*argv, "--set", "wifi_password=-"], input="", capture_output=True, text=True, env=_env()
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: wifi_password was to come from standard input")
    assert proc.stderr.count("\n") == 1


def test_password_from_the_environment(vboard):
    argv = [*_iotkit(), "deploy", "--port", vboard.port, "--template", "wifi", "--json"]
    argv += ["--set", "wifi_ssid=lab", "--output-seconds", "0.5"]
    env = _env(**{secrets.ENV_WIFI_PASSWORD: TRICKY_PASSWORD})
    code, out, err = _run_watching_ps(argv, None, env)
    assert code == 0, err
    on_board = json.loads((vboard.flash_dir / "config.json").read_text(encoding="utf-8"))
    assert on_board["wifi_password"] == TRICKY_PASSWORD
    assert json.loads(out)["config"]["wifi_password"] == "***"
    assert_no_secret(out, err)


@pytest.mark.pty  # a pseudo-terminal as stdin
def test_password_typed_on_a_terminal_is_not_echoed(vboard):
    import fcntl
    import pty
    import select
    import termios

    master, slave = pty.openpty()

    def controlling_tty() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    argv = [*_iotkit(), "deploy", "--port", vboard.port, "--template", "wifi"]
    argv += ["--set", "wifi_password=-", "--no-reset"]
    proc = subprocess.Popen(
        argv,
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=controlling_tty,
        env=_env(),
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    while b"wifi_password: " not in seen:
        assert time.monotonic() < deadline and proc.poll() is None, seen
        if select.select([master], [], [], 0.1)[0]:
            seen += os.read(master, 1024)
    os.write(master, TRICKY_PASSWORD.encode() + b"\n")
    out, err = proc.communicate(timeout=120)
    while select.select([master], [], [], 0.2)[0]:
        try:
            chunk = os.read(master, 1024)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.returncode == 0, err
    assert_no_secret(seen, out, err)  # not echoed on the terminal, not printed
    on_board = json.loads((vboard.flash_dir / "config.json").read_text(encoding="utf-8"))
    assert on_board["wifi_password"] == TRICKY_PASSWORD


def test_sim_wifi_password_from_stdin_or_the_environment(monkeypatch):
    from companion_app.errors import UsageError
    from companion_app.simulator.cli import _parse_wifi

    monkeypatch.setattr(sys, "stdin", io.StringIO(TRICKY_PASSWORD + "\n"))
    assert _parse_wifi(["lab:-"]) == [{"ssid": "lab", "password": TRICKY_PASSWORD}]
    assert secrets.mask_text(repr(TRICKY_PASSWORD)) == "'***'"  # now a known secret
    with pytest.raises(UsageError, match="SSID alone uses"):
        _parse_wifi(["lab"])
    monkeypatch.setenv(secrets.ENV_WIFI_PASSWORD, WIFI_PASSWORD)
    assert _parse_wifi(["lab", "open:"]) == [
        {"ssid": "lab", "password": WIFI_PASSWORD},
        {"ssid": "open", "password": ""},
    ]


def test_sim_joins_with_a_password_read_from_stdin(tmp_path):
    """The real `iotkit sim --wifi lab:-`: the board joins "lab" with the piped password,
    and the password is in no process's command line."""
    from sim_helpers import RawConsole

    port_file = tmp_path / "port"
    argv = [*_iotkit(), "sim", "--wifi", "lab:-", "--port-file", str(port_file)]
    argv += ["--flash-dir", str(tmp_path / "flash")]
    pipe = subprocess.PIPE
    proc = subprocess.Popen(argv, stdin=pipe, stdout=pipe, stderr=pipe, env=_env())
    try:
        proc.stdin.write(TRICKY_PASSWORD.encode() + b"\n")
        proc.stdin.close()
        from waiting import wait_for_file

        wait_for_file(port_file, proc, 30, "iotkit sim's port file")
        if os.path.isdir("/proc"):
            assert_no_secret(subprocess.run(["ps", "-eo", "args"], capture_output=True).stdout)
        console = RawConsole(port_file.read_text().strip())
        try:
            console.friendly()
            code = (
                "import network,time\n"
                "s=network.WLAN(network.STA_IF)\ns.active(True)\n"
                f"s.connect('lab',{ascii(TRICKY_PASSWORD)})\n"
                "t=time.ticks_ms()\n"
                "while not s.isconnected() and time.ticks_diff(time.ticks_ms(),t)<10000:\n"
                " time.sleep_ms(50)\n"
                "print('joined', s.isconnected())\n"
            )
            out, err = console.raw_exec(code, timeout=20)
        finally:
            console.close()
        assert b"joined True" in out, (out, err)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ------------------------------------------------------------------ where output is shown


def test_console_masks_a_secret_split_across_chunks():
    from gui_helpers import grab_window, pump, require_display

    require_display()
    import tkinter as tk

    from companion_app.gui.console import HOLD_MS, ConsolePanel

    class Connection:
        is_connected = True

        def write(self, data: bytes) -> None:
            pass

        def add_listener(self, callback) -> None:
            self.callback = callback

        def reconnect(self) -> None:
            pass

    root = tk.Tk()
    try:
        out = micropython_prints(TRICKY_PASSWORD).replace(b"\n", b"\r\n")
        secrets.remember(TRICKY_PASSWORD)
        connection = Connection()
        panel = ConsolePanel(root, connection)
        panel.pack(fill="both", expand=True)
        cuts = range(3, len(out), 29)
        for cut in cuts:  # every print split somewhere: inside the password, an escape, a char
            connection.callback("data", out[:cut])
            connection.callback("data", out[cut:])
        connection.callback("data", b">>> pw: Tr1")  # the start of it, then the board is quiet
        assert not panel.text_content().endswith("Tr1")  # held back for now…
        started = time.monotonic()
        assert pump(root, lambda: panel.text_content().endswith("pw: Tr1"), timeout=5)
        assert time.monotonic() - started >= HOLD_MS / 1000 * 0.9  # …until the quiet time
        text = panel.text_content()
        assert text.count("***") == 7 * len(cuts)
        assert_no_secret(text)
        grab_window(root, "console-secrets-masked")
    finally:
        root.destroy()


def test_thonny_shell_relay_masks_a_secret_split_across_chunks():
    pytest.importorskip("thonny")
    from thonnycontrib.iotkit.host import PluginState

    state = PluginState()
    relayed: list[bytes] = []
    state.connection.feed_output = relayed.append
    secrets.remember(TRICKY_PASSWORD)
    out = micropython_prints(TRICKY_PASSWORD).decode("utf-8").replace("\n", "\r\n")
    for cut in range(1, len(out), 5):
        for chunk in (out[:cut], out[cut:]):
            state.on_program_output(SimpleNamespace(stream_name="stdout", data=chunk))
    text = b"".join(relayed).decode("utf-8")
    assert text.count("***") == 7 * len(range(1, len(out), 5))
    assert_no_secret(text, "\n".join(line for _, line in state.backlog))


def test_plot_source_never_makes_a_series_of_a_secret():
    from companion_app.readings.sources import ChunkSource, parse_payload

    secrets.remember(TRICKY_PASSWORD)
    names: list[str] = []
    source = ChunkSource(on_lines=lambda t, lines: names.extend(k for p in lines for k in p.values))
    source.start()
    line = f"{{'wifi_password': {TRICKY_PASSWORD!r}, 'interval_s': 5}}\npw {TRICKY_PASSWORD} 7\n"
    data = line.encode("utf-8")
    source.feed(data[:9])
    source.feed(data[9:30])
    source.feed(data[30:])
    source.stop()
    assert source.wait(5)
    assert len(names) == 2 and all("***" in n for n in names), names
    assert_no_secret(*names)
    from companion_app.readings.parser import LineParser

    parsed = parse_payload(LineParser(), f"pw {ascii(TRICKY_PASSWORD)[1:-1]}: 3\n")
    assert [list(p.values) for p in parsed] == [["pw ***"]]


def test_an_mqtt_password_from_the_url_is_masked_too():
    import urllib.parse

    from companion_app.readings.sources import MqttSource

    url = f"mqtt://student:{urllib.parse.quote(TRICKY_PASSWORD, safe='')}@127.0.0.1:1"
    assert secrets.mask_text(f"pw {TRICKY_PASSWORD}") != "pw ***"
    MqttSource(url, "lab/temp")
    assert secrets.mask_text(f"pw {TRICKY_PASSWORD}") == "pw ***"
