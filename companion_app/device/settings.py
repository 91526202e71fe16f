"""Deploy settings kept between sessions, one file per board type: the programs and their values.

Why in the engine and not in the Deploy panel: the panel saves them after each deploy, and the
command line starts from them too (`iotkit deploy --saved BOARD`), so a board set up once in the
window can be deployed again from a script or a terminal with the same programs and pins.

How it works, in steps:

1. One JSON file per board id, ``<user config folder>/thonny-iotkit/deploy/<board>.json``
   (`settings_dir`; on Linux ``~/.config/thonny-iotkit/deploy/``). Its format has not changed
   since the panel first wrote it, so existing files keep working::

       {"config": {"sensor_pin": "14", "wifi_ssid": "lab"}, "templates": ["sensor", "web"]}

   ``templates`` are the programs the person ticked (not the ones they pull in); ``config``
   holds the values as the form shows them, as text. The deploy engine converts them
   (`companion_app.device.deploy.build_config`), exactly as it converts ``--set`` values.
2. No secret is ever written: `save_settings` drops every key that `secrets.is_secret_key` (the
   one predicate) calls a secret before the file is made, and `load_settings` drops them again,
   in case someone added one by hand.
3. A missing, unreadable or damaged file is "nothing saved" (`load_settings` returns None): the
   form then starts from the defaults, as on the first day.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from companion_app import paths, secrets

log = logging.getLogger(__name__)

SUBDIR = "deploy"
#: A board id as it may appear in a file name: no separators, no leading dot.
_BOARD_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class SavedSettings:
    """What was saved for one board type: the ticked programs and the form's values."""

    programs: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)


def settings_dir() -> Path:
    """The folder of the saved settings, in the user's config folder (platformdirs)."""
    return paths.config_dir(SUBDIR)


def settings_file(board_id: str, base: str | Path | None = None) -> Path:
    """The file of one board type's settings (`base` overrides the folder, for tests)."""
    if not _BOARD_ID_RE.fullmatch(board_id):
        raise ValueError(f"not a board id: {board_id!r}")
    return Path(base if base is not None else settings_dir()) / f"{board_id}.json"


def _public(values: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in values.items() if not secrets.is_secret_key(k)}


def load_settings(board_id: str, base: str | Path | None = None) -> SavedSettings | None:
    """The settings saved for `board_id`, or None when there are none (or they are unreadable)."""
    path = settings_file(board_id, base)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.debug("ignoring the saved deploy settings %s: %s", path, exc)
        return None
    if not isinstance(data, dict):
        log.debug("ignoring the saved deploy settings %s: not a JSON object", path)
        return None
    programs = data.get("templates") or []
    values = data.get("config") or {}
    if not isinstance(programs, list) or not isinstance(values, dict):
        log.debug("ignoring the saved deploy settings %s: unexpected shape", path)
        return None
    return SavedSettings([str(p) for p in programs], _public(values))


def save_settings(
    board_id: str,
    programs: Iterable[str],
    values: Mapping[str, Any],
    base: str | Path | None = None,
) -> Path:
    """Keep these programs and values for `board_id`, never a secret; returns the file.

    Raises OSError when the file cannot be written (the caller decides whether that matters).
    """
    path = settings_file(board_id, base)
    data = {"templates": sorted(set(programs)), "config": _public(values)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    return path


__all__ = ["SavedSettings", "load_settings", "save_settings", "settings_dir", "settings_file"]
