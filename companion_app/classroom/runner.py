"""Flash or deploy every board of a class at once: one thread per board, one failure stays local.

A teacher with 24 boards cannot wait for them one after another, and cannot let one loose
cable stop the other 23. How `run_class` works, in steps:

1. Everything that is the same for every board is prepared once, before any thread starts, so
   a mistake there is one clear error and not 24: the firmware image is checked (or fetched from
   the firmware cache for each board type), the templates' libraries (umqtt.simple) are fetched
   once into memory, so parallel deploys never race for the library cache.
2. Each board gets its own thread. It finds its port: the port written in the class file when
   it is there, else the port whose USB serial number is the board's `usb_serial` (a board
   plugged into another socket gets another /dev/ttyUSBn), and says which one it used.
3. It flashes (companion_app.firmware.flasher.Flasher) or deploys (device.deploy
   .deploy_templates with ClassFile.board_config: the board's own device name and topics).
4. Each board has a log, `<class file folder>/<class>-logs/<board>.log`, masked with
   companion_app.secrets (the Wi-Fi password never reaches it), and the folder's state file
   (`state.json`) records what succeeded on which board: the image's SHA-256 for a flash, a
   digest of the templates and that board's config for a deploy. Running again skips the boards
   already done with the same inputs ("running again does only what is left") unless redo_all.
   The digest holds the Wi-Fi password only through a slow salted hash (PBKDF2), so the state
   file cannot be used to guess it quickly.
5. Progress is reported as BoardProgress copies through `on_progress`, from the worker
   threads: a GUI hands them to its Tk thread through a queue. `cancel` stops every board at its
   next safe point (between deploy chunks, between flash blocks).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from companion_app import secrets
from companion_app.classroom.classfile import PASSWORD_KEY, ClassBoard, ClassFile
from companion_app.errors import IotkitError, UsageError

log = logging.getLogger(__name__)

__all__ = [
    "ACTIONS",
    "BoardProgress",
    "STATE_FILE",
    "find_port",
    "run_class",
    "state_path",
]

ACTIONS = ("flash", "deploy")
STATE_FILE = "state.json"
# Results of one board (BoardProgress.result).
RUNNING, OK, SKIPPED, FAILED = "", "ok", "skipped", "failed"
FIRST_OUTPUT_S = 3.0  # how long a deployed board's first output is collected for its log
PBKDF2_ROUNDS = 100_000  # makes guessing the password from state.json slow (step 4)
LOG_FIRST_OUTPUT_CHARS = 4000  # the first output is logged up to this much


@dataclass
class BoardProgress:
    """Where one board is: a copy is handed to on_progress at each change."""

    board: str
    port: str | None
    stage: str
    result: str  # "" while running, "ok", "skipped", "failed"
    seconds: float
    error: str | None = None
    log: Path | None = None
    note: str | None = None  # e.g. "found on /dev/ttyUSB3 by its USB serial 0001A2B3"

    def to_json(self) -> dict[str, Any]:
        """The object `iotkit class flash/deploy --json` prints per board."""
        return {
            "board": self.board,
            "port": self.port,
            "result": self.result,
            "stage": self.stage,
            "seconds": round(self.seconds, 2),
            "error": self.error,
            "log": str(self.log) if self.log else None,
            "note": self.note,
        }


class BoardFailed(IotkitError):
    """One board cannot go on; the message says why and what to do."""


# ----------------------------------------------------------------------------- ports


def _comport_list(comports: Iterable[Any] | None) -> list[Any]:
    from companion_app.device.ports import list_ports

    return list_ports(comports)


def find_port(board: ClassBoard, comports: Iterable[Any] | None = None) -> tuple[str, str | None]:
    """(port, note): the board's port now, and a note when it was found by its USB serial.

    The USB serial number, when the class file gives one, is the board's identity: a board
    plugged into another socket (or two boards swapped) is found where it is now. Else, and for
    boards without one (virtual boards: ptys and sockets are never in comports()), the port is
    taken as written when it is there. `comports` (ListPortInfo-like objects) is for tests.
    """
    ports = None
    if board.usb_serial:
        ports = _comport_list(comports)
        for p in ports:
            if p.serial_number and p.serial_number == board.usb_serial:
                if p.device == board.port:
                    return p.device, None
                moved = f" (the class file says {board.port})" if board.port else ""
                return p.device, f"found on {p.device} by its USB serial {board.usb_serial}{moved}"
    if board.port:
        if "://" in board.port or os.path.exists(board.port):
            return board.port, None
        ports = _comport_list(comports) if ports is None else ports
        if any(p.device == board.port for p in ports):  # COM5 is no file on Windows
            return board.port, None
    wanted = []
    if board.port:
        wanted.append(f"no {board.port}")
    if board.usb_serial:
        wanted.append(f"no USB serial {board.usb_serial}")
    raise BoardFailed(
        f"not plugged in: {' and '.join(wanted)}. Plug the board in (`iotkit ports` lists what "
        "is there) or correct its port in the class file."
    )


# ----------------------------------------------------------------------------- state


def state_path(cf: ClassFile) -> Path:
    return cf.logs_dir / STATE_FILE


class _State:
    """state.json: {action: {board: {"digest": ..., "port": ..., "when": ...}}}; thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            self.data: dict[str, Any] = data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            self.data = {}

    def done(self, action: str, board: str, digest: str) -> bool:
        with self.lock:
            entry = self.data.get(action, {}).get(board)
            return isinstance(entry, dict) and entry.get("digest") == digest

    def record(self, action: str, board: str, digest: str | None, port: str | None) -> None:
        with self.lock:
            table = self.data.setdefault(action, {})
            if digest is None:
                table.pop(board, None)
            else:
                table[board] = {"digest": digest, "port": port, "when": _now()}
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True) + "\n", "utf-8")
            os.replace(tmp, self.path)


def _now() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


# ----------------------------------------------------------------------------- per-board log


class _BoardLog:
    """One board's log file: appended to, one run after another, every line masked."""

    def __init__(self, path: Path, action: str) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.write(f"=== class {action}, {_now()} ===")

    def write(self, text: str) -> None:
        masked = secrets.mask_text(text)
        with self.lock:
            try:
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(masked.rstrip("\n") + "\n")
            except OSError as exc:  # a full disk must not fail the board
                log.warning("cannot write %s: %s", self.path, exc)


# ----------------------------------------------------------------------------- preparing


@dataclass
class _Plan:
    """What one board gets: the inputs and their digest (step 4)."""

    board: ClassBoard
    digest: str
    image: str | None = None  # flash
    board_id: str | None = None  # flash
    config: dict[str, Any] | None = None  # deploy


def _password_digest(password: str, salt: str, cache: dict[tuple[str, str], str]) -> str:
    key = (password, salt)
    if key not in cache:
        cache[key] = hashlib.pbkdf2_hmac(
            "sha256", password.encode("utf-8"), salt.encode("utf-8"), PBKDF2_ROUNDS
        ).hex()
    return cache[key]


def _deploy_plans(cf: ClassFile) -> tuple[list[_Plan], Callable[[str], list[Any]]]:
    """Configs checked and libraries fetched once; every board's digest."""
    from companion_app.device import deploy as engine
    from companion_app.device import libs

    resolved = engine.resolve_templates(cf.templates)
    fetched: dict[str, list[Any]] = {}
    lock = threading.Lock()

    def lib_source(name: str) -> list[Any]:
        """Each library fetched once for all boards: parallel deploys never race for the cache."""
        with lock:
            if name not in fetched:
                fetched[name] = libs.lib_files(name)
            return fetched[name]

    plans = []
    pw_cache: dict[tuple[str, str], str] = {}
    for board in cf.boards:
        try:
            cfg = engine.build_config(resolved, base=cf.board_config(board))
        except IotkitError as exc:
            raise UsageError(f"The class file {cf.path}, board {board.name}: {exc}") from None
        files = engine.template_files(resolved, cfg, lib_source=lib_source)
        digestible = dict(cfg)
        if digestible.get(PASSWORD_KEY):
            salt = f"iotkit/{cf.name}"  # one hash for the class, not one per board
            digestible[PASSWORD_KEY] = _password_digest(cfg[PASSWORD_KEY], salt, pw_cache)
        h = hashlib.sha256(json.dumps(digestible, sort_keys=True).encode("utf-8"))
        for f in files:
            if f.dest != engine.CONFIG_DEST:  # the config is in the digest above, hashed
                h.update(f.dest.encode("utf-8") + b"\0" + hashlib.sha256(f.data).digest())
        plans.append(_Plan(board, h.hexdigest(), config=cfg))
    return plans, lib_source


def _flash_plans(cf: ClassFile, firmware: str | None, version: str | None) -> list[_Plan]:
    """The image each board gets, checked before any port is opened."""
    from companion_app.firmware.image import inspect_image

    if (firmware is None) == (version is None):
        raise UsageError("say what to flash: --firmware FILE or --version V (not both)")
    images: dict[str | None, str] = {}
    if firmware is not None:
        inspect_image(firmware)  # a non-image is refused before any board is touched
        images = {b.board_id or cf.board_id: firmware for b in cf.boards}
    else:
        from companion_app.firmware.cache import FirmwareCache

        cache = FirmwareCache()
        for b in cf.boards:
            board_id = b.board_id or cf.board_id
            if board_id is None:
                raise UsageError(
                    f'--version needs the board type: add board = "esp32-devkit-v1" (see '
                    f"`iotkit boards`) at the top of {cf.path}, or give --firmware FILE."
                )
            if board_id not in images:
                images[board_id] = str(cache.find(board_id, version).path)
    digests = {path: _file_sha256(path) for path in set(images.values())}
    plans = []
    for b in cf.boards:
        board_id = b.board_id or cf.board_id
        image = images[board_id]
        plans.append(_Plan(b, digests[image], image=image, board_id=board_id))
    return plans


def _file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ----------------------------------------------------------------------------- one board


class _BoardRun:
    """One board's thread: its progress, its log, its work."""

    def __init__(
        self,
        plan: _Plan,
        action: str,
        cf: ClassFile,
        state: _State,
        report: Callable[[BoardProgress], None],
        cancel: threading.Event,
        comports: Iterable[Any] | None,
        lib_source: Callable[[str], list[Any]] | None,
        redo_all: bool,
    ) -> None:
        self.plan = plan
        self.action = action
        self.cf = cf
        self.state = state
        self.report = report
        self.cancel = cancel
        self.comports = comports
        self.lib_source = lib_source
        self.redo_all = redo_all
        name = plan.board.name
        self.log = _BoardLog(cf.log_path(plan.board), action)
        self.progress = BoardProgress(name, plan.board.port, "waiting", RUNNING, 0.0)
        self.progress.log = self.log.path
        self.started = time.monotonic()

    def stage(self, text: str) -> None:
        if text == self.progress.stage:
            return
        self.progress.stage = text
        self.progress.seconds = time.monotonic() - self.started
        self.log.write(f"stage: {text}")
        self.report(dataclasses.replace(self.progress))

    def finish(self, result: str, error: str | None = None) -> None:
        self.progress.result = result
        self.progress.error = secrets.mask_text(error) if error else None
        self.progress.seconds = time.monotonic() - self.started
        if result == OK:
            self.progress.stage = "done"
        self.log.write(f"result: {result}" + (f": {self.progress.error}" if error else ""))
        self.report(dataclasses.replace(self.progress))

    def run(self) -> BoardProgress:
        try:
            self._run()
        except IotkitError as exc:
            self.finish(FAILED, str(exc))
        except Exception as exc:  # noqa: BLE001 - our bug: this board fails, the others go on
            log.exception("class %s of board %s failed", self.action, self.plan.board.name)
            self.finish(
                FAILED,
                f"unexpected error ({type(exc).__name__}), a bug of ours: run the command with "
                "`iotkit -v` to see the details, and report it",
            )
        return dataclasses.replace(self.progress)

    def _run(self) -> None:
        board = self.plan.board
        if not self.redo_all and self.state.done(self.action, board.name, self.plan.digest):
            self.progress.stage = "already done"
            self.log.write("already done with the same inputs: skipped (use --all to redo)")
            self.finish(SKIPPED)
            return
        if self.cancel.is_set():
            raise BoardFailed("Stopped before it started: nothing was sent to this board.")
        self.stage("finding port")
        port, note = find_port(board, self.comports)
        self.progress.port = port
        self.progress.note = note
        self.log.write(f"port: {port}" + (f" ({note})" if note else ""))
        if self.action == "flash":
            self._flash(port)
        else:
            self._deploy(port)
        self.state.record(self.action, board.name, self.plan.digest, port)
        self.finish(OK)

    def _flash(self, port: str) -> None:
        from companion_app.firmware.flasher import Flasher

        def on_progress(p: Any) -> None:
            pct = f" {p.percent:3.0f}%" if p.percent is not None else ""
            self.stage(f"{p.stage.lower()}{pct}")

        assert self.plan.image is not None
        self.log.write(f"image: {self.plan.image} (sha256 {self.plan.digest})")
        self.stage("connecting")
        flasher = Flasher(
            port, on_progress=on_progress, cancel=self.cancel, board=self.plan.board_id
        )
        result = flasher.flash(self.plan.image)
        if result.board is not None:
            self.log.write(f"chip: {result.board.description}, MAC {result.board.mac}")
        for n in result.notes:
            self.log.write(f"note: {n}")
        if not result.ok:
            raise BoardFailed(result.error or "the flash did not finish")

    def _deploy(self, port: str) -> None:
        from companion_app.device import deploy as engine
        from companion_app.device.link import Link

        assert self.plan.config is not None
        self.log.write(f"config: {json.dumps(engine.masked(self.plan.config), sort_keys=True)}")

        def on_event(e: Any) -> None:
            if e.kind == "stage" and e.text:
                self.stage(e.text.rstrip(".…").lower())
            elif e.kind == "progress" and e.total:
                self.stage(f"sending {e.done * 100 // e.total}%")
            elif e.kind == "file":
                self.log.write(f"file: {e.text} {e.path or ''}".rstrip())

        self.stage("connecting")
        with Link(port, baudrate=self.cf.baud) as link:
            result, _cfg = engine.deploy_templates(
                link,
                self.cf.templates,
                self.plan.config,
                lib_source=self.lib_source,
                cancel=self.cancel,
                on_event=on_event,
                first_output_s=FIRST_OUTPUT_S,
            )
        sent = result.sent_files
        self.log.write(
            f"sent {len(sent)} files ({result.wire_bytes} bytes on the wire) in "
            f"{result.seconds:.1f} s"
        )
        for n in result.notes:
            self.log.write(f"note: {n}")
        if result.first_output.strip():
            self.log.write("--- the board's first output ---")
            self.log.write(result.first_output[:LOG_FIRST_OUTPUT_CHARS])


# ----------------------------------------------------------------------------- the class


def run_class(
    cf: ClassFile,
    action: str,
    *,
    firmware: str | None = None,
    version: str | None = None,
    redo_all: bool = False,
    on_progress: Callable[[BoardProgress], None] | None = None,
    cancel: threading.Event | None = None,
    comports: Iterable[Any] | None = None,
) -> list[BoardProgress]:
    """Flash or deploy every board of the class in parallel; one BoardProgress per board, in
    the class file's order. Raises only for what stops every board (a bad image, a library
    that cannot be fetched); a board's own failure is its result. Blocking: run it in a worker
    thread in a GUI. `comports` (ListPortInfo-like objects) is for tests."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {ACTIONS}, not {action!r}")
    cancel = cancel or threading.Event()
    report = on_progress or (lambda p: None)
    lib_source = None
    if action == "flash":
        plans = _flash_plans(cf, firmware, version)
    else:
        plans, lib_source = _deploy_plans(cf)
    try:
        cf.logs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IotkitError(
            f"Cannot make the log folder {cf.logs_dir}: {exc.strerror or exc}. Put the class "
            "file in a folder you can write to."
        ) from None
    comport_list = list(comports) if comports is not None else None
    state = _State(state_path(cf))
    runs = [
        _BoardRun(plan, action, cf, state, report, cancel, comport_list, lib_source, redo_all)
        for plan in plans
    ]
    results: list[BoardProgress | None] = [None] * len(runs)

    def work(i: int) -> None:
        results[i] = runs[i].run()

    threads = [
        threading.Thread(target=work, args=(i,), name=f"iotkit-class-{r.plan.board.name}")
        for i, r in enumerate(runs)
    ]
    log.info("class %s of %s: %d boards", action, cf.name, len(runs))
    for r in runs:
        report(dataclasses.replace(r.progress))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [r for r in results if r is not None]
