"""The IoT Class view in real Thonny 5: the companion's Class panel, hosted like the others.

One Thonny session loads a class file into the view and then a broken one (the scenario is
tests/thonny_class_scenarios.py); two more runs of the shared layout walk
(thonny_scenarios.look_walk) check that the view fits a 1024×768 Thonny in the light and the
dark theme, as tests/test_thonny_look.py does for the other views.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_thonny_look import MAX_WHITE, NEAR_WHITE, fit_problems, look_config, near_white_share
from thonny_harness import run_thonny

GOOD = """\
name = "lab-a"
broker = "mqtt://127.0.0.1:1883"
templates = ["mqtt"]
[settings]
sensor = "dht22"
[[boards]]
name = "seat-01"
port = "/dev/ttyUSB0"
[[boards]]
name = "seat-02"
usb_serial = "0001A2B3C4"
"""
#: The same class with one board listed twice: one clear sentence that names the line.
BAD = GOOD + '[[boards]]\nname = "seat-01"\nport = "/dev/ttyUSB7"\n'


@pytest.fixture(scope="module")
def class_session(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("thonny-class")
    good, bad = tmp / "class.toml", tmp / "broken.toml"
    good.write_text(GOOD, encoding="utf-8")
    bad.write_text(BAD, encoding="utf-8")
    return run_thonny(
        "thonny_class_scenarios:class_view",
        tmp,
        params={"good": str(good), "bad": str(bad)},
        timeout=120,
    )


def test_the_iot_class_view_hosts_the_class_panel_and_shows_a_class_file(class_session):
    v = class_session.values
    assert v["view"]["panel"] == "companion_app.gui.class_panel.ClassPanel"
    assert v["view"]["tab"] == "IoT Class"
    assert v["view"]["viewable"] and v["view"]["descendants"] >= 15, v["view"]
    good = v["good"]
    assert good["summary"].startswith("Class lab-a"), good
    assert [row[0] for row in good["rows"]] == ["seat-01", "seat-02"]
    assert good["rows"][0][1] == "/dev/ttyUSB0"
    assert good["deploy_enabled"]
    assert good["fit"]["problems"] == [], good["fit"]["problems"]
    assert not good["fit"]["scrolls_sideways"], good["fit"]
    # The panel's own status line says it once; the view's line under it stays away.
    assert "2 boards" in good["status"], good
    assert good["view_status"] == "" and not good["view_status_shown"], good
    assert Path(class_session.screenshots["class-view"]).is_file()


def test_a_broken_class_file_is_one_sentence_in_the_view_not_an_error_dialog(class_session):
    v = class_session.values
    bad = v["bad"]
    assert "seat-01" in bad["error"] and "used twice" in bad["error"], bad
    assert "line 13" in bad["error"], bad
    assert "\n" not in bad["error"].strip()
    assert not bad["deploy_enabled"] and bad["rows"] == 0
    assert class_session.internal_errors == []
    assert v["errors"] == []


def _walk(tmp_path_factory, tag: str, dark: bool = False):
    theme = {"view": {"ui_theme": "Clean Dark"}} if dark else {}
    return run_thonny(
        "thonny_scenarios:look_walk",
        tmp_path_factory.mktemp(f"class-{tag}"),
        config=look_config(1024, 768, **theme),
        params={
            "tag": tag,
            "dark": dark,
            # The dark walk ends with the Plot view's error line, so it opens Plot too.
            "views": ["Class", "Plot"] if dark else ["Class"],
            "near_white": NEAR_WHITE,
            "suffix": "-class",
        },
        timeout=120,
    )


def test_the_class_view_fits_thonny_at_1024x768_light_and_dark(tmp_path_factory):
    light = _walk(tmp_path_factory, "class-1024x768")
    assert not fit_problems(light, "Class"), "\n".join(fit_problems(light, "Class"))
    assert light.values["Class"]["low_contrast"] == []
    dark = _walk(tmp_path_factory, "class-dark", dark=True)
    assert dark.values["Class"]["low_contrast"] == []
    png = Path(dark.screenshots["dark-class-class"])
    assert near_white_share(png) <= MAX_WHITE, png
