"""Where the MicroPython libraries the templates need come from, and the cache that keeps them.

device_scripts/manifest.json names each library and its source:

- "pip": copied from a package installed with thonny-iotkit (microdot). The pip package is the
  same code micropython-lib users run, and installing it with us pins the version we tested.
- "pypi-sdist": micropython-lib packages that are not pip-installable (umqtt.simple ships an
  sdist without setup.py). We fetch the sdist once from PyPI's file host, check it against the
  sha256 pinned in the manifest, and keep it in a cache folder, so a classroom downloads it once
  (IOTKIT_LIB_CACHE points every PC at a shared folder, as IOTKIT_FIRMWARE_CACHE does for
  firmware). Official ESP32/ESP8266 firmware has umqtt.simple frozen in; the deploy asks the
  board first and skips the library when it can already import it.

Nothing here talks to a board; the deploy engine turns these files into LocalFile entries.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import logging
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from companion_app import paths
from companion_app.device.manifest import manifest
from companion_app.errors import IotkitError

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_S = 30
PYPI_FILES = "https://files.pythonhosted.org/packages"
PYPI_JSON = "https://pypi.org/pypi/{package}/{version}/json"

# Known sdist addresses (PyPI's file host is content-addressed, so an address never changes).
# Any other version is looked up once through PyPI's JSON API.
KNOWN_SDISTS = {
    ("micropython-umqtt.simple", "1.3.4"): PYPI_FILES
    + "/bd/cf/697e3418b2f44222b3e848078b1e33ee76aedca9b6c2430ca1b1aec1ce1d/"
    "micropython-umqtt.simple-1.3.4.tar.gz",
    ("micropython-umqtt.robust", "1.0"): PYPI_FILES
    + "/31/02/7268a19a5054cff8ff4cbbb126f00f098848dbe8f402caf083295a3a6a11/"
    "micropython-umqtt.robust-1.0.tar.gz",
}


class LibraryError(IotkitError):
    """A library a template needs is not available; the message says how to get it."""


@dataclass(frozen=True)
class LibFile:
    """One file of a library, with where it goes on the board."""

    dest: str  # "/lib/umqtt/simple.py"
    data: bytes


def lib_cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    return paths.cache_dir("libs", "IOTKIT_LIB_CACHE", override)


def lib_names() -> list[str]:
    return sorted(manifest()["libs"])


def lib_info(name: str) -> dict:
    try:
        return dict(manifest()["libs"][name], name=name)
    except KeyError:
        raise LibraryError(
            f"Unknown library {name!r}. Known libraries: {', '.join(lib_names())}."
        ) from None


def import_name(name: str) -> str | None:
    """The module a board would import to have this library, if it may be built in."""
    return lib_info(name).get("import")


def lib_files(
    name: str,
    cache: str | os.PathLike[str] | None = None,
    download: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> list[LibFile]:
    """The files of library `name`, ready to copy to the board."""
    info = lib_info(name)
    source = info.get("source")
    if source == "pip":
        return _from_pip(info)
    if source == "pypi-sdist":
        return _from_sdist(info, lib_cache_dir(cache), download, progress)
    raise LibraryError(f"The library {name} has an unknown source {source!r} in the manifest.")


def fetch_lib(
    name: str, cache: str | os.PathLike[str] | None = None, download: bool = True
) -> dict[str, bytes]:
    """The files of library `name` as {board path: bytes} (from pip, or the cache / PyPI)."""
    return {f.dest: f.data for f in lib_files(name, cache=cache, download=download)}


def _dest(info: dict, rel: str) -> str:
    base = info["dest"].rstrip("/") + "/"
    # "umqtt/simple.py" goes to /lib/umqtt/ as simple.py: the dest folder is the package's.
    return base + rel.rsplit("/", 1)[-1]


def _from_pip(info: dict) -> list[LibFile]:
    package = info["package"]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise LibraryError(
            f"The library {info['name']} comes from the Python package {package}, which is not "
            f"installed. Reinstall thonny-iotkit, or run: pip install {package}"
        )
    folder = Path(list(spec.submodule_search_locations)[0])
    files = []
    for rel in info["files"]:
        path = folder / rel
        try:
            files.append(LibFile(_dest(info, rel), path.read_bytes()))
        except OSError as exc:
            raise LibraryError(
                f"The package {package} is incomplete ({path} is missing: {exc.strerror}). "
                f"Reinstall it: pip install --force-reinstall {package}"
            ) from None
    return files


def sdist_filename(info: dict) -> str:
    return f"{info['package']}-{info['version']}.tar.gz"


def _from_sdist(
    info: dict, folder: Path, download: bool, progress: Callable[[int, int], None] | None
) -> list[LibFile]:
    path = folder / sdist_filename(info)
    data = _read_verified(path, info["sha256"])
    if data is None:
        if not download:
            raise LibraryError(_offline_text(info, folder))
        data = _download(info, folder, progress)
    return _extract(info, data)


def _read_verified(path: Path, sha256: str) -> bytes | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() != sha256:
        log.warning("cached %s does not match its pinned sha256; fetching it again", path)
        return None
    return data


def _offline_text(info: dict, folder: Path) -> str:
    return (
        f"The library {info['name']} is not in the cache ({folder}) and downloading is off. "
        f"Put {sdist_filename(info)} from PyPI's {info['package']} {info['version']} there, "
        "or connect to the internet once."
    )


def sdist_url(info: dict) -> str:
    known = KNOWN_SDISTS.get((info["package"], info["version"]))
    if known:
        return known
    url = PYPI_JSON.format(package=info["package"], version=info["version"])
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
        meta = json.loads(resp.read().decode("utf-8"))
    for item in meta.get("urls", []):
        if item.get("packagetype") == "sdist":
            return str(item["url"])
    raise LibraryError(f"PyPI lists no source archive for {info['package']} {info['version']}.")


def _download(info: dict, folder: Path, progress: Callable[[int, int], None] | None) -> bytes:
    try:
        url = sdist_url(info)
        log.info("downloading %s", url)
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
            total = int(resp.headers.get("Content-Length") or 0)
            buf = bytearray()
            while True:
                block = resp.read(65536)
                if not block:
                    break
                buf += block
                if progress:
                    progress(len(buf), total)
        data = bytes(buf)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise LibraryError(
            f"The library {info['name']} is not built into this board and downloading it from "
            f"PyPI failed ({reason}). Connect to the internet and deploy again, or put "
            f"{sdist_filename(info)} into {folder} (set IOTKIT_LIB_CACHE to use a shared folder)."
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != info["sha256"]:
        raise LibraryError(
            f"The download of {info['package']} {info['version']} does not match the checksum "
            "pinned in thonny-iotkit, so it was not used. Try again later; if it repeats, "
            "report it to the thonny-iotkit project."
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".download-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, folder / sdist_filename(info))
    except OSError as exc:
        # A read-only shared cache must not stop the deploy: we have the verified bytes.
        log.warning("could not cache %s in %s: %s", sdist_filename(info), folder, exc)
    return data


def _extract(info: dict, data: bytes) -> list[LibFile]:
    wanted = {rel: None for rel in info["files"]}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar.getmembers():
                if not member.isfile():
                    continue
                # sdists hold one top folder, "package-version/"; match the rest of the path.
                rel = member.name.split("/", 1)[-1]
                if rel in wanted and wanted[rel] is None:
                    f = tar.extractfile(member)
                    if f is not None:
                        wanted[rel] = f.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise LibraryError(f"The archive of {info['package']} is damaged ({exc}).") from None
    missing = [rel for rel, body in wanted.items() if body is None]
    if missing:
        raise LibraryError(
            f"The archive of {info['package']} {info['version']} lacks {', '.join(missing)}."
        )
    return [LibFile(_dest(info, rel), body) for rel, body in wanted.items() if body is not None]
