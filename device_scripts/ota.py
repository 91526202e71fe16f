# ota.py - safe over-the-air updates: new program files from a web server, with rollback.
#
# Put your new files and a manifest.json on any web server (ota_url in config.json):
#
#     {"version": "1.2",
#      "files": [{"path": "main.py", "size": 1834, "sha256": "9f86d0..."},
#                {"path": "lib/helpers.py", "size": 410, "sha256": "..."}]}
#
# size = the file's length in bytes; sha256 = what `sha256sum FILE` (Linux, macOS) or
# `certutil -hashfile FILE SHA256` (Windows) prints. Raise "version" for every release.
#
# From the REPL:   import ota, config
#                  ota.check(config.load())    # is there a new version?
#                  ota.update(config.load())   # download, check, install (then reset)
# From main.py:    "ota" in "parts" runs ota.run(cfg): a check every ota_check_s seconds,
#                  downloading while the other parts keep running.
#
# How it never leaves a broken board:
# 1. Every file is downloaded to /ota_tmp/ first and checked against the manifest's size
#    and sha256. Any problem: the downloads are deleted, your files are untouched.
# 2. The plan (which files, which version) is saved in /ota_state.json BEFORE any file is
#    moved. Each old file is moved to /ota_backup/, then the new one into its place. If the
#    power goes in the middle, on_boot() (called by boot.py) finishes the job.
# 3. The new version is "on trial": boot.py counts its boots. main.py calls mark_good()
#    once everything has run for a while (ota_good_after_s). If that does not happen within
#    MAX_TRIAL_BOOTS boots, the old files come back from /ota_backup/ and the failed version
#    is remembered, so it is not installed again automatically.
#
#    While a new version is on trial, boot.py also arms the watchdog (machine.WDT, which
#    cannot be stopped again): main.py feeds it while its parts run. So a version whose
#    main.py crashes at import (the board would sit at >>>) or hangs in a loop resets the
#    board by itself, and its boots run out: the rollback needs nobody to press reset.
# 4. Downloads never stop the other parts: they run as asyncio tasks, and every download
#    has a deadline (ota_timeout_s for the manifest; for a file, that plus a second per
#    MIN_BYTES_PER_S bytes), so a server that sends one byte now and then is given up on.
#
# What an update may replace (anything else in the manifest refuses the whole update):
# - files at the top level or under lib/, with letters, digits, _ - . in their names,
# - ending in .py .mpy .html .css .js .json or .txt,
# - never boot.py, ota.py (they undo a bad update, so a bad update must not replace them;
#   update them with `iotkit deploy` over USB) nor config.json (your settings and Wi-Fi
#   password) nor our own ota_* files, nor a module that would hide one that boot.py and
#   ota.py import (json.py on the flash is imported instead of the built-in json).
# Names are compared without regard to case, because the FAT file system ignores it:
# CONFIG.json, Boot.py and LIB/ are the same files as config.json, boot.py and lib/.
#
# The sha256 check catches broken and cut-short downloads, not an attacker: whoever can
# change the manifest can change its hashes too. Use a server and network you trust.
# Plain http:// and https:// (where the firmware's asyncio has TLS); up to MAX_REDIRECTS
# redirects are followed. Looking up the server's name (DNS) blocks the board for a moment
# and cannot be cut short on MicroPython: an IP address in ota_url avoids it.

import binascii
import hashlib
import json
import os
import time

STATE_FILE = "/ota_state.json"
TMP_DIR = "/ota_tmp"  # downloads land here first
BACKUP_DIR = "/ota_backup"  # the old files, until the new version is marked good
MAX_TRIAL_BOOTS = 3  # boots a new version gets to call mark_good() before it is rolled back
MAX_FAILED_REMEMBERED = 10  # rolled-back versions never installed again automatically
CHUNK = 512  # download piece size: small, so a big file never has to fit in memory
# The next defaults are config.py's DEFAULTS (one value each; a test checks they agree). They are
# here too for a /config.json read without config.py, and for an older config.py.
DEFAULT_TIMEOUT_S = 30  # ota_timeout_s: the longest the manifest (or a file's start) may take
MIN_BYTES_PER_S = 1024  # a file gets one more second per this many bytes
MAX_HEADER_BYTES = 2048  # an HTTP answer's status line and headers together
MAX_REDIRECTS = 3
MAX_MANIFEST_BYTES = 8192
MAX_FILES = 50
MAX_FILE_BYTES = 256 * 1024
SPACE_MARGIN = 16 * 1024  # free space left over after the downloads (logs need room too)
ALLOWED_ENDINGS = (".py", ".mpy", ".html", ".css", ".js", ".json", ".txt")
PROTECTED = ("boot.py", "boot.mpy", "ota.py", "ota.mpy", "config.json")
# Modules boot.py and ota.py import: a file of that name (top level or lib/) is imported instead
# of the built-in one, and would break the way back. Kept in lower case.
RECOVERY_IMPORTS = (
    "os json time hashlib binascii machine asyncio socket ssl select errno io sys micropython gc"
    " struct".split()
)
TRIAL_WDT_MS = 5000  # ota_watchdog_ms, on trial: ESP8266 takes only 5000, RP2040 at most 8388
WDT_FEED_MS = 1000  # how often it is fed: well inside ESP8266's real 1.6 s
NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-."
DEFAULT_CHECK_S = 3600  # ota_check_s
FIRST_CHECK_DELAY_S = 3  # run() lets the other parts start before its first check


class Refused(Exception):
    """An update we will not install; the text says why."""


class TooSlow(Exception):
    """A download that did not finish by its deadline; the text says which and how long."""


# ---- small file helpers (MicroPython has no os.path or shutil) ----------------------------


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _is_dir(path):
    try:
        return os.stat(path)[0] & 0x4000 != 0
    except OSError:
        return False


def _parent(path):
    return path.rsplit("/", 1)[0] or "/"


def _makedirs(path):
    done = ""
    for part in path.strip("/").split("/"):
        done += "/" + part
        if not _is_dir(done):
            os.mkdir(done)


def _rmtree(path):
    if not _is_dir(path):
        return
    for entry in list(os.ilistdir(path)):  # list first: deleting while listing skips files
        child = path + "/" + entry[0]
        if entry[1] & 0x4000:
            _rmtree(child)
        else:
            os.remove(child)
    os.rmdir(path)


# ---- the state file: which version runs, and what is half done ----------------------------


def _read_json(path):
    """The dict saved in path, or None when it is missing, half written or not a dict."""
    try:
        with open(path) as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return None
    return saved if isinstance(saved, dict) else None


def _load_state():
    state = {
        "version": None,
        "previous": None,
        "pending": False,
        "boots": 0,
        "failed": [],
        "step": "idle",
        "files": [],
        "added": [],
        "watchdog": False,  # armed since the last hard reset (a soft reboot keeps it running)
    }
    # The .new copy is complete whenever the main file is missing (see _save_state).
    saved = _read_json(STATE_FILE) or _read_json(STATE_FILE + ".new")
    if saved:
        state.update(saved)
    return state


def _save_state(state):
    """Write the state so that a power cut leaves either the old or the new state."""
    new = STATE_FILE + ".new"
    with open(new, "w") as f:
        json.dump(state, f)
    # One step on LittleFS. FAT removes the old file first: if the power goes just then,
    # _load_state() reads the complete .new copy.
    os.rename(new, STATE_FILE)


def installed_version():
    """The version the last update installed (None before the first update)."""
    return _load_state()["version"]


def pending():
    """True while a new version is on trial, i.e. not yet marked good."""
    return bool(_load_state()["pending"])


# ---- manifest ------------------------------------------------------------------------------


def _path_problem(path):
    """Why a manifest path may not be written, or None when it is fine."""
    if not isinstance(path, str) or not path:
        return "a file path must be a non-empty string"
    if path.startswith("/") or "\\" in path:
        return "paths are relative to the board's / and use / between folders"
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            return "'.', '..' and empty parts are not allowed"
        for ch in part:
            if ch not in NAME_CHARS:
                return "only letters, digits, _ - and . are allowed in names"
        if part.endswith("."):
            return "a name may not end with '.' (FAT drops it: a.py. would be a.py)"
    folded = path.lower()  # FAT ignores case: BOOT.py is boot.py
    if not any(folded.endswith(ending) for ending in ALLOWED_ENDINGS):
        return "only %s files can be updated" % " ".join(ALLOWED_ENDINGS)
    if len(parts) > 1 and parts[0].lower() != "lib":
        return "only files at the top level or under lib/ can be updated"
    if len(parts) == 1 and (folded in PROTECTED or folded.startswith("ota_")):
        return "this file is never replaced over the air (use iotkit deploy)"
    module = parts[1 if len(parts) > 1 else 0].lower().split(".")[0]  # a module or package
    if module in RECOVERY_IMPORTS:
        return "it would hide the built-in module %s that the updater needs" % module
    return None


def _check_manifest(manifest):
    """Raise Refused unless the manifest is well formed and every path is allowed."""
    if not isinstance(manifest, dict) or "version" not in manifest:
        raise Refused("it has no version")
    files = manifest.get("files")
    if not isinstance(files, list) or not files:
        raise Refused("it lists no files")
    if len(files) > MAX_FILES:
        raise Refused("it lists more than %d files" % MAX_FILES)
    seen = []
    for entry in files:
        if not isinstance(entry, dict):
            raise Refused("a file entry is not an object")
        path = entry.get("path")
        problem = _path_problem(path)
        if problem:
            raise Refused("%r: %s" % (path, problem))
        if path.lower() in seen:  # Main.py and main.py are one file on FAT
            raise Refused("%r is listed twice" % path)
        seen.append(path.lower())
        size = entry.get("size")
        if not isinstance(size, int) or size < 0 or size > MAX_FILE_BYTES:
            raise Refused("%r: size must be 0..%d bytes" % (path, MAX_FILE_BYTES))
        digest = entry.get("sha256")
        if not isinstance(digest, str) or len(digest) != 64:
            raise Refused("%r: sha256 must be 64 hex digits" % path)
        try:
            binascii.unhexlify(digest)
        except ValueError:
            raise Refused("%r: sha256 must be 64 hex digits" % path)


# ---- HTTP over asyncio streams, with a deadline --------------------------------------------


def _timeout_s(cfg):
    return cfg.get("ota_timeout_s", DEFAULT_TIMEOUT_S)


def _split_url(url):
    """(use_tls, host, port, path) of an http:// or https:// URL."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("http", "https"):
        raise Refused("%s is not an http:// or https:// address" % url)
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    tls = scheme == "https"
    try:
        port = int(port) if port else (443 if tls else 80)
    except ValueError:
        raise Refused("%s has a bad port number" % url)
    return tls, host, port, "/" + path


async def _within(awaitable, deadline, what):
    """Await it, but not past deadline (ticks_ms); TooSlow says which download was too slow."""
    import asyncio

    left = time.ticks_diff(deadline[0], time.ticks_ms())
    try:
        if left <= 0:
            raise asyncio.TimeoutError
        return await asyncio.wait_for_ms(awaitable, left)
    except asyncio.TimeoutError:
        raise TooSlow("%s did not arrive within %d s" % (what, deadline[1]))


class _Body:
    """The rest of an HTTP answer, read piece by piece before the deadline."""

    def __init__(self, stream, first, deadline, what):
        self.stream, self.first, self.deadline, self.what = stream, first, deadline, what

    async def read(self, n):
        if self.first:
            data, self.first = self.first[:n], self.first[n:]
            return data
        return await _within(self.stream.read(n), self.deadline, self.what)

    async def close(self):
        await _close(self.stream)


async def _close(stream):
    stream.close()
    await stream.wait_closed()  # MicroPython closes the socket here, not in close()


async def _get(url, deadline, what):
    """Open url (following redirects): a _Body to read once the server said 200 OK."""
    import asyncio

    for _ in range(MAX_REDIRECTS + 1):
        tls, host, port, path = _split_url(url)
        if tls:
            try:
                opening = asyncio.open_connection(host, port, ssl=True)
            except TypeError:  # an asyncio without TLS (before MicroPython 1.22)
                raise Refused("this firmware cannot fetch https:// addresses - use http://")
        else:
            opening = asyncio.open_connection(host, port)
        stream = (await _within(opening, deadline, what))[1]  # reader and writer are one
        try:
            stream.write(
                b"GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: iotkit-ota\r\n\r\n"
                % (path.encode(), host.encode())
            )
            await _within(stream.drain(), deadline, what)
            head = b""  # HTTP/1.0: no chunked answers, the end of the data ends the body
            while b"\r\n\r\n" not in head:
                if len(head) > MAX_HEADER_BYTES:
                    raise Refused("%s sent more than %d bytes of headers" % (url, MAX_HEADER_BYTES))
                data = await _within(stream.read(CHUNK), deadline, what)
                if not data:
                    raise OSError("%s closed the connection before answering" % host)
                head += data
            head, _, first = head.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            try:
                status = int(lines[0].split()[1])
            except (IndexError, ValueError):
                raise Refused("%s did not answer like a web server" % url)
            location = None
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"location":
                    location = value.strip().decode()
            if status in (301, 302, 303, 307, 308) and location:
                await _close(stream)
                url = (
                    location
                    if "://" in location
                    else "%s://%s:%d%s" % ("https" if tls else "http", host, port, location)
                )
                continue
            if status != 200:
                raise Refused("%s answered %d" % (url, status))
            return _Body(stream, first, deadline, what)
        except BaseException:
            await _close(stream)
            raise
    raise Refused("%s redirects more than %d times" % (url, MAX_REDIRECTS))


def _deadline(seconds):
    """[end in ticks_ms, seconds]: one deadline for everything a download awaits."""
    return [time.ticks_add(time.ticks_ms(), int(seconds * 1000)), seconds]


def _base(cfg):
    return (cfg.get("ota_url") or "").rstrip("/")


async def _fetch_manifest(cfg):
    base = _base(cfg)
    body = await _get(base + "/manifest.json", _deadline(_timeout_s(cfg)), "manifest.json")
    data = b""
    try:
        while len(data) <= MAX_MANIFEST_BYTES:
            piece = await body.read(CHUNK)
            if not piece:
                break
            data += piece
    finally:
        await body.close()
    if len(data) > MAX_MANIFEST_BYTES:
        raise Refused("manifest.json is bigger than %d bytes" % MAX_MANIFEST_BYTES)
    try:
        manifest = json.loads(data)
    except ValueError:
        raise Refused("manifest.json is not valid JSON")
    data = None
    _check_manifest(manifest)
    manifest["version"] = str(manifest["version"])
    return manifest


def check(cfg):
    """The manifest of a new version to install, or None (the reason is printed)."""
    import asyncio

    return asyncio.run(check_async(cfg))


async def check_async(cfg):
    """check() for a program that runs asyncio tasks: they keep running while it downloads."""
    base = _base(cfg)
    if not base:
        print("ota: ota_url is empty in config.json - nothing to check")
        return None
    state = _load_state()
    if state["pending"]:
        print(
            "ota: version %s is still on trial - no new update until it is marked good"
            % state["version"]
        )
        return None
    try:
        manifest = await _fetch_manifest(cfg)
    except Refused as e:
        print("ota: update refused: %s - nothing was changed" % e)
        return None
    except TooSlow as e:
        print("ota: gave up: %s from %s - nothing was changed, will try again later" % (e, base))
        return None
    except Exception as e:  # network trouble: no Wi-Fi, server down, connection refused
        print("ota: cannot reach %s (%r) - will try again later" % (base, e))
        return None
    version = manifest["version"]
    if version == state["version"]:
        print("ota: version %s is installed and up to date" % version)
        return None
    if version in state["failed"]:
        print(
            "ota: version %s failed before and was rolled back - not installing it again "
            "(publish it with a new version number)" % version
        )
        return None
    print("ota: version %s is available (installed: %s)" % (version, state["version"] or "?"))
    return manifest


# ---- download -----------------------------------------------------------------------------


def _free_bytes():
    try:
        st = os.statvfs("/")
        return st[0] * st[3]
    except (OSError, AttributeError):
        return None


async def _download(cfg, entry):
    """Fetch one file into TMP_DIR, checking its size and sha256 as it arrives."""
    path, size = entry["path"], entry["size"]
    tmp = TMP_DIR + "/" + path
    _makedirs(_parent(tmp))
    seconds = _timeout_s(cfg) + size // MIN_BYTES_PER_S
    body = await _get(_base(cfg) + "/" + path, _deadline(seconds), path)
    digest = hashlib.sha256()
    got = 0
    try:
        with open(tmp, "wb") as f:
            while True:
                # Ask for one byte more than is still due, so a too-long file shows.
                data = await body.read(min(CHUNK, size - got + 1))
                if not data:
                    break
                got += len(data)
                if got > size:
                    raise Refused("%s is longer than the %d bytes the manifest says" % (path, size))
                digest.update(data)
                f.write(data)
    finally:
        await body.close()
    if got != size:
        raise Refused("%s: got %d of %d bytes - the download was cut short" % (path, got, size))
    got_hash = binascii.hexlify(digest.digest()).decode()
    if got_hash != entry["sha256"].lower():
        raise Refused(
            "%s: its sha256 is %s, the manifest says %s - the file is damaged or "
            "the manifest is out of date" % (path, got_hash, entry["sha256"])
        )


def update(cfg):
    """Download, check and install a new version. True when one is installed (reset next).

    For the REPL. Inside an asyncio task, `await update_async(cfg)` instead (asyncio.run cannot
    run inside a running event loop).
    """
    import asyncio

    return asyncio.run(update_async(cfg))


async def update_async(cfg):
    """update() for a program that runs asyncio tasks: they keep running while it downloads."""
    manifest = await check_async(cfg)
    if manifest is None:
        return False
    version = manifest["version"]
    need = sum(entry["size"] for entry in manifest["files"]) + SPACE_MARGIN
    free = _free_bytes()
    if free is not None and free < need:
        print(
            "ota: update to %s needs %d bytes free, the board has %d - nothing was changed"
            % (version, need, free)
        )
        return False
    try:
        _rmtree(TMP_DIR)  # leftovers of an earlier, failed attempt
        for entry in manifest["files"]:
            await _download(cfg, entry)
    except Exception as e:
        reason = str(e) if isinstance(e, (Refused, TooSlow)) else "%r" % e
        try:
            _rmtree(TMP_DIR)
        except OSError:
            pass  # on_boot() tries again
        print("ota: update to %s failed: %s - the old files are unchanged" % (version, reason))
        return False
    try:
        _swap(manifest)
    except Exception as e:  # the file system failed us: put everything back now
        print("ota: installing %s failed (%r) - putting the old files back" % (version, e))
        if _load_state()["step"] == "swap":
            _rollback(_load_state())
        _rmtree(TMP_DIR)
        return False
    print(
        "ota: version %s installed - it runs after a reset, on trial for %d boots "
        "(mark_good() keeps it)" % (version, MAX_TRIAL_BOOTS)
    )
    return True


# ---- swap, trial, rollback ------------------------------------------------------------------


def _swap(manifest):
    state = _load_state()
    files = [entry["path"] for entry in manifest["files"]]
    _rmtree(BACKUP_DIR)  # a stale backup would confuse a resumed swap
    state["previous"] = state["version"]
    state["version"] = manifest["version"]
    state["files"] = files
    state["added"] = [p for p in files if not _exists("/" + p)]  # nothing to back up
    state["pending"] = True
    state["boots"] = 0
    state["step"] = "swap"
    _save_state(state)  # the journal: from here on, on_boot() can finish the swap
    _finish_swap(state)


def _finish_swap(state):
    """Move the checked downloads into place. Safe to run again after a power cut."""
    for path in state["files"]:
        tmp, bak, dst = TMP_DIR + "/" + path, BACKUP_DIR + "/" + path, "/" + path
        if _exists(tmp):  # not moved yet
            if _exists(dst):
                if _exists(bak):
                    os.remove(dst)  # the original is already safe in the backup
                else:
                    _makedirs(_parent(bak))
                    os.rename(dst, bak)
            _makedirs(_parent(dst))
            os.rename(tmp, dst)
        elif not _exists(dst):
            raise OSError("%s is missing from the update" % path)
    state["step"] = "trial"
    _save_state(state)
    _rmtree(TMP_DIR)


def _rollback(state):
    """Put the old files back. Safe to run again after a power cut."""
    bad = state["version"]
    state["step"] = "rollback"
    _save_state(state)
    for path in state["files"]:
        bak, dst = BACKUP_DIR + "/" + path, "/" + path
        if _exists(bak):
            if _exists(dst):
                os.remove(dst)
            _makedirs(_parent(dst))
            os.rename(bak, dst)
        elif path in state["added"] and _exists(dst):
            os.remove(dst)  # the update brought it; the old version had no such file
    if bad not in state["failed"]:
        state["failed"].append(bad)
        del state["failed"][:-MAX_FAILED_REMEMBERED]  # the state file must stay small
    state["version"] = state["previous"]
    state["previous"] = None
    state["pending"] = False
    state["boots"] = 0
    state["step"] = "idle"
    state["files"] = []
    state["added"] = []
    _save_state(state)
    _rmtree(BACKUP_DIR)
    _rmtree(TMP_DIR)
    print(
        "ota: back on version %s; version %s will not be installed again"
        % (state["version"] or "(before updates)", bad)
    )


def _reset():
    import machine

    time.sleep_ms(200)  # let the message reach the serial port
    machine.reset()


# ---- the watchdog of a trial boot -----------------------------------------------------------

_wdt = None  # machine.WDT, once armed in this boot
_feeder = None  # the machine.Timer that feeds it, when a timer does


def _arm_watchdog(state):
    """Start (or take hold of) the watchdog. It cannot be stopped: on ESP32, ESP8266 and RP2
    nothing ends it but a hard reset, and a soft reboot (Ctrl-D) leaves it running."""
    global _wdt
    import machine

    cfg = _read_json("/config.json") or {}  # not config.py: an update may replace that
    _wdt = machine.WDT(timeout=cfg.get("ota_watchdog_ms", TRIAL_WDT_MS))
    if not state["watchdog"]:
        state["watchdog"] = True
        _save_state(state)


def watchdog_armed():
    """True when a watchdog runs in this boot, so something must keep feeding it."""
    return _wdt is not None


def feed_watchdog():
    """main.py calls this from its event loop: a part that blocks the loop starves the watchdog."""
    if _wdt is not None:
        _wdt.feed()


def timer_feeds_watchdog(on=True):
    """Let a timer feed the watchdog (on), or stop it (off).

    For the times when the event loop cannot feed it but the board is fine: a blocking Wi-Fi
    join, a version that was marked good, a person who stopped main.py with Ctrl-C. A timer's
    callback runs between any two bytecodes and while the >>> prompt waits, so only a hard
    hang would still starve the watchdog.
    """
    global _feeder
    if _wdt is None:
        return
    if not on:
        if _feeder is not None:
            _feeder.deinit()
            _feeder = None
        return
    if _feeder is not None:
        return
    import machine

    for timer_id in (-1, 0):  # a virtual timer (ESP8266, RP2); ESP32 has hardware ones only
        try:
            _feeder = machine.Timer(
                timer_id, mode=machine.Timer.PERIODIC, period=WDT_FEED_MS, callback=_feed_tick
            )
            return
        except (ValueError, OSError):
            pass


def _feed_tick(_timer):
    _wdt.feed()


def mark_good():
    """Keep the new version: end its trial and delete the backup. main.py calls this."""
    state = _load_state()
    if not state["pending"]:
        return False
    state["pending"] = False
    state["boots"] = 0
    state["step"] = "idle"
    state["files"] = []
    state["added"] = []
    _save_state(state)  # first the decision, then the clean-up (a cut leaves only garbage)
    _rmtree(BACKUP_DIR)
    timer_feeds_watchdog()  # the trial's watchdog cannot be stopped: keep it quiet from now on
    print("ota: version %s works - marked good, backup deleted" % state["version"])
    return True


def on_boot():
    """Called early by boot.py: finish a cut-off swap or rollback, count trial boots, and arm
    the watchdog for a trial boot."""
    state = _load_state()
    if state["step"] == "swap":
        print("ota: finishing the update to %s that was cut off" % state["version"])
        try:
            _finish_swap(state)
        except OSError as e:
            print("ota: cannot finish it (%s) - going back" % e)
            _rollback(state)
            _reset()
            return
    elif state["step"] == "rollback":
        print("ota: finishing the rollback from %s that was cut off" % state["version"])
        _rollback(state)
        _reset()
        return
    if state["pending"]:
        state["boots"] += 1
        if state["boots"] > MAX_TRIAL_BOOTS:
            print(
                "ota: version %s was not marked good in %d boots - restoring version %s"
                % (state["version"], MAX_TRIAL_BOOTS, state["previous"] or "(before updates)")
            )
            _rollback(state)
            _reset()
            return
        _save_state(state)
        print(
            "ota: trying version %s (boot %d of %d)"
            % (state["version"], state["boots"], MAX_TRIAL_BOOTS)
        )
    else:
        _rmtree(BACKUP_DIR)  # left by a clean-up that was cut off
    _rmtree(TMP_DIR)
    new = STATE_FILE + ".new"
    if _exists(new) and (_exists(STATE_FILE) or _read_json(new) is None):
        os.remove(new)  # a state write that was cut off: the state file or the defaults rule
    if state["pending"]:
        # If this version crashes at import (the board would wait at >>>) or hangs, nothing
        # feeds the watchdog and it resets the board: the next boot counts, nobody is needed.
        _arm_watchdog(state)
        print("ota: watchdog armed for the trial - main.py keeps it fed while the parts run")
    elif state["watchdog"]:
        import machine

        if machine.reset_cause() == machine.PWRON_RESET:
            state["watchdog"] = False  # a power cycle stops it for sure
            _save_state(state)
        else:  # it may still run from a trial before a soft reboot: keep it fed
            _arm_watchdog(state)
            timer_feeds_watchdog()


async def run(cfg):
    """Check for updates now and every ota_check_s seconds; reset into a new version."""
    import asyncio

    if not _base(cfg):
        print("ota: ota_url is empty in config.json - not checking for updates")
        return
    every = cfg.get("ota_check_s", DEFAULT_CHECK_S)
    await asyncio.sleep(FIRST_CHECK_DELAY_S)
    while True:
        await _wait_for_wifi()
        while pending():  # main.py marks the running version good after a while
            await asyncio.sleep(5)
        if await update_async(cfg):  # the other parts run on while it downloads
            print("ota: restarting into version %s" % installed_version())
            _reset()
        await asyncio.sleep(every)


async def _wait_for_wifi(wait_s=60):
    import asyncio

    try:
        import wifi
    except ImportError:
        return
    for _ in range(wait_s * 10):
        if getattr(wifi, "ip", None):
            return
        await asyncio.sleep_ms(100)
