"""The firmware cache: board -> MicroPython versions on disk, filled from micropython.org.

A lab points every PC at one shared folder (`IOTKIT_FIRMWARE_CACHE` or `--cache`), downloads
once, and flashes 30 boards with no internet. `index.json` in the folder lists what is there
with each file's size and SHA-256, so a damaged or half-copied file is caught before flashing.

Downloads read the board's page on micropython.org (`/download/<BOARD>/`) for the firmware
links, `/resources/firmware/<BOARD>-<date>-<version>.<ext>`. micropython.org publishes no hash,
so a download is checked against the server's Content-Length and the hash is recorded then.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from companion_app import paths
from companion_app.errors import IotkitError

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://micropython.org"
INDEX = "index.json"
DOWNLOAD_TIMEOUT_S = 30
CHUNK = 64 * 1024


class FirmwareCacheError(IotkitError):
    """The firmware for a board is not in the cache and could not be fetched."""


@dataclass(frozen=True)
class CachedFirmware:
    board: str
    version: str  # "v1.24.1"
    date: str  # "20241129"
    path: Path
    size: int
    sha256: str
    url: str | None = None


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    return paths.cache_dir("firmware", "IOTKIT_FIRMWARE_CACHE", override)


@lru_cache(maxsize=1)
def _boards() -> dict[str, dict[str, str]]:
    text = resources.files("companion_app.firmware").joinpath("micropython_boards.json")
    return json.loads(text.read_text(encoding="utf-8"))["boards"]


def micropython_board(board_id: str) -> dict[str, str]:
    try:
        return _boards()[board_id]
    except KeyError:
        from companion_app.boards import load_board

        load_board(board_id)  # raises UnknownBoardError with the list of ids
        raise FirmwareCacheError(f"No MicroPython firmware is known for {board_id}.") from None


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version)[:3])


def _is_release(version: str) -> bool:
    return re.fullmatch(r"v\d+\.\d+\.\d+", version) is not None


class FirmwareCache:
    def __init__(
        self, folder: str | os.PathLike[str] | None = None, base_url: str | None = None
    ) -> None:
        self.folder = cache_dir(folder)
        self.base_url = (
            base_url or os.environ.get("IOTKIT_FIRMWARE_URL") or DEFAULT_BASE_URL
        ).rstrip("/")

    # -- index ----------------------------------------------------------------------------

    def _index(self) -> dict[str, Any]:
        if self.folder.exists() and not self.folder.is_dir():
            raise FirmwareCacheError(
                f"{self.folder} is a file, not a folder. The firmware cache (--cache or "
                "IOTKIT_FIRMWARE_CACHE) is a folder: give a folder, or leave it out."
            )
        try:
            return json.loads((self.folder / INDEX).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"version": 1, "boards": {}}
        except (OSError, ValueError) as exc:
            raise FirmwareCacheError(
                f"The firmware cache index {self.folder / INDEX} is damaged ({exc}). Delete it; "
                "the firmware files stay and downloads will list them again."
            ) from None

    def _save_index(self, index: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".index-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(index, f, indent=2, sort_keys=True)
        os.replace(tmp, self.folder / INDEX)

    def versions(self, board_id: str) -> list[CachedFirmware]:
        """What the cache holds for a board, newest first."""
        entries = self._index()["boards"].get(board_id, [])
        out = [
            CachedFirmware(
                board_id,
                e["version"],
                e["date"],
                self.folder / e["file"],
                e["size"],
                e["sha256"],
                e.get("url"),
            )
            for e in entries
        ]
        return sorted(out, key=lambda c: (_version_key(c.version), c.date), reverse=True)

    def add(
        self,
        board_id: str,
        path: str | os.PathLike[str],
        version: str,
        date: str = "",
        url: str | None = None,
    ) -> CachedFirmware:
        """Put a local file in the cache (a teacher's USB stick, or a finished download)."""
        src = Path(path)
        data = src.read_bytes()
        name = src.name
        dest = self.folder / name
        self.folder.mkdir(parents=True, exist_ok=True)
        if src.resolve() != dest.resolve():
            tmp = dest.with_name(f".{name}.part")
            tmp.write_bytes(data)
            os.replace(tmp, dest)
        entry = {
            "version": version,
            "date": date,
            "file": name,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "url": url,
        }
        index = self._index()
        entries = [e for e in index["boards"].get(board_id, []) if e["file"] != name]
        index["boards"][board_id] = entries + [entry]
        self._save_index(index)
        return CachedFirmware(board_id, version, date, dest, entry["size"], entry["sha256"], url)

    def verify(self, item: CachedFirmware) -> None:
        """The file is there, whole and unchanged since it was cached."""
        try:
            data = item.path.read_bytes()
        except FileNotFoundError:
            raise FirmwareCacheError(
                f"The cache lists {item.path.name} for {item.board}, but the file is gone. "
                "Download it again (remove it from index.json, or flash with --version)."
            ) from None
        if len(data) != item.size or hashlib.sha256(data).hexdigest() != item.sha256:
            raise FirmwareCacheError(
                f"{item.path} is damaged: it is not the file that was cached ({len(data):,} "
                f"bytes, expected {item.size:,}, or a different hash). Delete it and download "
                "it again."
            )

    # -- picking and downloading ------------------------------------------------------------

    def find(
        self,
        board_id: str,
        version: str | None = None,
        download: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> CachedFirmware:
        """The image to flash for a board: from the cache, else downloaded into it."""
        micropython_board(board_id)
        wanted = _normalise(version)
        for item in self.versions(board_id):
            if wanted is None and not _is_release(item.version):
                continue
            if wanted is None or item.version == wanted:
                self.verify(item)
                return item
        if not download:
            raise FirmwareCacheError(self._missing(board_id, wanted))
        return self.download(board_id, wanted, progress)

    def _missing(self, board_id: str, version: str | None) -> str:
        have = ", ".join(c.version for c in self.versions(board_id)) or "nothing"
        what = f"MicroPython {version}" if version else "MicroPython release"
        return (
            f"The firmware cache ({self.folder}) has no {what} for {board_id} (it has "
            f"{have}). Connect to the internet to download it, or flash a file you already "
            "have with --firmware FILE."
        )

    def available(self, board_id: str) -> list[tuple[str, str, str]]:
        """(version, date, url) of each firmware on the board's download page, newest first."""
        mp = micropython_board(board_id)
        page_url = f"{self.base_url}/download/{mp['micropython']}/"
        try:
            with urllib.request.urlopen(page_url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
                html = resp.read().decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as exc:
            raise FirmwareCacheError(
                f"Could not reach {page_url} ({_reason(exc)}). Check the internet connection, "
                "or use a firmware file you already have with --firmware."
            ) from None
        pattern = re.compile(
            r'href="([^"]*/resources/firmware/'
            + re.escape(mp["micropython"])
            + r"-(\d{8})-(v\d+\.\d+\.\d+[\w.+-]*)\."
            + mp["ext"]
            + r')"'
        )
        found = {}
        for href, date, ver in pattern.findall(html):
            url = href if href.startswith("http") else self.base_url + href
            found[(ver, date)] = url
        return sorted(
            ((v, d, u) for (v, d), u in found.items()),
            key=lambda x: (_version_key(x[0]), x[1]),
            reverse=True,
        )

    def download(
        self,
        board_id: str,
        version: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> CachedFirmware:
        candidates = [
            c
            for c in self.available(board_id)
            if (version is None and _is_release(c[0])) or c[0] == version
        ]
        if not candidates:
            raise FirmwareCacheError(
                f"micropython.org lists no {'MicroPython ' + version if version else 'release'}"
                f" for {board_id}. Run without --version for the newest release."
            )
        ver, date, url = candidates[0]
        name = url.rsplit("/", 1)[-1]
        self.folder.mkdir(parents=True, exist_ok=True)
        part = self.folder / f".{name}.part"
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
                expected = int(resp.headers.get("Content-Length") or 0)
                got = 0
                with open(part, "wb") as f:
                    while True:
                        chunk = resp.read(CHUNK)
                        if not chunk:
                            break
                        f.write(chunk)
                        got += len(chunk)
                        if progress is not None:
                            progress(got, expected)
        except (urllib.error.URLError, OSError) as exc:
            part.unlink(missing_ok=True)
            raise FirmwareCacheError(
                f"Downloading {url} failed ({_reason(exc)}). Try again; nothing was cached."
            ) from None
        if expected and got != expected:
            part.unlink(missing_ok=True)
            raise FirmwareCacheError(
                f"The download of {name} stopped early ({got:,} of {expected:,} bytes). Try "
                "again; nothing was cached."
            )
        from companion_app.firmware.image import ImageError, inspect_image

        try:
            inspect_image(part, name=name)
        except ImageError as exc:
            part.unlink(missing_ok=True)
            raise FirmwareCacheError(f"The downloaded file is not usable: {exc}") from None
        final = self.folder / name
        os.replace(part, final)
        return self.add(board_id, final, ver, date, url)


#: What --version accepts: MicroPython's own version names, "1.24.1" or "v1.24.1", previews too.
_VERSION_NAME = re.compile(r"v?\d+\.\d+\.\d+(?:[-+][\w.+-]+)?")


def _normalise(version: str | None) -> str | None:
    if version is None or version.strip() in ("", "latest"):
        return None
    version = version.strip()
    if not _VERSION_NAME.fullmatch(version):
        raise FirmwareCacheError(
            f"{version!r} is not a MicroPython version. Give one such as 1.24.1, or leave "
            "--version out for the newest release."
        )
    return version if version.startswith("v") else "v" + version


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc)
