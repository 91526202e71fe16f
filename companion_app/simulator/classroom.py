"""A virtual classroom: N virtual boards at once, for practice and for the class tests.

Why, in steps:

1. A teacher tries `iotkit class deploy` and the class dashboard before the lab has boards, and
   the tests of issue 16 need 8 to 30 boards on one broker. `iotkit sim --count N` and
   `start_virtual_class(N)` give them: N `VirtualBoard`s with the same options.
2. Each board has its own flash folder, `DIR/board-01` … `DIR/board-NN`, so a file deployed to
   one is absent on the others, as on real boards. Without a folder they go beside the single
   board's default flash, under `<user data>/virtual-boards/<board>/class/` (never inside it:
   they would show up as files on that board).
3. Each board looks like a different chip: its own `machine.unique_id()`, and so its own MAC
   (the templates build their MQTT client id from it; one broker drops a client when another
   connects with the same id). It is made from the board id and the flash folder, so it stays
   the same from run to run, as a real board's chip and flash do.
4. The boards start in parallel threads: a start is mostly spawning the interpreter's processes
   and writing files, so eight started one after another took about eight times one.
5. If one board fails to start, the started ones are stopped and the one error names the board
   (1-based, as the person counts) and says why; a port range is checked free before any
   board starts, so the usual mistake leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any, Sequence

from companion_app import secrets
from companion_app.boards import DEFAULT_BOARD
from companion_app.errors import IotkitError, UsageError
from companion_app.simulator.endpoint import PortInUseError, listen
from companion_app.simulator.host import (
    UNIQUE_ID_BYTES,
    VirtualBoard,
    check_flash_dir,
    default_flash_dir,
)

log = logging.getLogger(__name__)

MIN_CLASS_SIZE = 1
# 64: two labs of 30 with room to spare. Each board is two processes (the launcher and the
# interpreter) and about 40 MB of memory, so a larger class would swamp a teacher's PC.
MAX_CLASS_SIZE = 64
CLASS_FOLDER = "class"  # the default flash folders: <data>/virtual-boards/<board>/class/board-NN
LAST_TCP_PORT = 65535


class VirtualClassError(IotkitError):
    """One board of a virtual classroom did not start; the others were stopped."""


def check_class_size(count: int) -> int:
    """A class has MIN_CLASS_SIZE to MAX_CLASS_SIZE boards (`--count N`)."""
    if not MIN_CLASS_SIZE <= count <= MAX_CLASS_SIZE:
        raise UsageError(
            f"--count takes {MIN_CLASS_SIZE} to {MAX_CLASS_SIZE} virtual boards; got {count}"
        )
    return count


def board_folder_name(index: int) -> str:
    """The flash folder of board `index` (1-based): board-01, board-02, …"""
    return f"board-{index:02d}"


def class_flash_dirs(
    count: int, flash_dir: str | os.PathLike[str] | None, board: str = DEFAULT_BOARD
) -> list[Path]:
    """Every board's flash folder, in order: FLASH_DIR/board-NN, or under the default one."""
    parent = Path(flash_dir) if flash_dir is not None else class_default_dir(board)
    return [parent / board_folder_name(i) for i in range(1, count + 1)]


def class_default_dir(board: str) -> Path:
    """Where a class's flash folders go without --flash-dir: beside the single board's flash."""
    return default_flash_dir(board).parent / CLASS_FOLDER


def chip_unique_id(board: str, flash_dir: str | os.PathLike[str]) -> bytes:
    """The 6 bytes a board's machine.unique_id() returns: one per flash folder, stable.

    The first byte marks a locally administered, unicast MAC (bits 1 and 0 = 1, 0), as a
    virtual network card's MAC is; no real vendor's address can be taken by mistake.
    """
    seed = f"{board}|{Path(flash_dir).resolve()}".encode("utf-8")
    digest = bytearray(hashlib.sha256(seed).digest()[:UNIQUE_ID_BYTES])
    digest[0] = (digest[0] & 0xFC) | 0x02
    return bytes(digest)


def class_ports(first: int | None, count: int, option: str, lan: bool = False) -> list[int | None]:
    """The port of each board for `option` (--tcp or --webrepl): None = not served; 0 = each
    any free port; P = P, P+1, …, P+count-1, every one checked free before a board starts."""
    if first is None or first == 0:
        return [first] * count
    last = first + count - 1
    if last > LAST_TCP_PORT:
        raise UsageError(
            f"{option} {first} with --count {count} needs the ports {first} to {last}, but TCP "
            f"ports end at {LAST_TCP_PORT}: give a lower port, or 0 for any free ports"
        )
    for index, port in enumerate(range(first, last + 1), start=1):
        try:
            listen(port, lan).close()
        except PortInUseError as exc:
            raise PortInUseError(
                f"Virtual board {index} of {count} was to listen on {option} port {port}: " f"{exc}"
            ) from None
    return list(range(first, last + 1))


def _check_disjoint(tcp: Sequence[int | None], webrepl: Sequence[int | None]) -> None:
    """Fixed --tcp and --webrepl ranges must not overlap (each port serves one thing)."""
    shared = sorted({p for p in tcp if p} & {p for p in webrepl if p})
    if shared:
        raise UsageError(
            f"--tcp and --webrepl would both use port {shared[0]}: give ranges that do not "
            "overlap, or 0 for any free ports"
        )


def start_virtual_class(count: int, **board_kwargs: Any) -> list[VirtualBoard]:
    """Start `count` virtual boards at once; returns them in order, every one serving its
    ports (each interpreter boots within a fraction of a second; a client's connect waits).

    `board_kwargs` are VirtualBoard's, applied to every board, except that `flash_dir` is the
    folder holding each board's own (board-01 …), and a `tcp_port` or `webrepl_port` P other
    than 0 is the first of a range (P, P+1, …). Raises UsageError for a wrong size or port
    range, PortInUseError for a taken port, VirtualClassError when a board fails to start
    (the others are stopped first).
    """
    check_class_size(count)
    if "unique_id" in board_kwargs:
        raise TypeError("start_virtual_class gives each board its own unique_id")
    kwargs = dict(board_kwargs)
    board = kwargs.get("board", DEFAULT_BOARD)
    flash_root = kwargs.pop("flash_dir", None)
    lan = bool(kwargs.get("lan", False))
    if flash_root is not None:
        check_flash_dir(flash_root)
    dirs = class_flash_dirs(count, flash_root, board)
    for folder in dirs:
        check_flash_dir(folder)
    tcp = class_ports(kwargs.pop("tcp_port", None), count, "--tcp", lan)
    webrepl = class_ports(kwargs.pop("webrepl_port", None), count, "--webrepl", lan)
    _check_disjoint(tcp, webrepl)
    boards = [
        VirtualBoard(
            flash_dir=folder,
            tcp_port=tcp[i],
            webrepl_port=webrepl[i],
            unique_id=chip_unique_id(board, folder),
            **kwargs,
        )
        for i, folder in enumerate(dirs)
    ]
    for vb in boards:
        if vb.webrepl_password:  # each board's own random one, unless one was given for all
            secrets.remember(vb.webrepl_password)  # masked in every log record and message
    errors: dict[int, BaseException] = {}

    def start(index: int) -> None:
        try:
            boards[index].start()
        except BaseException as exc:  # reported below, for the board that failed
            errors[index] = exc

    threads = [
        threading.Thread(target=start, args=(i,), name=f"class-start-{i + 1}", daemon=True)
        for i in range(count)
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    except BaseException:
        # Ctrl-C while starting: let the starts finish (they do not wait for anything slow),
        # then power every board off, so no interpreter outlives this process.
        for t in threads:
            t.join()
        stop_virtual_class(boards)
        raise
    if errors:
        stop_virtual_class(boards)
        index = min(errors)
        exc = errors[index]
        # The traceback for the log only (debug: `iotkit -v`); the person gets one sentence.
        log.debug("virtual board %d of %d did not start", index + 1, count, exc_info=exc)
        why = str(exc) if isinstance(exc, IotkitError) else f"{type(exc).__name__}: {exc}"
        failure = VirtualClassError(f"Virtual board {index + 1} of {count} did not start: {why}")
        failure.exit_code = getattr(exc, "exit_code", VirtualClassError.exit_code)
        raise failure from exc
    log.info("virtual class of %d %s boards ready", count, board)
    return boards


def stop_virtual_class(boards: Sequence[VirtualBoard]) -> None:
    """Power every board off, in parallel (each stop may wait a second or two for its
    interpreter). A board that fails to stop is logged; the others are stopped anyway."""

    def stop(vb: VirtualBoard) -> None:
        try:
            vb.stop()
        except Exception:
            log.exception("a virtual board of the class did not stop cleanly")

    threads = [
        threading.Thread(target=stop, args=(vb,), name="class-stop", daemon=True) for vb in boards
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
