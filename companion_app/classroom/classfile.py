"""The teacher's class file (`class.toml`): one file that says what every board of a lab gets.

Why a file, and why TOML: a teacher sets a lab up once and runs it every week; TOML takes
comments, so the file can say which seat is which. The format is in shared/CONTRACTS.md
("Class file") and, with our extensions (`board`, `baud`), in docs/classroom.md.

How a class file is read, in steps:

1. The text is read like every other input file (companion_app.inputs: size limit, UTF-8, a
   BOM dropped) and parsed with tomllib (tomli on Python 3.10). A syntax error names its line
   and column, as tomllib finds them.
2. Every key is checked against the keys we know, at every level, so a typo ("sensr") is an
   error with a "did you mean", never a setting silently ignored.
3. The settings go through the deploy engine's own checks (deploy.build_config, key by key so
   the error can name the line), the templates through deploy's resolve_templates, the broker
   through readings.sources.parse_mqtt_url, each name through topics.level_problem.
4. The Wi-Fi password is resolved now, inline or from the environment variable the file names,
   and handed to companion_app.secrets at once, so it is masked in every log and output from
   the first moment it exists in this process. It is kept out of the dataclasses' repr.
5. Every error is one ClassFileError sentence that names the file and the line (found by
   `_Locator`, a small scan of the text, because tomllib keeps no positions), exit code 2 like
   every other bad input file (`iotkit deploy --config` with bad JSON).

`ClassFile.board_config(board)` is the one place that turns a board of the class into its deploy
config: the class settings, the board's overrides, its device name, and its MQTT topics
(companion_app.classroom.topics).
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from companion_app import secrets
from companion_app.classroom import topics
from companion_app.errors import IotkitError, UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (setup.py installs tomli there)
    import tomli as tomllib

log = logging.getLogger(__name__)

__all__ = [
    "ClassFileError",
    "ClassBoard",
    "ClassFile",
    "load_class_file",
    "write_class_file",
    "plugged_in_boards",
    "class_file_text",
    "default_broker_url",
    "WrittenClassFile",
    "DEFAULT_BAUD",
    "DEFAULT_FILE_NAME",
    "PASSWORD_KEY",
    "PASSWORD_ENV_KEY",
]

DEFAULT_FILE_NAME = "class.toml"
DEFAULT_BAUD = 115200  # the REPL's rate on every board this kit knows
PASSWORD_KEY = "wifi_password"
#: The name of an environment variable that holds the Wi-Fi password, so the file can be shared.
PASSWORD_ENV_KEY = "wifi_password_env"
SSID_KEY = "wifi_ssid"

#: Keys of the file's top level, and of one [[boards]] entry: (key, what it is) for messages.
TOP_KEYS = ("name", "broker", "templates", "settings", "boards", "board", "baud")
BOARD_KEYS = ("name", "port", "usb_serial", "board", "settings")
#: Deploy config keys the class file sets for each board itself: a teacher must not set them.
DERIVED_KEYS = {
    "device_name": "each board's device_name is its name in [[boards]]",
    "mqtt_broker": "the boards' mqtt_broker comes from the top-level broker URL",
    "mqtt_topic": "each board's mqtt_topic is iotkit/<class>/<board>/readings",
    "mqtt_status_topic": "each board's mqtt_status_topic is iotkit/<class>/<board>/status",
    "parts": "the programs a board runs come from the top-level templates list",
}


class ClassFileError(UsageError):
    """The class file cannot be used as it is; the message names the file and the line."""

    exit_code = 2


@dataclass(frozen=True)
class ClassBoard:
    """One seat of the class: where the board is plugged in and what it gets beyond the rest."""

    name: str
    port: str | None
    usb_serial: str | None
    settings: dict[str, Any] = field(repr=False)  # may hold a password: never in a repr
    board_id: str | None = None


@dataclass(frozen=True)
class ClassFile:
    """A loaded, checked class file. Settings hold the resolved password (see the docstring)."""

    path: Path
    name: str
    broker: str  # the URL as written, e.g. mqtt://192.168.1.10:1883
    templates: tuple[str, ...]
    settings: dict[str, Any] = field(repr=False)
    boards: tuple[ClassBoard, ...] = ()
    board_id: str | None = None
    baud: int = DEFAULT_BAUD

    def board(self, name: str) -> ClassBoard:
        """The board with this name; a ClassFileError naming the known ones otherwise."""
        for b in self.boards:
            if b.name == name:
                return b
        known = ", ".join(b.name for b in self.boards) or "none"
        raise ClassFileError(f"The class file {self.path} has no board {name!r} (it has {known}).")

    @property
    def logs_dir(self) -> Path:
        """Where `iotkit class flash/deploy` keep a log and a state file per board."""
        return self.path.parent / f"{file_name_part(self.name)}-logs"

    def log_path(self, board: ClassBoard) -> Path:
        """The log file of one board: `<class>-logs/<board>.log`."""
        return self.logs_dir / f"{file_name_part(board.name)}.log"

    @property
    def broker_address(self) -> tuple[str, int]:
        """(host, port) of the broker, as the boards and the dashboard connect to it."""
        from companion_app.readings.sources import parse_mqtt_url

        host, port, _tls, _user, _password = parse_mqtt_url(self.broker)
        return host, port

    def board_config(self, board: ClassBoard) -> dict[str, Any]:
        """The deploy config of one board (before deploy.build_config adds the defaults)."""
        host, port = self.broker_address
        cfg = dict(self.settings)
        cfg.update(board.settings)
        cfg["device_name"] = board.name
        cfg["mqtt_broker"] = f"{host}:{port}"
        cfg["mqtt_topic"] = topics.readings_topic(self.name, board.name)
        cfg["mqtt_status_topic"] = topics.status_topic(self.name, board.name)
        return cfg


#: What a name keeps in a file name; the rest (a backslash, : * ? " < > | on Windows) become "_".
_FILE_NAME_UNSAFE = re.compile(r"[^\w .-]")


def file_name_part(name: str) -> str:
    """A class or board name as part of a file name on every OS (letters of any script stay).

    Topic levels may hold characters Windows file names cannot (`seat:1`), so names are not
    refused for that; two boards that differ only there share a log file, nothing worse.
    """
    return _FILE_NAME_UNSAFE.sub("_", name).strip(" .") or "_"


# ----------------------------------------------------------------------------- line locator

_TABLE = re.compile(r"^\s*(\[\[?)\s*([^\[\]#]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)\s*[=.]""")


def _unquote(key: str) -> str:
    if len(key) >= 2 and key[0] == key[-1] and key[0] in "\"'":
        return key[1:-1]
    return key


class _Locator:
    """Where a table or a key is in the text: tomllib parses values but keeps no positions.

    A scan of the lines for table headers (`[settings]`, `[[boards]]`, `[boards.settings]`) and
    `key =` lines, skipping multi-line strings; good for every file a person writes. A spot it
    cannot find gives None and the message names the nearest thing it can.
    """

    def __init__(self, text: str) -> None:
        self.tables: dict[tuple[str, int | None], int] = {}
        self.keys: dict[tuple[str, int | None, str], int] = {}
        table, index = "", None
        boards = -1
        in_multi: str | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            if in_multi:
                if line.count(in_multi) % 2 == 1:
                    in_multi = None
                continue
            header = _TABLE.match(line)
            if header:
                path = ".".join(_unquote(p.strip()) for p in header.group(2).split("."))
                if header.group(1) == "[[" and path == "boards":
                    boards += 1
                    table, index = "boards", boards
                elif path == "boards.settings":
                    table, index = "boards.settings", boards
                else:
                    table, index = path, None
                self.tables.setdefault((table, index), number)
                continue
            key = _KEY.match(line)
            if key:
                self.keys.setdefault((table, index, _unquote(key.group(1))), number)
            for quote in ('"""', "'''"):
                if line.count(quote) % 2 == 1:
                    in_multi = quote
                    break

    def table(self, table: str, index: int | None = None) -> int | None:
        return self.tables.get((table, index))

    def key(self, table: str, key: str, index: int | None = None) -> int | None:
        line = self.keys.get((table, index, key))
        if line is None and table == "boards.settings":
            line = self.keys.get(("boards", index, "settings"))  # inline settings = {...}
        if line is None and table == "settings":
            line = self.keys.get(("", None, "settings"))
        if line is None:  # a key written as a table of its own: [setings], [boards.setings]
            line = self.tables.get((f"{table}.{key}" if table else key, None))
        return line if line is not None else self.table(table, index)


# ----------------------------------------------------------------------------- the loader


class _Reader:
    """One load: the path, the locator, and how an error names its spot."""

    def __init__(self, path: Path, text: str, need_wifi_password: bool) -> None:
        self.path = path
        self.where = _Locator(text)
        self.need_wifi_password = need_wifi_password

    def error(self, line: int | None, message: str) -> ClassFileError:
        spot = f"{self.path}, line {line}" if line else str(self.path)
        return ClassFileError(f"The class file {spot}: {message}")

    def unknown_keys(
        self, values: Mapping[str, Any], known: Iterable[str], table: str, index: int | None
    ) -> None:
        known = list(known)
        for key in values:
            if key in known:
                continue
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" Did you mean {close[0]}?" if close else ""
            where = _table_name(table)
            raise self.error(
                self.where.key(table, key, index),
                f"unknown key {key!r} {where}.{hint} Known keys: {', '.join(known)}.",
            )


def _table_name(table: str) -> str:
    return {
        "": "at the top level",
        "settings": "in [settings]",
        "boards": "in a [[boards]] entry",
        "boards.settings": "in [boards.settings]",
    }.get(table, f"in [{table}]")


def _text(r: _Reader, value: Any, key: str, table: str, index: int | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise r.error(r.where.key(table, key, index), f"{key} must be a non-empty text in quotes.")
    return value.strip()


def _check_level(r: _Reader, name: str, what: str, line: int | None) -> None:
    problem = topics.level_problem(name)
    if problem:
        raise r.error(
            line,
            f"the {what} name {name!r} cannot be part of an MQTT topic: {problem}. "
            "Use letters, digits, - and _ (for example seat-01).",
        )


def _check_broker(r: _Reader, raw: Any) -> str:
    from companion_app.readings.sources import parse_mqtt_url, redact_url

    line = r.where.key("", "broker")
    if not isinstance(raw, str) or not raw.strip():
        raise r.error(
            line, 'broker must be an MQTT URL in quotes, e.g. "mqtt://192.168.1.10:1883".'
        )
    url = raw.strip()
    try:
        _host, _port, tls, user, password = parse_mqtt_url(url)
    except ValueError as exc:
        raise r.error(line, str(exc)) from None
    if password:
        secrets.remember(password)
    if tls:
        raise r.error(
            line,
            f"the boards' mqtt template speaks plain MQTT, not TLS: use mqtt:// in "
            f"{redact_url(url)}.",
        )
    if user or password:
        raise r.error(
            line,
            f"the boards' mqtt template cannot log in to a broker: remove the user name from "
            f"{redact_url(url)} and let the lab's broker allow anonymous clients.",
        )
    return url


def _check_templates(r: _Reader, raw: Any) -> tuple[str, ...]:
    from companion_app.device.deploy import resolve_templates
    from companion_app.device.errors import DeployUsageError

    line = r.where.key("", "templates")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(t, str) for t in raw):
        raise r.error(line, 'templates must be a list of template names, e.g. ["mqtt"].')
    try:
        resolve_templates(raw)
    except DeployUsageError as exc:
        raise r.error(line, _lower_first(str(exc))) from None
    return tuple(t.strip() for t in raw)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def _check_board_id(r: _Reader, raw: Any, table: str, index: int | None) -> str:
    from companion_app.boards import load_board

    line = r.where.key(table, "board", index)
    if isinstance(raw, list) and not table:
        line = r.where.tables.get(("board", None), line)
        raise r.error(line, "the boards of the class are [[boards]] entries (with an s).")
    if not isinstance(raw, str):
        raise r.error(line, 'board must be a board id in quotes, e.g. "esp32-devkit-v1".')
    try:
        return load_board(raw).id
    except IotkitError as exc:
        raise r.error(line, _lower_first(str(exc))) from None


def _check_settings(
    r: _Reader, raw: Any, templates: tuple[str, ...], table: str, index: int | None
) -> dict[str, Any]:
    """Deploy config keys, each through the deploy engine's own checks; the password resolved."""
    from companion_app.device.deploy import build_config, config_defaults
    from companion_app.device.errors import DeployUsageError

    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise r.error(r.where.key(table, "settings", index), "settings must be a table of keys.")
    defaults = config_defaults()
    known = [k for k in defaults if k not in DERIVED_KEYS] + [PASSWORD_ENV_KEY]
    for key in raw:
        if key in DERIVED_KEYS:
            raise r.error(
                r.where.key(table, key, index),
                f"{key} cannot be set in a class file: {DERIVED_KEYS[key]}.",
            )
    r.unknown_keys(raw, known, table, index)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        line = r.where.key(table, key, index)
        if key == PASSWORD_ENV_KEY:
            password = _password_from_env(r, value, line)
            if password is not None:
                out[PASSWORD_KEY] = password
            continue
        if secrets.is_secret_key(key) and isinstance(value, str):
            secrets.remember(value)  # before anything can print it
        try:
            checked = build_config([], base={key: value})[key]
        except DeployUsageError as exc:
            raise r.error(line, _lower_first(str(exc))) from None
        out[key] = checked
    if PASSWORD_KEY in raw and PASSWORD_ENV_KEY in raw:
        raise r.error(
            r.where.key(table, PASSWORD_ENV_KEY, index),
            f"give either {PASSWORD_KEY} or {PASSWORD_ENV_KEY}, not both.",
        )
    return out


def _password_from_env(r: _Reader, value: Any, line: int | None) -> str | None:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value.strip()):
        raise r.error(
            line,
            f'{PASSWORD_ENV_KEY} must name an environment variable, e.g. "IOTKIT_WIFI_PASSWORD".',
        )
    name = value.strip()
    password = os.environ.get(name)
    if not password and not r.need_wifi_password:
        return None
    if not password:
        raise r.error(
            line,
            f"the Wi-Fi password comes from the environment variable {name}, which is not set: "
            f"run `export {name}=...` (Windows: `set {name}=...`) before this command.",
        )
    secrets.remember(password)
    return password


def _check_password(
    r: _Reader, settings: Mapping[str, Any], table: str, index: int | None, ssid_table: str
) -> None:
    if r.need_wifi_password and settings.get(SSID_KEY) and not settings.get(PASSWORD_KEY):
        raise r.error(
            r.where.key(ssid_table, SSID_KEY, index if ssid_table.startswith("boards") else None),
            f"{SSID_KEY} is set but there is no Wi-Fi password: add {PASSWORD_ENV_KEY} = "
            f'"IOTKIT_WIFI_PASSWORD" (and export that variable) or {PASSWORD_KEY} = "..." to '
            f"[{table}].",
        )


def _check_boards(r: _Reader, raw: Any, templates: tuple[str, ...]) -> list[ClassBoard]:
    if raw is None or raw == []:
        raise r.error(
            None,
            "it lists no boards: add a [[boards]] entry with a name and a port for each board, "
            "or write the file again with `iotkit class init` while the boards are plugged in.",
        )
    if not isinstance(raw, list) or not all(isinstance(b, dict) for b in raw):
        raise r.error(r.where.key("", "boards"), "boards must be written as [[boards]] tables.")
    boards: list[ClassBoard] = []
    names: dict[str, int] = {}
    ports: dict[str, str] = {}
    serials: dict[str, str] = {}
    for index, entry in enumerate(raw):
        header = r.where.table("boards", index)
        r.unknown_keys(entry, BOARD_KEYS, "boards", index)
        if "name" not in entry:
            raise r.error(header, 'this [[boards]] entry has no name, e.g. name = "seat-01".')
        name = _text(r, entry["name"], "name", "boards", index)
        name_line = r.where.key("boards", "name", index)
        _check_level(r, name, "board", name_line)
        if name in names:
            raise r.error(
                name_line,
                f"the board name {name!r} is used twice (first on line {names[name]}); "
                "every board needs its own name.",
            )
        names[name] = name_line or 0
        port = usb_serial = None
        if "port" in entry:
            port = _text(r, entry["port"], "port", "boards", index)
        if "usb_serial" in entry:
            usb_serial = _text(r, entry["usb_serial"], "usb_serial", "boards", index)
        if port is None and usb_serial is None:
            raise r.error(
                header,
                f'board {name!r} has neither port nor usb_serial: add port = "/dev/ttyUSB0" '
                '(COM5 on Windows) or usb_serial = "..." (see `iotkit ports`).',
            )
        for value, seen, key in ((port, ports, "port"), (usb_serial, serials, "usb_serial")):
            if value is not None and value in seen:
                raise r.error(
                    r.where.key("boards", key, index),
                    f"boards {seen[value]!r} and {name!r} have the same {key} {value!r}; "
                    "each board is plugged in on its own.",
                )
            if value is not None:
                seen[value] = name
        board_id = None
        if "board" in entry:
            board_id = _check_board_id(r, entry["board"], "boards", index)
        settings = _check_settings(r, entry.get("settings"), templates, "boards.settings", index)
        boards.append(ClassBoard(name, port, usb_serial, settings, board_id))
    return boards


def load_class_file(path: str | os.PathLike[str], *, need_wifi_password: bool = True) -> ClassFile:
    """Read and check a class file; ClassFileError (one sentence, file and line) if unusable.

    `need_wifi_password=False` is for what never sends the password to a board (the dashboard,
    `iotkit class init`'s check of the file it wrote, `class flash`): an unset password variable
    is then no error, and the settings simply hold no password.
    """
    from companion_app.inputs import read_text_file

    p = Path(path)
    text = read_text_file(p, "class file", error=ClassFileError)
    r = _Reader(p, text, need_wifi_password)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends "(at line L, column C)"; it quotes no value, so no password.
        raise r.error(None, f"it is not valid TOML: {exc}.") from None
    r.unknown_keys(data, TOP_KEYS, "", None)

    if "name" not in data:
        raise r.error(None, 'it has no class name: add name = "lab-a" at the top.')
    name = _text(r, data["name"], "name", "")
    _check_level(r, name, "class", r.where.key("", "name"))
    if "broker" not in data:
        raise r.error(
            None,
            'it has no broker: add broker = "mqtt://<the broker\'s address>:1883" at the top '
            "(`iotkit broker` starts one on this PC).",
        )
    broker = _check_broker(r, data["broker"])
    if "templates" not in data:
        raise r.error(None, 'it has no templates: add templates = ["mqtt"] at the top.')
    templates = _check_templates(r, data["templates"])
    board_id = _check_board_id(r, data["board"], "", None) if "board" in data else None
    baud = data.get("baud", DEFAULT_BAUD)
    if isinstance(baud, bool) or not isinstance(baud, int) or baud <= 0:
        raise r.error(r.where.key("", "baud"), "baud must be a whole number such as 115200.")
    settings = _check_settings(r, data.get("settings"), templates, "settings", None)
    boards = _check_boards(r, data.get("boards"), templates)
    for index, b in enumerate(boards):
        merged = {**settings, **b.settings}
        own_ssid = SSID_KEY in b.settings
        _check_password(
            r,
            merged,
            "boards.settings" if own_ssid else "settings",
            index,
            "boards.settings" if own_ssid else "settings",
        )
    cf = ClassFile(p, name, broker, templates, settings, tuple(boards), board_id, baud)
    log.info("class file %s: class %s, %d boards", p, name, len(boards))
    return cf


# ----------------------------------------------------------------------------- a new class file

DEFAULT_CLASS_NAME = "my-class"
SEAT_FORMAT = "seat-{:02d}"  # the names a new class file gives: seat-01, seat-02 …
DEFAULT_TEMPLATES = ("mqtt",)
PLACEHOLDER_SSID = "lab-wifi"
NO_BOARDS = (
    "No boards are plugged in (`iotkit ports` shows none that looks like a board). Plug them "
    "in and run this again, or list ports with --ports P1,P2 (virtual boards: `iotkit sim "
    "--count N --port-file ports.txt`, then --port-file ports.txt)."
)


@dataclass(frozen=True)
class WrittenClassFile:
    """What write_class_file did: the file as loaded back, and where the old one went."""

    class_file: ClassFile
    backup: Path | None


def plugged_in_boards(comports: Iterable[Any] | None = None) -> list[tuple[str, str | None]]:
    """(port, USB serial number or None) of each port that looks like a board, best first."""
    from companion_app.device.ports import list_ports, looks_like_board

    return [(p.device, p.serial_number) for p in list_ports(comports) if looks_like_board(p)]


def local_broker_url() -> str:
    """`iotkit broker` without --lan: on this PC only, which is where virtual boards connect from."""
    from companion_app.classroom.broker import DEFAULT_PORT
    from companion_app.simulator.endpoint import LOOPBACK

    return f"mqtt://{LOOPBACK}:{DEFAULT_PORT}"


def default_broker_url() -> str:
    """Where `iotkit broker --lan` serves: this PC's LAN address (else loopback), port 1883."""
    from companion_app.classroom.broker import DEFAULT_PORT, lan_host

    return f"mqtt://{lan_host()}:{DEFAULT_PORT}"


def _toml_string(value: str) -> str:
    # A JSON string is a TOML basic string (the same escapes: \" \\ \n \uXXXX).
    return json.dumps(value, ensure_ascii=False)


def class_file_text(
    name: str, broker: str, boards: list[tuple[str, str | None]], virtual: bool
) -> str:
    """A commented class file for a teacher to edit; `boards` are (port, usb serial) by seat.

    For a class of virtual boards (`virtual`) the file works as written: the Wi-Fi network is
    the one every virtual board offers, and the broker is on this PC (`iotkit broker`), where
    the virtual boards' connections come from.
    """
    env = secrets.ENV_WIFI_PASSWORD
    ssid, ssid_note = PLACEHOLDER_SSID, "the lab's Wi-Fi network"
    password_note = f"export {env}=... before a deploy"
    if virtual:
        from companion_app.simulator.host import DEFAULT_WIFI  # the virtual boards' network

        ssid, ssid_note = DEFAULT_WIFI[0]["ssid"], "the network every virtual board offers"
        password_note = f"export {env}={DEFAULT_WIFI[0]['password']} (the virtual boards')"
    lines = [
        "# The class file of `iotkit class flash`, `iotkit class deploy` and",
        "# `iotkit class dashboard` (docs/classroom.md). Edit it: every line can be changed.",
        "",
        f"name = {_toml_string(name)}  # the class; its boards publish to iotkit/<name>/<board>/…",
        f"broker = {_toml_string(broker)}  # any MQTT 3.1.1 broker the boards can reach",
        "templates = [" + ", ".join(_toml_string(t) for t in DEFAULT_TEMPLATES) + "]",
        '# board = "esp32-devkit-v1"  # the board type, for `iotkit class flash --version V`',
        f"# baud = {DEFAULT_BAUD}",
        "",
        "[settings]  # for every board (the keys of `iotkit deploy --config`)",
        f"{SSID_KEY} = {_toml_string(ssid)}  # {ssid_note}",
        f"{PASSWORD_ENV_KEY} = {_toml_string(env)}  # {password_note}",
        f'# {PASSWORD_KEY} = "..."  # or the password itself (then keep this file private)',
        'sensor = "dht22"',
        "sensor_pin = 14",
        "interval_s = 2",
    ]
    for i, (port, serial) in enumerate(boards, start=1):
        lines += ["", "[[boards]]", f"name = {_toml_string(SEAT_FORMAT.format(i))}"]
        lines.append(f"port = {_toml_string(port)}")
        if serial:
            lines.append(
                f"usb_serial = {_toml_string(serial)}  # finds the board if its port name changes"
            )
        if i == 1:
            lines += ["# [boards.settings]  # this board only, e.g.", "# sensor_pin = 4"]
    if virtual:
        lines += [
            "",
            "# These are virtual boards: their ports change each time `iotkit sim` starts.",
        ]
    return "\n".join(lines) + "\n"


def check_new_class_file(path: Path, name: str, force: bool) -> None:
    """Refuse, before any board is looked for, a class name or a path a new file cannot have."""
    problem = topics.level_problem(name)
    if problem:
        raise UsageError(f"The class name {name!r} cannot be part of an MQTT topic: {problem}.")
    if path.is_dir():
        raise UsageError(f"{path} is a folder; give the class file's name.")
    if path.exists() and not force:
        raise IotkitError(
            f"{path} exists already: edit it, or run again with --force to replace it "
            f"(the old one is kept as {path.name}.bak)."
        )


def write_class_file(
    path: str | os.PathLike[str],
    boards: list[tuple[str, str | None]],
    *,
    name: str = DEFAULT_CLASS_NAME,
    force: bool = False,
    virtual: bool = False,
    broker: str | None = None,
) -> WrittenClassFile:
    """Write a new class file (`iotkit class init`, the Class tab's "New"), one seat per board.

    Never replaces a file unless `force`, and then keeps the old one as FILE.bak. The file is
    loaded back before returning, so what we write is always a file we can read.
    """
    p = Path(path)
    check_new_class_file(p, name, force)
    if not boards:
        raise IotkitError(NO_BOARDS)
    if broker is None:
        broker = local_broker_url() if virtual else default_broker_url()
    text = class_file_text(name, broker, boards, virtual)
    backup = None
    if p.exists():
        backup = p.with_name(p.name + ".bak")
        p.replace(backup)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    log.info("wrote class file %s with %d boards", p, len(boards))
    return WrittenClassFile(load_class_file(p, need_wifi_password=False), backup)
