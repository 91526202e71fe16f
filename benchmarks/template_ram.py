"""How much free heap each bundled template needs: the data behind the deploy's fit check.

Method (docs/deploy.md, "Which template fits which board"): the template (with what it needs,
the common files and a /config.json that joins the virtual Wi-Fi) is put on the flash of a
virtual esp32-devkit-v1 whose free heap after boot is set to X bytes (the same ballast that
gives each board its RAM). The board boots and runs main.py for --seconds; the web template's
page and JSON API are fetched once meanwhile, the mqtt template talks to a stub broker. The run
passes when no "MemoryError" appears and the board did not restart. X is bisected to
--step bytes between 8 KB and 400 KB, once as source (.py) and once precompiled (.mpy).
"base" is main.py with no parts; each template's figure is what it adds to the sets it needs
(e.g. web = need(wifi+sensor+web) - base - wifi - sensor), so a combination is estimated as
base + the sum of its parts (imports happen one after another, so the sum errs on the safe
side).

The figures are bytes of the 64-bit interpreter's heap; the fit check halves them for a 32-bit
board (HEAP_SCALE_64BIT, measured; docs/virtual-board.md).

Usage: python benchmarks/template_ram.py [--write] [--seconds 10] [--step 4096] [--jobs 2]
--write stores the result in companion_app/device/template_ram.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from companion_app.device import deploy as engine
from companion_app.device import template_fit
from companion_app.simulator import VirtualBoard
from companion_app.simulator.host import DEFAULT_WIFI

log = logging.getLogger("template_ram")

LOW, HIGH = 8 * 1024, 400 * 1024
SETS = {  # what is measured: each template with what it needs; "base" has no parts
    "base": [],
    "wifi": ["wifi"],
    "sensor": ["sensor"],
    "button_led": ["button_led"],
    "logger": ["sensor", "logger"],
    "ota": ["wifi", "ota"],
    "web": ["wifi", "sensor", "web"],
    "mqtt": ["wifi", "sensor", "mqtt"],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class StubBroker:
    """Enough MQTT 3.1.1 for umqtt.simple: CONNACK to CONNECT, PINGRESP to PINGREQ."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = int(self.sock.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                while True:
                    head = conn.recv(1)
                    if not head:
                        return
                    n, shift = 0, 0
                    while True:
                        b = conn.recv(1)[0]
                        n |= (b & 0x7F) << shift
                        shift += 7
                        if not b & 0x80:
                            break
                    while n:
                        n -= len(conn.recv(n))
                    if head[0] >> 4 == 1:
                        conn.sendall(b"\x20\x02\x00\x00")
                    elif head[0] >> 4 == 12:
                        conn.sendall(b"\xd0\x00")
            except (OSError, IndexError):
                return

    def close(self) -> None:
        self.sock.close()


class SizedBoard(VirtualBoard):
    """A virtual board whose free heap after boot is `free` bytes (the RAM a template gets)."""

    def __init__(self, free: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.free = free

    def _config(self, mode: str, reset: str) -> dict[str, Any]:
        cfg = super()._config(mode, reset)
        cfg["heap_free_target"] = self.free
        return cfg


def precompiled(files: list[Any], version: tuple[int, int] | None = None) -> list[Any]:
    """`files` (deploy.LocalFile) with every module compiled to .mpy, as `deploy --mpy` sends.

    `version`: the .mpy version, default the one the virtual board's interpreter loads.
    """
    if version is None:
        version = virtual_mpy_version()
    info = engine.BoardInfo(mpy=version[0] | (version[1] << 8))
    out, _remove, note = engine._apply_mpy(files, info, {})
    if note:
        raise RuntimeError(note)
    return out


def virtual_mpy_version() -> tuple[int, int]:
    """The .mpy version of the installed MicroPython (the virtual board's firmware)."""
    exe = Path(sys.executable).with_name("micropython")
    out = subprocess.run(
        [str(exe), "-c", "import sys; print(sys.implementation._mpy)"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    mpy = int(out.strip())
    return mpy & 0xFF, (mpy >> 8) & 3


def set_files(parts: list[str], form: str, extra: dict[str, Any]) -> list[engine.LocalFile]:
    """The files a deploy of `parts` puts on the board, as .py or precompiled .mpy."""
    cfg = engine.build_config(parts or ["wifi"], overrides=extra)
    files = engine.template_files(parts or ["wifi"], cfg)
    if not parts:  # base: the common files and a config with no parts
        cfg["parts"] = []
        keep = {"/boot.py", "/main.py", "/config.py"}
        files = [f for f in files if f.dest in keep]
        files.append(engine.LocalFile(engine.CONFIG_DEST, json.dumps(cfg).encode(), "config"))
    if form == "mpy":
        files = precompiled(files)
    return files


def trial(parts: list[str], form: str, free: int, seconds: float) -> bool:
    """True when `parts` run for `seconds` with `free` bytes of heap and no MemoryError."""
    broker = StubBroker()
    web_port = free_port()
    extra = {
        "wifi_ssid": DEFAULT_WIFI[0]["ssid"],
        "wifi_password": DEFAULT_WIFI[0]["password"],
        "mqtt_broker": f"127.0.0.1:{broker.port}",
        "web_port": web_port,
        "interval_s": 2,
    }
    try:
        with tempfile.TemporaryDirectory(prefix="iotkit-tram-") as tmp:
            flash = Path(tmp) / "flash"
            for f in set_files(parts, form, extra):
                path = flash / f.dest.lstrip("/")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(f.data)
            with SizedBoard(free, board="esp32-devkit-v1", flash_dir=flash) as board:
                return watch(board, parts, web_port, seconds)
    finally:
        broker.close()


def watch(board: VirtualBoard, parts: list[str], web_port: int, seconds: float) -> bool:
    import serial

    port = serial.serial_for_url(board.port, baudrate=115200, timeout=0.1)
    out = b""
    fetched = "web" not in parts
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            out += port.read(4096)
            if b"MemoryError" in out or board.boots > 1:
                log.debug("failed: %r", out[-600:])
                return False
            if not fetched and b"web: dashboard at" in out:
                try:
                    for path in ("/", "/api/readings"):
                        with urllib.request.urlopen(
                            f"http://127.0.0.1:{web_port}{path}", timeout=5
                        ) as r:
                            r.read()
                    fetched = True
                except OSError as exc:
                    log.debug("the dashboard did not answer: %r", exc)
                    return False
        out += port.read(4096)
        return fetched and b"MemoryError" not in out and board.boots == 1
    finally:
        port.close()


def smallest(parts: list[str], form: str, seconds: float, step: int) -> int:
    """The smallest free heap (bisected to `step`) on which `parts` run."""
    lo, hi = LOW, HIGH
    if not trial(parts, form, hi, seconds):
        raise SystemExit(f"{parts} ({form}) does not run even with {hi} bytes free")
    while hi - lo > step:
        mid = (lo + hi) // 2
        if trial(parts, form, mid, seconds):
            hi = mid
        else:
            lo = mid
    return hi


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--step", type=int, default=4096)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    started = time.monotonic()
    jobs = [(name, form) for name in SETS for form in ("py", "mpy")]
    with ThreadPoolExecutor(args.jobs) as pool:
        found = dict(
            zip(
                jobs,
                pool.map(lambda j: smallest(SETS[j[0]], j[1], args.seconds, args.step), jobs),
            )
        )
    for (name, form), need in found.items():
        print(f"{name:<12} {form:<4} {need:>7} bytes free needed (64-bit)")
    data = template_fit.from_measurements(found, SETS)
    print(json.dumps(data, indent=1))
    print(f"measured in {time.monotonic() - started:.0f} s")
    if args.write:
        template_fit.DATA_FILE.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        print(f"written to {template_fit.DATA_FILE}")


if __name__ == "__main__":
    main()
