"""No admin rights (issue 16, item 5): the kit installs and runs as an ordinary user.

A lab PC's students and often its teacher are not administrators. The checks, as a real
ordinary user (`iotkit-student`, created once when the test runs as root, as CI does; the
commands run under `setpriv` with that user's uid, gid and groups, and with none of root's
capabilities):

a. Install the way Thonny's "Manage plug-ins" does: `pip install --user` with PYTHONUSERBASE
   set to Thonny's own plug-in folder (thonny/plugins/pip_gui.py `_run_pip_with_dialog`), from a
   wheel of this project, into a Python that is not a virtual environment (as Thonny's bundles
   ship). Then Thonny's scan, `pkgutil.iter_modules(thonnycontrib.__path__)` after appending
   the plug-in folder's site-packages (workbench.py), finds `thonnycontrib.iotkit`.
b. `iotkit sim`, `iotkit class init` and `iotkit broker`, run from that install, work.
c. A serial port the user may not open (a device node made here, root:dialout 0660) gives one
   clear message naming the dialout group, from `iotkit deploy`, `iotkit flash` and
   `iotkit class deploy`; and `iotkit class init` warns before that, on one `warning:` line.
In a and b nothing is written outside the user's home and the temp folders we gave it: every
file the user owns afterwards is looked for on the whole root file system and /dev/shm.

Without root the real-user tests are skipped (we could neither make the user nor become it),
unless they run as iotkit-student itself. Honest limits: the Python is the interpreter of our venv made stand-alone (its standard library
hard-linked into a prefix the user may read, since it lives under /root); the kit's
dependencies come from our venv's site-packages on PYTHONPATH (`--no-deps`), not from PyPI.
Unit tests of `serial_permission_hint` with fake stat results and groups come first.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from conftest import venv_bin
from waiting import wait_until

from companion_app.device.ports import serial_permission_hint

REPO = Path(__file__).resolve().parents[1]
# One user per test pass: the two passes of `make test` run at the same time, and each pass's
# "files this user wrote outside its folders" check would otherwise see the other pass's files.
STUDENT = "iotkit-student-wl" if os.environ.get("IOTKIT_WINDOWS_LIKE") == "1" else "iotkit-student"
PY = f"python{sys.version_info[0]}.{sys.version_info[1]}"
RUN_TIMEOUT = 300
# What a kit install brings of its own: these come from the wheel, never from our venv.
OWN = ("companion_app", "thonnycontrib", "thonny_iotkit", "__editable__", "device_scripts")


# --------------------------------------------------------------- the decision, with fake facts
def _fake_stat(uid: int, gid: int, mode: int) -> os.stat_result:
    return os.stat_result((stat.S_IFCHR | mode, 0, 0, 1, uid, gid, 0, 0, 0, 0))


def _hint(devices: dict[str, os.stat_result], *, euid: int = 1000, groups: list[int] = (1000,)):
    def fake_stat(path: str) -> os.stat_result:
        if path not in devices:
            raise FileNotFoundError(path)
        return devices[path]

    return serial_permission_hint(
        list(devices) + ["/dev/gone"],
        platform="linux",
        euid=lambda: euid,
        groups=lambda: list(groups),
        stat=fake_stat,
        group_name={20: "dialout", 986: "uucp"}.get,
    )


def test_a_user_outside_dialout_gets_the_usermod_hint():
    hint = _hint({"/dev/ttyUSB0": _fake_stat(0, 20, 0o660)})
    assert hint is not None
    assert hint.startswith("you may not open /dev/ttyUSB0: it belongs to the dialout group")
    assert "sudo usermod -aG dialout $USER, then log out and in again" in hint


def test_the_hint_names_the_group_that_owns_the_port():
    hint = _hint(
        {"/dev/ttyACM0": _fake_stat(0, 986, 0o660), "/dev/ttyACM1": _fake_stat(0, 986, 0o660)}
    )
    assert hint is not None
    assert "/dev/ttyACM0, /dev/ttyACM1: they belong to the uucp group" in hint
    assert "sudo usermod -aG uucp $USER" in hint


def test_no_hint_for_a_member_of_the_group_for_root_or_off_linux():
    devices = {"/dev/ttyUSB0": _fake_stat(0, 20, 0o660)}
    assert _hint(devices, groups=[1000, 20]) is None
    assert _hint(devices, euid=0) is None
    assert serial_permission_hint(["/dev/ttyUSB0"], platform="win32") is None
    assert serial_permission_hint(["/dev/ttyUSB0"], platform="darwin") is None


def test_no_hint_for_ports_the_user_may_open_or_that_a_group_would_not_help():
    assert _hint({"/dev/ttyUSB0": _fake_stat(0, 20, 0o666)}) is None  # open to everyone
    assert _hint({"/dev/pts/3": _fake_stat(1000, 5, 0o620)}) is None  # our own pty
    assert _hint({"/dev/ttyS0": _fake_stat(0, 0, 0o600)}) is None  # root only: no group helps
    assert _hint({}) is None
    assert (
        serial_permission_hint(["socket://127.0.0.1:1"], platform="linux", euid=lambda: 5) is None
    )


# --------------------------------------------------------------------- a real ordinary user
class Student:
    """Runs commands as the ordinary user, with a home and a temp folder of its own."""

    def __init__(self, root: Path, uid: int, gid: int, switch: bool) -> None:
        self.root, self.uid, self.gid, self.switch = root, uid, gid, switch
        self.home = root / "home"
        self.tmp = root / "tmp"
        self.python = root / "python" / "bin" / PY
        self.deps = root / "deps"
        self.userbase = self.home / ".config" / "Thonny" / "plugins"  # Thonny's plug-in folder
        self.site = self.userbase / "lib" / PY / "site-packages"
        self.iotkit = self.userbase / "bin" / "iotkit"
        self.procs: list[subprocess.Popen[str]] = []
        self.wheel: Path | None = None  # built once by the fixture

    def env(self) -> dict[str, str]:
        return {
            "HOME": str(self.home),
            "TMPDIR": str(self.tmp),
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "LD_LIBRARY_PATH": str(self.root / "python" / "lib"),
            "PYTHONPATH": str(self.deps),
            "PYTHONUSERBASE": str(self.userbase),
            "PYTHONDONTWRITEBYTECODE": "",
        }

    def command(self, args: list[Any]) -> list[str]:
        args = [str(a) for a in args]
        if not self.switch:
            return args
        return [
            "setpriv",
            f"--reuid={self.uid}",
            f"--regid={self.gid}",
            "--init-groups",
            "--inh-caps=-all",
            "--",
            *args,
        ]

    def run(self, args: list[Any], timeout: float = RUN_TIMEOUT, **kw: Any):
        return subprocess.run(
            self.command(args),
            env={**self.env(), **kw.pop("env", {})},
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            **kw,
        )

    def start(self, args: list[Any]) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            self.command(args),
            env=self.env(),
            cwd=self.home,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.communicate(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.communicate(timeout=15)
        self.procs.clear()

    def files_outside(self, since: Path) -> list[str]:
        """Files this user owns, changed after `since`, anywhere but its own folders."""
        found: list[str] = []
        for top in ("/", "/dev/shm"):
            result = subprocess.run(
                ["find", top, "-xdev", "-user", str(self.uid), "-newer", str(since)],
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT,
            )
            found += [line for line in result.stdout.splitlines() if line]
        return sorted(p for p in found if not p.startswith(str(self.root) + os.sep))


def _ensure_student() -> tuple[int, int]:
    import pwd

    try:
        entry = pwd.getpwnam(STUDENT)
    except KeyError:
        made = subprocess.run(
            ["useradd", "--no-create-home", "--shell", "/bin/sh", STUDENT],
            capture_output=True,
            text=True,
            timeout=60,
        )
        try:  # another run of the suite may have made it at the same moment
            entry = pwd.getpwnam(STUDENT)
        except KeyError:
            pytest.fail(f"useradd {STUDENT} failed: {made.stderr.strip()}")
    return entry.pw_uid, entry.pw_gid


def _standalone_python(prefix: Path) -> None:
    """Our interpreter as a Python of its own (not a venv) that the user may run: the files
    hard-linked into a prefix the user may read (same file system: nothing is copied)."""
    base = Path(sys.base_prefix)

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:  # another file system: copy
            shutil.copy2(src, dst)

    (prefix / "bin").mkdir(parents=True)
    (prefix / "lib").mkdir()
    link(
        os.path.realpath(getattr(sys, "_base_executable", sys.executable)), str(prefix / "bin" / PY)
    )
    for lib in (base / "lib").glob("libpython*.so*"):
        if lib.is_symlink():
            (prefix / "lib" / lib.name).symlink_to(os.readlink(lib))
        else:
            link(str(lib), str(prefix / "lib" / lib.name))
    shutil.copytree(
        base / "lib" / PY,
        prefix / "lib" / PY,
        ignore=shutil.ignore_patterns("site-packages", "test", "__pycache__", "idlelib"),
        copy_function=link,
        symlinks=True,
    )
    (prefix / "lib" / PY / "site-packages").mkdir()


def _dependencies(deps: Path) -> None:
    """The kit's dependencies: our venv's site-packages, linked, without the kit itself (a
    --user install would refuse to go under a kit the interpreter already sees)."""
    deps.mkdir()
    site = Path(venv_bin("python")).parent.parent / "lib" / PY / "site-packages"
    for entry in site.iterdir():
        if entry.name.startswith(OWN) or entry.suffix == ".pth":
            continue
        (deps / entry.name).symlink_to(entry)


def _wheel(out: Path) -> Path:
    src = out / "src"
    src.mkdir(parents=True)
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("companion_app", "thonnycontrib", "device_scripts"):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    built = subprocess.run(
        [venv_bin("python"), "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
        + ["--disable-pip-version-check", "-w", str(out / "dist"), str(src)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (out / "dist").glob("thonny_iotkit-*.whl")
    return wheel


@pytest.fixture(scope="module")
def student() -> Iterator[Student]:
    if sys.platform != "linux":
        pytest.skip("ordinary users are made and switched to the Linux way (useradd, setpriv)")
    import pwd

    is_root = os.geteuid() == 0
    if is_root:
        uid, gid = _ensure_student()
    elif pwd.getpwuid(os.getuid()).pw_name == STUDENT:  # a CI that runs as the student itself
        uid, gid = os.getuid(), os.getgid()
    else:
        # Without root we can neither make the user nor become it; running as ourselves would
        # mix our other processes' files into the "nothing written outside" check.
        pytest.skip(f"needs root (to run as the ordinary user {STUDENT}), or to run as {STUDENT}")
    root = Path(tempfile.mkdtemp(prefix="iotkit-nonroot-"))
    try:
        root.chmod(0o755)
        _standalone_python(root / "python")
        _dependencies(root / "deps")
        s = Student(root, uid, gid, switch=is_root)
        for folder in (s.home, s.tmp):
            folder.mkdir(mode=0o700)
            if is_root:
                os.chown(folder, uid, gid)
        s.wheel = _wheel(root / "build")
        yield s
    finally:
        subprocess.run(["rm", "-rf", str(root)], timeout=RUN_TIMEOUT)


@pytest.fixture(scope="module")
def installed(student: Student) -> dict[str, Any]:
    """Thonny's Manage plug-ins install, as the student; with what it changed outside."""
    marker = student.root / "before-install"
    marker.touch()
    time.sleep(0.01)  # mtime granularity: files made after the marker must be newer than it
    pip = student.run(
        [student.python, "-m", "pip", "--disable-pip-version-check", "--no-color", "install"]
        + ["--no-warn-script-location", "--user", "--no-deps", student.wheel]
    )
    return {"pip": pip, "outside": student.files_outside(marker)}


THONNY_SCAN = """
import json, os, pkgutil, sys
from thonny.misc_utils import get_user_site_packages_dir_for_base
site = get_user_site_packages_dir_for_base(os.environ["PYTHONUSERBASE"])
sys.path.append(site)  # what Thonny's workbench does before it scans for plug-ins
import thonnycontrib
found = [m.name for m in pkgutil.iter_modules(thonnycontrib.__path__, "thonnycontrib.")]
import thonnycontrib.iotkit as plugin
import companion_app, companion_app.cli
print(json.dumps({"site": site, "found": found, "plugin": plugin.__file__,
                  "engine": companion_app.__file__, "uid": os.getuid(), "euid": os.geteuid(),
                  "venv": sys.prefix != sys.base_prefix}))
"""


def test_a_thonny_style_user_install_is_found_by_thonnys_plugin_scan(student, installed):
    pip = installed["pip"]
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-2000:]
    assert "Successfully installed thonny-iotkit" in pip.stdout
    assert (student.site / "thonnycontrib" / "iotkit" / "__init__.py").is_file()
    assert not (student.site / "thonnycontrib" / "__init__.py").exists()
    assert student.iotkit.is_file()
    scan = student.run([student.python, "-c", THONNY_SCAN])
    assert scan.returncode == 0, scan.stderr[-3000:]
    out = json.loads(scan.stdout)
    assert out["uid"] == out["euid"] == student.uid
    assert out["venv"] is False  # a bundle's Python, where Thonny's dialog uses --user
    assert Path(out["site"]) == student.site
    assert "thonnycontrib.iotkit" in out["found"], out
    assert Path(out["plugin"]).is_relative_to(student.site)
    assert Path(out["engine"]).is_relative_to(student.site)
    assert installed["outside"] == [], "the install wrote outside the user's folders"


def test_sim_class_init_and_broker_run_as_the_user_and_write_only_its_own_files(student, installed):
    assert installed["pip"].returncode == 0
    marker = student.root / "before-commands"
    marker.touch()
    time.sleep(0.01)
    port_file = student.tmp / "ports.txt"
    broker_file = student.tmp / "broker.txt"
    class_file = student.home / "class.toml"
    try:
        sim = student.start([student.iotkit, "sim", "--port-file", port_file])
        wait_until(
            lambda: _alive(sim) and port_file.exists() and port_file.read_text().strip(),
            120,
            "the virtual board's port file",
            interval=0.1,
        )
        init = student.run(
            [student.iotkit, "class", "init", "--file", class_file, "--name", "lab-a"]
            + ["--port-file", port_file]
        )
        assert init.returncode == 0, init.stderr
        assert "warning:" not in init.stderr  # the user's own pty: nothing to warn about
        text = class_file.read_text(encoding="utf-8")
        assert 'name = "lab-a"' in text and port_file.read_text().strip() in text
        broker = student.start(
            [student.iotkit, "broker", "--port", "0", "--port-file", broker_file]
        )
        url = wait_until(
            lambda: _alive(broker) and broker_file.exists() and broker_file.read_text().strip(),
            60,
            "the broker's port file",
            interval=0.1,
        )
        _mqtt_round_trip(int(url.rsplit(":", 1)[1]))
        broker.send_signal(signal.SIGTERM)
        _out, err = broker.communicate(timeout=30)
        assert broker.returncode == 0, err
    finally:
        student.stop_all()
    assert student.files_outside(marker) == []


def _alive(proc: subprocess.Popen[str]) -> bool:
    if proc.poll() is not None:
        raise AssertionError(
            f"exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}"
        )
    return True


def _mqtt_round_trip(port: int) -> None:
    """A retained message through the user's broker, read back by a second client."""
    import paho.mqtt.client as mqtt

    got: list[bytes] = []
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    pub.publish("iotkit/lab-a/seat-01/status", b"online", qos=1, retain=True).wait_for_publish(10)
    pub.loop_stop()
    pub.disconnect()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    sub.on_connect = lambda c, *a: c.subscribe("iotkit/#")
    sub.on_message = lambda c, u, m: got.append(bytes(m.payload))
    sub.connect("127.0.0.1", port)
    sub.loop_start()
    try:
        wait_until(lambda: b"online" in got, 15, "the retained status")
    finally:
        sub.loop_stop()
        sub.disconnect()


# ------------------------------------------------------------------ a port the user may not open
@pytest.fixture(scope="module")
def locked_port(student: Student) -> Path:
    """A serial device node root:dialout 0660 (major 4, minor 64: a built-in UART), in a folder
    the user may enter. Only root can make one."""
    if os.geteuid() != 0:
        pytest.skip("making a device node (mknod) needs root; CI runs as root")
    import grp

    folder = student.root / "dev"
    folder.mkdir(mode=0o755)
    node = folder / "ttyUSB9"
    os.mknod(node, 0o660 | stat.S_IFCHR, os.makedev(4, 64))
    os.chown(node, 0, grp.getgrnam("dialout").gr_gid)
    node.chmod(0o660)
    return node


def _one_error(result: subprocess.CompletedProcess[str]) -> str:
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) >= 1, result.stderr
    assert "Traceback" not in result.stderr
    return "\n".join(errors)


def test_iotkit_deploy_to_a_locked_port_says_join_dialout(student, installed, locked_port):
    result = student.run(
        [student.iotkit, "deploy", "--port", locked_port, "--template", "sensor"]
        + ["--set", "sensor=none"]
    )
    assert result.returncode == 1, result.stdout + result.stderr
    error = _one_error(result)
    assert f"No permission to open serial port {locked_port}" in error
    assert "sudo usermod -aG dialout $USER" in error


def test_iotkit_flash_to_a_locked_port_says_join_dialout(student, installed, locked_port):
    from firmware_helpers import esp_app_image

    image = student.tmp / "firmware.bin"
    image.write_bytes(esp_app_image(0))
    if student.switch:
        os.chown(image, student.uid, student.gid)
    result = student.run(
        [student.iotkit, "flash", "--port", locked_port, "--firmware", image, "--yes"]
    )
    assert result.returncode == 1, result.stdout + result.stderr
    error = _one_error(result)
    assert "dialout" in error and "usermod" in error, error


def test_class_init_warns_and_class_deploy_says_join_dialout(student, installed, locked_port):
    class_file = student.home / "locked-class.toml"
    init = student.run(
        [student.iotkit, "class", "init", "--file", class_file, "--name", "lab-b"]
        + ["--ports", locked_port]
    )
    assert init.returncode == 0, init.stderr
    warnings = [line for line in init.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, init.stderr
    assert f"you may not open {locked_port}: it belongs to the dialout group" in warnings[0]
    assert "sudo usermod -aG dialout $USER" in warnings[0]
    deploy = student.run(
        [student.iotkit, "class", "deploy", "--file", class_file],
        env={"IOTKIT_WIFI_PASSWORD": "not-a-real-one"},
    )
    assert deploy.returncode == 1, deploy.stdout + deploy.stderr
    error = _one_error(deploy)
    assert "dialout" in error and "usermod" in error, deploy.stdout + deploy.stderr
    assert "not-a-real-one" not in deploy.stdout + deploy.stderr


# `iotkit ports` lists what pyserial finds in /dev; a node of our own is not there, so the
# listing is replaced by one port, the locked node, and the rest is the real command.
PORTS_WITH_LOCKED_NODE = """
import sys
from types import SimpleNamespace
from companion_app import cli
from companion_app.device import ports
ports._comports = lambda: [SimpleNamespace(device=sys.argv[1], vid=None, pid=None,
                                          description="n/a", serial_number=None)]
sys.exit(cli.main(["ports"]))
"""


def test_iotkit_ports_warns_once_when_the_user_may_not_open_a_listed_port(
    student, installed, locked_port
):
    result = student.run([student.python, "-c", PORTS_WITH_LOCKED_NODE, locked_port])
    assert result.returncode == 0, result.stderr
    assert str(locked_port) in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"warning: you may not open {locked_port}: it belongs to")
    assert "sudo usermod -aG dialout $USER" in lines[0]


def _privileged_port_limit() -> int:
    """Ports below this need admin rights (Linux's sysctl; 1024 unless changed, 0 in some
    containers)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except (OSError, ValueError):
        return 1024


def test_a_privileged_port_is_one_clear_error_for_the_user(student, installed):
    if _privileged_port_limit() <= 80:
        pytest.skip("this system lets ordinary users listen on port 80")
    result = student.run([student.iotkit, "broker", "--port", "80"], timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: port 80 needs administrator rights on this computer: use a port above 1023 "
        "(1883 is one), or 0 for any free one."
    ]
