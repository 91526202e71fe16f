"""Issue 16's classroom figures, each measured in one run.

Parts (`--part deploy|dashboard|all`, default all):

deploy     `iotkit class deploy` of the mqtt template to 8 virtual boards at 115200 baud,
           against the same command for a class of one board (goal: ratio <= 1.3). Each
           class gets fresh virtual boards (fresh flash folders: every file is sent), throttled
           like a UART at --baud; both are the real command as a teacher types it, in a
           subprocess (process start, class file, logs and the boards' first output included).
           Every board's /config.json is then checked (its own device_name), so a fast but
           wrong run cannot pass.
dashboard  the class dashboard under 30 boards (benchmarks/class_dashboard_bench.py: CPU of
           the dashboard process and the publish-to-drawn delay); needs an X display.

Usage: python benchmarks/class_bench.py [--part deploy] [--boards 8] [--baud 115200]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
GOAL_RATIO = 1.3
PASSWORD_ENV = "CLASS_BENCH_WIFI"
# The virtual board's own network (simulator.host.DEFAULT_WIFI): the template joins it.
SSID, PASSWORD = "iotkit-lab", "micropython"


def _class_file(folder: Path, ports: list[str]) -> Path:
    lines = [
        'name = "bench"',
        'broker = "mqtt://127.0.0.1:1883"',
        'templates = ["mqtt"]',
        "[settings]",
        f'wifi_ssid = "{SSID}"',
        f'wifi_password_env = "{PASSWORD_ENV}"',
    ]
    for i, port in enumerate(ports, start=1):
        lines += ["[[boards]]", f'name = "seat-{i:02d}"', f'port = "{port}"']
    path = folder / "class.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _timed_class_deploy(root: Path, count: int, baud: int) -> float:
    """Seconds of one `iotkit class deploy` to `count` fresh virtual boards (checked after)."""
    from companion_app.simulator.classroom import start_virtual_class, stop_virtual_class

    folder = Path(tempfile.mkdtemp(prefix=f"class-{count}-", dir=root))
    boards = start_virtual_class(count, flash_dir=folder / "flash", baud=baud)
    try:
        path = _class_file(folder, [vb.port for vb in boards])
        env = dict(os.environ, **{PASSWORD_ENV: PASSWORD})
        argv = [sys.executable, "-m", "companion_app", "class", "deploy", "--file", str(path)]
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"class deploy of {count} failed:\n{proc.stdout}\n{proc.stderr}")
        for i, vb in enumerate(boards, start=1):
            cfg = json.loads((Path(vb.flash_dir) / "config.json").read_text(encoding="utf-8"))
            assert cfg["device_name"] == f"seat-{i:02d}", f"board {i} got {cfg['device_name']}"
        return seconds
    finally:
        stop_virtual_class(boards)


def part_deploy(boards: int, baud: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="class-bench-") as tmp:
        root = Path(tmp)
        one = _timed_class_deploy(root, 1, baud)
        many = _timed_class_deploy(root, boards, baud)
    ratio = many / one
    print(
        f"class deploy of the mqtt template to {boards} virtual boards at {baud} baud: "
        f"{many:.1f} s; one board: {one:.1f} s; ratio {ratio:.2f} (goal <= {GOAL_RATIO})"
    )
    return {"boards": boards, "baud": baud, "many_s": many, "one_s": one, "ratio": ratio}


def part_dashboard(extra: list[str]) -> dict[str, Any]:
    sys.path.insert(0, str(REPO / "benchmarks"))
    import class_dashboard_bench  # noqa: PLC0415 - its own part, loaded only when asked for

    return dict(class_dashboard_bench.main(extra))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("deploy", "dashboard", "all"), default="all")
    ap.add_argument("--boards", type=int, default=8, help="boards of the deploy part")
    ap.add_argument("--baud", type=int, default=115200, help="the boards' UART speed")
    args, extra = ap.parse_known_args(argv)
    results: dict[str, Any] = {}
    if args.part in ("deploy", "all"):
        results["deploy"] = part_deploy(args.boards, args.baud)
    if args.part in ("dashboard", "all"):
        results["dashboard"] = part_dashboard(extra)
    return results


if __name__ == "__main__":
    main()
