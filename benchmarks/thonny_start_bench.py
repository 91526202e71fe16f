"""Thonny's start time with the IoT Kit plug-in installed, against the same Thonny without it.

Both sides start real Thonny 5 through the same launcher (``python -c LAUNCHER``), each with a
fresh THONNY_USER_DIR, the LocalCPython backend and the test probe plug-in; they alternate, so
a slower moment of the machine hits both alike. "Without" differs in one line, run before
Thonny's main: it appends ``thonnycontrib.iotkit`` to ``thonny.workbench.OBSOLETE_PLUGINS``, the
list of modules Thonny's plug-in scan skips. The probe notes, against the spawn time the
harness passes in:

- ready: the workbench's ``WorkbenchReady`` event (window built, plug-ins loaded);
- idle:  the first idle moment of Tk after the backend's first prompt (``ToplevelResponse``):
  Thonny is usable.

    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python benchmarks/thonny_start_bench.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from thonny_harness import run_thonny  # noqa: E402

LAUNCHER = (
    "import os, runpy, sys\n"
    "import thonny.workbench\n"
    "if os.environ.get('IOTKIT_BENCH_WITHOUT') == '1':\n"
    "    thonny.workbench.OBSOLETE_PLUGINS.append('thonnycontrib.iotkit')\n"
    "sys.argv = [sys.argv[0]]\n"
    "runpy.run_module('thonny', run_name='__main__', alter_sys=True)\n"
)


def start_once(tmp: Path, i: int, without: bool) -> dict[str, float]:
    env = {
        "IOTKIT_BENCH_WITHOUT": "1" if without else "0",
        # Bytecode as a real install has it (pip compiles .pyc files; an editable checkout writes
        # them on first import), kept out of the source tree. The warm-up runs write it.
        "PYTHONDONTWRITEBYTECODE": "",
        "PYTHONPYCACHEPREFIX": str(tmp / "pycache"),
    }
    run = run_thonny(
        None,
        tmp,
        name=f"{'without' if without else 'with'}-{i}",
        launcher=["-c", LAUNCHER],
        env=env,
        timeout=60,
    )
    imported = run.result["imported"]
    if without == ("thonnycontrib.iotkit" in imported):
        raise RuntimeError(f"without={without} but imported {imported}")
    times = run.times
    return {"ready": times["workbench_ready"], "idle": times["first_idle"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    samples: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        start_once(tmp, -1, False)  # warm the OS caches (and bytecode) for both sides alike
        start_once(tmp, -1, True)
        for i in range(args.runs):
            for without in ((False, True) if i % 2 == 0 else (True, False)):
                samples[without].append(start_once(tmp, i, without))
    print(f"Thonny start, median of {args.runs} alternating runs each (seconds from spawn):")
    print(f"{'':28}{'with plug-in':>14}{'without':>10}{'ratio':>8}")
    for key, label in (("ready", "to WorkbenchReady"), ("idle", "to first idle at the prompt")):
        with_ = statistics.median(s[key] for s in samples[False])
        without = statistics.median(s[key] for s in samples[True])
        print(f"{label:28}{with_:>14.3f}{without:>10.3f}{with_ / without:>8.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
