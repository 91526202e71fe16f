"""The plug-in's two install paths (docs/thonny.md), each checked against real Thonny 5.

(a) ``pip install thonny-iotkit`` into the interpreter Thonny runs on. The GUI tests in
    test_thonny_plugin.py run that way (the project's venv); here we check the one thing that
    silently breaks it: Thonny finds plug-ins with ``pkgutil.iter_modules(thonnycontrib.__path__)``,
    so ``thonnycontrib.iotkit`` must show up in that scan and ``thonnycontrib`` must stay a
    namespace package (no ``thonnycontrib/__init__.py`` anywhere).

(b) Tools → "Manage plug-ins...". Thonny's `PluginsPipDialog` runs
    ``python -m pip --disable-pip-version-check --no-color install --no-warn-script-location
    --user ...`` with ``PYTHONUSERBASE=<THONNY_USER_DIR>/plugins`` (thonny/plugins/pip_gui.py,
    `_run_pip_with_dialog`, `_install_file`), and at the next start the workbench appends
    ``<THONNY_USER_DIR>/plugins/lib/pythonX.Y/site-packages`` to sys.path before importing
    ``thonnycontrib`` (workbench.py `_load_plugins`). The ``--user`` part applies only when
    Thonny does NOT run in a virtual environment (`_use_user_install` is
    ``not running_in_virtual_environment()``): in a venv the dialog installs into the venv,
    which is path (a). The Thonny people download (the Windows/macOS/Linux bundles) carries its
    own Python, not a venv, so the test builds such a Python: a prefix of its own made from the
    base interpreter's standard library, with pip and ``thonny`` (the same version as ours, from
    PyPI) and nothing else in its site-packages. In that Thonny, the probe opens the real
    Manage plug-ins dialog from the Tools menu and installs our wheel through the dialog's own
    "Install from local file" code (`_install_file`), as the file picker would; then a second
    start of that Thonny must load the plug-in, and its dependencies, from the user dir.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from thonny_harness import REPO, run_thonny

PIP_TIMEOUT = 600


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


# --- (a) pip into Thonny's own interpreter ----------------------------------------------------
def test_pip_install_into_thonnys_interpreter_is_found_by_thonnys_plugin_scan(tmp_path):
    # Thonny's own scan (workbench.py `_load_plugins_from_path`), in a fresh interpreter outside
    # the repo, so only what is installed counts (not the test's cwd or sys.path).
    code = (
        "import json, os, pkgutil, thonnycontrib\n"
        "paths = list(thonnycontrib.__path__)\n"
        "found = [m.name for m in pkgutil.iter_modules(paths, 'thonnycontrib.')]\n"
        "inits = [p for p in paths if os.path.exists(os.path.join(p, '__init__.py'))]\n"
        "import thonnycontrib.iotkit as plugin\n"
        "print(json.dumps({'found': found, 'inits': inits, 'paths': paths,\n"
        "    'file': plugin.__file__, 'spec': repr(thonnycontrib.__spec__.loader)}))\n"
    )
    out = json.loads(run([sys.executable, "-c", code], cwd=tmp_path).stdout)
    assert "thonnycontrib.iotkit" in out["found"], out
    assert out["inits"] == [], f"thonnycontrib must stay a namespace package: {out['inits']}"
    assert "NamespaceLoader" in out["spec"], out["spec"]
    # The distribution Thonny's pip dialogs list is ours, and it is the one that was scanned.
    dist = importlib.metadata.distribution("thonny-iotkit")
    assert dist.version
    assert Path(out["file"]).resolve().parent.name == "iotkit"


# --- (b) Tools → Manage plug-ins, in a Thonny with its own Python -----------------------------
def _source_copy(dest: Path) -> Path:
    """The files a wheel is built from, copied: building in the repo would leave build/ there,
    and the copy takes the working tree as it is (uncommitted files too)."""
    dest.mkdir(parents=True)
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("companion_app", "thonnycontrib", "device_scripts"):
        shutil.copytree(REPO / name, dest / name, ignore=ignore)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = _source_copy(tmp / "src")
    out = tmp / "dist"
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "-w",
            str(out),
            str(src),
        ],
        timeout=PIP_TIMEOUT,
    )
    wheels = list(out.glob("thonny_iotkit-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def bundled_python(tmp_path_factory) -> Path:
    """A Python that is not a virtual environment, with only pip and thonny installed: what a
    Thonny bundle ships. Made from the base interpreter: its binary copied (so the prefix is
    found from its place), the standard library linked, an empty site-packages of its own."""
    if sys.platform != "linux":
        pytest.skip("the stand-alone Python is assembled the Linux way (lib/pythonX.Y)")
    tmp = tmp_path_factory.mktemp("bundle")
    base = Path(sys.base_prefix)
    ver = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    prefix = tmp / "thonny-bundle"
    (prefix / "bin").mkdir(parents=True)
    exe = prefix / "bin" / ver
    shutil.copy2(os.path.realpath(getattr(sys, "_base_executable", sys.executable)), exe)
    stdlib = prefix / "lib" / ver
    stdlib.mkdir(parents=True)
    for so in (base / "lib").glob("libpython*"):
        (prefix / "lib" / so.name).symlink_to(so)
    for entry in (base / "lib" / ver).iterdir():
        if entry.name not in ("site-packages", "dist-packages"):
            (stdlib / entry.name).symlink_to(entry)
    (stdlib / "site-packages").mkdir()
    facts = json.loads(
        run(
            [str(exe), "-c", "import json, sys; print(json.dumps([sys.prefix, sys.base_prefix]))"],
            cwd=tmp,
        ).stdout
    )
    assert facts == [str(prefix), str(prefix)], facts  # its own prefix, and not a venv
    run([str(exe), "-m", "ensurepip", "--default-pip"], cwd=tmp, timeout=PIP_TIMEOUT)
    thonny_version = importlib.metadata.version("thonny")
    run(
        [
            str(exe),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            f"thonny=={thonny_version}",
        ],
        cwd=tmp,
        timeout=PIP_TIMEOUT,
    )
    return exe


@pytest.mark.timeout(1200)
def test_manage_plugins_installs_into_the_thonny_user_dir_and_thonny_loads_it_from_there(
    tmp_path, wheel, bundled_python
):
    started = time.monotonic()
    user_dir = tmp_path / "thonny-user"
    plugins_site = user_dir / "plugins" / "lib" / bundled_python.name / "site-packages"

    first = run_thonny(
        "thonny_scenarios:install_from_manage_plugins",
        tmp_path,
        name="install",
        user_dir=user_dir,
        python=bundled_python,
        params={"wheel": str(wheel)},
        timeout=PIP_TIMEOUT,
    )
    state = first.values["state"]
    assert "error" not in state, state["error"]
    assert first.values["loaded_before"] == ["thonnycontrib.iotkit_probe"]
    assert state["title"] == "Thonny plug-ins"
    assert state["user_install"] is True  # not a venv: the dialog installs with --user
    assert Path(state["target"]) == plugins_site
    pip = state["pip"]
    assert pip["rc"] == 0, pip["out"]
    assert pip["command"] == "install" and pip["args"] == ["--user", str(wheel)]
    assert "Successfully installed" in pip["out"], pip["out"]
    assert "thonny-iotkit-" in pip["out"].split("Successfully installed")[-1]
    # The process Thonny started: its own Python, pip with --user, PYTHONUSERBASE in the user dir.
    process = state["process"]
    assert process["args"][:5] == [
        "-m",
        "pip",
        "--disable-pip-version-check",
        "--no-color",
        "install",
    ]
    assert "--user" in process["args"] and process["args"][-1] == str(wheel), process["args"]
    assert process["env"] == {"PYTHONUSERBASE": str(user_dir / "plugins")}
    assert (plugins_site / "thonnycontrib" / "iotkit" / "__init__.py").is_file()
    assert not (plugins_site / "thonnycontrib" / "__init__.py").exists()
    # Nothing went into Thonny's own Python.
    bundle_site = bundled_python.parent.parent / "lib" / bundled_python.name / "site-packages"
    assert not (bundle_site / "thonnycontrib").exists()
    assert not list(bundle_site.glob("thonny_iotkit-*"))

    second = run_thonny(
        "thonny_scenarios:loaded_from_user_dir",
        tmp_path,
        name="restart",
        user_dir=user_dir,
        python=bundled_python,
    )
    v = second.values
    assert Path(v["plugin_file"]).is_relative_to(plugins_site), v["plugin_file"]
    assert str(plugins_site / "thonnycontrib") in v["thonnycontrib_path"]
    assert v["inits"] == []
    for name in ("companion_app", "matplotlib", "numpy"):
        assert Path(v["modules"][name]).is_relative_to(plugins_site), (name, v["modules"])
    assert "Failed loading plugin" not in second.frontend_log
    assert "Traceback" not in second.frontend_log, second.frontend_log[-3000:]
    assert second.internal_errors == []
    assert v["errors"] == []
    assert v["panel_class"] == "PlotPanel"
    assert v["view"]["viewable"] and v["view"]["width"] > 300 and v["view"]["height"] > 150
    assert v["view"]["descendants"] > 10
    print(
        f"\nManage plug-ins install path: {time.monotonic() - started:.1f} s in the test "
        f"(pip inside Thonny {first.values['install_seconds']:.1f} s; Thonny runs "
        f"{first.elapsed:.1f} s + {second.elapsed:.1f} s)"
    )
