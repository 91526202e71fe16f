"""Run real Thonny (a subprocess, under the test's X display) with a scenario inside it.

A scenario is what a person would do, written as a generator function in tests/thonny_scenarios.py
(an ordinary module: black, isort and ruff read it, and its tracebacks point at its real lines).
`run_thonny` starts ``python -m thonny`` with a fresh THONNY_USER_DIR (a configuration.ini, so no
first-run dialog, and ``single_instance = False``, so it never hands the work to another Thonny),
puts the probe plug-in (tests/thonny_probe/thonnycontrib/iotkit_probe) and tests/ on PYTHONPATH,
names the scenario, and collects what the probe wrote:

    # tests/thonny_scenarios.py
    def plot_view(params):
        yield from until(backend_ready, 15, "the backend's prompt")
        view = get_workbench().show_view("IotPlotView")
        yield from settled(view)
        record("plot", widget_info(view))

    # the test
    run = run_thonny("thonny_scenarios:plot_view", tmp_path)
    assert run.values["plot"]["width"] > 300

The scenario runs on Tk's thread (`thonny_probe` documents ``yield``, `until` and the helpers it
offers). An ``assert`` that fails inside Thonny fails the test with the scenario's own traceback,
plus the tails of Thonny's stdout, frontend.log and backend.log. Thonny is killed (its whole
process group, the backend too) if it outlives `timeout`.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from configparser import ConfigParser
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from gui_helpers import ARTIFACTS

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
PROBE_DIR = TESTS / "thonny_probe"
DOC_IMAGES = REPO / "docs" / "images"

#: What every test's Thonny gets; `config=` adds to it or overrides it, section by section.
BASE_CONFIG: dict[str, dict[str, str]] = {
    "general": {"single_instance": "False", "ui_mode": "regular"},
    # A fixed place and size on the 1280x1024 Xvfb screen, so screenshots compare.
    "layout": {"zoomed": "False", "left": "0", "top": "0", "width": "1240", "height": "900"},
    "run": {"backend_name": "LocalCPython"},
}


def require_display() -> None:
    import pytest

    if not os.environ.get("DISPLAY"):
        pytest.skip("no X display: run the Thonny tests under xvfb-run")


@dataclass
class ThonnyRun:
    """What one Thonny session left behind."""

    user_dir: Path
    out_dir: Path
    returncode: int | None
    elapsed: float
    stdout: str
    frontend_log: str
    backend_log: str
    result: dict[str, Any] = field(default_factory=dict)
    screenshots: dict[str, Path] = field(default_factory=dict)

    @property
    def values(self) -> dict[str, Any]:
        return self.result.get("values", {})

    @property
    def error(self) -> str | None:
        return self.result.get("error")

    @property
    def internal_errors(self) -> list[str]:
        return self.result.get("internal_errors", [])

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.result.get("events", [])

    @property
    def times(self) -> dict[str, float]:
        return self.result.get("times", {})

    @property
    def program_output(self) -> str:
        return self.result.get("output", "")

    def diagnostics(self) -> str:
        return (
            f"--- Thonny stdout/stderr (tail) ---\n{self.stdout[-4000:]}\n"
            f"--- frontend.log (tail) ---\n{self.frontend_log[-4000:]}\n"
            f"--- backend.log (tail) ---\n{self.backend_log[-3000:]}\n"
            f"--- internal errors ---\n{''.join(self.internal_errors)[-3000:]}"
        )

    def check(self) -> "ThonnyRun":
        """Fail the test unless the scenario ran to its end (with its traceback if not)."""
        if not self.result.get("done"):
            raise AssertionError(
                f"Thonny ended (rc={self.returncode}, {self.elapsed:.1f} s) without a result\n"
                + self.diagnostics()
            )
        if self.error:
            raise AssertionError(
                f"the scenario failed inside Thonny:\n{self.error}\n" + self.diagnostics()
            )
        return self


def write_config(user_dir: Path, config: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
    parser = ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment]  # Thonny's section names keep their case
    for source in (BASE_CONFIG, config or {}):
        for section, items in source.items():
            if not parser.has_section(section):
                parser.add_section(section)
            for key, value in items.items():
                parser.set(section, key, str(value))
    user_dir.mkdir(parents=True, exist_ok=True)
    path = user_dir / "configuration.ini"
    with open(path, "w", encoding="utf-8") as f:
        parser.write(f)
    return path


def check_scenario_name(scenario: str) -> None:
    """Fail at once, in the test, for a scenario name that names no generator function of a
    module in tests/ (rather than after Thonny has started)."""
    module, sep, func = scenario.partition(":")
    path = TESTS / f"{module}.py"
    if not sep or not path.is_file():
        raise ValueError(
            f"a scenario is named 'module:function' of a module in tests/, not {scenario!r}"
        )
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == func:
            if not any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in ast.walk(node)):
                raise ValueError(f"{scenario} is not a generator function: it never yields")
            return
    raise ValueError(f"{path.name} has no function {func!r}")


def thonny_env(
    user_dir: Path,
    home: Path,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Thonny's environment: our probe and the scenarios' module on PYTHONPATH (and nothing else
    of the test's), the user dir, and XDG folders in the temp dir so the plug-in's settings,
    firmware cache and virtual boards never touch the real home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "THONNY_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(PROBE_DIR), str(TESTS)])
    env["THONNY_USER_DIR"] = str(user_dir)
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        env[name] = str(home / name.lower())
    env.pop("XDG_RUNTIME_DIR", None)  # Thonny's IPC socket would otherwise be shared
    # pip run by Thonny (Manage plug-ins) keeps the user's download cache.
    env.setdefault(
        "PIP_CACHE_DIR",
        str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pip"),
    )
    env.update(extra or {})
    return env


def _kill_group(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def publish_screenshot(path: Path, name: str, docs: bool = True) -> Path:
    """Copy a probe screenshot to tests/artifacts/thonny-NAME.png (and, with
    IOTKIT_UPDATE_SCREENSHOTS=1 and `docs`, to docs/images/, which the user docs show)."""
    stem = name if name.startswith("thonny-") else f"thonny-{name}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / f"{stem}.png"
    shutil.copyfile(path, target)
    if docs and os.environ.get("IOTKIT_UPDATE_SCREENSHOTS") == "1":
        DOC_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOC_IMAGES / f"{stem}.png")
    return target


def run_thonny(
    scenario: str | None,
    tmp_path: Path,
    *,
    config: Mapping[str, Mapping[str, Any]] | None = None,
    params: Mapping[str, Any] | None = None,
    python: str | os.PathLike[str] = sys.executable,
    launcher: list[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    name: str = "thonny",
    user_dir: Path | None = None,
    check: bool = True,
) -> ThonnyRun:
    """Start Thonny with `scenario` ("module:function", e.g. "thonny_scenarios:views_session";
    None: the probe's built-in "timing" scenario) and wait for it to end.

    `params` reach the scenario function as its argument (through JSON). `launcher` replaces
    ``-m thonny`` (the benchmark starts Thonny through ``-c``). `user_dir` reuses a Thonny user
    dir (its configuration.ini is rewritten from `config`). With `check`, a scenario that did not
    run to its end fails the test here.
    """
    require_display()
    if scenario is not None:
        check_scenario_name(scenario)
    base = tmp_path / name
    base.mkdir(parents=True, exist_ok=True)
    user_dir = user_dir or base / "user"
    out_dir = base / "probe-out"
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    work_dir = base / "work"
    work_dir.mkdir(exist_ok=True)
    run_config = {"run": {"working_directory": str(work_dir)}}
    for section, items in (config or {}).items():
        run_config.setdefault(section, {}).update(items)
    write_config(user_dir, run_config)

    (out_dir / "params.json").write_text(json.dumps(dict(params or {})), encoding="utf-8")

    probe_env = {
        "IOTKIT_PROBE_SCENARIO": scenario or "timing",
        "IOTKIT_PROBE_OUT": str(out_dir),
        "IOTKIT_PROBE_TIMEOUT": str(max(5.0, timeout - 10.0)),
    }
    full_env = thonny_env(user_dir, base, {**probe_env, **(env or {})})
    log_path = base / "thonny-stdout.txt"
    start = time.monotonic()
    with open(log_path, "wb") as log_file:
        full_env["IOTKIT_PROBE_SPAWN_TIME"] = repr(time.time())
        proc = subprocess.Popen(
            [os.fspath(python), *(launcher or ["-m", "thonny"])],
            cwd=work_dir,  # with -m, the cwd comes first on sys.path: never the repo
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one group: a kill takes the backend with it
        )
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
        finally:
            # The backend is Thonny's child; make sure nothing of this run outlives it.
            if proc.poll() is None:
                _kill_group(proc)
            else:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
    elapsed = time.monotonic() - start

    result_file = out_dir / "result.json"
    result = json.loads(result_file.read_text(encoding="utf-8")) if result_file.exists() else {}
    screenshots = {}
    for shot_name, info in (result.get("shots") or {}).items():
        # A failure's or timeout's screenshot is named after the test's temp dir, never a doc.
        failed = shot_name in ("failure", "timeout")
        published = f"{shot_name}-{tmp_path.name}" if failed else shot_name
        screenshots[shot_name] = publish_screenshot(Path(info["path"]), published, not failed)
    run = ThonnyRun(
        user_dir=user_dir,
        out_dir=out_dir,
        returncode=proc.returncode,
        elapsed=elapsed,
        stdout=_read(log_path),
        frontend_log=_read(user_dir / "frontend.log"),
        backend_log=_read(user_dir / "backend.log"),
        result=result,
        screenshots=screenshots,
    )
    if check:
        run.check()
    return run
